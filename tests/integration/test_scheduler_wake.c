/* test_scheduler_wake.c: what makes the scheduler look at a partition
 * between its scans (here a minute apart, so that only these can fire a
 * timer in time): a wake-up on duro:wake, the wake subscription coming
 * back (what was published meanwhile is lost), and Redis answering a fire
 * 'early' (the scheduler's estimate of Redis' clock ran ahead of the TIME
 * duro_timer_fire checks: the member stays in the set).
 *
 * The scheduler runs in this process, so that the clock seam
 * (duro_clock_set, which the scheduler reads instead of Redis' TIME while
 * it is set) can put it ahead by a chosen amount; the Functions keep
 * Redis' TIME. No worker runs: a run's first workflow task stays
 * outstanding, so a fired 't' timer lands in its buffer (bufn). */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "duro/clock.h"
#include "duro/fcall.h"
#include "duro/keys.h"
#include "duro/scheduler.h"
#include "harness.h"

#define SCAN_MS 60000

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

TestSuite(scheduler_wake, .init = setup, .fini = teardown, .timeout = 60);

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

/* hget: field of key, "" when there is none (static buffer). */
static const char *hget(redisContext *r, const char *key, const char *field)
{
    static char buf[64];
    redisReply *rep = cmd(r, "HGET %s %s", key, field);
    snprintf(buf, sizeof(buf), "%s",
             rep->type == REDIS_REPLY_STRING ? rep->str : "");
    freeReplyObject(rep);
    return buf;
}

