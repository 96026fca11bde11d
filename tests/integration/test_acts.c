/* test_acts.c: asynchronous activity completion (duro_actx_complete_later,
 * duro_client_activity_*, `duro activity ...`) and local activities
 * (duro_local_activity), with a worker embedded in the test process so
 * that the tests can count how often an activity function runs. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "duro/errno.h"
#include "duro/worker.h"
#include "harness.h"

#define QUEUE "acts"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(acts, .init = setup, .fini = duro_test_fini, .timeout = 90);

/* ---- The embedded worker ---- */

/* Tokens the async activity handed out, by attempt (1-based). */
#define MAX_ATTEMPTS 8
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char *tokens[MAX_ATTEMPTS + 1];
static atomic_int async_calls;

static cJSON *later(duro_actx *ctx, const cJSON *input, void *arg)
{
    (void)input;
    (void)arg;
    int n = duro_actx_attempt(ctx);
    const char *t = duro_actx_task_token(ctx);
    cr_assert(t != NULL);
    pthread_mutex_lock(&mu);
    if (n <= MAX_ATTEMPTS) tokens[n] = strdup(t);
    pthread_mutex_unlock(&mu);
    atomic_fetch_add(&async_calls, 1);
    return duro_actx_complete_later(ctx);
}

static const char *token_of(int attempt)
{
    pthread_mutex_lock(&mu);
    const char *t = tokens[attempt];
    pthread_mutex_unlock(&mu);
    return t;
}

/* asyncWf: one async activity (start-to-close 1.5s, retries after 100ms);
 * returns {"value": result} or {"error": message}. */
static cJSON *async_wf(duro_wf *wf, const cJSON *input)
{
    duro_activity_opts o = {
        .start_to_close_ms = 1500,
        .retry = {.initial_interval_ms = 100, .max_attempts = 5}};
    duro_result r = duro_activity(wf, "later", input, &o);
    cJSON *out = cJSON_CreateObject();
    if (r.ok)
        cJSON_AddItemToObject(out, "value", cJSON_Duplicate(r.value, 1));
    else
        cJSON_AddStringToObject(out, "error", r.error);
    return out;
}

/* asyncHbWf: as asyncWf, with a 1s heartbeat timeout and a long
 * start-to-close. */
static cJSON *async_hb_wf(duro_wf *wf, const cJSON *input)
{
    duro_activity_opts o = {
        .start_to_close_ms = 60000,
        .heartbeat_timeout_ms = 1000,
        .retry = {.initial_interval_ms = 100, .max_attempts = 5}};
    duro_result r = duro_activity(wf, "later", input, &o);
    return r.ok ? cJSON_Duplicate(r.value, 1) : cJSON_CreateString(r.error);
}

typedef struct {
    duro_worker *w;
    pthread_t t;
} embedded;

static void *run_worker(void *arg)
{
    duro_worker_run(arg);
    return NULL;
}

static void register_all(duro_worker *w);

static void worker_start(embedded *e)
{
    duro_worker_opts o = {
        .redis_url = h.redis_url, .task_queue = QUEUE, .log_level = "warn"};
    cr_assert_eq(duro_worker_new(&e->w, &o), 0);
    register_all(e->w);
    cr_assert_eq(pthread_create(&e->t, NULL, run_worker, e->w), 0);
}

static void worker_stop(embedded *e)
{
    duro_worker_stop(e->w);
    pthread_join(e->t, NULL);
    duro_worker_free(e->w);
}

static pid_t spawn_scheduler(void)
{
    pid_t s =
        duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    cr_assert(
        duro_test_wait_until(duro_test_log_contains(&h, s, "REDIS UP"), 5000));
    return s;
}

/* result_json: the workflow's result member, as compact text (freed). */
static char *result_text(duro_client *c, const char *id)
{
    cJSON *d = duro_test_result(c, id, 20000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED", "%s",
                     cJSON_PrintUnformatted(d));
    char *s = cJSON_PrintUnformatted(cJSON_GetObjectItem(d, "result"));
    cJSON_Delete(d);
    return s;
}

