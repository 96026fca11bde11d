/* transport_sub.c: the table of a transport connection's subscribed
 * channels (transport.c): which channel's pushes go to which callback, and
 * how a reply on a subscribing connection is told apart from a command's
 * reply. A channel is followed until its unsubscribe (ours, or the
 * server's when a sharded channel's slot moved) or an error in place of
 * its confirmation. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "transport_sub.h"

int duro__tsub_push_kind(const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
        r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_STRING)
        return DURO__TPUSH_NONE;
    const char *kind = r->element[0]->str;
    if (strcasecmp(kind, "message") == 0 || strcasecmp(kind, "smessage") == 0)
        return DURO__TPUSH_MESSAGE;
    if (strcasecmp(kind, "subscribe") == 0 ||
        strcasecmp(kind, "ssubscribe") == 0)
        return DURO__TPUSH_SUBSCRIBE;
    if (strcasecmp(kind, "unsubscribe") == 0 ||
        strcasecmp(kind, "sunsubscribe") == 0)
        return DURO__TPUSH_UNSUBSCRIBE;
    return DURO__TPUSH_NONE;
}

duro__tcb *duro__tsub_find(duro__tcb *subs, const char *ch, size_t len)
{
    for (duro__tcb *s = subs; s; s = s->next)
        if (strlen(s->channel) == len && memcmp(s->channel, ch, len) == 0)
            return s;
    return NULL;
}

void duro__tsub_unlink(duro__tcb **subs, duro__tcb *s)
{
    for (duro__tcb **pp = subs; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            return;
        }
}

/* duro__tsub_add follows a channel (once: a second SUBSCRIBE to it keeps
 * the first callback). 0, or -1 out of memory. */
int duro__tsub_add(duro__tcb **subs, duro__tconn_reply_fn fn, void *priv,
                   const char *ch, size_t len)
{
    if (duro__tsub_find(*subs, ch, len)) return 0;
    duro__tcb *s = calloc(1, sizeof(*s));
    if (!s || !(s->channel = strndup(ch, len))) {
        free(s);
        return -1;
    }
    s->fn = fn;
    s->priv = priv;
    s->next = *subs;
    *subs = s;
    return 0;
}

void duro__tcb_free(duro__tcb *c)
{
    free(c->channel);
    free(c);
}
