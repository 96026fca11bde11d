/* cluster_sync_pipeline.c: pipelines over one server or a cluster's
 * masters (cluster_sync.h). */
#include <stdlib.h>

#include "cluster_sync_int.h"
#include "duro/errno.h"

/* ---- Pipelines ---- */

/* one_pipeline: every command on the one server, one round trip. */
static int one_pipeline(duro_cluster_sync *r, const duro_argv *cmds, int n,
                        redisReply **replies)
{
    redisContext *c = r->one;
    for (int i = 0; i < n; i++)
        if (redisAppendCommandArgv(c, cmds[i].argc, cmds[i].argv,
                                   cmds[i].lens) != REDIS_OK)
            return DURO_ECONN;
    for (int i = 0; i < n; i++) {
        void *rep = NULL;
        if (redisGetReply(c, &rep) != REDIS_OK || !rep) {
            for (int j = 0; j < i; j++)
                freeReplyObject(replies[j]);
            return DURO_ECONN;
        }
        replies[i] = rep;
    }
    return 0;
}

/* send_again: a pipelined reply that the command must be sent again for,
 * alone (a redirection, TRYAGAIN, or a Function missing on that master). */
static bool send_again(const redisReply *rep)
{
    duro_cluster_redirect rd;
    return rep->type == REDIS_REPLY_ERROR &&
           (duro_cluster_parse_redirect(rep->str, &rd) ||
            duro__csync_retry_later(rep->str) ||
            duro_reply_is_missing_function(rep->str));
}

static void free_replies(redisReply **replies, int n)
{
    for (int i = 0; i < n; i++) {
        if (replies[i]) freeReplyObject(replies[i]);
        replies[i] = NULL;
    }
}

/* write_groups appends each command to its master's connection
 * (where[k]; -1: no master, or it cannot be reached: sent alone later).
 * 0, or -1 when out of memory. */
static int write_groups(duro_cluster_sync *r, const duro_argv *cmds, int n,
                        int *where)
{
    if (r->stale) duro__csync_refresh(r);
    for (int k = 0; k < n; k++) {
        where[k] = duro__csync_node_for(r, duro_cluster_argv_slot(&cmds[k]));
        redisContext *c = where[k] >= 0 ? duro__csync_link(r, where[k]) : NULL;
        if (!c) where[k] = -1; /* unreachable: sent alone, after a wait */
        if (c && redisAppendCommandArgv(c, cmds[k].argc, cmds[k].argv,
                                        cmds[k].lens) != REDIS_OK)
            return -1;
    }
    return 0;
}

static int cluster_pipeline(duro_cluster_sync *r, const duro_argv *cmds, int n,
                            redisReply **replies)
{
    int *where = calloc((size_t)n, sizeof(*where));
    if (!where) {
        duro__csync_errf(r, "out of memory");
        return DURO_ECONN;
    }
    for (int k = 0; k < n; k++) {
        replies[k] = NULL;
        where[k] = -1;
    }
    int rc = write_groups(r, cmds, n, where) < 0 ? DURO_ECONN : 0;
    /* replies come back in the order written, per connection */
    for (int k = 0; rc == 0 && k < n; k++) {
        if (where[k] < 0) continue;
        redisContext *c = r->link[where[k]];
        void *rep = NULL;
        if (redisGetReply(c, &rep) != REDIS_OK || !rep) {
            duro__csync_errf(r, "redis at %s:%d: %s",
                             r->map.node[where[k]].host,
                             r->map.node[where[k]].port, c->errstr);
            rc = DURO_ECONN;
        }
        replies[k] = rep;
    }
    for (int k = 0; rc == 0 && k < n; k++) {
        if (where[k] >= 0 && !send_again(replies[k])) continue;
        if (replies[k]) freeReplyObject(replies[k]);
        replies[k] = duro__csync_call(r, &cmds[k]);
        if (!replies[k]) rc = DURO_ECONN;
    }
    if (rc) {
        /* replies still unread make a connection unusable */
        for (int k = 0; k < n; k++)
            if (where[k] >= 0 && r->link[where[k]])
                duro__csync_drop(r, where[k]);
        free_replies(replies, n);
    }
    free(where);
    return rc;
}

int duro_cluster_sync_pipeline(duro_cluster_sync *r, const duro_argv *cmds,
                               int n, redisReply **replies)
{
    if (n <= 0) return 0;
    if (!r->cluster) return one_pipeline(r, cmds, n, replies);
    return cluster_pipeline(r, cmds, n, replies);
}
