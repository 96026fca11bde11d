/* test_timer_fire_review.c: a timer's fire (TASK.plan, duro_timer_fire,
 * common/lua/duro.lua) against damaged records and the reads the plan
 * makes before its first write. An `s` or `q` timer whose attempt's
 * entry is not a stream id is refused whole, naming the run's activity
 * record (library 54: before, the `s` fire's XACK failed after the timer's
 * ZREM, the timer lost and the activity never closed; the `q` fire's
 * XRANGE failed naming nothing). A damaged schedule record refuses an `r`
 * fire that queues the attempt, not one that is ignored. A `q` timer of an
 * attempt no worker read (no group) times out; of an entry deleted, it is
 * ignored; a `k` timer whose sticky stream is another type, or has no
 * group, moves the task; of a running task whose entry was deleted, it
 * comes back.
 * An activity stream of another type refuses the fires that read or
 * write it, and since library 54 those alone (a stale `r`, `s`, `q` or
 * `l` timer, or a lease extended, was refused for ever before).
 * A timer fired twice (a scheduler's retry after a lost reply, or two
 * schedulers racing: each fire is one Function, so the second runs after
 * the first) writes once. Each with the library and its Cluster copy. */
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

TestSuite(timer_fire_review, .init = setup, .fini = duro_test_fini,
          .timeout = 120);

typedef duro_test_wf wf;

/* events: the length of w's history and buffer */
static long long events(wf *w)
{
    long long n = 0;
    const char *keys[] = {w->k.hist, w->k.buf};
    for (int j = 0; j < 2; j++) {
        redisReply *l = duro_test_cmd(w->r, "LLEN", keys[j], NULL);
        n += l->integer;
        freeReplyObject(l);
    }
    return n;
}

/* hist_count: the events of w's history (or its buffer, where an event
 * waits while a task is outstanding) containing text */
static int hist_count(wf *w, const char *text)
{
    int n = 0;
    const char *keys[] = {w->k.hist, w->k.buf};
    for (int j = 0; j < 2; j++) {
        redisReply *l = duro_test_cmd(w->r, "LRANGE", keys[j], "0", "-1", NULL);
        for (size_t i = 0; i < l->elements; i++)
            n += l->element[i]->str && strstr(l->element[i]->str, text);
        freeReplyObject(l);
    }
    return n;
}

/* answered: rep a status or string reply `want` (what names the fire),
 * freed */
static void answered(wf *w, redisReply *rep, const char *want, const char *what)
{
    cr_assert(rep->str && !strcmp(rep->str, want),
              "%s: %s answered %s (want %s)", w->id, what,
              rep->str ? rep->str : "no string", want);
    freeReplyObject(rep);
}

/* acting: w's activity 1 scheduled with options opts and schedule-to-
 * close stc2 ("0": none), its first attempt left in its queue, read by
 * no worker */
static void acting(wf *w, const char *opts, const char *stc2)
{
    duro_test_run_started(w);
    const char *cmd[] = {"activity", "1",  "{\"seq\":1}", "9", "echo",
                         "null",     opts, "600000",      "0", stc2};
    const char *acts[] = {w->k.act};
    duro_test_run_ok(duro_test_run_commit(w, cmd, 10, 1, acts, 1, NULL),
                     "commit activity");
}

/* set_entry: the entry of activity 1's state record made `entry` (the
 * record's second field); its old record returned (caller frees it) */
static char *set_entry(wf *w, const char *entry)
{
    char *rec = duro_test_hget(w->r, w->k.pa, "1");
    cr_assert(rec, "%s: no record of activity 1", w->id);
    const char *c1 = strchr(rec, ',');
    cr_assert(c1, "%s: record %s", w->id, rec);
    const char *c2 = strchr(c1 + 1, ',');
    cr_assert(c2, "%s: record %s", w->id, rec);
    size_t n = (size_t)(c1 - rec) + strlen(entry) + strlen(c2) + 2;
    char *out = malloc(n);
    cr_assert(out);
    snprintf(out, n, "%.*s,%s%s", (int)(c1 - rec), rec, entry, c2);
    duro_test_cmd_ok(w->r, "HSET", w->k.pa, "1", out, NULL);
    free(out);
    return rec;
}

