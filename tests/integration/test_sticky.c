/* test_sticky.c: sticky execution. A run's next workflow task goes to the
 * worker that holds it in its cache; when that worker is gone (killed,
 * stopped, restarted) the task still runs exactly once, elsewhere or on
 * the restarted worker. */
#include <criterion/criterion.h>
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

TestSuite(sticky, .init = setup, .fini = duro_test_fini, .timeout = 120);

#define QUEUE "bench"

/* worker starts a bench-worker named `name` whose runs' tasks wait
 * `sticky` for it ("off": no sticky execution). */
static pid_t worker(const char *name, const char *sticky)
{
    return duro_test_spawn(&h, "bench-worker", "--identity", name,
                           "--sticky-schedule-to-start", sticky, NULL);
}

/* hash_field: a field of workflow id's hash ("" when absent). */
static void hash_field(const char *id, const char *field, char *out,
                       size_t size)
{
    char key[DURO_KEY_MAX];
    snprintf(key, sizeof(key), "duro:{p%d}:wf:%s",
             duro_partition_of(id, DURO_DEFAULT_PARTITIONS), id);
    redisContext *r = duro_test_redis(&h);
    redisReply *rep = redisCommand(r, "HGET %s %s", key, field);
    snprintf(out, size, "%s",
             rep && rep->type == REDIS_REPLY_STRING ? rep->str : "");
    freeReplyObject(rep);
    redisFree(r);
}

static bool field_is(const char *id, const char *field, const char *want)
{
    char v[256];
    hash_field(id, field, v, sizeof(v));
    return strcmp(v, want) == 0;
}

static int events(duro_client *c, const char *id, const char *type)
{
    cJSON *hist = NULL;
    int n = 0;
    if (duro_client_history(c, id, NULL, &hist) == 0)
        n = duro_test_count_events(hist, type);
    cJSON_Delete(hist);
    return n;
}

/* wait_stopped stops worker pid with SIGTERM and waits for its exit. */
static void wait_stopped(pid_t pid)
{
    duro_test_kill(&h, pid, SIGTERM);
    cr_assert(duro_test_wait_until(!duro_test_alive(&h, pid), 20000),
              "worker %d did not stop", (int)pid);
}

/* expect_once: the workflow completed with {"done":n} and each of its
 * steps is in the history once. */
static void expect_once(duro_client *c, const char *id, int n, int sleeps)
{
    cJSON *d = duro_test_result(c, id, 1000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED", "%s", id);
    cJSON_Delete(d);
    cr_assert_eq(events(c, id, "ActivityCompleted"), n, "%s", id);
    cr_assert_eq(events(c, id, "ActivityScheduled"), n, "%s", id);
    cr_assert_eq(events(c, id, "TimerFired"), sleeps, "%s", id);
}

/* run_two_workers runs N workflows with activities and durable sleeps on
 * two workers with the given sticky setting; returns the tasks that had
 * to replay a run whose code had run before (misses minus first tasks)
 * and the cache hits in *hits, the tasks read from sticky streams in
 * *via_sticky. */
static long run_two_workers(const char *sticky, long *hits, long *via_sticky)
{
    enum { N = 30 };
    duro_test_spawn(&h, "duro-scheduler", NULL);
    pid_t a = worker("wa", sticky), b = worker("wb", sticky);
    /* both reading before the first start: a worker still starting (slow
     * under ASan) leaves every task to the other, and "off" then shows no
     * replay to tell sticky execution apart by */
    duro_test_wait_up(&h, a, 20000);
    duro_test_wait_up(&h, b, 20000);
    duro_client *c = duro_test_client(&h);
    char id[32];
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "hold-%d", i);
        duro_test_start(c, id, "bench", QUEUE,
                        "{\"activities\":4,\"sleep\":\"20ms\"}", 0);
    }
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "hold-%d", i);
        cJSON *d = duro_test_result(c, id, 30000);
        cJSON_Delete(d);
        expect_once(c, id, 4, 3);
    }
    wait_stopped(a);
    wait_stopped(b);
    long misses = 0, first = 0;
    *hits = *via_sticky = 0;
    pid_t ws[] = {a, b};
    for (int i = 0; i < 2; i++) {
        misses += duro_test_stopped_count(&h, ws[i], "cache_misses");
        first += duro_test_stopped_count(&h, ws[i], "first_tasks");
        *hits += duro_test_stopped_count(&h, ws[i], "cache_hits");
        *via_sticky += duro_test_stopped_count(&h, ws[i], "sticky_tasks");
    }
    duro_client_free(c);
    return misses - first;
}

