/* engine.c: applies history to a run, runs its code, matches commands. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/errno.h"
#include "duro/json.h"
#include "duro/log.h"
#include "engine_internal.h"
#include "run.h"
#include "stack.h"

/* ---- Running the code ---- */

static void coro_main(void *arg)
{
    duro_wf *wf = arg;
    cJSON *result = wf->fn(wf, wf->input);
    if (wf->continued) {
        cJSON_Delete(result); /* the run closed by continuing as new */
    } else if (wf->failure) {
        cJSON_Delete(result);
        duro__emit_close(wf, CMD_FAIL, wf->failure);
    } else {
        /* replay matches the kind only: no need to encrypt the value */
        char *text =
            wf->replaying ? strdup("null") : duro__encode_payload(wf, result);
        cJSON_Delete(result);
        duro__emit_close(
            wf, wf->cancel_requested ? CMD_CANCEL_WORKFLOW : CMD_COMPLETE,
            text ? text : "null");
        free(text);
    }
    wf->done = true;
}

/* cancel_pending_futures delivers a cancellation: everything the code has
 * pending is canceled, with a command each so the history says so, but
 * for what it started in a detached scope (run.h). It runs
 * at the start of a code run, the same point live and in replay. */
static void cancel_pending_futures(duro_wf *wf)
{
    wf->cancel_pending = false;
    for (int k = 0; k < FUT_KINDS; k++) {
        for (int64_t i = 0; i < wf->futs[k].n; i++) {
            duro_future *f = wf->futs[k].v[i];
            if (f->resolved || f->detached) continue;
            duro__emit_cancel(wf, f);
        }
    }
}

/* overflowed reports a coroutine that ran off its stack (coro.h): one log
 * line, and the task fails with a StackOverflow message like a
 * non-determinism error (nondet stops the run for good, the worker drops
 * it and fails the task with backoff). */
static int overflowed(duro_wf *wf)
{
    size_t kib = duro__coro_stack_size(wf->coro) / 1024;
    duro_error("STACK-OVERFLOW wf=%s run=%s type=%s stack=%zuKiB: the "
               "workflow code ran off its coroutine stack; the task fails "
               "(raise --workflow-stack-size)",
               wf->id, wf->run, wf->type, kib);
    free(wf->nondet);
    wf->nondet = NULL;
    char msg[256];
    snprintf(msg, sizeof(msg),
             "StackOverflow: workflow code overflowed its %zu KiB coroutine "
             "stack (locals and callee frames); raise --workflow-stack-size "
             "or move large buffers to duro_alloc",
             kib);
    wf->nondet = strdup(msg);
    return DURO_ENONDET;
}

/* run_code resumes the coroutine while what it waits for is there. */
static int run_code(duro_wf *wf)
{
    if (!wf->fn) return DURO_EINVAL;
    if (wf->cancel_pending && wf->started) cancel_pending_futures(wf);
    if (!wf->started) {
        if (duro__coro_new(&wf->coro, wf->stack_size, coro_main, wf) != 0)
            return DURO_ENOMEM;
        duro__coro_set_label(wf->coro, wf->id, wf->run, wf->type);
        wf->started = true;
    }
    while (!wf->done && !wf->nondet && !wf->unwinding &&
           duro__wait_satisfied(wf)) {
        duro__coro_resume(wf->coro);
        if (duro__coro_overflowed(wf->coro)) return overflowed(wf);
    }
    return wf->nondet ? DURO_ENONDET : 0;
}

/* ---- Applying events ---- */

