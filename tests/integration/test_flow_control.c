/* test_flow_control.c: flow control of task queues (issue 15): an
 * activity's schedule-to-start timeout, rate limits per task queue. The
 * workers are embedded in the test process (duro_worker_new +
 * duro_worker_run in a thread), so each test registers what it needs. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
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

static void emb_start(emb *e, const char *queue, const char *identity,
                      int threads)
{
    duro_worker_opts o = {.redis_url = h.redis_url,
                          .task_queue = queue,
                          .identity = identity,
                          .activity_threads = threads,
                          .log_level = "warn"};
    cr_assert_eq(duro_worker_new(&e->w, &o), 0);
    duro_worker_register_workflow(e->w, "one_nap", one_nap);
    duro_worker_register_workflow(e->w, "many_naps", many_naps);
    duro_worker_register_activity(e->w, "nap", nap, NULL);
    cr_assert_eq(pthread_create(&e->t, NULL, run_worker, e->w), 0);
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
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
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
