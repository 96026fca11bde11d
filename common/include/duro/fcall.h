/* fcall.h: one builder per Redis Function of the library (internal).
 *
 * Every Function takes its KEYS as a prefix of one canonical order, then
 * its own extras (docs/internals.md, "Functions"; KEY_ORDER in
 * common/lua/duro.lua):
 *
 *   1 wf  2 hist  3 buf  4 wft  5 timers  6 pa  7 idx_open  8 idx_closed
 *   9 act
 *
 * A builder takes the workflow's keys (duro_wf_keys, with wft and act set
 * where the Function uses them: duro_wf_keys_queues) and the Function's
 * arguments, and writes the whole FCALL into a fresh duro_argv, so that no
 * caller writes a key count or a key position. A slot of the prefix that
 * the Function does not use and the caller left empty holds the
 * partition's timers key (any key of the slot would do). Builders borrow:
 * k and every string passed must outlive the argv (duro_argv_free). A key
 * the Function uses left empty is a bug in the caller (asserted). */
#ifndef DURO_FCALL_H
#define DURO_FCALL_H

#include <stdbool.h>
#include "duro/export.h"
#include "duro/keys.h"
#include "duro/redis.h"

/* Each Function's prefix of the canonical order (its key count without
 * extras). */
#define DURO_FCALL_SIGNAL_KEYS 4
#define DURO_FCALL_CANCEL_KEYS 4
#define DURO_FCALL_UPDATE_KEYS 4
#define DURO_FCALL_WFT_FAIL_KEYS 5
#define DURO_FCALL_WFT_TIMEOUT_KEYS 5
#define DURO_FCALL_STICKY_RELEASE_KEYS 5
#define DURO_FCALL_ACT_HEARTBEAT_KEYS 6
#define DURO_FCALL_START_KEYS 8 /* + hist_cur for TerminateIfRunning */
#define DURO_FCALL_SIGNAL_WITH_START_KEYS 8 /* + hist_cur */
#define DURO_FCALL_TERMINATE_KEYS 8
#define DURO_FCALL_WFT_COMPLETE_KEYS 8 /* + act_1..act_A */
#define DURO_FCALL_ACT_COMPLETE_KEYS 9 /* + act_1..act_A */
#define DURO_FCALL_ACT_RELEASE_KEYS 9
#define DURO_FCALL_ACT_TIMEOUT_KEYS 9
#define DURO_FCALL_TIMER_FIRE_KEYS 9
#define DURO_FCALL_RESET_KEYS 8 /* + hist_cur hist_src act_1..act_A */
#define DURO_FCALL_HISTORY_UPGRADE_KEYS 2
#define DURO_FCALL_PURGE_KEYS 8

/* The KEYS index (1-based, as the commands' actkey_index counts) of the
 * first activity stream a commit's commands name. */
#define DURO_FCALL_WFT_COMPLETE_ACT_BASE (DURO_FCALL_WFT_COMPLETE_KEYS + 1)
#define DURO_FCALL_ACT_COMPLETE_ACT_BASE (DURO_FCALL_ACT_COMPLETE_KEYS + 1)
#define DURO_FCALL_RESET_ACT_BASE (DURO_FCALL_RESET_KEYS + 3)

/* duro_fcall_start_args: a new run, as duro_start and
 * duro_signal_with_start take it. */
typedef struct {
    const char *id, *run, *type, *queue;
    const char *input;        /* JSON */
    const char *started_data; /* WorkflowStarted data */
    long long exec_timeout_ms;
    long long wft_timeout_ms;
    const char *policy;     /* id reuse policy; NULL: the default */
    long long retention_ms; /* the namespace's retention; 0: the default */
    const char *memo;       /* JSON object text for the visibility row; NULL */
    const char *search_attrs; /* JSON object of search attributes; NULL */
    long long run_timeout_ms; /* one run's limit; 0: none */
    int priority;             /* 1..5; 0 or 3: the default (duro/priority.h) */
    const char *fairness_key; /* NULL: none */
    int fairness_weight;      /* 1..1000; 0: 1 */
} duro_fcall_start_args;

/* duro_fcall_task: the workflow task a call answers for. */
typedef struct {
    const char *run, *token, *entry;
} duro_fcall_task;

