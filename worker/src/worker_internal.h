/* worker_internal.h: the worker's state, shared by its source files.
 *
 * One libuv loop owns everything: three Redis connections (commands, and
 * one each for the blocking reads of workflow and activity tasks), the
 * cache of runs, and the coroutines. Activities run on pool threads and
 * come back through the pool's done queue; heartbeats come back through
 * details left in the attempt under a mutex and one uv_async.
 *
 * The files call each other one way, top to bottom (main.c and replay.c
 * are the public entry points beside worker.c):
 *
 *   worker.c (lifecycle) ─▶ connect.c (the start against Redis)
 *     ├─▶ wft.c (workflow tasks) ─▶ query.c (queries ride its reads)
 *     └─▶ activity.c (activity tasks) ─▶ actx.c (context, outcome,
 *                                                heartbeats)
 *   wft.c, activity.c       ─▶ runs.c (busy runs, what waits, eager path)
 *   wft.c, query.c, replay.c ─▶ load.c (a run from its history)
 *   all of the above        ─▶ streams.c (reads, groups) ─▶ levels.c,
 *                              stream_keys.c (names), stream_ack.c (acks,
 *                              dead letters), cache.c, commit.c, later.c,
 *                              metrics.c
 *   runs.c, load.c, ...     ─▶ engine.c ◀─▶ sdk.c (the SDK it drives)
 *                              ─▶ run.c (a run's memory), coro.c
 *
 * What must go back up (something ended and a stopping worker may close;
 * a stream check ended and the reads resume; a run was released and what
 * waited on it goes on) goes through callbacks set by the caller above:
 * w->maybe_finish, w->poll, w->act_run, w->act_defer, duro__run_waiter.
 */
#ifndef DURO_WORKER_INTERNAL_H
#define DURO_WORKER_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "duro/aredis.h"
#include "duro/cluster_sync.h"
#include "duro/config.h"
#include "duro/keys.h"
#include "duro/redis.h"
#include "duro/worker.h"
#include "pool.h"
#include "run.h"

#define READ_BLOCK_MS 2000
#define DURO_HISTORY_PAGE 1000      /* events per history read */
#define DURO_STREAM_RECHECK_MS 5000 /* a broken task stream is re-checked */

/* ---- later.c: retrying a call Redis refused for now ---- */

struct duro__later;
typedef void (*duro__later_fn)(struct duro__later *l);

/* duro__later: a call to make again after a backoff, embedded in what it
 * retries (an activity outcome, a workflow task). tries counts the
 * transient failures so far and sets the next delay. */
typedef struct duro__later {
    int64_t due_ms;
    duro__later_fn fn;
    int tries;
    bool waiting; /* queued, fn not called yet */
    struct duro__later *next;
} duro__later;

/* duro__retry_later counts a try and calls l->fn after its backoff, on the
 * loop (the worker's retry timer). */
void duro__retry_later(struct duro_worker *w, duro__later *l,
                       duro__later_fn fn);
/* duro__call_at calls l->fn at due_ms (monotonic), on the loop; nothing
 * when l is queued already. */
void duro__call_at(struct duro_worker *w, duro__later *l, duro__later_fn fn,
                   int64_t due_ms);
/* duro__later_cancel takes l off the queue (nothing when not queued); the
 * timer may still go off once, early, for nothing. */
void duro__later_cancel(struct duro_worker *w, duro__later *l);

/* duro__bucket: one of the task queue's rate limits as a worker sees it
 * (ratelimit.c): DURO_RATE_ACT activity tasks, DURO_RATE_WFT workflow
 * tasks. */
enum { DURO_RATE_ACT, DURO_RATE_WFT, DURO_RATE_KINDS };
typedef struct duro__bucket {
    struct duro_worker *w;
    int kind;
    double rate;      /* tasks per second; 0: none */
    bool taking;      /* a duro_rate_take is out */
    int granted;      /* tokens in hand for the next read */
    uint64_t waits;   /* takes that found the bucket empty */
    duro__later wait; /* the read after an empty bucket */
} duro__bucket;

struct duro__commit;

/* duro__pread: one kind of task read partition by partition (partread.c):
 * on a Redis Cluster, or with DURO_READ_PER_PARTITION=1. */
struct duro__pread;
typedef struct {
    struct duro__pread *pr;
    int p;
    redisReply *held; /* its reply's copy, until the round's last one */
} duro__pread_slot;   /* a read's callback argument */
typedef struct duro__pread {
    struct duro_worker *w;
    const char *tag; /* READ-FAILED's read= */
    void (*fn)(struct duro_worker *w, const char *stream,
               const redisReply *entry); /* each entry read */
    void (*done)(struct duro_worker *w); /* the round's last reply came */
    bool *due;                           /* per partition: read it next */
    int ndue;
    duro__pread_slot *slots; /* per partition */
    int out;                 /* reads of the round not answered yet */
    long long count;         /* the round's COUNT */
    const int *kinds;        /* the round's streams, in dispatch order */
    int nkinds;
    long long got;    /* entries it brought that take a token */
    int64_t sweep_ms; /* when every partition is due again */
    uint64_t rounds, reads, sweeps, wakes;
} duro__pread;

typedef struct wf_reg {
    char *type;
    duro_workflow_fn fn;
    struct wf_reg *next;
} wf_reg;

typedef struct act_reg {
    char *name;
    duro_activity_fn fn;
    void *arg;
    struct act_reg *next;
} act_reg;

