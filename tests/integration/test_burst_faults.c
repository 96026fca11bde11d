/* test_burst_faults.c: a burst of workflows through the hot path (eager
 * activity dispatch, commits and completions pipelined on one connection)
 * while the operator breaks things under it: the worker's connections
 * killed (CLIENT KILL) again and again mid-pipeline, Redis restarted from
 * its append-only file (and slow to load it: LOADING), the worker killed
 * with SIGKILL, Redis refusing calls (OOM under maxmemory, BUSY behind a
 * long script) and each key of a run the wrong type in turn. Every
 * workflow completes, each of its activities is recorded once, and no
 * process dies (an ASan build: no leak either). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>
#include <signal.h>
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

TestSuite(burst_faults, .init = setup, .fini = duro_test_fini, .timeout = 90);

/* burst_start starts `bench` workflows <prefix>-<from> to <prefix>-<to - 1>
 * (3 activities, a 300 ms durable sleep between two: every run stays in
 * flight for a while, so a fault finds hundreds mid-way), with a workflow
 * task timeout of task_ms. */
static void burst_start(duro_client *c, const char *prefix, int from, int to,
                        int64_t task_ms)
{
    for (int i = from; i < to; i++) {
        char id[64];
        snprintf(id, sizeof(id), "%s-%d", prefix, i);
        duro_test_start(c, id, "bench", "bench",
                        "{\"activities\":3,\"sleep\":\"300ms\"}", task_ms);
    }
}

/* completed: how many runs visibility shows COMPLETED (-1 on error). */
static int64_t completed(duro_client *c)
{
    int64_t n = -1;
    if (duro_client_count(c, "ExecutionStatus = 'Completed'", &n) != 0)
        return -1;
    return n;
}

/* burst_check: every workflow of the burst COMPLETED with {"done":3}, its
 * history with three activities scheduled and completed once each (seq 1
 * to 3) and one WorkflowCompleted. */
static void burst_check(duro_client *c, const char *prefix, int n)
{
    for (int i = 0; i < n; i++) {
        char id[64];
        snprintf(id, sizeof(id), "%s-%d", prefix, i);
        cJSON *d = duro_test_result(c, id, 30000);
        cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED", "%s", id);
        cr_assert_eq(duro_test_num(cJSON_GetObjectItem(d, "result"), "done", 0),
                     3, "%s", id);
        cJSON_Delete(d);
        cJSON *hist = duro_test_history(c, id);
        cr_assert_eq(duro_test_count_events(hist, "ActivityScheduled"), 3, "%s",
                     id);
        cr_assert_eq(duro_test_count_events(hist, "ActivityCompleted"), 3, "%s",
                     id);
        cr_assert_eq(duro_test_count_events(hist, "TimerFired"), 2, "%s", id);
        cr_assert_eq(duro_test_count_events(hist, "WorkflowCompleted"), 1, "%s",
                     id);
        duro_test_assert_each_activity_once(hist, id, 3);
        cJSON_Delete(hist);
    }
}

/* midway: the fault comes mid-burst: at least a twentieth of the n runs
 * started so far are still running. */
static void midway(duro_client *c, int n)
{
    int64_t done = completed(c);
    cr_log_info("%lld of %d completed at the fault", (long long)done, n);
    cr_assert(done >= 0 && done < n - n / 20,
              "the burst was over before the fault");
}

/* others: the connections to the server but r's, blocked ones included
 * (CLIENT KILL TYPE normal takes them all), subscribers excluded. */
static int others(redisContext *r)
{
    redisReply *l = duro_test_cmd(r, "CLIENT", "LIST", "TYPE", "normal", NULL);
    int n = -1;
    for (const char *p = l->str; p && (p = strstr(p, "id=")); p++)
        n++;
    freeReplyObject(l);
    return n;
}

