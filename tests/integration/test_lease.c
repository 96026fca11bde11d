/* test_lease.c: eagerly dispatched activities held by a lease (library 35).
 *
 * A commit whose worker asks for leases (`L<n>` in the eager tail) records
 * the activity tasks it queues on the worker's own queue as started by
 * that worker: no stream entry (no XADD, XREADGROUP or XACK), the pending
 * activity's entry a lease `L<started>-<seq>-<attempt>`, and an `l` timer at
 * the attempt's start-to-close (or heartbeat) deadline that times it out as the
 * reclaim of an idle entry would. These tests call the Functions by hand (no
 * worker: the test claims the workflow task itself, as test_eager.c does);
 * test_lease_workers.c runs real workers. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "duro/fcall.h"
#include "duro/keys.h"
#include "harness_task.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(lease, .init = setup, .fini = duro_test_fini, .timeout = 120);

/* one_task: workflow `id` on queue `id`, its first workflow task claimed
 * (harness_task.h) */
typedef duro_test_task one_task;

static void task_init(one_task *t, const char *id)
{
    duro_test_task_init(&h, t, id);
}

static void task_free(one_task *t)
{
    duro_test_task_free(t);
}

/* commit: duro_wft_complete scheduling activity 1 (echo) on the worker's
 * own queue with start-to-close stc and heartbeat timeout hbt (ms), the
 * eager tail asking worker w1 for 4 tasks: leased (lease) or, as a worker
 * of library 34 asks, as stream entries. Returns the reply. */
static redisReply *commit_opts(one_task *t, const char *stc, const char *hbt,
                               bool lease, const char *opts)
{
    return duro_test_task_commit(t, opts, stc, hbt, "0", lease);
}

static redisReply *commit(one_task *t, const char *stc, const char *hbt,
                          bool lease)
{
    return commit_opts(t, stc, hbt, lease, "{}");
}

/* call runs a Function call built into a (freed) and returns its reply. */
static redisReply *call(one_task *t, duro_argv *a)
{
    redisReply *rep = redisCommandArgv(t->r, a->argc, a->argv, a->lens);
    duro_argv_free(a);
    cr_assert(rep, "redis: %s", t->r->errstr);
    return rep;
}

static redisReply *complete(one_task *t, long long attempt, const char *entry)
{
    duro_argv a;
    duro_fcall_attempt at = {
        .run = t->run, .seq = "1", .attempt = attempt, .entry = entry};
    duro_fcall_act_result res = {.data = "{\"seq\":1,\"result\":7}"};
    duro_fcall_act_complete(&a, &t->k, &at, &res, -1, NULL);
    return call(t, &a);
}

/* fire: duro_timer_fire of t's l timer, retry delay `delay` */
static redisReply *fire(one_task *t, long long delay)
{
    duro_argv a;
    duro_fcall_timer_fire(&a, &t->k, t->member, strlen(t->member));
    duro_argv_pushll(&a, delay);
    return call(t, &a);
}

static void assert_str_reply(redisReply *rep, const char *want)
{
    cr_assert(rep->type == REDIS_REPLY_STRING ||
                  rep->type == REDIS_REPLY_STATUS,
              "reply type %d: %s", rep->type,
              rep->type == REDIS_REPLY_ERROR ? rep->str : "");
    cr_assert_str_eq(rep->str, want);
    freeReplyObject(rep);
}

static long long integer(redisContext *r, const char *cmd, const char *key)
{
    redisReply *rep = duro_test_cmd(r, cmd, key, NULL);
    cr_assert_eq(rep->type, REDIS_REPLY_INTEGER);
    long long n = rep->integer;
    freeReplyObject(rep);
    return n;
}

/* score: the ms due of the l timer, -1 when absent */
static long long score(one_task *t)
{
    redisReply *rep =
        duro_test_cmd(t->r, "ZSCORE", t->k.timers, t->member, NULL);
    long long s =
        rep->type == REDIS_REPLY_STRING ? strtoll(rep->str, NULL, 10) : -1;
    freeReplyObject(rep);
    return s;
}

