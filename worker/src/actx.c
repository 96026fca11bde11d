/* actx.c: the activity context: what activity code sees of its attempt
 * (duro_actx_*), the outcome as it is recorded, the attempt's lifetime,
 * and its heartbeats.
 *
 * Heartbeats cross threads: the pool thread leaves the latest details in
 * the attempt (under w->hb_mu) and wakes the loop, which sends them. Only
 * the newest details of an attempt are sent; a heartbeat Redis refuses
 * for now is sent again after a backoff unless a newer one went meanwhile.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/errno.h"
#include "duro/json.h"
#include "duro/utf8.h"
#include "duro/fcall.h"
#include "duro/keys.h"
#include "duro/log.h"
#include "duro/retry.h"
#include "duro/retry_policy.h"
#include "duro/reply.h"
#include "worker_internal.h"

/* ---- The context, as activity code sees it ---- */

void duro_actx_fail(duro_actx *ctx, const char *type, bool non_retryable,
                    const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    free(ctx->fail_type);
    free(ctx->fail_msg);
    ctx->failed = true;
    ctx->non_retryable = non_retryable;
    /* NULL when out of memory: reported as an empty type and message */
    ctx->fail_type = strdup(type ? type : "ApplicationError");
    ctx->fail_msg = strdup(msg);
}

int duro_actx_attempt(const duro_actx *ctx)
{
    return ctx->attempt;
}

const char *duro_actx_idempotency_key(const duro_actx *ctx)
{
    return ctx->idempotency_key;
}

int64_t duro_actx_seq(const duro_actx *ctx)
{
    int64_t seq = 0; /* validated when the task was read */
    return duro__parse_i64(ctx->seq, &seq) ? seq : 0;
}

const char *duro_actx_run_id(const duro_actx *ctx)
{
    return ctx->run;
}

const char *duro_actx_workflow_id(const duro_actx *ctx)
{
    return ctx->id;
}

const char *duro_actx_name(const duro_actx *ctx)
{
    return ctx->name;
}

const cJSON *duro_actx_heartbeat_details(const duro_actx *ctx)
{
    return ctx->prev_details;
}

bool duro_actx_is_canceled(const duro_actx *ctx)
{
    return atomic_load(&((duro_actx *)ctx)->canceled);
}

void duro_actx_log(duro_actx *ctx, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    duro_info("ACTIVITY wf=%s activity=%s seq=%s attempt=%d %s", ctx->id,
              ctx->name, ctx->seq, ctx->attempt, msg);
}

void duro_actx_heartbeat(duro_actx *ctx, const cJSON *details)
{
    duro_worker *w = ctx->w;
    if (ctx->local) return; /* recorded only by its marker */
    char *text = NULL, err[256];
    if (details &&
        duro_codec_encode_json(w->codec, details, &text, err, sizeof(err)) != 0)
        duro_warn_limited("HEARTBEAT-CODEC", "HEARTBEAT-CODEC wf=%s seq=%s %s",
                          ctx->id, ctx->seq, err); /* sent without details */
    bool wake = false;
    pthread_mutex_lock(&w->hb_mu);
    free(ctx->hb_details);
    ctx->hb_details = text;
    if (!ctx->hb_pending) {
        ctx->hb_pending = true;
        wake = true;
    }
    pthread_mutex_unlock(&w->hb_mu);
    if (wake) uv_async_send(&w->hb_async);
}

/* ---- The outcome ---- */

static char *failure_json(const duro_actx *c)
{
    cJSON *f = cJSON_CreateObject();
    if (!f) return NULL;
    cJSON_AddStringToObject(f, "message", c->fail_msg ? c->fail_msg : "");
    cJSON_AddStringToObject(f, "type", c->fail_type ? c->fail_type : "");
    cJSON_AddBoolToObject(f, "nonRetryable", c->non_retryable);
    /* a message of raw bytes is mended, not refused: the failure must land */
    char *s = duro_utf8_mend(cJSON_PrintUnformatted(f));
    cJSON_Delete(f);
    return s;
}

/* seal replaces *text (freed) by its encoded form; on failure *text is
 * freed and NULL. No codec: unchanged. */
static int seal(const duro_codec *codec, char **text, char *err, size_t errsize)
{
    if (!codec) return 0;
    char *out = NULL;
    int rc = duro_codec_encode(codec, *text, &out, err, errsize);
    free(*text);
    *text = out;
    return rc;
}

