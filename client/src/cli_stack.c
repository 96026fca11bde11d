/* cli_stack.c: `duro workflow stack` (where a running workflow is
 * waiting, client_stack.c) and the stack part of `duro workflow
 * describe`. Listed in cli_workflow.c's command table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* DESCRIBE_STACK_TIMEOUT_MS: how long describe waits for a worker's
 * answer, so that describing a workflow nobody runs stays quick. */
#define DESCRIBE_STACK_TIMEOUT_MS 1000

const cli_opt cli_stack_opts[] = {
    {"workflow-id", 'w', "ID", "workflow id", true},
    {"timeout", 0, "DURATION", "wait this long for a worker (default 10s)",
     false},
    {0},
};

static const char *str_of(const cJSON *o, const char *name)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(o, name));
    return s ? s : "";
}

/* print_site: " at FILE:LINE (FUNC)", or nothing when unknown. */
static void print_site(const cJSON *o)
{
    const char *file = str_of(o, "file");
    if (!*file) return;
    printf(" at %s:%.0f", file,
           cJSON_GetNumberValue(cJSON_GetObjectItem(o, "line")));
    const char *fn = str_of(o, "function");
    if (*fn) printf(" (%s)", fn);
}

void cli_stack_print(const cJSON *st)
{
    const char *err = str_of(st, "error");
    if (*err) {
        printf("%-18s unavailable: %s\n", "Stack", err);
        return;
    }
    printf("%-18s\n", "Stack");
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(st, "coroutines"))
    {
        printf("  %s: %s", str_of(c, "name"), str_of(c, "state"));
        if (*str_of(c, "call")) printf(" in %s", str_of(c, "call"));
        print_site(c);
        putchar('\n');
        const cJSON *f;
        cJSON_ArrayForEach(f, cJSON_GetObjectItem(c, "waitingOn"))
        {
            printf("    %s %.0f%s%s", str_of(f, "kind"),
                   cJSON_GetNumberValue(cJSON_GetObjectItem(f, "seq")),
                   *str_of(f, "name") ? " " : "", str_of(f, "name"));
            if (*str_of(f, "file")) printf(", started");
            print_site(f);
            if (cJSON_IsTrue(cJSON_GetObjectItem(f, "detached")))
                printf(" [detached]");
            putchar('\n');
        }
    }
}

static void print_stack(const cJSON *st)
{
    printf("Workflow %s (run %s, type %s)\n", str_of(st, "workflowId"),
           str_of(st, "runId"), str_of(st, "type"));
    cli_stack_print(st);
}

int cli_stack(cli_ctx *ctx)
{
    int64_t timeout = 0;
    if (cli_get_timeout(ctx, &timeout)) return CLI_USAGE;
    if (cli_connect(ctx)) return CLI_FAILED;
    cJSON *st;
    int rc = duro_client_stack(ctx->client, cli_get(ctx, "workflow-id"),
                               timeout, &st);
    if (rc < 0) return cli_client_fail(ctx, rc);
    return cli_print_owned(ctx, st, print_stack);
}

void cli_describe_add_stack(cli_ctx *ctx, cJSON *d)
{
    const char *status = cJSON_GetStringValue(cJSON_GetObjectItem(d, "status"));
    if (!status || strcmp(status, "RUNNING") != 0) return;
    cJSON *st = NULL;
    int rc = duro_client_stack(
        ctx->client, cJSON_GetStringValue(cJSON_GetObjectItem(d, "workflowId")),
        DESCRIBE_STACK_TIMEOUT_MS, &st);
    if (rc < 0) {
        st = cJSON_CreateObject();
        cJSON_AddStringToObject(st, "error", duro_client_errstr(ctx->client));
    }
    cJSON_AddItemToObject(d, "stack", st);
}
