/* client_describe_run.c: describing any run of a workflow id, the current
 * one or an older run of a reused id or of a continue-as-new chain
 * (duro_client_describe_run). An older run is closed and the workflow hash
 * holds only the current run: its visibility row (type, queue, status,
 * times, search attributes, memo) describes it, with its history's length,
 * its input (the first event, WorkflowStarted) and its result or failure
 * (the last, the event that closed it), read in one round trip. */
#include <string.h>

#include "client_int.h"
#include "client_vis.h"
#include "duro/history.h"

/* ---- From the history's ends ---- */

/* add_started adds "input" (decoded as describe decodes the current run's)
 * and, for a run started by continue-as-new, "continuedFromRunId" from
 * e0, the history's first element (LINDEX 0). A history gone, of another
 * type than a list (the stream of library 11 and older) or damaged adds
 * nothing: the row still describes the run. */
static void add_started(duro_client *c, cJSON *o, const redisReply *e0)
{
    duro_event e;
    if (duro_event_decode_reply(e0, 1, &e, NULL, 0) != 0) return;
    if (e.type == DURO_EVENT_WORKFLOW_STARTED) {
        const cJSON *in = cJSON_GetObjectItemCaseSensitive(e.data, "input");
        cJSON_AddItemToObject(
            o, "input", in ? cJSON_Duplicate(in, true) : cJSON_CreateNull());
        duro__unseal(c, o, "input");
        const char *from =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                e.data, "continuedExecutionRunId"));
        if (from && *from)
            cJSON_AddStringToObject(o, "continuedFromRunId", from);
    }
    duro_event_free(&e);
}

/* closing_failure: the failure the workflow hash keeps for a run closed
 * by event e (the Functions' close; docs/internals.md, "Workflow hash
 * fields"), so that an older run's "failure" reads as the current run's
 * would; null for a cancel and a continue-as-new (the hash keeps none).
 * Caller frees. */
static cJSON *closing_failure(const duro_event *e)
{
    const cJSON *d = e->data;
    const char *why = NULL;
    if (e->type == DURO_EVENT_WORKFLOW_FAILED) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(d, "failure");
        return f ? cJSON_Duplicate(f, true) : cJSON_CreateNull();
    }
    if (e->type == DURO_EVENT_WORKFLOW_TERMINATED) {
        why =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "reason"));
        if (!why) why = "terminated";
    } else if (e->type == DURO_EVENT_WORKFLOW_TIMED_OUT) {
        const char *kind = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(d, "timeoutType"));
        why = kind && strcmp(kind, "RUN") == 0 ? "workflow run timed out"
                                               : "workflow execution timed out";
    }
    if (!why) return cJSON_CreateNull();
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "message", why);
    cJSON_AddStringToObject(f, "type",
                            e->type == DURO_EVENT_WORKFLOW_TERMINATED
                                ? "Terminated"
                                : "TimeoutError");
    cJSON_AddTrueToObject(f, "nonRetryable");
    return f;
}

/* add_closed adds "result" (a completed run, decoded as the current run's)
 * or "failure" (any other close), and "continuedAsRunId" for a run that
 * continued as new, from the history's last element last (LINDEX -1),
 * event number n. Nothing when that is not an event that closes a run
 * (a history gone, damaged, or of library 11 and older). */
static void add_closed(duro_client *c, cJSON *o, const redisReply *last,
                       int64_t n)
{
    duro_event e;
    if (n < 1 || duro_event_decode_reply(last, n, &e, NULL, 0) != 0) return;
    switch (e.type) {
    case DURO_EVENT_WORKFLOW_COMPLETED: {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(e.data, "result");
        cJSON_AddItemToObject(
            o, "result", r ? cJSON_Duplicate(r, true) : cJSON_CreateNull());
        duro__unseal(c, o, "result");
        break;
    }
    case DURO_EVENT_WORKFLOW_CONTINUED_AS_NEW: {
        const char *next = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(e.data, "newExecutionRunId"));
        if (next && *next) cJSON_AddStringToObject(o, "continuedAsRunId", next);
    }
    /* fall through */
    case DURO_EVENT_WORKFLOW_FAILED:
    case DURO_EVENT_WORKFLOW_CANCELED:
    case DURO_EVENT_WORKFLOW_TERMINATED:
    case DURO_EVENT_WORKFLOW_TIMED_OUT:
        cJSON_AddItemToObject(o, "failure", closing_failure(&e));
        break;
    default:
        break;
    }
    duro_event_free(&e);
}

