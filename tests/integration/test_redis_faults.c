/* test_redis_faults.c: Redis answering with errors instead of results: an
 * OOM spell (maxmemory with noeviction), a BUSY spell (a long script), a
 * history key of the wrong type when a timer comes due, and one partition's
 * task stream replaced by a string. Nothing finished may be lost or run
 * again, and one bad key must not stall the rest. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    FILE *f = fopen(exec_log, "r");
    if (!f) return 0;
    char line[512];
    int n = 0;
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, prefix, strlen(prefix))) n++;
    fclose(f);
    return n;
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
        if (p) n = atoll(p + strlen(key));
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
    duro_wf_keys_init(&k, DURO_DEFAULT_PARTITIONS, "broken-timer", NULL);
    cr_assert(duro_test_wait_until(
                  events_of(c, "broken-timer", "TimerStarted") == 1, 5000),
              "the timer was never started");
    char *run = hget(r, k.wf, "run");
    cr_assert(run);
    duro_wf_keys_init(&k, DURO_DEFAULT_PARTITIONS, "broken-timer", run);
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
