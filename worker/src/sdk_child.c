/* sdk_child.c: child workflows in workflow code (duro_child), and how the
 * engine resolves the events of work carried to another partition. */
#define DURO_NO_CALL_SITES /* defines duro_child and duro_child_async */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/ids.h"
#include "duro/json.h"
#include "duro/log.h"
#include "duro/worker.h"
#include "engine_internal.h"
#include "run.h"

/* ---- Starting a child ---- */

static const char *close_policy_name(duro_parent_close_policy p)
{
    switch (p) {
    case DURO_PARENT_CLOSE_REQUEST_CANCEL:
        return "RequestCancel";
    case DURO_PARENT_CLOSE_ABANDON:
        return "Abandon";
    default:
        return "Terminate";
    }
}

/* child_check validates what becomes key names and record fields; the
 * same bad call fails the same way on replay. */
static int child_check(const char *type, const char *id, const char *queue,
                       const char *policy, char *err, size_t size)
{
    if (duro_name_check("workflow type", type, err, size) != 0 ||
        duro_id_check_input(id, err, size) != 0 ||
        duro_name_check("task queue", queue, err, size) != 0)
        return -1;
    if (strcmp(policy, "AllowDuplicate") != 0 &&
        strcmp(policy, "AllowDuplicateFailedOnly") != 0 &&
        strcmp(policy, "RejectDuplicate") != 0) {
        snprintf(err, size,
                 "child id reuse policy %s: AllowDuplicate, "
                 "AllowDuplicateFailedOnly or RejectDuplicate",
                 policy);
        return -1;
    }
    return 0;
}

/* child_data: ChildWorkflowInitiated's data. */
static char *child_data(const duro__cmd *c, int64_t seq, int64_t exec_ms)
{
    cJSON *d = cJSON_CreateObject();
    duro_assert(d != NULL);
    cJSON_AddNumberToObject(d, "seq", (double)seq);
    cJSON_AddStringToObject(d, "name", c->name);
    cJSON_AddStringToObject(d, "workflowId", c->target);
    cJSON_AddStringToObject(d, "taskQueue", c->queue);
    cJSON_AddRawToObject(d, "input", c->input);
    cJSON_AddStringToObject(d, "idReusePolicy", c->policy);
    cJSON_AddStringToObject(d, "parentClosePolicy", c->close_policy);
    cJSON_AddNumberToObject(d, "executionTimeoutMs", (double)exec_ms);
    char *s = cJSON_PrintUnformatted(d);
    cJSON_Delete(d);
    duro_assert(s != NULL);
    return s;
}

duro_future *duro_child_async(duro_wf *wf, const char *type, const cJSON *input,
                              const duro_child_opts *opts)
{
    duro__in_workflow(wf, "duro_child");
    static const duro_child_opts none;
    if (!opts) opts = &none;
    duro_future *f = duro__new_future(wf, FUT_CHILD);
    char idbuf[DURO_ID_MAX + 32];
    const char *id = opts->workflow_id;
    if (!id) {
        snprintf(idbuf, sizeof(idbuf), "%s/%" PRId64, wf->id, f->seq);
        id = idbuf;
    }
    const char *queue = opts->task_queue ? opts->task_queue : wf->queue;
    const char *policy =
        opts->id_reuse_policy ? opts->id_reuse_policy : "AllowDuplicate";
    char err[160];
    if (!type || child_check(type, id, queue, policy, err, sizeof(err)) != 0) {
        duro__resolve_failed(wf, f, "InvalidArgument",
                             type ? err : "child workflow type is NULL");
        return f;
    }
    duro__cmd *c = duro__new_cmd(wf, CMD_CHILD, f->seq);
    c->name = strdup(type);
    if (wf->replaying) return f; /* only kind, seq and type are matched */
    c->target = strdup(id);
    c->queue = strdup(queue);
    c->policy = strdup(policy);
    c->close_policy = close_policy_name(opts->parent_close_policy);
    c->input = duro__encode_payload(wf, input);
    c->ms = opts->execution_timeout_ms > 0 ? opts->execution_timeout_ms : 0;
    c->stc_ms = opts->task_timeout_ms > 0 ? opts->task_timeout_ms : 10000;
    c->data = child_data(c, f->seq, c->ms);
    return f;
}

duro_result duro_child(duro_wf *wf, const char *type, const cJSON *input,
                       const duro_child_opts *opts)
{
    return duro_await(wf, duro_child_async(wf, type, input, opts));
}

/* ---- Replay: matching and resolving ---- */

bool duro__xfer_cmd_matches(const duro__cmd *c, const seg_ev *e)
{
    switch (e->type) {
    case DURO_EVENT_CHILD_INITIATED:
        return c->kind == CMD_CHILD && c->seq == e->seq &&
               strcmp(c->name, e->name) == 0;
    case DURO_EVENT_EXTERNAL_SIGNAL_INITIATED:
        return c->kind == CMD_SIGNAL_EXT && c->seq == e->seq;
    case DURO_EVENT_EXTERNAL_CANCEL_INITIATED:
        return c->kind == CMD_CANCEL_EXT && c->seq == e->seq;
    default:
        return false;
    }
}

