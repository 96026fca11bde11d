/* run.h: a workflow run in memory: its coroutine, futures and commands.
 *
 * A run is advanced by applying history events to it (engine.c). Inbound
 * events (ActivityCompleted, TimerFired, ...) resolve futures; at each
 * WorkflowTaskCompleted the code runs until it blocks again, and the
 * commands it issues must match the command events recorded after that
 * WorkflowTaskCompleted. After the last recorded event the code runs once
 * more and its new commands are committed by the worker.
 */
#ifndef DURO_RUN_H
#define DURO_RUN_H

#include <stdbool.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "duro/history.h"
#include "duro/worker.h"
#include "coro.h"

/* FUT_CHILD: a child workflow's result (sdk_child.c); FUT_EXTERNAL: the
 * outcome of a signal or cancel sent to another workflow
 * (sdk_external.c). */
typedef enum {
    FUT_ACTIVITY = 0,
    FUT_TIMER = 1,
    FUT_CHILD = 2,
    FUT_EXTERNAL = 3,
    FUT_KINDS = 4
} fut_kind;

/* duro__site: where workflow code called the SDK (stack.c): __FILE__,
 * __LINE__ and __func__ of the call, file NULL when unknown. */
typedef struct {
    const char *file, *func;
    int line;
} duro__site;

struct duro_future {
    fut_kind kind;
    int64_t seq;
    char *queue; /* activity task queue, NULL for the workflow's own */
    bool resolved;
    bool detached;    /* made in a detached scope: a cancellation spares it */
    const char *name; /* activity name (run-owned), NULL for a timer */
    duro__site site;  /* the call that made it */
    duro_result res;
};

typedef enum {
    CMD_ACTIVITY,
    CMD_TIMER,
    CMD_CANCEL_TIMER,
    CMD_MARKER,
    CMD_COMPLETE,
    CMD_FAIL,
    CMD_CANCEL_ACTIVITY,
    CMD_CANCEL_WORKFLOW,
    CMD_UPSERT_SA,
    CMD_CONTINUE_AS_NEW, /* name: type, queue, input, value: the new run id,
                            ms: run timeout, stc_ms: task timeout */
    CMD_UPDATE_DONE,     /* name: the update id; value: the caller's outcome */
    CMD_CHILD,           /* start a child workflow (sdk_child.c) */
    CMD_SIGNAL_EXT,      /* signal another workflow (sdk_external.c) */
    CMD_CANCEL_EXT,      /* request another workflow's cancellation */
} cmd_kind;

/* duro__cmd: one command issued by workflow code, with the event data it
 * records. Strings are owned by the command. */
typedef struct duro__cmd {
    cmd_kind kind;
    int64_t seq;
    char *name;  /* activity name */
    char *data;  /* event data JSON */
    char *queue; /* activity task queue */
    char *input; /* activity input JSON */
    char *opts;  /* activity options JSON */
    char *value; /* complete: result JSON; fail: failure JSON */
    int64_t ms;  /* timer duration */
    int64_t stc_ms, hbt_ms, s2c_ms;
    char *id;     /* continue-as-new: the workflow id (its new run's keys) */
    char *target; /* child / external: the other workflow's id */
    char *target_run;         /* external: its run ("" = the current one) */
    char *policy;             /* child: id reuse policy */
    const char *close_policy; /* child: Terminate|RequestCancel|Abandon */
    struct duro__cmd *next;
} duro__cmd;

/* seg_ev: a recorded command event of the task being replayed. The code
 * of that task runs before these are matched, so that duro_get_version and
 * duro_side_effect can read their markers (name is the activity name or
 * the marker key "version:<changeId>" / "sideEffect:<seq>"). */
typedef struct {
    int64_t id;
    duro_event_type type;
    int64_t seq;
    char *name;
    cJSON *data; /* markers only */
} seg_ev;

/* version_choice: what duro_get_version decided for a change id. */
typedef struct version_choice {
    char *change_id;
    int version;
    struct version_choice *next;
} version_choice;

/* wait_kind: what the coroutine is blocked on. WAIT_LOCAL: a local
 * activity running on the worker's local pool (sdk_local.c). */
typedef enum { WAIT_NONE, WAIT_ALL, WAIT_ANY, WAIT_COND, WAIT_LOCAL } wait_kind;

