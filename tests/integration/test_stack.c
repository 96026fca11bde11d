/* test_stack.c: `duro workflow stack` and describe's stack: where a
 * running workflow waits (the SDK call and the file:line of this file's
 * workflow code that made it), answered by a worker embedded in the test
 * process, so the lines the workflows record can be compared exactly. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "duro/worker.h"
#include "harness.h"

#define QUEUE "stack"

static duro_test_harness h;
static duro_worker *worker;
static pthread_t worker_thread;
static atomic_int release; /* ends the blocking activity */

/* lines of the SDK calls of the workflows below, set as they run */
static int line_act, line_timer, line_await, line_cond, line_comp;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(stack, .init = setup, .fini = duro_test_fini, .timeout = 90);

/* hold runs until the test releases it (or 30s). */
static cJSON *hold(duro_actx *ctx, const cJSON *input, void *arg)
{
    (void)input;
    (void)arg;
    for (int i = 0;
         i < 3000 && !atomic_load(&release) && !duro_actx_is_canceled(ctx); i++)
        usleep(10 * 1000);
    return cJSON_CreateTrue();
}

/* activity_and_timer: blocked in duro_await_all on an activity and a
 * timer. */
static cJSON *activity_and_timer(duro_wf *wf, const cJSON *input)
{
    (void)input;
    duro_future *fs[2];
    line_act = __LINE__ + 1;
    fs[0] = duro_activity_async(wf, "hold", NULL, NULL);
    line_timer = __LINE__ + 1;
    fs[1] = duro_timer(wf, 3600LL * 1000);
    line_await = __LINE__ + 1;
    duro_await_all(wf, fs, 2);
    return NULL;
}

static bool never(void *arg)
{
    (void)arg;
    return false;
}

/* condition: blocked in duro_condition (with a one-hour timeout). */
static cJSON *condition(duro_wf *wf, const cJSON *input)
{
    (void)input;
    line_cond = __LINE__ + 1;
    duro_condition(wf, never, NULL, 3600LL * 1000);
    return NULL;
}

/* compensating: blocked in duro_saga_compensate on a compensation. */
static cJSON *compensating(duro_wf *wf, const cJSON *input)
{
    (void)input;
    duro_saga *s = duro_saga_new(wf, NULL);
    duro_saga_add(s, "hold", NULL, NULL);
    line_comp = __LINE__ + 1;
    duro_saga_compensate(s);
    return NULL;
}

static cJSON *quick(duro_wf *wf, const cJSON *input)
{
    (void)wf;
    (void)input;
    return cJSON_CreateNumber(1);
}

static void *run_worker(void *arg)
{
    duro_worker_run(arg);
    return NULL;
}

/* start_worker runs the embedded worker with cache_size runs cached (0:
 * the default). */
static void start_worker(int cache_size)
{
    pid_t s =
        duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    cr_assert(
        duro_test_wait_until(duro_test_log_contains(&h, s, "REDIS UP"), 5000));
    duro_worker_opts o = {
        .redis_url = h.redis_url, .task_queue = QUEUE, .log_level = "warn"};
    cr_assert_eq(duro_worker_new(&worker, &o), 0);
    duro_worker_register_workflow(worker, "activityAndTimer",
                                  activity_and_timer);
    duro_worker_register_workflow(worker, "condition", condition);
    duro_worker_register_workflow(worker, "compensating", compensating);
    duro_worker_register_workflow(worker, "quick", quick);
    duro_worker_register_activity(worker, "hold", hold, NULL);
    cr_assert_eq(pthread_create(&worker_thread, NULL, run_worker, worker), 0);
}

static void stop_worker(void)
{
    atomic_store(&release, 1);
    duro_worker_stop(worker);
    pthread_join(worker_thread, NULL);
    duro_worker_free(worker);
    duro_test_finish(&h);
}

/* stack_cli runs `duro workflow stack` (with extra args) and returns its
 * output; *code gets the exit code. Caller frees. */
