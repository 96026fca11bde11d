/* activity.c: activity tasks: read, run on the pool, report the outcome,
 * or hand the attempt back when the worker stops. Each attempt follows the
 * state machine drawn above duro_actx (worker_internal.h).
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
#include "duro/fcall.h"
#include "duro/keys.h"
#include "duro/log.h"
#include "duro/metrics.h"
#include "duro/retry.h"
#include "commit.h"
#include "worker_internal.h"

#define RELEASE_TRIES 6 /* a refused hand-back: ~3s of backoff at most */

/* ---- Completion ---- */

static void send_completion(duro_actx *c, bool eager);

/* end_eager settles the run an eager completion advanced (runs.c). */
static void end_eager(duro_actx *c, const redisReply *reply)
{
    duro__act_eager_end(c->w, &c->eager_n);
    duro_wf *wf = c->eager;
    if (!wf) return;
    c->eager = NULL;
    duro__run_eager_end(c->w, wf, reply);
    /* an accepted eager commit's reply ends with the activity tasks it
     * took for this worker (eager dispatch) */
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements > 3)
        duro__act_eager_reply(c->w, reply, 3, duro__act_eager_take);
}

static void queue_unsent(duro_actx *c)
{
    duro_worker *w = c->w;
    c->state = DURO_ACTX_UNSENT;
    c->link.next = w->unsent ? &w->unsent->link : NULL;
    w->unsent = c;
}

/* resend_completion: the run moved on meanwhile, for all we know, so a
 * completion sent again is never eager. */
static void resend_completion(duro__later *l)
{
    duro_actx *c = (duro_actx *)((char *)l - offsetof(duro_actx, retry));
    if (!duro_aredis_connected(c->w->cmd)) {
        queue_unsent(c); /* the reconnect sends it */
        return;
    }
    send_completion(c, false);
}

static void retry_completion(duro_actx *c)
{
    c->state = DURO_ACTX_RETRYING;
    duro__retry_later(c->w, &c->retry, resend_completion);
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
        retry_completion(c);
        return;
    }
    if (code != 0 && code != DURO_ESTALE)
        duro_warn("ACT-COMPLETE-REJECTED wf=%s seq=%s err=%s", c->id, c->seq,
                  reply->str);
    c->state = DURO_ACTX_DONE;
    w->completing--;
    duro__actx_unref(c);
    duro__act_poll(w);
    w->maybe_finish(w);
}

static void on_run_released(duro__run_waiter *wt, bool kept)
{
    send_completion((duro_actx *)((char *)wt - offsetof(duro_actx, link)),
                    kept);
}

/* hold_for_run: when this worker's cached run of the activity is busy (its
 * last commit still in flight), the completion waits for it, so that it
 * can then be committed eagerly instead of through another workflow task. */
static bool hold_for_run(duro_actx *c)
{
    if (c->failed) return false;
    c->link.fn = on_run_released;
    if (!duro__run_hold(c->w, c->id, c->run, &c->link)) return false;
    c->state = DURO_ACTX_HELD;
    return true;
}

/* try_eager: the eager commit of this completion (runs.c) encoded into
 * *cm, or NULL. cm is the caller's (on the loop's stack: the struct is
 * ~10 KB, and a heap block that size per completion made glibc's malloc
 * consolidate its fast bins every time). */
static duro__commit *try_eager(duro_actx *c, const char *data,
                               int64_t *expected, duro__commit *cm)
{
    c->eager = duro__run_eager_begin(c->w, c->id, c->run, c->partition,
                                     DURO_FCALL_ACT_COMPLETE_ACT_BASE, data, cm,
                                     expected);
    return c->eager ? cm : NULL;
}

/* send_completion reports the outcome; eager: it may also commit the run's
 * next workflow task (false when sent again: the run may have moved on). */
static void send_completion(duro_actx *c, bool eager)
{
    duro_worker *w = c->w;
    if (eager && hold_for_run(c)) return;
    c->state = DURO_ACTX_COMPLETING;
    char *data, *failure;
    int64_t delay;
    if (duro__actx_outcome(c, &data, &failure, &delay) != 0) {
        duro_warn_limited(NULL,
                          "ACT-COMPLETE-RETRY wf=%s seq=%s attempt=%d "
                          "err=out of memory",
                          c->id, c->seq, c->attempt);
        retry_completion(c);
        return;
    }
    int64_t expected = 0;
    duro__commit cmb;
    duro__commit *cm =
        !c->failed && eager ? try_eager(c, data, &expected, &cmb) : NULL;
    duro_wf_keys ks;
    duro_argv a;
    duro__act_complete_argv(c, data, delay, failure, cm, expected, &ks, &a);
    /* the command is copied when sent: only then may what it borrows go */
    if (duro_aredis_command(w->cmd, on_complete_reply, c, &a) != 0) {
        end_eager(c, NULL);
        queue_unsent(c);
    }
    duro_argv_free(&a);
    if (cm) duro__commit_free(cm);
    free(data);
    free(failure);
}

