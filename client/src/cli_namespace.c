/* cli_namespace.c: `duro operator namespace create|describe|list|update|
 * delete` (the registry: client_namespace.c) and `duro workflow delete`.
 * The namespace a command acts on is the global -n/--namespace. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "duro/duration.h"
#include "duro/keys.h"

static const cli_opt FIELD_OPTS[] = {
    {"retention", 0, "DURATION",
     "how long closed workflows are kept (default 72h; e.g. 30d, 10s)", false},
    {"description", 0, "TEXT", "what the namespace is for", false},
    {0},
};

static const cli_opt DELETE_OPTS[] = {
    {"force", 0, NULL, "delete even while workflows run (they go too)", false},
    {0},
};

static const cli_opt NO_OPTS[] = {{0}};

/* target: the namespace named by -n/--namespace (required here, so that a
 * stray $DURO_NAMESPACE never picks what an operator changes). */
static const char *target(cli_ctx *ctx)
{
    if (!ctx->namespace_) cli_usage(ctx, "missing required option --namespace");
    return ctx->namespace_;
}

/* connect_registry connects as the default namespace's client: the one
 * acted on may not exist (yet). */
static int connect_registry(cli_ctx *ctx)
{
    const char *ns = ctx->namespace_;
    ctx->namespace_ = DURO_DEFAULT_NAMESPACE;
    int rc = cli_connect(ctx);
    ctx->namespace_ = ns;
    return rc;
}

static cJSON *info_json(const duro_namespace_info *n, bool with_open)
{
    cJSON *o = cli_checked(cJSON_CreateObject());
    char buf[64];
    cJSON_AddStringToObject(o, "name", n->name);
    cJSON_AddStringToObject(
        o, "retention",
        duro_duration_format(n->retention_ms, buf, sizeof(buf)));
    cJSON_AddNumberToObject(o, "retentionMs", (double)n->retention_ms);
    cJSON_AddStringToObject(o, "description", n->description);
    cJSON_AddBoolToObject(o, "registered", n->created_ms > 0);
    if (with_open)
        cJSON_AddNumberToObject(o, "runningWorkflows", (double)n->open_count);
    return o;
}

static void print_info(const cJSON *o)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, o)
    {
        if (strcmp(it->string, "retentionMs") == 0) continue;
        char *v = cJSON_IsString(it) ? NULL : cli_json_text(it);
        printf("%-18s %s\n", it->string, v ? v : it->valuestring);
        free(v);
    }
}

static int get_fields(cli_ctx *ctx, int64_t *retention, const char **desc)
{
    *retention = 0;
    *desc = cli_get(ctx, "description");
    if (cli_get_duration(ctx, "retention", retention)) return -1;
    if (cli_get(ctx, "retention") && *retention <= 0) {
        cli_usage(ctx, "--retention must be positive");
        return -1;
    }
    return 0;
}

/* done prints what a command did to namespace name: "<verb> namespace
 * <name>", or {"name"} with -o json. */
static int done(cli_ctx *ctx, const char *verb, const char *name)
{
    if (!ctx->json) {
        printf("%s namespace %s\n", verb, name);
        return CLI_OK;
    }
    cJSON *o = cli_checked(cJSON_CreateObject());
    cJSON_AddStringToObject(o, "name", name);
    cli_print_json(o);
    cJSON_Delete(o);
    return CLI_OK;
}

static int cmd_create(cli_ctx *ctx)
{
    const char *name = target(ctx);
    int64_t retention;
    const char *desc;
    if (!name || get_fields(ctx, &retention, &desc)) return CLI_USAGE;
    if (connect_registry(ctx)) return CLI_FAILED;
    int rc = duro_client_namespace_create(ctx->client, name, retention, desc);
    if (rc < 0) return cli_client_fail(ctx, rc);
    return done(ctx, "Created", name);
}

static int cmd_update(cli_ctx *ctx)
{
    const char *name = target(ctx);
    int64_t retention;
    const char *desc;
    if (!name || get_fields(ctx, &retention, &desc)) return CLI_USAGE;
    if (!retention && !desc)
        return cli_usage(ctx, "nothing to update (--retention, --description)");
    if (connect_registry(ctx)) return CLI_FAILED;
    int rc = duro_client_namespace_update(ctx->client, name, retention, desc);
    if (rc < 0) return cli_client_fail(ctx, rc);
    return done(ctx, "Updated", name);
}

