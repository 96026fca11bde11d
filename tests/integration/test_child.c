/* test_child.c: child workflows, parent close policies and signals
 * between workflows, carried across partitions by the scheduler's outbox
 * processing (docs/internals.md, "Crossing partitions"), with real
 * processes: redis-server, duro-scheduler, samples-worker and
 * duro-test-worker. */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/keys.h"
#include "harness.h"

#define PARTITIONS 16
#define RESULT_MS 30000

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(child, .init = setup, .fini = duro_test_fini, .timeout = 120);

static pid_t spawn_up(const char *prog)
{
    pid_t p = strcmp(prog, "duro-scheduler") == 0
                  ? duro_test_spawn(&h, prog, "--scan-interval", "100ms", NULL)
                  : duro_test_spawn(&h, prog, NULL);
    cr_assert(
        duro_test_wait_until(duro_test_log_contains(&h, p, "REDIS UP"), 5000));
    return p;
}

static void cli_ok(duro_test_output *o, int64_t ms, const char *what,
                   const char *a1, const char *a2, const char *a3,
                   const char *a4, const char *a5, const char *a6,
                   const char *a7, const char *a8, const char *a9,
                   const char *a10)
{
    duro_test_run(&h, o, ms, "duro", "workflow", what, a1, a2, a3, a4, a5, a6,
                  a7, a8, a9, a10, NULL);
    cr_assert_eq(o->exit_code, 0, "workflow %s %s: %s", what, a2 ? a2 : "",
                 o->err);
}

static void start(const char *id, const char *type, const char *queue,
                  const char *input)
{
    duro_test_output o;
    cli_ok(&o, 10000, "start", "--workflow-id", id, "--type", type,
           "--task-queue", queue, "--input", input, NULL, NULL);
    duro_test_output_free(&o);
}

/* result: the closed workflow's result (caller frees). */
static char *result(const char *id)
{
    duro_test_output o;
    cli_ok(&o, RESULT_MS, "result", "--workflow-id", id, NULL, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL);
    char *out = strdup(o.out);
    duro_test_output_free(&o);
    return out;
}

/* count_events: how many events named `type` the workflow's current run's
 * history has. */
static int count_events(const char *id, const char *type)
{
    duro_test_output o;
    cli_ok(&o, 10000, "history", "--workflow-id", id, "-o", "json", NULL, NULL,
           NULL, NULL, NULL, NULL);
    char needle[96];
    snprintf(needle, sizeof(needle), "\"%s\"", type);
    int n = 0;
    for (const char *p = o.out; (p = strstr(p, needle)); p += strlen(needle)) {
        /* the value of a "type" member, not the same word elsewhere */
        const char *q = p;
        while (q > o.out && (q[-1] == ' ' || q[-1] == ':'))
            q--;
        n += q - o.out >= 6 && strncmp(q - 6, "\"type\"", 6) == 0;
    }
    duro_test_output_free(&o);
    return n;
}

/* status: the workflow hash's status ("" when there is none). */
static char *status(const char *id, char *buf, size_t size)
{
    redisContext *r = duro_test_redis(&h);
    redisReply *rep = redisCommand(r, "HGET duro:{p%d}:wf:%s status",
                                   duro_partition_of(id, PARTITIONS), id);
    snprintf(buf, size, "%s",
             rep && rep->type == REDIS_REPLY_STRING ? rep->str : "");
    freeReplyObject(rep);
    redisFree(r);
    return buf;
}

/* start_ms: when the workflow's current run started (0: no run). */
static long long start_ms(const char *id)
{
    redisContext *r = duro_test_redis(&h);
    redisReply *rep = redisCommand(r, "HGET duro:{p%d}:wf:%s start_ms",
                                   duro_partition_of(id, PARTITIONS), id);
    long long ms = rep && rep->type == REDIS_REPLY_STRING
                       ? strtoll(rep->str, NULL, 10)
                       : 0;
    freeReplyObject(rep);
    redisFree(r);
    return ms;
}

static bool status_is(const char *id, const char *want)
{
    char buf[32];
    return strcmp(status(id, buf, sizeof(buf)), want) == 0;
}

/* outbox_records: records still in every partition's outbox. */
static long long outbox_records(void)
{
    redisContext *r = duro_test_redis(&h);
    long long n = 0;
    for (int p = 0; p < PARTITIONS; p++) {
        redisReply *rep = redisCommand(r, "HLEN duro:{p%d}:outbox", p);
        if (rep && rep->type == REDIS_REPLY_INTEGER) n += rep->integer;
        freeReplyObject(rep);
    }
    redisFree(r);
    return n;
}

