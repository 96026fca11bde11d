/* sdk.c: the calls workflow code makes (duro_activity, duro_sleep, ...). */
#define DURO_NO_CALL_SITES /* defines the calls the macros wrap */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/ids.h"
#include "duro/json.h"
#include "duro/utf8.h"
#include "duro/log.h"
#include "duro/worker.h"
#include "engine_internal.h"

#include "run.h"
#include "stack.h"

/* duro__wait_satisfied: what the coroutine waits for (block below) has
 * happened; the engine asks too, before it resumes a coroutine. */
bool duro__wait_satisfied(const duro_wf *wf)
{
    if (wf->wait != WAIT_NONE && wf->wait_cancelable && wf->cancel_requested)
        return true;
    switch (wf->wait) {
    case WAIT_COND:
        if (wf->cond_met || (wf->wait_n && wf->wait_futs[0]->resolved))
            return true;
        return wf->cond_fn(wf->cond_arg);
    case WAIT_NONE:
        return true;
    case WAIT_LOCAL: /* sdk_local.c: until the pool hands the outcome back */
        return !wf->local_job && !wf->local_refused;
    case WAIT_ALL:
        for (int i = 0; i < wf->wait_n; i++)
            if (!wf->wait_futs[i]->resolved) return false;
        return true;
    case WAIT_ANY:
        for (int i = 0; i < wf->wait_n; i++)
            if (wf->wait_futs[i]->resolved) return true;
        return false;
    }
    return true;
}

#define DEFAULT_START_TO_CLOSE_MS 60000

/* ---- Run-owned memory ---- */

cJSON *duro_keep(duro_wf *wf, cJSON *v)
{
    if (!v) return NULL;
    if (wf->nowned == wf->capowned) {
        int cap = wf->capowned ? wf->capowned * 2 : 8;
        cJSON **o = realloc(wf->owned, (size_t)cap * sizeof(cJSON *));
        duro_assert(o != NULL);
        wf->owned = o;
        wf->capowned = cap;
    }
    wf->owned[wf->nowned++] = v;
    return v;
}

/* own hands heap memory p to the run, which frees it. */
static void *own(duro_wf *wf, void *p)
{
    duro_assert(p != NULL);
    if (wf->nstrs == wf->capstrs) {
        int cap = wf->capstrs ? wf->capstrs * 2 : 8;
        char **o = realloc(wf->strs, (size_t)cap * sizeof(*o));
        duro_assert(o != NULL);
        wf->strs = o;
        wf->capstrs = cap;
    }
    wf->strs[wf->nstrs++] = p;
    return p;
}

char *duro_strdup(duro_wf *wf, const char *s)
{
    return own(wf, strdup(s ? s : ""));
}

const char *duro_json_name(const cJSON *data)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(data, "name");
    return cJSON_IsString(n) ? n->valuestring : "";
}

/* ---- Commands and futures ---- */

/* in_workflow checks that the caller is the run's own coroutine: the SDK
 * calls only make sense there. */
static void in_workflow(const duro_wf *wf, const char *call)
{
    if (!wf || !wf->coro || duro__coro_current() != wf->coro) {
        duro_error("MISUSE %s called outside its workflow's code", call);
        abort();
    }
}

static duro__cmd *new_cmd(duro_wf *wf, cmd_kind kind, int64_t seq)
{
    duro__cmd *c = calloc(1, sizeof(*c));
    duro_assert(c != NULL);
    c->kind = kind;
    c->seq = seq;
    if (wf->cmds_tail)
        wf->cmds_tail->next = c;
    else
        wf->cmds = c;
    wf->cmds_tail = c;
    wf->ncmds++;
    return c;
}

static char *xasprintf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    duro_assert(n >= 0);
    return s;
}

static duro_future *new_future(duro_wf *wf, fut_kind kind)
{
    futures_vec *fv = &wf->futs[kind];
    if (fv->n == fv->cap) {
        int64_t cap = fv->cap ? fv->cap * 2 : 8;
        duro_future **v = realloc(fv->v, (size_t)cap * sizeof(duro_future *));
        duro_assert(v != NULL);
        fv->v = v;
        fv->cap = cap;
    }
    duro_future *f = calloc(1, sizeof(*f));
    duro_assert(f != NULL);
    f->kind = kind;
    f->seq = ++wf->seq[kind];
    f->detached = wf->detached > 0;
    f->site = duro__site_now();
    fv->v[fv->n++] = f;
    duro_assert(fv->n == f->seq);
    return f;
}

duro_future *duro__new_future(duro_wf *wf, fut_kind kind)
{
    return new_future(wf, kind);
}

static void resolve_failed(duro_wf *wf, duro_future *f, const char *type,
                           const char *msg);

