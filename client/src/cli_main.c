/* cli_main.c: the duro command: dispatch over the command tables, help, and
 * the helpers the commands share (connecting, errors, JSON and tables). */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "duro/log.h"

#ifndef DURO_VERSION
#define DURO_VERSION "unknown"
#endif

/* GROUPS: every command noun; a new group slots in here. */
static const cli_group *const GROUPS[] = {&cli_workflow_group, &cli_queue_group,
                                          &cli_dev_group, &cli_health_group,
                                          NULL};

/* ---- Errors ---- */

bool cli_json_errors;

const char *cli_err_code(int err)
{
    switch (err) {
    case DURO_EINVAL:
        return "INVALID_ARGUMENT";
    case DURO_ENOMEM:
        return "OUT_OF_MEMORY";
    case DURO_EREDIS:
        return "REDIS_ERROR";
    case DURO_ECONN:
        return "UNAVAILABLE";
    case DURO_ESTALE:
        return "STALE";
    case DURO_ENOTFOUND:
        return "NOT_FOUND";
    case DURO_EALREADY:
        return "ALREADY_STARTED";
    case DURO_ENOTRUNNING:
        return "NOT_RUNNING";
    case DURO_ETIMEDOUT:
        return "DEADLINE_EXCEEDED";
    case DURO_ENONDET:
        return "NON_DETERMINISTIC";
    case DURO_ETOOBIG:
        return "PAYLOAD_TOO_LARGE";
    case DURO_EJSON:
        return "INVALID_JSON";
    case DURO_EPROTO:
        return "MALFORMED_DATA";
    case DURO_EFAILED:
        return "WORKFLOW_FAILED";
    case DURO_EAGAIN:
        return "UNAVAILABLE";
    case DURO_EAUTH:
        return "PERMISSION_DENIED";
    default:
        return "UNKNOWN";
    }
}

void cli_verror(int err, const char *prefix, const char *fmt, va_list ap)
{
    if (!cli_json_errors) {
        fprintf(stderr, "%s: ", prefix);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        return;
    }
    char msg[2048];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(e, "code", cli_err_code(err));
    cJSON_AddStringToObject(e, "message", msg);
    char *text = cJSON_PrintUnformatted(o);
    fprintf(stderr, "%s\n", text ? text : "{\"error\":{\"code\":\"UNKNOWN\"}}");
    cJSON_free(text);
    cJSON_Delete(o);
}

int cli_fail_err(int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cli_verror(err, "duro", fmt, ap);
    va_end(ap);
    return CLI_FAILED;
}

void *cli_checked(void *p)
{
    if (!p) exit(cli_fail_err(DURO_ENOMEM, "%s", duro_strerror(DURO_ENOMEM)));
    return p;
}

int cli_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cli_verror(0, "duro", fmt, ap);
    va_end(ap);
    return CLI_FAILED;
}

/* wants_json_errors: -o json anywhere on the command line, found before
 * parsing so that a usage error in an earlier word is JSON too. */
static bool wants_json_errors(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-ojson") == 0 || strcmp(a, "--output=json") == 0)
            return true;
        if ((strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) &&
            i + 1 < argc && strcmp(argv[i + 1], "json") == 0)
            return true;
    }
    return false;
}

/* ---- Shared helpers ---- */

int cli_connect(cli_ctx *ctx)
{
    char err[512];
    int rc = duro_client_new(&ctx->client, ctx->redis_url, err, sizeof(err));
    if (rc < 0) return cli_fail_err(rc, "%s", err);
    return 0;
}

int cli_client_fail(cli_ctx *ctx, int rc)
{
    const char *msg = duro_client_errstr(ctx->client);
    if (!msg || !*msg) msg = duro_strerror(rc);
    if (rc == DURO_EINVAL || rc == DURO_EJSON || rc == DURO_ETOOBIG)
        return cli_usage_err(ctx, rc, "%s", msg);
    return cli_fail_err(rc, "%s", msg);
}

/* print_value prints v as jq does: two-space indents, one member per line,
 * empty containers as {} and []. Scalars and keys go through cJSON so
 * escaping stays cJSON's. */
