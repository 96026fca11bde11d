/* activity.c: activity tasks: read, run on the pool, report the outcome.
 *
 * Pool threads only run the user's function and touch their own duro_actx;
 * everything that talks to Redis happens on the loop. An outcome that
 * cannot be delivered because Redis is away, or that Redis refuses for now
 * (OOM, BUSY, LOADING, READONLY, ...), is kept and re-sent when it returns
 * or after a backoff (the Function is fenced by attempt, so a duplicate is
 * harmless).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/clock.h"
#include "duro/errno.h"
#include "duro/history.h"
#include "duro/ids.h"
#include "duro/json.h"
#include "duro/keys.h"
#include "duro/log.h"
#include "duro/metrics.h"
#include "duro/retry.h"
#include "commit.h"
#include "worker_internal.h"

#define RELEASE_TRIES 6 /* a refused hand-back: ~3s of backoff at most */

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
    return atoll(ctx->seq);
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
    char *text = details ? cJSON_PrintUnformatted(details) : NULL;
    duro_worker *w = ctx->w;
    bool wake = false;
    pthread_mutex_lock(&w->hb_mu);
    free(ctx->hb_details);
    ctx->hb_details = text;
    if (!ctx->hb_queued) {
        ctx->hb_queued = true;
        ctx->hb_next = w->hb_head;
        w->hb_head = ctx;
        wake = true;
    }
    pthread_mutex_unlock(&w->hb_mu);
    if (wake) uv_async_send(&w->hb_async);
}

/* ---- Lifetime ---- */

static void actx_unref(duro_actx *c)
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
    free(c);
}

/* ---- Heartbeats ---- */

static void send_heartbeat(duro_actx *c, const char *details);

/* resend_heartbeat sends the refused heartbeat again, unless the attempt
 * finished or a newer heartbeat went (or waits to go) meanwhile. */
static void resend_heartbeat(duro__later *l)
{
    duro_actx *c = (duro_actx *)((char *)l - offsetof(duro_actx, hb_retry));
    duro_worker *w = c->w;
    c->hb_retrying = false;
    pthread_mutex_lock(&w->hb_mu);
    bool newer = c->hb_queued;
    pthread_mutex_unlock(&w->hb_mu);
    if (!c->finished && !newer && c->hb_sent) {
        char *details = strdup(c->hb_sent);
        send_heartbeat(c, details);
        free(details);
    }
    actx_unref(c);
}

static void on_heartbeat_reply(duro_aredis *r, redisReply *reply, void *arg)
{
    duro_actx *c = arg;
    int code = reply && reply->type == REDIS_REPLY_ERROR
                   ? duro_redis_error_code(reply->str)
                   : 0;
    if (code == DURO_ESTALE) atomic_store(&c->canceled, true);
    /* a lost heartbeat can cost the attempt its heartbeat timeout */
    if (duro_err_is_transient(code) && !c->finished && !c->hb_retrying) {
        duro_warn_limited(NULL,
                          "HEARTBEAT-RETRY wf=%s seq=%s attempt=%d err=%s",
                          c->id, c->seq, c->attempt, reply->str);
        c->hb_retrying = true;
        c->refs++; /* held by the retry */
        duro__retry_later(c->w, &c->hb_retry, resend_heartbeat);
    }
    actx_unref(c);
}

static void send_heartbeat(duro_actx *c, const char *details)
{
    duro_worker *w = c->w;
    free(c->hb_sent);
    c->hb_sent = details ? strdup(details) : NULL;
    duro_wf_keys k;
    duro_wf_keys_init(&k, w->partitions, c->id, NULL);
    const char *keys[] = {k.wf, k.pa};
    duro_argv a;
    duro_argv_fcall(&a, "duro_act_heartbeat", 2, keys);
    duro_argv_push(&a, c->run);
    duro_argv_push(&a, c->seq);
    duro_argv_pushll(&a, c->attempt);
    duro_argv_push(&a, details ? details : "");
    c->refs++;
    if (duro_aredis_command(w->cmd, on_heartbeat_reply, c, &a) != 0) c->refs--;
    duro_argv_free(&a);
}