/* marks: applied records' marks left (each goes once its record is
 * acked). */
static size_t marks(void)
{
    redisContext *r = duro_test_redis(&h);
    redisReply *rep = redisCommand(r, "KEYS duro:{p*}:xd:*");
    size_t n = rep && rep->type == REDIS_REPLY_ARRAY ? rep->elements : 999;
    freeReplyObject(rep);
    redisFree(r);
    return n;
}

/* ---- Children ---- */

Test(child, children_live_in_other_partitions)
{
    spawn_up("duro-scheduler");
    spawn_up("samples-worker");
    start("cp-parts", "child-parent", "samples", "{\"children\":4}");
    char *out = result("cp-parts");
    cr_assert(strstr(out, "\"sum\"") && strstr(out, "10"), "%s", out);
    free(out);
    int other = 0;
    char id[64];
    for (int k = 1; k <= 4; k++) {
        snprintf(id, sizeof(id), "cp-parts/%d", k);
        cr_assert(status_is(id, "COMPLETED"), "%s", id);
        other += duro_partition_of(id, PARTITIONS) !=
                 duro_partition_of("cp-parts", PARTITIONS);
        cr_assert_eq(count_events(id, "WorkflowStarted"), 1);
    }
    cr_assert_gt(other, 0, "every child in the parent's partition");
    cr_assert_eq(count_events("cp-parts", "ChildWorkflowInitiated"), 4);
    cr_assert_eq(count_events("cp-parts", "ChildWorkflowStarted"), 4);
    cr_assert_eq(count_events("cp-parts", "ChildWorkflowCompleted"), 4);
    cr_assert(duro_test_wait_until(outbox_records() == 0, 5000));
    cr_assert(duro_test_wait_until(marks() == 0, 5000));
    duro_test_finish(&h);
}

/* crash_between runs a one-child parent with a scheduler that dies right
 * after `step` of the child's start record (DURO_XFER_CRASH), then a
 * healthy scheduler: the record is taken again once its lease ends, and
 * the child starts once, its start and result reach the parent once. */
static void crash_between(const char *step, const char *parent)
{
    setenv("DURO_XFER_CRASH", step, 1);
    pid_t s1 =
        duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    unsetenv("DURO_XFER_CRASH");
    spawn_up("samples-worker");
    start(parent, "child-parent", "samples", "{\"children\":1}");
    cr_assert_eq(duro_test_wait_exit(&h, s1, 10000), 3,
                 "the scheduler did not stop after %s", step);
    char child[64];
    snprintf(child, sizeof(child), "%s/1", parent);
    if (strcmp(step, "take") == 0) cr_assert(status_is(child, ""));
    spawn_up("duro-scheduler");
    char *out = result(parent);
    cr_assert(strstr(out, "\"sum\"") && strstr(out, "1"), "%s", out);
    free(out);
    cr_assert(status_is(child, "COMPLETED"));
    long long started = start_ms(child);
    cr_assert_eq(count_events(child, "WorkflowStarted"), 1);
    cr_assert_eq(count_events(parent, "ChildWorkflowStarted"), 1);
    cr_assert_eq(count_events(parent, "ChildWorkflowCompleted"), 1);
    /* a record applied but not acked goes when its lease ends: applied
     * again, the mark answers, nothing changes */
    cr_assert(duro_test_wait_until(outbox_records() == 0, 15000));
    cr_assert(status_is(child, "COMPLETED"));
    cr_assert_eq(start_ms(child), started, "the child started again");
    cr_assert_eq(count_events(child, "WorkflowStarted"), 1);
    cr_assert_eq(count_events(parent, "ChildWorkflowStarted"), 1);
    duro_test_finish(&h);
}

Test(child, scheduler_dies_after_taking_the_start)
{
    crash_between("take", "cp-crash-take");
}

Test(child, scheduler_dies_after_applying_the_start)
{
    crash_between("apply", "cp-crash-apply");
}

Test(child, worker_killed_after_the_parents_commit)
{
    /* no scheduler yet: the parent's commit holds the start record */
    pid_t w = spawn_up("samples-worker");
    start("cp-kill", "child-parent", "samples", "{\"children\":2}");
    cr_assert(duro_test_wait_until(outbox_records() == 2, 10000));
    duro_test_kill(&h, w, SIGKILL);
    spawn_up("duro-scheduler");
    spawn_up("samples-worker");
    char *out = result("cp-kill");
    cr_assert(strstr(out, "\"sum\"") && strstr(out, "3"), "%s", out);
    free(out);
    cr_assert_eq(count_events("cp-kill/1", "WorkflowStarted"), 1);
    cr_assert_eq(count_events("cp-kill/2", "WorkflowStarted"), 1);
    cr_assert_eq(count_events("cp-kill", "ChildWorkflowStarted"), 2);
    duro_test_finish(&h);
}

