/* client_ratelimit.c: a task queue's flow settings (`duro queue config`):
 * its activity rate limit and the bucket's counters, in the queue's flow
 * hash (duro/ratelimit.h). Workers re-read the limit every 2 seconds. */
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
    redisReply *r = duro__call(c, &a, false, &rc);
    duro_argv_free(&a);
    if (!r) return rc;
    double aps = field_num(r, "aps"), burst = field_num(r, "burst");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "taskQueue", queue);
    cJSON_AddNumberToObject(o, "activitiesPerSecond", aps);
    cJSON_AddNumberToObject(o, "burst", aps > 0 ? (burst >= 1 ? burst : 1) : 0);
    cJSON_AddNumberToObject(o, "granted", field_num(r, "granted"));
    cJSON_AddNumberToObject(o, "throttled", field_num(r, "throttled"));
    freeReplyObject(r);
    *out = o;
    return 0;
}

int duro_client_queue_config(duro_client *c, const char *queue,
                             double activities_per_second, int burst,
                             cJSON **out)
{
    char err[128], key[DURO_KEY_MAX];
    if (!queue || duro_name_check("queue", queue, err, sizeof(err)))
        return duro__fail(c, DURO_EINVAL, "task queue: %s",
                          queue ? err : "missing");
    if (activities_per_second > 1e6 || burst > 1000000)
        return duro__fail(c, DURO_EINVAL, "rate or burst out of range");
    duro_key_flow(key, sizeof(key), duro__ks(c), queue);
    duro_argv a;
    int rc = 0;
    if (activities_per_second == 0) { /* the limit goes, counters stay */
        duro_argv_init(&a);
        duro_argv_push(&a, "HDEL");
        duro_argv_push(&a, key);
        const char *f[] = {"aps", "burst", "tokens", "ts"};
        for (int i = 0; i < 4; i++)
            duro_argv_push(&a, f[i]);
        rc = simple(c, &a);
    } else if (activities_per_second > 0 || burst > 0) {
        duro_argv_init(&a);
        duro_argv_push(&a, "HSET");
        duro_argv_push(&a, key);
        if (activities_per_second > 0) {
            duro_argv_push(&a, "aps");
            duro_argv_pushf(&a, "%g", activities_per_second);
        }
        if (burst > 0) {
            duro_argv_push(&a, "burst");
            duro_argv_pushll(&a, burst);
        }
        rc = simple(c, &a);
    }
    if (rc) return rc;
    return out ? duro__queue_flow(c, queue, out) : 0;
}
