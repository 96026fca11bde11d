/* test_stream_trim.c: acknowledged task entries are trimmed, not deleted
 * one by one (docs/internals.md, "Trimming task streams"): the streams
 * stay bounded, a pending entry is never trimmed, and the backlog readers
 * count what waits, not what XLEN holds. */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/keys.h"
#include "duro/lua.h"
#include "harness.h"

static duro_test_harness h;
static redisContext *r;

#define S "duro:{p0}:act:trim"
#define N 1000
/* a stream node holds at most 100 entries (stream-node-max-entries) */
#define NODE 100

static void setup(void)
{
    duro_test_redis_start(&h);
    r = duro_test_redis(&h);
    const char *argv[] = {"FUNCTION", "LOAD", "REPLACE", duro_lua_source()};
    redisReply *rep = redisCommandArgv(r, 4, argv, NULL);
    cr_assert(rep && rep->type != REDIS_REPLY_ERROR, "FUNCTION LOAD: %s",
              rep ? rep->str : "no reply");
    freeReplyObject(rep);
}

static void teardown(void)
{
    if (r) redisFree(r);
    r = NULL;
    duro_test_fini();
}

TestSuite(stream_trim, .init = setup, .fini = teardown, .timeout = 120);

static long long integer(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = redisvCommand(r, fmt, ap);
    va_end(ap);
    cr_assert(rep && rep->type == REDIS_REPLY_INTEGER, "%s: %s", fmt,
              rep && rep->str ? rep->str : "not an integer");
    long long v = rep->integer;
    freeReplyObject(rep);
    return v;
}

/* group_field: an integer field of group duro in XINFO GROUPS key (-1:
 * nil, as a lag Redis cannot tell). */
static long long group_field(const char *key, const char *name)
{
    redisReply *rep = redisCommand(r, "XINFO GROUPS %s", key);
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 1);
    const redisReply *g = rep->element[0];
    long long v = -2;
    for (size_t i = 0; i + 1 < g->elements; i += 2)
        if (strcmp(g->element[i]->str, name) == 0)
            v = g->element[i + 1]->type == REDIS_REPLY_INTEGER
                    ? g->element[i + 1]->integer
                    : -1;
    freeReplyObject(rep);
    cr_assert_neq(v, -2, "no %s in XINFO GROUPS", name);
    return v;
}

/* calls: how many times Redis ran `cmd` (INFO commandstats; Functions'
 * commands count too) since the last CONFIG RESETSTAT. */
static long long calls(const char *cmd)
{
    redisReply *rep = redisCommand(r, "INFO commandstats");
    cr_assert(rep && rep->type == REDIS_REPLY_STRING);
    char want[64];
    snprintf(want, sizeof(want), "cmdstat_%s:calls=", cmd);
    const char *at = strstr(rep->str, want);
    long long n = at ? strtoll(at + strlen(want), NULL, 10) : 0;
    freeReplyObject(rep);
    return n;
}

/* fill adds N bells to S, entry i with id "<ms0 + i*step_ms>-<i>" (so
 * step 0 puts them all in one millisecond), and reads them all as
 * consumer c1: all N are pending. */
static void fill(char ids[N][32], long long ms0, long long step_ms)
{
    freeReplyObject(redisCommand(r, "XGROUP CREATE %s duro 0 MKSTREAM", S));
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], 32, "%lld-%d", ms0 + i * step_ms, i);
        redisReply *rep = redisCommand(r, "XADD %s %s bell 1", S, ids[i]);
        cr_assert(rep && rep->type == REDIS_REPLY_STRING, "XADD %s", ids[i]);
        freeReplyObject(rep);
    }
    redisReply *rep = redisCommand(
        r, "XREADGROUP GROUP duro c1 COUNT %d STREAMS %s >", N + 1, S);
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 &&
              rep->element[0]->element[1]->elements == N);
    freeReplyObject(rep);
    freeReplyObject(redisCommand(r, "CONFIG RESETSTAT"));
}

/* took acks entry id through a Function (duro_fair_took: the bell of a
 * fairness key was used), as a worker does after taking its task. */