Test(child, a_running_id_refuses_the_start)
{
    spawn_up("duro-scheduler");
    spawn_up("samples-worker");
    start("cp-taken/1", "ponger", "samples", "null");
    start("cp-taken", "child-parent", "samples", "{\"children\":1}");
    cr_assert(duro_test_wait_until(status_is("cp-taken", "FAILED"), 10000));
    cr_assert_eq(count_events("cp-taken", "ChildWorkflowStartFailed"), 1);
    cr_assert(status_is("cp-taken/1", "RUNNING"));
    duro_test_finish(&h);
}

/* ---- Parent close policies ---- */

/* cancel_parent starts child-policy under `policy`, waits for its child
 * to run, cancels the parent and waits for it to close CANCELED. */
static void cancel_parent(const char *parent, const char *child,
                          const char *policy)
{
    spawn_up("duro-scheduler");
    spawn_up("duro-test-worker");
    char in[160];
    snprintf(in, sizeof(in), "{\"childId\":\"%s\",\"policy\":\"%s\"}", child,
             policy);
    start(parent, "child-policy", "test", in);
    cr_assert(duro_test_wait_until(status_is(child, "RUNNING"), 10000));
    cr_assert(duro_test_wait_until(
        count_events(parent, "ChildWorkflowStarted") == 1, 10000));
    duro_test_output o;
    /* describe names the family both ways */
    cli_ok(&o, 10000, "describe", "--workflow-id", parent, "-o", "json", NULL,
           NULL, NULL, NULL, NULL, NULL);
    cr_assert(strstr(o.out, "\"pendingChildren\"") && strstr(o.out, child) &&
                  strstr(o.out, policy),
              "%s", o.out);
    duro_test_output_free(&o);
    cli_ok(&o, 10000, "describe", "--workflow-id", child, "-o", "json", NULL,
           NULL, NULL, NULL, NULL, NULL);
    cr_assert(strstr(o.out, "\"parent\"") && strstr(o.out, parent), "%s",
              o.out);
    duro_test_output_free(&o);
    cli_ok(&o, 10000, "describe", "--workflow-id", parent, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL, NULL);
    cr_assert(strstr(o.out, "Pending children") && strstr(o.out, child) &&
                  strstr(o.out, "CLOSE POLICY"),
              "%s", o.out);
    duro_test_output_free(&o);
    cli_ok(&o, 10000, "cancel", "--workflow-id", parent, NULL, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL);
    duro_test_output_free(&o);
    cr_assert(duro_test_wait_until(status_is(parent, "CANCELED"), 10000));
}

Test(child, terminate_policy_terminates_the_child)
{
    cancel_parent("pol-t", "pol-t-child", "Terminate");
    cr_assert(
        duro_test_wait_until(status_is("pol-t-child", "TERMINATED"), 10000));
    duro_test_finish(&h);
}

Test(child, request_cancel_policy_cancels_the_child)
{
    cancel_parent("pol-c", "pol-c-child", "RequestCancel");
    cr_assert(
        duro_test_wait_until(status_is("pol-c-child", "CANCELED"), 10000));
    cr_assert_eq(count_events("pol-c-child", "CancelRequested"), 1);
    duro_test_finish(&h);
}

Test(child, abandon_policy_leaves_the_child_running)
{
    cancel_parent("pol-a", "pol-a-child", "Abandon");
    /* the parent's close wrote no record for it (same Function call) */
    cr_assert_eq(outbox_records(), 0);
    cr_assert(status_is("pol-a-child", "RUNNING"));
    duro_test_finish(&h);
}

/* ---- Signals between workflows ---- */

Test(child, signal_to_a_missing_workflow_reports_not_found)
{
    spawn_up("duro-scheduler");
    spawn_up("samples-worker");
    start("ping-missing", "pinger", "samples", "{\"target\":\"no-such-wf\"}");
    char *out = result("ping-missing");
    cr_assert(strstr(out, "false"), "%s", out);
    free(out);
    cr_assert_eq(count_events("ping-missing", "ExternalSignalInitiated"), 1);
    cr_assert_eq(count_events("ping-missing", "ExternalSignalFailed"), 1);
    cr_assert(status_is("no-such-wf", ""), "a hash was made for the target");
    duro_test_finish(&h);
}

