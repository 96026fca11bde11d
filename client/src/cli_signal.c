/* cli_signal.c: `duro workflow signal | signal-with-start | cancel | query`:
 * the commands that talk to a workflow's code. Listed in cli_workflow.c's
 * command table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define OPT_WORKFLOW_ID                                                        \
    {                                                                          \
        "workflow-id", 'w', "ID", "workflow id", true                          \
    }

/* ---- signal ---- */

const cli_opt cli_signal_opts[] = {
    OPT_WORKFLOW_ID,
    {"name", 0, "NAME", "signal name", true},
    {"input", 'i', "JSON", "signal input as JSON text (default null)", false},
    {"input-file", 0, "PATH", "read the input JSON from a file (- = stdin)",
     false},
    {0},
};

int cli_signal(cli_ctx *ctx)
{
    const char *id = cli_get(ctx, "workflow-id"), *name = cli_get(ctx, "name");
    const char *input;
    char *text, run[DURO_UUID_LEN + 1];
    int rc = cli_get_input(ctx, "input", "input-file", &input, &text);
    if (rc) return rc;
    rc = cli_connect(ctx);
    if (rc == 0) rc = duro_client_signal(ctx->client, id, name, input, run);
    free(text);
    if (rc == CLI_FAILED) return rc;
    if (rc < 0) return cli_client_fail(ctx, rc);
    if (ctx->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "workflowId", id);
        cJSON_AddStringToObject(j, "runId", run);
        cJSON_AddStringToObject(j, "signal", name);
        cli_print_json(j);
        cJSON_Delete(j);
    } else {
        printf("Signal %s sent to workflow %s run %s\n", name, id, run);
    }
    return CLI_OK;
}

/* ---- signal-with-start ---- */

const cli_opt cli_signal_with_start_opts[] = {
    OPT_WORKFLOW_ID,
    {"type", 0, "TYPE", "workflow type, if a run is started", true},
    {"task-queue", 't', "QUEUE", "task queue, if a run is started", true},
    {"input", 'i', "JSON", "workflow input, if a run is started (default null)",
     false},
    {"name", 0, "NAME", "signal name", true},
    {"signal-input", 0, "JSON", "signal input as JSON text (default null)",
     false},
    {"execution-timeout", 0, "DURATION",
     "limit on the whole workflow, if started (default none)", false},
    {"run-timeout", 0, "DURATION",
     "limit on one run, if started (default none)", false},
    {"task-timeout", 0, "DURATION",
     "limit on one workflow task, if started (default 10s)", false},
    {"id-reuse-policy", 0, "POLICY",
     "AllowDuplicate (default), AllowDuplicateFailedOnly, RejectDuplicate "
     "or TerminateIfRunning, if none runs",
     false},
    {"search-attribute", 0, "NAME=VALUE",
     "a registered search attribute, if started (repeat for more)", false},
    {"memo", 0, "JSON", "a JSON object, if started", false},
    {"priority", 0, "N", "1 (highest) .. 5 (default 3), if started", false},
    {"fairness-key", 0, "KEY", "e.g. a tenant id, if started", false},
    {"fairness-weight", 0, "N", "1..1000 (default 1), if started", false},
    {0},
};

int cli_signal_with_start(cli_ctx *ctx)
{
    duro_start_opts o;
    if (cli_get_start_opts(ctx, &o)) return CLI_USAGE;
    o.input = cli_get(ctx, "input");
    o.memo = cli_get(ctx, "memo");
    if (cli_connect(ctx)) return CLI_FAILED;
    cJSON *attrs = NULL;
    int rc = cli_get_search_attributes(ctx, &attrs);
    if (rc) return rc;
    o.search_attributes = attrs;
    const char *name = cli_get(ctx, "name");
    char run[DURO_UUID_LEN + 1];
    bool started = false;
    rc = duro_client_signal_with_start(
        ctx->client, &o, name, cli_get(ctx, "signal-input"), run, &started);
    cJSON_Delete(attrs);
    if (rc < 0) return cli_client_fail(ctx, rc);
    if (ctx->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "workflowId", o.workflow_id);
        cJSON_AddStringToObject(j, "runId", run);
        cJSON_AddBoolToObject(j, "started", started);
        cli_print_json(j);
        cJSON_Delete(j);
    } else if (started) {
        printf("Started workflow %s run %s with signal %s\n", o.workflow_id,
               run, name);
    } else {
        printf("Signal %s sent to running workflow %s run %s\n", name,
               o.workflow_id, run);
    }
    return CLI_OK;
}

