/* wft.c: workflow tasks: read, load history, run the code, commit.
 *
 *   XREADGROUP wft:{p0..} ──▶ task ──▶ XRANGE history (new events only on a
 *   cache hit) ──▶ apply + run code ──▶ FCALL duro_wft_complete
 *
 * Each call (history page, commit, failure report) is kept until answered:
 * one lost with the connection or refused for now (OOM, BUSY, ...) is sent
 * again after a backoff, the run staying busy meanwhile. A commit that
 * fails otherwise drops the run from the cache, because its in-memory state
 * may now be ahead of the history; the next task replays. A task lost with
 * a crash is re-issued by the scheduler after the workflow-task timeout,
 * with a new token (which fences off a late resend of the old one).
 */
#include <inttypes.h>
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
#include "commit.h"
#include "worker_internal.h"

static void task_free(wft_task *t)
{
    duro_argv_free(&t->req);
    free(t->req_buf);
    free(t->id);
    free(t->run);
    free(t->token);
    free(t->entry);
    free(t);
}

/* task_done ends a task: the run is released (or dropped) and a task that
 * arrived for it meanwhile is started. */
static void start_task(wft_task *t);

void duro__run_release(duro_worker *w, duro_wf *wf, bool keep)
{
    wft_task *next = wf->pending_task;
    struct duro_actx *held = wf->held;
    wf->pending_task = NULL;
    wf->held = NULL;
    wf->busy = false;
    keep = keep && !wf->done && !wf->nondet;
    if (!keep) duro__cache_remove(&w->cache, wf);
    /* completions first: each may advance the run eagerly */
    duro__act_send_held(w, held, keep);
    if (next) start_task(next); /* counted in flight when it was read */
}

static void task_done(wft_task *t, bool keep_run)
{
    duro_worker *w = t->w;
    duro_wf *wf = t->wf;
    task_free(t);
    w->wft_inflight--;
    if (wf) duro__run_release(w, wf, keep_run);
    duro__wft_poll(w);
    duro__maybe_finish(w);
}

/* ---- Sending, and sending again ---- */

/* keep_request makes t->req an owned copy of a (which borrows strings that
 * go away once it is sent), to send now and again after a transient error.
 * what names the call in the logs. */
static void keep_request(wft_task *t, const duro_argv *a, const char *what,
                         duro_aredis_cb cb)
{
    duro_argv_free(&t->req);
    free(t->req_buf);
    size_t total = 1;
    for (int i = 0; i < a->argc; i++)
        total += a->lens[i];
    t->req_buf = malloc(total);
    duro_assert(t->req_buf != NULL);
    duro_argv_init(&t->req);
    size_t off = 0;
    for (int i = 0; i < a->argc; i++) {
        memcpy(t->req_buf + off, a->argv[i], a->lens[i]);
        duro_argv_pushn(&t->req, t->req_buf + off, a->lens[i]);
        off += a->lens[i];
    }
    t->req_what = what;
    t->req_cb = cb;
    t->retry.tries = 0;
}

static void send_request(wft_task *t);

static void resend(duro__later *l)
{
    send_request((wft_task *)((char *)l - offsetof(wft_task, retry)));
}

/* send_request sends t->req; when the connection is down it tries again
 * after a backoff (the reconnect may come first). */
static void send_request(wft_task *t)
{
    if (duro_aredis_command(t->w->cmd, t->req_cb, t, &t->req) != 0)
        duro__retry_later(t->w, &t->retry, resend);
}

/* retry_transient: true when the reply says to send the same call again
 * later, and it is queued to: the connection went away (the call may or
 * may not have run: the token fences a second commit), or Redis refused
 * it for now (OOM, BUSY, LOADING, READONLY, ...: duro_err_is_transient),
 * before running it. A stopping worker past its grace gives up. */
static bool retry_transient(wft_task *t, const redisReply *reply)
{
    duro_worker *w = t->w;
    if (reply && (reply->type != REDIS_REPLY_ERROR ||
                  !duro_err_is_transient(duro_redis_error_code(reply->str))))
        return false;
    if (w->stopping && duro_mono_ms() >= w->stop_deadline_ms) return false;
    duro_warn_limited(NULL, "WFT-RETRY wf=%s run=%s call=%s err=%s", t->id,
                      t->run, t->req_what,
                      reply ? reply->str : "connection lost");
    duro__retry_later(w, &t->retry, resend);
    return true;
}

/* ---- Failing a task ---- */

static void on_fail_reply(duro_aredis *r, redisReply *reply, void *arg)
{
    wft_task *t = arg;
    if (retry_transient(t, reply)) return;
    if (reply && reply->type == REDIS_REPLY_ERROR)
        duro_warn("WFT-FAIL-REJECTED wf=%s err=%s", t->id, reply->str);
    task_done(t, false);
}