Test(child, a_workflow_cancels_another)
{
    spawn_up("duro-scheduler");
    spawn_up("duro-test-worker");
    start("nap", "sleep", "test", "{\"ms\":60000}");
    cr_assert(
        duro_test_wait_until(count_events("nap", "TimerStarted") == 1, 10000));
    start("canceler", "cancel-other", "test", "{\"target\":\"nap\"}");
    char *out = result("canceler");
    cr_assert(strstr(out, "\"requested\"") && strstr(out, "true"), "%s", out);
    free(out);
    cr_assert(duro_test_wait_until(status_is("nap", "CANCELED"), 10000));
    cr_assert_eq(count_events("canceler", "ExternalCancelRequested"), 1);
    /* a closed workflow is not found */
    start("canceler-2", "cancel-other", "test", "{\"target\":\"nap\"}");
    out = result("canceler-2");
    cr_assert(strstr(out, "false"), "%s", out);
    free(out);
    cr_assert_eq(count_events("canceler-2", "ExternalCancelFailed"), 1);
    duro_test_finish(&h);
}

/* ---- How a child ended, as its parent sees it ---- */

Test(child, a_failed_child_fails_the_parents_future)
{
    spawn_up("duro-scheduler");
    spawn_up("duro-test-worker");
    start("co-fail", "child-outcome", "test", "{\"type\":\"nonretry\"}");
    char *out = result("co-fail");
    cr_assert(strstr(out, "ChildWorkflowFailed") && strstr(out, "false"), "%s",
              out);
    free(out);
    cr_assert_eq(count_events("co-fail", "ChildWorkflowFailed"), 1);
    cr_assert(status_is("co-fail/1", "FAILED"));
    duro_test_finish(&h);
}

Test(child, a_timed_out_child_times_out_the_parents_future)
{
    spawn_up("duro-scheduler");
    spawn_up("duro-test-worker");
    start("co-slow", "child-outcome", "test",
          "{\"type\":\"sleep\",\"input\":{\"ms\":60000},"
          "\"timeoutMs\":500}");
    char *out = result("co-slow");
    cr_assert(strstr(out, "TimedOut"), "%s", out);
    free(out);
    cr_assert_eq(count_events("co-slow", "ChildWorkflowTimedOut"), 1);
    cr_assert(status_is("co-slow/1", "TIMED_OUT"));
    duro_test_finish(&h);
}

Test(child, a_child_that_continues_as_new_reports_its_chains_end)
{
    /* the child's first two runs continue as new: the parent hears
     * nothing of them, and gets the third run's result */
    spawn_up("duro-scheduler");
    spawn_up("duro-test-worker");
    start("co-chain", "child-outcome", "test",
          "{\"type\":\"chain\",\"input\":{\"n\":0,\"runs\":3}}");
    char *out = result("co-chain");
    cr_assert(strstr(out, "\"ok\"") && strstr(out, "true") &&
                  strstr(out, "\"value\"") && strstr(out, "3"),
              "%s", out);
    free(out);
    cr_assert_eq(count_events("co-chain", "ChildWorkflowCompleted"), 1);
    cr_assert(status_is("co-chain/1", "COMPLETED"));
    duro_test_finish(&h);
}

/* ---- Mixed releases ---- */

Test(child, timer_fire_leaves_an_outbox_record_alone)
{
    /* a scheduler of an older release hands every due member to
     * duro_timer_fire: an outbox record must stay for duro_xfer_take */
    duro_test_output o;
    duro_test_run(&h, &o, 10000, "duro", "operator", "init", NULL);
    cr_assert_eq(o.exit_code, 0, "%s", o.err);
    duro_test_output_free(&o);
    const char *member = "o|r-1|1|1|-|-|wf-x";
    duro_wf_keys k;
    duro_wf_keys_init(&k, DURO_KEYSPACE_DEFAULT(PARTITIONS), "wf-x", "r-1");
    duro_wf_keys_queues(&k, "q", "q");
    redisContext *r = duro_test_redis(&h);
    freeReplyObject(redisCommand(r, "ZADD %s 0 %s", k.timers, member));
    redisReply *rep =
        redisCommand(r, "FCALL duro_timer_fire 9 %s %s %s %s %s %s %s %s %s %s",
                     k.wf, k.hist, k.buf, k.wft, k.timers, k.pa, k.idx_open,
                     k.idx_closed, k.act, member);
    cr_assert(rep && rep->type == REDIS_REPLY_STRING, "%s",
              rep && rep->str ? rep->str : "no reply");
    cr_assert_str_eq(rep->str, "ignored");
    freeReplyObject(rep);
    rep = redisCommand(r, "ZSCORE %s %s", k.timers, member);
    cr_assert(rep && rep->type == REDIS_REPLY_STRING, "the record was removed");
    freeReplyObject(rep);
    redisFree(r);
    duro_test_finish(&h);
}

