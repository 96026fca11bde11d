/* test_crash.c: a worker killed mid-flight loses nothing: its tasks are
 * reclaimed by the scheduler and finished by another worker, and every
 * step is recorded exactly once. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(crash, .init = setup, .fini = duro_test_fini, .timeout = 90);

enum { N = 50 };

static int activities_done(duro_client *c, const char *id)
{
    cJSON *hist = NULL;
    int n = 0;
    if (duro_client_history(c, id, NULL, &hist) == 0)
        n = duro_test_count_events(hist, "ActivityCompleted");
    cJSON_Delete(hist);
    return n;
}

Test(crash, sigkill_worker_midway_every_workflow_completes_once)
{
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    pid_t w1 = duro_test_spawn(&h, "bench-worker", NULL);
    duro_client *c = duro_test_client(&h);
    char id[32];
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "crash-%d", i);
        duro_test_start(c, id, "bench", "bench",
                        "{\"activities\":3,\"sleep\":\"100ms\"}", 1000);
    }
    /* kill the worker once the first workflow has made some progress:
     * it still has two 100ms sleeps to go, so it cannot be done */
    cr_assert(duro_test_wait_until(activities_done(c, "crash-0") >= 1, 20000),
              "no progress before the kill");
    duro_test_kill(&h, w1, SIGKILL);
    int closed_at_kill = 0;
    for (int i = 0; i < N; i++) {
        cJSON *d = NULL;
        snprintf(id, sizeof(id), "crash-%d", i);
        if (duro_client_describe(c, id, &d) == 0 &&
            strcmp(duro_test_str(d, "status"), "RUNNING") != 0)
            closed_at_kill++;
        cJSON_Delete(d);
    }
    cr_log_info("%d of %d workflows had completed at the kill", closed_at_kill,
                N);
    cr_assert_lt(closed_at_kill, N, "the kill came too late to test anything");

    duro_test_spawn(&h, "bench-worker", NULL);
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "crash-%d", i);
        cJSON *d = duro_test_result(c, id, 40000);
        cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED", "%s", id);
        cr_assert_eq(duro_test_num(cJSON_GetObjectItem(d, "result"), "done", 0),
                     3, "%s", id);
        cJSON_Delete(d);
        cJSON *hist = duro_test_history(c, id);
        cr_assert_eq(duro_test_count_events(hist, "ActivityScheduled"), 3, "%s",
                     id);
        cr_assert_eq(duro_test_count_events(hist, "ActivityCompleted"), 3, "%s",
                     id);
        cr_assert_eq(duro_test_count_events(hist, "TimerStarted"), 2, "%s", id);
        cr_assert_eq(duro_test_count_events(hist, "TimerFired"), 2, "%s", id);
        cr_assert_eq(duro_test_count_events(hist, "WorkflowCompleted"), 1, "%s",
                     id);
        duro_test_assert_each_activity_once(hist, id, 3);
        cJSON_Delete(hist);
    }
    duro_client_free(c);
    duro_test_finish(&h);
}
