/* test_task_probe_edges.c: the edges of the probes of a task's level and
 * fair keys before a call's first write (TASK, common/lua/duro.lua). They
 * must refuse nothing else: a call that queues no task of the run (a retry
 * later, a timer ignored, a cancel asked again) goes through with the
 * run's task keys damaged, or it would fire for ever; a continue-as-new
 * writes its new run's history whatever was there; keys of the right type
 * but unusual pass; a next run with other options, an activity's own
 * priority, priority 3 given and an empty fairness key probe what they
 * write. Each with the library and its Cluster copy (SHARDED_WAKE);
 * DURO_TEST_LUA loads another duro.lua (harness_lua.h). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/fcall.h"
#include "harness_lua.h"
#include "harness_run.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(task_probe_edges, .init = setup, .fini = duro_test_fini,
          .timeout = 120);

enum { KEY_LEN = DURO_TEST_RUN_KEY_LEN };

/* wf: run "r1" of workflow id on queue id, with priority prio (0: none)
 * or fairness key fkey (NULL: none), the library's Cluster copy loaded
 * when sharded; f and v: its flow and variant (each) (harness_run.h) */
typedef duro_test_wf wf;

/* passes: call, with key made a string, succeeds (and answers `want`
 * when not NULL) */
static void passes(wf *w, const char *key, redisReply *rep, const char *want,
                   const char *what)
{
    cr_assert(rep->type != REDIS_REPLY_ERROR &&
                  (!want || (rep->str && !strcmp(rep->str, want))),
              "%s (%s), %s damaged: answered %s", what, w->id, key,
              rep->str ? rep->str : "no string");
    freeReplyObject(rep);
}

/* refused: the call answered DURO_WRONGTYPE naming key */
static void refused(wf *w, const char *key, redisReply *rep, const char *what)
{
    char run[96];
    snprintf(run, sizeof(run), "%s (%s)", what, w->id);
    duro_test_wrongtype(rep, key, run);
}

/* commit: duro_wft_complete of w's claimed task with ncmd commands (n
 * words), their streams acts[0..nacts) */
static redisReply *commit(wf *w, const char *const *cmd, int n, int ncmd,
                          const char *const *acts, int nacts)
{
    return duro_test_run_commit(w, cmd, n, ncmd, acts, nacts, NULL);
}

/* act_call: duro_act_timeout of w's claimed attempt (timeout), else
 * duro_act_complete of its failure, retried after delay (-1: not) */
static redisReply *act_call(wf *w, bool timeout, long long delay)
{
    duro_wf_keys k;
    duro_fcall_attempt at = duro_test_run_attempt(w, &k);
    duro_fcall_act_result r = {.failed = true,
                               .data = "{}",
                               .retry_delay_ms = delay,
                               .failure = "{\"message\":\"no\"}"};
    duro_argv a;
    if (timeout)
        duro_fcall_act_timeout(&a, &k, &at, 700000, delay);
    else
        duro_fcall_act_complete(&a, &k, &at, &r, 0, NULL);
    return duro_test_argv_call(w->r, &a);
}

/* xfer_cancel: duro_xfer_apply of a cancel from another partition's
 * workflow (record `<id>.<n>`) */
static redisReply *xfer_cancel(wf *w, int n)
{
    char body[256];
    snprintf(body, sizeof(body),
             "{\"op\":\"cancel\",\"id\":\"%s\",\"run\":\"r1\",\"data\":\"{}\"}",
             w->id);
    return duro_test_run_xfer(w, n, body);
}

/* fire: timer `<kind>|r1|<a>|<b>|<queue>|<actq>|<id>` added due at 1 and
 * fired */
static redisReply *fire(wf *w, const char *kind, const char *a, const char *b,
                        const char *actq)
{
    char member[256];
    snprintf(member, sizeof(member), "%s|r1|%s|%s|%s|%s|%s", kind, a, b, w->id,
             actq, w->id);
    freeReplyObject(
        duro_test_cmd(w->r, "ZADD", w->k.timers, "1", member, NULL));
    duro_argv args;
    duro_fcall_timer_fire(&args, &w->k, member, strlen(member));
    return duro_test_argv_call(w->r, &args);
}

static long long llen(wf *w, const char *key, const char *cmd)
{
    redisReply *rep = duro_test_cmd(w->r, cmd, key, NULL);
    cr_assert(rep->type == REDIS_REPLY_INTEGER, "%s %s: %s", cmd, key,
              rep->type == REDIS_REPLY_ERROR ? rep->str : "no integer");
    long long n = rep->integer;
    freeReplyObject(rep);
    return n;
}

