/* test_schedules.c: schedules fired by the real duro-scheduler: interval
 * specs and their workflow ids, pause/unpause, trigger, backfill, the
 * overlap policies Skip and AllowAll, catch-up after the scheduler was
 * down, and two schedulers with one killed (each nominal time started
 * once). No worker runs: a started workflow stays RUNNING, which is what
 * the overlap policies need to see ("a workflow that waits"). */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/cron.h"
#include "duro/keys.h"
#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(schedules, .init = setup, .fini = duro_test_fini, .timeout = 90);

/* ---- Helpers ---- */

static duro_schedule_opts every_second(const char *id, const char *overlap)
{
    duro_schedule_opts o = {0};
    o.schedule_id = id;
    o.interval_ms = 1000;
    o.overlap_policy = overlap;
    o.type = "hold";
    o.task_queue = "test";
    o.input = "{\"n\":1}";
    return o;
}

static cJSON *describe(duro_client *c, const char *id)
{
    cJSON *d = NULL;
    int rc = duro_client_schedule_describe(c, id, &d);
    cr_assert_eq(rc, 0, "describe %s: %s", id, duro_client_errstr(c));
    return d;
}

static double state_num(duro_client *c, const char *id, const char *name)
{
    cJSON *d = describe(c, id);
    double v = duro_test_num(cJSON_GetObjectItem(d, "state"), name, -1);
    cJSON_Delete(d);
    return v;
}

/* wf_ids collects the ids of the workflows whose id starts with prefix
 * (SCAN over every partition), sorted. Returns how many (at most max). */
