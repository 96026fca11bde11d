/* test_redis_faults.c: Redis answering with errors instead of results: an
 * OOM spell (maxmemory with noeviction), a BUSY spell (a long script), a
 * history key of the wrong type when a timer comes due, and one partition's
 * task stream replaced by a string. Nothing finished may be lost or run
 * again, and one bad key must not stall the rest. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "duro/keys.h"
#include "harness.h"

static duro_test_harness h;
static char exec_log[PATH_MAX + 32];

static void setup(void)
{
    duro_test_redis_start(&h);
    snprintf(exec_log, sizeof(exec_log), "%s/executions.log", h.dir);
    setenv("DURO_TEST_LOG", exec_log, 1);
}

TestSuite(redis_faults, .init = setup, .fini = duro_test_fini, .timeout = 120);

/* ---- Helpers ---- */

/* count_lines: lines of the executions log that start with prefix. */
static int count_lines(const char *prefix)
{
    return duro_test_count_lines(exec_log, prefix);
}

static void cmd_ok(redisContext *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = redisvCommand(r, fmt, ap);
    va_end(ap);
    cr_assert(rep && rep->type != REDIS_REPLY_ERROR, "%s: %s", fmt,
              rep ? rep->str : r->errstr);
    freeReplyObject(rep);
}

/* error_count: how many replies of error kind `word` (OOM, BUSY, ...)
 * Redis has sent since it started (INFO errorstats). */
static long long error_count(const char *word)
{
    redisContext *r = duro_test_redis(&h);
    redisReply *rep = redisCommand(r, "INFO errorstats");
    long long n = 0;
    char key[64];
    snprintf(key, sizeof(key), "errorstat_%s:count=", word);
    if (rep && rep->type == REDIS_REPLY_STRING) {
        const char *p = strstr(rep->str, key);
        if (p) n = strtoll(p + strlen(key), NULL, 10);
    }
    freeReplyObject(rep);
    redisFree(r);
    return n;
}

#define NHOLD 8 /* the test worker's activity threads */

/* start_holds starts NHOLD `hold` workflows finishing 0.5 to 1.9 s after
 * they start, with a start-to-close long enough (15 s) that no timeout
 * races the spell, short enough that a dropped completion shows up as a
 * second execution within the test. Returns once all of them run. */
static void start_holds(duro_client *c, const char *prefix)
{
    for (int i = 0; i < NHOLD; i++) {
        char id[64], in[64];
        snprintf(id, sizeof(id), "%s-%d", prefix, i);
        snprintf(in, sizeof(in), "{\"ms\":%d,\"timeoutMs\":15000}",
                 500 + 200 * i);
        duro_test_start(c, id, "hold", "test", in, 0);
    }
    cr_assert(duro_test_wait_until(count_lines("hold ") == NHOLD, 10000),
              "the activities never started (%d of %d)", count_lines("hold "),
              NHOLD);
}

/* check_holds: every workflow completed from its first attempt, each
 * activity ran exactly once. */
static void check_holds(duro_client *c, const char *prefix)
{
    for (int i = 0; i < NHOLD; i++) {
        char id[64];
        snprintf(id, sizeof(id), "%s-%d", prefix, i);
        cJSON *d = duro_test_result(c, id, 40000);
        cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED", "%s", id);
        cJSON_Delete(d);
        cJSON *hist = duro_test_history(c, id);
        const cJSON *done = duro_test_event_data(
            duro_test_find_event(hist, "ActivityCompleted", 0));
        cr_assert_eq(duro_test_num(done, "attempt", 0), 1,
                     "%s: its finished attempt 1 was dropped and re-run", id);
        cJSON_Delete(hist);
    }
    cr_assert_eq(count_lines("hold "), NHOLD, "re-executions: %d runs for %d",
                 count_lines("hold "), NHOLD);
}

/* ---- Transient errors while activities finish ---- */