bool duro__xfer_is_event(duro_event_type t)
{
    switch (t) {
    case DURO_EVENT_CHILD_STARTED:
    case DURO_EVENT_CHILD_START_FAILED:
    case DURO_EVENT_CHILD_COMPLETED:
    case DURO_EVENT_CHILD_FAILED:
    case DURO_EVENT_CHILD_CANCELED:
    case DURO_EVENT_CHILD_TERMINATED:
    case DURO_EVENT_CHILD_TIMED_OUT:
    case DURO_EVENT_EXTERNAL_SIGNALED:
    case DURO_EVENT_EXTERNAL_SIGNAL_FAILED:
    case DURO_EVENT_EXTERNAL_CANCEL_REQUESTED:
    case DURO_EVENT_EXTERNAL_CANCEL_FAILED:
        return true;
    default:
        return false;
    }
}

/* child_failure: the failure a parent sees for its child's close: the
 * child's own failure as cause, under a type naming how it closed. */
static void child_failure(duro_wf *wf, duro_future *f, const duro_event *e,
                          const char *type, const char *msg)
{
    cJSON *cause = cJSON_DetachItemFromObject(e->data, "failure");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(cause, "message");
    cJSON *fl = cJSON_CreateObject();
    duro_assert(fl != NULL);
    cJSON_AddStringToObject(fl, "message",
                            cJSON_IsString(m) ? m->valuestring : msg);
    cJSON_AddStringToObject(fl, "type", type);
    cJSON_AddBoolToObject(fl, "nonRetryable", 1);
    if (cause) cJSON_AddItemToObject(fl, "cause", cause);
    duro_keep(wf, fl);
    f->resolved = true;
    f->res.ok = false;
    f->res.failure = fl;
    f->res.error = cJSON_GetObjectItem(fl, "message")->valuestring;
}

static int resolve_child(duro_wf *wf, duro_future *f, const duro_event *e)
{
    switch (e->type) {
    case DURO_EVENT_CHILD_STARTED:
        return 0; /* the result is what the future waits for */
    case DURO_EVENT_CHILD_COMPLETED: {
        cJSON *v = cJSON_DetachItemFromObject(e->data, "result");
        f->resolved = true;
        f->res.ok = true;
        f->res.value = duro_keep(wf, v ? v : cJSON_CreateNull());
        f->res.error = "";
        return 0;
    }
    case DURO_EVENT_CHILD_START_FAILED:
        child_failure(wf, f, e, "WorkflowAlreadyStarted",
                      "child workflow id already in use");
        return 0;
    case DURO_EVENT_CHILD_FAILED:
        child_failure(wf, f, e, "ChildWorkflowFailed", "child workflow failed");
        return 0;
    case DURO_EVENT_CHILD_CANCELED:
        child_failure(wf, f, e, "Canceled", "child workflow canceled");
        f->res.canceled = true;
        return 0;
    case DURO_EVENT_CHILD_TERMINATED:
        child_failure(wf, f, e, "Terminated", "child workflow terminated");
        return 0;
    default: /* DURO_EVENT_CHILD_TIMED_OUT */
        child_failure(wf, f, e, "TimedOut", "child workflow timed out");
        f->res.timed_out = true;
        return 0;
    }
}

int duro__xfer_resolve(duro_wf *wf, const duro_event *e)
{
    bool child = e->type >= DURO_EVENT_CHILD_STARTED &&
                 e->type <= DURO_EVENT_CHILD_TIMED_OUT;
    fut_kind k = child ? FUT_CHILD : FUT_EXTERNAL;
    int64_t seq = duro_event_seq(e);
    duro_future *f =
        (seq >= 1 && seq <= wf->futs[k].n) ? wf->futs[k].v[seq - 1] : NULL;
    if (!f) {
        char msg[200];
        snprintf(msg, sizeof(msg),
                 "event %" PRId64 " %s seq=%" PRId64
                 " refers to a command the code never issued",
                 e->id, duro_event_name(e->type), seq);
        if (!wf->nondet) wf->nondet = strdup(msg);
        return DURO_ENONDET;
    }
    if (f->resolved) return 0; /* canceled by the code meanwhile */
    if (child) return resolve_child(wf, f, e);
    if (e->type == DURO_EVENT_EXTERNAL_SIGNALED ||
        e->type == DURO_EVENT_EXTERNAL_CANCEL_REQUESTED) {
        f->resolved = true;
        f->res.ok = true;
        f->res.value = duro_keep(wf, cJSON_CreateTrue());
        f->res.error = "";
        return 0;
    }
    duro__resolve_failed(wf, f, "NotFound", "workflow not found");
    return 0;
}
