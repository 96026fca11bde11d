/* test_child_chain.c: a parent's close policy reaches its child's chain:
 * a child that continued as new is still its child, with real processes
 * (redis-server, duro-scheduler, duro-test-worker). */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>

#include "duro/keys.h"
#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(child_chain, .init = setup, .fini = duro_test_fini, .timeout = 60);

static bool status_is(duro_client *c, const char *id, const char *want)
{
    cJSON *d = NULL;
    if (duro_client_describe(c, id, &d) != 0) return false;
    bool is = strcmp(duro_test_str(d, "status"), want) == 0;
    cJSON_Delete(d);
    return is;
}

/* sleeping: the current run of id has started its timer (the run of
 * "renew" that no longer continues). */
static bool sleeping(duro_client *c, const char *id)
{
    cJSON *hist = duro_test_history(c, id);
    int n = duro_test_count_events(hist, "TimerStarted");
    cJSON_Delete(hist);
    return n == 1;
}

/* The child continued as new once, so its current run is not the one the
 * parent started; terminating the parent (policy Terminate, the default)
 * terminates it all the same. */
Test(child_chain, a_continued_child_gets_its_parents_close_policy)
{
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "cc-parent", "child-outcome", "test",
                    "{\"type\":\"renew\",\"input\":{\"runs\":2}}", 0);
    cr_assert(duro_test_wait_until(status_is(c, "cc-parent/1", "RUNNING") &&
                                       sleeping(c, "cc-parent/1"),
                                   10000));
    cr_assert_eq(duro_client_terminate(c, "cc-parent", "qa"), 0, "%s",
                 duro_client_errstr(c));
    cr_assert(
        duro_test_wait_until(status_is(c, "cc-parent/1", "TERMINATED"), 10000),
        "the continued child outlived its parent");
    cJSON *hist = duro_test_history(c, "cc-parent/1");
    cr_assert_eq(duro_test_count_events(hist, "WorkflowTerminated"), 1);
    cJSON_Delete(hist);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* A child's parent field damaged by hand (seq not a number) no longer
 * names a parent: the child still closes, nothing is reported, the parent
 * is left as it was. */
Test(child_chain, a_damaged_parent_field_does_not_block_the_childs_close)
{
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "dp-parent", "child-outcome", "test",
                    "{\"type\":\"renew\",\"input\":{\"runs\":1}}", 0);
    cr_assert(duro_test_wait_until(status_is(c, "dp-parent/1", "RUNNING") &&
                                       sleeping(c, "dp-parent/1"),
                                   10000));
    redisContext *r = duro_test_redis(&h);
    redisReply *rep = redisCommand(
        r, "HSET duro:{p%d}:wf:dp-parent/1 parent %s",
        duro_partition_of("dp-parent/1", duro_client_partitions(c)),
        "{\"id\":\"dp-parent\",\"run\":\"r\",\"seq\":{}}");
    cr_assert(rep && rep->type == REDIS_REPLY_INTEGER, "%s",
              rep && rep->str ? rep->str : "");
    freeReplyObject(rep);
    redisFree(r);
    cr_assert_eq(duro_client_terminate(c, "dp-parent/1", "qa"), 0, "%s",
                 duro_client_errstr(c));
    cr_assert(status_is(c, "dp-parent/1", "TERMINATED"));
    cr_assert(status_is(c, "dp-parent", "RUNNING"));
    duro_client_free(c);
    duro_test_finish(&h);
}

/* A parent's child:<seq> field damaged by hand (its run an object) makes
 * the child's report a record the Function refuses before it writes
 * (DURO_BADARG): the scheduler drops it once with a warning instead of
 * retrying a Lua error every lease, and the parent is left as it was. */
Test(child_chain, a_damaged_child_field_drops_the_childs_report)
{
    pid_t s =
        duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "dc-parent", "child-outcome", "test",
                    "{\"type\":\"renew\",\"input\":{\"runs\":1}}", 0);
    cr_assert(duro_test_wait_until(status_is(c, "dc-parent/1", "RUNNING") &&
                                       sleeping(c, "dc-parent/1"),
                                   10000));
    int p = duro_partition_of("dc-parent", duro_client_partitions(c));
    redisContext *r = duro_test_redis(&h);
    redisReply *rep = redisCommand(r, "HSET duro:{p%d}:wf:dc-parent child:1 %s",
                                   p, "{\"id\":\"dc-parent/1\",\"run\":{}}");
    cr_assert(rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 0,
              "the parent has no child:1 field to damage");
    freeReplyObject(rep);
    cr_assert_eq(duro_client_terminate(c, "dc-parent/1", "qa"), 0, "%s",
                 duro_client_errstr(c));
    cr_assert(
        duro_test_wait_until(
            duro_test_log_contains(&h, s, "field child:1 is damaged"), 10000),
        "the report with a damaged child field was not dropped");
    cr_assert(status_is(c, "dc-parent", "RUNNING"));
    rep = redisCommand(r, "HGET duro:{p%d}:wf:dc-parent child:1", p);
    cr_assert(rep && rep->type == REDIS_REPLY_STRING &&
              strcmp(rep->str, "{\"id\":\"dc-parent/1\",\"run\":{}}") == 0);
    freeReplyObject(rep);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}
