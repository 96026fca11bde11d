/* aredis_cmap.c: a cluster router's lookups in its slot map: which child
 * connection serves a slot or an address, a redirect written into the
 * map, and asking for a fresher map (the refresh itself, and the
 * children following the map: aredis_cluster.c, through cl->map_changed
 * and the timer). Used by the routing of commands (aredis_route.c) and
 * of subscriptions (aredis_csub.c). */
#include <string.h>

#include "duro/log.h"
#include "aredis_cluster.h"

/* duro__acluster_nudge: something waits; the timer ticks fast until it is done
 * (started once, so that a stream of replies does not keep pushing it back). */
void duro__acluster_nudge(duro_aredis *r)
{
    if (r->cl->fast || r->closing) return;
    r->cl->fast = 1;
    duro__aredis_arm(r, TICK_MS);
}

int duro__acluster_kid_find(const struct acluster *cl, const duro_redis_addr *a)
{
    for (int i = 0; i < cl->nkids; i++)
        if (cl->kid[i]->url.port == a->port &&
            strcmp(cl->kid[i]->url.host, a->host) == 0)
            return i;
    return -1;
}

int duro__acsub_count(const duro_aredis *r, const duro_aredis *kid)
{
    int n = 0;
    for (const sub *s = r->subs; s; s = s->next)
        n += s->kid == kid;
    return n;
}

duro_aredis *duro__acluster_kid(duro_aredis *r, int slot)
{
    struct acluster *cl = r->cl;
    if (slot < 0) {
        for (int i = 0; i < cl->nkids; i++)
            if (duro_aredis_connected(cl->kid[i]) &&
                (slot == -2 || duro__acsub_count(r, cl->kid[i]) == 0))
                return cl->kid[i];
        return NULL;
    }
    if (!cl->known) return NULL;
    int n = cl->map.slot_node[slot];
    if (n < 0 || cl->node_kid[n] < 0) return NULL;
    return cl->kid[cl->node_kid[n]];
}

void duro__acluster_want_refresh(duro_aredis *r)
{
    r->cl->refresh_wanted = 1;
    duro__acluster_nudge(r);
}

void duro__acluster_moved(duro_aredis *r, int slot, const duro_redis_addr *addr)
{
    struct acluster *cl = r->cl;
    int n = duro_cluster_map_node(&cl->map, addr);
    if (n >= 0 && cl->map.slot_node[slot] != n) {
        duro_debug("CLUSTER MOVED name=%s slot=%d to=%s:%d", r->name, slot,
                   addr->host, addr->port);
        cl->map.slot_node[slot] = (short)n;
        cl->map_changed(r);
    }
    duro__acluster_want_refresh(r);
}
