/* test_lua_lazy.c: a commit (duro_wft_complete) and an activity's
 * completion with an eager workflow task (duro_act_complete) read only
 * some fields of the workflow hash first (load_wf's WF_FIELDS.hot); the
 * others are read, all at once, the first time the call reads one of them
 * (WF_FIELDS.meta). Each path that reads one of those is driven here by
 * hand (FCALL) and what it wrote is checked: a task queued by an
 * activity's completion (its token), a failed task (its attempt), a
 * sticky task falling back, a timed-out task retried, runs with execution
 * and run timeouts closed by a commit, an eager commit, a timer and a
 * terminate. A field read as nil where the hash has it (the lazy load
 * missing or a field left out of it) writes a wrong token, attempt or
 * timer. DURO_TEST_LUA loads another duro.lua (harness_lua.h). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/fcall.h"
#include "duro/keys.h"
#include "harness_lua.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(lua_lazy, .init = setup, .fini = duro_test_fini, .timeout = 120);

/* lazy_run: a run started by hand, its task streams' groups made, and the
 * workflow task it holds now (token, entry: "" when none is claimed). */
typedef struct {
    redisContext *r;
    duro_test_lua_run w;
    char token[32], entry[64];
    char act_entry[64];
} lazy_run;

/* run_start: run `id` on queue "q", its workflow task timeout wft_ms, its
 * execution and run timeouts (ms, 0: none); its first task claimed. */
static void run_start(redisContext *r, lazy_run *s, const char *id,
                      long long wft_ms, long long exec_ms, long long run_ms)
{
    memset(s, 0, sizeof(*s));
    s->r = r;
    duro_test_lua_run_init(&s->w, "default", id, "t", "q");
    duro_fcall_start_args a = {.id = s->w.id,
                               .run = s->w.run,
                               .type = "t",
                               .queue = "q",
                               .input = "null",
                               .started_data = "{}",
                               .exec_timeout_ms = exec_ms,
                               .wft_timeout_ms = wft_ms,
                               .run_timeout_ms = run_ms};
    duro_argv argv;
    duro_fcall_start(&argv, &s->w.k, &a, NULL, NULL);
    redisReply *rep = redisCommandArgv(r, argv.argc, argv.argv, argv.lens);
    duro_argv_free(&argv);
    cr_assert(rep && rep->type == REDIS_REPLY_STRING, "start %s: %s", id,
              rep ? rep->str : r->errstr);
    freeReplyObject(rep);
    const char *streams[] = {s->w.k.wft, s->w.k.act};
    for (int i = 0; i < 2; i++)
        freeReplyObject(redisCommand(r, "XGROUP CREATE %s %s 0 MKSTREAM",
                                     streams[i], DURO_GROUP));
    duro_test_claim_task(r, s->w.k.wft, "w1", "token", s->entry,
                         sizeof(s->entry), s->token, sizeof(s->token));
}

/* field: HGET of the run's hash ("" when absent; caller frees) */
static char *field(const lazy_run *s, const char *name)
{
    char *v = duro_test_hget(s->r, s->w.k.wf, name);
    return v ? v : strdup("");
}

static void assert_field(const lazy_run *s, const char *name, const char *want)
{
    char *v = field(s, name);
    cr_assert_str_eq(v, want, "%s of %s: \"%s\", not \"%s\"", name, s->w.id, v,
                     want);
    free(v);
}

/* timer: the run's timer of `kind` (timer_member's form) into buf */
static const char *timer(const lazy_run *s, char kind, const char *a, char *buf,
                         size_t size)
{
    snprintf(buf, size, "%c|%s|%s|0|q|-|%s", kind, s->w.run, a, s->w.id);
    return buf;
}

static bool timer_present(const lazy_run *s, const char *member)
{
    redisReply *rep =
        duro_test_cmd(s->r, "ZSCORE", s->w.k.timers, member, NULL);
    bool in = rep->type == REDIS_REPLY_STRING;
    freeReplyObject(rep);
    return in;
}

