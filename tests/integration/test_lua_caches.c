/* test_lua_caches.c: what the Functions library keeps from one call to the
 * next (key names per partition, texts per argument, answers per options
 * text) must answer each call as if made anew for it: a kept answer for
 * one namespace, type, status, queue or options text is never served to
 * another, a FUNCTION LOAD REPLACE starts afresh, and the copy loaded for
 * a cluster (SHARDED_WAKE) names the same channels as the plain one.
 *
 * The Functions are called by hand (FCALL). DURO_TEST_LUA names another
 * duro.lua to load instead of the built one (its version raised so that
 * the clients the tests make keep it): the same tests then check another
 * branch's library. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/fcall.h"
#include "duro/keys.h"
#include "duro/lua.h"
#include "harness_task.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(lua_caches, .init = setup, .fini = duro_test_fini, .timeout = 120);

enum { PARTS = 4 };

/* lib_text: the library's text (caller frees): DURO_TEST_LUA's file (its
 * version's digits made 9s) or the built one; with SHARDED_WAKE on when
 * sharded (in place: "true " keeps the length, as the loader does). */
static char *lib_text(bool sharded, size_t *len)
{
    const char *path = getenv("DURO_TEST_LUA");
    char *s;
    if (path && *path) {
        FILE *f = fopen(path, "rb");
        cr_assert_not_null(f, "DURO_TEST_LUA=%s", path);
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        s = malloc((size_t)n + 1);
        cr_assert_not_null(s);
        cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
        fclose(f);
        s[n] = '\0';
        *len = (size_t)n;
        char *v = strstr(s, "DURO_LIBRARY_VERSION = ");
        cr_assert_not_null(v);
        for (v += 23; *v >= '0' && *v <= '9'; v++)
            *v = '9';
    } else {
        *len = duro_lua_source_len();
        s = malloc(*len + 1);
        cr_assert_not_null(s);
        memcpy(s, duro_lua_source(), *len);
        s[*len] = '\0';
    }
    if (sharded) {
        char *at = strstr(s, "local SHARDED_WAKE = false");
        cr_assert_not_null(at);
        memcpy(at + 21, "true ", 5);
    }
    return s;
}

/* load_lib: FUNCTION LOAD REPLACE of lib_text(sharded) into r's server */
static void load_lib(redisContext *r, bool sharded)
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

/* fcall: FCALL fn with nkeys keys and nargs arguments; the reply (not an
 * error: asserted; the caller frees it) */