static int nondet(duro_wf *wf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int nondet(duro_wf *wf, const char *fmt, ...)
{
    if (!wf->nondet) {
        char buf[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        wf->nondet = strdup(buf);
    }
    return DURO_ENONDET;
}

static const char *cmd_name(cmd_kind k)
{
    switch (k) {
    case CMD_ACTIVITY:
        return "ScheduleActivity";
    case CMD_TIMER:
        return "StartTimer";
    case CMD_CANCEL_TIMER:
        return "CancelTimer";
    case CMD_MARKER:
        return "RecordMarker";
    case CMD_COMPLETE:
        return "CompleteWorkflow";
    case CMD_FAIL:
        return "FailWorkflow";
    case CMD_CANCEL_ACTIVITY:
        return "RequestCancelActivity";
    case CMD_CANCEL_WORKFLOW:
        return "CancelWorkflow";
    case CMD_UPSERT_SA:
        return "UpsertWorkflowSearchAttributes";
    case CMD_CONTINUE_AS_NEW:
        return "ContinueAsNewWorkflow";
    case CMD_UPDATE_DONE:
        return "CompleteUpdate";
    case CMD_CHILD:
        return "StartChildWorkflow";
    case CMD_SIGNAL_EXT:
        return "SignalExternalWorkflow";
    case CMD_CANCEL_EXT:
        return "RequestCancelExternalWorkflow";
    }
    return "?";
}

static bool cmd_matches(const duro__cmd *c, const seg_ev *e)
{
    switch (e->type) {
    case DURO_EVENT_ACTIVITY_SCHEDULED:
        return c->kind == CMD_ACTIVITY && c->seq == e->seq &&
               strcmp(c->name, e->name) == 0;
    case DURO_EVENT_TIMER_STARTED:
        return c->kind == CMD_TIMER && c->seq == e->seq;
    case DURO_EVENT_TIMER_CANCELED:
        return c->kind == CMD_CANCEL_TIMER && c->seq == e->seq;
    case DURO_EVENT_MARKER_RECORDED:
        return c->kind == CMD_MARKER && strcmp(c->name, e->name) == 0;
    case DURO_EVENT_WORKFLOW_COMPLETED:
        return c->kind == CMD_COMPLETE;
    case DURO_EVENT_WORKFLOW_FAILED:
        return c->kind == CMD_FAIL;
    case DURO_EVENT_ACTIVITY_CANCEL_REQUESTED:
        return c->kind == CMD_CANCEL_ACTIVITY && c->seq == e->seq;
    case DURO_EVENT_WORKFLOW_CANCELED:
        return c->kind == CMD_CANCEL_WORKFLOW;
    case DURO_EVENT_UPSERT_SEARCH_ATTRIBUTES:
        return c->kind == CMD_UPSERT_SA;
    case DURO_EVENT_WORKFLOW_CONTINUED_AS_NEW:
        return c->kind == CMD_CONTINUE_AS_NEW;
    case DURO_EVENT_UPDATE_COMPLETED:
        return c->kind == CMD_UPDATE_DONE && strcmp(c->name, e->name) == 0;
    default:
        return duro__xfer_cmd_matches(c, e);
    }
}

/* match_command pops the oldest issued command, which must be the one
 * this recorded command event describes. */
static int match_command(duro_wf *wf, const seg_ev *e)
{
    duro__cmd *c = wf->cmds;
    if (!c)
        return nondet(wf,
                      "event %" PRId64 " %s seq=%" PRId64
                      " %s is in the history but the code issued no command",
                      e->id, duro_event_name(e->type), e->seq, e->name);
    if (!cmd_matches(c, e))
        return nondet(
            wf,
            "event %" PRId64 " %s seq=%" PRId64
            " %s is in the history but the code issued %s seq=%" PRId64 " %s",
            e->id, duro_event_name(e->type), e->seq, e->name, cmd_name(c->kind),
            c->seq, c->name ? c->name : "");
    wf->cmds = c->next;
    if (!wf->cmds) wf->cmds_tail = NULL;
    wf->ncmds--;
    c->next = NULL;
    duro__cmds_free(c);
    return 0;
}

static int unmatched_commands(duro_wf *wf, int64_t at)
{
    duro__cmd *c = wf->cmds;
    return nondet(wf,
                  "the code issued %s seq=%" PRId64
                  " %s that the history does not have (before event %" PRId64
                  ")",
                  cmd_name(c->kind), c->seq, c->name ? c->name : "", at);
}

static duro_future *future_of(duro_wf *wf, fut_kind k, int64_t seq)
{
    if (seq < 1 || seq > wf->futs[k].n) return NULL;
    return wf->futs[k].v[seq - 1];
}

/* resolve_from_event resolves the future an inbound event is about. */
static int resolve_from_event(duro_wf *wf, const duro_event *e)
{
    fut_kind k = e->type == DURO_EVENT_TIMER_FIRED ? FUT_TIMER : FUT_ACTIVITY;
    int64_t seq = duro_event_seq(e);
    duro_future *f = future_of(wf, k, seq);
    if (!f)
        return nondet(wf,
                      "event %" PRId64 " %s seq=%" PRId64
                      " refers to a command the code never issued",
                      e->id, duro_event_name(e->type), seq);
    if (f->resolved) return 0; /* e.g. a timer the code already canceled */
    f->resolved = true;
    switch (e->type) {
    case DURO_EVENT_ACTIVITY_COMPLETED: {
        cJSON *v = cJSON_DetachItemFromObject(e->data, "result");
        f->res.ok = true;
        f->res.value = duro_keep(wf, v ? v : cJSON_CreateNull());
        f->res.error = "";
        break;
    }
    case DURO_EVENT_TIMER_FIRED:
        f->res.ok = true;
        f->res.error = "";
        break;
    default: { /* ActivityFailed, ActivityTimedOut, ActivityCanceled */
        cJSON *fl = cJSON_DetachItemFromObject(e->data, "failure");
        if (!fl) fl = cJSON_CreateObject();
        duro_keep(wf, fl);
        f->res.ok = false;
        f->res.failure = fl;
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(fl, "message");
        f->res.error = cJSON_IsString(m) ? m->valuestring : "failed";
        f->res.timed_out = e->type == DURO_EVENT_ACTIVITY_TIMED_OUT;
        f->res.canceled = e->type == DURO_EVENT_ACTIVITY_CANCELED;
        break;
    }
    }
    return 0;
}

/* apply_signal runs the signal's handler, or keeps the signal for a
 * handler registered later. */
static int apply_signal(duro_wf *wf, const duro_event *e)
{
    const char *name = duro_json_name(e->data);
    cJSON *input = cJSON_DetachItemFromObject(e->data, "input");
    duro_keep(wf, input ? input : (input = cJSON_CreateNull()));
    duro__deliver_signal(wf, name, input);
    return 0;
}

void duro__keep_update(duro_wf *wf, const char *id, const char *name,
                       const cJSON *input)
{
    pending_update *p = calloc(1, sizeof(*p));
    duro_assert(p != NULL);
    p->id = strdup(id);
    p->name = strdup(name);
    duro_assert(p->id && p->name);
    p->input = input;
    pending_update **tail = &wf->pending_updates;
    while (*tail)
        tail = &(*tail)->next;
    *tail = p;
}

/* apply_update runs an accepted update's handler (sdk_update.c, through
 * the callback duro_on_update set), or keeps the update for it: a run's
 * first task applies its updates before the code registered anything. */
static int apply_update(duro_wf *wf, const duro_event *e)
{
    const char *id = duro_json_str(e->data, "updateId", "");
    const char *name = duro_json_name(e->data);
    cJSON *input = cJSON_DetachItemFromObject(e->data, "input");
    duro_keep(wf, input ? input : (input = cJSON_CreateNull()));
    if (wf->update_accepted)
        wf->update_accepted(wf, id, name, input);
    else
        duro__keep_update(wf, id, name, input);
    return 0;
}

static int apply_inbound(duro_wf *wf, const duro_event *e)
{
    switch (e->type) {
    case DURO_EVENT_WORKFLOW_STARTED:
        return 0;
    case DURO_EVENT_ACTIVITY_COMPLETED:
    case DURO_EVENT_ACTIVITY_FAILED:
    case DURO_EVENT_ACTIVITY_TIMED_OUT:
    case DURO_EVENT_ACTIVITY_CANCELED:
    case DURO_EVENT_TIMER_FIRED:
        return resolve_from_event(wf, e);
    case DURO_EVENT_SIGNAL_RECEIVED:
        return apply_signal(wf, e);
    case DURO_EVENT_UPDATE_ACCEPTED:
        return apply_update(wf, e);
    case DURO_EVENT_CANCEL_REQUESTED:
        wf->cancel_requested = true;
        wf->cancel_pending = true;
        return 0;
    default:
        if (duro__xfer_is_event(e->type)) return duro__xfer_resolve(wf, e);
        /* closing events and anything this SDK version does not act on */
        return 0;
    }
}

/* marker_key names a marker for matching: "version:<changeId>" or
 * "sideEffect:<seq>". */
static char *marker_key(const cJSON *data)
{
    const char *kind = duro_json_str(data, "kind", "");
    char *key = NULL;
    int n;
    if (strcmp(kind, "version") == 0)
        n = asprintf(&key, "version:%s", duro_json_str(data, "changeId", ""));
    else
        n = asprintf(&key, "%s:%" PRId64, kind, duro_json_int(data, "seq", 0));
    return n < 0 ? NULL : key;
}

static int seg_push(duro_wf *wf, const duro_event *e)
{
    if (!wf->seg_open)
        return nondet(
            wf, "event %" PRId64 " %s does not follow a WorkflowTaskCompleted",
            e->id, duro_event_name(e->type));
    if (wf->seg_n == wf->seg_cap) {
        int cap = wf->seg_cap ? wf->seg_cap * 2 : 8;
        seg_ev *v = realloc(wf->seg, (size_t)cap * sizeof(*v));
        if (!v) return DURO_ENOMEM;
        wf->seg = v;
        wf->seg_cap = cap;
    }
    seg_ev *se = &wf->seg[wf->seg_n++];
    memset(se, 0, sizeof(*se));
    se->id = e->id;
    se->type = e->type;
    se->seq = duro_event_seq(e);
    if (e->type == DURO_EVENT_MARKER_RECORDED) {
        se->name = marker_key(e->data);
        se->data = cJSON_Duplicate(e->data, 1);
    } else if (e->type == DURO_EVENT_UPDATE_COMPLETED) {
        se->name = strdup(duro_json_str(e->data, "updateId", ""));
    } else {
        se->name = strdup(duro_json_name(e->data));
    }
    return se->name ? 0 : DURO_ENOMEM;
}

static void seg_clear(duro_wf *wf)
{
    for (int i = 0; i < wf->seg_n; i++) {
        free(wf->seg[i].name);
        cJSON_Delete(wf->seg[i].data);
    }
    wf->seg_n = 0;
    wf->seg_open = false;
}

const seg_ev *duro__seg_next(const duro_wf *wf)
{
    if (!wf->replaying || !wf->seg_open || wf->ncmds >= wf->seg_n) return NULL;
    return &wf->seg[wf->ncmds];
}

/* flush_segment replays one recorded task: its code runs, then what it
 * issued is matched against what the history recorded. */
static int flush_segment(duro_wf *wf)
{
    if (!wf->seg_open) return 0;
    wf->replaying = true;
    int rc = run_code(wf);
    for (int i = 0; rc == 0 && i < wf->seg_n; i++)
        rc = match_command(wf, &wf->seg[i]);
    int64_t next = wf->seg_n ? wf->seg[wf->seg_n - 1].id + 1 : wf->applied + 1;
    seg_clear(wf);
    if (rc == 0 && wf->cmds) rc = unmatched_commands(wf, next);
    return rc;
}

/* queue_inbound keeps a copy of an inbound event until its task starts. */
static int queue_inbound(duro_wf *wf, const duro_event *e)
{
    if (wf->ninbound == wf->capinbound) {
        int cap = wf->capinbound ? wf->capinbound * 2 : 8;
        duro_event *v = realloc(wf->inbound, (size_t)cap * sizeof(*v));
        if (!v) return DURO_ENOMEM;
        wf->inbound = v;
        wf->capinbound = cap;
    }
    duro_event *q = &wf->inbound[wf->ninbound];
    *q = *e;
    q->data = cJSON_Duplicate(e->data, 1);
    if (!q->data) return DURO_ENOMEM;
    wf->ninbound++;
    return 0;
}

/* start_task begins a task at time `now`: the clock moves (never back),
 * then the inbound events it processes are applied in history order, so
 * signal handlers see the task's clock. */
static int start_task(duro_wf *wf, int64_t now)
{
    if (now > wf->now) wf->now = now;
    int rc = 0;
    for (int i = 0; i < wf->ninbound; i++) {
        if (rc == 0) {
            rc = apply_inbound(wf, &wf->inbound[i]);
            /* a condition that held after any one event counts, even if a
             * later event of the same task undoes it */
            if (rc == 0 && wf->wait == WAIT_COND && !wf->cond_met &&
                wf->cond_fn(wf->cond_arg))
                wf->cond_met = true;
        }
        duro_event_free(&wf->inbound[i]);
    }
    wf->ninbound = 0;
    return rc;
}

static int apply_one(duro_wf *wf, const duro_event *e)
{
    if (e->type == DURO_EVENT_WORKFLOW_TASK_COMPLETED) {
        int rc = flush_segment(wf);
        wf->replaying = true; /* a recorded task: its handlers replay too */
        if (rc == 0) rc = start_task(wf, duro_json_int(e->data, "now", e->ts));
        if (rc) return rc;
        wf->seg_open = true;
        return 0;
    }
    if (duro_event_is_command(e->type)) return seg_push(wf, e);
    int rc = flush_segment(wf);
    if (rc) return rc;
    if (wf->cmds) return unmatched_commands(wf, e->id);
    return queue_inbound(wf, e);
}

int duro__run_end_replay(duro_wf *wf)
{
    if (wf->nondet) return DURO_ENONDET;
    int rc = flush_segment(wf);
    /* events after the last task: their handlers run, the code does not */
    return rc ? rc : start_task(wf, wf->now);
}

int duro__run_query(duro_wf *wf, const char *name, const cJSON *input,
                    char **out, char *err, size_t errsize)
{
    if (strcmp(name, DURO__STACK_QUERY) == 0) { /* built in, as Temporal's
                                                 __stack_trace */
        cJSON *r = duro__run_stack(wf);
        *out = r ? cJSON_PrintUnformatted(r) : NULL;
        cJSON_Delete(r);
        return *out ? 0 : DURO_ENOMEM;
    }
    for (handler *h = wf->queries; h; h = h->next) {
        if (strcmp(h->name, name) != 0) continue;
        cJSON *r = ((duro_query_fn)h->fn)(wf, input, h->arg);
        *out = r ? cJSON_PrintUnformatted(r) : strdup("null");
        cJSON_Delete(r);
        return *out ? 0 : DURO_ENOMEM;
    }
    int n = snprintf(err, errsize, "unknown query \"%s\"; known:", name);
    for (handler *h = wf->queries; h && n > 0 && (size_t)n < errsize;
         h = h->next)
        n += snprintf(err + n, errsize - (size_t)n, " %s", h->name);
    if (n > 0 && (size_t)n < errsize) /* the built-in one, last */
        snprintf(err + n, errsize - (size_t)n, " " DURO__STACK_QUERY);
    return DURO_ENOTFOUND;
}

int duro__run_apply(duro_wf *wf, const duro_event *evs, int n)
{
    for (int i = 0; i < n; i++) {
        if (evs[i].id != wf->applied + 1) return DURO_EPROTO;
        int rc = apply_one(wf, &evs[i]);
        if (rc) return rc;
        wf->applied = evs[i].id;
    }
    return 0;
}

int duro__run_continue(duro_wf *wf)
{
    return wf->nondet ? DURO_ENONDET : run_code(wf);
}

int duro__run_advance(duro_wf *wf, int64_t now)
{
    if (wf->nondet) return DURO_ENONDET;
    int rc = flush_segment(wf);
    if (rc) return rc;
    if (wf->cmds) return unmatched_commands(wf, wf->applied + 1);
    wf->replaying = false;
    rc = start_task(wf, now);
    return rc ? rc : run_code(wf);
}