/* fire: timer `member` made due, then duro_timer_fire; its reply text */
static void fire(const lazy_run *s, const char *member, const char *want)
{
    duro_test_cmd_ok(s->r, "ZADD", s->w.k.timers, "XX", "0", member, NULL);
    duro_argv a;
    duro_fcall_timer_fire(&a, &s->w.k, member, strlen(member));
    redisReply *rep = redisCommandArgv(s->r, a.argc, a.argv, a.lens);
    duro_argv_free(&a);
    cr_assert(rep && rep->type == REDIS_REPLY_STRING, "fire %s: %s", member,
              rep ? rep->str : s->r->errstr);
    cr_assert_str_eq(rep->str, want, "fire %s", member);
    freeReplyObject(rep);
}

/* last_token: the token of the newest entry of stream key (asserted) */
static void assert_last_token(const lazy_run *s, const char *key,
                              const char *want)
{
    redisReply *rep =
        duro_test_cmd(s->r, "XREVRANGE", key, "+", "-", "COUNT", "1", NULL);
    cr_assert(rep->type == REDIS_REPLY_ARRAY && rep->elements == 1,
              "no entry in %s", key);
    const redisReply *f = rep->element[0]->element[1];
    const char *tok = NULL;
    for (size_t i = 0; i + 1 < f->elements; i += 2)
        if (strcmp(f->element[i]->str, "token") == 0)
            tok = f->element[i + 1]->str;
    cr_assert(tok && strcmp(tok, want) == 0, "%s's last task: token %s, not %s",
              key, tok ? tok : "(none)", want);
    freeReplyObject(rep);
}

/* commit: duro_wft_complete of the claimed task with the ncmd commands of
 * fields (NULL-terminated), the run's activity stream at KEYS[9]; sticky:
 * the committing worker (NULL: none). The reply (caller frees). */
static redisReply *commit(lazy_run *s, const char *sticky, int ncmd,
                          const char *const *fields)
{
    duro_argv cmds, a;
    duro_argv_init(&cmds);
    for (int i = 0; fields[i]; i++)
        duro_argv_push(&cmds, fields[i]);
    const char *acts[] = {s->w.k.act};
    duro_fcall_commit c = {.wtc_data = "{}",
                           .ncmd = ncmd,
                           .cmds = &cmds,
                           .nacts = 1,
                           .acts = acts,
                           .sticky = sticky,
                           .sticky_ms = 5000};
    duro_fcall_task t = {.run = s->w.run, .token = s->token, .entry = s->entry};
    duro_fcall_wft_complete(&a, &s->w.k, &t, &c);
    redisReply *rep = redisCommandArgv(s->r, a.argc, a.argv, a.lens);
    duro_argv_free(&a);
    duro_argv_free(&cmds);
    cr_assert(rep, "redis: %s", s->r->errstr);
    return rep;
}

/* ACTIVITY: activity 1 on the run's queue, KEYS[9] */
static const char *const ACTIVITY[] = {
    "activity", "1",    "{\"seq\":1}", "9", "echo", "null",
    "{}",       "5000", "0",           "0", NULL};

/* commit_activity: the claimed task commits ACTIVITY (sticky: as commit),
 * and the activity's task is claimed */
static void commit_activity(lazy_run *s, const char *sticky)
{
    redisReply *rep = commit(s, sticky, 1, ACTIVITY);
    cr_assert(rep->type == REDIS_REPLY_ARRAY, "commit %s: %s", s->w.id,
              rep->type == REDIS_REPLY_ERROR ? rep->str : "?");
    freeReplyObject(rep);
    char seq[16];
    duro_test_claim_task(s->r, s->w.k.act, "w1", "seq", s->act_entry,
                         sizeof(s->act_entry), seq, sizeof(seq));
    cr_assert_str_eq(seq, "1");
}

/* complete_eager: activity 1's completion with an eager workflow task of
 * the ncmd commands of fields (NULL-terminated: activity streams at
 * KEYS[10]), expecting hlen events (-1: the run's own count). Its reply
 * (caller frees). */