/* run_cache: runs by workflow id, least recently used last. */
typedef struct {
    duro_wf **buckets;
    size_t nbuckets;
    int size, cap;
    duro_wf *head, *tail; /* head = most recently used */
    uint64_t hits, misses, evictions;
    void (*on_evict)(void *arg, duro_wf *wf); /* NULL: none */
    void *evict_arg;
} run_cache;

/* wft_task: one workflow task being processed. */
typedef struct wft_task {
    struct duro_worker *w;
    char *id, *run, *token, *entry;
    int partition;
    bool sticky;       /* read from this worker's sticky stream */
    int level;         /* the priority level of the stream it was read from */
    char *fair_stream; /* its fairness key's stream (fair.c), or NULL */
    duro_wf *wf;
    int64_t started_us;
    bool first; /* the run's code had never run: its first task (metrics) */
    /* the run's whole history when it is one event, carried by the task's
     * entry (field h1, a run's first task): read instead of an LRANGE */
    char *h1;
    size_t h1_len;
    /* the call in flight (history page, commit or failure report), kept
     * until answered so that a transient error or a lost connection can
     * send it again */
    duro_argv req;
    char *req_buf; /* the strings req points into */
    duro_aredis_cb req_cb;
    const char *req_what; /* for the logs */
    duro__later retry;
    duro__run_waiter waiting; /* on a busy run (its pending task) */
    int eager_n; /* activity slots its commit asked for (activity.c) */
    /* the history is known to be as long as the run applied: a page came
     * full, or LLEN said so (a cached run's read that finds nothing new
     * asks, in case Redis lost writes the run applied: wft.c) */
    bool len_known;
} wft_task;

/* duro__wft_task_from_entry (wft_entry.c): the task of an entry read from
 * workflow-task stream `stream`, or NULL: an invalid entry is dead-lettered
 * (duro__dead_letter), one deleted since it was delivered acknowledged;
 * out of memory, it stays pending for the task timeout. Its waiting.fn is
 * the caller's to set. duro__wft_task_free frees a task. */
wft_task *duro__wft_task_from_entry(struct duro_worker *w, const char *stream,
                                    const redisReply *entry);
void duro__wft_task_free(wft_task *t);

/* duro_actx_state: where an activity attempt is (loop thread only).
 *
 *   READ ──submit──▶ RUNNING ──pool done──▶ COMPLETING ──answered──▶ DONE
 *    │           (w->inflight)    │          ▲   │
 *    │ cannot queue: fails        │          │   ├─ run busy ──▶ HELD
 *    └────────────────────────────┼─────────▶│   │   (wf->held; sent when the
 *                                 │          │   │    run is released)
 *                                 │          │   ├─ Redis away ▶ UNSENT
 *                                 │          │   │   (w->unsent; sent on
 *                                 │          │   │    reconnect)
 *                                 │          │   └─ refused ───▶ RETRYING
 *                                 │          └─────────────────── (backoff)
 *                                 └─ not begun, stopping ─▶ RELEASING ─▶ DONE
 *
 * HELD, UNSENT and RETRYING go back to COMPLETING when sent again.
 * The one link (link.next) threads the list the state names: w->inflight
 * (RUNNING), wf->held (HELD) or w->unsent (UNSENT). Two things run beside
 * the state, each holding a reference: heartbeats while RUNNING, and the
 * hand-back of an attempt still RUNNING when the shutdown grace is over.
 */
typedef enum {
    DURO_ACTX_READ,
    DURO_ACTX_WAITING, /* taken, no thread free yet (activity.c) */
    DURO_ACTX_RUNNING,
    DURO_ACTX_COMPLETING,
    DURO_ACTX_HELD,
    DURO_ACTX_UNSENT,
    DURO_ACTX_RETRYING,
    DURO_ACTX_RELEASING,
    DURO_ACTX_DONE,
} duro_actx_state;

/* duro_actx: one activity attempt, from read to completion. */
struct duro_actx {
    struct duro_worker *w;
    char *id, *run, *name, *entry, *wfqueue, *actqueue, *seq;
    char *idempotency_key;
    int attempt, partition;
    cJSON *input;
    cJSON *opts;
    cJSON *prev_details;
    act_reg *reg;
    duro_actx_state state;
    duro__run_waiter link; /* see duro_actx_state; fn: released from HELD */
    int refs;              /* loop thread: in-flight Redis calls + 1 */
    /* outcome, written by the pool thread (read on the loop after the
     * pool's done queue hands the attempt back) */
    cJSON *result;
    bool failed, non_retryable;
    bool skipped; /* not run: the worker is stopping */
    /* later: the code called duro_actx_complete_later: the task stays
     * pending in its stream (timeouts apply) until a client completes it;
     * local: a local activity (sdk_local.c), run in the workflow task:
     * no heartbeats, no completion call */
    bool later, local;
    char *token;      /* duro_actx_task_token's, made on first use */
    bool conc_held;   /* holds a slot of its concurrency key */
    int64_t defer_ms; /* a hand-back: back in the queue after this long */
    char *fail_type, *fail_msg;
    int64_t started_us, ran_us;
    atomic_bool canceled;
    /* heartbeat hand-off from the pool thread (guarded by w->hb_mu) */
    char *hb_details;
    bool hb_pending;
    /* loop thread */
    duro_wf *eager;        /* the cached run this completion also advances */
    int eager_n;           /* activity slots its eager commit asked for */
    duro__later retry;     /* a completion Redis refused for now */
    char *hb_sent;         /* the last heartbeat sent, for a retry */
    duro__later hb_retry;  /* a heartbeat Redis refused for now */
    duro__later rel_retry; /* a hand-back Redis refused for now */
    /* eager_in: came in a commit's reply (eager dispatch); while WAITING
     * (on w->act_waiting), handed back at wait_until_ms unless a thread
     * took it first */
    bool eager_in;
    int64_t wait_until_ms;
};