/* ---- Asynchronous completion ---- */

Test(acts, async_completion_by_token_before_any_retry)
{
    spawn_scheduler();
    embedded e;
    worker_start(&e);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "async-1", "asyncWf", QUEUE, NULL, 0);
    cr_assert(duro_test_wait_until(token_of(1) != NULL, 5000));
    duro_activity_ref ref = {.task_token = token_of(1)};
    cr_assert_eq(duro_client_activity_complete(c, &ref, "{\"ok\":1}"), 0, "%s",
                 duro_client_errstr(c));
    char *r = result_text(c, "async-1");
    cr_assert_str_eq(r, "{\"value\":{\"ok\":1}}");
    free(r);
    /* the same token again: the activity is over */
    cr_assert_eq(duro_client_activity_complete(c, &ref, "2"), DURO_ESTALE);
    duro_client_free(c);
    worker_stop(&e);
}

/* After the first attempt timed out and a second was scheduled, the first
 * attempt's token is refused (stale, with a message that says what to do);
 * workflow id + activity id completes the current attempt. */
Test(acts, async_completion_after_a_retry)
{
    spawn_scheduler();
    embedded e;
    worker_start(&e);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "async-2", "asyncWf", QUEUE, NULL, 0);
    cr_assert(duro_test_wait_until(token_of(2) != NULL, 10000),
              "the first attempt never timed out into a second");
    duro_activity_ref old = {.task_token = token_of(1)};
    cr_assert_eq(duro_client_activity_complete(c, &old, "1"), DURO_ESTALE);
    cr_assert(strstr(duro_client_errstr(c), "no longer current") &&
                  strstr(duro_client_errstr(c), "--activity-id"),
              "%s", duro_client_errstr(c));
    duro_activity_ref byid = {.workflow_id = "async-2", .activity_id = 1};
    cr_assert_eq(duro_client_activity_complete(c, &byid, "\"second\""), 0, "%s",
                 duro_client_errstr(c));
    char *r = result_text(c, "async-2");
    cr_assert_str_eq(r, "{\"value\":\"second\"}");
    free(r);
    cJSON *hist = duro_test_history(c, "async-2");
    cr_assert_eq(duro_test_count_events(hist, "ActivityCompleted"), 1);
    cJSON_Delete(hist);
    duro_client_free(c);
    worker_stop(&e);
}

/* A worker that stops cleanly deletes its stream consumer and the entries
 * pending on it: an attempt waiting for its asynchronous completion must
 * not go with them, or no timeout would ever retry it. */
Test(acts, async_attempt_keeps_its_timeout_after_its_worker_stops)
{
    spawn_scheduler();
    embedded e;
    worker_start(&e);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "async-5", "asyncWf", QUEUE, NULL, 0);
    cr_assert(duro_test_wait_until(token_of(1) != NULL, 5000));
    duro_test_sleep_ms(200); /* the hand-over to the async consumer */
    worker_stop(&e);
    worker_start(&e);
    cr_assert(duro_test_wait_until(token_of(2) != NULL, 10000),
              "the first attempt never timed out after its worker stopped");
    duro_activity_ref byid = {.workflow_id = "async-5", .activity_id = 1};
    cr_assert_eq(duro_client_activity_complete(c, &byid, "5"), 0, "%s",
                 duro_client_errstr(c));
    char *r = result_text(c, "async-5");
    cr_assert_str_eq(r, "{\"value\":5}");
    free(r);
    duro_client_free(c);
    worker_stop(&e);
}

/* Heartbeats from outside keep a pending async attempt alive past its
 * heartbeat timeout; without them the timeout retries it. */
