/* test_continue.c: continue-as-new and the workflow run and execution
 * timeouts.
 *
 * The transition itself is tested at the Function level (the test plays
 * the worker, so that a signal can be made to arrive while the closing
 * task is in flight, deterministically); the rest drives the samples
 * worker's `counter` (examples/samples/counter.c) as a user would. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/fcall.h"
#include "duro/keys.h"
#include "harness.h"

#define QUEUE "samples"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(continue_as_new, .init = setup, .fini = duro_test_fini,
          .timeout = 90);

/* ---- Helpers ---- */

static char *hget(redisContext *r, const char *key, const char *field)
{
    redisReply *rep = duro_test_cmd(r, "HGET", key, field, NULL);
    char *s = strdup(rep->type == REDIS_REPLY_STRING ? rep->str : "");
    freeReplyObject(rep);
    return s;
}

static pid_t spawn_scheduler(void)
{
    pid_t s =
        duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    cr_assert(
        duro_test_wait_until(duro_test_log_contains(&h, s, "REDIS UP"), 5000));
    return s;
}

static pid_t spawn_worker(void)
{
    pid_t w = duro_test_spawn(&h, "samples-worker", NULL);
    cr_assert(
        duro_test_wait_until(duro_test_log_contains(&h, w, "REDIS UP"), 5000));
    return w;
}

/* cli runs `duro ARGS...` and returns its stdout (caller frees); asserts
 * exit code `want`. */
static char *cli(int want, ...)
{
    const char *v[18] = {0};
    int n = 0;
    va_list ap;
    va_start(ap, want);
    const char *a;
    while ((a = va_arg(ap, const char *)) && n < 17)
        v[n++] = a;
    va_end(ap);
    duro_test_output o;
    /* the list ends at the first NULL */
    duro_test_run(&h, &o, 30000, "duro", v[0], v[1], v[2], v[3], v[4], v[5],
                  v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13], v[14],
                  v[15], v[16], NULL);
    cr_assert_eq(o.exit_code, want, "duro %s: exit %d: %s %s", v[1],
                 o.exit_code, o.out, o.err);
    char *out = strdup(o.out);
    duro_test_output_free(&o);
    return out;
}

/* history_lengths: the length of every history of workflow id (one per run of
 * its chain). */
static int history_lengths(redisContext *r, const char *id, long long *lens,
                           int max)
{
    char pattern[256];
    snprintf(pattern, sizeof(pattern), "*:h:%s:*", id);
    redisReply *rep = duro_test_cmd(r, "KEYS", pattern, NULL);
    int n = 0;
    for (size_t i = 0; i < rep->elements && n < max; i++) {
        redisReply *l = duro_test_cmd(r, "LLEN", rep->element[i]->str, NULL);
        lens[n++] = l->integer;
        freeReplyObject(l);
    }
    freeReplyObject(rep);
    return n;
}

/* ---- The transition, played by hand ---- */

/* A signal (and a cancel request) that arrives while the task that
 * continues the run is in flight goes to the buffer; the commit carries it
 * into the new run's history, right after WorkflowStarted, so the new run
 * sees it. */
