/* cli_workflow.c: `duro workflow ...`: start, describe, result, history,
 * list, terminate, and the command table that also lists the commands of
 * cli_signal.c. Each command is an option table plus a run function. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "duro/json.h"

#define OPT_WORKFLOW_ID                                                        \
    {                                                                          \
        "workflow-id", 'w', "ID", "workflow id", true                          \
    }

/* ---- start ---- */

static const cli_opt START_OPTS[] = {
    OPT_WORKFLOW_ID,
    {"type", 0, "TYPE", "workflow type", true},
    {"task-queue", 't', "QUEUE", "task queue the workers poll", true},
    {"input", 'i', "JSON", "input as JSON text (default null)", false},
    {"input-file", 0, "PATH", "read the input JSON from a file (- = stdin)",
     false},
    {"execution-timeout", 0, "DURATION",
     "limit on the whole workflow, continue-as-new runs included, e.g. 1h "
     "(default none)",
     false},
    {"run-timeout", 0, "DURATION", "limit on one run (default none)", false},
    {"task-timeout", 0, "DURATION", "limit on one workflow task (default 10s)",
     false},
    {"id-reuse-policy", 0, "POLICY",
     "AllowDuplicate (default), AllowDuplicateFailedOnly, RejectDuplicate "
     "or TerminateIfRunning",
     false},
    {"search-attribute", 0, "NAME=VALUE",
     "a registered search attribute, typed by its registration (repeat "
     "for more)",
     false},
    {"memo", 0, "JSON", "a JSON object shown by describe and list", false},
    {"priority", 0, "N",
     "1 (highest) .. 5 (default 3): which waiting tasks of the queue "
     "workers take first; activities and children inherit it",
     false},
    {"fairness-key", 0, "KEY",
     "e.g. a tenant id: the queue hands out tasks round-robin across keys, "
     "so one key's burst does not hold up another's",
     false},
    {"fairness-weight", 0, "N",
     "1..1000 (default 1): the key's share of the round-robin", false},
    {0},
};

static int cmd_start(cli_ctx *ctx)
{
    duro_start_opts o;
    if (cli_get_start_opts(ctx, &o)) return CLI_USAGE;
    char *text;
    int rc = cli_get_input(ctx, "input", "input-file", &o.input, &text);
    if (rc) return rc;
    cJSON *attrs = NULL;
    if ((rc = cli_get_search_attributes(ctx, &attrs))) {
        free(text);
        return rc;
    }
    o.search_attributes = attrs;
    o.memo = cli_get(ctx, "memo");
    rc = cli_connect(ctx);
    char run[DURO_UUID_LEN + 1];
    if (rc == 0) rc = duro_client_start(ctx->client, &o, run);
    free(text);
    cJSON_Delete(attrs);
    if (rc == CLI_FAILED) return rc;
    if (rc < 0) return cli_client_fail(ctx, rc);
    if (ctx->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "workflowId", o.workflow_id);
        cJSON_AddStringToObject(j, "runId", run);
        cli_print_json(j);
        cJSON_Delete(j);
    } else {
        printf("Started workflow %s run %s\n", o.workflow_id, run);
    }
    return CLI_OK;
}

/* ---- describe ---- */

static const cli_opt DESCRIBE_OPTS[] = {
    OPT_WORKFLOW_ID,
    {"run-id", 'r', "RUN",
     "a run of the workflow (default: the current one); an older run, e.g. "
     "one that continued as new, is described from its visibility row and "
     "its history (input, result or failure)",
     false},
    {0}};

static const char *str_or(const cJSON *o, const char *name, const char *def)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(o, name));
    return s ? s : def;
}

static void print_json_line(const char *label, const cJSON *v)
{
    char *s = cli_json_text(v);
    printf("%-18s %s\n", label, s);
    free(s);
}

