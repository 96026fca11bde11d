/* sched_internal.h: the scheduler's private state, shared by its files. */
#ifndef DURO_SCHED_INTERNAL_H
#define DURO_SCHED_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

#include <cjson/cJSON.h>
#include "duro/aredis.h"
#include "duro/config.h"
#include "duro/http.h"
#include "duro/keys.h"
#include "duro/metrics.h"
#include "duro/reply.h"
#include "duro/scheduler.h"

/* NEXT_UNKNOWN: a partition whose earliest timer we do not know (start,
 * lost connection): the next tick fetches it. NEXT_NONE: no timers. */
#define NEXT_UNKNOWN INT64_MIN
#define NEXT_NONE INT64_MAX

struct duro_scheduler;
struct nspace;

/* held: a due timer whose fire failed with an error that is not
 * transient (a key of the wrong type): skipped by the rounds until
 * retry_at (Redis ms), with its own backoff, so that it neither blocks the
 * timers behind it nor is tried in a loop. */
typedef struct {
    char *member;
    size_t len;
    int64_t retry_at;
    int tries;
    int seen; /* met in the current round */
} held;

/* part: one partition's timer round. A round is ZRANGEBYSCORE, the fires
 * of that batch (pipelined), again while batches come back full, then
 * ZRANGE 0 0 to learn when to wake next. One round per partition at a
 * time; a wake that arrives meanwhile sets `again`. */
typedef struct part {
    struct duro_scheduler *s;
    struct nspace *ns; /* its namespace */
    int p;
    char timers_key[DURO_SHORT_KEY_MAX];
    char vx_close_key[DURO_SHORT_KEY_MAX]; /* the sweep walks it */
    /* the indexes of a library before this one (idx:open, idx:closed):
     * migrated by duro_vis_backfill until empty (sweep.c) */
    char idx_key[2][DURO_SHORT_KEY_MAX];
    int idx_left;       /* bit i: idx_key[i] not known empty yet */
    int migrating;      /* a duro_vis_backfill call is in flight */
    int sweeping;       /* a retention sweep batch is in flight */
    int sweep_inflight; /* its commands not answered yet */
    int sweep_full;     /* it filled the batch: go on */
    int sweep_failed;   /* one of its runs failed: go on at the next scan */
    /* sweep_off: where the next batch starts in vx:close, past the
     * entries earlier batches of this pass left (no row, a failed archive
     * or purge), so that a batch of them does not stall the sweep; 0 again
     * once a batch comes back short. sweep_left: the batch's so far. */
    long long sweep_off;
    long long sweep_left;
    int busy;
    int again;
    int full;      /* the batch in flight filled the LIMIT */
    int inflight;  /* fires of the batch not answered yet */
    int errors;    /* fires answered with an error this round */
    int aborted;   /* a reply was lost (connection down or closing) */
    int transient; /* replies refused for now (OOM, BUSY, ...) this round */
    int kept;      /* due members this round left in the set (held, early,
                      failed): the next page starts after them */
    int tries;     /* rounds in a row with transient errors (backoff) */
    int64_t hold_until; /* Redis ms: no round before (backoff) */
    int early;          /* fires answered 'early' this round (in kept) */
    int early_rounds;   /* rounds in a row with early answers (backoff) */
    held *held;
    int nheld, capheld;
    int64_t next_due;
} part;

/* nspace: one namespace the scheduler serves, with its partitions. Never
 * freed before the scheduler (callbacks in flight hold its parts); a
 * namespace gone from the registry is only marked not `live`. */
typedef struct nspace {
    struct duro_scheduler *s;
    duro_keyspace ks;
    int64_t retention_ms; /* the registry's, refreshed every scan */
    int live;
    part *parts; /* ks.partitions */
    struct nspace *next;
} nspace;

/* FOR_EACH_PART(s, pt): every partition of every live namespace (pt
 * names the loop variable, so it cannot be parenthesized). */
