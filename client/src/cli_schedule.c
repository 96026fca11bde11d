/* cli_schedule.c: `duro schedule ...`: create, describe, list, update,
 * pause, unpause, trigger, backfill, delete. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "duro/cron.h"

/* ---- Options ---- */

#define ID_OPT                                                                 \
    {                                                                          \
        "schedule-id", 's', "ID", "the schedule", true                         \
    }
#define NOTE_OPT                                                               \
    {                                                                          \
        "note", 0, "TEXT", "why (shown by describe)", false                    \
    }

static const cli_opt SPEC_OPTS[] = {
    ID_OPT,
    {"cron", 0, "EXPR",
     "5-field cron expression or @hourly/@daily/@weekly/@monthly/@yearly",
     false},
    {"interval", 0, "DURATION", "every DURATION (e.g. 10m), epoch-aligned",
     false},
    {"offset", 0, "DURATION", "with --interval: nominal times shifted by it",
     false},
    {"time-zone", 0, "ZONE", "IANA time zone of --cron (default UTC)", false},
    {"jitter", 0, "DURATION", "delay each action by up to DURATION", false},
    {"overlap-policy", 0, "POLICY",
     "Skip (default), BufferOne, BufferAll, CancelOther, TerminateOther, "
     "AllowAll",
     false},
    {"catchup-window", 0, "DURATION",
     "run times missed by at most this much (default 365d)", false},
    {"paused", 0, NULL, "create it paused", false},
    NOTE_OPT,
    {"type", 0, "TYPE", "workflow type each action starts", true},
    {"task-queue", 't', "QUEUE", "its task queue", true},
    {"input", 'i', "JSON", "its input (default null)", false},
    {"workflow-id-prefix", 0, "PREFIX",
     "workflow ids are PREFIX-<nominal time> (default: the schedule id)",
     false},
    {0},
};

static const cli_opt ID_OPTS[] = {ID_OPT, {0}};
static const cli_opt PAUSE_OPTS[] = {ID_OPT, NOTE_OPT, {0}};
static const cli_opt BACKFILL_OPTS[] = {
    ID_OPT,
    {"start-time", 0, "TIME", "RFC 3339, e.g. 2026-01-01T00:00:00Z", true},
    {"end-time", 0, "TIME", "RFC 3339, inclusive", true},
    {0},
};
static const cli_opt LIST_OPTS[] = {{0}};

static int get_opts(cli_ctx *ctx, duro_schedule_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->schedule_id = cli_get(ctx, "schedule-id");
    o->cron = cli_get(ctx, "cron");
    o->time_zone = cli_get(ctx, "time-zone");
    o->overlap_policy = cli_get(ctx, "overlap-policy");
    o->paused = cli_get(ctx, "paused") != NULL;
    o->note = cli_get(ctx, "note");
    o->type = cli_get(ctx, "type");
    o->task_queue = cli_get(ctx, "task-queue");
    o->input = cli_get(ctx, "input");
    o->workflow_id_prefix = cli_get(ctx, "workflow-id-prefix");
    if (cli_get_duration(ctx, "interval", &o->interval_ms) ||
        cli_get_duration(ctx, "offset", &o->offset_ms) ||
        cli_get_duration(ctx, "jitter", &o->jitter_ms) ||
        cli_get_duration(ctx, "catchup-window", &o->catchup_window_ms))
        return CLI_USAGE;
    if (!o->cron == !cli_get(ctx, "interval"))
        return cli_usage(ctx, "give --cron or --interval (one of them)");
    if (cli_get(ctx, "offset") && !cli_get(ctx, "interval"))
        return cli_usage(ctx, "--offset goes with --interval");
    return 0;
}

static int done(cli_ctx *ctx, const char *what)
{
    if (ctx->json) {
        cJSON *o = cli_checked(cJSON_CreateObject());
        cJSON_AddStringToObject(o, "scheduleId", cli_get(ctx, "schedule-id"));
        cJSON_AddStringToObject(o, "result", what);
        cli_print_json(o);
        cJSON_Delete(o);
    } else {
        printf("schedule %s %s\n", cli_get(ctx, "schedule-id"), what);
    }
    return CLI_OK;
}

/* ---- Commands ---- */

