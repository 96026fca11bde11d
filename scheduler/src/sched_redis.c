/* sched_redis.c: what the scheduler's parts share to talk to Redis: the
 * command connection, error counting, and Redis' clock. Called by the
 * loop (sched.c), timers.c, reclaim.c and stats.c; calls none of them. */
#include <stdio.h>
#include <stdlib.h>

#include "duro/clock.h"
#include "duro/errno.h"
#include "duro/log.h"
#include "duro/reply.h"
#include "sched_internal.h"

/* ---- Commands ---- */

int sched_cmd(sched *s, duro_aredis_cb cb, void *arg, const duro_argv *a)
{
    if (s->stopping) return DURO_ECONN;
    return duro_aredis_command(s->cmd, cb, arg, a);
}

/* noreply: what a sched_cmd_noreply is for, and its scheduler. */
typedef struct {
    sched *s;
    char what[32];
} noreply;

static void on_noreply(duro_aredis *r, redisReply *reply, void *arg)
{
    noreply *n = arg;
    if (duro__reply_is_error(reply))
        duro_warn_limited(NULL, "REDIS ERROR op=%s err=%s", n->what,
                          reply->str);
    free(n);
}

void sched_cmd_noreply(sched *s, const duro_argv *a, const char *what)
{
    noreply *n = malloc(sizeof(*n));
    if (!n) return;
    n->s = s;
    snprintf(n->what, sizeof(n->what), "%s", what);
    if (sched_cmd(s, on_noreply, n, a) != 0) free(n);
}

/* ---- Clock ---- */

int64_t sched_now_ms(const sched *s)
{
    /* a test clock moves the wall clock, which Redis' TIME does not see */
    if (duro_clock_is_set()) return duro_now_ms();
    return duro_mono_ms() + s->clock_offset_ms;
}

/* time_probe: one TIME round trip, to place Redis' clock. */
typedef struct {
    sched *s;
    int64_t sent_us;
} time_probe;

/* on_time: timers are due by Redis' clock (the Functions write TIME-based
 * scores), so we track Redis' clock against our monotonic one, taking the
 * midpoint of the round trip. */
static void on_time(duro_aredis *r, redisReply *reply, void *arg)
{
    time_probe *probe = arg;
    sched *s = probe->s;
    int64_t sent_us = probe->sent_us;
    free(probe);
    long long sec, usec;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        !duro__reply_int(reply->element[0], &sec) ||
        !duro__reply_int(reply->element[1], &usec))
        return;
    int64_t mid_us = (sent_us + duro_mono_us()) / 2;
    int64_t off = (int64_t)sec * 1000 + usec / 1000 - mid_us / 1000;
    if (llabs(off - s->clock_offset_ms) > 50)
        duro_info("CLOCK offset=%lldms drift=%lldms", (long long)off,
                  (long long)(off - s->clock_offset_ms));
    s->clock_offset_ms = off;
}

void sched_clock_refresh(sched *s)
{
    if (duro_clock_is_set()) return; /* sched_now_ms reads the test clock */
    time_probe *arg = malloc(sizeof(*arg));
    if (!arg) return;
    arg->s = s;
    arg->sent_us = duro_mono_us();
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "TIME");
    if (sched_cmd(s, on_time, arg, &a) != 0) free(arg);
    duro_argv_free(&a);
}

/* ---- Errors ---- */

void sched_redis_error(sched *s)
{
    duro_metrics_add(s->m, M_REDIS_ERRORS, NULL, 1);
}
