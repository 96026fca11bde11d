/* test_flow_control.c: flow control of task queues (issue 15): an
 * activity's schedule-to-start timeout, rate limits per task queue. The
 * workers are embedded in the test process (duro_worker_new +
 * duro_worker_run in a thread), so each test registers what it needs. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "duro/worker.h"
#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(flow, .init = setup, .fini = duro_test_fini, .timeout = 90);

/* ---- Embedded workers ---- */

typedef struct {
    duro_worker *w;
    pthread_t t;
    int naps; /* activities this worker ran */
} emb;

static void *run_worker(void *arg)
{
    duro_worker_run(arg);
    return NULL;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* nap: sleeps input.ms and returns {"start","end"} (ms, wall clock) */
static cJSON *nap(duro_actx *ctx, const cJSON *input, void *arg)
{
    if (arg) __atomic_add_fetch((int *)arg, 1, __ATOMIC_RELAXED);
    int64_t start = wall_ms();
    duro_test_sleep_ms((int64_t)duro_test_num(input, "ms", 0));
    cJSON *r = cJSON_CreateObject();
    cJSON_AddNumberToObject(r, "start", (double)start);
    cJSON_AddNumberToObject(r, "end", (double)wall_ms());
    return r;
}

/* one_nap: input {"queue","sts","ms","attempts"}: one activity "nap" on
 * that queue with that schedule-to-start timeout; returns what it got. */
static cJSON *one_nap(duro_wf *wf, const cJSON *input)
{
    duro_activity_opts o = {0};
    o.task_queue = duro_test_str(input, "queue");
    o.schedule_to_start_ms = (int64_t)duro_test_num(input, "sts", 0);
    o.start_to_close_ms = 10000;
    o.retry.initial_interval_ms = 100;
    o.retry.max_attempts = (int)duro_test_num(input, "attempts", 1);
    cJSON *in = cJSON_CreateObject();
    cJSON_AddNumberToObject(in, "ms", duro_test_num(input, "ms", 0));
    duro_result r = duro_activity(wf, "nap", in, &o);
    cJSON_Delete(in);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddBoolToObject(out, "ok", r.ok);
    cJSON_AddBoolToObject(out, "timedOut", r.timed_out);
    return out;
}

/* many_naps: input {"n","ms"}: n activities "nap" at once, on the
 * workflow's queue; returns their results in order. */
static cJSON *many_naps(duro_wf *wf, const cJSON *input)
{
    int n = (int)duro_test_num(input, "n", 1);
    duro_future *f[128];
    cJSON *in = cJSON_CreateObject();
    cJSON_AddNumberToObject(in, "ms", duro_test_num(input, "ms", 0));
    for (int i = 0; i < n && i < 128; i++)
        f[i] = duro_activity_async(wf, "nap", in, NULL);
    cJSON_Delete(in);
    cJSON *out = cJSON_CreateArray();
    for (int i = 0; i < n && i < 128; i++) {
        duro_result r = duro_await(wf, f[i]);
        cJSON_AddItemToArray(out, r.ok ? cJSON_Duplicate(r.value, 1)
                                       : cJSON_CreateNull());
    }
    return out;
}

/* keyed_naps: input {"n","ms","keys":[k, ...]}: n activities "nap" at
 * once, activity i with concurrency key keys[i % len]; returns
 * [{"key","start","end"}, ...]. */
static cJSON *keyed_naps(duro_wf *wf, const cJSON *input)
{
    int n = (int)duro_test_num(input, "n", 1);
    const cJSON *keys = cJSON_GetObjectItem(input, "keys");
    int nk = cJSON_GetArraySize(keys);
    duro_future *f[64];
    cJSON *in = cJSON_CreateObject();
    cJSON_AddNumberToObject(in, "ms", duro_test_num(input, "ms", 0));
    for (int i = 0; i < n && i < 64; i++) {
        duro_activity_opts o = {0};
        o.start_to_close_ms = 10000;
        o.concurrency_key =
            cJSON_GetStringValue(cJSON_GetArrayItem(keys, i % nk));
        o.schedule_to_start_ms = (int64_t)duro_test_num(input, "sts", 0);
        o.retry.max_attempts = (int)duro_test_num(input, "attempts", 0);
        f[i] = duro_activity_async(wf, "nap", in, &o);
    }
    cJSON_Delete(in);
    cJSON *out = cJSON_CreateArray();
    for (int i = 0; i < n && i < 64; i++) {
        duro_result r = duro_await(wf, f[i]);
        cJSON *o = r.ok ? cJSON_Duplicate(r.value, 1) : cJSON_CreateObject();
        if (r.timed_out) cJSON_AddTrueToObject(o, "timedOut");
        cJSON_AddStringToObject(
            o, "key", cJSON_GetStringValue(cJSON_GetArrayItem(keys, i % nk)));
        cJSON_AddItemToArray(out, o);
    }
    return out;
}

static cJSON *noop(duro_wf *wf, const cJSON *input)
{
    return cJSON_CreateTrue();
}

static void emb_start_m(emb *e, const char *queue, const char *identity,
                        int threads, const char *metrics_addr)
{
    duro_worker_opts o = {.redis_url = h.redis_url,
                          .task_queue = queue,
                          .identity = identity,
                          .activity_threads = threads,
                          .metrics_addr = metrics_addr,
                          .log_level = "warn"};
    cr_assert_eq(duro_worker_new(&e->w, &o), 0);
    duro_worker_register_workflow(e->w, "one_nap", one_nap);
    duro_worker_register_workflow(e->w, "many_naps", many_naps);
    duro_worker_register_workflow(e->w, "keyed_naps", keyed_naps);
    duro_worker_register_workflow(e->w, "noop", noop);
    e->naps = 0;
    duro_worker_register_activity(e->w, "nap", nap, &e->naps);
    cr_assert_eq(pthread_create(&e->t, NULL, run_worker, e->w), 0);
}

static void emb_start(emb *e, const char *queue, const char *identity,
                      int threads)
{
    emb_start_m(e, queue, identity, threads, NULL);
}

static void emb_stop(emb *e)
{
    duro_worker_stop(e->w);
    pthread_join(e->t, NULL);
    duro_worker_free(e->w);
}

/* ---- Schedule-to-start ---- */

Test(flow, schedule_to_start_times_out_an_activity_nobody_polls)
{
    int port = duro_test_free_port();
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms",
                    "--metrics-addr", addr, NULL);
    emb e;
    emb_start(&e, "flow", "flow-1", 2);
    duro_client *c = duro_test_client(&h);
    /* queue "nobody" has no worker: each attempt waits there 300ms, then
     * times out; the policy allows 2 attempts */
    duro_test_start(
        c, "sts-1", "one_nap", "flow",
        "{\"queue\":\"nobody\",\"sts\":300,\"ms\":0,\"attempts\":2}", 0);
    cJSON *d = duro_test_result(c, "sts-1", 20000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    const cJSON *res = cJSON_GetObjectItem(d, "result");
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(res, "ok")));
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(res, "timedOut")));
    cJSON_Delete(d);

    cJSON *hist = duro_test_history(c, "sts-1");
    const cJSON *sched = duro_test_find_event(hist, "ActivityScheduled", 0);
    const cJSON *to = duro_test_find_event(hist, "ActivityTimedOut", 0);
    cr_assert(to, "no ActivityTimedOut");
    const cJSON *data = duro_test_event_data(to);
    cr_assert_str_eq(duro_test_str(data, "timeoutType"), "SCHEDULE_TO_START");
    cr_assert_eq(duro_test_num(data, "attempt", 0), 2, "retried once");
    int64_t waited =
        duro_test_event_time_ms(to) - duro_test_event_time_ms(sched);
    /* two attempts of 300ms and a 100ms backoff */
    cr_assert_geq(waited, 700, "timed out too early (%lldms)",
                  (long long)waited);
    cJSON_Delete(hist);

    /* the attempt's task is gone from the queue nobody polls */
    redisContext *r = duro_test_redis(&h);
    long long left = 0;
    for (int p = 0; p < 16; p++) {
        redisReply *rep = redisCommand(r, "XLEN duro:{p%d}:act:nobody", p);
        if (rep && rep->type == REDIS_REPLY_INTEGER) left += rep->integer;
        if (rep) freeReplyObject(rep);
    }
    cr_assert_eq(left, 0, "%lld tasks left in the unpolled queue", left);
    redisFree(r);
    /* the scheduler counts the two timeouts */
    static char body[131072];
    cr_assert_eq(duro_test_http_get(port, "/metrics", body, sizeof(body)), 200);
    cr_assert(strstr(body, "duro_scheduler_timers_fired_total{kind=\""
                           "schedule_to_start\"} 2"),
              "no schedule_to_start count in:\n%.4000s", body);
    duro_client_free(c);
    emb_stop(&e);
    duro_test_finish(&h);
}