/* refused: the fire of member (k.act being w's activity stream) answered
 * DURO_CORRUPT naming w's activity records, partition p as it was (the
 * fire wrote nothing, its timer kept) */
static void refused(wf *w, const char *member)
{
    freeReplyObject(
        duro_test_cmd(w->r, "ZADD", w->k.timers, "1", member, NULL));
    char *before = duro_test_partition_dump(w->r, w->p);
    redisReply *rep = duro_test_run_fire_now(w, member, w->act);
    char *after = duro_test_partition_dump(w->r, w->p);
    cr_assert(strcmp(before, after) == 0, "%s: the fire of %s wrote (%s)",
              w->id, member, rep->str ? rep->str : "no string");
    char want[DURO_TEST_RUN_KEY_LEN + 16];
    snprintf(want, sizeof(want), "DURO_CORRUPT %s ", w->k.pa);
    cr_assert(rep->type == REDIS_REPLY_ERROR &&
                  !strncmp(rep->str, want, strlen(want)),
              "%s: the fire of %s answered %s (want %s...)", w->id, member,
              rep->str ? rep->str : "no string", want);
    freeReplyObject(rep);
    free(before);
    free(after);
}

/* An `s` timer (schedule-to-close) whose attempt's entry is not a stream
 * id: refused whole; the record put back, the activity closes. */
static void s_malformed(wf *w)
{
    acting(w, "{}", "600000");
    char s[256];
    duro_test_run_timer(w, "s|r1|1|0|", s, sizeof(s));
    char *rec = set_entry(w, "not-an-id");
    refused(w, s);
    duro_test_cmd_ok(w->r, "HSET", w->k.pa, "1", rec, NULL);
    free(rec);
    answered(w, duro_test_run_fire_now(w, s, w->act), "fired",
             "the s timer, put back");
    char *st = duro_test_hget(w->r, w->k.pa, "1");
    cr_assert_null(st, "%s: activity 1 not closed", w->id);
    free(st);
}

Test(timer_fire_review, s_timer_of_a_malformed_entry_is_refused_whole)
{
    duro_test_run_each(&h, "rs", 0, 2, 1, s_malformed);
}

/* A `q` timer (schedule-to-start) whose attempt's entry is not a stream
 * id: refused whole; the record put back, the attempt times out. */
static void q_malformed(wf *w)
{
    acting(w, "{\"scheduleToStartMs\":60000}", "0");
    char q[256];
    duro_test_run_timer(w, "q|r1|1|1|", q, sizeof(q));
    char *rec = set_entry(w, "x");
    refused(w, q);
    duro_test_cmd_ok(w->r, "HSET", w->k.pa, "1", rec, NULL);
    free(rec);
    answered(w, duro_test_run_fire_now(w, q, w->act), "fired",
             "the q timer, put back");
}

Test(timer_fire_review, q_timer_of_a_malformed_entry_is_refused_whole)
{
    duro_test_run_each(&h, "rq", 0, 2, 1, q_malformed);
}

/* A `q` timer of an attempt in a stream no worker ever read (no group:
 * XPENDING answers NOGROUP): the attempt times out, resolved (no retry
 * delay given). Fired again: gone, one timeout in the history. */