/* duro_fcall_attempt: the activity attempt a call answers for. */
typedef struct {
    const char *run, *seq;
    long long attempt;
    const char *entry;
} duro_fcall_attempt;

/* duro_fcall_commit: a workflow task's commit. cmds holds the ncmd encoded
 * commands (pushed as they are); acts the activity streams they name, the
 * first at KEYS index *_ACT_BASE. */
typedef struct {
    const char *wtc_data; /* WorkflowTaskCompleted data */
    int ncmd;
    const duro_argv *cmds;
    int nacts;
    const char *const *acts;
    /* sticky: the committing worker, which keeps the run in its cache: the
     * run's next tasks go to its sticky stream and wait sticky_ms for it
     * (docs/internals.md, "Sticky execution"); NULL: none */
    const char *sticky;
    long long sticky_ms;
    /* eager activity dispatch (docs/internals.md): the Function reads, for
     * consumer eager_consumer, up to eager_n of the tasks the commit queues
     * into eager_stream (an activity stream among acts: the one of the
     * queue the worker polls) and returns them, flat after the reply's
     * other elements (sent as -eager_n: docs/internals.md, "Eager
     * activity dispatch"); 0 or NULL: none */
    const char *eager_consumer;
    int eager_n;
    const char *eager_stream;
    /* eager_lease: the tasks are leased instead (library 35, sent as
     * `L<eager_n>`): recorded as started by eager_consumer with no stream
     * entry, each with an entry `L<started>-<seq>-<attempt>` to pass back as a
     * stream entry's id (docs/internals.md, "Eager activity dispatch") */
    bool eager_lease;
} duro_fcall_commit;

/* duro_fcall_start: duro_start. hist_cur and cur_run name the RUNNING run
 * that TerminateIfRunning ends (both NULL otherwise). */
DURO_EXPORT void duro_fcall_start(duro_argv *a, const duro_wf_keys *k,
                                  const duro_fcall_start_args *s,
                                  const char *hist_cur, const char *cur_run);

/* duro_fcall_signal_with_start: duro_signal_with_start. k.hist is the new
 * run's history; hist_cur the running run's (or the new run's when none
 * runs), cur_run its id (NULL or "" when none runs). */
DURO_EXPORT void duro_fcall_signal_with_start(
    duro_argv *a, const duro_wf_keys *k, const duro_fcall_start_args *s,
    const char *signal_data, const char *hist_cur, const char *cur_run);

/* duro_fcall_signal and duro_fcall_cancel: deliver to run `run`. */
DURO_EXPORT void duro_fcall_signal(duro_argv *a, const duro_wf_keys *k,
                                   const char *run, const char *signal_data);
DURO_EXPORT void duro_fcall_cancel(duro_argv *a, const duro_wf_keys *k,
                                   const char *run, const char *data);
/* duro_fcall_update: duro_update, an accepted update `update_id` to run
 * `run` (data: UpdateAccepted's), answered in list reply_key. */
DURO_EXPORT void duro_fcall_update(duro_argv *a, const duro_wf_keys *k,
                                   const char *run, const char *update_id,
                                   const char *data, const char *reply_key);

/* duro_fcall_terminate: duro_terminate of the run whose history is k.hist. */
DURO_EXPORT void duro_fcall_terminate(duro_argv *a, const duro_wf_keys *k,
                                      const char *data);

/* duro_fcall_reset_args: duro_reset. k (the builder's) names the new
 * run: k.hist is its history, k.wft its workflow task stream. pending holds
 * npend entries `activity seq key name input opts stc hbt stc2` (key: the
 * KEYS index of the activity's stream, acts[key - *_RESET_ACT_BASE]) or
 * `timer seq fire_in_ms`, pushed as they are. chain: the histories of the
 * runs src_run continued as, in order, whose signals the new run gets
 * again (KEYS after the activity streams, library 64). */
typedef struct {
    const char *id, *run;
    const char *src_run;  /* the run reset, whose history is hist_src */
    const char *cur_run;  /* the RUNNING run (NULL or "" when none) */
    const char *hist_cur; /* its history (hist_src when none runs) */
    const char *hist_src;
    long long event_id; /* a WorkflowTaskCompleted of src_run */
    const char *reason;
    const char *type, *queue, *input; /* from src_run's WorkflowStarted */
    long long exec_timeout_ms;
    long long wft_timeout_ms; /* 0: the hash's, else the default */
    int npend;
    const duro_argv *pending;
    int nacts;
    const char *const *acts;
    long long run_timeout_ms; /* src_run's; after pending (library 64) */
    int nchain; /* keys after acts: the runs src_run continued as */
    const char *const *chain;
} duro_fcall_reset_args;

