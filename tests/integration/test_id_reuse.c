/* test_id_reuse.c: the id reuse policies of a start (Temporal's
 * WorkflowIdReusePolicy), through the client library and the CLI.
 *
 * Runs that must stay RUNNING go to task queue "nobody", which no worker
 * polls; runs that must close go to "test" (duro-test-worker). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/history.h"
#include "duro/keys.h"
#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(id_reuse, .init = setup, .fini = duro_test_fini, .timeout = 90);

#define RUN_MS 10000

/* ---- Helpers ---- */

/* start starts id with policy p; returns the client's code, run in run. */
static int start(duro_client *c, const char *id, const char *type,
                 const char *queue, const char *input, duro_id_reuse_policy p,
                 char run[DURO_UUID_LEN + 1])
{
    duro_start_opts o = {0};
    o.workflow_id = id;
    o.type = type;
    o.task_queue = queue;
    o.input = input;
    o.id_reuse_policy = p;
    return duro_client_start(c, &o, run);
}

static void start_ok(duro_client *c, const char *id, const char *type,
                     const char *queue, const char *input,
                     duro_id_reuse_policy p, char run[DURO_UUID_LEN + 1])
{
    int rc = start(c, id, type, queue, input, p, run);
    cr_assert_eq(rc, 0, "start %s (%s): %s", id, duro_id_reuse_policy_name(p),
                 duro_client_errstr(c));
}

/* refused asserts that a start of id under p is refused naming run and
 * status. */
static void refused(duro_client *c, const char *id, duro_id_reuse_policy p,
                    const char *run, const char *status)
{
    char got[DURO_UUID_LEN + 1];
    int rc = start(c, id, "activities", "test", NULL, p, got);
    cr_assert_eq(rc, DURO_EALREADY, "%s under %s: %d %s", id,
                 duro_id_reuse_policy_name(p), rc, duro_client_errstr(c));
    const char *msg = duro_client_errstr(c);
    char want[256];
    snprintf(want, sizeof(want), "id reuse policy %s refuses a new run",
             duro_id_reuse_policy_name(p));
    cr_assert(strstr(msg, want), "%s", msg);
    cr_assert(strstr(msg, run), "does not name run %s: %s", run, msg);
    cr_assert(strstr(msg, status), "does not say %s: %s", status, msg);
}

static char *current_run(duro_client *c, const char *id)
{
    cJSON *d = NULL;
    cr_assert_eq(duro_client_describe(c, id, &d), 0, "%s",
                 duro_client_errstr(c));
    char *run = strdup(duro_test_str(d, "runId"));
    cJSON_Delete(d);
    return run;
}

static void wait_status(duro_client *c, const char *id, const char *status)
{
    cJSON *d = duro_test_result(c, id, 20000);
    cr_assert_str_eq(duro_test_str(d, "status"), status, "%s", id);
    cJSON_Delete(d);
}

/* closed makes a run of id that ends in `status`; its id in run. */
static void closed(duro_client *c, const char *id, const char *status,
                   char run[DURO_UUID_LEN + 1])
{
    duro_id_reuse_policy any = DURO_ID_REUSE_ALLOW_DUPLICATE;
    if (!strcmp(status, "COMPLETED")) {
        start_ok(c, id, "activities", "test", "{\"n\":1}", any, run);
    } else if (!strcmp(status, "FAILED")) {
        start_ok(c, id, "nonretry", "test", NULL, any, run);
    } else if (!strcmp(status, "TERMINATED")) {
        start_ok(c, id, "t", "nobody", NULL, any, run);
        cr_assert_eq(duro_client_terminate(c, id, "test"), 0);
    } else {
        duro_start_opts o = {0};
        o.workflow_id = id;
        o.type = "t";
        o.task_queue = "nobody";
        o.execution_timeout_ms = 100;
        cr_assert_eq(duro_client_start(c, &o, run), 0);
    }
    wait_status(c, id, status);
}