static void print_activities(const cJSON *acts)
{
    if (cJSON_GetArraySize(acts) == 0) return;
    printf("\nPending activities:\n");
    static const char *const head[] = {
        "  SEQ", "NAME", "ATTEMPT", "STATE", "LAST HEARTBEAT", "LAST FAILURE"};
    cli_table t;
    cli_table_init(&t, 6, head);
    const cJSON *a;
    cJSON_ArrayForEach(a, acts)
    {
        char seq[32], att[32];
        snprintf(seq, sizeof(seq), "  %.0f",
                 cJSON_GetNumberValue(cJSON_GetObjectItem(a, "seq")));
        snprintf(att, sizeof(att), "%.0f",
                 cJSON_GetNumberValue(cJSON_GetObjectItem(a, "attempt")));
        const cJSON *f = cJSON_GetObjectItem(a, "lastFailure");
        char *fs = cJSON_IsNull(f) || !f ? NULL : cli_json_text(f);
        const char *cells[] = {seq,
                               str_or(a, "name", "?"),
                               att,
                               str_or(a, "state", "?"),
                               str_or(a, "lastHeartbeat", "-"),
                               fs ? fs : "-"};
        cli_table_add(&t, cells);
        free(fs);
    }
    cli_table_print(&t);
    cli_table_free(&t);
}

static void print_children(const cJSON *kids)
{
    if (cJSON_GetArraySize(kids) == 0) return;
    printf("\nPending children:\n");
    static const char *const head[] = {"  SEQ", "WORKFLOW ID", "RUN ID",
                                       "CLOSE POLICY", "STARTED"};
    cli_table t;
    cli_table_init(&t, 5, head);
    const cJSON *k;
    cJSON_ArrayForEach(k, kids)
    {
        char seq[32];
        snprintf(seq, sizeof(seq), "  %.0f",
                 cJSON_GetNumberValue(cJSON_GetObjectItem(k, "seq")));
        const char *run = str_or(k, "runId", "");
        const char *cells[] = {
            seq, str_or(k, "workflowId", "?"), *run ? run : "-",
            str_or(k, "parentClosePolicy", "?"),
            cJSON_IsTrue(cJSON_GetObjectItem(k, "started")) ? "yes" : "no"};
        cli_table_add(&t, cells);
    }
    cli_table_print(&t);
    cli_table_free(&t);
}

static void print_describe(const cJSON *d)
{
    printf("%-18s %s\n", "Workflow ID", str_or(d, "workflowId", ""));
    printf("%-18s %s\n", "Run ID", str_or(d, "runId", ""));
    printf("%-18s %s\n", "Type", str_or(d, "type", ""));
    printf("%-18s %s\n", "Task queue", str_or(d, "taskQueue", ""));
    printf("%-18s %s\n", "Status", str_or(d, "status", ""));
    printf("%-18s %s\n", "Start time", str_or(d, "startTime", "-"));
    printf("%-18s %s\n", "Close time", str_or(d, "closeTime", "-"));
    printf("%-18s %.0f\n", "History length",
           cJSON_GetNumberValue(cJSON_GetObjectItem(d, "historyLength")));
    /* an older run's description (--run-id) has no task, nor an input
       when its history is gone or damaged */
    if (cJSON_HasObjectItem(d, "input"))
        print_json_line("Input", cJSON_GetObjectItem(d, "input"));
    if (cJSON_HasObjectItem(d, "result"))
        print_json_line("Result", cJSON_GetObjectItem(d, "result"));
    const cJSON *failure = cJSON_GetObjectItem(d, "failure");
    if (failure && !cJSON_IsNull(failure)) print_json_line("Failure", failure);
    const char *from = str_or(d, "continuedFromRunId", NULL);
    if (from) printf("%-18s %s\n", "Continued from", from);
    const char *as = str_or(d, "continuedAsRunId", NULL);
    if (as) printf("%-18s %s\n", "Continued as", as);
    const cJSON *t = cJSON_GetObjectItem(d, "workflowTask");
    if (cJSON_IsTrue(cJSON_GetObjectItem(t, "pending")))
        printf("%-18s pending, attempt %.0f\n", "Workflow task",
               cJSON_GetNumberValue(cJSON_GetObjectItem(t, "attempt")));
    else if (t)
        printf("%-18s none pending\n", "Workflow task");
    const char *le = str_or(t, "lastError", NULL);
    if (le) printf("%-18s %s\n", "Last task error", le);
    const cJSON *sa = cJSON_GetObjectItem(d, "searchAttributes");
    if (sa && sa->child) print_json_line("Search attributes", sa);
    const cJSON *memo = cJSON_GetObjectItem(d, "memo");
    if (memo && !cJSON_IsNull(memo)) print_json_line("Memo", memo);
    const cJSON *parent = cJSON_GetObjectItem(d, "parent");
    if (parent) print_json_line("Parent", parent);
    print_children(cJSON_GetObjectItem(d, "pendingChildren"));
    print_activities(cJSON_GetObjectItem(d, "pendingActivities"));
    const cJSON *stack = cJSON_GetObjectItem(d, "stack");
    if (stack) cli_stack_print(stack);
}

