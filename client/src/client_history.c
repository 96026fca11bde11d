/* client_history.c: reading a run's history list as JSON events. */
#include <stdio.h>
#include <string.h>

#include "client_int.h"
#include "duro/clock.h"
#include "duro/history.h"

#define HISTORY_CHUNK 1000

/* event_object turns a decoded event into {"eventId","type","time","data"};
 * takes e->data. */
static cJSON *event_object(duro_event *e)
{
    char t[40];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "eventId", (double)e->id);
    cJSON_AddStringToObject(o, "type", duro_event_name(e->type));
    cJSON_AddStringToObject(o, "time", duro_iso8601(e->ts, t, sizeof(t)));
    cJSON_AddItemToObject(o, "data", e->data);
    e->data = NULL;
    return o;
}

/* add_chunk decodes one LRANGE reply, whose first element is event
 * `from`, into events. Returns the number of elements or a negative
 * code. */
static int add_chunk(duro_client *c, const redisReply *r, int64_t from,
                     cJSON *events)
{
    if (r->type != REDIS_REPLY_ARRAY)
        return duro__fail(c, DURO_EPROTO, "LRANGE returned a non-array");
    for (size_t i = 0; i < r->elements; i++) {
        duro_event e;
        char why[256];
        if (duro_event_decode_reply(r->element[i], from + (int64_t)i, &e, why,
                                    sizeof(why)) < 0)
            return duro__fail(c, DURO_EPROTO, "%s", why);
        /* a payload this client cannot decode stays as stored */
        duro_codec_decode_event(c->codec, e.type, e.data, why, sizeof(why));
        cJSON_AddItemToArray(events, event_object(&e));
        duro_event_free(&e);
    }
    return (int)r->elements;
}

/* lrange: LRANGE k->hist start stop, the reply or NULL with *rc set. */
static redisReply *lrange(duro_client *c, const duro_wf_keys *k,
                          long long start, long long stop, int *rc)
{
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "LRANGE");
    duro_argv_push(&a, k->hist);
    duro_argv_pushll(&a, start);
    duro_argv_pushll(&a, stop);
    redisReply *r = duro__call(c, &a, true, rc);
    duro_argv_free(&a);
    return r;
}

redisReply *duro__history_range(duro_client *c, const duro_wf_keys *k,
                                long long start, long long stop, int *rc)
{
    redisReply *r = lrange(c, k, start, stop, rc);
    if (r && r->type == REDIS_REPLY_ERROR &&
        duro_redis_error_code(r->str) == DURO_EPROTO) {
        /* WRONGTYPE: a history in the stream format of library 10 and
         * older; converted in place, then read again */
        freeReplyObject(r);
        duro_argv a;
        duro_fcall_history_upgrade(&a, k);
        r = duro__call(c, &a, true, rc);
        duro_argv_free(&a);
        if (r && r->type != REDIS_REPLY_ERROR) {
            freeReplyObject(r);
            r = lrange(c, k, start, stop, rc);
        }
    }
    if (r && r->type == REDIS_REPLY_ERROR) {
        *rc = duro__fail(c, duro_redis_error_code(r->str), "redis: %.400s",
                         r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* LRANGE h:<id>:<run> <from-1> <from+998>, until a short chunk (event N
 * is element N-1) */
int duro_client_history(duro_client *c, const char *workflow_id,
                        const char *run_id, cJSON **events)
{
    *events = NULL;
    duro_wf_keys k;
    char run[DURO_UUID_LEN + 1];
    int rc;
    if (run_id) {
        char why[256];
        if (duro_id_check(workflow_id, why, sizeof(why)) < 0)
            return duro__fail(c, DURO_EINVAL, "%s", why);
        if (duro__check_run(run_id) < 0)
            return duro__fail(
                c, DURO_EINVAL,
                "run id must be 1..36 characters of [0-9A-Za-z-]");
        duro_wf_keys_init(&k, duro__ks(c), workflow_id, run_id);
    } else if ((rc = duro__current_run(c, workflow_id, &k, run)) < 0) {
        return rc;
    }
    cJSON *arr = cJSON_CreateArray();
    int64_t from = 1;
    for (;;) {
        redisReply *r = duro__history_range(c, &k, from - 1,
                                            from - 1 + HISTORY_CHUNK - 1, &rc);
        if (!r) break;
        rc = add_chunk(c, r, from, arr);
        freeReplyObject(r);
        if (rc < HISTORY_CHUNK) break;
        from += HISTORY_CHUNK;
    }
    if (rc >= 0 && run_id && cJSON_GetArraySize(arr) == 0)
        rc = duro__fail(c, DURO_ENOTFOUND, "no history for workflow %s run %s",
                        workflow_id, run_id);
    if (rc < 0) {
        cJSON_Delete(arr);
        return rc;
    }
    *events = arr;
    return 0;
}
