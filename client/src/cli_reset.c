/* cli_reset.c: `duro workflow reset`: a new run from a workflow task of
 * one of the workflow's runs (duro_client_reset). Listed in
 * cli_workflow.c's command table. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const cli_opt cli_reset_opts[] = {
    {"workflow-id", 'w', "ID", "workflow id", true},
    {"run-id", 'r', "RUN", "run to reset (default: the current run)", false},
    {"event-id", 0, "N",
     "reset to this WorkflowTaskCompleted event (that task runs again)", false},
    {"type", 0, "POINT", "FirstWorkflowTask or LastWorkflowTask", false},
    {"reason", 0, "TEXT",
     "why: describe shows it; a running run is terminated with it", true},
    {0},
};

int cli_reset(cli_ctx *ctx)
{
    const char *event = cli_get(ctx, "event-id"), *type = cli_get(ctx, "type");
    duro_reset_opts o = {.workflow_id = cli_get(ctx, "workflow-id"),
                         .run_id = cli_get(ctx, "run-id"),
                         .reason = cli_get(ctx, "reason")};
    if (!event == !type)
        return cli_usage(ctx, "give exactly one of --event-id and --type");
    if (event) {
        char *end;
        errno = 0;
        long long n = strtoll(event, &end, 10);
        if (*end || end == event || n < 1 || errno == ERANGE)
            return cli_usage(ctx,
                             "--event-id must be a positive integer, "
                             "not \"%s\"",
                             event);
        o.point = DURO_RESET_EVENT_ID;
        o.event_id = n;
    } else if (duro_reset_point_parse(type, &o.point) != 0) {
        return cli_usage(ctx,
                         "--type must be FirstWorkflowTask or "
                         "LastWorkflowTask, not \"%s\"",
                         type);
    }
    if (cli_connect(ctx)) return CLI_FAILED;
    char run[DURO_UUID_LEN + 1];
    int rc = duro_client_reset(ctx->client, &o, run);
    if (rc < 0) return cli_client_fail(ctx, rc);
    if (ctx->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "workflowId", o.workflow_id);
        cJSON_AddStringToObject(j, "runId", run);
        cli_print_json(j);
        cJSON_Delete(j);
    } else {
        printf("Reset workflow %s: new run %s\n", o.workflow_id, run);
    }
    return CLI_OK;
}