/* duro__actx_next: the attempt after c on the list its state names. */
static inline duro_actx *duro__actx_next(const duro_actx *c)
{
    return c->link.next
               ? (duro_actx *)((char *)c->link.next - offsetof(duro_actx, link))
               : NULL;
}

typedef struct duro_worker {
    /* options, with defaults applied */
    char *redis_url, *task_queue, *identity;
    int activity_threads, max_workflow_tasks, cache_size, partitions;
    /* ks: the namespace's keyspace; ks.partitions follows `partitions`
     * once it is known (duro__worker_connect) */
    duro_keyspace ks;
    size_t max_payload;
    const duro_codec *codec;    /* borrowed, or own_codec */
    duro_codec *own_codec;      /* duro_worker_main's, from the key file */
    size_t workflow_stack_size; /* 0: DURO__CORO_STACK_DEFAULT */
    int64_t shutdown_grace_ms;
    int64_t stall_timeout_ms; /* Redis stall bound (readiness) */
    int64_t loop_stall_ms;    /* loop stall bound (liveness) */
    int fatal;                /* DURO_E* that stopped the worker, or 0 */
    duro_redis_url url;

    wf_reg *workflows;
    act_reg *activities;

    uv_loop_t loop;
    duro_aredis *cmd, *wft_conn, *act_conn;
    bool wft_reading, act_reading;
    /* the query streams' own blocking read on one node (qread.c) */
    duro_aredis *qry_conn;
    bool qry_reading;
    long long qry_client_id;                 /* to CLIENT UNBLOCK it */
    char **wft_keys, **act_keys, **qry_keys; /* per partition */
    char **sticky_keys; /* per partition; NULL: sticky execution off */
    /* per partition: the wft and act streams of priority levels 1, 2, 4
     * and 5 (DURO_STREAM_WFT_L1 ..; level 3 is wft_keys and act_keys) */
    char **prio_keys[8];
    int64_t sticky_ms;    /* schedule-to-start on the sticky streams; 0: off */
    int sticky_releasing; /* duro_sticky_release replies still to come */
    bool sticky_recover;  /* the next read takes back our pending entries */
    int wft_inflight;
    int wft_fair, act_fair; /* fairness turns in flight (fair.c) */
    duro__pool *pool;
    /* local_pool runs local activities (sdk_local.c) while their workflow
     * task waits: its own threads, so that a local activity never queues
     * behind long ordinary activities holding every slot of `pool` */
    duro__pool *local_pool;
    run_cache cache;

    uv_async_t stop_async;
    uv_signal_t sigterm, sigint;
    uv_timer_t tick;        /* retries unsent completions, re-polls */
    uv_timer_t retry_timer; /* runs `later` calls when due */
    duro__later *later;     /* calls waiting out a transient error */

    /* task streams by kind (wft, act, qry) and partition, index
     * kind * partitions + p: a key of the wrong type (a hand edit) is
     * left out of the reads so that the other partitions keep moving */
    bool *stream_broken;
    int nbroken;
    /* the read set on one node (levels.c): per level stream, index
     * (kind - DURO_STREAM_WFT_L1) * partitions + p, whether the reads name
     * it and when a task or bell last came from it; NULL: all are read */
    bool *level_on;
    char *level_bells[2]; /* the wft and act level bell streams */
    /* tasks held across a bell, per entry handler (levels.c) */
    struct duro_level_held {
        void (*fn)(struct duro_worker *w, const char *stream,
                   const redisReply *entry);
        void *head;
    } level_held[2];
    int64_t *level_used_ms;
    int64_t next_level_check_ms;
    int probing; /* stream checks awaiting their reply */
    /* the task reads after one failed, backing off (streams.c): tries
     * counts the failures since the last read that worked */
    duro__later read_retry;
    bool check_wanted;       /* a failed read asked for a check not run yet */
    int64_t next_recheck_ms; /* when broken streams are looked at again */
    atomic_bool running;     /* read by duro_worker_stop, any thread */
    atomic_bool stop_requested; /* set by duro_worker_stop, any thread */
    bool stopping;              /* loop thread: the stop has begun */
    int nhandles;               /* of the loop's own handles, initialised */
    atomic_bool handing_back;   /* pool threads skip jobs they have not begun */
    bool abandoned;      /* stopped with activity threads still running */
    bool stop_forced;    /* stopped without Redis' answers (on_tick) */
    duro_actx *inflight; /* activities submitted to the pool */
    int releasing;       /* hand-back calls awaiting their reply */
    int leaving;         /* XGROUP DELCONSUMER replies still to come */
    int completing;      /* finished activities not yet acknowledged */
    long long wft_client_id, act_client_id; /* to CLIENT UNBLOCK the reads */
    int64_t stop_deadline_ms;
    int closing; /* handles still closing */

    pthread_mutex_t hb_mu;
    bool hb_mu_ready; /* hb_mu initialised (duro_worker_free destroys it) */
    uv_async_t hb_async;
    duro_actx *unsent; /* completions waiting for Redis */

    /* flow control (ratelimit.c): the task queue's activity rate limit */
    duro__bucket rate[DURO_RATE_KINDS]; /* activity, workflow tasks */
    bool rate_known;     /* the limits were read once: reads may begin */
    bool rate_asking;    /* their HMGET is out */
    int rate_ticks;      /* ticks since they were read */
    int conc_limit;      /* attempts per concurrency key; 0: none */
    uint64_t conc_waits; /* attempts deferred: their key was full */

    /* callbacks worker.c sets for the files below it (see the top) */
    void (*maybe_finish)(struct duro_worker *w); /* something ended */
    void (*poll)(struct duro_worker *w);         /* read tasks again */
    void (*groups_left)(struct duro_worker *w);  /* duro__groups_leave done */
    void (*handed_back)(struct duro_worker *w);  /* duro__sticky_hand_back */
    /* concurrency.c's gate, once it decided: run the attempt, or put it
     * back in its queue for a while (duro__act_run, duro__act_defer) */
    void (*act_run)(struct duro_worker *w, struct duro_actx *c);
    void (*act_defer)(struct duro_actx *c, int64_t delay_ms);

    /* the last error of a public call (duro_worker_errstr) */
    int err;
    char errstr[256];

    /* counters (metrics) */
    uint64_t wft_done, wft_failed, wft_stale, act_done, act_failed, replays,
        dead_letters, eager_done, eager_fallbacks;
    /* eager activity dispatch (activity.c): whether this worker asks its
     * commits for the activities they queue on its queue, and how many
     * came that way */
    bool eager_acts;
    /* sched_batch: the loop and pool threads run under SCHED_BATCH
     * (sched.c) */
    bool sched_batch;
    int eager_asked; /* tasks asked for by commits not answered yet */
    uint64_t eager_acts_taken;
    /* activity tasks taken (eagerly or by a read) that found no thread
     * free: FIFO; each handed back after act_wait_ms; eager ones at most
     * four per thread (activity.c) */
    struct duro_actx *act_waiting, *act_waiting_tail;
    int act_nwaiting, act_nwaiting_eager; /* all; eager_in ones */
    int64_t act_wait_ms;
    duro__later act_wait_due;
    uint64_t act_waited_back;
    bool eager_intake; /* run_entry is taking a commit's reply's tasks */
    /* workflow tasks that ran a run's code for the first time: a cache
     * miss that could not have been a hit (the bench's hit ratio) */
    uint64_t wft_first;
    uint64_t sticky_tasks; /* read from this worker's sticky streams */

    char *metrics_addr; /* opts, DURO_METRICS_ADDR, --metrics-addr; NULL =
                           off */

    /* reading per partition (partread.c, wake.c): on a Redis Cluster, or
     * forced by DURO_READ_PER_PARTITION=1 (force_per_partition) */
    bool per_partition, force_per_partition;
    duro__pread wft_pr, act_pr;
    duro_aredis *wake_conn; /* SSUBSCRIBEs the partitions' wake channels */

} duro_worker;