static int cmd_describe(cli_ctx *ctx)
{
    if (cli_connect(ctx)) return CLI_FAILED;
    cJSON *d;
    const char *run = cli_get(ctx, "run-id");
    int rc = duro_client_describe_run(ctx->client, cli_get(ctx, "workflow-id"),
                                      run, &d);
    if (rc < 0) return cli_client_fail(ctx, rc);
    /* a running run's stack; an older run is closed */
    if (!run || !*run) cli_describe_add_stack(ctx, d);
    return cli_print_owned(ctx, d, print_describe);
}

/* ---- result ---- */

static const cli_opt RESULT_OPTS[] = {
    OPT_WORKFLOW_ID,
    {"timeout", 0, "DURATION",
     "give up after this long (default: wait, and warn after "
     "$DURO_RESULT_WARN_AFTER, 5s, when no worker polls the task queue)",
     false},
    {0},
};

/* print_outcome: the result alone when COMPLETED (exit 0), else the status
 * and failure (exit 1). */
static int print_outcome(const cli_ctx *ctx, const cJSON *d)
{
    const char *status = str_or(d, "status", "?");
    if (strcmp(status, "COMPLETED") == 0) {
        const cJSON *r = cJSON_GetObjectItem(d, "result");
        if (ctx->json) {
            cli_print_json(r);
        } else {
            char *s = cli_json_text(r);
            puts(s);
            free(s);
        }
        return CLI_OK;
    }
    const cJSON *f = cJSON_GetObjectItem(d, "failure");
    if (ctx->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "workflowId", str_or(d, "workflowId", ""));
        cJSON_AddStringToObject(o, "runId", str_or(d, "runId", ""));
        cJSON_AddStringToObject(o, "status", status);
        cJSON_AddItemToObject(o, "failure",
                              f ? cJSON_Duplicate(f, 1) : cJSON_CreateNull());
        cli_print_json(o);
        cJSON_Delete(o);
    } else {
        printf("Workflow %s %s\n", str_or(d, "workflowId", ""), status);
        char *s = cli_json_text(f);
        printf("Failure: %s\n", s);
        free(s);
    }
    return CLI_FAILED;
}

static int cmd_result(cli_ctx *ctx)
{
    int64_t timeout = 0;
    if (cli_get_timeout(ctx, &timeout)) return CLI_USAGE;
    if (cli_connect(ctx)) return CLI_FAILED;
    cJSON *d;
    const char *id = cli_get(ctx, "workflow-id");
    int rc = cli_wait_result(ctx, id, timeout, &d);
    if (rc < 0) return cli_client_fail(ctx, rc);
    cli_codec_mask(ctx, d);
    rc = print_outcome(ctx, d);
    cJSON_Delete(d);
    return rc;
}

/* ---- history ---- */

