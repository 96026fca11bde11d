/* client_activity.c: asynchronous activity completion from outside a
 * worker: complete, fail or heartbeat an attempt whose function returned
 * duro_actx_complete_later (worker/src/sdk_async.c).
 *
 * The attempt is named by its task token, or by workflow id + activity
 * id (the activity's seq in the run). A token names one attempt: when
 * that attempt timed out and a retry was scheduled, its completion is
 * refused (DURO_ESTALE), as a late worker's would be. An id names the
 * activity: the client reads its current attempt (HMGET of the pending
 * activity's fields) and completes that one, whichever it is, as
 * Temporal's completion by id does. Either way the call is the one a
 * worker makes, FCALL duro_act_complete (or duro_act_heartbeat), fenced
 * by the attempt. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "duro/json.h"
#include "duro/utf8.h"
#include "duro/pa_record.h"
#include "duro/retry_policy.h"
#include "duro/task_token.h"

/* target: the attempt a call addresses. */
typedef struct {
    duro_wf_keys k; /* wft and act set */
    char run[DURO_UUID_LEN + 1];
    char seq[24];
    long long attempt;
    char entry[64];
    cJSON *opts; /* the activity's options (its retry policy), or NULL */
    bool by_token;
    const char *id;
} target;

/* pa_values: activity seq's attempt, entry, queue and options from the
 * HMGET of read_pa: its state and schedule records (v[0], v[1]), or the
 * fields of library 27 and older (v[2..5]) for a run in flight across
 * the upgrade. Copies into out[] (each NUL-terminated). Returns false
 * when a record is there and damaged: read as absent, the activity would
 * be "not pending", or failed with the default retry policy. */
static bool pa_values(redisReply *const *e, char *out[4])
{
    duro_pa_state st;
    duro_pa_sched sc;
    const char *s = duro__reply_str(e[0]);
    if (s) {
        if (!duro_pa_state_parse(s, e[0]->len, &st)) return false;
        duro_pa_part p[4] = {st.attempt, st.entry, st.queue, {NULL, 0}};
        s = duro__reply_str(e[1]);
        if (s && !duro_pa_sched_parse(s, e[1]->len, &sc)) return false;
        if (s) p[3] = sc.opts;
        for (int i = 0; i < 4; i++) {
            out[i] = p[i].s ? malloc(p[i].len + 1) : NULL;
            if (!out[i]) continue;
            memcpy(out[i], p[i].s, p[i].len);
            out[i][p[i].len] = '\0';
        }
        return true;
    }
    for (int i = 0; i < 4; i++) {
        s = duro__reply_str(e[i + 2]);
        out[i] = s ? strdup(s) : NULL;
    }
    return true;
}

/* read_pa: HMGET the activity's attempt, entry, queue and options; a
 * token's attempt keeps its own attempt and entry. */
static int read_pa(duro_client *c, target *t, char *queue, size_t qsize)
{
    char f[6][40];
    const char *names[] = {"", ".s", ".attempt", ".entry", ".queue", ".opts"};
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "HMGET");
    duro_argv_push(&a, t->k.pa);
    for (int i = 0; i < 6; i++) {
        snprintf(f[i], sizeof(f[i]), "%s%s", t->seq, names[i]);
        duro_argv_push(&a, f[i]);
    }
    int rc;
    redisReply *r = duro__call(c, &a, false, &rc);
    duro_argv_free(&a);
    if (!r) return rc;
    char *v[4] = {NULL, NULL, NULL, NULL};
    bool shaped = r->type == REDIS_REPLY_ARRAY && r->elements == 6;
    int64_t attempt = 0;
    if (shaped && !pa_values(r->element, v)) {
        rc = duro__fail(c, DURO_EPROTO,
                        "activity %s of workflow %s: damaged pending-activity "
                        "record",
                        t->seq, t->id);
    } else if (!v[0]) {
        rc = duro__fail(c, DURO_ENOTFOUND,
                        "activity %s of workflow %s is not pending (it "
                        "completed, was canceled, or never was scheduled)",
                        t->seq, t->id);
    } else if (!duro__parse_i64(v[0], &attempt) || attempt < 1 || !v[1] ||
               strlen(v[1]) >= sizeof(t->entry) || !v[2] ||
               strlen(v[2]) >= qsize) {
        rc = duro__fail(c, DURO_EPROTO, "activity %s of workflow %s: damaged",
                        t->seq, t->id);
    } else {
        if (!t->by_token) {
            t->attempt = attempt;
            snprintf(t->entry, sizeof(t->entry), "%s", v[1]);
        }
        snprintf(queue, qsize, "%s", v[2]);
        if (v[3]) t->opts = cJSON_Parse(v[3]);
    }
    for (int i = 0; i < 4; i++)
        free(v[i]);
    freeReplyObject(r);
    return rc;
}

