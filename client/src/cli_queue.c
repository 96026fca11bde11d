/* cli_queue.c: `duro queue ...`: task queue statistics. */
#include <stdio.h>

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

static const cli_cmd COMMANDS[] = {
    {"stats", "Backlog, in-flight tasks and workers per task queue", STATS_OPTS,
     cmd_stats},
    {0},
};

const cli_group cli_queue_group = {"queue", "inspect task queues", COMMANDS,
                                   NULL};