Test(continue_as_new, signal_mid_transition_goes_to_new_run)
{
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    int parts = duro_client_partitions(c);
    const char *id = "can-hand-1";
    duro_test_start(c, id, "counter", QUEUE, "{\"to\":4,\"every\":2}", 0);
    duro_wf_keys k;
    duro_wf_keys_init(&k, DURO_KEYSPACE_DEFAULT(parts), id, NULL);
    char *old = hget(r, k.wf, "run");
    duro_wf_keys_init(&k, DURO_KEYSPACE_DEFAULT(parts), id, old);
    duro_wf_keys_queues(&k, QUEUE, NULL);
    freeReplyObject(duro_test_cmd(r, "XGROUP", "CREATE", k.wft, DURO_GROUP, "0",
                                  "MKSTREAM", NULL));
    char entry[64], token[32];
    duro_test_claim_task(r, k.wft, "fake", "token", entry, sizeof(entry), token,
                         sizeof(token));

    /* the task is in flight: the signal is buffered */
    char sig_run[DURO_UUID_LEN + 1];
    cr_assert_eq(duro_client_signal(c, id, "add", "{\"by\":3}", sig_run), 0,
                 "%s", duro_client_errstr(c));
    bool already = true;
    cr_assert_eq(duro_client_cancel(c, id, "mid-transition", &already), 0, "%s",
                 duro_client_errstr(c));
    char *bufn = hget(r, k.wf, "bufn");
    cr_assert_str_eq(bufn, "2");
    free(bufn);

    const char *next = "00000000-0000-4000-8000-00000000c0de";
    duro_wf_keys nk;
    duro_wf_keys_init(&nk, DURO_KEYSPACE_DEFAULT(parts), id, next);
    const char *extra[] = {nk.hist, k.wft};
    char hi[8], wi[8];
    snprintf(hi, sizeof(hi), "%d", DURO_FCALL_WFT_COMPLETE_ACT_BASE);
    snprintf(wi, sizeof(wi), "%d", DURO_FCALL_WFT_COMPLETE_ACT_BASE + 1);
    duro_argv cmds;
    duro_argv_init(&cmds);
    const char *cont[] = {"continue_as_new",
                          "{\"newExecutionRunId\":\"x\"}",
                          next,
                          hi,
                          wi,
                          "counter",
                          QUEUE,
                          "{\"to\":4,\"every\":2,\"count\":2}",
                          "0",
                          "0"};
    for (size_t i = 0; i < sizeof(cont) / sizeof(*cont); i++)
        duro_argv_push(&cmds, cont[i]);
    duro_fcall_task t = {.run = old, .token = token, .entry = entry};
    duro_fcall_commit fc = {.wtc_data = "{\"now\":1}",
                            .ncmd = 1,
                            .cmds = &cmds,
                            .nacts = 2,
                            .acts = extra};
    duro_argv a;
    duro_fcall_wft_complete(&a, &k, &t, &fc);
    redisReply *rep = redisCommandArgv(r, a.argc, a.argv, a.lens);
    duro_argv_free(&a);
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY, "commit: %s",
              rep && rep->str ? rep->str : r->errstr);
    freeReplyObject(rep);

    /* the hash is the new run's, which names the one it continues */
    char *run = hget(r, k.wf, "run"), *status = hget(r, k.wf, "status");
    char *from = hget(r, k.wf, "continued_from");
    cr_assert_str_eq(run, next);
    cr_assert_str_eq(status, "RUNNING");
    cr_assert_str_eq(from, old);
    free(run);
    free(status);
    free(from);

    /* the old run ends with WorkflowContinuedAsNew ... */
    cJSON *oh = NULL;
    cr_assert_eq(duro_client_history(c, id, old, &oh), 0);
    int n = cJSON_GetArraySize(oh);
    cr_assert_str_eq(duro_test_str(cJSON_GetArrayItem(oh, n - 1), "type"),
                     "WorkflowContinuedAsNew");
    cr_assert_eq(duro_test_count_events(oh, "SignalReceived"), 0);
    cJSON_Delete(oh);
    /* ... and the new one starts with the signal it did not see */
    cJSON *nh = duro_test_history(c, id);
    cr_assert_eq(cJSON_GetArraySize(nh), 3);
    cr_assert_not_null(duro_test_find_event(nh, "CancelRequested", 0));
    char *canceled = hget(r, k.wf, "cancel_requested");
    cr_assert_str_eq(canceled, "1");
    free(canceled);
    const cJSON *ws = duro_test_find_event(nh, "WorkflowStarted", 0);
    cr_assert_str_eq(
        duro_test_str(duro_test_event_data(ws), "continuedExecutionRunId"),
        old);
    cr_assert_not_null(duro_test_find_event(nh, "SignalReceived", 0));
    cJSON_Delete(nh);

    /* describe follows the chain; the old run is CONTINUED_AS_NEW */
    cJSON *d = NULL;
    cr_assert_eq(duro_client_describe(c, id, &d), 0);
    cr_assert_str_eq(duro_test_str(d, "runId"), next);
    cr_assert_str_eq(duro_test_str(d, "continuedFromRunId"), old);
    cJSON_Delete(d);
    cr_assert_eq(duro_client_describe_run(c, id, old, &d), 0, "%s",
                 duro_client_errstr(c));
    cr_assert_str_eq(duro_test_str(d, "status"), "CONTINUED_AS_NEW");
    cJSON_Delete(d);

    /* the new run's first task is queued; the old token is fenced off */
    char queued[64];
    duro_test_claim_task(r, k.wft, "fake", "run", entry, sizeof(entry), queued,
                         sizeof(queued));
    cr_assert_str_eq(queued, next);
    duro_argv_free(&cmds);
    free(old);
    redisFree(r);
    duro_client_free(c);
}

