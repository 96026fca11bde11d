/* reclaim.c: times out tasks held too long by workers that died or hang. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "duro/deadletter.h"
#include "duro/errno.h"
#include "duro/fcall.h"
#include "duro/history.h"
#include "duro/ids.h"
#include "duro/json.h"
#include "duro/keys.h"
#include "duro/log.h"
#include "duro/priority.h"
#include "duro/retry_policy.h"
#include "sched_internal.h"

/*
 * A task a worker read but never acknowledged stays in its stream's pending
 * entries list (PEL) with an idle time. Every scan we list, per queue and
 * partition, the entries idle for more than MIN_IDLE_MS, read their fields
 * and let the timeout Function decide with the workflow's state in hand:
 * orphans are deleted, expired attempts retried or resolved, live ones left
 * alone. The Functions check tokens and attempts, so a late worker and a
 * second scheduler are both harmless.
 *
 *   SMEMBERS duro:queues
 *   XPENDING <stream> duro IDLE 1000 <start> + 100     per queue x partition
 *   XRANGE <stream> <id> <id>                          per idle entry
 *   FCALL duro_wft_timeout / duro_act_timeout          per decodable entry
 */

#define MIN_IDLE_MS "1000"
#define PAGE 100
#define RUN_MAX 64

enum kind { K_WFT, K_ACT };

/* pending: one XPENDING page, or one entry of it. */
typedef struct {
    sched *s;
    const nspace *ns;
    enum kind kind;
    int p;
    char key[DURO_KEY_MAX];
    char entry[64];
    long long idle_ms;
} pending;

static void xpending(const nspace *ns, enum kind kind, int p, const char *key,
                     const char *start);

static pending *pending_new(const nspace *ns, enum kind kind, int p,
                            const char *key)
{
    pending *pd = calloc(1, sizeof(*pd));
    if (!pd) return NULL;
    pd->s = ns->s;
    pd->ns = ns;
    pd->kind = kind;
    pd->p = p;
    snprintf(pd->key, sizeof(pd->key), "%s", key);
    return pd;
}

/* send_cmd tracks every reclaim command so that scans never overlap. */
static int send_cmd(sched *s, duro_aredis_cb cb, void *arg, const duro_argv *a)
{
    int rc = sched_cmd(s, cb, arg, a);
    if (rc == 0) s->scan_inflight++;
    return rc;
}

static void answered(sched *s)
{
    if (--s->scan_inflight == 0) duro_debug("SCAN DONE");
}

/* ---- Dead letters and acks ---- */

static void xack(sched *s, const char *key, const char *entry)
{
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "XACK");
    duro_argv_push(&a, key);
    duro_argv_push(&a, DURO_GROUP);
    duro_argv_push(&a, entry);
    sched_cmd_noreply(s, &a, "XACK");
    duro_argv_free(&a);
}

/* dead_letter moves an undecodable entry out of the way (deadletter.h). */
static void dead_letter(const pending *pd, const redisReply *fields,
                        const char *why)
{
    sched *s = pd->s;
    s->st.dead++;
    stats_count(s, M_DEAD, NULL, NULL);
    duro_argv cmds[DURO_DEAD_LETTER_CMDS];
    int n = duro__dead_letter_cmds(cmds, pd->key, pd->entry, fields, why);
    static const char *const what[] = {"XADD dead", "XACK", "XDEL"};
    for (int i = 0; i < n; i++) {
        sched_cmd_noreply(s, &cmds[i], what[i]);
        duro_argv_free(&cmds[i]);
    }
}

/* ---- Field checks ---- */

/* field_str: a field's value when it is a non-empty string without NULs. */
static const char *field_str(const redisReply *fields, const char *name)
{
    const redisReply *v = duro_stream_field(fields, name);
    if (!duro__reply_str(v) || v->len == 0 || strlen(v->str) != v->len)
        return NULL;
    return v->str;
}

static int field_ll(const redisReply *fields, const char *name, long long min,
                    long long *out)
{
    const redisReply *v = duro_stream_field(fields, name);
    return duro__reply_int(v, out) && *out >= min ? 0 : -1;
}

/* check_wf validates the id and run that will become key names. */
static const char *check_wf(const pending *pd, const char *id, const char *run)
{
    char err[128];
    if (!id || duro_id_check(id, err, sizeof(err))) return "missing or bad id";
    if (duro_partition_of(id, pd->ns->ks.partitions) != pd->p)
        return "id belongs to another partition";
    if (!run || strlen(run) > RUN_MAX ||
        duro_name_check("run", run, err, sizeof(err)))
        return "missing or bad run";
    return NULL;
}

/* ---- Timeout Functions ---- */

