/* worker.h: the Duro SDK. Register workflows and activities, run a worker.
 *
 * A workflow is a plain C function run as a coroutine: it calls
 * duro_activity(), duro_sleep() and friends as if they blocked, and Duro
 * records each step in Redis so that any worker can rebuild the function's
 * state by replaying its history. Workflow code must therefore be
 * deterministic: it reads time, randomness and ids only through this SDK
 * (duro_now, duro_random, duro_uuid), never from the OS, and does I/O only
 * through activities.
 *
 * Activities are ordinary C functions that may block; they run in a thread
 * pool, at least once, and should be idempotent (duro_actx_idempotency_key).
 *
 * Memory: every cJSON the SDK hands to workflow code (inputs, results,
 * failures) belongs to the run and is freed with it; values workflow code
 * passes in are borrowed (copied before the call returns). A workflow's
 * return value and an activity's result are taken over by the SDK.
 */
#ifndef DURO_WORKER_H
#define DURO_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "duro/codec.h"
#include "duro/duration.h"
#include "duro/errno.h"
#include "duro/export.h"
#include "duro/retry.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct duro_worker duro_worker;
typedef struct duro_wf duro_wf;         /* a workflow run, in workflow code */
typedef struct duro_actx duro_actx;     /* an activity attempt */
typedef struct duro_future duro_future; /* a pending activity or timer */

/* ---- Workflow code ---------------------------------------------------- */

/* duro_workflow_fn is a workflow's body. It returns the result (taken over
 * by the SDK; NULL means JSON null) or the value of duro_fail(). */
typedef cJSON *(*duro_workflow_fn)(duro_wf *wf, const cJSON *input);

/* duro_activity_opts: zeroed fields take the defaults. */
typedef struct {
    const char *task_queue;       /* default: the workflow's task queue */
    int64_t start_to_close_ms;    /* default 60s: a dead worker's attempt is
                                     retried after this */
    int64_t schedule_to_close_ms; /* all attempts together; 0 = unlimited */
    int64_t heartbeat_timeout_ms; /* 0 = no heartbeat required */
    duro_retry_policy retry;      /* see retry.h for the defaults */
    /* priority: 1 (highest) .. 5 within the activity's task queue; 0: the
     * run's (its start's, 3 by default). Outside 0..5: the run's. */
    int priority;
    /* fairness_key (1..64 of [A-Za-z0-9._:-]) and its weight (1..1000; 0:
     * 1): the activity's tasks are handed out round-robin across keys by
     * weight within their queue. NULL: the run's key, if any. */
    const char *fairness_key;
    int fairness_weight;
    int64_t schedule_to_start_ms; /* each attempt, from queued to taken by a
                                     worker; 0 = unlimited. Timing out
                                     (SCHEDULE_TO_START) retries by policy */
    const char *concurrency_key;  /* NULL: none. At most the queue's
                                     `duro queue config --concurrency-per-key`
                                     attempts with one key run at once, across
                                     all workers ([A-Za-z0-9._:-]) */
} duro_activity_opts;

/* duro_result: the outcome of an activity or timer. value and failure
 * belong to the run. */
typedef struct {
    bool ok;              /* completed (timers: fired) */
    const cJSON *value;   /* the activity's result when ok (may be null) */
    const cJSON *failure; /* {"message","type","nonRetryable"} when !ok */
    const char *error;    /* failure's message, "" when ok */
    bool timed_out;       /* the activity timed out (after its retries) */
    bool canceled;        /* the workflow was canceled while waiting */
} duro_result;

/* duro_activity schedules activity `name` with `input` (borrowed; NULL =
 * null) and waits for its final outcome (after retries). opts may be NULL. */
DURO_EXPORT duro_result duro_activity(duro_wf *wf, const char *name,
                                      const cJSON *input,
                                      const duro_activity_opts *opts);

/* duro_activity_async schedules without waiting; the future belongs to the
 * run. Await it with duro_await, duro_await_all or duro_await_any. */
DURO_EXPORT duro_future *duro_activity_async(duro_wf *wf, const char *name,
                                             const cJSON *input,
                                             const duro_activity_opts *opts);

