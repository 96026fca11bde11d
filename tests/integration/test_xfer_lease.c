/* test_xfer_lease.c: an outbox record's take is a lease that fences its
 * apply: a scheduler whose lease ran out (stalled between take and apply)
 * while another took the record, applied, acked it and dropped its mark
 * applies nothing. The test plays the stalled scheduler with FCALLs; a
 * real duro-scheduler and duro-test-worker do the rest. */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>

#include "duro/keys.h"
#include "duro/redis.h"
#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(xfer_lease, .init = setup, .fini = duro_test_fini, .timeout = 60);

static int parts;

/* start_member: the child start record's timer member of the parent, in
 * buf ("" while there is none). */
static const char *start_member(redisContext *r, const char *parent, char *buf,
                                size_t size)
{
    buf[0] = '\0';
    redisReply *rep = redisCommand(r, "ZRANGE duro:{p%d}:timers 0 -1",
                                   duro_partition_of(parent, parts));
    char tail[128];
    snprintf(tail, sizeof(tail), "|1|1|-|-|%s", parent);
    for (size_t i = 0; rep && i < rep->elements; i++) {
        const char *m = rep->element[i]->str;
        size_t n = strlen(m), t = strlen(tail);
        if (strncmp(m, "o|", 2) == 0 && n > t && !strcmp(m + n - t, tail))
            snprintf(buf, size, "%s", m);
    }
    freeReplyObject(rep);
    return buf;
}

static long long count(redisContext *r, const char *cmd)
{
    redisReply *rep = redisCommand(r, cmd);
    long long n = rep && rep->type == REDIS_REPLY_INTEGER ? rep->integer
                  : rep && rep->type == REDIS_REPLY_ARRAY
                      ? (long long)rep->elements
                      : -1;
    freeReplyObject(rep);
    return n;
}

/* records: outbox records left in every partition. */
static long long records(redisContext *r)
{
    long long n = 0;
    for (int p = 0; p < parts; p++) {
        char cmd[64];
        snprintf(cmd, sizeof(cmd), "HLEN duro:{p%d}:outbox", p);
        n += count(r, cmd);
    }
    return n;
}

static int started(duro_client *c, const char *id)
{
    cJSON *hist = duro_test_history(c, id);
    int n = duro_test_count_events(hist, "ChildWorkflowStarted");
    cJSON_Delete(hist);
    return n;
}

Test(xfer_lease, a_take_whose_lease_is_over_applies_nothing)
{
    duro_client *c = duro_test_client(&h);
    parts = duro_client_partitions(c);
    duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_test_start(c, "xl-parent", "child-policy", "test",
                    "{\"childId\":\"xl-child\",\"policy\":\"Abandon\"}", 0);
    redisContext *r = duro_test_redis(&h);
    char member[256];
    cr_assert(duro_test_wait_until(
        start_member(r, "xl-parent", member, sizeof(member))[0], 10000));

    /* the stalled scheduler takes the record, for 1 ms */
    int pp = duro_partition_of("xl-parent", parts);
    char timers[64], outbox[64];
    snprintf(timers, sizeof(timers), "duro:{p%d}:timers", pp);
    snprintf(outbox, sizeof(outbox), "duro:{p%d}:outbox", pp);
    redisReply *take = redisCommand(
        r, "FCALL duro_xfer_take 2 %s %s %s 1 until", timers, outbox, member);
    cr_assert(take && take->type == REDIS_REPLY_ARRAY && take->elements >= 2,
              "take: %s", take && take->str ? take->str : "?");
    cr_assert_str_eq(take->element[0]->str, "taken");
    const char *body = take->element[1]->str;
    const char *until = take->elements == 3 ? take->element[2]->str : "0";
    cJSON *b = cJSON_Parse(body);
    cr_assert(b);
    char run[64], rid[160];
    snprintf(run, sizeof(run), "%s", duro_test_str(b, "run"));
    cJSON_Delete(b);
    const char *prun = member + 2;
    snprintf(rid, sizeof(rid), "%.*s.1.1", (int)(strchr(prun, '|') - prun),
             prun);

    /* another scheduler takes it after the lease: applied, acked, its
     * mark dropped */
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    cr_assert(duro_test_wait_until(started(c, "xl-parent") == 1, 10000));
    cr_assert(duro_test_wait_until(
        count(r, "KEYS duro:{p*}:xd:*") == 0 && records(r) == 0, 10000));

    /* the stalled scheduler's apply comes now: refused, nothing written */
    int cp = duro_partition_of("xl-child", parts);
    duro_wf_keys k;
    duro_wf_keys_init(&k, DURO_KEYSPACE_DEFAULT(parts), "xl-child", run);
    duro_wf_keys_queues(&k, "test", NULL);
    char coutbox[64], mark[256];
    snprintf(coutbox, sizeof(coutbox), "duro:{p%d}:outbox", cp);
    snprintf(mark, sizeof(mark), "duro:{p%d}:xd:%s", cp, rid);
    const char *keys[] = {k.wf, k.hist,     k.buf,        k.wft,   k.timers,
                          k.pa, k.idx_open, k.idx_closed, coutbox, mark};
    duro_argv a;
    duro_argv_fcall(&a, "duro_xfer_apply", 10, keys);
    duro_argv_push(&a, rid);
    duro_argv_push(&a, body);
    duro_argv_push(&a, until);
    redisReply *rep = redisCommandArgv(r, a.argc, a.argv, a.lens);
    duro_argv_free(&a);
    cr_assert(rep && rep->type == REDIS_REPLY_ERROR &&
                  strncmp(rep->str, "DURO_STALE ", 11) == 0,
              "the record was applied again: %s",
              rep && rep->str ? rep->str : "?");
    freeReplyObject(rep);
    char cmd[96];
    snprintf(cmd, sizeof(cmd), "HLEN %s", coutbox);
    cr_assert_eq(count(r, cmd), 0, "the apply wrote a report");
    freeReplyObject(take);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}