static void on_timeout(duro_aredis *r, redisReply *reply, void *arg)
{
    pending *pd = arg;
    sched *s = pd->s;
    const char *what = pd->kind == K_WFT ? "WFT" : "ACT";
    if (duro__reply_is_error(reply)) {
        sched_redis_error(s);
        /* the entry stays pending: the next scan tries again */
        duro_warn_limited("TIMEOUT FAILED",
                          "%s TIMEOUT FAILED stream=%s entry=%s err=%s", what,
                          pd->key, pd->entry, reply->str);
    } else if (duro__reply_str(reply) && strcmp(reply->str, "timedout") == 0) {
        if (pd->kind == K_WFT)
            s->st.wft_timedout++;
        else
            s->st.act_timedout++;
        stats_count(s, M_TIMEOUTS, "kind",
                    pd->kind == K_WFT ? "workflow_task" : "activity");
        duro_info("%s TIMEOUT stream=%s entry=%s idle=%lldms", what, pd->key,
                  pd->entry, pd->idle_ms);
    } else if (duro__reply_str(reply) && strcmp(reply->str, "orphan") == 0) {
        s->st.orphans++;
        stats_count(s, M_ORPHANS, NULL, NULL);
        duro_debug("%s ORPHAN stream=%s entry=%s", what, pd->key, pd->entry);
    }
    free(pd);
    answered(s);
}

/* wft_timeout: FCALL duro_wft_timeout (duro_fcall_wft_timeout). */
static void wft_timeout(pending *pd, const redisReply *fields)
{
    const char *id = field_str(fields, "id"), *run = field_str(fields, "run");
    const char *why = check_wf(pd, id, run);
    long long token;
    if (!why && field_ll(fields, "token", 0, &token))
        why = "missing or bad token";
    if (why) {
        dead_letter(pd, fields, why);
        free(pd);
        return;
    }
    duro_wf_keys k;
    duro_wf_keys_init(&k, &pd->ns->ks, id, run);
    snprintf(k.wft, sizeof(k.wft), "%s", pd->key);
    char tok[32];
    snprintf(tok, sizeof(tok), "%lld", token);
    duro_fcall_task t = {.run = run, .token = tok, .entry = pd->entry};
    duro_argv a;
    duro_fcall_wft_timeout(&a, &k, &t, pd->idle_ms);
    if (send_cmd(pd->s, on_timeout, pd, &a) != 0) free(pd);
    duro_argv_free(&a);
}

/* retry_delay: the delay before the next attempt after this one timed out,
 * or -1 (no retry). NULL opts: DURO_EJSON. */
static int retry_delay(const redisReply *fields, long long attempt,
                       int64_t *delay)
{
    const redisReply *v = duro_stream_field(fields, "opts");
    cJSON *opts = NULL;
    char err[128];
    if (!duro__reply_str(v) ||
        duro_json_parse(v->str, v->len, DURO_DEFAULT_MAX_PAYLOAD, &opts, err,
                        sizeof(err)) ||
        !cJSON_IsObject(opts)) {
        cJSON_Delete(opts);
        return DURO_EJSON;
    }
    *delay =
        duro__retry_delay_of(opts, attempt > 1000000 ? 1000000 : (int)attempt,
                             "TimeoutError", false);
    cJSON_Delete(opts);
    return 0;
}

/* act_timeout: FCALL duro_act_timeout (duro_fcall_act_timeout). */
static void act_timeout(pending *pd, const redisReply *fields)
{
    const char *id = field_str(fields, "id"), *run = field_str(fields, "run");
    const char *wfq = field_str(fields, "wfqueue");
    char err[128];
    long long seq, attempt;
    int64_t delay = -1;
    const char *why = check_wf(pd, id, run);
    if (!why && field_ll(fields, "seq", 0, &seq)) why = "missing or bad seq";
    if (!why && field_ll(fields, "attempt", 1, &attempt))
        why = "missing or bad attempt";
    if (!why && (!wfq || duro_name_check("queue", wfq, err, sizeof(err))))
        why = "missing or bad wfqueue";
    if (!why && retry_delay(fields, attempt, &delay))
        why = "missing or bad opts";
    if (why) {
        dead_letter(pd, fields, why);
        free(pd);
        return;
    }
    duro_wf_keys k;
    duro_wf_keys_init(&k, &pd->ns->ks, id, run);
    duro_wf_keys_queues(&k, wfq, NULL);
    snprintf(k.act, sizeof(k.act), "%s", pd->key);
    char seqs[32];
    snprintf(seqs, sizeof(seqs), "%lld", seq);
    duro_fcall_attempt at = {
        .run = run, .seq = seqs, .attempt = attempt, .entry = pd->entry};
    duro_argv a;
    duro_fcall_act_timeout(&a, &k, &at, pd->idle_ms, (long long)delay);
    if (send_cmd(pd->s, on_timeout, pd, &a) != 0) free(pd);
    duro_argv_free(&a);
}

