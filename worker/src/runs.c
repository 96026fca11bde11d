/* runs.c: the runs this worker holds in memory, between tasks.
 *
 * A cached run is busy while a workflow task or an eager commit is
 * advancing it. What arrives for it meanwhile waits on it: a workflow task
 * that came back (its task timed out while still in progress here), and
 * activity completions held so that they can be committed eagerly once
 * the run is idle again. duro__run_release ends a busy spell and hands the
 * run to what waited, completions first.
 *
 * The eager path: when an activity completes for an idle cached run that
 * is exactly as far as the history it last committed, the worker applies
 * the completion itself, runs the workflow code and sends the resulting
 * commands with the completion, in one call; no workflow task is needed.
 */
#include <stdlib.h>
#include <string.h>

#include "duro/clock.h"
#include "duro/history.h"
#include "commit.h"
#include "worker_internal.h"

/* ---- Busy runs and what waits for them ---- */

duro_wf *duro__run_acquire(duro_worker *w, const char *id, const char *run,
                           duro__run_waiter *task, bool *waits,
                           duro__run_waiter **stale)
{
    *waits = false;
    *stale = NULL;
    duro_wf *wf = duro__cache_lookup(&w->cache, id);
    if (wf && wf->busy) {
        /* its task timed out and came back while still in progress here:
         * run this one after it (an older waiting one is stale anyway) */
        *stale = wf->pending_task;
        wf->pending_task = task;
        *waits = true;
        return NULL;
    }
    if (wf && strcmp(wf->run, run) != 0) {
        duro__cache_remove(&w->cache, wf);
        wf = NULL;
    }
    if (wf) {
        duro__cache_touch(&w->cache, wf);
        wf->busy = true;
    }
    return wf;
}

bool duro__run_hold(duro_worker *w, const char *id, const char *run,
                    duro__run_waiter *wt)
{
    duro_wf *wf = duro__cache_peek(&w->cache, id);
    if (!wf || !wf->busy || strcmp(wf->run, run) != 0) return false;
    wt->next = wf->held;
    wf->held = wt;
    return true;
}

void duro__run_release(duro_worker *w, duro_wf *wf, bool keep)
{
    duro__run_waiter *next = wf->pending_task, *held = wf->held;
    wf->pending_task = NULL;
    wf->held = NULL;
    wf->busy = false;
    keep = keep && !wf->done && !wf->nondet &&
           duro__cache_peek(&w->cache, wf->id) == wf; /* not: a copy */
    if (!keep) duro__cache_remove(&w->cache, wf);
    /* completions first: each may advance the run eagerly */
    while (held) {
        duro__run_waiter *wt = held;
        held = wt->next;
        wt->next = NULL;
        wt->fn(wt, keep);
    }
    if (next) next->fn(next, keep);
}

/* ---- The eager path ---- */

duro_wf *duro__run_eager_begin(duro_worker *w, const char *id, const char *run,
                               int partition, int key_base, const char *data,
                               duro__commit *cm, int64_t *expected)
{
    duro_wf *wf = duro__cache_peek(&w->cache, id);
    if (!wf || wf->busy || wf->behind || wf->done || wf->nondet ||
        wf->ninbound || wf->seg_open || wf->cmds || strcmp(wf->run, run) != 0)
        return NULL;
    duro_event e = {.id = wf->applied + 1,
                    .type = DURO_EVENT_ACTIVITY_COMPLETED,
                    .ts = duro_now_ms(),
                    .data = cJSON_Parse(data)};
    char err[256];
    if (!e.data || duro__event_decode(w, &e, err, sizeof(err)) != 0) {
        cJSON_Delete(e.data); /* not eager: the usual task decodes again */
        return NULL;
    }
    *expected = wf->applied;
    wf->busy = true;
    int rc = duro__run_apply(wf, &e, 1);
    cJSON_Delete(e.data);
    /* a local activity cannot wait here: the code stops at it and the
     * run is dropped; a workflow task replays to it (sdk_local.c) */
    wf->local_mode = DURO__LOCAL_REFUSE;
    if (rc == 0) rc = duro__run_advance(wf, duro_now_ms());
    if (rc == 0 && wf->local_refused) rc = DURO_EAGAIN;
    duro__cmd *cmds = duro__run_take_cmds(wf);
    if (rc == 0) {
        rc =
            duro__commit_encode(cm, &w->ks, partition, key_base, cmds, wf->now);
    } else {
        duro_argv_init(&cm->args);
        cm->cmds = cmds;
    }
    if (rc != 0) {
        duro__commit_free(cm);
        duro__run_release(w, wf, false);
        return NULL;
    }
    return wf;
}

void duro__run_eager_end(duro_worker *w, duro_wf *wf, const redisReply *reply)
{
    bool accepted = reply && reply->type == REDIS_REPLY_ARRAY &&
                    reply->elements >= 3 &&
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