Test(acts, async_heartbeat_timeout_applies_and_heartbeats_keep_it_alive)
{
    spawn_scheduler();
    embedded e;
    worker_start(&e);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "async-6", "asyncHbWf", QUEUE, NULL, 0);
    cr_assert(duro_test_wait_until(token_of(1) != NULL, 5000));
    duro_activity_ref ref = {.task_token = token_of(1)};
    for (int i = 0; i < 10; i++) { /* 2.5s: past the 1s timeout */
        cr_assert_eq(duro_client_activity_heartbeat(c, &ref, "{\"i\":1}"), 0,
                     "%s", duro_client_errstr(c));
        duro_test_sleep_ms(250);
    }
    cr_assert_null(token_of(2), "a heartbeating attempt timed out");
    cr_assert(duro_test_wait_until(token_of(2) != NULL, 5000),
              "the heartbeat timeout never retried the silent attempt");
    cr_assert_eq(duro_client_activity_heartbeat(c, &ref, NULL), DURO_ESTALE);
    duro_activity_ref byid = {.workflow_id = "async-6", .activity_id = 1};
    cr_assert_eq(duro_client_activity_complete(c, &byid, "6"), 0, "%s",
                 duro_client_errstr(c));
    char *r = result_text(c, "async-6");
    cr_assert_str_eq(r, "6");
    free(r);
    duro_client_free(c);
    worker_stop(&e);
}

/* `duro activity heartbeat` records a pending async attempt's progress;
 * `duro activity fail --non-retryable` fails it without a retry. */
Test(acts, async_fail_through_the_cli)
{
    spawn_scheduler();
    embedded e;
    worker_start(&e);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "async-3", "asyncWf", QUEUE, NULL, 0);
    cr_assert(duro_test_wait_until(token_of(1) != NULL, 5000));
    duro_test_output o;
    duro_test_run(&h, &o, 10000, "duro", "activity", "heartbeat",
                  "--workflow-id", "async-3", "--activity-id", "1", "--details",
                  "{\"step\":1}", NULL);
    cr_assert_eq(o.exit_code, 0, "%s", o.err);
    duro_test_output_free(&o);
    duro_test_run(&h, &o, 10000, "duro", "activity", "fail", "--workflow-id",
                  "async-3", "--activity-id", "1", "--message", "denied",
                  "--type", "Denied", "--non-retryable", NULL);
    cr_assert_eq(o.exit_code, 0, "%s", o.err);
    cr_assert(strstr(o.out, "failed"), "%s", o.out);
    duro_test_output_free(&o);
    char *r = result_text(c, "async-3");
    cr_assert(strstr(r, "denied"), "%s", r);
    free(r);
    cr_assert_eq(atomic_load(&async_calls), 1,
                 "a non-retryable failure "
                 "was retried");
    /* a workflow that is over refuses, with the CLI's NOT_RUNNING */
    duro_test_run(&h, &o, 10000, "duro", "activity", "complete",
                  "--workflow-id", "async-3", "--activity-id", "1", NULL);
    cr_assert_neq(o.exit_code, 0);
    duro_test_output_free(&o);
    duro_client_free(c);
    worker_stop(&e);
}

/* A retryable failure from outside schedules the next attempt by the
 * activity's retry policy; its token completes it through the CLI. */
Test(acts, async_retryable_fail_then_token_completion_via_cli)
{
    spawn_scheduler();
    embedded e;
    worker_start(&e);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "async-4", "asyncWf", QUEUE, NULL, 0);
    cr_assert(duro_test_wait_until(token_of(1) != NULL, 5000));
    duro_activity_ref ref = {.task_token = token_of(1)};
    cr_assert_eq(duro_client_activity_fail(c, &ref, NULL, "try again", false),
                 0, "%s", duro_client_errstr(c));
    cr_assert(duro_test_wait_until(token_of(2) != NULL, 5000));
    duro_test_output o;
    duro_test_run(&h, &o, 10000, "duro", "activity", "complete", "--task-token",
                  token_of(2), "--result", "42", NULL);
    cr_assert_eq(o.exit_code, 0, "%s", o.err);
    duro_test_output_free(&o);
    char *r = result_text(c, "async-4");
    cr_assert_str_eq(r, "{\"value\":42}");
    free(r);
    duro_test_run(&h, &o, 10000, "duro", "activity", "complete", "--task-token",
                  "zz", NULL);
    cr_assert_neq(o.exit_code, 0);
    cr_assert(strstr(o.err, "task token"), "%s", o.err);
    duro_test_output_free(&o);
    duro_client_free(c);
    worker_stop(&e);
}

