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
#include "harness_lua.h"
#include "harness_task.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(lua_caches, .init = setup, .fini = duro_test_fini, .timeout = 120);

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

/* Namespaces "default", "a" and "ab" (a prefix of another's name), types
 * "t", "t2", "u2" (as long as "t2") and "t" again: starts and closes
 * interleaved, each run in the indexes of its own namespace, type and
 * status alone. */
enum { NNS = 3, NTYPES = 4, NRUNS = 2 * NNS * NTYPES };
static const char *const NSS[NNS] = {"default", "a", "ab"};
static const char *const TYPES[NTYPES] = {"t", "t2", "u2", "t"};

/* runs_init: each namespace and type twice: in partition 0 (every name
 * met in one partition's names), then spread over the partitions */
static void runs_init(duro_test_lua_run *w, const char *round)
{
    for (int i = 0; i < NRUNS; i++) {
        int half = NNS * NTYPES, j = i % half;
        int want = i < half ? 0 : i % DURO_TEST_LUA_PARTS;
        char id[64];
        for (int n = 0;; n++) {
            cr_assert_lt(n, 1000);
            snprintf(id, sizeof(id), "%s-%d-%d", round, i, n);
            if (duro_partition_of(id, DURO_TEST_LUA_PARTS) == want) break;
        }
        duro_test_lua_run_init(&w[i], NSS[j % NNS], id, TYPES[j / NNS], "q");
    }
}

/* expect_close: the next message sub reads is the close notice of w, on
 * its namespace's channel of its partition */
static void expect_close(redisContext *sub, const duro_test_lua_run *w)
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
    duro_test_lua_run w[NRUNS];
    runs_init(w, name);
    for (int i = 0; i < NRUNS; i++)
        duro_test_lua_run_start(r, &w[i], "10000");
    for (int i = NRUNS - 1; i >= 0; i--) {
        duro_test_lua_run_terminate(r, &w[i]);
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
        char *status = duro_test_hget(r, row, "status");
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
        cr_assert_eq(duro_keyspace_init(&ks, NSS[n], DURO_TEST_LUA_PARTS), 0);
        for (int p = 0; p < DURO_TEST_LUA_PARTS; p++) {
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
    duro_test_lua_load(r, false);
    redisContext *sub = sub_open(false);
    round_check(r, sub, "one");
    round_check(r, sub, "two"); /* the kept names, used again */
    redisFree(sub);
    /* the cluster's copy, loaded over it: the same channels, SPUBLISHed */
    duro_test_lua_load(r, true);
    sub = sub_open(true);
    round_check(r, sub, "three");
    redisFree(sub);
    duro_test_lua_load(r, false);
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
    duro_test_lua_load(r, false);
    /* each text twice (the second one kept), and again after a reload */
    for (int pass = 0; pass < 4; pass++) {
        if (pass == 2) duro_test_lua_load(r, false);
        for (int i = 0; i < N; i++) {
            int j = pass % 2 ? N - 1 - i : i;
            duro_test_lua_run w;
            char id[32];
            snprintf(id, sizeof(id), "w%d-%d", pass, j);
            duro_test_lua_run_init(&w, "default", id, "t", "q");
            duro_test_lua_run_start(r, &w, texts[j][0]);
            char *got = duro_test_hget(r, w.k.wf, "wft_timeout");
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
    duro_test_lua_load(r, false);
    duro_test_lua_run w[2 * N];
    for (int i = 0; i < 2 * N; i++) {
        char id[32];
        snprintf(id, sizeof(id), "b%d", i);
        duro_test_lua_run_init(&w[i], i < N ? "default" : "ab", id, "t", "q");
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
        freeReplyObject(
            duro_test_fcall(r, "duro_vis_backfill", 1, keys, 2, args));
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
        const duro_test_lua_run *o = &w[(i + N) % (2 * N)];
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
    duro_test_lua_load(r, false);
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
    duro_test_lua_load(r, false);
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
    duro_test_lua_load(r, false);
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

/* fields: HMGET of t's hash fields names (n of them) into out (caller
 * frees each; "" when absent) */
static void fields_of(duro_test_task *t, const char *const *names, int n,
                      char **out)
{
    for (int i = 0; i < n; i++) {
        char *v = duro_test_hget(t->r, t->k.wf, names[i]);
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
    duro_test_lua_load(r, false);
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