void duro__hb_drain(uv_async_t *h)
{
    duro_worker *w = h->data;
    pthread_mutex_lock(&w->hb_mu);
    duro_actx *list = w->hb_head;
    w->hb_head = NULL;
    for (duro_actx *c = list; c; c = c->hb_next)
        c->hb_queued = false;
    pthread_mutex_unlock(&w->hb_mu);
    while (list) {
        duro_actx *c = list;
        list = c->hb_next;
        pthread_mutex_lock(&w->hb_mu);
        char *details = c->hb_details;
        c->hb_details = NULL;
        pthread_mutex_unlock(&w->hb_mu);
        send_heartbeat(c, details);
        free(details);
    }
}

/* ---- Completion ---- */

static bool policy_lists(const cJSON *opts, const char *type)
{
    const cJSON *retry = cJSON_GetObjectItemCaseSensitive(opts, "retry");
    const cJSON *nr =
        cJSON_GetObjectItemCaseSensitive(retry, "nonRetryableErrorTypes");
    const cJSON *it;
    cJSON_ArrayForEach(it,
                       nr) if (cJSON_IsString(it) &&
                               strcmp(it->valuestring, type) == 0) return true;
    return false;
}

static int64_t retry_delay(const duro_actx *c)
{
    const cJSON *retry = cJSON_GetObjectItemCaseSensitive(c->opts, "retry");
    duro_retry_policy p = {0};
    p.initial_interval_ms = duro_json_int(retry, "initialIntervalMs", 0);
    p.maximum_interval_ms = duro_json_int(retry, "maximumIntervalMs", 0);
    p.max_attempts = (int)duro_json_int(retry, "maximumAttempts", 0);
    const cJSON *bc =
        cJSON_GetObjectItemCaseSensitive(retry, "backoffCoefficient");
    p.backoff_coefficient = cJSON_IsNumber(bc) ? bc->valuedouble : 0;
    bool non_retryable =
        c->non_retryable || policy_lists(c->opts, c->fail_type);
    return duro_retry_delay(&p, c->attempt, c->fail_type, non_retryable);
}

static void send_completion(duro_actx *c);

/* end_eager settles the run an eager completion advanced: kept with its
 * new position when the commit was accepted, else dropped from the cache
 * (it ran ahead of the history; its next task replays). */
static void end_eager(duro_actx *c, const redisReply *reply)
{
    duro_worker *w = c->w;
    duro_wf *wf = c->eager;
    if (!wf) return;
    c->eager = NULL;
    bool accepted = reply && reply->type == REDIS_REPLY_ARRAY &&
                    reply->elements == 3 &&
                    reply->element[1]->type == REDIS_REPLY_INTEGER;
    if (accepted) {
        wf->applied = reply->element[1]->integer;
        w->eager_done++;
        w->wft_done++;
        duro__worker_count_run(w, wf, false);
    } else {
        w->eager_fallbacks++;
    }
    duro__run_release(w, wf, accepted);
}

static void queue_unsent(duro_actx *c)
{
    duro_worker *w = c->w;
    c->no_eager = true; /* the run moved on meanwhile, for all we know */
    c->unsent_next = w->unsent_head;
    w->unsent_head = c;
}

static void resend_completion(duro__later *l)
{
    duro_actx *c = (duro_actx *)((char *)l - offsetof(duro_actx, retry));
    if (!duro_aredis_connected(c->w->cmd)) {
        queue_unsent(c); /* the reconnect sends it */
        return;
    }
    send_completion(c);
}

static void on_complete_reply(duro_aredis *r, redisReply *reply, void *arg)
{
    duro_actx *c = arg;
    duro_worker *w = c->w;
    end_eager(c, reply);
    if (!reply) {
        /* Redis went away mid-call: keep the outcome and send it again */
        queue_unsent(c);
        return;
    }
    int code = reply->type == REDIS_REPLY_ERROR
                   ? duro_redis_error_code(reply->str)
                   : 0;
    if (duro_err_is_transient(code) &&
        !(w->stopping && duro_mono_ms() >= w->stop_deadline_ms)) {
        /* refused for now (OOM, BUSY, LOADING, READONLY, ...) before it
         * ran: keep the outcome, send it again after a backoff rather
         * than let the attempt run again after its start-to-close */
        duro_warn_limited(NULL,
                          "ACT-COMPLETE-RETRY wf=%s seq=%s attempt=%d err=%s",
                          c->id, c->seq, c->attempt, reply->str);
        c->no_eager = true; /* the run moved on meanwhile, for all we know */
        duro__retry_later(w, &c->retry, resend_completion);
        return;
    }
    if (code != 0 && code != DURO_ESTALE)
        duro_warn("ACT-COMPLETE-REJECTED wf=%s seq=%s err=%s", c->id, c->seq,
                  reply->str);
    w->completing--;
    actx_unref(c);
    duro__act_poll(w);
    duro__maybe_finish(w);
}