/* handler: a registered signal or query handler. */
typedef struct handler {
    char *name;
    void *fn;
    void *arg;
    struct handler *next;
} handler;

/* pending_signal: a signal that came before its handler was registered. */
typedef struct pending_signal {
    char *name;
    const cJSON *input; /* run-owned */
    struct pending_signal *next;
} pending_signal;

/* update_handler: a registered update handler and its validator (NULL:
 * every request is accepted), sdk_update.c. */
typedef struct update_handler {
    char *name;
    duro_update_fn fn;
    duro_update_validator_fn validate;
    void *arg;
    struct update_handler *next;
} update_handler;

/* pending_update: an accepted update applied before its handler was
 * registered (the run's first task): handled at registration. */
typedef struct pending_update {
    char *id, *name;
    const cJSON *input; /* run-owned */
    struct pending_update *next;
} pending_update;

/* futures_vec: a run's futures of one kind, indexed by seq - 1. */
typedef struct {
    duro_future **v;
    int64_t n, cap;
} futures_vec;

struct duro_wf {
    char *id, *run, *type, *queue;
    duro_workflow_fn fn;
    const duro_codec *codec;    /* the worker's: payloads the code emits */
    struct duro_worker *worker; /* its activities, for local activities */
    cJSON *input;
    duro__coro *coro;
    size_t stack_size; /* the coroutine's; 0 = DURO__CORO_STACK_DEFAULT */
    bool started, done;
    cJSON *result;  /* the code's return value */
    char *failure;  /* set by duro_fail: failure JSON */
    bool continued; /* duro_continue_as_new issued the closing command */

    int64_t applied; /* id of the last event applied */
    int64_t now;     /* workflow clock */
    uint64_t rng;
    bool replaying;

    int64_t seq[FUT_KINDS]; /* last seq issued per kind */
    int64_t marker_seq;     /* side effects */
    futures_vec futs[FUT_KINDS];

    wait_kind wait;
    duro_future **wait_futs;
    int wait_n;
    duro_predicate_fn cond_fn;
    void *cond_arg;
    bool cond_met;        /* latched once true after some event */
    bool wait_cancelable; /* a cancel arriving now ends the wait */
    /* the SDK call the code is blocked in and where it was called from
     * (the `duro:stack` query); outer_call names an SDK call that blocks
     * through others (duro_saga_compensate) */
    const char *wait_call, *outer_call;
    duro__site wait_site;

    handler *signals, *queries;
    update_handler *updates;
    pending_update *pending_updates;
    char *update_error; /* set by duro_update_fail in a running handler */
    /* runs an accepted update (set by duro_on_update, sdk_update.c; NULL
     * until then: the engine keeps it in pending_updates): a callback, so
     * that the engine does not call up into the SDK files */
    void (*update_accepted)(struct duro_wf *wf, const char *id,
                            const char *name, const cJSON *input);
    pending_signal *pending_signals, *pending_tail;
    bool cancel_requested;
    bool cancel_pending; /* cancel pending futures at the next code run */
    /* detached: > 0 while the code runs in a detached scope (a saga's
     * compensations): what it starts and waits for there is not canceled
     * by a cancellation of the workflow (Temporal's disconnected scope) */
    int detached;

    duro__cmd *cmds, *cmds_tail; /* issued, not yet matched or committed */
    int ncmds;

    /* the recorded task being replayed: its WorkflowTaskCompleted time and
     * the command events after it, matched once its code has run */
    bool seg_open;
    seg_ev *seg;
    int seg_n, seg_cap;
    version_choice *versions;

    /* inbound events read but not applied yet: they are applied when the
     * task that processes them starts, with that task's clock */
    duro_event *inbound;
    int ninbound, capinbound;
    char *nondet; /* non-determinism message, once detected */

    cJSON **owned; /* run-owned JSON values */
    int nowned, capowned;
    char **strs; /* run-owned allocations (strdup, alloc) */
    int nstrs, capstrs;

    /* set while the run is unwound before being freed: blocking calls
     * return at once so the code runs its own cleanup to the end */
    bool unwinding;
    int unwind_calls;

