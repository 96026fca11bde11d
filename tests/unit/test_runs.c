/* test_runs.c: the worker's runs between tasks (runs.c: busy runs and what
 * waits on them), an activity attempt's outcome (actx.c), and the errors a
 * worker keeps (duro_worker_errstr); no Redis. */
#include <criterion/criterion.h>
#include <string.h>

#include "duro/errno.h"
#include "duro/worker.h"
#include "worker_internal.h"

TestSuite(runs, .timeout = 5);
TestSuite(worker_errors, .timeout = 5);

/* ---- Runs and what waits on them ---- */

static cJSON *never_runs(duro_wf *wf, const cJSON *input)
{
    return NULL;
}

/* waiter: records the order in which waiters run, and what they were
 * told. */
typedef struct {
    duro__run_waiter wt;
    int id;
} waiter;

static int order[8], norder;
static bool kept_seen[8];

static void on_released(duro__run_waiter *wt, bool kept)
{
    waiter *x = (waiter *)wt;
    kept_seen[norder] = kept;
    order[norder++] = x->id;
}

static duro_worker *worker_with_run(const char *id, const char *run)
{
    duro_worker *w;
    cr_assert_eq(duro_worker_new(&w, NULL), 0);
    cr_assert_eq(duro__cache_init(&w->cache, 8), 0);
    duro_wf *wf = duro__run_new(id, run, "t", "q", NULL, never_runs);
    cr_assert_not_null(wf);
    duro__cache_insert(&w->cache, wf);
    norder = 0;
    return w;
}

Test(runs, a_task_for_a_busy_run_waits_and_replaces_an_older_one)
{
    duro_worker *w = worker_with_run("wf-1", "run-1");
    waiter t1 = {{on_released, NULL}, 1}, t2 = {{on_released, NULL}, 2},
           t3 = {{on_released, NULL}, 3};
    bool waits;
    duro__run_waiter *stale;
    duro_wf *wf = duro__run_acquire(w, "wf-1", "run-1", &t1.wt, &waits, &stale);
    cr_assert_not_null(wf);
    cr_assert(wf->busy && !waits && !stale);
    cr_assert_null(
        duro__run_acquire(w, "wf-1", "run-1", &t2.wt, &waits, &stale));
    cr_assert(waits && !stale);
    cr_assert_null(
        duro__run_acquire(w, "wf-1", "run-1", &t3.wt, &waits, &stale));
    cr_assert(waits);
    cr_assert_eq(stale, &t2.wt, "the older waiting task is handed back");
    duro__run_release(w, wf, true);
    cr_assert_eq(norder, 1);
    cr_assert_eq(order[0], 3);
    cr_assert(kept_seen[0]);
    cr_assert_eq(duro__cache_peek(&w->cache, "wf-1"), wf);
    cr_assert(!wf->busy);
    duro_worker_free(w);
}

Test(runs, release_sends_held_completions_before_the_waiting_task)
{
    duro_worker *w = worker_with_run("wf-1", "run-1");
    waiter task = {{on_released, NULL}, 9}, h1 = {{on_released, NULL}, 1},
           h2 = {{on_released, NULL}, 2};
    bool waits;
    duro__run_waiter *stale;
    duro_wf *wf = duro__run_acquire(w, "wf-1", "run-1", NULL, &waits, &stale);
    cr_assert_not_null(wf);
    cr_assert(!duro__run_hold(w, "wf-1", "run-2", &h1.wt),
              "a completion of another run is not held");
    cr_assert(duro__run_hold(w, "wf-1", "run-1", &h1.wt));
    cr_assert(duro__run_hold(w, "wf-1", "run-1", &h2.wt));
    duro__run_acquire(w, "wf-1", "run-1", &task.wt, &waits, &stale);
    cr_assert(waits);
    duro__run_release(w, wf, false); /* dropped: frees wf */
    cr_assert_eq(norder, 3);
    cr_assert_eq(order[0], 2);
    cr_assert_eq(order[1], 1);
    cr_assert_eq(order[2], 9, "the task goes after the completions");
    for (int i = 0; i < 3; i++)
        cr_assert(!kept_seen[i], "a dropped run is not advanced eagerly");
    cr_assert_null(duro__cache_peek(&w->cache, "wf-1"));
    duro_worker_free(w);
}

Test(runs, an_idle_run_holds_nothing_and_another_run_id_is_dropped)
{
    duro_worker *w = worker_with_run("wf-1", "run-1");
    waiter h = {{on_released, NULL}, 1};
    cr_assert(!duro__run_hold(w, "wf-1", "run-1", &h.wt));
    bool waits;
    duro__run_waiter *stale;
    cr_assert_null(duro__run_acquire(w, "wf-1", "run-2", NULL, &waits, &stale),
                   "a cached run of an older run id is not reused");
    cr_assert(!waits);
    cr_assert_null(duro__cache_peek(&w->cache, "wf-1"));
    duro_worker_free(w);
}

/* ---- Errors kept in the worker ---- */

static cJSON *wf_fn(duro_wf *wf, const cJSON *input)
{
    return NULL;
}

