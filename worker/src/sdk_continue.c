/* sdk_continue.c: continue-as-new. The workflow function returns
 * duro_continue_as_new(...); when it does, the run's last task commits one
 * command that closes the run as CONTINUED_AS_NEW and starts the next run
 * of the same workflow id in the same Function call (duro.lua,
 * "Continue-as-new"), so the history of each run stays bounded. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/ids.h"
#include "engine_internal.h"
#include "run.h"

void duro__continue_free(duro__continue *c)
{
    if (!c) return;
    free(c->type);
    free(c->queue);
    free(c->input);
    free(c);
}

cJSON *duro_continue_as_new(duro_wf *wf, const cJSON *input,
                            const duro_continue_opts *o)
{
    duro__in_workflow(wf, "duro_continue_as_new");
    const char *type = o && o->type && *o->type ? o->type : wf->type;
    const char *queue =
        o && o->task_queue && *o->task_queue ? o->task_queue : wf->queue;
    if (strchr(queue, '#') ||
        (o && (o->run_timeout_ms < 0 || o->task_timeout_ms < 0)))
        duro__abort_task(wf, "duro_continue_as_new: bad task queue or timeout");
    duro__continue *c = calloc(1, sizeof(*c));
    if (c) {
        c->type = strdup(type);
        c->queue = strdup(queue);
        /* replay matches the kind only: the input is not encoded again */
        c->input =
            wf->replaying ? strdup("null") : duro__encode_payload(wf, input);
        c->run_timeout_ms = o ? o->run_timeout_ms : 0;
        c->task_timeout_ms = o ? o->task_timeout_ms : 0;
    }
    if (!c || !c->type || !c->queue || !c->input)
        duro__abort_task(wf, "duro_continue_as_new: out of memory");
    duro__continue_free(wf->cont);
    wf->cont = c;
    return NULL;
}

void duro__emit_continue(duro_wf *wf)
{
    duro__continue *n = wf->cont;
    duro__cmd *c = duro__new_cmd(wf, CMD_CONTINUE_AS_NEW, 0);
    if (wf->replaying) return;
    char run[DURO_UUID_LEN + 1];
    duro_uuid_v4(run);
    c->id = strdup(wf->id);
    c->value = strdup(run);
    c->name = strdup(n->type);
    c->queue = strdup(n->queue);
    c->input = strdup(n->input);
    c->ms = n->run_timeout_ms;
    c->stc_ms = n->task_timeout_ms;
    cJSON *d = cJSON_CreateObject();
    if (d) {
        cJSON_AddStringToObject(d, "newExecutionRunId", run);
        cJSON_AddStringToObject(d, "workflowType", n->type);
        cJSON_AddStringToObject(d, "taskQueue", n->queue);
        cJSON_AddRawToObject(d, "input", n->input);
        cJSON_AddNumberToObject(d, "workflowRunTimeoutMs",
                                (double)n->run_timeout_ms);
        cJSON_AddNumberToObject(d, "workflowTaskTimeoutMs",
                                (double)n->task_timeout_ms);
        c->data = cJSON_PrintUnformatted(d);
        cJSON_Delete(d);
    }
    if (!c->id || !c->value || !c->name || !c->queue || !c->input || !c->data)
        duro__abort_task(wf, "continue-as-new: out of memory");
}
