/* client_result.c: waiting for a run's close on its partition's closed
 * channel, on one subscriber connection the client keeps between waits.
 *
 * A wait subscribes first, then reads the status, then waits for a
 * message naming the workflow: a close published between the two reads is
 * not missed. Callers wait in slices (duro server's long polls every
 * 500 ms, so that a stopping server or a client that left ends the wait;
 * the CLI between its no-poller checks), so the connection is not opened
 * per call: the client keeps it (duro_client.sub), UNSUBSCRIBEs at the end
 * of a call and SUBSCRIBEs again at the start of the next; the confirm of
 * that SUBSCRIBE is read before the status, so the order above holds on
 * every call. Replies to the earlier UNSUBSCRIBE, and messages that came
 * before it, are read and dropped on the way to that confirm.
 *
 * The connection is waited on with poll(), never a socket timeout: hiredis
 * marks a context that timed out in a read as failed for good, and a slice
 * that ends is the common case here. It is dropped on any error (a lost
 * connection, an error reply, no confirm in time: the call then opens a
 * new one once), when the channel's node changes (a cluster), and in
 * duro_client_free. On a cluster the channel is sharded: SSUBSCRIBE and
 * SUNSUBSCRIBE on the master serving its slot.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "client_int.h"
#include "duro/clock.h"
#include "duro/cluster.h"
#include "duro/log.h"

/* RESUBSCRIBE: wait_message's answer when the cluster moved the
 * channel's slot (Redis 7 then sends "sunsubscribe"): subscribe again. */
#define RESUBSCRIBE 1

/* FAILOVER_WAIT_MS: how long a wait through Sentinel keeps reconnecting
 * after its connection dropped, as a failover takes (the sentinels'
 * down-after-milliseconds, 30 s by default, then the election), before
 * it reports the loss; FAILOVER_PAUSE_MS: its pauses (100 ms doubling to
 * 5 s, as a worker's reconnects). */
#define FAILOVER_WAIT_MS 60000
#define FAILOVER_PAUSE_MS 100
#define FAILOVER_PAUSE_MAX_MS 5000

/* STALE_MAP: subscribe_at's answer when, on a cluster, the node it went
 * to no longer serves the channel (MOVED or ASK, a refused connection, a
 * slot between owners): the map is read again and the subscribe retried. */
#define STALE_MAP 2

/* ---- Replies without socket timeouts ---- */

/* next_reply reads the next reply of sub into *out, waiting with poll()
 * until deadline (mono ms; 0: no deadline). 0, DURO_ETIMEDOUT (sub still
 * usable: nothing was read) or DURO_ECONN (sub is not: sub->errstr). */
static int next_reply(redisContext *sub, int64_t deadline, redisReply **out)
{
    *out = NULL;
    int done = 0;
    while (!done)
        if (redisBufferWrite(sub, &done) != REDIS_OK) return DURO_ECONN;
    for (;;) {
        void *r = NULL;
        if (redisGetReplyFromReader(sub, &r) != REDIS_OK) return DURO_ECONN;
        if (r) {
            *out = r;
            return 0;
        }
        int wait = -1;
        if (deadline) {
            int64_t left = deadline - duro_mono_ms();
            if (left <= 0) return DURO_ETIMEDOUT;
            wait = left > 60000 ? 60000 : (int)left;
        }
        struct pollfd pfd = {sub->fd, POLLIN, 0};
        int n = poll(&pfd, 1, wait);
        if (n < 0 && errno != EINTR) return DURO_ECONN;
        if (n > 0 && redisBufferRead(sub) != REDIS_OK) return DURO_ECONN;
    }
}

/* push_kind: the kind of a pub/sub push ("message", "subscribe", ...),
 * or NULL when r is not one. */
static const char *push_kind(const redisReply *r)
{
    return r->type == REDIS_REPLY_ARRAY && r->elements == 3
               ? duro__reply_str(r->element[0])
               : NULL;
}

/* ---- Subscribing ---- */