static duro_scheduler *scheduler_start(void)
{
    duro_scheduler_opts o = {.redis_url = h.redis_url,
                             .scan_interval_ms = SCAN_MS};
    duro_scheduler *s = NULL;
    char err[256] = "";
    cr_assert_eq(duro_scheduler_new(&s, &o), 0);
    cr_assert_eq(duro_scheduler_setup(s, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(duro_scheduler_start_thread(s), 0);
    return s;
}

/* an id of the partition p (of 16) */
static void id_of(char *id, size_t size, const char *stem, int p)
{
    for (int i = 0;; i++) {
        snprintf(id, size, "%s-%d", stem, i);
        if (duro_partition_of(id, 16) == p) return;
    }
}

/* start_args: duro_start of id (run "run-<id>") with an execution
 * timeout of exec_ms, into a (free with duro_argv_free, before k goes);
 * k gets its keys. */
static void start_args(duro_argv *a, duro_wf_keys *k, const char *id, char *run,
                       size_t rsize, int64_t exec_ms)
{
    snprintf(run, rsize, "run-%s", id);
    duro_wf_keys_init(k, DURO_KEYSPACE_DEFAULT(16), id, run);
    duro_wf_keys_queues(k, "q", NULL); /* a points into k's keys */
    duro_fcall_start_args sa = {.id = id,
                                .run = run,
                                .type = "t",
                                .queue = "q",
                                .input = "null",
                                .started_data = "{}",
                                .exec_timeout_ms = exec_ms,
                                .wft_timeout_ms = 600000};
    duro_fcall_start(a, k, &sa, NULL, NULL);
}

/* timed_out: within ms, the run's execution timeout closed it. */
static bool timed_out(redisContext *r, const duro_wf_keys *k, int64_t ms)
{
    for (int64_t waited = 0; waited < ms; waited += 20) {
        if (strcmp(hget(r, k->wf, "status"), "RUNNING") != 0) return true;
        duro_test_sleep_ms(20);
    }
    return false;
}

static long long wake_subscribers(redisContext *r)
{
    redisReply *rep = cmd(r, "PUBSUB NUMSUB duro:wake");
    long long n = rep->type == REDIS_REPLY_ARRAY && rep->elements == 2
                      ? rep->element[1]->integer
                      : -1;
    freeReplyObject(rep);
    return n;
}

/* ---- A fire Redis calls early ---- */

static int64_t ahead_ms;

static int64_t ahead_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + ahead_ms;
}

/* A timer due in 1.5 s, fetched by a scheduler whose clock runs 1 s
 * ahead: Redis answers 'early' for a second, then the timer must fire
 * within a few retries of its due time. */
Test(scheduler_wake, a_timer_redis_calls_early_is_fetched_again_soon)
{
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    int parts = duro_client_partitions(c);
    duro_test_start(c, "ck-1", "t", "q", NULL, 0);
    duro_wf_keys k;
    duro_wf_keys_init(&k, DURO_KEYSPACE_DEFAULT(parts), "ck-1", NULL);
    char run[64], member[DURO_KEY_MAX];
    snprintf(run, sizeof(run), "%s", hget(r, k.wf, "run"));
    duro_wf_keys_init(&k, DURO_KEYSPACE_DEFAULT(parts), "ck-1", run);
    duro_timer_member(member, sizeof(member), 't', run, 1, 0, "q", NULL,
                      "ck-1");
    int64_t due = duro_test_redis_now_ms(r) + 1500;
    redisReply *rep =
        cmd(r, "ZADD %s %lld %s", k.timers, (long long)due, member);
    cr_assert_eq(rep->type, REDIS_REPLY_INTEGER);
    freeReplyObject(rep);

    ahead_ms = 1000;
    duro_clock_fns fns = {.now_ms = ahead_now_ms};
    duro_clock_set(&fns);
    duro_scheduler *s = scheduler_start();
    int64_t fired_at = 0;
    for (int i = 0; i < 250 && !fired_at; i++) { /* 5 s at most */
        rep = cmd(r, "ZSCORE %s %s", k.timers, member);
        if (rep->type == REDIS_REPLY_NIL) fired_at = duro_test_redis_now_ms(r);
        freeReplyObject(rep);
        if (!fired_at) duro_test_sleep_ms(20);
    }
    duro_scheduler_free(s);
    duro_clock_set(NULL);
    cr_assert(fired_at, "the timer Redis called early was not fetched again");
    cr_assert_geq(fired_at, due);
    cr_assert_lt(fired_at - due, 500, "fired %lldms late",
                 (long long)(fired_at - due));
    cr_assert_str_eq(hget(r, k.wf, "bufn"), "1",
                     "TimerFired was not delivered once");
    duro_client_free(c);
    duro_test_finish(&h);
}

/* ---- A wake-up published while the subscription was gone ---- */

/* The scheduler's wake connection is killed; in the same MULTI as a start
 * that publishes its partition's wake-up, PUBSUB NUMSUB shows nobody
 * heard it. The subscription comes back by itself (its reconnect backs
 * off 100ms): the timer must fire then, not at the next scan. */
Test(scheduler_wake, a_wake_lost_while_unsubscribed_is_made_up_for)
{
    redisContext *r = duro_test_redis(&h);
    duro_scheduler *s = scheduler_start();
    for (int i = 0; i < 250 && wake_subscribers(r) != 1; i++)
        duro_test_sleep_ms(20);
    cr_assert_eq(wake_subscribers(r), 1, "the scheduler did not subscribe");
    /* a wake-up heard: the scheduler is past its first pass */
    char id[32], run[64];
    duro_wf_keys k;
    duro_argv a;
    id_of(id, sizeof(id), "heard", 1);
    start_args(&a, &k, id, run, sizeof(run), 200);
    redisReply *rep = redisCommandArgv(r, a.argc, a.argv, a.lens);
    cr_assert(rep && rep->type != REDIS_REPLY_ERROR);
    freeReplyObject(rep);
    duro_argv_free(&a);
    cr_assert(timed_out(r, &k, 5000), "a wake-up heard was not acted on");

    long long heard = -1;
    for (int tries = 0; tries < 5 && heard != 0; tries++) {
        rep = cmd(r, "CLIENT KILL TYPE pubsub");
        freeReplyObject(rep);
        char stem[16];
        snprintf(stem, sizeof(stem), "lost%d", tries);
        id_of(id, sizeof(id), stem, 2);
        start_args(&a, &k, id, run, sizeof(run), 300);
        redisAppendCommand(r, "MULTI");
        redisAppendCommand(r, "PUBSUB NUMSUB duro:wake");
        redisAppendCommandArgv(r, a.argc, a.argv, a.lens);
        redisAppendCommand(r, "EXEC");
        duro_argv_free(&a);
        for (int j = 0; j < 4; j++) {
            cr_assert_eq(redisGetReply(r, (void **)&rep), REDIS_OK);
            if (j == 3) {
                cr_assert_eq(rep->type, REDIS_REPLY_ARRAY);
                heard = rep->element[0]->element[1]->integer;
                cr_assert_neq(rep->element[1]->type, REDIS_REPLY_ERROR);
            }
            freeReplyObject(rep);
        }
    }
    cr_assert_eq(heard, 0, "the wake-up was always heard");
    cr_assert(timed_out(r, &k, 5000),
              "the execution timeout waited for the next scan");
    duro_scheduler_free(s);
    duro_test_finish(&h);
}
