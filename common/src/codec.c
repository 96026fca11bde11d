/* codec.c: applying a payload codec to JSON text, to cJSON members and to
 * history events' payloads (the codec itself is the caller's, or
 * codec_aes.c's). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/codec.h"
#include "duro/errno.h"
#include "duro/history.h"
#include "duro/json.h"
#include "duro/utf8.h"

static int oom(char *err, size_t errsize)
{
    snprintf(err, errsize, "%s", duro_strerror(DURO_ENOMEM));
    return DURO_ENOMEM;
}

/* string_text: json may be an encoded payload (a JSON string). */
static bool string_text(const char *json)
{
    while (*json == ' ' || *json == '\t' || *json == '\r' || *json == '\n')
        json++;
    return *json == '"';
}

int duro_codec_encode(const duro_codec *c, const char *json, char **out,
                      char *err, size_t errsize)
{
    *out = NULL;
    if (!c || !c->encode) {
        *out = strdup(json);
        return *out ? 0 : oom(err, errsize);
    }
    int rc = c->encode(c->arg, json, strlen(json), out, err, errsize);
    if (rc != 0) {
        free(*out);
        *out = NULL;
        return rc < 0 ? rc : DURO_ECODEC;
    }
    return *out ? 0 : oom(err, errsize);
}

int duro_codec_encode_json(const duro_codec *c, const cJSON *v, char **out,
                           char *err, size_t errsize)
{
    *out = NULL;
    char *text = v ? cJSON_PrintUnformatted(v) : strdup("null");
    if (!text) return oom(err, errsize);
    size_t at;
    if (duro_utf8_check(text, strlen(text), &at) < 0) {
        free(text);
        if (err && errsize)
            snprintf(err, errsize, "invalid UTF-8 at byte %zu", at);
        return DURO_EJSON;
    }
    if (!c || !c->encode) {
        *out = text;
        return 0;
    }
    int rc = duro_codec_encode(c, text, out, err, errsize);
    free(text);
    return rc;
}

int duro_codec_decode(const duro_codec *c, const char *json, char **out,
                      char *err, size_t errsize)
{
    *out = NULL;
    /* encoded payloads are JSON strings: anything else is plain */
    if (c && c->decode && string_text(json)) {
        int rc = c->decode(c->arg, json, strlen(json), out, err, errsize);
        if (rc < 0) {
            free(*out);
            *out = NULL;
            return rc;
        }
        if (rc == 0) return *out ? 0 : oom(err, errsize);
        free(*out);
        *out = NULL;
    }
    *out = strdup(json);
    return *out ? 0 : oom(err, errsize);
}

int duro_codec_parse(const duro_codec *c, const char *json, size_t max,
                     cJSON **out, char *err, size_t errsize)
{
    *out = NULL;
    if (!c || !c->decode || !string_text(json))
        return duro_json_parse(json, strlen(json), max, out, err, errsize);
    char *plain = NULL;
    int rc = duro_codec_decode(c, json, &plain, err, errsize);
    if (rc != 0) return rc;
    rc = duro_json_parse(plain, strlen(plain), max, out, err, errsize);
    free(plain);
    return rc;
}

int duro_codec_decode_item(const duro_codec *c, cJSON *obj, const char *field,
                           char *err, size_t errsize)
{
    if (!c || !c->decode || !obj) return 0;
    cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
    if (!cJSON_IsString(v)) return 0;
    char *text = cJSON_PrintUnformatted(v);
    if (!text) return oom(err, errsize);
    char *dec = NULL;
    int rc = c->decode(c->arg, text, strlen(text), &dec, err, errsize);
    free(text);
    if (rc != 0) {
        free(dec);
        return rc < 0 ? rc : 0;
    }
    if (!dec) return oom(err, errsize);
    cJSON *nv = cJSON_Parse(dec);
    free(dec);
    if (!nv) {
        snprintf(err, errsize, "payload codec: \"%s\" decodes to bad JSON",
                 field);
        return DURO_ECODEC;
    }
    cJSON_ReplaceItemInObjectCaseSensitive(obj, field, nv);
    return 0;
}

/* payload_field: the member of an event's data that holds a user payload,
 * or NULL. Failures carry messages and types only, which stay plain. */
static const char *payload_field(int type)
{
    switch (type) {
    case DURO_EVENT_WORKFLOW_STARTED:
    case DURO_EVENT_ACTIVITY_SCHEDULED:
    case DURO_EVENT_SIGNAL_RECEIVED:
    case DURO_EVENT_WORKFLOW_CONTINUED_AS_NEW:
    case DURO_EVENT_UPDATE_ACCEPTED:
    case DURO_EVENT_CHILD_INITIATED:
        return "input";
    case DURO_EVENT_ACTIVITY_COMPLETED:
    case DURO_EVENT_WORKFLOW_COMPLETED:
    case DURO_EVENT_UPDATE_COMPLETED:
    case DURO_EVENT_CHILD_COMPLETED:
        return "result";
    case DURO_EVENT_MARKER_RECORDED:
        return "value"; /* side effects; version markers have none */
    case DURO_EVENT_WORKFLOW_CANCELED:
        return "details";
    default:
        return NULL;
    }
}

int duro_codec_decode_event(const duro_codec *c, int type, cJSON *data,
                            char *err, size_t errsize)
{
    const char *field = payload_field(type);
    if (!field) return 0;
    return duro_codec_decode_item(c, data, field, err, errsize);
}

bool duro_codec_sealed(const cJSON *v, char *kid, size_t kidsize)
{
    static const size_t plen = sizeof(DURO_CODEC_AES_PREFIX) - 1;
    if (!cJSON_IsString(v) || !v->valuestring ||
        strncmp(v->valuestring, DURO_CODEC_AES_PREFIX, plen) != 0)
        return false;
    const char *k = v->valuestring + plen;
    const char *end = strchr(k, ':');
    if (!end || end == k || (size_t)(end - k) > DURO_CODEC_KEYID_MAX)
        return false;
    if (kid && kidsize > 0) {
        size_t n = (size_t)(end - k);
        if (n >= kidsize) n = kidsize - 1;
        memcpy(kid, k, n);
        kid[n] = '\0';
    }
    return true;
}
