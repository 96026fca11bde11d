/* wft.c: workflow tasks: read, load history, run the code, commit.
 *
 *   XREADGROUP wft:{p0..} ──▶ task ──▶ LRANGE history (new events only on a
 *   cache hit) ──▶ apply + run code ──▶ FCALL duro_wft_complete
 *
 * A run's first task carries its one event in the entry (h1), applied
 * without the LRANGE.
 *
 * Each call (history page, commit, failure report) is kept until answered:
 * one lost with the connection or refused for now (OOM, BUSY, ...) is sent
 * again after a backoff, the run staying busy meanwhile. A commit that
 * fails otherwise drops the run from the cache, because its in-memory state
 * may now be ahead of the history; the next task replays. So does a task
 * of a cached run whose history turns out shorter than what the run
 * applied (Redis lost answered writes: on_history_len). A task lost with
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
#include "duro/fcall.h"
#include "duro/keys.h"
#include "duro/log.h"
#include "duro/metrics.h"
#include "duro/priority.h"
#include "commit.h"
#include "worker_internal.h"

static void start_task(wft_task *t);

/* task_done ends a task: the run is released (or dropped) and a task that
 * arrived for it meanwhile is started. */
static void task_done(wft_task *t, bool keep_run)
{
    duro_worker *w = t->w;
    duro_wf *wf = t->wf;
    duro__act_eager_end(w, &t->eager_n);
    duro__wft_task_free(t);
    w->wft_inflight--;
    if (wf) duro__run_release(w, wf, keep_run);
    duro__wft_poll(w);
    w->maybe_finish(w);
}

/* ---- Sending, and sending again ---- */

/* keep_request makes t->req an owned copy of a (which borrows strings that
 * go away once it is sent), to send now and again after a transient error.
 * what names the call in the logs. 0 or DURO_ENOMEM. */
static int keep_request(wft_task *t, const duro_argv *a, const char *what,
                        duro_aredis_cb cb)
{
    duro_argv_free(&t->req);
    free(t->req_buf);
    duro_argv_init(&t->req);
    size_t total = 1;
    for (int i = 0; i < a->argc; i++)
        total += a->lens[i];
    t->req_buf = malloc(total);
    if (!t->req_buf) return DURO_ENOMEM;
    size_t off = 0;
    for (int i = 0; i < a->argc; i++) {
        memcpy(t->req_buf + off, a->argv[i], a->lens[i]);
        duro_argv_pushn(&t->req, t->req_buf + off, a->lens[i]);
        off += a->lens[i];
    }
    t->req_what = what;
    t->req_cb = cb;
    t->retry.tries = 0;
    return 0;
}

static void send_request(wft_task *t);

/* send_kept keeps a (keep_request) and sends it; a task whose call cannot
 * be kept for want of memory ends, its entry left pending for the
 * workflow-task timeout to re-issue. */
static void send_kept(wft_task *t, const duro_argv *a, const char *what,
                      duro_aredis_cb cb)
{
    if (keep_request(t, a, what, cb) != 0) {
        duro_warn("WFT-OOM wf=%s run=%s call=%s: left to the task timeout",
                  t->id, t->run, what);
        task_done(t, false);
        return;
    }
    send_request(t);
}

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

/* wft_fail_argv: FCALL duro_wft_fail for the task; a borrows msg and k,
 * which it fills. */
static void wft_fail_argv(const wft_task *t, const char *msg, duro_wf_keys *k,
                          duro_argv *a)
{
    duro_wf_keys_init(k, &t->w->ks, t->id, t->run);
    snprintf(k->wft, sizeof(k->wft), "%s",
             t->fair_stream
                 ? t->fair_stream
                 : duro__wft_task_key(t->w, t->partition, t->sticky, t->level));
    duro_fcall_task ft = {.run = t->run, .token = t->token, .entry = t->entry};
    duro_fcall_wft_fail(a, k, &ft, msg, -1); /* backoff by attempt count */
}

static void on_fail_reply(duro_aredis *r, redisReply *reply, void *arg)
{
    wft_task *t = arg;
    if (retry_transient(t, reply)) return;
    if (reply && reply->type == REDIS_REPLY_ERROR)
        duro_warn("WFT-FAIL-REJECTED wf=%s err=%s", t->id, reply->str);
    task_done(t, false);
}

/* fail_task reports a task that could not produce a commit (code says
 * why, msg for people); the Function re-issues it with backoff and keeps
 * the message for `describe`. */
