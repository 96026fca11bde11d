/* test_rate_waits.c: how long a worker waits for a token of its task
 * queue's rate limit (`duro queue config --activities-per-second`) when the
 * bucket is empty. A limit raised while work waits applies at once, and a
 * rate so low that the wait overflows (or a bucket damaged by hand) does
 * not make the worker ask Redis in a tight loop. The worker is embedded
 * (duro_worker_new + duro_worker_run in a thread). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "duro/worker.h"
#include "harness.h"
#include "harness_lua.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(rate_waits, .init = setup, .fini = duro_test_fini, .timeout = 90);

static cJSON *tick(duro_actx *ctx, const cJSON *input, void *arg)
{
    return cJSON_CreateTrue();
}

/* ticks: input {"n"}: n activities "tick" at once; returns n. */
static cJSON *ticks(duro_wf *wf, const cJSON *input)
{
    int n = (int)duro_test_num(input, "n", 1);
    duro_future *f[16];
    for (int i = 0; i < n && i < 16; i++)
        f[i] = duro_activity_async(wf, "tick", NULL, NULL);
    for (int i = 0; i < n && i < 16; i++)
        if (!duro_await(wf, f[i]).ok) return cJSON_CreateFalse();
    return cJSON_CreateNumber(n);
}

typedef struct {
    duro_worker *w;
    pthread_t t;
} emb;

static void *run_worker(void *arg)
{
    duro_worker_run(arg);
    return NULL;
}

static void emb_start(emb *e, const char *queue)
{
    duro_worker_opts o = {.redis_url = h.redis_url,
                          .task_queue = queue,
                          .activity_threads = 2,
                          .log_level = "warn"};
    cr_assert_eq(duro_worker_new(&e->w, &o), 0);
    duro_worker_register_workflow(e->w, "ticks", ticks);
    duro_worker_register_activity(e->w, "tick", tick, NULL);
    cr_assert_eq(pthread_create(&e->t, NULL, run_worker, e->w), 0);
}

static void emb_stop(emb *e)
{
    duro_worker_stop(e->w);
    pthread_join(e->t, NULL);
    duro_worker_free(e->w);
}

static void set_rate(const char *queue, const char *rate)
{
    duro_test_output o;
    duro_test_run(&h, &o, 10000, "duro", "queue", "config", "--task-queue",
                  queue, "--activities-per-second", rate, NULL);
    cr_assert_eq(o.exit_code, 0, "queue config: %s", o.err);
    duro_test_output_free(&o);
}

/* throttled: the takes that found queue's bucket empty (its flow hash) */
static long long throttled(redisContext *r, const char *queue)
{
    redisReply *x = redisCommand(r, "HGET duro:{q:%s}:flow throttled", queue);
    cr_assert(x);
    long long n = x->type == REDIS_REPLY_STRING ? strtoll(x->str, NULL, 10) : 0;
    freeReplyObject(x);
    return n;
}

/* One token per 1000 s: the first activity takes the bucket's token, the
 * others wait for the next. Raised to 1000/s, they run within a refresh
 * of the limit (2 s). The worker used to sleep out the wait it got at the
 * old rate, here 1000 s. */
Test(rate_waits, a_limit_raised_while_work_waits_applies)
{
    set_rate("rw", "0.001");
    emb e;
    emb_start(&e, "rw");
    redisContext *r = duro_test_redis(&h);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "rw-1", "ticks", "rw", "{\"n\":3}", 0);
    cr_assert(duro_test_wait_until(throttled(r, "rw") > 0, 20000),
              "the activities never waited for a token");
    set_rate("rw", "1000");
    cJSON *d = duro_test_result(c, "rw-1", 20000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cr_assert_eq(duro_test_num(d, "result", 0), 3);
    cJSON_Delete(d);
    duro_client_free(c);
    redisFree(r);
    emb_stop(&e);
    duro_test_finish(&h);
}

/* A rate of 1e-300 per second: the Function's wait for the next token was
 * infinite, which Redis replied as a negative integer, and the worker
 * asked again after 1 ms, hundreds of times a second, for ever. Now the
 * Function's wait is at most a day, and the worker asks at least once per
 * refresh of the limit (2 s) whatever it is told. */