/* ---- Local activities ---- */

static atomic_int flaky_calls;

/* flaky fails its first input.failures calls, then returns the count. */
static cJSON *flaky(duro_actx *ctx, const cJSON *input, void *arg)
{
    (void)arg;
    int n = atomic_fetch_add(&flaky_calls, 1) + 1;
    cr_assert_null(duro_actx_task_token(ctx));
    duro_actx_heartbeat(ctx, NULL); /* ignored: nothing pending */
    const cJSON *f = cJSON_GetObjectItem(input, "failures");
    if (n <= (f ? f->valueint : 0)) {
        duro_actx_fail(ctx, "Flaky", false, "call %d fails", n);
        return NULL;
    }
    cJSON *r = cJSON_CreateObject();
    cJSON_AddNumberToObject(r, "calls", n);
    return r;
}

static void on_go(duro_wf *wf, const cJSON *input, void *arg)
{
    (void)wf;
    (void)input;
    *(bool *)arg = true;
}

static bool is_set(void *arg)
{
    return *(bool *)arg;
}

/* localWf: one local activity flaky (retries every input.intervalMs,
 * local threshold input.thresholdMs), then waits for signal "go" and
 * returns the activity's result or {"error"}. */
static cJSON *local_wf(duro_wf *wf, const cJSON *input)
{
    bool *go = duro_alloc(wf, sizeof(bool));
    duro_on_signal(wf, "go", on_go, go);
    duro_local_activity_opts o = {
        .retry = {.initial_interval_ms =
                      (int64_t)duro_test_num(input, "intervalMs", 10),
                  .backoff_coefficient = 1.0,
                  .max_attempts = 5},
        .local_retry_threshold_ms =
            (int64_t)duro_test_num(input, "thresholdMs", 0)};
    duro_result r = duro_local_activity(wf, "flaky", input, &o);
    duro_condition(wf, is_set, go, -1);
    if (r.ok) return cJSON_Duplicate(r.value, 1);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "error", r.error);
    return out;
}

static int count_of(duro_client *c, const char *id, const char *type)
{
    cJSON *hist = duro_test_history(c, id);
    int n = duro_test_count_events(hist, type);
    cJSON_Delete(hist);
    return n;
}

/* go signals the workflow and returns its result text (freed). */
static char *go_and_result(duro_client *c, const char *id)
{
    cr_assert_eq(duro_client_signal(c, id, "go", NULL, NULL), 0, "%s",
                 duro_client_errstr(c));
    return result_text(c, id);
}

Test(acts, local_activity_retried_locally_then_succeeding)
{
    spawn_scheduler();
    embedded e;
    worker_start(&e);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "local-1", "localWf", QUEUE, "{\"failures\":2}", 0);
    char *r = go_and_result(c, "local-1");
    cr_assert_str_eq(r, "{\"calls\":3}");
    free(r);
    cr_assert_eq(atomic_load(&flaky_calls), 3);
    cr_assert_eq(count_of(c, "local-1", "MarkerRecorded"), 1);
    cr_assert_eq(count_of(c, "local-1", "ActivityScheduled"), 0);
    cr_assert_eq(count_of(c, "local-1", "TimerStarted"), 0);
    duro_client_free(c);
    worker_stop(&e);
}

