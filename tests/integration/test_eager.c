/* test_eager.c: eager activity dispatch. A commit that schedules
 * activities on the committing worker's own queue takes them for that
 * worker in the same call (XREADGROUP inside the Function): they run where
 * the run is cached, pending under that worker's name like any task it
 * read, so a worker killed while holding them loses nothing.
 *
 * The first tests call duro_wft_complete by hand (no worker: the test
 * claims the workflow task itself, as test_functions_atomic.c does); the
 * others run real workers. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/fcall.h"
#include "duro/keys.h"
#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(eager, .init = setup, .fini = duro_test_fini, .timeout = 120);

/* ---- The Function, by hand ---- */

/* one_task: workflow `id` on queue `id` started, its first workflow task
 * claimed (entry, token); k names its keys and queue `id`'s streams. */
typedef struct {
    redisContext *r;
    duro_client *c;
    duro_wf_keys k;
    char run[DURO_UUID_LEN + 1], entry[64], token[32];
    char other[DURO_KEY_MAX]; /* queue "elsewhere"'s activity stream */
} one_task;

static void task_init(one_task *t, const char *id)
{
    t->r = duro_test_redis(&h);
    t->c = duro_test_client(&h);
    int parts = duro_client_partitions(t->c);
    duro_test_start(t->c, id, "t", id, NULL, 0);
    duro_wf_keys_init(&t->k, DURO_KEYSPACE_DEFAULT(parts), id, NULL);
    redisReply *rep = redisCommand(t->r, "HGET %s run", t->k.wf);
    cr_assert(rep && rep->type == REDIS_REPLY_STRING);
    snprintf(t->run, sizeof(t->run), "%s", rep->str);
    freeReplyObject(rep);
    duro_wf_keys_init(&t->k, DURO_KEYSPACE_DEFAULT(parts), id, t->run);
    duro_wf_keys_queues(&t->k, id, id);
    duro_key_act(t->other, sizeof(t->other), DURO_KEYSPACE_DEFAULT(parts),
                 duro_partition_of(id, parts), "elsewhere");
    const char *streams[] = {t->k.wft, t->k.act, t->other};
    for (int i = 0; i < 3; i++)
        freeReplyObject(redisCommand(t->r, "XGROUP CREATE %s %s 0 MKSTREAM",
                                     streams[i], DURO_GROUP));
    duro_test_claim_task(t->r, t->k.wft, "t", "token", t->entry,
                         sizeof(t->entry), t->token, sizeof(t->token));
}

static void task_free(one_task *t)
{
    redisFree(t->r);
    duro_client_free(t->c);
}

/* commit: duro_wft_complete of t's task scheduling activity 1 on stream
 * KEYS[act_key] (9: queue id's, 10: "elsewhere"'s), with the eager tail
 * (consumer, n, eager_stream; consumer NULL: an older worker's call, no
 * tail at all). Returns the reply (caller frees). */
static redisReply *commit(one_task *t, int act_key, const char *consumer, int n,
                          const char *eager_stream)
{
    duro_argv cmds, a;
    duro_argv_init(&cmds);
    const char *fields[] = {"activity", "1",  "{\"seq\":1}", NULL, "echo",
                            "null",     "{}", "10000",       "0",  "0"};
    char ki[8];
    snprintf(ki, sizeof(ki), "%d", act_key);
    fields[3] = ki;
    for (int i = 0; i < 10; i++)
        duro_argv_push(&cmds, fields[i]);
    const char *acts[] = {t->k.act, t->other};
    duro_fcall_commit c = {.wtc_data = "{}",
                           .ncmd = 1,
                           .cmds = &cmds,
                           .nacts = 2,
                           .acts = acts,
                           .eager_consumer = consumer,
                           .eager_n = n,
                           .eager_stream = eager_stream};
    duro_fcall_task ft = {.run = t->run, .token = t->token, .entry = t->entry};
    duro_fcall_wft_complete(&a, &t->k, &ft, &c);
    redisReply *rep = redisCommandArgv(t->r, a.argc, a.argv, a.lens);
    duro_argv_free(&a);
    duro_argv_free(&cmds);
    cr_assert(rep, "redis: %s", t->r->errstr);
    cr_assert_eq(rep->type, REDIS_REPLY_ARRAY, "%s",
                 rep->type == REDIS_REPLY_ERROR ? rep->str : "not an array");
    return rep;
}