Test(sticky, consecutive_tasks_go_to_the_worker_that_holds_the_run)
{
    long hits, via_sticky;
    long replays = run_two_workers("5s", &hits, &via_sticky);
    cr_log_info("two sticky workers: %ld cache hits, %ld replays", hits,
                replays);
    cr_assert_geq(via_sticky, 90L,
                  "only %ld tasks came through sticky "
                  "streams",
                  via_sticky);
    /* each workflow's 3 timers and the completions of activities run by
     * the other worker come back to the holder as cache hits */
    cr_assert_eq(replays, 0, "%ld workflow tasks replayed a cached run",
                 replays);
    cr_assert_gt(hits, 30 * 3 - 1, "only %ld cache hits", hits);
    duro_test_finish(&h);
}

/* Without sticky execution, the same run replays: this is what the test
 * above guards against (and would fail without the sticky streams). */
Test(sticky, without_sticky_streams_tasks_replay_elsewhere)
{
    long hits, via_sticky;
    long replays = run_two_workers("off", &hits, &via_sticky);
    cr_assert_eq(via_sticky, 0);
    cr_log_info("two workers, sticky off: %ld cache hits, %ld replays", hits,
                replays);
    cr_assert_gt(replays, 0, "no replays: the test cannot tell sticky apart");
    duro_test_finish(&h);
}

/* wait_sticky_sleeping: workflow id is held by worker `name` and sleeping
 * (its timer started, the next task not yet due). */
static void wait_sticky_sleeping(duro_client *c, const char *id,
                                 const char *name)
{
    cr_assert(duro_test_wait_until(events(c, id, "TimerStarted") == 1 &&
                                       field_is(id, "sticky", name),
                                   15000),
              "%s never slept on %s", id, name);
}

Test(sticky, killed_sticky_worker_its_task_moves_after_the_timeout)
{
    duro_test_spawn(&h, "duro-scheduler", NULL);
    pid_t a = worker("wa", "1s");
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "kill-1", "bench", QUEUE,
                    "{\"activities\":2,\"sleep\":\"2s\"}", 0);
    wait_sticky_sleeping(c, "kill-1", "wa");
    worker("wb", "1s");
    duro_test_kill(&h, a, SIGKILL);
    /* the timer fires ~2s after it started and its task goes to wa's
     * stream; after 1s the scheduler moves it to the shared one: done
     * long before the 10s workflow task timeout could have rescued it */
    int64_t t0 = duro_test_mono_ms();
    cJSON *d = duro_test_result(c, "kill-1", 15000);
    int64_t took = duro_test_mono_ms() - t0;
    cJSON_Delete(d);
    cr_log_info("completed %lld ms after the kill", (long long)took);
    cr_assert_lt(took, 2000 + 1000 + 3000, "took %lld ms", (long long)took);
    expect_once(c, "kill-1", 2, 1);
    cr_assert(field_is("kill-1", "wft_sticky", ""), "task left sticky");
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(sticky, graceful_stop_hands_the_runs_back)
{
    duro_test_spawn(&h, "duro-scheduler", NULL);
    /* a minute: only the hand-back can move its task in time */
    pid_t a = worker("wa", "60s");
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "stop-1", "bench", QUEUE,
                    "{\"activities\":2,\"sleep\":\"1500ms\"}", 0);
    wait_sticky_sleeping(c, "stop-1", "wa");
    wait_stopped(a);
    cr_assert(field_is("stop-1", "sticky", ""),
              "the stopped worker is still the run's sticky worker");
    cr_assert(duro_test_log_contains(&h, a, "STICKY-HANDBACK runs=1"));
    worker("wb", "60s");
    cJSON *d = duro_test_result(c, "stop-1", 15000);
    cJSON_Delete(d);
    expect_once(c, "stop-1", 2, 1);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* xlen_pending: entries in a stream, and entries pending in its group. */
static void xlen_pending(redisContext *r, const char *key, long long *len,
                         long long *pending)
{
    redisReply *rep = redisCommand(r, "XLEN %s", key);
    *len = rep && rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
    freeReplyObject(rep);
    rep = redisCommand(r, "XPENDING %s %s", key, DURO_GROUP);
    *pending = rep && rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 &&
                       rep->element[0]->type == REDIS_REPLY_INTEGER
                   ? rep->element[0]->integer
                   : -1;
    freeReplyObject(rep);
}