static char *failure_json(const duro_actx *c)
{
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "message", c->fail_msg ? c->fail_msg : "");
    cJSON_AddStringToObject(f, "type", c->fail_type ? c->fail_type : "");
    cJSON_AddBoolToObject(f, "nonRetryable", c->non_retryable);
    char *s = cJSON_PrintUnformatted(f);
    cJSON_Delete(f);
    return s;
}

/* try_eager: when this worker holds the run, idle and exactly as far as
 * the history it last committed, it applies the completion itself, runs the
 * workflow code and encodes the resulting commands into cm, so that one
 * call both completes the activity and commits that workflow task. The run
 * stays busy until the reply. */
static bool try_eager(duro_actx *c, const char *data, duro__commit *cm,
                      int64_t *expected)
{
    duro_worker *w = c->w;
    duro_wf *wf = duro__cache_peek(&w->cache, c->id);
    if (!wf || wf->busy || wf->behind || wf->done || wf->nondet ||
        wf->ninbound || wf->seg_open || wf->cmds ||
        strcmp(wf->run, c->run) != 0)
        return false;
    duro_event e = {.id = wf->applied + 1,
                    .type = DURO_EVENT_ACTIVITY_COMPLETED,
                    .ts = duro_now_ms(),
                    .data = cJSON_Parse(data)};
    if (!e.data) return false;
    *expected = wf->applied;
    wf->busy = true;
    int rc = duro__run_apply(wf, &e, 1);
    cJSON_Delete(e.data);
    if (rc == 0) rc = duro__run_advance(wf, duro_now_ms());
    duro__cmd *cmds = duro__run_take_cmds(wf);
    if (rc == 0) {
        rc = duro__commit_encode(cm, c->partition, 10, cmds, wf->now);
    } else {
        duro_argv_init(&cm->args);
        cm->cmds = cmds;
    }
    if (rc != 0) {
        duro__commit_free(cm);
        duro__run_release(w, wf, false);
        return false;
    }
    c->eager = wf;
    return true;
}

/* hold_for_run: when this worker's cached run of the activity is busy (its
 * last commit still in flight), the completion waits for it, so that it
 * can then be committed eagerly instead of through another workflow task. */
static bool hold_for_run(duro_actx *c)
{
    if (c->failed || c->no_eager) return false;
    duro_wf *wf = duro__cache_peek(&c->w->cache, c->id);
    if (!wf || !wf->busy || strcmp(wf->run, c->run) != 0) return false;
    c->held_next = wf->held;
    wf->held = c;
    return true;
}

void duro__act_send_held(duro_worker *w, duro_actx *held, bool eager)
{
    while (held) {
        duro_actx *c = held;
        held = c->held_next;
        c->held_next = NULL;
        if (!eager) c->no_eager = true;
        send_completion(c);
    }
}