static char *stack_cli(const char *id, const char *json, int *code, char **err)
{
    duro_test_output o;
    if (json)
        duro_test_run(&h, &o, 15000, "duro", "workflow", "stack",
                      "--workflow-id", id, "-o", "json", NULL);
    else
        duro_test_run(&h, &o, 15000, "duro", "workflow", "stack",
                      "--workflow-id", id, NULL);
    *code = o.exit_code;
    char *out = strdup(o.out);
    if (err) *err = strdup(o.err);
    duro_test_output_free(&o);
    return out;
}

/* wait_blocked waits until workflow id's stack says it is blocked in
 * `call` (its first workflow task ran); returns the stack's text. */
static char *wait_blocked(const char *id, const char *call)
{
    char want[128];
    snprintf(want, sizeof(want), "blocked in %s", call);
    char *out = NULL;
    int64_t end = duro_test_mono_ms() + 15000;
    while (duro_test_mono_ms() < end) {
        int code;
        free(out);
        out = stack_cli(id, NULL, &code, NULL);
        if (code == 0 && strstr(out, want)) return out;
        duro_test_sleep_ms(100);
    }
    cr_assert_fail("%s never showed \"%s\": %s", id, want, out);
    return NULL;
}

static void assert_site(const char *out, const char *what, int line)
{
    char site[512];
    snprintf(site, sizeof(site), "%s at %s:%d (", what, __FILE__, line);
    cr_assert(strstr(out, site), "no \"%s\" in:\n%s", site, out);
}

Test(stack, shows_the_await_and_what_it_waits_for)
{
    start_worker(0);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "st-1", "activityAndTimer", QUEUE, "null", 0);
    char *out = wait_blocked("st-1", "duro_await_all");
    assert_site(out, "main: blocked in duro_await_all", line_await);
    assert_site(out, "activity 1 hold, started", line_act);
    assert_site(out, "timer 1, started", line_timer);
    cr_assert(strstr(out, "(activity_and_timer)"), "%s", out);
    free(out);

    /* an unknown query's error lists the built-in one */
    char *text = NULL;
    cr_assert_eq(duro_client_query(c, "st-1", "nope", NULL, 10000, &text),
                 DURO_EINVAL);
    cr_assert(strstr(duro_client_errstr(c), "known: duro:stack"), "%s",
              duro_client_errstr(c));

    /* -o json */
    int code;
    out = stack_cli("st-1", "json", &code, NULL);
    cr_assert_eq(code, 0, "%s", out);
    cJSON *j = cJSON_Parse(out);
    cr_assert_not_null(j, "%s", out);
    const cJSON *co =
        cJSON_GetArrayItem(cJSON_GetObjectItem(j, "coroutines"), 0);
    cr_assert_str_eq(duro_test_str(co, "call"), "duro_await_all");
    cr_assert_str_eq(duro_test_str(co, "file"), __FILE__);
    cr_assert_eq(duro_test_num(co, "line", 0), line_await);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(co, "waitingOn")), 2);
    cJSON_Delete(j);
    free(out);

    /* describe, text and -o json */
    duro_test_output o;
    duro_test_run(&h, &o, 15000, "duro", "workflow", "describe",
                  "--workflow-id", "st-1", NULL);
    cr_assert_eq(o.exit_code, 0, "%s", o.err);
    assert_site(o.out, "main: blocked in duro_await_all", line_await);
    duro_test_output_free(&o);
    duro_test_run(&h, &o, 15000, "duro", "workflow", "describe",
                  "--workflow-id", "st-1", "-o", "json", NULL);
    cr_assert_eq(o.exit_code, 0, "%s", o.err);
    j = cJSON_Parse(o.out);
    cr_assert_not_null(j, "%s", o.out);
    co = cJSON_GetArrayItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(j, "stack"), "coroutines"), 0);
    cr_assert_str_eq(duro_test_str(co, "call"), "duro_await_all", "%s", o.out);
    cr_assert_eq(duro_test_num(co, "line", 0), line_await);
    cJSON_Delete(j);
    duro_test_output_free(&o);

    /* the HTTP API's stack route */
    int port = duro_test_free_port();
    char addr[32];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    duro_test_spawn(&h, "duro", "server", "--http", addr, NULL);
    cr_assert(duro_test_wait_until(
        duro_test_http_get(port, "/healthz", NULL, 0) == 200, 5000));
    static char body[65536];
    cr_assert_eq(duro_test_http_get(port,
                                    "/api/v1/namespaces/default/workflows/"
                                    "st-1/stack",
                                    body, sizeof(body)),
                 200, "%s", body);
    char want[512];
    snprintf(want, sizeof(want),
             "\"call\":\"duro_await_all\",\"file\":\"%s\","
             "\"line\":%d",
             __FILE__, line_await);
    cr_assert(strstr(body, want), "no %s in %s", want, body);
    duro_client_free(c);
    stop_worker();
}

