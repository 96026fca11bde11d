/* aredis_sub.c: channel subscriptions of a duro_aredis connection, classic
 * (SUBSCRIBE) and sharded (SSUBSCRIBE), sent again on every reconnect
 * (aredis.c calls duro__aredis_send_subscribe). A cluster router places
 * them on its masters' connections (aredis_csub.c). */
#include <stdlib.h>
#include <string.h>

#include "duro/cluster.h"
#include "duro/errno.h"
#include "duro/log.h"
#include "aredis_int.h"

/* on_sub_reply: the transport calls a channel's callback for the subscribe
 * confirmation, for every message and with NULL on teardown; only
 * messages go to the user. */
static void on_sub_reply(duro__tconn *ac, redisReply *rep, void *privdata)
{
    sub *s = privdata;
    if (!rep || owner_of(ac) != s->r || s->r->closing) return;
    if (rep->type == REDIS_REPLY_ERROR) {
        duro_warn_limited(NULL, "SUBSCRIBE FAILED name=%s channel=%s err=%s",
                          s->r->name, s->channel, rep->str);
        return;
    }
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 3 ||
        rep->element[0]->type != REDIS_REPLY_STRING ||
        strcmp(rep->element[0]->str, s->sharded ? "smessage" : "message") != 0)
        return;
    s->cb(s->r, rep, s->arg);
}

int duro__aredis_send_subscribe(duro_aredis *r, sub *s)
{
    const char *cmd = s->sharded ? "SSUBSCRIBE" : "SUBSCRIBE";
    const char *argv[2] = {cmd, s->channel};
    size_t lens[2] = {strlen(cmd), strlen(s->channel)};
    if (duro__tconn_command(r->ac, on_sub_reply, s, 2, argv, lens) != 0)
        return DURO_ECONN;
    return 0;
}

static int add_sub(duro_aredis *r, const char *channel, duro_aredis_cb cb,
                   void *arg, int sharded)
{
    if (!r || !channel || !*channel || !cb || r->closing) return DURO_EINVAL;
    sub *s = calloc(1, sizeof(*s));
    if (!s || !(s->channel = strdup(channel))) {
        free(s);
        return DURO_ENOMEM;
    }
    s->r = r;
    s->cb = cb;
    s->arg = arg;
    s->sharded = sharded;
    s->slot = duro_cluster_slot(channel, strlen(channel));
    s->next = r->subs;
    r->subs = s;
    if (r->cl)
        r->router->place_subs(r);
    else if (r->st == ST_UP && r->ac)
        duro__aredis_send_subscribe(r, s); /* else the next connect does */
    return 0;
}

int duro_aredis_subscribe(duro_aredis *r, const char *channel,
                          duro_aredis_cb cb, void *arg)
{
    return add_sub(r, channel, cb, arg, 0);
}

int duro_aredis_ssubscribe(duro_aredis *r, const char *channel,
                           duro_aredis_cb cb, void *arg)
{
    return add_sub(r, channel, cb, arg, 1);
}
