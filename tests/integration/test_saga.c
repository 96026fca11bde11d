/* test_saga.c: the saga helper (worker.h, "Sagas") in a worker embedded in
 * the test process: compensations run newest first, or all at once, each
 * with its own retry policy, and a cancellation of the workflow cancels
 * none of them; a compensation keeps the options it was added with, keys
 * included. What ran is read back from the history. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "duro/worker.h"
#include "harness.h"

#define QUEUE "saga"

static duro_test_harness h;
static duro_worker *worker;
static pthread_t worker_thread;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(saga, .init = setup, .fini = duro_test_fini, .timeout = 90);

/* ---- Activities ---- */

static cJSON *ok_activity(duro_actx *ctx, const cJSON *input, void *arg)
{
    (void)ctx;
    (void)arg;
    return cJSON_Duplicate(input, 1);
}

/* flaky fails its first two attempts (retryably), then completes. */
static cJSON *flaky(duro_actx *ctx, const cJSON *input, void *arg)
{
    (void)input;
    (void)arg;
    if (duro_actx_attempt(ctx) < 3) {
        duro_actx_fail(ctx, "Flaky", false, "attempt %d failed",
                       duro_actx_attempt(ctx));
        return NULL;
    }
    return cJSON_CreateNumber(duro_actx_attempt(ctx));
}

static cJSON *always_fails(duro_actx *ctx, const cJSON *input, void *arg)
{
    (void)input;
    (void)arg;
    duro_actx_fail(ctx, "Broken", false, "still broken");
    return NULL;
}

/* slow_undo takes a second: long enough for the test to cancel the
 * workflow while it runs. */
static atomic_int slow_started;
static cJSON *slow_undo(duro_actx *ctx, const cJSON *input, void *arg)
{
    (void)ctx;
    (void)input;
    (void)arg;
    atomic_store(&slow_started, 1);
    usleep(1000 * 1000);
    return cJSON_CreateString("undone");
}

/* ---- Workflows ---- */

static duro_activity_opts quick_retries(int max_attempts)
{
    duro_activity_opts o = {0};
    o.start_to_close_ms = 10000;
    o.retry.initial_interval_ms = 100;
    o.retry.backoff_coefficient = 1.0;
    o.retry.max_attempts = max_attempts;
    return o;
}

/* three_steps: steps "do1".."do3" each register "undo<i>", then the saga
 * compensates; input {"parallel": bool}. */
static cJSON *three_steps(duro_wf *wf, const cJSON *input)
{
    duro_saga_opts so = {0};
    so.parallel = cJSON_IsTrue(cJSON_GetObjectItem(input, "parallel"));
    duro_saga *s = duro_saga_new(wf, &so);
    static const char *const dos[] = {"do1", "do2", "do3"};
    static const char *const undos[] = {"undo1", "undo2", "undo3"};
    for (int i = 0; i < 3; i++) {
        cJSON *in = cJSON_CreateNumber(i + 1);
        duro_activity(wf, dos[i], in, NULL);
        duro_saga_add(s, undos[i], in, NULL);
        cJSON_Delete(in);
    }
    int rc = duro_saga_compensate(s);
    int again = duro_saga_compensate(s); /* forgotten: runs nothing */
    cJSON *out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "rc", rc);
    cJSON_AddNumberToObject(out, "again", again);
    return out;
}

/* retrying: compensation "flaky" with up to 5 attempts, then "broken" with
 * 2, continuing after the failure. */
static cJSON *retrying(duro_wf *wf, const cJSON *input)
{
    (void)input;
    duro_saga_opts so = {.continue_with_error = true};
    duro_saga *s = duro_saga_new(wf, &so);
    duro_activity_opts five = quick_retries(5), two = quick_retries(2);
    duro_saga_add(s, "flaky", NULL, &five);
    duro_saga_add(s, "broken", NULL, &two);
    int rc = duro_saga_compensate(s);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "rc", rc);
    cJSON_AddStringToObject(out, "error", duro_saga_error(s));
    return out;
}

/* canceled_while_compensating: compensates "slowUndo" then "undo1"; the
 * test cancels the workflow while slowUndo runs. */
static cJSON *canceled_while_compensating(duro_wf *wf, const cJSON *input)
{
    (void)input;
    duro_saga *s = duro_saga_new(wf, NULL);
    duro_saga_add(s, "undo1", NULL, NULL);
    duro_saga_add(s, "slowUndo", NULL, NULL);
    int rc = duro_saga_compensate(s);
    return cJSON_CreateNumber(rc);
}

/* canceled_before: waits for a day; once canceled, compensates. */
static cJSON *canceled_before(duro_wf *wf, const cJSON *input)
{
    (void)input;
    duro_saga *s = duro_saga_new(wf, NULL);
    duro_activity(wf, "do1", NULL, NULL);
    duro_saga_add(s, "undo1", NULL, NULL);
    duro_sleep(wf, 24LL * 3600 * 1000);
    if (duro_is_canceled(wf)) duro_saga_compensate(s);
    return NULL;
}