/* duro_fcall_history_upgrade: duro_history_upgrade of k.hist (a history
 * in the stream format of library 11 and older becomes a list). */
DURO_EXPORT void duro_fcall_history_upgrade(duro_argv *a,
                                            const duro_wf_keys *k);

/* duro_fcall_reset: duro_reset. */
DURO_EXPORT void duro_fcall_reset(duro_argv *a, const duro_wf_keys *k,
                                  const duro_fcall_reset_args *r);

/* duro_fcall_wft_complete: duro_wft_complete. */
DURO_EXPORT void duro_fcall_wft_complete(duro_argv *a, const duro_wf_keys *k,
                                         const duro_fcall_task *t,
                                         const duro_fcall_commit *c);

/* duro_fcall_wft_fail: duro_wft_fail (backoff_ms < 0: by attempt). */
DURO_EXPORT void duro_fcall_wft_fail(duro_argv *a, const duro_wf_keys *k,
                                     const duro_fcall_task *t,
                                     const char *message, long long backoff_ms);

/* duro_fcall_wft_timeout: duro_wft_timeout (scheduler). */
DURO_EXPORT void duro_fcall_wft_timeout(duro_argv *a, const duro_wf_keys *k,
                                        const duro_fcall_task *t,
                                        long long idle_ms);

/* duro_fcall_sticky_release: duro_sticky_release, worker `worker` no
 * longer holds run `run` (k.wft: the queue's shared or sticky stream). */
DURO_EXPORT void duro_fcall_sticky_release(duro_argv *a, const duro_wf_keys *k,
                                           const char *run, const char *worker);

/* duro_fcall_act_result: an attempt's outcome for duro_act_complete. */
typedef struct {
    bool failed;
    const char *data;         /* ActivityCompleted / ActivityFailed data */
    long long retry_delay_ms; /* failed: the retry's delay, -1: none */
    const char *failure;      /* failed: the failure JSON (NULL: "") */
} duro_fcall_act_result;

/* duro_fcall_act_complete: duro_act_complete; eager (NULL: none) adds the
 * eager workflow task, accepted when the history has expected_hlen
 * events. */
DURO_EXPORT void duro_fcall_act_complete(duro_argv *a, const duro_wf_keys *k,
                                         const duro_fcall_attempt *at,
                                         const duro_fcall_act_result *r,
                                         long long expected_hlen,
                                         const duro_fcall_commit *eager);

/* duro_fcall_act_heartbeat: duro_act_heartbeat (details NULL: none). */
DURO_EXPORT void duro_fcall_act_heartbeat(duro_argv *a, const duro_wf_keys *k,
                                          const duro_fcall_attempt *at,
                                          const char *details);

/* duro_fcall_act_release: duro_act_release. */
DURO_EXPORT void duro_fcall_act_release(duro_argv *a, const duro_wf_keys *k,
                                        const duro_fcall_attempt *at);

/* duro_fcall_act_timeout: duro_act_timeout (scheduler). */
DURO_EXPORT void duro_fcall_act_timeout(duro_argv *a, const duro_wf_keys *k,
                                        const duro_fcall_attempt *at,
                                        long long idle_ms,
                                        long long retry_delay_ms);

/* duro_fcall_timer_fire: duro_timer_fire of timer `member` (len bytes).
 * k.act: the member's activity stream for r and s timers, else unused. */
DURO_EXPORT void duro_fcall_timer_fire(duro_argv *a, const duro_wf_keys *k,
                                       const char *member, size_t len);

/* duro_fcall_purge: FCALL duro_purge 8 ... run cutoff_ms: removes closed
 * run `run` (k names its history) and what it owns; cutoff_ms 0: whenever
 * it closed (duro workflow delete), else only when it closed at or before
 * cutoff_ms (the retention sweep). */
DURO_EXPORT void duro_fcall_purge(duro_argv *a, const duro_wf_keys *k,
                                  const char *run, long long cutoff_ms);

#endif
