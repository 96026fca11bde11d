/* test_reset.c: `duro workflow reset` / duro_client_reset: a new run from
 * a workflow task of an old one, the later signals applied again, the
 * pending work re-created, the old run fenced off.
 *
 * Most tests drive the "resettable" workflow of duro-test-worker: a 1h
 * timer left pending, N "add" signals summed, then an echo of the sum;
 * with $DURO_TEST_BUG set in the worker its code fails instead. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/fcall.h"
#include "duro/keys.h"
#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(reset, .init = setup, .fini = duro_test_fini, .timeout = 60);

/* ---- Helpers ---- */

static pid_t worker(bool bug)
{
    if (bug)
        setenv("DURO_TEST_BUG", "1", 1);
    else
        unsetenv("DURO_TEST_BUG");
    pid_t pid = duro_test_spawn(&h, "duro-test-worker", NULL);
    unsetenv("DURO_TEST_BUG");
    return pid;
}

static void current_run(duro_client *c, const char *id,
                        char run[DURO_UUID_LEN + 1])
{
    cJSON *d = NULL;
    cr_assert_eq(duro_client_describe(c, id, &d), 0, "%s",
                 duro_client_errstr(c));
    snprintf(run, DURO_UUID_LEN + 1, "%s", duro_test_str(d, "runId"));
    cJSON_Delete(d);
}

static void add(duro_client *c, const char *id, int v)
{
    char in[16];
    snprintf(in, sizeof(in), "%d", v);
    cr_assert_eq(duro_client_signal(c, id, "add", in, NULL), 0, "%s",
                 duro_client_errstr(c));
}

/* wft_count: WorkflowTaskCompleted events of the current run. */
static int wft_count(duro_client *c, const char *id)
{
    cJSON *hist = duro_test_history(c, id);
    int n = duro_test_count_events(hist, "WorkflowTaskCompleted");
    cJSON_Delete(hist);
    return n;
}

/* run_history: the events of one run. */
static cJSON *run_history(duro_client *c, const char *id, const char *run)
{
    cJSON *ev = NULL;
    cr_assert_eq(duro_client_history(c, id, run, &ev), 0, "%s",
                 duro_client_errstr(c));
    return ev;
}

static int reset_to(duro_client *c, const char *id, const char *run,
                    duro_reset_point p, int64_t event, char out[])
{
    duro_reset_opts o = {.workflow_id = id,
                         .run_id = run,
                         .point = p,
                         .event_id = event,
                         .reason = "fixed the bug"};
    return duro_client_reset(c, &o, out);
}

/* event_id_of: the id of the n-th (0-based) event of type in hist. */
static int64_t event_id_of(const cJSON *hist, const char *type, int n)
{
    const cJSON *e = duro_test_find_event(hist, type, n);
    cr_assert(e, "no %s #%d", type, n);
    return (int64_t)duro_test_num(e, "eventId", -1);
}

static bool timer_of_run(redisContext *r, const duro_wf_keys *k,
                         const char *run)
{
    redisReply *rep = redisCommand(r, "ZRANGE %s 0 -1", k->timers);
    bool found = false;
    for (size_t i = 0; rep && i < rep->elements; i++)
        found |= strncmp(rep->element[i]->str, "t|", 2) == 0 &&
                 strstr(rep->element[i]->str, run) != NULL;
    freeReplyObject(rep);
    return found;
}

/* ---- Resetting ---- */

/* The worker's code had a bug that failed the run after its signals; the
 * fixed worker re-runs the last task: the run completes, with the
 * signals and the timer of the old run. */
