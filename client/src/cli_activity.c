/* cli_activity.c: `duro activity complete | fail | heartbeat`: finish an
 * activity that completes asynchronously (its function returned
 * duro_actx_complete_later), named by --task-token or by --workflow-id
 * and --activity-id (client_activity.c says which attempt each names). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "duro/reply.h"

#define OPT_REF                                                                \
    {"workflow-id", 'w', "ID", "workflow id (with --activity-id)", false},     \
        {"activity-id", 0, "SEQ",                                              \
         "the activity's seq in the run (1, 2, ...; with --workflow-id)",      \
         false},                                                               \
    {                                                                          \
        "task-token", 0, "TOKEN",                                              \
            "the attempt's task token (instead of the ids)", false             \
    }

/* get_ref reads the attempt's name from the options; 0 or CLI_USAGE. */
static int get_ref(cli_ctx *ctx, duro_activity_ref *ref)
{
    memset(ref, 0, sizeof(*ref));
    ref->task_token = cli_get(ctx, "task-token");
    ref->workflow_id = cli_get(ctx, "workflow-id");
    const char *seq = cli_get(ctx, "activity-id");
    if (ref->task_token && (ref->workflow_id || seq))
        return cli_usage(ctx, "give --task-token or --workflow-id with "
                              "--activity-id, not both");
    if (ref->task_token) return 0;
    if (!ref->workflow_id || !seq)
        return cli_usage(ctx, "give --task-token, or --workflow-id and "
                              "--activity-id");
    int64_t n = 0;
    if (!duro__parse_i64(seq, &n) || n < 1)
        return cli_usage(ctx, "--activity-id: a number from 1, not \"%s\"",
                         seq);
    ref->activity_id = n;
    return 0;
}

/* done prints what was done to which activity. */
static int done(cli_ctx *ctx, const duro_activity_ref *ref, const char *what)
{
    if (ctx->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "result", what);
        if (ref->workflow_id) {
            cJSON_AddStringToObject(j, "workflowId", ref->workflow_id);
            cJSON_AddNumberToObject(j, "activityId", (double)ref->activity_id);
        }
        cli_print_json(j);
        cJSON_Delete(j);
    } else if (ref->workflow_id) {
        printf("Activity %lld of workflow %s %s\n", (long long)ref->activity_id,
               ref->workflow_id, what);
    } else {
        printf("Activity %s\n", what);
    }
    return CLI_OK;
}

/* ---- complete ---- */

static const cli_opt complete_opts[] = {
    OPT_REF,
    {"result", 'r', "JSON", "the activity's result (default null)", false},
    {"result-file", 0, "PATH", "read the result JSON from a file (- = stdin)",
     false},
    {0},
};

static int cli_activity_complete(cli_ctx *ctx)
{
    duro_activity_ref ref;
    if (get_ref(ctx, &ref)) return CLI_USAGE;
    const char *result;
    char *text;
    int rc = cli_get_input(ctx, "result", "result-file", &result, &text);
    if (rc) return rc;
    rc = cli_connect(ctx);
    if (rc == 0) rc = duro_client_activity_complete(ctx->client, &ref, result);
    free(text);
    if (rc == CLI_FAILED) return rc;
    if (rc < 0) return cli_client_fail(ctx, rc);
    return done(ctx, &ref, "completed");
}

/* ---- fail ---- */

static const cli_opt fail_opts[] = {
    OPT_REF,
    {"message", 'm', "TEXT", "the failure's message", false},
    {"type", 0, "TYPE", "the failure's type (default ApplicationError)", false},
    {"non-retryable", 0, NULL, "do not retry (default: the retry policy)",
     false},
    {0},
};

static int cli_activity_fail(cli_ctx *ctx)
{
    duro_activity_ref ref;
    if (get_ref(ctx, &ref)) return CLI_USAGE;
    int rc = cli_connect(ctx);
    if (rc == 0)
        rc = duro_client_activity_fail(ctx->client, &ref, cli_get(ctx, "type"),
                                       cli_get(ctx, "message"),
                                       cli_get(ctx, "non-retryable") != NULL);
    if (rc == CLI_FAILED) return rc;
    if (rc < 0) return cli_client_fail(ctx, rc);
    return done(ctx, &ref, "failed");
}

/* ---- heartbeat ---- */

static const cli_opt heartbeat_opts[] = {
    OPT_REF,
    {"details", 'd', "JSON", "progress details (default none)", false},
    {0},
};

static int cli_activity_heartbeat(cli_ctx *ctx)
{
    duro_activity_ref ref;
    if (get_ref(ctx, &ref)) return CLI_USAGE;
    int rc = cli_connect(ctx);
    if (rc == 0)
        rc = duro_client_activity_heartbeat(ctx->client, &ref,
                                            cli_get(ctx, "details"));
    if (rc == CLI_FAILED) return rc;
    if (rc < 0) return cli_client_fail(ctx, rc);
    return done(ctx, &ref, "heartbeat recorded");
}

static const cli_cmd COMMANDS[] = {
    {"complete", "complete an activity that completes asynchronously",
     complete_opts, cli_activity_complete},
    {"fail", "fail an activity that completes asynchronously", fail_opts,
     cli_activity_fail},
    {"heartbeat", "record a heartbeat of an asynchronous activity",
     heartbeat_opts, cli_activity_heartbeat},
    {0},
};

const cli_group cli_activity_group = {
    "activity", "complete activities from outside a worker", COMMANDS, NULL};