static void print_value(const cJSON *v, int depth)
{
    bool obj = cJSON_IsObject(v);
    if ((!obj && !cJSON_IsArray(v)) || !v->child) {
        char *s = obj ? NULL : cJSON_PrintUnformatted(v);
        fputs(obj ? "{}" : s ? s : "null", stdout);
        cJSON_free(s);
        return;
    }
    putchar(obj ? '{' : '[');
    for (const cJSON *c = v->child; c; c = c->next) {
        printf("\n%*s", 2 * (depth + 1), "");
        if (obj) {
            cJSON *k = cJSON_CreateString(c->string ? c->string : "");
            char *ks = k ? cJSON_PrintUnformatted(k) : NULL;
            printf("%s: ", ks ? ks : "\"\"");
            cJSON_free(ks);
            cJSON_Delete(k);
        }
        print_value(c, depth + 1);
        if (c->next) putchar(',');
    }
    printf("\n%*s%c", 2 * depth, "", obj ? '}' : ']');
}

void cli_print_json(const cJSON *v)
{
    if (v)
        print_value(v, 0);
    else
        fputs("null", stdout);
    putchar('\n');
}

int cli_print_owned(const cli_ctx *ctx, cJSON *v, void (*text)(const cJSON *))
{
    if (ctx->json)
        cli_print_json(v);
    else
        text(v);
    cJSON_Delete(v);
    return CLI_OK;
}

char *cli_json_text(const cJSON *v)
{
    return cli_checked(v ? cJSON_PrintUnformatted(v) : strdup("null"));
}

/* ---- Tables ---- */

void cli_table_init(cli_table *t, int ncols, const char *const *headers)
{
    memset(t, 0, sizeof(*t));
    t->ncols = ncols;
    cli_table_add(t, headers);
}

void cli_table_add(cli_table *t, const char *const *cells)
{
    if (t->nrows == t->cap) {
        int cap = t->cap ? t->cap * 2 : 16;
        t->cells = cli_checked(
            realloc(t->cells, (size_t)cap * (size_t)t->ncols * sizeof(char *)));
        t->cap = cap;
    }
    for (int i = 0; i < t->ncols; i++)
        t->cells[t->nrows * t->ncols + i] =
            cli_checked(strdup(cells[i] ? cells[i] : "-"));
    t->nrows++;
}

void cli_table_print(const cli_table *t)
{
    int w[16] = {0};
    for (int r = 0; r < t->nrows; r++)
        for (int i = 0; i < t->ncols && i < 16; i++) {
            const char *s = t->cells[r * t->ncols + i];
            int n = s ? (int)strlen(s) : 0;
            if (n > w[i]) w[i] = n;
        }
    for (int r = 0; r < t->nrows; r++) {
        for (int i = 0; i < t->ncols; i++) {
            const char *s = t->cells[r * t->ncols + i];
            if (i == t->ncols - 1)
                printf("%s\n", s ? s : "");
            else
                printf("%-*s  ", i < 16 ? w[i] : 0, s ? s : "");
        }
    }
}

void cli_table_free(cli_table *t)
{
    for (int i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof(*t));
}

/* ---- Help ---- */

static void main_help(void)
{
    printf("duro %s: durable execution on Redis, from the command line.\n\n"
           "Usage: duro [global options] <command> <subcommand> [options]\n\n"
           "Commands:\n",
           DURO_VERSION);
    for (int g = 0; GROUPS[g]; g++)
        for (const cli_cmd *c = GROUPS[g]->cmds; c->name; c++) {
            char left[64];
            snprintf(left, sizeof(left), "%s %s", GROUPS[g]->name, c->name);
            printf("  %-34s %s\n", left, c->summary);
        }
    cli_print_global_options();
    printf("\nRun 'duro <command> <subcommand> --help' for a command's "
           "options.\n");
}

static void group_help(const cli_group *g)
{
    printf("duro %s: %s\n\nUsage: duro %s <subcommand> [options]\n\n"
           "Subcommands:\n",
           g->name, g->summary, g->name);
    for (const cli_cmd *c = g->cmds; c->name; c++)
        printf("  %-34s %s\n", c->name, c->summary);
    cli_print_global_options();
}

