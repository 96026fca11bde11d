/* harness_lua.h: the Functions library loaded and called by hand (FCALL),
 * for the tests of what it keeps from one call to the next
 * (test_lua_caches.c, test_lua_kept.c). DURO_TEST_LUA names another
 * duro.lua to load instead of the built one (its version's digits made 9s,
 * so that the clients a test makes keep it): the same tests then check
 * another branch's library. */
#ifndef DURO_HARNESS_LUA_H
#define DURO_HARNESS_LUA_H

#include <stdbool.h>

#include "duro/keys.h"
#include "harness.h"

/* duro_test_lua_load: FUNCTION LOAD REPLACE of the library (DURO_TEST_LUA's
 * or the built one) into r's server; sharded: the cluster's copy
 * (SHARDED_WAKE on, as the loader makes it). */
void duro_test_lua_load(redisContext *r, bool sharded);

/* duro_test_lua_memory: INFO memory's used_memory_vm_functions (the Lua
 * heap of Functions, outside maxmemory), after enough small calls for Lua
 * to collect what earlier calls left behind. */
long long duro_test_lua_memory(redisContext *r);

/* duro_test_fcall: FCALL fn with nkeys keys and nargs arguments (at most
 * 36 in all); the reply, asserted no error (the caller frees it). */
redisReply *duro_test_fcall(redisContext *r, const char *fn, int nkeys,
                            const char *const *keys, int nargs,
                            const char *const *args);

/* duro_test_hget: HGET key field (caller frees; NULL when absent). */
char *duro_test_hget(redisContext *r, const char *key, const char *field);

/* duro_test_lua_run: run "r-<id>" of workflow id in a namespace of
 * DURO_TEST_LUA_PARTS partitions, of type `type` on queue `queue`. */
enum { DURO_TEST_LUA_PARTS = 4 };
typedef struct {
    duro_keyspace ks;
    duro_wf_keys k;
    char id[64], run[80], type[80], queue[256];
    char slot[DURO_PREFIX_MAX + 16]; /* "<prefix>{pN}" */
} duro_test_lua_run;

void duro_test_lua_run_init(duro_test_lua_run *w, const char *ns,
                            const char *id, const char *type,
                            const char *queue);
/* duro_test_lua_run_start: duro_start of w (input null), its workflow task
 * timeout the text wft; asserts the run started. */
void duro_test_lua_run_start(redisContext *r, duro_test_lua_run *w,
                             const char *wft);
/* duro_test_lua_run_append_start: the same start pipelined (redisAppend...):
 * the caller reads its reply, the run id. */
void duro_test_lua_run_append_start(redisContext *r, const duro_test_lua_run *w,
                                    const char *input);
/* duro_test_lua_run_terminate: duro_terminate of w (asserts no error). */
void duro_test_lua_run_terminate(redisContext *r, duro_test_lua_run *w);

#endif