/* with one run cached, the second start evicts the first: its stack comes
 * from a replay of its history, the first from the cache */
Test(stack, shows_a_condition_and_a_compensation)
{
    start_worker(1);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "st-cond", "condition", QUEUE, "null", 0);
    duro_test_start(c, "st-comp", "compensating", QUEUE, "null", 0);
    char *out = wait_blocked("st-cond", "duro_condition");
    assert_site(out, "main: blocked in duro_condition", line_cond);
    assert_site(out, "timer 1, started", line_cond); /* its timeout */
    free(out);
    out = wait_blocked("st-comp", "duro_saga_compensate");
    assert_site(out, "main: blocked in duro_saga_compensate", line_comp);
    cr_assert(strstr(out, "activity 1 hold") && strstr(out, "[detached]"), "%s",
              out);
    free(out);
    duro_client_free(c);
    stop_worker();
}

Test(stack, a_closed_workflow_has_none)
{
    start_worker(0);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "st-done", "quick", QUEUE, "null", 0);
    cJSON_Delete(duro_test_result(c, "st-done", 15000));
    int code;
    char *err;
    char *out = stack_cli("st-done", NULL, &code, &err);
    cr_assert_neq(code, 0, "%s", out);
    cr_assert(strstr(err, "workflow st-done is COMPLETED: only a running "
                          "workflow is waiting somewhere"),
              "%s", err);
    free(out);
    free(err);
    /* describe of a closed workflow has no stack */
    duro_test_output o;
    duro_test_run(&h, &o, 15000, "duro", "workflow", "describe",
                  "--workflow-id", "st-done", "-o", "json", NULL);
    cr_assert_eq(o.exit_code, 0, "%s", o.err);
    cr_assert_null(strstr(o.out, "\"stack\":"), "%s", o.out);
    duro_test_output_free(&o);

    int port = duro_test_free_port();
    char addr[32];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    duro_test_spawn(&h, "duro", "server", "--http", addr, NULL);
    cr_assert(duro_test_wait_until(
        duro_test_http_get(port, "/healthz", NULL, 0) == 200, 5000));
    static char body[65536];
    cr_assert_eq(duro_test_http_get(port,
                                    "/api/v1/namespaces/default/workflows/"
                                    "st-done/stack",
                                    body, sizeof(body)),
                 409, "%s", body);
    cr_assert(strstr(body, "NOT_RUNNING"), "%s", body);
    duro_client_free(c);
    stop_worker();
}

Test(stack, describe_says_when_no_worker_answers)
{
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "st-orphan", "quick", "nobody-polls", "null", 0);
    duro_test_output o;
    int64_t t0 = duro_test_mono_ms();
    duro_test_run(&h, &o, 15000, "duro", "workflow", "describe",
                  "--workflow-id", "st-orphan", "-o", "json", NULL);
    int64_t took = duro_test_mono_ms() - t0;
    cr_assert_eq(o.exit_code, 0, "%s", o.err);
    cJSON *j = cJSON_Parse(o.out);
    cr_assert_not_null(j, "%s", o.out);
    const char *err = duro_test_str(cJSON_GetObjectItem(j, "stack"), "error");
    cr_assert(strstr(err, "no worker answered query duro:stack within 1s"),
              "%s", o.out);
    cr_assert_lt(took, 5000, "describe took %lld ms", (long long)took);
    cJSON_Delete(j);
    duro_test_output_free(&o);
    duro_test_run(&h, &o, 15000, "duro", "workflow", "describe",
                  "--workflow-id", "st-orphan", NULL);
    cr_assert(strstr(o.out, "Stack              unavailable: no worker"), "%s",
              o.out);
    duro_test_output_free(&o);
    duro_client_free(c);
    duro_test_finish(&h);
}