/* keyed_undo: compensation "undo1" keyed by a buffer of the caller's that
 * holds another key by the time the saga compensates. */
static cJSON *keyed_undo(duro_wf *wf, const cJSON *input)
{
    (void)input;
    duro_saga *s = duro_saga_new(wf, NULL);
    char key[32];
    snprintf(key, sizeof(key), "tenant-a");
    duro_activity_opts o = {.fairness_key = key, .concurrency_key = key};
    duro_saga_add(s, "undo1", NULL, &o);
    snprintf(key, sizeof(key), "tenant-b"); /* the buffer, reused */
    return cJSON_CreateNumber(duro_saga_compensate(s));
}

static void *run_worker(void *arg)
{
    duro_worker_run(arg);
    return NULL;
}

/* register_all registers this file's workflows and activities on w. */
static void register_all(duro_worker *w)
{
    cr_assert_eq(duro_worker_register_workflow(w, "threeSteps", three_steps),
                 0);
    duro_worker_register_workflow(w, "retrying", retrying);
    duro_worker_register_workflow(w, "canceledWhileCompensating",
                                  canceled_while_compensating);
    duro_worker_register_workflow(w, "canceledBefore", canceled_before);
    duro_worker_register_workflow(w, "keyedUndo", keyed_undo);
    const char *oks[] = {"do1", "do2", "do3", "undo1", "undo2", "undo3"};
    for (size_t i = 0; i < sizeof(oks) / sizeof(oks[0]); i++)
        duro_worker_register_activity(w, oks[i], ok_activity, NULL);
    duro_worker_register_activity(w, "flaky", flaky, NULL);
    duro_worker_register_activity(w, "broken", always_fails, NULL);
    duro_worker_register_activity(w, "slowUndo", slow_undo, NULL);
}

/* assert_replays: id's history, exported as `duro workflow history -o
 * json` does, replays against this file's code without a difference
 * (what a worker that lost the run from its cache does). */
static void assert_replays(const char *id)
{
    duro_test_output o;
    duro_test_run(&h, &o, 10000, "duro", "workflow", "history", "--workflow-id",
                  id, "-o", "json", NULL);
    cr_assert_eq(o.exit_code, 0, "history export: %s", o.err);
    duro_worker *w;
    duro_worker_opts wo = {.task_queue = QUEUE, .log_level = "warn"};
    cr_assert_eq(duro_worker_new(&w, &wo), 0);
    register_all(w);
    char report[1024] = "";
    int rc = duro_replay_history(w, o.out, report, sizeof(report));
    cr_assert_eq(rc, 0, "replay of %s: %d %s", id, rc, report);
    duro_worker_free(w);
    duro_test_output_free(&o);
}

static duro_client *start_worker(void)
{
    pid_t s =
        duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    cr_assert(
        duro_test_wait_until(duro_test_log_contains(&h, s, "REDIS UP"), 5000));
    duro_worker_opts o = {
        .redis_url = h.redis_url, .task_queue = QUEUE, .log_level = "warn"};
    cr_assert_eq(duro_worker_new(&worker, &o), 0);
    register_all(worker);
    cr_assert_eq(pthread_create(&worker_thread, NULL, run_worker, worker), 0);
    return duro_test_client(&h);
}

static void stop_worker(duro_client *c)
{
    duro_client_free(c);
    duro_worker_stop(worker);
    pthread_join(worker_thread, NULL);
    duro_worker_free(worker);
    duro_test_finish(&h);
}

/* events: "<type>:<name>" of the activity events of id's history, joined
 * with ",". */
static void activity_events(duro_client *c, const char *id, char *buf,
                            size_t size)
{
    cJSON *hist = duro_test_history(c, id);
    buf[0] = '\0';
    const cJSON *e;
    cJSON_ArrayForEach(e, hist)
    {
        const char *type = duro_test_str(e, "type");
        if (strcmp(type, "ActivityScheduled") != 0 &&
            strcmp(type, "ActivityCompleted") != 0)
            continue;
        const char *name = duro_test_str(duro_test_event_data(e), "name");
        size_t n = strlen(buf);
        snprintf(buf + n, size - n, "%s%s%s", n ? "," : "",
                 type[8] == 'S' ? "S:" : "C", type[8] == 'S' ? name : "");
    }
    cJSON_Delete(hist);
}

static char *result_text(duro_client *c, const char *id)
{
    cJSON *d = duro_test_result(c, id, 20000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED", "%s",
                     cJSON_PrintUnformatted(d));
    char *s = cJSON_PrintUnformatted(cJSON_GetObjectItem(d, "result"));
    cJSON_Delete(d);
    return s;
}