/* drop_sub closes the kept subscriber connection. */
static void drop_sub(duro_client *c)
{
    if (c->sub) redisFree(c->sub);
    c->sub = NULL;
}

/* confirm reads sub's replies until the (S)SUBSCRIBE confirm for chan,
 * dropping what an earlier wait left (messages, its unsubscribe's
 * confirm). 0, or a DURO_E* (an error reply's; DURO_ECONN: lost, or no
 * answer within the client timeout) with the reply's text or the reason
 * in why. */
static int confirm(redisContext *sub, const char *verb, const char *chan,
                   char *why, size_t whysize)
{
    int64_t deadline = duro_mono_ms() + DURO_CLIENT_TIMEOUT_MS;
    for (;;) {
        redisReply *r;
        int rc = next_reply(sub, deadline, &r);
        if (rc) {
            snprintf(why, whysize, "%s",
                     rc == DURO_ETIMEDOUT ? "no answer in time" : sub->errstr);
            return DURO_ECONN;
        }
        const char *kind = push_kind(r);
        if (r->type == REDIS_REPLY_ERROR) {
            snprintf(why, whysize, "%s", r->str ? r->str : "");
            rc = duro_redis_error_code(r->str);
        } else if (kind && strcasecmp(kind, verb) == 0) {
            bool ours = duro__reply_str(r->element[1]) &&
                        strcmp(r->element[1]->str, chan) == 0;
            if (!ours) {
                snprintf(why, whysize, "confirm for another channel");
                rc = DURO_EPROTO;
            }
        } else {
            freeReplyObject(r);
            continue;
        }
        freeReplyObject(r);
        return rc;
    }
}

/* subscribe_at: (S)SUBSCRIBE to chan on the kept connection when it goes
 * to url, else on a new one (kept then). 0, or 0 > DURO_E* or STALE_MAP
 * with the client's message set. */
static int subscribe_at(duro_client *c, const duro_redis_url *url,
                        const char *chan, bool sharded)
{
    const char *verb = sharded ? "SSUBSCRIBE" : "SUBSCRIBE";
    char why[300];
    if (c->sub && (c->sub_sharded != sharded || c->sub_port != url->port ||
                   strcmp(c->sub_host, url->host) != 0))
        drop_sub(c);
    if (c->sub) {
        int rc = redisAppendCommand(c->sub, "%s %s", verb, chan) == REDIS_OK
                     ? confirm(c->sub, verb, chan, why, sizeof(why))
                     : DURO_ENOMEM;
        if (rc == 0) return 0;
        /* NOPERM: the earlier UNSUBSCRIBE was refused (an ACL set up
         * before this build's grants): one connection per wait, as then */
        if (rc == DURO_EAUTH) c->sub_once = true;
        drop_sub(c); /* gone while kept (a restart, a timeout): once anew */
    }
    redisContext *sub = NULL;
    int code =
        duro_redis_open(url, DURO_CLIENT_TIMEOUT_MS, &sub, why, sizeof(why));
    if (code) {
        char at[300];
        duro__fail(c, code, "cannot connect to %s: %s",
                   duro__where(url, at, sizeof(at)), why);
        return sharded && duro_err_is_transient(code) ? STALE_MAP : code;
    }
    duro_redis_keepalive(sub);
    if (redisAppendCommand(sub, "%s %s", verb, chan) != REDIS_OK)
        code = DURO_ENOMEM;
    else
        code = confirm(sub, verb, chan, why, sizeof(why));
    if (code) {
        duro__fail(c, code, "cannot subscribe to %s: %s", chan, why);
        duro_cluster_redirect to;
        redisFree(sub);
        if (sharded && (duro_cluster_parse_redirect(why, &to) ||
                        duro_err_is_transient(code)))
            return STALE_MAP;
        return code;
    }
    c->sub = sub;
    snprintf(c->sub_host, sizeof(c->sub_host), "%s", url->host);
    c->sub_port = url->port;
    c->sub_sharded = sharded;
    return 0;
}

