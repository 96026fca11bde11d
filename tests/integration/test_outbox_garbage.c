/* test_outbox_garbage.c: outbox records damaged by hand (fields of the
 * wrong type, missing, an unknown op) are refused by duro_xfer_apply
 * before it writes anything and dropped by the scheduler with a warning,
 * not taken again after every lease; their targets are not touched. */
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

TestSuite(outbox_garbage, .init = setup, .fini = duro_test_fini, .timeout = 60);

/* HOME: the workflow id the records live with (their partition). */
#define HOME "og-home"

static int parts;

static void put(redisContext *r, const char *run, const char *body)
{
    int p = duro_partition_of(HOME, parts);
    redisReply *a =
        redisCommand(r, "HSET duro:{p%d}:outbox %s.1.4 %s", p, run, body);
    redisReply *b = redisCommand(r, "ZADD duro:{p%d}:timers 0 o|%s|1|4|-|-|%s",
                                 p, run, HOME);
    cr_assert(a && a->type == REDIS_REPLY_INTEGER);
    cr_assert(b && b->type == REDIS_REPLY_INTEGER);
    freeReplyObject(a);
    freeReplyObject(b);
}

static long long outbox_len(redisContext *r)
{
    redisReply *rep = redisCommand(r, "HLEN duro:{p%d}:outbox",
                                   duro_partition_of(HOME, parts));
    long long n = rep && rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
    freeReplyObject(rep);
    return n;
}

static long long exists(redisContext *r, const char *id)
{
    redisReply *rep = redisCommand(r, "EXISTS duro:{p%d}:wf:%s",
                                   duro_partition_of(id, parts), id);
    long long n = rep && rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
    freeReplyObject(rep);
    return n;
}

Test(outbox_garbage, malformed_records_are_dropped_once)
{
    duro_client *c = duro_test_client(&h);
    parts = duro_client_partitions(c);
    pid_t s =
        duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    cr_assert(
        duro_test_wait_until(duro_test_log_contains(&h, s, "REDIS UP"), 5000));
    redisContext *r = duro_test_redis(&h);
    put(r, "gr1",
        "{\"op\":\"start\",\"id\":\"og-child\",\"run\":\"r1\",\"queue\":"
        "\"test\",\"type\":{},\"input\":\"{}\",\"started\":\"{}\","
        "\"parent\":\"og-p\",\"parent_run\":\"r0\",\"seq\":\"1\"}");
    put(r, "gr2", "{\"op\":\"frob\",\"id\":\"og-target\"}");
    put(r, "gr3",
        "{\"op\":\"cancel\",\"id\":\"og-target\",\"reply_id\":{},"
        "\"reply_run\":\"x\",\"seq\":\"1\"}");
    put(r, "gr4",
        "{\"op\":\"deliver\",\"id\":\"og-target\",\"event\":"
        "\"SignalReceived\"}");
    put(r, "gr5",
        "{\"op\":\"deliver\",\"id\":\"og-target\",\"event\":"
        "\"ChildWorkflowCompleted\",\"data\":\"{}\",\"child\":\"1}\"}");
    cr_assert(duro_test_wait_until(outbox_len(r) == 0, 10000),
              "a malformed record is still in the outbox");
    const char *rec[] = {"gr1", "gr2", "gr3", "gr4", "gr5"};
    for (int i = 0; i < 5; i++) {
        char want[64];
        snprintf(want, sizeof(want), "XFER MALFORMED record=%s.1.4", rec[i]);
        cr_assert(duro_test_log_contains(&h, s, want), "no %s", want);
    }
    cr_assert_eq(exists(r, "og-child"), 0);
    cr_assert_eq(exists(r, "og-target"), 0);
    cr_assert(duro_test_alive(&h, s));
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}