/* old_history: the events of run `run` of id, read from its list. */
static redisReply *old_history(duro_client *c, const char *id, const char *run)
{
    duro_wf_keys k;
    duro_wf_keys_init(&k, DURO_KEYSPACE_DEFAULT(duro_client_partitions(c)), id,
                      run);
    redisContext *r = duro_test_redis(&h);
    redisReply *rep = redisCommand(r, "LRANGE %s 0 -1", k.hist);
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY);
    redisFree(r);
    return rep;
}

/* field: the "type" (its name) or "data" of a history element, or "". */
static const char *field(const redisReply *entry, const char *name)
{
    static char buf[1024];
    duro_event e;
    if (duro_event_decode_reply(entry, 1, &e, NULL, 0) != 0) return "";
    if (!strcmp(name, "type")) {
        snprintf(buf, sizeof(buf), "%s", duro_event_name(e.type));
    } else {
        char *s = cJSON_PrintUnformatted(e.data);
        snprintf(buf, sizeof(buf), "%s", s ? s : "");
        free(s);
    }
    duro_event_free(&e);
    return buf;
}

/* ---- Policy names ---- */

Test(id_reuse, names_parse_in_temporal_and_kebab_case)
{
    duro_id_reuse_policy p = DURO_ID_REUSE_ALLOW_DUPLICATE;
    cr_assert_eq(duro_id_reuse_policy_parse("RejectDuplicate", &p), 0);
    cr_assert_eq(p, DURO_ID_REUSE_REJECT_DUPLICATE);
    cr_assert_eq(duro_id_reuse_policy_parse("terminateifrunning", &p), 0);
    cr_assert_eq(p, DURO_ID_REUSE_TERMINATE_IF_RUNNING);
    cr_assert_eq(duro_id_reuse_policy_parse("allow-duplicate-failed-only", &p),
                 0);
    cr_assert_eq(p, DURO_ID_REUSE_ALLOW_DUPLICATE_FAILED_ONLY);
    cr_assert_eq(duro_id_reuse_policy_parse("Allow-Duplicate", &p), 0);
    cr_assert_eq(p, DURO_ID_REUSE_ALLOW_DUPLICATE);
    cr_assert_eq(duro_id_reuse_policy_parse("reject_duplicate", &p),
                 DURO_EINVAL);
    cr_assert_eq(duro_id_reuse_policy_parse("", &p), DURO_EINVAL);
    cr_assert_eq(duro_id_reuse_policy_parse(NULL, &p), DURO_EINVAL);
    cr_assert_null(duro_id_reuse_policy_name((duro_id_reuse_policy)9));

    duro_client *c = duro_test_client(&h);
    char run[DURO_UUID_LEN + 1];
    cr_assert_eq(start(c, "bad-policy", "t", "nobody", NULL,
                       (duro_id_reuse_policy)9, run),
                 DURO_EINVAL);
    cr_assert(strstr(duro_client_errstr(c), "RejectDuplicate"), "%s",
              duro_client_errstr(c));
    duro_client_free(c);
    duro_test_finish(&h);
}

/* ---- Through the client library ---- */

Test(id_reuse, allow_duplicate_is_the_default)
{
    duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_client *c = duro_test_client(&h);
    char run[DURO_UUID_LEN + 1], again[DURO_UUID_LEN + 1];
    start_ok(c, "ad-run", "t", "nobody", NULL, DURO_ID_REUSE_ALLOW_DUPLICATE,
             run);
    refused(c, "ad-run", DURO_ID_REUSE_ALLOW_DUPLICATE, run, "RUNNING");
    cr_assert(strstr(duro_client_errstr(c), "already started"));

    closed(c, "ad", "COMPLETED", run);
    start_ok(c, "ad", "activities", "test", "{\"n\":1}",
             DURO_ID_REUSE_ALLOW_DUPLICATE, again);
    cr_assert_str_neq(again, run);
    wait_status(c, "ad", "COMPLETED");
    duro_client_free(c);
    duro_test_finish(&h);
}

/* A caller that follows the workflow by its id needs no run id back: a
 * NULL buffer starts it (and a refusal still says why). */
