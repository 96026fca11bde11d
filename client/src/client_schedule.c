/* client_schedule.c: schedules: create, update, pause, trigger, backfill,
 * delete, describe, list (docs/internals.md "Schedules"). The client
 * computes a schedule's first time (cron.h) against Redis' clock; the
 * scheduler fires it (scheduler/src/schedules.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client_int.h"
#include "duro/clock.h"
#include "duro/cron.h"
#include "duro/duration.h"
#include "duro/json.h"

#define DEFAULT_CATCHUP_MS (365LL * 86400 * 1000)
#define NEXT_SHOWN 5

static const char *const OVERLAP[] = {"Skip",           "BufferOne",
                                      "BufferAll",      "CancelOther",
                                      "TerminateOther", "AllowAll"};

/* overlap_name: the canonical spelling of policy `s` (NULL: Skip), or
 * NULL when it is none. */
static const char *overlap_name(const char *s)
{
    if (!s || !*s) return "Skip";
    for (size_t i = 0; i < sizeof(OVERLAP) / sizeof(OVERLAP[0]); i++)
        if (strcasecmp(s, OVERLAP[i]) == 0) return OVERLAP[i];
    return NULL;
}

/* redis_now: Redis' clock (the one the scheduler fires by), in ms; a
 * test clock's time while one is set (clock.h). */
static int redis_now(duro_client *c, int64_t *now)
{
    if (duro_clock_is_set()) {
        *now = duro_now_ms();
        return 0;
    }
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "TIME");
    int rc;
    redisReply *r = duro__call(c, &a, false, &rc);
    duro_argv_free(&a);
    if (!r) return rc;
    long long s, us;
    rc = r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
                 duro__reply_int(r->element[0], &s) &&
                 duro__reply_int(r->element[1], &us)
             ? 0
             : duro__fail(c, DURO_EPROTO, "TIME: unexpected reply");
    if (rc == 0) *now = s * 1000 + us / 1000;
    freeReplyObject(r);
    return rc;
}

/* fcall_result turns a Function's reply into 0 or a DURO_E* with the
 * message set. */
static int fcall_result(duro_client *c, redisReply *r, int rc, const char *id)
{
    if (!r) return rc;
    if (r->type == REDIS_REPLY_ERROR) {
        rc = duro_redis_error_code(r->str);
        if (rc == DURO_ENOTFOUND)
            duro__fail(c, rc, "schedule %s not found", id);
        else if (rc == DURO_EALREADY)
            duro__fail(c, rc, "schedule %s already exists", id);
        else
            duro__fail(c, rc, "redis: %.400s", r->str);
    } else {
        rc = 0;
    }
    freeReplyObject(r);
    return rc;
}

/* ---- Create and update ---- */

