/* test_lease_workers.c: leased eager activities with real workers.
 *
 * A worker of library 35 asks its commits for leases: the activities they
 * schedule on its own queue run on it with no stream entry (test_lease.c
 * calls the Functions by hand). Here: the chain adds nothing to the
 * activity streams; a worker killed holding a lease loses nothing (the
 * scheduler's l timer times the attempt out and it is retried); a leased
 * attempt that stops heartbeating times out; a stopping worker hands its
 * leased tasks back to the queue. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "duro/keys.h"
#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(lease_workers, .init = setup, .fini = duro_test_fini, .timeout = 120);

/* leases: the l timers (leased attempts) of every partition */
static long long leases(redisContext *r, int parts)
{
    long long n = 0;
    for (int p = 0; p < parts; p++) {
        redisReply *t = redisCommand(r, "ZRANGE duro:{p%d}:timers 0 -1", p);
        for (size_t i = 0; t && i < t->elements; i++)
            n += !strncmp(t->element[i]->str, "l|", 2);
        freeReplyObject(t);
    }
    return n;
}

/* added: entries ever added to queue "test"'s activity streams (XINFO
 * STREAM entries-added: an XADD counts even when the entry is gone) */
static long long added(redisContext *r, int parts)
{
    long long n = 0;
    for (int p = 0; p < parts; p++) {
        char key[DURO_KEY_MAX];
        duro_key_act(key, sizeof(key), DURO_KEYSPACE_DEFAULT(parts), p, "test");
        redisReply *x = redisCommand(r, "XINFO STREAM %s", key);
        for (size_t i = 0;
             x && x->type == REDIS_REPLY_ARRAY && i + 1 < x->elements; i += 2)
            if (!strcmp(x->element[i]->str, "entries-added"))
                n += x->element[i + 1]->integer;
        freeReplyObject(x);
    }
    return n;
}

static pid_t worker(const char *name, const char *more)
{
    pid_t p = duro_test_spawn(&h, "duro-test-worker", "--identity", name,
                              "--log-level=debug", more, NULL);
    cr_assert(
        duro_test_wait_until(duro_test_log_contains(&h, p, "REDIS UP"), 10000));
    return p;
}

Test(lease_workers, the_chain_adds_no_entry_to_the_activity_streams)
{
    enum { N = 10 };
    duro_test_spawn(&h, "duro-scheduler", NULL);
    worker("wa", NULL);
    duro_client *c = duro_test_client(&h);
    int parts = duro_client_partitions(c);
    redisContext *r = duro_test_redis(&h);
    char id[32];
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "chain-%d", i);
        duro_test_start(c, id, "activities", "test", "{\"n\":3}", 0);
    }
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "chain-%d", i);
        cJSON *d = duro_test_result(c, id, 30000);
        cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED", "%s", id);
        cJSON_Delete(d);
    }
    /* 30 activities, each leased by the commit that scheduled it */
    cr_assert_eq(added(r, parts), 0, "activity tasks went through a stream");
    cr_assert_eq(leases(r, parts), 0, "a lease outlived its activity");
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(lease_workers, a_worker_killed_holding_a_lease_loses_nothing)
{
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    char la[PATH_MAX + 32];
    snprintf(la, sizeof(la), "%s/exec-ka.log", h.dir);
    setenv("DURO_TEST_LOG", la, 1);
    pid_t a = worker("ka", NULL);
    unsetenv("DURO_TEST_LOG");
    duro_client *c = duro_test_client(&h);
    int parts = duro_client_partitions(c);
    redisContext *r = duro_test_redis(&h);
    /* attempt 1 naps a minute, a retry 10 ms; start-to-close 1.5 s */
    duro_test_start(c, "kill-lease", "napper", "test",
                    "{\"ms\":60000,\"retry_ms\":10,\"stc\":1500}", 0);
    cr_assert(duro_test_wait_until(leases(r, parts) == 1, 10000),
              "the nap was not leased");
    cr_assert(
        duro_test_wait_until(duro_test_count_lines(la, "nap ") == 1, 10000),
        "the nap did not start");
    duro_test_kill(&h, a, SIGKILL);
    int64_t t0 = duro_test_mono_ms();
    worker("kb", NULL);
    cJSON *d = duro_test_result(c, "kill-lease", 30000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cJSON_Delete(d);
    cr_assert_lt(duro_test_mono_ms() - t0, 15000);
    cJSON *hist = duro_test_history(c, "kill-lease");
    cr_assert_eq(duro_test_count_events(hist, "ActivityScheduled"), 1);
    cr_assert_eq(duro_test_count_events(hist, "ActivityCompleted"), 1);
    cJSON_Delete(hist);
    /* the retry went through the queue: one entry, attempt 2 */
    cr_assert_eq(added(r, parts), 1);
    cr_assert_eq(leases(r, parts), 0);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(lease_workers, a_leased_attempt_that_stops_heartbeating_times_out)
{
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    pid_t a = worker("hb", NULL);
    duro_client *c = duro_test_client(&h);
    /* progress: attempt 1 heartbeats twice (500 ms timeout), then hangs */
    duro_test_start(c, "hb-lease", "heartbeat", "test", NULL, 0);
    cJSON *d = duro_test_result(c, "hb-lease", 30000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    const cJSON *res = cJSON_GetObjectItem(d, "result");
    cr_assert_eq(duro_test_num(res, "attempt", 0), 2,
                 "attempt 1 missed its heartbeat");
    cr_assert_eq(duro_test_num(res, "resumedFrom", -1), 2);
    cJSON_Delete(d);
    /* attempt 1 was leased (its entry a lease), attempt 2 came by stream */
    cr_assert(duro_test_log_contains(&h, a, "entry=L"),
              "attempt 1 was not leased");
    cJSON *hist = duro_test_history(c, "hb-lease");
    cr_assert_eq(duro_test_count_events(hist, "ActivityScheduled"), 1);
    cJSON_Delete(hist);
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(lease_workers, sigterm_hands_leased_tasks_back)
{
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    pid_t a = worker("ta", "--shutdown-grace=500ms");
    duro_client *c = duro_test_client(&h);
    int parts = duro_client_partitions(c);
    redisContext *r = duro_test_redis(&h);
    /* hold: 4 s, start-to-close 60 s: only a hand-back moves it early */
    duro_test_start(c, "lease-back", "hold", "test", "{\"ms\":4000}", 0);
    cr_assert(duro_test_wait_until(leases(r, parts) == 1, 10000),
              "the hold was not leased");
    cr_assert_eq(added(r, parts), 0);
    duro_test_kill(&h, a, SIGTERM);
    cr_assert(duro_test_wait_until(!duro_test_alive(&h, a), 10000),
              "the worker did not stop after its grace period");
    /* handed back: the same attempt in the queue, the lease gone */
    cr_assert_eq(leases(r, parts), 0, "the lease outlived the hand-back");
    cr_assert_eq(added(r, parts), 1);
    int64_t t0 = duro_test_mono_ms();
    worker("tb", NULL);
    cJSON *d = duro_test_result(c, "lease-back", 30000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cr_assert_eq(duro_test_num(cJSON_GetObjectItem(d, "result"), "attempt", 0),
                 1, "the hand-back is the same attempt");
    cJSON_Delete(d);
    cr_assert_lt(duro_test_mono_ms() - t0, 15000);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}