/* pending_of: entries of stream pending under consumer. */
static long long pending_of(redisContext *r, const char *stream,
                            const char *consumer)
{
    redisReply *rep = redisCommand(r, "XPENDING %s %s - + 100 %s", stream,
                                   DURO_GROUP, consumer);
    long long n =
        rep && rep->type == REDIS_REPLY_ARRAY ? (long long)rep->elements : -1;
    freeReplyObject(rep);
    return n;
}

/* undelivered: whether a plain read of stream by "someone" gets an entry
 * (the task was left to the queue). */
static bool undelivered(redisContext *r, const char *stream)
{
    redisReply *rep =
        redisCommand(r, "XREADGROUP GROUP %s someone COUNT 1 STREAMS %s >",
                     DURO_GROUP, stream);
    bool got = rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 1;
    freeReplyObject(rep);
    return got;
}

Test(eager, a_commit_takes_the_activity_it_queues_for_the_committer)
{
    one_task t;
    task_init(&t, "eager-fn");
    redisReply *rep = commit(&t, 9, "w1", 4, t.k.act);
    /* flat after last and hlen: stream, count, then id, {fields} */
    cr_assert_eq(rep->elements, 6, "no eager entries in the reply");
    cr_assert_eq(rep->element[2]->type, REDIS_REPLY_STRING);
    cr_assert_str_eq(rep->element[2]->str, t.k.act);
    cr_assert_eq(rep->element[3]->type, REDIS_REPLY_INTEGER);
    cr_assert_eq(rep->element[3]->integer, 1);
    cr_assert_eq(rep->element[4]->type, REDIS_REPLY_STRING);
    cr_assert_eq(rep->element[5]->type, REDIS_REPLY_ARRAY);
    cr_assert(duro_test_field_is(rep->element[5], "seq", "1"),
              "the entry is not activity 1's");
    freeReplyObject(rep);
    /* pending under the committer, as if it had read it itself */
    cr_assert_eq(pending_of(t.r, t.k.act, "w1"), 1);
    cr_assert(!undelivered(t.r, t.k.act), "the task was left in the queue");
    task_free(&t);
}

/* An older entry of the backlog comes first, whole, then the new one. */
Test(eager, a_backlog_entry_comes_whole_before_the_commit_s_own)
{
    one_task t;
    task_init(&t, "eager-backlog");
    redisReply *x =
        redisCommand(t.r, "XADD %s * id older run R1 seq 7 input 42", t.k.act);
    cr_assert(x && x->type == REDIS_REPLY_STRING);
    char older[64];
    snprintf(older, sizeof(older), "%s", x->str);
    freeReplyObject(x);
    redisReply *rep = commit(&t, 9, "w1", 4, t.k.act);
    cr_assert_eq(rep->elements, 8, "stream, 2, and two entries");
    cr_assert_str_eq(rep->element[2]->str, t.k.act);
    cr_assert_eq(rep->element[3]->integer, 2);
    cr_assert_str_eq(rep->element[4]->str, older);
    const redisReply *f = rep->element[5];
    cr_assert_eq(f->elements, 8, "the backlog entry's 4 fields");
    cr_assert(duro_test_field_is(f, "id", "older") &&
              duro_test_field_is(f, "seq", "7") &&
              duro_test_field_is(f, "input", "42"));
    cr_assert(duro_test_field_is(rep->element[7], "seq", "1"));
    freeReplyObject(rep);
    cr_assert_eq(pending_of(t.r, t.k.act, "w1"), 2);
    task_free(&t);
}