/* cache.c */
/* duro__cache_init: an empty cache of cap runs; c->on_evict, when the
 * caller sets it, is told of each run evicted for room before it goes. */
int duro__cache_init(run_cache *c, int cap);
void duro__cache_close(run_cache *c);
duro_wf *duro__cache_lookup(run_cache *c, const char *id);
/* duro__cache_peek: like lookup, without counting a hit or miss. */
duro_wf *duro__cache_peek(run_cache *c, const char *id);
void duro__cache_insert(run_cache *c, duro_wf *wf);
void duro__cache_remove(run_cache *c, duro_wf *wf); /* and frees it */
void duro__cache_touch(run_cache *c, duro_wf *wf);
/* duro__cache_shrink lowers the capacity to 90% of what is cached and
 * evicts idle runs down to it: the answer to running out of memory (or of
 * memory mappings, vm.max_map_count) for coroutine stacks. */
void duro__cache_shrink(run_cache *c);

/* wft.c: workflow tasks (and the queries that ride along their reads) */
void duro__wft_poll(duro_worker *w);
/* duro__qry_poll sends the query streams' read when none is out and the
 * reads are not per partition (qread.c). */
void duro__qry_poll(duro_worker *w);

/* runs.c: the cached runs between tasks: busy, what waits, the eager path */
/* duro__run_acquire: the run a workflow task for (id, run) starts from,
 * marked busy: the cached one, or NULL (none, or one of another run, which
 * is dropped). When the cached run is busy the task waits on it instead
 * (*waits; task->fn runs when the run is released), and a task that
 * waited already is returned in *stale for the caller to drop. */
duro_wf *duro__run_acquire(duro_worker *w, const char *id, const char *run,
                           duro__run_waiter *task, bool *waits,
                           duro__run_waiter **stale);
/* duro__run_hold: when the cached run (id, run) is busy, wt waits on it
 * (wt->fn runs when it is released) and true; false otherwise. */
bool duro__run_hold(duro_worker *w, const char *id, const char *run,
                    duro__run_waiter *wt);
/* duro__run_release ends a cached run's busy spell: dropped from the cache
 * unless `keep` (and open and deterministic); then what waited on it goes
 * on: held completions first, then a workflow task. */
