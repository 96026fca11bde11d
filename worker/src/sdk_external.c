/* sdk_external.c: signal and cancel another workflow from workflow code
 * (duro_signal_external, duro_cancel_external). */
#define DURO_NO_CALL_SITES /* defines duro_signal_external and                 \
                              duro_cancel_external */
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

/* external_cmd issues a signal_ext or cancel_ext command to workflow id
 * (run: "" = its current run); payload is the signal's {"name","input"}
 * or the cancel request's data, event_data the Initiated event's. */
static duro_future *external_cmd(duro_wf *wf, cmd_kind kind, const char *id,
                                 const char *run, cJSON *payload,
                                 cJSON *event_data)
{
    duro_future *f = duro__new_future(wf, FUT_EXTERNAL);
    char err[160];
    if (!id || duro_id_check(id, err, sizeof(err)) != 0 ||
        (run && *run && duro_name_check("run id", run, err, sizeof(err)))) {
        cJSON_Delete(payload);
        cJSON_Delete(event_data);
        duro__resolve_failed(wf, f, "InvalidArgument",
                             id ? err : "workflow id is NULL");
        return f;
    }
    duro__cmd *c = duro__new_cmd(wf, kind, f->seq);
    if (!wf->replaying) {
        cJSON_AddNumberToObject(event_data, "seq", (double)f->seq);
        cJSON_AddStringToObject(event_data, "workflowId", id);
        cJSON_AddStringToObject(event_data, "runId", run ? run : "");
        c->target = strdup(id);
        c->target_run = strdup(run ? run : "");
        c->value = cJSON_PrintUnformatted(payload);
        c->data = cJSON_PrintUnformatted(event_data);
        duro_assert(c->value && c->data);
    }
    cJSON_Delete(payload);
    cJSON_Delete(event_data);
    return f;
}

duro_future *duro_signal_external_async(duro_wf *wf, const char *workflow_id,
                                        const char *run_id, const char *name,
                                        const cJSON *input)
{
    duro__in_workflow(wf, "duro_signal_external");
    cJSON *payload = cJSON_CreateObject(), *data = cJSON_CreateObject();
    duro_assert(payload && data);
    cJSON_AddStringToObject(payload, "name", name ? name : "");
    cJSON_AddStringToObject(data, "name", name ? name : "");
    if (!wf->replaying) {
        char *in = duro__encode_payload(wf, input);
        cJSON_AddRawToObject(payload, "input", in);
        free(in);
    }
    return external_cmd(wf, CMD_SIGNAL_EXT, workflow_id, run_id, payload, data);
}

duro_result duro_signal_external(duro_wf *wf, const char *workflow_id,
                                 const char *run_id, const char *name,
                                 const cJSON *input)
{
    return duro_await(
        wf, duro_signal_external_async(wf, workflow_id, run_id, name, input));
}

duro_future *duro_cancel_external_async(duro_wf *wf, const char *workflow_id,
                                        const char *run_id)
{
    duro__in_workflow(wf, "duro_cancel_external");
    cJSON *payload = cJSON_CreateObject(), *data = cJSON_CreateObject();
    duro_assert(payload && data);
    char reason[DURO_ID_MAX + 64];
    snprintf(reason, sizeof(reason), "requested by workflow %s", wf->id);
    cJSON_AddStringToObject(payload, "reason", reason);
    return external_cmd(wf, CMD_CANCEL_EXT, workflow_id, run_id, payload, data);
}

duro_result duro_cancel_external(duro_wf *wf, const char *workflow_id,
                                 const char *run_id)
{
    return duro_await(wf, duro_cancel_external_async(wf, workflow_id, run_id));
}