static int check_opts(duro_client *c, const duro_schedule_opts *o,
                      duro_spec *spec)
{
    char why[256];
    if (!o || !o->schedule_id)
        return duro__fail(c, DURO_EINVAL, "schedule id is required");
    const char *base = o->workflow_id_prefix && *o->workflow_id_prefix
                           ? o->workflow_id_prefix
                           : o->schedule_id;
    if (duro_id_check_input(o->schedule_id, why, sizeof(why)) < 0 ||
        duro_id_check_input(base, why, sizeof(why)) < 0 ||
        duro_name_check("workflow type", o->type, why, sizeof(why)) < 0 ||
        duro_name_check("task queue", o->task_queue, why, sizeof(why)) < 0)
        return duro__fail(c, DURO_EINVAL, "%s", why);
    if (strlen(base) + 1 + DURO_RFC3339_LEN > DURO_ID_MAX)
        return duro__fail(c, DURO_EINVAL,
                          "the workflow id prefix (or schedule id) leaves no "
                          "room for the time in workflow ids (at most %d "
                          "bytes)",
                          DURO_ID_MAX - 1 - DURO_RFC3339_LEN);
    if (!overlap_name(o->overlap_policy))
        return duro__fail(c, DURO_EINVAL,
                          "overlap policy %s is not one of Skip, BufferOne, "
                          "BufferAll, CancelOther, TerminateOther, AllowAll",
                          o->overlap_policy);
    if (o->jitter_ms < 0 || o->catchup_window_ms < 0)
        return duro__fail(c, DURO_EINVAL, "negative jitter or catch-up window");
    const char *in = o->input ? o->input : "null";
    cJSON *parsed = NULL;
    int rc = duro_json_parse_input(in, strlen(in), DURO_DEFAULT_MAX_PAYLOAD,
                                   &parsed, why, sizeof(why));
    if (rc < 0) return duro__fail(c, rc, "input: %s", why);
    cJSON_Delete(parsed);
    if ((o->cron && *o->cron) == (o->interval_ms > 0))
        return duro__fail(c, DURO_EINVAL,
                          "give either a cron expression or an interval");
    if (o->cron && *o->cron) {
        rc = duro_spec_cron(spec, o->cron, o->time_zone, why, sizeof(why));
    } else {
        if (o->time_zone && *o->time_zone)
            return duro__fail(c, DURO_EINVAL,
                              "a time zone applies to cron schedules only");
        rc = duro_spec_interval(spec, o->interval_ms, o->offset_ms, why,
                                sizeof(why));
    }
    if (rc) {
        duro_spec_close(spec);
        return duro__fail(c, rc == DURO_ENOTFOUND ? DURO_EINVAL : rc, "%s",
                          why);
    }
    return 0;
}

static int upsert(duro_client *c, const duro_schedule_opts *o, const char *mode)
{
    duro_spec spec;
    int rc = check_opts(c, o, &spec);
    if (rc) return rc;
    int64_t now = 0;
    char *input = NULL;
    if ((rc = redis_now(c, &now)) == 0)
        rc = duro__seal(c, o->input ? o->input : "null", &input);
    int64_t next = rc ? -1 : duro_spec_next(&spec, now);
    duro_spec_close(&spec);
    if (rc) return rc;
    if (next < 0)
        return duro__fail(c, DURO_EINVAL,
                          "the cron expression never matches a date");
    duro_sched_keys k;
    duro_sched_keys_init(&k, duro__ks(c), o->schedule_id);
    const char *keys[] = {k.sched, k.acts, k.req, k.timers, k.index};
    duro_argv a;
    duro_argv_fcall(&a, "duro_sched_upsert", 5, keys);
    duro_argv_push(&a, o->schedule_id);
    duro_argv_push(&a, mode);
    if (o->paused)
        duro_argv_push(&a, "-");
    else
        duro_argv_pushll(
            &a, next + duro_spec_jitter(o->schedule_id, next, o->jitter_ms));
#define KV(key, value)                                                         \
    do {                                                                       \
        duro_argv_push(&a, key);                                               \
        duro_argv_push(&a, value);                                             \
    } while (0)
#define KVLL(key, value)                                                       \
    do {                                                                       \
        duro_argv_push(&a, key);                                               \
        duro_argv_pushll(&a, value);                                           \
    } while (0)
    KV("cron", o->cron ? o->cron : "");
    KV("tz", o->time_zone ? o->time_zone : "");
    KVLL("interval_ms", o->cron && *o->cron ? 0 : o->interval_ms);
    KVLL("offset_ms", o->cron && *o->cron ? 0 : o->offset_ms);
    KVLL("jitter_ms", o->jitter_ms);
    KV("overlap", overlap_name(o->overlap_policy));
    KVLL("catchup_ms",
         o->catchup_window_ms > 0 ? o->catchup_window_ms : DEFAULT_CATCHUP_MS);
    KV("paused", o->paused ? "1" : "0");
    KV("note", o->note ? o->note : "");
    KV("type", o->type);
    KV("queue", o->task_queue);
    KV("input", input);
    KV("prefix", o->workflow_id_prefix ? o->workflow_id_prefix : "");
    KVLL("next_nominal", next);
#undef KV
#undef KVLL
    redisReply *r = duro__call(c, &a, true, &rc);
    duro_argv_free(&a);
    free(input);
    return fcall_result(c, r, rc, o->schedule_id);
}