Test(flow, schedule_to_start_does_not_fire_once_a_worker_took_the_task)
{
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    emb e;
    emb_start(&e, "flow", "flow-1", 2);
    duro_client *c = duro_test_client(&h);
    /* the attempt runs 1s, well past its 300ms schedule-to-start: the
     * timer fires while a worker holds it, and changes nothing */
    duro_test_start(c, "sts-2", "one_nap", "flow",
                    "{\"queue\":\"flow\",\"sts\":300,\"ms\":1000,"
                    "\"attempts\":3}",
                    0);
    cJSON *d = duro_test_result(c, "sts-2", 20000);
    const cJSON *res = cJSON_GetObjectItem(d, "result");
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(res, "ok")));
    cJSON_Delete(d);
    cJSON *hist = duro_test_history(c, "sts-2");
    const cJSON *done = duro_test_find_event(hist, "ActivityCompleted", 0);
    cr_assert(done);
    cr_assert_eq(duro_test_num(duro_test_event_data(done), "attempt", 0), 1,
                 "attempt 1 was never timed out");
    cJSON_Delete(hist);
    /* the timer went: fired and ignored */
    redisContext *r = duro_test_redis(&h);
    long long timers = 0;
    for (int p = 0; p < 16; p++) {
        redisReply *rep = redisCommand(r, "ZCARD duro:{p%d}:timers", p);
        if (rep && rep->type == REDIS_REPLY_INTEGER) timers += rep->integer;
        if (rep) freeReplyObject(rep);
    }
    cr_assert_eq(timers, 0);
    redisFree(r);
    duro_client_free(c);
    emb_stop(&e);
    duro_test_finish(&h);
}

