/* qread.c: the query streams' own blocking read (docs/internals.md, "The
 * read set").
 *
 * A blocked XREADGROUP costs Redis CPU for every stream it names each time
 * it is sent: when it blocks (the key is registered), when an entry wakes
 * it (every key is unregistered) and when the worker sends it again. The
 * workflow-task read is sent again after every reply, one or more per
 * workflow; the query streams (one per partition) rode along in it, though
 * queries are rare. On one Redis node a worker reads them instead in an
 * XREADGROUP of their own, on a connection of its own ("queries"), which
 * stays blocked until a query comes or READ_BLOCK_MS passes.
 *
 * Reads per partition (a Redis Cluster, DURO_READ_PER_PARTITION=1) keep
 * the query streams in the workflow-task rounds (partread.c): there the
 * wake channel, not a blocked read, tells a worker that a query came.
 */
#include "duro/errno.h"
#include "duro/log.h"
#include "worker_internal.h"

/* queries taken per read: each is answered at once (query.c), the room of
 * the workflow tasks does not bound them, as before */
#define QRY_READ_COUNT 64

static void dispatch(duro_worker *w, const redisReply *reply)
{
    for (size_t s = 0; s < reply->elements; s++) {
        const redisReply *sr = reply->element[s];
        if (sr->type != REDIS_REPLY_ARRAY || sr->elements != 2 ||
            sr->element[0]->type != REDIS_REPLY_STRING ||
            sr->element[1]->type != REDIS_REPLY_ARRAY)
            continue;
        for (size_t i = 0; i < sr->element[1]->elements; i++)
            duro__query_start(w, sr->element[0]->str,
                              sr->element[1]->element[i]);
    }
}

static void on_read(duro_aredis *r, redisReply *reply, void *arg)
{
    duro_worker *w = arg;
    w->qry_reading = false;
    if (reply && reply->type == REDIS_REPLY_ERROR) {
        duro_warn_limited(NULL, "READ-FAILED read=QRY-READ err=%s", reply->str);
        /* the check or the backoff reads again */
        duro__read_failed(w, reply->str);
    } else if (reply) {
        duro__read_worked(w);
        if (reply->type == REDIS_REPLY_ARRAY) dispatch(w, reply);
    } /* else nil (a timeout) or the connection lost (it reads when back) */
    duro__qry_poll(w);
    w->maybe_finish(w); /* a stopping worker waits for this read */
}

void duro__qry_poll(duro_worker *w)
{
    /* a query is answered through w->cmd (its history read, its reply):
     * one read while that connection is down could not be answered and
     * would wait out the client's timeout, so none is read until it is
     * up (on_conn_state polls again then) */
    if (w->qry_reading || w->stopping || w->probing || w->per_partition ||
        duro__reads_held(w) || !w->qry_conn ||
        !duro_aredis_connected(w->qry_conn) || !w->cmd ||
        !duro_aredis_connected(w->cmd))
        return;
    static const int kinds[] = {DURO_STREAM_QRY};
    duro_argv a;
    if (duro__xreadgroup_argv(w, &a, QRY_READ_COUNT, kinds, 1) > 0 &&
        duro_aredis_command(w->qry_conn, on_read, w, &a) == 0)
        w->qry_reading = true;
    duro_argv_free(&a);
}