int duro_client_schedule_create(duro_client *c, const duro_schedule_opts *o)
{
    return upsert(c, o, "create");
}

int duro_client_schedule_update(duro_client *c, const duro_schedule_opts *o)
{
    return upsert(c, o, "update");
}

/* ---- Reading a schedule ---- */

static const char *hfield(const redisReply *h, const char *name)
{
    for (size_t i = 0; i + 1 < h->elements; i += 2)
        if (duro__reply_str(h->element[i]) &&
            strcmp(h->element[i]->str, name) == 0 &&
            duro__reply_str(h->element[i + 1]))
            return h->element[i + 1]->str;
    return "";
}

static long long hll(const redisReply *h, const char *name)
{
    return strtoll(hfield(h, name), NULL, 10);
}

/* read_sched: HGETALL of the schedule's hash into *h (freeReplyObject);
 * DURO_ENOTFOUND when absent. */
static int read_sched(duro_client *c, const duro_sched_keys *k, const char *id,
                      redisReply **h)
{
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "HGETALL");
    duro_argv_push(&a, k->sched);
    int rc;
    *h = duro__call(c, &a, false, &rc);
    duro_argv_free(&a);
    if (!*h) return rc;
    if ((*h)->type != REDIS_REPLY_ARRAY || (*h)->elements == 0) {
        freeReplyObject(*h);
        *h = NULL;
        return duro__fail(c, DURO_ENOTFOUND, "schedule %s not found", id);
    }
    return 0;
}

static int spec_of(duro_client *c, const redisReply *h, duro_spec *spec)
{
    char why[160];
    const char *cron = hfield(h, "cron");
    int rc = *cron
                 ? duro_spec_cron(spec, cron, hfield(h, "tz"), why, sizeof(why))
                 : duro_spec_interval(spec, hll(h, "interval_ms"),
                                      hll(h, "offset_ms"), why, sizeof(why));
    if (rc) return duro__fail(c, DURO_EPROTO, "stored spec: %s", why);
    return 0;
}

/* ---- Pause, trigger, backfill, delete ---- */

int duro_client_schedule_pause(duro_client *c, const char *id, bool paused,
                               const char *note)
{
    char why[256];
    if (!id || duro_id_check(id, why, sizeof(why)) < 0)
        return duro__fail(c, DURO_EINVAL, "%s", id ? why : "no schedule id");
    duro_sched_keys k;
    duro_sched_keys_init(&k, duro__ks(c), id);
    int64_t next = -1, due = -1, now;
    int rc = 0;
    if (!paused) { /* from now on: the times passed while paused are gone */
        redisReply *h;
        duro_spec spec;
        if ((rc = read_sched(c, &k, id, &h))) return rc;
        rc = spec_of(c, h, &spec);
        if (rc == 0 && (rc = redis_now(c, &now)) == 0) {
            next = duro_spec_next(&spec, now);
            due = next < 0
                      ? -1
                      : next + duro_spec_jitter(id, next, hll(h, "jitter_ms"));
        }
        if (rc == 0) duro_spec_close(&spec);
        freeReplyObject(h);
        if (rc) return rc;
    }
    const char *keys[] = {k.sched, k.timers};
    duro_argv a;
    duro_argv_fcall(&a, "duro_sched_pause", 2, keys);
    duro_argv_push(&a, id);
    duro_argv_push(&a, paused ? "1" : "0");
    duro_argv_push(&a, note ? note : "");
    duro_argv_pushll(&a, next);
    if (due < 0)
        duro_argv_push(&a, "-");
    else
        duro_argv_pushll(&a, due);
    redisReply *r = duro__call(c, &a, true, &rc);
    duro_argv_free(&a);
    return fcall_result(c, r, rc, id);
}