static int upsert(cli_ctx *ctx, bool create)
{
    duro_schedule_opts o;
    int rc = get_opts(ctx, &o);
    if (rc) return rc;
    if (cli_connect(ctx)) return CLI_FAILED;
    rc = create ? duro_client_schedule_create(ctx->client, &o)
                : duro_client_schedule_update(ctx->client, &o);
    if (rc < 0) return cli_client_fail(ctx, rc);
    return done(ctx, create ? "created" : "updated");
}

static int cmd_create(cli_ctx *ctx)
{
    return upsert(ctx, true);
}

static int cmd_update(cli_ctx *ctx)
{
    return upsert(ctx, false);
}

static int pause_cmd(cli_ctx *ctx, bool paused)
{
    if (cli_connect(ctx)) return CLI_FAILED;
    int rc = duro_client_schedule_pause(
        ctx->client, cli_get(ctx, "schedule-id"), paused, cli_get(ctx, "note"));
    if (rc < 0) return cli_client_fail(ctx, rc);
    return done(ctx, paused ? "paused" : "unpaused");
}

static int cmd_pause(cli_ctx *ctx)
{
    return pause_cmd(ctx, true);
}

static int cmd_unpause(cli_ctx *ctx)
{
    return pause_cmd(ctx, false);
}

static int cmd_trigger(cli_ctx *ctx)
{
    if (cli_connect(ctx)) return CLI_FAILED;
    int rc =
        duro_client_schedule_trigger(ctx->client, cli_get(ctx, "schedule-id"));
    if (rc < 0) return cli_client_fail(ctx, rc);
    return done(ctx, "triggered");
}

static int cmd_backfill(cli_ctx *ctx)
{
    int64_t start, end;
    if (duro_rfc3339_parse(cli_get(ctx, "start-time"), &start))
        return cli_usage(ctx, "--start-time: not an RFC 3339 time");
    if (duro_rfc3339_parse(cli_get(ctx, "end-time"), &end))
        return cli_usage(ctx, "--end-time: not an RFC 3339 time");
    if (cli_connect(ctx)) return CLI_FAILED;
    int rc = duro_client_schedule_backfill(
        ctx->client, cli_get(ctx, "schedule-id"), start, end);
    if (rc < 0) return cli_client_fail(ctx, rc);
    return done(ctx, "backfill requested");
}

static int cmd_delete(cli_ctx *ctx)
{
    if (cli_connect(ctx)) return CLI_FAILED;
    int rc =
        duro_client_schedule_delete(ctx->client, cli_get(ctx, "schedule-id"));
    if (rc < 0) return cli_client_fail(ctx, rc);
    return done(ctx, "deleted");
}

static const char *str_of(const cJSON *o, const char *name)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(o, name));
    return s ? s : "-";
}

static void describe_text(const cJSON *d)
{
    const cJSON *spec = cJSON_GetObjectItem(d, "spec");
    const cJSON *act = cJSON_GetObjectItem(d, "action");
    const cJSON *pol = cJSON_GetObjectItem(d, "policies");
    const cJSON *st = cJSON_GetObjectItem(d, "state");
    printf("Schedule     %s\n", str_of(d, "scheduleId"));
    if (cJSON_GetObjectItem(spec, "cron"))
        printf("Spec         cron '%s' in %s, jitter %s\n",
               str_of(spec, "cron"), str_of(spec, "timeZone"),
               str_of(spec, "jitter"));
    else
        printf("Spec         every %s offset %s, jitter %s\n",
               str_of(spec, "interval"), str_of(spec, "offset"),
               str_of(spec, "jitter"));
    printf("Action       start %s on %s, ids %s-<time>\n", str_of(act, "type"),
           str_of(act, "taskQueue"), str_of(act, "workflowIdPrefix"));
    printf("Policies     overlap %s, catch-up window %s\n",
           str_of(pol, "overlap"), str_of(pol, "catchupWindow"));
    printf("State        %s%s%s\n",
           cJSON_IsTrue(cJSON_GetObjectItem(st, "paused")) ? "paused"
                                                           : "active",
           *str_of(st, "note") ? ", note: " : "", str_of(st, "note"));
    printf("Counts       actions %.0f, missed %.0f, skipped %.0f, "
           "buffered %.0f, running %.0f\n",
           cJSON_GetNumberValue(cJSON_GetObjectItem(st, "actions")),
           cJSON_GetNumberValue(cJSON_GetObjectItem(st, "missed")),
           cJSON_GetNumberValue(cJSON_GetObjectItem(st, "skipped")),
           cJSON_GetNumberValue(cJSON_GetObjectItem(st, "buffered")),
           cJSON_GetNumberValue(cJSON_GetObjectItem(st, "running")));
    printf("Next times\n");
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(d, "nextTimes"))
        printf("  %s\n", cJSON_GetStringValue(t));
    printf("Recent actions\n");
    static const char *const head[] = {"NOMINAL", "WORKFLOW ID", "STATUS",
                                       "RESULT"};
    cli_table tb;
    cli_table_init(&tb, 4, head);
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(d, "recentActions"))
    {
        const cJSON *res = cJSON_GetObjectItem(t, "result");
        if (!res) res = cJSON_GetObjectItem(t, "failure");
        char *rs = res ? cli_json_text(res) : NULL;
        const char *cells[] = {str_of(t, "nominalTime"),
                               str_of(t, "workflowId"), str_of(t, "status"),
                               rs ? rs : "-"};
        cli_table_add(&tb, cells);
        free(rs);
    }
    cli_table_print(&tb);
    cli_table_free(&tb);
}

