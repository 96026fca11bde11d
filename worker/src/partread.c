/* partread.c: reading the task streams partition by partition, on a Redis
 * Cluster (or on one node with DURO_READ_PER_PARTITION=1, to test it).
 *
 * On one node a worker reads every partition's streams of a kind in one
 * XREADGROUP BLOCK. A Redis Cluster refuses a command whose keys lie in
 * several slots (CROSSSLOT), and a blocking read per partition would cost
 * a connection per partition. So here a kind of task (workflow tasks with
 * the queries, or activity tasks) is read in rounds:
 *
 *   due partitions ──▶ XREADGROUP ... COUNT n STREAMS <p's streams> (no
 *                      BLOCK), one per due partition, pipelined; the
 *                      entries are handed on once the round's last reply
 *                      came (they come together), level by level
 *   a round ends   ──▶ the next one at once when a partition's read came
 *                      back full (COUNT entries in a stream), else when
 *                      something makes a partition due:
 *
 *   - a wake message on `<prefix>{pN}:wake` (the Functions SPUBLISH one
 *     when they add a task and the library was loaded with sharded_wake;
 *     wake.c subscribes), naming the kind and queue;
 *   - the sweep: every partition is due every DURO_READ_SWEEP_MS (the
 *     worker's tick), so a lost message delays a task, never loses it;
 *   - a reconnect (messages may have been lost meanwhile).
 *
 * The flow control is the single node's: a round reads only with room in
 * the pool (or for more workflow tasks), tokens from the rate limit (the
 * round's entries settle them once its last reply came), no stream check
 * out, healthy streams only, "0" for the sticky streams after a reconnect,
 * nothing new once stopping. `reading` (w->wft_reading, w->act_reading)
 * stays set while a round is out, as for a blocking read.
 */
#include <stdlib.h>
#include <string.h>

#include "duro/clock.h"
#include "duro/log.h"
#include "worker_internal.h"

int duro__pread_init(duro_worker *w, duro__pread *pr)
{
    free(pr->due);
    free(pr->slots);
    *pr = (duro__pread){.w = w};
    size_t n = (size_t)w->partitions;
    pr->due = calloc(n, sizeof(bool));
    pr->slots = calloc(n, sizeof(duro__pread_slot));
    if (!pr->due || !pr->slots) return DURO_ENOMEM;
    for (int p = 0; p < w->partitions; p++)
        pr->slots[p] = (duro__pread_slot){.pr = pr, .p = p};
    duro__pread_all_due(pr);
    return 0;
}

void duro__pread_free(duro__pread *pr)
{
    for (int p = 0; pr->slots && p < pr->w->partitions; p++)
        if (pr->slots[p].held) freeReplyObject(pr->slots[p].held);
    free(pr->due);
    free(pr->slots);
    pr->due = NULL;
    pr->slots = NULL;
}

void duro__pread_due(duro__pread *pr, int p)
{
    if (!pr->due || p < 0 || p >= pr->w->partitions || pr->due[p]) return;
    pr->due[p] = true;
    pr->ndue++;
}

void duro__pread_all_due(duro__pread *pr)
{
    for (int p = 0; pr->due && p < pr->w->partitions; p++)
        duro__pread_due(pr, p);
    pr->sweep_ms = duro_mono_ms() + DURO_READ_SWEEP_MS;
    pr->sweeps++;
}

bool duro__pread_tick(duro__pread *pr)
{
    if (!pr->due || duro_mono_ms() < pr->sweep_ms) return false;
    duro__pread_all_due(pr);
    return true;
}

/* full: a stream of the reply brought COUNT entries: more may wait. */
static bool full(const redisReply *reply, long long count)
{
    for (size_t s = 0; reply->type == REDIS_REPLY_ARRAY && s < reply->elements;
         s++) {
        const redisReply *sr = reply->element[s];
        if (sr->type == REDIS_REPLY_ARRAY && sr->elements == 2 &&
            sr->element[1]->type == REDIS_REPLY_ARRAY &&
            (long long)sr->element[1]->elements >= count)
            return true;
    }
    return false;
}

/* reply_dup: a deep copy of an XREADGROUP reply (strings, arrays, nil),
 * kept past its callback; NULL when out of memory. */