static int request(duro_client *c, const char *id, const char *kind,
                   int64_t start_ms, int64_t end_ms)
{
    char why[256];
    if (!id || duro_id_check(id, why, sizeof(why)) < 0)
        return duro__fail(c, DURO_EINVAL, "%s", id ? why : "no schedule id");
    duro_sched_keys k;
    duro_sched_keys_init(&k, duro__ks(c), id);
    const char *keys[] = {k.sched, k.req, k.timers};
    duro_argv a;
    duro_argv_fcall(&a, "duro_sched_request", 3, keys);
    duro_argv_push(&a, id);
    duro_argv_push(&a, kind);
    if (strcmp(kind, "backfill") == 0) {
        duro_argv_pushll(&a, start_ms);
        duro_argv_pushll(&a, end_ms);
    }
    int rc;
    redisReply *r = duro__call(c, &a, true, &rc);
    duro_argv_free(&a);
    return fcall_result(c, r, rc, id);
}

int duro_client_schedule_trigger(duro_client *c, const char *id)
{
    return request(c, id, "trigger", 0, 0);
}

int duro_client_schedule_backfill(duro_client *c, const char *id,
                                  int64_t start_ms, int64_t end_ms)
{
    if (end_ms < start_ms)
        return duro__fail(c, DURO_EINVAL, "the end time is before the start");
    return request(c, id, "backfill", start_ms, end_ms);
}

int duro_client_schedule_delete(duro_client *c, const char *id)
{
    char why[256];
    if (!id || duro_id_check(id, why, sizeof(why)) < 0)
        return duro__fail(c, DURO_EINVAL, "%s", id ? why : "no schedule id");
    duro_sched_keys k;
    duro_sched_keys_init(&k, duro__ks(c), id);
    const char *keys[] = {k.sched, k.acts, k.req, k.timers, k.index};
    duro_argv a;
    duro_argv_fcall(&a, "duro_sched_delete", 5, keys);
    duro_argv_push(&a, id);
    int rc;
    redisReply *r = duro__call(c, &a, true, &rc);
    duro_argv_free(&a);
    return fcall_result(c, r, rc, id);
}

/* ---- Describe and list ---- */

static void add_time(cJSON *o, const char *name, int64_t ms)
{
    char t[DURO_RFC3339_LEN];
    if (ms > 0)
        cJSON_AddStringToObject(o, name, duro_rfc3339(ms, t, sizeof(t)));
    else
        cJSON_AddNullToObject(o, name);
}

static cJSON *spec_json(const redisReply *h)
{
    cJSON *s = cJSON_CreateObject();
    char d[64];
    if (*hfield(h, "cron")) {
        cJSON_AddStringToObject(s, "cron", hfield(h, "cron"));
        cJSON_AddStringToObject(s, "timeZone",
                                *hfield(h, "tz") ? hfield(h, "tz") : "UTC");
    } else {
        cJSON_AddStringToObject(
            s, "interval", duro_duration_format(hll(h, "interval_ms"), d, 64));
        cJSON_AddStringToObject(
            s, "offset", duro_duration_format(hll(h, "offset_ms"), d, 64));
    }
    cJSON_AddStringToObject(s, "jitter",
                            duro_duration_format(hll(h, "jitter_ms"), d, 64));
    return s;
}

/* next_times: the next n nominal times from the stored next one; from
 * now while paused (the stored one stays where the pause left it, and an
 * unpause starts from now: times before are never taken). */