Test(child, an_outbox_made_a_string_fails_the_task_not_the_commit)
{
    /* the parent's partition's outbox, garbage written by hand: the task
     * that would start the child fails (retried) with nothing half done */
    char key[64];
    snprintf(key, sizeof(key), "duro:{p%d}:outbox",
             duro_partition_of("cp-bad", PARTITIONS));
    redisContext *r = duro_test_redis(&h);
    freeReplyObject(redisCommand(r, "SET %s garbage", key));
    spawn_up("duro-scheduler");
    spawn_up("samples-worker");
    start("cp-bad", "child-parent", "samples", "{\"children\":1}");
    duro_test_output o;
    bool failed = false;
    for (int i = 0; i < 200 && !failed; i++) {
        duro_test_run(&h, &o, 10000, "duro", "workflow", "describe",
                      "--workflow-id", "cp-bad", "-o", "json", NULL);
        failed = strstr(o.out, "expected hash") != NULL;
        duro_test_output_free(&o);
        if (!failed) duro_test_sleep_ms(25);
    }
    cr_assert(failed, "the task did not fail on the outbox");
    cr_assert_eq(count_events("cp-bad", "ChildWorkflowInitiated"), 0);
    /* repaired, the retried task goes through */
    freeReplyObject(redisCommand(r, "DEL %s", key));
    redisFree(r);
    char *out = result("cp-bad");
    cr_assert(strstr(out, "\"sum\""), "%s", out);
    free(out);
    duro_test_finish(&h);
}

Test(child, a_damaged_outbox_refuses_a_childs_close_whole)
{
    /* a child closes with a report for its parent: with its partition's
     * outbox made a string by hand, the close is refused before anything
     * is written, never stopped halfway */
    spawn_up("duro-scheduler");
    spawn_up("duro-test-worker");
    start("cd-parent", "child-policy", "test",
          "{\"childId\":\"cd-child\",\"policy\":\"Abandon\"}");
    cr_assert(duro_test_wait_until(
        count_events("cd-parent", "ChildWorkflowStarted") == 1, 10000));
    char key[64];
    snprintf(key, sizeof(key), "duro:{p%d}:outbox",
             duro_partition_of("cd-child", PARTITIONS));
    redisContext *r = duro_test_redis(&h);
    cr_assert(duro_test_wait_until(outbox_records() == 0, 10000));
    freeReplyObject(redisCommand(r, "SET %s garbage", key));
    redisReply *before =
        redisCommand(r, "HGETALL duro:{p%d}:wf:cd-child",
                     duro_partition_of("cd-child", PARTITIONS));
    duro_test_output o;
    duro_test_run(&h, &o, 10000, "duro", "workflow", "terminate",
                  "--workflow-id", "cd-child", NULL);
    cr_assert_neq(o.exit_code, 0, "terminate went through: %s", o.out);
    duro_test_output_free(&o);
    redisReply *after = redisCommand(r, "HGETALL duro:{p%d}:wf:cd-child",
                                     duro_partition_of("cd-child", PARTITIONS));
    cr_assert_eq(after->elements, before->elements,
                 "the refused close changed the workflow hash");
    freeReplyObject(before);
    freeReplyObject(after);
    cr_assert(status_is("cd-child", "RUNNING"));
    cr_assert_eq(count_events("cd-child", "WorkflowTerminated"), 0);
    freeReplyObject(redisCommand(r, "DEL %s", key));
    redisFree(r);
    duro_test_run(&h, &o, 10000, "duro", "workflow", "terminate",
                  "--workflow-id", "cd-child", NULL);
    cr_assert_eq(o.exit_code, 0, "%s", o.err);
    duro_test_output_free(&o);
    /* the parent hears of it (and fails: its child did not complete) */
    cr_assert(duro_test_wait_until(status_is("cd-parent", "FAILED"), 10000));
    cr_assert_eq(count_events("cd-parent", "ChildWorkflowTerminated"), 1);
    duro_test_finish(&h);
}

