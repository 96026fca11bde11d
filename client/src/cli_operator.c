/* cli_operator.c: `duro operator`, setting up, securing and administering
 * a Redis for Duro (Temporal's `temporal operator`). A noun with verbs is
 * a cli_group of its own file (one line in OPERATOR_GROUPS); a single
 * action is a row of OPERATOR_CMDS. */
#include <stdio.h>

#include "cli.h"

static const cli_opt NO_OPTS[] = {{0}};

/* visibility_backfill: rows for runs started before visibility rows. */
static int visibility_backfill(cli_ctx *ctx)
{
    if (cli_connect(ctx)) return CLI_FAILED;
    int64_t n = 0;
    int rc = duro_client_visibility_backfill(ctx->client, &n);
    if (rc < 0) return cli_client_fail(ctx, rc);
    if (ctx->json) {
        cJSON *j = cli_checked(cJSON_CreateObject());
        cJSON_AddNumberToObject(j, "rowsWritten", (double)n);
        cli_print_json(j);
        cJSON_Delete(j);
    } else {
        printf("Wrote %lld visibility rows\n", (long long)n);
    }
    return CLI_OK;
}

static const cli_cmd OPERATOR_CMDS[] = {
    {"acl", "print the ACL SETUSER line of a role (least privilege)",
     cli_acl_opts, cli_acl},
    {"init", "load the Functions library and create duro:meta (admin role)",
     cli_init_opts, cli_init},
    {"visibility-backfill",
     "list runs started before visibility rows existed (an upgrade)", NO_OPTS,
     visibility_backfill},
    {0},
};

static const cli_group *const OPERATOR_GROUPS[] = {
    &cli_namespace_group,   /* cli_namespace.c */
    &cli_search_attr_group, /* cli_search_attr.c */
    NULL,
};

const cli_group cli_operator_group = {
    "operator", "set up, secure and administer a Redis for Duro", OPERATOR_CMDS,
    OPERATOR_GROUPS};