Test(eager, no_tail_or_a_count_of_0_leaves_the_activity_to_the_queue)
{
    one_task t;
    task_init(&t, "eager-old");
    redisReply *rep = commit(&t, 9, NULL, 0, NULL); /* an older worker */
    cr_assert_eq(rep->elements, 2);
    freeReplyObject(rep);
    cr_assert_eq(pending_of(t.r, t.k.act, "w1"), 0);
    cr_assert(undelivered(t.r, t.k.act));
    task_free(&t);

    task_init(&t, "eager-zero");
    rep = commit(&t, 9, "w1", 0, t.k.act); /* no room */
    cr_assert_eq(rep->elements, 2);
    freeReplyObject(rep);
    cr_assert_eq(pending_of(t.r, t.k.act, "w1"), 0);
    cr_assert(undelivered(t.r, t.k.act));
    task_free(&t);

    /* by hand, a tail of n 0 after the sticky pair: the same */
    task_init(&t, "eager-raw");
    const char *argv[] = {"FCALL",    "duro_wft_complete",
                          "9",        t.k.wf,
                          t.k.hist,   t.k.buf,
                          t.k.wft,    t.k.timers,
                          t.k.pa,     t.k.timers,
                          t.k.timers, t.k.act,
                          t.run,      t.token,
                          t.entry,    "{}",
                          "1",        "activity",
                          "1",        "{\"seq\":1}",
                          "9",        "echo",
                          "null",     "{}",
                          "10000",    "0",
                          "0",        "",
                          "0",        "w1",
                          "0",        "9"};
    rep = redisCommandArgv(t.r, (int)(sizeof(argv) / sizeof(argv[0])), argv,
                           NULL);
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY, "%s",
              rep && rep->type == REDIS_REPLY_ERROR ? rep->str : "?");
    cr_assert_eq(rep->elements, 2);
    freeReplyObject(rep);
    cr_assert(undelivered(t.r, t.k.act));
    task_free(&t);

    /* a worker before library 34 sends a positive count: its entries come
     * as the one XREADGROUP reply it reads ({{stream, {{id, {fields}}}}}) */
    task_init(&t, "eager-raw2");
    argv[13] = t.token;
    argv[14] = t.entry;
    argv[12] = t.run;
    const char *k[] = {t.k.wf, t.k.hist,   t.k.buf,    t.k.wft, t.k.timers,
                       t.k.pa, t.k.timers, t.k.timers, t.k.act};
    for (int i = 0; i < 9; i++)
        argv[3 + i] = k[i];
    argv[30] = "1";
    rep = redisCommandArgv(t.r, (int)(sizeof(argv) / sizeof(argv[0])), argv,
                           NULL);
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY, "%s",
              rep && rep->type == REDIS_REPLY_ERROR ? rep->str : "?");
    cr_assert_eq(rep->elements, 3);
    const redisReply *got = rep->element[2];
    cr_assert_eq(got->type, REDIS_REPLY_ARRAY);
    cr_assert_eq(got->elements, 1);
    cr_assert_str_eq(got->element[0]->element[0]->str, t.k.act);
    const redisReply *entries = got->element[0]->element[1];
    cr_assert_eq(entries->elements, 1);
    cr_assert(duro_test_field_is(entries->element[0]->element[1], "seq", "1"));
    freeReplyObject(rep);
    cr_assert_eq(pending_of(t.r, t.k.act, "w1"), 1);
    task_free(&t);
}

