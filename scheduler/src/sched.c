/* sched.c: the scheduler's loop: the tick that drives timers and scans,
 * connections, wake-ups, shutdown. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/clock.h"
#include "duro/errno.h"
#include "duro/keys.h"
#include "duro/log.h"
#include "sched_internal.h"

/* ---- Tick ---- */

static void scan(sched *s)
{
    s->next_scan_mono = duro_mono_ms() + s->scan_interval_ms;
    sched_clock_refresh(s);
    spaces_refresh(s);
    reclaim_scan(s);
    trim_scan(s);
    /* A full pass each scan is the safety net for a lost wake message. */
    timers_fetch_due(s, 1);
    sweep_due(s);
}

static void on_tick(uv_timer_t *t)
{
    sched *s = t->data;
    if (s->stopping) return;
    duro_log_limited_flush();
    if (duro_mono_ms() >= s->next_scan_mono)
        scan(s);
    else
        timers_fetch_due(s, 0);
    sched_rearm(s);
}

void sched_rearm(sched *s)
{
    if (s->stopping) return;
    int64_t delay = s->next_scan_mono - duro_mono_ms();
    int64_t now = sched_now_ms(s);
    FOR_EACH_PART(s, pt)
    {
        if (pt->busy || pt->next_due == NEXT_NONE ||
            pt->next_due == NEXT_UNKNOWN)
            continue;
        if (pt->next_due - now < delay) delay = pt->next_due - now;
    }
    /* 1ms floor: a due timer is fetched on the next turn, never in a
     * tight loop even if Redis keeps it in the set. */
    if (delay < 1) delay = 1;
    uv_timer_start(&s->tick, on_tick, (uint64_t)delay, 0);
}

/* ---- Connections ---- */

static void on_cmd_state(duro_aredis *r, bool connected, void *arg)
{
    sched *s = arg;
    atomic_store(&s->ready, connected && !s->stopping);
    duro_metrics_set(s->m, M_CONNECTED, NULL, connected && !s->stopping);
    if (s->stopping) return;
    if (!connected) {
        /* What we knew about due times may be stale once we are back. */
        FOR_EACH_PART(s, pt)
        pt->next_due = NEXT_UNKNOWN;
        return;
    }
    if (s->cmd_connects++ > 0) stats_count(s, M_RECONNECTS, "conn", "commands");
    s->next_scan_mono = 0; /* scan now: clock, reclaim, every partition */
    sched_rearm(s);
}

/* on_sub_state: the wake subscription is (again) in place. What was
 * published while it was not is lost, so every partition is looked at now
 * rather than at the next scan (a round in flight goes again after). The
 * SUBSCRIBE went out first, on its own connection: only a wake published
 * in the instant between Redis reading these reads and reading it is
 * left to the scan. */
static void on_sub_state(duro_aredis *r, bool connected, void *arg)
{
    sched *s = arg;
    if (!connected || s->stopping) return;
    if (s->sub_connects++ > 0) stats_count(s, M_RECONNECTS, "conn", "wake");
    timers_fetch_due(s, 1);
    sched_rearm(s);
}

/* on_fatal: Redis refused the credentials or the layout; retrying cannot
 * help, so the scheduler stops (duro_scheduler_error says why). */
static void on_fatal(duro_aredis *r, int code, const char *msg, void *arg)
{
    sched *s = arg;
    int none = 0;
    atomic_compare_exchange_strong(&s->fatal, &none, code);
    sched_stop(s, 0);
}

static void on_stall(duro_aredis *r, bool stalled, void *arg)
{
    atomic_store(&((sched *)arg)->stalled, stalled);
}

/* wake_part: the partition a wake message names: "<p>" in the default
 * namespace, "<p>:<namespace>" in another; NULL when not ours. */
static part *wake_part(sched *s, const redisReply *msg)
{
    const char *m = duro__reply_str(msg);
    if (!m) return NULL;
    char *end;
    long p = strtol(m, &end, 10);
    if (end == m || p < 0) return NULL;
    nspace *ns = spaces_find(s, *end == ':' ? end + 1 : DURO_DEFAULT_NAMESPACE);
    if (!ns || (*end && *end != ':') || p >= ns->ks.partitions) return NULL;
    return &ns->parts[p];
}

/* on_wake: a Function added a timer earlier than its partition's earliest. */
static void on_wake(duro_aredis *r, redisReply *reply, void *arg)
{
    sched *s = arg;
    part *pt = s->stopping || reply->elements < 3
                   ? NULL
                   : wake_part(s, reply->element[2]);
    if (!pt) {
        duro_debug("WAKE ignored");
        return;
    }
    duro_debug("WAKE ns=%s p=%d", pt->ns->ks.ns, pt->p);
    timers_fetch(pt);
}

/* ---- Shutdown ---- */

static void on_handle_closed(uv_handle_t *h) {}

void sched_stop(sched *s, int signum)
{
    if (s->stopping) return;
    s->stopping = 1;
    atomic_store(&s->ready, 0);
    duro_metrics_set(s->m, M_CONNECTED, NULL, 0);
    if (signum)
        duro_info("STOP signal=%d", signum);
    else
        duro_info("STOP requested");
    uv_close((uv_handle_t *)&s->tick, on_handle_closed);
    pthread_mutex_lock(&s->stop_mu);
    s->stop_closed = 1;
    uv_close((uv_handle_t *)&s->stop_async, on_handle_closed);
    pthread_mutex_unlock(&s->stop_mu);
    /* Pending replies arrive as NULL; their callbacks see `stopping`. */
    duro_aredis_close(s->sub);
    duro_aredis_close(s->cmd);
    s->sub = s->cmd = NULL;
}

static void on_stop_async(uv_async_t *h)
{
    sched_stop(h->data, 0);
}

/* ---- Start ---- */

int sched_start_handles(sched *s)
{
    int rc = spaces_init(s);
    if (rc) return rc;
    s->next_scan_mono = duro_mono_ms() + s->scan_interval_ms;
    uv_timer_init(s->loop, &s->tick);
    s->tick.data = s;
    s->rearm = sched_rearm;
    uv_async_init(s->loop, &s->stop_async, on_stop_async);
    s->stop_async.data = s;
    s->started = 1;
    rc = duro_aredis_new(&s->cmd, s->loop, &s->url, "scheduler", on_cmd_state,
                         s);
    if (rc == 0)
        rc = duro_aredis_new(&s->sub, s->loop, &s->url, "scheduler-wake",
                             on_sub_state, s);
    if (rc == 0) {
        duro_aredis_guard_opts g = {.on_fatal = on_fatal, .arg = s};
        duro_aredis_guard(s->sub, &g);
        g.partitions = s->partitions;
        g.stall_timeout_ms = s->stall_timeout_ms;
        g.on_stall = on_stall;
        duro_aredis_guard(s->cmd, &g);
        rc = duro_aredis_subscribe(s->sub, DURO_WAKE_CHANNEL, on_wake, s);
    }
    if (rc) {
        duro_error("START FAILED err=%s", duro_strerror(rc));
        sched_stop(s, 0);
    }
    return rc;
}
