/* client_stats.c: task queue statistics from the streams' consumer groups.
 *
 * A task queue is one stream per partition and kind (wft: workflow tasks,
 * act: activity tasks), each with the consumer group "duro". The backlog
 * is the group's lag, the entries no worker has been handed yet
 * (duro/stream_backlog.h): processed entries are trimmed in bulk, not
 * deleted one by one, so XLEN also counts some already acknowledged.
 *
 * A stream key holding another type (WRONGTYPE: a hand edit) is listed
 * under "broken": workers leave that partition out of their reads until
 * it is repaired, so its tasks do not move.
 *
 * Each priority level has its own streams (duro/priority.h): the figures
 * add them up, and "byPriority" gives the backlog of each level that has
 * tasks ({"1": 4, "3": 120}), absent when none waits. A task with a
 * fairness key counts through its bell; "fairnessKeys" says how many keys
 * have tasks waiting (absent: none). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "duro/priority.h"
#include "duro/stream_backlog.h"

#define ACTIVE_IDLE_MS 60000
#define CMDS_PER_STREAM 4

typedef struct {
    long long backlog, pending;
    long long fair_keys; /* keys with tasks waiting (docs/internals.md) */
    long long level_backlog[DURO_PRIORITY_LEVELS];
    char **names; /* distinct consumer names */
    bool *active;
    size_t nnames, cap;
    cJSON *broken; /* keys of the wrong type */
} kind_stats;

static void stats_free(kind_stats *s)
{
    for (size_t i = 0; i < s->nnames; i++)
        free(s->names[i]);
    free(s->names);
    free(s->active);
    cJSON_Delete(s->broken);
}

static int add_consumer(kind_stats *s, const char *name, bool active)
{
    for (size_t i = 0; i < s->nnames; i++) {
        if (strcmp(s->names[i], name) == 0) {
            s->active[i] = s->active[i] || active;
            return 0;
        }
    }
    if (s->nnames == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        char **n = realloc(s->names, cap * sizeof(*n));
        if (n) s->names = n;
        bool *a = realloc(s->active, cap * sizeof(*a));
        if (a) s->active = a;
        if (!n || !a) return DURO_ENOMEM;
        s->cap = cap;
    }
    if (!(s->names[s->nnames] = strdup(name))) return DURO_ENOMEM;
    s->active[s->nnames++] = active;
    return 0;
}

/* add_stream_figures folds one stream's XLEN, XINFO GROUPS and XINFO
 * CONSUMERS replies into s. Error replies (no stream or group yet) count
 * as empty; a key of the wrong type is noted in s->broken. */
static int add_stream_figures(kind_stats *s, const char *key, redisReply **r)
{
    long long v;
    if (r[0]->type == REDIS_REPLY_ERROR &&
        duro_redis_error_code(r[0]->str) == DURO_EPROTO) {
        if (!s->broken && !(s->broken = cJSON_CreateArray()))
            return DURO_ENOMEM;
        cJSON_AddItemToArray(s->broken, cJSON_CreateString(key));
        return 0;
    }
    s->backlog += duro__stream_backlog(r[0], r[1], &v);
    s->pending += v;
    if (r[2]->type != REDIS_REPLY_ARRAY) return 0;
    for (size_t i = 0; i < r[2]->elements; i++) {
        const redisReply *cr = r[2]->element[i];
        const char *name = duro__reply_str(duro__reply_kv(cr, "name"));
        long long idle;
        if (!name) continue;
        if (!duro__reply_int(duro__reply_kv(cr, "idle"), &idle))
            idle = ACTIVE_IDLE_MS;
        if (add_consumer(s, name, idle < ACTIVE_IDLE_MS) < 0)
            return DURO_ENOMEM;
    }
    return 0;
}

/* add_stream: add_stream_figures, also counted under the key's level. */
static int add_stream(kind_stats *s, const char *key, redisReply **r)
{
    long long backlog0 = s->backlog, keys;
    if (duro__reply_int(r[3], &keys) && keys > 0) s->fair_keys += keys;
    int level = duro_priority_of_key(key) - DURO_PRIORITY_MIN;
    int rc = add_stream_figures(s, key, r);
    s->level_backlog[level] += s->backlog - backlog0;
    return rc;
}