Test(eager, an_activity_on_a_queue_the_worker_does_not_poll_is_not_taken)
{
    one_task t;
    task_init(&t, "eager-other");
    /* the worker polls queue eager-other (KEYS[9]); the activity goes to
     * "elsewhere" (KEYS[10]) */
    redisReply *rep = commit(&t, 10, "w1", 4, t.k.act);
    cr_assert_eq(rep->elements, 2, "a task taken from elsewhere");
    freeReplyObject(rep);
    cr_assert_eq(pending_of(t.r, t.other, "w1"), 0);
    cr_assert(undelivered(t.r, t.other), "elsewhere's task was taken");
    task_free(&t);

    /* a worker whose queue the commit does not name asks for nothing */
    task_init(&t, "eager-other2");
    char mine[DURO_KEY_MAX + 16];
    snprintf(mine, sizeof(mine), "%s-not-named", t.k.act);
    rep = commit(&t, 10, "w1", 4, mine);
    cr_assert_eq(rep->elements, 2);
    freeReplyObject(rep);
    cr_assert_eq(pending_of(t.r, t.other, "w1"), 0);
    cr_assert(undelivered(t.r, t.other), "elsewhere's task was taken");
    task_free(&t);
}

/* ---- Real workers ---- */

/* ran_in: whether the execution log at path (lines "echo <id>/<seq>
 * <attempt>", $DURO_TEST_LOG) has an activity of workflow id. */
static bool ran_in(const char *path, const char *id)
{
    char prefix[96];
    snprintf(prefix, sizeof(prefix), "echo %s/", id);
    return duro_test_count_lines(path, prefix) > 0;
}

static pid_t test_worker(const char *name, const char *log, const char *more)
{
    setenv("DURO_TEST_LOG", log, 1);
    pid_t p = duro_test_spawn(&h, "duro-test-worker", "--identity", name,
                              "--activity-threads", "64", more, NULL);
    unsetenv("DURO_TEST_LOG");
    return p;
}