/* ---- cancel ---- */

const cli_opt cli_cancel_opts[] = {
    OPT_WORKFLOW_ID,
    {"reason", 0, "TEXT", "why, recorded in the history", false},
    {0},
};

int cli_cancel(cli_ctx *ctx)
{
    if (cli_connect(ctx)) return CLI_FAILED;
    const char *id = cli_get(ctx, "workflow-id");
    bool already = false;
    int rc =
        duro_client_cancel(ctx->client, id, cli_get(ctx, "reason"), &already);
    if (rc < 0) return cli_client_fail(ctx, rc);
    if (ctx->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "workflowId", id);
        cJSON_AddBoolToObject(j, "alreadyRequested", already);
        cli_print_json(j);
        cJSON_Delete(j);
    } else if (already) {
        printf("Cancellation of workflow %s was already requested; nothing "
               "changed\n",
               id);
    } else {
        printf("Requested cancellation of workflow %s\n", id);
    }
    return CLI_OK;
}

/* ---- query ---- */

const cli_opt cli_query_opts[] = {
    OPT_WORKFLOW_ID,
    {"name", 0, "NAME", "query name", true},
    {"input", 'i', "JSON", "query input as JSON text (default null)", false},
    {"input-file", 0, "PATH", "read the input JSON from a file (- = stdin)",
     false},
    {"timeout", 0, "DURATION", "wait this long for a worker (default 10s)",
     false},
    {0},
};

/* cli_print_result prints the handler's JSON: as given (compact) in text mode,
 * indented with -o json. */
void cli_print_result(const cli_ctx *ctx, const char *text)
{
    cJSON *v = cJSON_Parse(text);
    if (v && duro_codec_sealed(v, NULL, 0)) {
        cli_codec_mask(ctx, v); /* the client could not decode it */
        if (!ctx->json) {
            puts(cJSON_GetStringValue(v));
            cJSON_Delete(v);
            return;
        }
    }
    if (v && ctx->json)
        cli_print_json(v);
    else
        puts(text);
    cJSON_Delete(v);
}

int cli_query(cli_ctx *ctx)
{
    const char *id = cli_get(ctx, "workflow-id"), *name = cli_get(ctx, "name");
    int64_t timeout = 0;
    if (cli_get_timeout(ctx, &timeout)) return CLI_USAGE;
    /* Check here what the client would call invalid, so that DURO_EINVAL
     * from the call below is the worker's answer (exit 1), not usage. */
    char why[256];
    if (duro_id_check(id, why, sizeof(why)) < 0 ||
        duro_name_check("query name", name, why, sizeof(why)) < 0)
        return cli_usage(ctx, "%s", why);
    const char *input;
    char *text;
    int in = cli_get_input(ctx, "input", "input-file", &input, &text);
    if (in) return in;
    if (cli_connect(ctx)) {
        free(text);
        return CLI_FAILED;
    }
    char *result;
    int rc = duro_client_query(ctx->client, id, name, input, timeout, &result);
    free(text);
    if (rc == DURO_EINVAL)
        return cli_fail_err(rc, "%s", duro_client_errstr(ctx->client));
    if (rc < 0) return cli_client_fail(ctx, rc);
    cli_print_result(ctx, result);
    free(result);
    return CLI_OK;
}
