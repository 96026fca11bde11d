/* client_describe.c: a workflow's state as JSON, and waiting for its end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include "client_int.h"
#include "client_vis.h"
#include "duro/clock.h"
#include "duro/cluster.h"
#include "duro/pa_record.h"

/* ---- Describe ---- */

static const char *hstr(const redisReply *h, const char *name)
{
    return duro__reply_str(duro__reply_kv(h, name));
}

static int64_t hint(const redisReply *h, const char *name, int64_t def)
{
    int64_t v;
    return duro__parse_i64(hstr(h, name), &v) ? v : def;
}

/* add_json adds field `name` of h parsed as JSON (null when absent). */
static void add_json(cJSON *o, const char *as, const redisReply *h,
                     const char *name)
{
    const redisReply *v = duro__reply_kv(h, name);
    const char *s = duro__reply_str(v);
    cJSON_AddItemToObject(o, as, duro__json_value(s, s ? v->len : 0));
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

/* pa_seqs collects the distinct activity seqs of the pending-activity hash
 * (fields "<seq>" and "<seq>.s", or "<seq>.<name>" in the layout of
 * library 27 and older), sorted, into *out (caller frees) and their count
 * into *count. Returns 0 or DURO_ENOMEM. */
static int pa_seqs(const redisReply *pa, long long **out, size_t *count)
{
    size_t n = 0;
    long long *seqs = malloc((pa->elements / 2 + 1) * sizeof(*seqs));
    *out = seqs;
    *count = 0;
    if (!seqs) return DURO_ENOMEM;
    for (size_t i = 0; i + 1 < pa->elements; i += 2) {
        const char *k = duro__reply_str(pa->element[i]);
        const char *dot = k ? strchr(k, '.') : NULL;
        if (k && !dot) dot = k + strlen(k); /* "<seq>": a state record */
        if (!dot || dot == k || dot - k > 18) continue;
        char num[20];
        memcpy(num, k, (size_t)(dot - k));
        num[dot - k] = '\0';
        int64_t seq;
        if (!duro__parse_i64(num, &seq) || seq < 0) continue;
        bool seen = false;
        for (size_t j = 0; j < n && !seen; j++)
            seen = seqs[j] == seq;
        if (!seen) seqs[n++] = seq;
    }
    qsort(seqs, n, sizeof(*seqs), cmp_ll);
    *count = n;
    return 0;
}

/* part_dup: a record's part as a C string (caller frees), or NULL. */
static char *part_dup(duro_pa_part p)
{
    char *t = malloc(p.len + 1);
    if (!t) return NULL;
    memcpy(t, p.s, p.len);
    t[p.len] = '\0';
    return t;
}

static int64_t part_i64(duro_pa_part p)
{
    char num[24];
    int64_t v;
    snprintf(num, sizeof(num), "%.*s", (int)(p.len < 20 ? p.len : 20), p.s);
    return duro__parse_i64(num, &v) ? v : 0;
}

/* packed_activity fills o from the records "<seq>" (state) and "<seq>.s"
 * (schedule, for the name). Returns 1, 0 when the state record is absent
 * (then the fields of library 27 and older are read), or DURO_EPROTO when
 * a record is there and damaged: shown as absent it would say "no name,
 * attempt 0, in backoff", which is not what Redis holds. */
static int packed_activity(cJSON *o, const redisReply *pa, long long seq)
{
    char f[48];
    snprintf(f, sizeof(f), "%lld", seq);
    const redisReply *r = duro__reply_kv(pa, f);
    duro_pa_state st;
    if (!duro__reply_str(r)) return 0;
    if (!duro_pa_state_parse(r->str, r->len, &st)) return DURO_EPROTO;
    snprintf(f, sizeof(f), "%lld.s", seq);
    r = duro__reply_kv(pa, f);
    duro_pa_sched sc;
    bool sched = duro__reply_str(r) != NULL;
    if (sched && !duro_pa_sched_parse(r->str, r->len, &sc)) return DURO_EPROTO;
    char *name = sched ? part_dup(sc.name) : NULL;
    if (name)
        cJSON_AddStringToObject(o, "name", name);
    else
        cJSON_AddNullToObject(o, "name");
    free(name);
    cJSON_AddNumberToObject(o, "attempt", (double)part_i64(st.attempt));
    /* a lease (eager dispatch): started by the worker that committed it */
    cJSON_AddStringToObject(o, "state",
                            !st.entry.len          ? "backoff"
                            : st.entry.s[0] == 'L' ? "started"
                                                   : "scheduled");
    /* the failure ends the record: NUL-terminated there */
    cJSON_AddItemToObject(o, "lastFailure",
                          duro__json_value(st.failure.s, st.failure.len));
    duro__add_time(o, "lastHeartbeat", part_i64(st.hb));
    return 1;
}

/* pending_activity: activity seq as describe shows it into *out, from its
 * records or else the fields of library 27 and older; 0, DURO_EPROTO (a
 * damaged record) or DURO_ENOMEM. */
static int pending_activity(const redisReply *pa, long long seq, cJSON **out)
{
    char f[48];
    cJSON *o = *out = cJSON_CreateObject();
    if (!o) return DURO_ENOMEM;
    cJSON_AddNumberToObject(o, "seq", (double)seq);
    int packed = packed_activity(o, pa, seq);
    if (packed != 0) return packed < 0 ? packed : 0;
    snprintf(f, sizeof(f), "%lld.name", seq);
    const char *name = hstr(pa, f);
    if (name)
        cJSON_AddStringToObject(o, "name", name);
    else
        cJSON_AddNullToObject(o, "name");
    snprintf(f, sizeof(f), "%lld.attempt", seq);
    cJSON_AddNumberToObject(o, "attempt", (double)hint(pa, f, 0));
    snprintf(f, sizeof(f), "%lld.entry", seq);
    const char *entry = hstr(pa, f);
    cJSON_AddStringToObject(o, "state",
                            !entry || !*entry            ? "backoff"
                            : duro_entry_is_lease(entry) ? "started"
                                                         : "scheduled");
    snprintf(f, sizeof(f), "%lld.failure", seq);
    add_json(o, "lastFailure", pa, f);
    snprintf(f, sizeof(f), "%lld.hb", seq);
    duro__add_time(o, "lastHeartbeat", hint(pa, f, 0));
    return 0;
}

/* pending_activities: the array for describe into *out, from pa (the
 * HGETALL of the pending-activity hash); 0, or fails c with the damaged
 * activity named (DURO_EPROTO), Redis' refusal (a key of another type),
 * or DURO_ENOMEM. */
static int pending_activities(duro_client *c, const char *id,
                              const redisReply *pa, cJSON **out)
{
    *out = NULL;
    if (pa->type == REDIS_REPLY_ERROR) {
        int code = duro_redis_error_code(pa->str);
        return duro__fail(c, code ? code : DURO_EREDIS,
                          "workflow %s: its pending activities: redis: %s", id,
                          pa->str ? pa->str : "");
    }
    cJSON *arr = *out = cJSON_CreateArray();
    if (!arr) return duro__fail(c, DURO_ENOMEM, "out of memory");
    if (pa->type != REDIS_REPLY_ARRAY) return 0;
    long long *seqs;
    size_t n;
    int rc = pa_seqs(pa, &seqs, &n);
    for (size_t i = 0; i < n && rc == 0; i++) {
        cJSON *o;
        rc = pending_activity(pa, seqs[i], &o);
        cJSON_AddItemToArray(arr, o);
        if (rc == DURO_EPROTO)
            rc = duro__fail(c, rc,
                            "workflow %s: activity %lld: damaged "
                            "pending-activity record",
                            id, seqs[i]);
    }
    free(seqs);
    if (rc == DURO_ENOMEM) rc = duro__fail(c, rc, "out of memory");
    if (rc < 0) {
        cJSON_Delete(arr);
        *out = NULL;
    }
    return rc;
}

static cJSON *workflow_task(const redisReply *h)
{
    cJSON *o = cJSON_CreateObject();
    const char *wft = hstr(h, "wft");
    cJSON_AddBoolToObject(o, "pending", wft && strcmp(wft, "1") == 0);
    cJSON_AddNumberToObject(o, "attempt", (double)hint(h, "wft_attempt", 0));
    const char *e = hstr(h, "wft_error");
    if (e && *e)
        cJSON_AddStringToObject(o, "lastError", e);
    else
        cJSON_AddNullToObject(o, "lastError");
    return o;
}

/* add_reset_links adds "resetFrom" {"runId","eventId","reason"} when the
 * run was made by a reset (hash field reset_from "<run> <event>"), and
 * "resetRuns" [{"runId","resetRunId"}] for each run of the id that was
 * reset (fields "reset:<run>"). */
static void add_reset_links(cJSON *o, const redisReply *h)
{
    const char *from = hstr(h, "reset_from");
    const char *sp = from ? strchr(from, ' ') : NULL;
    if (sp) {
        char run[DURO_UUID_LEN + 1];
        snprintf(run, sizeof(run), "%.*s", (int)(sp - from), from);
        cJSON *f = cJSON_AddObjectToObject(o, "resetFrom");
        cJSON_AddStringToObject(f, "runId", run);
        cJSON_AddNumberToObject(f, "eventId", strtod(sp + 1, NULL));
        const char *why = hstr(h, "reset_reason");
        cJSON_AddStringToObject(f, "reason", why ? why : "");
    }
    cJSON *runs = NULL;
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        const char *k = duro__reply_str(h->element[i]);
        const char *v = duro__reply_str(h->element[i + 1]);
        if (!k || !v || strncmp(k, "reset:", 6) != 0) continue;
        if (!runs) runs = cJSON_AddArrayToObject(o, "resetRuns");
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "runId", k + 6);
        cJSON_AddStringToObject(r, "resetRunId", v);
        cJSON_AddItemToArray(runs, r);
    }
}