static void send_completion(duro_actx *c)
{
    duro_worker *w = c->w;
    if (hold_for_run(c)) return;
    duro_wf_keys k;
    duro_wf_keys_init(&k, w->partitions, c->id, c->run);
    char wft[DURO_KEY_MAX], act[DURO_KEY_MAX];
    duro_key_wft(wft, sizeof(wft), c->partition, c->wfqueue);
    duro_key_act(act, sizeof(act), c->partition, c->actqueue);

    char *data = NULL, *failure = NULL;
    int64_t delay = -1;
    if (!c->failed) {
        char *result =
            c->result ? cJSON_PrintUnformatted(c->result) : strdup("null");
        if (result && strlen(result) > w->max_payload) {
            free(result);
            duro_actx_fail(c, "PayloadTooLarge", true,
                           "activity result larger than %zu bytes",
                           w->max_payload);
        } else {
            duro_assert(
                asprintf(&data, "{\"seq\":%s,\"attempt\":%d,\"result\":%s}",
                         c->seq, c->attempt, result ? result : "null") >= 0);
            free(result);
        }
    }
    if (c->failed) {
        failure = failure_json(c);
        delay = retry_delay(c);
        duro_assert(asprintf(&data,
                             "{\"seq\":%s,\"attempt\":%d,\"failure\":%s}",
                             c->seq, c->attempt, failure) >= 0);
    }
    duro__commit *cm = NULL;
    int64_t expected = 0;
    if (!c->failed && !c->no_eager) {
        cm = malloc(sizeof(*cm));
        duro_assert(cm != NULL);
        if (!try_eager(c, data, cm, &expected)) {
            free(cm);
            cm = NULL;
        }
    }
    const char *keys[9 + DURO_MAX_ACT_QUEUES] = {
        k.wf, k.hist, k.buf,      wft,         k.timers,
        k.pa, act,    k.idx_open, k.idx_closed};
    int nkeys = 9;
    for (int i = 0; cm && i < cm->nextra; i++)
        keys[nkeys++] = cm->extra[i];
    duro_argv a;
    duro_argv_fcall(&a, "duro_act_complete", nkeys, keys);
    duro_argv_push(&a, c->run);
    duro_argv_push(&a, c->seq);
    duro_argv_pushll(&a, c->attempt);
    duro_argv_push(&a, c->entry);
    duro_argv_push(&a, c->failed ? "failed" : "completed");
    duro_argv_push(&a, data);
    duro_argv_pushll(&a, delay);
    duro_argv_push(&a, failure ? failure : "");
    if (cm) {
        duro_argv_pushll(&a, expected);
        duro_argv_push(&a, cm->wtc);
        duro_argv_pushll(&a, cm->ncmd);
        for (int i = 0; i < cm->args.argc; i++)
            duro_argv_pushn(&a, cm->args.argv[i], cm->args.lens[i]);
    }
    /* the command is copied when sent: only then may what it borrows go */
    if (duro_aredis_command(w->cmd, on_complete_reply, c, &a) != 0) {
        end_eager(c, NULL);
        queue_unsent(c);
    }
    duro_argv_free(&a);
    if (cm) {
        duro__commit_free(cm);
        free(cm);
    }
    free(data);
    free(failure);
}

void duro__act_flush_unsent(duro_worker *w)
{
    if (!w->unsent_head || !duro_aredis_connected(w->cmd)) return;
    duro_actx *list = w->unsent_head;
    w->unsent_head = NULL;
    while (list) {
        duro_actx *c = list;
        list = c->unsent_next;
        send_completion(c);
    }
}

/* ---- Handing back ---- */

static void inflight_add(duro_worker *w, duro_actx *c)
{
    c->inflight_prev = NULL;
    c->inflight_next = w->inflight;
    if (w->inflight) w->inflight->inflight_prev = c;
    w->inflight = c;
}

static void inflight_remove(duro_worker *w, duro_actx *c)
{
    if (c->inflight_prev)
        c->inflight_prev->inflight_next = c->inflight_next;
    else if (w->inflight == c)
        w->inflight = c->inflight_next;
    if (c->inflight_next) c->inflight_next->inflight_prev = c->inflight_prev;
    c->inflight_prev = c->inflight_next = NULL;
}

static int release_call(duro_actx *c);

/* finish_release ends a hand-back, answered or given up. */
static void finish_release(duro_actx *c)
{
    duro_worker *w = c->w;
    w->releasing--;
    actx_unref(c);
    duro__maybe_finish(w);
}

static void resend_release(duro__later *l)
{
    duro_actx *c = (duro_actx *)((char *)l - offsetof(duro_actx, rel_retry));
    if (release_call(c) != 0) finish_release(c);
}

static void on_release_reply(duro_aredis *r, redisReply *reply, void *arg)
{
    duro_actx *c = arg;
    duro_worker *w = c->w;
    int code = reply && reply->type == REDIS_REPLY_ERROR
                   ? duro_redis_error_code(reply->str)
                   : 0;
    /* refused for now: try a few times more (the stop waits for it), or
     * the attempt waits out its start-to-close before anyone runs it */
    if (duro_err_is_transient(code) && c->rel_retry.tries < RELEASE_TRIES) {
        duro_warn_limited(NULL,
                          "HAND-BACK-RETRY wf=%s seq=%s attempt=%d err=%s",
                          c->id, c->seq, c->attempt, reply->str);
        duro__retry_later(w, &c->rel_retry, resend_release);
        return;
    }
    duro_info("HAND-BACK wf=%s activity=%s seq=%s attempt=%d %s", c->id,
              c->name, c->seq, c->attempt,
              !reply ? "lost (the timeout will retry it)" : reply->str);
    finish_release(c);
}

