/* pinger.c: signals between workflows. `pinger` ({"target": "<id>"})
 * sends signal `ping` to that workflow and completes with {"delivered":
 * true}, or {"delivered": false} when no such workflow is running;
 * `ponger` (input null) waits for `ping` and completes with {"pinged":
 * true}. */
#include "samples.h"

static cJSON *pinger(duro_wf *wf, const cJSON *input)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(input, "target");
    if (!cJSON_IsString(t))
        return duro_fail(wf, "InvalidInput", "target: a workflow id");
    duro_result r =
        duro_signal_external(wf, t->valuestring, NULL, "ping", NULL);
    if (!r.ok && !r.failure) return duro_fail(wf, NULL, "%s", r.error);
    cJSON *res = cJSON_CreateObject();
    cJSON_AddBoolToObject(res, "delivered", r.ok);
    return res;
}

static void on_ping(duro_wf *wf, const cJSON *input, void *arg)
{
    (void)wf;
    (void)input;
    *(bool *)arg = true;
}

static bool was_pinged(void *arg)
{
    return *(bool *)arg;
}

static cJSON *ponger(duro_wf *wf, const cJSON *input)
{
    (void)input;
    bool *pinged = duro_alloc(wf, sizeof(*pinged));
    duro_on_signal(wf, "ping", on_ping, pinged);
    duro_condition(wf, was_pinged, pinged, -1);
    cJSON *res = cJSON_CreateObject();
    cJSON_AddBoolToObject(res, "pinged", *pinged);
    return res;
}

int samples_register_pinger(duro_worker *w)
{
    int rc = duro_worker_register_workflow(w, "pinger", pinger);
    return rc ? rc : duro_worker_register_workflow(w, "ponger", ponger);
}
