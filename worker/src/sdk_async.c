/* sdk_async.c: asynchronous activity completion, the worker's side.
 *
 * An activity that cannot finish inside its function (it waits for a
 * person, a webhook, another system) calls duro_actx_complete_later and
 * returns. The worker then neither acks nor completes the attempt: its
 * task entry stays pending in the activity stream, so the scheduler's
 * start-to-close and heartbeat timeouts keep watching it exactly as they
 * watch a running attempt. The outside system later completes or fails
 * the attempt through the client (client_activity.c), which makes the
 * same fenced Function call (duro_act_complete) a worker would have made:
 * one whose attempt timed out meanwhile is refused as stale.
 *
 * The entry is first moved to the consumer DURO_ASYNC_CONSUMER, which no
 * worker reads as: a worker that stops cleanly deletes its own consumer
 * (XGROUP DELCONSUMER), and with it every entry still pending on it, which
 * would take the attempt out of the scheduler's sight (XPENDING) and so
 * out of its timeouts. The move keeps the entry's idle time (IDLE: the
 * time since the attempt began), so the start-to-close counts from then.
 *
 * A leased attempt (eager dispatch, library 35: its entry `L...` is in no
 * stream) needs no move: its l timer, armed when it started, watches its
 * start-to-close and heartbeat timeouts whatever becomes of this worker. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "duro/clock.h"
#include "duro/errno.h"
#include "duro/keys.h"
#include "duro/log.h"
#include "duro/reply.h"
#include "duro/task_token.h"
#include "duro/worker.h"
#include "worker_internal.h"

cJSON *duro_actx_complete_later(duro_actx *ctx)
{
    ctx->later = true;
    return NULL;
}

const char *duro_actx_task_token(duro_actx *ctx)
{
    if (ctx->local) return NULL; /* nothing pending to complete */
    if (ctx->token) return ctx->token;
    duro_task_token t = {.ns = ctx->w->ks.ns,
                         .id = ctx->id,
                         .run = ctx->run,
                         .seq = ctx->seq,
                         .entry = ctx->entry,
                         .wfqueue = ctx->wfqueue,
                         .actqueue = ctx->actqueue,
                         .attempt = ctx->attempt};
    if (duro_task_token_encode(&t, &ctx->token) != 0) ctx->token = NULL;
    return ctx->token;
}

static void on_parked(duro_aredis *r, redisReply *reply, void *arg)
{
    (void)r;
    duro_actx *c = arg;
    duro_worker *w = c->w;
    if (!reply || reply->type == REDIS_REPLY_ERROR)
        /* the entry stays on this worker's consumer: its timeouts hold
         * while the worker lives, not after a clean stop */
        duro_warn("ACT-PARK-FAILED wf=%s seq=%s attempt=%d err=%s", c->id,
                  c->seq, c->attempt, reply ? reply->str : "connection lost");
    w->completing--;
    duro__actx_unref(c); /* the pool's room was polled for at park time */
    w->maybe_finish(w);
}

void duro__act_park(duro_worker *w, duro_actx *c)
{
    duro_info("ACT-ASYNC wf=%s activity=%s seq=%s attempt=%d", c->id, c->name,
              c->seq, c->attempt);
    if (duro_entry_is_lease(c->entry)) {
        duro__actx_unref(c); /* the pool's room was polled for at park time */
        return;
    }
    char key[DURO_KEY_MAX];
    duro_key_act(key, sizeof(key), &w->ks, c->partition, c->actqueue);
    int64_t idle_ms = (duro_mono_us() - c->started_us) / 1000;
    /* XCLAIM key group consumer min-idle-time id IDLE ms JUSTID */
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "XCLAIM");
    duro_argv_push(&a, key);
    duro_argv_push(&a, DURO_GROUP);
    duro_argv_push(&a, DURO_ASYNC_CONSUMER);
    duro_argv_push(&a, "0");
    duro_argv_push(&a, c->entry);
    duro_argv_push(&a, "IDLE");
    duro_argv_pushll(&a, idle_ms > 0 ? idle_ms : 0);
    duro_argv_push(&a, "JUSTID");
    w->completing++;
    if (duro_aredis_command(w->cmd, on_parked, c, &a) != 0) {
        duro_warn("ACT-PARK-FAILED wf=%s seq=%s attempt=%d err=not connected",
                  c->id, c->seq, c->attempt);
        w->completing--;
        duro__actx_unref(c);
    }
    duro_argv_free(&a);
}