/* Out of attempts: the last failure is the outcome, recorded once. */
Test(acts, local_activity_out_of_attempts_fails)
{
    spawn_scheduler();
    embedded e;
    worker_start(&e);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "local-4", "localWf", QUEUE, "{\"failures\":10}", 0);
    char *r = go_and_result(c, "local-4");
    cr_assert_str_eq(r, "{\"error\":\"call 5 fails\"}");
    free(r);
    cr_assert_eq(atomic_load(&flaky_calls), 5);
    cr_assert_eq(count_of(c, "local-4", "MarkerRecorded"), 1);
    duro_client_free(c);
    worker_stop(&e);
}

/* A retry past the local threshold is recorded and waited for with a
 * timer: the next attempt runs in a later workflow task. */
Test(acts, local_activity_retries_past_the_threshold_in_later_tasks)
{
    spawn_scheduler();
    embedded e;
    worker_start(&e);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "local-2", "localWf", QUEUE,
                    "{\"failures\":2,\"intervalMs\":300,\"thresholdMs\":100}",
                    0);
    char *r = go_and_result(c, "local-2");
    cr_assert_str_eq(r, "{\"calls\":3}");
    free(r);
    cr_assert_eq(atomic_load(&flaky_calls), 3);
    cr_assert_eq(count_of(c, "local-2", "MarkerRecorded"), 3);
    cr_assert_eq(count_of(c, "local-2", "TimerFired"), 2);
    duro_client_free(c);
    worker_stop(&e);
}

/* A run's own task timeout (2s here) bounds its local retries in a task,
 * as the default one does: a retry that would start past four fifths of
 * it waits on a durable timer. The worker used to assume 10s: the task
 * retried locally until 2.8s, timed out at 2s, and its commit was refused,
 * so every later task started over (here a sixth call, lucky, ended it). */
Test(acts, local_retries_fit_a_short_task_timeout)
{
    spawn_scheduler();
    embedded e;
    worker_start(&e);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "local-5", "localWf", QUEUE,
                    "{\"failures\":4,\"intervalMs\":700,"
                    "\"thresholdMs\":10000}",
                    2000);
    char *r = go_and_result(c, "local-5");
    cr_assert_str_eq(r, "{\"calls\":5}");
    free(r);
    cr_assert_eq(atomic_load(&flaky_calls), 5);
    cr_assert_geq(count_of(c, "local-5", "TimerFired"), 1,
                  "no retry waited on a timer");
    duro_client_free(c);
    worker_stop(&e);
}

/* A new worker (an empty cache: the run is replayed) reads the marker and
 * does not call the function again. */
Test(acts, local_activity_replay_uses_the_marker)
{
    spawn_scheduler();
    embedded e;
    worker_start(&e);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "local-3", "localWf", QUEUE, "{\"failures\":0}", 0);
    cr_assert(duro_test_wait_until(
        count_of(c, "local-3", "MarkerRecorded") == 1, 10000));
    worker_stop(&e);
    cr_assert_eq(atomic_load(&flaky_calls), 1);
    worker_start(&e);
    char *r = go_and_result(c, "local-3");
    cr_assert_str_eq(r, "{\"calls\":1}");
    free(r);
    cr_assert_eq(atomic_load(&flaky_calls), 1,
                 "the replay called the local activity again");
    duro_client_free(c);
    worker_stop(&e);
}

/* ---- Local activities off the event loop ---- */

static atomic_int slow_state; /* 0: not begun, 1: running, 2: returned */
static atomic_int slow_calls;

/* slowLocal sleeps input.ms (500) on whatever thread runs it; with
 * input.slowOnce, only its first call does. */
static cJSON *slow_local(duro_actx *ctx, const cJSON *input, void *arg)
{
    (void)ctx;
    (void)arg;
    int n = atomic_fetch_add(&slow_calls, 1) + 1;
    atomic_store(&slow_state, 1);
    if (n == 1 || !cJSON_IsTrue(cJSON_GetObjectItem(input, "slowOnce")))
        usleep((useconds_t)duro_test_num(input, "ms", 500) * 1000);
    atomic_store(&slow_state, 2);
    return cJSON_CreateString("slow");
}

