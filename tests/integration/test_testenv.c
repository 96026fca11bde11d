/* test_testenv.c: the time-skipping test environment (duro/testing.h):
 * a one-hour durable sleep completes in well under a second of wall time
 * with the workflow's own clock an hour on, a test moves the clock by hand
 * without overtaking a timer (and cannot move it past what the Functions
 * count exactly), a cron schedule in a time zone fires across both
 * daylight-saving changes of a year as the clock passes them, and an
 * environment made by a thread that then ends keeps its server. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "duro/cron.h"
#include "duro/duration.h"
#include "duro/log.h"
#include "duro/testing.h"
#include "harness.h"

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

static cJSON *tick(duro_wf *wf, const cJSON *input)
{
    return NULL;
}

static duro_testenv *env;

static void setup_at(int64_t start_ms)
{
    duro_testenv_opts o = {.task_queue = QUEUE, .start_ms = start_ms};
    cr_assert_eq(duro_testenv_new(&env, &o), 0);
    duro_worker_register_workflow(duro_testenv_worker(env), "nap", nap);
    duro_worker_register_workflow(duro_testenv_worker(env), "tick", tick);
    cr_assert_eq(duro_testenv_start(env), 0);
}

static void setup(void)
{
    setup_at(0);
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

Test(testenv, a_sleep_past_the_clocks_range_is_refused)
{
    start_nap("nap-far", duro_minutes(10));
    cr_assert_eq(duro_testenv_settle(env), 0);
    int64_t v0 = duro_testenv_now_ms(env);
    /* now + INT64_MAX overflows; the Functions count in doubles */
    cr_assert_eq(duro_testenv_sleep(env, INT64_MAX), DURO_EINVAL);
    cr_assert_eq(duro_testenv_sleep(env, INT64_C(1) << 53), DURO_EINVAL);
    cr_assert(running("nap-far"), "the refused sleep fired a timer");
    cr_assert_lt(duro_testenv_now_ms(env) - v0, duro_minutes(1));
}

Test(testenv, a_second_environment_in_the_process_is_refused)
{
    duro_testenv *other = NULL;
    duro_testenv_opts o = {.task_queue = QUEUE};
    cr_assert_eq(duro_testenv_new(&other, &o), DURO_EINVAL);
    cr_assert_null(other);
}

/* A sleep "forever", past where the clock can go: the wait for its result
 * runs out, the clock where it was, and says it was idle. */
static void setup_short_wait(void)
{
    duro_testenv_opts o = {.task_queue = QUEUE, .wait_ms = 300};
    cr_assert_eq(duro_testenv_new(&env, &o), 0);
    duro_worker_register_workflow(duro_testenv_worker(env), "nap", nap);
    cr_assert_eq(duro_testenv_start(env), 0);
}

/* keep_timeout_line keeps the environment's TIMEOUT line in arg. */
static void keep_timeout_line(duro_log_level level, const char *msg, void *arg)
{
    (void)level;
    if (strstr(msg, "TESTENV TIMEOUT")) snprintf(arg, 512, "%s", msg);
}

TestSuite(testenv_far, .init = setup_short_wait, .fini = teardown,
          .timeout = 60);

Test(testenv_far, a_timer_past_the_clocks_range_is_never_jumped_to)
{
    int64_t v0 = duro_testenv_now_ms(env);
    start_nap("nap-forever", INT64_C(4000000000000000000));
    cJSON *d = NULL;
    cr_assert_eq(duro_testenv_result(env, "nap-forever", &d), DURO_ETIMEDOUT);
    cr_assert_null(d);
    int64_t moved = duro_testenv_now_ms(env) - v0;
    cr_assert(moved >= 0 && moved < duro_minutes(1), "the clock moved %lldms",
              (long long)moved);
}

Test(testenv_far, a_wait_that_runs_out_idle_says_so)
{
    start_nap("nap-idle", INT64_C(4000000000000000000));
    static char timeout_line[512];
    duro_log_set_sink(keep_timeout_line, timeout_line);
    cJSON *d = NULL;
    int rc = duro_testenv_result(env, "nap-idle", &d);
    duro_log_set_sink(NULL, NULL);
    cr_assert_eq(rc, DURO_ETIMEDOUT);
    /* idle all along: the start's task, long done, is not named busy */
    cr_assert(strstr(timeout_line, "TESTENV TIMEOUT") &&
                  strstr(timeout_line, " idle: "),
              "%s", timeout_line);
}

/* ---- A cron schedule across daylight-saving changes ---- */

static int64_t at(const char *rfc3339)
{
    int64_t ms = -1;
    cr_assert_eq(duro_rfc3339_parse(rfc3339, &ms), 0, "%s", rfc3339);
    return ms;
}

static void setup_spring(void)
{
    setup_at(at("2026-03-28T00:00:00Z"));
}

static void setup_autumn(void)
{
    setup_at(at("2026-10-24T12:00:00Z"));
}

/* berlin_at_half_past_two: a schedule starting tick at 02:30 Berlin time
 * every day. */
static void berlin_at_half_past_two(void)
{
    duro_schedule_opts o = {.schedule_id = "dst",
                            .cron = "30 2 * * *",
                            .time_zone = "Europe/Berlin",
                            .type = "tick",
                            .task_queue = QUEUE};
    duro_client *c = duro_testenv_client(env);
    cr_assert_eq(duro_client_schedule_create(c, &o), 0, "%s",
                 duro_client_errstr(c));
}

/* assert_started: the schedule started exactly the workflows `want`
 * (ids "dst-<nominal time>"), each at its nominal time by the clock. */