void duro__resolve_failed(duro_wf *wf, duro_future *f, const char *type,
                          const char *msg)
{
    resolve_failed(wf, f, type, msg);
}

static void resolve_failed(duro_wf *wf, duro_future *f, const char *type,
                           const char *msg)
{
    cJSON *fl = cJSON_CreateObject();
    cJSON_AddStringToObject(fl, "message", msg);
    cJSON_AddStringToObject(fl, "type", type);
    cJSON_AddBoolToObject(fl, "nonRetryable", 1);
    duro_keep(wf, fl);
    f->resolved = true;
    f->res.ok = false;
    f->res.failure = fl;
    f->res.error = cJSON_GetObjectItem(fl, "message")->valuestring;
}

duro_future *duro_activity_async(duro_wf *wf, const char *name,
                                 const cJSON *input,
                                 const duro_activity_opts *opts)
{
    in_workflow(wf, "duro_activity");
    static const duro_activity_opts none;
    if (!opts) opts = &none;
    const char *queue = opts->task_queue ? opts->task_queue : wf->queue;
    duro_future *f = new_future(wf, FUT_ACTIVITY);
    f->name = duro_strdup(wf, name);
    char err[128];
    if (duro_name_check("activity name", name, err, sizeof(err)) != 0 ||
        duro_name_check("task queue", queue, err, sizeof(err)) != 0 ||
        (opts->concurrency_key &&
         duro_name_check("concurrency key", opts->concurrency_key, err,
                         sizeof(err)) != 0)) {
        /* deterministic: the same bad call fails the same way on replay */
        resolve_failed(wf, f, "InvalidArgument", err);
        return f;
    }
    duro__cmd *c = new_cmd(wf, CMD_ACTIVITY, f->seq);
    c->name = strdup(name);
    if (opts->task_queue && strcmp(opts->task_queue, wf->queue) != 0)
        f->queue = strdup(opts->task_queue);
    if (wf->replaying) return f; /* only kind, seq and name are matched */
    int64_t stc = opts->start_to_close_ms > 0 ? opts->start_to_close_ms
                                              : DEFAULT_START_TO_CLOSE_MS;
    c->queue = strdup(queue);
    c->input = duro__encode_payload(wf, input);
    c->opts = duro__activity_opts_json(opts, stc);
    c->stc_ms = stc;
    c->hbt_ms = opts->heartbeat_timeout_ms;
    c->s2c_ms = opts->schedule_to_close_ms;
    c->data = xasprintf("{\"seq\":%" PRId64
                        ",\"name\":\"%s\",\"taskQueue\":\"%s\",\"input\":%s,"
                        "\"options\":%s}",
                        f->seq, name, queue, c->input, c->opts);
    return f;
}

static void block(duro_wf *wf, wait_kind kind, duro_future **fs, int n,
                  const char *call);

/* await_one waits for f inside SDK call `call`. */
static duro_result await_one(duro_wf *wf, duro_future *f, const char *call)
{
    block(wf, WAIT_ALL, &f, 1, call);
    return f->res;
}

duro_result duro_activity(duro_wf *wf, const char *name, const cJSON *input,
                          const duro_activity_opts *opts)
{
    duro_future *f = duro_activity_async(wf, name, input, opts);
    return await_one(wf, f, "duro_activity");
}

duro_future *duro_timer(duro_wf *wf, int64_t ms)
{
    in_workflow(wf, "duro_timer");
    if (ms < 0) ms = 0;
    duro_future *f = new_future(wf, FUT_TIMER);
    duro__cmd *c = new_cmd(wf, CMD_TIMER, f->seq);
    c->ms = ms;
    if (!wf->replaying)
        c->data = xasprintf("{\"seq\":%" PRId64 ",\"durationMs\":%" PRId64 "}",
                            f->seq, ms);
    return f;
}

void duro_timer_cancel(duro_wf *wf, duro_future *t)
{
    in_workflow(wf, "duro_timer_cancel");
    if (!t || t->kind != FUT_TIMER || t->resolved) return;
    duro__cmd *c = new_cmd(wf, CMD_CANCEL_TIMER, t->seq);
    if (!wf->replaying) c->data = xasprintf("{\"seq\":%" PRId64 "}", t->seq);
    t->resolved = true;
    t->res.ok = false;
    t->res.canceled = true;
    t->res.error = "canceled";
}

void duro_sleep(duro_wf *wf, int64_t ms)
{
    in_workflow(wf, "duro_sleep");
    await_one(wf, duro_timer(wf, ms), "duro_sleep");
}

/* block yields to the engine until the wait is satisfied. A cancellation
 * that arrives while blocked ends the wait too. */