static redisReply *reply_dup(const redisReply *r)
{
    redisReply *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    c->type = r->type;
    c->integer = r->integer;
    if (r->str) {
        if (!(c->str = malloc(r->len + 1))) goto fail;
        memcpy(c->str, r->str, r->len + 1);
        c->len = r->len;
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements > 0) {
        if (!(c->element = calloc(r->elements, sizeof(redisReply *))))
            goto fail;
        c->elements = r->elements;
        for (size_t i = 0; i < r->elements; i++)
            if (!(c->element[i] = reply_dup(r->element[i]))) goto fail;
    }
    return c;
fail:
    freeReplyObject(c);
    return NULL;
}

/* dispatch_round hands the round's entries to pr->fn kind by kind, in
 * the order the kinds were given (the priority levels first to last, as
 * one read over every partition lists them), each kind partition by
 * partition; then frees what was held. */
static void dispatch_round(duro__pread *pr)
{
    duro_worker *w = pr->w;
    for (int i = 0; i < pr->nkinds; i++)
        for (int p = 0; p < w->partitions; p++) {
            const redisReply *held = pr->slots[p].held;
            const char *key = duro__stream_key(w, pr->kinds[i], p);
            for (size_t s = 0; held && key && s < held->elements; s++) {
                const redisReply *sr = held->element[s];
                if (sr->type != REDIS_REPLY_ARRAY || sr->elements != 2 ||
                    sr->element[0]->type != REDIS_REPLY_STRING ||
                    strcmp(sr->element[0]->str, key) != 0)
                    continue;
                redisReply one = {.type = REDIS_REPLY_ARRAY,
                                  .elements = 1,
                                  .element = (redisReply **)&held->element[s]};
                duro__read_entries(w, &one, pr->tag, pr->fn);
            }
        }
    for (int p = 0; p < w->partitions; p++) {
        if (pr->slots[p].held) freeReplyObject(pr->slots[p].held);
        pr->slots[p].held = NULL;
    }
}

/* on_read: one partition's reply. Entries wait for the round's last reply
 * (pipelined, they come together), so that a higher level's tasks of one
 * partition go before a lower level's of another, as on one node. */
static void on_read(duro_aredis *r, redisReply *reply, void *arg)
{
    duro__pread_slot *slot = arg;
    duro__pread *pr = slot->pr;
    duro_worker *w = pr->w;
    pr->out--;
    /* lost, refused or full: read again (a lost connection's reconnect
     * makes every partition due anyway) */
    if (!reply || reply->type == REDIS_REPLY_ERROR || full(reply, pr->count))
        duro__pread_due(pr, slot->p);
    if (reply) pr->got += duro__rate_count(reply);
    /* an array waits for the round (priority order); anything else is
     * handled now (logs, checks), and so is an array with no memory to
     * wait */
    bool array = reply && reply->type == REDIS_REPLY_ARRAY;
    if (!array || !(slot->held = reply_dup(reply)))
        duro__read_entries(w, reply, pr->tag, pr->fn);
    if (pr->out > 0) return;
    dispatch_round(pr);
    pr->done(w);
}

int duro__pread_send(duro__pread *pr, duro_aredis *conn, const int *kinds,
                     int nkinds, long long count)
{
    duro_worker *w = pr->w;
    if (pr->out > 0 || pr->ndue == 0 || !conn) return 0;
    pr->count = count;
    pr->got = 0;
    pr->kinds = kinds;
    pr->nkinds = nkinds;
    int sent = 0;
    for (int p = 0; p < w->partitions; p++) {
        if (!pr->due[p]) continue;
        duro_argv a;
        int n = duro__xreadgroup_part_argv(w, &a, count, kinds, nkinds, p);
        /* nothing healthy to read there: the stream check brings it back */
        if (n == 0 ||
            duro_aredis_command(conn, on_read, &pr->slots[p], &a) == 0) {
            pr->due[p] = false;
            pr->ndue--;
            if (n > 0) sent++;
        }
        duro_argv_free(&a);
    }
    pr->out = sent;
    pr->rounds += sent > 0;
    pr->reads += (uint64_t)sent;
    return sent;
}
