/* client_query.c: asking a workflow a question through a worker.
 *
 * Queries write no history (docs/internals.md, "Signals, cancellation,
 * queries"): the client adds an entry to the query stream of the
 * workflow's task queue naming a fresh reply list, and blocks on that list.
 * A worker answers from its cached run or by replaying the history, so
 * closed workflows can be queried too. A late answer expires on its own
 * (the worker sets EXPIRE 60 on the reply list). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "duro/clock.h"
#include "duro/duration.h"
#include "duro/json.h"

/* 100 years, as for the start timeouts: keeps deadlines from overflowing. */
#define MAX_TIMEOUT_MS (100LL * 365 * 86400 * 1000)
/* QUERY_STREAM_MAXLEN: approximate cap on a query stream's length. */
#define QUERY_STREAM_MAXLEN "1000"
#define ANSWER_PREFIX "{\"ok\":true,\"result\":"

static int check_query(duro_client *c, const char *name, const char *input,
                       int64_t timeout_ms)
{
    char why[256];
    if (duro_name_check("query name", name, why, sizeof(why)) < 0)
        return duro__fail(c, DURO_EINVAL, "%s", why);
    if (timeout_ms < 0 || timeout_ms > MAX_TIMEOUT_MS)
        return duro__fail(c, DURO_EINVAL, "query timeout out of range");
    cJSON *parsed = NULL;
    int rc =
        duro_json_parse_input(input, strlen(input), DURO_DEFAULT_MAX_PAYLOAD,
                              &parsed, why, sizeof(why));
    if (rc < 0) return duro__fail(c, rc, "query input: %s", why);
    cJSON_Delete(parsed);
    return 0;
}

/* wakes_workers: workers read per partition and wait for a wake message
 * (docs/internals.md, "Reading per partition"): on a Redis Cluster (a
 * redis+cluster:// URL, or a redis:// one whose node said so at connect),
 * or forced on one Redis by DURO_READ_PER_PARTITION=1. A query is no
 * Function's task, so the client sends the wake itself. */
static bool wakes_workers(const duro_client *c)
{
    return c->url.cluster || duro__is_cluster(c) ||
           strcmp(duro_env("DURO_READ_PER_PARTITION", "0"), "1") == 0;
}

/* send_with_wake: the query's XADD a, then SPUBLISH <prefix>{pN}:wake
 * qry:<queue>, in one round trip (same slot). A wake that fails only
 * delays the query until the workers' next sweep. */
static int send_with_wake(duro_client *c, const duro_argv *a, int partition,
                          const char *queue)
{
    duro_argv cmds[2] = {*a};
    duro_argv_init(&cmds[1]);
    duro_argv_push(&cmds[1], "SPUBLISH");
    duro_argv_pushf(&cmds[1], "%s{p%d}:wake", duro__ks(c)->prefix, partition);
    duro_argv_pushf(&cmds[1], "qry:%s", queue);
    redisReply *replies[2] = {NULL, NULL};
    int rc = duro__pipeline(c, cmds, 2, replies);
    duro_argv_free(&cmds[1]);
    if (rc != 0) return rc;
    if (replies[0]->type == REDIS_REPLY_ERROR) /* as duro__call says it */
        rc = duro__fail(c, DURO_EREDIS, "redis: %.*s (XADD)",
                        (int)replies[0]->len, replies[0]->str);
    freeReplyObject(replies[0]);
    freeReplyObject(replies[1]);
    return rc;
}

/* XADD duro:{pN}:qry:<queue> MAXLEN ~ 1000 * id <id> run <run> name <name>
 *      input <json> reply <replykey> deadline <ms> [hlen <n>] [kind <kind>]
 * hlen: the history length read with the run (h->hlen), when the hash had
 * one: a worker holding the run idle with as many events applied answers
 * from its cache without asking Redis how long the history is. */
int duro__query_send(duro_client *c, const duro__wf_head *h, const char *id,
                     const char *name, const char *kind, const char *input,
                     const char *replykey, int64_t timeout_ms)
{
    char stream[DURO_KEY_MAX];
    duro_key_qry(stream, sizeof(stream), duro__ks(c), h->k.partition, h->queue);
    duro_argv a;
    duro_argv_init(&a);
    const char *head[] = {
        "XADD",   stream,    "MAXLEN", "~",   QUERY_STREAM_MAXLEN,
        "*",      "id",      id,       "run", h->run,
        "name",   name,      "input",  input, "reply",
        replykey, "deadline"};
    for (size_t i = 0; i < sizeof(head) / sizeof(head[0]); i++)
        duro_argv_push(&a, head[i]);
    duro_argv_pushll(&a, (long long)duro_now_ms() + (long long)timeout_ms);
    if (h->hlen >= 0) {
        duro_argv_push(&a, "hlen");
        duro_argv_pushll(&a, (long long)h->hlen);
    }
    if (kind) {
        duro_argv_push(&a, "kind");
        duro_argv_push(&a, kind);
    }
    int rc;
    if (wakes_workers(c)) {
        rc = send_with_wake(c, &a, h->k.partition, h->queue);
        duro_argv_free(&a);
        return rc;
    }
    redisReply *r = duro__call(c, &a, false, &rc);
    duro_argv_free(&a);
    if (r) freeReplyObject(r);
    return rc;
}

