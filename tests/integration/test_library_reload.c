/* test_library_reload.c: what running components do when the Functions
 * library under them goes away or is not Duro's any more. A library
 * flushed and deleted again and again under a burst (two workers, a
 * scheduler and the client all reloading at once, their plain LOADs
 * meeting "already exists") loses and repeats nothing; a library named
 * duro that is not Duro's (no duro_version) is replaced by a connected
 * worker's reload, as the connect-time check and the synchronous reload
 * replace it, instead of every call of that worker failing until it
 * reconnects. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/lua.h"
#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(library_reload, .init = setup, .fini = duro_test_fini,
          .timeout = 120);

/* version: what duro_version answers on r, or -1 when it fails (the
 * library missing, or not Duro's). */
static long long version(redisContext *r)
{
    redisReply *rep = redisCommand(r, "FCALL duro_version 0");
    cr_assert(rep, "no reply");
    long long v = rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
    freeReplyObject(rep);
    return v;
}

static void init(void)
{
    duro_test_output o;
    duro_test_run(&h, &o, 10000, "duro", "operator", "init", NULL);
    cr_assert_eq(o.exit_code, 0, "init: %s", o.err);
    duro_test_output_free(&o);
}

/* completed: runs visibility shows COMPLETED (-1 on error). */
static int64_t completed(duro_client *c)
{
    int64_t n = -1;
    if (duro_client_count(c, "ExecutionStatus = 'Completed'", &n) != 0)
        return -1;
    return n;
}

/* fault: the library goes, by FUNCTION FLUSH (odd n) or DELETE. */
static void fault(redisContext *r, int n)
{
    redisReply *rep = duro_test_cmd(r, "FUNCTION", n % 2 ? "FLUSH" : "DELETE",
                                    n % 2 ? NULL : "duro", NULL);
    freeReplyObject(rep); /* DELETE of a library not there: an error */
}

/* load_calls: FUNCTION LOAD calls Redis ran, and how many failed
 * ("already exists": another component had loaded it first). */
static void load_calls(redisContext *r, long long *calls, long long *failed)
{
    redisReply *rep = duro_test_cmd(r, "INFO", "commandstats", NULL);
    const char *p =
        rep->str ? strstr(rep->str, "cmdstat_function|load:") : NULL;
    *calls = *failed = 0;
    if (p && (p = strstr(p, "calls="))) *calls = strtoll(p + 6, NULL, 10);
    if (p && (p = strstr(p, "failed_calls=")))
        *failed = strtoll(p + 13, NULL, 10);
    freeReplyObject(rep);
}

Test(library_reload, flushes_under_a_burst_lose_and_repeat_nothing)
{
    enum { N = 300, BATCH = 10, TAIL = 50 };
    init();
    duro_test_spawn_up(&h, 10000, "duro-scheduler", "--scan-interval", "100ms",
                       NULL);
    pid_t w1 = duro_test_spawn_up(&h, 10000, "bench-worker", NULL);
    pid_t w2 = duro_test_spawn_up(&h, 10000, "bench-worker", NULL);
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    /* the library goes after every BATCH starts (the client's next start
     * reloads it, racing the workers and the scheduler), then TAIL times
     * more, 20 ms apart, while the runs go on */
    int faults = 0;
    for (int i = 0; i < N; i++) {
        char id[32];
        snprintf(id, sizeof(id), "fl-%d", i);
        duro_test_start(c, id, "bench", "bench",
                        "{\"activities\":3,\"sleep\":\"300ms\"}", 0);
        if (i % BATCH == BATCH - 1) fault(r, faults++);
    }
    for (int i = 0; i < TAIL; i++) {
        fault(r, faults++);
        duro_test_sleep_ms(20);
    }
    long long calls, failed;
    load_calls(r, &calls, &failed);
    /* a Function call of the client: it reloads the library if the last
     * fault left it missing */
    int64_t done = completed(c);
    cr_log_info("%d faults, %lld FUNCTION LOADs (%lld failed), %lld of %d "
                "completed after them",
                faults, calls, failed, (long long)done, N);
    for (int i = 0; i < N; i++) {
        char id[32];
        snprintf(id, sizeof(id), "fl-%d", i);
        cJSON *d = duro_test_result(c, id, 60000);
        cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED", "%s", id);
        cJSON_Delete(d);
        cJSON *hist = duro_test_history(c, id);
        cr_assert_eq(duro_test_count_events(hist, "ActivityScheduled"), 3, "%s",
                     id);
        cr_assert_eq(duro_test_count_events(hist, "ActivityCompleted"), 3, "%s",
                     id);
        cr_assert_eq(duro_test_count_events(hist, "WorkflowCompleted"), 1, "%s",
                     id);
        duro_test_assert_each_activity_once(hist, id, 3);
        cJSON_Delete(hist);
    }
    /* ours, not an older or foreign copy */
    cr_assert_eq(version(r), duro_lua_version());
    cr_assert(duro_test_alive(&h, w1) && duro_test_alive(&h, w2),
              "a worker died");
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(library_reload, a_connected_worker_replaces_a_library_not_duros)
{
    char log[PATH_MAX + 16];
    snprintf(log, sizeof(log), "%s/executions", h.dir);
    setenv("DURO_TEST_LOG", log, 1);
    init();
    pid_t w = duro_test_spawn_up(&h, 10000, "duro-test-worker", NULL);
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    duro_test_start(c, "fo-1", "hold", "test",
                    "{\"ms\":3000,\"timeoutMs\":10000}", 0);
    /* the activity runs (3 s): its completion is the worker's next call */
    cr_assert(
        duro_test_wait_until(duro_test_count_lines(log, "hold ") == 1, 10000));
    redisReply *rep = duro_test_cmd(
        r, "FUNCTION", "LOAD", "REPLACE",
        "#!lua name=duro\n"
        "redis.register_function('hello', function() return 'hi' end)\n",
        NULL);
    cr_assert(rep->type != REDIS_REPLY_ERROR, "%s", rep->str);
    freeReplyObject(rep);
    /* nothing but the worker calls a Function now */
    cr_assert(duro_test_wait_until(version(r) == duro_lua_version(), 10000),
              "the worker left the library that is not Duro's in place");
    cr_assert(duro_test_log_contains(&h, w, "FUNCTIONS FOREIGN"));
    /* the completion that met the foreign library waits for ours and is
     * sent again then: the attempt completes, it does not time out and
     * run again (a scheduler would retry it) */
    duro_test_spawn_up(&h, 10000, "duro-scheduler", "--scan-interval", "100ms",
                       NULL);
    cJSON *d = duro_test_result(c, "fo-1", 30000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cJSON_Delete(d);
    cr_assert_eq(duro_test_count_lines(log, "hold "), 1,
                 "the activity ran again: its completion was lost");
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}