void duro__run_release(duro_worker *w, duro_wf *wf, bool keep);
/* duro__run_eager_begin: when the cached run (id, run) is idle and exactly
 * as far as the history it last committed, applies the activity
 * completion `data`, runs the code and encodes its commands into cm
 * (activity streams from KEYS[key_base]); *expected is the history length
 * the commit follows. Returns the run, busy until duro__run_eager_end, or
 * NULL (nothing encoded, cm needs no freeing). */
duro_wf *duro__run_eager_begin(duro_worker *w, const char *id, const char *run,
                               int partition, int key_base, const char *data,
                               struct duro__commit *cm, int64_t *expected);
/* duro__run_eager_end settles the run with the reply to the eager commit:
 * kept at its new position when accepted, else dropped from the cache (it
 * ran ahead of the history; its next task replays). */
void duro__run_eager_end(duro_worker *w, duro_wf *wf, const redisReply *reply);

/* load.c: loading a run from its history */
/* duro__run_create builds a run of a registered type from its
 * WorkflowStarted event into *out: 0, or DURO_EINVAL / DURO_ENOMEM with a
 * message in err. */
int duro__run_create(duro_worker *w, const char *id, const char *run,
                     const duro_event *e, duro_wf **out, char *err,
                     size_t errsize);
/* duro__event_decode decodes, in place, the payloads of e's data with
 * the worker's codec: 0, or DURO_ECODEC / DURO_ENOMEM with a message
 * naming the event in err. */
int duro__event_decode(const duro_worker *w, const duro_event *e, char *err,
                       size_t errsize);
/* duro__load_event applies one event to *wfp, creating the run from it
 * when *wfp is NULL. 0, or a DURO_E* with a message in err. */
int duro__load_event(duro_worker *w, duro_wf **wfp, const char *id,
                     const char *run, const duro_event *e, char *err,
                     size_t errsize);
/* duro__history_apply_page applies one LRANGE page of history, whose
 * first element is event `from`, to *wfp (duro__load_event for each). 0,
 * or a DURO_E* with a message in err. */
int duro__history_apply_page(duro_worker *w, duro_wf **wfp, const char *id,
                             const char *run, int64_t from,
                             const redisReply *page, char *err, size_t errsize);
/* duro__history_argv: LRANGE <hist> <from-1> <from-2+DURO_HISTORY_PAGE>
 * (event N is element N-1). */
void duro__history_argv(duro_argv *a, const char *hist, int64_t from);
/* duro__read_history sends LRANGE for one page of a run's history from
 * event `from`; cb gets the reply. 0 or DURO_ECONN (cb never runs). */
int duro__read_history(duro_worker *w, const char *id, const char *run,
                       int64_t from, duro_aredis_cb cb, void *arg);
/* streams.c: the task streams: reads, and keeping one bad key from
 * stalling the rest; their names: stream_keys.c; acks and dead letters:
 * stream_ack.c. Kinds index the stream sets. */
enum {
    DURO_STREAM_WFT,
    DURO_STREAM_ACT,
    DURO_STREAM_QRY,
    DURO_STREAM_STICKY, /* this worker's own wft streams (sticky.c) */
    /* the other priority levels' streams (duro/priority.h) */
    DURO_STREAM_WFT_L1,
    DURO_STREAM_WFT_L2,
    DURO_STREAM_WFT_L4,
    DURO_STREAM_WFT_L5,
    DURO_STREAM_ACT_L1,
    DURO_STREAM_ACT_L2,
    DURO_STREAM_ACT_L4,
    DURO_STREAM_ACT_L5,
    DURO_STREAM_KINDS
};
/* duro__stream_kind_at: the kind of base kind (DURO_STREAM_WFT or _ACT)
 * at priority level 1..5. */
int duro__stream_kind_at(int base, int level);
/* duro__wft_task_key: the stream a workflow task of partition p was read
 * from (sticky: this worker's own; else its level's), where it is acked. */
const char *duro__wft_task_key(const duro_worker *w, int p, bool sticky,
                               int level);
/* duro__stream_keys_make names the task streams of every partition
 * (again after a retried setup, which may have learned another P); 0 or
 * DURO_ENOMEM. _free frees them. */
int duro__stream_keys_make(duro_worker *w);
void duro__stream_keys_free(duro_worker *w);
/* duro__stream_key: the key of kind and partition p (NULL: the worker has
 * no streams of that kind: sticky execution is off). */
const char *duro__stream_key(const duro_worker *w, int kind, int p);
/* duro__xreadgroup_argv builds the blocking read of the worker's group on
 * every healthy partition stream of the kinds listed, COUNT count per
 * stream. Returns how many streams it reads (0: none, nothing to send). */
int duro__xreadgroup_argv(duro_worker *w, duro_argv *a, long long count,
                          const int *kinds, int nkinds);
/* duro__xreadgroup_part_argv: the same for partition p alone, without
 * BLOCK (a Redis Cluster refuses a read across slots: partread.c). */
int duro__xreadgroup_part_argv(duro_worker *w, duro_argv *a, long long count,
                               const int *kinds, int nkinds, int p);
/* duro_entry_fn handles one entry of a blocking read. */
typedef void (*duro_entry_fn)(duro_worker *w, const char *stream,
                              const redisReply *entry);
/* duro__read_entries calls fn for every entry of an XREADGROUP reply. An
 * error is logged (rate-limited) and handed to duro__read_failed. Returns
 * 0, or -1 when the read failed (the reconnect or the backoff reads
 * again). */
int duro__read_entries(duro_worker *w, const redisReply *reply, const char *tag,
                       duro_entry_fn fn);