static int wf_ids(const char *prefix, char ids[][128], int max)
{
    redisContext *r = duro_test_redis(&h);
    int n = 0;
    char pattern[160];
    snprintf(pattern, sizeof(pattern), "duro:{p*}:wf:%s-*", prefix);
    char cursor[32] = "0";
    do {
        redisReply *rep =
            redisCommand(r, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        cr_assert(rep && rep->type == REDIS_REPLY_ARRAY);
        snprintf(cursor, sizeof(cursor), "%s", rep->element[0]->str);
        for (size_t i = 0; i < rep->element[1]->elements && n < max; i++) {
            const char *k = strstr(rep->element[1]->element[i]->str, ":wf:");
            snprintf(ids[n++], 128, "%s", k + 4);
        }
        freeReplyObject(rep);
    } while (strcmp(cursor, "0") != 0);
    redisFree(r);
    qsort(ids, (size_t)n, 128, (int (*)(const void *, const void *))strcmp);
    return n;
}

/* nominal_of: the time in a workflow id "<prefix>-<RFC 3339>". */
static int64_t nominal_of(const char *id, const char *prefix)
{
    int64_t ms = -1;
    cr_assert_eq(duro_rfc3339_parse(id + strlen(prefix) + 1, &ms), 0,
                 "workflow id %s has no time", id);
    return ms;
}

/* assert_contiguous: the ids are one per second, no gap, no repeat. */
static void assert_contiguous(char ids[][128], int n, const char *prefix)
{
    for (int i = 1; i < n; i++)
        cr_assert_eq(
            nominal_of(ids[i], prefix) - nominal_of(ids[i - 1], prefix), 1000,
            "%s then %s: not the next second", ids[i - 1], ids[i]);
}

static int64_t redis_now(void)
{
    redisContext *r = duro_test_redis(&h);
    redisReply *t = redisCommand(r, "TIME");
    int64_t ms = strtoll(t->element[0]->str, NULL, 10) * 1000 +
                 strtoll(t->element[1]->str, NULL, 10) / 1000;
    freeReplyObject(t);
    redisFree(r);
    return ms;
}

/* ---- Tests ---- */

Test(schedules, interval_starts_workflows_named_by_nominal_time)
{
    duro_client *c = duro_test_client(&h);
    duro_schedule_opts o = every_second("tick", "AllowAll");
    o.workflow_id_prefix = "tock";
    cr_assert_eq(duro_client_schedule_create(c, &o), 0, "%s",
                 duro_client_errstr(c));
    cr_assert_eq(duro_client_schedule_create(c, &o), DURO_EALREADY);
    duro_test_spawn(&h, "duro-scheduler", NULL);
    cr_assert(
        duro_test_wait_until(state_num(c, "tick", "actions") >= 3, 10000));
    char ids[64][128];
    int n = wf_ids("tock", ids, 64);
    cr_assert_geq(n, 3);
    assert_contiguous(ids, n, "tock");
    for (int i = 0; i < n; i++) /* whole seconds, UTC */
        cr_assert(strlen(ids[i]) == strlen("tock-2026-01-01T00:00:00Z") &&
                      ids[i][strlen(ids[i]) - 1] == 'Z',
                  "%s", ids[i]);
    cJSON *d = describe(c, "tick");
    cJSON *acts = cJSON_GetObjectItem(d, "recentActions");
    cr_assert_geq(cJSON_GetArraySize(acts), 3);
    const cJSON *a0 = cJSON_GetArrayItem(acts, 0);
    cr_assert_str_eq(duro_test_str(a0, "status"), "RUNNING");
    cr_assert(strncmp(duro_test_str(a0, "workflowId"), "tock-", 5) == 0);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(d, "nextTimes")), 5);
    cJSON_Delete(d);
    cr_assert_eq(duro_client_schedule_delete(c, "tick"), 0);
    cr_assert_eq(duro_client_schedule_describe(c, "tick", &d), DURO_ENOTFOUND);
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(schedules, pause_stops_actions_until_unpaused)
{
    duro_client *c = duro_test_client(&h);
    duro_schedule_opts o = every_second("p", "AllowAll");
    cr_assert_eq(duro_client_schedule_create(c, &o), 0);
    duro_test_spawn(&h, "duro-scheduler", NULL);
    cr_assert(duro_test_wait_until(state_num(c, "p", "actions") >= 1, 10000));
    cr_assert_eq(duro_client_schedule_pause(c, "p", true, "maintenance"), 0);
    duro_test_sleep_ms(300); /* a fire in flight lands */
    double before = state_num(c, "p", "actions");
    duro_test_sleep_ms(2500);
    cr_assert_eq(state_num(c, "p", "actions"), before, "acted while paused");
    cJSON *d = describe(c, "p");
    const cJSON *st = cJSON_GetObjectItem(d, "state");
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(st, "paused")));
    cr_assert_str_eq(duro_test_str(st, "note"), "maintenance");
    cJSON_Delete(d);
    cr_assert_eq(duro_client_schedule_pause(c, "p", false, "done"), 0);
    cr_assert(duro_test_wait_until(state_num(c, "p", "actions") >= before + 2,
                                   10000));
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(schedules, trigger_acts_now_even_when_paused)
{
    duro_client *c = duro_test_client(&h);
    duro_schedule_opts o = every_second("trig", "AllowAll");
    o.interval_ms = 3600 * 1000;
    o.paused = true;
    cr_assert_eq(duro_client_schedule_create(c, &o), 0);
    duro_test_spawn(&h, "duro-scheduler", NULL);
    cr_assert_eq(duro_client_schedule_trigger(c, "trig"), 0);
    cr_assert(
        duro_test_wait_until(state_num(c, "trig", "actions") == 1, 10000));
    char ids[4][128];
    cr_assert_eq(wf_ids("trig", ids, 4), 1);
    cJSON *d = describe(c, "trig");
    const cJSON *a0 =
        cJSON_GetArrayItem(cJSON_GetObjectItem(d, "recentActions"), 0);
    cr_assert_str_eq(duro_test_str(a0, "trigger"), "trigger");
    cr_assert_str_eq(duro_test_str(a0, "workflowId"), ids[0]);
    cJSON_Delete(d);
    cr_assert_eq(duro_client_schedule_trigger(c, "nope"), DURO_ENOTFOUND);
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(schedules, backfill_starts_every_time_of_a_past_range)
{
    duro_client *c = duro_test_client(&h);
    duro_schedule_opts o = every_second("bf", "AllowAll");
    o.interval_ms = 60000;
    o.paused = true;
    cr_assert_eq(duro_client_schedule_create(c, &o), 0);
    duro_test_spawn(&h, "duro-scheduler", NULL);
    int64_t start, end;
    duro_rfc3339_parse("2026-01-01T10:00:00Z", &start);
    duro_rfc3339_parse("2026-01-01T10:04:30Z", &end);
    cr_assert_eq(duro_client_schedule_backfill(c, "bf", start, end), 0);
    cr_assert(duro_test_wait_until(state_num(c, "bf", "actions") == 5, 10000));
    char ids[8][128];
    cr_assert_eq(wf_ids("bf", ids, 8), 5);
    cr_assert_str_eq(ids[0], "bf-2026-01-01T10:00:00Z");
    cr_assert_str_eq(ids[4], "bf-2026-01-01T10:04:00Z");
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(schedules, skip_starts_nothing_while_one_runs_allow_all_does)
{
    duro_client *c = duro_test_client(&h);
    duro_schedule_opts skip = every_second("skip", "Skip");
    duro_schedule_opts all = every_second("all", "AllowAll");
    cr_assert_eq(duro_client_schedule_create(c, &skip), 0);
    cr_assert_eq(duro_client_schedule_create(c, &all), 0);
    duro_test_spawn(&h, "duro-scheduler", NULL);
    cr_assert(duro_test_wait_until(state_num(c, "all", "actions") >= 4, 10000));
    cr_assert(duro_test_wait_until(state_num(c, "skip", "skipped") >= 2, 5000));
    char ids[64][128];
    cr_assert_eq(wf_ids("skip", ids, 64), 1, "Skip started a second run");
    cr_assert_eq(state_num(c, "skip", "actions"), 1);
    cr_assert_geq(wf_ids("all", ids, 64), 4);
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(schedules, catch_up_after_the_scheduler_was_down)
{
    duro_client *c = duro_test_client(&h);
    duro_schedule_opts o = every_second("cu", "AllowAll");
    o.catchup_window_ms = 2500;
    cr_assert_eq(duro_client_schedule_create(c, &o), 0);
    pid_t s = duro_test_spawn(&h, "duro-scheduler", NULL);
    cr_assert(duro_test_wait_until(state_num(c, "cu", "actions") >= 1, 10000));
    duro_test_kill(&h, s, SIGKILL);
    int64_t down_at = redis_now();
    duro_test_sleep_ms(6000);
    duro_test_spawn(&h, "duro-scheduler", NULL);
    cr_assert(duro_test_wait_until(state_num(c, "cu", "missed") >= 2, 10000));
    duro_test_sleep_ms(1500);
    /* the times within 2.5s of the restart ran; those older were missed;
     * none twice, and every second is either started or missed */
    char ids[64][128];
    int n = wf_ids("cu", ids, 64);
    double missed = state_num(c, "cu", "missed");
    cr_assert_leq(missed, 6);
    cr_assert_geq(missed, 2);
    int64_t first = nominal_of(ids[0], "cu"),
            last = nominal_of(ids[n - 1], "cu");
    cr_assert_eq((last - first) / 1000 + 1, n + (int)missed,
                 "%d started + %.0f missed do not cover %s..%s", n, missed,
                 ids[0], ids[n - 1]);
    int after_gap = 0;
    for (int i = 0; i < n; i++)
        after_gap += nominal_of(ids[i], "cu") > down_at + 1000;
    cr_assert_geq(after_gap, 2, "nothing caught up within the window");
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(schedules, two_schedulers_one_killed_each_time_started_once)
{
    duro_client *c = duro_test_client(&h);
    duro_schedule_opts o = every_second("dual", "AllowAll");
    cr_assert_eq(duro_client_schedule_create(c, &o), 0);
    pid_t a = duro_test_spawn(&h, "duro-scheduler", NULL);
    duro_test_spawn(&h, "duro-scheduler", NULL);
    cr_assert(
        duro_test_wait_until(state_num(c, "dual", "actions") >= 3, 10000));
    duro_test_kill(&h, a, SIGKILL);
    double at_kill = state_num(c, "dual", "actions");
    cr_assert(duro_test_wait_until(
        state_num(c, "dual", "actions") >= at_kill + 4, 15000));
    char ids[128][128];
    int n = wf_ids("dual", ids, 128);
    assert_contiguous(ids, n, "dual");
    /* recorded once each: as many actions as workflows (a repeated start
     * of an id is refused, a repeated record would count twice) */
    duro_test_sleep_ms(300);
    n = wf_ids("dual", ids, 128);
    double acts = state_num(c, "dual", "actions");
    cr_assert(acts == n || acts == n - 1, "%.0f actions for %d workflows", acts,
              n);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* A scheduler that claimed a fire, started its workflow and died before
 * recording it: the next claimant (after the lease) starts the same id,
 * finds it started, and records that run; no second run. */
Test(schedules, a_claimant_that_died_after_starting_is_recorded_once)
{
    duro_client *c = duro_test_client(&h);
    duro_schedule_opts o = every_second("dead", "AllowAll");
    cr_assert_eq(duro_client_schedule_create(c, &o), 0);
    duro_sched_keys k;
    duro_sched_keys_init(&k, duro_client_partitions(c), "dead");
    redisContext *r = duro_test_redis(&h);
    redisReply *rep = redisCommand(r, "HGET %s next_nominal", k.sched);
    int64_t nominal = strtoll(rep->str, NULL, 10);
    freeReplyObject(rep);
    while (redis_now() < nominal + 50)
        duro_test_sleep_ms(20);
    /* the dying scheduler's part: claim, start */
    rep = redisCommand(r, "FCALL duro_sched_claim 3 %s %s %s dead 3000",
                       k.sched, k.req, k.timers);
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY, "claim: %s",
              rep && rep->str ? rep->str : "?");
    freeReplyObject(rep);
    char t[DURO_RFC3339_LEN], wfid[128], run[DURO_UUID_LEN + 1];
    snprintf(wfid, sizeof(wfid), "dead-%s",
             duro_rfc3339(nominal, t, sizeof(t)));
    duro_start_opts so = {0};
    so.workflow_id = wfid;
    so.type = "hold";
    so.task_queue = "test";
    cr_assert_eq(duro_client_start(c, &so, run), 0);
    /* the next claimant */
    duro_test_spawn(&h, "duro-scheduler", NULL);
    cr_assert(
        duro_test_wait_until(state_num(c, "dead", "actions") >= 3, 15000));
    cJSON *d = describe(c, "dead");
    const cJSON *a, *found = NULL;
    cJSON_ArrayForEach(a, cJSON_GetObjectItem(d, "recentActions"))
    {
        if (strcmp(duro_test_str(a, "workflowId"), wfid) == 0) {
            cr_assert_null(found, "%s recorded twice", wfid);
            found = a;
        }
    }
    cr_assert_not_null(found, "%s not recorded", wfid);
    cr_assert_str_eq(duro_test_str(found, "runId"), run);
    rep =
        redisCommand(r, "HGET duro:{p%d}:wf:%s run",
                     duro_partition_of(wfid, duro_client_partitions(c)), wfid);
    cr_assert_str_eq(rep->str, run, "a second run of %s", wfid);
    freeReplyObject(rep);
    cJSON_Delete(d);
    char ids[64][128];
    int n = wf_ids("dead", ids, 64);
    assert_contiguous(ids, n, "dead");
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}