static void q_nogroup(wf *w)
{
    acting(w, "{\"scheduleToStartMs\":60000}", "0");
    freeReplyObject(
        redisCommand(w->r, "XGROUP DESTROY %s %s", w->act, DURO_GROUP));
    char q[256];
    duro_test_run_timer(w, "q|r1|1|1|", q, sizeof(q));
    answered(w, duro_test_run_fire_now(w, q, w->act), "fired", "the q timer");
    char *st = duro_test_hget(w->r, w->k.pa, "1");
    cr_assert_null(st, "%s: activity 1 not resolved", w->id);
    free(st);
    answered(w, duro_test_run_fire(w, q, w->act), "gone", "the q timer again");
    cr_assert_eq(hist_count(w, "SCHEDULE_TO_START"), 1, "%s: not one timeout",
                 w->id);
}

Test(timer_fire_review, q_timer_of_a_stream_with_no_group_times_out_once)
{
    duro_test_run_each(&h, "rn", 0, 2, 1, q_nogroup);
}

/* A `q` timer of an attempt whose stream entry was deleted (trimmed by
 * hand): ignored, the activity still waiting. */
static void q_deleted(wf *w)
{
    acting(w, "{\"scheduleToStartMs\":60000}", "0");
    redisReply *x = duro_test_cmd(w->r, "XRANGE", w->act, "-", "+", NULL);
    cr_assert(x->elements == 1, "%s: %zu entries", w->id, x->elements);
    duro_test_cmd_ok(w->r, "XDEL", w->act, x->element[0]->element[0]->str,
                     NULL);
    freeReplyObject(x);
    char q[256];
    duro_test_run_timer(w, "q|r1|1|1|", q, sizeof(q));
    answered(w, duro_test_run_fire_now(w, q, w->act), "ignored", "the q timer");
    char *st = duro_test_hget(w->r, w->k.pa, "1");
    cr_assert(st && st[0] == '1', "%s: activity 1 moved on: %s", w->id,
              st ? st : "(none)");
    free(st);
}

Test(timer_fire_review, q_timer_of_a_deleted_entry_is_ignored)
{
    duro_test_run_each(&h, "rd", 0, 2, 1, q_deleted);
}

/* An `r` timer of the attempt waiting for it (entry '') queues it, so a
 * damaged schedule record refuses it whole; one of another attempt is
 * ignored, whatever the schedule record holds. */
static void r_sched(wf *w)
{
    acting(w, "{\"scheduleToStartMs\":60000}", "0");
    char q[256], r[256];
    duro_test_run_timer(w, "q|r1|1|1|", q, sizeof(q));
    snprintf(r, sizeof(r), "r%s", q + 1);
    free(set_entry(w, ""));
    char *sc = duro_test_hget(w->r, w->k.pa, "1.s");
    cr_assert(sc, "%s: no schedule record", w->id);
    duro_test_cmd_ok(w->r, "HSET", w->k.pa, "1.s", "damaged", NULL);
    refused(w, r);
    char r2[256];
    snprintf(r2, sizeof(r2), "r|r1|1|2|%s", strchr(q + 7, '|') + 1);
    answered(w, duro_test_run_fire_now(w, r2, w->act), "ignored",
             "the r timer of attempt 2");
    duro_test_cmd_ok(w->r, "HSET", w->k.pa, "1.s", sc, NULL);
    free(sc);
    answered(w, duro_test_run_fire_now(w, r, w->act), "fired",
             "the r timer, put back");
}

Test(timer_fire_review, r_timer_refused_by_a_damaged_schedule_only_when_live)
{
    duro_test_run_each(&h, "rr", 0, 2, 1, r_sched);
}

/* A `k` timer of a task never delivered whose sticky stream is another
 * type (no worker can read it): the task moves to the shared stream, not
 * refused (unstick's XACK forgives it). */
