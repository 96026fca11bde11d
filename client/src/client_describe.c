/* client_describe.c: a workflow's state as JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "client_vis.h"
#include "duro/pa_record.h"

/* ---- Describe ---- */

static const char *hstr(const redisReply *h, const char *name)
{
    return duro__reply_str(duro__reply_kv(h, name));
}

static int64_t hint(const redisReply *h, const char *name, int64_t def)
{
    int64_t v;
    return duro__parse_i64(hstr(h, name), &v) ? v : def;
}

/* add_json adds field `name` of h parsed as JSON (null when absent). */
static void add_json(cJSON *o, const char *as, const redisReply *h,
                     const char *name)
{
    const redisReply *v = duro__reply_kv(h, name);
    const char *s = duro__reply_str(v);
    cJSON_AddItemToObject(o, as, duro__json_value(s, s ? v->len : 0));
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

/* pa_seqs collects the distinct activity seqs of the pending-activity hash
 * (fields "<seq>" and "<seq>.s", or "<seq>.<name>" in the layout of
 * library 27 and older), sorted, into *out (caller frees) and their count
 * into *count. Returns 0 or DURO_ENOMEM. */
static int pa_seqs(const redisReply *pa, long long **out, size_t *count)
{
    size_t n = 0;
    long long *seqs = malloc((pa->elements / 2 + 1) * sizeof(*seqs));
    *out = seqs;
    *count = 0;
    if (!seqs) return DURO_ENOMEM;
    for (size_t i = 0; i + 1 < pa->elements; i += 2) {
        const char *k = duro__reply_str(pa->element[i]);
        const char *dot = k ? strchr(k, '.') : NULL;
        if (k && !dot) dot = k + strlen(k); /* "<seq>": a state record */
        if (!dot || dot == k || dot - k > 18) continue;
        char num[20];
        memcpy(num, k, (size_t)(dot - k));
        num[dot - k] = '\0';
        int64_t seq;
        if (!duro__parse_i64(num, &seq) || seq < 0) continue;
        bool seen = false;
        for (size_t j = 0; j < n && !seen; j++)
            seen = seqs[j] == seq;
        if (!seen) seqs[n++] = seq;
    }
    qsort(seqs, n, sizeof(*seqs), cmp_ll);
    *count = n;
    return 0;
}

/* part_dup: a record's part as a C string (caller frees), or NULL. */
static char *part_dup(duro_pa_part p)
{
    char *t = malloc(p.len + 1);
    if (!t) return NULL;
    memcpy(t, p.s, p.len);
    t[p.len] = '\0';
    return t;
}

static int64_t part_i64(duro_pa_part p)
{
    char num[24];
    int64_t v;
    snprintf(num, sizeof(num), "%.*s", (int)(p.len < 20 ? p.len : 20), p.s);
    return duro__parse_i64(num, &v) ? v : 0;
}

/* packed_activity fills o from the records "<seq>" (state) and "<seq>.s"
 * (schedule, for the name). Returns 1, 0 when the state record is absent
 * (then the fields of library 27 and older are read), or DURO_EPROTO when
 * a record is there and damaged: shown as absent it would say "no name,
 * attempt 0, in backoff", which is not what Redis holds. */
static int packed_activity(cJSON *o, const redisReply *pa, long long seq)
{
    char f[48];
    snprintf(f, sizeof(f), "%lld", seq);
    const redisReply *r = duro__reply_kv(pa, f);
    duro_pa_state st;
    if (!duro__reply_str(r)) return 0;
    if (!duro_pa_state_parse(r->str, r->len, &st)) return DURO_EPROTO;
    snprintf(f, sizeof(f), "%lld.s", seq);
    r = duro__reply_kv(pa, f);
    duro_pa_sched sc;
    bool sched = duro__reply_str(r) != NULL;
    if (sched && !duro_pa_sched_parse(r->str, r->len, &sc)) return DURO_EPROTO;
    char *name = sched ? part_dup(sc.name) : NULL;
    if (name)
        cJSON_AddStringToObject(o, "name", name);
    else
        cJSON_AddNullToObject(o, "name");
    free(name);
    cJSON_AddNumberToObject(o, "attempt", (double)part_i64(st.attempt));
    /* a lease (eager dispatch): started by the worker that committed it */
    cJSON_AddStringToObject(o, "state",
                            !st.entry.len          ? "backoff"
                            : st.entry.s[0] == 'L' ? "started"
                                                   : "scheduled");
    /* the failure ends the record: NUL-terminated there */
    cJSON_AddItemToObject(o, "lastFailure",
                          duro__json_value(st.failure.s, st.failure.len));
    duro__add_time(o, "lastHeartbeat", part_i64(st.hb));
    return 1;
}

/* pending_activity: activity seq as describe shows it into *out, from its
 * records or else the fields of library 27 and older; 0, DURO_EPROTO (a
 * damaged record) or DURO_ENOMEM. */
static int pending_activity(const redisReply *pa, long long seq, cJSON **out)
{
    char f[48];
    cJSON *o = *out = cJSON_CreateObject();
    if (!o) return DURO_ENOMEM;
    cJSON_AddNumberToObject(o, "seq", (double)seq);
    int packed = packed_activity(o, pa, seq);
    if (packed != 0) return packed < 0 ? packed : 0;
    snprintf(f, sizeof(f), "%lld.name", seq);
    const char *name = hstr(pa, f);
    if (name)
        cJSON_AddStringToObject(o, "name", name);
    else
        cJSON_AddNullToObject(o, "name");
    snprintf(f, sizeof(f), "%lld.attempt", seq);
    cJSON_AddNumberToObject(o, "attempt", (double)hint(pa, f, 0));
    snprintf(f, sizeof(f), "%lld.entry", seq);
    const char *entry = hstr(pa, f);
    cJSON_AddStringToObject(o, "state",
                            !entry || !*entry            ? "backoff"
                            : duro_entry_is_lease(entry) ? "started"
                                                         : "scheduled");
    snprintf(f, sizeof(f), "%lld.failure", seq);
    add_json(o, "lastFailure", pa, f);
    snprintf(f, sizeof(f), "%lld.hb", seq);
    duro__add_time(o, "lastHeartbeat", hint(pa, f, 0));
    return 0;
}

/* pending_activities: the array for describe into *out, from pa (the
 * HGETALL of the pending-activity hash); 0, or fails c with the damaged
 * activity named (DURO_EPROTO), Redis' refusal (a key of another type),
 * or DURO_ENOMEM. */
static int pending_activities(duro_client *c, const char *id,
                              const redisReply *pa, cJSON **out)
{
    *out = NULL;
    if (pa->type == REDIS_REPLY_ERROR) {
        int code = duro_redis_error_code(pa->str);
        return duro__fail(c, code ? code : DURO_EREDIS,
                          "workflow %s: its pending activities: redis: %s", id,
                          pa->str ? pa->str : "");
    }
    cJSON *arr = *out = cJSON_CreateArray();
    if (!arr) return duro__fail(c, DURO_ENOMEM, "out of memory");
    if (pa->type != REDIS_REPLY_ARRAY) return 0;
    long long *seqs;
    size_t n;
    int rc = pa_seqs(pa, &seqs, &n);
    for (size_t i = 0; i < n && rc == 0; i++) {
        cJSON *o;
        rc = pending_activity(pa, seqs[i], &o);
        cJSON_AddItemToArray(arr, o);
        if (rc == DURO_EPROTO)
            rc = duro__fail(c, rc,
                            "workflow %s: activity %lld: damaged "
                            "pending-activity record",
                            id, seqs[i]);
    }
    free(seqs);
    if (rc == DURO_ENOMEM) rc = duro__fail(c, rc, "out of memory");
    if (rc < 0) {
        cJSON_Delete(arr);
        *out = NULL;
    }
    return rc;
}

static cJSON *workflow_task(const redisReply *h)
{
    cJSON *o = cJSON_CreateObject();
    const char *wft = hstr(h, "wft");
    cJSON_AddBoolToObject(o, "pending", wft && strcmp(wft, "1") == 0);
    cJSON_AddNumberToObject(o, "attempt", (double)hint(h, "wft_attempt", 0));
    const char *e = hstr(h, "wft_error");
    if (e && *e)
        cJSON_AddStringToObject(o, "lastError", e);
    else
        cJSON_AddNullToObject(o, "lastError");
    return o;
}

/* add_reset_links adds "resetFrom" {"runId","eventId","reason"} when the
 * run was made by a reset (hash field reset_from "<run> <event>"), and
 * "resetRuns" [{"runId","resetRunId"}] for each run of the id that was
 * reset (fields "reset:<run>"). */
static void add_reset_links(cJSON *o, const redisReply *h)
{
    const char *from = hstr(h, "reset_from");
    const char *sp = from ? strchr(from, ' ') : NULL;
    if (sp) {
        char run[DURO_UUID_LEN + 1];
        snprintf(run, sizeof(run), "%.*s", (int)(sp - from), from);
        cJSON *f = cJSON_AddObjectToObject(o, "resetFrom");
        cJSON_AddStringToObject(f, "runId", run);
        cJSON_AddNumberToObject(f, "eventId", strtod(sp + 1, NULL));
        const char *why = hstr(h, "reset_reason");
        cJSON_AddStringToObject(f, "reason", why ? why : "");
    }
    cJSON *runs = NULL;
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        const char *k = duro__reply_str(h->element[i]);
        const char *v = duro__reply_str(h->element[i + 1]);
        if (!k || !v || strncmp(k, "reset:", 6) != 0) continue;
        if (!runs) runs = cJSON_AddArrayToObject(o, "resetRuns");
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "runId", k + 6);
        cJSON_AddStringToObject(r, "resetRunId", v);
        cJSON_AddItemToArray(runs, r);
    }
}