static void cmd_help(const cli_ctx *ctx, const cli_cmd *c)
{
    printf("%s: %s\n\nUsage: %s [options]\n", ctx->path, c->summary, ctx->path);
    cli_print_options(c->opts);
    cli_print_global_options();
}

/* ---- Dispatch ---- */

static const cli_group *find_group(const char *name)
{
    for (int g = 0; GROUPS[g]; g++)
        if (strcmp(GROUPS[g]->name, name) == 0) return GROUPS[g];
    return NULL;
}

static const cli_cmd *find_cmd(const cli_group *g, const char *name)
{
    for (const cli_cmd *c = g->cmds; c->name; c++)
        if (strcmp(c->name, name) == 0) return c;
    return NULL;
}

/* command_names lists a group's subcommands (g) or the groups (g NULL),
 * for error messages. */
static void command_names(const cli_group *g, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; used < size; i++) {
        const char *name = g           ? g->cmds[i].name
                           : GROUPS[i] ? GROUPS[i]->name
                                       : NULL;
        if (!name) break;
        used += (size_t)snprintf(buf + used, size - used, "%s%s",
                                 used ? ", " : "", name);
    }
}

/* run_group: argv starts after the group's name. */
static int run_group(cli_ctx *ctx, const cli_group *g, int argc, char **argv)
{
    snprintf(ctx->path, sizeof(ctx->path), "duro %s", g->name);
    /* a group of one command runs it without naming it: `duro dev` */
    if (g->cmds[0].name && !g->cmds[1].name &&
        (argc == 0 || argv[0][0] == '-')) {
        const cli_cmd *c = &g->cmds[0];
        ctx->opts = c->opts;
        if (cli_parse(ctx, argc, argv, false) < 0) return CLI_USAGE;
        if (ctx->help) {
            cmd_help(ctx, c);
            return CLI_OK;
        }
        if (cli_check_required(ctx)) return CLI_USAGE;
        return c->run(ctx);
    }
    int i = cli_parse(ctx, argc, argv, true);
    if (i < 0) return CLI_USAGE;
    char names[256];
    command_names(g, names, sizeof(names));
    if (i >= argc) {
        if (ctx->help) {
            group_help(g);
            return CLI_OK;
        }
        return cli_usage(ctx, "missing subcommand (%s)", names);
    }
    const cli_cmd *c = find_cmd(g, argv[i]);
    if (!c)
        return cli_usage(ctx, "unknown subcommand \"%s\" (%s)", argv[i], names);
    snprintf(ctx->path, sizeof(ctx->path), "duro %s %s", g->name, c->name);
    ctx->opts = c->opts;
    if (cli_parse(ctx, argc - i - 1, argv + i + 1, false) < 0) return CLI_USAGE;
    if (ctx->help) {
        cmd_help(ctx, c);
        return CLI_OK;
    }
    if (cli_check_required(ctx)) return CLI_USAGE;
    return c->run(ctx);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    duro_log_init("duro");
    if (!getenv("DURO_LOG_LEVEL")) /* a CLI's output is its answer */
        duro_log_set_level(DURO_LOG_WARN);
    cli_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    cli_json_errors = wants_json_errors(argc, argv);
    snprintf(ctx.path, sizeof(ctx.path), "duro");
    int i = cli_parse(&ctx, argc - 1, argv + 1, true);
    if (i < 0) return CLI_USAGE;
    i++;
    if (ctx.version) {
        printf("duro %s\n", DURO_VERSION);
        return CLI_OK;
    }
    char names[256];
    command_names(NULL, names, sizeof(names));
    if (i >= argc) {
        if (ctx.help) {
            main_help();
            return CLI_OK;
        }
        return cli_usage(&ctx, "missing command (%s)", names);
    }
    const cli_group *g = find_group(argv[i]);
    if (!g)
        return cli_usage(&ctx, "unknown command \"%s\" (%s)", argv[i], names);
    int rc = run_group(&ctx, g, argc - i - 1, argv + i + 1);
    duro_client_free(ctx.client);
    if (fflush(stdout) != 0 && rc == CLI_OK) rc = CLI_FAILED;
    return rc;
}