/* ring_again: a bell (docs/internals.md, "Fairness") whose worker never
 * finished its turn: a new bell first, then the old one goes, so the
 * task it stands for is always rung for. */
static void ring_again(pending *pd)
{
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "XADD");
    duro_argv_push(&a, pd->key);
    duro_argv_push(&a, "*");
    duro_argv_push(&a, "bell");
    duro_argv_push(&a, "1");
    sched_cmd_noreply(pd->s, &a, "XADD");
    duro_argv_free(&a);
    duro_info("FAIR RING-AGAIN stream=%s entry=%s idle=%lldms", pd->key,
              pd->entry, pd->idle_ms);
    xack(pd->s, pd->key, pd->entry);
    duro_argv_init(&a);
    duro_argv_push(&a, "XDEL");
    duro_argv_push(&a, pd->key);
    duro_argv_push(&a, pd->entry);
    sched_cmd_noreply(pd->s, &a, "XDEL");
    duro_argv_free(&a);
    free(pd);
}

/* ---- Reading idle entries ---- */

/* XRANGE key id id -> [] or [[id, [field, value, ...]]] */
static void on_entry(duro_aredis *r, redisReply *reply, void *arg)
{
    pending *pd = arg;
    sched *s = pd->s;
    if (!reply || s->stopping || duro__reply_is_error(reply) ||
        reply->type != REDIS_REPLY_ARRAY) {
        if (duro__reply_is_error(reply)) sched_redis_error(s);
        if (duro__reply_is_error(reply))
            duro_warn_limited(NULL, "XRANGE FAILED stream=%s err=%s", pd->key,
                              reply->str);
        free(pd);
    } else if (reply->elements == 0) {
        /* Deleted but never acked (a worker died between the two, or a
         * hand edit): only the PEL remembers it. */
        s->st.unacked++;
        xack(s, pd->key, pd->entry);
        free(pd);
    } else {
        const redisReply *e = reply->element[0];
        const redisReply *fields =
            e->type == REDIS_REPLY_ARRAY && e->elements == 2 ? e->element[1]
                                                             : NULL;
        if (fields && duro_stream_field(fields, "bell"))
            ring_again(pd); /* takes pd */
        else if (pd->kind == K_WFT)
            wft_timeout(pd, fields); /* takes pd */
        else
            act_timeout(pd, fields);
    }
    answered(s);
}

static void read_entry(sched *s, const pending *page, const redisReply *e)
{
    long long idle;
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
        !duro__reply_str(e->element[0]) || e->element[0]->len >= 64 ||
        !duro__reply_int(e->element[2], &idle))
        return;
    pending *pd = pending_new(page->ns, page->kind, page->p, page->key);
    if (!pd) return;
    memcpy(pd->entry, e->element[0]->str, e->element[0]->len + 1);
    pd->idle_ms = idle;
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "XRANGE");
    duro_argv_push(&a, pd->key);
    duro_argv_push(&a, pd->entry);
    duro_argv_push(&a, pd->entry);
    if (send_cmd(s, on_entry, pd, &a) != 0) free(pd);
    duro_argv_free(&a);
}

/* XPENDING key duro IDLE ms start + count
 *   -> [[id, consumer, idle_ms, deliveries], ...] */
static void on_pending(duro_aredis *r, redisReply *reply, void *arg)
{
    pending *page = arg;
    sched *s = page->s;
    if (reply && !s->stopping && duro__reply_is_error(reply)) {
        /* No group yet: no worker ever polled this stream; nothing held. */
        if (strncmp(reply->str, "NOGROUP", 7) != 0) {
            sched_redis_error(s);
            /* one bad stream (a key of the wrong type) costs only itself:
             * every stream has its own XPENDING */
            duro_warn_limited(NULL, "XPENDING FAILED stream=%s err=%s",
                              page->key, reply->str);
        }
    } else if (reply && !s->stopping && reply->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < reply->elements; i++)
            read_entry(s, page, reply->element[i]);
        const redisReply *last =
            reply->elements ? reply->element[reply->elements - 1] : NULL;
        if (reply->elements >= PAGE && last->type == REDIS_REPLY_ARRAY &&
            last->elements > 0 && duro__reply_str(last->element[0])) {
            char start[80];
            snprintf(start, sizeof(start), "(%s", last->element[0]->str);
            xpending(page->ns, page->kind, page->p, page->key, start);
        }
    }
    free(page);
    answered(s);
}