Test(eager, with_two_workers_each_activity_runs_where_its_run_committed)
{
    enum { N = 20, ACTS = 3 };
    duro_test_spawn(&h, "duro-scheduler", NULL);
    char la[PATH_MAX + 32], lb[PATH_MAX + 32];
    snprintf(la, sizeof(la), "%s/exec-wa.log", h.dir);
    snprintf(lb, sizeof(lb), "%s/exec-wb.log", h.dir);
    pid_t a = test_worker("wa", la, NULL), b = test_worker("wb", lb, NULL);
    cr_assert(
        duro_test_wait_until(duro_test_log_contains(&h, a, "REDIS UP") &&
                                 duro_test_log_contains(&h, b, "REDIS UP"),
                             10000));
    duro_client *c = duro_test_client(&h);
    char id[32];
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "two-%d", i);
        duro_test_start(c, id, "activities", "test", "{\"n\":3}", 0);
    }
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "two-%d", i);
        cJSON *d = duro_test_result(c, id, 30000);
        cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED", "%s", id);
        cJSON_Delete(d);
        /* all of a run's activities on one worker: the one that holds it */
        cr_assert(ran_in(la, id) != ran_in(lb, id),
                  "%s's activities ran on both workers", id);
    }
    duro_test_kill(&h, a, SIGTERM);
    duro_test_kill(&h, b, SIGTERM);
    cr_assert(duro_test_wait_until(
        !duro_test_alive(&h, a) && !duro_test_alive(&h, b), 20000));
    long ea = duro_test_stopped_count(&h, a, "eager_activities");
    long eb = duro_test_stopped_count(&h, b, "eager_activities");
    int ra = duro_test_count_lines(la, "echo "),
        rb = duro_test_count_lines(lb, "echo ");
    cr_log_info("wa ran %d (%ld eagerly), wb ran %d (%ld eagerly); eager "
                "commits %ld + %ld",
                ra, ea, rb, eb, duro_test_stopped_count(&h, a, "eager"),
                duro_test_stopped_count(&h, b, "eager"));
    cr_assert_eq(ra + rb, N * ACTS);
    /* every activity came to its worker through the commit that
     * scheduled it, none through a read of the shared queue */
    cr_assert_eq(ea, ra, "wa: %ld of %d activities eager", ea, ra);
    cr_assert_eq(eb, rb, "wb: %ld of %d activities eager", eb, rb);
    /* so each completion committed its run's next task itself (eager) */
    cr_assert_eq(duro_test_stopped_count(&h, a, "eager") +
                     duro_test_stopped_count(&h, b, "eager"),
                 (long)N * ACTS);
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(eager, off_by_environment_the_shared_queue_serves_every_activity)
{
    duro_test_spawn(&h, "duro-scheduler", NULL);
    char la[PATH_MAX + 32];
    snprintf(la, sizeof(la), "%s/exec-off.log", h.dir);
    setenv("DURO_EAGER_ACTIVITIES", "0", 1);
    pid_t a = test_worker("woff", la, NULL);
    unsetenv("DURO_EAGER_ACTIVITIES");
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "off-1", "activities", "test", "{\"n\":3}", 0);
    cJSON *d = duro_test_result(c, "off-1", 30000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cJSON_Delete(d);
    duro_test_kill(&h, a, SIGTERM);
    cr_assert(duro_test_wait_until(!duro_test_alive(&h, a), 20000));
    cr_assert_eq(duro_test_count_lines(la, "echo "), 3);
    cr_assert_eq(duro_test_stopped_count(&h, a, "eager_activities"), 0);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* act_pending: activity tasks of queue "test" held by consumer: pending
 * under its name, or leased (library 35: an l timer each; in these tests
 * only that worker commits while they are counted). */
static long long act_pending(redisContext *r, int parts, const char *consumer)
{
    long long n = 0;
    for (int p = 0; p < parts; p++) {
        char key[DURO_KEY_MAX];
        duro_key_act(key, sizeof(key), DURO_KEYSPACE_DEFAULT(parts), p, "test");
        long long k = pending_of(r, key, consumer);
        if (k > 0) n += k;
        redisReply *t = redisCommand(r, "ZRANGE duro:{p%d}:timers 0 -1", p);
        for (size_t i = 0; t && i < t->elements; i++)
            n += !strncmp(t->element[i]->str, "l|", 2);
        freeReplyObject(t);
    }
    return n;
}

Test(eager, a_worker_killed_holding_eager_activities_loses_none)
{
    enum { N = 6 };
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    char la[PATH_MAX + 32], lb[PATH_MAX + 32];
    snprintf(la, sizeof(la), "%s/exec-ka.log", h.dir);
    snprintf(lb, sizeof(lb), "%s/exec-kb.log", h.dir);
    pid_t a = test_worker("ka", la, "--log-level=debug");
    duro_client *c = duro_test_client(&h);
    int parts = duro_client_partitions(c);
    redisContext *r = duro_test_redis(&h);
    char id[32];
    /* attempt 1 naps for a minute, a retry 10ms; start-to-close 1.5s */
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "kill-%d", i);
        duro_test_start(c, id, "napper", "test",
                        "{\"ms\":60000,\"retry_ms\":10,\"stc\":1500}", 0);
    }
    /* every nap is held by ka, and came to it through its commits */
    cr_assert(duro_test_wait_until(act_pending(r, parts, "ka") == N, 20000),
              "ka holds %lld of %d naps", act_pending(r, parts, "ka"), N);
    cr_assert(
        duro_test_wait_until(duro_test_count_lines(la, "nap ") == N, 10000),
        "the naps did not start");
    duro_test_kill(&h, a, SIGKILL);
    int eager = 0;
    for (int i = 0; i < h.nchildren; i++)
        if (h.children[i].pid == a) {
            FILE *f = fopen(h.children[i].log, "r");
            char line[1024];
            while (f && fgets(line, sizeof(line), f))
                eager += strstr(line, "ACT-EAGER ") != NULL;
            if (f) fclose(f);
        }
    cr_assert_eq(eager, N, "ka took %d of %d naps eagerly", eager, N);

    /* the scheduler reclaims them (start-to-close), another worker runs
     * the retries */
    test_worker("kb", lb, NULL);
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "kill-%d", i);
        cJSON *d = duro_test_result(c, id, 40000);
        cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED", "%s", id);
        cJSON_Delete(d);
        cJSON *hist = duro_test_history(c, id);
        cr_assert_eq(duro_test_count_events(hist, "ActivityScheduled"), 1, "%s",
                     id);
        cr_assert_eq(duro_test_count_events(hist, "ActivityCompleted"), 1, "%s",
                     id);
        cJSON_Delete(hist);
    }
    cr_assert_eq(act_pending(r, parts, "ka"), 0, "ka's entries left pending");
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* ---- Tasks that find no thread free ---- */