int duro__actx_outcome(duro_actx *c, char **data, char **failure,
                       int64_t *delay)
{
    size_t max = c->w->max_payload;
    *data = *failure = NULL;
    *delay = -1;
    if (!c->failed) {
        char *result =
            c->result ? cJSON_PrintUnformatted(c->result) : strdup("null");
        if (!result) return DURO_ENOMEM;
        char err[256];
        int rc = 0;
        size_t len = strlen(result), at;
        if (len > max) {
            free(result);
            duro_actx_fail(c, "PayloadTooLarge", true,
                           "activity result larger than %zu bytes", max);
        } else if (duro_utf8_check(result, len, &at) < 0) {
            free(result);
            duro_actx_fail(c, "InvalidPayload", true,
                           "activity result: invalid UTF-8 at byte %zu", at);
        } else if ((rc = seal(c->w->codec, &result, err, sizeof(err))) != 0) {
            if (rc == DURO_ENOMEM) return DURO_ENOMEM;
            duro_actx_fail(c, "PayloadCodecError", false, "activity result: %s",
                           err);
        } else {
            int n = asprintf(data, "{\"seq\":%s,\"attempt\":%d,\"result\":%s}",
                             c->seq, c->attempt, result);
            free(result);
            if (n < 0) return *data = NULL, DURO_ENOMEM;
            return 0;
        }
    }
    *failure = failure_json(c);
    if (!*failure) return DURO_ENOMEM;
    *delay = duro__retry_delay_of(c->opts, c->attempt, c->fail_type,
                                  c->non_retryable);
    if (asprintf(data, "{\"seq\":%s,\"attempt\":%d,\"failure\":%s}", c->seq,
                 c->attempt, *failure) < 0) {
        free(*failure);
        *data = *failure = NULL;
        return DURO_ENOMEM;
    }
    return 0;
}

/* ---- Lifetime ---- */

duro_actx *duro__actx_new(duro_worker *w)
{
    duro_actx *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    c->w = w;
    c->refs = 1;
    c->state = DURO_ACTX_READ;
    return c;
}

void duro__actx_unref(duro_actx *c)
{
    if (--c->refs > 0) return;
    free(c->id);
    free(c->run);
    free(c->name);
    free(c->entry);
    free(c->wfqueue);
    free(c->actqueue);
    free(c->seq);
    free(c->idempotency_key);
    cJSON_Delete(c->input);
    cJSON_Delete(c->opts);
    cJSON_Delete(c->prev_details);
    cJSON_Delete(c->result);
    free(c->fail_type);
    free(c->fail_msg);
    free(c->hb_details);
    free(c->hb_sent);
    free(c->token);
    free(c);
}

/* ---- Heartbeats ---- */

static void send_heartbeat(duro_actx *c, const char *details);

static bool finished(const duro_actx *c)
{
    return c->state > DURO_ACTX_RUNNING;
}

/* resend_heartbeat sends the refused heartbeat again, unless the attempt
 * finished or a newer heartbeat went (or waits to go) meanwhile. */
static void resend_heartbeat(duro__later *l)
{
    duro_actx *c = (duro_actx *)((char *)l - offsetof(duro_actx, hb_retry));
    duro_worker *w = c->w;
    pthread_mutex_lock(&w->hb_mu);
    bool newer = c->hb_pending;
    pthread_mutex_unlock(&w->hb_mu);
    if (!finished(c) && !newer && c->hb_sent) {
        char *details = strdup(c->hb_sent);
        if (details) send_heartbeat(c, details);
        free(details);
    }
    duro__actx_unref(c);
}

static void on_heartbeat_reply(duro_aredis *r, redisReply *reply, void *arg)
{
    duro_actx *c = arg;
    int code = reply && reply->type == REDIS_REPLY_ERROR
                   ? duro_redis_error_code(reply->str)
                   : 0;
    if (code == DURO_ESTALE) atomic_store(&c->canceled, true);
    /* a lost heartbeat can cost the attempt its heartbeat timeout */
    if (duro_err_is_transient(code) && !finished(c) && !c->hb_retry.waiting) {
        duro_warn_limited(NULL,
                          "HEARTBEAT-RETRY wf=%s seq=%s attempt=%d err=%s",
                          c->id, c->seq, c->attempt, reply->str);
        c->refs++; /* held by the retry */
        duro__retry_later(c->w, &c->hb_retry, resend_heartbeat);
    }
    duro__actx_unref(c);
}

/* act_heartbeat_argv: FCALL duro_act_heartbeat; a borrows from c, details
 * and k, which it fills. */
static void act_heartbeat_argv(const duro_actx *c, const char *details,
                               duro_wf_keys *k, duro_argv *a)
{
    duro_wf_keys_init(k, &c->w->ks, c->id, NULL);
    duro_fcall_attempt at = {
        .run = c->run, .seq = c->seq, .attempt = c->attempt, .entry = c->entry};
    duro_fcall_act_heartbeat(a, k, &at, details);
}

static void send_heartbeat(duro_actx *c, const char *details)
{
    free(c->hb_sent);
    /* NULL when out of memory: then a refused heartbeat is not re-sent */
    c->hb_sent = details ? strdup(details) : NULL;
    duro_wf_keys k;
    duro_argv a;
    act_heartbeat_argv(c, details, &k, &a);
    c->refs++;
    if (duro_aredis_command(c->w->cmd, on_heartbeat_reply, c, &a) != 0)
        c->refs--;
    duro_argv_free(&a);
}

void duro__hb_drain(uv_async_t *h)
{
    duro_worker *w = h->data;
    /* the attempts that can heartbeat are the running ones */
    for (duro_actx *c = w->inflight; c; c = duro__actx_next(c)) {
        pthread_mutex_lock(&w->hb_mu);
        bool pending = c->hb_pending;
        char *details = c->hb_details;
        c->hb_pending = false;
        c->hb_details = NULL;
        pthread_mutex_unlock(&w->hb_mu);
        if (pending) send_heartbeat(c, details);
        free(details);
    }
}