static int cmd_describe(cli_ctx *ctx)
{
    const char *name = target(ctx);
    if (!name) return CLI_USAGE;
    if (connect_registry(ctx)) return CLI_FAILED;
    duro_namespace_info n;
    int rc = duro_client_namespace_describe(ctx->client, name, &n);
    if (rc < 0) return cli_client_fail(ctx, rc);
    return cli_print_owned(ctx, info_json(&n, true), print_info);
}

static void print_list(const cJSON *arr)
{
    static const char *const head[] = {"NAME", "RETENTION", "DESCRIPTION"};
    cli_table t;
    cli_table_init(&t, 3, head);
    const cJSON *o;
    cJSON_ArrayForEach(o, arr)
    {
        const char *cells[3] = {
            cJSON_GetStringValue(cJSON_GetObjectItem(o, "name")),
            cJSON_GetStringValue(cJSON_GetObjectItem(o, "retention")),
            cJSON_GetStringValue(cJSON_GetObjectItem(o, "description"))};
        cli_table_add(&t, cells);
    }
    cli_table_print(&t);
    cli_table_free(&t);
}

static int cmd_list(cli_ctx *ctx)
{
    if (connect_registry(ctx)) return CLI_FAILED;
    duro_namespace_info *v;
    size_t n;
    int rc = duro_client_namespace_list(ctx->client, &v, &n);
    if (rc < 0) return cli_client_fail(ctx, rc);
    cJSON *arr = cli_checked(cJSON_CreateArray());
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, info_json(&v[i], false));
    free(v);
    return cli_print_owned(ctx, arr, print_list);
}

static int cmd_delete(cli_ctx *ctx)
{
    const char *name = target(ctx);
    if (!name) return CLI_USAGE;
    if (connect_registry(ctx)) return CLI_FAILED;
    int rc = duro_client_namespace_delete(ctx->client, name,
                                          cli_get(ctx, "force") != NULL);
    if (rc < 0) return cli_client_fail(ctx, rc);
    if (!ctx->json)
        printf("Deleted namespace %s\n", name);
    else {
        cJSON *o = cli_checked(cJSON_CreateObject());
        cJSON_AddStringToObject(o, "name", name);
        cJSON_AddBoolToObject(o, "deleted", 1);
        cli_print_json(o);
        cJSON_Delete(o);
    }
    return CLI_OK;
}

static const cli_cmd COMMANDS[] = {
    {"create", "Register a namespace (-n NAME) with a retention", FIELD_OPTS,
     cmd_create},
    {"describe", "Show a namespace's retention, description, running count",
     NO_OPTS, cmd_describe},
    {"list", "List the namespaces", NO_OPTS, cmd_list},
    {"update", "Change a namespace's retention or description", FIELD_OPTS,
     cmd_update},
    {"delete", "Delete a namespace and all its workflows' data", DELETE_OPTS,
     cmd_delete},
    {0},
};

const cli_group cli_namespace_group = {
    "namespace", "namespaces: create, describe, list, update, delete", COMMANDS,
    NULL};

/* ---- duro workflow delete ---- */

const cli_opt cli_delete_opts[] = {
    {"workflow-id", 'w', "ID", "workflow id", true},
    {"run-id", 'r', "RUN", "run id (default: the current run)", false},
    {0},
};

int cli_delete(cli_ctx *ctx)
{
    if (cli_connect(ctx)) return CLI_FAILED;
    const char *id = cli_get(ctx, "workflow-id");
    int rc = duro_client_delete(ctx->client, id, cli_get(ctx, "run-id"));
    if (rc < 0) return cli_client_fail(ctx, rc);
    if (!ctx->json)
        printf("Deleted workflow %s\n", id);
    else {
        cJSON *o = cli_checked(cJSON_CreateObject());
        cJSON_AddStringToObject(o, "workflowId", id);
        cJSON_AddBoolToObject(o, "deleted", 1);
        cli_print_json(o);
        cJSON_Delete(o);
    }
    return CLI_OK;
}
