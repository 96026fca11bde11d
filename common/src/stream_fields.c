/* stream_fields.c: reading task entries out of stream replies. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "duro/errno.h"
#include "duro/json.h"
#include "duro/reply.h"
#include "duro/stream_fields.h"

int duro__stream_entry(const redisReply *entry, const char **id,
                       const redisReply **fields)
{
    *id = NULL;
    *fields = NULL;
    if (!entry || entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 ||
        entry->element[0]->type != REDIS_REPLY_STRING ||
        !entry->element[0]->str)
        return DURO_EPROTO;
    *id = entry->element[0]->str;
    *fields = entry->element[1];
    return 0;
}

int duro__stream_field_dup(const redisReply *fields, const char *name,
                           char **out)
{
    const redisReply *v = duro__reply_kv(fields, name);
    *out = NULL;
    if (!v || v->type != REDIS_REPLY_STRING || !v->str) return 0;
    char *s = malloc(v->len + 1);
    if (!s) return DURO_ENOMEM;
    memcpy(s, v->str, v->len);
    s[v->len] = '\0';
    *out = s;
    return 0;
}

char *duro__stream_fields_json(const redisReply *fields)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    for (size_t i = 0; fields && fields->type == REDIS_REPLY_ARRAY &&
                       i + 1 < fields->elements;
         i += 2) {
        const char *k = duro__reply_str(fields->element[i]);
        const char *v = duro__reply_str(fields->element[i + 1]);
        if (k && v && !cJSON_AddStringToObject(o, k, v)) {
            cJSON_Delete(o);
            return NULL;
        }
    }
    char *s = duro_json_print(o);
    cJSON_Delete(o);
    return s;
}
