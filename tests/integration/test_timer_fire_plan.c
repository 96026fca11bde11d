/* test_timer_fire_plan.c: a timer's fire probes the keys of the run's
 * workflow task when, and only when, it queues one (TASK.plan,
 * common/lua/duro.lua, library 51). Three fires read, before their first
 * write, that they queue nothing: a `k` timer whose sticky task a worker
 * is running (the timer comes back), an `l` timer of a lease kept alive
 * (the timer comes back at the lease's deadline) and a `q` timer of an
 * attempt a worker took (ignored); before it, library 48 probed the run's
 * task keys for the last two, so a damaged one refused the fire, and its
 * timer fired for ever. Two queue a task: a `k` timer of a task never
 * delivered (moved to the shared stream) and a `w` timer (a task back
 * after its backoff); library 48 probed nothing for them, and
 * a damaged key failed the fire halfway. Each with the library and its
 * Cluster copy; DURO_TEST_LUA loads another duro.lua (harness_lua.h). */
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

TestSuite(timer_fire_plan, .init = setup, .fini = duro_test_fini,
          .timeout = 120);

typedef duro_test_wf wf;

/* due: the score of member in w's timers, -1 when absent */
static long long due(wf *w, const char *member)
{
    redisReply *s = duro_test_cmd(w->r, "ZSCORE", w->k.timers, member, NULL);
    long long d =
        s->type == REDIS_REPLY_STRING ? strtoll(s->str, NULL, 10) : -1;
    freeReplyObject(s);
    return d;
}

/* fired_anyway: rep (the fire of member with w's task stream a string)
 * answered want, member's timer left as `back` says (due again after
 * now, or gone), the task stream still the string */
static void fired_anyway(wf *w, redisReply *rep, const char *member,
                         const char *want, bool back)
{
    cr_assert(rep->type == REDIS_REPLY_STRING && !strcmp(rep->str, want),
              "%s, %s damaged: the fire of %s answered %s (want %s)", w->id,
              w->task, member, rep->str ? rep->str : "no string", want);
    freeReplyObject(rep);
    long long d = due(w, member);
    if (back)
        cr_assert(d > 1, "%s: %s not back (due %lld)", w->id, member, d);
    else
        cr_assert_eq(d, -1, "%s: %s kept", w->id, member);
    redisReply *t = duro_test_cmd(w->r, "TYPE", w->task, NULL);
    cr_assert_str_eq(t->str, "string", "%s: %s written", w->id, w->task);
    freeReplyObject(t);
}

/* A `k` timer due while its sticky task runs on its worker (taken moments
 * ago, well within the workflow task timeout): the timer comes back, the
 * task stays; nothing is queued, so a damaged task stream of the run's
 * must not refuse it. */
static void sticky_running(wf *w)
{
    duro_test_run_started(w);
    duro_test_run_ok(duro_test_run_commit(w, NULL, 0, 0, NULL, 0, "s1"),
                     "sticky commit");
    /* an event: the next task goes to s1's stream, with its k timer */
    char t[256];
    snprintf(t, sizeof(t), "t|r1|1|0|%s|-|%s", w->id, w->id);
    duro_test_run_ok(duro_test_run_fire_now(w, t, w->k.act), "timer fire");
    char sticky[DURO_TEST_RUN_KEY_LEN], entry[64], token[32];
    snprintf(sticky, sizeof(sticky), "%s#s1", w->k.wft);
    duro_test_run_claim(w, sticky, "token", entry, sizeof(entry), token,
                        sizeof(token));
    char k[256];
    duro_test_run_timer(w, "k|r1|", k, sizeof(k));
    duro_test_key_swap_in(w->r, w->task);
    fired_anyway(w, duro_test_run_fire_now(w, k, w->k.act), k, "fired", true);
    char *we = duro_test_hget(w->r, w->k.wf, "wft_entry");
    cr_assert(we && !strcmp(we, entry), "%s: the task moved", w->id);
    free(we);
}

Test(timer_fire_plan, sticky_task_running_ignores_the_runs_task_keys)
{
    duro_test_run_each(&h, "fk", 0, 2, 1, sticky_running);
}

/* refused_whole: the fire of member (k.act being act) with w's task
 * stream a string is refused before its first write (the timer kept,
 * nothing written); put back, the same fire answers "fired" */
