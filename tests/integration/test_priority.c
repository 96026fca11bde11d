/* test_priority.c: task priorities: a waiting task of a higher priority is
 * handed out before a lower one's, for a run's priority (start) and an
 * activity's own; prioritized tasks survive a worker kill. */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/ids.h"
#include "duro/keys.h"
#include "harness.h"

static duro_test_harness h;
static char exec_log[PATH_MAX + 32];

static void setup(void)
{
    duro_test_redis_start(&h);
    snprintf(exec_log, sizeof(exec_log), "%s/executions.log", h.dir);
    setenv("DURO_TEST_LOG", exec_log, 1);
}

TestSuite(priority, .init = setup, .fini = duro_test_fini, .timeout = 90);

/* key: "duro:{p<partition of id>}:<kind>:<name>" */
static const char *key(char *buf, size_t size, const char *id, const char *kind,
                       const char *name)
{
    snprintf(buf, size, "duro:{p%d}:%s:%s",
             duro_partition_of(id, DURO_DEFAULT_PARTITIONS), kind, name);
    return buf;
}

static void start(duro_client *c, const char *id, const char *input,
                  int priority)
{
    duro_start_opts o = {0};
    o.workflow_id = id;
    o.type = "napper";
    o.task_queue = "test";
    o.input = input;
    o.priority = priority;
    char run[DURO_UUID_LEN + 1];
    cr_assert_eq(duro_client_start(c, &o, run), 0, "start %s: %s", id,
                 duro_client_errstr(c));
}

/* exec_order: the workflow ids of the executions log's nap lines, in the
 * order they ran (at most max); returns how many. */
static int exec_order(char ids[][32], int max)
{
    FILE *f = fopen(exec_log, "r");
    if (!f) return 0;
    char line[256];
    int n = 0;
    while (n < max && fgets(line, sizeof(line), f)) {
        char id[32];
        if (sscanf(line, "nap %31[^/]/", id) == 1)
            snprintf(ids[n++], sizeof(ids[0]), "%s", id);
    }
    fclose(f);
    return n;
}

static void wait_closed(duro_client *c, const char *prefix, int n)
{
    for (int i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof(id), "%s%d", prefix, i);
        cJSON *d = duro_test_result(c, id, 30000);
        cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED", "%s", id);
        cJSON_Delete(d);
    }
}

/* assert_high_first: the nhigh "hi-" naps ran before all but `slack` of the
 * "lo-" ones: a read may bring one lower task per partition along with
 * the first higher ones (duro/priority.h). */
static void assert_high_first(int nlow, int nhigh, int slack)
{
    char ids[64][32];
    int n = exec_order(ids, 64);
    cr_assert_eq(n, nlow + nhigh, "%d naps ran", n);
    int last_high = -1, low_before = 0;
    for (int i = 0; i < n; i++)
        if (strncmp(ids[i], "hi-", 3) == 0) last_high = i;
    for (int i = 0; i < last_high; i++)
        if (strncmp(ids[i], "lo-", 3) == 0) low_before++;
    cr_assert_leq(low_before, slack,
                  "%d lower-priority naps ran before the last higher one "
                  "(at %d of %d)",
                  low_before, last_high + 1, n);
}

/* One slow worker (one activity at a time, 1 partition): the runs started
 * last with priority 1 are served before the earlier default ones. */