static void block(duro_wf *wf, wait_kind kind, duro_future **fs, int n,
                  const char *call)
{
    if (!wf->unwinding) {
        wf->wait_call = wf->outer_call ? wf->outer_call : call;
        wf->wait_site = duro__site_now();
        wf->wait = kind;
        wf->wait_futs = fs;
        wf->wait_n = n;
        wf->wait_cancelable = !wf->cancel_requested && !wf->detached;
        while (!wf->unwinding && !duro__wait_satisfied(wf))
            duro__coro_yield();
        wf->wait = WAIT_NONE;
        wf->wait_futs = NULL;
        wf->wait_n = 0;
        wf->wait_call = NULL;
        /* other runs' calls set the site while this one waited: a call
         * made without the macros must not show theirs */
        duro__at(NULL, 0, NULL);
    }
    if (wf->unwinding) {
        /* the run is being discarded: nothing will ever resolve these */
        if (++wf->unwind_calls > 10000)
            for (;;)
                duro__coro_yield(); /* give up: the stack is dropped */
        for (int i = 0; i < n; i++) {
            if (fs[i]->resolved) continue;
            fs[i]->resolved = true;
            fs[i]->res.ok = false;
            fs[i]->res.canceled = true;
            fs[i]->res.error = "the run was evicted from the worker";
        }
    }
}

duro_result duro_await(duro_wf *wf, duro_future *f)
{
    in_workflow(wf, "duro_await");
    return await_one(wf, f, "duro_await");
}

void duro_await_all(duro_wf *wf, duro_future **fs, int n)
{
    in_workflow(wf, "duro_await_all");
    if (n > 0) block(wf, WAIT_ALL, fs, n, "duro_await_all");
}

int duro_await_any(duro_wf *wf, duro_future **fs, int n)
{
    in_workflow(wf, "duro_await_any");
    if (n <= 0) return -1;
    block(wf, WAIT_ANY, fs, n, "duro_await_any");
    for (int i = 0; i < n; i++)
        if (fs[i]->resolved) return i;
    return -1;
}

bool duro_future_ready(const duro_future *f)
{
    return f && f->resolved;
}

duro_result duro_future_result(const duro_future *f)
{
    return f->res;
}

/* ---- Signals, queries, conditions, cancellation ---- */

static handler *add_handler(handler **list, const char *name, void *fn,
                            void *arg)
{
    for (handler *h = *list; h; h = h->next) {
        if (strcmp(h->name, name) == 0) { /* re-registering replaces */
            h->fn = fn;
            h->arg = arg;
            return h;
        }
    }
    handler *h = calloc(1, sizeof(*h));
    duro_assert(h != NULL);
    h->name = strdup(name);
    h->fn = fn;
    h->arg = arg;
    h->next = *list;
    *list = h;
    return h;
}

void duro__deliver_signal(duro_wf *wf, const char *name, const cJSON *input)
{
    for (handler *h = wf->signals; h; h = h->next) {
        if (strcmp(h->name, name) == 0) {
            ((duro_signal_fn)h->fn)(wf, input, h->arg);
            return;
        }
    }
    pending_signal *p = calloc(1, sizeof(*p));
    duro_assert(p != NULL);
    p->name = strdup(name);
    p->input = input;
    if (wf->pending_tail)
        wf->pending_tail->next = p;
    else
        wf->pending_signals = p;
    wf->pending_tail = p;
}

void duro_on_signal(duro_wf *wf, const char *name, duro_signal_fn fn, void *arg)
{
    in_workflow(wf, "duro_on_signal");
    add_handler(&wf->signals, name, (void *)fn, arg);
    /* hand over, in order, the signals that waited for this handler */
    pending_signal **pp = &wf->pending_signals, *last = NULL;
    while (*pp) {
        pending_signal *p = *pp;
        if (strcmp(p->name, name) != 0) {
            last = p;
            pp = &p->next;
            continue;
        }
        *pp = p->next;
        fn(wf, p->input, arg);
        free(p->name);
        free(p);
    }
    wf->pending_tail = last;
    if (last)
        while (wf->pending_tail->next)
            wf->pending_tail = wf->pending_tail->next;
}

void duro_on_query(duro_wf *wf, const char *name, duro_query_fn fn, void *arg)
{
    in_workflow(wf, "duro_on_query");
    add_handler(&wf->queries, name, (void *)fn, arg);
}

bool duro_condition(duro_wf *wf, duro_predicate_fn pred, void *arg,
                    int64_t timeout_ms)
{
    in_workflow(wf, "duro_condition");
    if (pred(arg)) return true;
    duro_future *timer = timeout_ms >= 0 ? duro_timer(wf, timeout_ms) : NULL;
    wf->cond_fn = pred;
    wf->cond_arg = arg;
    wf->cond_met = false;
    block(wf, WAIT_COND, timer ? &timer : NULL, timer ? 1 : 0,
          "duro_condition");
    bool met = wf->cond_met || pred(arg);
    wf->cond_fn = NULL;
    wf->cond_met = false;
    if (met && timer && !timer->resolved)
        duro_timer_cancel(wf, timer); /* no useless TimerFired later */
    return met;
}