static long long redis_now_ms(redisContext *r)
{
    redisReply *rep = duro_test_cmd(r, "TIME", NULL);
    long long ms = strtoll(rep->element[0]->str, NULL, 10) * 1000 +
                   strtoll(rep->element[1]->str, NULL, 10) / 1000;
    freeReplyObject(rep);
    return ms;
}

/* state: activity 1's state record (caller frees), NULL when none */
static char *state(one_task *t)
{
    redisReply *rep = duro_test_cmd(t->r, "HGET", t->k.pa, "1", NULL);
    char *s = rep->type == REDIS_REPLY_STRING ? strdup(rep->str) : NULL;
    freeReplyObject(rep);
    return s;
}

/* called: how many times Redis ran cmd since CONFIG RESETSTAT */
static long long called(redisContext *r, const char *cmd)
{
    redisReply *rep = duro_test_cmd(r, "INFO", "commandstats", NULL);
    char want[64];
    snprintf(want, sizeof(want), "cmdstat_%s:calls=", cmd);
    const char *at = strstr(rep->str, want);
    long long n = at ? strtoll(at + strlen(want), NULL, 10) : 0;
    freeReplyObject(rep);
    return n;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

Test(lease, a_lease_starts_the_attempt_without_any_stream_command)
{
    one_task t;
    task_init(&t, "lease-fn");
    duro_test_cmd_ok(t.r, "CONFIG", "RESETSTAT", NULL);
    long long before = redis_now_ms(t.r);
    redisReply *rep = commit(&t, "10000", "0", true);
    /* flat after last and hlen, as a stream entry: stream, 1, id, fields */
    cr_assert_eq(rep->elements, 6, "no leased task in the reply");
    cr_assert_str_eq(rep->element[2]->str, t.k.act);
    cr_assert_eq(rep->element[3]->integer, 1);
    cr_assert_eq(t.lease[0], 'L', "entry %s is no lease", t.lease);
    const redisReply *f = rep->element[5];
    cr_assert(duro_test_field_is(f, "id", "lease-fn") &&
              duro_test_field_is(f, "run", t.run) &&
              duro_test_field_is(f, "seq", "1") &&
              duro_test_field_is(f, "attempt", "1") &&
              duro_test_field_is(f, "name", "echo") &&
              duro_test_field_is(f, "input", "null") &&
              duro_test_field_is(f, "opts", "{}") &&
              duro_test_field_is(f, "wfqueue", "lease-fn"));
    freeReplyObject(rep);
    /* the commit acked its workflow task entry, and that alone */
    cr_assert_eq(called(t.r, "xadd"), 0);
    cr_assert_eq(called(t.r, "xreadgroup"), 0);
    cr_assert_eq(called(t.r, "xack"), 1);
    cr_assert_eq(integer(t.r, "XLEN", t.k.act), 0);
    /* recorded as started: the state's entry is the lease ... */
    char *st = state(&t), want[80];
    snprintf(want, sizeof(want), "1,%s,", t.lease);
    cr_assert(st && !strncmp(st, want, strlen(want)), "state %s", st);
    free(st);
    /* ... and its l timer is due at its start-to-close */
    long long due = score(&t);
    cr_assert(due >= before + 10000 && due <= redis_now_ms(t.r) + 10000,
              "l timer due %lld", due);
    /* describe shows it started */
    cJSON *d = NULL;
    cr_assert_eq(duro_client_describe(t.c, "lease-fn", &d), 0);
    const cJSON *pend = cJSON_GetObjectItem(d, "pendingActivities");
    cr_assert_eq(cJSON_GetArraySize(pend), 1);
    cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(
                         cJSON_GetArrayItem(pend, 0), "state")),
                     "started");
    cJSON_Delete(d);
    /* completing it drops the timer: no XACK */
    duro_test_cmd_ok(t.r, "CONFIG", "RESETSTAT", NULL);
    assert_str_reply(complete(&t, 1, t.lease), "resolved");
    cr_assert_eq(score(&t), -1, "the l timer outlived the attempt");
    cr_assert_null(state(&t));
    cr_assert_eq(called(t.r, "xack"), 0);
    task_free(&t);
}

