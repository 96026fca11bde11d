/* test_stack_overflow.c: workflow code that overflows its coroutine stack or
 * crashes its worker must not take the fleet down: the overflow fails the
 * workflow task (StackOverflow in describe) and the worker survives; a
 * crash kills one worker, and the task comes back with a growing backoff
 * while the other workflows of the queue complete. Workers run under a
 * restart loop, as Kubernetes would run them. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "duro/fcall.h"
#include "duro/keys.h"
#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(stack_overflow, .init = setup, .fini = duro_test_fini,
          .timeout = 120);

/* TASK_TIMEOUT_MS: short, so that a dead worker's task is reclaimed fast. */
#define TASK_TIMEOUT_MS 1000

/* ---- A restart loop ---- */

/* supervised: a worker re-spawned whenever it exits, at most max times. */
typedef struct {
    char *args[8];
    pid_t pid;
    int deaths;
    int max;
} supervised;

static duro_test_child *child(pid_t pid)
{
    for (int i = 0; i < h.nchildren; i++)
        if (h.children[i].pid == pid) return &h.children[i];
    return NULL;
}

static void supervise_start(supervised *s, int max, const char *stack)
{
    memset(s, 0, sizeof(*s));
    s->max = max;
    if (stack) {
        s->args[0] = "--workflow-stack-size";
        s->args[1] = (char *)stack;
    }
    s->pid = duro_test_spawnv(&h, "duro-test-worker", s->args);
}

/* supervise restarts the worker when it has died. Its death was expected
 * by the test (the harness would otherwise report it at finish). */
static void supervise(supervised *s)
{
    if (duro_test_alive(&h, s->pid)) return;
    duro_test_child *ch = child(s->pid);
    if (ch && ch->reaped && WIFSIGNALED(ch->status))
        ch->killed_with = WTERMSIG(ch->status);
    s->deaths++;
    cr_assert_leq(s->deaths, s->max, "the worker died %d times", s->deaths);
    s->pid = duro_test_spawnv(&h, "duro-test-worker", s->args);
}

/* logged: some worker this test started logged s. */
static bool logged(const char *s)
{
    for (int i = 0; i < h.nchildren; i++)
        if (strcmp(h.children[i].name, "duro-test-worker") == 0 &&
            duro_test_log_contains(&h, h.children[i].pid, s))
            return true;
    return false;
}

/* ---- Describe ---- */

/* describe_of: the workflow's describe object; caller frees. */
static cJSON *describe_of(duro_client *c, const char *id)
{
    cJSON *d = NULL;
    cr_assert_eq(duro_client_describe(c, id, &d), 0, "describe %s", id);
    return d;
}

static bool status_is(duro_client *c, const char *id, const char *status)
{
    cJSON *d = describe_of(c, id);
    bool yes = strcmp(duro_test_str(d, "status"), status) == 0;
    cJSON_Delete(d);
    return yes;
}

/* last_error_has: the workflow task's lastError contains s. */
static bool last_error_has(duro_client *c, const char *id, const char *s)
{
    cJSON *d = describe_of(c, id);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(d, "workflowTask");
    const char *e = duro_test_str(t, "lastError");
    bool yes = strstr(e, s) != NULL;
    cJSON_Delete(d);
    return yes;
}

static int task_attempt(duro_client *c, const char *id)
{
    cJSON *d = describe_of(c, id);
    int n = (int)duro_test_num(
        cJSON_GetObjectItemCaseSensitive(d, "workflowTask"), "attempt", 0);
    cJSON_Delete(d);
    return n;
}

/* start_others starts n workflows of two activities each. */
static void start_others(duro_client *c, int n)
{
    for (int i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof(id), "other-%d", i);
        duro_test_start(c, id, "activities", "test", "{\"n\":2}",
                        TASK_TIMEOUT_MS);
    }
}

/* all_others_completed: every workflow start_others started completed. */
static bool all_others_completed(duro_client *c, int n)
{
    for (int i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof(id), "other-%d", i);
        if (!status_is(c, id, "COMPLETED")) return false;
    }
    return true;
}

/* ---- Overflow: the worker survives ---- */