static void took(const char *id)
{
    redisReply *rep =
        redisCommand(r, "FCALL duro_fair_took 1 %s %s key-1", S, id);
    cr_assert(rep && rep->type == REDIS_REPLY_STRING &&
                  strcmp(rep->str, "ok") == 0,
              "duro_fair_took %s: %s", id, rep ? rep->str : "no reply");
    freeReplyObject(rep);
}

/* has_entry: entry id is still in S with its fields. */
static bool has_entry(const char *id)
{
    redisReply *rep = redisCommand(r, "XRANGE %s %s %s", S, id, id);
    bool yes = rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 &&
               rep->element[0]->element[1]->elements == 2;
    freeReplyObject(rep);
    return yes;
}

Test(stream_trim, acked_entries_are_trimmed_not_deleted)
{
    static char ids[N][32];
    fill(ids, 1000000, 0);
    for (int i = 0; i < N; i++)
        took(ids[i]);
    cr_assert_eq(calls("xdel"), 0, "acked entries were deleted one by one");
    cr_assert_gt(calls("xtrim"), 0);
    long long len = integer("XLEN %s", S);
    cr_log_info("%d acked, %lld left in the stream", N, len);
    cr_assert_leq(len, NODE, "%lld acked entries were kept", len);
    cr_assert_eq(group_field(S, "pending"), 0);
    cr_assert_eq(group_field(S, "lag"), 0);
}

Test(stream_trim, a_pending_entry_survives_the_trim)
{
    static char ids[N][32];
    fill(ids, 1000000, 0);
    const int kept = N / 2;
    for (int i = 0; i < N; i++)
        if (i != kept) took(ids[i]);
    long long len = integer("XLEN %s", S);
    cr_log_info("entry %d pending, %lld left in the stream", kept, len);
    /* what comes before its node goes; it and what follows stay */
    cr_assert_lt(len, N - kept + NODE, "nothing was trimmed: %lld", len);
    cr_assert_geq(len, N - kept);
    cr_assert(has_entry(ids[kept]), "the pending entry was trimmed");
    cr_assert_eq(group_field(S, "pending"), 1);
    cr_assert_eq(calls("xdel"), 0);
    /* the reclaim's XCLAIM still finds its fields */
    redisReply *rep = redisCommand(r, "XCLAIM %s duro c2 0 %s", S, ids[kept]);
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 &&
                  rep->element[0]->type == REDIS_REPLY_ARRAY &&
                  rep->element[0]->element[1]->type == REDIS_REPLY_ARRAY &&
                  rep->element[0]->element[1]->elements == 2,
              "XCLAIM of the pending entry lost its fields");
    freeReplyObject(rep);
    took(ids[kept]);
    len = integer("XLEN %s", S);
    cr_assert_leq(len, N - kept, "%lld left once it was acked", len);
    cr_assert_eq(group_field(S, "pending"), 0);
    cr_assert_eq(group_field(S, "lag"), 0);
}

/* kind_backlog: "backlog" of kind's row in duro_client_queue_stats of
 * queue. */
static double kind_backlog(duro_client *c, const char *queue, const char *kind)
{
    cJSON *rows = NULL;
    cr_assert_eq(duro_client_queue_stats(c, queue, &rows), 0, "%s",
                 duro_client_errstr(c));
    double b = -1;
    const cJSON *row;
    cJSON_ArrayForEach(row, rows)
    {
        if (strcmp(duro_test_str(row, "kind"), kind) == 0)
            b = duro_test_num(row, "backlog", -1);
    }
    cJSON_Delete(rows);
    return b;
}

/* A task pending for long (an hours-long activity) holds the trim point
 * back: the scheduler deletes the entries acked behind it, and leaves it
 * and the entries not acked yet alone. */
