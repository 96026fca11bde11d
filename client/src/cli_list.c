/* cli_list.c: `duro workflow list` and `duro workflow count`: runs that
 * match a visibility query (--status and --type are sugar for one). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/utf8.h"
#include "cli.h"

const cli_opt cli_list_opts[] = {
    {"query", 'q', "QUERY",
     "list filter, e.g. \"WorkflowType='order' AND OrderState='Paid' ORDER "
     "BY StartTime DESC\" (default: every run, newest first)",
     false},
    {"status", 's', "STATUS",
     "RUNNING, COMPLETED, FAILED, CANCELED, TERMINATED, TIMED_OUT or "
     "CONTINUED_AS_NEW (any case); short for a query, not with --query",
     false},
    {"type", 0, "TYPE", "only workflows of this type", false},
    {"limit", 0, "N", "at most N rows per page (default 100)", false},
    {"next-page-token", 0, "TOKEN", "the page after the one that printed it",
     false},
    {0},
};

const cli_opt cli_count_opts[] = {
    {"query", 'q', "QUERY", "list filter (default: every run)", false},
    {0},
};

static int parse_limit(const cli_ctx *ctx, int *limit)
{
    const char *v = cli_get(ctx, "limit");
    if (!v) return 0;
    char *end;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < 1 || n > DURO_LIST_MAX_LIMIT) {
        cli_usage(ctx, "--limit must be an integer from 1 to %d",
                  DURO_LIST_MAX_LIMIT);
        return -1;
    }
    *limit = (int)n;
    return 0;
}

#define STATUS_WORDS                                                           \
    "RUNNING, COMPLETED, FAILED, CANCELED, TERMINATED, TIMED_OUT, "            \
    "CONTINUED_AS_NEW"

/* known_status: up (--status upper-cased, '-' as '_') is a status the
 * query takes, in our spelling or Temporal's (TIMEDOUT): checked here so
 * that the error names --status rather than a column of a query the user
 * did not write. */
static bool known_status(const char *up)
{
    static const char *const words[] = {
        "RUNNING",  "COMPLETED",        "FAILED",
        "CANCELED", "TERMINATED",       "TIMED_OUT",
        "TIMEDOUT", "CONTINUED_AS_NEW", "CONTINUEDASNEW"};
    for (size_t i = 0; i < sizeof(words) / sizeof(*words); i++)
        if (strcmp(up, words[i]) == 0) return true;
    return false;
}

/* build_query: --query, or the query --status and --type stand for (a
 * status word and a name: duro_name_check allows no quote). NULL after a
 * usage error. */
static char *build_query(const cli_ctx *ctx)
{
    const char *q = cli_get(ctx, "query");
    const char *status = cli_get(ctx, "status");
    const char *type = cli_get(ctx, "type");
    if (q && (status || type)) {
        cli_usage(ctx, "--status and --type are short for a query: with "
                       "--query, write ExecutionStatus='...' and "
                       "WorkflowType='...' in it");
        return NULL;
    }
    if (q) return cli_checked(strdup(q));
    size_t cap = (type ? strlen(type) : 0) + 128;
    char *out = cli_checked(malloc(cap));
    size_t n = 0;
    out[0] = '\0';
    if (status) {
        char up[32];
        size_t i = 0;
        for (; status[i] && i + 1 < sizeof(up); i++)
            up[i] =
                (char)(status[i] == '-' ? '_'
                                        : toupper((unsigned char)status[i]));
        up[i] = '\0';
        if (!known_status(up)) {
            cli_usage(ctx, "--status: \"%s\" is not one of %s (any case)",
                      status, STATUS_WORDS);
            free(out);
            return NULL;
        }
        n += (size_t)snprintf(out, cap, "ExecutionStatus='%s'", up);
    }
    if (type)
        snprintf(out + n, cap - n, "%sWorkflowType='%s'", n ? " AND " : "",
                 strchr(type, '\'') ? "?" : type);
    return out;
}

/* json_cell: v as compact JSON for a table cell, NULL when empty or
 * null (the caller frees). */
static char *json_cell(const cJSON *v)
{
    if (!v || cJSON_IsNull(v) || (cJSON_IsObject(v) && !v->child)) return NULL;
    return duro_utf8_mend(cJSON_PrintUnformatted(v));
}

static void print_rows(const cJSON *rows)
{
    static const char *const head[] = {
        "STATUS",     "WORKFLOW ID",       "RUN ID", "TYPE", "START TIME",
        "CLOSE TIME", "SEARCH ATTRIBUTES", "MEMO"};
    static const char *const keys[] = {"status", "workflowId", "runId",
                                       "type",   "startTime",  "closeTime"};
    cli_table t;
    cli_table_init(&t, 8, head);
    const cJSON *r;
    cJSON_ArrayForEach(r, rows)
    {
        const char *cells[8];
        for (int i = 0; i < 6; i++) {
            const char *v =
                cJSON_GetStringValue(cJSON_GetObjectItem(r, keys[i]));
            cells[i] = v ? v : "-";
        }
        char *sa = json_cell(cJSON_GetObjectItem(r, "searchAttributes"));
        char *memo = json_cell(cJSON_GetObjectItem(r, "memo"));
        cells[6] = sa ? sa : "-";
        cells[7] = memo ? memo : "-";
        cli_table_add(&t, cells);
        free(sa);
        free(memo);
    }
    cli_table_print(&t);
    cli_table_free(&t);
}

int cli_list(cli_ctx *ctx)
{
    duro_list_opts o = {0};
    if (parse_limit(ctx, &o.limit)) return CLI_USAGE;
    char *query = build_query(ctx);
    if (!query) return CLI_USAGE;
    if (cli_connect(ctx)) {
        free(query);
        return CLI_FAILED;
    }
    o.query = query;
    o.page_token = cli_get(ctx, "next-page-token");
    cJSON *rows;
    char *next = NULL;
    int rc = duro_client_list_query(ctx->client, &o, &rows, &next);
    free(query);
    if (rc < 0) return cli_client_fail(ctx, rc);
    /* -o json: stdout stays the array of rows; the token of the next page
     * goes to stderr as {"nextPageToken": ...} */
    if (ctx->json) {
        cli_print_json(rows);
        if (next) fprintf(stderr, "{\"nextPageToken\":\"%s\"}\n", next);
    } else {
        print_rows(rows);
        if (next) printf("Next page: --next-page-token %s\n", next);
    }
    cJSON_Delete(rows);
    free(next);
    return CLI_OK;
}

int cli_count(cli_ctx *ctx)
{
    if (cli_connect(ctx)) return CLI_FAILED;
    int64_t n = 0;
    int rc = duro_client_count(ctx->client, cli_get(ctx, "query"), &n);
    if (rc < 0) return cli_client_fail(ctx, rc);
    if (ctx->json) {
        cJSON *j = cli_checked(cJSON_CreateObject());
        cJSON_AddNumberToObject(j, "count", (double)n);
        cli_print_json(j);
        cJSON_Delete(j);
    } else {
        printf("%lld\n", (long long)n);
    }
    return CLI_OK;
}
