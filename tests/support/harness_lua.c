/* harness_lua.c: the Functions library loaded and called by hand
 * (harness_lua.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "duro/fcall.h"
#include "duro/lua.h"
#include "harness_lua.h"

/* lib_text: the library's text (caller frees), see duro_test_lua_load */
static char *lib_text(bool sharded, size_t *len)
{
    const char *path = getenv("DURO_TEST_LUA");
    char *s;
    if (path && *path) {
        FILE *f = fopen(path, "rb");
        cr_assert_not_null(f, "DURO_TEST_LUA=%s", path);
        cr_assert_eq(fseek(f, 0, SEEK_END), 0);
        long n = ftell(f);
        cr_assert_gt(n, 0);
        cr_assert_eq(fseek(f, 0, SEEK_SET), 0);
        s = malloc((size_t)n + 1);
        cr_assert_not_null(s);
        cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
        fclose(f);
        s[n] = '\0';
        *len = (size_t)n;
        static const char tag[] = "DURO_LIBRARY_VERSION = ";
        char *v = strstr(s, tag);
        cr_assert_not_null(v);
        for (v += sizeof(tag) - 1; *v >= '0' && *v <= '9'; v++)
            *v = '9';
    } else {
        *len = duro_lua_source_len();
        s = malloc(*len + 1);
        cr_assert_not_null(s);
        memcpy(s, duro_lua_source(), *len);
        s[*len] = '\0';
    }
    if (sharded) {
        static const char off[] = "local SHARDED_WAKE = false";
        char *at = strstr(s, off);
        cr_assert_not_null(at);
        /* "false" becomes "true " in place (the length kept): no
         * terminator is wanted there */
        /* NOLINTNEXTLINE(bugprone-not-null-terminated-result) */
        memcpy(at + sizeof(off) - 6, "true ", 5);
    }
    return s;
}

void duro_test_lua_load(redisContext *r, bool sharded)
{
    size_t len;
    char *src = lib_text(sharded, &len);
    const char *argv[] = {"FUNCTION", "LOAD", "REPLACE", src};
    size_t lens[] = {8, 4, 7, len};
    redisReply *rep = redisCommandArgv(r, 4, argv, lens);
    cr_assert(rep && rep->type != REDIS_REPLY_ERROR, "FUNCTION LOAD: %s",
              rep ? rep->str : r->errstr);
    freeReplyObject(rep);
    free(src);
}

long long duro_test_lua_memory(redisContext *r)
{
    /* a script of its own would run in another Lua state: the library's
     * own calls make its collector run */
    for (int i = 0; i < 200; i++)
        freeReplyObject(duro_test_cmd(r, "FCALL", "duro_version", "0", NULL));
    redisReply *rep = duro_test_cmd(r, "INFO", "memory", NULL);
    static const char key[] = "\r\nused_memory_vm_functions:";
    const char *p = rep->str ? strstr(rep->str, key) : NULL;
    cr_assert_not_null(p, "no used_memory_vm_functions in INFO memory");
    long long n = strtoll(p + sizeof(key) - 1, NULL, 10);
    freeReplyObject(rep);
    return n;
}

redisReply *duro_test_fcall(redisContext *r, const char *fn, int nkeys,
                            const char *const *keys, int nargs,
                            const char *const *args)
{
    enum { MAX = 40 };
    const char *argv[MAX];
    size_t lens[MAX];
    char nk[16];
    cr_assert(nkeys >= 0 && nargs >= 0 && 3 + nkeys + nargs <= MAX);
    snprintf(nk, sizeof(nk), "%d", nkeys);
    int n = 0;
    argv[n++] = "FCALL";
    argv[n++] = fn;
    argv[n++] = nk;
    for (int i = 0; i < nkeys; i++)
        argv[n++] = keys[i];
    for (int i = 0; i < nargs; i++)
        argv[n++] = args[i];
    for (int i = 0; i < n; i++)
        lens[i] = strlen(argv[i]);
    redisReply *rep = redisCommandArgv(r, n, argv, lens);
    cr_assert(rep, "%s: %s", fn, r->errstr);
    cr_assert(rep->type != REDIS_REPLY_ERROR, "%s: %s", fn, rep->str);
    return rep;
}

char *duro_test_hget(redisContext *r, const char *key, const char *field)
{
    redisReply *rep = duro_test_cmd(r, "HGET", key, field, NULL);
    char *s = rep->type == REDIS_REPLY_STRING ? strdup(rep->str) : NULL;
    freeReplyObject(rep);
    return s;
}

void duro_test_lua_run_init(duro_test_lua_run *w, const char *ns,
                            const char *id, const char *type, const char *queue)
{
    memset(w, 0, sizeof(*w));
    cr_assert_eq(duro_keyspace_init(&w->ks, ns, DURO_TEST_LUA_PARTS), 0);
    snprintf(w->id, sizeof(w->id), "%s", id);
    snprintf(w->run, sizeof(w->run), "r-%s", id);
    snprintf(w->type, sizeof(w->type), "%s", type);
    snprintf(w->queue, sizeof(w->queue), "%s", queue);
    duro_wf_keys_init(&w->k, &w->ks, id, w->run);
    duro_wf_keys_queues(&w->k, queue, queue);
    snprintf(w->slot, sizeof(w->slot), "%s{p%d}", w->ks.prefix, w->k.partition);
}

/* start_argv: duro_start's words for w into argv/lens (19) */
static void start_argv(const duro_test_lua_run *w, const char *input,
                       const char *wft, const char **argv, size_t *lens)
{
    const char *words[] = {
        "FCALL",         "duro_start", "8",         w->k.wf, w->k.hist,
        w->k.buf,        w->k.wft,     w->k.timers, w->k.pa, w->k.idx_open,
        w->k.idx_closed, w->id,        w->run,      w->type, w->queue,
        input,           "{}",         "0",         wft};
    for (int i = 0; i < 19; i++) {
        argv[i] = words[i];
        lens[i] = strlen(words[i]);
    }
}

void duro_test_lua_run_start(redisContext *r, duro_test_lua_run *w,
                             const char *wft)
{
    const char *argv[19];
    size_t lens[19];
    start_argv(w, "null", wft, argv, lens);
    redisReply *rep = redisCommandArgv(r, 19, argv, lens);
    cr_assert(rep && rep->type == REDIS_REPLY_STRING, "start %s: %s", w->id,
              rep ? rep->str : r->errstr);
    cr_assert_str_eq(rep->str, w->run);
    freeReplyObject(rep);
}

void duro_test_lua_run_append_start(redisContext *r, const duro_test_lua_run *w,
                                    const char *input)
{
    const char *argv[19];
    size_t lens[19];
    start_argv(w, input, "10000", argv, lens);
    cr_assert_eq(redisAppendCommandArgv(r, 19, argv, lens), REDIS_OK);
}

void duro_test_lua_run_terminate(redisContext *r, duro_test_lua_run *w)
{
    duro_argv a;
    duro_fcall_terminate(&a, &w->k, "{\"reason\":\"test\"}");
    redisReply *rep = redisCommandArgv(r, a.argc, a.argv, a.lens);
    duro_argv_free(&a);
    cr_assert(rep && rep->type != REDIS_REPLY_ERROR, "terminate %s: %s", w->id,
              rep ? rep->str : r->errstr);
    freeReplyObject(rep);
}