static cJSON *answer_here(duro_wf *wf, const cJSON *input, void *arg)
{
    (void)wf;
    (void)input;
    (void)arg;
    return cJSON_CreateString("here");
}

/* slowLocalWf: query "where", then slowLocal as a local activity. */
static cJSON *slow_local_wf(duro_wf *wf, const cJSON *input)
{
    duro_on_query(wf, "where", answer_here, NULL);
    duro_result r = duro_local_activity(wf, "slowLocal", input, NULL);
    return r.ok ? cJSON_Duplicate(r.value, 1) : cJSON_CreateString(r.error);
}

static cJSON *quick(duro_actx *ctx, const cJSON *input, void *arg)
{
    (void)ctx;
    (void)input;
    (void)arg;
    return cJSON_CreateString("quick");
}

/* quickWf: an ordinary activity, then a timer of input.timerMs. */
static cJSON *quick_wf(duro_wf *wf, const cJSON *input)
{
    duro_result r = duro_activity(wf, "quick", NULL, NULL);
    duro_await(wf, duro_timer(wf, (int64_t)duro_test_num(input, "timerMs", 0)));
    return r.ok ? cJSON_Duplicate(r.value, 1) : cJSON_CreateString(r.error);
}

/* actThenLocalWf: an activity, then a local activity: the activity's
 * completion would be committed eagerly with the code's next commands,
 * where a local activity cannot wait. */
static cJSON *act_then_local_wf(duro_wf *wf, const cJSON *input)
{
    duro_result a = duro_activity(wf, "quick", NULL, NULL);
    duro_result l = duro_local_activity(wf, "flaky", input, NULL);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddItemToObject(out, "a",
                          a.ok ? cJSON_Duplicate(a.value, 1)
                               : cJSON_CreateString(a.error));
    cJSON_AddItemToObject(out, "l",
                          l.ok ? cJSON_Duplicate(l.value, 1)
                               : cJSON_CreateString(l.error));
    return out;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* While a local activity runs (1s here), the worker's loop goes on: a
 * query of that workflow is answered, and another workflow started then
 * runs its activity and its 100ms timer to completion within 300ms of
 * that timer's due time, all before the local activity returns. */
Test(acts, a_slow_local_activity_does_not_stall_the_worker)
{
    spawn_scheduler();
    embedded e;
    worker_start(&e);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "slow-1", "slowLocalWf", QUEUE, "{\"ms\":1000}", 0);
    cr_assert(duro_test_wait_until(atomic_load(&slow_state) == 1, 10000));
    char *q = NULL;
    cr_assert_eq(duro_client_query(c, "slow-1", "where", NULL, 5000, &q), 0,
                 "%s", duro_client_errstr(c));
    cr_assert_str_eq(q, "\"here\"");
    free(q);
    cr_assert_eq(atomic_load(&slow_state), 1, "the query waited for it");
    int64_t t0 = mono_ms();
    duro_test_start(c, "quick-1", "quickWf", QUEUE, "{\"timerMs\":100}", 0);
    char *r = result_text(c, "quick-1");
    int64_t took = mono_ms() - t0;
    cr_assert_str_eq(r, "\"quick\"");
    free(r);
    cr_assert_eq(atomic_load(&slow_state), 1,
                 "quickWf waited for the local activity (%lld ms)",
                 (long long)took);
    cr_assert_leq(took, 100 + 300, "quickWf took %lld ms", (long long)took);
    r = result_text(c, "slow-1");
    cr_assert_str_eq(r, "\"slow\"");
    free(r);
    cr_assert_eq(atomic_load(&slow_calls), 1, "the query ran it");
    cr_assert_eq(count_of(c, "slow-1", "MarkerRecorded"), 1);
    duro_client_free(c);
    worker_stop(&e);
}

/* A local activity right after an activity: the eager path cannot wait
 * for it, so a workflow task runs it; once, and recorded once. */
