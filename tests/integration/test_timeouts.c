/* test_timeouts.c: an attempt past its start-to-close timeout is timed out
 * by the scheduler and retried; the retry's result is accepted. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(timeouts, .init = setup, .fini = duro_test_fini, .timeout = 60);

Test(timeouts, start_to_close_timeout_retries_the_activity)
{
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "stc-1", "timeout", "test", NULL, 0);

    cJSON *d = duro_test_result(c, "stc-1", 30000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cr_assert_eq(duro_test_num(cJSON_GetObjectItem(d, "result"), "attempt", 0),
                 2, "attempt 1 timed out, attempt 2 succeeded");
    cJSON_Delete(d);

    cJSON *hist = duro_test_history(c, "stc-1");
    cr_assert_eq(duro_test_count_events(hist, "ActivityCompleted"), 1);
    cr_assert_eq(duro_test_count_events(hist, "ActivityTimedOut"), 0,
                 "a retried timeout is not final");
    const cJSON *sched = duro_test_find_event(hist, "ActivityScheduled", 0);
    const cJSON *done = duro_test_find_event(hist, "ActivityCompleted", 0);
    cr_assert_eq(duro_test_num(duro_test_event_data(done), "attempt", 0), 2);
    int64_t waited =
        duro_test_event_time_ms(done) - duro_test_event_time_ms(sched);
    cr_assert_geq(waited, 1000, "timed out after start-to-close (%lldms)",
                  (long long)waited);
    cr_assert_lt(waited, 3000, "did not wait for attempt 1 (%lldms)",
                 (long long)waited);
    cJSON_Delete(hist);
    duro_client_free(c);
    /* the worker is still finishing attempt 1's 3s sleep (or stopped it on
     * cancellation); its late answer must be fenced off, not crash it */
    duro_test_sleep_ms(200);
    duro_test_finish(&h);
}