Test(stack_overflow, overflow_fails_the_task_and_the_worker_survives)
{
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    pid_t worker = duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "big-array", "stack-array", "test", NULL,
                    TASK_TIMEOUT_MS);
    duro_test_start(c, "recursion", "stack-recursion", "test", NULL,
                    TASK_TIMEOUT_MS);
    start_others(c, 5);

    cr_assert(duro_test_wait_until(
                  last_error_has(c, "big-array", "StackOverflow") &&
                      last_error_has(c, "recursion", "StackOverflow"),
                  20000),
              "describe never showed StackOverflow");
    cr_assert(duro_test_wait_until(all_others_completed(c, 5), 20000),
              "the other workflows did not complete");
    /* the failing task is retried with backoff, and fails the same way */
    cr_assert(duro_test_wait_until(task_attempt(c, "recursion") >= 3, 10000),
              "the overflowing task was not retried");
    cr_assert(last_error_has(c, "recursion", "KiB coroutine stack"));
    cr_assert(duro_test_alive(&h, worker), "the overflow killed the worker");
    cr_assert(logged("STACK-OVERFLOW wf=big-array run="), "no log line");
    cr_assert(logged("type=stack-array stack="), "no type, stack size");
    cr_assert_not(logged("CRASH"));
    cr_assert(status_is(c, "big-array", "RUNNING"));

    duro_client_free(c);
    duro_test_finish(&h);
}

/* ---- The acceptance test ---- */

Test(stack_overflow, one_overflowing_workflow_does_not_stop_twenty_others)
{
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    supervised s;
    supervise_start(&s, 3, NULL);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "bad", "stack-array", "test", NULL, TASK_TIMEOUT_MS);
    start_others(c, 20);

    cr_assert(duro_test_wait_until(({
                                       supervise(&s);
                                       all_others_completed(c, 20);
                                   }),
                                   60000),
              "the other workflows did not complete");
    cr_assert(duro_test_wait_until(({
                                       supervise(&s);
                                       last_error_has(c, "bad",
                                                      "StackOverflow");
                                   }),
                                   20000),
              "describe of the bad workflow does not say StackOverflow");
    supervise(&s);
    cr_assert_leq(s.deaths, 1, "the worker died %d times", s.deaths);

    duro_client_free(c);
    duro_test_finish(&h);
}

/* ---- A crash: the worker dies, the task backs off ---- */

Test(stack_overflow, abort_in_workflow_code_backs_off_and_others_complete)
{
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    supervised s;
    supervise_start(&s, 8, NULL);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "aborts", "abort", "test", NULL, TASK_TIMEOUT_MS);

    /* the first timeout retries at once, each further one in a row
     * doubles the wait: 1s, 2s, then 4s */
    cr_assert(duro_test_wait_until(
                  ({
                      supervise(&s);
                      last_error_has(c, "aborts", "timed out 4 times in a row");
                  }),
                  40000),
              "the task's timeouts were not counted");
    cr_assert(last_error_has(c, "aborts", "may have crashed; retry in 4s"));
    cr_assert_geq(task_attempt(c, "aborts"), 5);
    cr_assert_geq(s.deaths, 4, "the worker died only %d times", s.deaths);
    cr_assert(logged("CRASH signal=SIGABRT wf=aborts run="), "no crash line");
    cr_assert(logged("type=abort"));

    /* while the bad task backs off, the rest of the queue moves */
    int deaths = s.deaths;
    start_others(c, 5);
    cr_assert(duro_test_wait_until(({
                                       supervise(&s);
                                       all_others_completed(c, 5);
                                   }),
                                   30000),
              "the other workflows did not complete");
    cr_assert_leq(s.deaths, deaths + 1, "the backoff did not hold the task");

    cr_assert_eq(duro_client_terminate(c, "aborts", "test over"), 0);
    supervise(&s);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* ---- A bigger stack ---- */

Test(stack_overflow, bigger_workflow_stack_size_fits_the_big_array)
{
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    duro_test_spawn(&h, "duro-test-worker", "--workflow-stack-size", "2m",
                    NULL);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "big-array", "stack-array", "test", NULL,
                    TASK_TIMEOUT_MS);
    cJSON *d = duro_test_result(c, "big-array", 20000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cr_assert_str_eq(
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "result")),
        "big frame fit");
    cJSON_Delete(d);
    duro_client_free(c);

    /* the environment sets it too, and the flag checks its range */
    duro_test_output o;
    setenv("DURO_WORKFLOW_STACK_SIZE", "1m", 1);
    duro_test_run(&h, &o, 5000, "duro-test-worker", "--help", NULL);
    unsetenv("DURO_WORKFLOW_STACK_SIZE");
    cr_assert(strstr(o.out, "[$DURO_WORKFLOW_STACK_SIZE, 1MiB]"), "%s", o.out);
    duro_test_output_free(&o);
    duro_test_run(&h, &o, 5000, "duro-test-worker", "--workflow-stack-size",
                  "4k", NULL);
    cr_assert_eq(o.exit_code, 2);
    cr_assert(strstr(o.err, "--workflow-stack-size wants a size"), "%s", o.err);
    duro_test_output_free(&o);
    duro_test_finish(&h);
}