/* fail_task reports a task that could not produce a commit; the Function
 * re-issues it with backoff and keeps the message for `describe`. */
static void fail_task(wft_task *t, const char *msg)
{
    duro_worker *w = t->w;
    w->wft_failed++;
    if (strcmp(msg, duro_strerror(DURO_ENOMEM)) == 0) {
        /* most often: no memory mapping left for another coroutine stack
         * (vm.max_map_count); hold fewer runs, the task is retried */
        duro__cache_shrink(&w->cache);
        duro_warn("CACHE-SHRINK capacity=%d after running out of memory for a "
                  "coroutine stack (see vm.max_map_count)",
                  w->cache.cap);
    }
    duro_warn("WFT-FAIL wf=%s run=%s %s", t->id, t->run, msg);
    duro_wf_keys k;
    duro_wf_keys_init(&k, w->partitions, t->id, t->run);
    const char *keys[] = {k.wf, k.hist, k.buf, w->wft_keys[t->partition],
                          k.timers};
    duro_argv a;
    duro_argv_fcall(&a, "duro_wft_fail", 5, keys);
    duro_argv_push(&a, t->run);
    duro_argv_push(&a, t->token);
    duro_argv_push(&a, t->entry);
    duro_argv_push(&a, msg);
    duro_argv_push(&a, "-1"); /* backoff from the attempt count */
    keep_request(t, &a, "fail", on_fail_reply);
    duro_argv_free(&a);
    send_request(t);
}

/* ---- Committing ---- */

static void on_commit_reply(duro_aredis *r, redisReply *reply, void *arg)
{
    wft_task *t = arg;
    duro_worker *w = t->w;
    if (retry_transient(t, reply)) return;
    if (!reply) {
        task_done(t, false);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        if (duro_redis_error_code(reply->str) == DURO_ESTALE)
            w->wft_stale++;
        else
            duro_warn("COMMIT-REJECTED wf=%s err=%s", t->id, reply->str);
        task_done(t, false);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_INTEGER) {
        duro_warn("COMMIT-REPLY wf=%s unexpected reply type=%d elements=%zu",
                  t->id, reply->type,
                  reply->type == REDIS_REPLY_ARRAY ? reply->elements : 0);
        task_done(t, false);
        return;
    }
    t->wf->applied = reply->element[0]->integer;
    t->wf->behind = reply->element[1]->type == REDIS_REPLY_INTEGER &&
                    reply->element[1]->integer > t->wf->applied;
    w->wft_done++;
    duro__worker_count_run(w, t->wf, t->first);
    if (w->metrics_addr) {
        char label[DURO_QUEUE_MAX + 16] = "";
        duro_metrics_observe(
            duro_metrics_default(), "duro_worker_workflow_task_seconds",
            duro_metrics_label(label, sizeof(label), "type", t->wf->type),
            (double)(duro_mono_us() - t->started_us) / 1e6);
    }
    duro_debug("COMMIT wf=%s run=%s events=%lld took=%lldus", t->id, t->run,
               reply->element[0]->integer,
               (long long)(duro_mono_us() - t->started_us));
    task_done(t, true);
}

static void commit(wft_task *t, duro__cmd *cmds)
{
    duro_worker *w = t->w;
    duro__commit *c = malloc(sizeof(*c));
    duro_assert(c != NULL);
    if (duro__commit_encode(c, t->partition, 9, cmds, t->wf->now) != 0) {
        duro__commit_free(c);
        free(c);
        fail_task(t, "too many activity task queues in one workflow task");
        return;
    }
    duro_wf_keys k;
    duro_wf_keys_init(&k, w->partitions, t->id, t->run);
    const char *keys[8 + DURO_MAX_ACT_QUEUES] = {
        k.wf,     k.hist, k.buf,      w->wft_keys[t->partition],
        k.timers, k.pa,   k.idx_open, k.idx_closed};
    int nkeys = 8;
    for (int i = 0; i < c->nextra; i++)
        keys[nkeys++] = c->extra[i];
    duro_argv a;
    duro_argv_fcall(&a, "duro_wft_complete", nkeys, keys);
    duro_argv_push(&a, t->run);
    duro_argv_push(&a, t->token);
    duro_argv_push(&a, t->entry);
    duro_argv_push(&a, c->wtc);
    duro_argv_pushll(&a, c->ncmd);
    for (int i = 0; i < c->args.argc; i++)
        duro_argv_pushn(&a, c->args.argv[i], c->args.lens[i]);
    keep_request(t, &a, "commit", on_commit_reply);
    duro_argv_free(&a);
    duro__commit_free(c);
    free(c);
    send_request(t);
}