Test(lease, a_library_34_request_still_gets_stream_entries)
{
    one_task t;
    task_init(&t, "lease-old");
    redisReply *rep = commit(&t, "10000", "0", false);
    cr_assert_eq(rep->elements, 6);
    cr_assert_neq(rep->element[4]->str[0], 'L', "a lease for an old worker");
    freeReplyObject(rep);
    cr_assert_eq(integer(t.r, "XLEN", t.k.act), 1);
    cr_assert_eq(score(&t), -1, "an l timer for a stream entry");
    task_free(&t);
}

Test(lease, a_lease_times_out_after_its_start_to_close_and_is_retried)
{
    one_task t;
    task_init(&t, "lease-stc");
    freeReplyObject(commit(&t, "200", "0", true));
    assert_str_reply(fire(&t, 0), "early");
    cr_assert(duro_test_wait_until(redis_now_ms(t.r) > score(&t), 2000));
    assert_str_reply(fire(&t, 0), "fired");
    /* attempt 2 is queued in the stream (a retry goes there as today) */
    cr_assert_eq(integer(t.r, "XLEN", t.k.act), 1);
    char *st = state(&t);
    cr_assert(st && !strncmp(st, "2,", 2) && st[2] != 'L', "state %s", st);
    free(st);
    /* the late completion of attempt 1 is fenced: nothing changes */
    char pattern[32];
    snprintf(pattern, sizeof(pattern), "duro:{p%d}:*", t.p);
    redisReply *keys = duro_test_cmd(t.r, "KEYS", pattern, NULL);
    redisReply *dumps[64];
    cr_assert_lt(keys->elements, 64);
    for (size_t i = 0; i < keys->elements; i++)
        dumps[i] = duro_test_cmd(t.r, "DUMP", keys->element[i]->str, NULL);
    redisReply *rep = complete(&t, 1, t.lease);
    cr_assert_eq(rep->type, REDIS_REPLY_ERROR);
    cr_assert(!strncmp(rep->str, "DURO_STALE", 10), "%s", rep->str);
    freeReplyObject(rep);
    for (size_t i = 0; i < keys->elements; i++) {
        redisReply *d = duro_test_cmd(t.r, "DUMP", keys->element[i]->str, NULL);
        cr_assert(d->len == dumps[i]->len &&
                      !memcmp(d->str, dumps[i]->str, d->len),
                  "%s changed", keys->element[i]->str);
        freeReplyObject(d);
        freeReplyObject(dumps[i]);
    }
    freeReplyObject(keys);
    task_free(&t);
}

Test(lease, heartbeats_keep_a_lease_and_their_absence_times_it_out)
{
    one_task t;
    task_init(&t, "lease-hb");
    freeReplyObject(commit(&t, "60000", "300", true));
    long long first = score(&t);
    /* heartbeats every 100 ms past the first deadline: alive, re-armed */
    duro_argv a;
    duro_fcall_attempt at = {
        .run = t.run, .seq = "1", .attempt = 1, .entry = t.lease};
    for (int i = 0; i < 5; i++) {
        sleep_ms(100);
        duro_fcall_act_heartbeat(&a, &t.k, &at, NULL);
        assert_str_reply(call(&t, &a), "ok");
    }
    cr_assert_gt(redis_now_ms(t.r), first);
    assert_str_reply(fire(&t, -1), "fired");
    long long again = score(&t);
    cr_assert_gt(again, first, "not re-armed at the last heartbeat's due");
    char *st = state(&t), want[80];
    snprintf(want, sizeof(want), "1,%s,", t.lease);
    cr_assert(st && !strncmp(st, want, strlen(want)), "state %s", st);
    free(st);
    /* no more heartbeats: past the new deadline it times out (HEARTBEAT),
     * resolved (no retry) */
    cr_assert(duro_test_wait_until(redis_now_ms(t.r) > score(&t), 2000));
    assert_str_reply(fire(&t, -1), "fired");
    cr_assert_null(state(&t));
    redisReply *h = duro_test_cmd(t.r, "LRANGE", t.k.hist, "0", "-1", NULL);
    bool heartbeat = false;
    for (size_t i = 0; i < h->elements; i++)
        heartbeat |= strstr(h->element[i]->str, "HEARTBEAT") != NULL;
    freeReplyObject(h);
    cr_assert(heartbeat, "no HEARTBEAT timeout in the history");
    task_free(&t);
}