/* log_count: the lines of child pid's log that contain s. */
static int log_count(pid_t pid, const char *s)
{
    int n = 0;
    for (int i = 0; i < h.nchildren; i++) {
        if (h.children[i].pid != pid) continue;
        FILE *f = fopen(h.children[i].log, "r");
        char line[1024];
        while (f && fgets(line, sizeof(line), f))
            n += strstr(line, s) != NULL;
        if (f) fclose(f);
    }
    return n;
}

/* napped_in: whether the execution log at path has a nap of workflow id. */
static bool napped_in(const char *path, const char *id)
{
    char prefix[96];
    snprintf(prefix, sizeof(prefix), "nap %s/", id);
    return duro_test_count_lines(path, prefix) > 0;
}

/* one_thread_worker: a worker with a single activity thread. */
static pid_t one_thread_worker(const char *name, const char *log)
{
    setenv("DURO_TEST_LOG", log, 1);
    pid_t p =
        duro_test_spawn(&h, "duro-test-worker", "--identity", name,
                        "--activity-threads", "1", "--log-level=debug", NULL);
    unsetenv("DURO_TEST_LOG");
    return p;
}

/* start_nap starts napper id ({"ms"}, start-to-close stc, 0: 10 s) and
 * waits until worker pid took its nap eagerly (its `took`-th). */
static void start_nap(duro_client *c, pid_t pid, const char *id, int ms,
                      int stc, int took)
{
    char in[128];
    snprintf(in, sizeof(in), "{\"ms\":%d,\"retry_ms\":10,\"stc\":%d}", ms, stc);
    duro_test_start(c, id, "napper", "test", in, 0);
    cr_assert(duro_test_wait_until(log_count(pid, "ACT-EAGER ") >= took, 10000),
              "%s's nap not taken eagerly (%d)", id,
              log_count(pid, "ACT-EAGER "));
}

