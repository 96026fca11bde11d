/* test_read_per_partition.c: the worker's reads per partition (a Redis
 * Cluster's, forced on one Redis by DURO_READ_PER_PARTITION=1) and the
 * wake-ups the Functions SPUBLISH for them; and that without the switch a
 * worker on one Redis reads exactly as before.
 *
 * What the worker sends is watched with MONITOR, which also lists the
 * commands Functions run ("[0 lua]"). */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "duro/lua.h"
#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(read_per_partition, .init = setup, .fini = duro_test_fini,
          .timeout = 90);

/* ---- Watching Redis ---- */

/* count_lines: lines of text holding every one of the NULL-ended words. */
static int count_lines(const char *text, ...)
{
    int n = 0;
    for (const char *l = text; *l;) {
        const char *end = strchr(l, '\n');
        size_t ll = end ? (size_t)(end - l) : strlen(l);
        char *line = strndup(l, ll);
        va_list ap;
        va_start(ap, text);
        bool all = true;
        for (const char *w; (w = va_arg(ap, const char *));)
            all = all && strstr(line, w);
        va_end(ap);
        n += all;
        free(line);
        l += ll + (end ? 1 : 0);
    }
    return n;
}

/* distinct_partitions: how many partitions ("{pN}" hash tags) a line
 * names. */
static int distinct_partitions(const char *line)
{
    int seen_p[1024] = {0}, n = 0;
    for (const char *p = strstr(line, "{p"); p; p = strstr(p + 2, "{p")) {
        int v = (int)strtol(p + 2, NULL, 10);
        if (v >= 0 && v < 1024 && !seen_p[v]++) n++;
    }
    return n;
}

typedef struct {
    int reads, blocking, multi, single;
} read_stats;

/* worker_reads: the task reads (XREADGROUP of the queue's shared wft or
 * act streams) among the lines. */
static read_stats worker_reads(const char *text)
{
    read_stats s = {0};
    for (const char *l = text; *l;) {
        const char *end = strchr(l, '\n');
        size_t ll = end ? (size_t)(end - l) : strlen(l);
        char *line = strndup(l, ll);
        /* not one a Function runs ("[0 lua]": a commit's eager activity
         * dispatch reads for its worker) */
        if (strstr(line, "\"XREADGROUP\"") && !strstr(line, " lua] ") &&
            (strstr(line, ":wft:test\"") || strstr(line, ":act:test\""))) {
            s.reads++;
            s.blocking += strstr(line, "\"BLOCK\"") != NULL;
            int d = distinct_partitions(line);
            s.multi += d > 1;
            s.single += d == 1;
        }
        free(line);
        l += ll + (end ? 1 : 0);
    }
    return s;
}

/* ---- Workflows ---- */

/* run_gate runs test_worker's "gate" to completion: an activity, a timer
 * (its next task goes to the worker's sticky stream), a query while it
 * waits, then the signal it waits for. */
