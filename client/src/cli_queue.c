/* cli_queue.c: `duro queue ...`: task queue statistics and flow
 * settings. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

static const cli_opt STATS_OPTS[] = {
    {"task-queue", 't', "QUEUE",
     "only this task queue (default: every queue workers registered)", false},
    {0},
};

static int cmd_stats(cli_ctx *ctx)
{
    if (cli_connect(ctx)) return CLI_FAILED;
    cJSON *rows;
    int rc =
        duro_client_queue_stats(ctx->client, cli_get(ctx, "task-queue"), &rows);
    if (rc < 0) return cli_client_fail(ctx, rc);
    if (ctx->json) {
        cli_print_json(rows);
        cJSON_Delete(rows);
        return CLI_OK;
    }
    static const char *const head[] = {"TASK QUEUE", "KIND",      "BACKLOG",
                                       "PENDING",    "CONSUMERS", "ACTIVE"};
    static const char *const nums[] = {"backlog", "pending", "consumers",
                                       "activeConsumers"};
    cli_table t;
    cli_table_init(&t, 6, head);
    const cJSON *r;
    cJSON_ArrayForEach(r, rows)
    {
        char n[4][32];
        for (int i = 0; i < 4; i++)
            snprintf(n[i], sizeof(n[i]), "%.0f",
                     cJSON_GetNumberValue(cJSON_GetObjectItem(r, nums[i])));
        const char *cells[] = {
            cJSON_GetStringValue(cJSON_GetObjectItem(r, "taskQueue")),
            cJSON_GetStringValue(cJSON_GetObjectItem(r, "kind")),
            n[0],
            n[1],
            n[2],
            n[3]};
        cli_table_add(&t, cells);
    }
    cli_table_print(&t);
    cli_table_free(&t);
    /* a stream of the wrong type stalls its partition: say which */
    cJSON_ArrayForEach(r, rows)
    {
        const cJSON *k;
        cJSON_ArrayForEach(k, cJSON_GetObjectItem(r, "broken"))
            printf("BROKEN %s holds another type than a stream: workers skip "
                   "its partition until it is deleted or restored\n",
                   cJSON_GetStringValue(k));
    }
    cJSON_Delete(rows);
    return CLI_OK;
}

static const cli_opt CONFIG_OPTS[] = {
    {"task-queue", 't', "QUEUE", "the task queue", true},
    {"activities-per-second", 0, "RATE",
     "activity tasks started per second across all workers; 0 removes the "
     "limit",
     false},
    {"workflows-per-second", 0, "RATE",
     "workflow tasks started per second across all workers; 0 removes the "
     "limit",
     false},
    {"burst", 0, "N",
     "tokens the bucket holds (default 1), for the rates given with it", false},
    {"concurrency-per-key", 0, "N",
     "activities with the same concurrency key running at once, across all "
     "workers; 0 removes the limit",
     false},
    {0},
};

/* number: option `name` as a number >= 0, or -1 when not given; -2 and a
 * message when it is no such number. */
static double number(cli_ctx *ctx, const char *name)
{
    const char *v = cli_get(ctx, name);
    if (!v) return -1;
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end || d < 0 || d != d) {
        cli_usage(ctx, "--%s: not a number >= 0", name);
        return -2;
    }
    return d;
}

static int cmd_config(cli_ctx *ctx)
{
    double aps = number(ctx, "activities-per-second");
    double burst = number(ctx, "burst");
    double cpk = number(ctx, "concurrency-per-key");
    double wps = number(ctx, "workflows-per-second");
    if (aps == -2 || burst == -2 || cpk == -2 || wps == -2) return CLI_USAGE;
    if (burst == 0) return cli_usage(ctx, "--burst: at least 1");
    /* before the casts below: a double past INT_MAX has no int */
    if (aps > 1e6 || wps > 1e6 || burst > 1e6 || cpk > 1e6)
        return cli_usage(ctx, "a rate, --burst, --concurrency-per-key: at "
                              "most 1000000");
    if (cpk != (int)cpk || burst != (int)burst)
        return cli_usage(ctx, "--burst, --concurrency-per-key: whole numbers");
    if (cli_connect(ctx)) return CLI_FAILED;
    cJSON *o;
    duro_queue_config set = {.activities_per_second = aps,
                             .burst = (int)burst,
                             .concurrency_per_key = (int)cpk,
                             .workflows_per_second = wps};
    int rc = duro_client_queue_config(ctx->client, cli_get(ctx, "task-queue"),
                                      &set, &o);
    if (rc < 0) return cli_client_fail(ctx, rc);
    if (ctx->json) {
        cli_print_json(o);
    } else {
        double r =
            cJSON_GetNumberValue(cJSON_GetObjectItem(o, "activitiesPerSecond"));
        printf("task queue:            %s\n",
               cJSON_GetStringValue(cJSON_GetObjectItem(o, "taskQueue")));
        if (r > 0)
            printf("activities per second: %g (burst %.0f)\n", r,
                   cJSON_GetNumberValue(cJSON_GetObjectItem(o, "burst")));
        else
            printf("activities per second: unlimited\n");
        printf("granted, throttled:    %.0f, %.0f\n",
               cJSON_GetNumberValue(cJSON_GetObjectItem(o, "granted")),
               cJSON_GetNumberValue(cJSON_GetObjectItem(o, "throttled")));
        double wr =
            cJSON_GetNumberValue(cJSON_GetObjectItem(o, "workflowsPerSecond"));
        if (wr > 0)
            printf(
                "workflows per second:  %g (burst %.0f)\n", wr,
                cJSON_GetNumberValue(cJSON_GetObjectItem(o, "workflowBurst")));
        else
            printf("workflows per second:  unlimited\n");
        printf(
            "workflows throttled:   %.0f\n",
            cJSON_GetNumberValue(cJSON_GetObjectItem(o, "workflowThrottled")));
        double k =
            cJSON_GetNumberValue(cJSON_GetObjectItem(o, "concurrencyPerKey"));
        if (k > 0)
            printf("concurrency per key:   %.0f\n", k);
        else
            printf("concurrency per key:   unlimited\n");
        printf("throttled by key:      %.0f\n",
               cJSON_GetNumberValue(cJSON_GetObjectItem(o, "throttledKey")));
    }
    cJSON_Delete(o);
    return CLI_OK;
}

static const cli_cmd COMMANDS[] = {
    {"config", "Show or set a task queue's rate and concurrency limits",
     CONFIG_OPTS, cmd_config},
    {"stats", "Backlog, in-flight tasks and workers per task queue", STATS_OPTS,
     cmd_stats},
    {0},
};

const cli_group cli_queue_group = {"queue", "inspect task queues", COMMANDS,
                                   NULL};