/* duro__read_failed: a task read got the error reply err. The reads back
 * off (jittered, doubling up to a bound, one backoff for all of them;
 * duro__reads_held says so) until one works (duro__read_worked). An error
 * that is not transient (a stream of the wrong type, a lost group) also
 * checks every stream: the first failure at once, a repeated one when its
 * backoff is over, and one that found the command connection down as soon
 * as it is back (duro__streams_connected). */
void duro__read_failed(duro_worker *w, const char *err);
void duro__read_worked(duro_worker *w);
bool duro__reads_held(const duro_worker *w);
/* duro__streams_connected: the command connection came up. */
void duro__streams_connected(duro_worker *w);
/* duro__fair_bell: when entry is a bell of stream (a task with a
 * fairness key waits), takes a turn (fair.c): the task it brings goes to
 * fn, then poll runs; *turns counts the turns in flight. false: not a
 * bell. */
bool duro__fair_bell(duro_worker *w, const char *stream,
                     const redisReply *entry, duro_entry_fn fn,
                     void (*poll)(duro_worker *w), int *turns);
/* duro__streams_check looks at every task stream (all) or only the broken
 * ones: a missing stream or group is created, a key of another type is
 * marked broken (and left out of the reads) until it is repaired. */
void duro__streams_check(duro_worker *w, bool all);
/* duro__streams_tick re-checks the broken streams every
 * DURO_STREAM_RECHECK_MS. */
void duro__streams_tick(duro_worker *w);
/* duro__partition_of_key: the partition a key's hash tag names, or -1. */
int duro__partition_of_key(const char *key);
/* duro__dead_letter moves an entry that cannot be processed to
 * DURO_DEAD_KEY (capped) with the reason, and acks and deletes it. */
void duro__dead_letter(duro_worker *w, const char *stream,
                       const redisReply *entry, const char *reason);
/* duro__stream_ack acknowledges entry eid. It is not deleted: the trim
 * that follows the stream's next acknowledgement inside a Function drops
 * it (docs/internals.md, "Trimming task streams"); a query stream is
 * capped at its XADD instead. */
void duro__stream_ack(duro_worker *w, const char *stream, const char *eid);
/* levels.c: the priority levels' streams the reads name (one node).
 * duro__levels_init finds at the start (and each reconnect) which have
 * entries not yet delivered; 0 or DURO_ECONN. */
int duro__levels_init(duro_worker *w, redisContext *c);
void duro__levels_free(duro_worker *w);
/* duro__level_read: whether the reads name stream kind of partition p. */
bool duro__level_read(const duro_worker *w, int kind, int p);
/* duro__level_bells: the level bell stream a read of kinds names first,
 * or NULL (none: every level is read). */
const char *duro__level_bells(const duro_worker *w, const int *kinds,
                              int nkinds);
/* duro__levels_check (re-)creates the bell streams' groups after a read
 * failed; a bell stream that is not a stream turns the read set off. */
void duro__levels_check(duro_worker *w);
/* duro__level_entries hands out a read's reply (an array of streams):
 * its level bells first, then every task to fn, held for after the next
 * reply when a bell brought a new level. 0. */
int duro__level_entries(duro_worker *w, const redisReply *reply,
                        duro_entry_fn fn);
/* duro__level_release hands out to fn the tasks held for its reads. */
void duro__level_release(duro_worker *w, duro_entry_fn fn);
/* duro__levels_tick drops idle levels and checks the others. */
void duro__levels_tick(duro_worker *w);
/* duro__groups_create makes every task stream and its group exist
 * (BUSYGROUP is fine) and registers the queue for the scheduler's timeout
 * scans, each where its key lives (cluster_sync.h). 0 or DURO_ECONN. */
int duro__groups_create(duro_worker *w, duro_cluster_sync *cs);
/* duro__groups_leave removes this worker's consumer from every group, so
 * that dead workers do not pile up in XINFO CONSUMERS and queue stats;
 * done(w) runs once every reply came. */
void duro__groups_leave(duro_worker *w, void (*done)(duro_worker *w));

/* partread.c: reading partition by partition (see its top) */
#define DURO_READ_SWEEP_MS 1000 /* every partition read at least this often */
/* duro__pread_init: pr for w's partitions, every one due; 0 or
 * DURO_ENOMEM. _free releases what it holds. */
int duro__pread_init(duro_worker *w, duro__pread *pr);
void duro__pread_free(duro__pread *pr);
/* duro__pread_due: read partition p in the next round; _all_due: every
 * partition (the sweep, a reconnect). */
void duro__pread_due(duro__pread *pr, int p);
void duro__pread_all_due(duro__pread *pr);
/* duro__pread_tick: the sweep, when due (true: every partition is due). */
bool duro__pread_tick(duro__pread *pr);
/* duro__pread_send sends a round: a non-blocking XREADGROUP COUNT count of
 * the kinds' streams of each due partition, on conn; each entry goes to
 * pr->fn, and pr->done runs after the last reply. Returns the reads sent
 * (0: a round is out, nothing is due, or conn is down). */
int duro__pread_send(duro__pread *pr, duro_aredis *conn, const int *kinds,
                     int nkinds, long long count);

/* wake.c: the partitions' wake channels (SSUBSCRIBE) */
/* duro__wake_start subscribes w->wake_conn to every partition's
 * `<prefix>{pN}:wake`; a message makes the partition due for the kind it
 * names. 0, or a DURO_E*. */