static void k_wrongtype(wf *w)
{
    duro_test_run_started(w);
    duro_test_run_ok(duro_test_run_commit(w, NULL, 0, 0, NULL, 0, "s1"),
                     "sticky commit");
    char t[256];
    snprintf(t, sizeof(t), "t|r1|1|0|%s|-|%s", w->id, w->id);
    answered(w, duro_test_run_fire_now(w, t, w->k.act), "fired", "the t timer");
    long long n0 = events(w);
    answered(w, duro_test_run_fire(w, t, w->k.act), "gone",
             "the t timer again");
    cr_assert_eq(events(w), n0, "%s: the t timer delivered twice", w->id);
    char k[256];
    duro_test_run_timer(w, "k|r1|", k, sizeof(k));
    char sticky[DURO_TEST_RUN_KEY_LEN];
    snprintf(sticky, sizeof(sticky), "%s#s1", w->k.wft);
    duro_test_key_swap_in(w->r, sticky);
    answered(w, duro_test_run_fire_now(w, k, w->k.act), "fired", "the k timer");
    char *s = duro_test_hget(w->r, w->k.wf, "wft_sticky");
    cr_assert(!s || !*s, "%s: still sticky", w->id);
    free(s);
    redisReply *ty = duro_test_cmd(w->r, "TYPE", sticky, NULL);
    cr_assert_str_eq(ty->str, "string", "%s: sticky stream written", w->id);
    freeReplyObject(ty);
    duro_test_key_swap_out(w->r, sticky);
}

Test(timer_fire_review, k_timer_of_a_sticky_stream_of_another_type_moves)
{
    duro_test_run_each(&h, "rk", 0, 2, 1, k_wrongtype);
}

/* refused_act: the fire of member, w's activity stream a string, refused
 * whole (DURO_WRONGTYPE naming it); the stream put back */
static void refused_act(wf *w, const char *member)
{
    freeReplyObject(
        duro_test_cmd(w->r, "ZADD", w->k.timers, "1", member, NULL));
    char *before = duro_test_probe_in(w->r, w->p, w->act);
    duro_test_probe_refused(w->r, w->p, w->act, before,
                            duro_test_run_fire(w, member, w->act), member);
}

/* passed_act: the fire of member, w's activity stream a string, answered
 * want, the stream left a string; put back */
static void passed_act(wf *w, const char *member, const char *want)
{
    duro_test_key_swap_in(w->r, w->act);
    answered(w, duro_test_run_fire_now(w, member, w->act), want, member);
    redisReply *t = duro_test_cmd(w->r, "TYPE", w->act, NULL);
    cr_assert_str_eq(t->str, "string", "%s: %s written", w->id, w->act);
    freeReplyObject(t);
    duro_test_key_swap_out(w->r, w->act);
}

/* The activity stream of another type refuses the fire of an activity's
 * timer that reads or writes it (an `s` timer acking its attempt's entry,
 * a `q` timer reading it, an `r` timer queueing the attempt), and no fire
 * that touches it not: an `r`, `s` or `q` timer of an attempt moved on.
 * (Before library 54 every r, s, q and l fire probed it: a stale timer
 * was refused for ever.) */
static void act_wrongtype(wf *w)
{
    acting(w, "{\"scheduleToStartMs\":60000}", "600000");
    duro_test_run_claim(w, w->act, "attempt", w->aentry, sizeof(w->aentry),
                        w->attempt, sizeof(w->attempt));
    char q[256], s[256], r[256], q2[256], r2[256];
    duro_test_run_timer(w, "q|r1|1|1|", q, sizeof(q));
    duro_test_run_timer(w, "s|r1|1|0|", s, sizeof(s));
    const char *tail = strchr(q + 7, '|') + 1; /* <wfq>|<actq>|<id> */
    snprintf(r, sizeof(r), "r|r1|1|1|%s", tail);
    snprintf(q2, sizeof(q2), "q|r1|1|2|%s", tail);
    snprintf(r2, sizeof(r2), "r|r1|1|2|%s", tail);
    /* of another attempt: nothing read or written */
    passed_act(w, q2, "ignored");
    passed_act(w, r2, "ignored");
    /* r of an attempt in its stream: ignored, the stream untouched */
    passed_act(w, r, "ignored");
    refused_act(w, q);
    refused_act(w, s);
    /* the attempt waiting for its r timer: the r timer queues it */
    free(set_entry(w, ""));
    refused_act(w, r);
    answered(w, duro_test_run_fire_now(w, s, w->act), "fired",
             "the s timer, put back");
    /* the activity closed: its s timer again, with the stream a string */
    passed_act(w, s, "ignored");
}