Test(saga, compensations_run_newest_first_one_at_a_time)
{
    duro_client *c = start_worker();
    duro_test_start(c, "seq", "threeSteps", QUEUE, "{}", 0);
    char *r = result_text(c, "seq");
    cr_assert_str_eq(r, "{\"rc\":0,\"again\":0}");
    free(r);
    char ev[1024];
    activity_events(c, "seq", ev, sizeof(ev));
    cr_assert_str_eq(ev, "S:do1,C,S:do2,C,S:do3,C,S:undo3,C,S:undo2,C,"
                         "S:undo1,C");
    stop_worker(c);
}

Test(saga, parallel_compensations_are_scheduled_together)
{
    duro_client *c = start_worker();
    duro_test_start(c, "par", "threeSteps", QUEUE, "{\"parallel\":true}", 0);
    char *r = result_text(c, "par");
    cr_assert_str_eq(r, "{\"rc\":0,\"again\":0}");
    free(r);
    char ev[1024];
    activity_events(c, "par", ev, sizeof(ev));
    /* all three scheduled (newest first) before any of them completed */
    cr_assert_str_eq(ev, "S:do1,C,S:do2,C,S:do3,C,S:undo3,S:undo2,S:undo1,C,"
                         "C,C");
    assert_replays("par");
    stop_worker(c);
}

Test(saga, a_compensation_retries_by_its_own_policy)
{
    duro_client *c = start_worker();
    duro_test_start(c, "retry", "retrying", QUEUE, "{}", 0);
    char *r = result_text(c, "retry");
    /* broken (newest) failed after its 2 attempts; the saga went on and
     * flaky completed on its third attempt of 5 */
    cr_assert_str_eq(r, "{\"rc\":-14,\"error\":\"broken: still broken\"}");
    free(r);
    cJSON *hist = duro_test_history(c, "retry");
    const cJSON *done = duro_test_find_event(hist, "ActivityCompleted", 0);
    cr_assert_not_null(done);
    cr_assert_eq(duro_test_num(duro_test_event_data(done), "result", 0), 3);
    cr_assert_eq(duro_test_count_events(hist, "ActivityFailed"), 1);
    cJSON_Delete(hist);
    char ev[256];
    activity_events(c, "retry", ev, sizeof(ev));
    cr_assert_str_eq(ev, "S:broken,S:flaky,C");
    stop_worker(c);
}

Test(saga, a_cancellation_during_compensation_cancels_none)
{
    duro_client *c = start_worker();
    duro_test_start(c, "cancel-during", "canceledWhileCompensating", QUEUE,
                    "{}", 0);
    cr_assert(duro_test_wait_until(atomic_load(&slow_started), 10000));
    cr_assert_eq(duro_client_cancel(c, "cancel-during", "test", NULL), 0);
    cJSON *d = duro_test_result(c, "cancel-during", 20000);
    cr_assert_str_eq(duro_test_str(d, "status"), "CANCELED");
    cJSON_Delete(d);
    cJSON *hist = duro_test_history(c, "cancel-during");
    cr_assert_eq(duro_test_count_events(hist, "ActivityCancelRequested"), 0);
    cJSON_Delete(hist);
    char ev[256];
    activity_events(c, "cancel-during", ev, sizeof(ev));
    cr_assert_str_eq(ev, "S:slowUndo,C,S:undo1,C");
    assert_replays("cancel-during");
    stop_worker(c);
}

Test(saga, compensations_run_after_a_cancellation)
{
    duro_client *c = start_worker();
    duro_test_start(c, "cancel-before", "canceledBefore", QUEUE, "{}", 0);
    cr_assert(duro_test_wait_until(
        duro_test_count_events(duro_test_history(c, "cancel-before"),
                               "TimerStarted") == 1,
        10000));
    cr_assert_eq(duro_client_cancel(c, "cancel-before", "test", NULL), 0);
    cJSON *d = duro_test_result(c, "cancel-before", 20000);
    cr_assert_str_eq(duro_test_str(d, "status"), "CANCELED");
    cJSON_Delete(d);
    char ev[256];
    activity_events(c, "cancel-before", ev, sizeof(ev));
    cr_assert_str_eq(ev, "S:do1,C,S:undo1,C");
    assert_replays("cancel-before");
    stop_worker(c);
}

Test(saga, a_compensation_keeps_the_keys_it_was_added_with)
{
    duro_client *c = start_worker();
    duro_test_start(c, "keyed", "keyedUndo", QUEUE, "{}", 0);
    char *r = result_text(c, "keyed");
    cr_assert_str_eq(r, "0");
    free(r);
    cJSON *hist = duro_test_history(c, "keyed");
    const cJSON *e, *opts = NULL;
    cJSON_ArrayForEach(e, hist)
    {
        if (!strcmp(duro_test_str(e, "type"), "ActivityScheduled"))
            opts = cJSON_GetObjectItem(duro_test_event_data(e), "options");
    }
    cr_assert_not_null(opts);
    cr_assert_str_eq(duro_test_str(opts, "fairnessKey"), "tenant-a");
    cr_assert_str_eq(duro_test_str(opts, "concurrencyKey"), "tenant-a");
    cJSON_Delete(hist);
    assert_replays("keyed");
    stop_worker(c);
}