Test(worker_errors, errstr_says_why_a_registration_failed)
{
    duro_worker *w;
    cr_assert_eq(duro_worker_new(&w, NULL), 0);
    cr_assert_str_eq(duro_worker_errstr(w), "");
    cr_assert_eq(duro_worker_register_workflow(w, "bad type!", wf_fn),
                 DURO_EINVAL);
    cr_assert_neq(strstr(duro_worker_errstr(w), "workflow type"), NULL, "%s",
                  duro_worker_errstr(w));
    cr_assert_eq(duro_worker_register_activity(w, "echo", NULL, NULL),
                 DURO_EINVAL);
    cr_assert_neq(strstr(duro_worker_errstr(w), "echo"), NULL, "%s",
                  duro_worker_errstr(w));
    duro_worker_free(w);
}

Test(worker_errors, errstr_says_why_run_refused_to_start)
{
    duro_worker *w;
    cr_assert_eq(duro_worker_new(&w, NULL), 0);
    cr_assert_eq(duro_worker_register_workflow(w, "t", wf_fn), 0);
    cr_assert_eq(duro_worker_run(w), DURO_EINVAL);
    cr_assert_str_eq(duro_worker_errstr(w), "a task queue is required");
    duro_worker_free(w);
}

Test(worker_errors, a_stop_before_run_ends_the_wait_for_redis)
{
    duro_worker *w;
    duro_worker_opts o = {0};
    o.task_queue = "q";
    o.redis_url = "redis://127.0.0.1:1"; /* nobody listens there */
    cr_assert_eq(duro_worker_new(&w, &o), 0);
    cr_assert_eq(duro_worker_register_workflow(w, "t", wf_fn), 0);
    duro_worker_stop(w);
    cr_assert_eq(duro_worker_run(w), DURO_ECONN);
    cr_assert_str_eq(duro_worker_errstr(w), "stopped before Redis answered");
    duro_worker_free(w);
}

Test(worker_errors, errstr_keeps_the_replay_checker_report)
{
    duro_worker *w;
    char report[256];
    cr_assert_eq(duro_worker_new(&w, NULL), 0);
    cr_assert_eq(duro_replay_history(w, "[]", report, sizeof(report)),
                 DURO_EINVAL);
    cr_assert_str_eq(duro_worker_errstr(w), report);
    duro_worker_free(w);
}

/* ---- An activity attempt's outcome (actx.c) ---- */

TestSuite(actx, .timeout = 5);

static duro_actx *attempt(duro_worker *w, const char *opts)
{
    duro_actx *c = duro__actx_new(w);
    cr_assert_not_null(c);
    cr_assert_eq(c->state, DURO_ACTX_READ);
    c->seq = strdup("3");
    c->attempt = 2;
    c->opts = cJSON_Parse(opts);
    return c;
}

Test(actx, a_result_is_encoded_with_its_seq_and_attempt)
{
    duro_worker *w;
    cr_assert_eq(duro_worker_new(&w, NULL), 0);
    duro_actx *c = attempt(w, "{}");
    c->result = cJSON_CreateNumber(7);
    char *data, *failure;
    int64_t delay;
    cr_assert_eq(duro__actx_outcome(c, &data, &failure, &delay), 0);
    cr_assert_str_eq(data, "{\"seq\":3,\"attempt\":2,\"result\":7}");
    cr_assert_null(failure);
    cr_assert_eq(delay, -1);
    free(data);
    duro__actx_unref(c);
    duro_worker_free(w);
}

Test(actx, a_failure_listed_as_non_retryable_gets_no_retry)
{
    duro_worker *w;
    cr_assert_eq(duro_worker_new(&w, NULL), 0);
    duro_actx *c = attempt(w, "{\"retry\":{\"initialIntervalMs\":100,"
                              "\"nonRetryableErrorTypes\":[\"Bad\"]}}");
    duro_actx_fail(c, "Bad", false, "no %d", 1);
    char *data, *failure;
    int64_t delay;
    cr_assert_eq(duro__actx_outcome(c, &data, &failure, &delay), 0);
    cr_assert_eq(delay, -1, "listed in nonRetryableErrorTypes");
    cr_assert_not_null(strstr(failure, "\"type\":\"Bad\""), "%s", failure);
    cr_assert_not_null(strstr(data, "\"failure\":{"), "%s", data);
    free(data);
    free(failure);
    duro_actx_fail(c, "Other", false, "again");
    cr_assert_eq(duro__actx_outcome(c, &data, &failure, &delay), 0);
    cr_assert_gt(delay, 0, "another type is retried after a backoff");
    free(data);
    free(failure);
    duro__actx_unref(c);
    duro_worker_free(w);
}

Test(actx, a_result_over_the_payload_limit_becomes_a_failure)
{
    duro_worker *w;
    duro_worker_opts o = {0};
    o.max_payload = 8;
    cr_assert_eq(duro_worker_new(&w, &o), 0);
    duro_actx *c = attempt(w, "{}");
    c->result = cJSON_CreateString("longer than eight bytes");
    char *data, *failure;
    int64_t delay;
    cr_assert_eq(duro__actx_outcome(c, &data, &failure, &delay), 0);
    cr_assert(c->failed && c->non_retryable);
    cr_assert_not_null(strstr(failure, "PayloadTooLarge"), "%s", failure);
    cr_assert_eq(delay, -1);
    free(data);
    free(failure);
    duro__actx_unref(c);
    duro_worker_free(w);
}