Test(acts, a_local_activity_after_an_activity_runs_once)
{
    spawn_scheduler();
    embedded e;
    worker_start(&e);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "act-local-1", "actThenLocalWf", QUEUE,
                    "{\"failures\":0}", 0);
    char *r = result_text(c, "act-local-1");
    cr_assert_str_eq(r, "{\"a\":\"quick\",\"l\":{\"calls\":1}}");
    free(r);
    cr_assert_eq(atomic_load(&flaky_calls), 1);
    cr_assert_eq(count_of(c, "act-local-1", "MarkerRecorded"), 1);
    duro_client_free(c);
    worker_stop(&e);
}

static bool task_error_has(duro_client *c, const char *id, const char *what)
{
    cJSON *d = NULL;
    if (duro_client_describe(c, id, &d) != 0) return false;
    const char *e = cJSON_GetStringValue(cJSON_GetObjectItem(
        cJSON_GetObjectItem(d, "workflowTask"), "lastError"));
    bool yes = e && strstr(e, what);
    cJSON_Delete(d);
    return yes;
}

/* An attempt that ends past the workflow task's budget (8s) fails the
 * task, whose commit would come after its timeout; the retried task runs
 * it again (fast this time) and records it once. */
Test(acts, a_local_activity_past_the_task_deadline_fails_the_task)
{
    spawn_scheduler();
    embedded e;
    worker_start(&e);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "slow-2", "slowLocalWf", QUEUE,
                    "{\"ms\":8500,\"slowOnce\":true}", 0);
    cr_assert(duro_test_wait_until(
        task_error_has(c, "slow-2", "past the workflow task's deadline"),
        20000));
    char *r = result_text(c, "slow-2");
    cr_assert_str_eq(r, "\"slow\"");
    free(r);
    cr_assert_eq(atomic_load(&slow_calls), 2);
    cr_assert_eq(count_of(c, "slow-2", "MarkerRecorded"), 1);
    duro_client_free(c);
    worker_stop(&e);
}

/* A worker told to stop while a local activity runs lets it finish and
 * commits its task before it stops. */
Test(acts, a_stopping_worker_commits_the_local_activity_it_runs)
{
    spawn_scheduler();
    embedded e;
    worker_start(&e);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "slow-3", "slowLocalWf", QUEUE, "{\"ms\":700}", 0);
    cr_assert(duro_test_wait_until(atomic_load(&slow_state) == 1, 10000));
    worker_stop(&e);
    cr_assert_eq(atomic_load(&slow_state), 2);
    cJSON *d = duro_test_result(c, "slow-3", 5000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED", "%s",
                     cJSON_PrintUnformatted(d));
    cJSON_Delete(d);
    cr_assert_eq(atomic_load(&slow_calls), 1);
    duro_client_free(c);
}

static void register_all(duro_worker *w)
{
    cr_assert_eq(duro_worker_register_workflow(w, "asyncWf", async_wf), 0);
    cr_assert_eq(duro_worker_register_workflow(w, "asyncHbWf", async_hb_wf), 0);
    cr_assert_eq(duro_worker_register_activity(w, "later", later, NULL), 0);
    cr_assert_eq(duro_worker_register_workflow(w, "localWf", local_wf), 0);
    cr_assert_eq(duro_worker_register_activity(w, "flaky", flaky, NULL), 0);
    cr_assert_eq(duro_worker_register_workflow(w, "slowLocalWf", slow_local_wf),
                 0);
    cr_assert_eq(
        duro_worker_register_activity(w, "slowLocal", slow_local, NULL), 0);
    cr_assert_eq(duro_worker_register_workflow(w, "quickWf", quick_wf), 0);
    cr_assert_eq(duro_worker_register_activity(w, "quick", quick, NULL), 0);
    cr_assert_eq(
        duro_worker_register_workflow(w, "actThenLocalWf", act_then_local_wf),
        0);
}