/* ---- Older runs ---- */

/* old_run: the visibility row of run `run` of workflow `id`, plus its
 * history length, input and result or failure, in *out (caller frees);
 * DURO_ENOTFOUND when the row is gone (never started, or past retention)
 * or belongs to another workflow.
 *   HGETALL vis, LLEN h, LINDEX h 0, LINDEX h -1 (one round trip) */
static int old_run(duro_client *c, const char *id, const char *run, cJSON **out)
{
    duro_wf_keys k;
    duro_wf_keys_init(&k, duro__ks(c), id, run);
    char vis[DURO_KEY_MAX];
    duro_key_vis(vis, sizeof(vis), duro__ks(c), k.partition, run);
    duro_argv cmds[4];
    for (int i = 0; i < 4; i++)
        duro_argv_init(&cmds[i]);
    duro_argv_push(&cmds[0], "HGETALL");
    duro_argv_push(&cmds[0], vis);
    duro_argv_push(&cmds[1], "LLEN");
    duro_argv_push(&cmds[1], k.hist);
    for (int i = 2; i < 4; i++) {
        duro_argv_push(&cmds[i], "LINDEX");
        duro_argv_push(&cmds[i], k.hist);
        duro_argv_push(&cmds[i], i == 2 ? "0" : "-1");
    }
    redisReply *r[4];
    int rc = duro__pipeline(c, cmds, 4, r);
    for (int i = 0; i < 4; i++)
        duro_argv_free(&cmds[i]);
    if (rc < 0) return rc;
    cJSON *row = r[0]->type == REDIS_REPLY_ARRAY && r[0]->elements > 0
                     ? duro__vis_row_json(r[0])
                     : NULL;
    /* a row written by library 31 or newer has no `run`: its key names it */
    const cJSON *rid = cJSON_GetObjectItemCaseSensitive(row, "runId");
    if (cJSON_IsString(rid) && !*rid->valuestring)
        cJSON_ReplaceItemInObjectCaseSensitive(row, "runId",
                                               cJSON_CreateString(run));
    const cJSON *wid = cJSON_GetObjectItemCaseSensitive(row, "workflowId");
    if (r[0]->type == REDIS_REPLY_ERROR)
        rc = duro__fail(c, DURO_EREDIS, "redis: %s", r[0]->str);
    else if (!row || !cJSON_IsString(wid) || strcmp(wid->valuestring, id) != 0)
        rc = duro__fail(c, DURO_ENOTFOUND, "run %s of workflow %s not found",
                        run, id);
    else {
        int64_t n = r[1]->type == REDIS_REPLY_INTEGER ? r[1]->integer : 0;
        cJSON_AddNumberToObject(row, "historyLength", (double)n);
        add_started(c, row, r[2]);
        add_closed(c, row, r[3], n);
        *out = row;
        row = NULL;
    }
    cJSON_Delete(row);
    for (int i = 0; i < 4; i++)
        freeReplyObject(r[i]);
    return rc;
}

int duro_client_describe_run(duro_client *c, const char *workflow_id,
                             const char *run_id, cJSON **out)
{
    *out = NULL;
    int rc = duro_client_describe(c, workflow_id, out);
    if (!run_id || !*run_id || rc == DURO_EINVAL) return rc;
    if (rc < 0 && rc != DURO_ENOTFOUND) return rc;
    const cJSON *cur = cJSON_GetObjectItemCaseSensitive(*out, "runId");
    if (cJSON_IsString(cur) && strcmp(cur->valuestring, run_id) == 0) return 0;
    cJSON_Delete(*out);
    *out = NULL;
    if (duro__check_run(run_id) < 0)
        return duro__fail(c, DURO_ENOTFOUND,
                          "run %.64s of workflow %s not found", run_id,
                          workflow_id);
    return old_run(c, workflow_id, run_id, out);
}