/* describe_object: the describe of hash h with its pending activities
 * acts (taken, freed on failure), or NULL when out of memory. */
static cJSON *describe_object(duro_client *c, const char *id,
                              const redisReply *h, cJSON *acts)
{
    const char *status = hstr(h, "status");
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        cJSON_Delete(acts);
        return NULL;
    }
    cJSON_AddStringToObject(o, "workflowId", id);
    cJSON_AddStringToObject(o, "runId", hstr(h, "run"));
    cJSON_AddStringToObject(o, "type", hstr(h, "type") ? hstr(h, "type") : "");
    cJSON_AddStringToObject(o, "taskQueue",
                            hstr(h, "queue") ? hstr(h, "queue") : "");
    cJSON_AddStringToObject(o, "status", status);
    duro__add_time(o, "startTime", hint(h, "start_ms", 0));
    duro__add_time(o, "closeTime", hint(h, "close_ms", 0));
    cJSON_AddNumberToObject(o, "historyLength", (double)hint(h, "hlen", 0));
    add_json(o, "input", h, "input");
    if (strcmp(status, "COMPLETED") == 0)
        add_json(o, "result", h, "result");
    else if (strcmp(status, "RUNNING") != 0)
        add_json(o, "failure", h, "failure");
    duro__unseal(c, o, "input");
    duro__unseal(c, o, "result");
    cJSON_AddItemToObject(o, "workflowTask", workflow_task(h));
    add_reset_links(o, h);
    if (hstr(h, "continued_from"))
        cJSON_AddStringToObject(o, "continuedFromRunId",
                                hstr(h, "continued_from"));
    /* only a run started with them (docs/internals.md, "Priorities") */
    if (hstr(h, "priority"))
        cJSON_AddNumberToObject(o, "priority", (double)hint(h, "priority", 3));
    if (hstr(h, "fkey")) {
        cJSON_AddStringToObject(o, "fairnessKey", hstr(h, "fkey"));
        cJSON_AddNumberToObject(o, "fairnessWeight",
                                (double)hint(h, "fweight", 1));
    }
    duro__describe_family(o, h);
    if (!cJSON_AddItemToObject(o, "pendingActivities", acts)) {
        cJSON_Delete(acts);
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* HGETALL wf, HGETALL pa (one round trip) */
int duro_client_describe(duro_client *c, const char *workflow_id, cJSON **out)
{
    *out = NULL;
    char why[256];
    if (duro_id_check(workflow_id, why, sizeof(why)) < 0)
        return duro__fail(c, DURO_EINVAL, "%s", why);
    duro_wf_keys k;
    duro_wf_keys_init(&k, duro__ks(c), workflow_id, NULL);
    duro_argv cmds[2];
    for (int i = 0; i < 2; i++) {
        duro_argv_init(&cmds[i]);
        duro_argv_push(&cmds[i], "HGETALL");
    }
    duro_argv_push(&cmds[0], k.wf);
    duro_argv_push(&cmds[1], k.pa);
    redisReply *r[2];
    int rc = duro__pipeline(c, cmds, 2, r);
    duro_argv_free(&cmds[0]);
    duro_argv_free(&cmds[1]);
    if (rc < 0) return rc;
    const redisReply *h = r[0];
    cJSON *acts = NULL;
    if (h->type == REDIS_REPLY_ERROR)
        rc = duro__fail(c, DURO_EREDIS, "redis: %s", h->str ? h->str : "");
    else if (h->type != REDIS_REPLY_ARRAY || h->elements == 0)
        rc =
            duro__fail(c, DURO_ENOTFOUND, "workflow %s not found", workflow_id);
    else if (!hstr(h, "status") || duro__check_run(hstr(h, "run")) < 0)
        rc = duro__fail(c, DURO_EPROTO,
                        "workflow %s: its hash lacks a valid status or run",
                        workflow_id);
    else if ((rc = pending_activities(c, workflow_id, r[1], &acts)) == 0 &&
             !(*out = describe_object(c, workflow_id, h, acts)))
        rc = duro__fail(c, DURO_ENOMEM, "out of memory");
    if (*out &&
        (rc = duro__vis_describe(c, k.partition, hstr(h, "run"), *out))) {
        cJSON_Delete(*out);
        *out = NULL;
    }
    freeReplyObject(r[0]);
    freeReplyObject(r[1]);
    return rc;
}
