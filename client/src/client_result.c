/* client_result.c: waiting for a run's close on its partition's closed
 * channel. */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include "client_int.h"
#include "duro/clock.h"
#include "duro/cluster.h"

/* ---- Result ---- */

static bool is_open(const cJSON *d)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(d, "status"));
    return s && strcmp(s, "RUNNING") == 0;
}

/* RESUBSCRIBE: wait_message's answer when the cluster moved the
 * channel's slot (Redis 7 then sends "sunsubscribe"): subscribe again. */
#define RESUBSCRIBE 1

/* wait_message waits on the subscribed connection `sub` for a message
 * naming `id` ("message", or "smessage" on a cluster). Returns 0,
 * RESUBSCRIBE, DURO_ETIMEDOUT or DURO_ECONN. */
static int wait_message(duro_client *c, redisContext *sub, const char *id,
                        int64_t deadline)
{
    for (;;) {
        struct timeval tv = {0, 0};
        if (deadline) {
            int64_t left = deadline - duro_mono_ms();
            if (left <= 0) return DURO_ETIMEDOUT;
            tv.tv_sec = (time_t)(left / 1000);
            tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
        }
        redisSetTimeout(sub, tv);
        void *reply = NULL;
        if (redisGetReply(sub, &reply) != REDIS_OK || !reply) {
            if (deadline && duro_mono_ms() >= deadline - 5)
                return DURO_ETIMEDOUT;
            return duro__fail(c, DURO_ECONN,
                              "lost the subscription to redis at %s:%d: %s",
                              c->url.host, c->url.port, sub->errstr);
        }
        redisReply *m = reply;
        const char *kind = m->type == REDIS_REPLY_ARRAY && m->elements == 3
                               ? duro__reply_str(m->element[0])
                               : NULL;
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

/* STALE_MAP: subscribe_at's answer when, on a cluster, the node it went
 * to no longer serves the channel (MOVED or ASK, a refused connection, a
 * slot between owners): the map is read again and the subscribe retried. */
#define STALE_MAP 1

/* subscribe_at: one (S)SUBSCRIBE to chan on its own connection to url.
 * The connection, or NULL with 0 > DURO_E* or STALE_MAP in *code. */
static redisContext *subscribe_at(duro_client *c, const duro_redis_url *url,
                                  const char *chan, bool sharded, int *code)
{
    redisContext *sub = NULL;
    char why[300];
    *code =
        duro_redis_open(url, DURO_CLIENT_TIMEOUT_MS, &sub, why, sizeof(why));
    if (*code) {
        duro__fail(c, *code, "cannot connect to redis at %s:%d: %s", url->host,
                   url->port, why);
        if (sharded && duro_err_is_transient(*code)) *code = STALE_MAP;
        return NULL;
    }
    duro_redis_keepalive(sub);
    const char *verb = sharded ? "SSUBSCRIBE" : "SUBSCRIBE";
    redisReply *r = redisCommand(sub, "%s %s", verb, chan);
    bool ok = r && r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
              duro__reply_str(r->element[0]) &&
              strcasecmp(r->element[0]->str, verb) == 0;
    duro_cluster_redirect to;
    bool err = r && r->type == REDIS_REPLY_ERROR;
    if (!ok) {
        *code = err ? duro_redis_error_code(r->str) : DURO_ECONN;
        duro__fail(c, *code, "cannot subscribe to %s: %s", chan,
                   err ? r->str : sub->errstr);
        if (sharded && ((err && duro_cluster_parse_redirect(r->str, &to)) ||
                        duro_err_is_transient(*code)))
            *code = STALE_MAP;
    }
    if (r) freeReplyObject(r);
    if (!ok) {
        redisFree(sub);
        return NULL;
    }
    return sub;
}

/* subscribe: SUBSCRIBE to the partition's closed channel on its own
 * connection; on a cluster SSUBSCRIBE on the master serving the channel's
 * slot (the Functions SPUBLISH it there), reading the slot map again and
 * retrying (pauses of 20 ms doubling to 500 ms, for up to
 * DURO_CLUSTER_SYNC_RETRY_MS and never past deadline) while that master
 * moved the slot or is gone (a failover promotes its replica). */
static int subscribe(duro_client *c, const char *id, int64_t deadline,
                     redisContext **out)
{
    char chan[DURO_SHORT_KEY_MAX];
    duro_key_closed_channel(chan, sizeof(chan), duro__ks(c),
                            duro_partition_of(id, c->partitions));
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
        if (!code && (*out = subscribe_at(c, &url, chan, sharded, &code)))
            return 0;
        if (!sharded || (code != STALE_MAP && code != DURO_EAGAIN) ||
            duro_mono_ms() + pause >= until)
            return code == STALE_MAP ? DURO_ECONN : code;
        struct timespec ts = {0, pause * 1000000L};
        nanosleep(&ts, NULL);
        duro_cluster_sync_refresh(conn);
    }
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
    redisContext *sub = NULL;
    int rc = subscribe(c, workflow_id, deadline, &sub);
    if (rc) return rc;
    cJSON *d = NULL;
    for (;;) {
        rc = duro_client_describe(c, workflow_id, &d);
        if (rc < 0 || !is_open(d)) break;
        cJSON_Delete(d);
        d = NULL;
        rc = wait_message(c, sub, workflow_id, deadline);
        /* on a cluster a lost subscription is a master gone (failover) */
        if (rc == DURO_ECONN && duro_cluster_sync_is_cluster(c->conn))
            rc = RESUBSCRIBE;
        if (rc == RESUBSCRIBE) {
            redisFree(sub);
            sub = NULL;
            if ((rc = subscribe(c, workflow_id, deadline, &sub))) return rc;
        }
        if (rc < 0) break;
    }
    redisFree(sub);
    if (rc == DURO_ETIMEDOUT)
        duro__fail(c, rc, "timed out waiting for workflow %s", workflow_id);
    if (rc == 0) *out = d;
    return rc;
}