static cJSON *next_times(duro_client *c, const redisReply *h, int n)
{
    cJSON *arr = cJSON_CreateArray();
    duro_spec spec;
    if (spec_of(c, h, &spec)) return arr;
    int64_t t = hll(h, "next_nominal"), now;
    if (hll(h, "paused") == 1 && redis_now(c, &now) == 0)
        t = duro_spec_next(&spec, now);
    for (int i = 0; i < n && t > 0; i++, t = duro_spec_next(&spec, t)) {
        char s[DURO_RFC3339_LEN];
        cJSON_AddItemToArray(arr,
                             cJSON_CreateString(duro_rfc3339(t, s, sizeof(s))));
    }
    duro_spec_close(&spec);
    return arr;
}

/* add_outcome adds the workflow's status (and result or failure) to an
 * action, if it is still the run the action started. */
static void add_outcome(duro_client *c, cJSON *act)
{
    const char *id =
        cJSON_GetStringValue(cJSON_GetObjectItem(act, "workflowId"));
    const char *run = cJSON_GetStringValue(cJSON_GetObjectItem(act, "runId"));
    if (!id || !run) return;
    duro_wf_keys k;
    duro_wf_keys_init(&k, duro__ks(c), id, NULL);
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "HMGET");
    duro_argv_push(&a, k.wf);
    duro_argv_push(&a, "run");
    duro_argv_push(&a, "status");
    duro_argv_push(&a, "result");
    duro_argv_push(&a, "failure");
    int rc;
    redisReply *r = duro__call(c, &a, false, &rc);
    duro_argv_free(&a);
    if (!r) return;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 4 &&
        duro__reply_str(r->element[0]) &&
        strcmp(r->element[0]->str, run) == 0 &&
        duro__reply_str(r->element[1])) {
        cJSON_AddStringToObject(act, "status", r->element[1]->str);
        for (int i = 2; i < 4; i++) {
            if (!duro__reply_str(r->element[i])) continue;
            cJSON *v = cJSON_Parse(r->element[i]->str);
            if (v) cJSON_AddItemToObject(act, i == 2 ? "result" : "failure", v);
        }
        duro__unseal(c, act, "result"); /* as describe and result do */
    } else {
        cJSON_AddStringToObject(act, "status", "UNKNOWN"); /* gone, reused */
    }
    freeReplyObject(r);
}

static cJSON *recent_actions(duro_client *c, const duro_sched_keys *k)
{
    cJSON *arr = cJSON_CreateArray();
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "LRANGE");
    duro_argv_push(&a, k->acts);
    duro_argv_push(&a, "0");
    duro_argv_push(&a, "9");
    int rc;
    redisReply *r = duro__call(c, &a, false, &rc);
    duro_argv_free(&a);
    if (!r) return arr;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        if (!duro__reply_str(r->element[i])) continue;
        cJSON *act = cJSON_Parse(r->element[i]->str);
        if (!act) continue;
        add_outcome(c, act);
        cJSON_AddItemToArray(arr, act);
    }
    freeReplyObject(r);
    return arr;
}

static int count_words(const char *s)
{
    int n = 0;
    for (const char *p = s; *p;) {
        while (*p == ' ')
            p++;
        if (!*p) break;
        n++;
        while (*p && *p != ' ')
            p++;
    }
    return n;
}

