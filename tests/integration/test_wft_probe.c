/* test_wft_probe.c: the keys a run's workflow task writes past its queue's
 * stream, probed before a call's first write (library 47, TASK.wft_check
 * and TASK.written in common/lua/duro.lua). A run started with priority 2
 * writes its tasks to the level's stream `<wft>!2`; one with fairness key
 * k to `<wft>~k`, with the ready zset `<wft>~`, the meta hash `<wft>~~`,
 * the partition's set of fair streams and a bell in `<wft>`. Each Function
 * that may queue the run's task is called with one of those keys made a
 * string by hand: it must answer DURO_WRONGTYPE naming the key and write
 * nothing (the partition's dump unchanged); the key put back, the same
 * call succeeds. DURO_TEST_LUA loads another duro.lua (harness_lua.h). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/fcall.h"
#include "harness_run.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(wft_probe, .init = setup, .fini = duro_test_fini, .timeout = 120);

/* ---- A run by hand (harness_run.h) ---- */

enum { KEY_LEN = DURO_TEST_RUN_KEY_LEN, KEYS_MAX = 5 };

/* wf: run "r1" of workflow id on queue id, started with priority prio (0:
 * none) or fairness key fkey (NULL: none) */
typedef duro_test_wf wf;

/* written: what w's task writes past k.wft (on call_continue's queue when
 * next), and k.wft with a fairness key (the bell); their count */
static int written(const wf *w, bool next, char keys[KEYS_MAX][KEY_LEN])
{
    char kq[48], wft[DURO_KEY_MAX];
    snprintf(kq, sizeof(kq), "%s%s", w->id, next ? "n" : "");
    duro_key_wft(wft, sizeof(wft), DURO_KEYSPACE_DEFAULT(w->parts), w->p, kq);
    if (!w->fkey) {
        snprintf(keys[0], KEY_LEN, "%s!%d", wft, w->prio);
        return 1;
    }
    snprintf(keys[0], KEY_LEN, "%s~%s", wft, w->fkey);
    snprintf(keys[1], KEY_LEN, "%s~", wft);
    snprintf(keys[2], KEY_LEN, "%s~~", wft);
    snprintf(keys[3], KEY_LEN, "duro:{p%d}:fair:%s", w->p, kq);
    snprintf(keys[4], KEY_LEN, "%s", wft); /* the bell's */
    return 5;
}

/* commit: duro_wft_complete of w's claimed task with ncmd commands (n
 * words), their activity streams acts[0..nacts), by sticky worker sticky
 * (NULL: none) */
static redisReply *commit(wf *w, const char *const *cmd, int n, int ncmd,
                          const char *const *acts, int nacts,
                          const char *sticky)
{
    return duro_test_run_commit(w, cmd, n, ncmd, acts, nacts, sticky);
}

static redisReply *call_signal(wf *w)
{
    duro_argv a;
    duro_fcall_signal(&a, &w->k, "r1", "{\"name\":\"s\"}");
    return duro_test_argv_call(w->r, &a);
}

/* ---- The states a call finds ---- */

static redisReply *call_timer_fire(wf *w);

/* buffered: started, a signal buffered while its task is outstanding */
static void buffered(wf *w)
{
    duro_test_run_started(w);
    duro_test_run_ok(call_signal(w), "signal");
}

/* timed: idle but for a timer started, due now */
static void timed(wf *w)
{
    duro_test_run_started(w);
    const char *cmd[] = {"timer", "1", "{\"seq\":1}", "0"};
    duro_test_run_ok(commit(w, cmd, 4, 1, NULL, 0, NULL), "commit timer");
}

/* acting: idle but for activity 1 scheduled (start-to-close 10 min), its
 * first attempt claimed */
static void acting(wf *w)
{
    duro_test_run_acting(w, "{}");
}

/* sticky: the task worker w1 committed (keeping the run) is outstanding
 * in its sticky stream, queued by the timer it started */
