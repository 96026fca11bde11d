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
 * one whose attempt timed out meanwhile is refused as stale. */
#include <stdlib.h>

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