/* ---- The counter sample ---- */

/* walk_back_the_chain follows continuedFromRunId from run `run` of
 * counter-1 (describe --run-id -o json) to the chain's first run: each
 * older run shows its input, the run it continued as and the null failure
 * the hash keeps for a continue-as-new; the first run's input is the
 * start's. */
static void walk_back_the_chain(const char *run)
{
    char cur[64], next[64] = "";
    snprintf(cur, sizeof(cur), "%s", run);
    int older = 0;
    for (; older < 4 && *cur; older++) {
        char *out = cli(0, "workflow", "describe", "--workflow-id", "counter-1",
                        "--run-id", cur, "-o", "json", NULL);
        cJSON *d = cJSON_Parse(out);
        cr_assert_str_eq(duro_test_str(d, "status"), "CONTINUED_AS_NEW", "%s",
                         out);
        cr_assert(cJSON_IsObject(cJSON_GetObjectItem(d, "input")), "%s", out);
        cr_assert(cJSON_IsNull(cJSON_GetObjectItem(d, "failure")), "%s", out);
        cr_assert_not(cJSON_HasObjectItem(d, "result"), "%s", out);
        cr_assert(!*next || !strcmp(duro_test_str(d, "continuedAsRunId"), next),
                  "%s", out);
        const char *from = duro_test_str(d, "continuedFromRunId");
        if (!*from)
            cr_assert_eq(
                duro_test_num(cJSON_GetObjectItem(d, "input"), "to", -1), 10,
                "the first run's input: %s", out);
        snprintf(next, sizeof(next), "%s", cur);
        snprintf(cur, sizeof(cur), "%s", from);
        cJSON_Delete(d);
        free(out);
    }
    cr_assert_eq(older, 3, "three runs before the last");
}

/* The sample through the CLI: 10 steps, a new run every 3, four runs; no
 * run's history holds more than its own steps. */
