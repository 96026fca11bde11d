/* client_ratelimit.c: a task queue's flow settings (`duro queue config`):
 * its activity rate limit, its concurrency per key and their counters, in
 * the queue's flow hash (duro/ratelimit.h). Workers re-read the limit every 2
 * seconds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "duro/ids.h"
#include "duro/ratelimit.h"

static int simple(duro_client *c, duro_argv *a)
{
    int rc;
    redisReply *r = duro__call(c, a, false, &rc);
    duro_argv_free(a);
    if (!r) return rc;
    freeReplyObject(r);
    return 0;
}

static double field_num(const redisReply *r, const char *name)
{
    const char *s = duro__reply_str(duro__reply_kv(r, name));
    return s ? strtod(s, NULL) : 0;
}

int duro__queue_flow(duro_client *c, const char *queue, cJSON **out)
{
    char key[DURO_KEY_MAX];
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "HGETALL");
    duro_argv_push(&a, duro_key_flow(key, sizeof(key), duro__ks(c), queue));
    int rc;
    redisReply *r = duro__call(c, &a, true, &rc);
    duro_argv_free(&a);
    if (!r) return rc;
    if (r->type == REDIS_REPLY_ERROR) {
        /* by its code: a flow hash of another type (WRONGTYPE) is
         * DURO_EPROTO, which the stats show per queue */
        rc = duro__fail(c, duro_redis_error_code(r->str), "redis: %.400s (%s)",
                        r->str ? r->str : "", key);
        freeReplyObject(r);
        return rc;
    }
    double aps = field_num(r, "aps"), burst = field_num(r, "burst");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "taskQueue", queue);
    cJSON_AddNumberToObject(o, "activitiesPerSecond", aps);
    cJSON_AddNumberToObject(o, "burst", aps > 0 ? (burst >= 1 ? burst : 1) : 0);
    cJSON_AddNumberToObject(o, "concurrencyPerKey", field_num(r, "cpk"));
    cJSON_AddNumberToObject(o, "granted", field_num(r, "granted"));
    cJSON_AddNumberToObject(o, "throttled", field_num(r, "throttled"));
    cJSON_AddNumberToObject(o, "throttledKey", field_num(r, "throttled_key"));
    double wps = field_num(r, "wps"), wburst = field_num(r, "wf_burst");
    cJSON_AddNumberToObject(o, "workflowsPerSecond", wps);
    cJSON_AddNumberToObject(o, "workflowBurst",
                            wps > 0 ? (wburst >= 1 ? wburst : 1) : 0);
    cJSON_AddNumberToObject(o, "workflowGranted", field_num(r, "wf_granted"));
    cJSON_AddNumberToObject(o, "workflowThrottled",
                            field_num(r, "wf_throttled"));
    freeReplyObject(r);
    *out = o;
    return 0;
}

/* set_fields: HSET the settings set gives, HDEL the ones it removes */
static int set_fields(duro_client *c, const char *key,
                      const duro_queue_config *set)
{
    duro_argv del, put;
    duro_argv_init(&del);
    duro_argv_init(&put);
    duro_argv_push(&del, "HDEL");
    duro_argv_push(&del, key);
    duro_argv_push(&put, "HSET");
    duro_argv_push(&put, key);
    int ndel = 0, nput = 0;
    if (set->activities_per_second == 0) {
        const char *f[] = {"aps", "burst", "tokens", "ts"};
        for (int i = 0; i < 4; i++, ndel++)
            duro_argv_push(&del, f[i]);
    } else if (set->activities_per_second > 0) {
        duro_argv_push(&put, "aps");
        duro_argv_pushf(&put, "%g", set->activities_per_second);
        nput++;
    }
    if (set->workflows_per_second == 0) {
        const char *f[] = {"wps", "wf_burst", "wf_tokens", "wf_ts"};
        for (int i = 0; i < 4; i++, ndel++)
            duro_argv_push(&del, f[i]);
    } else if (set->workflows_per_second > 0) {
        duro_argv_push(&put, "wps");
        duro_argv_pushf(&put, "%g", set->workflows_per_second);
        nput++;
    }
    /* the burst goes with the rates set in the same call (both: both;
     * neither: the activities') */
    bool wf = set->workflows_per_second > 0;
    bool act = set->activities_per_second > 0 || !wf;
    if (set->burst > 0 && act && set->activities_per_second != 0) {
        duro_argv_push(&put, "burst");
        duro_argv_pushll(&put, set->burst);
        nput++;
    }
    if (set->burst > 0 && wf) {
        duro_argv_push(&put, "wf_burst");
        duro_argv_pushll(&put, set->burst);
        nput++;
    }
    if (set->concurrency_per_key == 0) {
        duro_argv_push(&del, "cpk");
        ndel++;
    } else if (set->concurrency_per_key > 0) {
        duro_argv_push(&put, "cpk");
        duro_argv_pushll(&put, set->concurrency_per_key);
        nput++;
    }
    int rc = ndel ? simple(c, &del) : (duro_argv_free(&del), 0);
    if (rc == 0 && nput)
        rc = simple(c, &put);
    else
        duro_argv_free(&put);
    return rc;
}

int duro_client_queue_config(duro_client *c, const char *queue,
                             const duro_queue_config *set, cJSON **out)
{
    char err[128], key[DURO_KEY_MAX];
    if (!queue || duro_name_check("queue", queue, err, sizeof(err)))
        return duro__fail(c, DURO_EINVAL, "task queue: %s",
                          queue ? err : "missing");
    if (set &&
        (set->activities_per_second > 1e6 || set->workflows_per_second > 1e6 ||
         set->burst > 1000000 || set->concurrency_per_key > 1000000))
        return duro__fail(c, DURO_EINVAL, "a setting is out of range");
    duro_key_flow(key, sizeof(key), duro__ks(c), queue);
    int rc = set ? set_fields(c, key, set) : 0;
    if (rc) return rc;
    return out ? duro__queue_flow(c, queue, out) : 0;
}