static redisReply *complete_eager(lazy_run *s, long long hlen, int ncmd,
                                  const char *const *fields)
{
    if (hlen < 0) {
        char *v = field(s, "hlen");
        hlen = strtoll(v, NULL, 10);
        free(v);
    }
    duro_argv cmds, a;
    duro_argv_init(&cmds);
    for (int i = 0; fields[i]; i++)
        duro_argv_push(&cmds, fields[i]);
    const char *acts[] = {s->w.k.act};
    duro_fcall_commit c = {.wtc_data = "{}",
                           .ncmd = ncmd,
                           .cmds = &cmds,
                           .nacts = 1,
                           .acts = acts,
                           .sticky = "w1",
                           .sticky_ms = 5000};
    duro_fcall_attempt at = {
        .run = s->w.run, .seq = "1", .attempt = 1, .entry = s->act_entry};
    duro_fcall_act_result res = {.data = "{\"seq\":1,\"result\":1}",
                                 .retry_delay_ms = -1};
    duro_fcall_act_complete(&a, &s->w.k, &at, &res, hlen, &c);
    redisReply *rep = redisCommandArgv(s->r, a.argc, a.argv, a.lens);
    duro_argv_free(&a);
    duro_argv_free(&cmds);
    cr_assert(rep, "redis: %s", s->r->errstr);
    cr_assert(rep->type != REDIS_REPLY_ERROR, "act_complete %s: %s", s->w.id,
              rep->str);
    return rep;
}

/* An activity's completion whose eager task is refused (the history is
 * not the length the worker saw) delivers the outcome: a new workflow
 * task under the next token, to the sticky worker's stream, with its k
 * timer; that timer moves it to the shared stream under the token after. */
Test(lua_lazy, a_completion_queues_the_next_task_and_it_falls_back)
{
    redisContext *r = duro_test_redis(&h);
    duro_test_lua_load(r, false);
    lazy_run s;
    run_start(r, &s, "queued", 10000, 0, 0);
    cr_assert_str_eq(s.token, "1");
    commit_activity(&s, "wx");
    assert_field(&s, "wft", "0");
    const char *const MARKER[] = {"marker", "{}", NULL};
    freeReplyObject(complete_eager(&s, 1, 1, MARKER));
    assert_field(&s, "token", "2");
    assert_field(&s, "wft", "1");
    assert_field(&s, "wft_attempt", "1");
    assert_field(&s, "wft_sticky", "wx");
    char sticky[sizeof(s.w.k.wft) + 8], member[512];
    snprintf(sticky, sizeof(sticky), "%s#wx", s.w.k.wft);
    assert_last_token(&s, sticky, "2");
    char *entry = field(&s, "wft_entry");
    cr_assert_neq(entry[0], '\0');
    free(entry);
    cr_assert(timer_present(&s, timer(&s, 'k', "2", member, sizeof(member))),
              "no k timer %s", member);
    /* no worker took it: the fallback moves it under token 3 */
    fire(&s, member, "fired");
    assert_field(&s, "token", "3");
    assert_field(&s, "wft_sticky", "");
    assert_field(&s, "sticky", "");
    assert_last_token(&s, s.w.k.wft, "3");
    redisFree(r);
    duro_test_finish(&h);
}

/* A commit the task may not give (a bad search attribute) fails the task:
 * its attempt counts up, one failure after the other, and the retry waits
 * for its w timer under the next token. */
Test(lua_lazy, a_failed_task_counts_its_attempts)
{
    redisContext *r = duro_test_redis(&h);
    duro_test_lua_load(r, false);
    lazy_run s;
    run_start(r, &s, "failing", 10000, 0, 0);
    const char *const BAD[] = {"upsert_sa", "{}", NULL};
    static const char *const attempts[] = {"2", "3", "4"};
    for (int i = 0; i < 3; i++) {
        redisReply *rep = commit(&s, "w1", 1, BAD);
        cr_assert(rep->type == REDIS_REPLY_ERROR &&
                      strncmp(rep->str, "DURO_BADARG", 11) == 0,
                  "commit %d: %s", i, rep->str ? rep->str : "(no error)");
        freeReplyObject(rep);
        char tok[16], member[512];
        snprintf(tok, sizeof(tok), "%d", i + 2);
        assert_field(&s, "wft_attempt", attempts[i]);
        assert_field(&s, "token", tok);
        assert_field(&s, "wft_entry", "");
        assert_field(&s, "sticky", "");
        char *err = field(&s, "wft_error");
        cr_assert(strstr(err, "searchAttributes"), "wft_error: %s", err);
        free(err);
        timer(&s, 'w', tok, member, sizeof(member));
        cr_assert(timer_present(&s, member), "no w timer %s", member);
        fire(&s, member, "fired");
        duro_test_claim_task(r, s.w.k.wft, "w1", "token", s.entry,
                             sizeof(s.entry), s.token, sizeof(s.token));
        cr_assert_str_eq(s.token, tok);
    }
    redisFree(r);
    duro_test_finish(&h);
}