Test(continue_as_new, counter_through_the_cli)
{
    spawn_scheduler();
    spawn_worker();
    free(cli(0, "workflow", "start", "--workflow-id", "counter-1", "--type",
             "counter", "--task-queue", QUEUE, "--input",
             "{\"to\":10,\"every\":3}", NULL));
    char *out = cli(0, "workflow", "result", "--workflow-id", "counter-1", "-o",
                    "json", NULL);
    cJSON *res = cJSON_Parse(out);
    cr_assert_not_null(res, "%s", out);
    const cJSON *v = cJSON_GetObjectItem(res, "result");
    if (!v) v = res;
    cr_assert_eq(duro_test_num(v, "count", -1), 10, "%s", out);
    cr_assert_eq(duro_test_num(v, "runs", -1), 4, "%s", out);
    cJSON_Delete(res);
    free(out);

    redisContext *r = duro_test_redis(&h);
    long long lens[16];
    int n = history_lengths(r, "counter-1", lens, 16);
    cr_assert_eq(n, 4, "one history per run");
    /* WorkflowStarted, then per step a WorkflowTaskCompleted, TimerStarted
     * and TimerFired, then the task that closes the run and its event */
    for (int i = 0; i < n; i++)
        cr_assert_leq(lens[i], 1 + 3 * 3 + 2, "run %d: %lld events", i,
                      lens[i]);
    redisFree(r);

    /* history and describe without a run id: the last run */
    out = cli(0, "workflow", "describe", "--workflow-id", "counter-1", "-o",
              "json", NULL);
    cr_assert(strstr(out, "continuedFromRunId"), "%s", out);
    free(out);
    out = cli(0, "workflow", "history", "--workflow-id", "counter-1", NULL);
    cr_assert(strstr(out, "WorkflowCompleted"), "%s", out);
    free(out);

    /* the run it continued from, by its id: closed as CONTINUED_AS_NEW */
    out = cli(0, "workflow", "describe", "--workflow-id", "counter-1", NULL);
    const char *from = strstr(out, "Continued from");
    cr_assert(from, "%s", out);
    char prev[64] = "";
    cr_assert_eq(sscanf(from, "Continued from %63s", prev), 1, "%s", out);
    free(out);
    out = cli(0, "workflow", "describe", "--workflow-id", "counter-1",
              "--run-id", prev, NULL);
    cr_assert(strstr(out, "CONTINUED_AS_NEW") && strstr(out, prev), "%s", out);
    /* its input from its history; a closed run has no workflow task */
    cr_assert(strstr(out, "Input"), "%s", out);
    cr_assert_null(strstr(out, "Workflow task"), "%s", out);
    free(out);
    walk_back_the_chain(prev);
}

/* Query and signal name no run: they reach whichever run is current while
 * the chain moves on, and no signal is lost in a transition. */