/* NOLINTBEGIN(bugprone-macro-parentheses) */
#define FOR_EACH_PART(s, pt)                                                   \
    for (nspace *ns_ = (s)->spaces; ns_; ns_ = ns_->next)                      \
        for (part *pt = ns_->parts;                                            \
             ns_->live && pt < ns_->parts + ns_->ks.partitions; pt++)
/* NOLINTEND(bugprone-macro-parentheses) */

/* sched_stats: counters since start, logged at exit. */
typedef struct {
    unsigned long long fired, ignored, gone, malformed, fire_errors;
    unsigned long long wft_timedout, act_timedout, orphans, dead, unacked;
    unsigned long long swept, archived, archive_errors;
    int64_t late_max_ms;
} sched_stats;

/* sched (struct duro_scheduler): one scheduler. Everything but `ready`,
 * `stop_mu`/`stop_closed` and the metrics registry belongs to the loop
 * thread once started. */
typedef struct duro_scheduler {
    uv_loop_t *loop;
    duro_redis_url url;
    int default_partitions;
    int partitions;
    int batch;
    int64_t scan_interval_ms;
    int set_up;  /* duro_scheduler_setup succeeded */
    int started; /* handles initialized on `loop` */
    duro_aredis *cmd;
    duro_aredis *sub;
    uv_timer_t tick;
    uv_async_t stop_async;
    pthread_mutex_t stop_mu;
    int stop_closed; /* stop_async closed: no more uv_async_send (stop_mu) */
    int stopping;
    int64_t clock_offset_ms; /* Redis TIME minus duro_mono_ms() */
    int64_t next_scan_mono;  /* when the next scan is due (mono ms) */
    int scan_inflight;       /* reclaim commands not answered yet */
    int trim_inflight;       /* trim.c's commands not answered yet */
    nspace *spaces;    /* default (or only_ns) first, then as discovered */
    char *only_ns;     /* --namespace: serve this one only; NULL: all */
    char *archive_dir; /* --archive-dir: archive runs before removal */
    int refreshing;    /* a registry read is in flight */
    sched_stats st;

    /* own thread (duro_scheduler_start_thread) */
    uv_loop_t own_loop;
    uv_thread_t thread;
    int threaded;

    /* metrics and the HTTP endpoint */
    duro_metrics *m;
    char *metrics_addr;
    duro_http *http;
    atomic_int ready;   /* command connection up */
    atomic_int stalled; /* Redis does not answer (duro_aredis_guard) */
    int64_t stall_timeout_ms;
    atomic_int fatal; /* DURO_E* that stopped it on its own, or 0 */
    int cmd_connects; /* loop thread: connects so far (first is not a
                         reconnect) */
    int sub_connects;
    /* rearm is sched_rearm: timers.c calls it when a partition's next due
     * time changed, without calling up into the loop's file */
    void (*rearm)(struct duro_scheduler *s);

} sched;

/* ---- sched.c ---- */

/* sched_start_handles creates the partitions, timers, connections (and
 * signal handlers) on s->loop. On failure everything started is closed
 * again (run the loop to finish). Returns 0 or DURO_E*. */
int sched_start_handles(sched *s);
/* sched_stop closes every handle (loop thread only); signum 0 = asked. */
void sched_stop(sched *s, int signum);

/* sched_rearm points the tick timer at the earliest known due timer or the
 * next scan, whichever comes first. */
void sched_rearm(sched *s);

/* ---- sched_redis.c ---- */

/* sched_now_ms: Redis' clock, estimated from the last TIME. */
int64_t sched_now_ms(const sched *s);
/* sched_cmd sends a command on the command connection. 0, or DURO_ECONN
 * (cb will not run). */
int sched_cmd(sched *s, duro_aredis_cb cb, void *arg, const duro_argv *a);
/* sched_cmd_noreply sends a command whose reply only matters if it is an
 * error (logged with `what`). */
void sched_cmd_noreply(sched *s, const duro_argv *a, const char *what);
/* sched_clock_refresh asks Redis for its TIME, to correct sched_now_ms. */
void sched_clock_refresh(sched *s);
/* sched_redis_error counts an error reply from Redis (a metric). */
void sched_redis_error(sched *s);

