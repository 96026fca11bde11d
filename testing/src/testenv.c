/* testenv.c: the time-skipping test environment's lifecycle (a private
 * redis-server, a worker thread, the scheduler's thread, a client) and its
 * waits, which move the virtual clock (test_clock.c) when nothing else can
 * happen. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "duro/clock.h"
#include "duro/errno.h"
#include "duro/log.h"
#include "duro/redis.h"
#include "duro/scheduler.h"
#include "duro/testing.h"
#include "testing_int.h"

#define DEFAULT_WAIT_MS 10000
#define DEFAULT_ACTIVITY_THREADS 4
#define SCAN_INTERVAL_MS 100 /* the scheduler's safety net, in real ms */
#define START_WAIT_MS 5000

struct duro_testenv {
    testing_redis redis;
    redisContext *ctl; /* the env's own connection: idle checks */
    duro_worker *worker;
    duro_scheduler *sched;
    duro_client *client;
    pthread_t worker_thread;
    bool worker_running;
    atomic_bool stopping; /* free has begun: the worker's end is expected */
    int64_t wait_ms;
};

static void nap(void)
{
    struct timespec ts = {0, 1000000L}; /* 1ms: a worker's turn */
    nanosleep(&ts, NULL);
}

/* CLOCK_MAX_MS: 2^53, where the Functions' numbers (doubles) stop being
 * exact; a start or a sleep that would take the clock past it is refused,
 * as is one that would overflow the sum (a target below zero would mean
 * "to the next timer" to the idle step). */
#define CLOCK_MAX_MS (INT64_C(1) << 53)

/* one environment per process: the clock is the process's */
static atomic_int live;

/* ---- Lifecycle ---- */

static int connect_ctl(duro_testenv *env, int64_t start_ms)
{
    char err[256];
    duro_redis_url url;
    if (duro_redis_url_parse(env->redis.url, &url, err, sizeof(err)))
        return DURO_EINVAL;
    env->ctl = duro_redis_connect(&url, 5000, err, sizeof(err));
    if (!env->ctl) {
        duro_error("TESTENV connect %s: %s", env->redis.url, err);
        return DURO_ECONN;
    }
    int rc = start_ms ? testing__clock_start(env->ctl, start_ms) : 0;
    if (rc == 0) rc = testing__functions_load(env->ctl);
    int partitions = 0;
    if (rc == 0)
        rc = duro_redis_setup(env->ctl, DURO_PARTITIONS_ADOPT_OR_INIT,
                              &partitions, err, sizeof(err));
    if (rc) duro_error("TESTENV setup: %s", err);
    return rc;
}

static int make_worker(duro_testenv *env, const duro_testenv_opts *o)
{
    duro_worker_opts wo = {
        .redis_url = env->redis.url,
        .task_queue = o->task_queue,
        .activity_threads = o->activity_threads ? o->activity_threads
                                                : DEFAULT_ACTIVITY_THREADS,
        .log_level = o->log_level ? o->log_level : "warn",
        .shutdown_grace_ms = 2000,
    };
    return duro_worker_new(&env->worker, &wo);
}

int duro_testenv_new(duro_testenv **out, const duro_testenv_opts *o)
{
    *out = NULL;
    if (!o || !o->task_queue || !*o->task_queue || o->wait_ms < 0 ||
        o->start_ms < 0 || o->start_ms > CLOCK_MAX_MS) {
        duro_error("TESTENV bad options: a task queue is required, wait_ms "
                   "and start_ms >= 0, start_ms <= 2^53");
        return DURO_EINVAL;
    }
    int expect = 0;
    if (!atomic_compare_exchange_strong(&live, &expect, 1)) {
        duro_error("TESTENV one environment per process at a time");
        return DURO_EINVAL;
    }
    duro_testenv *env = calloc(1, sizeof(*env));
    if (!env) {
        atomic_store(&live, 0);
        return DURO_ENOMEM;
    }
    env->wait_ms = o->wait_ms ? o->wait_ms : DEFAULT_WAIT_MS;
    testing__clock_install();
    int rc = testing__redis_start(
        &env->redis, o->redis_server ? o->redis_server : "redis-server");
    if (rc == 0) rc = make_worker(env, o); /* sets the log level first */
    if (rc == 0) rc = connect_ctl(env, o->start_ms);
    if (rc) {
        duro_testenv_free(env);
        return rc;
    }
    duro_info("TESTENV up redis=%s queue=%s", env->redis.url, o->task_queue);
    *out = env;
    return 0;
}

static void *worker_main(void *arg)
{
    duro_testenv *env = arg;
    int rc = duro_worker_run(env->worker);
    /* stopped while still connecting, the run ends with DURO_ECONN */
    if (rc && !atomic_load(&env->stopping))
        duro_warn("TESTENV worker ended rc=%d", rc);
    return NULL;
}

