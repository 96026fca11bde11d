/* cli_wait.c: `duro workflow result` without --timeout: wait for the close,
 * and say once on stderr when no worker polls the workflow's task queue,
 * instead of waiting silently forever.
 *
 * "No worker polls" is decided from Redis alone, on the workflow-task
 * stream of the workflow's partition and priority level
 * (duro:{pN}:wft:<queue>[!<level>]):
 *  - a workflow task entry that the group has not delivered to anyone for
 *    STUCK_MS (by Redis' clock: entry ids are Redis ms) is the evidence: a
 *    worker blocked in XREADGROUP on that stream is handed a new entry at
 *    once, so an entry left undelivered means nobody is reading it;
 *  - unless a consumer of the group has interacted within POLL_IDLE_MS
 *    (XINFO CONSUMERS idle): its worker is alive and only busy (it reads
 *    again when it has room).
 * XINFO CONSUMERS alone cannot say it: on Redis 7.0 a blocking XREADGROUP
 * that returns nothing neither creates the consumer nor resets its idle
 * time (only deliveries do), so an idle worker that polls looks exactly
 * like a dead one. With nothing queued (the workflow waits for a timer, an
 * activity or a signal) there is no evidence and no warning. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/utf8.h"
#include "cli.h"
#include "duro/cluster.h"
#include "duro/cluster_sync.h"
#include "duro/config.h"
#include "duro/duration.h"
#include "duro/keys.h"
#include "duro/priority.h"
#include "duro/redis.h"
#include "duro/reply.h"

#define WARN_AFTER_MS 5000 /* default of $DURO_RESULT_WARN_AFTER */
#define STUCK_MS 1000
#define POLL_IDLE_MS 10000
#define CONNECT_MS 2000

/* poll_check: what one look at the stream found. */
typedef struct {
    char queue[DURO_QUEUE_MAX + 1];
    long long waited_ms; /* oldest undelivered entry's age, -1 = none */
    bool polled;         /* a consumer interacted within POLL_IDLE_MS */
} poll_check;

static long long kv_int(const redisReply *r, const char *name)
{
    long long v;
    return duro__reply_int(duro__reply_kv(r, name), &v) ? v : -1;
}

static const char *kv_str(const redisReply *r, const char *name)
{
    return duro__reply_str(duro__reply_kv(r, name));
}

/* last_delivered: the group's last-delivered-id in an XINFO GROUPS reply,
 * or NULL (no group yet: nobody ever read the stream). */
static const char *last_delivered(const redisReply *groups)
{
    for (size_t i = 0;
         groups && groups->type == REDIS_REPLY_ARRAY && i < groups->elements;
         i++) {
        const char *name = kv_str(groups->element[i], "name");
        if (name && strcmp(name, DURO_GROUP) == 0)
            return kv_str(groups->element[i], "last-delivered-id");
    }
    return NULL;
}

/* look: TIME, XINFO GROUPS, XINFO CONSUMERS, then the first entry after
 * the last delivered one. Returns 0 or -1 (connection or reply trouble). */
static int look(redisContext *c, const char *key, poll_check *pc)
{
    redisReply *t = redisCommand(c, "TIME");
    redisReply *g = redisCommand(c, "XINFO GROUPS %s", key);
    redisReply *cs = redisCommand(c, "XINFO CONSUMERS %s %s", key, DURO_GROUP);
    int rc = t && g && cs && t->type == REDIS_REPLY_ARRAY && t->elements == 2 &&
                     t->element[0]->type == REDIS_REPLY_STRING
                 ? 0
                 : -1;
    long long sec = 0, usec = 0;
    if (!rc && (!duro__reply_int(t->element[0], &sec) ||
                !duro__reply_int(t->element[1], &usec)))
        rc = -1;
    long long now = rc ? 0 : sec * 1000 + usec / 1000;
    pc->waited_ms = -1;
    pc->polled = false;
    for (size_t i = 0; !rc && cs->type == REDIS_REPLY_ARRAY && i < cs->elements;
         i++) {
        long long idle = kv_int(cs->element[i], "idle");
        if (idle >= 0 && idle < POLL_IDLE_MS) pc->polled = true;
    }
    /* no group means no worker ever read this stream: every entry waits */
    const char *last = rc ? NULL : last_delivered(g);
    redisReply *e =
        rc ? NULL
           : redisCommand(c, "XRANGE %s (%s + COUNT 1", key, last ? last : "0");
    if (e && e->type == REDIS_REPLY_ARRAY && e->elements == 1 &&
        e->element[0]->type == REDIS_REPLY_ARRAY &&
        e->element[0]->elements >= 1 &&
        e->element[0]->element[0]->type == REDIS_REPLY_STRING)
        /* an entry id is "<ms>-<seq>": its time is the part before '-' */
        pc->waited_ms = now - strtoll(e->element[0]->element[0]->str, NULL, 10);
    else if (!e || e->type != REDIS_REPLY_ARRAY)
        rc = -1;
    if (t) freeReplyObject(t);
    if (g) freeReplyObject(g);
    if (cs) freeReplyObject(cs);
    if (e) freeReplyObject(e);
    return rc;
}