/* ---- Rate limits ---- */

#define RUN_MS 10000

/* queue_config runs `duro queue config -o json` with the extra arguments
 * and returns its JSON (asserts). */
static cJSON *queue_config(const char *queue, const char *a1, const char *v1)
{
    duro_test_output o;
    if (a1)
        duro_test_run(&h, &o, RUN_MS, "duro", "queue", "config", "-o", "json",
                      "--task-queue", queue, a1, v1, NULL);
    else
        duro_test_run(&h, &o, RUN_MS, "duro", "queue", "config", "-o", "json",
                      "--task-queue", queue, NULL);
    cr_assert_eq(o.exit_code, 0, "queue config: %s", o.err);
    cJSON *j = cJSON_Parse(o.out);
    cr_assert(j, "not JSON: %s", o.out);
    duro_test_output_free(&o);
    return j;
}

/* activity_row: the activity row of `duro queue stats -o json`. */
static cJSON *activity_row(const char *queue)
{
    duro_test_output o;
    duro_test_run(&h, &o, RUN_MS, "duro", "queue", "stats", "-o", "json",
                  "--task-queue", queue, NULL);
    cr_assert_eq(o.exit_code, 0, "queue stats: %s", o.err);
    cJSON *j = cJSON_Parse(o.out);
    cr_assert(j, "not JSON: %s", o.out);
    duro_test_output_free(&o);
    cJSON *r;
    cJSON_ArrayForEach(r, j)
    {
        if (!strcmp(duro_test_str(r, "kind"), "activity")) {
            cJSON *row = cJSON_Duplicate(r, 1);
            cJSON_Delete(j);
            return row;
        }
    }
    cr_assert_fail("no activity row");
    return NULL;
}