/* ---- Counting timeouts in a row (duro_wft_timeout, no worker) ---- */

/* run_cmd runs a command given as NULL-terminated strings; asserts a reply. */
static redisReply *run_cmd(redisContext *r, ...)
{
    const char *argv[32];
    int n = 0;
    va_list ap;
    va_start(ap, r);
    const char *a;
    while ((a = va_arg(ap, const char *)) && n < 32)
        argv[n++] = a;
    va_end(ap);
    redisReply *rep = redisCommandArgv(r, n, argv, NULL);
    cr_assert(rep, "redis: %s", r->errstr);
    return rep;
}

typedef struct {
    redisContext *r;
    duro_wf_keys k; /* with the wft stream of queue "test" */
    char run[DURO_UUID_LEN + 1];
    char entry[64], token[32];
} task_holder;

/* fcall sends a call built by a duro_fcall_* builder and frees it. */
static redisReply *fcall(task_holder *t, duro_argv *a)
{
    redisReply *rep = redisCommandArgv(t->r, a->argc, a->argv, a->lens);
    duro_argv_free(a);
    cr_assert(rep, "redis: %s", t->r->errstr);
    return rep;
}

/* claim reads the workflow's task as a worker would: entry and token. */
static void claim(task_holder *t)
{
    redisReply *rep = run_cmd(t->r, "XREADGROUP", "GROUP", DURO_GROUP, "gone",
                              "COUNT", "1", "STREAMS", t->k.wft, ">", NULL);
    cr_assert_eq(rep->type, REDIS_REPLY_ARRAY, "no task to claim");
    redisReply *e = rep->element[0]->element[1]->element[0];
    snprintf(t->entry, sizeof(t->entry), "%s", e->element[0]->str);
    for (size_t i = 0; i + 1 < e->element[1]->elements; i += 2)
        if (!strcmp(e->element[1]->element[i]->str, "token"))
            snprintf(t->token, sizeof(t->token), "%s",
                     e->element[1]->element[i + 1]->str);
    freeReplyObject(rep);
}

/* time_out: the scheduler found the claimed task idle for long. */
static void time_out(task_holder *t)
{
    duro_fcall_task task = {
        .run = t->run, .token = t->token, .entry = t->entry};
    duro_argv a;
    duro_fcall_wft_timeout(&a, &t->k, &task, 999999999);
    redisReply *rep = fcall(t, &a);
    cr_assert_eq(rep->type, REDIS_REPLY_STRING, "%s",
                 rep->type == REDIS_REPLY_ERROR ? rep->str : "?");
    cr_assert_str_eq(rep->str, "timedout");
    freeReplyObject(rep);
}

static char *field(task_holder *t, const char *name)
{
    redisReply *rep = run_cmd(t->r, "HGET", t->k.wf, name, NULL);
    char *s = strdup(rep->type == REDIS_REPLY_STRING ? rep->str : "");
    freeReplyObject(rep);
    return s;
}

static long long redis_ms(task_holder *t)
{
    redisReply *rep = run_cmd(t->r, "TIME", NULL);
    long long ms = strtoll(rep->element[0]->str, NULL, 10) * 1000 +
                   strtoll(rep->element[1]->str, NULL, 10) / 1000;
    freeReplyObject(rep);
    return ms;
}

/* fire_backoff_timer checks that the task waits on a 'w' timer due
 * `delay_ms` after `before` (Redis time), then fires it early, as the
 * scheduler would once due. */
static void fire_backoff_timer(task_holder *t, long long before,
                               long long delay_ms)
{
    char member[512];
    char *tok = field(t, "token");
    duro_timer_member(member, sizeof(member), 'w', t->run,
                      strtoll(tok, NULL, 10), 0, "test", "-", "lost");
    free(tok);
    redisReply *rep = run_cmd(t->r, "ZSCORE", t->k.timers, member, NULL);
    cr_assert_eq(rep->type, REDIS_REPLY_STRING, "no backoff timer %s", member);
    long long due = strtoll(rep->str, NULL, 10);
    freeReplyObject(rep);
    cr_assert_geq(due - before, delay_ms);
    cr_assert_leq(due - redis_ms(t), delay_ms);
    freeReplyObject(run_cmd(t->r, "ZADD", t->k.timers, "0", member, NULL));
    duro_argv a;
    duro_fcall_timer_fire(&a, &t->k, member, strlen(member));
    rep = fcall(t, &a);
    cr_assert_str_eq(rep->str, "fired");
    freeReplyObject(rep);
}