Test(lease, a_release_puts_the_same_attempt_in_the_stream)
{
    one_task t;
    task_init(&t, "lease-rel");
    freeReplyObject(commit(&t, "10000", "0", true));
    duro_argv a;
    duro_fcall_attempt at = {
        .run = t.run, .seq = "1", .attempt = 1, .entry = t.lease};
    duro_fcall_act_release(&a, &t.k, &at);
    assert_str_reply(call(&t, &a), "released");
    cr_assert_eq(score(&t), -1, "the l timer outlived the release");
    redisReply *rep = duro_test_cmd(t.r, "XRANGE", t.k.act, "-", "+", NULL);
    cr_assert_eq(rep->elements, 1);
    cr_assert(duro_test_field_is(rep->element[0]->element[1], "attempt", "1"));
    char *st = state(&t), want[96];
    snprintf(want, sizeof(want), "1,%s,", rep->element[0]->element[0]->str);
    cr_assert(st && !strncmp(st, want, strlen(want)), "state %s", st);
    free(st);
    freeReplyObject(rep);
    /* the lease's completion still wins (whichever completes first, as a
     * handed-back entry's), and the entry's worker is then fenced */
    assert_str_reply(complete(&t, 1, t.lease), "resolved");
    task_free(&t);
}

Test(lease, a_lease_timer_of_a_closed_run_is_ignored)
{
    one_task t;
    task_init(&t, "lease-closed");
    freeReplyObject(commit(&t, "200", "0", true));
    cr_assert_eq(duro_client_terminate(t.c, "lease-closed", "test"), 0);
    cr_assert(duro_test_wait_until(redis_now_ms(t.r) > score(&t), 2000));
    assert_str_reply(fire(&t, 0), "ignored");
    cr_assert_eq(score(&t), -1);
    cr_assert_eq(integer(t.r, "XLEN", t.k.act), 0, "a closed run retried");
    task_free(&t);
}

/* damage: set field of t's pa hash to a record of no valid shape */
static void damage(one_task *t, const char *field)
{
    duro_test_cmd_ok(t->r, "HSET", t->k.pa, field, "9,L1-9;", NULL);
}

/* dumps_equal: the partition's keys and DUMPs, before and after f */
static void assert_refused_unchanged(one_task *t, redisReply *(*f)(one_task *))
{
    char pattern[32];
    snprintf(pattern, sizeof(pattern), "duro:{p%d}:*", t->p);
    redisReply *keys = duro_test_cmd(t->r, "KEYS", pattern, NULL);
    redisReply *dumps[64];
    cr_assert_lt(keys->elements, 64);
    for (size_t i = 0; i < keys->elements; i++)
        dumps[i] = duro_test_cmd(t->r, "DUMP", keys->element[i]->str, NULL);
    redisReply *rep = f(t);
    cr_assert_eq(rep->type, REDIS_REPLY_ERROR);
    cr_assert(!strncmp(rep->str, "DURO_CORRUPT", 12), "%s", rep->str);
    freeReplyObject(rep);
    redisReply *now = duro_test_cmd(t->r, "KEYS", pattern, NULL);
    cr_assert_eq(now->elements, keys->elements);
    freeReplyObject(now);
    for (size_t i = 0; i < keys->elements; i++) {
        redisReply *d =
            duro_test_cmd(t->r, "DUMP", keys->element[i]->str, NULL);
        cr_assert(d->len == dumps[i]->len &&
                      !memcmp(d->str, dumps[i]->str, d->len),
                  "%s changed", keys->element[i]->str);
        freeReplyObject(d);
        freeReplyObject(dumps[i]);
    }
    freeReplyObject(keys);
}