Test(flow, queue_config_sets_shows_and_clears_the_rate_limit)
{
    cJSON *j = queue_config("rl", NULL, NULL);
    cr_assert_eq(duro_test_num(j, "activitiesPerSecond", -1), 0, "none yet");
    cJSON_Delete(j);
    j = queue_config("rl", "--activities-per-second", "2.5");
    cr_assert_eq(duro_test_num(j, "activitiesPerSecond", -1), 2.5);
    cr_assert_eq(duro_test_num(j, "burst", -1), 1, "default burst");
    cJSON_Delete(j);
    j = queue_config("rl", "--burst", "5");
    cr_assert_eq(duro_test_num(j, "activitiesPerSecond", -1), 2.5, "kept");
    cr_assert_eq(duro_test_num(j, "burst", -1), 5);
    cJSON_Delete(j);
    cJSON *row = activity_row("rl");
    cr_assert_eq(duro_test_num(row, "activitiesPerSecond", -1), 2.5,
                 "stats show the limit");
    cJSON_Delete(row);
    j = queue_config("rl", "--activities-per-second", "0");
    cr_assert_eq(duro_test_num(j, "activitiesPerSecond", -1), 0, "cleared");
    cJSON_Delete(j);
    row = activity_row("rl");
    cr_assert_null(cJSON_GetObjectItem(row, "activitiesPerSecond"),
                   "an unlimited queue's row is as before");
    cJSON_Delete(row);

    duro_test_output o;
    duro_test_run(&h, &o, RUN_MS, "duro", "queue", "config", "--task-queue",
                  "rl", "--activities-per-second", "fast", NULL);
    cr_assert_eq(o.exit_code, 2, "a bad rate is a usage error");
    duro_test_output_free(&o);
    duro_test_finish(&h);
}

Test(flow, a_rate_limit_holds_across_two_workers)
{
    cJSON *j = queue_config("rl", "--activities-per-second", "20");
    cJSON_Delete(j);
    emb a, b;
    int port = duro_test_free_port();
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    emb_start_m(&a, "rl", "rl-a", 8, addr);
    emb_start(&b, "rl", "rl-b", 8);
    duro_client *c = duro_test_client(&h);
    int64_t t0 = duro_test_mono_ms();
    duro_test_start(c, "rl-1", "many_naps", "rl", "{\"n\":100,\"ms\":0}", 0);
    cJSON *d = duro_test_result(c, "rl-1", 60000);
    int64_t took = duro_test_mono_ms() - t0;
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    const cJSON *res = cJSON_GetObjectItem(d, "result");
    cr_assert_eq(cJSON_GetArraySize(res), 100);
    double first = 0, last = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, res)
    {
        double s = duro_test_num(r, "start", 0);
        cr_assert_gt(s, 0, "an activity failed");
        if (first == 0 || s < first) first = s;
        if (s > last) last = s;
    }
    cJSON_Delete(d);
    /* 100 starts at 20/s with a burst of 1: 99 gaps of 50ms */
    cr_assert_geq(last - first, 4500, "100 activities started within %.0fms",
                  last - first);
    cr_assert_geq(took, 4500);
    cr_assert_lt(last - first, 8000, "throttled far below 20/s: %.0fms",
                 last - first);
    cr_assert_gt(a.naps, 0, "worker a ran none");
    cr_assert_gt(b.naps, 0, "worker b ran none");
    cr_assert_eq(a.naps + b.naps, 100);

    cJSON *row = activity_row("rl");
    cr_assert_eq(duro_test_num(row, "activitiesPerSecond", -1), 20);
    cr_assert_gt(duro_test_num(row, "throttled", 0), 0,
                 "the workers waited for tokens");
    cJSON_Delete(row);

    /* the worker's metrics: the limit, and the reads it held back */
    static char body[131072];
    bool seen = false;
    for (int i = 0; i < 30 && !seen; i++) {
        cr_assert_eq(duro_test_http_get(port, "/metrics", body, sizeof(body)),
                     200);
        seen = strstr(body, "duro_worker_rate_limit{task_queue=\"rl\",kind="
                            "\"activity\"} 20") != NULL;
        if (!seen) duro_test_sleep_ms(100);
    }
    cr_assert(seen, "no rate limit gauge in:\n%.3000s", body);
    const char *waits = strstr(body, "duro_worker_rate_waits_total{");
    cr_assert(waits, "no rate waits counter");
    cr_assert_gt(strtod(strchr(waits, '}') + 1, NULL), 0);
    duro_client_free(c);
    emb_stop(&a);
    emb_stop(&b);
    duro_test_finish(&h);
}