Test(stream_trim, the_scheduler_deletes_what_a_long_pending_entry_holds)
{
    const char *key = "duro:{p0}:act:trimq";
    freeReplyObject(redisCommand(r, "SADD duro:queues trimq"));
    freeReplyObject(redisCommand(r, "XGROUP CREATE %s duro 0 MKSTREAM", key));
    /* the first added a minute ago (its id's time), the rest now */
    redisReply *rep = redisCommand(r, "TIME");
    long long now = strtoll(rep->element[0]->str, NULL, 10) * 1000;
    freeReplyObject(rep);
    static char ids[N][32];
    for (int i = 0; i < N; i++) {
        if (i == 0)
            rep = redisCommand(r, "XADD %s %lld-0 bell 1", key, now - 60000);
        else
            rep = redisCommand(r, "XADD %s * bell 1", key);
        cr_assert(rep && rep->type == REDIS_REPLY_STRING);
        snprintf(ids[i], 32, "%s", rep->str);
        freeReplyObject(rep);
    }
    rep = redisCommand(r, "XREADGROUP GROUP duro c1 COUNT %d STREAMS %s >",
                       N - 10, key); /* the last 10 stay undelivered */
    freeReplyObject(rep);
    /* all acked but the first and entry 500, which stay pending */
    for (int i = 1; i < N - 10; i++) {
        if (i == 500) continue;
        rep =
            redisCommand(r, "FCALL duro_fair_took 1 %s %s key-1", key, ids[i]);
        freeReplyObject(rep);
    }
    cr_assert_eq(integer("XLEN %s", key), N, "the Functions trimmed past it");
    /* freshly claimed, so that the reclaim of the scheduler's first scan
     * leaves them alone; no second scan within the test */
    freeReplyObject(redisCommand(r, "XCLAIM %s duro c1 0 %s %s JUSTID", key,
                                 ids[0], ids[500]));
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "60s", NULL);
    cr_assert(duro_test_wait_until(integer("XLEN %s", key) == 12, 10000),
              "%lld entries left", integer("XLEN %s", key));
    redisReply *left = redisCommand(r, "XRANGE %s - +", key);
    cr_assert_str_eq(left->element[0]->element[0]->str, ids[0]);
    cr_assert_str_eq(left->element[1]->element[0]->str, ids[500]);
    for (int i = 0; i < 10; i++)
        cr_assert_str_eq(left->element[2 + i]->element[0]->str, ids[N - 10 + i],
                         "an undelivered entry went");
    freeReplyObject(left);
    cr_assert_eq(group_field(key, "pending"), 2);
    /* Redis cannot tell the lag past a deletion up to the last-delivered
     * id: the readers' XLEN - pending is exact then, nothing acked left */
    duro_client *c = duro_test_client(&h);
    cr_assert_eq(kind_backlog(c, "trimq", "activity"), 10);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* An entry never delivered (a queued task a Function takes back) is
 * deleted, so that no worker reads it later. */
Test(stream_trim, an_undelivered_entry_is_deleted)
{
    freeReplyObject(redisCommand(r, "XGROUP CREATE %s duro 0 MKSTREAM", S));
    redisReply *rep = redisCommand(r, "XADD %s 5-0 bell 1", S);
    freeReplyObject(rep);
    took("5-0");
    cr_assert_eq(integer("XLEN %s", S), 0);
}

/* Under load (300 workflows of 3 activities on a real worker) no task
 * entry is deleted one by one, every task stream stays within a node or
 * two of acked entries, and `duro queue stats` reads no backlog although
 * XLEN still counts entries the trim has not reached. */