/* subscribe: SUBSCRIBE to chan, the partition's closed channel; on a
 * cluster SSUBSCRIBE on the master serving the channel's slot (the
 * Functions SPUBLISH it there), reading the slot map again and retrying
 * (pauses of 20 ms doubling to 500 ms, for up to DURO_CLUSTER_SYNC_RETRY_MS
 * and never past deadline) while that master moved the slot or is gone (a
 * failover promotes its replica). 0: c->sub is subscribed. */
static int subscribe(duro_client *c, const char *chan, int64_t deadline)
{
    int rc;
    duro_cluster_sync *conn = duro__conn(c, &rc);
    if (!conn) return rc;
    bool sharded = duro_cluster_sync_is_cluster(conn);
    int64_t until = duro_mono_ms() + DURO_CLUSTER_SYNC_RETRY_MS;
    if (deadline && deadline < until) until = deadline;
    for (int pause = 20;; pause = pause * 2 > 500 ? 500 : pause * 2) {
        duro_redis_url url = c->url;
        int code = 0;
        if (sharded && duro_cluster_sync_node_url(
                           conn, duro_cluster_slot(chan, strlen(chan)), &url))
            duro__fail(c, code = DURO_EAGAIN, "%s",
                       duro_cluster_sync_errstr(conn));
        if (!code && !(code = subscribe_at(c, &url, chan, sharded))) return 0;
        if (!sharded || (code != STALE_MAP && code != DURO_EAGAIN) ||
            duro_mono_ms() + pause >= until)
            return code == STALE_MAP ? DURO_ECONN : code;
        struct timespec ts = {0, pause * 1000000L};
        nanosleep(&ts, NULL);
        duro_cluster_sync_refresh(conn);
    }
}

/* unsubscribe ends the call's subscription on the kept connection; its
 * confirm is read by the next call's subscribe (confirm). Dropped when
 * that cannot be sent, or when the user may not send it (sub_once). */
static void unsubscribe(duro_client *c, const char *chan)
{
    if (c->sub_once) drop_sub(c);
    if (!c->sub) return;
    bool sharded = c->sub_sharded;
    int done = 0;
    if (redisAppendCommand(c->sub, "%s %s",
                           sharded ? "SUNSUBSCRIBE" : "UNSUBSCRIBE",
                           chan) != REDIS_OK)
        done = -1;
    while (!done)
        if (redisBufferWrite(c->sub, &done) != REDIS_OK) done = -1;
    if (done < 0) drop_sub(c);
}

/* ---- Result ---- */

static bool is_open(const cJSON *d)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(d, "status"));
    return s && strcmp(s, "RUNNING") == 0;
}

/* sub_where names c->sub's server for messages, into buf. */
static const char *sub_where(const duro_client *c, char *buf, size_t size)
{
    if (c->url.sentinels > 0) return duro__where(&c->url, buf, size);
    snprintf(buf, size, "redis at %s:%d", c->sub_host, c->sub_port);
    return buf;
}

/* wait_message waits on c->sub for a message naming `id` ("message", or
 * "smessage" on a cluster). Returns 0, RESUBSCRIBE, DURO_ETIMEDOUT (the
 * connection kept) or DURO_ECONN. */
static int wait_message(duro_client *c, const char *id, int64_t deadline)
{
    for (;;) {
        redisReply *m;
        int rc = next_reply(c->sub, deadline, &m);
        if (rc == DURO_ETIMEDOUT) return rc;
        char at[300];
        if (rc)
            return duro__fail(c, DURO_ECONN, "lost the subscription to %s: %s",
                              sub_where(c, at, sizeof(at)), c->sub->errstr);
        const char *kind = push_kind(m);
        bool match =
            kind &&
            (strcmp(kind, "message") == 0 || strcmp(kind, "smessage") == 0) &&
            duro__reply_str(m->element[2]) &&
            strcmp(m->element[2]->str, id) == 0;
        bool moved = kind && strcmp(kind, "sunsubscribe") == 0;
        freeReplyObject(m);
        if (match) return 0;
        if (moved) return RESUBSCRIBE;
    }
}