static void fail_task(wft_task *t, int code, const char *msg)
{
    duro_worker *w = t->w;
    w->wft_failed++;
    if (code == DURO_ENOMEM) {
        /* most often: no memory mapping left for another coroutine stack
         * (vm.max_map_count); hold fewer runs, the task is retried */
        duro__cache_shrink(&w->cache);
        duro_warn("CACHE-SHRINK capacity=%d after running out of memory for a "
                  "coroutine stack (see vm.max_map_count)",
                  w->cache.cap);
    }
    duro_warn("WFT-FAIL wf=%s run=%s %s", t->id, t->run, msg);
    duro_wf_keys k;
    duro_argv a;
    wft_fail_argv(t, msg, &k, &a);
    send_kept(t, &a, "fail", on_fail_reply);
    duro_argv_free(&a);
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
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2 ||
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
    /* activities this commit queued, taken for this worker (eager) */
    duro__act_eager_reply(w, reply, 2, duro__act_eager_take);
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

/* wft_complete_argv: FCALL duro_wft_complete for the task and its encoded
 * commands; a borrows from c and k, which it fills. */
static void wft_complete_argv(wft_task *t, const duro__commit *c,
                              duro_wf_keys *k, duro_argv *a)
{
    duro_worker *w = t->w;
    duro_wf_keys_init(k, &w->ks, t->id, t->run);
    /* the stream the task is in, where the Function acks it */
    snprintf(k->wft, sizeof(k->wft), "%s",
             t->fair_stream
                 ? t->fair_stream
                 : duro__wft_task_key(w, t->partition, t->sticky, t->level));
    duro_fcall_task ft = {.run = t->run, .token = t->token, .entry = t->entry};
    const char *acts[DURO_MAX_ACT_QUEUES];
    for (int i = 0; i < c->nextra; i++)
        acts[i] = c->extra[i];
    duro_fcall_commit fc = {.wtc_data = c->wtc,
                            .ncmd = c->ncmd,
                            .cmds = &c->args,
                            .nacts = c->nextra,
                            .acts = acts,
                            .sticky = w->sticky_keys ? w->identity : NULL,
                            .sticky_ms = w->sticky_ms};
    duro__act_eager_end(w, &t->eager_n); /* a commit sent again asks anew */
    fc.eager_stream = duro__act_eager_ask(w, t->partition, c, &fc.eager_n);
    fc.eager_consumer = w->identity;
    fc.eager_lease = true; /* library 35: leased, no stream entry */
    t->eager_n = fc.eager_n;
    duro_fcall_wft_complete(a, k, &ft, &fc);
}

/* commit encodes and sends the task's commands. The encoded commit lives
 * on the loop's stack (~10 KB: a heap block that size per task made
 * glibc's malloc consolidate its fast bins every time); the request is
 * copied when sent. */
static void commit(wft_task *t, duro__cmd *cmds)
{
    duro__commit cb;
    duro__commit *c = &cb;
    if (duro__commit_encode(c, &t->w->ks, t->partition,
                            DURO_FCALL_WFT_COMPLETE_ACT_BASE, cmds,
                            t->wf->now) != 0) {
        duro__commit_free(c);
        fail_task(t, DURO_EINVAL,
                  "too many activity task queues in one workflow task");
        return;
    }
    duro_wf_keys k;
    duro_argv a;
    wft_complete_argv(t, c, &k, &a);
    send_kept(t, &a, "commit", on_commit_reply);
    duro_argv_free(&a);
    duro__commit_free(c);
}

/* ---- Loading history ---- */

static void fetch_history(wft_task *t);

static void on_local_done(duro_wf *wf, void *arg);

/* code_ran commits what the code issued, unless it waits for a local
 * activity on the pool: the task stays in flight until on_local_done. */
static void code_ran(wft_task *t, int rc)
{
    duro_wf *wf = t->wf;
    if (rc != 0) {
        fail_task(t, rc, wf->nondet ? wf->nondet : duro_strerror(rc));
        return;
    }
    if (wf->local_job) {
        wf->local_resume = on_local_done;
        wf->local_arg = t;
        return;
    }
    duro__cmd *cmds = duro__run_take_cmds(wf);
    commit(t, cmds);
}

/* on_local_done: a local activity the code waited for is back (loop). */
static void on_local_done(duro_wf *wf, void *arg)
{
    wft_task *t = arg;
    if (!atomic_load(&t->w->running)) { /* closing: nothing to commit on */
        task_done(t, false);
        return;
    }
    code_ran(t, duro__run_continue(wf));
}

static void run_and_commit(wft_task *t)
{
    duro_wf *wf = t->wf;
    t->first = !wf->started; /* no WorkflowTaskCompleted replayed */
    if (t->first) t->w->wft_first++;
    /* local activities on the pool; the task's budget counts from when
     * this worker took it */
    wf->local_mode = DURO__LOCAL_POOL;
    wf->local_deadline_ms = t->started_us / 1000 + duro__local_budget_ms(wf);
    code_ran(t, duro__run_advance(wf, duro_now_ms()));
}

static void apply_history(wft_task *t, const redisReply *reply);

/* on_history_len: LLEN of the history of a cached run whose read found no
 * event after the ones it applied. Fewer events than it applied: Redis
 * lost writes the worker saw answered (a restart that had not synced its
 * append-only file, a failover to a replica behind its master), and the
 * cached run is ahead of the history: run on, its code would commit
 * nothing new and the run would wait forever. The task fails instead
 * (which drops the run from the cache), and its next attempt replays the
 * history as Redis has it. */
static void on_history_len(duro_aredis *r, redisReply *reply, void *arg)
{
    wft_task *t = arg;
    if (retry_transient(t, reply)) return;
    if (!reply || reply->type != REDIS_REPLY_INTEGER) {
        duro_warn("HISTORY-READ wf=%s err=%s", t->id,
                  reply && reply->type == REDIS_REPLY_ERROR ? reply->str : "?");
        task_done(t, false);
        return;
    }
    t->len_known = true;
    if (reply->integer < t->wf->applied) {
        char msg[256];
        snprintf(msg, sizeof(msg),
                 "the history holds %lld events, fewer than the %lld this "
                 "worker's cached run applied: Redis lost writes it had "
                 "answered; replayed from the history",
                 reply->integer, (long long)t->wf->applied);
        fail_task(t, DURO_ESTALE, msg);
        return;
    }
    redisReply none = {.type = REDIS_REPLY_ARRAY, .elements = 0};
    apply_history(t, &none);
}

static void on_history(duro_aredis *r, redisReply *reply, void *arg)
{
    wft_task *t = arg;
    if (retry_transient(t, reply)) return;
    if (reply && reply->type == REDIS_REPLY_ERROR) {
        /* reported as a failed task (describe shows it); duro_wft_fail
         * also converts a history of library 11 and older, a stream, so
         * the task's next attempt reads it */
        char msg[512];
        snprintf(msg, sizeof(msg), "history read failed: %.400s", reply->str);
        fail_task(t, DURO_EPROTO, msg);
        return;
    }
    if (!reply || reply->type != REDIS_REPLY_ARRAY) {
        duro_warn("HISTORY-READ wf=%s err=?", t->id);
        task_done(t, false);
        return;
    }
    if (reply->elements == 0 && t->wf && !t->len_known) {
        /* a task of a cached run with nothing new to apply: is the history
         * as long as what the run applied? (on_history_len) */
        duro_wf_keys k;
        duro_wf_keys_init(&k, &t->w->ks, t->id, t->run);
        duro_argv a;
        duro_argv_init(&a);
        duro_argv_push(&a, "LLEN");
        duro_argv_push(&a, k.hist);
        send_kept(t, &a, "history length", on_history_len);
        duro_argv_free(&a);
        return;
    }
    apply_history(t, reply);
}

/* apply_history applies a page of the run's history (an array of events
 * from the one after what the task's run has applied), then reads the next
 * page or runs the code and commits. */
static void apply_history(wft_task *t, const redisReply *reply)
{
    duro_worker *w = t->w;
    char err[512];
    bool fresh = t->wf == NULL;
    int64_t from = t->wf ? t->wf->applied + 1 : 1;
    int rc = duro__history_apply_page(w, &t->wf, t->id, t->run, from, reply,
                                      err, sizeof(err));
    if (fresh && t->wf) {
        t->wf->busy = true;
        /* two tasks of one run, neither cached when read (a stale one
         * beside the current one): the second to load runs on its own
         * copy, which its end frees, instead of freeing the first's under
         * it */
        duro_wf *other = duro__cache_peek(&w->cache, t->id);
        if (!other || !other->busy) duro__cache_insert(&w->cache, t->wf);
    }
    if (rc != 0) {
        fail_task(t, rc, err);
        return;
    }
    if (reply->elements == DURO_HISTORY_PAGE) {
        t->len_known = true; /* as long as applied, at least */
        fetch_history(t);
        return;
    }
    if (!t->wf) {
        fail_task(t, DURO_EINVAL, "history is empty");
        return;
    }
    run_and_commit(t);
}

static void fetch_history(wft_task *t)
{
    duro_wf_keys k;
    duro_wf_keys_init(&k, &t->w->ks, t->id, t->run);
    duro_argv a;
    duro__history_argv(&a, k.hist, t->wf ? t->wf->applied + 1 : 1);
    send_kept(t, &a, "history", on_history);
    duro_argv_free(&a);
}

/* start_task takes the cached run (or none) and loads what it lacks; when
 * the run is busy the task waits for it (on_run_released). */
static void start_task(wft_task *t)
{
    duro_worker *w = t->w;
    bool waits;
    duro__run_waiter *stale;
    duro_wf *wf =
        duro__run_acquire(w, t->id, t->run, &t->waiting, &waits, &stale);
    if (stale) {
        duro__wft_task_free(
            (wft_task *)((char *)stale - offsetof(wft_task, waiting)));
        w->wft_inflight--;
    }
    if (waits) return;
    t->wf = wf;
    t->started_us = duro_mono_us();
    if (!wf && t->h1) {
        /* a run's first task with its one event inline: as if LRANGE had
         * answered it (the entry was written with the history, in the
         * same call, and later events wait in the buffer) */
        redisReply ev = {
            .type = REDIS_REPLY_STRING, .str = t->h1, .len = t->h1_len};
        redisReply *evs[1] = {&ev};
        redisReply page = {
            .type = REDIS_REPLY_ARRAY, .elements = 1, .element = evs};
        apply_history(t, &page);
        return;
    }
    fetch_history(t);
}

static void on_run_released(duro__run_waiter *wt, bool kept)
{
    start_task((wft_task *)((char *)wt - offsetof(wft_task, waiting)));
}

/* ---- Reading tasks ---- */

/* dispatch starts a workflow task or, from a query stream, a query. */
static void dispatch(duro_worker *w, const char *stream,
                     const redisReply *entry)
{
    if (strstr(stream, ":qry:") && !strchr(stream, '#')) { /* '#': sticky */
        duro__query_start(w, stream, entry);
        return;
    }
    if (duro__fair_bell(w, stream, entry, dispatch, duro__wft_poll,
                        &w->wft_fair))
        return;
    wft_task *t = duro__wft_task_from_entry(w, stream, entry);
    if (!t) return;
    t->waiting.fn = on_run_released;
    w->wft_inflight++;
    start_task(t);
}

static void on_read(duro_aredis *r, redisReply *reply, void *arg)
{
    duro_worker *w = arg;
    w->wft_reading = false;
    duro__rate_read(w, DURO_RATE_WFT, reply);
    if (duro__read_entries(w, reply, "WFT-READ", dispatch) == 0)
        duro__wft_poll(w);
}

/* on_round (partread.c's done): a round of reads per partition ended */
static void on_round(duro_worker *w)
{
    w->wft_reading = false;
    duro__rate_settle(w, DURO_RATE_WFT, w->wft_pr.got);
    duro__wft_poll(w);
}

void duro__wft_poll(duro_worker *w)
{
    if (w->wft_reading || w->stopping || w->probing || duro__reads_held(w) ||
        !w->wft_conn || !duro_aredis_connected(w->wft_conn))
        return;
    if (w->per_partition && w->wft_pr.ndue == 0) return;
    int room = w->max_workflow_tasks - w->wft_inflight - w->wft_fair;
    if (room <= 0 || (room = duro__rate_gate(w, DURO_RATE_WFT, room)) <= 0)
        return;
    /* queries ride along in reads per partition (last: left out below);
     * the priority levels in order, as a read's reply lists its streams
     * in the order it names them (duro/priority.h) */
    static const int kinds[] = {DURO_STREAM_WFT_L1, DURO_STREAM_WFT_L2,
                                DURO_STREAM_STICKY, DURO_STREAM_WFT,
                                DURO_STREAM_WFT_L4, DURO_STREAM_WFT_L5,
                                DURO_STREAM_QRY};
    if (w->per_partition) {
        /* this read carries the queries: none while w->cmd, which answers
         * them, is down (qread.c says why) */
        if (!w->cmd || !duro_aredis_connected(w->cmd)) return;
        w->wft_pr.tag = "WFT-READ";
        w->wft_pr.fn = dispatch;
        w->wft_pr.done = on_round;
        if (duro__pread_send(&w->wft_pr, w->wft_conn, kinds,
                             (int)(sizeof(kinds) / sizeof(kinds[0])),
                             room) > 0) {
            w->wft_reading = true;
            w->sticky_recover = false;
        }
        return;
    }
    /* on one node the query streams have a read of their own (qread.c):
     * this one is sent again after every reply */
    int nkinds =
        (int)(sizeof(kinds) / sizeof(kinds[0])) - (w->qry_conn ? 1 : 0);
    duro_argv a;
    if (duro__xreadgroup_argv(w, &a, room, kinds, nkinds) > 0 &&
        duro_aredis_command(w->wft_conn, on_read, w, &a) == 0) {
        w->wft_reading = true;
        w->sticky_recover = false;
    }
    duro_argv_free(&a);
}