/* SIDE: the keys beside w's queue's plain stream, by index (side) */
enum { READY, META, FAIR_SET, LEVEL3, NSIDE };

static void side(const wf *w, char out[NSIDE][KEY_LEN])
{
    snprintf(out[READY], KEY_LEN, "%s~", w->k.wft);
    snprintf(out[META], KEY_LEN, "%s~~", w->k.wft);
    snprintf(out[FAIR_SET], KEY_LEN, "duro:{p%d}:fair:%s", w->p, w->id);
    snprintf(out[LEVEL3], KEY_LEN, "%s!3", w->k.wft);
}

/* KEYS8: the 8 keys of duro_start and duro_terminate */
#define KEYS8(k)                                                               \
    {                                                                          \
        (k).wf, (k).hist, (k).buf, (k).wft, (k).timers, (k).pa, (k).idx_open,  \
            (k).idx_closed                                                     \
    }

/* has_task: the run's task (wft_entry) is in w->task */
static bool has_task(wf *w)
{
    char *e = duro_test_hget(w->r, w->k.wf, "wft_entry");
    cr_assert(e && *e, "%s: no wft_entry", w->id);
    redisReply *x = duro_test_cmd(w->r, "XRANGE", w->task, e, e, NULL);
    bool found = x->type == REDIS_REPLY_ARRAY && x->elements == 1;
    freeReplyObject(x);
    free(e);
    return found;
}

/* has_timer: w's timers hold one starting with prefix */
static bool has_timer(wf *w, const char *prefix)
{
    redisReply *m = duro_test_cmd(w->r, "ZRANGE", w->k.timers, "0", "-1", NULL);
    bool found = false;
    for (size_t i = 0; i < m->elements; i++)
        found |= !strncmp(m->element[i]->str, prefix, strlen(prefix));
    freeReplyObject(m);
    return found;
}

/* ---- A continue-as-new's new history ---- */

/* The new run's history key held something (v: a list, a string):
 * start_run DELs it before writing it, so the commit must not probe it
 * (library 47 probed it as a stream: the commit refused for ever). */
static void continue_over(wf *w)
{
    duro_test_run_started(w);
    duro_wf_keys k2 = duro_test_run_keys(w, "r2", w->id);
    freeReplyObject(
        w->v ? duro_test_cmd(w->r, "SET", k2.hist, "junk", NULL)
             : duro_test_cmd(w->r, "RPUSH", k2.hist, "j", "j", NULL));
    const char *acts[] = {k2.hist, k2.wft};
    const char *cmd[] = {
        "continue_as_new", "{}", "r2", "9", "10", "t", w->id, "null", "0", "0"};
    passes(w, k2.hist, commit(w, cmd, 10, 1, acts, 2), NULL, "continue");
    cr_assert_eq(llen(w, k2.hist, "LLEN"), 1, "%s", w->id);
    char *run = duro_test_hget(w->r, w->k.wf, "run");
    cr_assert_str_eq(run, "r2");
    free(run);
    redisReply *e = duro_test_cmd(w->r, "LINDEX", k2.hist, "0", NULL);
    cr_assert(e->type == REDIS_REPLY_STRING &&
                  strstr(e->str, "continuedExecutionRunId"),
              "%s: the new run's first event: %s", w->id,
              e->type == REDIS_REPLY_STRING ? e->str : "none");
    freeReplyObject(e);
    cr_assert(has_task(w), "%s: no task for r2", w->id);
}

Test(task_probe_edges, continue_as_new_over_any_history)
{
    duro_test_run_each(&h, "ca", 0, 3, 2, continue_over);
}

/* ---- Calls that queue no workflow task ---- */

/* An activity timed out and retried (v 0: later, an 'r' timer; 1: at
 * once, to its own stream) delivers nothing: the run's task keys are not
 * its concern. Resolved (v 2: no retry), it delivers the timeout and is
 * refused. */
static void act_timeout_retried(wf *w)
{
    static const long long DELAY[] = {5000, 0, -1};
    duro_test_run_acting(w, "{}");
    duro_test_key_swap_in(w->r, w->task);
    redisReply *rep = act_call(w, true, DELAY[w->v]);
    if (DELAY[w->v] < 0)
        refused(w, w->task, rep, "act timeout resolved");
    else
        passes(w, w->task, rep, "timedout", "act timeout retried");
}

Test(task_probe_edges, act_timeout_retried_ignores_the_runs_task_keys)
{
    duro_test_run_each(&h, "at", 0, 2, 3, act_timeout_retried);
}