static void assert_error(task_holder *t, const char *expect)
{
    char *e = field(t, "wft_error");
    cr_assert_str_eq(e, expect);
    free(e);
}

Test(stack_overflow, timeouts_in_a_row_back_off_and_a_commit_starts_over)
{
    duro_client *c = duro_test_client(&h);
    task_holder t;
    t.r = duro_test_redis(&h);
    duro_test_start(c, "lost", "activities", "test", NULL, 0);
    int parts = duro_client_partitions(c);
    duro_wf_keys_init(&t.k, DURO_KEYSPACE_DEFAULT(parts), "lost", NULL);
    char *run = field(&t, "run");
    snprintf(t.run, sizeof(t.run), "%s", run);
    free(run);
    duro_wf_keys_init(&t.k, DURO_KEYSPACE_DEFAULT(parts), "lost", t.run);
    duro_wf_keys_queues(&t.k, "test", NULL);
    freeReplyObject(run_cmd(t.r, "XGROUP", "CREATE", t.k.wft, DURO_GROUP, "0",
                            "MKSTREAM", NULL));

    /* one timeout is routine: the task is back at once */
    claim(&t);
    time_out(&t);
    assert_error(&t, "workflow task timed out; the worker running it may "
                     "have crashed");
    /* from the second in a row it backs off: 1s, 2s, 4s */
    const char *want[] = {"2 times in a row; the worker running it may have "
                          "crashed; retry in 1s",
                          "3 times in a row; the worker running it may have "
                          "crashed; retry in 2s",
                          "4 times in a row; the worker running it may have "
                          "crashed; retry in 4s"};
    for (int i = 0; i < 3; i++) {
        claim(&t);
        long long before = redis_ms(&t);
        time_out(&t);
        char expect[160];
        snprintf(expect, sizeof(expect), "workflow task timed out %s", want[i]);
        assert_error(&t, expect);
        char *entry = field(&t, "wft_entry");
        cr_assert_str_eq(entry, "", "re-enqueued without waiting");
        free(entry);
        fire_backoff_timer(&t, before, 1000LL << i);
    }

    /* the task commits (no command): the next task's timeouts start over */
    claim(&t);
    duro_fcall_task task = {.run = t.run, .token = t.token, .entry = t.entry};
    duro_fcall_commit none = {.wtc_data = "{\"now\":1}"};
    duro_argv a;
    duro_fcall_wft_complete(&a, &t.k, &task, &none);
    redisReply *rep = fcall(&t, &a);
    cr_assert_eq(rep->type, REDIS_REPLY_ARRAY, "%s",
                 rep->type == REDIS_REPLY_ERROR ? rep->str : "?");
    freeReplyObject(rep);
    cr_assert_eq(duro_client_signal(c, "lost", "poke", NULL, NULL), 0);
    claim(&t);
    time_out(&t);
    assert_error(&t, "workflow task timed out; the worker running it may "
                     "have crashed");

    redisFree(t.r);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* ---- Workflow code that never yields ---- */

/* healthz: the worker's /healthz status on port (-1: no answer). */
static int healthz(int port)
{
    return duro_test_http_get(port, "/healthz", NULL, 0);
}

/* A loop without a yield holds the worker's loop: C code cannot be
 * preempted, so only a restart frees the worker. Its liveness probe must
 * say so, or the worker stays stuck for good under an orchestrator. */
Test(stack_overflow, a_workflow_that_never_yields_fails_the_liveness_probe)
{
    int port = duro_test_free_port();
    char addr[32];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    duro_test_spawn_up(&h, 5000, "duro-test-worker", "--metrics-addr", addr,
                       "--loop-stall-timeout", "1s", NULL);
    cr_assert(duro_test_wait_until(healthz(port) == 200, 5000));
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "spinner", "spin", "test", "{\"ms\":8000}", 0);
    cr_assert(duro_test_wait_until(healthz(port) == 503, 7000),
              "/healthz stayed 200 while workflow code held the loop");
    /* the loop turns again once the code returns: live again */
    cr_assert(duro_test_wait_until(healthz(port) == 200, 20000));
    cJSON *d = duro_test_result(c, "spinner", 30000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cJSON_Delete(d);
    duro_client_free(c);
    duro_test_finish(&h);
}