Test(flow, a_workflow_rate_limit_holds_across_two_workers)
{
    /* one partition: a read of a worker takes at most the tasks it has
     * tokens for (with P partitions one read may take up to P, paid back
     * as debt: the rate holds on average, see docs/internals.md) */
    redisContext *r = duro_test_redis(&h);
    freeReplyObject(redisCommand(r, "HSET duro:meta partitions 1"));
    redisFree(r);
    setenv("DURO_PARTITIONS", "1", 1); /* this test's process and children */
    cJSON *j = queue_config("wr", "--workflows-per-second", "10");
    cr_assert_eq(duro_test_num(j, "workflowsPerSecond", -1), 10);
    cr_assert_eq(duro_test_num(j, "activitiesPerSecond", -1), 0);
    cJSON_Delete(j);
    emb a, b;
    emb_start(&a, "wr", "wr-a", 2);
    emb_start(&b, "wr", "wr-b", 2);
    duro_client *c = duro_test_client(&h);
    int64_t t0 = duro_test_mono_ms();
    char id[32];
    for (int i = 0; i < 30; i++) {
        snprintf(id, sizeof(id), "wr-%d", i);
        duro_test_start(c, id, "noop", "wr", NULL, 0);
    }
    for (int i = 0; i < 30; i++) {
        snprintf(id, sizeof(id), "wr-%d", i);
        cJSON *d = duro_test_result(c, id, 30000);
        cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
        cJSON_Delete(d);
    }
    int64_t took = duro_test_mono_ms() - t0;
    /* 30 first workflow tasks at 10/s with a burst of 1: 29 gaps of 100ms */
    cr_assert_geq(took, 2700, "30 workflows in %lldms", (long long)took);
    cr_assert_lt(took, 8000, "throttled far below 10/s: %lldms",
                 (long long)took);
    cJSON *row = NULL;
    duro_test_output o;
    duro_test_run(&h, &o, RUN_MS, "duro", "queue", "stats", "-o", "json",
                  "--task-queue", "wr", NULL);
    cJSON *rows = cJSON_Parse(o.out);
    duro_test_output_free(&o);
    cJSON_ArrayForEach(
        row, rows) if (!strcmp(duro_test_str(row, "kind"), "workflow")) break;
    cr_assert(row, "no workflow row");
    cr_assert_eq(duro_test_num(row, "workflowsPerSecond", -1), 10);
    cr_assert_gt(duro_test_num(row, "throttled", 0), 0);
    cJSON_Delete(rows);
    j = queue_config("wr", "--workflows-per-second", "0");
    cr_assert_eq(duro_test_num(j, "workflowsPerSecond", -1), 0, "cleared");
    cJSON_Delete(j);
    duro_client_free(c);
    emb_stop(&a);
    emb_stop(&b);
    duro_test_finish(&h);
}