/* A failed attempt retried later delivers nothing either. */
static void act_failure_retried(wf *w)
{
    duro_test_run_acting(w, "{}");
    duro_test_key_swap_in(w->r, w->task);
    passes(w, w->task, act_call(w, false, 5000), NULL, "failure retried");
    cr_assert(has_timer(w, "r|r1|1|2|"), "%s: no r timer", w->id);
}

Test(task_probe_edges, act_failure_retried_ignores_the_runs_task_keys)
{
    duro_test_run_each(&h, "af", 0, 2, 1, act_failure_retried);
}

/* Timers whose fire is ignored (a 'w' or 'k' of another token, an 's',
 * 'q' or 'l' of no activity): nothing queued, the timer goes. */
static void ignored_timer(wf *w)
{
    static const char *const T[][3] = {{"w", "999", "0"},
                                       {"k", "999", "0"},
                                       {"s", "7", "0"},
                                       {"q", "7", "1"},
                                       {"l", "7", "1"}};
    duro_test_run_idle(w);
    duro_test_key_swap_in(w->r, w->task);
    passes(w, w->task, fire(w, T[w->v][0], T[w->v][1], T[w->v][2], w->id),
           "ignored", T[w->v][0]);
    cr_assert_eq(llen(w, w->k.timers, "ZCARD"), 0, "%s: timer kept", w->id);
}

Test(task_probe_edges, ignored_timers_ignore_the_runs_task_keys)
{
    duro_test_run_each(&h, "it", 0, 2, 5, ignored_timer);
}

/* A workflow task timed out a second time in a row comes back through a
 * 'w' timer, not at once: that timeout queues nothing. The first one,
 * which queues the task again, is refused. (The fair run's meta hash: the
 * task's own stream is the one the call acks from.) */
static void wft_timeout_again(wf *w)
{
    char sk[NSIDE][KEY_LEN];
    side(w, sk);
    const char *meta = sk[META];
    duro_test_run_started(w);
    duro_test_key_swap_in(w->r, meta);
    refused(w, meta, duro_test_run_wft_timeout(w), "first timeout");
    duro_test_key_swap_out(w->r, meta);
    duro_test_run_ok(duro_test_run_wft_timeout(w), "first timeout");
    duro_test_run_claim(w, w->task, "token", w->entry, sizeof(w->entry),
                        w->token, sizeof(w->token));
    duro_test_key_swap_in(w->r, meta);
    passes(w, meta, duro_test_run_wft_timeout(w), "timedout", "second timeout");
    cr_assert(has_timer(w, "w|r1|"), "%s: no w timer", w->id);
}

Test(task_probe_edges, wft_timeout_again_ignores_the_runs_task_keys)
{
    duro_test_run_each(&h, "wt", 1, 2, 1, wft_timeout_again);
}

/* A cancel from another partition, asked again once the first was
 * delivered and handled, delivers nothing. */
static void xfer_cancel_again(wf *w)
{
    duro_test_run_idle(w);
    duro_test_run_ok(xfer_cancel(w, 1), "xfer cancel");
    duro_test_run_claim(w, w->task, "token", w->entry, sizeof(w->entry),
                        w->token, sizeof(w->token));
    duro_test_run_ok(commit(w, NULL, 0, 0, NULL, 0), "commit");
    duro_test_key_swap_in(w->r, w->task);
    passes(w, w->task, xfer_cancel(w, 2), "delivered", "cancel again");
}

Test(task_probe_edges, xfer_cancel_again_ignores_the_runs_task_keys)
{
    duro_test_run_each(&h, "xc", 0, 2, 1, xfer_cancel_again);
}

/* ---- What a task writes, and only that ---- */

/* A new run of a closed one with other options (signal-with-start) probes
 * its own keys, not the closed run's: a fairness key after a priority,
 * and the other way round. */
static void next_run(wf *w)
{
    duro_test_run_idle(w);
    const char *keys8[] = KEYS8(w->k);
    duro_argv a;
    duro_argv_fcall(&a, "duro_terminate", 8, keys8);
    duro_argv_push(&a, "{}");
    duro_test_run_ok(duro_test_argv_call(w->r, &a), "terminate");
    char old_task[KEY_LEN], new_task[KEY_LEN];
    snprintf(old_task, sizeof(old_task), "%s", w->task);
    w->prio = w->f ? 4 : 0;
    w->fkey = w->f ? NULL : "m";
    duro_test_run_suffixed(new_task, w->k.wft, w->prio, w->fkey);
    duro_wf_keys k = duro_test_run_keys(w, "r2", w->id);
    duro_fcall_start_args s = duro_test_run_start_args(w, "r2");
    duro_test_key_swap_in(w->r, new_task);
    duro_fcall_signal_with_start(&a, &k, &s, "{}", w->k.hist, NULL);
    refused(w, new_task, duro_test_argv_call(w->r, &a), "sws, its own key");
    duro_test_key_swap_out(w->r, new_task);
    duro_test_key_swap_in(w->r, old_task);
    duro_fcall_signal_with_start(&a, &k, &s, "{}", w->k.hist, NULL);
    passes(w, old_task, duro_test_argv_call(w->r, &a), NULL,
           "sws, the old key");
    cr_assert_eq(llen(w, new_task, "XLEN"), 1, "%s", w->id);
}