Test(id_reuse, a_start_without_a_run_id_buffer)
{
    duro_client *c = duro_test_client(&h);
    start_ok(c, "no-buf", "t", "nobody", NULL, DURO_ID_REUSE_ALLOW_DUPLICATE,
             NULL);
    char *run = current_run(c, "no-buf");
    cr_assert_eq(strlen(run), DURO_UUID_LEN);
    cr_assert_eq(start(c, "no-buf", "t", "nobody", NULL,
                       DURO_ID_REUSE_ALLOW_DUPLICATE, NULL),
                 DURO_EALREADY);
    free(run);
    duro_client_free(c);
}

Test(id_reuse, allow_duplicate_failed_only_needs_a_failed_close)
{
    duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_test_spawn(&h, "duro-scheduler", NULL);
    duro_client *c = duro_test_client(&h);
    const duro_id_reuse_policy p = DURO_ID_REUSE_ALLOW_DUPLICATE_FAILED_ONLY;
    char run[DURO_UUID_LEN + 1], again[DURO_UUID_LEN + 1];
    static const char *const failed[] = {"FAILED", "TERMINATED", "TIMED_OUT"};
    for (size_t i = 0; i < sizeof(failed) / sizeof(failed[0]); i++) {
        char id[32];
        snprintf(id, sizeof(id), "adfo-%zu", i);
        closed(c, id, failed[i], run);
        start_ok(c, id, "t", "nobody", NULL, p, again);
        cr_assert_str_neq(again, run);
        /* and the new run, RUNNING, refuses another */
        refused(c, id, p, again, "RUNNING");
    }
    closed(c, "adfo-ok", "COMPLETED", run);
    refused(c, "adfo-ok", p, run, "(COMPLETED)");
    cr_assert(strstr(duro_client_errstr(c), "already has run"), "%s",
              duro_client_errstr(c));
    char *cur = current_run(c, "adfo-ok");
    cr_assert_str_eq(cur, run, "the refused start replaced the run");
    free(cur);
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(id_reuse, reject_duplicate_refuses_any_earlier_run)
{
    duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_client *c = duro_test_client(&h);
    const duro_id_reuse_policy p = DURO_ID_REUSE_REJECT_DUPLICATE;
    char run[DURO_UUID_LEN + 1];
    start_ok(c, "rd-new", "t", "nobody", NULL, p, run);
    refused(c, "rd-new", p, run, "RUNNING");
    closed(c, "rd-done", "COMPLETED", run);
    refused(c, "rd-done", p, run, "COMPLETED");
    closed(c, "rd-failed", "FAILED", run);
    refused(c, "rd-failed", p, run, "FAILED");
    closed(c, "rd-term", "TERMINATED", run);
    refused(c, "rd-term", p, run, "TERMINATED");
    duro_client_free(c);
    duro_test_finish(&h);
}

/* terminate_if_running: old runs `old_type`(old_input) until it has a
 * pending timer or activity (wait_event), then a new run of `new_type`
 * replaces it. The old run's history ends WorkflowTerminated naming the new
 * run; its pending work, due while the new run waits on the same seq, never
 * reaches the new run. */
static void terminate_if_running(duro_client *c, const char *id,
                                 const char *type, const char *old_input,
                                 const char *new_input, const char *wait_event,
                                 const char *leak_event)
{
    char old[DURO_UUID_LEN + 1], run[DURO_UUID_LEN + 1];
    start_ok(c, id, type, "test", old_input, DURO_ID_REUSE_ALLOW_DUPLICATE,
             old);
    cJSON *hist = NULL;
    cr_assert(duro_test_wait_until(
        (cJSON_Delete(hist), hist = duro_test_history(c, id),
         duro_test_count_events(hist, wait_event) == 1),
        10000));
    cJSON_Delete(hist);
    duro_test_sleep_ms(100); /* the activity runs in the worker */
    start_ok(c, id, type, "test", new_input, DURO_ID_REUSE_TERMINATE_IF_RUNNING,
             run);
    cr_assert_str_neq(run, old);

    redisReply *oh = old_history(c, id, old);
    const redisReply *last = oh->element[oh->elements - 1];
    cr_assert_str_eq(field(last, "type"), "WorkflowTerminated");
    cr_assert(strstr(field(last, "data"), run) &&
                  strstr(field(last, "data"), "TerminateIfRunning"),
              "reason: %s", field(last, "data"));
    freeReplyObject(oh);
    char *cur = current_run(c, id);
    cr_assert_str_eq(cur, run);
    free(cur);

    /* the old run's timer or activity (due at 600ms) comes and goes */
    duro_test_sleep_ms(1200);
    hist = duro_test_history(c, id);
    cr_assert_eq(duro_test_count_events(hist, leak_event), 0,
                 "the old run's %s reached the new run", leak_event);
    cJSON_Delete(hist);
    wait_status(c, id, "COMPLETED");
    hist = duro_test_history(c, id);
    cr_assert_eq(duro_test_count_events(hist, leak_event), 1);
    cr_assert_eq(duro_test_count_events(hist, "WorkflowTerminated"), 0);
    cJSON_Delete(hist);
}

Test(id_reuse, terminate_if_running_replaces_the_run_atomically)
{
    duro_test_spawn(&h, "duro-scheduler", NULL);
    duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_client *c = duro_test_client(&h);
    terminate_if_running(c, "tir-timer", "sleep", "{\"ms\":600}",
                         "{\"ms\":2500}", "TimerStarted", "TimerFired");
    terminate_if_running(c, "tir-act", "hold", "{\"ms\":600}", "{\"ms\":2500}",
                         "ActivityScheduled", "ActivityCompleted");

    /* with no run RUNNING it starts like AllowDuplicate */
    char run[DURO_UUID_LEN + 1], again[DURO_UUID_LEN + 1];
    start_ok(c, "tir-fresh", "activities", "test", "{\"n\":1}",
             DURO_ID_REUSE_TERMINATE_IF_RUNNING, run);
    wait_status(c, "tir-fresh", "COMPLETED");
    start_ok(c, "tir-fresh", "t", "nobody", NULL,
             DURO_ID_REUSE_TERMINATE_IF_RUNNING, again);
    redisReply *oh = old_history(c, "tir-fresh", run);
    cr_assert_str_eq(field(oh->element[oh->elements - 1], "type"),
                     "WorkflowCompleted");
    freeReplyObject(oh);
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(id_reuse, signal_with_start_applies_the_policy_when_none_runs)
{
    duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_client *c = duro_test_client(&h);
    char run[DURO_UUID_LEN + 1], got[DURO_UUID_LEN + 1];
    bool started = true;
    duro_start_opts o = {0};
    o.type = "t";
    o.task_queue = "nobody";

    /* a running run is signaled, whatever the policy */
    start_ok(c, "sws-run", "t", "nobody", NULL, DURO_ID_REUSE_ALLOW_DUPLICATE,
             run);
    o.workflow_id = "sws-run";
    o.id_reuse_policy = DURO_ID_REUSE_REJECT_DUPLICATE;
    cr_assert_eq(duro_client_signal_with_start(c, &o, "s", NULL, got, &started),
                 0, "%s", duro_client_errstr(c));
    cr_assert_not(started);
    cr_assert_str_eq(got, run);

    /* a closed run: the policy decides */
    closed(c, "sws-done", "COMPLETED", run);
    o.workflow_id = "sws-done";
    cr_assert_eq(duro_client_signal_with_start(c, &o, "s", NULL, got, &started),
                 DURO_EALREADY);
    cr_assert(strstr(duro_client_errstr(c), "RejectDuplicate refuses") &&
                  strstr(duro_client_errstr(c), run),
              "%s", duro_client_errstr(c));
    o.id_reuse_policy = DURO_ID_REUSE_ALLOW_DUPLICATE_FAILED_ONLY;
    cr_assert_eq(duro_client_signal_with_start(c, &o, "s", NULL, got, &started),
                 DURO_EALREADY);
    closed(c, "sws-failed", "FAILED", run);
    o.workflow_id = "sws-failed";
    cr_assert_eq(duro_client_signal_with_start(c, &o, "s", NULL, got, &started),
                 0, "%s", duro_client_errstr(c));
    cr_assert(started);
    cr_assert_str_neq(got, run);
    cJSON *hist = duro_test_history(c, "sws-failed");
    cr_assert_eq(duro_test_count_events(hist, "SignalReceived"), 1);
    cJSON_Delete(hist);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* ---- Through the CLI ---- */

static void cli(duro_test_output *o, const char *id, const char *policy,
                const char *queue)
{
    duro_test_run(&h, o, RUN_MS, "duro", "workflow", "start", "--workflow-id",
                  id, "--type", "t", "--task-queue", queue, "--id-reuse-policy",
                  policy, NULL);
}

Test(id_reuse, cli_start_takes_the_policy)
{
    duro_client *c = duro_test_client(&h);
    char run[DURO_UUID_LEN + 1];
    closed(c, "cli-term", "TERMINATED", run);
    duro_test_output o;

    cli(&o, "cli-term", "reject-duplicate", "nobody");
    cr_assert_eq(o.exit_code, 1, "RejectDuplicate: %s%s", o.out, o.err);
    cr_assert(strstr(o.err, "already has run") && strstr(o.err, run) &&
                  strstr(o.err, "(TERMINATED)") &&
                  strstr(o.err, "RejectDuplicate refuses a new run"),
              "stderr: %s", o.err);
    duro_test_output_free(&o);

    cli(&o, "cli-term", "allow-duplicate-failed-only", "nobody");
    cr_assert_eq(o.exit_code, 0, "AllowDuplicateFailedOnly: %s", o.err);
    duro_test_output_free(&o);
    char *second = current_run(c, "cli-term");
    cr_assert_str_neq(second, run);

    cli(&o, "cli-term", "AllowDuplicate", "nobody");
    cr_assert_eq(o.exit_code, 1, "a second running run: %s", o.out);
    cr_assert(strstr(o.err, "already started"), "stderr: %s", o.err);
    duro_test_output_free(&o);

    cli(&o, "cli-term", "TERMINATEIFRUNNING", "nobody");
    cr_assert_eq(o.exit_code, 0, "TerminateIfRunning: %s", o.err);
    duro_test_output_free(&o);
    redisReply *oh = old_history(c, "cli-term", second);
    cr_assert_str_eq(field(oh->element[oh->elements - 1], "type"),
                     "WorkflowTerminated");
    freeReplyObject(oh);
    char *third = current_run(c, "cli-term");
    cr_assert_str_neq(third, second);
    free(second);
    free(third);

    cli(&o, "cli-term", "nope", "nobody");
    cr_assert_eq(o.exit_code, 2, "a bad policy name: %s", o.err);
    cr_assert(strstr(o.err, "AllowDuplicate, AllowDuplicateFailedOnly, "
                            "RejectDuplicate, TerminateIfRunning"),
              "stderr: %s", o.err);
    duro_test_output_free(&o);

    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "signal-with-start",
                  "--workflow-id", "cli-term", "--type", "t", "--task-queue",
                  "nobody", "--name", "s", "--id-reuse-policy",
                  "reject-duplicate", NULL);
    cr_assert_eq(o.exit_code, 0, "signal to the running run: %s", o.err);
    cr_assert(strstr(o.out, "sent to running workflow"), "%s", o.out);
    duro_test_output_free(&o);
    cr_assert_eq(duro_client_terminate(c, "cli-term", "x"), 0);
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "signal-with-start",
                  "--workflow-id", "cli-term", "--type", "t", "--task-queue",
                  "nobody", "--name", "s", "--id-reuse-policy",
                  "reject-duplicate", NULL);
    cr_assert_eq(o.exit_code, 1, "signal-with-start refused: %s", o.out);
    cr_assert(strstr(o.err, "RejectDuplicate refuses"), "stderr: %s", o.err);
    duro_test_output_free(&o);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* ---- The fields a start leaves out ---- */

/* EMPTY_AT_START: the fields a start wrote empty up to library 30. */
static const char *const EMPTY_AT_START[] = {"result", "failure", "close_ms",
                                             "wft_error", "cancel_requested"};
#define N_EMPTY 5

/* absent_fields: how many of EMPTY_AT_START id's hash has. */
static int present_fields(duro_client *c, redisContext *r, const char *id)
{
    duro_wf_keys k;
    duro_wf_keys_init(&k, DURO_KEYSPACE_DEFAULT(duro_client_partitions(c)), id,
                      NULL);
    int n = 0;
    for (int i = 0; i < N_EMPTY; i++) {
        redisReply *x =
            redisCommand(r, "HEXISTS %s %s", k.wf, EMPTY_AT_START[i]);
        cr_assert(x && x->type == REDIS_REPLY_INTEGER);
        n += (int)x->integer;
        freeReplyObject(x);
    }
    return n;
}

/* running_described: describe of id answers a RUNNING run `run` with no
 * close time, result, failure or workflow task error. */
static void running_described(duro_client *c, const char *id, const char *run)
{
    cJSON *d = NULL;
    cr_assert_eq(duro_client_describe(c, id, &d), 0, "%s",
                 duro_client_errstr(c));
    cr_assert_str_eq(duro_test_str(d, "runId"), run);
    cr_assert_str_eq(duro_test_str(d, "status"), "RUNNING");
    const cJSON *close = cJSON_GetObjectItem(d, "closeTime");
    cr_assert(!close || cJSON_IsNull(close), "a running run has a close time");
    cr_assert_null(cJSON_GetObjectItem(d, "result"));
    cr_assert_null(cJSON_GetObjectItem(d, "failure"));
    const cJSON *wt = cJSON_GetObjectItem(d, "workflowTask");
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(wt, "lastError")));
    cJSON_Delete(d);
}

