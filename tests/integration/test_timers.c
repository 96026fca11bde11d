/* test_timers.c: durable timers fire on time, and once, even with several
 * schedulers racing for them. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(timers, .init = setup, .fini = duro_test_fini, .timeout = 90);

Test(timers, durable_sleep_fires_after_its_duration)
{
    duro_test_spawn(&h, "duro-scheduler", NULL);
    duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_client *c = duro_test_client(&h);
    int64_t t0 = duro_test_mono_ms();
    duro_test_start(c, "sleep-1", "sleep", "test", "{\"ms\":300}", 0);

    cJSON *d = duro_test_result(c, "sleep-1", 20000);
    int64_t took = duro_test_mono_ms() - t0;
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    const cJSON *r = cJSON_GetObjectItem(d, "result");
    double slept = duro_test_num(r, "after", 0) - duro_test_num(r, "before", 0);
    cr_assert_geq(slept, 300, "duro_now advanced %.0fms across the sleep",
                  slept);
    cr_assert_geq(took, 300);
    cr_assert_lt(took, 5000, "a 300ms sleep took %lldms", (long long)took);
    cJSON_Delete(d);

    cJSON *hist = duro_test_history(c, "sleep-1");
    cr_assert_eq(duro_test_count_events(hist, "TimerStarted"), 1);
    cr_assert_eq(duro_test_count_events(hist, "TimerFired"), 1);
    const cJSON *started = duro_test_find_event(hist, "TimerStarted", 0);
    const cJSON *fired = duro_test_find_event(hist, "TimerFired", 0);
    cr_assert_eq(duro_test_num(duro_test_event_data(started), "durationMs", 0),
                 300);
    cr_assert_eq(duro_test_num(duro_test_event_data(started), "seq", 0),
                 duro_test_num(duro_test_event_data(fired), "seq", -1));
    int64_t gap =
        duro_test_event_time_ms(fired) - duro_test_event_time_ms(started);
    cr_assert_geq(gap, 300, "TimerFired %lldms after TimerStarted",
                  (long long)gap);
    cr_assert_lt(gap, 2000, "TimerFired late: %lldms", (long long)gap);
    cJSON_Delete(hist);
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(timers, two_schedulers_never_fire_a_timer_twice)
{
    enum { N = 200 };
    duro_test_spawn(&h, "duro-scheduler", NULL);
    duro_test_spawn(&h, "duro-scheduler", NULL);
    duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_client *c = duro_test_client(&h);
    char id[32], input[32];
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "race-%d", i);
        snprintf(input, sizeof(input), "{\"ms\":%d}", 100 + (i * 37) % 401);
        duro_test_start(c, id, "sleep", "test", input, 0);
    }
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "race-%d", i);
        cJSON *d = duro_test_result(c, id, 30000);
        cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED", "%s", id);
        cJSON_Delete(d);
        cJSON *hist = duro_test_history(c, id);
        cr_assert_eq(duro_test_count_events(hist, "TimerStarted"), 1, "%s", id);
        cr_assert_eq(duro_test_count_events(hist, "TimerFired"), 1,
                     "%s: timer fired %d times", id,
                     duro_test_count_events(hist, "TimerFired"));
        cJSON_Delete(hist);
    }
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(timers, timer_survives_a_scheduler_restart)
{
    pid_t s = duro_test_spawn(&h, "duro-scheduler", NULL);
    duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "restart-1", "sleep", "test", "{\"ms\":800}", 0);
    /* wait until the timer is recorded, then kill the only scheduler */
    cr_assert(duro_test_wait_until(
                  ({
                      cJSON *hist = NULL;
                      int n = 0;
                      if (duro_client_history(c, "restart-1", NULL, &hist) == 0)
                          n = duro_test_count_events(hist, "TimerStarted");
                      cJSON_Delete(hist);
                      n == 1;
                  }),
                  10000),
              "TimerStarted never recorded");
    duro_test_kill(&h, s, SIGKILL);
    duro_test_sleep_ms(1000); /* the timer comes due with no scheduler */
    cJSON *d = NULL;
    cr_assert_eq(duro_client_describe(c, "restart-1", &d), 0);
    cr_assert_str_eq(duro_test_str(d, "status"), "RUNNING");
    cJSON_Delete(d);
    duro_test_spawn(&h, "duro-scheduler", NULL);
    d = duro_test_result(c, "restart-1", 10000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cJSON_Delete(d);
    duro_client_free(c);
    duro_test_finish(&h);
}