int duro__wake_start(duro_worker *w);
/* duro__wake_message handles one wake payload ("wft:<queue>", "act:...",
 * "qry:...", a sticky "wft:<queue>#<worker>") for partition p: the kind's
 * reads of p are due, and polled. Unknown queues and kinds are ignored. */
void duro__wake_message(duro_worker *w, int p, const char *payload, size_t len);

/* sticky.c: sticky execution, the worker's side (docs/internals.md) */
/* duro__sticky_stream: the stream a task read from `stream` lives in:
 * true for this worker's sticky stream of partition p. */
bool duro__sticky_stream(const duro_worker *w, const char *stream, int p);
/* duro__sticky_wft_key: the stream a task of partition p lives in. */
const char *duro__sticky_wft_key(const duro_worker *w, int p, bool sticky);
/* duro__sticky_on_evict (the cache's on_evict): the worker gives up being
 * the evicted run's sticky worker (duro_sticky_release, not waited for). */
void duro__sticky_on_evict(void *arg, duro_wf *wf);
/* duro__sticky_hand_back: a stopping worker gives up every cached run
 * (their waiting tasks move to the shared streams) and deletes its sticky
 * streams; done(w) runs once Redis answered (at once when sticky execution
 * is off). */
void duro__sticky_hand_back(duro_worker *w, void (*done)(duro_worker *w));

/* query.c: queries, answered from the cache or a throwaway replay */
void duro__query_start(duro_worker *w, const char *stream,
                       const redisReply *entry);

/* actx.c: the activity context, its lifetime and heartbeats */
/* duro__actx_new: a READ attempt with one reference, or NULL (OOM). */
duro_actx *duro__actx_new(duro_worker *w);
/* duro__actx_outcome encodes the attempt's outcome as its event data
 * ({"seq","attempt","result"|"failure"}) and, for a failure, the failure
 * JSON and the retry delay (-1 otherwise); a result over max_payload turns
 * into a PayloadTooLarge failure. 0 (caller frees *data and *failure) or
 * DURO_ENOMEM (nothing to free). */
int duro__actx_outcome(duro_actx *c, char **data, char **failure,
                       int64_t *delay);
/* duro__actx_unref drops a reference; the last frees c. */
void duro__actx_unref(duro_actx *c);
/* duro__hb_drain (w->hb_async) sends the heartbeats activity code left. */
void duro__hb_drain(uv_async_t *h);

/* activity.c: activity tasks */
void duro__act_poll(duro_worker *w);
void duro__act_flush_unsent(duro_worker *w);
void duro__act_pool_work(void *job);
void duro__act_pool_done(void *job);
/* the local pool's job functions (sdk_local.c) */
void duro__local_pool_work(void *job);
void duro__local_pool_done(void *job);
/* DURO__LOCAL_TASK_BUDGET_MS: how long after its start a workflow task may
 * still wait for a local activity: the default task timeout (10s) less a
 * margin for the commit; past this the task fails (sdk_local.c). A run
 * with a task timeout of its own (WorkflowStarted's taskTimeoutMs) has
 * four fifths of it instead (duro__local_budget_ms). */
#define DURO__LOCAL_TASK_BUDGET_MS 8000
int64_t duro__local_budget_ms(const struct duro_wf *wf);
/* duro__act_park: an attempt that completes asynchronously (sdk_async.c):
 * its entry moves to DURO_ASYNC_CONSUMER, pending until a client
 * completes it; takes c's reference. */
void duro__act_park(duro_worker *w, duro_actx *c);
/* duro__act_release_inflight hands back every attempt still running
 * (shutdown grace over) */
void duro__act_release_inflight(duro_worker *w);

/* ratelimit.c: duro__rate_gate, before each read of a kind of task
 * (DURO_RATE_*): how many tasks the read may take (0: none now; a reply
 * polls again). duro__rate_read settles a read by the tasks it got;
 * duro__rate_tick re-reads the limits. */
int duro__rate_gate(duro_worker *w, int kind, int room);
/* concurrency.c: duro__conc_gate, before an attempt runs: true when it
 * took c over (it runs once its key has a free slot: duro__act_run, or is
 * deferred: duro__act_defer); duro__conc_release frees c's slot. */
bool duro__conc_gate(duro_worker *w, duro_actx *c);
void duro__conc_release(duro_worker *w, duro_actx *c);
/* activity.c: duro__act_run hands c to the pool; duro__act_defer puts it
 * back in its queue for delay_ms (it must not start yet). */
void duro__act_run(duro_worker *w, duro_actx *c);
/* eager activity dispatch (activity.c; docs/internals.md): what commit cm
 * of a run in partition p asks for: the activity stream of this worker's
 * queue there, and *n (as many as cm schedules there, at most EAGER_MAX,
 * while fewer eager tasks than the bound wait for a thread), or NULL
 * (none: off, stopping, no room, a rate-limited queue, no activity of cm
 * goes there); the n count as asked until duro__act_eager_end(w, n) once
 * its reply came (or never will). duro__act_eager_take hands the entries a
 * commit's reply brought (an XREADGROUP reply) to the read's intake. A
 * task taken either way that finds no thread free waits (WAITING) at most
 * w->act_wait_ms, then goes back to the shared queue;
 * duro__act_release_waiting hands back every waiting one (stopping). */
struct duro__commit;
const char *duro__act_eager_ask(duro_worker *w, int p,
                                const struct duro__commit *cm, int *n);