void duro__act_flush_unsent(duro_worker *w)
{
    if (!w->unsent || !duro_aredis_connected(w->cmd)) return;
    duro_actx *list = w->unsent;
    w->unsent = NULL;
    while (list) {
        duro_actx *c = list;
        list = duro__actx_next(c);
        c->link.next = NULL;
        send_completion(c, false);
    }
}

/* ---- Handing back ---- */

/* inflight_add puts a submitted attempt on w->inflight (RUNNING). */
static void inflight_add(duro_worker *w, duro_actx *c)
{
    c->state = DURO_ACTX_RUNNING;
    c->link.next = w->inflight ? &w->inflight->link : NULL;
    w->inflight = c;
}

/* inflight_remove takes c off w->inflight: a walk, but the list holds at
 * most the pool's threads and queue (duro__act_poll reads no more). */
static void inflight_remove(duro_worker *w, duro_actx *c)
{
    duro_actx *prev = NULL;
    for (duro_actx *i = w->inflight; i; prev = i, i = duro__actx_next(i)) {
        if (i != c) continue;
        if (prev)
            prev->link.next = c->link.next;
        else
            w->inflight = duro__actx_next(c);
        break;
    }
    c->link.next = NULL;
}

static int release_call(duro_actx *c);

/* finish_release ends a hand-back, answered or given up. */
static void finish_release(duro_actx *c)
{
    duro_worker *w = c->w;
    w->releasing--;
    if (c->state == DURO_ACTX_RELEASING) c->state = DURO_ACTX_DONE;
    duro__actx_unref(c);
    w->maybe_finish(w);
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
    duro_wf_keys ks;
    duro_argv a;
    duro__act_release_argv(c, &ks, &a);
    int rc = duro_aredis_command(c->w->cmd, on_release_reply, c, &a);
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
        /* Redis is away: nothing can hand it back; say so, or the stop
         * would read as if another worker could take it at once */
        duro_info("HAND-BACK wf=%s activity=%s seq=%s attempt=%d not sent "
                  "(Redis away): the timeout will retry it",
                  c->id, c->name, c->seq, c->attempt);
        w->releasing--;
        duro__actx_unref(c);
    }
}

void duro__act_defer(duro_actx *c, int64_t delay_ms)
{
    c->defer_ms = delay_ms;
    c->state = DURO_ACTX_RELEASING;
    send_release(c);
    duro__actx_unref(c);
}