/* ---- Loading history ---- */

static void fetch_history(wft_task *t);

/* duro__run_create builds a run from its first event, WorkflowStarted. */
duro_wf *duro__run_create(duro_worker *w, const char *id, const char *run,
                          const duro_event *e, char *err, size_t errsize)
{
    if (e->id != 1 || e->type != DURO_EVENT_WORKFLOW_STARTED) {
        snprintf(err, errsize, "history does not start with WorkflowStarted");
        return NULL;
    }
    const char *type = duro_json_str(e->data, "type", "");
    const char *queue = duro_json_str(e->data, "taskQueue", w->task_queue);
    wf_reg *reg = w->workflows;
    while (reg && strcmp(reg->type, type) != 0)
        reg = reg->next;
    if (!reg) {
        int n =
            snprintf(err, errsize,
                     "unknown workflow type \"%s\" (this worker knows:", type);
        for (wf_reg *r = w->workflows; r && n > 0 && (size_t)n < errsize;
             r = r->next)
            n += snprintf(err + n, errsize - (size_t)n, " %s", r->type);
        if (n > 0 && (size_t)n < errsize)
            snprintf(err + n, errsize - (size_t)n, ")");
        return NULL;
    }
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(e->data, "input");
    duro_wf *wf = duro__run_new(id, run, type, queue, input, reg->fn);
    if (!wf) snprintf(err, errsize, "out of memory");
    if (wf) wf->stack_size = w->workflow_stack_size;
    w->replays++;
    return wf;
}

int duro__history_apply_page(duro_worker *w, duro_wf **wfp, const char *id,
                             const char *run, const redisReply *page, char *err,
                             size_t errsize)
{
    for (size_t i = 0; i < page->elements; i++) {
        duro_event e;
        char why[256];
        if (duro_event_decode(page->element[i], &e, why, sizeof(why)) != 0) {
            snprintf(err, errsize, "corrupt history: %s", why);
            return DURO_EPROTO;
        }
        int rc = 0;
        if (!*wfp && !(*wfp = duro__run_create(w, id, run, &e, err, errsize)))
            rc = DURO_EINVAL;
        if (rc == 0) {
            rc = duro__run_apply(*wfp, &e, 1);
            if (rc == DURO_ENONDET)
                snprintf(err, errsize, "%s", (*wfp)->nondet);
            else if (rc == DURO_EPROTO)
                snprintf(err, errsize, "history event %lld out of order",
                         (long long)e.id);
            else if (rc)
                snprintf(err, errsize, "%s", duro_strerror(rc));
        }
        duro_event_free(&e);
        if (rc != 0) return rc;
    }
    return 0;
}

static void run_and_commit(wft_task *t)
{
    duro_wf *wf = t->wf;
    t->first = !wf->started; /* no WorkflowTaskCompleted replayed */
    int rc = duro__run_advance(wf, duro_now_ms());
    if (rc != 0) {
        fail_task(t, wf->nondet ? wf->nondet : duro_strerror(rc));
        return;
    }
    duro__cmd *cmds = duro__run_take_cmds(wf);
    commit(t, cmds);
}

static void on_history(duro_aredis *r, redisReply *reply, void *arg)
{
    wft_task *t = arg;
    duro_worker *w = t->w;
    if (retry_transient(t, reply)) return;
    if (!reply || reply->type != REDIS_REPLY_ARRAY) {
        if (reply)
            duro_warn("HISTORY-READ wf=%s err=%s", t->id,
                      reply->type == REDIS_REPLY_ERROR ? reply->str : "?");
        task_done(t, false);
        return;
    }
    char err[512];
    bool fresh = t->wf == NULL;
    int rc = duro__history_apply_page(w, &t->wf, t->id, t->run, reply, err,
                                      sizeof(err));
    if (fresh && t->wf) {
        t->wf->busy = true;
        duro__cache_insert(&w->cache, t->wf);
    }
    if (rc != 0) {
        fail_task(t, err);
        return;
    }
    if (reply->elements == DURO_HISTORY_PAGE) {
        fetch_history(t);
        return;
    }
    if (!t->wf) {
        fail_task(t, "history is empty");
        return;
    }
    run_and_commit(t);
}

/* history_argv: XRANGE <hist> <from>-0 + COUNT <page> */
static void history_argv(duro_argv *a, const char *hist, int64_t from)
{
    duro_argv_init(a);
    duro_argv_push(a, "XRANGE");
    duro_argv_push(a, hist);
    duro_argv_pushf(a, "%" PRId64 "-0", from);
    duro_argv_push(a, "+");
    duro_argv_push(a, "COUNT");
    duro_argv_pushll(a, DURO_HISTORY_PAGE);
}

