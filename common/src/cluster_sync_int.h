/* cluster_sync_int.h: the router's state and the parts of
 * cluster_sync.c that its pipelines (cluster_sync_pipeline.c) use. */
#ifndef DURO_CLUSTER_SYNC_INT_H
#define DURO_CLUSTER_SYNC_INT_H

#include <stdbool.h>
#include <hiredis/hiredis.h>

#include "duro/cluster.h"
#include "duro/cluster_sync.h"

/* The router: map.node[i] is served by link[i] (NULL until first used or
 * after it failed). On one server, `one` is the connection and the map is
 * unused. */
struct duro_cluster_sync {
    duro_redis_url url; /* as given: credentials, TLS, seeds */
    int timeout_ms;     /* connect (and command, unless cmd_timeout_ms) */
    int cmd_timeout_ms; /* duro_cluster_sync_set_timeout; -1: timeout_ms */
    bool cluster;
    bool stale; /* read the map again before the next send */
    redisContext *one;
    duro_cluster_map map;
    redisContext *link[DURO_CLUSTER_NODES_MAX];
    duro_cluster_map next; /* refresh's scratch (too big for a stack) */
    char errstr[512];
};

/* duro__csync_errf: the router's message for duro_cluster_sync_errstr. */
void duro__csync_errf(duro_cluster_sync *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* duro__csync_link: master i's connection, opened when needed; NULL (the
 * map then stale) when it cannot be reached. */
redisContext *duro__csync_link(duro_cluster_sync *r, int i);

/* duro__csync_drop closes master i's connection and marks the map stale. */
void duro__csync_drop(duro_cluster_sync *r, int i);

/* duro__csync_refresh reads the map again (0, or DURO_E* with the old map
 * kept). */
int duro__csync_refresh(duro_cluster_sync *r);

/* duro__csync_node_for: the master serving slot (-1: any), or -1. */
int duro__csync_node_for(duro_cluster_sync *r, int slot);

/* duro__csync_retry_later: an error reply for a command the cluster did
 * not run and will later (TRYAGAIN, CLUSTERDOWN). */
bool duro__csync_retry_later(const char *errstr);

/* duro__csync_call: duro_cluster_sync_call on a cluster. */
redisReply *duro__csync_call(duro_cluster_sync *r, const duro_argv *a);

#endif