Test(continue_as_new, query_and_signal_follow_the_chain)
{
    spawn_scheduler();
    spawn_worker();
    duro_client *c = duro_test_client(&h);
    const char *id = "counter-2";
    duro_test_start(c, id, "counter", QUEUE, "{\"to\":300,\"every\":4}", 0);
    int adds = 0;
    char first[DURO_UUID_LEN + 1] = "";
    for (int i = 0; i < 20; i++) {
        char run[DURO_UUID_LEN + 1];
        int rc = duro_client_signal(c, id, "add", "{\"by\":1}", run);
        if (rc == DURO_ENOTRUNNING) break;
        cr_assert_eq(rc, 0, "%s", duro_client_errstr(c));
        if (!first[0]) snprintf(first, sizeof(first), "%s", run);
        adds++;
        char *q = NULL;
        rc = duro_client_query(c, id, "count", NULL, 5000, &q);
        if (rc == 0) cr_assert(strtol(q, NULL, 10) >= 0, "%s", q);
        free(q);
        duro_test_sleep_ms(20);
    }
    cr_assert_gt(adds, 5);
    cJSON *d = duro_test_result(c, id, 60000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    const cJSON *res = cJSON_GetObjectItem(d, "result");
    cr_assert_eq(duro_test_num(res, "count", -1), 300 + adds,
                 "every signal counted once: %d adds", adds);
    cr_assert_str_neq(duro_test_str(d, "runId"), first);
    cJSON_Delete(d);
    /* a query of the closed chain: the last run's final count */
    char *q = NULL;
    cr_assert_eq(duro_client_query(c, id, "count", NULL, 10000, &q), 0, "%s",
                 duro_client_errstr(c));
    cr_assert_eq(strtol(q, NULL, 10), 300 + adds, "%s", q);
    free(q);
    duro_client_free(c);
}

/* A worker killed -9 right after a transition: another worker picks the
 * new run up; the chain completes once, with each run's steps counted
 * once. */
Test(continue_as_new, worker_killed_around_the_transition)
{
    spawn_scheduler();
    pid_t w = spawn_worker();
    duro_client *c = duro_test_client(&h);
    const char *id = "counter-3";
    duro_test_start(c, id, "counter", QUEUE, "{\"to\":60,\"every\":5}", 1000);
    cJSON *d = NULL;
    cr_assert_eq(duro_client_describe(c, id, &d), 0);
    char first[DURO_UUID_LEN + 1];
    snprintf(first, sizeof(first), "%s", duro_test_str(d, "runId"));
    cJSON_Delete(d);
    /* wait for the first transition, then kill the worker at once */
    bool moved = false;
    for (int i = 0; i < 500 && !moved; i++) {
        cr_assert_eq(duro_client_describe(c, id, &d), 0);
        moved = strcmp(duro_test_str(d, "runId"), first) != 0;
        cJSON_Delete(d);
        if (!moved) duro_test_sleep_ms(5);
    }
    cr_assert(moved);
    duro_test_kill(&h, w, SIGKILL);
    spawn_worker();
    d = duro_test_result(c, id, 60000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    const cJSON *res = cJSON_GetObjectItem(d, "result");
    cr_assert_eq(duro_test_num(res, "count", -1), 60);
    cr_assert_eq(duro_test_num(res, "runs", -1), 12);
    cJSON_Delete(d);
    redisContext *r = duro_test_redis(&h);
    long long lens[32];
    cr_assert_eq(history_lengths(r, id, lens, 32), 12, "one run per step");
    redisFree(r);
    duro_client_free(c);
}

/* ---- Timeouts ---- */

/* The execution timeout spans the chain: runs of 5 steps each continue
 * well within their run timeout, and the chain still times out. */
Test(continue_as_new, execution_timeout_spans_continued_runs)
{
    spawn_scheduler();
    spawn_worker();
    free(cli(0, "workflow", "start", "--workflow-id", "counter-x", "--type",
             "counter", "--task-queue", QUEUE, "--input",
             "{\"to\":1000000,\"every\":5}", "--execution-timeout", "1500ms",
             "--run-timeout", "1s", NULL));
    duro_client *c = duro_test_client(&h);
    cJSON *d = duro_test_result(c, "counter-x", 20000);
    cr_assert_str_eq(duro_test_str(d, "status"), "TIMED_OUT");
    const cJSON *f = cJSON_GetObjectItem(d, "failure");
    cr_assert(strstr(duro_test_str(f, "message"), "execution"), "%s",
              duro_test_str(f, "message"));
    cr_assert_str_neq(duro_test_str(d, "continuedFromRunId"), "",
                      "the chain had continued before it timed out");
    cJSON_Delete(d);
    cJSON *hist = duro_test_history(c, "counter-x");
    const cJSON *to = duro_test_find_event(hist, "WorkflowTimedOut", 0);
    cr_assert_str_eq(duro_test_str(duro_test_event_data(to), "timeoutType"),
                     "EXECUTION");
    cJSON_Delete(hist);
    duro_client_free(c);
}

/* The run timeout limits one run: a run that never continues times out
 * after it, long before the execution timeout. */
Test(continue_as_new, run_timeout_limits_one_run)
{
    spawn_scheduler();
    spawn_worker();
    free(cli(0, "workflow", "start", "--workflow-id", "counter-r", "--type",
             "counter", "--task-queue", QUEUE, "--input",
             "{\"to\":1000000,\"every\":1000000}", "--execution-timeout", "1h",
             "--run-timeout", "700ms", NULL));
    duro_client *c = duro_test_client(&h);
    int64_t t0 = duro_test_mono_ms();
    cJSON *d = duro_test_result(c, "counter-r", 20000);
    cr_assert_lt(duro_test_mono_ms() - t0, 10000);
    cr_assert_str_eq(duro_test_str(d, "status"), "TIMED_OUT");
    const cJSON *f = cJSON_GetObjectItem(d, "failure");
    cr_assert(strstr(duro_test_str(f, "message"), "run timed out"), "%s",
              duro_test_str(f, "message"));
    cJSON_Delete(d);
    cJSON *hist = duro_test_history(c, "counter-r");
    const cJSON *to = duro_test_find_event(hist, "WorkflowTimedOut", 0);
    cr_assert_str_eq(duro_test_str(duro_test_event_data(to), "timeoutType"),
                     "RUN");
    cJSON_Delete(hist);
    duro_client_free(c);
}

/* Each continued run gets its own run timeout (inherited): a chain of
 * short runs outlives one run timeout several times over. */
Test(continue_as_new, run_timeout_restarts_with_each_run)
{
    spawn_scheduler();
    spawn_worker();
    free(cli(0, "workflow", "start", "--workflow-id", "counter-n", "--type",
             "counter", "--task-queue", QUEUE, "--input",
             "{\"to\":400,\"every\":10}", "--run-timeout", "800ms", NULL));
    duro_client *c = duro_test_client(&h);
    int64_t t0 = duro_test_mono_ms();
    cJSON *d = duro_test_result(c, "counter-n", 30000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED", "after %lld ms",
                     (long long)(duro_test_mono_ms() - t0));
    cJSON_Delete(d);
    /* the last run inherited the first one's run timeout */
    cJSON *hist = duro_test_history(c, "counter-n");
    const cJSON *ws = duro_test_find_event(hist, "WorkflowStarted", 0);
    cr_assert_neq(
        duro_test_str(duro_test_event_data(ws), "continuedExecutionRunId")[0],
        '\0');
    cr_assert_eq(duro_test_num(duro_test_event_data(ws), "runTimeoutMs", 0),
                 800);
    cJSON_Delete(hist);
    duro_client_free(c);
}

/* An activity's completion that ends a run by continuing it as new is
 * committed eagerly (duro_act_complete with the continue_as_new command):
 * the chain of runs each one activity long completes, its memo kept. */
Test(continue_as_new, eager_commit_from_an_activity)
{
    spawn_scheduler();
    pid_t w = duro_test_spawn(&h, "duro-test-worker", NULL);
    cr_assert(
        duro_test_wait_until(duro_test_log_contains(&h, w, "REDIS UP"), 5000));
    duro_client *c = duro_test_client(&h);
    duro_start_opts o = {.workflow_id = "chain-1",
                         .type = "chain",
                         .task_queue = "test",
                         .input = "{\"n\":0,\"runs\":8}",
                         .memo = "{\"owner\":\"ops\"}"};
    char run[DURO_UUID_LEN + 1];
    cr_assert_eq(duro_client_start(c, &o, run), 0, "%s", duro_client_errstr(c));
    cJSON *d = duro_test_result(c, "chain-1", 30000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(d, "result")), 8);
    cr_assert_str_eq(duro_test_str(cJSON_GetObjectItem(d, "memo"), "owner"),
                     "ops");
    cJSON_Delete(d);
    duro_test_kill(&h, w, SIGTERM);
    duro_test_wait_exit(&h, w, 10000);
    cr_assert(duro_test_log_contains(&h, w, "STOPPED"));
    cr_assert(!duro_test_log_contains(&h, w, " eager=0 "),
              "no continue-as-new was committed eagerly");
    duro_client_free(c);
}

/* signal-with-start takes the run timeout too. */
Test(continue_as_new, signal_with_start_takes_a_run_timeout)
{
    spawn_scheduler();
    spawn_worker();
    free(cli(0, "workflow", "signal-with-start", "--workflow-id", "counter-s",
             "--type", "counter", "--task-queue", QUEUE, "--input",
             "{\"to\":1000000,\"every\":1000000}", "--name", "add",
             "--signal-input", "{\"by\":1}", "--run-timeout", "500ms", NULL));
    duro_client *c = duro_test_client(&h);
    cJSON *d = duro_test_result(c, "counter-s", 20000);
    cr_assert_str_eq(duro_test_str(d, "status"), "TIMED_OUT");
    cJSON_Delete(d);
    cJSON *hist = duro_test_history(c, "counter-s");
    const cJSON *to = duro_test_find_event(hist, "WorkflowTimedOut", 0);
    cr_assert_str_eq(duro_test_str(duro_test_event_data(to), "timeoutType"),
                     "RUN");
    cJSON_Delete(hist);
    duro_client_free(c);
}