Test(eager, a_task_taken_past_the_free_threads_goes_back_within_the_bound)
{
    duro_test_spawn(&h, "duro-scheduler", NULL);
    char la[PATH_MAX + 32], lb[PATH_MAX + 32];
    snprintf(la, sizeof(la), "%s/exec-wa.log", h.dir);
    snprintf(lb, sizeof(lb), "%s/exec-wb.log", h.dir);
    pid_t a = one_thread_worker("oa", la);
    cr_assert(
        duro_test_wait_until(duro_test_log_contains(&h, a, "REDIS UP"), 10000));
    duro_client *c = duro_test_client(&h);
    /* oa's one thread runs the first nap (3 s); the second, taken by its
     * commit all the same, waits for that thread */
    start_nap(c, a, "back-0", 3000, 0, 1);
    start_nap(c, a, "back-1", 3000, 0, 2);
    int64_t t0 = duro_test_mono_ms();
    cr_assert(
        duro_test_wait_until(
            duro_test_log_contains(&h, a, "ACT-WAIT-BACK wf=back-1"), 5000),
        "the waiting nap was not handed back");
    int64_t waited = duro_test_mono_ms() - t0;
    cr_log_info("handed back after %lldms", (long long)waited);
    /* the bound is 200ms; the scheduler's reclaim looks at entries idle
     * for 1 s and more */
    cr_assert_lt(waited, 1000);
    /* another worker, free, runs it long before oa's thread is */
    pid_t b = test_worker("ob", lb, NULL);
    cJSON *d = duro_test_result(c, "back-1", 30000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cJSON_Delete(d);
    cr_assert(napped_in(lb, "back-1") && !napped_in(la, "back-1"),
              "back-1 did not run on ob (only)");
    cr_assert(duro_test_alive(&h, a));
    d = duro_test_result(c, "back-0", 30000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cJSON_Delete(d);
    /* each nap ran once, in its first attempt: the hand-back put the
     * same attempt back */
    cr_assert_eq(duro_test_count_lines(la, "nap ") +
                     duro_test_count_lines(lb, "nap "),
                 2);
    const char *ids[] = {"back-0", "back-1"};
    for (int i = 0; i < 2; i++) {
        cJSON *hist = duro_test_history(c, ids[i]);
        cr_assert_eq(duro_test_count_events(hist, "ActivityScheduled"), 1);
        cr_assert_eq(duro_test_count_events(hist, "ActivityCompleted"), 1);
        cr_assert_eq(duro_test_count_events(hist, "ActivityFailed"), 0);
        cJSON_Delete(hist);
    }
    duro_test_kill(&h, a, SIGTERM);
    duro_test_kill(&h, b, SIGTERM);
    cr_assert(duro_test_wait_until(
        !duro_test_alive(&h, a) && !duro_test_alive(&h, b), 20000));
    cr_assert_geq(duro_test_stopped_count(&h, a, "waited_back"), 1);
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(eager, a_worker_killed_with_eager_tasks_waiting_loses_none)
{
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    char la[PATH_MAX + 32], lb[PATH_MAX + 32];
    snprintf(la, sizeof(la), "%s/exec-wka.log", h.dir);
    snprintf(lb, sizeof(lb), "%s/exec-wkb.log", h.dir);
    /* a task waits for a thread for up to a minute here, capped at a
     * tenth of its start-to-close (12 s): the kill finds it waiting */
    setenv("DURO_ACTIVITY_WAIT_MS", "60000", 1);
    pid_t a = one_thread_worker("wka", la);
    unsetenv("DURO_ACTIVITY_WAIT_MS");
    cr_assert(
        duro_test_wait_until(duro_test_log_contains(&h, a, "REDIS UP"), 10000));
    duro_client *c = duro_test_client(&h);
    int parts = duro_client_partitions(c);
    redisContext *r = duro_test_redis(&h);
    /* attempt 1 naps a minute, a retry 10ms */
    start_nap(c, a, "wk-0", 60000, 12000, 1);
    start_nap(c, a, "wk-1", 60000, 12000, 2);
    cr_assert(duro_test_wait_until(act_pending(r, parts, "wka") == 2, 10000));
    cr_assert_eq(duro_test_count_lines(la, "nap "), 1, "one nap started");
    cr_assert_eq(log_count(a, "ACT-WAIT-BACK"), 0);
    duro_test_kill(&h, a, SIGKILL);
    /* the scheduler reclaims both after their start-to-close; a second
     * worker runs the retries */
    test_worker("wkb", lb, NULL);
    const char *ids[] = {"wk-0", "wk-1"};
    for (int i = 0; i < 2; i++) {
        cJSON *d = duro_test_result(c, ids[i], 60000);
        cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED", "%s", ids[i]);
        cJSON_Delete(d);
        cJSON *hist = duro_test_history(c, ids[i]);
        cr_assert_eq(duro_test_count_events(hist, "ActivityScheduled"), 1);
        cr_assert_eq(duro_test_count_events(hist, "ActivityCompleted"), 1);
        cJSON_Delete(hist);
        cr_assert(napped_in(lb, ids[i]), "%s's retry did not run", ids[i]);
    }
    /* wk-1 never ran on wka; each retry ran once on wkb */
    cr_assert(!napped_in(la, "wk-1"));
    cr_assert_eq(duro_test_count_lines(lb, "nap "), 2);
    cr_assert_eq(act_pending(r, parts, "wka"), 0, "wka's entries left pending");
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}