Test(stream_trim, streams_stay_bounded_under_load)
{
    enum { RUNS = 300 };
    int port = duro_test_free_port();
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    duro_test_spawn(&h, "duro-scheduler", NULL);
    /* eager off: the activity tasks go through their streams (eager ones
     * are leased, in no stream) */
    setenv("DURO_EAGER_ACTIVITIES", "0", 1);
    duro_test_spawn(&h, "bench-worker", "--metrics-addr", addr, NULL);
    unsetenv("DURO_EAGER_ACTIVITIES");
    duro_client *c = duro_test_client(&h);
    freeReplyObject(redisCommand(r, "CONFIG RESETSTAT"));
    char id[32];
    for (int i = 0; i < RUNS; i++) {
        snprintf(id, sizeof(id), "load-%d", i);
        duro_test_start(c, id, "bench", "bench", "{\"activities\":3}", 0);
    }
    for (int i = 0; i < RUNS; i++) {
        snprintf(id, sizeof(id), "load-%d", i);
        cJSON_Delete(duro_test_result(c, id, 60000));
    }
    long long acks = calls("xack"), dels = calls("xdel"), total = 0;
    cr_log_info("%lld XACK, %lld XDEL", acks, dels);
    cr_assert_geq(acks, RUNS * 4L);
    /* only the odd task taken back, or acked past a second behind */
    cr_assert_lt(dels * 10, acks, "%lld XDEL for %lld XACK", dels, acks);
    char key[DURO_KEY_MAX];
    const duro_keyspace *ks = DURO_KEYSPACE_DEFAULT(DURO_DEFAULT_PARTITIONS);
    for (int p = 0; p < DURO_DEFAULT_PARTITIONS; p++)
        for (int k = 0; k < 2; k++) {
            if (k == 0)
                duro_key_wft(key, sizeof(key), ks, p, "bench");
            else
                duro_key_act(key, sizeof(key), ks, p, "bench");
            long long len = integer("XLEN %s", key);
            total += len;
            cr_assert_leq(len, 2LL * NODE, "%s holds %lld entries", key, len);
            if (integer("EXISTS %s", key) == 0) continue;
            cr_assert_eq(group_field(key, "pending"), 0, "%s", key);
            cr_assert_eq(group_field(key, "lag"), 0, "%s", key);
        }
    cr_log_info("%lld entries left in the task streams", total);
    cr_assert_gt(total, 0, "nothing left: the backlog check below is moot");
    cr_assert_eq(kind_backlog(c, "bench", "workflow"), 0);
    cr_assert_eq(kind_backlog(c, "bench", "activity"), 0);
    duro_client_free(c);
    /* the worker's gauge, once its backlog thread (every 5 s) has read
     * the streams as they are now */
    int64_t done = duro_test_mono_ms();
    static char body[1 << 20];
    cr_assert(
        duro_test_wait_until(
            duro_test_mono_ms() - done > 6000 &&
                duro_test_http_get(port, "/metrics", body, sizeof(body)) == 200,
            15000),
        "no /metrics");
    const char *g = strstr(body, "\nduro_task_queue_backlog{");
    cr_assert_not_null(g, "no backlog gauge:\n%s", body);
    for (; g; g = strstr(g + 1, "\nduro_task_queue_backlog{")) {
        const char *v = strchr(g + 1, ' ');
        cr_assert(v && strtod(v + 1, NULL) == 0, "backlog: %.80s", g + 1);
    }
    duro_test_finish(&h);
}

/* An ack trims when its entry's id, <ms>-<seq>, has ms + seq a multiple
 * of 8 (TRIM_EVERY), computed exactly whatever the digits: short parts,
 * carries past the last three digits, and an ms beyond 2^53 (a double
 * would round it). One entry per stream, acked through a Function; the
 * XTRIM is counted (INFO commandstats). */
Test(stream_trim, the_trim_cadence_follows_the_id_exactly)
{
    static const char *const ids[] = {
        "1-7",
        "1-6",
        "5-3",
        "999-1",
        "12-4",
        "100-4",
        "123456-44",
        "1000000-0",
        "7-1001",
        "7-1000",
        "1795846369036-12",
        "1795846369036-13",
        "18014398509481985-7",
        "18014398509481985-6",
    };
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        char *dash = NULL;
        unsigned long long ms = strtoull(ids[i], &dash, 10);
        cr_assert(dash && *dash == '-', "%s", ids[i]);
        unsigned long long seq = strtoull(dash + 1, NULL, 10);
        bool trims = (ms + seq) % 8 == 0;
        freeReplyObject(redisCommand(r, "DEL %s", S));
        freeReplyObject(redisCommand(r, "XGROUP CREATE %s duro 0 MKSTREAM", S));
        redisReply *rep = redisCommand(r, "XADD %s %s bell 1", S, ids[i]);
        cr_assert(rep && rep->type == REDIS_REPLY_STRING, "XADD %s", ids[i]);
        freeReplyObject(rep);
        freeReplyObject(redisCommand(
            r, "XREADGROUP GROUP duro c1 COUNT 1 STREAMS %s >", S));
        freeReplyObject(redisCommand(r, "CONFIG RESETSTAT"));
        took(ids[i]);
        cr_assert_eq(group_field(S, "pending"), 0, "%s not acked", ids[i]);
        cr_assert_eq(calls("xtrim"), trims ? 1 : 0, "%s: %s", ids[i],
                     trims ? "not trimmed" : "trimmed");
    }
}