Test(reset, a_failed_run_reset_to_its_last_task_completes_once_fixed)
{
    duro_test_spawn(&h, "duro-scheduler", NULL);
    pid_t buggy = worker(true);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "rs-bug", "resettable", "test", "{\"n\":2}", 0);
    cr_assert(duro_test_wait_until(wft_count(c, "rs-bug") == 1, 10000));
    add(c, "rs-bug", 3);
    add(c, "rs-bug", 4);
    cJSON *d = duro_test_result(c, "rs-bug", 10000);
    cr_assert_str_eq(duro_test_str(d, "status"), "FAILED");
    cJSON_Delete(d);
    char old[DURO_UUID_LEN + 1], run[DURO_UUID_LEN + 1];
    current_run(c, "rs-bug", old);
    duro_test_kill(&h, buggy, SIGTERM);
    worker(false);

    cr_assert_eq(
        reset_to(c, "rs-bug", NULL, DURO_RESET_LAST_WORKFLOW_TASK, 0, run), 0,
        "%s", duro_client_errstr(c));
    cr_assert_str_neq(run, old);
    d = duro_test_result(c, "rs-bug", 10000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED", "%s",
                     cJSON_PrintUnformatted(d));
    const cJSON *res = cJSON_GetObjectItem(d, "result");
    cr_assert_eq(duro_test_num(res, "sum", -1), 7);
    cr_assert_eq(duro_test_num(res, "echo", -1), 7);
    cr_assert_str_eq(duro_test_str(d, "runId"), run);
    /* describe links the runs both ways */
    const cJSON *from = cJSON_GetObjectItem(d, "resetFrom");
    cr_assert_str_eq(duro_test_str(from, "runId"), old);
    cr_assert_str_eq(duro_test_str(from, "reason"), "fixed the bug");
    const cJSON *runs = cJSON_GetObjectItem(d, "resetRuns");
    cr_assert_eq(cJSON_GetArraySize(runs), 1);
    cr_assert_str_eq(duro_test_str(cJSON_GetArrayItem(runs, 0), "runId"), old);
    cr_assert_str_eq(duro_test_str(cJSON_GetArrayItem(runs, 0), "resetRunId"),
                     run);
    /* the new history is the old one up to the last task: the same
     * events, then the re-run task's; the old run's is untouched */
    cJSON *oh = run_history(c, "rs-bug", old);
    int64_t point =
        event_id_of(oh, "WorkflowTaskCompleted",
                    duro_test_count_events(oh, "WorkflowTaskCompleted") - 1);
    cr_assert_eq(duro_test_num(from, "eventId", -1), (double)point);
    cJSON *nh = run_history(c, "rs-bug", run);
    for (int i = 0; i < point - 1; i++) {
        char *a = cJSON_PrintUnformatted(cJSON_GetArrayItem(oh, i));
        char *b = cJSON_PrintUnformatted(cJSON_GetArrayItem(nh, i));
        cr_assert_str_eq(b, a, "event %d", i + 1);
        free(a);
        free(b);
    }
    cr_assert_str_eq(duro_test_str(cJSON_GetArrayItem(nh, point - 1), "type"),
                     "WorkflowTaskCompleted");
    cr_assert_eq(duro_test_count_events(oh, "WorkflowFailed"), 1);
    cr_assert_eq(duro_test_count_events(nh, "WorkflowFailed"), 0);
    cr_assert_eq(duro_test_count_events(nh, "SignalReceived"), 2);
    cJSON_Delete(oh);
    cJSON_Delete(nh);
    cJSON_Delete(d);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* A running run reset to the task after its first signal: it is
 * terminated, the second signal (after the point) is applied again, the
 * pending timer comes back, and the new run goes on to complete. */