static void sticky(wf *w)
{
    duro_test_run_started(w);
    const char *cmd[] = {"timer", "1", "{\"seq\":1}", "0"};
    duro_test_run_ok(commit(w, cmd, 4, 1, NULL, 0, "w1"), "commit timer as w1");
    duro_test_run_ok(call_timer_fire(w), "timer fire");
}

/* ---- The calls ---- */

static redisReply *call_cancel(wf *w)
{
    duro_argv a;
    duro_fcall_cancel(&a, &w->k, "r1", "{}");
    return duro_test_argv_call(w->r, &a);
}

static redisReply *call_update(wf *w)
{
    char reply[KEY_LEN];
    snprintf(reply, sizeof(reply), "duro:{p%d}:qreply:u1", w->p);
    duro_argv a;
    duro_fcall_update(&a, &w->k, "r1", "u1", "{}", reply);
    return duro_test_argv_call(w->r, &a);
}

/* call_sws_signal: duro_signal_with_start, r1 running: signaled */
static redisReply *call_sws_signal(wf *w)
{
    duro_wf_keys k = duro_test_run_keys(w, "r2", w->id);
    duro_fcall_start_args s = duro_test_run_start_args(w, "r2");
    duro_argv a;
    duro_fcall_signal_with_start(&a, &k, &s, "{}", w->k.hist, "r1");
    return duro_test_argv_call(w->r, &a);
}

/* call_sws_start: duro_signal_with_start of a new id: started */
static redisReply *call_sws_start(wf *w)
{
    duro_fcall_start_args s = duro_test_run_start_args(w, "r1");
    duro_argv a;
    duro_fcall_signal_with_start(&a, &w->k, &s, "{}", w->k.hist, NULL);
    return duro_test_argv_call(w->r, &a);
}

/* call_commit: the claimed task committed with no command: the buffered
 * signal makes a new task */
static redisReply *call_commit(wf *w)
{
    return commit(w, NULL, 0, 0, NULL, 0, NULL);
}

/* call_continue: the claimed task continues as new on queue `<id>n`: the
 * new run keeps the priority and fairness key */
static redisReply *call_continue(wf *w)
{
    char queue[48];
    snprintf(queue, sizeof(queue), "%sn", w->id);
    duro_wf_keys k = duro_test_run_keys(w, "r2", queue);
    const char *acts[] = {k.hist, k.wft};
    const char *cmd[] = {
        "continue_as_new", "{}", "r2", "9", "10", "t", queue, "null", "0", "0"};
    return commit(w, cmd, 10, 1, acts, 2, NULL);
}

static redisReply *call_wft_fail(wf *w)
{
    duro_fcall_task t = {.run = "r1", .token = w->token, .entry = w->entry};
    duro_wf_keys k = duro_test_run_task_keys(w);
    duro_argv a;
    duro_fcall_wft_fail(&a, &k, &t, "boom", 0);
    return duro_test_argv_call(w->r, &a);
}

static redisReply *call_timer_fire(wf *w)
{
    const char *prefix = "t|r1|1|";
    redisReply *m = duro_test_cmd(w->r, "ZRANGE", w->k.timers, "0", "-1", NULL);
    const char *member = NULL;
    for (size_t i = 0; i < m->elements; i++)
        if (!strncmp(m->element[i]->str, prefix, strlen(prefix)))
            member = m->element[i]->str;
    cr_assert(member, "no timer %s...", prefix);
    duro_argv a;
    duro_fcall_timer_fire(&a, &w->k, member, strlen(member));
    redisReply *rep =
        duro_test_argv_call(w->r, &a); /* (a borrows the member) */
    freeReplyObject(m);
    return rep;
}

static redisReply *call_act_complete(wf *w)
{
    duro_wf_keys k;
    duro_fcall_attempt at = duro_test_run_attempt(w, &k);
    duro_fcall_act_result r = {.data = "{}", .retry_delay_ms = -1};
    duro_argv a;
    duro_fcall_act_complete(&a, &k, &at, &r, 0, NULL);
    return duro_test_argv_call(w->r, &a);
}

