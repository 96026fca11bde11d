/* aredis_handshake.c: what each reply of a connection's handshake tells
 * (aredis.c sends the handshake and, on its last reply, decides): a
 * failure and its code, a Sentinel's master that is not one, a cluster
 * node's slot map, the Functions library a cluster master has, the
 * duro:meta replies. */
#include <stdio.h>
#include <stdlib.h>

#include "duro/cluster.h"
#include "duro/errno.h"
#include "duro/log.h"
#include "duro/redis.h"
#include "aredis_int.h"
#include "redis_wait.h"
#include "sentinel.h"

/* duro__aredis_hs_note records one handshake reply (NULL: the connection ended;
 * under TLS 1.3 that is how a server refuses a client certificate, which the
 * transport classified as DURO_EAUTH). */
void duro__aredis_hs_note(duro_aredis *r, duro__tconn *ac, enum hs_kind kind,
                          redisReply *rep)
{
    if (rep && kind == HS_SLOTS) {
        /* an error (cluster support disabled; an ACL without CLUSTER):
         * one server, as before */
        if (rep->type == REDIS_REPLY_ARRAY && !r->hs_slots)
            r->hs_slots = duro__reply_dup(rep);
        else if (rep->type == REDIS_REPLY_ERROR &&
                 !duro_cluster_reply_disabled(rep))
            duro_warn_limited(NULL,
                              "CLUSTER SLOTS REFUSED name=%s err=%s: taken "
                              "for one server (a cluster node needs the "
                              "role's CLUSTER SLOTS right)",
                              r->name, rep->str);
        return;
    }
    if (rep && kind == HS_VERSION) {
        if (rep->type == REDIS_REPLY_INTEGER)
            r->lib_have = rep->integer;
        else if (rep->type == REDIS_REPLY_ERROR &&
                 duro_reply_is_missing_function(rep->str))
            r->lib_have = 0;
        else
            r->lib_have = -1; /* not ours to judge: left alone */
        return;
    }
    /* a cluster node: duro:meta may live on another master (MOVED); the
     * router checks it once it routes */
    if (rep && r->hs_slots &&
        (kind == HS_META_NEW || kind == HS_META_SCHEMA || kind == HS_META_GET))
        return;
    if (!rep || rep->type == REDIS_REPLY_ERROR) {
        const duro__tconn_public *pub = duro__tconn_pub(ac);
        if (!r->hs_failed && !rep) {
            r->hs_code = pub->code ? pub->code : DURO_ECONN;
            snprintf(r->hs_err, sizeof(r->hs_err), "handshake: %.230s",
                     pub->code ? pub->errstr : "connection lost");
        } else if (!r->hs_failed) {
            r->hs_code = duro_redis_error_code(rep->str);
            /* A refused SELECT is a database number Redis does not have. */
            if (kind == HS_SELECT && r->hs_code == DURO_EREDIS)
                r->hs_code = DURO_EINVAL;
            snprintf(r->hs_err, sizeof(r->hs_err), "handshake: %s", rep->str);
        }
        r->hs_failed = 1;
        return;
    }
    if (kind == HS_ROLE && !duro__role_is_master(rep)) {
        if (!r->hs_failed) {
            r->hs_code = DURO_EAGAIN;
            snprintf(r->hs_err, sizeof(r->hs_err),
                     "handshake: %.100s:%d is not the master of %.100s (yet)",
                     r->url.host, r->url.port, r->url.sentinel_master);
        }
        r->hs_failed = 1;
        return;
    }
    if (kind == HS_META_NEW && rep->type == REDIS_REPLY_INTEGER)
        r->meta_created = rep->integer == 1;
    if (kind == HS_META_GET) {
        char *end = NULL;
        long v =
            rep->type == REDIS_REPLY_STRING ? strtol(rep->str, &end, 10) : 0;
        r->meta_parts = end && end != rep->str && *end == '\0' ? v : 0;
    }
}