static void xpending(const nspace *ns, enum kind kind, int p, const char *key,
                     const char *start)
{
    sched *s = ns->s;
    pending *page = pending_new(ns, kind, p, key);
    if (!page) return;
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "XPENDING");
    duro_argv_push(&a, key);
    duro_argv_push(&a, DURO_GROUP);
    duro_argv_push(&a, "IDLE");
    duro_argv_push(&a, MIN_IDLE_MS);
    duro_argv_push(&a, start);
    duro_argv_push(&a, "+");
    duro_argv_pushll(&a, PAGE);
    if (send_cmd(s, on_pending, page, &a) != 0) free(page);
    duro_argv_free(&a);
}

/* ---- Scan ---- */

static int partition_of(const char *key)
{
    const char *t = strstr(key, "{p");
    return t ? (int)strtol(t + 2, NULL, 10) : -1;
}

/* SMEMBERS <prefix>{pN}:fair:<queue> -> the partition's streams of
 * fairness keys (docs/internals.md, "Fairness"): each scanned as well */
static void on_fair_streams(duro_aredis *r, redisReply *reply, void *arg)
{
    pending *pd = arg;
    sched *s = pd->s;
    if (reply && !s->stopping && reply->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < reply->elements; i++) {
            const redisReply *k = reply->element[i];
            if (!duro__reply_str(k) || k->len >= DURO_KEY_MAX ||
                partition_of(k->str) != pd->p)
                continue;
            xpending(pd->ns, strstr(k->str, "}:wft:") ? K_WFT : K_ACT, pd->p,
                     k->str, "-");
        }
    } else if (duro__reply_is_error(reply)) {
        duro_warn_limited(NULL, "SMEMBERS FAILED key=%s err=%s", pd->key,
                          reply->str);
    }
    free(pd);
    answered(s);
}

static void scan_queue(const nspace *ns, const char *queue)
{
    char key[DURO_KEY_MAX], lkey[DURO_KEY_MAX];
    const duro_keyspace *ks = &ns->ks;
    for (int p = 0; p < ks->partitions; p++)
        for (int l = DURO_PRIORITY_MIN; l <= DURO_PRIORITY_MAX; l++) {
            /* every level's stream (duro/priority.h); the workers made
             * them all with their groups */
            duro_key_wft(key, sizeof(key), ks, p, queue);
            xpending(ns, K_WFT, p,
                     duro_priority_key(lkey, sizeof(lkey), key, l), "-");
            duro_key_act(key, sizeof(key), ks, p, queue);
            xpending(ns, K_ACT, p,
                     duro_priority_key(lkey, sizeof(lkey), key, l), "-");
        }
    for (int p = 0; p < ks->partitions; p++) {
        pending *pd = pending_new(ns, K_ACT, p, "");
        if (!pd) return;
        snprintf(pd->key, sizeof(pd->key), "%s{p%d}:fair:%s", ks->prefix, p,
                 queue);
        duro_argv a;
        duro_argv_init(&a);
        duro_argv_push(&a, "SMEMBERS");
        duro_argv_push(&a, pd->key);
        if (send_cmd(ns->s, on_fair_streams, pd, &a) != 0) free(pd);
        duro_argv_free(&a);
    }
}

/* SMEMBERS <prefix>queues -> [queue, ...] */
static void on_queues(duro_aredis *r, redisReply *reply, void *arg)
{
    const nspace *ns = arg;
    sched *s = ns->s;
    if (reply && !s->stopping && reply->type == REDIS_REPLY_ARRAY) {
        char err[128];
        for (size_t i = 0; i < reply->elements; i++) {
            const redisReply *q = reply->element[i];
            if (!duro__reply_str(q) || strlen(q->str) != q->len ||
                duro_name_check("queue", q->str, err, sizeof(err))) {
                duro_debug("SCAN skip bad queue name in %s", DURO_QUEUES_KEY);
                continue;
            }
            scan_queue(ns, q->str);
        }
    } else if (duro__reply_is_error(reply)) {
        sched_redis_error(s);
        duro_warn_limited(NULL, "SCAN FAILED err=%s", reply->str);
    }
    answered(s);
}

void reclaim_scan(sched *s)
{
    if (s->scan_inflight > 0) {
        duro_debug("SCAN skipped: previous scan still running (%d)",
                   s->scan_inflight);
        stats_count(s, M_SCANS_SKIPPED, NULL, NULL);
        return;
    }
    stats_count(s, M_SCANS, NULL, NULL);
    for (nspace *ns = s->spaces; ns; ns = ns->next) {
        if (!ns->live) continue;
        char key[DURO_SHORT_KEY_MAX];
        duro_argv a;
        duro_argv_init(&a);
        duro_argv_push(&a, "SMEMBERS");
        duro_argv_push(&a, duro_key_queues(key, sizeof(key), &ns->ks));
        send_cmd(s, on_queues, ns, &a);
        duro_argv_free(&a);
    }
}