static redisReply *call_act_timeout(wf *w)
{
    duro_wf_keys k;
    duro_fcall_attempt at = duro_test_run_attempt(w, &k);
    duro_argv a;
    duro_fcall_act_timeout(&a, &k, &at, 700000, -1);
    return duro_test_argv_call(w->r, &a);
}

static redisReply *call_sticky_release(wf *w)
{
    duro_argv a;
    duro_fcall_sticky_release(&a, &w->k, "r1", "w1");
    return duro_test_argv_call(w->r, &a);
}

/* call_reset: run r1 (idle) reset to its first task's completion (event
 * 2) as run r2, which keeps the priority and fairness key */
static redisReply *call_reset(wf *w)
{
    duro_wf_keys k = duro_test_run_keys(w, "r2", w->id);
    duro_argv pend;
    duro_argv_init(&pend);
    duro_fcall_reset_args r = {.id = w->id,
                               .run = "r2",
                               .src_run = "r1",
                               .cur_run = "r1",
                               .hist_cur = w->k.hist,
                               .hist_src = w->k.hist,
                               .event_id = 2,
                               .reason = "probe",
                               .type = "t",
                               .queue = w->id,
                               .input = "null",
                               .pending = &pend};
    duro_argv a;
    duro_fcall_reset(&a, &k, &r);
    redisReply *rep = duro_test_argv_call(w->r, &a);
    duro_argv_free(&pend);
    return rep;
}

/* call_xfer_signal: a signal from another partition's workflow */
static redisReply *call_xfer_signal(wf *w)
{
    char body[256];
    snprintf(body, sizeof(body),
             "{\"op\":\"deliver\",\"id\":\"%s\",\"run\":\"r1\","
             "\"event\":\"SignalReceived\",\"data\":\"{}\"}",
             w->id);
    return duro_test_run_xfer(w, 4, body);
}

/* call_xfer_start: w started as the child of another partition's
 * workflow, which passes on its priority or fairness key */
static redisReply *call_xfer_start(wf *w)
{
    char flow[32], body[512];
    if (w->fkey)
        snprintf(flow, sizeof(flow), "\"fkey\":\"%s\"", w->fkey);
    else
        snprintf(flow, sizeof(flow), "\"priority\":\"%d\"", w->prio);
    snprintf(body, sizeof(body),
             "{\"op\":\"start\",\"id\":\"%s\",\"run\":\"r1\","
             "\"type\":\"t\",\"queue\":\"%s\",\"input\":\"null\","
             "\"started\":\"{}\",\"exec_timeout\":\"0\","
             "\"wft_timeout\":\"10000\",\"parent\":\"pa\","
             "\"parent_run\":\"pr\",\"seq\":\"1\",%s}",
             w->id, w->id, flow);
    return duro_test_run_xfer(w, 2, body);
}

/* ---- The check ---- */

/* refused: key made a string, call answers DURO_WRONGTYPE naming it and
 * leaves w's partition as it was; the key put back, call succeeds */
static void refused(wf *w, const char *key, redisReply *(*call)(wf *))
{
    char *before = duro_test_probe_in(w->r, w->p, key);
    duro_test_probe_refused(w->r, w->p, key, before, call(w), w->id);
    duro_test_run_ok(call(w), key);
}

/* probed_on: for a run with priority 2 and one with fairness key k, each
 * key its next task writes (on the next queue: next) made a string in turn
 * (a fresh run `name`-f-i for each), brought to state by prep (NULL: not
 * started), then call */