static void push_stream_cmds(duro_argv *a, const char *key)
{
    for (int i = 0; i < CMDS_PER_STREAM; i++)
        duro_argv_init(&a[i]);
    duro_argv_push(&a[0], "XLEN");
    duro_argv_pushf(&a[0], "%s", key);
    duro_argv_push(&a[1], "XINFO");
    duro_argv_push(&a[1], "GROUPS");
    duro_argv_pushf(&a[1], "%s", key);
    duro_argv_push(&a[2], "XINFO");
    duro_argv_push(&a[2], "CONSUMERS");
    duro_argv_pushf(&a[2], "%s", key);
    duro_argv_push(&a[2], DURO_GROUP);
    duro_argv_push(&a[3], "ZCARD"); /* the stream's ready fairness keys */
    duro_argv_pushf(&a[3], "%s~", key);
}

static cJSON *kind_object(const char *queue, const char *kind,
                          const kind_stats *s)
{
    size_t active = 0;
    for (size_t i = 0; i < s->nnames; i++)
        active += s->active[i];
    long long backlog = s->backlog;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "taskQueue", queue);
    cJSON_AddStringToObject(o, "kind", kind);
    cJSON_AddNumberToObject(o, "backlog", (double)(backlog > 0 ? backlog : 0));
    cJSON_AddNumberToObject(o, "pending", (double)s->pending);
    cJSON_AddNumberToObject(o, "consumers", (double)s->nnames);
    cJSON_AddNumberToObject(o, "activeConsumers", (double)active);
    if (s->broken)
        cJSON_AddItemToObject(o, "broken", cJSON_Duplicate(s->broken, 1));
    if (s->fair_keys > 0)
        cJSON_AddNumberToObject(o, "fairnessKeys", (double)s->fair_keys);
    cJSON *levels = NULL;
    for (int l = 0; l < DURO_PRIORITY_LEVELS; l++) {
        long long b = s->level_backlog[l];
        if (b <= 0) continue;
        if (!levels) levels = cJSON_AddObjectToObject(o, "byPriority");
        char name[2] = {(char)('0' + DURO_PRIORITY_MIN + l), '\0'};
        cJSON_AddNumberToObject(levels, name, (double)b);
    }
    return o;
}

/* stream_key: kind 0 workflow, 1 activity; i: partition * levels + level
 * index (a static buffer). */
static const char *stream_key(const duro_client *c, int kind, int i,
                              const char *queue)
{
    static char key[DURO_KEY_MAX];
    char plain[DURO_KEY_MAX];
    int p = i / DURO_PRIORITY_LEVELS;
    int level = DURO_PRIORITY_MIN + i % DURO_PRIORITY_LEVELS;
    if (kind == 0)
        duro_key_wft(plain, sizeof(plain), duro__ks(c), p, queue);
    else
        duro_key_act(plain, sizeof(plain), duro__ks(c), p, queue);
    return duro_priority_key(key, sizeof(key), plain, level);
}

/* add_flow: a row's flow limits and counters, when it has any (an
 * unlimited queue's rows are unchanged). A flow hash of another type (by
 * hand; workers read it as no limit) is named in the row's "flowError"
 * rather than failing the stats of every queue. */
static int add_flow(duro_client *c, const char *queue, cJSON *o)
{
    cJSON *f;
    int rc = duro__queue_flow(c, queue, &f);
    if (rc == DURO_EPROTO) {
        cJSON_AddStringToObject(o, "flowError", duro_client_errstr(c));
        return 0;
    }
    if (rc) return rc;
    static const char *const act[] = {"activitiesPerSecond", "burst",
                                      "throttled", "concurrencyPerKey",
                                      "throttledKey"};
    static const char *const wf[] = {"workflowsPerSecond", "workflowBurst",
                                     "workflowThrottled"};
    static const char *const wf_as[] = {"workflowsPerSecond", "burst",
                                        "throttled"};
    const char *kind = cJSON_GetStringValue(cJSON_GetObjectItem(o, "kind"));
    bool workflow = kind && strcmp(kind, "workflow") == 0;
    const char *const *from = workflow ? wf : act;
    const char *const *as = workflow ? wf_as : act;
    int n = workflow ? 3 : 5;
    bool any = false;
    for (int i = 0; i < n; i++)
        any |= cJSON_GetNumberValue(cJSON_GetObjectItem(f, from[i])) > 0;
    for (int i = 0; any && i < n; i++)
        cJSON_AddItemToObject(
            o, as[i], cJSON_Duplicate(cJSON_GetObjectItem(f, from[i]), 1));
    cJSON_Delete(f);
    return 0;
}