Test(flow, without_a_limit_the_same_work_is_fast)
{
    emb a, b;
    emb_start(&a, "rl", "rl-a", 8);
    emb_start(&b, "rl", "rl-b", 8);
    duro_client *c = duro_test_client(&h);
    int64_t t0 = duro_test_mono_ms();
    duro_test_start(c, "rl-2", "many_naps", "rl", "{\"n\":100,\"ms\":0}", 0);
    cJSON *d = duro_test_result(c, "rl-2", 60000);
    int64_t took = duro_test_mono_ms() - t0;
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cJSON_Delete(d);
    cr_assert_lt(took, 4000, "took %lldms", (long long)took);
    /* and so are 30 workflows */
    t0 = duro_test_mono_ms();
    char id[32];
    for (int i = 0; i < 30; i++) {
        snprintf(id, sizeof(id), "fast-%d", i);
        duro_test_start(c, id, "noop", "rl", NULL, 0);
    }
    for (int i = 0; i < 30; i++) {
        snprintf(id, sizeof(id), "fast-%d", i);
        cJSON_Delete(duro_test_result(c, id, 30000));
    }
    took = duro_test_mono_ms() - t0;
    cr_assert_lt(took, 2500, "30 workflows took %lldms", (long long)took);
    duro_client_free(c);
    emb_stop(&a);
    emb_stop(&b);
    duro_test_finish(&h);
}

/* ---- Concurrency per key ---- */

/* most_at_once: the most activities of `key` running at one time, from
 * their own recorded [start, end) times. */
static int most_at_once(const cJSON *res, const char *key)
{
    int most = 0;
    const cJSON *a, *b;
    cJSON_ArrayForEach(a, res)
    {
        if (strcmp(duro_test_str(a, "key"), key) != 0) continue;
        double t = duro_test_num(a, "start", 0);
        int n = 0;
        cJSON_ArrayForEach(b, res)
        {
            if (strcmp(duro_test_str(b, "key"), key) == 0 &&
                duro_test_num(b, "start", 0) <= t &&
                t < duro_test_num(b, "end", 0))
                n++;
        }
        if (n > most) most = n;
    }
    return most;
}