Test(burst_faults, connections_killed_mid_pipeline_lose_and_repeat_nothing)
{
    enum { ROUNDS = 6, PER = 300, N = ROUNDS * PER };
    pid_t sched = duro_test_spawn_up(&h, 10000, "duro-scheduler",
                                     "--scan-interval", "100ms", NULL);
    pid_t bw = duro_test_spawn_up(&h, 10000, "bench-worker", NULL);
    redisContext *r = duro_test_redis(&h);
    for (int round = 0; round < ROUNDS; round++) {
        duro_client *c = duro_test_client(&h);
        burst_start(c, "ck", round * PER, (round + 1) * PER, 2000);
        if (round == ROUNDS / 2) midway(c, (round + 1) * PER);
        duro_client_free(c);
        /* every normal connection but this one: the worker's commits and
         * completions in flight, its reads, the scheduler's */
        /* the worker and the scheduler connected again (backoff) */
        cr_assert(duro_test_wait_until(others(r) >= 5, 10000),
                  "round %d: %d connections", round, others(r));
        redisReply *k =
            duro_test_cmd(r, "CLIENT", "KILL", "TYPE", "normal", NULL);
        cr_assert_eq(k->type, REDIS_REPLY_INTEGER);
        cr_assert_geq(k->integer, 5, "round %d: %lld killed", round,
                      k->integer);
        freeReplyObject(k);
    }
    redisFree(r);
    duro_client *c = duro_test_client(&h);
    burst_check(c, "ck", N);
    cr_assert(duro_test_alive(&h, bw), "the bench worker died");
    cr_assert(duro_test_alive(&h, sched), "the scheduler died");
    duro_client_free(c);
    duro_test_finish(&h);
}

/* aof_on turns the append-only file on (appendfsync fsync) and waits for
 * its first rewrite, which writes what the server holds. */
static void aof_on(const char *fsync)
{
    redisContext *r = duro_test_redis(&h);
    duro_test_cmd_ok(r, "CONFIG", "SET", "appendonly", "yes", NULL);
    duro_test_cmd_ok(r, "CONFIG", "SET", "appendfsync", fsync, NULL);
    cr_assert(duro_test_wait_until(
                  ({
                      redisReply *i = redisCommand(r, "INFO persistence");
                      bool idle = i && i->str &&
                                  strstr(i->str, "aof_rewrite_in_progress:0") &&
                                  strstr(i->str, "aof_rewrite_scheduled:0");
                      freeReplyObject(i);
                      idle;
                  }),
                  5000),
              "the AOF was never written");
    redisFree(r);
}

/* restart_mid_burst: a burst of n, Redis stopped by sig mid-way and
 * started again from its AOF (appendfsync fsync); returns a new client. */
static duro_client *restart_mid_burst(const char *prefix, int n, int sig,
                                      const char *fsync, pid_t procs[2])
{
    aof_on(fsync);
    procs[0] = duro_test_spawn_up(&h, 10000, "duro-scheduler",
                                  "--scan-interval", "100ms", NULL);
    procs[1] = duro_test_spawn_up(&h, 10000, "bench-worker", NULL);
    duro_client *c = duro_test_client(&h);
    burst_start(c, prefix, 0, n, 2000);
    midway(c, n);
    duro_client_free(c);
    duro_test_redis_restart(
        &h, sig, 300, "yes",
        (const char *const[]){"--appendfsync", fsync, NULL});
    return duro_test_client(&h);
}

