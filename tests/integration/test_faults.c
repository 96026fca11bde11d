/* test_faults.c: what happens when things break: a worker killed in the
 * middle of a workflow task, an activity that stops heartbeating, a worker
 * stopped with SIGTERM while an activity runs, Redis restarting while an
 * activity runs, and workflow code that changed under recorded histories. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "duro/keys.h"
#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(faults, .init = setup, .fini = duro_test_fini, .timeout = 90);

/* pending_on counts entries delivered but not acknowledged in the
 * partition stream of `kind` ("wft" or "act") for workflow id. */
static long long pending_on(const char *kind, const char *queue, const char *id)
{
    redisContext *r = duro_test_redis(&h);
    char key[DURO_KEY_MAX];
    int p = duro_partition_of(id, DURO_DEFAULT_PARTITIONS);
    if (strcmp(kind, "wft") == 0)
        duro_key_wft(key, sizeof(key), DURO_KEYSPACE_DEFAULT(0), p, queue);
    else
        duro_key_act(key, sizeof(key), DURO_KEYSPACE_DEFAULT(0), p, queue);
    redisReply *rep = redisCommand(r, "XPENDING %s duro", key);
    long long n = rep && rep->type == REDIS_REPLY_ARRAY && rep->elements > 0
                      ? rep->element[0]->integer
                      : 0;
    if (rep) freeReplyObject(rep);
    /* an activity leased by the worker that committed it (library 35)
     * is held by its l timer, in no stream */
    rep = strcmp(kind, "act") == 0
              ? redisCommand(r, "ZRANGE duro:{p%d}:timers 0 -1", p)
              : NULL;
    for (size_t i = 0; rep && i < rep->elements; i++)
        n += !strncmp(rep->element[i]->str, "l|", 2);
    if (rep) freeReplyObject(rep);
    redisFree(r);
    return n;
}

static duro_test_child *child(pid_t pid)
{
    for (int i = 0; i < h.nchildren; i++)
        if (h.children[i].pid == pid) return &h.children[i];
    return NULL;
}

