/* client_start.c: the calls that change a workflow: start and terminate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client_int.h"
#include "client_vis.h"
#include "duro/json.h"
#include "duro/metrics.h"
#include "duro/priority.h"

/* 100 years: the bound duro_duration_parse also applies. */
#define MAX_TIMEOUT_MS (100LL * 365 * 86400 * 1000)

/* ---- Id reuse policy ---- */

static const struct {
    const char *name, *kebab;
} POLICIES[] = {
    [DURO_ID_REUSE_ALLOW_DUPLICATE] = {"AllowDuplicate", "allow-duplicate"},
    [DURO_ID_REUSE_ALLOW_DUPLICATE_FAILED_ONLY] =
        {"AllowDuplicateFailedOnly", "allow-duplicate-failed-only"},
    [DURO_ID_REUSE_REJECT_DUPLICATE] = {"RejectDuplicate", "reject-duplicate"},
    [DURO_ID_REUSE_TERMINATE_IF_RUNNING] = {"TerminateIfRunning",
                                            "terminate-if-running"},
};
#define NPOLICIES (sizeof(POLICIES) / sizeof(POLICIES[0]))

int duro_id_reuse_policy_parse(const char *name, duro_id_reuse_policy *out)
{
    for (size_t i = 0; name && i < NPOLICIES; i++) {
        if (strcasecmp(name, POLICIES[i].name) == 0 ||
            strcasecmp(name, POLICIES[i].kebab) == 0) {
            *out = (duro_id_reuse_policy)i;
            return 0;
        }
    }
    return DURO_EINVAL;
}

const char *duro_id_reuse_policy_name(duro_id_reuse_policy p)
{
    return (unsigned)p < NPOLICIES ? POLICIES[p].name : NULL;
}

/* duro__already_fail explains DURO_ALREADY_STARTED <run> <status> <policy>:
 * which run holds the id, in what state, and the policy that refused. */
int duro__already_fail(duro_client *c, const char *errstr, const char *id)
{
    char run[DURO_UUID_LEN + 1] = "?", status[16] = "?", policy[32] = "?";
    const char *rest = strchr(errstr, ' ');
    if (rest) sscanf(rest, " %36s %15s %31s", run, status, policy);
    if (strcmp(status, "RUNNING") == 0)
        return duro__fail(c, DURO_EALREADY,
                          "workflow %s already started (run %s is RUNNING); "
                          "id reuse policy %s refuses a new run",
                          id, run, policy);
    return duro__fail(c, DURO_EALREADY,
                      "workflow %s already has run %s (%s); id reuse policy "
                      "%s refuses a new run",
                      id, run, status, policy);
}

/* fcall_fail turns a Function error reply into a code and message. */
static int fcall_fail(duro_client *c, const redisReply *r, const char *id)
{
    const char *e = r->str ? r->str : "";
    int code = duro_redis_error_code(e);
    switch (code) {
    case DURO_EALREADY:
        return duro__already_fail(c, e, id);
    case DURO_ENOTFOUND:
        return duro__fail(c, code, "workflow %s not found", id);
    case DURO_ENOTRUNNING:
        return duro__fail(c, code, "workflow %s is not running", id);
    case DURO_EINVAL: /* DURO_BADARG <why>: e.g. a search attribute */
        return duro__fail(c, code, "%.400s",
                          strchr(e, ' ') ? strchr(e, ' ') + 1 : e);
    default:
        return duro__fail(c, code, "redis: %.400s", e);
    }
}

/* ---- Start ---- */