Test(burst_faults, redis_restarted_from_its_aof_mid_burst)
{
    enum { N = 1000 };
    pid_t procs[2];
    /* a clean stop: everything Redis answered is in the file */
    duro_client *c = restart_mid_burst("rr", N, SIGTERM, "everysec", procs);
    burst_check(c, "rr", N);
    cr_assert(duro_test_alive(&h, procs[1]), "the bench worker died");
    cr_assert(duro_test_alive(&h, procs[0]), "the scheduler died");
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(burst_faults, redis_crashed_mid_burst_with_every_write_synced)
{
    enum { N = 1000 };
    pid_t procs[2];
    /* SIGKILL, appendfsync always: what Redis answered is on disk */
    duro_client *c = restart_mid_burst("rk", N, SIGKILL, "always", procs);
    burst_check(c, "rk", N);
    cr_assert(duro_test_alive(&h, procs[1]), "the bench worker died");
    cr_assert(duro_test_alive(&h, procs[0]), "the scheduler died");
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(burst_faults, worker_killed_mid_burst_then_restarted)
{
    enum { N = 1000 };
    duro_test_spawn_up(&h, 10000, "duro-scheduler", "--scan-interval", "100ms",
                       NULL);
    pid_t w1 = duro_test_spawn_up(&h, 10000, "bench-worker", NULL);
    duro_client *c = duro_test_client(&h);
    burst_start(c, "kw", 0, N, 1000);
    midway(c, N);
    duro_test_kill(&h, w1, SIGKILL);
    pid_t w2 = duro_test_spawn_up(&h, 10000, "bench-worker", NULL);
    burst_check(c, "kw", N);
    cr_assert(duro_test_alive(&h, w2), "the restarted worker died");
    duro_client_free(c);
    duro_test_finish(&h);
}

/* ---- Redis answering errors mid-burst ---- */

/* error_count: how many replies of error kind `word` (OOM, BUSY,
 * LOADING) Redis sent since it started (INFO errorstats). */
static long long error_count(redisContext *r, const char *word)
{
    redisReply *rep = duro_test_cmd(r, "INFO", "errorstats", NULL);
    long long n = 0;
    char key[64];
    snprintf(key, sizeof(key), "errorstat_%s:count=", word);
    const char *p = rep->str ? strstr(rep->str, key) : NULL;
    if (p) n = strtoll(p + strlen(key), NULL, 10);
    freeReplyObject(rep);
    return n;
}

/* spell_burst starts a burst of n, runs spell (which makes Redis refuse
 * calls for a while) mid-way, and checks that every run completed once
 * and that Redis refused something (`word` errors). */
static void spell_burst(const char *prefix, int n, const char *word,
                        void (*spell)(redisContext *r))
{
    pid_t sched = duro_test_spawn_up(&h, 10000, "duro-scheduler",
                                     "--scan-interval", "100ms", NULL);
    pid_t bw = duro_test_spawn_up(&h, 10000, "bench-worker", NULL);
    duro_client *c = duro_test_client(&h);
    burst_start(c, prefix, 0, n, 2000);
    midway(c, n);
    redisContext *r = duro_test_redis(&h);
    long long before = error_count(r, word);
    spell(r);
    cr_assert_gt(error_count(r, word), before,
                 "the spell refused nothing: the test proves nothing");
    redisFree(r);
    burst_check(c, prefix, n);
    cr_assert(duro_test_alive(&h, bw), "the bench worker died");
    cr_assert(duro_test_alive(&h, sched), "the scheduler died");
    duro_client_free(c);
    duro_test_finish(&h);
}

/* oom: every call that may write refused for 1.5 s (maxmemory 1,
 * noeviction): eager commits, completions, timer fires. */
static void oom(redisContext *r)
{
    duro_test_cmd_ok(r, "CONFIG", "SET", "maxmemory-policy", "noeviction",
                     NULL);
    duro_test_cmd_ok(r, "CONFIG", "SET", "maxmemory", "1", NULL);
    duro_test_sleep_ms(1500);
    duro_test_cmd_ok(r, "CONFIG", "SET", "maxmemory", "0", NULL);
}

Test(burst_faults, out_of_memory_spell_mid_burst)
{
    spell_burst("om", 1000, "OOM", oom);
}

/* busy: a script spinning 1.2 s, every other client answered BUSY. */
static void busy(redisContext *r)
{
    duro_test_cmd_ok(r, "CONFIG", "SET", "busy-reply-threshold", "50", NULL);
    redisReply *rep = redisCommand(
        r, "EVAL %s 0 1200",
        "local function ms() local t = redis.call('TIME') "
        "return t[1] * 1000 + t[2] / 1000 end "
        "local s = ms() while ms() - s < tonumber(ARGV[1]) do end return 1");
    cr_assert(rep && rep->type == REDIS_REPLY_INTEGER, "%s",
              rep ? rep->str : r->errstr);
    freeReplyObject(rep);
}

Test(burst_faults, busy_script_spell_mid_burst)
{
    spell_burst("bz", 1000, "BUSY", busy);
}

/* Redis restarted mid-burst from an AOF whose base holds the burst's keys,
 * each loaded slowly (key-load-delay): every connection that comes back
 * meanwhile is answered LOADING. */
Test(burst_faults, loading_after_a_restart_mid_burst)
{
    enum { N = 1000 };
    redisContext *r = duro_test_redis(&h);
    duro_test_cmd_ok(r, "CONFIG", "SET", "appendonly", "yes", NULL);
    pid_t sched = duro_test_spawn_up(&h, 10000, "duro-scheduler",
                                     "--scan-interval", "100ms", NULL);
    pid_t bw = duro_test_spawn_up(&h, 10000, "bench-worker", NULL);
    duro_client *c = duro_test_client(&h);
    burst_start(c, "ld", 0, N, 2000);
    midway(c, N);
    duro_client_free(c);
    /* the keys into the AOF's base (an RDB), which key-load-delay slows */
    redisReply *rep = redisCommand(r, "BGREWRITEAOF");
    freeReplyObject(rep);
    cr_assert(duro_test_wait_until(
                  ({
                      redisReply *i = redisCommand(r, "INFO persistence");
                      bool idle = i && i->str &&
                                  strstr(i->str, "aof_rewrite_in_progress:0") &&
                                  strstr(i->str, "aof_rewrite_scheduled:0");
                      freeReplyObject(i);
                      idle;
                  }),
                  10000),
              "the AOF was never rewritten");
    redisFree(r);
    duro_test_redis_restart(
        &h, SIGTERM, 100, "yes",
        (const char *const[]){"--key-load-delay", "300", NULL});
    /* a worker and a scheduler that start while Redis is still loading
     * (an operator restarting everything at once) */
    pid_t bw2 = duro_test_spawn(&h, "bench-worker", NULL);
    pid_t sched2 =
        duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    r = duro_test_redis(&h);
    cr_assert(duro_test_wait_until(({
                                       redisReply *p = redisCommand(r, "PING");
                                       bool up =
                                           p && p->type == REDIS_REPLY_STATUS;
                                       freeReplyObject(p);
                                       up;
                                   }),
                                   20000),
              "Redis never finished loading");
    cr_assert_gt(error_count(r, "LOADING"), 0,
                 "nothing met LOADING: the test proves nothing");
    duro_test_cmd_ok(r, "CONFIG", "SET", "key-load-delay", "0", NULL);
    redisFree(r);
    c = duro_test_client(&h);
    burst_check(c, "ld", N);
    cr_assert(duro_test_alive(&h, bw), "the bench worker died");
    cr_assert(duro_test_alive(&h, sched), "the scheduler died");
    duro_test_wait_up(&h, bw2, 10000);
    duro_test_wait_up(&h, sched2, 10000);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* ---- A key of the wrong type mid-burst ---- */

/* wrongtype_count: the calls Redis refused for a key of the wrong type
 * (by a Function's check or by the command itself). */
static long long wrongtype_count(redisContext *r)
{
    return error_count(r, "WRONGTYPE") + error_count(r, "DURO_WRONGTYPE");
}

/* activities_done: ActivityCompleted events in id's history. */
static int activities_done(duro_client *c, const char *id)
{
    cJSON *hist = NULL;
    int n = 0;
    if (duro_client_history(c, id, NULL, &hist) == 0)
        n = duro_test_count_events(hist, "ActivityCompleted");
    cJSON_Delete(hist);
    return n;
}

/* run_of: the current run id of workflow id. */
static void run_of(duro_client *c, const char *id, char *run, size_t size)
{
    cJSON *d = NULL;
    cr_assert_eq(duro_client_describe(c, id, &d), 0, "%s", id);
    snprintf(run, size, "%s", duro_test_str(d, "runId"));
    cJSON_Delete(d);
}

/* Each key a run's Functions expect to be a hash, list, stream or sorted
 * set is, in turn, a string for 600 ms while the burst goes on: the calls
 * that meet it are refused whole (DURO_WRONGTYPE / WRONGTYPE), the worker
 * and the scheduler go on with the rest, and once the key is back every
 * run (those of its partition included) completes, once. */
Test(burst_faults, each_key_of_the_wrong_type_in_turn_mid_burst)
{
    enum { N = 400, STEPS = 16 };
    pid_t sched = duro_test_spawn_up(&h, 10000, "duro-scheduler",
                                     "--scan-interval", "100ms", NULL);
    pid_t bw = duro_test_spawn_up(&h, 10000, "bench-worker", NULL);
    duro_client *c = duro_test_client(&h);
    /* the run whose keys go wrong: busy through all the spells (~5 s) */
    duro_test_start(c, "wt-long", "bench", "bench",
                    "{\"activities\":16,\"sleep\":\"300ms\"}", 1000);
    burst_start(c, "wt", 0, N, 1000);
    midway(c, N);
    cr_assert(duro_test_wait_until(activities_done(c, "wt-long") >= 1, 10000),
              "wt-long made no progress");
    redisContext *r = duro_test_redis(&h);
    char run[DURO_UUID_LEN + 1];
    run_of(c, "wt-long", run, sizeof(run));
    duro_wf_keys k;
    duro_wf_keys_init(&k, DURO_KEYSPACE_DEFAULT(DURO_DEFAULT_PARTITIONS),
                      "wt-long", run);
    duro_wf_keys_queues(&k, "bench", "bench");
    const char *keys[] = {k.wf, k.hist, k.pa, k.buf, k.timers, k.act, k.wft};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        long long before = wrongtype_count(r);
        duro_test_key_swap_in(r, keys[i]);
        duro_test_sleep_ms(600);
        duro_test_key_swap_out(r, keys[i]);
        cr_log_info("%s: %lld refused, %d activities done", keys[i],
                    wrongtype_count(r) - before, activities_done(c, "wt-long"));
    }
    redisFree(r);
    burst_check(c, "wt", N);
    cJSON *d = duro_test_result(c, "wt-long", 30000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cr_assert_eq(duro_test_num(cJSON_GetObjectItem(d, "result"), "done", 0),
                 STEPS);
    cJSON_Delete(d);
    cJSON *hist = duro_test_history(c, "wt-long");
    cr_assert_eq(duro_test_count_events(hist, "ActivityCompleted"), STEPS);
    cr_assert_eq(duro_test_count_events(hist, "ActivityScheduled"), STEPS);
    cr_assert_eq(duro_test_count_events(hist, "WorkflowCompleted"), 1);
    cJSON_Delete(hist);
    cr_assert(duro_test_alive(&h, bw), "the bench worker died");
    cr_assert(duro_test_alive(&h, sched), "the scheduler died");
    duro_client_free(c);
    duro_test_finish(&h);
}

/* incr_aof: the path of the server's append-only file that grows (the
 * multi-part AOF's incr file; one after the first rewrite). */
static void incr_aof(char *path, size_t size)
{
    char dir[PATH_MAX + 16];
    snprintf(dir, sizeof(dir), "%s/appendonlydir", h.dir);
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "no %s", dir);
    struct dirent *e;
    int found = 0;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l > 9 && strcmp(e->d_name + l - 9, ".incr.aof") == 0) {
            snprintf(path, size, "%s/%s", dir, e->d_name);
            found++;
        }
    }
    closedir(d);
    cr_assert_eq(found, 1, "%d incr files in %s", found, dir);
}