Test(rate_waits, a_rate_near_zero_does_not_spin)
{
    set_rate("rz", "1e-300");
    emb e;
    emb_start(&e, "rz");
    redisContext *r = duro_test_redis(&h);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "rz-1", "ticks", "rz", "{\"n\":3}", 0);
    cr_assert(duro_test_wait_until(throttled(r, "rz") > 0, 20000),
              "the activities never waited for a token");
    long long before = throttled(r, "rz");
    duro_test_sleep_ms(3000); /* what the worker asks in 3 s */
    long long asked = throttled(r, "rz") - before;
    cr_assert_leq(asked, 6, "%lld takes in 3 s", asked);
    duro_client_free(c);
    redisFree(r);
    emb_stop(&e);
    duro_test_finish(&h);
}

/* take: FCALL duro_rate_take for one activity token of queue's bucket;
 * granted and wait_ms in g and wait. */
static void take(redisContext *r, const char *queue, long long *g,
                 long long *wait)
{
    redisReply *x = redisCommand(
        r, "FCALL duro_rate_take 1 duro:{q:%s}:flow 1 0 act", queue);
    cr_assert(x && x->type == REDIS_REPLY_ARRAY && x->elements == 2,
              "duro_rate_take: %s", x && x->str ? x->str : "bad reply");
    *g = x->element[0]->integer;
    *wait = x->element[1]->integer;
    freeReplyObject(x);
}

/* A bucket edited by hand to numbers that are not finite: -inf tokens
 * used to hold the queue for ever (no refill catches up with them, and
 * the wait replied was negative), an infinite burst lifted the limit.
 * They read as absent: the bucket starts full again. */
Test(rate_waits, a_bucket_damaged_by_hand_heals)
{
    redisContext *r = duro_test_redis(&h);
    duro_test_lua_load(r, false);
    const char *tokens[] = {"-inf", "nan", "inf", "-1e999"};
    long long g, wait;
    for (int i = 0; i < 4; i++) {
        freeReplyObject(redisCommand(r, "DEL duro:{q:dmg}:flow"));
        freeReplyObject(redisCommand(
            r, "HSET duro:{q:dmg}:flow aps 10 tokens %s ts 0", tokens[i]));
        take(r, "dmg", &g, &wait);
        cr_assert_eq(g, 1, "tokens %s: none granted (wait %lld)", tokens[i],
                     wait);
        cr_assert_geq(wait, 0, "tokens %s", tokens[i]);
    }
    /* an infinite burst is the default 1: the second take waits */
    freeReplyObject(redisCommand(r, "DEL duro:{q:dmg}:flow"));
    freeReplyObject(redisCommand(r, "HSET duro:{q:dmg}:flow aps 1 burst inf"));
    take(r, "dmg", &g, &wait);
    cr_assert_eq(g, 1);
    take(r, "dmg", &g, &wait);
    cr_assert_eq(g, 0, "an infinite burst lifted the limit");
    cr_assert_gt(wait, 0);
    /* a rate near 0: a wait of at most a day, not a negative one */
    freeReplyObject(redisCommand(r, "DEL duro:{q:dmg}:flow"));
    freeReplyObject(redisCommand(r, "HSET duro:{q:dmg}:flow aps 1e-300"));
    take(r, "dmg", &g, &wait);
    cr_assert_eq(g, 1);
    take(r, "dmg", &g, &wait);
    cr_assert_eq(g, 0);
    cr_assert(wait > 0 && wait <= 86400000, "wait %lld", wait);
    redisFree(r);
    duro_test_finish(&h);
}

/* A --burst or --concurrency-per-key past INT_MAX was cast to int (no
 * defined value) and refused as "not a whole number"; it is out of range. */
Test(rate_waits, queue_config_refuses_huge_settings_as_out_of_range)
{
    const char *opts[] = {"--burst", "--concurrency-per-key"};
    const char *vals[] = {"1e30", "inf", "3000000000"};
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 3; k++) {
            duro_test_output o;
            duro_test_run(&h, &o, 10000, "duro", "queue", "config",
                          "--task-queue", "big", opts[i], vals[k], NULL);
            cr_assert_eq(o.exit_code, 2, "%s %s: %s", opts[i], vals[k], o.err);
            cr_assert(strstr(o.err, "at most 1000000"), "%s %s: %s", opts[i],
                      vals[k], o.err);
            duro_test_output_free(&o);
        }
    duro_test_finish(&h);
}
