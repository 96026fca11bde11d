/* scheduler.h: the scheduler's private state, shared by its source files. */
#ifndef DURO_SCHEDULER_H
#define DURO_SCHEDULER_H

#include <stdint.h>
#include <uv.h>

#include "duro/aredis.h"
#include "duro/config.h"

/* NEXT_UNKNOWN: a partition whose earliest timer we do not know (start,
 * lost connection): the next tick fetches it. NEXT_NONE: no timers. */
#define NEXT_UNKNOWN INT64_MIN
#define NEXT_NONE INT64_MAX

struct sched;

/* part: one partition's timer round. A round is ZRANGEBYSCORE, the fires
 * of that batch (pipelined), again while batches come back full, then
 * ZRANGE 0 0 to learn when to wake next. One round per partition at a
 * time; a wake that arrives meanwhile sets `again`. */
typedef struct part {
    struct sched *s;
    int p;
    char timers_key[64];
    int busy;
    int again;
    int full;     /* the batch in flight filled the LIMIT */
    int inflight; /* fires of the batch not answered yet */
    int errors;   /* fires answered with an error this round */
    int aborted;  /* a reply was lost (connection down or closing) */
    int64_t next_due;
} part;

/* sched_stats: counters since start, logged at exit. */
typedef struct {
    unsigned long long fired, ignored, gone, malformed, fire_errors;
    unsigned long long wft_timedout, act_timedout, orphans, dead, unacked;
    int64_t late_max_ms;
} sched_stats;

/* sched: the whole process. Lives until uv_run returns. */
typedef struct sched {
    uv_loop_t *loop;
    duro_redis_url url;
    int partitions;
    int batch;
    int64_t scan_interval_ms;
    duro_aredis *cmd;
    duro_aredis *sub;
    uv_timer_t tick;
    uv_signal_t sigterm, sigint;
    int stopping;
    int64_t clock_offset_ms; /* Redis TIME minus duro_mono_ms() */
    int64_t next_scan_mono;  /* when the next scan is due (mono ms) */
    int scan_inflight;       /* reclaim commands not answered yet */
    part *parts;
    sched_stats st;
} sched;

/* ---- sched.c ---- */

/* sched_run sets up the loop, connections and signals and runs until
 * SIGTERM/SIGINT. Returns 0 or a DURO_E* code. */
int sched_run(sched *s);
/* sched_now_ms: Redis' clock, estimated from the last TIME. */
int64_t sched_now_ms(const sched *s);
/* sched_rearm points the tick timer at the earliest known due timer or the
 * next scan, whichever comes first. */
void sched_rearm(sched *s);
/* sched_cmd sends a command on the command connection. 0, or DURO_ECONN
 * (cb will not run). */
int sched_cmd(sched *s, duro_aredis_cb cb, void *arg, const duro_argv *a);
/* sched_cmd_noreply sends a command whose reply only matters if it is an
 * error (logged with `what`). */
void sched_cmd_noreply(sched *s, const duro_argv *a, const char *what);

/* Reply helpers: tolerate any shape Redis (or a hand-written key) gives. */
int reply_is_str(const redisReply *r);
int reply_is_error(const redisReply *r);
/* reply_ll parses a string or integer reply as a decimal long long. */
int reply_ll(const redisReply *r, long long *out);

/* ---- timers.c ---- */

/* timers_fetch starts a round for one partition (or marks it `again`). */
void timers_fetch(part *pt);
/* timers_fetch_due starts rounds for partitions whose earliest timer is due
 * or unknown; all = every partition. */
void timers_fetch_due(sched *s, int all);

/* ---- reclaim.c ---- */

/* reclaim_scan looks for tasks idle in a pending list (their worker died
 * or hangs) and hands each to its timeout Function. */
void reclaim_scan(sched *s);

#endif