Test(redis_faults, oom_spell_reruns_no_finished_activity)
{
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_client *c = duro_test_client(&h);
    start_holds(c, "oom");

    redisContext *r = duro_test_redis(&h);
    long long before = error_count("OOM");
    cmd_ok(r, "CONFIG SET maxmemory-policy noeviction");
    cmd_ok(r, "CONFIG SET maxmemory 1");
    duro_test_sleep_ms(5000); /* every activity finishes in here */
    cmd_ok(r, "CONFIG SET maxmemory 0");
    redisFree(r);
    cr_assert_gt(error_count("OOM"), before,
                 "the spell rejected nothing: the test proves nothing");

    check_holds(c, "oom");
    duro_client_free(c);
    duro_test_finish(&h);
}

/* BUSY_SCRIPT spins for ARGV[1] ms by Redis' clock: every other client
 * gets BUSY meanwhile (after busy-reply-threshold). */
#define BUSY_SCRIPT                                                            \
    "local function ms() local t = redis.call('TIME') "                        \
    "return t[1] * 1000 + t[2] / 1000 end "                                    \
    "local s = ms() while ms() - s < tonumber(ARGV[1]) do end return 1"

Test(redis_faults, busy_spell_reruns_no_finished_activity)
{
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    cmd_ok(r, "CONFIG SET busy-reply-threshold 50");
    start_holds(c, "busy");

    long long before = error_count("BUSY");
    /* two spells back to back cover the activities' 0.5..1.9 s */
    for (int i = 0; i < 2; i++) {
        redisReply *rep = redisCommand(r, "EVAL %s 0 1500", BUSY_SCRIPT);
        cr_assert(rep && rep->type == REDIS_REPLY_INTEGER, "%s",
                  rep ? rep->str : r->errstr);
        freeReplyObject(rep);
    }
    redisFree(r);
    cr_assert_gt(error_count("BUSY"), before,
                 "the spell rejected nothing: the test proves nothing");

    check_holds(c, "busy");
    duro_client_free(c);
    duro_test_finish(&h);
}

/* pending_acts: activity tasks delivered and not acknowledged, over every
 * partition of queue "test". */
static long long pending_acts(redisContext *r)
{
    long long n = 0;
    for (int p = 0; p < DURO_DEFAULT_PARTITIONS; p++) {
        char key[DURO_KEY_MAX];
        duro_key_act(key, sizeof(key), DURO_KEYSPACE_DEFAULT(0), p, "test");
        redisReply *rep = redisCommand(r, "XPENDING %s duro", key);
        if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 &&
            rep->element[0]->type == REDIS_REPLY_INTEGER)
            n += rep->element[0]->integer;
        freeReplyObject(rep);
        /* leased by the committing worker (library 35): an l timer */
        rep = redisCommand(r, "ZRANGE duro:{p%d}:timers 0 -1", p);
        for (size_t i = 0; rep && i < rep->elements; i++)
            n += !strncmp(rep->element[i]->str, "l|", 2);
        freeReplyObject(rep);
    }
    return n;
}

