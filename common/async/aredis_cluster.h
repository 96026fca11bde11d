/* aredis_cluster.h: a cluster router's state, shared by aredis_cluster.c
 * (the map, the masters' connections, connected or not), aredis_cmap.c
 * (lookups in the map) and aredis_route.c (commands). */
#ifndef DURO_AREDIS_CLUSTER_H
#define DURO_AREDIS_CLUSTER_H

#include <stdint.h>

#include "duro/cluster.h"
#include "aredis_int.h"

#define TICK_MS 50            /* while something waits (retries, a refresh) */
#define IDLE_TICK_MS 1000     /* otherwise */
#define CLUSTER_RETRY_MS 5000 /* TRYAGAIN, CLUSTERDOWN: resend until then */
#define RETRY_STEP_MS 100
#define MAX_HOPS 16
#define REFRESH_MIN_MS 100   /* MOVED storms: one CLUSTER SLOTS per this */
#define REFRESH_DOWN_MS 1000 /* while not connected */
#define PROBE_WAIT_MS 2000   /* a probe not up by then: next address */

typedef struct creq {
    struct creq *next; /* delayed list */
    duro_aredis *r;
    duro_aredis_cb cb;
    void *arg;
    duro_argv a; /* borrows blob */
    char *blob;
    unsigned long long seq; /* the order commands were first sent in */
    int slot;               /* -1: keyless */
    int hops;
    int ask; /* the next send goes to ask_addr after ASKING */
    duro_redis_addr ask_addr;
    int64_t deadline_ms, next_try_ms;
    redisReply *last_err; /* delivered if the deadline passes */
} creq;

struct acluster {
    duro_cluster_map map;
    duro_cluster_map scratch; /* a map being parsed */
    int known;
    duro_aredis *kid[DURO_CLUSTER_NODES_MAX];
    int nkids;
    short node_kid[DURO_CLUSTER_NODES_MAX]; /* map node -> kid, or -1 */
    unsigned char node_slots[DURO_CLUSTER_NODES_MAX]; /* serves slots */
    duro_aredis *probe;
    int probe_next;
    int64_t probe_since_ms;
    int up;
    unsigned long ups;
    int refreshing, refresh_wanted;
    int64_t last_refresh_ms;
    creq *delayed, *delayed_tail; /* in the order first sent */
    unsigned long long seq;       /* commands so far */
    int stalled;                  /* kids stalled now */
    int fast;                     /* the timer ticks every TICK_MS */
    int fatal_told;
    /* a redirect moved a slot: the kids follow (set by aredis_cluster.c,
     * called by duro__acluster_moved in aredis_cmap.c) */
    void (*map_changed)(duro_aredis *r);
};

/* duro__acluster_nudge (aredis_cmap.c): something waits; the timer ticks every
 * TICK_MS until it is done. */
void duro__acluster_nudge(duro_aredis *r);
/* duro__acluster_kid_find: the index in cl->kid of the connection to a,
 * or -1. */
int duro__acluster_kid_find(const struct acluster *cl,
                            const duro_redis_addr *a);
/* duro__acluster_retry sends again the commands whose retry is due
 * (aredis_route.c). */
void duro__acluster_retry(duro_aredis *r);
/* duro__acluster_drop_delayed answers every waiting command with NULL. */
void duro__acluster_drop_delayed(duro_aredis *r);

#endif
