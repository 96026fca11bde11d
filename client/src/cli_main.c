/* cli_main.c: the duro command: dispatch over the command tables and help.
 * What the commands share (errors, connecting, JSON and tables) is in
 * cli_out.c. */
#include <errno.h>
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
static const cli_group *const GROUPS[] = {
    &cli_workflow_group, &cli_queue_group,    &cli_dev_group,
    &cli_health_group,   &cli_operator_group, &cli_schedule_group,
    &cli_server_group,   &cli_activity_group, NULL};

int cli_argc;
char **cli_argv;

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

/* ---- Help ---- */

static void main_help(void)
{
    printf("duro %s: durable execution on Redis, from the command line.\n\n"
           "Usage: duro [global options] <command> <subcommand> [options]\n\n"
           "Commands:\n",
           DURO_VERSION);
    for (int g = 0; GROUPS[g]; g++) {
        for (const cli_cmd *c = GROUPS[g]->cmds; c->name; c++) {
            char left[64];
            snprintf(left, sizeof(left), "%s %s", GROUPS[g]->name, c->name);
            printf("  %-34s %s\n", left, c->summary);
        }
        for (int s = 0; GROUPS[g]->groups && GROUPS[g]->groups[s]; s++) {
            char left[64];
            snprintf(left, sizeof(left), "%s %s ...", GROUPS[g]->name,
                     GROUPS[g]->groups[s]->name);
            printf("  %-34s %s\n", left, GROUPS[g]->groups[s]->summary);
        }
    }
    cli_print_global_options();
    printf("\nRun 'duro <command> <subcommand> --help' for a command's "
           "options.\n");
}

static void group_help(const cli_ctx *ctx, const cli_group *g)
{
    printf("%s: %s\n\nUsage: %s <subcommand> [options]\n\n"
           "Subcommands:\n",
           ctx->path, g->summary, ctx->path);
    for (const cli_cmd *c = g->cmds; c->name; c++)
        printf("  %-34s %s\n", c->name, c->summary);
    for (int s = 0; g->groups && g->groups[s]; s++)
        printf("  %-34s %s\n", g->groups[s]->name, g->groups[s]->summary);
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

static const cli_group *find_subgroup(const cli_group *g, const char *name)
{
    for (int s = 0; g->groups && g->groups[s]; s++)
        if (strcmp(g->groups[s]->name, name) == 0) return g->groups[s];
    return NULL;
}

static const cli_cmd *find_cmd(const cli_group *g, const char *name)
{
    for (const cli_cmd *c = g->cmds; c->name; c++)
        if (strcmp(c->name, name) == 0) return c;
    return NULL;
}

/* command_names lists a group's subcommands and nouns (g) or the groups
 * (g NULL), for error messages. */
static void command_names(const cli_group *g, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    int ncmds = 0;
    while (g && g->cmds[ncmds].name)
        ncmds++;
    for (int i = 0; used < size; i++) {
        const char *name =
            !g          ? GROUPS[i] ? GROUPS[i]->name : NULL
            : i < ncmds ? g->cmds[i].name
            : g->groups
                ? (g->groups[i - ncmds] ? g->groups[i - ncmds]->name : NULL)
                : NULL;
        if (!name) break;
        used += (size_t)snprintf(buf + used, size - used, "%s%s",
                                 used ? ", " : "", name);
    }
}

/* run_group: argv starts after the group's name; ctx->path names the
 * group ("duro workflow", "duro operator namespace"). */
static int run_group(cli_ctx *ctx, const cli_group *g, int argc, char **argv)
{
    /* a group of one command runs it without naming it: `duro dev` */
    if (g->cmds[0].name && !g->cmds[1].name && !g->groups &&
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
            group_help(ctx, g);
            return CLI_OK;
        }
        return cli_usage(ctx, "missing subcommand (%s)", names);
    }
    const cli_group *sub = find_subgroup(g, argv[i]);
    if (sub) {
        size_t n = strlen(ctx->path);
        snprintf(ctx->path + n, sizeof(ctx->path) - n, " %s", sub->name);
        return run_group(ctx, sub, argc - i - 1, argv + i + 1);
    }
    const cli_cmd *c = find_cmd(g, argv[i]);
    if (!c)
        return cli_usage(ctx, "unknown subcommand \"%s\" (%s)", argv[i], names);
    size_t n = strlen(ctx->path);
    snprintf(ctx->path + n, sizeof(ctx->path) - n, " %s", c->name);
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
    cli_argc = argc;
    cli_argv = argv;
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
    snprintf(ctx.path, sizeof(ctx.path), "duro %s", g->name);
    int rc = run_group(&ctx, g, argc - i - 1, argv + i + 1);
    duro_client_free(ctx.client);
    /* a reader that went away (`| head`) needs no message; a full disk or
     * a closed stdout does: the answer was lost */
    errno = 0;
    if ((fflush(stdout) != 0 || ferror(stdout)) && rc == CLI_OK) {
        if (errno != EPIPE)
            cli_fail("cannot write the output: %s",
                     errno ? strerror(errno) : "write error");
        rc = CLI_FAILED;
    }
    return rc;
}