Test(task_probe_edges, next_run_with_other_options)
{
    duro_test_run_each(&h, "nr", 0, 2, 1, next_run);
}

/* ACT_PRIO4: activity 1 with priority 4 (start-to-close 10 min) */
static const char *const ACT_PRIO4[] = {
    "activity",         "1",      "{\"seq\":1}", "9", "echo", "null",
    "{\"priority\":4}", "600000", "0",           "0"};

/* An activity with a priority of its own (4) in a run of priority 2: its
 * level's stream is probed (v 1: refused), not the run's (v 0). */
static void activity_priority(wf *w)
{
    char own[KEY_LEN];
    duro_test_run_started(w);
    snprintf(own, sizeof(own), "%s!4", w->k.act);
    duro_test_key_swap_in(w->r, w->v ? own : w->act);
    const char *acts[] = {w->k.act};
    redisReply *rep = commit(w, ACT_PRIO4, 10, 1, acts, 1);
    if (w->v) {
        refused(w, own, rep, "activity at priority 4");
        return;
    }
    passes(w, w->act, rep, NULL, "activity at priority 4");
    cr_assert_eq(llen(w, own, "XLEN"), 1, "%s", w->id);
}

Test(task_probe_edges, activity_priority_other_than_the_runs)
{
    duro_test_run_each(&h, "ap", 0, 1, 2, activity_priority);
}

/* Priority 3 given (the default: no level stream) and an empty fairness
 * key (none) write the queue's plain stream only: the keys a level or a
 * key would have are not probed. */
static void default_flow(wf *w)
{
    char sk[NSIDE][KEY_LEN];
    side(w, sk);
    for (int i = 0; i < NSIDE; i++)
        duro_test_key_swap_in(w->r, sk[i]);
    const char *keys8[] = KEYS8(w->k);
    const char *args[] = {
        w->id, "r1", "t", w->id, "null", "{}", "0", "10000", "AllowDuplicate",
        "",    "0",  "",  "",    "0",    "3",  "",  ""};
    freeReplyObject(duro_test_fcall(w->r, "duro_start", 8, keys8, 17, args));
    cr_assert_eq(llen(w, w->k.wft, "XLEN"), 1, "%s", w->id);
    char *p = duro_test_hget(w->r, w->k.wf, "priority");
    char *fk = duro_test_hget(w->r, w->k.wf, "fkey");
    cr_assert(!p && !fk, "%s: priority %s, fkey %s", w->id, p ? p : "-",
              fk ? fk : "-");
}

Test(task_probe_edges, priority_3_and_empty_key_are_none)
{
    duro_test_run_each(&h, "p3", 2, 3, 1, default_flow);
}

/* Keys of the right type but unusual: the level's or the key's stream
 * empty with no group, the ready zset and the meta hash holding other
 * keys, the partition's fair set other streams. */
static void unusual_keys(wf *w)
{
    freeReplyObject(duro_test_cmd(w->r, "XADD", w->task, "*", "a", "1", NULL));
    freeReplyObject(duro_test_cmd(w->r, "XTRIM", w->task, "MAXLEN", "0", NULL));
    char sk[NSIDE][KEY_LEN];
    side(w, sk);
    if (w->fkey) {
        freeReplyObject(duro_test_cmd(w->r, "ZADD", sk[READY], "5", "o", NULL));
        freeReplyObject(
            duro_test_cmd(w->r, "HSET", sk[META], "n:o", "1", NULL));
        freeReplyObject(duro_test_cmd(w->r, "SADD", sk[FAIR_SET], "x~o", NULL));
    }
    duro_test_run_started(w);
    cr_assert_eq(llen(w, w->task, "XLEN"), 1, "%s", w->id);
    if (w->fkey) {
        cr_assert_eq(llen(w, sk[READY], "ZCARD"), 2, "%s", w->id);
        cr_assert_eq(llen(w, sk[FAIR_SET], "SCARD"), 2, "%s", w->id);
    }
}

Test(task_probe_edges, unusual_keys_of_the_right_type_pass)
{
    duro_test_run_each(&h, "uk", 0, 2, 1, unusual_keys);
}