void duro__act_release_inflight(duro_worker *w)
{
    for (duro_actx *c = w->inflight; c; c = duro__actx_next(c)) {
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
        c->skipped = true; /* queued here but not begun: give it back */
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

void duro__act_pool_done(void *job)
{
    duro_actx *c = job;
    duro_worker *w = c->w;
    inflight_remove(w, c); /* a heartbeat it left is not sent */
    duro__conc_release(w, c);
    if (c->skipped) {
        c->state = DURO_ACTX_RELEASING;
        send_release(c);
        duro__actx_unref(c);
        return;
    }
    if (c->later && !c->failed) {
        /* its entry stays pending: a client completes it (sdk_async.c) */
        duro__act_park(w, c);
        duro__act_poll(w);
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
    send_completion(c, true);
    duro__act_poll(w);
}

/* run_entry hands a valid activity task to the pool, once its
 * concurrency key (if any) gives it a slot. */
static void run_entry(duro_worker *w, const char *stream,
                      const redisReply *entry)
{
    if (duro__fair_bell(w, stream, entry, run_entry, duro__act_poll,
                        &w->act_fair))
        return;
    duro_actx *c = duro__actx_from_entry(w, stream, entry);
    if (c) c->eager_in = w->eager_intake;
    if (!c || duro__conc_gate(w, c)) return;
    duro__act_run(w, c);
}

static bool wait_for_thread(duro_worker *w, duro_actx *c);

/* submit hands c to the pool. */
static void submit(duro_worker *w, duro_actx *c)
{
    inflight_add(w, c);
    if (duro__pool_submit(w->pool, c) != 0) {
        inflight_remove(w, c);
        duro_actx_fail(c, "WorkerOutOfMemory", false, "cannot queue");
        w->completing++;
        send_completion(c, true);
    }
}

void duro__act_run(duro_worker *w, duro_actx *c)
{
    /* one refused before it ran takes no time */
    if (c->failed || !wait_for_thread(w, c)) submit(w, c);
}

/* ---- Eager dispatch (docs/internals.md, "Eager activity dispatch") ---- */

/* hand_back_waiting gives a task that never started back to the shared
 * queue: the same attempt, at once (duro_act_release), for a worker with
 * a free thread. */
static void hand_back_waiting(duro_actx *c, const char *why)
{
    duro_worker *w = c->w;
    w->act_waited_back++;
    duro_info("ACT-WAIT-BACK wf=%s activity=%s seq=%s attempt=%d eager=%d %s",
              c->id, c->name, c->seq, c->attempt, c->eager_in ? 1 : 0, why);
    duro__conc_release(w, c);
    c->state = DURO_ACTX_RELEASING;
    send_release(c);
    duro__actx_unref(c);
}

static duro_actx *pop_waiting(duro_worker *w)
{
    duro_actx *c = w->act_waiting;
    w->act_waiting = duro__actx_next(c);
    if (!w->act_waiting) w->act_waiting_tail = NULL;
    w->act_nwaiting--;
    if (c->eager_in) w->act_nwaiting_eager--;
    c->link.next = NULL;
    return c;
}

static void on_wait_due(duro__later *l);

/* arm_wait: the wait timer goes off when the first waiting task is due
 * (limits differ: a task's own timeouts may shorten its). */
static void arm_wait(duro_worker *w)
{
    duro__later *l = &w->act_wait_due;
    if (!w->act_waiting) {
        duro__later_cancel(w, l);
        return;
    }
    int64_t due = w->act_waiting->wait_until_ms;
    for (duro_actx *c = w->act_waiting; c; c = duro__actx_next(c))
        if (c->wait_until_ms < due) due = c->wait_until_ms;
    if (l->waiting && l->due_ms <= due) return;
    duro__later_cancel(w, l);
    duro__call_at(w, l, on_wait_due, due);
}

/* on_wait_due hands back the waiting tasks past their limit (the list
 * holds at most activity_threads). */
static void on_wait_due(duro__later *l)
{
    duro_worker *w =
        (duro_worker *)((char *)l - offsetof(duro_worker, act_wait_due));
    int64_t now = duro_mono_ms();
    duro_actx *keep = NULL, *tail = NULL, *due = NULL;
    int kept = 0, eager = 0;
    while (w->act_waiting) {
        duro_actx *c = pop_waiting(w);
        if (c->wait_until_ms <= now) {
            c->link.next = due ? &due->link : NULL;
            due = c;
            continue;
        }
        if (tail)
            tail->link.next = &c->link;
        else
            keep = c;
        tail = c;
        kept++;
        eager += c->eager_in;
    }
    w->act_waiting = keep;
    w->act_waiting_tail = tail;
    w->act_nwaiting = kept;
    w->act_nwaiting_eager = eager;
    while (due) {
        duro_actx *c = due;
        due = duro__actx_next(c);
        c->link.next = NULL;
        hand_back_waiting(c, "no thread free in time");
    }
    arm_wait(w);
}

/* wait_for_thread: true when c waits for a thread, behind those that
 * wait already (or went back at once: stopping, or an eager task beyond
 * the bound); false: run it now. A read's tasks past the free threads (a
 * read that went out before a commit's eager tasks took them, a priority
 * level's tasks past the room) wait too, but no more than the read took:
 * nothing sits unstarted for longer than act_wait_ms. */
static bool wait_for_thread(duro_worker *w, duro_actx *c)
{
    if (!w->act_waiting && duro__act_free_threads(w) > 0) return false;
    if (w->stopping ||
        (c->eager_in && w->act_nwaiting_eager >= duro__act_waiting_max(w))) {
        hand_back_waiting(c, "too many waiting");
        return true;
    }
    c->state = DURO_ACTX_WAITING;
    c->wait_until_ms = duro_mono_ms() + duro__act_wait_limit_ms(w, c);
    if (w->act_waiting_tail)
        w->act_waiting_tail->link.next = &c->link;
    else
        w->act_waiting = c;
    w->act_waiting_tail = c;
    w->act_nwaiting++;
    w->act_nwaiting_eager += c->eager_in;
    arm_wait(w);
    return true;
}

/* run_waiting starts waiting tasks, in order, while threads are free. */
static void run_waiting(duro_worker *w)
{
    while (w->act_waiting && duro__act_free_threads(w) > 0 && !w->stopping) {
        duro_actx *c = pop_waiting(w);
        submit(w, c);
    }
}

void duro__act_release_waiting(duro_worker *w)
{
    while (w->act_waiting)
        hand_back_waiting(pop_waiting(w), "stopping");
    arm_wait(w);
}

void duro__act_eager_take(duro_worker *w, const redisReply *entries)
{
    if (!entries || entries->type != REDIS_REPLY_ARRAY ||
        entries->elements == 0)
        return;
    for (size_t s = 0; s < entries->elements; s++) {
        const redisReply *sr = entries->element[s];
        if (sr->type != REDIS_REPLY_ARRAY || sr->elements != 2 ||
            sr->element[0]->type != REDIS_REPLY_STRING ||
            sr->element[1]->type != REDIS_REPLY_ARRAY)
            continue;
        for (size_t i = 0; i < sr->element[1]->elements; i++) {
            const redisReply *e = sr->element[1]->element[i];
            w->eager_acts_taken++;
            duro_debug("ACT-EAGER stream=%s entry=%s", sr->element[0]->str,
                       e->type == REDIS_REPLY_ARRAY && e->elements == 2 &&
                               e->element[0]->type == REDIS_REPLY_STRING
                           ? e->element[0]->str
                           : "?");
        }
    }
    /* the same intake as the worker's own read: admission, levels, logs */
    w->eager_intake = true;
    duro__level_entries(w, entries, run_entry);
    w->eager_intake = false;
}

static void on_read(duro_aredis *r, redisReply *reply, void *arg)
{
    duro_worker *w = arg;
    w->act_reading = false;
    duro__rate_read(w, DURO_RATE_ACT, reply);
    if (duro__read_entries(w, reply, "ACT-READ", run_entry) == 0)
        duro__act_poll(w);
}

/* on_round (partread.c's done): a round of reads per partition ended */
static void on_round(duro_worker *w)
{
    w->act_reading = false;
    duro__rate_settle(w, DURO_RATE_ACT, w->act_pr.got);
    duro__act_poll(w);
}

void duro__act_poll(duro_worker *w)
{
    run_waiting(w);
    if (w->act_reading || w->stopping || w->probing || duro__reads_held(w) ||
        !w->act_conn || !w->activities || !duro_aredis_connected(w->act_conn))
        return;
    if (w->per_partition && w->act_pr.ndue == 0) return;
    /* only free threads: eager tasks waiting for one go first */
    int room = w->activity_threads - duro__pool_busy(w->pool) - w->act_fair -
               w->act_nwaiting;
    if (room <= 0 || (room = duro__rate_gate(w, DURO_RATE_ACT, room)) <= 0)
        return;
    int per_stream = (room + w->partitions - 1) / w->partitions;
    /* the priority levels in order: the reply lists the streams in the
     * order the read names them, and run_entry queues them so; a read
     * may bring a few tasks of a lower level past the room, which the
     * pool runs after the higher ones (duro/priority.h) */
    static const int kinds[] = {DURO_STREAM_ACT_L1, DURO_STREAM_ACT_L2,
                                DURO_STREAM_ACT, DURO_STREAM_ACT_L4,
                                DURO_STREAM_ACT_L5};
    if (w->per_partition) {
        /* the due partitions share the room, as all do on one node */
        int n = w->act_pr.ndue;
        w->act_pr.tag = "ACT-READ";
        w->act_pr.fn = run_entry;
        w->act_pr.done = on_round;
        if (duro__pread_send(&w->act_pr, w->act_conn, kinds,
                             (int)(sizeof(kinds) / sizeof(kinds[0])),
                             (room + n - 1) / n) > 0)
            w->act_reading = true;
        return;
    }
    duro_argv a;
    if (duro__xreadgroup_argv(w, &a, per_stream, kinds,
                              (int)(sizeof(kinds) / sizeof(kinds[0]))) > 0 &&
        duro_aredis_command(w->act_conn, on_read, w, &a) == 0)
        w->act_reading = true;
    duro_argv_free(&a);
}
