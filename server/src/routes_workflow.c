/* routes_workflow.c: the routes on one workflow: start, signal,
 * signal-with-start, query, cancel, terminate, describe, result. Each is a
 * thin layer over one client call (client/include/duro/client.h). */
#include <stdlib.h>
#include <string.h>

#include "duro/duration.h"
#include "req.h"

#define WORKFLOW_ID(r) ((r)->params[1])

/* start_extras reads "searchAttributes" (an object, handed to the client
 * as is: the start's Function call checks each name and type), "memo"
 * (an object, as JSON text in *memo_json; caller frees), "priority"
 * (1..5), "fairnessKey" and "fairnessWeight" (1..1000). */
static bool start_extras(srv_req *r, duro_start_opts *o, char **memo_json)
{
    const cJSON *sa =
        cJSON_GetObjectItemCaseSensitive(r->json, "searchAttributes");
    const cJSON *memo = cJSON_GetObjectItemCaseSensitive(r->json, "memo");
    if (sa && !cJSON_IsNull(sa) && !cJSON_IsObject(sa)) {
        srv_error(r, MHD_HTTP_BAD_REQUEST, "INVALID_ARGUMENT",
                  "searchAttributes: want an object");
        return false;
    }
    if (memo && !cJSON_IsNull(memo) && !cJSON_IsObject(memo)) {
        srv_error(r, MHD_HTTP_BAD_REQUEST, "INVALID_ARGUMENT",
                  "memo: want an object");
        return false;
    }
    const cJSON *prio = cJSON_GetObjectItemCaseSensitive(r->json, "priority");
    if (prio && !cJSON_IsNull(prio)) {
        double v = cJSON_GetNumberValue(prio);
        if (!cJSON_IsNumber(prio) || v < 1 || v > 5 || v != (int)v) {
            srv_error(r, MHD_HTTP_BAD_REQUEST, "INVALID_ARGUMENT",
                      "priority: want 1 (highest) .. 5");
            return false;
        }
        o->priority = (int)v;
    }
    const cJSON *fw =
        cJSON_GetObjectItemCaseSensitive(r->json, "fairnessWeight");
    if (!srv_body_string(r, "fairnessKey", false, &o->fairness_key))
        return false;
    if (fw && !cJSON_IsNull(fw)) {
        double v = cJSON_GetNumberValue(fw);
        if (!cJSON_IsNumber(fw) || v < 1 || v > 1000 || v != (int)v) {
            srv_error(r, MHD_HTTP_BAD_REQUEST, "INVALID_ARGUMENT",
                      "fairnessWeight: want 1 .. 1000");
            return false;
        }
        o->fairness_weight = (int)v;
    }
    if (cJSON_IsObject(sa)) o->search_attributes = sa;
    if (cJSON_IsObject(memo)) {
        if (!srv_body_json(r, "memo", memo_json)) return false;
        o->memo = *memo_json;
    }
    return true;
}

/* start_opts reads what a start and a signal-with-start share. input_json
 * and memo_json (caller frees) are the body's "input" and "memo". */
static bool start_opts(srv_req *r, duro_start_opts *o, char **input_json,
                       char **memo_json)
{
    memset(o, 0, sizeof(*o));
    *input_json = *memo_json = NULL;
    o->workflow_id = WORKFLOW_ID(r);
    const char *policy = NULL;
    if (!srv_body_string(r, "workflowType", true, &o->type) ||
        !srv_body_string(r, "taskQueue", true, &o->task_queue) ||
        !srv_body_string(r, "idReusePolicy", false, &policy) ||
        !srv_body_duration(r, "executionTimeout", &o->execution_timeout_ms) ||
        !srv_body_duration(r, "runTimeout", &o->run_timeout_ms) ||
        !srv_body_duration(r, "taskTimeout", &o->task_timeout_ms))
        return false;
    if (policy && duro_id_reuse_policy_parse(policy, &o->id_reuse_policy)) {
        srv_error(r, MHD_HTTP_BAD_REQUEST, "INVALID_ARGUMENT",
                  "idReusePolicy: want one of " DURO_ID_REUSE_POLICIES
                  ", not \"%.64s\"",
                  policy);
        return false;
    }
    if (!srv_body_json(r, "input", input_json) ||
        !start_extras(r, o, memo_json))
        return false;
    o->input = *input_json;
    return srv_client(r) != NULL;
}

