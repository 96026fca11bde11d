/* sdk_continue.c: continue-as-new. The workflow function returns
 * duro_continue_as_new(...), which issues the run's closing command: the
 * commit closes the run as CONTINUED_AS_NEW and starts the next run of the
 * same workflow id in the same Function call (duro.lua, "Continue-as-new"),
 * so the history of each run stays bounded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/ids.h"
#include "engine_internal.h"
#include "run.h"

/* continue_data: WorkflowContinuedAsNew's data (docs/internals.md). */
static char *continue_data(const duro__cmd *c)
{
    cJSON *d = cJSON_CreateObject();
    if (!d) return NULL;
    cJSON_AddStringToObject(d, "newExecutionRunId", c->value);
    cJSON_AddStringToObject(d, "workflowType", c->name);
    cJSON_AddStringToObject(d, "taskQueue", c->queue);
    cJSON_AddRawToObject(d, "input", c->input);
    cJSON_AddNumberToObject(d, "workflowRunTimeoutMs", (double)c->ms);
    cJSON_AddNumberToObject(d, "workflowTaskTimeoutMs", (double)c->stc_ms);
    char *s = cJSON_PrintUnformatted(d);
    cJSON_Delete(d);
    return s;
}

cJSON *duro_continue_as_new(duro_wf *wf, const cJSON *input,
                            const duro_continue_opts *o)
{
    duro__in_workflow(wf, "duro_continue_as_new");
    const char *type = o && o->type && *o->type ? o->type : wf->type;
    const char *queue =
        o && o->task_queue && *o->task_queue ? o->task_queue : wf->queue;
    if (wf->continued)
        duro__abort_task(wf, "duro_continue_as_new called twice in one run");
    if (strchr(queue, '#') ||
        (o && (o->run_timeout_ms < 0 || o->task_timeout_ms < 0)))
        duro__abort_task(wf, "duro_continue_as_new: bad task queue or timeout");
    wf->continued = true;
    duro__cmd *c = duro__new_cmd(wf, CMD_CONTINUE_AS_NEW, 0);
    /* replay matches the kind only: nothing more to build */
    if (wf->replaying) return NULL;
    char run[DURO_UUID_LEN + 1];
    duro_uuid_v4(run);
    c->id = strdup(wf->id);
    c->value = strdup(run);
    c->name = strdup(type);
    c->queue = strdup(queue);
    c->input = duro__encode_payload(wf, input);
    c->ms = o ? o->run_timeout_ms : 0;
    c->stc_ms = o ? o->task_timeout_ms : 0;
    if (c->id && c->value && c->name && c->queue && c->input)
        c->data = continue_data(c);
    if (!c->data) duro__abort_task(wf, "duro_continue_as_new: out of memory");
    return NULL;
}
