/* test_fairness.c: fairness keys: one key's burst does not hold up
 * another key's task (docs/internals.md, "Fairness"). */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static duro_test_harness h;
static char exec_log[PATH_MAX + 32];

static void setup(void)
{
    duro_test_redis_start(&h);
    snprintf(exec_log, sizeof(exec_log), "%s/executions.log", h.dir);
    setenv("DURO_TEST_LOG", exec_log, 1);
}

TestSuite(fairness, .init = setup, .fini = duro_test_fini, .timeout = 180);

static void start_w(duro_client *c, const char *id, const char *input,
                    const char *key, int weight)
{
    duro_start_opts o = {0};
    o.workflow_id = id;
    o.type = "napper";
    o.task_queue = "test";
    o.input = input;
    o.fairness_key = key;
    o.fairness_weight = weight;
    char run[DURO_UUID_LEN + 1];
    cr_assert_eq(duro_client_start(c, &o, run), 0, "start %s: %s", id,
                 duro_client_errstr(c));
}

static void start(duro_client *c, const char *id, const char *input,
                  const char *key)
{
    start_w(c, id, input, key, 0);
}

/* line_of: the 0-based index of the first nap line of workflow id in the
 * executions log, or -1. */
static int line_of(const char *id)
{
    FILE *f = fopen(exec_log, "r");
    if (!f) return -1;
    char line[256], want[64];
    snprintf(want, sizeof(want), "nap %s/", id);
    int n = 0, at = -1;
    while (at < 0 && fgets(line, sizeof(line), f)) {
        if (strncmp(line, "nap ", 4) != 0) continue;
        if (strncmp(line, want, strlen(want)) == 0) at = n;
        n++;
    }
    fclose(f);
    return at;
}

/* 2,000 workflows of key A (one 10 ms activity each) are queued ahead of
 * one of key B on a worker running one activity at a time (one partition,
 * so one fair order): B's activity runs after fewer than 5 more of A's,
 * where first-come first-served would run the whole backlog first. */