int duro__check_start(duro_client *c, const duro_start_opts *o)
{
    char why[256];
    if (!o || !o->workflow_id)
        return duro__fail(c, DURO_EINVAL, "workflow id is required");
    if (duro_id_check_input(o->workflow_id, why, sizeof(why)) < 0 ||
        duro_name_check("workflow type", o->type, why, sizeof(why)) < 0 ||
        duro_name_check("task queue", o->task_queue, why, sizeof(why)) < 0)
        return duro__fail(c, DURO_EINVAL, "%s", why);
    if (o->execution_timeout_ms < 0 || o->execution_timeout_ms > MAX_TIMEOUT_MS)
        return duro__fail(c, DURO_EINVAL, "execution timeout out of range");
    if (o->run_timeout_ms < 0 || o->run_timeout_ms > MAX_TIMEOUT_MS)
        return duro__fail(c, DURO_EINVAL, "run timeout out of range");
    if (o->task_timeout_ms < 0 || o->task_timeout_ms > MAX_TIMEOUT_MS)
        return duro__fail(c, DURO_EINVAL, "task timeout out of range");
    if (o->priority != 0 &&
        (o->priority < DURO_PRIORITY_MIN || o->priority > DURO_PRIORITY_MAX))
        return duro__fail(c, DURO_EINVAL, "priority %d is not 1..5",
                          o->priority);
    if (o->fairness_key && (strlen(o->fairness_key) > 64 ||
                            duro_name_check("fairness key", o->fairness_key,
                                            why, sizeof(why)) < 0))
        return duro__fail(c, DURO_EINVAL, "%s",
                          strlen(o->fairness_key) > 64
                              ? "fairness key is longer than 64 bytes"
                              : why);
    if (o->fairness_weight < 0 || o->fairness_weight > 1000)
        return duro__fail(c, DURO_EINVAL, "fairness weight %d is not 1..1000",
                          o->fairness_weight);
    if (!duro_id_reuse_policy_name(o->id_reuse_policy))
        return duro__fail(
            c, DURO_EINVAL,
            "id reuse policy %d is not one of " DURO_ID_REUSE_POLICIES,
            (int)o->id_reuse_policy);
    const char *in = o->input ? o->input : "null";
    cJSON *parsed = NULL;
    int rc = duro_json_parse_input(in, strlen(in), DURO_DEFAULT_MAX_PAYLOAD,
                                   &parsed, why, sizeof(why));
    if (rc < 0) return duro__fail(c, rc, "input: %s", why);
    cJSON_Delete(parsed);
    return 0;
}

/* duro__started_data: WorkflowStarted's data (docs/internals.md). The
 * input is embedded as the caller's text (already validated) so that no
 * number loses precision on the way to the workflow. */
char *duro__started_data(const duro_start_opts *o, const char *run)
{
    const char *input = o->input ? o->input : "null";
    cJSON *d = cJSON_CreateObject();
    if (!d) return NULL;
    cJSON_AddStringToObject(d, "type", o->type);
    cJSON_AddStringToObject(d, "taskQueue", o->task_queue);
    cJSON_AddRawToObject(d, "input", input);
    cJSON_AddStringToObject(d, "runId", run);
    cJSON_AddNumberToObject(d, "executionTimeoutMs",
                            (double)o->execution_timeout_ms);
    /* only when set: every run's first event is in its history */
    if (o->run_timeout_ms > 0)
        cJSON_AddNumberToObject(d, "runTimeoutMs", (double)o->run_timeout_ms);
    char *s = cJSON_PrintUnformatted(d);
    cJSON_Delete(d);
    return s;
}

void duro__start_args(const duro_start_opts *o, const char *run,
                      const char *started_data, duro_fcall_start_args *s)
{
    *s = (duro_fcall_start_args){
        .id = o->workflow_id,
        .run = run,
        .type = o->type,
        .queue = o->task_queue,
        .input = o->input,
        .started_data = started_data,
        .exec_timeout_ms = (long long)o->execution_timeout_ms,
        .run_timeout_ms = (long long)o->run_timeout_ms,
        .wft_timeout_ms =
            (long long)(o->task_timeout_ms > 0 ? o->task_timeout_ms
                                               : DURO_DEFAULT_TASK_TIMEOUT_MS),
        .policy = duro_id_reuse_policy_name(o->id_reuse_policy),
        .memo = o->memo,
        .priority = o->priority,
        .fairness_key = o->fairness_key,
        .fairness_weight = o->fairness_weight};
}

/* start_once: FCALL duro_start (duro_fcall_start). cur is the run found
 * RUNNING (TerminateIfRunning only), else NULL. */
static int start_once(duro_client *c, const duro_start_opts *o,
                      const duro__wf_head *cur, char run_id[DURO_UUID_LEN + 1])
{
    char run[DURO_UUID_LEN + 1];
    duro_uuid_v4(run);
    int64_t retention = duro__retention(c);
    if (retention < 0) return (int)retention;
    char *data = duro__started_data(o, run);
    if (!data) return duro__fail(c, DURO_ENOMEM, "out of memory");
    duro_wf_keys k;
    duro_wf_keys_init(&k, duro__ks(c), o->workflow_id, run);
    duro_wf_keys_queues(&k, o->task_queue, NULL);
    duro_fcall_start_args s;
    duro__start_args(o, run, data, &s);
    char *sa = NULL;
    int rc = duro__vis_start_args(c, o, &sa);
    if (rc < 0) {
        cJSON_free(data);
        return rc;
    }
    s.search_attrs = sa;
    s.retention_ms = retention;
    duro_argv a;
    duro_fcall_start(&a, &k, &s, cur ? cur->k.hist : NULL,
                     cur ? cur->run : NULL);
    redisReply *r = duro__call(c, &a, true, &rc);
    duro_argv_free(&a);
    cJSON_free(data);
    cJSON_free(sa);
    if (!r) return rc;
    if (r->type == REDIS_REPLY_ERROR)
        rc = fcall_fail(c, r, o->workflow_id);
    else if (run_id)
        snprintf(run_id, DURO_UUID_LEN + 1, "%s", run);
    freeReplyObject(r);
    return rc;
}