/* ---- stats.c: metric families ---- */

#define M_TIMERS_FIRED "duro_scheduler_timers_fired_total"
#define M_TIMERS_SKIPPED "duro_scheduler_timers_skipped_total"
#define M_TIMER_LATENESS "duro_scheduler_timer_lateness_seconds"
#define M_TIMEOUTS "duro_scheduler_timeouts_total"
#define M_ORPHANS "duro_scheduler_orphans_total"
#define M_DEAD "duro_scheduler_dead_letters_total"
#define M_SCANS "duro_scheduler_reclaim_scans_total"
#define M_SCANS_SKIPPED "duro_scheduler_reclaim_scans_skipped_total"
#define M_REDIS_ERRORS "duro_scheduler_redis_errors_total"
#define M_RECONNECTS "duro_scheduler_redis_reconnects_total"
#define M_CONNECTED "duro_scheduler_redis_connected"
#define M_PARTITIONS "duro_scheduler_partitions"
#define M_SWEPT "duro_scheduler_retention_removed_total"
#define M_ARCHIVED "duro_scheduler_archived_total"
#define M_SCHEDULE_ACTIONS "duro_scheduler_schedule_actions_total"

/* stats_describe declares the scheduler's families in s->m and sets the
 * build info gauge. */
void stats_describe(sched *s);
/* stats_fired counts one fired timer of `kind` that was `late_ms` late;
 * an execution timeout (kind x) also counts workflow `id` as timed out. */
void stats_fired(sched *s, const duro_keyspace *ks, char kind, const char *id,
                 int64_t late_ms);
/* stats_count adds 1 to family `name` with one label key=value (NULL key:
 * no label). */
void stats_count(sched *s, const char *name, const char *key,
                 const char *value);

/* ---- timers.c ---- */

/* timers_fetch starts a round for one partition (or marks it `again`). */
void timers_fetch(part *pt);
/* timers_fetch_due starts rounds for partitions whose earliest timer is due
 * or unknown; all = every partition (but one backing off). */
void timers_fetch_due(sched *s, int all);
/* timers_free releases what a partition holds. */
void timers_free(part *pt);

/* ---- spaces.c: the namespaces served ---- */

/* spaces_init creates the first namespace (default, or only_ns). */
int spaces_init(sched *s);
/* spaces_refresh reads the registry: new namespaces (unless only_ns),
 * gone ones, and every namespace's retention. */
void spaces_refresh(sched *s);
/* spaces_find: the live namespace called name, or NULL. */
nspace *spaces_find(sched *s, const char *name);
void spaces_free(sched *s);

/* ---- sweep.c: retention ---- */

/* sweep_due starts a retention sweep batch in every partition without
 * one in flight: closed runs past their namespace's retention are
 * archived (archive_dir) and removed (duro_purge). */
void sweep_due(sched *s);
/* sweep_part starts one batch in pt (unless one is in flight). */
void sweep_part(part *pt);

/* ---- archive.c ---- */

/* archive_meta: the archive line of run `run` without its history, from
 * its visibility row (HGETALL reply: id, type, queue, status, start,
 * close; `run` too in a row written by library 30 or older); NULL when
 * out of memory. */
cJSON *archive_meta(const nspace *ns, const redisReply *row, const char *run);
/* archive_run adds hist (the run's XRANGE) to meta and appends it as one
 * line to <archive_dir>/<namespace>-<YYYY-MM-DD>.jsonl (the day it closed,
 * UTC), flushed to disk. Returns 0, or -1 (logged) when not written. */
int archive_run(sched *s, const nspace *ns, cJSON *meta,
                const redisReply *hist);

/* ---- reclaim.c ---- */

/* reclaim_scan looks for tasks idle in a pending list (their worker died
 * or hangs) and hands each to its timeout Function. */
void reclaim_scan(sched *s);

/* ---- trim.c ---- */

/* trim_scan deletes the acknowledged task entries that a long-pending
 * entry keeps from the Functions' trim. */
void trim_scan(sched *s);

#endif