/* hash_len: how many fields the workflow hash of `id` has. */
static long long hash_len(const char *id)
{
    redisContext *r = duro_test_redis(&h);
    redisReply *rep = redisCommand(r, "HLEN duro:{p%d}:wf:%s",
                                   duro_partition_of(id, PARTITIONS), id);
    long long n = rep && rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
    freeReplyObject(rep);
    redisFree(r);
    return n;
}

Test(child, a_damaged_outbox_refuses_a_terminate_if_running_start_whole)
{
    /* a start under TerminateIfRunning closes the running parent, whose
     * close writes a record for its child: with the outbox made a string
     * by hand, the start is refused before anything is written (it used
     * to drop the running run's task and child fields, then fail) */
    spawn_up("duro-scheduler");
    spawn_up("duro-test-worker");
    start("tir-parent", "child-policy", "test",
          "{\"childId\":\"tir-child\",\"policy\":\"Terminate\"}");
    cr_assert(duro_test_wait_until(
        count_events("tir-parent", "ChildWorkflowStarted") == 1, 10000));
    cr_assert(duro_test_wait_until(outbox_records() == 0, 10000));
    char key[64];
    snprintf(key, sizeof(key), "duro:{p%d}:outbox",
             duro_partition_of("tir-parent", PARTITIONS));
    redisContext *r = duro_test_redis(&h);
    freeReplyObject(redisCommand(r, "SET %s garbage", key));
    long long before = hash_len("tir-parent");
    duro_test_output o;
    duro_test_run(&h, &o, 10000, "duro", "workflow", "start", "--workflow-id",
                  "tir-parent", "--type", "child-policy", "--task-queue",
                  "test", "--id-reuse-policy", "TerminateIfRunning", NULL);
    cr_assert_neq(o.exit_code, 0, "the start went through: %s", o.out);
    duro_test_output_free(&o);
    cr_assert_eq(hash_len("tir-parent"), before,
                 "the refused start changed the workflow hash");
    cr_assert(status_is("tir-parent", "RUNNING"));
    cr_assert_eq(count_events("tir-parent", "WorkflowTerminated"), 0);
    freeReplyObject(redisCommand(r, "DEL %s", key));
    redisFree(r);
    /* repaired: the same start goes through, and the policy applies */
    duro_test_run(&h, &o, 10000, "duro", "workflow", "start", "--workflow-id",
                  "tir-parent", "--type", "sleep", "--task-queue", "test",
                  "--input", "{\"ms\":1}", "--id-reuse-policy",
                  "TerminateIfRunning", NULL);
    cr_assert_eq(o.exit_code, 0, "%s", o.err);
    duro_test_output_free(&o);
    cr_assert(
        duro_test_wait_until(status_is("tir-child", "TERMINATED"), 10000));
    duro_test_finish(&h);
}

Test(child, a_damaged_outbox_refuses_a_reset_of_a_running_parent_whole)
{
    /* a reset terminates the running run first: the same check */
    spawn_up("duro-scheduler");
    spawn_up("duro-test-worker");
    start("rs-parent", "child-policy", "test",
          "{\"childId\":\"rs-child\",\"policy\":\"Terminate\"}");
    cr_assert(duro_test_wait_until(
        count_events("rs-parent", "ChildWorkflowStarted") == 1, 10000));
    cr_assert(duro_test_wait_until(outbox_records() == 0, 10000));
    char key[64];
    snprintf(key, sizeof(key), "duro:{p%d}:outbox",
             duro_partition_of("rs-parent", PARTITIONS));
    redisContext *r = duro_test_redis(&h);
    freeReplyObject(redisCommand(r, "SET %s garbage", key));
    long long before = hash_len("rs-parent");
    duro_test_output o;
    duro_test_run(&h, &o, 10000, "duro", "workflow", "reset", "--workflow-id",
                  "rs-parent", "--type", "FirstWorkflowTask", "--reason", "qa",
                  NULL);
    cr_assert_neq(o.exit_code, 0, "the reset went through: %s", o.out);
    duro_test_output_free(&o);
    cr_assert_eq(hash_len("rs-parent"), before,
                 "the refused reset changed the workflow hash");
    cr_assert(status_is("rs-parent", "RUNNING"));
    cr_assert_eq(count_events("rs-parent", "WorkflowTerminated"), 0);
    freeReplyObject(redisCommand(r, "DEL %s", key));
    redisFree(r);
    duro_test_finish(&h);
}
