/* test_testenv.c: the time-skipping test environment (duro/testing.h):
 * a one-hour durable sleep completes in well under a second of wall time
 * with the workflow's own clock an hour on, and a test moves the clock by
 * hand without overtaking a timer. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "duro/duration.h"
#include "duro/testing.h"

#define QUEUE "tskip"

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* nap: sleeps {"ms"} durably, returns {"before","after"} by duro_now. */
static cJSON *nap(duro_wf *wf, const cJSON *input)
{
    const cJSON *ms = cJSON_GetObjectItem(input, "ms");
    int64_t before = duro_now(wf);
    duro_sleep(wf, (int64_t)ms->valuedouble);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddNumberToObject(r, "before", (double)before);
    cJSON_AddNumberToObject(r, "after", (double)duro_now(wf));
    return r;
}

static duro_testenv *env;

static void setup(void)
{
    duro_testenv_opts o = {.task_queue = QUEUE};
    cr_assert_eq(duro_testenv_new(&env, &o), 0);
    duro_worker_register_workflow(duro_testenv_worker(env), "nap", nap);
    cr_assert_eq(duro_testenv_start(env), 0);
}

static void teardown(void)
{
    duro_testenv_free(env);
    env = NULL;
}

TestSuite(testenv, .init = setup, .fini = teardown, .timeout = 60);

static void start_nap(const char *id, int64_t ms)
{
    char input[64];
    snprintf(input, sizeof(input), "{\"ms\":%lld}", (long long)ms);
    duro_start_opts s = {
        .workflow_id = id, .type = "nap", .task_queue = QUEUE, .input = input};
    char run[DURO_UUID_LEN + 1];
    cr_assert_eq(duro_client_start(duro_testenv_client(env), &s, run), 0, "%s",
                 duro_client_errstr(duro_testenv_client(env)));
}

Test(testenv, an_hour_long_sleep_takes_no_wall_time)
{
    int64_t t0 = wall_ms(), v0 = duro_testenv_now_ms(env);
    start_nap("nap-1", duro_hours(1));
    cJSON *d = NULL;
    cr_assert_eq(duro_testenv_result(env, "nap-1", &d), 0);
    int64_t took = wall_ms() - t0;
    cr_assert_str_eq(cJSON_GetObjectItem(d, "status")->valuestring,
                     "COMPLETED");
    const cJSON *r = cJSON_GetObjectItem(d, "result");
    double slept = cJSON_GetObjectItem(r, "after")->valuedouble -
                   cJSON_GetObjectItem(r, "before")->valuedouble;
    cr_assert_geq(slept, duro_hours(1), "the workflow's clock moved %.0fms",
                  slept);
    cr_assert_geq(duro_testenv_now_ms(env) - v0, duro_hours(1));
    printf("an hour's sleep took %lldms of wall time\n", (long long)took);
    cr_assert_lt(took, 1000, "an hour's sleep took %lldms", (long long)took);
    cJSON_Delete(d);
}

static bool running(const char *id)
{
    cJSON *d = NULL;
    cr_assert_eq(duro_client_describe(duro_testenv_client(env), id, &d), 0);
    bool r = !strcmp(cJSON_GetObjectItem(d, "status")->valuestring, "RUNNING");
    cJSON_Delete(d);
    return r;
}

Test(testenv, sleep_moves_the_clock_by_hand_and_fires_what_is_due)
{
    start_nap("nap-10m", duro_minutes(10));
    start_nap("nap-20m", duro_minutes(20));
    cr_assert_eq(duro_testenv_settle(env), 0);
    int64_t v0 = duro_testenv_now_ms(env), t0 = wall_ms();

    cr_assert_eq(duro_testenv_sleep(env, duro_minutes(9)), 0);
    cr_assert(running("nap-10m"), "fired a minute early");
    cr_assert_geq(duro_testenv_now_ms(env) - v0, duro_minutes(9));

    cr_assert_eq(duro_testenv_sleep(env, duro_minutes(2)), 0);
    cr_assert_not(running("nap-10m"), "not fired by minute 11");
    cr_assert(running("nap-20m"));

    cr_assert_eq(duro_testenv_sleep(env, duro_minutes(10)), 0);
    cr_assert_not(running("nap-20m"), "not fired by minute 21");
    cr_assert_lt(wall_ms() - t0, 1000);
}

Test(testenv, a_second_environment_in_the_process_is_refused)
{
    duro_testenv *other = NULL;
    duro_testenv_opts o = {.task_queue = QUEUE};
    cr_assert_eq(duro_testenv_new(&other, &o), DURO_EINVAL);
    cr_assert_null(other);
}