/* POST .../workflows/{workflowId}
 *   {"workflowType","taskQueue","input","idReusePolicy",
 *    "executionTimeout","runTimeout","taskTimeout","searchAttributes",
 *    "memo","priority","fairnessKey","fairnessWeight"}
 *   -> {"runId"} */
void srv_route_start(srv_req *r)
{
    static const char *const FIELDS[] = {"workflowType",
                                         "taskQueue",
                                         "input",
                                         "idReusePolicy",
                                         "executionTimeout",
                                         "runTimeout",
                                         "taskTimeout",
                                         "searchAttributes",
                                         "memo",
                                         "priority",
                                         "fairnessKey",
                                         "fairnessWeight",
                                         NULL};
    duro_start_opts o;
    char *input = NULL, *memo = NULL, run[DURO_UUID_LEN + 1];
    if (srv_body_check(r, FIELDS) && start_opts(r, &o, &input, &memo)) {
        int rc = duro_client_start(r->client, &o, run);
        if (rc < 0)
            srv_client_error(r, rc);
        else {
            cJSON *a = cJSON_CreateObject();
            cJSON_AddStringToObject(a, "runId", run);
            srv_json(r, MHD_HTTP_OK, a);
        }
    }
    free(input);
    free(memo);
}

/* POST .../signal-with-start/{name}: start's fields plus "signalInput"
 * -> {"runId","started"} */
void srv_route_signal_with_start(srv_req *r)
{
    static const char *const FIELDS[] = {
        "workflowType",     "taskQueue",  "input",       "idReusePolicy",
        "executionTimeout", "runTimeout", "taskTimeout", "signalInput",
        "searchAttributes", "memo",       "priority",    "fairnessKey",
        "fairnessWeight",   NULL};
    duro_start_opts o;
    char *input = NULL, *memo = NULL, *sig = NULL, run[DURO_UUID_LEN + 1];
    bool started = false;
    if (srv_body_check(r, FIELDS) && srv_body_json(r, "signalInput", &sig) &&
        start_opts(r, &o, &input, &memo)) {
        int rc = duro_client_signal_with_start(r->client, &o, r->params[2], sig,
                                               run, &started);
        if (rc < 0)
            srv_client_error(r, rc);
        else {
            cJSON *a = cJSON_CreateObject();
            cJSON_AddStringToObject(a, "runId", run);
            cJSON_AddBoolToObject(a, "started", started);
            srv_json(r, MHD_HTTP_OK, a);
        }
    }
    free(input);
    free(memo);
    free(sig);
}

/* POST .../signal/{name} {"input"} -> {"runId"} */
void srv_route_signal(srv_req *r)
{
    static const char *const FIELDS[] = {"input", NULL};
    char *input = NULL, run[DURO_UUID_LEN + 1];
    if (srv_body_check(r, FIELDS) && srv_body_json(r, "input", &input) &&
        srv_client(r)) {
        int rc = duro_client_signal(r->client, WORKFLOW_ID(r), r->params[2],
                                    input, run);
        if (rc < 0)
            srv_client_error(r, rc);
        else {
            cJSON *a = cJSON_CreateObject();
            cJSON_AddStringToObject(a, "runId", run);
            srv_json(r, MHD_HTTP_OK, a);
        }
    }
    free(input);
}

/* POST .../query/{name} {"input"} -> {"result"}; 504 when no worker
 * answers within the server's query timeout. */
void srv_route_query(srv_req *r)
{
    static const char *const FIELDS[] = {"input", NULL};
    char *input = NULL, *answer = NULL;
    if (srv_body_check(r, FIELDS) && srv_body_json(r, "input", &input) &&
        srv_client(r)) {
        int rc = duro_client_query(r->client, WORKFLOW_ID(r), r->params[2],
                                   input, r->query_timeout, &answer);
        srv_worker_answer(r, rc, answer, NULL);
    }
    free(input);
    free(answer);
}

/* GET .../stack -> where the running workflow waits (duro_client_stack):
 * {"workflowId","runId","type","coroutines"}; 409 NOT_RUNNING when it is
 * closed, 504 when no worker answers within --query-timeout. */