static int start_checked(duro_client *c, const duro_start_opts *o,
                         char run_id[DURO_UUID_LEN + 1]);

int duro_client_start(duro_client *c, const duro_start_opts *o,
                      char run_id[DURO_UUID_LEN + 1])
{
    int rc = duro__check_start(c, o);
    if (rc < 0) return rc;
    duro_start_opts so;
    char *sealed = NULL;
    if ((rc = duro__seal_start(c, o, &so, &sealed)) == 0)
        rc = start_checked(c, &so, run_id);
    free(sealed);
    return rc;
}

/* start_checked: duro_client_start once o is checked and its input
 * encoded. */
static int start_checked(duro_client *c, const duro_start_opts *o,
                         char run_id[DURO_UUID_LEN + 1])
{
    int rc;
    if (o->id_reuse_policy != DURO_ID_REUSE_TERMINATE_IF_RUNNING)
        return start_once(c, o, NULL, run_id);
    /* The Function terminates the run it finds RUNNING only if it is the
     * one named here (its history is a key of the call): DURO_STALE means
     * another run took its place in between; read it again. */
    rc = DURO_ESTALE;
    for (int i = 0; i < 3 && rc == DURO_ESTALE; i++) {
        duro__wf_head h;
        rc = duro__read_head(c, o->workflow_id, &h);
        if (rc < 0 && rc != DURO_ENOTFOUND) return rc;
        bool running = rc == 0 && strcmp(h.status, "RUNNING") == 0;
        rc = start_once(c, o, running ? &h : NULL, run_id);
    }
    if (rc == DURO_ESTALE)
        duro__fail(c, rc,
                   "workflow %s: its running run kept changing; try "
                   "again",
                   o->workflow_id);
    return rc;
}

/* ---- Terminate ---- */

/* count_terminated adds the run to duro_workflows_closed_total{type,
 * status="terminated"} in this process's default registry: terminate is
 * served by whatever process calls this (the CLI, a user's program, the
 * HTTP server), and only one that serves /metrics exports it. One HGET
 * for the type; a terminate is rare. */
static void count_terminated(duro_client *c, const char *wf_key)
{
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "HGET");
    duro_argv_push(&a, wf_key);
    duro_argv_push(&a, "type");
    int rc;
    redisReply *r = duro__call(c, &a, true, &rc);
    duro_argv_free(&a);
    char l[2 * DURO_QUEUE_MAX + 64] = "";
    duro_metrics_label(l, sizeof(l), "type",
                       r && r->type == REDIS_REPLY_STRING ? r->str : "");
    duro_metrics_label(l, sizeof(l), "status", "terminated");
    duro_metrics_add(duro_metrics_default(), "duro_workflows_closed_total", l,
                     1);
    if (r) freeReplyObject(r);
}

/* terminate_run: FCALL duro_terminate (duro_fcall_terminate) of run
 * `run`, or of the current run read now when run is NULL. */
static int terminate_run(duro_client *c, const char *workflow_id,
                         const char *run, const char *data)
{
    duro_wf_keys k;
    char cur[DURO_UUID_LEN + 1];
    int rc = 0;
    if (run)
        duro_wf_keys_init(&k, duro__ks(c), workflow_id, run);
    else
        rc = duro__current_run(c, workflow_id, &k, cur);
    if (rc < 0) return rc;
    duro_argv a;
    duro_fcall_terminate(&a, &k, data);
    redisReply *r = duro__call(c, &a, true, &rc);
    duro_argv_free(&a);
    if (!r) return rc;
    if (r->type == REDIS_REPLY_ERROR) rc = fcall_fail(c, r, workflow_id);
    freeReplyObject(r);
    if (rc == 0) count_terminated(c, k.wf);
    return rc;
}

int duro_client_terminate(duro_client *c, const char *workflow_id,
                          const char *reason)
{
    int err = 0;
    char *data = duro__reason_json(c, reason, &err);
    if (!data) return err;
    /* DURO_STALE: a new run started between reading the run and the call;
     * read the run again. */
    int rc = DURO_ESTALE;
    for (int i = 0; i < 3 && rc == DURO_ESTALE; i++)
        rc = terminate_run(c, workflow_id, NULL, data);
    cJSON_free(data);
    return rc;
}

int duro__terminate_run(duro_client *c, const char *workflow_id,
                        const char *run, const char *reason)
{
    int err = 0;
    char *data = duro__reason_json(c, reason, &err);
    if (!data) return err;
    int rc = terminate_run(c, workflow_id, run, data);
    cJSON_free(data);
    return rc;
}
