/* test_burst_faults.c: a burst of workflows through the hot path (eager
 * activity dispatch, commits and completions pipelined on one connection)
 * while the operator breaks things under it: the worker's connections
 * killed (CLIENT KILL) again and again mid-pipeline, Redis restarted from
 * its append-only file, the worker killed with SIGKILL and started again.
 * Every workflow completes, each of its activities is recorded once, and
 * the worker does not crash. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(burst_faults, .init = setup, .fini = duro_test_fini, .timeout = 90);

/* burst_start starts `bench` workflows <prefix>-<from> to <prefix>-<to - 1>
 * (3 activities, a 200 ms durable sleep between two: every run stays in
 * flight for a while, so a fault finds hundreds mid-way), with a workflow
 * task timeout of task_ms. */
static void burst_start(duro_client *c, const char *prefix, int from, int to,
                        int64_t task_ms)
{
    for (int i = from; i < to; i++) {
        char id[64];
        snprintf(id, sizeof(id), "%s-%d", prefix, i);
        duro_test_start(c, id, "bench", "bench",
                        "{\"activities\":3,\"sleep\":\"200ms\"}", task_ms);
    }
}

/* completed: how many runs visibility shows COMPLETED (-1 on error). */
static int64_t completed(duro_client *c)
{
    int64_t n = -1;
    if (duro_client_count(c, "ExecutionStatus = 'Completed'", &n) != 0)
        return -1;
    return n;
}

/* burst_check: every workflow of the burst COMPLETED with {"done":3}, its
 * history with three activities scheduled and completed once each (seq 1
 * to 3) and one WorkflowCompleted. */
static void burst_check(duro_client *c, const char *prefix, int n)
{
    for (int i = 0; i < n; i++) {
        char id[64];
        snprintf(id, sizeof(id), "%s-%d", prefix, i);
        cJSON *d = duro_test_result(c, id, 30000);
        cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED", "%s", id);
        cr_assert_eq(duro_test_num(cJSON_GetObjectItem(d, "result"), "done", 0),
                     3, "%s", id);
        cJSON_Delete(d);
        cJSON *hist = duro_test_history(c, id);
        cr_assert_eq(duro_test_count_events(hist, "ActivityScheduled"), 3, "%s",
                     id);
        cr_assert_eq(duro_test_count_events(hist, "ActivityCompleted"), 3, "%s",
                     id);
        cr_assert_eq(duro_test_count_events(hist, "TimerFired"), 2, "%s", id);
        cr_assert_eq(duro_test_count_events(hist, "WorkflowCompleted"), 1, "%s",
                     id);
        int seen[4] = {0};
        const cJSON *e;
        cJSON_ArrayForEach(e, hist)
        {
            if (strcmp(duro_test_str(e, "type"), "ActivityCompleted") != 0)
                continue;
            int seq = (int)duro_test_num(duro_test_event_data(e), "seq", 0);
            cr_assert(seq >= 1 && seq <= 3, "%s: seq %d", id, seq);
            cr_assert_eq(seen[seq]++, 0, "%s: activity %d completed twice", id,
                         seq);
        }
        cJSON_Delete(hist);
    }
}

/* midway: the fault comes mid-burst: at least a tenth of the n runs
 * started so far are still running. */
static void midway(duro_client *c, int n)
{
    int64_t done = completed(c);
    cr_log_info("%lld of %d completed at the fault", (long long)done, n);
    cr_assert(done >= 0 && done < n - n / 10,
              "the burst was over before the fault");
}

/* others: the connections to the server but r's, blocked ones included
 * (CLIENT KILL TYPE normal takes them all), subscribers excluded. */
static int others(redisContext *r)
{
    redisReply *l = duro_test_cmd(r, "CLIENT", "LIST", "TYPE", "normal", NULL);
    int n = -1;
    for (const char *p = l->str; p && (p = strstr(p, "id=")); p++)
        n++;
    freeReplyObject(l);
    return n;
}