    /* worker bookkeeping: cache links, the task in progress */
    struct duro_wf *lru_prev, *lru_next, *hash_next;
    bool busy;
    bool behind; /* the history has events past `applied` (a
                    workflow task is queued): no eager commit */
    struct duro__run_waiter *pending_task; /* a task that came while busy */
    struct duro__run_waiter *held; /* activity completions waiting for !busy */

    /* local activities (sdk_local.c): how this code run calls them, set
     * by whoever advances the run live. INLINE (0): on the calling
     * thread, as the call comes (no worker pool to wait on); POOL: on the
     * local pool while the code waits (WAIT_LOCAL) and local_resume(wf,
     * local_arg) runs on the loop once the outcome is back (a workflow
     * task); REFUSE: not at all (the eager path, a query's first run):
     * the code blocks for good, local_refused is set, the run is dropped. */
    enum {
        DURO__LOCAL_INLINE,
        DURO__LOCAL_POOL,
        DURO__LOCAL_REFUSE
    } local_mode;
    bool local_refused;
    struct duro__local_job *local_job; /* the one running, NULL: none */
    int64_t local_deadline_ms;         /* duro_mono_ms; POOL only */
    int64_t task_timeout_ms; /* WorkflowStarted's taskTimeoutMs; 0: 10s */
    void (*local_resume)(struct duro_wf *wf, void *arg);
    void *local_arg;
};

/* duro__run_waiter: something waiting for a busy run (runs.c), embedded in
 * what waits. fn runs once, when the run is released; kept says whether
 * the run stayed cached (false: dropped, its next task replays). */
typedef struct duro__run_waiter {
    void (*fn)(struct duro__run_waiter *wt, bool kept);
    struct duro__run_waiter *next;
} duro__run_waiter;

/* duro__run_new creates a run from its WorkflowStarted event. fn may be
 * NULL (unknown type: the caller fails the task). Returns NULL on OOM. */
duro_wf *duro__run_new(const char *id, const char *run, const char *type,
                       const char *queue, const cJSON *input,
                       duro_workflow_fn fn);
void duro__run_free(duro_wf *wf);

/* duro__run_apply applies a batch of consecutive events (ids must follow
 * wf->applied). Returns 0, or DURO_ENONDET with wf->nondet set, or
 * DURO_EPROTO for events that do not follow. */
int duro__run_apply(duro_wf *wf, const duro_event *evs, int n);

/* duro__run_advance runs the code for a new workflow task at time `now`
 * and leaves its new commands in wf->cmds. Returns 0 or DURO_ENONDET. */
int duro__run_advance(duro_wf *wf, int64_t now);

/* duro__run_continue runs the code on once what it waited for outside
 * the engine (a local activity on the pool) is there, in the same task;
 * its new commands join wf->cmds. 0 or DURO_ENONDET. */
int duro__run_continue(duro_wf *wf);

/* duro__run_end_replay finishes applying a history that will get no live
 * task (queries, the replay checker): the last recorded task's code runs
 * and its commands are matched. 0 or DURO_ENONDET. */
int duro__run_end_replay(duro_wf *wf);

/* duro__seg_next: the recorded command the code's next command must match,
 * or NULL (not replaying, or none left). */
const seg_ev *duro__seg_next(const duro_wf *wf);

/* duro__run_query answers query `name` from the run's state: 0 and
 * *out (caller frees), or DURO_ENOTFOUND / DURO_EINVAL with a message. */
int duro__run_query(duro_wf *wf, const char *name, const cJSON *input,
                    char **out, char *err, size_t errsize);

/* duro__run_take_cmds hands the pending commands to the caller. */
duro__cmd *duro__run_take_cmds(duro_wf *wf);
void duro__cmds_free(duro__cmd *c);

/* duro__run_validate_update: whether update `name` with input would be
 * accepted now (a handler exists and its validator, if any, says yes),
 * read-only: 0, or DURO_ENOTFOUND / DURO_EINVAL with the reason in err
 * (sdk_update.c). */
int duro__run_validate_update(duro_wf *wf, const char *name, const cJSON *input,
                              char *err, size_t errsize);
/* duro__keep_update keeps an accepted update for a handler registered
 * later (engine.c). */
void duro__keep_update(duro_wf *wf, const char *id, const char *name,
                       const cJSON *input);

#endif