static void set_timeout(duro_client *c, int64_t ms)
{
    if (c->conn && !duro_cluster_sync_broken(c->conn))
        duro_cluster_sync_set_timeout(c->conn, (int)ms);
}

/* BLPOP <replykey> <seconds.mmm>: the connection's read timeout is
 * stretched past the BLPOP's for the wait. *out is the reply (caller
 * frees), a nil one when nobody answered. */
int duro__query_wait(duro_client *c, const char *replykey, int64_t timeout_ms,
                     redisReply **out)
{
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "BLPOP");
    duro_argv_push(&a, replykey);
    duro_argv_pushf(&a, "%lld.%03lld", (long long)(timeout_ms / 1000),
                    (long long)(timeout_ms % 1000));
    set_timeout(c, timeout_ms + DURO_CLIENT_TIMEOUT_MS);
    int rc;
    *out = duro__call(c, &a, false, &rc);
    set_timeout(c, DURO_CLIENT_TIMEOUT_MS);
    duro_argv_free(&a);
    return rc;
}

/* result_text: the handler's result as JSON text, cut verbatim out of the
 * answer when it has the usual shape (numbers keep their precision), else
 * printed from the parsed tree. Caller frees; NULL when out of memory. */
static char *result_text(const char *s, size_t len, const cJSON *answer)
{
    size_t pre = sizeof(ANSWER_PREFIX) - 1;
    if (len > pre + 1 && memcmp(s, ANSWER_PREFIX, pre) == 0 &&
        s[len - 1] == '}') {
        cJSON *v = NULL;
        char why[8];
        if (duro_json_parse(s + pre, len - pre - 1, len, &v, why,
                            sizeof(why)) == 0) {
            cJSON_Delete(v);
            return strndup(s + pre, len - pre - 1);
        }
    }
    const cJSON *res = cJSON_GetObjectItem(answer, "result");
    char *p = res ? cJSON_PrintUnformatted(res) : NULL;
    if (res && !p) return NULL;
    char *out = strdup(p ? p : "null");
    cJSON_free(p);
    return out;
}

/* take_answer decodes {"ok":true,"result":X} or {"ok":false,"error":E}. */
int duro__query_take(duro_client *c, const char *name, const char *s,
                     size_t len, char **result_json)
{
    cJSON *ans = NULL;
    char why[256];
    if (duro_json_parse(s, len, 8 * (size_t)DURO_DEFAULT_MAX_PAYLOAD, &ans, why,
                        sizeof(why)) < 0)
        return duro__fail(c, DURO_EPROTO, "query %s: malformed answer: %s",
                          name, why);
    const cJSON *ok = cJSON_GetObjectItem(ans, "ok");
    int rc = 0;
    if (cJSON_IsTrue(ok)) {
        *result_json = result_text(s, len, ans);
        if (!*result_json) rc = duro__fail(c, DURO_ENOMEM, "out of memory");
        char *plain = NULL;
        /* a result this client cannot decode is handed out as stored */
        if (*result_json && duro_codec_decode(c->codec, *result_json, &plain,
                                              why, sizeof(why)) == 0) {
            free(*result_json);
            *result_json = plain;
        }
    } else if (cJSON_IsFalse(ok)) {
        const char *e = cJSON_GetStringValue(cJSON_GetObjectItem(ans, "error"));
        rc = duro__fail(c, DURO_EINVAL, "%s", e ? e : "query failed");
    } else {
        rc = duro__fail(c, DURO_EPROTO, "query %s: answer lacks \"ok\"", name);
    }
    cJSON_Delete(ans);
    return rc;
}

int duro_client_query(duro_client *c, const char *workflow_id, const char *name,
                      const char *input, int64_t timeout_ms, char **result_json)
{
    *result_json = NULL;
    if (!input) input = "null";
    if (timeout_ms == 0) timeout_ms = DURO_QUERY_DEFAULT_TIMEOUT_MS;
    duro__wf_head h;
    int rc = check_query(c, name, input, timeout_ms);
    if (rc == 0) rc = duro__read_head(c, workflow_id, &h);
    if (rc < 0) return rc;
    char uuid[DURO_UUID_LEN + 1], replykey[DURO_SHORT_KEY_MAX];
    duro_uuid_v4(uuid);
    duro_key_qreply(replykey, sizeof(replykey), duro__ks(c), h.k.partition,
                    uuid);
    char *sealed;
    if ((rc = duro__seal(c, input, &sealed)) < 0) return rc;
    rc = duro__query_send(c, &h, workflow_id, name, NULL, sealed, replykey,
                          timeout_ms);
    free(sealed);
    redisReply *r = NULL;
    if (rc == 0) rc = duro__query_wait(c, replykey, timeout_ms, &r);
    if (rc < 0) return rc;
    const redisReply *v =
        r->type == REDIS_REPLY_ARRAY && r->elements == 2 ? r->element[1] : NULL;
    if (v && duro__reply_str(v)) {
        rc = duro__query_take(c, name, v->str, v->len, result_json);
    } else {
        char d[32];
        rc = duro__fail(c, DURO_ETIMEDOUT,
                        "no worker answered query %s within %s: is a worker "
                        "polling task queue %s?",
                        name, duro_duration_format(timeout_ms, d, sizeof(d)),
                        h.queue);
    }
    freeReplyObject(r);
    return rc;
}
