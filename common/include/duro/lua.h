/* lua.h: the Redis Functions library, embedded at build time. */
#ifndef DURO_LUA_H
#define DURO_LUA_H

#include <stdbool.h>
#include <stddef.h>
#include "duro/export.h"

/* duro_lua_source: the text of common/lua/duro.lua, NUL-terminated. */
DURO_EXPORT const char *duro_lua_source(void);
DURO_EXPORT size_t duro_lua_source_len(void);
/* duro_lua_library_source: the library as loaded: duro_lua_source, or
 * with sharded_wake its copy whose `local SHARDED_WAKE = false` reads
 * true (Redis Cluster: Functions that add a task SPUBLISH a wake-up to the
 * partition's channel). Same length either way: *len gets it. */
DURO_EXPORT const char *duro_lua_library_source(bool sharded_wake, size_t *len);
/* duro_lua_version: the number after "DURO_LIBRARY_VERSION = " in it. */
DURO_EXPORT int duro_lua_version(void);

#endif
