/* test_lease_paths.c: the paths of an attempt that test_lease.c does not
 * walk, for a leased attempt (eager dispatch, library 35: its entry
 * `L<started>-<seq>-<attempt>`, an `l` timer instead of a stream entry),
 * held to "same as a stream entry read when the lease was made":
 * schedule-to-start after a hand-back, a stale call's timer, a failure's
 * retry, schedule-to-close, the outside completion (by workflow and
 * activity id, or by task token) and a stale heartbeat. The Functions are
 * called by hand, the test claiming the workflow task as test_lease.c
 * does. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "duro/fcall.h"
#include "duro/keys.h"
#include "duro/task_token.h"
#include "harness_task.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(lease_paths, .init = setup, .fini = duro_test_fini, .timeout = 120);

/* one_task: workflow `id` on queue `id`, its first workflow task claimed,
 * then committed scheduling activity 1 leased to worker w1
 * (harness_task.h) */
typedef duro_test_task one_task;

/* member: t's timer of kind (l, q, r: attempt 1; s: 0) into out */
static const char *member(const one_task *t, char kind, char *out, size_t n)
{
    snprintf(out, n, "%c|%s|1|%s|%s|%s|%s", kind, t->run,
             kind == 's' ? "0" : "1", t->id, t->id, t->id);
    return out;
}

/* lease_task: start id, claim its task, commit activity 1 with options
 * opts, start-to-close stc and schedule-to-close stc2 (ms), leased. */
static void lease_task(one_task *t, const char *id, const char *opts,
                       const char *stc, const char *stc2)
{
    duro_test_task_init(&h, t, id);
    redisReply *rep = duro_test_task_commit(t, opts, stc, "0", stc2, true);
    cr_assert(rep->elements == 6 && t->lease[0] == 'L', "no lease made");
    freeReplyObject(rep);
}

static void task_free(one_task *t)
{
    duro_test_task_free(t);
}

static redisReply *call(one_task *t, duro_argv *a)
{
    redisReply *rep = redisCommandArgv(t->r, a->argc, a->argv, a->lens);
    duro_argv_free(a);
    cr_assert(rep, "redis: %s", t->r->errstr);
    return rep;
}

static void assert_str_reply(redisReply *rep, const char *want)
{
    cr_assert(rep->type == REDIS_REPLY_STRING ||
                  rep->type == REDIS_REPLY_STATUS,
              "reply type %d: %s (want %s)", rep->type,
              rep->type == REDIS_REPLY_ERROR ? rep->str : "", want);
    cr_assert_str_eq(rep->str, want);
    freeReplyObject(rep);
}

static void assert_stale(redisReply *rep)
{
    cr_assert_eq(rep->type, REDIS_REPLY_ERROR);
    cr_assert(!strncmp(rep->str, "DURO_STALE", 10), "%s", rep->str);
    freeReplyObject(rep);
}

/* release: duro_act_release of the lease, delay_ms after it */
static redisReply *release(one_task *t, long long delay_ms)
{
    duro_argv a;
    duro_fcall_attempt at = {
        .run = t->run, .seq = "1", .attempt = 1, .entry = t->lease};
    duro_fcall_act_release(&a, &t->k, &at);
    duro_argv_pushll(&a, delay_ms);
    return call(t, &a);
}

static redisReply *complete(one_task *t, bool failed, long long delay)
{
    duro_argv a;
    duro_fcall_attempt at = {
        .run = t->run, .seq = "1", .attempt = 1, .entry = t->lease};
    duro_fcall_act_result res = {
        .failed = failed,
        .data = failed ? "{\"seq\":1,\"failure\":{\"message\":\"no\"}}"
                       : "{\"seq\":1,\"result\":7}",
        .retry_delay_ms = delay,
        .failure = failed ? "{\"message\":\"no\"}" : NULL};
    duro_fcall_act_complete(&a, &t->k, &at, &res, -1, NULL);
    return call(t, &a);
}

static redisReply *fire(one_task *t, char kind, long long delay)
{
    char m[512];
    member(t, kind, m, sizeof(m));
    duro_argv a;
    duro_fcall_timer_fire(&a, &t->k, m, strlen(m));
    duro_argv_pushll(&a, delay);
    return call(t, &a);
}