int duro__read_history(duro_worker *w, const char *id, const char *run,
                       int64_t from, duro_aredis_cb cb, void *arg)
{
    duro_wf_keys k;
    duro_wf_keys_init(&k, w->partitions, id, run);
    duro_argv a;
    history_argv(&a, k.hist, from);
    int rc = duro_aredis_command(w->cmd, cb, arg, &a);
    duro_argv_free(&a);
    return rc;
}

static void fetch_history(wft_task *t)
{
    duro_wf_keys k;
    duro_wf_keys_init(&k, t->w->partitions, t->id, t->run);
    duro_argv a;
    history_argv(&a, k.hist, t->wf ? t->wf->applied + 1 : 1);
    keep_request(t, &a, "history", on_history);
    duro_argv_free(&a);
    send_request(t);
}

/* start_task takes the cached run (or none) and loads what it lacks. */
static void start_task(wft_task *t)
{
    duro_worker *w = t->w;
    duro_wf *wf = duro__cache_lookup(&w->cache, t->id);
    if (wf && wf->busy) {
        /* its task timed out and came back while still in progress here:
         * run this one after it (an older waiting one is stale anyway) */
        if (wf->pending_task) {
            task_free(wf->pending_task);
            w->wft_inflight--;
        }
        wf->pending_task = t;
        return;
    }
    if (wf && strcmp(wf->run, t->run) != 0) {
        duro__cache_remove(&w->cache, wf);
        wf = NULL;
    }
    if (wf) {
        duro__cache_touch(&w->cache, wf);
        wf->busy = true;
    }
    t->wf = wf;
    t->started_us = duro_mono_us();
    fetch_history(t);
}

/* ---- Reading tasks ---- */

static wft_task *task_from_entry(duro_worker *w, const char *stream,
                                 const redisReply *entry)
{
    if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 ||
        entry->element[0]->type != REDIS_REPLY_STRING) {
        duro__dead_letter(w, stream, entry, "malformed stream entry");
        return NULL;
    }
    const redisReply *fields = entry->element[1];
    const redisReply *id = duro_stream_field(fields, "id");
    const redisReply *run = duro_stream_field(fields, "run");
    const redisReply *token = duro_stream_field(fields, "token");
    char err[128];
    if (!id || !run || !token || duro_id_check(id->str, err, sizeof(err)) ||
        strlen(run->str) > DURO_UUID_LEN || !*run->str || !*token->str) {
        duro__dead_letter(w, stream, entry,
                          "workflow task without valid id, run and token");
        return NULL;
    }
    int p = duro_partition_of(id->str, w->partitions);
    if (strcmp(stream, w->wft_keys[p]) != 0) {
        duro__dead_letter(w, stream, entry,
                          "workflow task in the wrong partition");
        return NULL;
    }
    wft_task *t = calloc(1, sizeof(*t));
    duro_assert(t != NULL);
    t->w = w;
    t->id = strdup(id->str);
    t->run = strdup(run->str);
    t->token = strdup(token->str);
    t->entry = strdup(entry->element[0]->str);
    t->partition = p;
    return t;
}

/* dispatch starts a workflow task or, from a query stream, a query. */
static void dispatch(duro_worker *w, const char *stream,
                     const redisReply *entry)
{
    if (strstr(stream, ":qry:")) {
        duro__query_start(w, stream, entry);
        return;
    }
    wft_task *t = task_from_entry(w, stream, entry);
    if (!t) return;
    w->wft_inflight++;
    start_task(t);
}

static void on_read(duro_aredis *r, redisReply *reply, void *arg)
{
    duro_worker *w = arg;
    w->wft_reading = false;
    if (duro__read_entries(w, reply, "WFT-READ", dispatch) == 0)
        duro__wft_poll(w);
}

void duro__wft_poll(duro_worker *w)
{
    if (w->wft_reading || w->stopping || w->probing || !w->wft_conn ||
        !duro_aredis_connected(w->wft_conn))
        return;
    int room = w->max_workflow_tasks - w->wft_inflight;
    if (room <= 0) return;
    /* queries ride along: they are rare and want the same low latency */
    static const int kinds[] = {DURO_STREAM_WFT, DURO_STREAM_QRY};
    duro_argv a;
    if (duro__xreadgroup_argv(w, &a, room, kinds, 2) > 0 &&
        duro_aredis_command(w->wft_conn, on_read, w, &a) == 0)
        w->wft_reading = true;
    duro_argv_free(&a);
}