/* A task that timed out is retried under the next token (attempt 2); the
 * retry's commit holds, and the completion after it queues a task of
 * attempt 1 again. */
Test(lua_lazy, a_timed_out_task_is_retried)
{
    redisContext *r = duro_test_redis(&h);
    duro_test_lua_load(r, false);
    lazy_run s;
    run_start(r, &s, "slow", 1000, 0, 0);
    duro_argv a;
    duro_fcall_task t = {.run = s.w.run, .token = s.token, .entry = s.entry};
    duro_fcall_wft_timeout(&a, &s.w.k, &t, 5000);
    redisReply *rep = redisCommandArgv(r, a.argc, a.argv, a.lens);
    duro_argv_free(&a);
    cr_assert(rep && rep->type == REDIS_REPLY_STRING);
    cr_assert_str_eq(rep->str, "timedout");
    freeReplyObject(rep);
    assert_field(&s, "wft_attempt", "2");
    assert_field(&s, "token", "2");
    duro_test_claim_task(r, s.w.k.wft, "w1", "token", s.entry, sizeof(s.entry),
                         s.token, sizeof(s.token));
    cr_assert_str_eq(s.token, "2");
    commit_activity(&s, NULL);
    assert_field(&s, "wft", "0");
    assert_field(&s, "wft_entry", "");
    const char *const MARKER[] = {"marker", "{}", NULL};
    freeReplyObject(complete_eager(&s, 1, 1, MARKER));
    assert_field(&s, "token", "3");
    assert_field(&s, "wft_attempt", "1");
    assert_last_token(&s, s.w.k.wft, "3");
    redisFree(r);
    duro_test_finish(&h);
}

/* assert_closed: the run is closed with status, its x and n timers gone,
 * the open run's fields gone, its visibility row's status index scored by
 * its start. */
static void assert_closed(const lazy_run *s, const char *status,
                          const char *start_ms)
{
    assert_field(s, "status", status);
    char member[512];
    cr_assert(!timer_present(s, timer(s, 'x', "0", member, sizeof(member))),
              "%s kept its x timer", s->w.id);
    cr_assert(!timer_present(s, timer(s, 'n', "0", member, sizeof(member))),
              "%s kept its n timer", s->w.id);
    static const char *const gone[] = {"wft_attempt",  "wft_timeout",
                                       "exec_timeout", "run_timeout",
                                       "wft_entry",    "wft_sticky"};
    for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
        assert_field(s, gone[i], "");
    char key[256];
    snprintf(key, sizeof(key), "%s:vx:status:%s", s->w.slot, status);
    redisReply *rep = duro_test_cmd(s->r, "ZSCORE", key, s->w.run, NULL);
    cr_assert(rep->type == REDIS_REPLY_STRING, "%s not in %s", s->w.run, key);
    cr_assert_str_eq(rep->str, start_ms);
    freeReplyObject(rep);
}

/* run_with_timeouts: a run with execution and run timeouts, its x and n
 * timers armed; its start_ms into start (size 32) */
static void run_with_timeouts(redisContext *r, lazy_run *s, const char *id,
                              char *start)
{
    run_start(r, s, id, 10000, 600000, 300000);
    char member[512];
    cr_assert(timer_present(s, timer(s, 'x', "0", member, sizeof(member))));
    cr_assert(timer_present(s, timer(s, 'n', "0", member, sizeof(member))));
    char *v = field(s, "start_ms");
    snprintf(start, 32, "%s", v);
    free(v);
}

/* Runs with execution and run timeouts, closed by an eager commit, a
 * commit, their run timeout and a terminate: each removes both timers and
 * indexes the run by its start. */