Test(reset, an_open_run_reset_to_an_event_reapplies_later_signals)
{
    duro_test_spawn(&h, "duro-scheduler", NULL);
    worker(false);
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    duro_test_start(c, "rs-open", "resettable", "test", "{\"n\":3}", 0);
    cr_assert(duro_test_wait_until(wft_count(c, "rs-open") == 1, 10000));
    add(c, "rs-open", 1);
    cr_assert(duro_test_wait_until(wft_count(c, "rs-open") == 2, 10000));
    add(c, "rs-open", 2);
    cr_assert(duro_test_wait_until(wft_count(c, "rs-open") == 3, 10000));
    char old[DURO_UUID_LEN + 1], run[DURO_UUID_LEN + 1];
    current_run(c, "rs-open", old);
    cJSON *oh = duro_test_history(c, "rs-open");
    int64_t point = event_id_of(oh, "WorkflowTaskCompleted", 1);
    cJSON_Delete(oh);

    cr_assert_eq(reset_to(c, "rs-open", NULL, DURO_RESET_EVENT_ID, point, run),
                 0, "%s", duro_client_errstr(c));
    /* the old run was terminated, naming its successor */
    oh = run_history(c, "rs-open", old);
    const cJSON *last = cJSON_GetArrayItem(oh, cJSON_GetArraySize(oh) - 1);
    cr_assert_str_eq(duro_test_str(last, "type"), "WorkflowTerminated");
    cr_assert_str_eq(duro_test_str(duro_test_event_data(last), "resetRunId"),
                     run);
    cJSON_Delete(oh);
    /* the timer pending at the point is the new run's now */
    duro_wf_keys k;
    duro_wf_keys_init(&k, DURO_KEYSPACE_DEFAULT(duro_client_partitions(c)),
                      "rs-open", run);
    cr_assert(timer_of_run(r, &k, run), "the pending timer was not re-created");
    /* the second signal came back; the third completes the run */
    add(c, "rs-open", 4);
    cJSON *d = duro_test_result(c, "rs-open", 10000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cr_assert_eq(duro_test_num(cJSON_GetObjectItem(d, "result"), "sum", -1), 7);
    cJSON *nh = run_history(c, "rs-open", run);
    cr_assert_eq(duro_test_count_events(nh, "SignalReceived"), 3);
    cr_assert_eq(duro_test_count_events(nh, "TimerStarted"), 1);
    cJSON_Delete(nh);
    cJSON_Delete(d);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* A completed run reset to its first task, through the CLI: its whole
 * code runs again (the echo too), with its signal. */
Test(reset, a_closed_run_reset_to_its_first_task_runs_again)
{
    duro_test_spawn(&h, "duro-scheduler", NULL);
    worker(false);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "rs-first", "resettable", "test", "{\"n\":1}", 0);
    cr_assert(duro_test_wait_until(wft_count(c, "rs-first") == 1, 10000));
    add(c, "rs-first", 5);
    cJSON *d = duro_test_result(c, "rs-first", 10000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cJSON_Delete(d);
    char old[DURO_UUID_LEN + 1];
    current_run(c, "rs-first", old);

    duro_test_output out;
    duro_test_run(&h, &out, 10000, "duro", "workflow", "reset", "-w",
                  "rs-first", "--run-id", old, "--type", "FirstWorkflowTask",
                  "--reason", "again", "-o", "json", NULL);
    cr_assert_eq(out.exit_code, 0, "%s%s", out.out, out.err);
    cJSON *j = cJSON_Parse(out.out);
    char run[DURO_UUID_LEN + 1];
    snprintf(run, sizeof(run), "%s", duro_test_str(j, "runId"));
    cJSON_Delete(j);
    duro_test_output_free(&out);
    cr_assert_str_neq(run, old);
    d = duro_test_result(c, "rs-first", 10000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cr_assert_str_eq(duro_test_str(d, "runId"), run);
    cr_assert_eq(duro_test_num(cJSON_GetObjectItem(d, "result"), "sum", -1), 5);
    cr_assert_eq(
        duro_test_num(cJSON_GetObjectItem(d, "resetFrom"), "eventId", -1), 2);
    cJSON_Delete(d);
    cJSON *nh = run_history(c, "rs-first", run);
    cr_assert_str_eq(duro_test_str(cJSON_GetArrayItem(nh, 0), "type"),
                     "WorkflowStarted");
    cr_assert_str_eq(duro_test_str(cJSON_GetArrayItem(nh, 1), "type"),
                     "SignalReceived");
    cr_assert_eq(duro_test_count_events(nh, "ActivityCompleted"), 1);
    cJSON_Delete(nh);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* An event that is not a workflow task completion is refused, by the
 * client (with what it is) and by the Function (nothing written). */
Test(reset, an_event_that_is_not_a_task_completion_is_refused)
{
    duro_test_spawn(&h, "duro-scheduler", NULL);
    worker(false);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "rs-bad", "resettable", "test", "{\"n\":1}", 0);
    cr_assert(duro_test_wait_until(wft_count(c, "rs-bad") == 1, 10000));
    char run[DURO_UUID_LEN + 1], cur[DURO_UUID_LEN + 1];
    current_run(c, "rs-bad", cur);
    cr_assert_eq(reset_to(c, "rs-bad", NULL, DURO_RESET_EVENT_ID, 1, run),
                 DURO_EINVAL);
    cr_assert(strstr(duro_client_errstr(c), "WorkflowStarted"), "%s",
              duro_client_errstr(c));
    cr_assert_eq(reset_to(c, "rs-bad", NULL, DURO_RESET_EVENT_ID, 3, run),
                 DURO_EINVAL);
    cr_assert(strstr(duro_client_errstr(c), "TimerStarted"), "%s",
              duro_client_errstr(c));
    cr_assert_eq(reset_to(c, "rs-bad", NULL, DURO_RESET_EVENT_ID, 99, run),
                 DURO_EINVAL);
    cr_assert_eq(reset_to(c, "rs-nope", NULL, DURO_RESET_EVENT_ID, 2, run),
                 DURO_ENOTFOUND);
    duro_test_output out;
    duro_test_run(&h, &out, 10000, "duro", "workflow", "reset", "-w", "rs-bad",
                  "--event-id", "3", "--reason", "x", NULL);
    cr_assert_eq(out.exit_code, 2, "%s", out.err);
    cr_assert(strstr(out.err, "TimerStarted"), "%s", out.err);
    duro_test_output_free(&out);
    /* an id past what a long long holds is no event id, not the last one */
    duro_test_run(&h, &out, 10000, "duro", "workflow", "reset", "-w", "rs-bad",
                  "--event-id", "99999999999999999999", "--reason", "x", NULL);
    cr_assert_eq(out.exit_code, 2, "%s", out.err);
    cr_assert(strstr(out.err, "positive integer"), "%s", out.err);
    duro_test_output_free(&out);

    /* the Function itself: event 3 named directly, nothing changes */
    redisContext *r = duro_test_redis(&h);
    duro_wf_keys k, ks;
    duro_wf_keys_init(&ks, DURO_KEYSPACE_DEFAULT(duro_client_partitions(c)),
                      "rs-bad", cur);
    duro_wf_keys_init(&k, DURO_KEYSPACE_DEFAULT(duro_client_partitions(c)),
                      "rs-bad", "00000000-0000-4000-8000-000000000001");
    duro_wf_keys_queues(&k, "test", NULL);
    duro_fcall_reset_args ra = {.id = "rs-bad",
                                .run = "00000000-0000-4000-8000-000000000001",
                                .src_run = cur,
                                .cur_run = cur,
                                .hist_cur = ks.hist,
                                .hist_src = ks.hist,
                                .event_id = 3,
                                .reason = "x",
                                .type = "resettable",
                                .queue = "test",
                                .input = "{\"n\":1}"};
    duro_argv a;
    duro_fcall_reset(&a, &k, &ra);
    redisReply *rep = redisCommandArgv(r, a.argc, a.argv, a.lens);
    duro_argv_free(&a);
    cr_assert(rep && rep->type == REDIS_REPLY_ERROR);
    cr_assert(strncmp(rep->str, "DURO_BADARG ", 12) == 0, "%s", rep->str);
    freeReplyObject(rep);
    char now[DURO_UUID_LEN + 1];
    current_run(c, "rs-bad", now);
    cr_assert_str_eq(now, cur, "a refused reset changed the run");
    cr_assert_eq(wft_count(c, "rs-bad"), 1);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* A run started with a run timeout and reset keeps it: the new run has
 * its own `n` timer and times out as RUN, not running for ever. */
Test(reset, a_reset_run_keeps_the_run_timeout)
{
    duro_test_spawn(&h, "duro-scheduler", NULL);
    worker(false);
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    duro_test_output out;
    duro_test_run(&h, &out, 10000, "duro", "workflow", "start", "-w", "rs-rto",
                  "--type", "resettable", "-t", "test", "-i", "{\"n\":1}",
                  "--run-timeout", "2s", NULL);
    cr_assert_eq(out.exit_code, 0, "%s%s", out.out, out.err);
    duro_test_output_free(&out);
    cr_assert(duro_test_wait_until(wft_count(c, "rs-rto") == 1, 10000));
    char run[DURO_UUID_LEN + 1];
    cr_assert_eq(
        reset_to(c, "rs-rto", NULL, DURO_RESET_FIRST_WORKFLOW_TASK, 0, run), 0,
        "%s", duro_client_errstr(c));
    duro_wf_keys k;
    duro_wf_keys_init(&k, DURO_KEYSPACE_DEFAULT(duro_client_partitions(c)),
                      "rs-rto", run);
    redisReply *rep = redisCommand(r, "HGET %s run_timeout", k.wf);
    cr_assert(rep && rep->type == REDIS_REPLY_STRING);
    cr_assert_str_eq(rep->str, "2000");
    freeReplyObject(rep);
    char member[256];
    snprintf(member, sizeof(member), "n|%s|0|0|test|-|rs-rto", run);
    rep = redisCommand(r, "ZSCORE %s %s", k.timers, member);
    cr_assert(rep && rep->type == REDIS_REPLY_STRING, "no run timer %s",
              member);
    freeReplyObject(rep);
    cJSON *d = duro_test_result(c, "rs-rto", 20000);
    cr_assert_str_eq(duro_test_str(d, "status"), "TIMED_OUT");
    cr_assert_str_eq(duro_test_str(d, "runId"), run);
    cJSON_Delete(d);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* waits until the current run of id is no longer run (it continued) and
 * copies the new one to run. */
static void wait_next_run(duro_client *c, const char *id,
                          char run[DURO_UUID_LEN + 1])
{
    char now[DURO_UUID_LEN + 1];
    int64_t t0 = duro_test_mono_ms();
    do {
        cr_assert_lt(duro_test_mono_ms() - t0, 20000, "%s stays on run %s", id,
                     run);
        duro_test_sleep_ms(5);
        current_run(c, id, now);
    } while (!strcmp(now, run));
    memcpy(run, now, sizeof(now));
}

/* An older run of a continue-as-new chain reset: the signals that the runs
 * it continued as received (a closed one's, and the running one's) are
 * applied again, each once, as Temporal's reset does along the chain. */
Test(reset, an_older_run_of_a_chain_reset_reapplies_the_chains_signals)
{
    duro_test_spawn(&h, "duro-scheduler", NULL);
    pid_t w = duro_test_spawn(&h, "samples-worker", NULL);
    duro_client *c = duro_test_client(&h);
    duro_start_opts so = {.workflow_id = "rs-chain",
                          .type = "counter",
                          .task_queue = "samples",
                          .input = "{\"to\":100000000,\"every\":2}"};
    char first[DURO_UUID_LEN + 1], run[DURO_UUID_LEN + 1];
    cr_assert_eq(duro_client_start(c, &so, first), 0, "%s",
                 duro_client_errstr(c));
    memcpy(run, first, sizeof(run));
    wait_next_run(c, "rs-chain", run);
    /* one signal to a later run, which then continues (closes) */
    cr_assert_eq(duro_client_signal(c, "rs-chain", "add", "{\"by\":1}", run), 0,
                 "%s", duro_client_errstr(c));
    wait_next_run(c, "rs-chain", run);
    /* and one to the running run, no worker left to take it */
    duro_test_kill(&h, w, SIGKILL);
    duro_test_wait_exit(&h, w, 10000);
    cr_assert(!duro_test_alive(&h, w));
    cr_assert_eq(duro_client_signal(c, "rs-chain", "add", "{\"by\":2}", run), 0,
                 "%s", duro_client_errstr(c));

    char reset[DURO_UUID_LEN + 1];
    cr_assert_eq(reset_to(c, "rs-chain", first, DURO_RESET_FIRST_WORKFLOW_TASK,
                          0, reset),
                 0, "%s", duro_client_errstr(c));
    cJSON *nh = run_history(c, "rs-chain", reset);
    cr_assert_eq(duro_test_count_events(nh, "SignalReceived"), 2);
    double by = 0;
    for (int i = 0; i < 2; i++)
        by += duro_test_num(
            cJSON_GetObjectItem(duro_test_event_data(duro_test_find_event(
                                    nh, "SignalReceived", i)),
                                "input"),
            "by", 0);
    cr_assert_eq(by, 3);
    cJSON_Delete(nh);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* A child started before the point and open there reports its close to
 * the run the reset replaces, never to the new run, which would wait for
 * it forever: the reset is refused, nothing changes. */
Test(reset, a_point_with_an_open_child_is_refused)
{
    duro_test_spawn(&h, "duro-scheduler", NULL);
    worker(false);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "rs-parent", "child-policy", "test",
                    "{\"childId\":\"rs-kid\",\"policy\":\"Abandon\"}", 0);
    /* the task after ChildWorkflowStarted: the child is open there */
    cr_assert(duro_test_wait_until(wft_count(c, "rs-parent") == 2, 10000));
    char run[DURO_UUID_LEN + 1], cur[DURO_UUID_LEN + 1], now[DURO_UUID_LEN + 1];
    current_run(c, "rs-parent", cur);
    cr_assert_eq(
        reset_to(c, "rs-parent", NULL, DURO_RESET_LAST_WORKFLOW_TASK, 0, run),
        DURO_EINVAL, "the reset went through");
    cr_assert(strstr(duro_client_errstr(c), "ChildWorkflowInitiated"), "%s",
              duro_client_errstr(c));
    current_run(c, "rs-parent", now);
    cr_assert_str_eq(now, cur, "a refused reset changed the run");
    cJSON *d = NULL;
    cr_assert_eq(duro_client_describe(c, "rs-parent", &d), 0);
    cr_assert_str_eq(duro_test_str(d, "status"), "RUNNING");
    cJSON_Delete(d);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* ---- Fencing ---- */

/* A worker that holds the old run's workflow task when the reset happens
 * cannot commit it: not into the new run, not into the old one. No real
 * worker polls queue "fence" here; the test plays that worker. */
Test(reset, the_old_runs_task_is_fenced_off)
{
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    int parts = duro_client_partitions(c);
    duro_test_start(c, "rs-fence", "resettable", "fence", "{\"n\":1}", 0);
    char old[DURO_UUID_LEN + 1], run[DURO_UUID_LEN + 1];
    current_run(c, "rs-fence", old);
    duro_wf_keys k;
    duro_wf_keys_init(&k, DURO_KEYSPACE_DEFAULT(parts), "rs-fence", old);
    duro_wf_keys_queues(&k, "fence", "fence");
    freeReplyObject(
        redisCommand(r, "XGROUP CREATE %s %s 0 MKSTREAM", k.wft, DURO_GROUP));
    /* task 1: committed with a marker */
    char entry[64], token[32];
    duro_test_claim_task(r, k.wft, "fake", "token", entry, sizeof(entry), token,
                         sizeof(token));
    duro_argv cmds;
    duro_argv_init(&cmds);
    duro_argv_push(&cmds, "marker");
    duro_argv_push(&cmds, "{\"kind\":\"x\",\"seq\":1,\"value\":null}");
    duro_fcall_task t = {.run = old, .token = token, .entry = entry};
    duro_fcall_commit cm = {
        .wtc_data = "{\"now\":1}", .ncmd = 1, .cmds = &cmds};
    duro_argv a;
    duro_fcall_wft_complete(&a, &k, &t, &cm);
    redisReply *rep = redisCommandArgv(r, a.argc, a.argv, a.lens);
    duro_argv_free(&a);
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY, "%s",
              rep && rep->str ? rep->str : "?");
    freeReplyObject(rep);
    /* a signal makes task 2, which the fake worker takes and holds */
    add(c, "rs-fence", 1);
    duro_test_claim_task(r, k.wft, "fake", "token", entry, sizeof(entry), token,
                         sizeof(token));

    cr_assert_eq(
        reset_to(c, "rs-fence", NULL, DURO_RESET_LAST_WORKFLOW_TASK, 0, run), 0,
        "%s", duro_client_errstr(c));
    cJSON *nh = run_history(c, "rs-fence", run);
    int n = cJSON_GetArraySize(nh);
    cr_assert_eq(n, 2, "WorkflowStarted and the signal");
    cJSON_Delete(nh);

    /* the held task completes the workflow: refused */
    duro_argv_free(&cmds);
    duro_argv_init(&cmds);
    duro_argv_push(&cmds, "complete");
    duro_argv_push(&cmds, "{\"result\":1}");
    duro_argv_push(&cmds, "1");
    duro_fcall_wft_complete(&a, &k, &t, &cm);
    rep = redisCommandArgv(r, a.argc, a.argv, a.lens);
    duro_argv_free(&a);
    cr_assert(rep && rep->type == REDIS_REPLY_ERROR);
    cr_assert(strncmp(rep->str, "DURO_STALE", 10) == 0, "%s", rep->str);
    freeReplyObject(rep);
    /* and the same task aimed at the new run's history: still refused */
    duro_wf_keys kn = k;
    duro_wf_keys_init(&kn, DURO_KEYSPACE_DEFAULT(parts), "rs-fence", run);
    duro_wf_keys_queues(&kn, "fence", "fence");
    duro_fcall_wft_complete(&a, &kn, &t, &cm);
    rep = redisCommandArgv(r, a.argc, a.argv, a.lens);
    duro_argv_free(&a);
    cr_assert(rep && rep->type == REDIS_REPLY_ERROR);
    cr_assert(strncmp(rep->str, "DURO_STALE", 10) == 0, "%s", rep->str);
    freeReplyObject(rep);
    duro_argv_free(&cmds);

    cJSON *d = NULL;
    cr_assert_eq(duro_client_describe(c, "rs-fence", &d), 0);
    cr_assert_str_eq(duro_test_str(d, "status"), "RUNNING");
    cr_assert_str_eq(duro_test_str(d, "runId"), run);
    cr_assert_eq(duro_test_num(d, "historyLength", -1), 2);
    cJSON_Delete(d);
    nh = run_history(c, "rs-fence", run);
    cr_assert_eq(cJSON_GetArraySize(nh), 2);
    cJSON_Delete(nh);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}
