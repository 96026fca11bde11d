/* history.c: event types and names, and decoding history stream entries. */
#include <stdio.h>
#include <string.h>

#include "duro/errno.h"
#include "duro/history.h"
#include "duro/json.h"
#include "duro/reply.h"

/* ---- Event types ---- */

static const struct {
    const char *name;
    bool command;
} events[DURO_EVENT_COUNT] = {[DURO_EVENT_UNKNOWN] = {"Unknown", false},
#define XX(upper, nm, cmd) [DURO_EVENT_##upper] = {#nm, cmd},
                              DURO_EVENT_MAP(XX)
#undef XX
};

const char *duro_event_name(duro_event_type t)
{
    if ((int)t <= DURO_EVENT_UNKNOWN || t >= DURO_EVENT_COUNT) return "Unknown";
    return events[t].name;
}

duro_event_type duro_event_type_of(const char *name, size_t len)
{
    if (!name) return DURO_EVENT_UNKNOWN;
    for (int t = DURO_EVENT_UNKNOWN + 1; t < DURO_EVENT_COUNT; t++) {
        if (strlen(events[t].name) == len &&
            memcmp(events[t].name, name, len) == 0)
            return (duro_event_type)t;
    }
    return DURO_EVENT_UNKNOWN;
}

bool duro_event_is_command(duro_event_type t)
{
    if ((int)t <= DURO_EVENT_UNKNOWN || t >= DURO_EVENT_COUNT) return false;
    return events[t].command;
}

/* ---- Stream entries ---- */

const redisReply *duro_stream_field(const redisReply *fields, const char *name)
{
    return duro__reply_kv(fields, name);
}

/* parse_i64: all of s[0..len) as a non-negative decimal, else -1. */
static int parse_i64(const char *s, size_t len, int64_t *out)
{
    if (len == 0 || len > 18) return -1;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int bad(char *err, size_t errsize, int64_t id, const char *why)
{
    if (err && errsize) {
        if (id >= 0)
            snprintf(err, errsize, "history event %lld: %s", (long long)id,
                     why);
        else
            snprintf(err, errsize, "history entry: %s", why);
    }
    return DURO_EPROTO;
}

/* parse_id: "N-0" -> N. Events are numbered from 1. */
static int parse_id(const redisReply *r, int64_t *id)
{
    if (!duro__reply_str(r) || r->len < 3) return -1;
    const char *s = r->str;
    size_t n = (size_t)r->len;
    if (s[n - 2] != '-' || s[n - 1] != '0') return -1;
    if (parse_i64(s, n - 2, id) || *id < 1) return -1;
    return 0;
}

int duro_event_decode(const redisReply *entry, duro_event *out, char *err,
                      size_t errsize)
{
    memset(out, 0, sizeof(*out));
    if (!entry || entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 ||
        !entry->element)
        return bad(err, errsize, -1, "not an [id, fields] pair");
    int64_t id;
    if (parse_id(entry->element[0], &id))
        return bad(err, errsize, -1, "id is not \"N-0\"");
    const redisReply *fields = entry->element[1];
    if (!fields || fields->type != REDIS_REPLY_ARRAY ||
        fields->elements % 2 != 0 || (fields->elements && !fields->element))
        return bad(err, errsize, id, "fields are not field/value pairs");
    for (size_t i = 0; i < fields->elements; i++)
        if (!duro__reply_str(fields->element[i]))
            return bad(err, errsize, id, "a field or value is not a string");

    const redisReply *type = duro_stream_field(fields, "type");
    const redisReply *ts = duro_stream_field(fields, "ts");
    const redisReply *data = duro_stream_field(fields, "data");
    if (!type) return bad(err, errsize, id, "no type");
    duro_event_type t = duro_event_type_of(type->str, (size_t)type->len);
    if (t == DURO_EVENT_UNKNOWN) return bad(err, errsize, id, "unknown type");
    int64_t when;
    if (!ts || parse_i64(ts->str, (size_t)ts->len, &when))
        return bad(err, errsize, id, "ts is not an integer");
    if (!data) return bad(err, errsize, id, "no data");
    cJSON *json;
    char jerr[96];
    int jrc = duro_json_parse(data->str, (size_t)data->len, (size_t)-1, &json,
                              jerr, sizeof(jerr));
    if (jrc == DURO_ENOMEM) {
        bad(err, errsize, id, "out of memory");
        return DURO_ENOMEM;
    }
    if (jrc) {
        char why[128];
        snprintf(why, sizeof(why), "data: %s", jerr);
        return bad(err, errsize, id, why);
    }
    if (!cJSON_IsObject(json)) {
        cJSON_Delete(json);
        return bad(err, errsize, id, "data is not a JSON object");
    }
    out->id = id;
    out->type = t;
    out->ts = when;
    out->data = json;
    return 0;
}

void duro_event_free(duro_event *e)
{
    if (!e) return;
    cJSON_Delete(e->data);
    e->data = NULL;
}

int64_t duro_event_seq(const duro_event *e)
{
    if (!e || !e->data) return -1;
    return duro_json_int(e->data, "seq", -1);
}