static void assert_started(int n, const char *const want[])
{
    int port =
        (int)strtol(strrchr(duro_testenv_redis_url(env), ':') + 1, NULL, 10);
    redisContext *r = redisConnect("127.0.0.1", port);
    cr_assert(r && !r->err);
    redisReply *k = redisCommand(r, "KEYS duro:{p*}:wf:dst-*");
    cr_assert(k && k->type == REDIS_REPLY_ARRAY);
    cr_assert_eq((int)k->elements, n, "%zu workflows started, not %d",
                 k->elements, n);
    freeReplyObject(k);
    redisFree(r);
    duro_client *c = duro_testenv_client(env);
    for (int i = 0; i < n; i++) {
        cJSON *d = NULL;
        cr_assert_eq(duro_client_describe(c, want[i], &d), 0, "%s: %s", want[i],
                     duro_client_errstr(c));
        int64_t started = at(duro_test_str(d, "startTime"));
        int64_t nominal = at(want[i] + strlen("dst-"));
        cr_assert(started >= nominal && started < nominal + 1000,
                  "%s started at %s", want[i], duro_test_str(d, "startTime"));
        cJSON_Delete(d);
    }
}

/* 2026-03-29: 02:30 does not exist in Berlin (02:00 CET is 03:00 CEST):
 * the action runs at 03:30 CEST, then at 02:30 CEST. */
TestSuite(testenv_dst, .fini = teardown, .timeout = 60);

Test(testenv_dst, cron_in_a_time_zone_across_the_spring_change,
     .init = setup_spring)
{
    berlin_at_half_past_two();
    int64_t t0 = wall_ms();
    cr_assert_eq(duro_testenv_sleep(env, duro_hours(72)), 0);
    static const char *const want[] = {"dst-2026-03-28T01:30:00Z",
                                       "dst-2026-03-29T01:30:00Z",
                                       "dst-2026-03-30T00:30:00Z"};
    assert_started(3, want);
    cr_assert_lt(wall_ms() - t0, 1000);
}

/* 2026-10-25: 02:30 happens twice in Berlin (03:00 CEST is 02:00 CET):
 * the action runs once, at the first. */
Test(testenv_dst, cron_in_a_time_zone_across_the_autumn_change,
     .init = setup_autumn)
{
    berlin_at_half_past_two();
    cr_assert_eq(duro_testenv_sleep(env, duro_hours(48)), 0);
    static const char *const want[] = {"dst-2026-10-25T00:30:00Z",
                                       "dst-2026-10-26T01:30:00Z"};
    assert_started(2, want);
}

/* ---- Without redis-server ---- */

TestSuite(testenv_setup, .timeout = 30);

Test(testenv_setup, a_start_past_the_clocks_range_is_refused)
{
    duro_testenv *e = NULL;
    duro_testenv_opts o = {.task_queue = QUEUE, .start_ms = INT64_MAX};
    cr_assert_eq(duro_testenv_new(&e, &o), DURO_EINVAL);
    cr_assert_null(e);
    o.start_ms = INT64_C(1) << 53; /* the last exact one */
    cr_assert_eq(duro_testenv_new(&e, &o), 0);
    cr_assert_geq(duro_testenv_now_ms(e), INT64_C(1) << 53);
    duro_testenv_free(e);
}

Test(testenv_setup, a_missing_redis_server_is_not_found_and_leaves_none)
{
    duro_testenv *e = NULL;
    duro_testenv_opts o = {.task_queue = QUEUE,
                           .redis_server = "duro-no-such-redis-server"};
    cr_assert_eq(duro_testenv_new(&e, &o), DURO_ENOTFOUND);
    cr_assert_null(e);
    o.redis_server = NULL; /* the failed one is gone: a new one may start */
    cr_assert_eq(duro_testenv_new(&e, &o), 0);
    duro_testenv_free(e);
}

/* make_env: an environment made, and started, by a thread that then ends
 * (a fixture made on a setup thread). */
static void *make_env(void *arg)
{
    duro_testenv_opts o = {.task_queue = QUEUE};
    int *rc = arg;
    *rc = duro_testenv_new(&env, &o);
    if (*rc == 0) {
        duro_worker_register_workflow(duro_testenv_worker(env), "tick", tick);
        *rc = duro_testenv_start(env);
    }
    return NULL;
}

Test(testenv_setup, a_server_outlives_the_thread_that_made_the_environment)
{
    pthread_t t;
    int rc = -1;
    cr_assert_eq(pthread_create(&t, NULL, make_env, &rc), 0);
    pthread_join(t, NULL);
    cr_assert_eq(rc, 0);
    /* a server stopped by that thread's end (its parent death signal)
     * shuts down within a cron tick of its own (100ms): PINGed across half
     * a second, it would stop answering */
    const char *colon = strrchr(duro_testenv_redis_url(env), ':');
    cr_assert_not_null(colon);
    int port = (int)strtol(colon + 1, NULL, 10);
    for (int i = 0; i < 50; i++) {
        redisContext *c = redisConnect("127.0.0.1", port);
        redisReply *r = c && !c->err ? redisCommand(c, "PING") : NULL;
        bool up = r && r->type == REDIS_REPLY_STATUS;
        freeReplyObject(r);
        redisFree(c);
        cr_assert(up, "the server stopped with the thread (PING %d)", i);
        struct timespec ts = {0, 10000000L};
        nanosleep(&ts, NULL);
    }
    duro_start_opts s = {
        .workflow_id = "tick-1", .type = "tick", .task_queue = QUEUE};
    char run[DURO_UUID_LEN + 1];
    cr_assert_eq(duro_client_start(duro_testenv_client(env), &s, run), 0);
    cJSON *d = NULL;
    cr_assert_eq(duro_testenv_result(env, "tick-1", &d), 0);
    cJSON_Delete(d);
    duro_testenv_free(env);
    env = NULL;
}