Test(faults, task_of_a_worker_killed_mid_task_is_reclaimed)
{
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    setenv("DURO_TEST_STALL_MS", "30000", 1);
    pid_t stuck = duro_test_spawn(&h, "duro-test-worker", NULL);
    unsetenv("DURO_TEST_STALL_MS");
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "reclaim-1", "stall", "test", NULL, 1000);
    cr_assert(
        duro_test_wait_until(pending_on("wft", "test", "reclaim-1") == 1, 5000),
        "the first worker never claimed the task");
    duro_test_kill(&h, stuck, SIGKILL);
    duro_test_spawn(&h, "duro-test-worker", NULL);

    int64_t t0 = duro_test_mono_ms();
    cJSON *d = duro_test_result(c, "reclaim-1", 20000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cr_assert_lt(duro_test_mono_ms() - t0, 10000,
                 "reclaimed after the 1s task timeout");
    cJSON_Delete(d);
    cJSON *hist = duro_test_history(c, "reclaim-1");
    cr_assert_eq(duro_test_count_events(hist, "ActivityScheduled"), 1,
                 "the dead worker's task was never committed twice");
    cJSON_Delete(hist);
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(faults, missed_heartbeat_retries_from_the_last_details)
{
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "hb-1", "heartbeat", "test", NULL, 0);
    cJSON *d = duro_test_result(c, "hb-1", 30000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    const cJSON *res = cJSON_GetObjectItem(d, "result");
    cr_assert_eq(duro_test_num(res, "attempt", 0), 2,
                 "attempt 1 missed its heartbeat");
    cr_assert_eq(duro_test_num(res, "resumedFrom", -1), 2,
                 "attempt 2 saw attempt 1's last details");
    cJSON_Delete(d);
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(faults, sigterm_hands_a_running_activity_back)
{
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    pid_t first = duro_test_spawn(&h, "duro-test-worker", "--shutdown-grace",
                                  "500ms", NULL);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "handback-1", "hold", "test", "{\"ms\":4000}", 0);
    cr_assert(duro_test_wait_until(pending_on("act", "test", "handback-1") == 1,
                                   5000));
    duro_test_kill(&h, first, SIGTERM);
    cr_assert(duro_test_wait_until(!duro_test_alive(&h, first), 5000),
              "the worker did not stop after its grace period");
    duro_test_child *ch = child(first);
    cr_assert(WIFEXITED(ch->status) && WEXITSTATUS(ch->status) == 0,
              "SIGTERM is a clean stop (status %d)", ch->status);

    int64_t t0 = duro_test_mono_ms();
    duro_test_spawn(&h, "duro-test-worker", NULL);
    cJSON *d = duro_test_result(c, "handback-1", 30000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    /* without the hand-back it would wait for the 60s start-to-close */
    cr_assert_lt(duro_test_mono_ms() - t0, 15000);
    cJSON_Delete(d);
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(faults, activity_result_computed_while_redis_is_down_is_delivered)
{
    redisContext *r = duro_test_redis(&h);
    freeReplyObject(redisCommand(r, "CONFIG SET appendonly yes"));
    cr_assert(duro_test_wait_until(
        ({
            redisReply *rep = redisCommand(r, "INFO persistence");
            bool done = rep && strstr(rep->str, "aof_rewrite_in_progress:0") &&
                        strstr(rep->str, "aof_enabled:1");
            if (rep) freeReplyObject(rep);
            done;
        }),
        5000));
    redisFree(r);
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "outage-1", "hold", "test", "{\"ms\":1000}", 0);
    cr_assert(
        duro_test_wait_until(pending_on("act", "test", "outage-1") == 1, 5000));
    duro_client_free(c);

    /* the activity finishes while Redis is down; SIGTERM flushes the AOF */
    duro_test_redis_restart(&h, SIGTERM, 2500, "yes", NULL);

    c = duro_test_client(&h);
    cJSON *d = duro_test_result(c, "outage-1", 30000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cr_assert_eq(
        duro_test_num(cJSON_GetObjectItem(d, "result"), "attempt", 0), 1,
        "the first attempt's result was kept and delivered, not redone");
    cJSON_Delete(d);
    cJSON *hist = duro_test_history(c, "outage-1");
    cr_assert_eq(duro_test_count_events(hist, "ActivityCompleted"), 1);
    cJSON_Delete(hist);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* A stop while Redis is away can hand nothing back: an activity finished
 * meanwhile keeps its result until the grace is over, one still running
 * cannot be released. Both are then retried after their timeouts; the log
 * must say so rather than read as a clean hand-back. */
Test(faults, sigterm_during_an_outage_says_what_it_could_not_hand_back)
{
    pid_t w = duro_test_spawn_up(&h, 5000, "duro-test-worker",
                                 "--shutdown-grace", "4s", NULL);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "outstop-done", "hold", "test", "{\"ms\":1000}", 0);
    duro_test_start(c, "outstop-busy", "hold", "test", "{\"ms\":20000}", 0);
    cr_assert(
        duro_test_wait_until(pending_on("act", "test", "outstop-done") == 1 &&
                                 pending_on("act", "test", "outstop-busy") == 1,
                             5000));
    duro_client_free(c);

    duro_test_redis_stop(&h, SIGKILL);
    duro_test_kill(&h, w, SIGTERM);
    cr_assert(duro_test_wait_until(!duro_test_alive(&h, w), 15000),
              "the worker did not stop after its grace period");
    duro_test_child *ch = child(w);
    cr_assert(WIFEXITED(ch->status) && WEXITSTATUS(ch->status) == 0,
              "SIGTERM is a clean stop (status %d)", ch->status);
    cr_assert(duro_test_log_contains(&h, w,
                                     "results=1 workflow_tasks=0 "
                                     "not delivered"),
              "the finished activity's undelivered result is reported");
    cr_assert(duro_test_log_contains(&h, w,
                                     "wf=outstop-busy activity=hold seq=1 "
                                     "attempt=1 not sent (Redis away)"),
              "the running activity's hand-back is reported as not sent");
    duro_test_redis_start_again(&h, "no", NULL);
    duro_test_finish(&h);
}

/* sticky_of: the worker a run's next workflow task waits for ("" none). */
static void sticky_of(const char *id, char *out, size_t size)
{
    char key[DURO_KEY_MAX];
    snprintf(key, sizeof(key), "duro:{p%d}:wf:%s",
             duro_partition_of(id, DURO_DEFAULT_PARTITIONS), id);
    redisContext *r = duro_test_redis(&h);
    redisReply *rep = redisCommand(r, "HGET %s sticky", key);
    snprintf(out, size, "%s",
             rep && rep->type == REDIS_REPLY_STRING ? rep->str : "");
    freeReplyObject(rep);
    redisFree(r);
}

/* A stop past the grace (an activity still running) hands its cached runs
 * back too: else the run's next task waits out the sticky schedule-to-
 * start timeout for a worker that is gone. */
Test(faults, sigterm_past_the_grace_hands_the_cached_run_back)
{
    pid_t w =
        duro_test_spawn_up(&h, 5000, "duro-test-worker", "--identity",
                           "grace-over", "--shutdown-grace", "500ms", NULL);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "graceover-1", "hold", "test", "{\"ms\":20000}", 0);
    cr_assert(duro_test_wait_until(
        pending_on("act", "test", "graceover-1") == 1, 5000));
    char sticky[128];
    sticky_of("graceover-1", sticky, sizeof(sticky));
    cr_assert_str_eq(sticky, "grace-over", "the run is not sticky to it");
    duro_client_free(c);

    duro_test_kill(&h, w, SIGTERM);
    cr_assert(duro_test_wait_until(!duro_test_alive(&h, w), 10000));
    cr_assert(duro_test_log_contains(&h, w, "STICKY-HANDBACK runs=1"));
    sticky_of("graceover-1", sticky, sizeof(sticky));
    cr_assert_str_eq(sticky, "", "the stopped worker still holds the run");
    duro_test_finish(&h);
}

/* With Redis gone, the cached runs cannot be handed back: their next
 * tasks wait out the sticky schedule-to-start timeout, and the stop says
 * so. */
Test(faults, sigterm_during_an_outage_says_the_runs_stay_sticky)
{
    pid_t w = duro_test_spawn_up(&h, 5000, "duro-test-worker",
                                 "--shutdown-grace", "500ms", NULL);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "outsticky-1", "hold", "test", "{\"ms\":20000}", 0);
    cr_assert(duro_test_wait_until(
        pending_on("act", "test", "outsticky-1") == 1, 5000));
    duro_client_free(c);

    duro_test_redis_stop(&h, SIGKILL);
    duro_test_kill(&h, w, SIGTERM);
    cr_assert(duro_test_wait_until(!duro_test_alive(&h, w), 15000));
    cr_assert(duro_test_log_contains(&h, w, "STICKY-HANDBACK-SKIPPED runs=1"));
    duro_test_redis_start_again(&h, "no", NULL);
    duro_test_finish(&h);
}

/* A Redis that stops answering (not gone: stalled) must not hold a stop
 * forever: past the grace and the stall timeout, the worker exits. */
Test(faults, sigterm_while_redis_does_not_answer_stops_in_bounded_time)
{
    pid_t w =
        duro_test_spawn_up(&h, 5000, "duro-test-worker", "--shutdown-grace",
                           "500ms", "--redis-stall-timeout", "1s", NULL);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "stalled-1", "hold", "test", "{\"ms\":20000}", 0);
    cr_assert(duro_test_wait_until(pending_on("act", "test", "stalled-1") == 1,
                                   5000));
    duro_client_free(c);

    kill(h.redis_pid, SIGSTOP);
    duro_test_kill(&h, w, SIGTERM);
    bool stopped = duro_test_wait_until(!duro_test_alive(&h, w), 15000);
    kill(h.redis_pid, SIGCONT);
    cr_assert(stopped, "the stop waited for a Redis that does not answer");
    duro_test_child *ch = child(w);
    cr_assert(WIFEXITED(ch->status) && WEXITSTATUS(ch->status) == 0,
              "a forced stop is still a clean exit (status %d)", ch->status);
    cr_assert(duro_test_log_contains(&h, w, "STOP-FORCED"));
    duro_test_finish(&h);
}