static int cmd_describe(cli_ctx *ctx)
{
    if (cli_connect(ctx)) return CLI_FAILED;
    cJSON *d;
    int rc = duro_client_schedule_describe(ctx->client,
                                           cli_get(ctx, "schedule-id"), &d);
    if (rc < 0) return cli_client_fail(ctx, rc);
    return cli_print_owned(ctx, d, describe_text);
}

static void list_text(const cJSON *rows)
{
    static const char *const head[] = {"SCHEDULE ID", "SPEC",  "TYPE",
                                       "TASK QUEUE",  "STATE", "NEXT"};
    cli_table tb;
    cli_table_init(&tb, 6, head);
    const cJSON *r;
    cJSON_ArrayForEach(r, rows)
    {
        const cJSON *spec = cJSON_GetObjectItem(r, "spec");
        char sp[256];
        if (cJSON_GetObjectItem(spec, "cron"))
            snprintf(sp, sizeof(sp), "%s %s", str_of(spec, "cron"),
                     str_of(spec, "timeZone"));
        else
            snprintf(sp, sizeof(sp), "every %s", str_of(spec, "interval"));
        const char *cells[] = {str_of(r, "scheduleId"),
                               sp,
                               str_of(r, "type"),
                               str_of(r, "taskQueue"),
                               cJSON_IsTrue(cJSON_GetObjectItem(r, "paused"))
                                   ? "paused"
                                   : "active",
                               str_of(r, "nextTime")};
        cli_table_add(&tb, cells);
    }
    cli_table_print(&tb);
    cli_table_free(&tb);
}

static int cmd_list(cli_ctx *ctx)
{
    if (cli_connect(ctx)) return CLI_FAILED;
    cJSON *rows;
    int rc = duro_client_schedule_list(ctx->client, &rows);
    if (rc < 0) return cli_client_fail(ctx, rc);
    return cli_print_owned(ctx, rows, list_text);
}

static const cli_cmd COMMANDS[] = {
    {"create", "Create a schedule (cron or interval)", SPEC_OPTS, cmd_create},
    {"describe",
     "Spec, policies, counts, the next 5 times and the last 10 actions",
     ID_OPTS, cmd_describe},
    {"list", "Every schedule", LIST_OPTS, cmd_list},
    {"update", "Replace a schedule's spec, action and policies", SPEC_OPTS,
     cmd_update},
    {"pause", "Take no actions until unpaused", PAUSE_OPTS, cmd_pause},
    {"unpause", "Resume from now on", PAUSE_OPTS, cmd_unpause},
    {"trigger", "One action now, by the overlap policy", ID_OPTS, cmd_trigger},
    {"backfill", "An action for every time in a past range", BACKFILL_OPTS,
     cmd_backfill},
    {"delete", "Delete a schedule (its workflows stay)", ID_OPTS, cmd_delete},
    {0},
};

const cli_group cli_schedule_group = {"schedule", "manage schedules", COMMANDS,
                                      NULL};