Test(redis_faults, hand_back_refused_during_oom_is_sent_again)
{
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    pid_t first = duro_test_spawn(&h, "duro-test-worker", "--shutdown-grace",
                                  "300ms", NULL);
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    /* start-to-close 60s: only a hand-back moves it sooner */
    duro_test_start(c, "handback-oom", "hold", "test", "{\"ms\":6000}", 0);
    cr_assert(duro_test_wait_until(pending_acts(r) == 1, 5000));

    /* the grace ends, and the hand-back goes, while Redis is out of
     * memory (a BUSY spell would not do: the worker's blocking reads only
     * end after the script, and the stop waits for them) */
    long long before = error_count("OOM");
    cmd_ok(r, "CONFIG SET maxmemory-policy noeviction");
    cmd_ok(r, "CONFIG SET maxmemory 1");
    duro_test_kill(&h, first, SIGTERM);
    duro_test_sleep_ms(2000);
    cmd_ok(r, "CONFIG SET maxmemory 0");
    cr_assert_gt(error_count("OOM"), before);
    cr_assert(duro_test_wait_until(!duro_test_alive(&h, first), 10000),
              "the worker did not stop");

    int64_t t0 = duro_test_mono_ms();
    duro_test_spawn(&h, "duro-test-worker", NULL);
    cJSON *d = duro_test_result(c, "handback-oom", 30000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cr_assert_lt(duro_test_mono_ms() - t0, 15000,
                 "the hand-back was dropped: the attempt waited out its "
                 "start-to-close");
    cJSON_Delete(d);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* ---- A timer due while its history key has the wrong type ---- */

static char *hget(redisContext *r, const char *key, const char *field)
{
    redisReply *rep = redisCommand(r, "HGET %s %s", key, field);
    char *v = rep && rep->type == REDIS_REPLY_STRING ? strdup(rep->str) : NULL;
    freeReplyObject(rep);
    return v;
}

static int events_of(duro_client *c, const char *id, const char *type)
{
    cJSON *hist = duro_test_history(c, id);
    int n = duro_test_count_events(hist, type);
    cJSON_Delete(hist);
    return n;
}

/* same_partition_id: an id "<prefix>-<n>" in partition p. */
static void same_partition_id(char *out, size_t n, const char *prefix, int p)
{
    for (int i = 0; i < 10000; i++) {
        snprintf(out, n, "%s-%d", prefix, i);
        if (duro_partition_of(out, DURO_DEFAULT_PARTITIONS) == p) return;
    }
    cr_assert_fail("no id in partition %d", p);
}

Test(redis_faults, timer_due_while_history_is_unwritable_fires_once_healthy)
{
    /* batches of one: the failing timer fills every batch it is in */
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", "--batch",
                    "1", NULL);
    duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    duro_test_start(c, "broken-timer", "sleep", "test", "{\"ms\":1500}", 0);
    duro_wf_keys k;
    duro_wf_keys_init(&k, DURO_KEYSPACE_DEFAULT(DURO_DEFAULT_PARTITIONS),
                      "broken-timer", NULL);
    cr_assert(duro_test_wait_until(
                  events_of(c, "broken-timer", "TimerStarted") == 1, 5000),
              "the timer was never started");
    char *run = hget(r, k.wf, "run");
    cr_assert(run);
    duro_wf_keys_init(&k, DURO_KEYSPACE_DEFAULT(DURO_DEFAULT_PARTITIONS),
                      "broken-timer", run);
    free(run);
    char saved[DURO_KEY_MAX + 8];
    snprintf(saved, sizeof(saved), "%s.saved", k.hist);
    cmd_ok(r, "RENAME %s %s", k.hist, saved);
    cmd_ok(r, "SET %s not-a-stream", k.hist);

    /* a healthy timer in the same partition, due after the broken one */
    char ok_id[64];
    same_partition_id(
        ok_id, sizeof(ok_id), "healthy-timer",
        duro_partition_of("broken-timer", DURO_DEFAULT_PARTITIONS));
    duro_test_start(c, ok_id, "sleep", "test", "{\"ms\":2500}", 0);
    long long errors0 = error_count("WRONGTYPE");
    cJSON *d = duro_test_result(c, ok_id, 10000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED",
                     "a failing timer blocked the others");
    cJSON_Delete(d);
    duro_test_sleep_ms(1000); /* the broken timer keeps failing */
    long long errors = error_count("WRONGTYPE") - errors0;
    cr_assert_gt(errors, 0, "the timer never tried to fire");
    cr_assert_lt(errors, 20,
                 "a failing timer is retried with backoff, not "
                 "in a loop (%lld tries in ~4s)",
                 errors);

    cmd_ok(r, "DEL %s", k.hist);
    cmd_ok(r, "RENAME %s %s", saved, k.hist);
    d = duro_test_result(c, "broken-timer", 20000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED",
                     "the timer was dropped instead of retried");
    cJSON_Delete(d);
    cJSON *hist = duro_test_history(c, "broken-timer");
    cr_assert_eq(duro_test_count_events(hist, "TimerFired"), 1);
    cJSON_Delete(hist);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* ---- One partition's task stream of the wrong type ---- */

/* broken_gauge: the worker's duro_worker_broken_streams, or -1. */
static double broken_gauge(int port)
{
    static char body[1 << 18];
    if (duro_test_http_get(port, "/metrics", body, sizeof(body)) != 200)
        return -1;
    const char *l = strstr(body, "\nduro_worker_broken_streams");
    const char *v = l ? strchr(l + 1, ' ') : NULL;
    return v ? strtod(v + 1, NULL) : -1;
}

static bool key_is_stream(redisContext *r, const char *key)
{
    redisReply *rep = redisCommand(r, "TYPE %s", key);
    bool yes = rep && rep->type == REDIS_REPLY_STATUS &&
               strcmp(rep->str, "stream") == 0;
    freeReplyObject(rep);
    return yes;
}

/* run_in: starts `activities` workflows "<prefix>-<n>" in partition p (in
 * every other one: other_than) and checks that they complete. */
static void run_in(duro_client *c, const char *prefix, int p, bool other_than,
                   int count)
{
    char ids[8][64];
    int n = 0;
    for (int i = 0; n < count && n < 8 && i < 10000; i++) {
        snprintf(ids[n], sizeof(ids[n]), "%s-%d", prefix, i);
        if ((duro_partition_of(ids[n], DURO_DEFAULT_PARTITIONS) == p) !=
            other_than)
            duro_test_start(c, ids[n++], "activities", "test", "{\"n\":2}", 0);
    }
    for (int i = 0; i < n; i++) {
        cJSON *d = duro_test_result(c, ids[i], 20000);
        cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED", "%s", ids[i]);
        cJSON_Delete(d);
    }
}

Test(redis_faults, a_stream_of_the_wrong_type_stalls_only_its_partition)
{
    int port = duro_test_free_port();
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    pid_t worker =
        duro_test_spawn(&h, "duro-test-worker", "--metrics-addr", addr, NULL);
    static char body[4096];
    cr_assert(duro_test_wait_until(duro_test_http_get(port, "/readyz", body,
                                                      sizeof(body)) == 200,
                                   5000),
              "the worker never became ready");
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    const int bad = 3;
    char key[DURO_KEY_MAX];
    duro_key_wft(key, sizeof(key), DURO_KEYSPACE_DEFAULT(0), bad, "test");
    cmd_ok(r, "DEL %s", key);
    cmd_ok(r, "SET %s not-a-stream", key);

    run_in(c, "elsewhere", bad, true, 8);
    cr_assert(duro_test_wait_until(broken_gauge(port) == 1, 5000),
              "duro_worker_broken_streams is %g", broken_gauge(port));
    char line[DURO_KEY_MAX + 32];
    snprintf(line, sizeof(line), "STREAM-BROKEN key=%s", key);
    cr_assert(duro_test_log_contains(&h, worker, line), "no %s", line);
    duro_test_output o;
    duro_test_run(&h, &o, 10000, "duro", "queue", "stats", "--task-queue",
                  "test", NULL);
    cr_assert_eq(o.exit_code, 0, "%s", o.err);
    cr_assert(strstr(o.out, "BROKEN") && strstr(o.out, key), "%s", o.out);
    duro_test_output_free(&o);
    duro_test_run(&h, &o, 10000, "duro", "queue", "stats", "--task-queue",
                  "test", "-o", "json", NULL);
    cJSON *rows = cJSON_Parse(o.out);
    cr_assert(rows, "%s", o.out);
    const cJSON *wf = cJSON_GetArrayItem(rows, 0);
    cr_assert_str_eq(duro_test_str(wf, "kind"), "workflow");
    cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetArrayItem(
                         cJSON_GetObjectItem(wf, "broken"), 0)),
                     key);
    cJSON_Delete(rows);
    duro_test_output_free(&o);

    /* repaired: the worker re-creates the stream and its group */
    cmd_ok(r, "DEL %s", key);
    cr_assert(duro_test_wait_until(key_is_stream(r, key), 10000),
              "the worker never re-created %s", key);
    cr_assert(duro_test_wait_until(broken_gauge(port) == 0, 5000));
    run_in(c, "repaired", bad, false, 2);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}
