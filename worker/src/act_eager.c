/* act_eager.c: how many activity tasks this worker takes, from a commit's
 * reply (eager dispatch, docs/internals.md) or to wait for a thread. */
#include <stdint.h>

#include <cjson/cJSON.h>

#include "commit.h"
#include "pool.h"
#include "worker_internal.h"

/* EAGER_MAX: the most activity tasks one commit takes for this worker */
#define EAGER_MAX 16

/* duro__act_free_threads: the pool's threads that take a job at once. */
int duro__act_free_threads(const duro_worker *w)
{
    int n = w->activity_threads - duro__pool_busy(w->pool);
    return n > 0 ? n : 0;
}

/* duro__act_waiting_max: how many eager tasks may wait for a thread: four
 * rounds of the pool. The time bound (act_wait_ms) is what keeps a waiting task
 * from eating into its start-to-close; this one keeps a burst of commits
 * from taking work that idle workers could run and handing it back (a
 * round trip each). Not fewer: replies come in bursts, before the pool's
 * done callbacks free their threads (the saturating bench handed back 29%
 * of its eager tasks at once with one round, 2% with four). */
int duro__act_waiting_max(const duro_worker *w)
{
    return 4 * w->activity_threads;
}

/* duro__act_wait_limit_ms: how long task c may wait for a thread: the bound,
 * and never more than a tenth of its start-to-close or heartbeat timeout,
 * whose clocks (the entry's pending idle time) run while it waits. */
int64_t duro__act_wait_limit_ms(const duro_worker *w, const duro_actx *c)
{
    int64_t ms = w->act_wait_ms;
    static const char *const timeouts[] = {"startToCloseMs",
                                           "heartbeatTimeoutMs"};
    for (int i = 0; i < 2; i++) {
        double t = cJSON_GetNumberValue(
            cJSON_GetObjectItemCaseSensitive(c->opts, timeouts[i]));
        if (t > 0 && t / 10 < (double)ms) ms = (int64_t)(t / 10);
    }
    return ms;
}

const char *duro__act_eager_ask(duro_worker *w, int p, const duro__commit *cm,
                                int *n)
{
    *n = 0;
    if (!w->eager_acts || w->stopping || !w->activities || !w->act_keys ||
        p < 0 || p >= w->partitions || !w->act_conn ||
        !duro_aredis_connected(w->act_conn))
        return NULL;
    if (w->stream_broken &&
        w->stream_broken[DURO_STREAM_ACT * w->partitions + p])
        return NULL;
    /* a rate-limited queue's tasks go out through its token bucket only */
    if (!w->rate_known || w->rate[DURO_RATE_ACT].rate > 0) return NULL;
    /* no slot is reserved, and commits in flight are not counted: a
     * task that finds no thread free waits for one (at most act_wait_ms,
     * then it goes back to the shared queue), so a commit asks while
     * fewer than waiting_max wait */
    int room = duro__act_waiting_max(w) - w->act_nwaiting_eager;
    int want = duro__commit_acts_to(cm, w->act_keys[p]);
    if (want > room) want = room;
    if (want > EAGER_MAX) want = EAGER_MAX;
    if (want <= 0) return NULL;
    *n = want;
    w->eager_asked += *n;
    return w->act_keys[p];
}

void duro__act_eager_end(duro_worker *w, int *n)
{
    w->eager_asked -= *n;
    *n = 0;
}