static redisReply *complete_lease(one_task *t)
{
    return complete(t, 1, t->lease);
}

static redisReply *fire_lease(one_task *t)
{
    return fire(t, 0);
}

Test(lease, a_damaged_record_refuses_the_lease_paths_before_a_write)
{
    one_task t;
    task_init(&t, "lease-bad");
    freeReplyObject(commit(&t, "200", "0", true));
    cr_assert(duro_test_wait_until(redis_now_ms(t.r) > score(&t), 2000));
    char *good = state(&t);
    damage(&t, "1");
    assert_refused_unchanged(&t, complete_lease);
    assert_refused_unchanged(&t, fire_lease);
    duro_test_cmd_ok(t.r, "HSET", t.k.pa, "1", good, NULL);
    free(good);
    damage(&t, "1.s"); /* the fire reads the schedule: stc, hbt */
    assert_refused_unchanged(&t, fire_lease);
    task_free(&t);
}

/* The scheduler fires the l timer, computing the retry delay from the
 * activity's options as it does for an idle stream entry's timeout. */
Test(lease, the_scheduler_times_a_dead_lease_out_and_retries_it)
{
    one_task t;
    task_init(&t, "lease-sched");
    freeReplyObject(commit_opts(
        &t, "300", "0", true,
        "{\"retry\":{\"initialIntervalMs\":10,\"maximumAttempts\":3}}"));
    cr_assert_eq(integer(t.r, "XLEN", t.k.act), 0);
    duro_test_spawn(&h, "duro-scheduler", NULL);
    /* attempt 2 comes through the stream after its 10 ms retry delay */
    cr_assert(duro_test_wait_until(integer(t.r, "XLEN", t.k.act) == 1, 15000),
              "the leased attempt was not timed out and retried");
    redisReply *rep = duro_test_cmd(t.r, "XRANGE", t.k.act, "-", "+", NULL);
    cr_assert(duro_test_field_is(rep->element[0]->element[1], "attempt", "2"));
    freeReplyObject(rep);
    cr_assert_eq(score(&t), -1);
    redisReply *hist = duro_test_cmd(t.r, "HGET", t.k.pa, "1", NULL);
    cr_assert(hist->type == REDIS_REPLY_STRING &&
                  strstr(hist->str, "START_TO_CLOSE"),
              "failure not recorded");
    freeReplyObject(hist);
    task_free(&t);
}

/* Two activities in one commit: each lease carries its own task's fields
 * (the commands are loaded into one table: a lease must copy them) and
 * its own id. */
Test(lease, each_lease_of_a_commit_is_its_own_task)
{
    one_task t;
    task_init(&t, "lease-two");
    const char *fields[] = {"activity", "1",  "{\"seq\":1}", "9", "echo",
                            "\"one\"",  "{}", "10000",       "0", "0",
                            "activity", "2",  "{\"seq\":2}", "9", "add_one",
                            "\"two\"",  "{}", "10000",       "0", "0"};
    redisReply *rep =
        duro_test_task_commit_cmds(&t, fields, 20, 2, DURO_TEST_EAGER_LEASES);
    /* last, hlen, stream, 2, id1, {fields1}, id2, {fields2} */
    cr_assert_eq(rep->elements, 8, "two leases under one stream");
    cr_assert_eq(rep->element[3]->integer, 2);
    cr_assert_str_neq(rep->element[4]->str, rep->element[6]->str);
    const redisReply *f1 = rep->element[5], *f2 = rep->element[7];
    cr_assert(duro_test_field_is(f1, "seq", "1") &&
              duro_test_field_is(f1, "name", "echo") &&
              duro_test_field_is(f1, "input", "\"one\""));
    cr_assert(duro_test_field_is(f2, "seq", "2") &&
              duro_test_field_is(f2, "name", "add_one") &&
              duro_test_field_is(f2, "input", "\"two\""));
    freeReplyObject(rep);
    cr_assert_eq(integer(t.r, "XLEN", t.k.act), 0);
    task_free(&t);
}