void srv_route_stack(srv_req *r)
{
    if (!srv_client(r)) return;
    cJSON *st = NULL;
    int rc =
        duro_client_stack(r->client, WORKFLOW_ID(r), r->query_timeout, &st);
    if (rc < 0)
        srv_client_error(r, rc);
    else
        srv_json(r, MHD_HTTP_OK, st);
}

/* POST .../cancel {"reason"} -> {"alreadyRequested"} */
void srv_route_cancel(srv_req *r)
{
    static const char *const FIELDS[] = {"reason", NULL};
    const char *reason;
    bool already = false;
    if (!srv_body_check(r, FIELDS) ||
        !srv_body_string(r, "reason", false, &reason) || !srv_client(r))
        return;
    int rc = duro_client_cancel(r->client, WORKFLOW_ID(r), reason, &already);
    if (rc < 0) {
        srv_client_error(r, rc);
        return;
    }
    cJSON *a = cJSON_CreateObject();
    cJSON_AddBoolToObject(a, "alreadyRequested", already);
    srv_json(r, MHD_HTTP_OK, a);
}

/* POST .../terminate {"reason"} -> {} */
void srv_route_terminate(srv_req *r)
{
    static const char *const FIELDS[] = {"reason", NULL};
    const char *reason;
    if (!srv_body_check(r, FIELDS) ||
        !srv_body_string(r, "reason", false, &reason) || !srv_client(r))
        return;
    int rc = duro_client_terminate(r->client, WORKFLOW_ID(r), reason);
    if (rc < 0)
        srv_client_error(r, rc);
    else
        srv_json(r, MHD_HTTP_OK, cJSON_CreateObject());
}

/* GET .../workflows/{workflowId}[?runId=] -> the describe object of the
 * current run, or of an older run of a reused id (duro_client_describe_run:
 * its visibility row and history length). */
void srv_route_describe(srv_req *r)
{
    if (!srv_client(r)) return;
    cJSON *d = NULL;
    int rc = duro_client_describe_run(r->client, WORKFLOW_ID(r),
                                      srv_arg(r, "runId"), &d);
    if (rc < 0) {
        srv_client_error(r, rc);
        return;
    }
    srv_shape_execution(d);
    srv_json(r, MHD_HTTP_OK, d);
}

/* GET .../result[?wait=30s] -> the describe object of the closed run
 * ("status", then "result" or "failure"); 504 while still running after
 * the wait (at most SRV_MAX_WAIT_MS; wait=0 answers at once). */
void srv_route_result(srv_req *r)
{
    int64_t wait;
    if (!srv_arg_duration(r, "wait", 30000, SRV_MAX_WAIT_MS, &wait) ||
        !srv_client(r))
        return;
    cJSON *d = NULL;
    int rc = 0;
    if (wait > 0) {
        /* in slices, so that neither a stopping server nor a client that
         * left waits it out */
        int64_t deadline = srv_mono_ms() + wait, left = wait;
        do {
            rc = duro_client_result(
                r->client, WORKFLOW_ID(r),
                left < SRV_WAIT_SLICE_MS ? left : SRV_WAIT_SLICE_MS, &d);
            left = deadline - srv_mono_ms();
        } while (rc == DURO_ETIMEDOUT && left > 0 && !srv_stopping(r) &&
                 !srv_client_gone(r));
        if (rc == DURO_ETIMEDOUT && srv_stopping(r)) {
            srv_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE",
                      "the server is stopping; ask again");
            return;
        }
    } else {
        rc = duro_client_describe(r->client, WORKFLOW_ID(r), &d);
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(d, "status");
        if (rc == 0 && cJSON_IsString(st) &&
            strcmp(st->valuestring, "RUNNING") == 0) {
            cJSON_Delete(d);
            d = NULL;
            rc = DURO_ETIMEDOUT;
        }
    }
    if (rc == DURO_ETIMEDOUT) {
        srv_error(r, MHD_HTTP_GATEWAY_TIMEOUT, "DEADLINE_EXCEEDED",
                  "workflow %.256s is still running", WORKFLOW_ID(r));
        return;
    }
    if (rc < 0) {
        srv_client_error(r, rc);
        return;
    }
    srv_shape_execution(d);
    srv_json(r, MHD_HTTP_OK, d);
}
