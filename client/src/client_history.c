/* client_history.c: reading a run's history stream as JSON events. */
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

/* add_chunk decodes one XRANGE reply into events; *last gets the last
 * entry id. Returns the number of entries or a negative code. */
static int add_chunk(duro_client *c, const redisReply *r, cJSON *events,
                     char *last, size_t lastsize)
{
    if (r->type != REDIS_REPLY_ARRAY)
        return duro__fail(c, DURO_EPROTO, "XRANGE returned a non-array");
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *entry = r->element[i];
        duro_event e;
        char why[256];
        const char *eid = entry->type == REDIS_REPLY_ARRAY && entry->elements
                              ? duro__reply_str(entry->element[0])
                              : NULL;
        if (duro_event_decode(entry, &e, why, sizeof(why)) < 0)
            return duro__fail(c, DURO_EPROTO, "history entry %.40s: %s",
                              eid ? eid : "?", why);
        cJSON_AddItemToArray(events, event_object(&e));
        duro_event_free(&e);
        snprintf(last, lastsize, "(%s", eid);
    }
    return (int)r->elements;
}

/* XRANGE h:<id>:<run> <start> + COUNT 1000, until a short chunk */
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
    char start[64] = "-";
    for (;;) {
        duro_argv a;
        duro_argv_init(&a);
        duro_argv_push(&a, "XRANGE");
        duro_argv_push(&a, k.hist);
        duro_argv_push(&a, start);
        duro_argv_push(&a, "+");
        duro_argv_push(&a, "COUNT");
        duro_argv_pushll(&a, HISTORY_CHUNK);
        redisReply *r = duro__call(c, &a, false, &rc);
        duro_argv_free(&a);
        if (!r) break;
        rc = add_chunk(c, r, arr, start, sizeof(start));
        freeReplyObject(r);
        if (rc < HISTORY_CHUNK) break;
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