static long long file_size(const char *path)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "%s: %s", path, strerror(errno));
    return (long long)st.st_size;
}

/* Power lost mid-burst: Redis (appendfsync everysec) killed, and the last
 * 400 ms of its append-only file cut off (the part a power loss takes:
 * not yet synced), at any byte. Redis comes back older than what the
 * worker, the scheduler and the client were told: runs whose start was
 * lost are gone; every other one completes with each of its activities
 * recorded once (an activity whose completion was lost runs again), and
 * nothing dies. */
Test(burst_faults, power_lost_mid_burst_takes_the_unsynced_tail)
{
    enum { N = 1000 };
    aof_on("everysec");
    pid_t sched = duro_test_spawn_up(&h, 10000, "duro-scheduler",
                                     "--scan-interval", "100ms", NULL);
    pid_t bw = duro_test_spawn_up(&h, 10000, "bench-worker", NULL);
    duro_client *c = duro_test_client(&h);
    burst_start(c, "pl", 0, N, 2000);
    char path[PATH_MAX + 64];
    incr_aof(path, sizeof(path));
    long long synced = file_size(path);
    /* the last starts go in the part that is lost */
    burst_start(c, "pl", N, N + 20, 2000);
    midway(c, N);
    duro_test_sleep_ms(400);
    duro_test_redis_stop(&h, SIGKILL);
    long long lost = file_size(path) - synced;
    cr_assert_gt(lost, 0, "nothing written after the cut: proves nothing");
    cr_log_info("%lld bytes of the AOF cut off", lost);
    cr_assert_eq(truncate(path, (off_t)synced), 0, "%s", strerror(errno));
    duro_test_redis_start_again(&h, "yes", NULL);
    duro_client_free(c);
    c = duro_test_client(&h);
    int gone = 0;
    for (int i = 0; i < N + 20; i++) {
        char id[64];
        snprintf(id, sizeof(id), "pl-%d", i);
        cJSON *d = NULL;
        int rc = duro_client_describe(c, id, &d);
        cJSON_Delete(d);
        if (rc == DURO_ENOTFOUND) {
            gone++;
            continue;
        }
        cr_assert_eq(rc, 0, "%s: %s", id, duro_client_errstr(c));
        d = duro_test_result(c, id, 30000);
        cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED", "%s", id);
        cJSON_Delete(d);
        cJSON *hist = duro_test_history(c, id);
        duro_test_assert_each_activity_once(hist, id, 3);
        cr_assert_eq(duro_test_count_events(hist, "ActivityCompleted"), 3, "%s",
                     id);
        cr_assert_eq(duro_test_count_events(hist, "WorkflowCompleted"), 1, "%s",
                     id);
        cJSON_Delete(hist);
    }
    cr_log_info("%d of %d runs lost with the tail", gone, N + 20);
    cr_assert_geq(gone, 20, "the starts after the cut survived it");
    cr_assert(duro_test_alive(&h, bw), "the bench worker died");
    cr_assert(duro_test_alive(&h, sched), "the scheduler died");
    duro_client_free(c);
    duro_test_finish(&h);
}
