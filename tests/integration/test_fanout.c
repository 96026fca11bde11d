/* test_fanout.c: activities started together and awaited together. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(fanout, .init = setup, .fini = duro_test_fini, .timeout = 60);

Test(fanout, ten_activities_await_all)
{
    duro_test_spawn(&h, "duro-scheduler", NULL);
    duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "fan-1", "fanout", "test", "{\"n\":10}", 0);

    cJSON *d = duro_test_result(c, "fan-1", 20000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cr_assert_eq(duro_test_num(cJSON_GetObjectItem(d, "result"), "sum", 0), 55);
    cJSON_Delete(d);

    cJSON *hist = duro_test_history(c, "fan-1");
    cr_assert_eq(duro_test_count_events(hist, "ActivityScheduled"), 10);
    cr_assert_eq(duro_test_count_events(hist, "ActivityCompleted"), 10);
    /* all ten are scheduled by the first workflow task, before any result */
    const cJSON *first_done =
        duro_test_find_event(hist, "ActivityCompleted", 0);
    const cJSON *last_sched =
        duro_test_find_event(hist, "ActivityScheduled", 9);
    cr_assert_lt(duro_test_num(last_sched, "eventId", 0),
                 duro_test_num(first_done, "eventId", 0));
    /* each seq 1..10 completes exactly once */
    int seen[11] = {0};
    const cJSON *e;
    cJSON_ArrayForEach(e, hist)
    {
        if (strcmp(duro_test_str(e, "type"), "ActivityCompleted") != 0)
            continue;
        int seq = (int)duro_test_num(duro_test_event_data(e), "seq", 0);
        cr_assert(seq >= 1 && seq <= 10, "seq %d", seq);
        seen[seq]++;
    }
    for (int s = 1; s <= 10; s++)
        cr_assert_eq(seen[s], 1, "seq %d", s);
    cr_assert_eq(duro_test_count_events(hist, "WorkflowCompleted"), 1);
    cJSON_Delete(hist);
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(fanout, many_fanouts_at_once)
{
    duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_client *c = duro_test_client(&h);
    char id[32];
    for (int i = 0; i < 20; i++) {
        snprintf(id, sizeof(id), "fan-many-%d", i);
        duro_test_start(c, id, "fanout", "test", "{\"n\":10}", 0);
    }
    for (int i = 0; i < 20; i++) {
        snprintf(id, sizeof(id), "fan-many-%d", i);
        cJSON *d = duro_test_result(c, id, 30000);
        cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED", "%s", id);
        cr_assert_eq(duro_test_num(cJSON_GetObjectItem(d, "result"), "sum", 0),
                     55, "%s", id);
        cJSON_Delete(d);
    }
    duro_client_free(c);
    duro_test_finish(&h);
}