static int resolve_token(duro_client *c, const char *token, target *t)
{
    duro_task_token tk;
    char err[128];
    if (duro_task_token_decode(token, &tk, err, sizeof(err)) != 0)
        return duro__fail(c, DURO_EINVAL, "--task-token: %s", err);
    int rc = 0;
    if (strcmp(tk.ns, c->ks.ns) != 0)
        rc = duro__fail(c, DURO_EINVAL,
                        "the task token belongs to namespace %.64s, not %s",
                        tk.ns, c->ks.ns);
    else if (duro_id_check(tk.id, err, sizeof(err)) < 0 ||
             duro__check_run(tk.run) < 0 || strlen(tk.seq) >= sizeof(t->seq) ||
             strlen(tk.entry) >= sizeof(t->entry) ||
             duro_name_check("queue", tk.wfqueue, err, sizeof(err)) < 0 ||
             duro_name_check("queue", tk.actqueue, err, sizeof(err)) < 0)
        rc = duro__fail(c, DURO_EINVAL, "not a task token (bad fields)");
    if (rc == 0) {
        duro_wf_keys_init(&t->k, duro__ks(c), tk.id, tk.run);
        duro_wf_keys_queues(&t->k, tk.wfqueue, tk.actqueue);
        snprintf(t->run, sizeof(t->run), "%s", tk.run);
        snprintf(t->seq, sizeof(t->seq), "%s", tk.seq);
        snprintf(t->entry, sizeof(t->entry), "%s", tk.entry);
        t->attempt = tk.attempt;
        t->id = strdup(tk.id);
        if (!t->id) rc = duro__fail(c, DURO_ENOMEM, "out of memory");
    }
    if (rc == 0) {
        char q[DURO_QUEUE_MAX + 1];
        /* only the options: a missing activity is the Function's to say
         * (stale), as for a worker */
        rc = read_pa(c, t, q, sizeof(q));
        if (rc == DURO_ENOTFOUND) rc = 0;
    }
    duro_task_token_free(&tk);
    return rc;
}

static int resolve_id(duro_client *c, const duro_activity_ref *ref, target *t)
{
    if (ref->activity_id < 1)
        return duro__fail(c, DURO_EINVAL, "activity id must be 1 or more");
    duro__wf_head h;
    int rc = duro__read_head(c, ref->workflow_id, &h);
    if (rc < 0) return rc;
    if (strcmp(h.status, "RUNNING") != 0)
        return duro__fail(c, DURO_ENOTRUNNING,
                          "workflow %s is %s; its activities are over",
                          ref->workflow_id, h.status);
    t->k = h.k;
    duro_wf_keys_init(&t->k, duro__ks(c), ref->workflow_id, h.run);
    snprintf(t->run, sizeof(t->run), "%s", h.run);
    snprintf(t->seq, sizeof(t->seq), "%lld", (long long)ref->activity_id);
    t->id = strdup(ref->workflow_id);
    if (!t->id) return duro__fail(c, DURO_ENOMEM, "out of memory");
    char q[DURO_QUEUE_MAX + 1];
    if ((rc = read_pa(c, t, q, sizeof(q))) < 0) return rc;
    duro_wf_keys_queues(&t->k, h.queue, q);
    return 0;
}

static int resolve(duro_client *c, const duro_activity_ref *ref, target *t)
{
    memset(t, 0, sizeof(*t));
    if (!ref || (!ref->task_token) == (!ref->workflow_id))
        return duro__fail(c, DURO_EINVAL,
                          "name the activity by a task token or by a "
                          "workflow id and activity id, not both");
    t->by_token = ref->task_token != NULL;
    return t->by_token ? resolve_token(c, ref->task_token, t)
                       : resolve_id(c, ref, t);
}

static void target_free(target *t)
{
    cJSON_Delete(t->opts);
    free((char *)t->id);
}

/* stale_fail explains a refused completion. */
static int stale_fail(duro_client *c, const target *t)
{
    if (t->by_token)
        return duro__fail(
            c, DURO_ESTALE,
            "activity %s of workflow %s: attempt %lld is no longer current "
            "(it timed out and was retried, or the activity is over); use "
            "--workflow-id and --activity-id to complete its current attempt",
            t->seq, t->id, t->attempt);
    return duro__fail(c, DURO_ESTALE,
                      "activity %s of workflow %s: attempt %lld ended while "
                      "this call was made; try again",
                      t->seq, t->id, t->attempt);
}

/* call sends a and interprets the Function's answer. */
static int call(duro_client *c, const target *t, const duro_argv *a)
{
    int rc;
    redisReply *r = duro__call(c, a, true, &rc);
    if (!r) return rc;
    if (r->type == REDIS_REPLY_ERROR) {
        int code = duro_redis_error_code(r->str);
        rc = code == DURO_ESTALE ? stale_fail(c, t)
                                 : duro__fail(c, code ? code : DURO_EREDIS,
                                              "redis: %.400s", r->str);
    }
    freeReplyObject(r);
    return rc;
}