void duro__act_eager_end(duro_worker *w, int *n);
void duro__act_eager_take(duro_worker *w, const redisReply *entries);
/* act_eager.c: duro__act_eager_reply hands the tasks a commit's reply took
 * (its elements from `at` on: flat, per stream `stream, count`, then per
 * entry `id, {field, value...}`) to take, duro__act_eager_take (passed in:
 * act_eager.c sits below activity.c); a malformed tail is logged
 * (ACT-EAGER-BAD) and its tasks left pending.
 * duro__act_eager_entries reads that tail back into an XREADGROUP reply:
 * 0 with *entries (NULL: none), or DURO_EPROTO / DURO_ENOMEM; free(*owned)
 * after use (*entries may point into reply). */
typedef void (*duro__eager_intake)(duro_worker *w, const redisReply *entries);
void duro__act_eager_reply(duro_worker *w, const redisReply *reply, size_t at,
                           duro__eager_intake take);
int duro__act_eager_entries(const redisReply *reply, size_t at,
                            const redisReply **entries, void **owned);
/* act_eager.c: the pool's threads free now; how many eager tasks may wait
 * for a thread; how long task c may wait for one (ms). */
int duro__act_free_threads(const duro_worker *w);
int duro__act_waiting_max(const duro_worker *w);
int64_t duro__act_wait_limit_ms(const duro_worker *w, const duro_actx *c);
/* act_entry.c: duro__actx_from_entry validates an activity task's stream
 * entry into a new duro_actx (the caller's reference), or NULL: garbage is
 * dead-lettered, and an entry that cannot be copied for want of memory
 * stays pending (its start-to-close timeout retries it). */
duro_actx *duro__actx_from_entry(duro_worker *w, const char *stream,
                                 const redisReply *entry);
/* act_argv.c: FCALL duro_act_complete for c's outcome, with the eager
 * commit cm (NULL: none; expected is the history length it follows), and
 * FCALL duro_act_release; a borrows from the arguments and from ks, which
 * it fills, so ks lives until the call is sent. */
void duro__act_complete_argv(duro_actx *c, const char *data, int64_t delay,
                             const char *failure, const struct duro__commit *cm,
                             int64_t expected, duro_wf_keys *ks, duro_argv *a);
void duro__act_release_argv(const duro_actx *c, duro_wf_keys *ks, duro_argv *a);
void duro__act_release_waiting(duro_worker *w);
/* DURO__ACT_WAIT_MS: the default of $DURO_ACTIVITY_WAIT_MS, the longest a
 * task taken waits for a thread before it is handed back (docs/internals.md,
 * "Eager activity dispatch": well below the reclaim's 1 s minimum idle). */
#define DURO__ACT_WAIT_MS 200
void duro__act_defer(duro_actx *c, int64_t delay_ms);
void duro__rate_read(duro_worker *w, int kind, const redisReply *reply);
/* duro__rate_count: the entries of an XREADGROUP reply that take a token
 * (queries do not); duro__rate_settle: duro__rate_read for n of them. */
long long duro__rate_count(const redisReply *reply);
void duro__rate_settle(duro_worker *w, int kind, long long n);
void duro__rate_tick(duro_worker *w);

/* metrics.c: duro__worker_metrics_start serves /metrics, /healthz and
 * /readyz on addr and polls the task queue's backlog (0 or DURO_E*);
 * _stop undoes it. _sample, on the loop thread, copies the worker's
 * counters for the HTTP thread, which never reads the worker itself. */
int duro__worker_metrics_start(duro_worker *w, const char *addr);
void duro__worker_metrics_stop(duro_worker *w);
void duro__worker_metrics_sample(duro_worker *w);
/* duro__worker_count_run counts, once its commit is accepted, a run that
 * this commit started (first: the run's first workflow task) and/or
 * closed (wf->done: it carried the complete, fail or cancel), into
 * duro_workflows_started_total / duro_workflows_closed_total. */
void duro__worker_count_run(duro_worker *w, const duro_wf *wf, bool first);

/* connect.c: starting against Redis */
/* duro__catch_early_signals makes SIGTERM/SIGINT stop the worker cleanly
 * even before its loop exists (they are noted, not fatal);
 * duro__early_stop says whether one came. */
void duro__catch_early_signals(void);
bool duro__early_stop(void);
/* duro__worker_connect waits for Redis (capped backoff, one log line per new
 * error) until it answers, a stop is asked for, or it refuses us for good;
 * then loads the Functions, learns P, names the streams and creates the
 * groups. 0, or a DURO_E* with a message in errbuf. */
int duro__worker_connect(duro_worker *w, char *errbuf, size_t errsize);

/* worker.c */
/* duro__log_level_parse: the duro_log_level named debug|info|warn|error,
 * or -1 (opts.log_level and --log-level). */
int duro__log_level_parse(const char *name);
/* duro__worker_seterr keeps code and the formatted message as the
 * worker's last error (duro_worker_errstr); returns code. */
/* duro__sched_batch_enter puts the calling thread (the loop's) under
 * SCHED_BATCH when w->sched_batch and it is under SCHED_OTHER, before the
 * pools' threads are created (they inherit it); returns the policy to give
 * duro__sched_leave, or -1 when nothing changed (sched.c). */
int duro__sched_batch_enter(const duro_worker *w);
void duro__sched_leave(int old);
int duro__worker_seterr(duro_worker *w, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