/* describe_object: the describe of hash h with its pending activities
 * acts (taken, freed on failure), or NULL when out of memory. */
static cJSON *describe_object(duro_client *c, const char *id,
                              const redisReply *h, cJSON *acts)
{
    const char *status = hstr(h, "status");
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        cJSON_Delete(acts);
        return NULL;
    }
    cJSON_AddStringToObject(o, "workflowId", id);
    cJSON_AddStringToObject(o, "runId", hstr(h, "run"));
    cJSON_AddStringToObject(o, "type", hstr(h, "type") ? hstr(h, "type") : "");
    cJSON_AddStringToObject(o, "taskQueue",
                            hstr(h, "queue") ? hstr(h, "queue") : "");
    cJSON_AddStringToObject(o, "status", status);
    duro__add_time(o, "startTime", hint(h, "start_ms", 0));
    duro__add_time(o, "closeTime", hint(h, "close_ms", 0));
    cJSON_AddNumberToObject(o, "historyLength", (double)hint(h, "hlen", 0));
    add_json(o, "input", h, "input");
    if (strcmp(status, "COMPLETED") == 0)
        add_json(o, "result", h, "result");
    else if (strcmp(status, "RUNNING") != 0)
        add_json(o, "failure", h, "failure");
    duro__unseal(c, o, "input");
    duro__unseal(c, o, "result");
    cJSON_AddItemToObject(o, "workflowTask", workflow_task(h));
    add_reset_links(o, h);
    if (hstr(h, "continued_from"))
        cJSON_AddStringToObject(o, "continuedFromRunId",
                                hstr(h, "continued_from"));
    /* only a run started with them (docs/internals.md, "Priorities") */
    if (hstr(h, "priority"))
        cJSON_AddNumberToObject(o, "priority", (double)hint(h, "priority", 3));
    if (hstr(h, "fkey")) {
        cJSON_AddStringToObject(o, "fairnessKey", hstr(h, "fkey"));
        cJSON_AddNumberToObject(o, "fairnessWeight",
                                (double)hint(h, "fweight", 1));
    }
    duro__describe_family(o, h);
    if (!cJSON_AddItemToObject(o, "pendingActivities", acts)) {
        cJSON_Delete(acts);
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* HGETALL wf, HGETALL pa (one round trip) */
int duro_client_describe(duro_client *c, const char *workflow_id, cJSON **out)
{
    *out = NULL;
    char why[256];
    if (duro_id_check(workflow_id, why, sizeof(why)) < 0)
        return duro__fail(c, DURO_EINVAL, "%s", why);
    duro_wf_keys k;
    duro_wf_keys_init(&k, duro__ks(c), workflow_id, NULL);
    duro_argv cmds[2];
    for (int i = 0; i < 2; i++) {
        duro_argv_init(&cmds[i]);
        duro_argv_push(&cmds[i], "HGETALL");
    }
    duro_argv_push(&cmds[0], k.wf);
    duro_argv_push(&cmds[1], k.pa);
    redisReply *r[2];
    int rc = duro__pipeline(c, cmds, 2, r);
    duro_argv_free(&cmds[0]);
    duro_argv_free(&cmds[1]);
    if (rc < 0) return rc;
    const redisReply *h = r[0];
    cJSON *acts = NULL;
    if (h->type == REDIS_REPLY_ERROR)
        rc = duro__fail(c, DURO_EREDIS, "redis: %s", h->str ? h->str : "");
    else if (h->type != REDIS_REPLY_ARRAY || h->elements == 0)
        rc =
            duro__fail(c, DURO_ENOTFOUND, "workflow %s not found", workflow_id);
    else if (!hstr(h, "status") || duro__check_run(hstr(h, "run")) < 0)
        rc = duro__fail(c, DURO_EPROTO,
                        "workflow %s: its hash lacks a valid status or run",
                        workflow_id);
    else if ((rc = pending_activities(c, workflow_id, r[1], &acts)) == 0 &&
             !(*out = describe_object(c, workflow_id, h, acts)))
        rc = duro__fail(c, DURO_ENOMEM, "out of memory");
    if (*out &&
        (rc = duro__vis_describe(c, k.partition, hstr(h, "run"), *out))) {
        cJSON_Delete(*out);
        *out = NULL;
    }
    freeReplyObject(r[0]);
    freeReplyObject(r[1]);
    return rc;
}

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
