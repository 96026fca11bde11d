/* test_scheduler_timers.c: what duro-scheduler does with the members of a
 * partition's timers zset. Its timer code is event-driven (nothing in
 * scheduler/src/timers.c is pure), so the test writes members with ZADD,
 * runs the real scheduler, and reads what it left. No worker runs: the
 * run's first workflow task stays outstanding, so a fired 't' timer lands
 * in the run's buffer (bufn) instead of its history. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/keys.h"
#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(scheduler_timers, .init = setup, .fini = duro_test_fini,
          .timeout = 60);

/* ---- Helpers ---- */

static redisReply *cmd(redisContext *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = redisvCommand(r, fmt, ap);
    va_end(ap);
    cr_assert(rep, "redis: %s", r->errstr);
    return rep;
}

static void zadd(redisContext *r, const char *key, int64_t score,
                 const char *member)
{
    redisReply *rep = cmd(r, "ZADD %s %lld %s", key, (long long)score, member);
    cr_assert_eq(rep->type, REDIS_REPLY_INTEGER, "ZADD: %s", rep->str);
    freeReplyObject(rep);
}

static bool present(redisContext *r, const char *key, const char *member)
{
    redisReply *rep = cmd(r, "ZSCORE %s %s", key, member);
    bool there = rep->type == REDIS_REPLY_STRING;
    freeReplyObject(rep);
    return there;
}

/* wait_gone polls (every 20 ms, 10 s at most) until member leaves key. */
static bool wait_gone(redisContext *r, const char *key, const char *member)
{
    for (int i = 0; i < 500; i++) {
        if (!present(r, key, member)) return true;
        duro_test_sleep_ms(20);
    }
    return false;
}

static const char *bufn(redisContext *r, const duro_wf_keys *k)
{
    static char buf[32];
    redisReply *rep = cmd(r, "HGET %s bufn", k->wf);
    snprintf(buf, sizeof(buf), "%s",
             rep->type == REDIS_REPLY_STRING ? rep->str : "");
    freeReplyObject(rep);
    return buf;
}

/* a_run starts workflow id on queue "q" and fills its keys. */
static void a_run(duro_client *c, redisContext *r, const char *id,
                  duro_wf_keys *k, char *run, size_t rsize)
{
    int parts = duro_client_partitions(c);
    duro_test_start(c, id, "t", "q", NULL, 0);
    duro_wf_keys_init(k, DURO_KEYSPACE_DEFAULT(parts), id, NULL);
    redisReply *rep = cmd(r, "HGET %s run", k->wf);
    cr_assert_eq(rep->type, REDIS_REPLY_STRING);
    snprintf(run, rsize, "%s", rep->str);
    freeReplyObject(rep);
    duro_wf_keys_init(k, DURO_KEYSPACE_DEFAULT(parts), id, run);
}

/* ---- Tests ---- */

Test(scheduler_timers, a_due_timer_fires_once_and_a_future_one_waits)
{
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    duro_wf_keys k;
    char run[64], due[DURO_KEY_MAX], later[DURO_KEY_MAX];
    a_run(c, r, "tm-1", &k, run, sizeof(run));
    duro_timer_member(later, sizeof(later), 't', run, 2, 0, "q", NULL, "tm-1");
    duro_timer_member(due, sizeof(due), 't', run, 1, 0, "q", NULL, "tm-1");
    int64_t now = duro_test_redis_now_ms(r);
    zadd(r, k.timers, now + 600000, later);
    zadd(r, k.timers, now - 1, due);
    cr_assert_str_eq(bufn(r, &k), "0");

    duro_test_spawn(&h, "duro-scheduler", NULL);
    cr_assert(wait_gone(r, k.timers, due), "the due timer was never fired");
    cr_assert_str_eq(bufn(r, &k), "1", "TimerFired was not delivered once");
    cr_assert(present(r, k.timers, later), "a future timer was taken");
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(scheduler_timers, malformed_members_are_dropped_not_fired)
{
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    duro_wf_keys k;
    char run[64], other[DURO_KEY_MAX], id[32];
    a_run(c, r, "tm-2", &k, run, sizeof(run));
    /* an id of another partition, in this partition's zset */
    int parts = duro_client_partitions(c);
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof(id), "other-%d", i);
        if (duro_partition_of(id, parts) != k.partition) break;
    }
    cr_assert_neq(duro_partition_of(id, parts), k.partition);
    duro_timer_member(other, sizeof(other), 't', run, 1, 0, "q", NULL, id);
    int64_t now = duro_test_redis_now_ms(r);
    zadd(r, k.timers, now - 1, "no-pipes-at-all");
    zadd(r, k.timers, now - 1, other);

    pid_t s = duro_test_spawn(&h, "duro-scheduler", NULL);
    cr_assert(wait_gone(r, k.timers, "no-pipes-at-all"));
    cr_assert(wait_gone(r, k.timers, other));
    cr_assert_str_eq(bufn(r, &k), "0", "a dropped member fired");
    cr_assert(duro_test_log_contains(&h, s, "TIMER MALFORMED"));
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(scheduler_timers, a_timer_of_a_replaced_run_is_removed_without_effect)
{
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    duro_wf_keys k;
    char run[64], stale[DURO_KEY_MAX];
    a_run(c, r, "tm-3", &k, run, sizeof(run));
    duro_timer_member(stale, sizeof(stale), 't', "an-older-run", 1, 0, "q",
                      NULL, "tm-3");
    zadd(r, k.timers, duro_test_redis_now_ms(r) - 1, stale);

    duro_test_spawn(&h, "duro-scheduler", NULL);
    cr_assert(wait_gone(r, k.timers, stale), "the stale timer stayed");
    cr_assert_str_eq(bufn(r, &k), "0", "a stale timer reached the run");
    duro_client_free(c);
    duro_test_finish(&h);
}
