/* approval.c: `approval` waits for a decision made outside Duro. Its
 * activity waitForApproval completes asynchronously: it logs how to
 * answer and returns duro_actx_complete_later, so no worker thread waits;
 * someone answers with
 *     duro activity complete --workflow-id ID --activity-id 1 --result '"yes"'
 * (or --task-token T) and the workflow completes with {"approved": "yes"}.
 * Input null. */
#include <stdio.h>

#include "samples.h"

#define APPROVAL_TIMEOUT_MS (24LL * 3600 * 1000) /* a person may take a day */

static cJSON *wait_for_approval(duro_actx *ctx, const cJSON *input, void *arg)
{
    (void)input;
    (void)arg;
    const char *token = duro_actx_task_token(ctx);
    duro_actx_log(ctx,
                  "waiting: duro activity complete --workflow-id %s "
                  "--activity-id %lld --result JSON, or --task-token %s",
                  duro_actx_workflow_id(ctx), (long long)duro_actx_seq(ctx),
                  token ? token : "(none)");
    return duro_actx_complete_later(ctx);
}

static cJSON *approval(duro_wf *wf, const cJSON *input)
{
    duro_activity_opts o = {.start_to_close_ms = APPROVAL_TIMEOUT_MS};
    duro_result r = duro_activity(wf, "waitForApproval", input, &o);
    if (!r.ok) return duro_fail(wf, "NotApproved", "%s", r.error);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddItemToObject(out, "approved",
                          r.value ? cJSON_Duplicate(r.value, 1)
                                  : cJSON_CreateNull());
    return out;
}

int samples_register_approval(duro_worker *w)
{
    int rc = duro_worker_register_workflow(w, "approval", approval);
    if (rc == 0)
        rc = duro_worker_register_activity(w, "waitForApproval",
                                           wait_for_approval, NULL);
    return rc;
}
