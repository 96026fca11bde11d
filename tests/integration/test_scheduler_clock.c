/* test_scheduler_clock.c: the scheduler when its idea of Redis' clock runs
 * ahead of Redis' own. It fetches a timer by its estimate and hands it to
 * duro_timer_fire, which checks Redis' TIME and answers 'early': the
 * member stays in the set and must be fetched again soon, not at the next
 * scan. The scheduler runs in this process so that the clock seam
 * (duro_clock_set, which the scheduler reads instead of Redis' TIME while
 * it is set) can put it ahead by a chosen amount; the Functions keep
 * Redis' TIME. No worker runs: the run's first workflow task stays
 * outstanding, so a fired 't' timer lands in the run's buffer (bufn). */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "duro/clock.h"
#include "duro/keys.h"
#include "duro/scheduler.h"
#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

static void teardown(void)
{
    duro_clock_set(NULL);
    duro_test_fini();
}

TestSuite(scheduler_clock, .init = setup, .fini = teardown, .timeout = 60);

static redisReply *cmd(redisContext *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = redisvCommand(r, fmt, ap);
    va_end(ap);
    cr_assert(rep, "redis: %s", r->errstr);
    return rep;
}

static int64_t redis_now_ms(redisContext *r)
{
    redisReply *t = cmd(r, "TIME");
    int64_t ms = strtoll(t->element[0]->str, NULL, 10) * 1000 +
                 strtoll(t->element[1]->str, NULL, 10) / 1000;
    freeReplyObject(t);
    return ms;
}

/* ---- The scheduler's clock, ahead of Redis' ---- */

static int64_t ahead_ms;

static int64_t ahead_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + ahead_ms;
}

/* A timer due in 1.5 s, fetched by a scheduler whose clock runs 1 s
 * ahead and whose scan (the safety net that fetches every partition) is a
 * minute away: Redis answers 'early' for half a second, then the timer
 * must fire within a few retries of its due time. */
Test(scheduler_clock, a_timer_redis_calls_early_is_fetched_again_soon)
{
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    int parts = duro_client_partitions(c);
    duro_test_start(c, "ck-1", "t", "q", NULL, 0);
    duro_wf_keys k;
    duro_wf_keys_init(&k, DURO_KEYSPACE_DEFAULT(parts), "ck-1", NULL);
    redisReply *rep = cmd(r, "HGET %s run", k.wf);
    cr_assert_eq(rep->type, REDIS_REPLY_STRING);
    char run[64], member[DURO_KEY_MAX];
    snprintf(run, sizeof(run), "%s", rep->str);
    freeReplyObject(rep);
    duro_wf_keys_init(&k, DURO_KEYSPACE_DEFAULT(parts), "ck-1", run);
    duro_timer_member(member, sizeof(member), 't', run, 1, 0, "q", NULL,
                      "ck-1");
    int64_t due = redis_now_ms(r) + 1500;
    rep = cmd(r, "ZADD %s %lld %s", k.timers, (long long)due, member);
    cr_assert_eq(rep->type, REDIS_REPLY_INTEGER);
    freeReplyObject(rep);

    ahead_ms = 1000;
    duro_clock_fns fns = {.now_ms = ahead_now_ms};
    duro_clock_set(&fns);
    duro_scheduler_opts o = {.redis_url = h.redis_url,
                             .scan_interval_ms = 60000};
    duro_scheduler *s = NULL;
    char err[256] = "";
    cr_assert_eq(duro_scheduler_new(&s, &o), 0);
    cr_assert_eq(duro_scheduler_setup(s, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(duro_scheduler_start_thread(s), 0);

    int64_t fired_at = 0;
    for (int i = 0; i < 250 && !fired_at; i++) { /* 5 s at most */
        rep = cmd(r, "ZSCORE %s %s", k.timers, member);
        if (rep->type == REDIS_REPLY_NIL) fired_at = redis_now_ms(r);
        freeReplyObject(rep);
        if (!fired_at) duro_test_sleep_ms(20);
    }
    duro_scheduler_free(s);
    duro_clock_set(NULL);
    cr_assert(fired_at, "the timer Redis called early was not fetched again");
    cr_assert_geq(fired_at, due);
    cr_assert_lt(fired_at - due, 500, "fired %lldms late",
                 (long long)(fired_at - due));
    rep = cmd(r, "HGET %s bufn", k.wf);
    cr_assert_str_eq(rep->type == REDIS_REPLY_STRING ? rep->str : "", "1",
                     "TimerFired was not delivered once");
    freeReplyObject(rep);
    duro_client_free(c);
    duro_test_finish(&h);
}