Test(lua_lazy, runs_with_timeouts_close_whole)
{
    redisContext *r = duro_test_redis(&h);
    duro_test_lua_load(r, false);
    lazy_run s;
    char start[32], member[512];

    run_with_timeouts(r, &s, "eager-close", start);
    commit_activity(&s, "w1");
    const char *const DONE[] = {"complete", "{}", "1", NULL};
    redisReply *rep = complete_eager(&s, -1, 1, DONE);
    cr_assert(rep->type == REDIS_REPLY_ARRAY && rep->element[0]->str &&
                  strcmp(rep->element[0]->str, "eager") == 0,
              "not an eager commit");
    freeReplyObject(rep);
    assert_closed(&s, "COMPLETED", start);
    assert_field(&s, "result", "1");

    run_with_timeouts(r, &s, "commit-close", start);
    const char *const FAIL[] = {"fail", "{}", "{\"message\":\"x\"}", NULL};
    rep = commit(&s, "w1", 1, FAIL);
    cr_assert(rep->type == REDIS_REPLY_ARRAY, "commit: %s",
              rep->type == REDIS_REPLY_ERROR ? rep->str : "?");
    freeReplyObject(rep);
    assert_closed(&s, "FAILED", start);

    run_with_timeouts(r, &s, "timed-out", start);
    commit_activity(&s, "w1");
    fire(&s, timer(&s, 'n', "0", member, sizeof(member)), "fired");
    assert_closed(&s, "TIMED_OUT", start);

    run_with_timeouts(r, &s, "terminated", start);
    duro_test_lua_run_terminate(r, &s.w);
    assert_closed(&s, "TERMINATED", start);
    redisFree(r);
    duro_test_finish(&h);
}

/* A timer that fires for a run whose worker keeps it queues the task to
 * that worker's stream; the worker's release moves it to the shared
 * stream under the next token, acking the sticky entry (its id:
 * wft_entry). */
Test(lua_lazy, a_released_worker_s_task_moves_to_the_shared_stream)
{
    redisContext *r = duro_test_redis(&h);
    duro_test_lua_load(r, false);
    lazy_run s;
    run_start(r, &s, "released", 10000, 0, 0);
    const char *const TIMER[] = {"timer", "1", "{\"seq\":1}", "60000", NULL};
    redisReply *rep = commit(&s, "wx", 1, TIMER);
    cr_assert(rep->type == REDIS_REPLY_ARRAY, "commit: %s",
              rep->type == REDIS_REPLY_ERROR ? rep->str : "?");
    freeReplyObject(rep);
    duro_argv a;
    char tmember[512];
    fire(&s, timer(&s, 't', "1", tmember, sizeof(tmember)), "fired");
    assert_field(&s, "token", "2");
    assert_field(&s, "wft_sticky", "wx");
    char sticky[sizeof(s.w.k.wft) + 8], member[512];
    snprintf(sticky, sizeof(sticky), "%s#wx", s.w.k.wft);
    assert_last_token(&s, sticky, "2");
    /* the worker read it, then stops */
    freeReplyObject(
        redisCommand(r, "XGROUP CREATE %s %s 0", sticky, DURO_GROUP));
    char entry[64], tok[32];
    duro_test_claim_task(r, sticky, "wx", "token", entry, sizeof(entry), tok,
                         sizeof(tok));
    duro_fcall_sticky_release(&a, &s.w.k, s.w.run, "wx");
    rep = redisCommandArgv(r, a.argc, a.argv, a.lens);
    duro_argv_free(&a);
    cr_assert(rep && rep->type == REDIS_REPLY_STRING, "release: %s",
              rep ? rep->str : r->errstr);
    cr_assert_str_eq(rep->str, "moved");
    freeReplyObject(rep);
    assert_field(&s, "token", "3");
    assert_field(&s, "wft_sticky", "");
    assert_field(&s, "sticky", "");
    assert_last_token(&s, s.w.k.wft, "3");
    cr_assert(!timer_present(&s, timer(&s, 'k', "2", member, sizeof(member))),
              "the k timer of token 2 stayed");
    rep = duro_test_cmd(r, "XPENDING", sticky, DURO_GROUP, NULL);
    cr_assert(rep->type == REDIS_REPLY_ARRAY && rep->element[0]->integer == 0,
              "the sticky entry %s was not acked", entry);
    freeReplyObject(rep);
    redisFree(r);
    duro_test_finish(&h);
}