static void probed_on(const char *name, void (*prep)(wf *),
                      redisReply *(*call)(wf *), bool next)
{
    for (int f = 0; f < 2; f++) {
        for (int i = 0; i < KEYS_MAX; i++) {
            char id[32];
            snprintf(id, sizeof(id), "%s-%d-%d", name, f, i);
            wf w;
            duro_test_run_init(&h, &w, id, f ? 0 : 2, f ? "k" : NULL, false);
            char keys[KEYS_MAX][KEY_LEN];
            if (i >= written(&w, next, keys)) {
                redisFree(w.r);
                break;
            }
            if (prep) prep(&w);
            refused(&w, keys[i], call);
            redisFree(w.r);
        }
    }
    duro_test_finish(&h);
}

Test(wft_probe, start)
{
    probed_on("st", NULL, duro_test_run_start, false);
}

Test(wft_probe, signal_with_start_starting)
{
    probed_on("sws", NULL, call_sws_start, false);
}

Test(wft_probe, signal)
{
    probed_on("sg", duro_test_run_idle, call_signal, false);
}

Test(wft_probe, signal_with_start_signaling)
{
    probed_on("swg", duro_test_run_idle, call_sws_signal, false);
}

Test(wft_probe, cancel)
{
    probed_on("cn", duro_test_run_idle, call_cancel, false);
}

Test(wft_probe, update)
{
    probed_on("up", duro_test_run_idle, call_update, false);
}

Test(wft_probe, commit_after_buffered_events)
{
    probed_on("cb", buffered, call_commit, false);
}

Test(wft_probe, continue_as_new)
{
    probed_on("ca", duro_test_run_started, call_continue, true);
}

Test(wft_probe, wft_timeout)
{
    probed_on("wt", duro_test_run_started, duro_test_run_wft_timeout, false);
}

Test(wft_probe, wft_fail_at_once)
{
    probed_on("wf", duro_test_run_started, call_wft_fail, false);
}

Test(wft_probe, timer_fire)
{
    probed_on("tf", timed, call_timer_fire, false);
}

Test(wft_probe, act_complete)
{
    probed_on("ac", acting, call_act_complete, false);
}

Test(wft_probe, act_timeout)
{
    probed_on("at", acting, call_act_timeout, false);
}

Test(wft_probe, sticky_release)
{
    probed_on("sr", sticky, call_sticky_release, false);
}

Test(wft_probe, reset)
{
    probed_on("rs", duro_test_run_idle, call_reset, false);
}

Test(wft_probe, xfer_apply_delivering)
{
    probed_on("xd", duro_test_run_idle, call_xfer_signal, false);
}

Test(wft_probe, xfer_apply_starting)
{
    probed_on("xs", NULL, call_xfer_start, false);
}

/* A sticky worker's stream made a string: the task goes to the shared
 * (level or key's) stream instead, by design, and the call succeeds. */
Test(wft_probe, sticky_stream_falls_back)
{
    for (int f = 0; f < 2; f++) {
        wf w;
        duro_test_run_init(&h, &w, f ? "sf-1" : "sf-0", f ? 0 : 2,
                           f ? "k" : NULL, false);
        duro_test_run_started(&w);
        const char *cmd[] = {"timer", "1", "{\"seq\":1}", "0"};
        duro_test_run_ok(commit(&w, cmd, 4, 1, NULL, 0, "w1"),
                         "commit timer as w1");
        char s[KEY_LEN];
        snprintf(s, sizeof(s), "%s#w1", w.k.wft);
        duro_test_key_swap_in(w.r, s);
        duro_test_run_ok(call_timer_fire(&w), "timer fire");
        redisReply *e = duro_test_cmd(w.r, "HGET", w.k.wf, "wft_entry", NULL);
        cr_assert(e->type == REDIS_REPLY_STRING && e->len, "no task");
        redisReply *x =
            duro_test_cmd(w.r, "XRANGE", w.task, e->str, e->str, NULL);
        cr_assert_eq(x->elements, 1, "task %s not in %s", e->str, w.task);
        freeReplyObject(e);
        freeReplyObject(x);
        duro_test_key_swap_out(w.r, s);
        redisFree(w.r);
    }
    duro_test_finish(&h);
}