static const cli_opt HISTORY_OPTS[] = {
    OPT_WORKFLOW_ID,
    {"run-id", 'r', "RUN", "run id (default: the current run)", false},
    {"archived", 0, NULL,
     "read the run from the archive (duro-scheduler --archive-dir), not Redis",
     false},
    {"archive-dir", 0, "DIR",
     "the archive's directory (default $DURO_ARCHIVE_DIR)", false},
    {0},
};

static int cmd_history(cli_ctx *ctx)
{
    cJSON *events;
    int rc;
    if (cli_get(ctx, "archived")) {
        rc = cli_archive_history(ctx, &events);
        if (rc) return rc;
    } else {
        if (cli_connect(ctx)) return CLI_FAILED;
        rc = duro_client_history(ctx->client, cli_get(ctx, "workflow-id"),
                                 cli_get(ctx, "run-id"), &events);
        if (rc < 0) return cli_client_fail(ctx, rc);
    }
    cli_codec_mask(ctx, events);
    if (ctx->json) {
        cli_print_json(events);
    } else {
        const cJSON *e;
        cJSON_ArrayForEach(e, events)
        {
            char *data = cli_json_text(cJSON_GetObjectItem(e, "data"));
            printf("%3.0f  %s  %s  %s\n",
                   cJSON_GetNumberValue(cJSON_GetObjectItem(e, "eventId")),
                   str_or(e, "time", "?"), str_or(e, "type", "?"), data);
            free(data);
        }
    }
    cJSON_Delete(events);
    return CLI_OK;
}

/* ---- terminate ---- */

static const cli_opt TERMINATE_OPTS[] = {
    OPT_WORKFLOW_ID,
    {"reason", 0, "TEXT", "why, recorded in the history", false},
    {0},
};

static int cmd_terminate(cli_ctx *ctx)
{
    if (cli_connect(ctx)) return CLI_FAILED;
    const char *id = cli_get(ctx, "workflow-id");
    int rc = duro_client_terminate(ctx->client, id, cli_get(ctx, "reason"));
    if (rc < 0) return cli_client_fail(ctx, rc);
    if (ctx->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "workflowId", id);
        cJSON_AddStringToObject(j, "status", "TERMINATED");
        cli_print_json(j);
        cJSON_Delete(j);
    } else {
        printf("Terminated workflow %s\n", id);
    }
    return CLI_OK;
}

/* ---- Table ---- */

static const cli_cmd COMMANDS[] = {
    {"start", "Start a workflow", START_OPTS, cmd_start},
    {"describe", "Show a workflow's state, task and pending activities",
     DESCRIBE_OPTS, cmd_describe},
    {"result", "Wait for a workflow to close and print its result", RESULT_OPTS,
     cmd_result},
    {"history", "Print a run's history events", HISTORY_OPTS, cmd_history},
    {"stack", "Show where a running workflow is waiting (SDK call, file:line)",
     cli_stack_opts, cli_stack},
    {"list", "List runs that match a query, newest first", cli_list_opts,
     cli_list},
    {"count", "Count runs that match a query", cli_count_opts, cli_count},
    {"signal", "Send a signal to a running workflow", cli_signal_opts,
     cli_signal},
    {"signal-with-start",
     "Signal a workflow, starting it first if it is not running",
     cli_signal_with_start_opts, cli_signal_with_start},
    {"query", "Ask a workflow (open or closed) a query through a worker",
     cli_query_opts, cli_query},
    {"update", "Send a running workflow an update and print its result",
     cli_update_opts, cli_update},
    {"cancel", "Ask a running workflow to cancel itself", cli_cancel_opts,
     cli_cancel},
    {"terminate", "Close a running workflow at once as TERMINATED",
     TERMINATE_OPTS, cmd_terminate},
    {"reset", "Start a new run from a workflow task of a run (re-run it)",
     cli_reset_opts, cli_reset},
    {"delete",
     "Remove a run and its history now (a running one is terminated first)",
     cli_delete_opts, cli_delete},
    {0},
};

const cli_group cli_workflow_group = {
    "workflow", "start, signal, query, inspect and stop workflows", COMMANDS,
    NULL};
