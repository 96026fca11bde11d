/* wake.c: the partitions' wake channels, for the reads per partition
 * (partread.c).
 *
 * The library copy loaded on a Redis Cluster (duro_lua_library_source with
 * sharded_wake) SPUBLISHes, whenever a Function adds a task, to
 *
 *   <prefix>{pN}:wake   payload "<kind>:<stream name after the kind>",
 *                       e.g. "wft:food", "act:food!1", "wft:food#<worker>"
 *
 * A sharded channel lives on the master of its slot, the slot of its hash
 * tag: the same as partition N's keys. The worker subscribes to every
 * partition's channel on one subscriber connection (one per master on a
 * cluster: duro_aredis_ssubscribe), and a message makes that partition's
 * reads of the kind due. Messages for other task queues, and for other
 * workers' sticky streams, are ignored.

 */
#include <stdio.h>
#include <string.h>

#include "duro/errno.h"
#include "duro/log.h"
#include "worker_internal.h"

void duro__wake_message(duro_worker *w, int p, const char *payload, size_t len)
{
    /* <kind>:<queue>[!<level>|~<fairness key>|#<worker>] */
    const char *colon = memchr(payload, ':', len);
    if (!colon || p < 0 || p >= w->partitions) return;
    size_t klen = (size_t)(colon - payload);
    const char *q = colon + 1;
    size_t qlen = len - klen - 1, plain = 0;
    while (plain < qlen && !strchr("!~#", q[plain]))
        plain++;
    size_t tqlen = strlen(w->task_queue);
    if (plain != tqlen || memcmp(q, w->task_queue, tqlen) != 0) return;
    if (plain < qlen && q[plain] == '#') {
        size_t ilen = strlen(w->identity);
        if (qlen - plain - 1 != ilen ||
            memcmp(q + plain + 1, w->identity, ilen) != 0)
            return; /* another worker's sticky stream */
    }
    duro__pread *pr = NULL;
    if ((klen == 3 && memcmp(payload, "wft", 3) == 0) ||
        (klen == 3 && memcmp(payload, "qry", 3) == 0))
        pr = &w->wft_pr;
    else if (klen == 3 && memcmp(payload, "act", 3) == 0)
        pr = &w->act_pr;
    if (!pr || !pr->due) return;
    pr->wakes++;
    duro__pread_due(pr, p);
    if (pr == &w->wft_pr)
        duro__wft_poll(w);
    else
        duro__act_poll(w);
}

/* on_wake: ["smessage", channel, payload] */
static void on_wake(duro_aredis *r, redisReply *reply, void *arg)
{
    duro_worker *w = arg;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3 ||
        reply->element[1]->type != REDIS_REPLY_STRING ||
        reply->element[2]->type != REDIS_REPLY_STRING)
        return;
    duro__wake_message(w, duro__partition_of_key(reply->element[1]->str),
                       reply->element[2]->str, reply->element[2]->len);
}

int duro__wake_start(duro_worker *w)
{
    for (int p = 0; p < w->partitions; p++) {
        char ch[DURO_PREFIX_MAX + 32];
        snprintf(ch, sizeof(ch), "%s{p%d}:wake", w->ks.prefix, p);
        int rc = duro_aredis_ssubscribe(w->wake_conn, ch, on_wake, w);
        if (rc != 0) return rc;
    }
    return 0;
}
