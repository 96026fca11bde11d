/* sticky.c: sticky execution, the worker's side (docs/internals.md,
 * "Sticky execution").
 *
 * A worker that commits a run's workflow task and keeps the run in its
 * cache names itself in the commit; the run's next workflow task then goes
 * to this worker's own stream of the partition (duro_key_wft_sticky),
 * which it reads in the same blocking XREADGROUP as the shared streams, so
 * that it resumes the cached coroutine instead of another worker replaying
 * the history. The Functions move a task that waits there longer than the
 * schedule-to-start timeout to the shared stream (a 'k' timer). What is
 * here: the streams' names, and giving runs up: a run evicted from the
 * cache, and every cached run when the worker stops (graceful hand-back),
 * so that their tasks need not wait out the timeout.
 */
#include <string.h>

#include "duro/fcall.h"
#include "duro/keys.h"
#include "duro/log.h"
#include "worker_internal.h"

bool duro__sticky_stream(const duro_worker *w, const char *stream, int p)
{
    return w->sticky_keys && strcmp(stream, w->sticky_keys[p]) == 0;
}

const char *duro__sticky_wft_key(const duro_worker *w, int p, bool sticky)
{
    return sticky && w->sticky_keys ? w->sticky_keys[p] : w->wft_keys[p];
}

/* release_argv: FCALL duro_sticky_release for run wf; a borrows k. */
static void release_argv(duro_worker *w, const duro_wf *wf, duro_wf_keys *k,
                         duro_argv *a)
{
    duro_wf_keys_init(k, &w->ks, wf->id, wf->run);
    snprintf(k->wft, sizeof(k->wft), "%s",
             duro__sticky_wft_key(w, k->partition, true));
    duro_fcall_sticky_release(a, k, wf->run, w->identity);
}

static void ignore_reply(duro_aredis *r, redisReply *reply, void *arg) {}

void duro__sticky_on_evict(void *arg, duro_wf *wf)
{
    duro_worker *w = arg;
    if (!w->sticky_keys || !w->cmd || !wf->started || wf->done) return;
    /* not waited for: should it be lost, the run's next task waits out
     * the schedule-to-start timeout, then goes to any worker */
    duro_wf_keys k;
    duro_argv a;
    release_argv(w, wf, &k, &a);
    duro_aredis_command(w->cmd, ignore_reply, NULL, &a);
    duro_argv_free(&a);
}

/* ---- Hand-back at stop ---- */

static void on_handed_back(duro_aredis *r, redisReply *reply, void *arg)
{
    duro_worker *w = arg;
    if (reply && reply->type == REDIS_REPLY_ERROR)
        duro_warn_limited(NULL,
                          "STICKY-HANDBACK-FAILED err=%s: the task "
                          "waits out its schedule-to-start timeout",
                          reply->str);
    if (--w->sticky_releasing > 0) return;
    w->handed_back(w);
}

/* cached_runs: the runs a hand-back gives up. */
static int cached_runs(const duro_worker *w)
{
    int n = 0;
    for (const duro_wf *wf = w->cache.head; wf; wf = wf->lru_next)
        n += wf->started && !wf->done;
    return n;
}

void duro__sticky_hand_back(duro_worker *w, void (*done)(duro_worker *w))
{
    if (!w->sticky_keys || !w->cmd || !duro_aredis_connected(w->cmd)) {
        int runs = w->sticky_keys ? cached_runs(w) : 0;
        if (runs > 0)
            duro_warn("STICKY-HANDBACK-SKIPPED runs=%d: Redis is away, "
                      "their next tasks wait out the schedule-to-start "
                      "timeout",
                      runs);
        done(w);
        return;
    }
    w->handed_back = done;
    w->sticky_releasing = 1; /* held until every call is sent */
    int runs = 0;
    for (duro_wf *wf = w->cache.head; wf; wf = wf->lru_next) {
        if (!wf->started || wf->done) continue;
        duro_wf_keys k;
        duro_argv a;
        release_argv(w, wf, &k, &a);
        if (duro_aredis_command(w->cmd, on_handed_back, w, &a) == 0) {
            w->sticky_releasing++;
            runs++;
        }
        duro_argv_free(&a);
    }
    /* what a Function still adds to a deleted stream makes it again,
     * without a group: its 'k' timer moves it to the shared stream */
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "DEL");
    for (int p = 0; p < w->partitions; p++) {
        duro_argv_push(&a, w->sticky_keys[p]);
        /* a Redis Cluster refuses a DEL across slots: one per partition */
        if (w->per_partition || p == w->partitions - 1) {
            if (duro_aredis_command(w->cmd, on_handed_back, w, &a) == 0)
                w->sticky_releasing++;
            duro_argv_free(&a);
            duro_argv_init(&a);
            duro_argv_push(&a, "DEL");
        }
    }
    duro_argv_free(&a);
    duro_info("STICKY-HANDBACK runs=%d", runs);
    on_handed_back(NULL, NULL, w);
}