Test(sticky, stale_sticky_entries_after_a_restart_are_harmless)
{
    duro_test_spawn(&h, "duro-scheduler", NULL);
    pid_t a = worker("wa", "5s");
    duro_client *c = duro_test_client(&h);
    const char *id = "restart-1";
    duro_test_start(c, id, "bench", QUEUE,
                    "{\"activities\":2,\"sleep\":\"1500ms\"}", 0);
    wait_sticky_sleeping(c, id, "wa");
    duro_test_kill(&h, a, SIGKILL);
    /* a task of an earlier token, as a crash can leave it behind, and one
     * that was delivered to the dead process and never acknowledged */
    char key[DURO_KEY_MAX], run[64];
    duro_key_wft_sticky(
        key, sizeof(key), DURO_KEYSPACE_DEFAULT(DURO_DEFAULT_PARTITIONS),
        duro_partition_of(id, DURO_DEFAULT_PARTITIONS), QUEUE, "wa");
    hash_field(id, "run", run, sizeof(run));
    redisContext *r = duro_test_redis(&h);
    redisReply *rep =
        redisCommand(r, "XADD %s * id %s run %s token 1", key, id, run);
    cr_assert(rep && rep->type == REDIS_REPLY_STRING);
    freeReplyObject(rep);
    rep = redisCommand(r, "XADD %s * id %s run %s token 2", key, id, run);
    freeReplyObject(rep);
    char entry[64], token[32];
    duro_test_claim_task(r, key, "wa", "token", entry, sizeof(entry), token,
                         sizeof(token));
    /* the same name again: it reads the leftovers and the real task */
    worker("wa", "5s");
    cJSON *d = duro_test_result(c, id, 20000);
    cJSON_Delete(d);
    expect_once(c, id, 2, 1);
    long long len, pending;
    cr_assert(duro_test_wait_until(
                  (xlen_pending(r, key, &len, &pending), len == 0), 5000),
              "%lld entries left in %s", len, key);
    cr_log_info("left in the sticky stream: %lld entries, %lld pending", len,
                pending);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(sticky, an_evicted_run_is_sticky_to_no_one)
{
    duro_test_spawn(&h, "duro-scheduler", NULL);
    duro_test_spawn(&h, "bench-worker", "--identity", "wa",
                    "--sticky-schedule-to-start", "60s", "--cache-size", "1",
                    NULL);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "evict-1", "bench", QUEUE,
                    "{\"activities\":2,\"sleep\":\"2s\"}", 0);
    wait_sticky_sleeping(c, "evict-1", "wa");
    /* a second run takes the cache's one place */
    duro_test_start(c, "evict-2", "bench", QUEUE,
                    "{\"activities\":2,\"sleep\":\"2s\"}", 0);
    wait_sticky_sleeping(c, "evict-2", "wa");
    cr_assert(duro_test_wait_until(field_is("evict-1", "sticky", ""), 5000),
              "the evicted run is still sticky to wa");
    /* its timer's task goes to the shared stream, not to wait a minute */
    for (int i = 1; i <= 2; i++) {
        char id[16];
        snprintf(id, sizeof(id), "evict-%d", i);
        cJSON *d = duro_test_result(c, id, 15000);
        cJSON_Delete(d);
        expect_once(c, id, 2, 1);
    }
    duro_client_free(c);
    duro_test_finish(&h);
}

/* xlen: entries in a stream (-1: an error). */
static long long xlen(redisContext *r, const char *key)
{
    long long len, pending;
    xlen_pending(r, key, &len, &pending);
    return len;
}

Test(sticky, a_taken_task_waits_for_the_task_timeout_before_it_moves)
{
    duro_test_spawn(&h, "duro-scheduler", NULL);
    pid_t a = worker("wa", "300ms");
    duro_client *c = duro_test_client(&h);
    const char *id = "taken-1";
    /* workflow task timeout 2s */
    duro_test_start(c, id, "bench", QUEUE,
                    "{\"activities\":2,\"sleep\":\"500ms\"}", 2000);
    wait_sticky_sleeping(c, id, "wa");
    duro_test_kill(&h, a, SIGKILL);
    char key[DURO_KEY_MAX];
    duro_key_wft_sticky(
        key, sizeof(key), DURO_KEYSPACE_DEFAULT(DURO_DEFAULT_PARTITIONS),
        duro_partition_of(id, DURO_DEFAULT_PARTITIONS), QUEUE, "wa");
    redisContext *r = duro_test_redis(&h);
    /* the fired timer's task lands in the dead worker's stream; taken by
     * its name as if it had read it just before dying */
    cr_assert(duro_test_wait_until(xlen(r, key) == 1, 5000));
    char entry[64], token[32];
    duro_test_claim_task(r, key, "wa", "token", entry, sizeof(entry), token,
                         sizeof(token));
    int64_t t0 = duro_test_mono_ms();
    worker("wb", "300ms");
    cJSON *d = duro_test_result(c, id, 15000);
    cJSON_Delete(d);
    int64_t took = duro_test_mono_ms() - t0;
    cr_log_info("moved and completed %lld ms after it was taken",
                (long long)took);
    /* not at the 300ms schedule-to-start: it had started; at the 2s task
     * timeout */
    cr_assert_geq(took, 1700, "moved after %lld ms", (long long)took);
    cr_assert_lt(took, 6000, "moved after %lld ms", (long long)took);
    expect_once(c, id, 2, 1);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}
