/* test_schedules_damage.c: a schedule's hash edited by hand (anyone with
 * Redis access can): the scheduler logs what is wrong, starts nothing it
 * cannot stand behind, and goes on with the other schedules; a counter
 * that is not a number does not cut a fire or a pause in half. No worker
 * runs: a started workflow stays RUNNING. */
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

TestSuite(schedules_damage, .init = setup, .fini = duro_test_fini,
          .timeout = 90);

/* ---- Helpers ---- */

static duro_schedule_opts every_second(const char *id)
{
    duro_schedule_opts o = {0};
    o.schedule_id = id;
    o.interval_ms = 1000;
    o.overlap_policy = "AllowAll";
    o.type = "hold";
    o.task_queue = "test";
    o.input = "{\"n\":1}";
    return o;
}

static double actions(duro_client *c, const char *id)
{
    cJSON *d = NULL;
    cr_assert_eq(duro_client_schedule_describe(c, id, &d), 0, "describe %s",
                 id);
    double v = duro_test_num(cJSON_GetObjectItem(d, "state"), "actions", -1);
    cJSON_Delete(d);
    return v;
}

/* hset sets field of schedule id's hash to value, as a hand edit does. */
static void hset(duro_client *c, const char *id, const char *field,
                 const char *value)
{
    duro_sched_keys k;
    duro_sched_keys_init(&k, DURO_KEYSPACE_DEFAULT(duro_client_partitions(c)),
                         id);
    redisContext *r = duro_test_redis(&h);
    redisReply *rep = redisCommand(r, "HSET %s %s %s", k.sched, field, value);
    cr_assert(rep && rep->type == REDIS_REPLY_INTEGER);
    freeReplyObject(rep);
    redisFree(r);
}

/* hget: field of schedule id's hash (caller frees). */
static char *hget(duro_client *c, const char *id, const char *field)
{
    duro_sched_keys k;
    duro_sched_keys_init(&k, DURO_KEYSPACE_DEFAULT(duro_client_partitions(c)),
                         id);
    redisContext *r = duro_test_redis(&h);
    redisReply *rep = redisCommand(r, "HGET %s %s", k.sched, field);
    char *v = strdup(rep && rep->type == REDIS_REPLY_STRING ? rep->str : "");
    freeReplyObject(rep);
    redisFree(r);
    return v;
}

/* workflows: how many workflows have an id that starts with prefix-. */
static int workflows(const char *prefix)
{
    redisContext *r = duro_test_redis(&h);
    char pattern[160];
    snprintf(pattern, sizeof(pattern), "duro:{p*}:wf:%s-*", prefix);
    redisReply *rep = redisCommand(r, "KEYS %s", pattern);
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY);
    int n = (int)rep->elements;
    freeReplyObject(rep);
    redisFree(r);
    return n;
}

static long long claims(duro_client *c, const char *id)
{
    char *v = hget(c, id, "claims");
    long long n = strtoll(v, NULL, 10);
    free(v);
    return n;
}

static void assert_whole(duro_client *c, const char *id, const char *field)
{
    char *v = hget(c, id, field), *end;
    (void)strtoll(v, &end, 10);
    cr_assert(*v && !*end, "%s of %s is \"%s\", not a whole number", field, id,
              v);
    free(v);
}

/* ---- Tests ---- */

/* Counters that are not whole numbers (a fire adds to missed, skipped,
 * actions; a claim to claims; a pause or an update to rev): read as 0 and
 * written whole, where HINCRBY failed after the Function's first write,
 * every time again. */
Test(schedules_damage, damaged_counters_are_repaired_not_fatal)
{
    duro_client *c = duro_test_client(&h);
    duro_schedule_opts o = every_second("counts");
    cr_assert_eq(duro_client_schedule_create(c, &o), 0);
    o = every_second("claims");
    cr_assert_eq(duro_client_schedule_create(c, &o), 0);
    hset(c, "counts", "missed", "abc");
    hset(c, "counts", "skipped", "1.5");
    hset(c, "counts", "actions", "");
    hset(c, "claims", "claims", "x");
    duro_test_spawn(&h, "duro-scheduler", NULL);
    cr_assert(duro_test_wait_until(actions(c, "counts") >= 2, 10000),
              "the fires of a schedule with damaged counts failed");
    cr_assert(duro_test_wait_until(actions(c, "claims") >= 2, 10000),
              "the claims of a schedule with a damaged counter failed");
    assert_whole(c, "counts", "missed");
    assert_whole(c, "counts", "skipped");
    assert_whole(c, "claims", "claims");

    /* a pause and an update bump rev: all of it or nothing */
    hset(c, "counts", "rev", "?");
    cr_assert_eq(duro_client_schedule_pause(c, "counts", true, "held"), 0, "%s",
                 duro_client_errstr(c));
    assert_whole(c, "counts", "rev");
    hset(c, "claims", "rev", "?");
    o = every_second("claims");
    o.paused = true;
    cr_assert_eq(duro_client_schedule_update(c, &o), 0, "%s",
                 duro_client_errstr(c));
    assert_whole(c, "claims", "rev");
    duro_client_free(c);
    duro_test_finish(&h);
}

/* An input that is not JSON, or a prefix that leaves no room for the
 * time (every workflow id would be empty): no run is started (one with
 * such an input has a history no worker can read, and holds the overlap
 * policy forever); the scheduler says why, the other schedules go on,
 * and the schedule fires again once repaired. */
Test(schedules_damage, damaged_input_starts_nothing_others_go_on)
{
    duro_client *c = duro_test_client(&h);
    duro_schedule_opts o = every_second("bad");
    cr_assert_eq(duro_client_schedule_create(c, &o), 0);
    o = every_second("good");
    cr_assert_eq(duro_client_schedule_create(c, &o), 0);
    o = every_second("long");
    cr_assert_eq(duro_client_schedule_create(c, &o), 0);
    hset(c, "bad", "input", "{\"n\":");
    char prefix[DURO_ID_MAX + 1];
    memset(prefix, 'p', DURO_ID_MAX);
    prefix[DURO_ID_MAX] = '\0';
    hset(c, "long", "prefix", prefix); /* no room for the time */
    pid_t s = duro_test_spawn(&h, "duro-scheduler", NULL);
    cr_assert(duro_test_wait_until(duro_test_log_contains(
                                       &h, s, "SCHEDULE ACTION BAD sched=bad"),
                                   10000),
              "the scheduler did not say what is wrong with bad");
    /* claimed twice: the first claim's fire is over (the log line of
     * the second bad schedule is rate-limited with the first's) */
    cr_assert(duro_test_wait_until(claims(c, "long") >= 2, 15000));
    cr_assert(duro_test_wait_until(actions(c, "good") >= 2, 10000));
    cr_assert_eq(workflows("bad"), 0, "a run was started with a bad input");
    redisContext *r = duro_test_redis(&h);
    redisReply *rep = redisCommand(r, "KEYS duro:{p*}:wf:");
    cr_assert_eq(rep->elements, 0, "a run was started with an empty id");
    freeReplyObject(rep);
    redisFree(r);
    cr_assert_eq(actions(c, "bad"), 0);
    hset(c, "bad", "input", "{\"n\":2}");
    cr_assert(duro_test_wait_until(workflows("bad") >= 1, 15000),
              "the repaired schedule never fired");
    duro_client_free(c);
    duro_test_finish(&h);
}