/* duro_timer starts a durable timer; its future is ok when it fired. */
DURO_EXPORT duro_future *duro_timer(duro_wf *wf, int64_t ms);
/* duro_timer_cancel cancels a pending timer (its future resolves !ok). */
DURO_EXPORT void duro_timer_cancel(duro_wf *wf, duro_future *timer);
/* duro_sleep waits durably: survives restarts, runs on any worker. */
DURO_EXPORT void duro_sleep(duro_wf *wf, int64_t ms);

/* duro_await waits for one future and returns its outcome. */
DURO_EXPORT duro_result duro_await(duro_wf *wf, duro_future *f);
/* duro_await_all waits until every future in fs is resolved. */
DURO_EXPORT void duro_await_all(duro_wf *wf, duro_future **fs, int n);
/* duro_await_any waits until one is resolved and returns its index (the
 * lowest resolved index). */
DURO_EXPORT int duro_await_any(duro_wf *wf, duro_future **fs, int n);
DURO_EXPORT bool duro_future_ready(const duro_future *f);
/* duro_future_result: the outcome of a resolved future. */
DURO_EXPORT duro_result duro_future_result(const duro_future *f);

/* duro_now: the workflow's clock (ms since the epoch), deterministic. */
DURO_EXPORT int64_t duro_now(duro_wf *wf);
/* duro_random: a deterministic 64-bit pseudo-random number. */
DURO_EXPORT uint64_t duro_random(duro_wf *wf);
/* duro_uuid: a deterministic v4 uuid string, owned by the run. */
DURO_EXPORT const char *duro_uuid(duro_wf *wf);

/* ---- Versioning and side effects ----------------------------------- */

#define DURO_DEFAULT_VERSION (-1)

/* duro_get_version lets changed workflow code run histories recorded by the
 * old code. Guard the change with it:
 *     if (duro_get_version(wf, "add-fraud-check", DURO_DEFAULT_VERSION, 1) ==
 * 1) duro_activity(wf, "fraudCheck", ...); New runs record max_supported as a
 * marker and get it; a history recorded before the change has no marker and
 * gets DURO_DEFAULT_VERSION; a history with a marker gets its recorded version.
 * A version outside [min_supported, max_supported] fails the workflow task
 * (raise min_supported once no old run is left). The same change id returns the
 * same value for the rest of the run. */
DURO_EXPORT int duro_get_version(duro_wf *wf, const char *change_id,
                                 int min_supported, int max_supported);

/* ---- Search attributes --------------------------------------------- */

/* duro_upsert_search_attributes sets custom search attributes of this run
 * ({"OrderState": "Paid"}; a null value removes one), so that list
 * queries find it (duro workflow list --query "OrderState='Paid'"). It is
 * recorded in the history (UpsertWorkflowSearchAttributes) when the
 * workflow task commits, and applied to the run's visibility row in that
 * same step; a replay does not apply it again. The names must be
 * registered (duro operator search-attribute create) and each value of
 * its type: when one is not, the workflow task fails (retried with
 * backoff, the reason shown by describe) until it is registered. attrs is
 * copied. Returns 0, or DURO_EINVAL when attrs is not a non-empty object
 * of strings, numbers, booleans, nulls or arrays of strings. */
DURO_EXPORT int duro_upsert_search_attributes(duro_wf *wf, const cJSON *attrs);

/* duro_side_effect_fn computes a non-deterministic value (a random id, the
 * host name): it runs once, its result is recorded. */
typedef cJSON *(*duro_side_effect_fn)(void *arg);

/* duro_side_effect runs fn the first time and records its value; replays
 * return the recorded value without running fn. The value belongs to the
 * run. Use it for small values only; anything that may fail or take time
 * is an activity. */
DURO_EXPORT const cJSON *duro_side_effect(duro_wf *wf, duro_side_effect_fn fn,
                                          void *arg);

/* duro_fail records an application failure for the workflow and returns
 * NULL, so that `return duro_fail(wf, ...)` ends it as FAILED. type may be
 * NULL ("ApplicationError"). */
DURO_EXPORT cJSON *duro_fail(duro_wf *wf, const char *type, const char *fmt,
                             ...) __attribute__((format(printf, 3, 4)));

/* duro_keep hands v to the run (freed with it) and returns v. */
DURO_EXPORT cJSON *duro_keep(duro_wf *wf, cJSON *v);
/* duro_strdup copies s into run-owned memory. */
DURO_EXPORT char *duro_strdup(duro_wf *wf, const char *s);

