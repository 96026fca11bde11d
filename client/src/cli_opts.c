/* cli_opts.c: the one option parser and help printer all commands share. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "duro/config.h"
#include "duro/duration.h"
#include "duro/errno.h"
#include "duro/json.h"
#include "duro/keys.h"

/* GLOBAL_OPTS: accepted by every command, before or after its name. */
static const cli_opt GLOBAL_OPTS[] = {
    {"redis", 0, "URL",
     "Redis URL (default $DURO_REDIS_URL, else redis://127.0.0.1:6379)", false},
    {"namespace", 'n', "NAME",
     "namespace (default $DURO_NAMESPACE, else default)", false},
    {"redis-wait", 0, "N",
     "replicas that must confirm each write (default $DURO_REDIS_WAIT, "
     "else 0)",
     false},
    {"output", 'o', "FORMAT", "output format: text (default) or json", false},
    {"help", 'h', NULL, "show this help", false},
    {"version", 0, NULL, "print the version", false},
    {0},
};

static const cli_opt *find(const cli_opt *opts, const char *name, size_t len,
                           char short_name, int *index)
{
    for (int i = 0; opts && opts[i].name; i++) {
        if (short_name ? opts[i].short_name == short_name
                       : strlen(opts[i].name) == len &&
                             strncmp(opts[i].name, name, len) == 0) {
            *index = i;
            return &opts[i];
        }
    }
    return NULL;
}

static int set_global(cli_ctx *ctx, const cli_opt *o, const char *value)
{
    if (strcmp(o->name, "redis") == 0) {
        /* a URL that cannot be right is a wrong command line (exit 2); what
         * the environment adds to it (password file, TLS) is read later */
        duro_redis_url u;
        char why[512];
        if (duro_redis_url_parse(value, &u, why, sizeof(why)) &&
            strncmp(why, "bad redis url", 13) == 0) {
            cli_usage(ctx, "--redis: %s", why);
            return -1;
        }
        ctx->redis_url = value;
    } else if (strcmp(o->name, "redis-wait") == 0) {
        char *end;
        long n = strtol(value, &end, 10);
        if (!*value || *end || n < 0 || n > DURO_REDIS_WAIT_MAX) {
            cli_usage(ctx, "--redis-wait must be 0..%d replicas, not \"%s\"",
                      DURO_REDIS_WAIT_MAX, value);
            return -1;
        }
        /* read where every URL is parsed (duro_redis_url_parse) */
        setenv("DURO_REDIS_WAIT", value, 1);
    } else if (strcmp(o->name, "namespace") == 0) {
        char why[160];
        if (duro_namespace_check(value, why, sizeof(why))) {
            cli_usage(ctx, "%s", why);
            return -1;
        }
        ctx->namespace_ = value;
    } else if (strcmp(o->name, "output") == 0) {
        if (strcmp(value, "json") != 0 && strcmp(value, "text") != 0) {
            cli_usage(ctx, "--output must be text or json, not \"%s\"", value);
            return -1;
        }
        ctx->json = strcmp(value, "json") == 0;
        cli_json_errors = ctx->json; /* the last -o wins, as for output */
    } else if (strcmp(o->name, "help") == 0) {
        ctx->help = true;
    } else {
        ctx->version = true;
    }
    return 0;
}

/* parse_one handles argv[*i], consuming a value from argv[*i + 1] if the
 * option takes one. Returns 0 or -1 after a usage error. */