/* no_poller: the workflow is open and nobody polls its task queue (see the
 * top of the file); fills pc for the message. */
static bool no_poller(cli_ctx *ctx, duro_cluster_sync **conn, const char *id,
                      poll_check *pc)
{
    cJSON *d = NULL;
    if (duro_client_describe(ctx->client, id, &d) < 0) return false;
    const char *st = cJSON_GetStringValue(cJSON_GetObjectItem(d, "status"));
    const char *q = cJSON_GetStringValue(cJSON_GetObjectItem(d, "taskQueue"));
    bool open = st && strcmp(st, "RUNNING") == 0 && q;
    if (open) snprintf(pc->queue, sizeof(pc->queue), "%s", q);
    /* a run's tasks wait in its level's stream (a fairness key's bell too:
     * docs/internals.md, "Priorities", "Fairness") */
    const cJSON *pr = cJSON_GetObjectItem(d, "priority");
    int level = cJSON_IsNumber(pr) && pr->valueint >= DURO_PRIORITY_MIN &&
                        pr->valueint <= DURO_PRIORITY_MAX
                    ? pr->valueint
                    : DURO_PRIORITY_DEFAULT;
    cJSON_Delete(d);
    if (!open) return false;
    if (!*conn) {
        duro_redis_url url;
        char err[256];
        const char *u =
            ctx->redis_url ? ctx->redis_url : duro_redis_url_default();
        if (duro_redis_url_parse(u, &url, err, sizeof(err)) == 0)
            duro_cluster_sync_open(&url, CONNECT_MS, conn, err, sizeof(err));
        if (!*conn) return false;
    }
    char base[DURO_KEY_MAX], key[DURO_KEY_MAX];
    duro_keyspace ks;
    duro_keyspace_init(&ks, duro_client_namespace(ctx->client),
                       duro_client_partitions(ctx->client));
    int p = duro_partition_of(id, ks.partitions);
    duro_key_wft(base, sizeof(base), &ks, p, pc->queue);
    duro_priority_key(key, sizeof(key), base, level);
    /* on a cluster, the master serving the stream's slot */
    redisContext *c = duro_cluster_sync_context(
        *conn, duro_cluster_sync_is_cluster(*conn)
                   ? duro_cluster_slot(key, strlen(key))
                   : -1);
    if (!c || look(c, key, pc) < 0) {
        duro_cluster_sync_free(*conn);
        *conn = NULL;
        return false;
    }
    return pc->waited_ms >= STUCK_MS && !pc->polled;
}

/* warn_after: $DURO_RESULT_WARN_AFTER as ms (0 or "off": never warn). */
static int64_t warn_after(void)
{
    const char *v = duro_env("DURO_RESULT_WARN_AFTER", NULL);
    int64_t ms = WARN_AFTER_MS;
    if (v && strcmp(v, "off") == 0) return 0;
    if (v && duro_duration_parse(v, &ms) < 0) ms = WARN_AFTER_MS;
    return ms;
}

/* warn prints the one warning; with -o json as {"warning":{"code":
 * "NO_WORKER_POLLING","message":...}}, the shape of the JSON errors. */
static void warn(const poll_check *pc, const char *id)
{
    char msg[512];
    snprintf(msg, sizeof(msg),
             "no worker is polling task queue \"%s\" (a workflow task has "
             "waited %.1fs unclaimed); still waiting for workflow %s. Start "
             "a worker for that queue, or pass --timeout.",
             pc->queue, (double)pc->waited_ms / 1000.0, id);
    if (!cli_json_errors) {
        fprintf(stderr, "duro: %s\n", msg);
        return;
    }
    cJSON *o = cJSON_CreateObject(), *w = cJSON_AddObjectToObject(o, "warning");
    cJSON_AddStringToObject(w, "code", "NO_WORKER_POLLING");
    cJSON_AddStringToObject(w, "message", msg);
    char *text = duro_utf8_mend(cJSON_PrintUnformatted(o));
    if (text) fprintf(stderr, "%s\n", text);
    cJSON_free(text);
    cJSON_Delete(o);
}

int cli_wait_result(cli_ctx *ctx, const char *id, int64_t timeout_ms,
                    cJSON **out)
{
    int64_t step = timeout_ms > 0 ? 0 : warn_after();
    if (step <= 0) return duro_client_result(ctx->client, id, timeout_ms, out);
    duro_cluster_sync *conn = NULL;
    int rc;
    bool warned = false;
    /* each round re-reads the workflow first, so a close in between is
     * never missed */
    while ((rc = duro_client_result(ctx->client, id, warned ? 0 : step, out)) ==
           DURO_ETIMEDOUT) {
        poll_check pc;
        if (!no_poller(ctx, &conn, id, &pc)) continue;
        warn(&pc, id);
        warned = true;
    }
    duro_cluster_sync_free(conn);
    return rc;
}