/* release_call sends FCALL duro_act_release; 0 or DURO_ECONN. */
static int release_call(duro_actx *c)
{
    duro_worker *w = c->w;
    duro_wf_keys k;
    duro_wf_keys_init(&k, w->partitions, c->id, c->run);
    char wft[DURO_KEY_MAX], act[DURO_KEY_MAX];
    duro_key_wft(wft, sizeof(wft), c->partition, c->wfqueue);
    duro_key_act(act, sizeof(act), c->partition, c->actqueue);
    const char *keys[] = {k.wf, k.hist, k.buf, wft, k.timers, k.pa, act};
    duro_argv a;
    duro_argv_fcall(&a, "duro_act_release", 7, keys);
    duro_argv_push(&a, c->run);
    duro_argv_push(&a, c->seq);
    duro_argv_pushll(&a, c->attempt);
    duro_argv_push(&a, c->entry);
    int rc = duro_aredis_command(w->cmd, on_release_reply, c, &a);
    duro_argv_free(&a);
    return rc;
}

/* send_release puts the attempt back in its queue for another worker. */
static void send_release(duro_actx *c)
{
    duro_worker *w = c->w;
    c->refs++;
    w->releasing++;
    if (release_call(c) != 0) {
        w->releasing--;
        actx_unref(c);
    }
}

void duro__act_release_inflight(duro_worker *w)
{
    for (duro_actx *c = w->inflight; c; c = c->inflight_next) {
        /* the thread keeps running it; its late outcome is fenced off by
         * whichever attempt finishes first */
        c->refs++;
        send_release(c);
    }
}

/* ---- Running ---- */

void duro__act_pool_work(void *job)
{
    duro_actx *c = job;
    if (atomic_load(&c->w->handing_back)) {
        c->handed_back = true; /* queued here but not begun: give it back */
        return;
    }
    if (c->failed) return; /* rejected before it ran */
    c->started_us = duro_mono_us();
    cJSON *r = c->reg->fn(c, c->input, c->reg->arg);
    c->ran_us = duro_mono_us() - c->started_us;
    if (c->failed)
        cJSON_Delete(r);
    else
        c->result = r;
}

/* hb_forget takes a finished attempt off the heartbeat list, so that the
 * list never points at an attempt that may be freed. */
static void hb_forget(duro_worker *w, duro_actx *c)
{
    pthread_mutex_lock(&w->hb_mu);
    if (c->hb_queued) {
        duro_actx **p = &w->hb_head;
        while (*p && *p != c)
            p = &(*p)->hb_next;
        if (*p) *p = c->hb_next;
        c->hb_queued = false;
    }
    pthread_mutex_unlock(&w->hb_mu);
}

void duro__act_pool_done(void *job)
{
    duro_actx *c = job;
    duro_worker *w = c->w;
    hb_forget(w, c);
    inflight_remove(w, c);
    c->finished = true;
    if (c->handed_back) {
        send_release(c);
        actx_unref(c);
        return;
    }
    if (c->failed)
        w->act_failed++;
    else
        w->act_done++;
    if (w->metrics_addr && c->started_us) {
        char label[DURO_QUEUE_MAX + 16] = "";
        duro_metrics_observe(
            duro_metrics_default(), "duro_worker_activity_seconds",
            duro_metrics_label(label, sizeof(label), "name", c->name),
            (double)c->ran_us / 1e6);
    }
    duro_debug("ACT-DONE wf=%s activity=%s seq=%s attempt=%d %s", c->id,
               c->name, c->seq, c->attempt, c->failed ? "failed" : "ok");
    w->completing++;
    send_completion(c);
    duro__act_poll(w);
}

static char *field_dup(const redisReply *fields, const char *name)
{
    const redisReply *v = duro_stream_field(fields, name);
    return v && v->type == REDIS_REPLY_STRING ? strdup(v->str) : NULL;
}