Test(burst_faults, connections_killed_mid_pipeline_lose_and_repeat_nothing)
{
    enum { ROUNDS = 6, PER = 300, N = ROUNDS * PER };
    pid_t sched = duro_test_spawn_up(&h, 10000, "duro-scheduler",
                                     "--scan-interval", "100ms", NULL);
    pid_t bw = duro_test_spawn_up(&h, 10000, "bench-worker", NULL);
    redisContext *r = duro_test_redis(&h);
    for (int round = 0; round < ROUNDS; round++) {
        duro_client *c = duro_test_client(&h);
        burst_start(c, "ck", round * PER, (round + 1) * PER, 2000);
        if (round == ROUNDS / 2) midway(c, (round + 1) * PER);
        duro_client_free(c);
        /* every normal connection but this one: the worker's commits and
         * completions in flight, its reads, the scheduler's */
        /* the worker and the scheduler connected again (backoff) */
        cr_assert(duro_test_wait_until(others(r) >= 5, 10000),
                  "round %d: %d connections", round, others(r));
        redisReply *k =
            duro_test_cmd(r, "CLIENT", "KILL", "TYPE", "normal", NULL);
        cr_assert_eq(k->type, REDIS_REPLY_INTEGER);
        cr_assert_geq(k->integer, 5, "round %d: %lld killed", round,
                      k->integer);
        freeReplyObject(k);
    }
    redisFree(r);
    duro_client *c = duro_test_client(&h);
    burst_check(c, "ck", N);
    cr_assert(duro_test_alive(&h, bw), "the bench worker died");
    cr_assert(duro_test_alive(&h, sched), "the scheduler died");
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(burst_faults, redis_restarted_from_its_aof_mid_burst)
{
    enum { N = 1000 };
    redisContext *r = duro_test_redis(&h);
    duro_test_cmd_ok(r, "CONFIG", "SET", "appendonly", "yes", NULL);
    duro_test_cmd_ok(r, "CONFIG", "SET", "appendfsync", "everysec", NULL);
    cr_assert(duro_test_wait_until(
                  ({
                      redisReply *i = redisCommand(r, "INFO persistence");
                      bool idle = i && i->str &&
                                  strstr(i->str, "aof_rewrite_in_progress:0") &&
                                  strstr(i->str, "aof_rewrite_scheduled:0");
                      freeReplyObject(i);
                      idle;
                  }),
                  5000),
              "the AOF was never written");
    redisFree(r);
    pid_t sched = duro_test_spawn_up(&h, 10000, "duro-scheduler",
                                     "--scan-interval", "100ms", NULL);
    pid_t bw = duro_test_spawn_up(&h, 10000, "bench-worker", NULL);
    duro_client *c = duro_test_client(&h);
    burst_start(c, "rr", 0, N, 2000);
    midway(c, N);
    duro_client_free(c);
    /* a clean stop: everything Redis answered is in the file */
    duro_test_redis_restart(
        &h, SIGTERM, 300, "yes",
        (const char *const[]){"--appendfsync", "everysec", NULL});
    c = duro_test_client(&h);
    burst_check(c, "rr", N);
    cr_assert(duro_test_alive(&h, bw), "the bench worker died");
    cr_assert(duro_test_alive(&h, sched), "the scheduler died");
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(burst_faults, worker_killed_mid_burst_then_restarted)
{
    enum { N = 1000 };
    duro_test_spawn_up(&h, 10000, "duro-scheduler", "--scan-interval", "100ms",
                       NULL);
    pid_t w1 = duro_test_spawn_up(&h, 10000, "bench-worker", NULL);
    duro_client *c = duro_test_client(&h);
    burst_start(c, "kw", 0, N, 1000);
    midway(c, N);
    duro_test_kill(&h, w1, SIGKILL);
    pid_t w2 = duro_test_spawn_up(&h, 10000, "bench-worker", NULL);
    burst_check(c, "kw", N);
    cr_assert(duro_test_alive(&h, w2), "the restarted worker died");
    duro_client_free(c);
    duro_test_finish(&h);
}
