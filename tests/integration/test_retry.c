/* test_retry.c: activity retries: a retryable failure is retried with
 * backoff until it succeeds; a non-retryable one fails the workflow. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

static duro_test_harness h;
static char exec_log[PATH_MAX + 32];

static void setup(void)
{
    duro_test_redis_start(&h);
    snprintf(exec_log, sizeof(exec_log), "%s/executions.log", h.dir);
    setenv("DURO_TEST_LOG", exec_log, 1);
}

TestSuite(retry, .init = setup, .fini = duro_test_fini, .timeout = 60);

/* count_lines: lines of the executions log that start with prefix. */
static int count_lines(const char *prefix)
{
    return duro_test_count_lines(exec_log, prefix);
}

Test(retry, retryable_failure_is_retried_with_backoff_until_success)
{
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "retry-1", "retry", "test", NULL, 0);

    cJSON *d = duro_test_result(c, "retry-1", 20000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cr_assert_eq(duro_test_num(cJSON_GetObjectItem(d, "result"), "attempt", 0),
                 3);
    cJSON_Delete(d);

    cJSON *hist = duro_test_history(c, "retry-1");
    cr_assert_eq(duro_test_count_events(hist, "ActivityScheduled"), 1);
    cr_assert_eq(duro_test_count_events(hist, "ActivityCompleted"), 1);
    cr_assert_eq(duro_test_count_events(hist, "ActivityFailed"), 0,
                 "retried attempts are not final: no ActivityFailed");
    const cJSON *sched = duro_test_find_event(hist, "ActivityScheduled", 0);
    const cJSON *done = duro_test_find_event(hist, "ActivityCompleted", 0);
    cr_assert_eq(duro_test_num(duro_test_event_data(done), "attempt", 0), 3);
    /* backoff: 100ms after attempt 1, 200ms after attempt 2 */
    int64_t waited =
        duro_test_event_time_ms(done) - duro_test_event_time_ms(sched);
    cr_assert_geq(waited, 300, "attempt 3 finished %lldms after scheduling",
                  (long long)waited);
    cr_assert_eq(count_lines("flaky "), 3, "flaky ran 3 times");
    cr_assert_eq(count_lines("flaky retry-1/1 1"), 1);
    cr_assert_eq(count_lines("flaky retry-1/1 2"), 1);
    cr_assert_eq(count_lines("flaky retry-1/1 3"), 1);
    cJSON_Delete(hist);
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(retry, non_retryable_failure_fails_the_workflow)
{
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "fatal-1", "nonretry", "test", NULL, 0);

    cJSON *d = duro_test_result(c, "fatal-1", 20000);
    cr_assert_str_eq(duro_test_str(d, "status"), "FAILED");
    const cJSON *f = cJSON_GetObjectItem(d, "failure");
    cr_assert(strstr(duro_test_str(f, "message"), "card declined"),
              "failure message: %s", duro_test_str(f, "message"));
    cr_assert(strstr(duro_test_str(f, "message"), "Fatal"));
    cr_assert_str_eq(duro_test_str(f, "type"), "Fatal");
    cJSON_Delete(d);

    cJSON *hist = duro_test_history(c, "fatal-1");
    cr_assert_eq(duro_test_count_events(hist, "ActivityFailed"), 1);
    const cJSON *af =
        duro_test_event_data(duro_test_find_event(hist, "ActivityFailed", 0));
    cr_assert_eq(duro_test_num(af, "attempt", 0), 1, "no retry");
    const cJSON *afail = cJSON_GetObjectItem(af, "failure");
    cr_assert_str_eq(duro_test_str(afail, "type"), "Fatal");
    cr_assert_str_eq(duro_test_str(afail, "message"), "card declined");
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(afail, "nonRetryable")));
    cr_assert_eq(duro_test_count_events(hist, "WorkflowFailed"), 1);
    cr_assert_eq(count_lines("fatal "), 1,
                 "a non-retryable error is not retried");
    cJSON_Delete(hist);
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(retry, unregistered_activity_fails_after_max_attempts)
{
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "unknown-act-1", "unknown-activity", "test", NULL, 0);

    cJSON *d = duro_test_result(c, "unknown-act-1", 20000);
    cr_assert_str_eq(duro_test_str(d, "status"), "FAILED");
    const char *msg =
        duro_test_str(cJSON_GetObjectItem(d, "failure"), "message");
    cr_assert(strstr(msg, "no-such-activity"), "failure message: %s", msg);
    cJSON_Delete(d);
    cJSON *hist = duro_test_history(c, "unknown-act-1");
    const cJSON *af =
        duro_test_event_data(duro_test_find_event(hist, "ActivityFailed", 0));
    cr_assert_eq(duro_test_num(af, "attempt", 0), 2, "max_attempts 2");
    cJSON_Delete(hist);
    duro_client_free(c);
    duro_test_finish(&h);
}