/* A start no longer writes result, failure, close_ms, wft_error and
 * cancel_requested empty (~100 B less per start in the AOF): a new run of
 * a reused id holds none of the closed run's, and a hash written by
 * library 30 (those fields empty) still closes and describes right. */
Test(id_reuse, a_new_run_holds_no_field_of_the_closed_one)
{
    duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    char run[DURO_UUID_LEN + 1], again[DURO_UUID_LEN + 1];
    closed(c, "nf", "COMPLETED", run);
    cr_assert_eq(present_fields(c, r, "nf"), 2, "result and close_ms");
    start_ok(c, "nf", "t", "nobody", NULL, DURO_ID_REUSE_ALLOW_DUPLICATE,
             again);
    cr_assert_eq(present_fields(c, r, "nf"), 0);
    running_described(c, "nf", again);

    /* the same run as library 30 wrote it */
    duro_wf_keys k;
    duro_wf_keys_init(&k, DURO_KEYSPACE_DEFAULT(duro_client_partitions(c)),
                      "nf", NULL);
    freeReplyObject(redisCommand(r,
                                 "HSET %s result %s failure %s close_ms %s "
                                 "wft_error %s cancel_requested 0",
                                 k.wf, "", "", "", ""));
    cr_assert_eq(present_fields(c, r, "nf"), N_EMPTY);
    running_described(c, "nf", again);
    cr_assert_eq(duro_client_terminate(c, "nf", "test"), 0);
    cJSON *d = NULL;
    cr_assert_eq(duro_client_describe(c, "nf", &d), 0);
    cr_assert_str_eq(duro_test_str(d, "status"), "TERMINATED");
    cr_assert_not_null(cJSON_GetObjectItem(d, "failure"));
    cr_assert(!cJSON_IsNull(cJSON_GetObjectItem(d, "closeTime")));
    cJSON_Delete(d);
    /* failure and close_ms: the close dropped result and the open run's */
    cr_assert_eq(present_fields(c, r, "nf"), 2);
    start_ok(c, "nf", "t", "nobody", NULL, DURO_ID_REUSE_ALLOW_DUPLICATE, run);
    cr_assert_eq(present_fields(c, r, "nf"), 0);
    running_described(c, "nf", run);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}