int duro_testenv_start(duro_testenv *env)
{
    if (env->worker_running || env->sched) return DURO_EINVAL;
    /* with the test clock set, it takes due times from this process's
     * clock, not Redis' TIME (clock.h) */
    duro_scheduler_opts so = {.redis_url = env->redis.url,
                              .scan_interval_ms = SCAN_INTERVAL_MS};
    char err[256] = "";
    int rc = duro_scheduler_new(&env->sched, &so);
    if (rc == 0) rc = duro_scheduler_setup(env->sched, err, sizeof(err));
    if (rc == 0) rc = duro_scheduler_start_thread(env->sched);
    /* connected before the clock first moves, so that no wake is lost */
    int64_t until = testing__real_mono_ms() + START_WAIT_MS;
    while (rc == 0 && !duro_scheduler_ready(env->sched))
        if (testing__real_mono_ms() < until)
            nap();
        else
            rc = DURO_ECONN;
    if (rc) {
        duro_error("TESTENV scheduler: %s", err[0] ? err : "not ready");
        return rc;
    }
    rc = duro_client_new(&env->client, env->redis.url, err, sizeof(err));
    if (rc) {
        duro_error("TESTENV client: %s", err);
        return rc;
    }
    if (pthread_create(&env->worker_thread, NULL, worker_main, env) != 0)
        return DURO_ENOMEM;
    env->worker_running = true;
    return 0;
}

void duro_testenv_free(duro_testenv *env)
{
    if (!env) return;
    atomic_store(&env->stopping, true);
    if (env->worker_running) {
        duro_worker_stop(env->worker);
        pthread_join(env->worker_thread, NULL);
    }
    duro_worker_free(env->worker);
    duro_scheduler_free(env->sched); /* stops its thread */
    duro_client_free(env->client);
    if (env->ctl) redisFree(env->ctl);
    testing__redis_stop(&env->redis);
    testing__clock_uninstall();
    free(env);
    atomic_store(&live, 0);
}

/* ---- Accessors ---- */

duro_worker *duro_testenv_worker(duro_testenv *env)
{
    return env->worker;
}

duro_client *duro_testenv_client(duro_testenv *env)
{
    return env->client;
}

const char *duro_testenv_redis_url(const duro_testenv *env)
{
    return env->redis.url;
}

int64_t duro_testenv_now_ms(const duro_testenv *env)
{
    return duro_now_ms();
}

/* ---- Waits ---- */

/* wait_until: idle steps towards target (see testing__idle_step) until
 * the clock has reached it with nothing left to do, or, target -1, until
 * done(arg) says so (looked at while busy too). */
static int wait_until(duro_testenv *env, int64_t target,
                      int (*done)(duro_testenv *, void *), void *arg)
{
    int64_t until = testing__real_mono_ms() + env->wait_ms;
    char why[256] = "";
    do {
        if (done) {
            int d = done(env, arg);
            if (d) return d < 0 ? d : 0;
        }
        int idle = 0;
        bool moved = false;
        int64_t now = 0;
        why[0] = '\0'; /* what keeps it busy now, not some step ago */
        int rc = testing__idle_step(env->ctl, target, &idle, &now, &moved, why,
                                    sizeof(why));
        if (rc) return rc;
        if (!done && idle && now >= target) return 0;
        if (!moved) nap(); /* after a jump, look again at once */
    } while (testing__real_mono_ms() < until);
    if (why[0])
        duro_warn("TESTENV TIMEOUT wait=%lldms busy=%s",
                  (long long)env->wait_ms, why);
    else /* only a result's wait ends idle: nothing comes by itself */
        duro_warn("TESTENV TIMEOUT wait=%lldms idle: no timer left to move "
                  "the clock to; the workflow waits for a signal, an update "
                  "or a cancel",
                  (long long)env->wait_ms);
    return DURO_ETIMEDOUT;
}

int duro_testenv_settle(duro_testenv *env)
{
    return wait_until(env, 0, NULL, NULL);
}

int duro_testenv_sleep(duro_testenv *env, int64_t ms)
{
    int64_t now = duro_now_ms();
    if (ms < 0 || ms > CLOCK_MAX_MS - now) return DURO_EINVAL;
    return wait_until(env, now + ms, NULL, NULL);
}

/* result_wait: where duro_testenv_result keeps its workflow and answer. */
typedef struct {
    const char *id;
    cJSON **out;
} result_wait;

/* closed: 1 once the workflow is closed (*out set), 0 while it runs, a
 * DURO_E* when it cannot be read. */
static int closed(duro_testenv *env, void *arg)
{
    result_wait *w = arg;
    cJSON *d = NULL;
    int rc = duro_client_describe(env->client, w->id, &d);
    if (rc) return rc;
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(d, "status");
    bool running = !cJSON_IsString(st) || !strcmp(st->valuestring, "RUNNING");
    cJSON_Delete(d);
    if (running) return 0;
    rc = duro_client_result(env->client, w->id, env->wait_ms, w->out);
    return rc ? rc : 1;
}

int duro_testenv_result(duro_testenv *env, const char *workflow_id, cJSON **out)
{
    *out = NULL;
    result_wait w = {workflow_id, out};
    return wait_until(env, -1, closed, &w);
}
