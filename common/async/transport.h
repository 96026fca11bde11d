/* transport.h: the byte transport under duro_aredis: one Redis connection
 * on a libuv loop, plain TCP or TLS (OpenSSL), with hiredis's reply reader
 * and the wire format of its command formatter (transport_resp.c). See
 * docs/internals.md, "Transport".
 *
 * It keeps the contract of hiredis 0.14's async context that aredis.c was
 * written against, so that the reconnect logic did not change:
 *   - on_connect runs once, with 0 (connected; for TLS: verified) or -1;
 *     after a failure the connection frees itself once on_connect returns.
 *   - every command's callback runs exactly once: with its reply, or with
 *     NULL when the connection ends first (in the order they were sent).
 *     A SUBSCRIBE's callback gets the confirmation, every message, and
 *     NULL at the end.
 *   - on_disconnect runs once when a connection that was up ends: status 0
 *     when the owner asked (duro__tconn_disconnect / _free), -1 on an
 *     error (code and errstr say which).
 *   - duro__tconn_free from inside one of the connection's callbacks is
 *     deferred until the callback returns (then pending callbacks get NULL
 *     and on_disconnect runs); from outside it takes effect at once.
 * Replies are freed after their callback returns. Commands written in one
 * loop iteration leave in one write (pipelining), as with hiredis. */
#ifndef DURO_TRANSPORT_H
#define DURO_TRANSPORT_H

#include <stddef.h>
#include <hiredis/hiredis.h>
#include <uv.h>

#include "duro/config.h"

typedef struct duro__tconn duro__tconn;

typedef void (*duro__tconn_reply_fn)(duro__tconn *t, redisReply *reply,
                                     void *privdata);
typedef void (*duro__tconn_status_fn)(duro__tconn *t, int status);

/* duro__tconn_public: the fields the owner reads (the struct starts with
 * them). */
typedef struct {
    void *data;       /* the owner's; never touched by the transport */
    int code;         /* DURO_E* of the failure that ended it, or 0 */
    char errstr[256]; /* why it failed */
} duro__tconn_public;

/* duro__tconn_new starts connecting to url (TLS for rediss://; the TLS
 * context is built here, so an unreadable CA or key fails now). Returns the
 * connection, or NULL with *code (DURO_EINVAL, DURO_ECONN, DURO_ENOMEM)
 * and a message in err. */
duro__tconn *duro__tconn_new(uv_loop_t *loop, const duro_redis_url *url,
                             duro__tconn_status_fn on_connect,
                             duro__tconn_status_fn on_disconnect, void *data,
                             int *code, char *err, size_t errsize);

/* duro__tconn_pub: the public fields of t. */
duro__tconn_public *duro__tconn_pub(duro__tconn *t);

/* duro__tconn_command queues argv (formatted now). 0, or -1 when the
 * connection is ending (fn never runs). */
int duro__tconn_command(duro__tconn *t, duro__tconn_reply_fn fn, void *privdata,
                        int argc, const char **argv, const size_t *lens);

/* duro__tconn_disconnect: no new commands; the connection ends once every
 * pending reply has come. */
void duro__tconn_disconnect(duro__tconn *t);

/* duro__tconn_free ends the connection now (deferred inside a callback). */
void duro__tconn_free(duro__tconn *t);

/* duro__tconn_in_callback: one of t's callbacks is running. */
int duro__tconn_in_callback(const duro__tconn *t);

#endif