Test(flow, a_concurrency_limit_per_key_holds_across_two_workers)
{
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    cJSON *j = queue_config("ck", "--concurrency-per-key", "2");
    cr_assert_eq(duro_test_num(j, "concurrencyPerKey", -1), 2);
    cJSON_Delete(j);
    emb a, b;
    emb_start(&a, "ck", "ck-a", 8);
    emb_start(&b, "ck", "ck-b", 8);
    duro_client *c = duro_test_client(&h);
    /* 16 naps of 300ms, 12 for cust-1 and 4 for cust-2, on 16 threads */
    duro_test_start(c, "ck-1", "keyed_naps", "ck",
                    "{\"n\":16,\"ms\":300,\"keys\":[\"cust-1\","
                    "\"cust-1\",\"cust-1\",\"cust-2\"]}",
                    0);
    cJSON *d = duro_test_result(c, "ck-1", 60000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    const cJSON *res = cJSON_GetObjectItem(d, "result");
    const cJSON *r;
    cJSON_ArrayForEach(r, res)
        cr_assert_gt(duro_test_num(r, "start", 0), 0, "an activity failed");
    int k1 = most_at_once(res, "cust-1"), k2 = most_at_once(res, "cust-2");
    cr_assert_leq(k1, 2, "%d of cust-1 ran at once", k1);
    cr_assert_leq(k2, 2, "%d of cust-2 ran at once", k2);
    cr_assert_eq(k1, 2, "the limit is 2, not 1");
    cJSON_Delete(d);
    cr_assert_gt(a.naps + b.naps, 0);

    cJSON *row = activity_row("ck");
    cr_assert_eq(duro_test_num(row, "concurrencyPerKey", -1), 2);
    cr_assert_gt(duro_test_num(row, "throttledKey", 0), 0,
                 "attempts waited for their key");
    cJSON_Delete(row);
    /* every slot was given back */
    redisContext *rc = duro_test_redis(&h);
    redisReply *rep = redisCommand(rc, "ZCARD duro:{q:ck}:conc:cust-1");
    cr_assert_eq(rep->integer, 0);
    freeReplyObject(rep);
    redisFree(rc);

    j = queue_config("ck", "--concurrency-per-key", "0");
    cr_assert_eq(duro_test_num(j, "concurrencyPerKey", -1), 0, "cleared");
    cJSON_Delete(j);
    duro_client_free(c);
    emb_stop(&a);
    emb_stop(&b);
    duro_test_finish(&h);
}

Test(flow, without_a_concurrency_limit_a_key_runs_wide)
{
    emb a;
    emb_start(&a, "ck", "ck-a", 8);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "ck-2", "keyed_naps", "ck",
                    "{\"n\":6,\"ms\":500,\"keys\":[\"cust-1\"]}", 0);
    cJSON *d = duro_test_result(c, "ck-2", 30000);
    int k1 = most_at_once(cJSON_GetObjectItem(d, "result"), "cust-1");
    cr_assert_gt(k1, 2, "only %d ran at once", k1);
    cJSON_Delete(d);
    duro_client_free(c);
    emb_stop(&a);
    duro_test_finish(&h);
}

Test(flow, a_dead_workers_slot_frees_itself_when_its_lease_ends)
{
    /* the Functions are loaded by the first worker */
    emb a;
    emb_start(&a, "ck", "ck-a", 1);
    redisContext *r = duro_test_redis(&h);
    redisReply *rep = NULL;
    for (int i = 0; i < 50; i++) {
        if (rep) freeReplyObject(rep);
        rep = redisCommand(r, "FCALL duro_conc_acquire 2 duro:{q:ck}:conc:k "
                              "duro:{q:ck}:flow A 1 300");
        if (rep && rep->type == REDIS_REPLY_INTEGER) break;
        duro_test_sleep_ms(100);
    }
    cr_assert(rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 1,
              "A takes the one slot");
    freeReplyObject(rep);
    /* A's worker was killed -9: nobody gives its slot back */
    rep = redisCommand(r, "FCALL duro_conc_acquire 2 duro:{q:ck}:conc:k "
                          "duro:{q:ck}:flow B 1 300");
    cr_assert_eq(rep->integer, 0, "B waits while A's lease runs");
    freeReplyObject(rep);
    rep = redisCommand(r, "FCALL duro_conc_acquire 2 duro:{q:ck}:conc:k "
                          "duro:{q:ck}:flow A 1 300");
    cr_assert_eq(rep->integer, 1, "A holds it already: granted again");
    freeReplyObject(rep);
    duro_test_sleep_ms(400);
    rep = redisCommand(r, "FCALL duro_conc_acquire 2 duro:{q:ck}:conc:k "
                          "duro:{q:ck}:flow B 1 300");
    cr_assert_eq(rep->integer, 1, "A's lease ended: B gets the slot");
    freeReplyObject(rep);
    rep = redisCommand(r, "PTTL duro:{q:ck}:conc:k");
    cr_assert(rep->integer > 0 && rep->integer <= 300,
              "the key ends with its last lease (%lld)", rep->integer);
    freeReplyObject(rep);
    rep = redisCommand(r, "HGET duro:{q:ck}:flow throttled_key");
    cr_assert_str_eq(rep->str, "1");
    freeReplyObject(rep);
    redisFree(r);
    emb_stop(&a);
    duro_test_finish(&h);
}