bool duro_is_canceled(const duro_wf *wf)
{
    return wf->cancel_requested;
}

void *duro_alloc(duro_wf *wf, size_t size)
{
    return own(wf, calloc(1, size ? size : 1));
}

void duro__emit_cancel(duro_wf *wf, duro_future *f)
{
    if (f->kind == FUT_CHILD || f->kind == FUT_EXTERNAL) {
        /* no command: a child follows its parent close policy when the
         * run closes; a signal or cancel already sent stays sent */
        f->resolved = true;
        f->res.ok = false;
        f->res.canceled = true;
        f->res.error = "canceled";
        return;
    }
    duro__cmd *c = new_cmd(
        wf, f->kind == FUT_TIMER ? CMD_CANCEL_TIMER : CMD_CANCEL_ACTIVITY,
        f->seq);
    if (!wf->replaying) {
        c->data = xasprintf("{\"seq\":%" PRId64 "}", f->seq);
        if (f->kind == FUT_ACTIVITY)
            c->queue = strdup(f->queue ? f->queue : wf->queue);
    }
    f->resolved = true;
    f->res.ok = false;
    f->res.canceled = true;
    f->res.error = "canceled";
}

/* ---- Aborting and payloads ---- */

void duro__abort_task(duro_wf *wf, const char *msg)
{
    if (!wf->nondet) wf->nondet = strdup(msg);
    for (;;)
        duro__coro_yield(); /* the engine never resumes it again */
}

char *duro__encode_payload(duro_wf *wf, const cJSON *v)
{
    char *out = NULL, err[256];
    if (duro_codec_encode_json(wf->codec, v, &out, err, sizeof(err)) != 0)
        duro__abort_task(wf, err);
    return out;
}

/* ---- Deterministic values ---- */

int64_t duro_now(duro_wf *wf)
{
    return wf->now;
}

uint64_t duro_random(duro_wf *wf)
{
    /* splitmix64: the state is seeded from the run id, so replays agree */
    uint64_t z = (wf->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

const char *duro_uuid(duro_wf *wf)
{
    uint64_t a = duro_random(wf), b = duro_random(wf);
    a = (a & ~0xf000ULL) | 0x4000ULL;       /* version 4 */
    b = (b & ~(3ULL << 62)) | (2ULL << 62); /* variant 10 */
    char buf[DURO_UUID_LEN + 1];
    snprintf(buf, sizeof(buf), "%08x-%04x-%04x-%04x-%012llx",
             (unsigned)(a >> 32), (unsigned)(a >> 16) & 0xffff,
             (unsigned)a & 0xffff, (unsigned)(b >> 48),
             (unsigned long long)(b & 0xffffffffffffULL));
    return duro_strdup(wf, buf);
}

/* ---- Closing ---- */

cJSON *duro_fail(duro_wf *wf, const char *type, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "message", msg);
    cJSON_AddStringToObject(f, "type", type ? type : "ApplicationError");
    cJSON_AddBoolToObject(f, "nonRetryable", 1);
    free(wf->failure);
    /* a message of raw bytes is mended, not refused: the failure must land */
    wf->failure = duro_utf8_mend(cJSON_PrintUnformatted(f));
    cJSON_Delete(f);
    return NULL;
}

void duro__emit_close(duro_wf *wf, cmd_kind kind, const char *value)
{
    duro__cmd *c = new_cmd(wf, kind, 0);
    if (wf->replaying) return;
    c->value = strdup(value);
    c->data = xasprintf(kind == CMD_COMPLETE ? "{\"result\":%s}"
                        : kind == CMD_FAIL   ? "{\"failure\":%s}"
                                             : "{\"details\":%s}",
                        value);
}

/* ---- Introspection ---- */

const char *duro_workflow_id(const duro_wf *wf)
{
    return wf->id;
}

const char *duro_run_id(const duro_wf *wf)
{
    return wf->run;
}

bool duro_is_replaying(const duro_wf *wf)
{
    return wf->replaying;
}

void duro_wf_log(duro_wf *wf, const char *fmt, ...)
{
    if (wf->replaying) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    duro_info("WORKFLOW wf=%s run=%s %s", wf->id, wf->run, msg);
}

duro__cmd *duro__new_cmd(duro_wf *wf, cmd_kind kind, int64_t seq)
{
    return new_cmd(wf, kind, seq);
}
void duro__in_workflow(const duro_wf *wf, const char *call)
{
    in_workflow(wf, call);
}