static int send_outcome(duro_client *c, const target *t,
                        const duro_fcall_act_result *res)
{
    duro_fcall_attempt at = {
        .run = t->run, .seq = t->seq, .attempt = t->attempt, .entry = t->entry};
    duro_argv a;
    duro_fcall_act_complete(&a, &t->k, &at, res, 0, NULL);
    int rc = call(c, t, &a);
    duro_argv_free(&a);
    return rc;
}

/* check_json validates payload text (NULL: null). */
static int check_json(duro_client *c, const char *what, const char *json)
{
    const char *in = json ? json : "null";
    cJSON *parsed = NULL;
    char why[256];
    int rc = duro_json_parse_input(in, strlen(in), DURO_DEFAULT_MAX_PAYLOAD,
                                   &parsed, why, sizeof(why));
    cJSON_Delete(parsed);
    return rc < 0 ? duro__fail(c, rc, "%s: %s", what, why) : 0;
}

int duro_client_activity_complete(duro_client *c, const duro_activity_ref *ref,
                                  const char *result)
{
    int rc = check_json(c, "activity result", result);
    if (rc < 0) return rc;
    target t;
    if ((rc = resolve(c, ref, &t)) < 0) {
        target_free(&t);
        return rc;
    }
    char *sealed = NULL, *data = NULL;
    rc = duro__seal(c, result ? result : "null", &sealed);
    if (rc == 0 &&
        asprintf(&data, "{\"seq\":%s,\"attempt\":%lld,\"result\":%s}", t.seq,
                 t.attempt, sealed) < 0) {
        data = NULL;
        rc = duro__fail(c, DURO_ENOMEM, "out of memory");
    }
    if (rc == 0) {
        duro_fcall_act_result res = {.data = data, .retry_delay_ms = -1};
        rc = send_outcome(c, &t, &res);
    }
    free(sealed);
    free(data);
    target_free(&t);
    return rc;
}

int duro_client_activity_fail(duro_client *c, const duro_activity_ref *ref,
                              const char *type, const char *message,
                              bool non_retryable)
{
    size_t at;
    if (message && duro_utf8_check(message, strlen(message), &at) < 0)
        return duro__fail(c, DURO_EINVAL,
                          "failure message is not valid UTF-8 (byte %zu)", at);
    if (type && duro_utf8_check(type, strlen(type), &at) < 0)
        return duro__fail(c, DURO_EINVAL,
                          "failure type is not valid UTF-8 (byte %zu)", at);
    target t;
    int rc = resolve(c, ref, &t);
    if (rc < 0) {
        target_free(&t);
        return rc;
    }
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "message", message ? message : "");
    cJSON_AddStringToObject(f, "type", type ? type : "ApplicationError");
    cJSON_AddBoolToObject(f, "nonRetryable", non_retryable);
    char *failure = cJSON_PrintUnformatted(f);
    cJSON_Delete(f);
    char *data = NULL;
    if (!failure ||
        asprintf(&data, "{\"seq\":%s,\"attempt\":%lld,\"failure\":%s}", t.seq,
                 t.attempt, failure) < 0) {
        data = NULL;
        rc = duro__fail(c, DURO_ENOMEM, "out of memory");
    }
    if (rc == 0) {
        int attempt = t.attempt > 1000000 ? 1000000 : (int)t.attempt;
        duro_fcall_act_result res = {.failed = true,
                                     .data = data,
                                     .failure = failure,
                                     .retry_delay_ms = duro__retry_delay_of(
                                         t.opts, attempt,
                                         type ? type : "ApplicationError",
                                         non_retryable)};
        rc = send_outcome(c, &t, &res);
    }
    cJSON_free(failure);
    free(data);
    target_free(&t);
    return rc;
}

int duro_client_activity_heartbeat(duro_client *c, const duro_activity_ref *ref,
                                   const char *details)
{
    int rc = details ? check_json(c, "heartbeat details", details) : 0;
    if (rc < 0) return rc;
    target t;
    if ((rc = resolve(c, ref, &t)) < 0) {
        target_free(&t);
        return rc;
    }
    char *sealed = NULL;
    if (details) rc = duro__seal(c, details, &sealed);
    if (rc == 0) {
        duro_fcall_attempt at = {
            .run = t.run, .seq = t.seq, .attempt = t.attempt, .entry = t.entry};
        duro_argv a;
        duro_fcall_act_heartbeat(&a, &t.k, &at, sealed);
        rc = call(c, &t, &a);
        duro_argv_free(&a);
    }
    free(sealed);
    target_free(&t);
    return rc;
}
