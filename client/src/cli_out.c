/* cli_out.c: what every duro command reports through: errors (text, or
 * JSON with -o json), usage errors, connecting, JSON and tables. Called by
 * cli_main.c, cli_opts.c and the commands; calls none of them. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/json.h"
#include "duro/utf8.h"
#include "cli.h"
#include "duro/errno.h"
#include "duro/log.h"

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
    case DURO_ECODEC:
        return "PAYLOAD_CODEC";
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
    char *text = duro_utf8_mend(cJSON_PrintUnformatted(o));
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

/* ---- Usage errors ---- */

static void usage_verr(const cli_ctx *ctx, int err, const char *fmt, va_list ap)
{
    cli_verror(err, ctx->path, fmt, ap);
    if (!cli_json_errors)
        fprintf(stderr, "Run '%s --help' for usage.\n", ctx->path);
}

int cli_usage(const cli_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    usage_verr(ctx, DURO_EINVAL, fmt, ap);
    va_end(ap);
    return CLI_USAGE;
}

int cli_usage_err(const cli_ctx *ctx, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    usage_verr(ctx, err, fmt, ap);
    va_end(ap);
    return CLI_USAGE;
}

/* ---- Shared helpers ---- */

int cli_connect(cli_ctx *ctx)
{
    /* once per command: reading --search-attribute types connects first */
    if (ctx->client) return 0;
    char err[512];
    duro_client_opts o = {.redis_url = ctx->redis_url,
                          .namespace_ = ctx->namespace_};
    int rc = duro_client_new_opts(&ctx->client, &o, err, sizeof(err));
    if (rc < 0) return cli_fail_err(rc, "%s", err);
    rc = cli_codec_setup(ctx, err, sizeof(err));
    return rc < 0 ? cli_fail_err(rc, "%s", err) : 0;
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
        char *s = obj ? NULL : duro_utf8_mend(cJSON_PrintUnformatted(v));
        fputs(obj ? "{}" : s ? s : "null", stdout);
        cJSON_free(s);
        return;
    }
    putchar(obj ? '{' : '[');
    for (const cJSON *c = v->child; c; c = c->next) {
        printf("\n%*s", 2 * (depth + 1), "");
        if (obj) {
            cJSON *k = cJSON_CreateString(c->string ? c->string : "");
            char *ks = k ? duro_utf8_mend(cJSON_PrintUnformatted(k)) : NULL;
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
    cli_codec_mask(ctx, v);
    if (ctx->json)
        cli_print_json(v);
    else
        text(v);
    cJSON_Delete(v);
    return CLI_OK;
}

char *cli_json_text(const cJSON *v)
{
    return cli_checked(v ? duro_json_print_out(v) : strdup("null"));
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
