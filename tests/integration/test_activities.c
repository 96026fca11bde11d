/* test_activities.c: a workflow of sequential activities completes, with the
 * history in the expected order. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(activities, .init = setup, .fini = duro_test_fini, .timeout = 60);

Test(activities, sequential_activities_complete_in_order)
{
    duro_test_spawn(&h, "duro-scheduler", NULL);
    duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "acts-1", "activities", "test", "{\"n\":3}", 0);

    cJSON *d = duro_test_result(c, "acts-1", 20000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    char *res = cJSON_PrintUnformatted(cJSON_GetObjectItem(d, "result"));
    cr_assert_str_eq(res, "{\"echoed\":[0,1,2]}");
    free(res);
    cJSON_Delete(d);

    /* Started, then per activity: task completed, scheduled, completed;
     * then the final task completes the workflow. */
    static const char *const want[] = {
        "WorkflowStarted",   "WorkflowTaskCompleted", "ActivityScheduled",
        "ActivityCompleted", "WorkflowTaskCompleted", "ActivityScheduled",
        "ActivityCompleted", "WorkflowTaskCompleted", "ActivityScheduled",
        "ActivityCompleted", "WorkflowTaskCompleted", "WorkflowCompleted"};
    int nwant = (int)(sizeof(want) / sizeof(want[0]));
    cJSON *hist = duro_test_history(c, "acts-1");
    cr_assert_eq(cJSON_GetArraySize(hist), nwant, "history has %d events",
                 cJSON_GetArraySize(hist));
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, hist)
    {
        cr_assert_str_eq(duro_test_str(e, "type"), want[i], "event %d", i + 1);
        cr_assert_eq((int)duro_test_num(e, "eventId", 0), i + 1);
        i++;
    }
    /* activity seqs are 1, 2, 3 in order, each completed on attempt 1 */
    for (int k = 0; k < 3; k++) {
        const cJSON *s = duro_test_event_data(
            duro_test_find_event(hist, "ActivityScheduled", k));
        const cJSON *a = duro_test_event_data(
            duro_test_find_event(hist, "ActivityCompleted", k));
        cr_assert_str_eq(duro_test_str(s, "name"), "echo");
        cr_assert_eq(duro_test_num(s, "seq", 0), duro_test_num(a, "seq", -1));
        cr_assert_eq(duro_test_num(a, "attempt", 0), 1);
        cr_assert_eq(duro_test_num(a, "result", -1), k);
    }
    const cJSON *started =
        duro_test_event_data(duro_test_find_event(hist, "WorkflowStarted", 0));
    cr_assert_str_eq(duro_test_str(started, "type"), "activities");
    cr_assert_str_eq(duro_test_str(started, "taskQueue"), "test");
    cJSON_Delete(hist);
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(activities, zero_activities_and_many_workflows)
{
    duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_client *c = duro_test_client(&h);
    char id[32];
    for (int i = 0; i < 20; i++) {
        snprintf(id, sizeof(id), "many-%d", i);
        duro_test_start(c, id, "activities", "test",
                        i % 2 ? "{\"n\":0}" : "{\"n\":2}", 0);
    }
    for (int i = 0; i < 20; i++) {
        snprintf(id, sizeof(id), "many-%d", i);
        cJSON *d = duro_test_result(c, id, 20000);
        cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED", "%s", id);
        cJSON *hist = duro_test_history(c, id);
        cr_assert_eq(duro_test_count_events(hist, "ActivityCompleted"),
                     i % 2 ? 0 : 2, "%s", id);
        cJSON_Delete(hist);
        cJSON_Delete(d);
    }
    duro_client_free(c);
    duro_test_finish(&h);
}

/* stopped_line returns the worker's STOPPED log line (static buffer). */
static const char *stopped_line(const duro_test_child *ch)
{
    static char line[1024];
    line[0] = '\0';
    FILE *f = fopen(ch->log, "r");
    if (!f) return line;
    char buf[1024];
    while (fgets(buf, sizeof(buf), f))
        if (strstr(buf, "STOPPED")) snprintf(line, sizeof(line), "%s", buf);
    fclose(f);
    return line;
}

static long long field(const char *line, const char *name)
{
    const char *p = strstr(line, name);
    return p ? strtoll(p + strlen(name), NULL, 10) : -1;
}

/* One worker runs a workflow start to end from its cache: the history is
 * read and replayed once (the first task), and each activity result is
 * committed together with the next workflow task (eager), so no further
 * workflow task goes through the queue. */
Test(activities, a_lone_worker_replays_once_and_commits_eagerly)
{
    pid_t pid = duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "eager-1", "activities", "test", "{\"n\":3}", 0);
    cJSON *d = duro_test_result(c, "eager-1", 20000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cJSON_Delete(d);
    duro_client_free(c);
    duro_test_kill(&h, pid, SIGTERM);
    cr_assert(duro_test_wait_until(!duro_test_alive(&h, pid), 5000));
    const duro_test_child *ch = NULL;
    for (int i = 0; i < h.nchildren; i++)
        if (h.children[i].pid == pid) ch = &h.children[i];
    const char *line = stopped_line(ch);
    cr_assert_eq(field(line, "replays="), 1, "%s", line);
    cr_assert_eq(field(line, "eager="), 3, "%s", line);
    cr_assert_eq(field(line, "workflow_tasks="), 4, "%s", line);
    duro_test_finish(&h);
}

/* lrange_calls: LRANGE calls served so far (INFO commandstats). */
static long long lrange_calls(void)
{
    redisContext *r = duro_test_redis(&h);
    redisReply *rep = redisCommand(r, "INFO commandstats");
    cr_assert(rep && rep->type == REDIS_REPLY_STRING);
    const char *p = strstr(rep->str, "cmdstat_lrange:calls=");
    long long n =
        p ? strtoll(p + strlen("cmdstat_lrange:calls="), NULL, 10) : 0;
    freeReplyObject(rep);
    redisFree(r);
    return n;
}

static bool status_is(duro_client *c, const char *id, const char *want)
{
    cJSON *d = NULL;
    bool is = duro_client_describe(c, id, &d) == 0 &&
              strcmp(duro_test_str(d, "status"), want) == 0;
    cJSON_Delete(d);
    return is;
}

/* A run's first task carries its one event (WorkflowStarted) in the task's
 * entry: a worker that runs a workflow from start to end on its own never
 * reads the history (no LRANGE), unless that event is too large to carry
 * (over 4 KB), when it reads it as before. */
Test(activities, a_runs_first_task_carries_its_history)
{
    duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_client *c = duro_test_client(&h);
    long long before = lrange_calls();
    duro_test_start(c, "inline-1", "activities", "test", "{\"n\":2}", 0);
    cr_assert(
        duro_test_wait_until(status_is(c, "inline-1", "COMPLETED"), 20000));
    cr_assert_eq(lrange_calls(), before, "the history was read");

    char input[6000];
    int n = snprintf(input, sizeof(input), "{\"n\":1,\"pad\":\"");
    memset(input + n, 'x', 5000);
    snprintf(input + n + 5000, sizeof(input) - (size_t)n - 5000, "\"}");
    duro_test_start(c, "inline-2", "activities", "test", input, 0);
    cr_assert(
        duro_test_wait_until(status_is(c, "inline-2", "COMPLETED"), 20000));
    cr_assert_eq(lrange_calls(), before + 1);
    duro_client_free(c);
    duro_test_finish(&h);
}
