/* cli_search_attr.c: `duro operator search-attribute create|list|delete`,
 * and reading --search-attribute NAME=VALUE options (which repeat) for the
 * commands that start a workflow. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const cli_opt CREATE_OPTS[] = {
    {"name", 0, "NAME", "attribute name (a letter, then letters, digits, _)",
     true},
    {"type", 0, "TYPE",
     "Keyword, Text, Int, Double, Bool, Datetime or KeywordList", true},
    {0},
};

static const cli_opt NAME_OPTS[] = {
    {"name", 0, "NAME", "attribute name", true},
    {0},
};

static const cli_opt LIST_OPTS[] = {{0}};

static int done(cli_ctx *ctx, const char *verb)
{
    const char *name = cli_get(ctx, "name");
    if (ctx->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "name", name);
        cJSON_AddStringToObject(j, "result", verb);
        cli_print_json(j);
        cJSON_Delete(j);
    } else {
        printf("Search attribute %s %s\n", name, verb);
    }
    return CLI_OK;
}

static int cmd_create(cli_ctx *ctx)
{
    if (cli_connect(ctx)) return CLI_FAILED;
    int rc = duro_client_search_attribute_create(
        ctx->client, cli_get(ctx, "name"), cli_get(ctx, "type"));
    return rc < 0 ? cli_client_fail(ctx, rc) : done(ctx, "created");
}

static int cmd_delete(cli_ctx *ctx)
{
    if (cli_connect(ctx)) return CLI_FAILED;
    int rc =
        duro_client_search_attribute_delete(ctx->client, cli_get(ctx, "name"));
    return rc < 0 ? cli_client_fail(ctx, rc) : done(ctx, "deleted");
}

static void print_registry(const cJSON *reg)
{
    static const char *const head[] = {"NAME", "TYPE"};
    cli_table t;
    cli_table_init(&t, 2, head);
    const cJSON *a;
    cJSON_ArrayForEach(a, reg)
    {
        const char *cells[2] = {a->string, cJSON_GetStringValue(a)};
        cli_table_add(&t, cells);
    }
    cli_table_print(&t);
    cli_table_free(&t);
}

static int cmd_list(cli_ctx *ctx)
{
    if (cli_connect(ctx)) return CLI_FAILED;
    cJSON *reg;
    int rc = duro_client_search_attribute_list(ctx->client, &reg);
    if (rc < 0) return cli_client_fail(ctx, rc);
    return cli_print_owned(ctx, reg, print_registry);
}

static const cli_cmd COMMANDS[] = {
    {"create", "Register a custom search attribute", CREATE_OPTS, cmd_create},
    {"list", "List the custom search attributes", LIST_OPTS, cmd_list},
    {"delete", "Unregister a custom search attribute", NAME_OPTS, cmd_delete},
    {0},
};

const cli_group cli_search_attr_group = {
    "search-attribute",
    "custom search attributes: the fields list queries can filter on", COMMANDS,
    NULL};

/* ---- --search-attribute NAME=VALUE ---- */

/* next_value: the value of the --search-attribute at cli_argv[*i], or
 * NULL when that word is not one; moves *i past it. */
static const char *next_value(int *i)
{
    static const char opt[] = "--search-attribute";
    const char *a = cli_argv[*i];
    if (strcmp(a, opt) == 0 && *i + 1 < cli_argc) return cli_argv[++*i];
    if (strncmp(a, opt, sizeof(opt) - 1) == 0 && a[sizeof(opt) - 1] == '=')
        return a + sizeof(opt);
    return NULL;
}

static int add_attribute(cli_ctx *ctx, const cJSON *reg, const char *v,
                         cJSON *out)
{
    const char *eq = strchr(v, '=');
    if (!eq || eq == v)
        return cli_usage(ctx, "--search-attribute \"%s\": NAME=VALUE", v);
    char name[DURO_SA_NAME_MAX + 1];
    snprintf(name, sizeof(name), "%.*s",
             (int)(eq - v > DURO_SA_NAME_MAX ? DURO_SA_NAME_MAX : eq - v), v);
    cJSON *val;
    int rc = duro_client_search_attribute_value(ctx->client, reg, name, eq + 1,
                                                &val);
    if (rc < 0) return cli_client_fail(ctx, rc);
    cJSON_DeleteItemFromObject(out, name);
    cJSON_AddItemToObject(out, name, val);
    return 0;
}

int cli_get_search_attributes(cli_ctx *ctx, cJSON **out)
{
    *out = NULL;
    if (!cli_get(ctx, "search-attribute")) return 0;
    if (cli_connect(ctx)) return CLI_FAILED;
    cJSON *reg;
    int rc = duro_client_search_attribute_list(ctx->client, &reg);
    if (rc < 0) return cli_client_fail(ctx, rc);
    cJSON *attrs = cli_checked(cJSON_CreateObject());
    for (int i = 1; rc == 0 && i < cli_argc && strcmp(cli_argv[i], "--") != 0;
         i++) {
        const char *v = next_value(&i);
        if (v) rc = add_attribute(ctx, reg, v, attrs);
    }
    cJSON_Delete(reg);
    if (rc) {
        cJSON_Delete(attrs);
        return rc;
    }
    *out = attrs;
    return 0;
}