/* score: the ms due of t's timer of kind, -1 when absent */
static long long score(one_task *t, char kind)
{
    char m[512];
    redisReply *rep = duro_test_cmd(t->r, "ZSCORE", t->k.timers,
                                    member(t, kind, m, sizeof(m)), NULL);
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

static long long xlen(one_task *t)
{
    redisReply *rep = duro_test_cmd(t->r, "XLEN", t->k.act, NULL);
    cr_assert_eq(rep->type, REDIS_REPLY_INTEGER);
    long long n = rep->integer;
    freeReplyObject(rep);
    return n;
}

/* pending: whether activity 1 is still pending, its state's attempt in
 * *attempt */
static bool pending(one_task *t, long long *attempt)
{
    redisReply *rep = duro_test_cmd(t->r, "HGET", t->k.pa, "1", NULL);
    bool is = rep->type == REDIS_REPLY_STRING;
    if (is && attempt) *attempt = strtoll(rep->str, NULL, 10);
    freeReplyObject(rep);
    return is;
}

/* history_has: whether an event of the run's history holds text */
static bool history_has(one_task *t, const char *text)
{
    redisReply *rep = duro_test_cmd(t->r, "LRANGE", t->k.hist, "0", "-1", NULL);
    bool has = false;
    for (size_t i = 0; i < rep->elements; i++)
        has |= strstr(rep->element[i]->str, text) != NULL;
    freeReplyObject(rep);
    return has;
}

#define STS "{\"scheduleToStartMs\":60000}"

/* A stream entry put back because its concurrency key is full keeps the
 * q timer armed when it was queued (arm_sts); a lease had none (started),
 * so its hand-back arms it at the lease's start plus the schedule-to-start,
 * and the retry timer's enqueue keeps that deadline. */
Test(lease_paths, a_deferred_lease_keeps_its_first_schedule_to_start)
{
    one_task t;
    lease_task(&t, "lp-defer", STS, "10000", "0");
    cr_assert_eq(score(&t, 'q'), -1, "a lease with a q timer");
    assert_str_reply(release(&t, 100), "deferred");
    cr_assert_eq(score(&t, 'l'), -1);
    cr_assert_eq(score(&t, 'q'), t.started + 60000,
                 "q due %lld, the lease started at %lld", score(&t, 'q'),
                 t.started);
    cr_assert(duro_test_wait_until(redis_now_ms(t.r) > score(&t, 'r'), 2000));
    assert_str_reply(fire(&t, 'r', -1), "fired");
    cr_assert_eq(xlen(&t), 1, "the attempt was not queued");
    cr_assert_eq(score(&t, 'q'), t.started + 60000,
                 "the retry timer moved the schedule-to-start deadline");
    task_free(&t);
}

Test(lease_paths, a_lease_handed_back_at_once_keeps_its_first_schedule_to_start)
{
    one_task t;
    lease_task(&t, "lp-back", STS, "10000", "0");
    assert_str_reply(release(&t, 0), "released");
    cr_assert_eq(xlen(&t), 1);
    cr_assert_eq(score(&t, 'q'), t.started + 60000,
                 "q due %lld, the lease started at %lld", score(&t, 'q'),
                 t.started);
    task_free(&t);
}

/* Its schedule-to-start past while it ran: a stream entry's q timer fired
 * `ignored` meanwhile (taken); the hand-back arms none. */
Test(lease_paths, a_lease_handed_back_after_its_schedule_to_start_has_none)
{
    one_task t;
    lease_task(&t, "lp-late", "{\"scheduleToStartMs\":100}", "10000", "0");
    cr_assert(duro_test_wait_until(redis_now_ms(t.r) > t.started + 150, 2000));
    assert_str_reply(release(&t, 0), "released");
    cr_assert_eq(xlen(&t), 1);
    cr_assert_eq(score(&t, 'q'), -1, "a schedule-to-start already past");
    task_free(&t);
}

/* A stale call acks a stream entry; for a lease it drops the l timer, so
 * that no timer stands for an attempt that is over (the time-skipping
 * environment counts each l timer as a running attempt). */
Test(lease_paths, a_stale_completion_of_a_lease_drops_its_timer)
{
    one_task t;
    lease_task(&t, "lp-stale", "{}", "600000", "0");
    cr_assert_gt(score(&t, 'l'), 0);
    cr_assert_eq(duro_client_terminate(t.c, t.id, "test"), 0);
    assert_stale(complete(&t, false, -1));
    cr_assert_eq(score(&t, 'l'), -1,
                 "the l timer of a closed run's "
                 "finished attempt is left");
    task_free(&t);
}

Test(lease_paths, an_orphan_release_of_a_lease_drops_its_timer)
{
    one_task t;
    lease_task(&t, "lp-orphan", "{}", "600000", "0");
    cr_assert_eq(duro_client_terminate(t.c, t.id, "test"), 0);
    assert_str_reply(release(&t, 0), "orphan");
    cr_assert_eq(score(&t, 'l'), -1, "the l timer of an orphan is left");
    cr_assert_eq(xlen(&t), 0);
    task_free(&t);
}

/* A failure retried at once: the l timer goes, attempt 2 is queued in the
 * stream (not leased), and the late heartbeat of attempt 1 is fenced. */
Test(lease_paths, a_failed_lease_is_retried_through_the_stream)
{
    one_task t;
    lease_task(&t, "lp-fail", "{}", "10000", "0");
    assert_str_reply(complete(&t, true, 0), "retrying");
    cr_assert_eq(score(&t, 'l'), -1, "the l timer outlived the failure");
    long long attempt = 0;
    cr_assert(pending(&t, &attempt) && attempt == 2, "attempt %lld", attempt);
    redisReply *rep = duro_test_cmd(t.r, "XRANGE", t.k.act, "-", "+", NULL);
    cr_assert_eq(rep->elements, 1, "attempt 2 not in the stream");
    freeReplyObject(rep);
    duro_argv a;
    duro_fcall_attempt at = {
        .run = t.run, .seq = "1", .attempt = 1, .entry = t.lease};
    duro_fcall_act_heartbeat(&a, &t.k, &at, NULL);
    assert_stale(call(&t, &a));
    task_free(&t);
}

/* The schedule-to-close timer resolves a leased attempt and removes its
 * l timer, as it acks a stream entry. */
Test(lease_paths, schedule_to_close_times_a_lease_out)
{
    one_task t;
    lease_task(&t, "lp-s2c", "{}", "600000", "200");
    cr_assert_gt(score(&t, 's'), 0);
    cr_assert(duro_test_wait_until(redis_now_ms(t.r) > score(&t, 's'), 2000));
    assert_str_reply(fire(&t, 's', -1), "fired");
    cr_assert_not(pending(&t, NULL));
    cr_assert_eq(score(&t, 'l'), -1, "the l timer outlived the activity");
    cr_assert(history_has(&t, "SCHEDULE_TO_CLOSE"));
    task_free(&t);
}

/* `duro activity complete --workflow-id --activity-id`: the client reads
 * the current attempt's entry, the lease, and completes it. */
Test(lease_paths, an_outside_completion_by_id_completes_a_lease)
{
    one_task t;
    lease_task(&t, "lp-byid", "{}", "600000", "0");
    duro_activity_ref ref = {.workflow_id = t.id, .activity_id = 1};
    cr_assert_eq(duro_client_activity_heartbeat(t.c, &ref, NULL), 0);
    cr_assert_eq(duro_client_activity_complete(t.c, &ref, "7"), 0);
    cr_assert_not(pending(&t, NULL));
    cr_assert_eq(score(&t, 'l'), -1, "the l timer outlived the activity");
    task_free(&t);
}

/* By task token (the worker's duro_actx_task_token: the lease as its
 * entry): a failure is retried through the stream. */
Test(lease_paths, an_outside_failure_by_token_retries_a_lease)
{
    one_task t;
    lease_task(&t, "lp-token",
               "{\"retry\":{\"initialIntervalMs\":1,\"maximumAttempts\":3}}",
               "600000", "0");
    duro_task_token tk = {.ns = "default",
                          .id = t.id,
                          .run = t.run,
                          .seq = "1",
                          .entry = t.lease,
                          .wfqueue = t.id,
                          .actqueue = t.id,
                          .attempt = 1};
    char *token = NULL;
    cr_assert_eq(duro_task_token_encode(&tk, &token), 0);
    duro_activity_ref ref = {.task_token = token};
    cr_assert_eq(duro_client_activity_fail(t.c, &ref, NULL, "no", false), 0);
    cr_assert_eq(score(&t, 'l'), -1, "the l timer outlived the failure");
    long long attempt = 0;
    cr_assert(pending(&t, &attempt) && attempt == 2, "attempt %lld", attempt);
    /* the token's attempt is over: fenced */
    cr_assert_eq(duro_client_activity_complete(t.c, &ref, "7"), DURO_ESTALE);
    free(token);
    task_free(&t);
}

/* dump_all: t's partition (duro_test_partition_dump; caller frees) */
static char *dump_all(one_task *t)
{
    return duro_test_partition_dump(
        t->r, duro_partition_of(t->id, duro_client_partitions(t->c)));
}

/* refused_unchanged: key made a string, the completion (failed or not) of
 * the lease is refused (DURO_WRONGTYPE when want_wrongtype) and changes
 * nothing; the key is then put back. */
static void refused_unchanged(one_task *t, const char *key, bool failed,
                              bool want_wrongtype)
{
    duro_test_key_swap_in(t->r, key);
    char *before = dump_all(t);
    redisReply *rep = complete(t, failed, 0);
    cr_assert_eq(rep->type, REDIS_REPLY_ERROR, "%s tampered: accepted", key);
    cr_assert(!want_wrongtype || !strncmp(rep->str, "DURO_WRONGTYPE", 14),
              "%s tampered: %s", key, rep->str);
    freeReplyObject(rep);
    char *after = dump_all(t);
    cr_assert(!strcmp(before, after), "%s tampered: the call wrote", key);
    free(before);
    free(after);
    duro_test_key_swap_out(t->r, key);
}

/* A leased completion checks the timers key by its first write, the l
 * timer's ZREM (no TYPE): a key of another type refuses it whole, for a
 * current attempt completed or failed and for a stale one. */
Test(lease_paths, a_lease_completion_with_a_key_of_another_type_writes_nothing)
{
    for (int failed = 0; failed < 2; failed++) {
        one_task t;
        lease_task(&t, failed ? "lp-type-f" : "lp-type-c", "{}", "600000", "0");
        /* the keys the call writes: a failure retries (act, timers) */
        const char *keys[] = {t.k.timers, t.k.wft, t.k.act, t.k.buf};
        for (int i = 0; i < (failed ? 4 : 2); i++)
            refused_unchanged(&t, keys[i], failed, true);
        assert_str_reply(complete(&t, failed, 0),
                         failed ? "retrying" : "resolved");
        cr_assert_eq(score(&t, 'l'), -1);
        task_free(&t);
    }
    one_task t;
    lease_task(&t, "lp-type-s", "{}", "600000", "0");
    cr_assert_eq(duro_client_terminate(t.c, t.id, "test"), 0);
    refused_unchanged(&t, t.k.timers, false, true);
    assert_stale(complete(&t, false, -1));
    cr_assert_eq(score(&t, 'l'), -1);
    task_free(&t);
}

/* The workflow cancels a leased activity (a commit's cancel_activity, its
 * task brought by a signal): the l timer goes with the pending activity,
 * as the stream entry is acked, and the holder's late completion is
 * fenced. */
Test(lease_paths, a_cancelled_lease_leaves_no_timer)
{
    one_task t;
    lease_task(&t, "lp-cancel", "{}", "600000", "0");
    char run[DURO_UUID_LEN + 1];
    cr_assert_eq(duro_client_signal(t.c, t.id, "go", NULL, run), 0);
    duro_test_claim_task(t.r, t.k.wft, "t", "token", t.entry, sizeof(t.entry),
                         t.token, sizeof(t.token));
    const char *fields[] = {"cancel_activity", "1", "{\"seq\":1}", "9"};
    redisReply *rep =
        duro_test_task_commit_cmds(&t, fields, 4, 1, DURO_TEST_EAGER_NONE);
    cr_assert_neq(rep->type, REDIS_REPLY_ERROR, "%s", rep->str);
    freeReplyObject(rep);
    cr_assert_not(pending(&t, NULL));
    cr_assert_eq(score(&t, 'l'), -1, "the l timer outlived the cancel");
    assert_stale(complete(&t, false, -1));
    task_free(&t);
}

/* A commit that schedules an activity and closes the run in one go: the
 * lease would not be handed out (the run is closed), so none is made: the
 * task goes to the stream as without leases (a worker runs it, its stale
 * completion acks it), and no l timer waits for its start-to-close. */
Test(lease_paths, a_commit_that_closes_the_run_leases_nothing)
{
    one_task t;
    duro_test_task_init(&h, &t, "lp-close");
    const char *fields[] = {
        "activity", "1", "{\"seq\":1}", "9",        "echo", "null", "{}",
        "600000",   "0", "0",           "complete", "{}",   "7"};
    redisReply *rep =
        duro_test_task_commit_cmds(&t, fields, 13, 2, DURO_TEST_EAGER_LEASES);
    cr_assert(rep->type == REDIS_REPLY_ARRAY && rep->elements == 2,
              "a task handed out by a closing commit");
    freeReplyObject(rep);
    cr_assert_eq(score(&t, 'l'), -1, "an l timer for a closed run's task");
    cr_assert_eq(xlen(&t), 1, "the task is not in the stream");
    rep = duro_test_cmd(t.r, "HGET", t.k.wf, "status", NULL);
    cr_assert_str_eq(rep->str, "COMPLETED");
    freeReplyObject(rep);
    task_free(&t);
}
