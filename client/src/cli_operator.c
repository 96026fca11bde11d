/* cli_operator.c: `duro operator ...`: setting up, securing and
 * administering a Redis for Duro. One row per subcommand; each lives in a
 * file of its own (a noun with verbs is a nested group, see cli_main.c). */
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
    {"search-attribute", "register, list and delete custom search attributes",
     NULL, NULL},
    {"visibility-backfill",
     "list runs started before visibility rows existed (an upgrade)", NO_OPTS,
     visibility_backfill},
    {0},
};

const cli_group cli_operator_group = {
    "operator", "set up, secure and administer a Redis for Duro",
    OPERATOR_CMDS};