static redisReply *fcall(redisContext *r, const char *fn, int nkeys,
                         const char *const *keys, int nargs,
                         const char *const *args)
{
    const char *argv[40];
    size_t lens[40];
    char nk[8];
    snprintf(nk, sizeof(nk), "%d", nkeys);
    int n = 0;
    argv[n++] = "FCALL";
    argv[n++] = fn;
    argv[n++] = nk;
    cr_assert_lt(3 + nkeys + nargs, 40);
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

/* one_run: run `run` of workflow `id` in namespace ns, type `type`, on
 * queue `queue` */
typedef struct {
    duro_keyspace ks;
    duro_wf_keys k;
    char id[64], run[80], type[80], queue[64];
    char slot[DURO_PREFIX_MAX + 16]; /* "<prefix>{pN}" */
} one_run;

static void run_init(one_run *w, const char *ns, const char *id,
                     const char *type, const char *queue)
{
    memset(w, 0, sizeof(*w));
    cr_assert_eq(duro_keyspace_init(&w->ks, ns, PARTS), 0);
    snprintf(w->id, sizeof(w->id), "%s", id);
    snprintf(w->run, sizeof(w->run), "r-%s", id);
    snprintf(w->type, sizeof(w->type), "%s", type);
    snprintf(w->queue, sizeof(w->queue), "%s", queue);
    duro_wf_keys_init(&w->k, &w->ks, id, w->run);
    duro_wf_keys_queues(&w->k, queue, queue);
    snprintf(w->slot, sizeof(w->slot), "%s{p%d}", w->ks.prefix, w->k.partition);
}

/* start: duro_start of w, its workflow task timeout the text wft */
static void start(redisContext *r, one_run *w, const char *wft)
{
    const char *keys[] = {w->k.wf,       w->k.hist,      w->k.buf,
                          w->k.wft,      w->k.timers,    w->k.pa,
                          w->k.idx_open, w->k.idx_closed};
    const char *args[] = {w->id,  w->run, w->type, w->queue,
                          "null", "{}",   "0",     wft};
    redisReply *rep = fcall(r, "duro_start", 8, keys, 8, args);
    cr_assert(rep->type == REDIS_REPLY_STRING);
    cr_assert_str_eq(rep->str, w->run);
    freeReplyObject(rep);
}

static void terminate(redisContext *r, one_run *w)
{
    duro_argv a;
    duro_fcall_terminate(&a, &w->k, "{\"reason\":\"test\"}");
    redisReply *rep = redisCommandArgv(r, a.argc, a.argv, a.lens);
    duro_argv_free(&a);
    cr_assert(rep && rep->type != REDIS_REPLY_ERROR, "terminate %s: %s", w->id,
              rep ? rep->str : r->errstr);
    freeReplyObject(rep);
}

/* in_zset: whether member is in zset `<slot>:vx:<what>` */
static bool in_index(redisContext *r, const char *slot, const char *what,
                     const char *member)
{
    char key[512];
    snprintf(key, sizeof(key), "%s:vx:%s", slot, what);
    redisReply *rep = duro_test_cmd(r, "ZSCORE", key, member, NULL);
    bool in = rep->type == REDIS_REPLY_STRING;
    freeReplyObject(rep);
    return in;
}

static char *hget(redisContext *r, const char *key, const char *field)
{
    redisReply *rep = duro_test_cmd(r, "HGET", key, field, NULL);
    char *s = rep->type == REDIS_REPLY_STRING ? strdup(rep->str) : NULL;
    freeReplyObject(rep);
    return s;
}

/* Namespaces "default", "a" and "ab" (a prefix of another's name), types
 * "t", "t2", "u2" (as long as "t2") and "t" again: starts and closes
 * interleaved, each run in the indexes of its own namespace, type and
 * status alone. */
enum { NNS = 3, NTYPES = 4, NRUNS = 2 * NNS * NTYPES };
static const char *const NSS[NNS] = {"default", "a", "ab"};
static const char *const TYPES[NTYPES] = {"t", "t2", "u2", "t"};

/* runs_init: each namespace and type twice: in partition 0 (every name
 * met in one partition's names), then spread over the partitions */
static void runs_init(one_run *w, const char *round)
{
    for (int i = 0; i < NRUNS; i++) {
        int half = NNS * NTYPES, j = i % half;
        int want = i < half ? 0 : i % PARTS;
        char id[64];
        for (int n = 0;; n++) {
            cr_assert_lt(n, 1000);
            snprintf(id, sizeof(id), "%s-%d-%d", round, i, n);
            if (duro_partition_of(id, PARTS) == want) break;
        }
        run_init(&w[i], NSS[j % NNS], id, TYPES[j / NNS], "q");
    }
}

/* expect_close: the next message sub reads is the close notice of w, on
 * its namespace's channel of its partition */
static void expect_close(redisContext *sub, const one_run *w)
{
    redisReply *rep = NULL;
    cr_assert_eq(redisGetReply(sub, (void **)&rep), REDIS_OK,
                 "no close notice for %s: %s", w->id, sub->errstr);
    cr_assert(rep->type == REDIS_REPLY_ARRAY && rep->elements >= 3);
    char want[256];
    snprintf(want, sizeof(want), "%sclosed:{p%d}", w->ks.prefix,
             w->k.partition);
    const redisReply *chan = rep->element[rep->elements - 2];
    const redisReply *msg = rep->element[rep->elements - 1];
    cr_assert_str_eq(chan->str, want, "run %s closed on %s", w->id, chan->str);
    cr_assert_str_eq(msg->str, w->id);
    freeReplyObject(rep);
}

/* round: start the runs, close them in another order, check the notices
 * (sub: subscribed to every close channel) and every index */
static void round_check(redisContext *r, redisContext *sub, const char *name)
{
    one_run w[NRUNS];
    runs_init(w, name);
    for (int i = 0; i < NRUNS; i++)
        start(r, &w[i], "10000");
    for (int i = NRUNS - 1; i >= 0; i--) {
        terminate(r, &w[i]);
        expect_close(sub, &w[i]);
    }
    for (int i = 0; i < NRUNS; i++) {
        char type_ix[128];
        snprintf(type_ix, sizeof(type_ix), "type:%s", w[i].type);
        cr_assert(in_index(r, w[i].slot, type_ix, w[i].run), "%s in %s:vx:%s",
                  w[i].run, w[i].slot, type_ix);
        cr_assert(in_index(r, w[i].slot, "status:TERMINATED", w[i].run));
        cr_assert(!in_index(r, w[i].slot, "status:RUNNING", w[i].run));
        cr_assert(in_index(r, w[i].slot, "close", w[i].run));
        cr_assert(in_index(r, w[i].slot, "start", w[i].run));
        /* in no other type's, namespace's or partition's index */
        for (int t = 0; t < NTYPES; t++) {
            char other[128];
            snprintf(other, sizeof(other), "type:%s", TYPES[t]);
            if (strcmp(TYPES[t], w[i].type) != 0)
                cr_assert(!in_index(r, w[i].slot, other, w[i].run));
        }
        for (int j = 0; j < NRUNS; j++) {
            if (strcmp(w[j].slot, w[i].slot) == 0) continue;
            cr_assert(!in_index(r, w[j].slot, type_ix, w[i].run),
                      "%s of %s found in %s", w[i].run, w[i].slot, w[j].slot);
            cr_assert(!in_index(r, w[j].slot, "close", w[i].run));
        }
        char row[512];
        snprintf(row, sizeof(row), "%s:vis:%s", w[i].slot, w[i].run);
        char *status = hget(r, row, "status");
        cr_assert_not_null(status);
        cr_assert_str_eq(status, "TERMINATED");
        free(status);
    }
}

/* sub_open: a connection subscribed to every close channel the rounds use:
 * by pattern, or (sharded: the channels are SPUBLISHed) by name */
static redisContext *sub_open(bool sharded)
{
    redisContext *sub = duro_test_redis(&h);
    struct timeval tv = {5, 0};
    redisSetTimeout(sub, tv);
    redisReply *rep;
    if (!sharded) {
        rep = redisCommand(sub, "PSUBSCRIBE *closed:*");
        cr_assert(rep && rep->type == REDIS_REPLY_ARRAY);
        freeReplyObject(rep);
        return sub;
    }
    for (int n = 0; n < NNS; n++) {
        duro_keyspace ks;
        cr_assert_eq(duro_keyspace_init(&ks, NSS[n], PARTS), 0);
        for (int p = 0; p < PARTS; p++) {
            rep = redisCommand(sub, "SSUBSCRIBE %sclosed:{p%d}", ks.prefix, p);
            cr_assert(rep && rep->type == REDIS_REPLY_ARRAY, "SSUBSCRIBE: %s",
                      rep && rep->str ? rep->str : sub->errstr);
            freeReplyObject(rep);
        }
    }
    return sub;
}

Test(lua_caches, visibility_keys_and_close_channel_per_namespace_and_type)
{
    redisContext *r = duro_test_redis(&h);
    load_lib(r, false);
    redisContext *sub = sub_open(false);
    round_check(r, sub, "one");
    round_check(r, sub, "two"); /* the kept names, used again */
    redisFree(sub);
    /* the cluster's copy, loaded over it: the same channels, SPUBLISHed */
    load_lib(r, true);
    sub = sub_open(true);
    round_check(r, sub, "three");
    redisFree(sub);
    load_lib(r, false);
    sub = sub_open(false);
    round_check(r, sub, "four");
    redisFree(sub);
    redisFree(r);
    duro_test_finish(&h);
}

/* A start's workflow task timeout is kept as str(tonumber(text)) per text:
 * texts that parse alike, or not at all, each get their own answer. */
Test(lua_caches, workflow_task_timeout_texts_each_their_own)
{
    static const char *const texts[][2] = {
        {"5000", "5000"},   {"05000", "5000"},  {"5000.6", "5001"},
        {" 5000 ", "5000"}, {"abc", "10000"},   {"", "10000"},
        {"1e3", "1000"},    {"0x10", "16"},     {"5001", "5001"},
        {"500", "500"},     {"50000", "50000"}, {"-0", "0"},
        {"4999.4", "4999"}, {"0", "0"},
    };
    enum { N = sizeof(texts) / sizeof(texts[0]) };
    redisContext *r = duro_test_redis(&h);
    load_lib(r, false);
    /* each text twice (the second one kept), and again after a reload */
    for (int pass = 0; pass < 4; pass++) {
        if (pass == 2) load_lib(r, false);
        for (int i = 0; i < N; i++) {
            int j = pass % 2 ? N - 1 - i : i;
            one_run w;
            char id[32];
            snprintf(id, sizeof(id), "w%d-%d", pass, j);
            run_init(&w, "default", id, "t", "q");
            start(r, &w, texts[j][0]);
            char *got = hget(r, w.k.wf, "wft_timeout");
            cr_assert_not_null(got);
            cr_assert_str_eq(got, texts[j][1], "text '%s' (pass %d): %s",
                             texts[j][0], pass, got);
            free(got);
        }
    }
    redisFree(r);
    duro_test_finish(&h);
}

/* duro_vis_backfill closes a row with its hash's status, whatever its
 * text: statuses that are prefixes of one another, in two namespaces, each
 * in its own index. */
Test(lua_caches, backfilled_statuses_each_in_their_own_index)
{
    static const char *const statuses[] = {
        "COMPLETED", "COMPLETE", "COMPLETEDX", "C",
        "FAILED",    "CANCELED", "TIMED_OUT",  "COMPLETED"};
    enum { N = sizeof(statuses) / sizeof(statuses[0]) };
    redisContext *r = duro_test_redis(&h);
    load_lib(r, false);
    one_run w[2 * N];
    for (int i = 0; i < 2 * N; i++) {
        char id[32];
        snprintf(id, sizeof(id), "b%d", i);
        run_init(&w[i], i < N ? "default" : "ab", id, "t", "q");
        freeReplyObject(duro_test_cmd(r, "HSET", w[i].k.wf, "run", w[i].run,
                                      "type", "t", "queue", "q", "status",
                                      statuses[i % N], "start_ms", "1000",
                                      "close_ms", "2000", NULL));
        freeReplyObject(
            duro_test_cmd(r, "ZADD", w[i].k.idx_closed, "1", w[i].id, NULL));
    }
    /* every partition's idx:closed, both namespaces */
    for (int i = 0; i < 2 * N; i++) {
        const char *keys[] = {w[i].k.idx_closed};
        const char *args[] = {"0", "100"};
        freeReplyObject(fcall(r, "duro_vis_backfill", 1, keys, 2, args));
    }
    for (int i = 0; i < 2 * N; i++) {
        char ix[64];
        snprintf(ix, sizeof(ix), "status:%s", statuses[i % N]);
        cr_assert(in_index(r, w[i].slot, ix, w[i].run), "%s not in %s:vx:%s",
                  w[i].run, w[i].slot, ix);
        for (int s = 0; s < N; s++) {
            if (strcmp(statuses[s], statuses[i % N]) == 0) continue;
            char other[64];
            snprintf(other, sizeof(other), "status:%s", statuses[s]);
            cr_assert(!in_index(r, w[i].slot, other, w[i].run),
                      "%s (%s) found in %s", w[i].run, statuses[i % N], other);
        }
        const one_run *o = &w[(i + N) % (2 * N)];
        if (strcmp(o->slot, w[i].slot) != 0)
            cr_assert(!in_index(r, o->slot, ix, w[i].run));
    }
    redisFree(r);
    duro_test_finish(&h);
}

/* ---- The commit path: answers kept per options text and queue ---- */

static long long xlen(redisContext *r, const char *key)
{
    redisReply *rep = duro_test_cmd(r, "XLEN", key, NULL);
    cr_assert_eq(rep->type, REDIS_REPLY_INTEGER);
    long long n = rep->integer;
    freeReplyObject(rep);
    return n;
}

/* commit_opts: t's workflow task commits activity 1 with options opts (no
 * eager tail); the reply is not an error */
static void commit_opts(duro_test_task *t, const char *opts)
{
    const char *fields[] = {"activity", "1",  "{\"seq\":1}", "9", "echo",
                            "null",     opts, "10000",       "0", "0"};
    redisReply *rep =
        duro_test_task_commit_cmds(t, fields, 10, 1, DURO_TEST_EAGER_NONE);
    cr_assert(rep->type != REDIS_REPLY_ERROR, "commit %s: %s", opts, rep->str);
    freeReplyObject(rep);
}

/* An activity's options name its priority level and fairness key: texts
 * one byte apart, and the same text again, each go to their own stream
 * (the run has neither: no options fall back to the plain stream). */
Test(lua_caches, activity_options_one_byte_apart)
{
    static const char *const cases[][2] = {
        {"{\"priority\":1}", "!1"},
        {"{\"priority\":2}", "!2"},
        {"{\"priority\":1}", "!1"},
        {"{\"priority\":1 }", "!1"},
        {"{\"priority\":3}", ""},
        {"{\"priority\":6}", ""},
        {"{}", ""},
        {"{\"fairnessKey\":\"a\"}", "~a"},
        {"{\"fairnessKey\":\"b\"}", "~b"},
        {"{\"fairnessKey\":\"a\"}", "~a"},
        {"{\"fairnessKey\":\"a\",\"fairnessWeight\":2}", "~a"},
        {"{\"fairnessKey\":\"a b\"}", ""},
        {"{\"priority\":5}", "!5"},
        {"{\"priority\":2}", "!2"},
    };
    enum { N = sizeof(cases) / sizeof(cases[0]) };
    redisContext *r = duro_test_redis(&h);
    load_lib(r, false);
    for (int i = 0; i < N; i++) {
        duro_test_task t;
        char id[32];
        snprintf(id, sizeof(id), "o%d", i);
        duro_test_task_init(&h, &t, id);
        commit_opts(&t, cases[i][0]);
        char want[DURO_KEY_MAX + 8];
        snprintf(want, sizeof(want), "%s%s", t.k.act, cases[i][1]);
        cr_assert_eq(xlen(r, want), 1, "options %s: nothing in %s", cases[i][0],
                     want);
        static const char *const others[] = {"", "!1", "!2", "!5", "~a", "~b"};
        for (size_t j = 0; j < sizeof(others) / sizeof(others[0]); j++) {
            if (strcmp(others[j], cases[i][1]) == 0) continue;
            /* a fair task's bell rings in the plain stream */
            if (cases[i][1][0] == '~' && others[j][0] == '\0') continue;
            char other[DURO_KEY_MAX + 8];
            snprintf(other, sizeof(other), "%s%s", t.k.act, others[j]);
            cr_assert_eq(xlen(r, other), 0, "options %s: a task in %s",
                         cases[i][0], other);
        }
        duro_test_task_free(&t);
    }
    redisFree(r);
    duro_test_finish(&h);
}

/* q_due: the due time of the schedule-to-start timer of t's activity 1
 * (-1: none) */
static long long q_due(duro_test_task *t)
{
    redisReply *rep = duro_test_cmd(t->r, "ZRANGE", t->k.timers, "0", "-1",
                                    "WITHSCORES", NULL);
    long long due = -1;
    char want[128];
    snprintf(want, sizeof(want), "q|%s|1|", t->run);
    for (size_t i = 0; i + 1 < rep->elements; i += 2)
        if (strncmp(rep->element[i]->str, want, strlen(want)) == 0)
            due = strtoll(rep->element[i + 1]->str, NULL, 10);
    freeReplyObject(rep);
    return due;
}

static long long server_ms(redisContext *r)
{
    redisReply *rep = duro_test_cmd(r, "TIME", NULL);
    long long ms = strtoll(rep->element[0]->str, NULL, 10) * 1000 +
                   strtoll(rep->element[1]->str, NULL, 10) / 1000;
    freeReplyObject(rep);
    return ms;
}

/* A schedule-to-start timeout read from options texts one digit apart. */
Test(lua_caches, schedule_to_start_per_options_text)
{
    static const struct {
        const char *opts;
        long long ms; /* -1: no timer */
    } cases[] = {
        {"{\"scheduleToStartMs\":1000}", 1000},
        {"{\"scheduleToStartMs\":100000}", 100000},
        {"{\"scheduleToStartMs\":1000}", 1000},
        {"{\"scheduleToStartMs\":0}", -1},
        {"{\"scheduleToStartMs\":10000}", 10000},
        {"{}", -1},
        {"{\"scheduleToStartMs\":100000}", 100000},
    };
    enum { N = sizeof(cases) / sizeof(cases[0]) };
    redisContext *r = duro_test_redis(&h);
    load_lib(r, false);
    for (int i = 0; i < N; i++) {
        duro_test_task t;
        char id[32];
        snprintf(id, sizeof(id), "s%d", i);
        duro_test_task_init(&h, &t, id);
        long long before = server_ms(r);
        commit_opts(&t, cases[i].opts);
        long long after = server_ms(r);
        long long due = q_due(&t);
        if (cases[i].ms < 0) {
            cr_assert_eq(due, -1, "%s: a q timer", cases[i].opts);
        } else {
            cr_assert(due >= before + cases[i].ms && due <= after + cases[i].ms,
                      "%s: due %lld, not %lld after %lld..%lld", cases[i].opts,
                      due, cases[i].ms, before, after);
        }
        duro_test_task_free(&t);
    }
    redisFree(r);
    duro_test_finish(&h);
}

/* Leases on queues whose names are prefixes of one another: each lease's
 * timer names its own queue (the queue read from its stream's key). */
Test(lua_caches, leases_name_their_own_queue)
{
    static const char *const ids[] = {"lq", "lq2", "lq", "l", "lq2x", "lq2"};
    enum { N = sizeof(ids) / sizeof(ids[0]) };
    redisContext *r = duro_test_redis(&h);
    load_lib(r, false);
    for (int i = 0; i < N; i++) {
        duro_test_task t;
        char id[32];
        /* the harness names the queue after the id: an id again comes
         * after the data is flushed (the library and its Lua state stay) */
        snprintf(id, sizeof(id), "%s", ids[i]);
        if (i == 2 || i == 5)
            freeReplyObject(duro_test_cmd(r, "FLUSHALL", NULL));
        duro_test_task_init(&h, &t, id);
        redisReply *rep =
            duro_test_task_commit(&t, "{}", "60000", "0", "0", true);
        freeReplyObject(rep);
        cr_assert_neq(t.lease[0], '\0', "%s: no lease", id);
        rep = duro_test_cmd(r, "ZSCORE", t.k.timers, t.member, NULL);
        cr_assert(rep->type == REDIS_REPLY_STRING, "%s: no timer %s", id,
                  t.member);
        freeReplyObject(rep);
        duro_test_task_free(&t);
    }
    redisFree(r);
    duro_test_finish(&h);
}

/* ---- The fields a call changed, written back at its end ---- */

/* A close answers every update still pending (fail_updates): a run with
 * thousands of them changes as many hash fields in one call, more than
 * one command's arguments can take from Lua at once (unpack's limit is
 * ~8000 values), and its close must still end whole. */
Test(lua_caches, close_with_thousands_of_pending_updates)
{
    enum { UPDATES = 4100 };
    redisContext *r = duro_test_redis(&h);
    load_lib(r, false);
    one_run w;
    run_init(&w, "default", "upd", "t", "q");
    start(r, &w, "10000");
    char reply[256];
    snprintf(reply, sizeof(reply), "%s:qreply:c", w.slot);
    for (int i = 0; i < UPDATES; i++) {
        char uid[32];
        snprintf(uid, sizeof(uid), "u%d", i);
        duro_argv a;
        duro_fcall_update(&a, &w.k, w.run, uid, "{}", reply);
        cr_assert_eq(redisAppendCommandArgv(r, a.argc, a.argv, a.lens),
                     REDIS_OK);
        duro_argv_free(&a);
    }
    for (int i = 0; i < UPDATES; i++) {
        redisReply *rep = NULL;
        cr_assert_eq(redisGetReply(r, (void **)&rep), REDIS_OK);
        cr_assert(rep->type == REDIS_REPLY_ARRAY, "update %d: %s", i,
                  rep->type == REDIS_REPLY_ERROR ? rep->str : "?");
        freeReplyObject(rep);
    }
    terminate(r, &w);
    char *status = hget(r, w.k.wf, "status");
    cr_assert_not_null(status);
    cr_assert_str_eq(status, "TERMINATED");
    free(status);
    /* every update answered, in the hash and in the caller's list */
    char field[128];
    snprintf(field, sizeof(field), "u:%s:u%d", w.run, UPDATES - 1);
    char *outcome = hget(r, w.k.wf, field);
    cr_assert(outcome && outcome[0] == '{', "%s: %s", field,
              outcome ? outcome : "(none)");
    free(outcome);
    redisReply *rep = duro_test_cmd(r, "LLEN", reply, NULL);
    cr_assert_eq(rep->integer, UPDATES);
    freeReplyObject(rep);
    redisFree(r);
    duro_test_finish(&h);
}

/* info_num: the value of `field` in INFO memory */
static long long info_num(redisContext *r, const char *field)
{
    redisReply *rep = duro_test_cmd(r, "INFO", "memory", NULL);
    char key[64];
    snprintf(key, sizeof(key), "\r\n%s:", field);
    const char *p = rep->str ? strstr(rep->str, key) : NULL;
    cr_assert_not_null(p, "no %s in INFO memory", field);
    long long n = strtoll(p + strlen(key), NULL, 10);
    freeReplyObject(rep);
    return n;
}

/* The table flush gathers a call's HSET arguments in is kept from call to
 * call: what it held (a start's input, a close's result) must not stay
 * referenced once written, in Lua memory that maxmemory does not count. */
Test(lua_caches, written_payloads_are_not_kept)
{
    enum { PAYLOAD = 4 * 1024 * 1024 };
    redisContext *r = duro_test_redis(&h);
    load_lib(r, false);
    /* a small start first, then the measure */
    one_run w0, w;
    run_init(&w0, "default", "small", "t", "q");
    start(r, &w0, "10000");
    for (int i = 0; i < 200; i++)
        freeReplyObject(duro_test_cmd(r, "FCALL", "duro_version", "0", NULL));
    long long before = info_num(r, "used_memory_vm_functions");
    char *input = malloc(PAYLOAD + 3);
    cr_assert_not_null(input);
    input[0] = '"';
    memset(input + 1, 'x', PAYLOAD);
    input[PAYLOAD + 1] = '"';
    input[PAYLOAD + 2] = '\0';
    run_init(&w, "default", "big", "t", "q");
    const char *keys[] = {w.k.wf,     w.k.hist, w.k.buf,      w.k.wft,
                          w.k.timers, w.k.pa,   w.k.idx_open, w.k.idx_closed};
    const char *args[] = {w.id,  w.run, w.type, w.queue,
                          input, "{}",  "0",    "10000"};
    freeReplyObject(fcall(r, "duro_start", 8, keys, 8, args));
    free(input);
    /* calls that write a few fields, then enough for Lua to collect */
    terminate(r, &w0);
    for (int i = 0; i < 200; i++)
        freeReplyObject(duro_test_cmd(r, "FCALL", "duro_version", "0", NULL));
    long long after = info_num(r, "used_memory_vm_functions");
    cr_log_info("Functions' Lua memory %lld -> %lld bytes", before, after);
    cr_assert_lt(after - before, PAYLOAD / 2,
                 "%lld KB kept after a start with a %d KB input",
                 (after - before) >> 10, PAYLOAD >> 10);
    redisFree(r);
    duro_test_finish(&h);
}

/* fields: HMGET of t's hash fields names (n of them) into out (caller
 * frees each; "" when absent) */
static void fields_of(duro_test_task *t, const char *const *names, int n,
                      char **out)
{
    for (int i = 0; i < n; i++) {
        char *v = hget(t->r, t->k.wf, names[i]);
        out[i] = v ? v : strdup("");
    }
}

/* A call that raised an error halfway (here an XADD that fails: the
 * activity stream has used its last possible id) leaves what it changed
 * unwritten: none of it may be written by the next call, into another
 * workflow's hash. */
Test(lua_caches, a_failed_call_leaves_nothing_to_the_next)
{
    redisContext *r = duro_test_redis(&h);
    load_lib(r, false);
    duro_test_task a, b;
    duro_test_task_init(&h, &a, "fa");
    duro_test_task_init(&h, &b, "fb");
    freeReplyObject(duro_test_cmd(r, "XADD", a.k.act,
                                  "18446744073709551615-18446744073709551615",
                                  "f", "v", NULL));
    static const char *const names[] = {
        "run",  "status", "hlen",     "wft",       "wft_entry", "token",
        "bufn", "queue",  "children", "child_max", "opt"};
    enum { N = sizeof(names) / sizeof(names[0]) };
    char *before[N], *after[N];
    fields_of(&b, names, N, before);
    /* a child first (it counts the run's children: changed fields),
     * then the activity whose XADD fails */
    const char *fields[] = {
        "child",   "2",           "{\"seq\":2}", "fc",
        "t",       "q",           "null",        "AllowDuplicate",
        "Abandon", "0",           "10000",       "activity",
        "1",       "{\"seq\":1}", "9",           "echo",
        "null",    "{}",          "10000",       "0",
        "0"};
    redisReply *rep =
        duro_test_task_commit_cmds(&a, fields, 21, 2, DURO_TEST_EAGER_NONE);
    cr_assert(rep->type == REDIS_REPLY_ERROR, "the commit did not fail");
    cr_log_info("commit: %s", rep->str);
    freeReplyObject(rep);
    /* a signal to b: one context, b's, loaded where a's was */
    duro_argv s;
    duro_fcall_signal(&s, &b.k, b.run, "{\"name\":\"x\"}");
    rep = redisCommandArgv(r, s.argc, s.argv, s.lens);
    duro_argv_free(&s);
    cr_assert(rep && rep->type != REDIS_REPLY_ERROR, "signal: %s",
              rep ? rep->str : r->errstr);
    freeReplyObject(rep);
    fields_of(&b, names, N, after);
    for (int i = 0; i < N; i++) {
        /* the signal buffers (a task is outstanding): bufn alone moves */
        if (strcmp(names[i], "bufn") != 0)
            cr_assert_str_eq(after[i], before[i], "%s of fb: %s, was %s",
                             names[i], after[i], before[i]);
        free(before[i]);
        free(after[i]);
    }
    duro_test_task_free(&a);
    duro_test_task_free(&b);
    redisFree(r);
    duro_test_finish(&h);
}

/* The kept visibility key names at their worst: PART_MAX (256) partition
 * prefixes of the longest kept length, each with PART_NAMES (32) types
 * and as many statuses of the longest kept name (64 bytes), and more of
 * each beyond the bounds, which are not kept. What the library keeps of
 * them stays within the bound its comment gives (docs/internals.md). */
Test(lua_caches, kept_visibility_names_at_their_bound)
{
    enum { PREFIXES = 300, NAMES = 40, NAME = 64 };
    redisContext *r = duro_test_redis(&h);
    load_lib(r, false);
    for (int i = 0; i < 200; i++)
        freeReplyObject(duro_test_cmd(r, "FCALL", "duro_version", "0", NULL));
    long long before = info_num(r, "used_memory_vm_functions");
    long long calls = 0;
    for (int p = 0; p < PREFIXES; p++) {
        /* "duro:ns:<51 bytes>:{pN}": 64 bytes, the longest kept */
        char ns[64];
        snprintf(ns, sizeof(ns), "%04d%s", p,
                 "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn");
        ns[51 - 4] = '\0';
        for (int t = 0; t < NAMES; t++) {
            char id[32], type[NAME + 1];
            snprintf(id, sizeof(id), "k%d-%d", p, t);
            memset(type, 'a' + t % 26, NAME);
            type[NAME] = '\0';
            snprintf(type, 8, "%03d%03d", p % 1000, t);
            type[6] = 'x';
            one_run w;
            run_init(&w, ns, id, type, "q");
            const char *keys[] = {w.k.wf,       w.k.hist,      w.k.buf,
                                  w.k.wft,      w.k.timers,    w.k.pa,
                                  w.k.idx_open, w.k.idx_closed};
            const char *args[] = {w.id,   w.run, w.type, w.queue,
                                  "null", "{}",  "0",    "10000"};
            const char *argv[19] = {"FCALL", "duro_start", "8"};
            size_t lens[19];
            for (int j = 0; j < 8; j++) {
                argv[3 + j] = keys[j];
                argv[11 + j] = args[j];
            }
            for (int j = 0; j < 19; j++)
                lens[j] = strlen(argv[j]);
            cr_assert_eq(redisAppendCommandArgv(r, 19, argv, lens), REDIS_OK);
            /* a row of an earlier library, status `type` (backfilled) */
            char bid[40];
            snprintf(bid, sizeof(bid), "b%s", id);
            one_run b;
            run_init(&b, ns, bid, type, "q");
            redisAppendCommand(r,
                               "HSET %s run %s type t queue q status %s "
                               "start_ms 1 close_ms 2",
                               b.k.wf, b.run, type);
            redisAppendCommand(r, "ZADD %s 1 %s", b.k.idx_closed, b.id);
            redisAppendCommand(r, "FCALL duro_vis_backfill 1 %s 0 100",
                               b.k.idx_closed);
            calls++;
        }
        for (; calls > 0; calls--) {
            redisReply *rep = NULL;
            cr_assert_eq(redisGetReply(r, (void **)&rep), REDIS_OK);
            cr_assert(rep->type == REDIS_REPLY_STRING, "start: %s",
                      rep->type == REDIS_REPLY_ERROR ? rep->str : "?");
            freeReplyObject(rep);
            for (int j = 0; j < 3; j++) {
                cr_assert_eq(redisGetReply(r, (void **)&rep), REDIS_OK);
                cr_assert(rep->type != REDIS_REPLY_ERROR, "backfill: %s",
                          rep->str);
                freeReplyObject(rep);
            }
        }
    }
    for (int i = 0; i < 200; i++)
        freeReplyObject(duro_test_cmd(r, "FCALL", "duro_version", "0", NULL));
    long long after = info_num(r, "used_memory_vm_functions");
    cr_log_info("Functions' Lua memory %lld -> %lld bytes (%lld KB kept)",
                before, after, (after - before) >> 10);
    /* ~2 MB at most (duro.lua, part_keys), with room for what Lua has
     * not collected yet; unbounded, the same calls keep ~9 MB */
    cr_assert_lt(after - before, 3LL << 20, "%lld KB kept",
                 (after - before) >> 10);
    redisFree(r);
    duro_test_finish(&h);
}

/* Starts on thousands of task queues of the longest kept key length (a
 * queue's stream key, 256 bytes): what the library keeps per stream key
 * (its base, its queue) stays bounded in count. */
Test(lua_caches, kept_stream_keys_at_their_bound)
{
    enum { QUEUES = 12000 };
    redisContext *r = duro_test_redis(&h);
    load_lib(r, false);
    for (int i = 0; i < 200; i++)
        freeReplyObject(duro_test_cmd(r, "FCALL", "duro_version", "0", NULL));
    long long before = info_num(r, "used_memory_vm_functions");
    for (int i = 0; i < QUEUES; i++) {
        char id[32], queue[256];
        snprintf(id, sizeof(id), "sq%d", i);
        memset(queue, 'q', sizeof(queue) - 1);
        queue[sizeof(queue) - 1] = '\0';
        one_run w;
        run_init(&w, "default", id, "t", "q");
        /* "duro:{pN}:wft:<queue>": 256 bytes */
        int room = 256 - (int)strlen(w.k.wft) + 1;
        cr_assert_gt(room, 8);
        snprintf(queue + room - 8, 9, "%08d", i);
        run_init(&w, "default", id, "t", queue);
        cr_assert_eq(strlen(w.k.wft), 256);
        const char *keys[] = {w.k.wf,       w.k.hist,      w.k.buf,
                              w.k.wft,      w.k.timers,    w.k.pa,
                              w.k.idx_open, w.k.idx_closed};
        const char *args[] = {w.id,   w.run, w.type, w.queue,
                              "null", "{}",  "0",    "10000"};
        const char *argv[19] = {"FCALL", "duro_start", "8"};
        size_t lens[19];
        for (int j = 0; j < 8; j++) {
            argv[3 + j] = keys[j];
            argv[11 + j] = args[j];
        }
        for (int j = 0; j < 19; j++)
            lens[j] = strlen(argv[j]);
        cr_assert_eq(redisAppendCommandArgv(r, 19, argv, lens), REDIS_OK);
        if (i % 100 == 99 || i == QUEUES - 1) {
            for (int j = i % 100; j >= 0; j--) {
                redisReply *rep = NULL;
                cr_assert_eq(redisGetReply(r, (void **)&rep), REDIS_OK);
                cr_assert(rep->type == REDIS_REPLY_STRING, "start: %s",
                          rep->type == REDIS_REPLY_ERROR ? rep->str : "?");
                freeReplyObject(rep);
            }
        }
    }
    for (int i = 0; i < 200; i++)
        freeReplyObject(duro_test_cmd(r, "FCALL", "duro_version", "0", NULL));
    long long after = info_num(r, "used_memory_vm_functions");
    cr_log_info("Functions' Lua memory %lld -> %lld bytes (%lld KB kept)",
                before, after, (after - before) >> 10);
    /* 4096 keys kept at most (~1.3 MB); unbounded, ~4 MB */
    cr_assert_lt(after - before, 5LL << 19, "%lld KB kept",
                 (after - before) >> 10);
    redisFree(r);
    duro_test_finish(&h);
}