Test(priority, run_priority_goes_first)
{
    duro_client *c = duro_test_client(&h);
    char id[32];
    for (int i = 0; i < 8; i++) {
        snprintf(id, sizeof(id), "lo-%d", i);
        start(c, id, "{\"ms\":100}", 0);
    }
    for (int i = 0; i < 3; i++) {
        snprintf(id, sizeof(id), "hi-%d", i);
        start(c, id, "{\"ms\":100}", 1);
    }
    /* a run's priority is kept in its hash, only when not the default */
    redisContext *r = duro_test_redis(&h);
    char k[128];
    redisReply *rep = redisCommand(r, "HGET %s priority",
                                   key(k, sizeof(k), "hi-0", "wf", "hi-0"));
    cr_assert(rep && rep->type == REDIS_REPLY_STRING &&
              strcmp(rep->str, "1") == 0);
    freeReplyObject(rep);
    rep = redisCommand(r, "HEXISTS %s priority",
                       key(k, sizeof(k), "lo-0", "wf", "lo-0"));
    cr_assert(rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 0);
    freeReplyObject(rep);
    redisFree(r);

    duro_test_spawn(&h, "duro-test-worker", "--activity-threads", "1", NULL);
    wait_closed(c, "lo-", 8);
    wait_closed(c, "hi-", 3);
    cJSON *d = NULL;
    cr_assert_eq(duro_client_describe(c, "hi-0", &d), 0);
    cr_assert_eq(duro_test_num(d, "priority", -1), 1, "describe shows it");
    cJSON_Delete(d);
    /* the first nap may be a default run's: its task was read before the
     * priority-1 ones were committed */
    assert_high_first(8, 3, 1);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* An activity's own priority puts it ahead of the run's default. */
Test(priority, activity_priority_goes_first)
{
    duro_client *c = duro_test_client(&h);
    char id[32];
    for (int i = 0; i < 8; i++) {
        snprintf(id, sizeof(id), "lo-%d", i);
        start(c, id, "{\"ms\":100}", 0);
    }
    for (int i = 0; i < 3; i++) {
        snprintf(id, sizeof(id), "hi-%d", i);
        start(c, id, "{\"ms\":100,\"priority\":2}", 0);
    }
    duro_test_spawn(&h, "duro-test-worker", "--activity-threads", "1", NULL);
    wait_closed(c, "lo-", 8);
    wait_closed(c, "hi-", 3);
    assert_high_first(8, 3, 1);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* A priority-1 activity held by a worker that dies is taken back by the
 * scheduler from its level's stream, retried there and completed. */
Test(priority, prioritized_activity_survives_worker_kill)
{
    pid_t sched =
        duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    /* eager off: the task goes through its level's stream (an eager one
     * is leased, in no stream: test_lease_workers.c) */
    setenv("DURO_EAGER_ACTIVITIES", "0", 1);
    pid_t w1 = duro_test_spawn(&h, "duro-test-worker", NULL);
    unsetenv("DURO_EAGER_ACTIVITIES");
    duro_client *c = duro_test_client(&h);
    start(c, "hi-0", "{\"ms\":30000,\"retry_ms\":10,\"stc\":1500}", 1);
    cr_assert(duro_test_wait_until(duro_test_count_lines(exec_log, "nap ") == 1,
                                   15000));
    duro_test_kill(&h, w1, SIGKILL);
    duro_test_spawn(&h, "duro-test-worker", NULL);
    cJSON *d = duro_test_result(c, "hi-0", 30000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cJSON_Delete(d);
    cr_assert_eq(duro_test_count_lines(exec_log, "nap hi-0/1 2"), 1,
                 "attempt 2 ran after the start-to-close timeout");
    char k[128], line[160];
    snprintf(line, sizeof(line), "ACT TIMEOUT stream=%s",
             key(k, sizeof(k), "hi-0", "act", "test!1"));
    cr_assert(duro_test_log_contains(&h, sched, line),
              "the scheduler took attempt 1 back from the priority-1 stream");
    duro_client_free(c);
    duro_test_finish(&h);
}

/* The CLI takes --priority 1..5 and refuses anything else. */
Test(priority, cli_priority_flag)
{
    duro_test_output o;
    duro_test_run(&h, &o, 10000, "duro", "workflow", "start", "--workflow-id",
                  "cli-1", "--type", "napper", "--task-queue", "test",
                  "--priority", "2", NULL);
    cr_assert_eq(o.exit_code, 0, "%s%s", o.out, o.err);
    duro_test_output_free(&o);
    duro_test_run(&h, &o, 10000, "duro", "workflow", "start", "--workflow-id",
                  "cli-2", "--type", "napper", "--task-queue", "test",
                  "--priority", "9", NULL);
    cr_assert_neq(o.exit_code, 0);
    cr_assert(strstr(o.err, "--priority"), "%s", o.err);
    duro_test_output_free(&o);
    /* a weight in range without a key: the key is what is missing */
    duro_test_run(&h, &o, 10000, "duro", "workflow", "start", "--workflow-id",
                  "cli-2", "--type", "napper", "--task-queue", "test",
                  "--fairness-weight", "2", NULL);
    cr_assert_eq(o.exit_code, 2, "%s%s", o.out, o.err);
    cr_assert(strstr(o.err, "--fairness-weight needs --fairness-key"), "%s",
              o.err);
    duro_test_output_free(&o);
    duro_test_run(&h, &o, 10000, "duro", "workflow", "start", "--workflow-id",
                  "cli-2", "--type", "napper", "--task-queue", "test",
                  "--fairness-key", "t1", "--fairness-weight", "0", NULL);
    cr_assert_eq(o.exit_code, 2, "%s%s", o.out, o.err);
    cr_assert(strstr(o.err, "--fairness-weight: \"0\" is not 1..1000"), "%s",
              o.err);
    duro_test_output_free(&o);
    redisContext *r = duro_test_redis(&h);
    char k[128];
    redisReply *rep =
        redisCommand(r, "XLEN %s", key(k, sizeof(k), "cli-1", "wft", "test!2"));
    cr_assert(rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 1,
              "the first task is in the priority-2 stream");
    freeReplyObject(rep);
    /* signal-with-start takes them too */
    duro_test_run(&h, &o, 10000, "duro", "workflow", "signal-with-start",
                  "--workflow-id", "cli-3", "--type", "napper", "--task-queue",
                  "test", "--name", "go", "--priority", "1", "--fairness-key",
                  "t1", "--fairness-weight", "2", NULL);
    cr_assert_eq(o.exit_code, 0, "%s%s", o.out, o.err);
    duro_test_output_free(&o);
    rep = redisCommand(r, "HMGET %s priority fkey fweight",
                       key(k, sizeof(k), "cli-3", "wf", "cli-3"));
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 3 &&
              rep->element[0]->str && !strcmp(rep->element[0]->str, "1") &&
              rep->element[1]->str && !strcmp(rep->element[1]->str, "t1") &&
              rep->element[2]->str && !strcmp(rep->element[2]->str, "2"));
    freeReplyObject(rep);
    /* queue stats counts every level, and says which */
    duro_test_run(&h, &o, 10000, "duro", "queue", "stats", "-t", "test", "-o",
                  "json", NULL);
    cr_assert_eq(o.exit_code, 0, "%s%s", o.out, o.err);
    cJSON *rows = cJSON_Parse(o.out);
    cr_assert(cJSON_IsArray(rows), "%s", o.out);
    const cJSON *row = cJSON_GetArrayItem(rows, 0);
    cr_assert_str_eq(duro_test_str(row, "kind"), "workflow");
    /* cli-1's task, and cli-3's bell (its task waits in its key's
     * stream: docs/internals.md, "Fairness") */
    cr_assert_eq(duro_test_num(row, "backlog", -1), 2, "%s", o.out);
    cr_assert_eq(duro_test_num(cJSON_GetObjectItem(row, "byPriority"), "1", -1),
                 1, "%s", o.out);
    cr_assert_eq(duro_test_num(row, "fairnessKeys", -1), 1, "%s", o.out);
    cr_assert_eq(duro_test_num(cJSON_GetObjectItem(row, "byPriority"), "2", -1),
                 1, "%s", o.out);
    cJSON_Delete(rows);
    duro_test_output_free(&o);
    redisFree(r);
    duro_test_finish(&h);
}

/* wf_field: field `f` of the workflow hash of `id` ("" when absent). */
static void wf_field(const char *id, const char *f, char *buf, size_t size)
{
    char k[128];
    redisContext *r = duro_test_redis(&h);
    redisReply *v =
        redisCommand(r, "HGET %s %s", key(k, sizeof(k), id, "wf", id), f);
    snprintf(buf, size, "%s", v && v->type == REDIS_REPLY_STRING ? v->str : "");
    freeReplyObject(v);
    redisFree(r);
}

static bool wf_field_is(const char *id, const char *f, const char *want)
{
    char buf[80];
    wf_field(id, f, buf, sizeof(buf));
    return strcmp(buf, want) == 0;
}

/* A child workflow inherits its parent's priority and fairness key and
 * weight (docs/internals.md, "Priorities"): the start record the child
 * command writes to the outbox carries them. It used to start every child
 * at the default priority, without a key. */
Test(priority, a_child_inherits_its_parents_priority_and_fairness_key)
{
    pid_t s =
        duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    pid_t w = duro_test_spawn(&h, "duro-test-worker", NULL);
    cr_assert(
        duro_test_wait_until(duro_test_log_contains(&h, s, "REDIS UP"), 5000));
    cr_assert(
        duro_test_wait_until(duro_test_log_contains(&h, w, "REDIS UP"), 5000));
    duro_client *c = duro_test_client(&h);
    duro_start_opts o = {0};
    o.workflow_id = "inh-parent";
    o.type = "child-policy";
    o.task_queue = "test";
    o.input = "{\"childId\":\"inh-child\",\"policy\":\"Terminate\"}";
    o.priority = 1;
    o.fairness_key = "tenant-a";
    o.fairness_weight = 7;
    char run[DURO_UUID_LEN + 1];
    cr_assert_eq(duro_client_start(c, &o, run), 0, "%s", duro_client_errstr(c));
    cr_assert(duro_test_wait_until(
        wf_field_is("inh-child", "status", "RUNNING"), 10000));
    char buf[80];
    wf_field("inh-child", "priority", buf, sizeof(buf));
    cr_assert_str_eq(buf, "1");
    wf_field("inh-child", "fkey", buf, sizeof(buf));
    cr_assert_str_eq(buf, "tenant-a");
    wf_field("inh-child", "fweight", buf, sizeof(buf));
    cr_assert_str_eq(buf, "7");
    cr_assert_eq(duro_client_terminate(c, "inh-parent", NULL), 0);
    duro_client_free(c);
    duro_test_finish(&h);
}