Test(flow, schedule_to_start_fires_for_an_attempt_its_key_keeps_waiting)
{
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    cJSON *j = queue_config("ck", "--concurrency-per-key", "1");
    cJSON_Delete(j);
    emb a;
    emb_start(&a, "ck", "ck-a", 4);
    duro_client *c = duro_test_client(&h);
    /* one slot: the second nap waits for the first (1.5s), longer than
     * its 500ms schedule-to-start, though put back again and again */
    duro_test_start(c, "ck-3", "keyed_naps", "ck",
                    "{\"n\":2,\"ms\":1500,\"sts\":500,\"attempts\":1,"
                    "\"keys\":[\"cust-1\"]}",
                    0);
    cJSON *d = duro_test_result(c, "ck-3", 30000);
    const cJSON *res = cJSON_GetObjectItem(d, "result");
    int ok = 0, timed_out = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, res)
    {
        ok += duro_test_num(r, "start", 0) > 0;
        timed_out += cJSON_IsTrue(cJSON_GetObjectItem(r, "timedOut"));
    }
    cr_assert_eq(ok, 1, "one ran");
    cr_assert_eq(timed_out, 1, "the other never started in time");
    cJSON_Delete(d);
    cJSON *hist = duro_test_history(c, "ck-3");
    const cJSON *to = duro_test_find_event(hist, "ActivityTimedOut", 0);
    cr_assert(to);
    cr_assert_str_eq(duro_test_str(duro_test_event_data(to), "timeoutType"),
                     "SCHEDULE_TO_START");
    cJSON_Delete(hist);
    duro_client_free(c);
    emb_stop(&a);
    duro_test_finish(&h);
}

/* A flow hash made another type by hand (workers read it as no limit and
 * warn) leaves `duro queue stats` working: the queue's rows name the
 * error, every other queue's rows are as they were. It used to fail the
 * whole command, for every queue. */
Test(flow, queue_stats_survives_a_damaged_flow_hash)
{
    duro_test_output o;
    const char *queues[] = {"ok-q", "bad-q"};
    for (int i = 0; i < 2; i++) {
        duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "start",
                      "--workflow-id", queues[i], "--type", "noop",
                      "--task-queue", queues[i], NULL);
        cr_assert_eq(o.exit_code, 0, "%s", o.err);
        duro_test_output_free(&o);
    }
    redisContext *r = duro_test_redis(&h);
    /* the queues workers registered (none runs here) */
    freeReplyObject(redisCommand(r, "SADD duro:queues ok-q bad-q"));
    freeReplyObject(redisCommand(r, "SET duro:{q:bad-q}:flow garbage"));
    redisFree(r);
    duro_test_run(&h, &o, RUN_MS, "duro", "queue", "stats", "-o", "json", NULL);
    cr_assert_eq(o.exit_code, 0, "queue stats: %s", o.err);
    cJSON *j = cJSON_Parse(o.out);
    cr_assert(j, "not JSON: %s", o.out);
    duro_test_output_free(&o);
    int ok_rows = 0, bad_rows = 0;
    cJSON *row;
    cJSON_ArrayForEach(row, j)
    {
        const char *q = duro_test_str(row, "taskQueue");
        bool err = cJSON_IsString(cJSON_GetObjectItem(row, "flowError"));
        if (!strcmp(q, "ok-q")) ok_rows += !err;
        if (!strcmp(q, "bad-q")) bad_rows += err;
    }
    cJSON_Delete(j);
    cr_assert_eq(ok_rows, 2);
    cr_assert_eq(bad_rows, 2);
    duro_test_run(&h, &o, RUN_MS, "duro", "queue", "stats", NULL);
    cr_assert_eq(o.exit_code, 0, "queue stats: %s", o.err);
    cr_assert(strstr(o.out, "ok-q") && strstr(o.out, "bad-q"), "%s", o.out);
    duro_test_output_free(&o);
    duro_test_finish(&h);
}
