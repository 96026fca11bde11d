/* act_eager.c: how many activity tasks this worker takes, from a commit's
 * reply (eager dispatch, docs/internals.md) or to wait for a thread, and
 * the tasks a reply brought, read back into an XREADGROUP reply. */
#include <stdint.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "duro/errno.h"
#include "duro/log.h"
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

/* ---- The tasks a commit's reply took ---- */

/* flat_count checks reply's elements from `at` on as the flat tail (per
 * stream `stream, count`, then per entry `id, {field, value...}`) and
 * counts its streams and entries; false when malformed. */
static bool flat_count(const redisReply *reply, size_t at, size_t *nstreams,
                       size_t *nentries)
{
    size_t n = reply->elements;
    *nstreams = *nentries = 0;
    for (size_t i = at; i < n;) {
        const redisReply *s = reply->element[i];
        const redisReply *c = i + 1 < n ? reply->element[i + 1] : NULL;
        if (s->type != REDIS_REPLY_STRING || !c ||
            c->type != REDIS_REPLY_INTEGER || c->integer < 0 ||
            (unsigned long long)c->integer > (n - i - 2) / 2)
            return false;
        i += 2;
        for (long long e = 0; e < c->integer; e++, i += 2)
            if (reply->element[i]->type != REDIS_REPLY_STRING ||
                reply->element[i + 1]->type != REDIS_REPLY_ARRAY)
                return false;
        (*nstreams)++;
        *nentries += (size_t)c->integer;
    }
    return true;
}

static void view_array(redisReply *r, size_t n, redisReply **element)
{
    r->type = REDIS_REPLY_ARRAY;
    r->elements = n;
    r->element = element;
}

/* flat_view builds, in one allocation, the XREADGROUP reply that the flat
 * tail stands for (ns streams, ne entries). It points at the reply's own
 * elements (an entry's id and fields are adjacent there: the entry's
 * element array is the reply's), so it lives no longer than the reply. */
static redisReply *flat_view(const redisReply *reply, size_t at, size_t ns,
                             size_t ne)
{
    /* replies: the top, per stream its pair and its entries, per entry
     * one; pointers: the top's streams, each pair's two, the entries' */
    size_t nr = 1 + 2 * ns + ne, np = 3 * ns + ne;
    redisReply *r = calloc(1, nr * sizeof(redisReply) + np * sizeof(void *));
    if (!r) return NULL;
    redisReply *next = r + 1, **p = (redisReply **)(r + nr);
    view_array(r, ns, p);
    p += ns;
    for (size_t i = at, s = 0; i < reply->elements; s++) {
        redisReply *pair = next++, *entries = next++;
        size_t count = (size_t)reply->element[i + 1]->integer;
        r->element[s] = pair;
        view_array(pair, 2, p);
        p[0] = reply->element[i];
        p[1] = entries;
        p += 2;
        view_array(entries, count, p);
        p += count;
        i += 2;
        for (size_t e = 0; e < count; e++, i += 2) {
            entries->element[e] = next;
            view_array(next++, 2, &reply->element[i]);
        }
    }
    return r;
}

int duro__act_eager_entries(const redisReply *reply, size_t at,
                            const redisReply **entries, void **owned)
{
    *entries = NULL;
    *owned = NULL;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || at >= reply->elements)
        return 0; /* none taken */
    /* a library before 34 answers the negative count this worker sends
     * with no tail; its tail, one XREADGROUP reply, is read should it
     * come all the same */
    if (reply->element[at]->type == REDIS_REPLY_ARRAY) {
        if (at + 1 != reply->elements) return DURO_EPROTO;
        *entries = reply->element[at];
        return 0;
    }
    size_t ns, ne;
    if (!flat_count(reply, at, &ns, &ne)) return DURO_EPROTO;
    redisReply *v = flat_view(reply, at, ns, ne);
    if (!v) return DURO_ENOMEM;
    *entries = *owned = v;
    return 0;
}

void duro__act_eager_reply(duro_worker *w, const redisReply *reply, size_t at,
                           duro__eager_intake take)
{
    const redisReply *entries;
    void *owned;
    int rc = duro__act_eager_entries(reply, at, &entries, &owned);
    if (rc != 0) {
        /* the leases it made time out by their l timers (the entries
         * of a library 34 stay pending under this worker's name): their
         * attempts are retried after their start-to-close timeout, as a
         * lost reply's are */
        duro_warn_limited("ACT-EAGER-BAD",
                          "ACT-EAGER-BAD elements=%zu err=%s: the tasks a "
                          "commit took are left to their timeouts",
                          reply->elements, duro_strerror(rc));
        return;
    }
    if (entries) take(w, entries);
    free(owned);
}
