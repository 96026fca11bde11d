/* client_family.c: what describe shows of a run's children and parent
 * (hash fields `child:<seq>` and `parent`, written by the Functions; see
 * docs/internals.md, "Crossing partitions"). */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include "client_int.h"
#include "duro/reply.h"

/* json_field: the hash field `name` of h parsed as a JSON object, or NULL
 * (absent or damaged: describe shows nothing rather than failing). */
static cJSON *json_field(const redisReply *h, const char *name)
{
    const char *s = duro__reply_str(duro__reply_kv(h, name));
    cJSON *v = s ? cJSON_Parse(s) : NULL;
    if (v && !cJSON_IsObject(v)) {
        cJSON_Delete(v);
        v = NULL;
    }
    return v;
}

static void copy_str(cJSON *to, const char *name, const cJSON *from,
                     const char *field)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(from, field);
    cJSON_AddStringToObject(to, name, cJSON_IsString(v) ? v->valuestring : "");
}

void duro__describe_family(cJSON *o, const redisReply *h)
{
    cJSON *p = json_field(h, "parent");
    if (p) {
        cJSON *po = cJSON_AddObjectToObject(o, "parent");
        copy_str(po, "workflowId", p, "id");
        copy_str(po, "runId", p, "run");
        cJSON_Delete(p);
    }
    cJSON *arr = NULL;
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        const char *k = duro__reply_str(h->element[i]);
        const char *v = duro__reply_str(h->element[i + 1]);
        if (!k || !v || strncmp(k, "child:", 6) != 0) continue;
        cJSON *c = cJSON_Parse(v);
        if (!cJSON_IsObject(c)) {
            cJSON_Delete(c);
            continue;
        }
        if (!arr) arr = cJSON_AddArrayToObject(o, "pendingChildren");
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "seq", strtod(k + 6, NULL));
        copy_str(e, "workflowId", c, "id");
        copy_str(e, "runId", c, "run");
        copy_str(e, "parentClosePolicy", c, "policy");
        cJSON_AddBoolToObject(
            e, "started",
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "started")));
        cJSON_AddItemToArray(arr, e);
        cJSON_Delete(c);
    }
}