DURO_EXPORT const char *duro_workflow_id(const duro_wf *wf);
DURO_EXPORT const char *duro_run_id(const duro_wf *wf);
/* duro_is_replaying: true while the code re-runs recorded steps. */
DURO_EXPORT bool duro_is_replaying(const duro_wf *wf);
/* duro_wf_log logs a line tagged with the workflow id, not during replay. */
DURO_EXPORT void duro_wf_log(duro_wf *wf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- Signals, queries, conditions, cancellation ----------------------- */

/* duro_signal_fn handles a signal inside the workflow: it runs in history
 * order, before the code it unblocks resumes, and must not block (no
 * duro_activity/duro_sleep; change state, the code reacts). input belongs to
 * the run. */
typedef void (*duro_signal_fn)(duro_wf *wf, const cJSON *input, void *arg);

/* duro_query_fn answers a query from the workflow's state. It must have no
 * side effects and not block; it returns JSON taken over by the SDK. */
typedef cJSON *(*duro_query_fn)(duro_wf *wf, const cJSON *input, void *arg);

/* duro_predicate_fn: a condition over workflow state, without side effects. */
typedef bool (*duro_predicate_fn)(void *arg);

/* duro_on_signal registers the handler of signal `name`. Signals that came
 * before the handler was registered are delivered to it now, in order. */
DURO_EXPORT void duro_on_signal(duro_wf *wf, const char *name,
                                duro_signal_fn fn, void *arg);
/* duro_on_query registers the handler of query `name`. State a query reads
 * after the workflow has returned must outlive the workflow function: keep
 * it in duro_alloc() memory, not on the coroutine's stack. */
DURO_EXPORT void duro_on_query(duro_wf *wf, const char *name, duro_query_fn fn,
                               void *arg);

/* duro_condition waits until pred(arg) holds and returns true, or returns
 * false when timeout_ms passes first (timeout_ms < 0: no timeout) or the
 * workflow is canceled. The predicate is re-evaluated after every event the
 * workflow applies. A condition met before its timeout cancels its timer. */
DURO_EXPORT bool duro_condition(duro_wf *wf, duro_predicate_fn pred, void *arg,
                                int64_t timeout_ms);

/* duro_is_canceled: cancellation was requested. When it arrives, whatever
 * the code was waiting on (activities, timers, conditions) returns with
 * canceled set; calls made after that run normally, so cleanup (a refund)
 * can follow. A canceled workflow that returns closes as CANCELED, unless it
 * fails with duro_fail. */
DURO_EXPORT bool duro_is_canceled(const duro_wf *wf);

/* duro_alloc returns zeroed memory owned by the run (freed with it). */
DURO_EXPORT void *duro_alloc(duro_wf *wf, size_t size);

/* ---- Sagas ------------------------------------------------------------ */

/* duro_saga: the compensations of a sequence of steps (Temporal's Saga).
 * After each step that succeeded, register the activity that undoes it;
 * when a later step fails, duro_saga_compensate runs them, newest first:
 *
 *     duro_saga *s = duro_saga_new(wf, NULL);
 *     if (!duro_activity(wf, "bookFlight", in, NULL).ok) goto undo;
 *     duro_saga_add(s, "cancelFlight", in, NULL);
 *     ...
 *     undo: duro_saga_compensate(s);
 *
 * Each compensation is an ordinary activity with its own options and retry
 * policy. Compensations run in a detached scope: a cancellation of the
 * workflow, before or during duro_saga_compensate, cancels none of them
 * (as Temporal runs them in a disconnected cancellation scope). The saga
 * and what it copied belong to the run. */
typedef struct duro_saga duro_saga;

/* duro_saga_opts: zeroed fields take the defaults. */
typedef struct {
    bool parallel;            /* run every compensation at once (scheduled
                                 newest first); default: one at a time,
                                 newest first */
    bool continue_with_error; /* one at a time: go on with the older ones
                                 after a compensation failed (after its
                                 retries); default: stop there */
} duro_saga_opts;

/* duro_saga_new starts an empty saga (opts copied; NULL = defaults). */
DURO_EXPORT duro_saga *duro_saga_new(duro_wf *wf, const duro_saga_opts *opts);
/* duro_saga_add registers compensation `activity` with `input` (copied;
 * NULL = null) and `opts` (copied, strings too; NULL = defaults). Returns 0,
 * or DURO_EINVAL when s or activity is NULL. */
DURO_EXPORT int duro_saga_add(duro_saga *s, const char *activity,
                              const cJSON *input,
                              const duro_activity_opts *opts);
/* duro_saga_compensate runs the registered compensations (see
 * duro_saga_opts) and forgets them: a second call runs nothing. Returns 0
 * when all completed, else DURO_EFAILED with the first failure's message
 * in duro_saga_error. */
DURO_EXPORT int duro_saga_compensate(duro_saga *s);
/* duro_saga_error: "<activity>: <message>" of the first compensation that
 * failed, or "" (owned by the run). */
DURO_EXPORT const char *duro_saga_error(const duro_saga *s);
/* ---- Continue-as-new -------------------------------------------------- */

/* duro_continue_opts: zero it, then set what the new run changes. */
typedef struct {
    const char *type;        /* NULL: this workflow's type */
    const char *task_queue;  /* NULL: this run's task queue */
    int64_t run_timeout_ms;  /* the new run's run timeout; 0: this run's */
    int64_t task_timeout_ms; /* workflow task timeout; 0: this run's */
} duro_continue_opts;

/* duro_continue_as_new ends this run and starts a new run of the same
 * workflow id with `input` (copied; NULL = null), atomically, as
 * Temporal's ContinueAsNew: `return duro_continue_as_new(wf, in, NULL);`.
 * It returns NULL; the workflow function must return right after it. The
 * run closes as CONTINUED_AS_NEW; the new one starts with a fresh history,
 * the same memo, search attributes and execution timeout deadline (the
 * execution timeout spans the whole chain), and receives the signals that
 * arrived while this run's last task ran. Clients that name no run
 * (result, describe, history, query, signal) follow the chain to the
 * latest run. opts may be NULL. */
DURO_EXPORT cJSON *duro_continue_as_new(duro_wf *wf, const cJSON *input,
                                        const duro_continue_opts *opts);

/* ---- Activity code ---------------------------------------------------- */

/* duro_activity_fn runs one attempt on a pool thread. It returns the result
 * (taken over by the SDK; NULL = null), or calls duro_actx_fail and returns
 * NULL. input belongs to the SDK. */
typedef cJSON *(*duro_activity_fn)(duro_actx *ctx, const cJSON *input,
                                   void *arg);

/* duro_actx_fail marks the attempt failed. non_retryable stops retries;
 * so does a type listed in the activity's retry policy. */
DURO_EXPORT void duro_actx_fail(duro_actx *ctx, const char *type,
                                bool non_retryable, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
DURO_EXPORT int duro_actx_attempt(const duro_actx *ctx);
/* duro_actx_idempotency_key: "<workflowId>/<runId>/<seq>", the same for
 * every attempt of one activity call and different in every run, so a
 * workflow id that is reused starts activities that run again. */
DURO_EXPORT const char *duro_actx_idempotency_key(const duro_actx *ctx);
DURO_EXPORT const char *duro_actx_workflow_id(const duro_actx *ctx);
/* duro_actx_run_id: the run of the workflow that scheduled the activity. */
DURO_EXPORT const char *duro_actx_run_id(const duro_actx *ctx);
/* duro_actx_seq: the activity's sequence number in its run (1, 2, ...). */
DURO_EXPORT int64_t duro_actx_seq(const duro_actx *ctx);
DURO_EXPORT const char *duro_actx_name(const duro_actx *ctx);
/* duro_actx_heartbeat reports progress (details borrowed, may be NULL);
 * cheap to call often: the SDK coalesces. */
DURO_EXPORT void duro_actx_heartbeat(duro_actx *ctx, const cJSON *details);
/* duro_actx_heartbeat_details: the last details a previous attempt
 * reported (resume from there), or NULL. Owned by the SDK. */
DURO_EXPORT const cJSON *duro_actx_heartbeat_details(const duro_actx *ctx);
/* duro_actx_is_canceled: the attempt is no longer wanted (timed out,
 * workflow closed); stop early. */
DURO_EXPORT bool duro_actx_is_canceled(const duro_actx *ctx);
DURO_EXPORT void duro_actx_log(duro_actx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- Local activities -------------------------------------------------- */

/* DURO_LOCAL_RETRY_THRESHOLD_MS: the default of
 * duro_local_activity_opts.local_retry_threshold_ms. */
#define DURO_LOCAL_RETRY_THRESHOLD_MS 1000

/* duro_local_activity_opts: zeroed fields take the defaults. */
typedef struct {
    duro_retry_policy retry; /* as an activity's (retry.h) */
    /* local_retry_threshold_ms: 1s. Failed attempts are retried at once,
     * in the same workflow task, while the attempts and their backoff
     * fit in this time; a retry that does not fit is recorded and waited
     * for with a durable timer, and runs in a later workflow task. Keep
     * it well under the workflow task timeout (10s by default). */
    int64_t local_retry_threshold_ms;
} duro_local_activity_opts;

/* duro_local_activity runs activity `name` (registered on this worker
 * with duro_worker_register_activity) inside the current workflow task,
 * on a worker thread while the task waits (the worker's loop goes on), and
 * returns its final outcome; its result is recorded as a marker
 * (MarkerRecorded) committed with the task, and a replay returns it
 * without calling the function again. For short calls where the activity
 * queue's round trip costs more than the call: the task waits for it (an
 * attempt that ends more than 8s after the task began fails the task,
 * which is retried), it gets no task token and its heartbeats are
 * ignored. An activity not registered on
 * the worker fails the workflow task (retried, as for a non-determinism
 * error). A cancellation that comes while a retry waits on its timer ends
 * the call with canceled set. value and failure belong to the run; opts
 * may be NULL. */
DURO_EXPORT duro_result
duro_local_activity(duro_wf *wf, const char *name, const cJSON *input,
                    const duro_local_activity_opts *opts);

/* ---- Asynchronous activity completion --------------------------------- */

/* duro_actx_complete_later tells the worker that this attempt completes
 * outside its function: `return duro_actx_complete_later(ctx);` after
 * handing duro_actx_task_token(ctx) (or the workflow id and
 * duro_actx_seq) to the system that will finish it with
 * duro_client_activity_complete / _fail or `duro activity complete`.
 * The attempt's start-to-close and heartbeat timeouts still apply: one
 * that times out is retried by its policy, and the old attempt's token is
 * then refused as stale (DURO_ESTALE). Returns NULL. */
DURO_EXPORT cJSON *duro_actx_complete_later(duro_actx *ctx);

/* duro_actx_task_token: an opaque token naming this attempt (printable,
 * owned by the SDK, valid while the function runs; copy it). NULL for a
 * local activity, or when out of memory. */
DURO_EXPORT const char *duro_actx_task_token(duro_actx *ctx);
/* ---- Child workflows and other workflows ------------------------------ */

/* duro_parent_close_policy: what happens to a child still running when its
 * parent closes (completes, fails, is canceled, terminated or times out):
 * Temporal's ParentClosePolicy. */
typedef enum {
    DURO_PARENT_CLOSE_TERMINATE = 0,  /* the default: the child is terminated */
    DURO_PARENT_CLOSE_REQUEST_CANCEL, /* the child gets a cancel request */
    DURO_PARENT_CLOSE_ABANDON,        /* the child runs on */
} duro_parent_close_policy;

/* duro_child_opts: how a child starts; zeroed = defaults. */
typedef struct {
    const char *workflow_id;      /* default "<parent id>/<seq>" */
    const char *task_queue;       /* default the parent's */
    int64_t execution_timeout_ms; /* 0 = none */
    int64_t task_timeout_ms;      /* workflow task timeout; 0 = 10s */
    /* AllowDuplicate (default), AllowDuplicateFailedOnly or RejectDuplicate;
     * a running workflow with the id always refuses the start */
    const char *id_reuse_policy;
    duro_parent_close_policy parent_close_policy;
} duro_child_opts;

/* duro_child_async starts child workflow `type` with `input` (borrowed;
 * NULL = null): the start is recorded with the parent's next commit and
 * carried to the child's partition (docs/internals.md, "Crossing
 * partitions"). The future resolves with the child's outcome: ok with its
 * result, or !ok with its failure (failure type "ChildWorkflowFailed",
 * "Canceled", "Terminated", "TimedOut", or "WorkflowAlreadyStarted" when
 * the start was refused). opts may be NULL. */
DURO_EXPORT duro_future *duro_child_async(duro_wf *wf, const char *type,
                                          const cJSON *input,
                                          const duro_child_opts *opts);
/* duro_child starts a child and waits for its outcome. */
DURO_EXPORT duro_result duro_child(duro_wf *wf, const char *type,
                                   const cJSON *input,
                                   const duro_child_opts *opts);

/* duro_signal_external_async sends signal `name` with `input` (borrowed)
 * to workflow `workflow_id` (run_id NULL or "": its current run). The
 * future resolves ok when the signal was delivered, !ok with failure type
 * "NotFound" when no such workflow is running. */
DURO_EXPORT duro_future *duro_signal_external_async(duro_wf *wf,
                                                    const char *workflow_id,
                                                    const char *run_id,
                                                    const char *name,
                                                    const cJSON *input);
DURO_EXPORT duro_result duro_signal_external(duro_wf *wf,
                                             const char *workflow_id,
                                             const char *run_id,
                                             const char *name,
                                             const cJSON *input);
/* duro_cancel_external requests the cancellation of another workflow, as
 * `duro workflow cancel` does: ok when requested, !ok ("NotFound") when no
 * such workflow is running. */
DURO_EXPORT duro_future *duro_cancel_external_async(duro_wf *wf,
                                                    const char *workflow_id,
                                                    const char *run_id);
DURO_EXPORT duro_result duro_cancel_external(duro_wf *wf,
                                             const char *workflow_id,
                                             const char *run_id);

/* ---- The worker ------------------------------------------------------- */

/* duro_worker_opts: zero fields take the defaults shown. */
typedef struct {
    const char *redis_url;     /* $DURO_REDIS_URL or redis://127.0.0.1:6379 */
    const char *task_queue;    /* required */
    int activity_threads;      /* 8: activities running at once */
    int max_workflow_tasks;    /* 256: workflow tasks in progress at once */
    int cache_size;            /* 10000: runs kept in memory (LRU) */
    int partitions;            /* the namespace's layout; 0: duro:meta's,
                                  16 when Redis has none (redis.h) */
    size_t max_payload;        /* 2 MiB: larger inputs/results are errors */
    int64_t shutdown_grace_ms; /* 30s for in-flight activities on SIGTERM */
    const char *identity;      /* consumer name; default host-pid-random */
    const char *metrics_addr;  /* "127.0.0.1:9464": duro_worker_run serves
                                  /metrics, /healthz and /readyz there while
                                  it runs; NULL: no HTTP server */
    const char *log_level;     /* debug|info|warn|error, set for the whole
                                  process by duro_worker_new; NULL: as it is
                                  (info, or $DURO_LOG_LEVEL after
                                  duro_log_init) */
    /* workflow_stack_size: 256 KiB, each workflow's coroutine stack
     * (16 KiB .. 1 GiB). Its locals, the frames of everything it calls
     * (libc's printf takes several KiB) and the SDK's own frames count
     * against it; only the pages touched cost memory. Running off it fails
     * the workflow task with StackOverflow (see README). */
    size_t workflow_stack_size;
    int64_t redis_stall_timeout_ms; /* 5s: Redis not answering a PING this
                                       long makes the worker not ready */
    /* codec: applied to every payload this worker writes to Redis and
     * reads from it (codec.h); borrowed, must outlive the worker. NULL:
     * payloads stored as they are (duro_worker_main sets the built-in
     * codec from $DURO_CODEC_KEY_FILE or --codec-key-file). */
    const duro_codec *codec;
    /* sticky_schedule_to_start_ms: 5s. A run this worker keeps in its
     * cache gets its next workflow tasks through the worker's own stream
     * first; one not taken within this time goes to the shared queue (any
     * worker). < 0: no sticky execution (every task goes to the shared
     * queue). See README, "How it works". */
    int64_t sticky_schedule_to_start_ms;
    const char *namespace_; /* $DURO_NAMESPACE, else "default":
                               the namespace whose tasks it runs */
    /* eager_activities: 0, on: a commit of this worker that schedules
     * activities on its own queue takes them for this worker at once (one
     * that finds no thread free within $DURO_ACTIVITY_WAIT_MS, 200 ms,
     * goes back to the shared queue; docs/internals.md, "Eager activity
     * dispatch"); < 0: off, as is $DURO_EAGER_ACTIVITIES=0. */
    int eager_activities;
    /* sched_batch: 0, on: duro_worker_run's thread (the worker's loop) and
     * the activity threads run under SCHED_BATCH (no wake-up preemption,
     * nice unchanged), so that a worker thread woken by a reply does not
     * take the core from a running redis-server on the same machine
     * (docs/internals.md, "Worker threads' scheduling"); the calling
     * thread's policy is put back when duro_worker_run returns. < 0: off,
     * as is $DURO_SCHED_BATCH=0. */
    int sched_batch;
    /* loop_stall_timeout_ms: 60s. With metrics_addr, /healthz answers 503
     * once the worker's loop has not turned this long: workflow code that
     * loops without yielding holds the loop (C code cannot be preempted),
     * and only a restart frees the worker; its task meanwhile moves to
     * another worker after the workflow task timeout (README). */
    int64_t loop_stall_timeout_ms;
} duro_worker_opts;

/* DURO_STICKY_SCHEDULE_TO_START_MS: the default of
 * duro_worker_opts.sticky_schedule_to_start_ms. */
#define DURO_STICKY_SCHEDULE_TO_START_MS 5000

/* duro_worker_new validates opts (copied; NULL = all defaults) and
 * allocates; nothing connects yet. Returns 0 or DURO_EINVAL (an unknown
 * log level) / DURO_ENOMEM. Free with duro_worker_free. */
DURO_EXPORT int duro_worker_new(duro_worker **out,
                                const duro_worker_opts *opts);
DURO_EXPORT int duro_worker_register_workflow(duro_worker *w, const char *type,
                                              duro_workflow_fn fn);
DURO_EXPORT int duro_worker_register_activity(duro_worker *w, const char *name,
                                              duro_activity_fn fn, void *arg);
/* duro_worker_run connects (retrying while Redis is away) and processes
 * tasks until duro_worker_stop or SIGTERM/SIGINT. Stopping stops claiming,
 * hands back activities queued here but not begun, and gives running ones
 * the shutdown grace to finish. Returns 0 after a clean stop;
 * DURO_ETIMEDOUT when activities were still running after the grace (they
 * were handed back to other workers, their threads still run) or Redis did
 * not answer the stop for redis_stall_timeout_ms after it: the caller
 * should exit the process (duro_worker_free then does nothing); or
 * another negative DURO_E* when it could not start. */
DURO_EXPORT int duro_worker_run(duro_worker *w);
/* duro_worker_redis_url: the Redis URL the worker uses (after flags and
 * environment), for activities that keep their own state in Redis. */
DURO_EXPORT const char *duro_worker_redis_url(const duro_worker *w);

/* duro_worker_errstr: the message of the last error a call on w returned
 * (duro_worker_run, duro_worker_register_*, duro_replay_history), as
 * hiredis keeps errstr in its context; "" when none. Owned by w, valid
 * until the next call on w. */
DURO_EXPORT const char *duro_worker_errstr(const duro_worker *w);

/* duro_worker_stop asks a running worker to stop; thread-safe and safe to
 * call before duro_worker_run (the run then stops at once), but not after
 * duro_worker_free. */
DURO_EXPORT void duro_worker_stop(duro_worker *w);
DURO_EXPORT void duro_worker_free(duro_worker *w);

/* duro_replay_history replays a history exported with
 * `duro workflow history --workflow-id ID -o json > h.json` against the
 * workflows registered on w (no Redis involved). Returns 0 when the code
 * reproduces every recorded command, DURO_ENONDET when it does not, with
 * the event id and the expected vs produced command in report, or another
 * DURO_E* for an unreadable history. Use it in CI before deploying changed
 * workflow code; every worker built on duro_worker_main offers it as
 * `--replay h.json`. */
DURO_EXPORT int duro_replay_history(duro_worker *w, const char *history_json,
                                    char *report, size_t size);

/* duro_worker_main is a ready-made main(): it reads the DURO_* environment
 * variables, then the standard flags (--redis, --task-queue,
 * --activity-threads, --max-workflow-tasks, --cache-size, --shutdown-grace,
 * --identity, --metrics-addr, --log-level, --workflow-stack-size,
 * --partitions, --redis-stall-timeout, --loop-stall-timeout,
 * --codec-key-file FILE,
 * --replay FILE, --help), each
 * overriding the matching duro_worker_opts field w was created with; it
 * registers nothing, runs the worker and returns the process exit code
 * (2 for bad flags). A stop that had to leave activity threads or Redis
 * calls running (duro_worker_run's DURO_ETIMEDOUT) ends the process
 * itself, with code 0, as those threads would race the exit. --help names
 * the program after argv[0]. Call after registering. */
DURO_EXPORT int duro_worker_main(duro_worker *w, int argc, char **argv);

/* ---- Updates ----------------------------------------------------------- */

/* duro_update_fn handles an accepted update (Temporal's update handler):
 * it runs in history order, like a signal handler, may change the
 * workflow's state, and returns the caller's result (taken over by the
 * SDK; NULL = null), or calls duro_update_fail. It must not block (no
 * duro_activity, duro_sleep, duro_condition): a handler that needs an
 * activity changes state the workflow code acts on instead. input belongs
 * to the run. */
typedef cJSON *(*duro_update_fn)(duro_wf *wf, const cJSON *input, void *arg);

/* duro_update_validator_fn decides whether to accept an update, before
 * anything is recorded: NULL accepts; a message (copied) rejects it, and
 * the caller gets that message with nothing written to the history. It
 * must not change the workflow's state: it runs on a worker's view of the
 * run when the update arrives (not again when the handler runs). */
typedef const char *(*duro_update_validator_fn)(duro_wf *wf, const cJSON *input,
                                                void *arg);

/* duro_on_update registers the handler of update `name` and its validator
 * (NULL: none). An update is accepted only when its handler is registered
 * at the time it arrives. Re-registering replaces both. */
DURO_EXPORT void duro_on_update(duro_wf *wf, const char *name,
                                duro_update_fn fn,
                                duro_update_validator_fn validate, void *arg);

/* duro_update_fail, called in an update handler, completes the update with
 * an error (the caller's result; the workflow goes on). Returns NULL, for
 * `return duro_update_fail(wf, "...")`. */
DURO_EXPORT cJSON *duro_update_fail(duro_wf *wf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* ---- Where is it waiting? (workflow stack) ---------------------------- */

/* `duro workflow stack --workflow-id ID` (duro_client_stack) asks a worker,
 * as a query named "duro:stack", what a running workflow is blocked in: the
 * SDK call and the file:line and function of the workflow code that made
 * it, and for each future it waits for (activities, timers) the call that
 * started it. The SDK learns the call site from the macros below, which
 * wrap its calls under their own names: each records __FILE__, __LINE__
 * and __func__ in a thread-local before the call (a few stores), so
 * workflow code needs no change and the functions keep their names and
 * addresses. Define DURO_NO_CALL_SITES before including this header to
 * call the functions directly (their sites then show as unknown). Query
 * names starting with "duro:" are the SDK's. */

/* duro__at records the call site of the SDK call that follows (the
 * macros' helper; not for direct use). file and func must be string
 * literals (they are kept as pointers). */
DURO_EXPORT void duro__at(const char *file, int line, const char *func);

#ifndef DURO_NO_CALL_SITES
#define DURO__AT_(call) (duro__at(__FILE__, __LINE__, __func__), call)
#define duro_activity(...) DURO__AT_(duro_activity(__VA_ARGS__))
#define duro_activity_async(...) DURO__AT_(duro_activity_async(__VA_ARGS__))
#define duro_timer(...) DURO__AT_(duro_timer(__VA_ARGS__))
#define duro_sleep(...) DURO__AT_(duro_sleep(__VA_ARGS__))
#define duro_await(...) DURO__AT_(duro_await(__VA_ARGS__))
#define duro_await_all(...) DURO__AT_(duro_await_all(__VA_ARGS__))
#define duro_await_any(...) DURO__AT_(duro_await_any(__VA_ARGS__))
#define duro_condition(...) DURO__AT_(duro_condition(__VA_ARGS__))
#define duro_saga_compensate(...) DURO__AT_(duro_saga_compensate(__VA_ARGS__))
#define duro_child(...) DURO__AT_(duro_child(__VA_ARGS__))
#define duro_child_async(...) DURO__AT_(duro_child_async(__VA_ARGS__))
#define duro_signal_external(...) DURO__AT_(duro_signal_external(__VA_ARGS__))
#define duro_signal_external_async(...)                                        \
    DURO__AT_(duro_signal_external_async(__VA_ARGS__))
#define duro_cancel_external(...) DURO__AT_(duro_cancel_external(__VA_ARGS__))
#define duro_cancel_external_async(...)                                        \
    DURO__AT_(duro_cancel_external_async(__VA_ARGS__))
#define duro_local_activity(...) DURO__AT_(duro_local_activity(__VA_ARGS__))
#endif

#ifdef __cplusplus
}
#endif
#endif