int duro_client_schedule_describe(duro_client *c, const char *id, cJSON **out)
{
    char why[256];
    *out = NULL;
    if (!id || duro_id_check(id, why, sizeof(why)) < 0)
        return duro__fail(c, DURO_EINVAL, "%s", id ? why : "no schedule id");
    duro_sched_keys k;
    duro_sched_keys_init(&k, duro__ks(c), id);
    redisReply *h;
    int rc = read_sched(c, &k, id, &h);
    if (rc) return rc;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "scheduleId", id);
    cJSON_AddItemToObject(o, "spec", spec_json(h));
    cJSON *act = cJSON_AddObjectToObject(o, "action");
    cJSON_AddStringToObject(act, "type", hfield(h, "type"));
    cJSON_AddStringToObject(act, "taskQueue", hfield(h, "queue"));
    cJSON *in = cJSON_Parse(hfield(h, "input"));
    cJSON_AddItemToObject(act, "input", in ? in : cJSON_CreateNull());
    duro__unseal(c, act, "input");
    cJSON_AddStringToObject(act, "workflowIdPrefix",
                            *hfield(h, "prefix") ? hfield(h, "prefix") : id);
    cJSON *pol = cJSON_AddObjectToObject(o, "policies");
    char d[64];
    cJSON_AddStringToObject(pol, "overlap", hfield(h, "overlap"));
    cJSON_AddStringToObject(pol, "catchupWindow",
                            duro_duration_format(hll(h, "catchup_ms"), d, 64));
    cJSON *st = cJSON_AddObjectToObject(o, "state");
    cJSON_AddBoolToObject(st, "paused", hll(h, "paused") == 1);
    cJSON_AddStringToObject(st, "note", hfield(h, "note"));
    cJSON_AddNumberToObject(st, "actions", (double)hll(h, "actions"));
    cJSON_AddNumberToObject(st, "missed", (double)hll(h, "missed"));
    cJSON_AddNumberToObject(st, "skipped", (double)hll(h, "skipped"));
    cJSON_AddNumberToObject(st, "buffered", count_words(hfield(h, "buffer")));
    cJSON_AddNumberToObject(st, "running", count_words(hfield(h, "running")));
    add_time(st, "createdAt", hll(h, "created_ms"));
    add_time(st, "updatedAt", hll(h, "updated_ms"));
    add_time(st, "lastFireAt", hll(h, "last_fire_ms"));
    cJSON_AddItemToObject(o, "nextTimes", next_times(c, h, NEXT_SHOWN));
    cJSON_AddItemToObject(o, "recentActions", recent_actions(c, &k));
    freeReplyObject(h);
    *out = o;
    return 0;
}

static int list_partition(duro_client *c, int p, cJSON *arr)
{
    char key[DURO_SHORT_KEY_MAX];
    duro_key_sched_index(key, sizeof(key), duro__ks(c), p);
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "SMEMBERS");
    duro_argv_push(&a, key);
    int rc;
    redisReply *ids = duro__call(c, &a, false, &rc);
    duro_argv_free(&a);
    if (!ids) return rc;
    for (size_t i = 0; ids->type == REDIS_REPLY_ARRAY && i < ids->elements;
         i++) {
        if (!duro__reply_str(ids->element[i])) continue;
        const char *id = ids->element[i]->str;
        duro_sched_keys k;
        duro_sched_keys_init(&k, duro__ks(c), id);
        redisReply *h;
        if (read_sched(c, &k, id, &h)) continue; /* deleted meanwhile */
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "scheduleId", id);
        cJSON_AddItemToObject(o, "spec", spec_json(h));
        cJSON_AddStringToObject(o, "type", hfield(h, "type"));
        cJSON_AddStringToObject(o, "taskQueue", hfield(h, "queue"));
        cJSON_AddBoolToObject(o, "paused", hll(h, "paused") == 1);
        if (hll(h, "paused") == 1) { /* from now, as describe's */
            cJSON *t = next_times(c, h, 1);
            cJSON *first = cJSON_DetachItemFromArray(t, 0);
            cJSON_AddItemToObject(o, "nextTime",
                                  first ? first : cJSON_CreateNull());
            cJSON_Delete(t);
        } else {
            add_time(o, "nextTime", hll(h, "next_nominal"));
        }
        cJSON_AddItemToArray(arr, o);
        freeReplyObject(h);
    }
    freeReplyObject(ids);
    return 0;
}

int duro_client_schedule_list(duro_client *c, cJSON **out)
{
    cJSON *arr = cJSON_CreateArray();
    int rc = 0;
    for (int p = 0; p < c->partitions && rc == 0; p++)
        rc = list_partition(c, p, arr);
    if (rc) {
        cJSON_Delete(arr);
        arr = NULL;
    }
    *out = arr;
    return rc;
}
