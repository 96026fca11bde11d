/* cli_update.c: `duro workflow update`: send a running workflow an update
 * and print the handler's result (docs/internals.md, "Updates"). Listed
 * in cli_workflow.c's command table. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

const cli_opt cli_update_opts[] = {
    {"workflow-id", 'w', "ID", "workflow id", true},
    {"name", 0, "NAME", "update name", true},
    {"input", 'i', "JSON", "update input as JSON text (default null)", false},
    {"input-file", 0, "PATH", "read the input JSON from a file (- = stdin)",
     false},
    {"update-id", 0, "ID",
     "idempotency key: an id already accepted is answered with its recorded "
     "outcome, never applied again (default: a new uuid)",
     false},
    {"timeout", 0, "DURATION",
     "wait this long for the validation and the result (default 30s)", false},
    {0},
};

int cli_update(cli_ctx *ctx)
{
    const char *id = cli_get(ctx, "workflow-id"), *name = cli_get(ctx, "name");
    const char *uid = cli_get(ctx, "update-id");
    int64_t timeout = 0;
    if (cli_get_timeout(ctx, &timeout)) return CLI_USAGE;
    /* Check here what the client would call invalid, so that DURO_EINVAL
     * from the call below is the workflow's answer (a rejection or the
     * handler's failure: exit 1), not usage. */
    char why[256];
    if (duro_id_check(id, why, sizeof(why)) < 0 ||
        duro_name_check("update name", name, why, sizeof(why)) < 0 ||
        (uid && duro_name_check("update id", uid, why, sizeof(why)) < 0))
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
    int rc =
        duro_client_update(ctx->client, id, name, input, uid, timeout, &result);
    free(text);
    if (rc == DURO_EINVAL)
        return cli_fail_err(rc, "%s", duro_client_errstr(ctx->client));
    if (rc < 0) return cli_client_fail(ctx, rc);
    cli_print_result(ctx, result);
    free(result);
    return CLI_OK;
}