static int parse_one(cli_ctx *ctx, int argc, char **argv, int *i)
{
    const char *a = argv[*i], *name = NULL, *value = NULL;
    size_t len = 0;
    char short_name = 0;
    if (a[1] == '-') {
        name = a + 2;
        const char *eq = strchr(name, '=');
        len = eq ? (size_t)(eq - name) : strlen(name);
        value = eq ? eq + 1 : NULL;
    } else {
        short_name = a[1];
        value = a[2] ? a + 2 : NULL;
    }
    int idx = -1;
    bool global = false;
    const cli_opt *o = find(ctx->opts, name, len, short_name, &idx);
    if (!o) {
        o = find(GLOBAL_OPTS, name, len, short_name, &idx);
        global = true;
    }
    if (!o) {
        cli_usage(ctx, "unknown option %s", a);
        return -1;
    }
    if (o->arg && !value) {
        if (*i + 1 >= argc) {
            cli_usage(ctx, "option --%s needs a value (%s)", o->name, o->arg);
            return -1;
        }
        value = argv[++*i];
    } else if (!o->arg && value) {
        cli_usage(ctx, "option --%s takes no value", o->name);
        return -1;
    }
    if (global) return set_global(ctx, o, value);
    if (idx < CLI_MAX_OPTS) ctx->values[idx] = o->arg ? value : "";
    return 0;
}

int cli_parse(cli_ctx *ctx, int argc, char **argv, bool stop_at_word)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] == '\0' || strcmp(a, "--") == 0) {
            if (stop_at_word && strcmp(a, "--") != 0) return i;
            cli_usage(ctx, "unexpected argument \"%s\"", a);
            return -1;
        }
        if (parse_one(ctx, argc, argv, &i) < 0) return -1;
    }
    return argc;
}

int cli_check_required(cli_ctx *ctx)
{
    for (int i = 0; ctx->opts && ctx->opts[i].name; i++)
        if (ctx->opts[i].required && !ctx->values[i])
            return cli_usage(ctx, "missing required option --%s",
                             ctx->opts[i].name);
    return 0;
}

const char *cli_get(const cli_ctx *ctx, const char *name)
{
    int idx;
    if (find(ctx->opts, name, strlen(name), 0, &idx) && idx < CLI_MAX_OPTS)
        return ctx->values[idx];
    return NULL;
}

int cli_get_duration(const cli_ctx *ctx, const char *name, int64_t *ms)
{
    const char *v = cli_get(ctx, name);
    if (!v) return 0;
    if (duro_duration_parse(v, ms) < 0) {
        cli_usage(ctx,
                  "--%s: \"%s\" is not a duration (examples: 500ms, 30s, 1m, "
                  "2h, 7d, 1h30m)",
                  name, v);
        return -1;
    }
    return 0;
}

int cli_get_timeout(const cli_ctx *ctx, int64_t *ms)
{
    int64_t v = 0;
    if (cli_get_duration(ctx, "timeout", &v)) return -1;
    if (cli_get(ctx, "timeout") && v <= 0) {
        cli_usage(ctx, "--timeout must be above 0 (leave it out for the "
                       "default)");
        return -1;
    }
    if (cli_get(ctx, "timeout")) *ms = v;
    return 0;
}

static int get_id_reuse(const cli_ctx *ctx, duro_id_reuse_policy *p)
{
    const char *v = cli_get(ctx, "id-reuse-policy");
    if (!v || duro_id_reuse_policy_parse(v, p) == 0) return 0;
    cli_usage(ctx,
              "--id-reuse-policy: \"%s\" is not one of " DURO_ID_REUSE_POLICIES
              " (or kebab-case: reject-duplicate, ...)",
              v);
    return -1;
}

/* get_priority: --priority 1..5 (absent: 0, the default 3) */
static int get_priority(const cli_ctx *ctx, int *out)
{
    const char *v = cli_get(ctx, "priority");
    if (!v) return 0;
    if (v[0] >= '1' && v[0] <= '5' && v[1] == '\0') {
        *out = v[0] - '0';
        return 0;
    }
    cli_usage(ctx, "--priority: \"%s\" is not 1 (highest) .. 5", v);
    return -1;
}