/* failover_pause: through Sentinel, a lost connection (DURO_ECONN) or a
 * server that is not the master yet (DURO_EAGAIN) is a failover going on:
 * pause and true while c->failover_until (set at the first loss) allows,
 * so that the wait goes on with the promoted replica. False when it does
 * not, or when deadline comes first (*rc then DURO_ETIMEDOUT: the next
 * slice of a wait carries on where this one stopped). */
static bool failover_pause(duro_client *c, int *rc, int64_t deadline)
{
    if (c->url.sentinels <= 0 || (*rc != DURO_ECONN && *rc != DURO_EAGAIN))
        return false;
    int64_t now = duro_mono_ms();
    if (!c->failover_until) {
        c->failover_until = now + FAILOVER_WAIT_MS;
        c->failover_pause = FAILOVER_PAUSE_MS;
        duro_warn("RESULT RECONNECT master=%s: %s", c->url.sentinel_master,
                  c->errstr);
    }
    int ms = c->failover_pause;
    if (now + ms >= c->failover_until) return false;
    if (deadline && now + ms >= deadline) {
        *rc = DURO_ETIMEDOUT;
        return false;
    }
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    c->failover_pause =
        ms * 2 > FAILOVER_PAUSE_MAX_MS ? FAILOVER_PAUSE_MAX_MS : ms * 2;
    return true;
}

/* timed_out: rc, with the message of a wait that ran out of time. */
static int timed_out(duro_client *c, int rc, const char *workflow_id)
{
    if (rc == DURO_ETIMEDOUT)
        duro__fail(c, rc, "timed out waiting for workflow %s", workflow_id);
    return rc;
}

/* Subscribe first, then read: a close published in between is not missed. */
int duro_client_result(duro_client *c, const char *workflow_id,
                       int64_t timeout_ms, cJSON **out)
{
    *out = NULL;
    char why[256];
    if (duro_id_check(workflow_id, why, sizeof(why)) < 0)
        return duro__fail(c, DURO_EINVAL, "%s", why);
    int64_t deadline = timeout_ms > 0 ? duro_mono_ms() + timeout_ms : 0;
    char chan[DURO_SHORT_KEY_MAX];
    duro_key_closed_channel(chan, sizeof(chan), duro__ks(c),
                            duro_partition_of(workflow_id, c->partitions));
    int rc = subscribe(c, chan, deadline);
    while (rc && failover_pause(c, &rc, deadline))
        rc = subscribe(c, chan, deadline);
    if (rc) return timed_out(c, rc, workflow_id);
    cJSON *d = NULL;
    for (;;) {
        rc = duro_client_describe(c, workflow_id, &d);
        if (rc < 0 && failover_pause(c, &rc, deadline)) {
            rc = RESUBSCRIBE; /* the subscription went with the master */
        } else {
            if (rc < 0 || !is_open(d)) break;
            cJSON_Delete(d);
            d = NULL;
            c->failover_until = 0;
            rc = wait_message(c, workflow_id, deadline);
        }
        /* on a cluster or through Sentinel a lost subscription is a
         * master gone (failover) */
        if (rc == DURO_ECONN &&
            (duro_cluster_sync_is_cluster(c->conn) || c->url.sentinels > 0))
            rc = RESUBSCRIBE;
        if (rc == RESUBSCRIBE || rc == DURO_ECONN) drop_sub(c);
        bool resubscribe = rc == RESUBSCRIBE;
        if (resubscribe) rc = subscribe(c, chan, deadline);
        while (resubscribe && rc && failover_pause(c, &rc, deadline))
            rc = subscribe(c, chan, deadline);
        if (resubscribe && rc) return timed_out(c, rc, workflow_id);
        if (rc < 0) break;
    }
    unsubscribe(c, chan);
    if (rc >= 0) c->failover_until = 0;
    if (rc == 0) *out = d;
    return timed_out(c, rc, workflow_id);
}