/* queue_stats: for each kind, partition and priority level: XLEN, XINFO
 * GROUPS, XINFO CONSUMERS duro, all in one pipeline. */
static int queue_stats(duro_client *c, const char *queue, cJSON *arr)
{
    static const char *const kinds[2] = {"workflow", "activity"};
    int P = c->partitions * DURO_PRIORITY_LEVELS, n = 2 * P * CMDS_PER_STREAM;
    duro_argv *cmds = calloc((size_t)n, sizeof(*cmds));
    redisReply **r = calloc((size_t)n, sizeof(redisReply *));
    if (!cmds || !r) {
        free(cmds);
        free(r);
        return duro__fail(c, DURO_ENOMEM, "out of memory");
    }
    for (int k = 0; k < 2; k++)
        for (int p = 0; p < P; p++)
            push_stream_cmds(&cmds[((size_t)k * P + p) * CMDS_PER_STREAM],
                             stream_key(c, k, p, queue));
    int rc = duro__pipeline(c, cmds, n, r);
    for (int k = 0; k < 2 && rc == 0; k++) {
        kind_stats s = {0};
        for (int p = 0; p < P && rc == 0; p++)
            rc = add_stream(&s, stream_key(c, k, p, queue),
                            &r[((size_t)k * P + p) * CMDS_PER_STREAM]);
        if (rc == 0) {
            cJSON *o = kind_object(queue, kinds[k], &s);
            cJSON_AddItemToArray(arr, o);
            rc = add_flow(c, queue, o);
        } else
            rc = duro__fail(c, rc, "out of memory");
        stats_free(&s);
    }
    for (int i = 0; i < n; i++) {
        duro_argv_free(&cmds[i]);
        if (r[i]) freeReplyObject(r[i]);
    }
    free(cmds);
    free(r);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* SMEMBERS duro:queues, sorted, keeping only valid names */
static int known_queues(duro_client *c, redisReply **out, const char ***names,
                        size_t *n)
{
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "SMEMBERS");
    char qkey[DURO_SHORT_KEY_MAX];
    duro_argv_push(&a, duro_key_queues(qkey, sizeof(qkey), duro__ks(c)));
    int rc;
    redisReply *r = duro__call(c, &a, false, &rc);
    duro_argv_free(&a);
    if (!r) return rc;
    size_t cnt = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
    *names = calloc(cnt ? cnt : 1, sizeof(**names));
    if (!*names) {
        freeReplyObject(r);
        return duro__fail(c, DURO_ENOMEM, "out of memory");
    }
    *n = 0;
    for (size_t i = 0; i < cnt; i++) {
        const char *q = duro__reply_str(r->element[i]);
        if (q && duro_name_check("task queue", q, NULL, 0) == 0)
            (*names)[(*n)++] = q;
    }
    qsort(*names, *n, sizeof(**names), cmp_str);
    *out = r;
    return 0;
}

int duro_client_queue_stats(duro_client *c, const char *queue, cJSON **out)
{
    *out = NULL;
    char why[256];
    if (queue && duro_name_check("task queue", queue, why, sizeof(why)) < 0)
        return duro__fail(c, DURO_EINVAL, "%s", why);
    redisReply *set = NULL;
    const char **names = &queue;
    size_t n = 1;
    int rc = queue ? 0 : known_queues(c, &set, &names, &n);
    if (rc < 0) return rc;
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = queue_stats(c, names[i], arr);
    if (set) {
        freeReplyObject(set);
        free(names);
    }
    if (rc < 0) {
        cJSON_Delete(arr);
        return rc;
    }
    *out = arr;
    return 0;
}