/* get_fairness: --fairness-key K [--fairness-weight 1..1000] */
static int get_fairness(const cli_ctx *ctx, duro_start_opts *o)
{
    o->fairness_key = cli_get(ctx, "fairness-key");
    const char *v = cli_get(ctx, "fairness-weight");
    if (!v) return 0;
    char *end;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < 1 || n > 1000) {
        cli_usage(ctx, "--fairness-weight: \"%s\" is not 1..1000", v);
        return -1;
    }
    if (!o->fairness_key) {
        cli_usage(ctx, "--fairness-weight needs --fairness-key (the weight "
                       "is that key's share)");
        return -1;
    }
    o->fairness_weight = (int)n;
    return 0;
}

int cli_get_start_opts(const cli_ctx *ctx, duro_start_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->workflow_id = cli_get(ctx, "workflow-id");
    o->type = cli_get(ctx, "type");
    o->task_queue = cli_get(ctx, "task-queue");
    if (cli_get_duration(ctx, "execution-timeout", &o->execution_timeout_ms) ||
        cli_get_duration(ctx, "task-timeout", &o->task_timeout_ms) ||
        cli_get_duration(ctx, "run-timeout", &o->run_timeout_ms) ||
        get_id_reuse(ctx, &o->id_reuse_policy) ||
        get_priority(ctx, &o->priority) || get_fairness(ctx, o))
        return -1;
    return 0;
}

/* read_input reads path, at most the payload limit. NULL after printing
 * an error, *rc the exit status: CLI_USAGE for a file over the limit (as
 * an --input over it), CLI_FAILED when it cannot be read. */
static char *read_input(const cli_ctx *ctx, const char *path, int *rc)
{
    *rc = CLI_FAILED;
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        cli_fail_err(DURO_EINVAL, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = DURO_DEFAULT_MAX_PAYLOAD + 1, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        if (f != stdin) fclose(f);
        cli_fail_err(DURO_ENOMEM, "%s", duro_strerror(DURO_ENOMEM));
        return NULL;
    }
    while (n < cap) {
        size_t got = fread(buf + n, 1, cap - n, f);
        if (got == 0) break;
        n += got;
    }
    bool bad = ferror(f) || memchr(buf, '\0', n);
    if (f != stdin) fclose(f);
    if (!bad && n == cap) {
        /* the client would report the cap + 1 bytes read as its size */
        free(buf);
        *rc = cli_usage_err(ctx, DURO_ETOOBIG,
                            "%s: more than %zu bytes, the payload limit", path,
                            (size_t)DURO_DEFAULT_MAX_PAYLOAD);
        return NULL;
    }
    if (bad) {
        free(buf);
        cli_fail_err(DURO_EINVAL, "cannot read %s (or it holds a NUL byte)",
                     path);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

int cli_get_input(const cli_ctx *ctx, const char *name, const char *file_name,
                  const char **input, char **owned)
{
    const char *file = cli_get(ctx, file_name);
    *input = cli_get(ctx, name);
    *owned = NULL;
    if (*input && file)
        return cli_usage(ctx, "give --%s or --%s, not both", name, file_name);
    if (!file) return 0;
    int rc;
    if (!(*owned = read_input(ctx, file, &rc))) return rc;
    *input = *owned;
    return 0;
}

/* ---- Help ---- */

static void print_table(const cli_opt *opts)
{
    for (int i = 0; opts && opts[i].name; i++) {
        const cli_opt *o = &opts[i];
        char left[64], flag[8] = "    ";
        if (o->short_name) snprintf(flag, sizeof(flag), "-%c, ", o->short_name);
        snprintf(left, sizeof(left), "%s--%s%s%s", flag, o->name,
                 o->arg ? " " : "", o->arg ? o->arg : "");
        printf("  %-34s %s%s\n", left, o->help,
               o->required ? " (required)" : "");
    }
}

void cli_print_options(const cli_opt *opts)
{
    if (!opts || !opts->name) return;
    printf("\nOptions:\n");
    print_table(opts);
}

void cli_print_global_options(void)
{
    printf("\nGlobal options:\n");
    print_table(GLOBAL_OPTS);
}
