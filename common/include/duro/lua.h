/* lua.h: the Redis Functions library, embedded at build time. */
#ifndef DURO_LUA_H
#define DURO_LUA_H

#include <stddef.h>
#include "duro/export.h"

/* duro_lua_source: the text of common/lua/duro.lua, NUL-terminated. */
DURO_EXPORT const char *duro_lua_source(void);
DURO_EXPORT size_t duro_lua_source_len(void);
/* duro_lua_version: the number after "DURO_LIBRARY_VERSION = " in it. */
DURO_EXPORT int duro_lua_version(void);

#endif
