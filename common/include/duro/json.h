/* json.h: small cJSON helpers for validated input and compact output. */
#ifndef DURO_JSON_H
#define DURO_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "duro/export.h"

#define DURO_DEFAULT_MAX_PAYLOAD ((size_t)2 * 1024 * 1024)

/* duro_json_parse parses exactly `len` bytes (no trailing garbage) of at
 * most `max` bytes. Returns 0 and *out (caller frees with cJSON_Delete), or
 * DURO_ETOOBIG / DURO_EJSON with a reason in err, or DURO_ENOMEM when an
 * allocation failed (told apart only through the hooks of duro/alloc.h). */
DURO_EXPORT int duro_json_parse(const char *s, size_t len, size_t max,
                                cJSON **out, char *err, size_t errsize);

/* duro_json_parse_input: duro_json_parse of a payload that enters (a
 * caller's input, a request body, a worker's result): first the bytes
 * must be well-formed UTF-8, else DURO_EJSON "invalid UTF-8 at byte N".
 * Text already stored is parsed with duro_json_parse alone. */
DURO_EXPORT int duro_json_parse_input(const char *s, size_t len, size_t max,
                                      cJSON **out, char *err, size_t errsize);

/* duro_json_print_out: compact text for output (CLI, HTTP API) with any
 * ill-formed UTF-8 of stored strings replaced by U+FFFD, so that it is
 * valid JSON. Caller frees with free(); NULL when out of memory. */
DURO_EXPORT char *duro_json_print_out(const cJSON *v);

/* duro_json_print: compact text, caller frees with free(). NULL -> "null".
 * Returns NULL when out of memory. */
DURO_EXPORT char *duro_json_print(const cJSON *v);

/* Lookups that tolerate absent or mistyped members. */
DURO_EXPORT const char *duro_json_str(const cJSON *o, const char *name,
                                      const char *def);
DURO_EXPORT int64_t duro_json_int(const cJSON *o, const char *name,
                                  int64_t def);

#endif