static void run_gate(duro_client *c, const char *id)
{
    duro_test_start(c, id, "gate", "test", "{\"x\":1}", 0);
    char *stage = NULL;
    cr_assert(duro_test_wait_until((free(stage), stage = NULL,
                                    duro_client_query(c, id, "stage", "null",
                                                      2000, &stage) == 0 &&
                                        strcmp(stage, "\"waiting\"") == 0),
                                   20000),
              "the query never answered \"waiting\" (last: %s)",
              stage ? stage : "none");
    free(stage);
    cr_assert_eq(duro_client_signal(c, id, "open", "{\"go\":true}", NULL), 0);
    cJSON *d = duro_test_result(c, id, 20000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cJSON_Delete(d);
}

/* run_napper: one activity at priority 1 with a fairness key. */
static void run_napper(duro_client *c, const char *id)
{
    duro_test_start(c, id, "napper", "test",
                    "{\"ms\":10,\"priority\":1,\"fkey\":\"tenant-a\"}", 0);
    cJSON *d = duro_test_result(c, id, 20000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cJSON_Delete(d);
}

/* library_wakes: the library in Redis SPUBLISHes wake-ups for the
 * workers (WAKE_WORKERS); the classic channels stay (SHARDED_WAKE false:
 * one Redis) either way. */
static bool library_wakes(void)
{
    redisContext *r = duro_test_redis(&h);
    char *code = duro_test_library_code(r);
    cr_assert(strstr(code, "local SHARDED_WAKE = false"));
    bool on = strstr(code, "local WAKE_WORKERS = true") != NULL;
    cr_assert(on || strstr(code, "local WAKE_WORKERS = SHARDED_WAKE"));
    free(code);
    redisFree(r);
    return on;
}

static pid_t spawn_worker(bool per_partition)
{
    /* this test process's clients (a query sends its wake) and the
     * worker do what the test says, whatever the suite runs with */
    setenv("DURO_READ_PER_PARTITION", per_partition ? "1" : "0", 1);
    /* eager off: activity tasks go through their streams and wake the
     * reader (an eager one is leased, in no stream) */
    setenv("DURO_EAGER_ACTIVITIES", "0", 1);
    pid_t pid = duro_test_spawn(&h, "duro-test-worker", NULL);
    unsetenv("DURO_EAGER_ACTIVITIES");
    if (per_partition)
        cr_assert(
            duro_test_wait_until(
                duro_test_log_contains(&h, pid, "READ-PER-PARTITION"), 10000),
            "the worker never said it reads per partition");
    return pid;
}

/* watched_run: the scheduler and a worker (reading per partition or
 * not) run a gate and a napper (ids <prefix>-gate, <prefix>-nap) while
 * MONITOR watches; returns what it saw (caller frees). */
static char *watched_run(bool per_partition, const char *prefix)
{
    duro_test_spawn(&h, "duro-scheduler", NULL);
    redisContext *m = duro_test_monitor(&h);
    spawn_worker(per_partition);
    duro_client *c = duro_test_client(&h);
    char id[32];
    snprintf(id, sizeof(id), "%s-gate", prefix);
    run_gate(c, id);
    snprintf(id, sizeof(id), "%s-nap", prefix);
    run_napper(c, id);
    duro_client_free(c);
    return duro_test_monitor_seen(m);
}

/* run_timed runs test_worker's "activities" with input to completion
 * and returns how long that took from the start (ms). */
static int64_t run_timed(duro_client *c, const char *id, const char *input)
{
    int64_t t0 = duro_test_mono_ms();
    duro_test_start(c, id, "activities", "test", input, 0);
    cJSON *d = duro_test_result(c, id, 20000);
    int64_t took = duro_test_mono_ms() - t0;
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cJSON_Delete(d);
    return took;
}

/* ---- Tests ---- */

Test(read_per_partition, one_redis_reads_as_before_and_never_spublishes)
{
    char *text = watched_run(false, "plain");
    read_stats s = worker_reads(text);
    cr_assert_gt(s.reads, 0);
    /* one blocking read over every partition, as always */
    cr_assert_eq(s.blocking, s.reads, "%d of %d reads block", s.blocking,
                 s.reads);
    cr_assert_eq(s.multi, s.reads, "%d of %d reads span partitions", s.multi,
                 s.reads);
    cr_assert_eq(count_lines(text, "\"SPUBLISH\"", NULL), 0);
    cr_assert_eq(count_lines(text, "\"SSUBSCRIBE\"", NULL), 0);
    cr_assert(!library_wakes());
    free(text);
    duro_test_finish(&h);
}

Test(read_per_partition, every_kind_of_task_is_read_one_partition_at_a_time)
{
    char *text = watched_run(true, "pp");
    cr_assert(library_wakes());
    read_stats s = worker_reads(text);
    cr_assert_gt(s.reads, 0);
    cr_assert_eq(s.blocking, 0, "%d reads block", s.blocking);
    cr_assert_eq(s.single, s.reads, "%d of %d reads name one partition",
                 s.single, s.reads);
    /* the sticky streams, priority levels, queries ride along */
    cr_assert_gt(count_lines(text, "\"XREADGROUP\"", ":wft:test#", NULL), 0);
    cr_assert_gt(count_lines(text, "\"XREADGROUP\"", ":act:test!1\"", NULL), 0);
    cr_assert_gt(count_lines(text, "\"XREADGROUP\"", ":qry:test\"", NULL), 0);
    /* the library the worker loaded wakes it: workflow tasks (shared and
     * sticky), activity tasks at their level (the fairness key's bell) */
    cr_assert_gt(count_lines(text, "lua]", "\"SPUBLISH\"", ":wake\"",
                             "\"wft:test\"", NULL),
                 0);
    cr_assert_gt(count_lines(text, "lua]", "\"SPUBLISH\"", "\"wft:test#", NULL),
                 0);
    cr_assert_gt(
        count_lines(text, "lua]", "\"SPUBLISH\"", "\"act:test\"", NULL), 0);
    cr_assert_gt(
        count_lines(text, "lua]", "\"SPUBLISH\"", "\"act:test!1\"", NULL), 0);
    /* a query is the client's XADD, and its wake too */
    cr_assert_gt(count_lines(text, "\"SPUBLISH\"", "\"qry:test\"", NULL), 0);
    free(text);
    duro_test_finish(&h);
}

Test(read_per_partition, a_task_without_a_wake_is_read_by_the_sweep)
{
    duro_test_spawn(&h, "duro-scheduler", NULL);
    pid_t wpid = spawn_worker(true);
    cr_assert(duro_test_wait_until(
        duro_test_log_contains(&h, wpid, "sharded_wake=on"), 10000));
    /* the copy that never SPUBLISHes: every wake is lost */
    redisContext *r = duro_test_redis(&h);
    const char *argv[] = {"FUNCTION", "LOAD", "REPLACE", duro_lua_source()};
    size_t lens[] = {8, 4, 7, duro_lua_source_len()};
    redisReply *rep = redisCommandArgv(r, 4, argv, lens);
    cr_assert(rep && rep->type == REDIS_REPLY_STRING);
    freeReplyObject(rep);
    redisFree(r);
    redisContext *m = duro_test_monitor(&h);
    duro_client *c = duro_test_client(&h);
    /* a workflow task, then an activity task: two sweeps at most */
    int64_t took = run_timed(c, "swept", "{\"n\":1}");
    char *text = duro_test_monitor_seen(m);
    cr_assert_eq(count_lines(text, "\"SPUBLISH\"", NULL), 0);
    free(text);
    cr_assert_lt(took, 5000, "two tasks took %lldms to be read",
                 (long long)took);
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(read_per_partition, a_wake_reads_before_the_sweep)
{
    duro_test_spawn(&h, "duro-scheduler", NULL);
    pid_t wpid = spawn_worker(true);
    if (!duro_test_log_contains(&h, wpid, "wake=on sweep=")) {
        duro_test_finish(&h);
        cr_skip_test("this build cannot SSUBSCRIBE (duro_aredis_ssubscribe)");
    }
    duro_client *c = duro_test_client(&h);
    /* 13 tasks in a row (a workflow task, then six activities each
     * followed by an eager workflow task): read by the sweep alone they
     * would wait about 0.5s each */
    int64_t took = run_timed(c, "woken", "{\"n\":6}");
    cr_assert_lt(took, 2500, "seven reads took %lldms", (long long)took);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* exec_order: the workflow ids of the executions log's nap lines, in the
 * order they ran (at most max); returns how many. */
static int exec_order(const char *path, char ids[][32], int max)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[256];
    int n = 0;
    while (n < max && fgets(line, sizeof(line), f)) {
        char id[32];
        if (sscanf(line, "nap %31[^/]/", id) == 1)
            snprintf(ids[n++], sizeof(ids[0]), "%s", id);
    }
    fclose(f);
    return n;
}

/* A round reads every partition; a higher level's tasks of one partition
 * still go before a lower level's of another (as in test_priority.c, whose
 * runs spread over the partitions). */
Test(read_per_partition, a_round_hands_on_the_higher_level_first)
{
    char log[PATH_MAX + 32];
    snprintf(log, sizeof(log), "%s/executions.log", h.dir);
    setenv("DURO_TEST_LOG", log, 1);
    duro_test_spawn(&h, "duro-scheduler", NULL);
    duro_client *c = duro_test_client(&h);
    char id[32];
    for (int i = 0; i < 8; i++) {
        snprintf(id, sizeof(id), "lo-%d", i);
        duro_test_start(c, id, "napper", "test", "{\"ms\":100}", 0);
    }
    for (int i = 0; i < 3; i++) {
        snprintf(id, sizeof(id), "hi-%d", i);
        duro_test_start(c, id, "napper", "test", "{\"ms\":100,\"priority\":2}",
                        0);
    }
    setenv("DURO_READ_PER_PARTITION", "1", 1);
    duro_test_spawn(&h, "duro-test-worker", "--activity-threads", "1", NULL);
    for (int i = 0; i < 11; i++) {
        snprintf(id, sizeof(id), i < 8 ? "lo-%d" : "hi-%d", i < 8 ? i : i - 8);
        cJSON *d = duro_test_result(c, id, 30000);
        cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED", "%s", id);
        cJSON_Delete(d);
    }
    char ids[64][32];
    int n = exec_order(log, ids, 64), last_high = -1, low_before = 0;
    cr_assert_eq(n, 11, "%d naps ran", n);
    for (int i = 0; i < n; i++)
        if (strncmp(ids[i], "hi-", 3) == 0) last_high = i;
    for (int i = 0; i < last_high; i++)
        low_before += strncmp(ids[i], "lo-", 3) == 0;
    /* the first may be a default run's, read in the round that brought the
     * first higher ones */
    cr_assert_leq(low_before, 1,
                  "%d lower-priority naps ran before the last higher one",
                  low_before);
    duro_client_free(c);
    duro_test_finish(&h);
}
