/* history.c: event types and names, and decoding history list elements. */
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

/* ---- History elements ---- */

/* codes: the short names the Functions write for the event types they
 * know (docs/internals.md, "History list"), saving ~200 bytes of Redis
 * memory per 3-activity run. Decoding accepts the full name as well, so a
 * type added later may be written by its name alone. Fixed forever: a
 * stored history is read with this table. */
static const struct {
    char code[3];
    duro_event_type type;
} codes[] = {
    {"WS", DURO_EVENT_WORKFLOW_STARTED},
    {"WT", DURO_EVENT_WORKFLOW_TASK_COMPLETED},
    {"AS", DURO_EVENT_ACTIVITY_SCHEDULED},
    {"AC", DURO_EVENT_ACTIVITY_COMPLETED},
    {"AF", DURO_EVENT_ACTIVITY_FAILED},
    {"AO", DURO_EVENT_ACTIVITY_TIMED_OUT},
    {"AR", DURO_EVENT_ACTIVITY_CANCEL_REQUESTED},
    {"AX", DURO_EVENT_ACTIVITY_CANCELED},
    {"TS", DURO_EVENT_TIMER_STARTED},
    {"TF", DURO_EVENT_TIMER_FIRED},
    {"TX", DURO_EVENT_TIMER_CANCELED},
    {"SR", DURO_EVENT_SIGNAL_RECEIVED},
    {"MR", DURO_EVENT_MARKER_RECORDED},
    {"CR", DURO_EVENT_CANCEL_REQUESTED},
    {"WC", DURO_EVENT_WORKFLOW_COMPLETED},
    {"WF", DURO_EVENT_WORKFLOW_FAILED},
    {"WX", DURO_EVENT_WORKFLOW_CANCELED},
    {"WE", DURO_EVENT_WORKFLOW_TERMINATED},
    {"WO", DURO_EVENT_WORKFLOW_TIMED_OUT},
    {"WN", DURO_EVENT_WORKFLOW_CONTINUED_AS_NEW},
    {"UA", DURO_EVENT_UPDATE_ACCEPTED},
    {"UC", DURO_EVENT_UPDATE_COMPLETED},
    {"CI", DURO_EVENT_CHILD_INITIATED},
    {"CS", DURO_EVENT_CHILD_STARTED},
    {"CN", DURO_EVENT_CHILD_START_FAILED},
    {"CC", DURO_EVENT_CHILD_COMPLETED},
    {"CF", DURO_EVENT_CHILD_FAILED},
    {"CX", DURO_EVENT_CHILD_CANCELED},
    {"CT", DURO_EVENT_CHILD_TERMINATED},
    {"CO", DURO_EVENT_CHILD_TIMED_OUT},
    {"ES", DURO_EVENT_EXTERNAL_SIGNAL_INITIATED},
    {"ED", DURO_EVENT_EXTERNAL_SIGNALED},
    {"EF", DURO_EVENT_EXTERNAL_SIGNAL_FAILED},
    {"EC", DURO_EVENT_EXTERNAL_CANCEL_INITIATED},
    {"EA", DURO_EVENT_EXTERNAL_CANCEL_REQUESTED},
    {"EN", DURO_EVENT_EXTERNAL_CANCEL_FAILED},
};

/* stored_type: the type of a stored element's first part (code or name). */
static duro_event_type stored_type(const char *s, size_t len)
{
    if (len == 2)
        for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
            if (memcmp(codes[i].code, s, 2) == 0) return codes[i].type;
    return duro_event_type_of(s, len);
}

const char *duro_event_code(duro_event_type t)
{
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (codes[i].type == t) return codes[i].code;
    return duro_event_name(t);
}

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

int duro_event_decode(const char *s, size_t len, int64_t id, duro_event *out,
                      char *err, size_t errsize)
{
    memset(out, 0, sizeof(*out));
    if (!s) return bad(err, errsize, -1, "not a string");
    if (id < 1) return bad(err, errsize, -1, "event ids start at 1");
    const char *nl1 = memchr(s, '\n', len);
    const char *nl2 =
        nl1 ? memchr(nl1 + 1, '\n', len - (size_t)(nl1 + 1 - s)) : NULL;
    if (!nl2) return bad(err, errsize, id, "not \"type\\nts\\ndata\"");
    duro_event_type t = stored_type(s, (size_t)(nl1 - s));
    if (t == DURO_EVENT_UNKNOWN) return bad(err, errsize, id, "unknown type");
    int64_t when;
    if (parse_i64(nl1 + 1, (size_t)(nl2 - nl1 - 1), &when))
        return bad(err, errsize, id, "ts is not an integer");
    const char *data = nl2 + 1;
    size_t dlen = len - (size_t)(data - s);
    cJSON *json;
    char jerr[96];
    int jrc =
        duro_json_parse(data, dlen, (size_t)-1, &json, jerr, sizeof(jerr));
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

int duro_event_decode_reply(const redisReply *elem, int64_t id, duro_event *out,
                            char *err, size_t errsize)
{
    if (!duro__reply_str(elem)) {
        memset(out, 0, sizeof(*out));
        return bad(err, errsize, id, "not a string");
    }
    return duro_event_decode(elem->str, (size_t)elem->len, id, out, err,
                             errsize);
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