/* export writes the history of id to <dir>/<file> and returns its path. */
static char *export(const char *id, const char *file)
{
    duro_test_output o;
    duro_test_run(&h, &o, 10000, "duro", "workflow", "history", "--workflow-id",
                  id, "-o", "json", NULL);
    cr_assert_eq(o.exit_code, 0, "history export: %s", o.err);
    static char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", h.dir, file);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(o.out, f);
    fclose(f);
    duro_test_output_free(&o);
    return path;
}

/* replay runs the test worker's replay checker with code variant v. */
static int replay(const char *path, const char *variant, char *out, size_t size)
{
    setenv("DURO_TEST_VARIANT", variant, 1);
    duro_test_output o;
    duro_test_run(&h, &o, 10000, "duro-test-worker", "--replay", path, NULL);
    unsetenv("DURO_TEST_VARIANT");
    snprintf(out, size, "%s", o.out);
    int rc = o.exit_code;
    duro_test_output_free(&o);
    return rc;
}

Test(faults, replay_catches_changed_code_and_get_version_keeps_both_versions)
{
    duro_test_spawn(&h, "duro-scheduler", NULL);
    pid_t v1 = duro_test_spawn(&h, "duro-test-worker", NULL); /* variant 1 */
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "ver-1", "versioned", "test", NULL, 0);
    cJSON_Delete(duro_test_result(c, "ver-1", 20000));
    char *old_history = strdup(export("ver-1", "v1.json"));
    char out[2048];

    cr_assert_eq(replay(old_history, "1", out, sizeof(out)), 0, "%s", out);
    cr_assert_eq(replay(old_history, "3", out, sizeof(out)), 1,
                 "an unguarded new activity breaks old histories: %s", out);
    cr_assert_not_null(strstr(out, "event 3"), "%s", out);
    cr_assert_not_null(strstr(out, "add_one"), "%s", out);
    cr_assert_eq(replay(old_history, "2", out, sizeof(out)), 0,
                 "guarded by duro_get_version, old histories still replay: %s",
                 out);

    duro_test_kill(&h, v1, SIGTERM);
    cr_assert(duro_test_wait_until(!duro_test_alive(&h, v1), 5000));
    setenv("DURO_TEST_VARIANT", "2", 1);
    duro_test_spawn(&h, "duro-test-worker", NULL);
    unsetenv("DURO_TEST_VARIANT");
    duro_test_start(c, "ver-2", "versioned", "test", NULL, 0);
    cJSON *d = duro_test_result(c, "ver-2", 20000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cJSON_Delete(d);
    cJSON *hist = duro_test_history(c, "ver-2");
    cr_assert_eq(duro_test_count_events(hist, "MarkerRecorded"), 1);
    cr_assert_eq(duro_test_count_events(hist, "ActivityScheduled"), 2);
    cJSON_Delete(hist);
    char *new_history = export("ver-2", "v2.json");
    cr_assert_eq(replay(new_history, "2", out, sizeof(out)), 0, "%s", out);
    cr_assert_eq(replay(new_history, "1", out, sizeof(out)), 1,
                 "the old code cannot replay the new history: %s", out);
    free(old_history);
    duro_client_free(c);
    duro_test_finish(&h);
}