Test(timer_fire_review, activity_stream_of_another_type_refuses_only_its_use)
{
    duro_test_run_each(&h, "ra", 0, 2, 1, act_wrongtype);
}

/* An `l` timer of a lease still alive comes back at its deadline: the
 * activity stream, of another type, does not refuse it (it writes
 * nothing there); an `l` timer of another attempt neither. (A fairness
 * key takes no lease: priority only.) */
static void lease_act_wrongtype(wf *w)
{
    if (w->f != 0) return;
    duro_test_run_leased(w);
    char l[256], l2[256];
    duro_test_run_timer(w, "l|r1|1|1|", l, sizeof(l));
    snprintf(l2, sizeof(l2), "l|r1|1|2|%s", strchr(l + 7, '|') + 1);
    passed_act(w, l2, "ignored");
    passed_act(w, l, "fired");
    redisReply *d = duro_test_cmd(w->r, "ZSCORE", w->k.timers, l, NULL);
    cr_assert(d->type == REDIS_REPLY_STRING && strtoll(d->str, NULL, 10) > 1,
              "%s: %s not back", w->id, l);
    freeReplyObject(d);
}

Test(timer_fire_review, lease_alive_ignores_an_activity_stream_of_another_type)
{
    duro_test_run_each(&h, "rl", 0, 2, 1, lease_act_wrongtype);
}

/* A `k` timer of a sticky task a worker took moments ago: its entry
 * deleted from the sticky stream (still pending in the group), the timer
 * comes back; the group gone (XPENDING answers NOGROUP: the worker is
 * gone), the task moves to the shared stream. */
static void k_pending_reads(wf *w)
{
    duro_test_run_started(w);
    duro_test_run_ok(duro_test_run_commit(w, NULL, 0, 0, NULL, 0, "s1"),
                     "sticky commit");
    char t[256];
    snprintf(t, sizeof(t), "t|r1|1|0|%s|-|%s", w->id, w->id);
    answered(w, duro_test_run_fire_now(w, t, w->k.act), "fired", "the t timer");
    char sticky[DURO_TEST_RUN_KEY_LEN], entry[64], token[32];
    snprintf(sticky, sizeof(sticky), "%s#s1", w->k.wft);
    duro_test_run_claim(w, sticky, "token", entry, sizeof(entry), token,
                        sizeof(token));
    duro_test_cmd_ok(w->r, "XDEL", sticky, entry, NULL);
    char k[256];
    duro_test_run_timer(w, "k|r1|", k, sizeof(k));
    answered(w, duro_test_run_fire_now(w, k, w->k.act), "fired",
             "the k timer, entry deleted");
    char *s = duro_test_hget(w->r, w->k.wf, "wft_sticky");
    cr_assert(s && !strcmp(s, "s1"), "%s: moved while running", w->id);
    free(s);
    duro_test_cmd_ok(w->r, "XGROUP", "DESTROY", sticky, DURO_GROUP, NULL);
    answered(w, duro_test_run_fire_now(w, k, w->k.act), "fired",
             "the k timer, no group");
    s = duro_test_hget(w->r, w->k.wf, "wft_sticky");
    cr_assert(!s || !*s, "%s: still sticky", w->id);
    free(s);
    /* moved under a new token (an entry id may repeat in another stream) */
    char *tk = duro_test_hget(w->r, w->k.wf, "token");
    cr_assert(tk && strcmp(tk, token) != 0, "%s: the task not moved", w->id);
    free(tk);
}

Test(timer_fire_review, k_timer_reads_the_sticky_pending_list)
{
    duro_test_run_each(&h, "rp", 0, 2, 1, k_pending_reads);
}