Test(fairness, burst_does_not_delay_another_key)
{
    setenv("DURO_PARTITIONS", "1", 1); /* the client, the worker */
    redisContext *r = duro_test_redis(&h);
    redisReply *rep;
    duro_client *c = duro_test_client(&h);
    duro_test_spawn(&h, "duro-test-worker", "--activity-threads", "1", NULL);
    char id[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(id, sizeof(id), "a-%d", i);
        start(c, id, "{\"ms\":10}", "A");
    }
    int before = duro_test_count_lines(exec_log, "nap ");
    start(c, "b-0", "{\"ms\":10}", "B");
    cJSON *d = duro_test_result(c, "b-0", 60000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cJSON_Delete(d);
    int at = line_of("b-0");
    cr_assert_geq(at, 0);
    cr_log_info("B's activity ran after %d more of A's, %d of A's before B "
                "started",
                at - before, before);
    cr_assert_lt(at - before, 5,
                 "B's activity ran after %d more of A's (A's backlog: %d)",
                 at - before, 2000 - before);
    cr_assert_lt(before, 1500, "the burst was mostly done before B started");
    /* the burst's tasks wait in A's own stream, B's got their turn */
    rep = redisCommand(r, "EXISTS duro:{p0}:act:test~A duro:{p0}:wft:test~B");
    cr_assert(rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 2);
    freeReplyObject(rep);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* A fair activity held by a worker that dies is taken back by the
 * scheduler from its key's stream, retried there and completed. */
Test(fairness, fair_activity_survives_worker_kill)
{
    setenv("DURO_PARTITIONS", "1", 1);
    pid_t sched =
        duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    pid_t w1 = duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_client *c = duro_test_client(&h);
    start(c, "t-0", "{\"ms\":30000,\"retry_ms\":10,\"stc\":1500}", "T");
    cr_assert(duro_test_wait_until(duro_test_count_lines(exec_log, "nap ") == 1,
                                   15000));
    duro_test_kill(&h, w1, SIGKILL);
    duro_test_spawn(&h, "duro-test-worker", NULL);
    cJSON *d = duro_test_result(c, "t-0", 30000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cJSON_Delete(d);
    cr_assert_eq(duro_test_count_lines(exec_log, "nap t-0/1 2"), 1,
                 "attempt 2 ran after the start-to-close timeout");
    cr_assert(duro_test_log_contains(&h, sched,
                                     "ACT TIMEOUT stream=duro:{p0}:act:test~T"),
              "the scheduler took attempt 1 back from the key's stream");
    duro_client_free(c);
    duro_test_finish(&h);
}

/* Weights: with keys A (weight 1) and C (weight 3) both waiting, C gets
 * about three turns to A's one. */
Test(fairness, weights_share_the_turns)
{
    setenv("DURO_PARTITIONS", "1", 1);
    duro_client *c = duro_test_client(&h);
    char id[32];
    for (int i = 0; i < 30; i++) {
        snprintf(id, sizeof(id), "a-%d", i);
        start_w(c, id, "{\"ms\":10}", "A", 1);
        snprintf(id, sizeof(id), "c-%d", i);
        start_w(c, id, "{\"ms\":10}", "C", 3);
    }
    duro_test_spawn(&h, "duro-test-worker", "--activity-threads", "1", NULL);
    cr_assert(duro_test_wait_until(
                  duro_test_count_lines(exec_log, "nap ") == 60, 30000),
              "%d naps ran", duro_test_count_lines(exec_log, "nap "));
    FILE *f = fopen(exec_log, "r");
    cr_assert(f);
    char line[256];
    int n = 0, nc = 0;
    while (n < 24 && fgets(line, sizeof(line), f)) {
        if (strncmp(line, "nap ", 4) != 0) continue;
        nc += strncmp(line, "nap c-", 6) == 0;
        n++;
    }
    fclose(f);
    cr_log_info("C ran %d of the first %d naps", nc, n);
    cr_assert(nc >= 15 && nc <= 21, "C ran %d of the first 24 naps, not ~18",
              nc);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* A bell read by a worker that died before its turn (here a consumer that
 * never comes back) is rung again by the scheduler, so the task it stood
 * for still runs. */
Test(fairness, bell_of_a_dead_worker_is_rung_again)
{
    setenv("DURO_PARTITIONS", "1", 1);
    duro_client *c = duro_test_client(&h);
    start(c, "k-0", "{\"ms\":10}", "K");
    redisContext *r = duro_test_redis(&h);
    redisReply *rep =
        redisCommand(r, "XGROUP CREATE duro:{p0}:wft:test duro 0 MKSTREAM");
    cr_assert(rep && rep->type != REDIS_REPLY_ERROR);
    freeReplyObject(rep);
    char entry[64], bell[8];
    duro_test_claim_task(r, "duro:{p0}:wft:test", "gone", "bell", entry,
                         sizeof(entry), bell, sizeof(bell));
    pid_t sched =
        duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    duro_test_spawn(&h, "duro-test-worker", NULL);
    cJSON *d = duro_test_result(c, "k-0", 20000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cJSON_Delete(d);
    cr_assert(duro_test_log_contains(&h, sched, "FAIR RING-AGAIN"));
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* An activity's own fairness key (duro_activity_opts) puts its task in
 * that key's stream, whatever the run's. */
Test(fairness, activity_key_of_its_own)
{
    setenv("DURO_PARTITIONS", "1", 1);
    duro_client *c = duro_test_client(&h);
    start(c, "o-0", "{\"ms\":10,\"fkey\":\"own\"}", NULL);
    duro_test_spawn(&h, "duro-test-worker", NULL);
    cJSON *d = duro_test_result(c, "o-0", 20000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cJSON_Delete(d);
    redisContext *r = duro_test_redis(&h);
    redisReply *rep = redisCommand(
        r, "SMEMBERS duro:{p0}:fair:test"); /* the key's stream, listed */
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 &&
                  strcmp(rep->element[0]->str, "duro:{p0}:act:test~own") == 0,
              "the activity went through its own key's stream");
    freeReplyObject(rep);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}