/* actx_from_entry validates an activity task; garbage is dead-lettered. */
static duro_actx *actx_from_entry(duro_worker *w, const char *stream,
                                  const redisReply *entry)
{
    if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 ||
        entry->element[0]->type != REDIS_REPLY_STRING) {
        duro__dead_letter(w, stream, entry, "malformed stream entry");
        return NULL;
    }
    const redisReply *f = entry->element[1];
    duro_actx *c = calloc(1, sizeof(*c));
    duro_assert(c != NULL);
    c->w = w;
    c->refs = 1;
    c->entry = strdup(entry->element[0]->str);
    c->id = field_dup(f, "id");
    c->run = field_dup(f, "run");
    c->seq = field_dup(f, "seq");
    c->name = field_dup(f, "name");
    c->wfqueue = field_dup(f, "wfqueue");
    char *attempt = field_dup(f, "attempt");
    char *input = field_dup(f, "input");
    char *opts = field_dup(f, "opts");
    char *details = field_dup(f, "details");
    char err[256] = "";
    c->partition = duro__partition_of_key(stream);
    const char *q = strstr(stream, ":act:");
    c->actqueue = strdup(q ? q + 5 : "");
    long long seqn = c->seq ? atoll(c->seq) : 0;
    c->attempt = attempt ? atoi(attempt) : 0;
    if (!c->id || !c->run || !c->seq || !c->name || !c->wfqueue || !input ||
        !opts || seqn < 1 || c->attempt < 1 || !*c->run ||
        strlen(c->run) > DURO_UUID_LEN ||
        duro_id_check(c->id, err, sizeof(err)) != 0 ||
        duro_name_check("queue", c->wfqueue, err, sizeof(err)) != 0 ||
        duro_partition_of(c->id, w->partitions) != c->partition ||
        duro_json_parse(opts, strlen(opts), w->max_payload, &c->opts, err,
                        sizeof(err)) != 0) {
        duro__dead_letter(w, stream, entry,
                          err[0] ? err : "activity task missing fields");
        free(attempt);
        free(input);
        free(opts);
        free(details);
        actx_unref(c);
        return NULL;
    }
    /* scoped to the run: a reused workflow id starts a run whose activities
     * must run again, not match the previous run's records */
    duro_assert(
        asprintf(&c->idempotency_key, "%s/%s/%s", c->id, c->run, c->seq) >= 0);
    if (details)
        duro_json_parse(details, strlen(details), w->max_payload,
                        &c->prev_details, err, sizeof(err));
    act_reg *reg = w->activities;
    while (reg && strcmp(reg->name, c->name) != 0)
        reg = reg->next;
    c->reg = reg;
    if (!reg)
        duro_actx_fail(c, "ActivityNotRegistered", false,
                       "activity \"%s\" is not registered on this worker",
                       c->name);
    else if (duro_json_parse(input, strlen(input), w->max_payload, &c->input,
                             err, sizeof(err)) != 0)
        duro_actx_fail(c, "InvalidInput", true, "activity input: %s", err);
    free(attempt);
    free(input);
    free(opts);
    free(details);
    return c;
}

/* run_entry hands a valid activity task to the pool. */
static void run_entry(duro_worker *w, const char *stream,
                      const redisReply *entry)
{
    duro_actx *c = actx_from_entry(w, stream, entry);
    if (!c) return;
    inflight_add(w, c);
    if (duro__pool_submit(w->pool, c) != 0) {
        inflight_remove(w, c);
        duro_actx_fail(c, "WorkerOutOfMemory", false, "cannot queue");
        w->completing++;
        send_completion(c);
    }
}

static void on_read(duro_aredis *r, redisReply *reply, void *arg)
{
    duro_worker *w = arg;
    w->act_reading = false;
    if (duro__read_entries(w, reply, "ACT-READ", run_entry) == 0)
        duro__act_poll(w);
}

void duro__act_poll(duro_worker *w)
{
    if (w->act_reading || w->stopping || w->probing || !w->act_conn ||
        !w->activities || !duro_aredis_connected(w->act_conn))
        return;
    int room = w->activity_threads - duro__pool_busy(w->pool);
    if (room <= 0) return;
    int per_stream = (room + w->partitions - 1) / w->partitions;
    static const int kinds[] = {DURO_STREAM_ACT};
    duro_argv a;
    if (duro__xreadgroup_argv(w, &a, per_stream, kinds, 1) > 0 &&
        duro_aredis_command(w->act_conn, on_read, w, &a) == 0)
        w->act_reading = true;
    duro_argv_free(&a);
}
