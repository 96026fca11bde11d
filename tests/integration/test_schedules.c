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

/* metric: duro_scheduler_schedule_actions_total{result=...} in body. */
static double metric(const char *body, const char *result)
{
    char key[128];
    snprintf(key, sizeof(key),
             "\nduro_scheduler_schedule_actions_total{result=\"%s\"} ", result);
    const char *p = strstr(body, key);
    return p ? strtod(p + strlen(key), NULL) : -1;
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
    duro_test_sleep_ms(1000); /* a fire in flight lands */
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

/* An unpause of a schedule that is not paused resumes nothing, so it
 * drops nothing: the times a scheduler still has to take (here: none ran
 * yet) are taken, from the first. */
Test(schedules, unpause_of_an_active_schedule_keeps_its_pending_times)
{
    duro_client *c = duro_test_client(&h);
    duro_schedule_opts o = every_second("keep", "AllowAll");
    cr_assert_eq(duro_client_schedule_create(c, &o), 0);
    duro_sched_keys k;
    duro_sched_keys_init(&k, DURO_KEYSPACE_DEFAULT(duro_client_partitions(c)),
                         "keep");
    redisContext *r = duro_test_redis(&h);
    redisReply *rep = redisCommand(r, "HGET %s next_nominal", k.sched);
    int64_t first = strtoll(rep->str, NULL, 10);
    freeReplyObject(rep);
    redisFree(r);
    cr_assert(duro_test_wait_until(redis_now() > first + 1500, 10000));
    cr_assert_eq(duro_client_schedule_pause(c, "keep", false, "a no-op"), 0);
    duro_test_spawn(&h, "duro-scheduler", NULL);
    cr_assert(
        duro_test_wait_until(state_num(c, "keep", "actions") >= 2, 10000));
    char ids[64][128], want[128], t[DURO_RFC3339_LEN];
    snprintf(want, sizeof(want), "keep-%s", duro_rfc3339(first, t, sizeof(t)));
    cr_assert_geq(wf_ids("keep", ids, 64), 2);
    cr_assert_str_eq(ids[0], want, "the unpause dropped the times before it");
    cJSON *d = describe(c, "keep");
    cr_assert_str_eq(duro_test_str(cJSON_GetObjectItem(d, "state"), "note"),
                     "a no-op");
    cJSON_Delete(d);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* While paused, describe's next times are those an unpause would take:
 * from now, not from where the pause left the schedule. */
Test(schedules, a_paused_schedule_shows_next_times_from_now)
{
    duro_client *c = duro_test_client(&h);
    duro_schedule_opts o = every_second("idle", "AllowAll");
    o.paused = true;
    cr_assert_eq(duro_client_schedule_create(c, &o), 0);
    int64_t created = redis_now();
    cr_assert(duro_test_wait_until(redis_now() > created + 2500, 10000));
    int64_t before = redis_now();
    cJSON *d = describe(c, "idle");
    const cJSON *times = cJSON_GetObjectItem(d, "nextTimes");
    cr_assert_eq(cJSON_GetArraySize(times), 5);
    int64_t first;
    cr_assert_eq(
        duro_rfc3339_parse(cJSON_GetStringValue(cJSON_GetArrayItem(times, 0)),
                           &first),
        0);
    cr_assert_gt(first, before, "a next time before now, never to be taken");
    cJSON_Delete(d);
    cJSON *rows = NULL;
    cr_assert_eq(duro_client_schedule_list(c, &rows), 0);
    int64_t listed = 0;
    cr_assert_eq(
        duro_rfc3339_parse(
            duro_test_str(cJSON_GetArrayItem(rows, 0), "nextTime"), &listed),
        0);
    cr_assert_gt(listed, before, "list: a next time before now");
    cJSON_Delete(rows);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* A pause (or an update that pauses) while a trigger waits for the
 * scheduler leaves the trigger's timer: a trigger acts while paused. */
Test(schedules, a_pause_keeps_a_waiting_trigger)
{
    duro_client *c = duro_test_client(&h);
    duro_schedule_opts o = every_second("held", "AllowAll");
    o.interval_ms = (int64_t)3600 * 1000;
    o.paused = true;
    cr_assert_eq(duro_client_schedule_create(c, &o), 0);
    cr_assert_eq(duro_client_schedule_trigger(c, "held"), 0);
    cr_assert_eq(duro_client_schedule_update(c, &o), 0);
    cr_assert_eq(duro_client_schedule_pause(c, "held", true, "still"), 0);
    duro_test_spawn(&h, "duro-scheduler", NULL);
    cr_assert(duro_test_wait_until(state_num(c, "held", "actions") == 1, 8000),
              "the trigger was never acted on");
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(schedules, trigger_acts_now_even_when_paused)
{
    duro_client *c = duro_test_client(&h);
    duro_schedule_opts o = every_second("trig", "AllowAll");
    o.interval_ms = (int64_t)3600 * 1000;
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

/* A backfill on a paused schedule with BufferAll (what Temporal advises
 * for backfills): the times buffered behind the first start when it
 * closes, though the schedule is paused (the buffer keeps its timer). */
Test(schedules, a_buffered_backfill_goes_on_while_paused)
{
    duro_client *c = duro_test_client(&h);
    duro_schedule_opts o = every_second("bfp", "BufferAll");
    o.interval_ms = 60000;
    o.paused = true;
    cr_assert_eq(duro_client_schedule_create(c, &o), 0);
    duro_test_spawn(&h, "duro-scheduler", NULL);
    int64_t start, end;
    duro_rfc3339_parse("2026-01-01T10:00:00Z", &start);
    duro_rfc3339_parse("2026-01-01T10:02:00Z", &end);
    cr_assert_eq(duro_client_schedule_backfill(c, "bfp", start, end), 0);
    cr_assert(
        duro_test_wait_until(state_num(c, "bfp", "buffered") == 2, 10000));
    cr_assert_eq(state_num(c, "bfp", "actions"), 1);
    cr_assert_eq(duro_client_terminate(c, "bfp-2026-01-01T10:00:00Z", "test"),
                 0);
    cr_assert(duro_test_wait_until(state_num(c, "bfp", "actions") == 2, 8000),
              "the buffered backfill waited for an unpause");
    char ids[4][128];
    cr_assert_eq(wf_ids("bfp", ids, 4), 2);
    cr_assert_str_eq(ids[1], "bfp-2026-01-01T10:01:00Z");
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
    int port = duro_test_free_port();
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    duro_test_spawn(&h, "duro-scheduler", "--metrics-addr", addr, NULL);
    cr_assert(duro_test_wait_until(state_num(c, "all", "actions") >= 4, 10000));
    cr_assert(duro_test_wait_until(state_num(c, "skip", "skipped") >= 2, 5000));
    char ids[64][128];
    cr_assert_eq(wf_ids("skip", ids, 64), 1, "Skip started a second run");
    cr_assert_eq(state_num(c, "skip", "actions"), 1);
    cr_assert_geq(wf_ids("all", ids, 64), 4);
    /* the metric: every start and skip of both, as recorded */
    static char body[1 << 16];
    cr_assert_eq(duro_test_http_get(port, "/metrics", body, sizeof(body)), 200);
    double started = metric(body, "started"), skipped = metric(body, "skipped");
    double want_started = state_num(c, "all", "actions") + 1;
    cr_assert(started >= want_started - 1 && started <= want_started + 1,
              "started %.0f, recorded %.0f", started, want_started);
    cr_assert_geq(skipped, 2);
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
    duro_sched_keys_init(&k, DURO_KEYSPACE_DEFAULT(duro_client_partitions(c)),
                         "dead");
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

/* ---- Overlap policies that wait for a run to close ---- */

static const char *wf_field(const char *wfid, const char *field)
{
    static char out[64];
    redisContext *r = duro_test_redis(&h);
    redisReply *rep = redisCommand(r, "HGET duro:{p%d}:wf:%s %s",
                                   duro_partition_of(wfid, 16), wfid, field);
    snprintf(out, sizeof(out), "%s",
             rep && rep->type == REDIS_REPLY_STRING ? rep->str : "");
    freeReplyObject(rep);
    redisFree(r);
    return out;
}

static int count_ids(const char *prefix)
{
    char ids[128][128];
    return wf_ids(prefix, ids, 128);
}

/* buffered_then_released: policy `overlap` buffers while the first run
 * runs; once it is terminated the next start is the second nominal time
 * (the buffer keeps the oldest first). */
static void buffered_then_released(const char *id, const char *overlap)
{
    duro_client *c = duro_test_client(&h);
    duro_schedule_opts o = every_second(id, overlap);
    cr_assert_eq(duro_client_schedule_create(c, &o), 0);
    duro_test_spawn(&h, "duro-scheduler", NULL);
    cr_assert(duro_test_wait_until(state_num(c, id, "buffered") >= 1, 10000));
    duro_test_sleep_ms(2200);
    cr_assert_eq(count_ids(id), 1, "%s started while one runs", overlap);
    char ids[4][128];
    wf_ids(id, ids, 4);
    char first[128];
    snprintf(first, sizeof(first), "%s", ids[0]);
    if (strcmp(overlap, "CancelOther") == 0)
        cr_assert(
            duro_test_wait_until(
                strcmp(wf_field(first, "cancel_requested"), "1") == 0, 5000),
            "CancelOther did not ask %s to cancel", first);
    cr_assert_eq(duro_client_terminate(c, first, "test"), 0);
    cr_assert(duro_test_wait_until(count_ids(id) >= 2, 5000));
    wf_ids(id, ids, 4);
    /* the buffer keeps the oldest first; CancelOther keeps the newest */
    if (strcmp(overlap, "CancelOther") != 0)
        cr_assert_eq(nominal_of(ids[1], id) - nominal_of(ids[0], id), 1000,
                     "released %s, not the second time", ids[1]);
    duro_client_free(c);
}

Test(schedules, buffer_one_keeps_one_and_skips_the_rest)
{
    buffered_then_released("b1", "BufferOne");
    duro_client *c = duro_test_client(&h);
    cr_assert_geq(state_num(c, "b1", "skipped"), 1);
    cr_assert_leq(state_num(c, "b1", "buffered"), 1);
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(schedules, buffer_all_keeps_every_time)
{
    buffered_then_released("ba", "BufferAll");
    duro_client *c = duro_test_client(&h);
    cr_assert_eq(state_num(c, "ba", "skipped"), 0);
    cr_assert_geq(state_num(c, "ba", "buffered"), 2);
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(schedules, cancel_other_asks_the_run_to_cancel_and_waits)
{
    buffered_then_released("co", "CancelOther");
    char ids[4][128];
    wf_ids("co", ids, 4);
    /* the first was asked to cancel before the test ended it (checked in
     * buffered_then_released: a closed run's hash keeps no open-run
     * fields, and a request buffered behind a task no worker ran never
     * reaches the history) and the newest time started */
    cr_assert(ids[1][0], "nothing started after the cancel");
    duro_test_finish(&h);
}

Test(schedules, terminate_other_ends_the_run_and_starts)
{
    duro_client *c = duro_test_client(&h);
    duro_schedule_opts o = every_second("to", "TerminateOther");
    cr_assert_eq(duro_client_schedule_create(c, &o), 0);
    duro_test_spawn(&h, "duro-scheduler", NULL);
    cr_assert(duro_test_wait_until(state_num(c, "to", "actions") >= 3, 10000));
    duro_test_sleep_ms(300);
    char ids[64][128];
    int n = wf_ids("to", ids, 64);
    assert_contiguous(ids, n, "to");
    int running = 0;
    for (int i = 0; i < n; i++) {
        const char *st = wf_field(ids[i], "status");
        running += strcmp(st, "RUNNING") == 0;
        if (i < n - 2) cr_assert_str_eq(st, "TERMINATED", "%s", ids[i]);
    }
    cr_assert_leq(running, 1);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* ---- Cron with a time zone, through the scheduler ---- */

/* Backfill runs the spec over a past range, so a DST change is tested
 * without waiting for it: 02:30 Berlin does not exist on 2026-03-29
 * (shifted to 03:30 CEST) and happens twice on 2026-10-25 (fires once). */
Test(schedules, cron_in_a_time_zone_across_both_dst_changes)
{
    duro_client *c = duro_test_client(&h);
    duro_schedule_opts o = every_second("dst", "AllowAll");
    o.interval_ms = 0;
    o.cron = "30 2 * * *";
    o.time_zone = "Europe/Berlin";
    o.paused = true;
    cr_assert_eq(duro_client_schedule_create(c, &o), 0);
    duro_test_spawn(&h, "duro-scheduler", NULL);
    int64_t a, b, c1, d1;
    duro_rfc3339_parse("2026-03-28T00:00:00Z", &a);
    duro_rfc3339_parse("2026-03-30T23:00:00Z", &b);
    duro_rfc3339_parse("2026-10-24T12:00:00Z", &c1);
    duro_rfc3339_parse("2026-10-26T12:00:00Z", &d1);
    cr_assert_eq(duro_client_schedule_backfill(c, "dst", a, b), 0);
    cr_assert_eq(duro_client_schedule_backfill(c, "dst", c1, d1), 0);
    cr_assert(duro_test_wait_until(state_num(c, "dst", "actions") == 5, 10000));
    duro_test_sleep_ms(300);
    char ids[8][128];
    cr_assert_eq(wf_ids("dst", ids, 8), 5);
    const char *want[] = {
        "dst-2026-03-28T01:30:00Z", "dst-2026-03-29T01:30:00Z",
        "dst-2026-03-30T00:30:00Z", "dst-2026-10-25T00:30:00Z",
        "dst-2026-10-26T01:30:00Z"};
    for (int i = 0; i < 5; i++)
        cr_assert_str_eq(ids[i], want[i]);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* ---- The command line ---- */

Test(schedules, cli_creates_describes_lists_and_deletes)
{
    duro_test_output out;
    duro_test_run(
        &h, &out, 10000, "duro", "schedule", "create", "--schedule-id", "cli",
        "--cron", "0 9 * * mon-fri", "--time-zone", "Europe/Berlin", "--jitter",
        "30s", "--overlap-policy", "BufferOne", "--catchup-window", "1m",
        "--paused", "--note", "not yet", "--type", "hold", "--task-queue",
        "test", "--input", "{\"n\":1}", "--workflow-id-prefix", "daily", NULL);
    cr_assert_eq(out.exit_code, 0, "%s", out.err);
    duro_test_output_free(&out);
    duro_test_run(&h, &out, 10000, "duro", "schedule", "describe",
                  "--schedule-id", "cli", "-o", "json", NULL);
    cr_assert_eq(out.exit_code, 0, "%s", out.err);
    cJSON *d = cJSON_Parse(out.out);
    cr_assert_not_null(d, "%s", out.out);
    const cJSON *spec = cJSON_GetObjectItem(d, "spec");
    cr_assert_str_eq(duro_test_str(spec, "cron"), "0 9 * * mon-fri");
    cr_assert_str_eq(duro_test_str(spec, "timeZone"), "Europe/Berlin");
    cr_assert_str_eq(duro_test_str(spec, "jitter"), "30s");
    const cJSON *pol = cJSON_GetObjectItem(d, "policies");
    cr_assert_str_eq(duro_test_str(pol, "overlap"), "BufferOne");
    cr_assert_str_eq(duro_test_str(pol, "catchupWindow"), "1m");
    const cJSON *st = cJSON_GetObjectItem(d, "state");
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(st, "paused")));
    cr_assert_str_eq(duro_test_str(st, "note"), "not yet");
    const cJSON *next = cJSON_GetObjectItem(d, "nextTimes");
    cr_assert_eq(cJSON_GetArraySize(next), 5);
    for (int i = 0; i < 5; i++) { /* 09:00 Berlin: 07:00Z or 08:00Z */
        const char *t = cJSON_GetStringValue(cJSON_GetArrayItem(next, i));
        cr_assert(strstr(t, "T07:00:00Z") || strstr(t, "T08:00:00Z"), "%s", t);
    }
    cJSON_Delete(d);
    duro_test_output_free(&out);
    duro_test_run(&h, &out, 10000, "duro", "schedule", "list", NULL);
    cr_assert_eq(out.exit_code, 0, "%s", out.err);
    cr_assert(strstr(out.out, "cli") && strstr(out.out, "paused"), "%s",
              out.out);
    duro_test_output_free(&out);
    duro_test_run(&h, &out, 10000, "duro", "schedule", "create",
                  "--schedule-id", "x", "--cron", "61 * * * *", "--type", "t",
                  "--task-queue", "q", NULL);
    cr_assert_eq(out.exit_code, 2, "a bad cron is a usage error: %s", out.err);
    cr_assert(strstr(out.err, "minute"), "%s", out.err);
    duro_test_output_free(&out);
    duro_test_run(&h, &out, 10000, "duro", "schedule", "delete",
                  "--schedule-id", "cli", NULL);
    cr_assert_eq(out.exit_code, 0, "%s", out.err);
    duro_test_output_free(&out);
    duro_test_run(&h, &out, 10000, "duro", "schedule", "describe",
                  "--schedule-id", "cli", NULL);
    cr_assert_eq(out.exit_code, 1);
    duro_test_output_free(&out);
    duro_test_finish(&h);
}

Test(schedules, update_replaces_the_spec_and_keeps_the_state)
{
    duro_client *c = duro_test_client(&h);
    duro_schedule_opts o = every_second("up", "AllowAll");
    o.interval_ms = (int64_t)3600 * 1000;
    cr_assert_eq(duro_client_schedule_create(c, &o), 0);
    duro_test_spawn(&h, "duro-scheduler", NULL);
    cr_assert_eq(duro_client_schedule_trigger(c, "up"), 0);
    cr_assert(duro_test_wait_until(state_num(c, "up", "actions") == 1, 10000));
    o.interval_ms = 1000;
    o.workflow_id_prefix = "up2";
    cr_assert_eq(duro_client_schedule_update(c, &o), 0);
    cr_assert(duro_test_wait_until(state_num(c, "up", "actions") >= 3, 10000));
    cr_assert_geq(count_ids("up2"), 2, "the new prefix is not used");
    o.schedule_id = "absent";
    cr_assert_eq(duro_client_schedule_update(c, &o), DURO_ENOTFOUND);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* A trigger on a paused schedule whose last claimant died (its claim
 * token left behind) is still acted on. */
Test(schedules, trigger_after_a_dead_claimant_and_a_pause)
{
    duro_client *c = duro_test_client(&h);
    duro_schedule_opts o = every_second("orphan", "AllowAll");
    cr_assert_eq(duro_client_schedule_create(c, &o), 0);
    duro_sched_keys k;
    duro_sched_keys_init(&k, DURO_KEYSPACE_DEFAULT(duro_client_partitions(c)),
                         "orphan");
    redisContext *r = duro_test_redis(&h);
    redisReply *rep;
    for (int i = 0; i < 100; i++) { /* claim it once it is due, and die */
        rep = redisCommand(r, "FCALL duro_sched_claim 3 %s %s %s orphan 3000",
                           k.sched, k.req, k.timers);
        bool claimed = rep->type == REDIS_REPLY_ARRAY;
        freeReplyObject(rep);
        if (claimed) break;
        duro_test_sleep_ms(20);
    }
    cr_assert_eq(duro_client_schedule_pause(c, "orphan", true, NULL), 0);
    cr_assert_eq(duro_client_schedule_trigger(c, "orphan"), 0);
    duro_test_spawn(&h, "duro-scheduler", NULL);
    cr_assert(
        duro_test_wait_until(state_num(c, "orphan", "actions") == 1, 8000),
        "the trigger was never acted on");
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* The claim fences the fire: a scheduler slower than its lease, whose
 * claim another took over, records nothing; malformed arguments are
 * refused before anything is written. */
Test(schedules, a_fire_with_a_replaced_claim_records_nothing)
{
    duro_client *c = duro_test_client(&h);
    duro_schedule_opts o = every_second("fence", "AllowAll");
    cr_assert_eq(duro_client_schedule_create(c, &o), 0);
    duro_sched_keys k;
    duro_sched_keys_init(&k, DURO_KEYSPACE_DEFAULT(duro_client_partitions(c)),
                         "fence");
    redisContext *r = duro_test_redis(&h);
    char tok[2][64];
    for (int n = 0; n < 2; n++) {
        redisReply *rep = NULL;
        for (int i = 0; i < 200; i++) { /* due, or the lease over */
            rep = redisCommand(r, "FCALL duro_sched_claim 3 %s %s %s fence 100",
                               k.sched, k.req, k.timers);
            if (rep->type == REDIS_REPLY_ARRAY) break;
            freeReplyObject(rep);
            rep = NULL;
            duro_test_sleep_ms(20);
        }
        cr_assert_not_null(rep, "claim %d never succeeded", n);
        snprintf(tok[n], sizeof(tok[n]), "%s", rep->element[1]->str);
        freeReplyObject(rep);
    }
    cr_assert_str_neq(tok[0], tok[1]);
    /* id token rev next_nominal due running buffer missed skipped
     * nactions nreq requeue action... */
    const char *bad[] = {"FCALL",  "duro_sched_fire",
                         "4",      k.sched,
                         k.acts,   k.req,
                         k.timers, "fence",
                         tok[1],   "1",
                         "x",      "-",
                         "",       "",
                         "0",      "0",
                         "0",      "0",
                         ""};
    redisReply *rep = redisCommandArgv(r, 19, bad, NULL);
    cr_assert_eq(rep->type, REDIS_REPLY_ERROR, "a bad next_nominal accepted");
    freeReplyObject(rep);
    rep = redisCommand(r, "HGET %s claim", k.sched);
    cr_assert_str_eq(rep->str, tok[1], "the refused call wrote");
    freeReplyObject(rep);
    const char *old[] = {"FCALL",  "duro_sched_fire",
                         "4",      k.sched,
                         k.acts,   k.req,
                         k.timers, "fence",
                         tok[0],   "1",
                         "0",      "-",
                         "",       "",
                         "0",      "0",
                         "1",      "0",
                         "",       "{}"};
    rep = redisCommandArgv(r, 20, old, NULL);
    cr_assert_str_eq(rep->str, "stale");
    freeReplyObject(rep);
    cr_assert_eq(state_num(c, "fence", "actions"), 0);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}