static void refused_whole(wf *w, const char *member, const char *act)
{
    freeReplyObject(
        duro_test_cmd(w->r, "ZADD", w->k.timers, "1", member, NULL));
    char *before = duro_test_probe_in(w->r, w->p, w->task);
    duro_test_probe_refused(w->r, w->p, w->task, before,
                            duro_test_run_fire(w, member, act), member);
    redisReply *rep = duro_test_run_fire_now(w, member, act);
    cr_assert(rep->type == REDIS_REPLY_STRING && !strcmp(rep->str, "fired"),
              "%s: the fire of %s, put back: %s", w->id, member,
              rep->str ? rep->str : "no string");
    freeReplyObject(rep);
}

/* A `k` timer due while its sticky task was never delivered (the worker
 * gone) moves the task to the shared stream: it writes the run's task
 * keys, so a damaged one refuses the fire whole. (Library 48 probed
 * none for a `k` or a `w` timer: the task's XADD failed after
 * the timer's ZREM and the sticky entry's ack, the task lost.) */
static void sticky_undelivered(wf *w)
{
    duro_test_run_started(w);
    duro_test_run_ok(duro_test_run_commit(w, NULL, 0, 0, NULL, 0, "s1"),
                     "sticky commit");
    char t[256];
    snprintf(t, sizeof(t), "t|r1|1|0|%s|-|%s", w->id, w->id);
    duro_test_run_ok(duro_test_run_fire_now(w, t, w->k.act), "timer fire");
    char k[256];
    duro_test_run_timer(w, "k|r1|", k, sizeof(k));
    refused_whole(w, k, w->k.act);
    char *sticky = duro_test_hget(w->r, w->k.wf, "wft_sticky");
    cr_assert(!sticky || !*sticky, "%s: still sticky", w->id);
    free(sticky);
}

Test(timer_fire_plan, sticky_task_moved_probes_the_runs_task_keys)
{
    duro_test_run_each(&h, "fm", 0, 2, 1, sticky_undelivered);
}

/* A `w` timer (a workflow task timed out twice in a row, back after its
 * backoff) queues the task: a damaged task key refuses the fire whole. */
static void wft_backoff(wf *w)
{
    duro_test_run_started(w);
    duro_test_run_ok(duro_test_run_wft_timeout(w), "first timeout");
    duro_test_run_claim(w, w->task, "token", w->entry, sizeof(w->entry),
                        w->token, sizeof(w->token));
    duro_test_run_ok(duro_test_run_wft_timeout(w), "second timeout");
    char m[256];
    duro_test_run_timer(w, "w|r1|", m, sizeof(m));
    refused_whole(w, m, w->k.act);
    char *e = duro_test_hget(w->r, w->k.wf, "wft_entry");
    cr_assert(e && *e, "%s: no task queued", w->id);
    free(e);
}

Test(timer_fire_plan, wft_backoff_probes_the_runs_task_keys)
{
    duro_test_run_each(&h, "fw", 0, 2, 1, wft_backoff);
}

/* An `l` timer due before its lease's deadline (a heartbeat or, here, a
 * timer fired early by hand): the timer comes back at the deadline;
 * nothing is delivered, so a damaged task stream of the run's must not
 * refuse it. (A fairness key takes no lease: priority only.) */
static void lease_alive(wf *w)
{
    duro_test_run_leased(w);
    char l[256];
    duro_test_run_timer(w, "l|r1|1|1|", l, sizeof(l));
    duro_test_key_swap_in(w->r, w->task);
    fired_anyway(w, duro_test_run_fire_now(w, l, w->act), l, "fired", true);
    redisReply *hl = duro_test_cmd(w->r, "HLEN", w->k.pa, NULL);
    cr_assert(hl->integer > 0, "%s: activity 1 resolved", w->id);
    freeReplyObject(hl);
}

Test(timer_fire_plan, lease_alive_ignores_the_runs_task_keys)
{
    duro_test_run_each(&h, "fl", 0, 1, 1, lease_alive);
}

/* A `q` timer (schedule-to-start) of an attempt a worker took: ignored,
 * the timer gone; nothing is delivered, so a damaged task stream of the
 * run's must not refuse it. */
static void sts_taken(wf *w)
{
    duro_test_run_acting(w, "{\"scheduleToStartMs\":60000}");
    char q[256];
    duro_test_run_timer(w, "q|r1|1|1|", q, sizeof(q));
    duro_test_key_swap_in(w->r, w->task);
    fired_anyway(w, duro_test_run_fire_now(w, q, w->act), q, "ignored", false);
}

Test(timer_fire_plan, sts_of_a_taken_attempt_ignores_the_runs_task_keys)
{
    duro_test_run_each(&h, "fq", 0, 2, 1, sts_taken);
}
