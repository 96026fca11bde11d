/* aredis_csub.c: the subscriptions of a duro_aredis on a Redis Cluster.
 * A sharded channel (SSUBSCRIBE) lives on the master serving its slot; a
 * classic one (SUBSCRIBE: Redis Cluster forwards PUBLISH to every node)
 * on any one connected master. Each is sent on that master's connection
 * (a child duro_aredis, aredis_cluster.c), again when the connection comes
 * back, and moved when the master goes away or the slot moves: Redis 7
 * tells a sharded subscriber with an "sunsubscribe" push, and answers an
 * SSUBSCRIBE sent to the wrong master with MOVED. Nothing is ever
 * unsubscribed by us. */
#include <stdlib.h>
#include <string.h>

#include "duro/cluster.h"
#include "duro/errno.h"
#include "duro/log.h"
#include "aredis_int.h"

static int kind_is(const redisReply *rep, const char *kind)
{
    return rep->type == REDIS_REPLY_ARRAY && rep->elements >= 3 &&
           rep->element[0]->type == REDIS_REPLY_STRING &&
           strcmp(rep->element[0]->str, kind) == 0;
}

/* on_csub: a push or (error) reply for s on a master's connection. What
 * comes on a connection s has left is ignored. */
static void on_csub(duro__tconn *ac, redisReply *rep, void *privdata)
{
    sub *s = privdata;
    duro_aredis *r = s->r;
    if (!rep || r->closing || !s->kid || owner_of(ac) != s->kid) return;
    duro_cluster_redirect rd;
    if (rep->type == REDIS_REPLY_ERROR) {
        s->active = 0;
        if (duro_cluster_parse_redirect(rep->str, &rd)) {
            if (!rd.addr.host[0])
                memcpy(rd.addr.host, s->kid->url.host, sizeof(rd.addr.host));
            duro__acluster_moved(r, rd.slot, &rd.addr);
            duro__acsub_place(r);
        } else {
            duro_warn_limited(NULL,
                              "SUBSCRIBE FAILED name=%s channel=%s err=%s",
                              r->name, s->channel, rep->str);
        }
        return;
    }
    if (kind_is(rep, s->sharded ? "smessage" : "message")) {
        s->cb(r, rep, s->arg);
        return;
    }
    if (s->sharded && kind_is(rep, "sunsubscribe")) {
        /* the slot moved away: subscribing again where the map says
         * gets a MOVED naming its new master */
        duro_info("SUBSCRIBE MOVED name=%s channel=%s", r->name, s->channel);
        s->active = 0;
        duro__acluster_want_refresh(r);
        duro__acsub_place(r);
    }
}

static int send_cmd(duro_aredis *kid, sub *s, const char *cmd)
{
    const char *argv[2] = {cmd, s->channel};
    size_t lens[2] = {strlen(cmd), strlen(s->channel)};
    if (!kid->ac || !duro_aredis_connected(kid)) return DURO_ECONN;
    return duro__tconn_command(kid->ac, on_csub, s, 2, argv, lens) == 0
               ? 0
               : DURO_ECONN;
}

/* classic_target: the master s stays on while it is connected, else the
 * first connected one. */
static duro_aredis *classic_target(duro_aredis *r, sub *s)
{
    if (s->kid && duro_aredis_connected(s->kid)) return s->kid;
    for (sub *o = r->subs; o; o = o->next) /* share a master with others */
        if (o != s && o->kid && duro_aredis_connected(o->kid)) return o->kid;
    return duro__acluster_kid(r, -2);
}

void duro__acsub_place(duro_aredis *r)
{
    for (sub *s = r->subs; s && !r->closing; s = s->next) {
        duro_aredis *want =
            s->sharded ? duro__acluster_kid(r, s->slot) : classic_target(r, s);
        if (want == s->kid && s->active) continue;
        /* no (S)UNSUBSCRIBE where it was: Redis unsubscribes a sharded
         * channel itself when its slot leaves, a classic one moves only
         * off a lost connection, and what still comes on a connection s
         * left is ignored (on_csub); the roles need no unsubscribe right */
        s->active = 0;
        s->kid = want;
        if (want &&
            send_cmd(want, s, s->sharded ? "SSUBSCRIBE" : "SUBSCRIBE") == 0)
            s->active = 1;
    }
}

void duro__acsub_kid_gone(duro_aredis *r, duro_aredis *kid, int closed)
{
    for (sub *s = r->subs; s; s = s->next) {
        if (s->kid != kid) continue;
        s->active = 0;
        if (closed) s->kid = NULL;
    }
}
