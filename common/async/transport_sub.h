/* transport_sub.h: a transport connection's callback records and its
 * table of subscribed channels (transport_sub.c). Private to transport.c. */
#ifndef DURO_ASYNC_TRANSPORT_SUB_H
#define DURO_ASYNC_TRANSPORT_SUB_H

#include <stddef.h>

#include "transport.h"

/* One callback: a reply expected (in the reply queue) or a subscribed
 * channel (in the table, keyed by channel). */
typedef struct duro__tcb {
    struct duro__tcb *next;
    duro__tconn_reply_fn fn;
    void *priv;
    char *channel; /* a subscription's channel, else NULL */
    int confirm;   /* in the reply queue: a (S)SUBSCRIBE's confirmation */
} duro__tcb;

/* What a reply on a subscribing connection is (duro__tsub_push_kind). */
enum {
    DURO__TPUSH_NONE = 0,
    DURO__TPUSH_MESSAGE = 1,     /* message, smessage */
    DURO__TPUSH_SUBSCRIBE = 2,   /* subscribe, ssubscribe confirmation */
    DURO__TPUSH_UNSUBSCRIBE = 3, /* ours, or the server's (slot moved) */
};

int duro__tsub_push_kind(const redisReply *r);
duro__tcb *duro__tsub_find(duro__tcb *subs, const char *ch, size_t len);
void duro__tsub_unlink(duro__tcb **subs, duro__tcb *s);
int duro__tsub_add(duro__tcb **subs, duro__tconn_reply_fn fn, void *priv,
                   const char *ch, size_t len);
void duro__tcb_free(duro__tcb *c);

#endif
