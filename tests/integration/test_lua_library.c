/* test_lua_library.c: the Redis Functions library (common/lua/duro.lua) on
 * its own: each Function called with FCALL against a real redis-server, no
 * worker, scheduler or client, and the keys it leaves checked.
 *
 * The call contract (which keys in which order, which arguments) is
 * written once per Function, in the fcall_* helpers below: a change of a
 * Function's KEYS or ARGV is a change of its helper only. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/history.h"
#include "duro/keys.h"
#include "duro/lua.h"
#include "harness.h"

static duro_test_harness h;
static redisContext *r;

#define PARTS 4
#define MAX_ARGS 48

static void setup(void)
{
    duro_test_redis_start(&h);
    r = duro_test_redis(&h);
    const char *argv[] = {"FUNCTION", "LOAD", "REPLACE", duro_lua_source()};
    size_t lens[] = {8, 4, 7, duro_lua_source_len()};
    redisReply *rep = redisCommandArgv(r, 4, argv, lens);
    cr_assert(rep && rep->type != REDIS_REPLY_ERROR, "FUNCTION LOAD: %s",
              rep ? rep->str : r->errstr);
    freeReplyObject(rep);
}

TestSuite(lua_library, .init = setup, .fini = duro_test_fini, .timeout = 30);

/* ---- Redis helpers ---- */

static redisReply *cmdv(int argc, const char **argv)
{
    redisReply *rep = redisCommandArgv(r, argc, argv, NULL);
    cr_assert(rep, "redis: %s", r->errstr);
    return rep;
}

/* cmd runs a command given as NULL-terminated strings. */
static redisReply *cmd(const char *first, ...)
{
    const char *argv[MAX_ARGS] = {first};
    int n = 1;
    va_list ap;
    va_start(ap, first);
    const char *a;
    while ((a = va_arg(ap, const char *)) && n < MAX_ARGS)
        argv[n++] = a;
    va_end(ap);
    return cmdv(n, argv);
}

/* hget: a hash field, "" when absent. Static buffer: copy to keep. */
static const char *hget(const char *key, const char *field)
{
    static char buf[4096];
    redisReply *rep = cmd("HGET", key, field, NULL);
    snprintf(buf, sizeof(buf), "%s",
             rep->type == REDIS_REPLY_STRING ? rep->str : "");
    freeReplyObject(rep);
    return buf;
}

/* pa_state: header field i (0 attempt, 1 entry, 2 deadline, 3 hb) of
 * activity seq's state record (docs/internals.md), "" when not pending. */
static const char *pa_state(const char *pa, const char *seq, int i)
{
    static char buf[64];
    const char *s = hget(pa, seq);
    for (; i > 0 && *s; i--)
        s += strcspn(s, ",") + (s[strcspn(s, ",")] ? 1 : 0);
    snprintf(buf, sizeof(buf), "%.*s", (int)strcspn(s, ",;"), s);
    return buf;
}

static long long count(const char *command, const char *key)
{
    redisReply *rep = cmd(command, key, NULL);
    cr_assert_eq(rep->type, REDIS_REPLY_INTEGER, "%s %s", command, key);
    long long n = rep->integer;
    freeReplyObject(rep);
    return n;
}

/* event_types: the history's event types joined by spaces. */
static const char *event_types(const char *hist)
{
    static char buf[2048];
    buf[0] = '\0';
    redisReply *rep = cmd("LRANGE", hist, "0", "-1", NULL);
    for (size_t i = 0; i < rep->elements; i++) {
        duro_event e;
        cr_assert_eq(duro_event_decode_reply(rep->element[i], (int64_t)i + 1,
                                             &e, NULL, 0),
                     0);
        if (buf[0]) strcat(buf, " ");
        strcat(buf, duro_event_name(e.type));
        duro_event_free(&e);
    }
    freeReplyObject(rep);
    return buf;
}

/* last_entry_field: `field` of the newest entry of stream, "" if none. */
static const char *last_entry_field(const char *stream, const char *field,
                                    char *id, size_t idsize)
{
    static char buf[512];
    buf[0] = '\0';
    redisReply *rep = cmd("XREVRANGE", stream, "+", "-", "COUNT", "1", NULL);
    if (rep->elements == 1) {
        redisReply *e = rep->element[0];
        if (id) snprintf(id, idsize, "%s", e->element[0]->str);
        redisReply *f = e->element[1];
        for (size_t j = 0; j + 1 < f->elements; j += 2)
            if (!strcmp(f->element[j]->str, field))
                snprintf(buf, sizeof(buf), "%s", f->element[j + 1]->str);
    }
    freeReplyObject(rep);
    return buf;
}

static bool timer_present(const char *timers, const char *member)
{
    redisReply *rep = cmd("ZSCORE", timers, member, NULL);
    bool there = rep->type == REDIS_REPLY_STRING;
    freeReplyObject(rep);
    return there;
}

/* ---- A workflow's keys ---- */

typedef struct {
    char id[64], run[40];
    duro_wf_keys k;
    char wft[DURO_KEY_MAX], act[DURO_KEY_MAX];
} wf;

static void wf_init(wf *w, const char *id, const char *run)
{
    snprintf(w->id, sizeof(w->id), "%s", id);
    snprintf(w->run, sizeof(w->run), "%s", run);
    duro_wf_keys_init(&w->k, DURO_KEYSPACE_DEFAULT(PARTS), id, run);
    duro_key_wft(w->wft, sizeof(w->wft), DURO_KEYSPACE_DEFAULT(0),
                 w->k.partition, "q");
    duro_key_act(w->act, sizeof(w->act), DURO_KEYSPACE_DEFAULT(0),
                 w->k.partition, "q");
}

/* ---- One helper per Function: the call contract ----
 *
 * Raw FCALLs on purpose (the library on its own, not through fcall.c): each
 * key list follows the canonical order of docs/internals.md.
 *
 * Each builds "FCALL <fn> <nkeys> KEYS... ARGV..." and returns the reply
 * (the caller frees it). */

typedef struct {
    const char *argv[MAX_ARGS];
    int argc;
    char nkeys[16];
} fcall;

static void fc_begin(fcall *f, const char *fn)
{
    f->argc = 0;
    f->argv[f->argc++] = "FCALL";
    f->argv[f->argc++] = fn;
    f->argv[f->argc++] = f->nkeys;
}

/* fc_keys appends the keys (NULL-terminated) and sets their count. */
static void fc_keys(fcall *f, ...)
{
    int first = f->argc;
    va_list ap;
    va_start(ap, f);
    const char *a;
    while ((a = va_arg(ap, const char *)) && f->argc < MAX_ARGS)
        f->argv[f->argc++] = a;
    va_end(ap);
    snprintf(f->nkeys, sizeof(f->nkeys), "%d", f->argc - first);
}

static void fc_args(fcall *f, ...)
{
    va_list ap;
    va_start(ap, f);
    const char *a;
    while ((a = va_arg(ap, const char *)) && f->argc < MAX_ARGS)
        f->argv[f->argc++] = a;
    va_end(ap);
}

static redisReply *fc_send(fcall *f)
{
    return cmdv(f->argc, f->argv);
}

static redisReply *fcall_start(wf *w, const char *exec_timeout_ms)
{
    fcall f;
    fc_begin(&f, "duro_start");
    fc_keys(&f, w->k.wf, w->k.hist, w->k.buf, w->wft, w->k.timers, w->k.pa,
            w->k.idx_open, w->k.idx_closed, NULL);
    fc_args(&f, w->id, w->run, "order", "q", "{\"n\":1}", "{\"input\":1}",
            exec_timeout_ms, "10000", NULL);
    return fc_send(&f);
}

static redisReply *fcall_signal(wf *w, const char *data)
{
    fcall f;
    fc_begin(&f, "duro_signal");
    fc_keys(&f, w->k.wf, w->k.hist, w->k.buf, w->wft, NULL);
    fc_args(&f, w->run, data, NULL);
    return fc_send(&f);
}

static redisReply *fcall_cancel(wf *w)
{
    fcall f;
    fc_begin(&f, "duro_cancel");
    fc_keys(&f, w->k.wf, w->k.hist, w->k.buf, w->wft, NULL);
    fc_args(&f, w->run, "{\"why\":\"test\"}", NULL);
    return fc_send(&f);
}

/* fcall_wft_complete: the command list is cmds[0..n) (already encoded as
 * commit.c does); the activity stream is KEYS[9]. */
static redisReply *fcall_wft_complete(wf *w, const char *token,
                                      const char *entry, const char *ncmd,
                                      const char *const *cmds, int n)
{
    fcall f;
    fc_begin(&f, "duro_wft_complete");
    fc_keys(&f, w->k.wf, w->k.hist, w->k.buf, w->wft, w->k.timers, w->k.pa,
            w->k.idx_open, w->k.idx_closed, w->act, NULL);
    fc_args(&f, w->run, token, entry, "{\"now\":1}", ncmd, NULL);
    for (int i = 0; i < n && f.argc < MAX_ARGS; i++)
        f.argv[f.argc++] = cmds[i];
    return fc_send(&f);
}

static redisReply *fcall_wft_fail(wf *w, const char *token, const char *entry,
                                  const char *backoff_ms)
{
    fcall f;
    fc_begin(&f, "duro_wft_fail");
    fc_keys(&f, w->k.wf, w->k.hist, w->k.buf, w->wft, w->k.timers, NULL);
    fc_args(&f, w->run, token, entry, "boom", backoff_ms, NULL);
    return fc_send(&f);
}

static redisReply *fcall_act_heartbeat(wf *w, const char *seq,
                                       const char *attempt)
{
    fcall f;
    fc_begin(&f, "duro_act_heartbeat");
    fc_keys(&f, w->k.wf, w->k.hist, w->k.buf, w->wft, w->k.timers, w->k.pa,
            NULL);
    fc_args(&f, w->run, seq, attempt, "{\"at\":7}", NULL);
    return fc_send(&f);
}

static redisReply *fcall_timer_fire(wf *w, const char *member)
{
    fcall f;
    fc_begin(&f, "duro_timer_fire");
    fc_keys(&f, w->k.wf, w->k.hist, w->k.buf, w->wft, w->k.timers, w->k.pa,
            w->k.idx_open, w->k.idx_closed, w->act, NULL);
    fc_args(&f, member, NULL);
    return fc_send(&f);
}

static redisReply *fcall_terminate(wf *w)
{
    fcall f;
    fc_begin(&f, "duro_terminate");
    fc_keys(&f, w->k.wf, w->k.hist, w->k.buf, w->wft, w->k.timers, w->k.pa,
            w->k.idx_open, w->k.idx_closed, NULL);
    fc_args(&f, "{\"reason\":\"ops\"}", NULL);
    return fc_send(&f);
}

static redisReply *fcall_signal_with_start(wf *w, const char *cur_run)
{
    fcall f;
    fc_begin(&f, "duro_signal_with_start");
    fc_keys(&f, w->k.wf, w->k.hist, w->k.buf, w->wft, w->k.timers, w->k.pa,
            w->k.idx_open, w->k.idx_closed, w->k.hist, NULL);
    fc_args(&f, w->id, w->run, "order", "q", "{}", "{}", "0", "10000",
            "{\"name\":\"poke\"}", cur_run, NULL);
    return fc_send(&f);
}

/* fcall_act_outcome: outcome "completed" or "failed", a failure retried
 * after delay ms (-1: not). */
static redisReply *fcall_act_outcome(wf *w, const char *seq,
                                     const char *attempt, const char *entry,
                                     const char *outcome, const char *data,
                                     const char *delay)
{
    fcall f;
    fc_begin(&f, "duro_act_complete");
    fc_keys(&f, w->k.wf, w->k.hist, w->k.buf, w->wft, w->k.timers, w->k.pa,
            w->k.idx_open, w->k.idx_closed, w->act, NULL);
    fc_args(&f, w->run, seq, attempt, entry, outcome, data, delay,
            "{\"message\":\"x\"}", NULL);
    return fc_send(&f);
}

/* fcall_act_complete: outcome "completed" or "failed"; no retry (-1). */
static redisReply *fcall_act_complete(wf *w, const char *seq,
                                      const char *attempt, const char *entry,
                                      const char *outcome, const char *data)
{
    return fcall_act_outcome(w, seq, attempt, entry, outcome, data, "-1");
}

static redisReply *fcall_act_release(wf *w, const char *seq,
                                     const char *attempt, const char *entry)
{
    fcall f;
    fc_begin(&f, "duro_act_release");
    fc_keys(&f, w->k.wf, w->k.hist, w->k.buf, w->wft, w->k.timers, w->k.pa,
            w->k.idx_open, w->k.idx_closed, w->act, NULL);
    fc_args(&f, w->run, seq, attempt, entry, NULL);
    return fc_send(&f);
}

/* fcall_act_timeout: no retry (-1). */
static redisReply *fcall_act_timeout(wf *w, const char *seq,
                                     const char *attempt, const char *entry,
                                     const char *idle_ms)
{
    fcall f;
    fc_begin(&f, "duro_act_timeout");
    fc_keys(&f, w->k.wf, w->k.hist, w->k.buf, w->wft, w->k.timers, w->k.pa,
            w->k.idx_open, w->k.idx_closed, w->act, NULL);
    fc_args(&f, w->run, seq, attempt, entry, idle_ms, "-1", NULL);
    return fc_send(&f);
}

static redisReply *fcall_wft_timeout(wf *w, const char *token,
                                     const char *entry, const char *idle_ms)
{
    fcall f;
    fc_begin(&f, "duro_wft_timeout");
    fc_keys(&f, w->k.wf, w->k.hist, w->k.buf, w->wft, w->k.timers, NULL);
    fc_args(&f, w->run, token, entry, idle_ms, NULL);
    return fc_send(&f);
}

/* ---- Checks ---- */

static void ok(redisReply *rep, const char *what)
{
    cr_assert_neq(rep->type, REDIS_REPLY_ERROR, "%s: %s", what, rep->str);
    freeReplyObject(rep);
}

static void error_starts(redisReply *rep, const char *prefix)
{
    cr_assert_eq(rep->type, REDIS_REPLY_ERROR, "expected %s", prefix);
    cr_assert(!strncmp(rep->str, prefix, strlen(prefix)), "%s", rep->str);
    freeReplyObject(rep);
}

/* started: a run of `id` with its first task; token and entry of it. */
static void started(wf *w, const char *id, char *entry, size_t esize)
{
    wf_init(w, id, "run-1");
    ok(fcall_start(w, "0"), "duro_start");
    last_entry_field(w->wft, "token", entry, esize);
}

/* ---- The Functions ---- */

Test(lua_library, version_is_the_embedded_one)
{
    redisReply *rep = cmd("FCALL", "duro_version", "0", NULL);
    cr_assert_eq(rep->type, REDIS_REPLY_INTEGER);
    cr_assert_eq(rep->integer, duro_lua_version());
    freeReplyObject(rep);
    duro_test_finish(&h);
}

Test(lua_library, start_writes_the_hash_history_task_and_index)
{
    wf w;
    wf_init(&w, "order-1", "run-1");
    redisReply *rep = fcall_start(&w, "60000");
    cr_assert_eq(rep->type, REDIS_REPLY_STRING, "%s", rep->str);
    cr_assert_str_eq(rep->str, "run-1");
    freeReplyObject(rep);

    cr_assert_str_eq(hget(w.k.wf, "status"), "RUNNING");
    cr_assert_str_eq(hget(w.k.wf, "run"), "run-1");
    cr_assert_str_eq(hget(w.k.wf, "type"), "order");
    cr_assert_str_eq(hget(w.k.wf, "queue"), "q");
    cr_assert_str_eq(hget(w.k.wf, "input"), "{\"n\":1}");
    cr_assert_str_eq(hget(w.k.wf, "token"), "1");
    cr_assert_str_eq(hget(w.k.wf, "wft"), "1");
    cr_assert_str_eq(hget(w.k.wf, "bufn"), "0");
    cr_assert_str_eq(hget(w.k.wf, "exec_timeout"), "60000");
    cr_assert_str_eq(event_types(w.k.hist), "WorkflowStarted");

    char entry[64];
    cr_assert_str_eq(last_entry_field(w.wft, "id", entry, sizeof(entry)),
                     "order-1");
    cr_assert_str_eq(last_entry_field(w.wft, "run", NULL, 0), "run-1");
    cr_assert_str_eq(last_entry_field(w.wft, "token", NULL, 0), "1");
    cr_assert_str_eq(hget(w.k.wf, "wft_entry"), entry);

    char running[DURO_KEY_MAX];
    duro_key_vx(running, sizeof(running), DURO_KEYSPACE_DEFAULT(PARTS),
                w.k.partition, "status:RUNNING");
    redisReply *score = cmd("ZSCORE", running, "run-1", NULL);
    cr_assert_eq(score->type, REDIS_REPLY_STRING, "not in the open index");
    freeReplyObject(score);
    /* the indexes before visibility rows are no longer written */
    cr_assert_eq(count("EXISTS", w.k.idx_open), 0);
    char member[DURO_KEY_MAX];
    duro_timer_member(member, sizeof(member), 'x', "run-1", 0, 0, "q", NULL,
                      "order-1");
    cr_assert(timer_present(w.k.timers, member), "no execution timeout timer");
    duro_test_finish(&h);
}

Test(lua_library, start_refuses_missing_arguments_and_writes_nothing)
{
    wf w;
    wf_init(&w, "order-2", "run-1");
    fcall f;
    fc_begin(&f, "duro_start");
    fc_keys(&f, w.k.wf, w.k.hist, w.wft, w.k.timers, w.k.idx_open,
            w.k.idx_closed, w.k.buf, w.k.pa, NULL);
    fc_args(&f, w.id, w.run, NULL);
    error_starts(fc_send(&f), "DURO_BADARG");
    cr_assert_eq(count("EXISTS", w.k.wf), 0);
    cr_assert_eq(count("EXISTS", w.wft), 0);
    duro_test_finish(&h);
}

Test(lua_library, signal_while_a_task_is_out_goes_to_the_buffer)
{
    wf w;
    char entry[64];
    started(&w, "order-3", entry, sizeof(entry));
    long long tasks = count("XLEN", w.wft);
    redisReply *rep = fcall_signal(&w, "{\"name\":\"poke\"}");
    cr_assert_eq(rep->type, REDIS_REPLY_STRING, "%s", rep->str);
    cr_assert_str_eq(rep->str, "run-1");
    freeReplyObject(rep);
    /* the outstanding task's view stays exact: no new history event, no
     * second task; the signal waits in the buffer */
    cr_assert_str_eq(event_types(w.k.hist), "WorkflowStarted");
    cr_assert_eq(count("XLEN", w.wft), tasks);
    cr_assert_str_eq(hget(w.k.wf, "bufn"), "1");
    cr_assert_gt(count("EXISTS", w.k.buf), 0);
    duro_test_finish(&h);
}

Test(lua_library, signal_to_another_run_is_stale)
{
    wf w;
    char entry[64];
    started(&w, "order-4", entry, sizeof(entry));
    wf other = w;
    snprintf(other.run, sizeof(other.run), "run-0");
    error_starts(fcall_signal(&other, "{}"), "DURO_STALE");
    cr_assert_str_eq(hget(w.k.wf, "bufn"), "0");
    duro_test_finish(&h);
}

Test(lua_library, cancel_sets_the_flag_once)
{
    wf w;
    char entry[64];
    started(&w, "order-5", entry, sizeof(entry));
    redisReply *rep = fcall_cancel(&w);
    cr_assert_str_eq(rep->str, "ok");
    freeReplyObject(rep);
    cr_assert_str_eq(hget(w.k.wf, "cancel_requested"), "1");
    rep = fcall_cancel(&w);
    cr_assert_str_eq(rep->str, "already");
    freeReplyObject(rep);
    duro_test_finish(&h);
}

Test(lua_library, wft_complete_writes_commands_then_the_buffered_signal)
{
    wf w;
    char entry[64];
    started(&w, "order-6", entry, sizeof(entry));
    ok(fcall_signal(&w, "{\"name\":\"poke\"}"), "signal");
    /* activity 1 on stream KEYS[9] and timer 2 of 5 s, as commit.c encodes
     * them */
    const char *cmds[] = {"activity", "1",  "{\"seq\":1}", "9",   "charge",
                          "[5]",      "{}", "1000",        "0",   "0",
                          "timer",    "2",  "{\"seq\":2}", "5000"};
    redisReply *rep = fcall_wft_complete(&w, "1", entry, "2", cmds, 14);
    cr_assert_neq(rep->type, REDIS_REPLY_ERROR, "%s", rep->str);
    freeReplyObject(rep);

    cr_assert_str_eq(event_types(w.k.hist),
                     "WorkflowStarted WorkflowTaskCompleted ActivityScheduled "
                     "TimerStarted SignalReceived");
    cr_assert_str_eq(hget(w.k.wf, "bufn"), "0");
    /* the buffered signal made a new task */
    cr_assert_str_eq(hget(w.k.wf, "token"), "2");
    cr_assert_str_eq(last_entry_field(w.wft, "token", NULL, 0), "2");
    /* the activity task, and its attempt in the pa hash */
    cr_assert_str_eq(last_entry_field(w.act, "seq", NULL, 0), "1");
    cr_assert_str_eq(pa_state(w.k.pa, "1", 0), "1");
    char member[DURO_KEY_MAX];
    duro_timer_member(member, sizeof(member), 't', "run-1", 2, 0, "q", NULL,
                      "order-6");
    cr_assert(timer_present(w.k.timers, member), "no timer member %s", member);
    duro_test_finish(&h);
}

Test(lua_library, wft_complete_with_a_stale_token_writes_nothing)
{
    wf w;
    char entry[64];
    started(&w, "order-7", entry, sizeof(entry));
    const char *cmds[] = {"timer", "1", "{\"seq\":1}", "5000"};
    error_starts(fcall_wft_complete(&w, "9", entry, "1", cmds, 4),
                 "DURO_STALE");
    cr_assert_str_eq(event_types(w.k.hist), "WorkflowStarted");
    cr_assert_eq(count("ZCARD", w.k.timers), 0);
    duro_test_finish(&h);
}

Test(lua_library, heartbeat_records_time_and_details_of_the_current_attempt)
{
    wf w;
    char entry[64];
    started(&w, "order-8", entry, sizeof(entry));
    const char *cmds[] = {"activity", "1",  "{\"seq\":1}", "9", "charge",
                          "[5]",      "{}", "1000",        "0", "0"};
    ok(fcall_wft_complete(&w, "1", entry, "1", cmds, 10), "complete");
    ok(fcall_act_heartbeat(&w, "1", "1"), "heartbeat");
    cr_assert_neq(pa_state(w.k.pa, "1", 3)[0], '\0');
    cr_assert(strstr(hget(w.k.pa, "1"), "{\"at\":7}"), "%s", hget(w.k.pa, "1"));
    error_starts(fcall_act_heartbeat(&w, "1", "2"), "DURO_STALE");
    duro_test_finish(&h);
}

Test(lua_library, wft_fail_schedules_a_retry_timer)
{
    wf w;
    char entry[64];
    started(&w, "order-9", entry, sizeof(entry));
    redisReply *rep = fcall_wft_fail(&w, "1", entry, "60000");
    cr_assert_neq(rep->type, REDIS_REPLY_ERROR, "%s", rep->str);
    freeReplyObject(rep);
    cr_assert_str_eq(hget(w.k.wf, "wft_entry"), "");
    cr_assert_str_eq(hget(w.k.wf, "wft_error"), "boom");
    cr_assert_eq(count("ZCARD", w.k.timers), 1, "one retry timer");
    cr_assert_str_eq(event_types(w.k.hist), "WorkflowStarted");
    duro_test_finish(&h);
}

Test(lua_library, timer_fire_delivers_a_due_timer_once)
{
    wf w;
    char entry[64];
    started(&w, "order-10", entry, sizeof(entry));
    const char *cmds[] = {"timer", "1", "{\"seq\":1}", "0"};
    ok(fcall_wft_complete(&w, "1", entry, "1", cmds, 4), "complete");
    char member[DURO_KEY_MAX];
    duro_timer_member(member, sizeof(member), 't', "run-1", 1, 0, "q", NULL,
                      "order-10");
    cr_assert(timer_present(w.k.timers, member));
    duro_test_sleep_ms(2); /* due at "now" in Redis time, in ms */
    redisReply *rep = fcall_timer_fire(&w, member);
    cr_assert_str_eq(rep->str, "fired");
    freeReplyObject(rep);
    cr_assert(!timer_present(w.k.timers, member));
    cr_assert_str_eq(event_types(w.k.hist),
                     "WorkflowStarted WorkflowTaskCompleted TimerStarted "
                     "TimerFired");
    cr_assert_str_eq(last_entry_field(w.wft, "token", NULL, 0), "2");
    rep = fcall_timer_fire(&w, member);
    cr_assert_str_eq(rep->str, "gone");
    freeReplyObject(rep);
    duro_test_finish(&h);
}

Test(lua_library, timer_fire_leaves_a_timer_that_is_not_due)
{
    wf w;
    char entry[64];
    started(&w, "order-11", entry, sizeof(entry));
    const char *cmds[] = {"timer", "1", "{\"seq\":1}", "600000"};
    ok(fcall_wft_complete(&w, "1", entry, "1", cmds, 4), "complete");
    char member[DURO_KEY_MAX];
    duro_timer_member(member, sizeof(member), 't', "run-1", 1, 0, "q", NULL,
                      "order-11");
    redisReply *rep = fcall_timer_fire(&w, member);
    cr_assert_str_eq(rep->str, "early");
    freeReplyObject(rep);
    cr_assert(timer_present(w.k.timers, member));
    duro_test_finish(&h);
}

Test(lua_library, terminate_closes_the_run_and_moves_it_to_closed)
{
    wf w;
    char entry[64];
    started(&w, "order-12", entry, sizeof(entry));
    redisReply *rep = fcall_terminate(&w);
    cr_assert_str_eq(rep->str, "ok");
    freeReplyObject(rep);
    cr_assert_str_eq(hget(w.k.wf, "status"), "TERMINATED");
    char vx[DURO_KEY_MAX];
    const duro_keyspace *ks = DURO_KEYSPACE_DEFAULT(PARTS);
    cr_assert_eq(count("ZCARD", duro_key_vx(vx, sizeof(vx), ks, w.k.partition,
                                            "status:RUNNING")),
                 0);
    cr_assert_eq(
        count("ZCARD", duro_key_vx(vx, sizeof(vx), ks, w.k.partition, "close")),
        1);
    cr_assert_eq(count("EXISTS", w.k.idx_closed), 0);
    cr_assert(strstr(event_types(w.k.hist), "WorkflowTerminated"), "%s",
              event_types(w.k.hist));
    error_starts(fcall_terminate(&w), "DURO_NOT_RUNNING");
    duro_test_finish(&h);
}

/* with_activity: a started run whose first task scheduled activity 1
 * (start-to-close 1 s); its task entry in act_entry. */
static void with_activity(wf *w, const char *id, char *act_entry, size_t asize)
{
    char entry[64];
    started(w, id, entry, sizeof(entry));
    redisReply *g =
        cmd("XGROUP", "CREATE", w->act, DURO_GROUP, "0", "MKSTREAM", NULL);
    freeReplyObject(g);
    const char *cmds[] = {"activity", "1",  "{\"seq\":1}", "9", "charge",
                          "[5]",      "{}", "1000",        "0", "0"};
    ok(fcall_wft_complete(w, "1", entry, "1", cmds, 10), "complete");
    last_entry_field(w->act, "seq", act_entry, asize);
    cr_assert(act_entry[0], "no activity task");
}

Test(lua_library, act_complete_resolves_the_attempt_and_wakes_the_run)
{
    wf w;
    char act_entry[64];
    with_activity(&w, "order-13", act_entry, sizeof(act_entry));
    redisReply *rep = fcall_act_complete(&w, "1", "1", act_entry, "completed",
                                         "{\"seq\":1,\"result\":5}");
    cr_assert_neq(rep->type, REDIS_REPLY_ERROR, "%s", rep->str);
    cr_assert_str_eq(rep->str, "resolved");
    freeReplyObject(rep);
    cr_assert_str_eq(event_types(w.k.hist),
                     "WorkflowStarted WorkflowTaskCompleted ActivityScheduled "
                     "ActivityCompleted");
    cr_assert_str_eq(pa_state(w.k.pa, "1", 0), "");
    cr_assert_str_eq(hget(w.k.wf, "token"), "2");
    cr_assert_eq(count("XLEN", w.act), 0, "the task was not acknowledged");
    /* the same completion again finds no attempt */
    error_starts(fcall_act_complete(&w, "1", "1", act_entry, "completed", "{}"),
                 "DURO_STALE");
    duro_test_finish(&h);
}

Test(lua_library, act_complete_of_another_attempt_is_stale)
{
    wf w;
    char act_entry[64];
    with_activity(&w, "order-14", act_entry, sizeof(act_entry));
    error_starts(fcall_act_complete(&w, "1", "2", act_entry, "completed", "{}"),
                 "DURO_STALE");
    cr_assert_str_eq(pa_state(w.k.pa, "1", 0), "1");
    cr_assert_str_eq(event_types(w.k.hist),
                     "WorkflowStarted WorkflowTaskCompleted ActivityScheduled");
    duro_test_finish(&h);
}

Test(lua_library, act_release_puts_the_same_attempt_back)
{
    wf w;
    char act_entry[64], again[64];
    with_activity(&w, "order-15", act_entry, sizeof(act_entry));
    redisReply *rep = fcall_act_release(&w, "1", "1", act_entry);
    cr_assert_str_eq(rep->str, "released");
    freeReplyObject(rep);
    cr_assert_str_eq(last_entry_field(w.act, "seq", again, sizeof(again)), "1");
    cr_assert_str_neq(again, act_entry);
    cr_assert_eq(count("XLEN", w.act), 1);
    cr_assert_str_eq(pa_state(w.k.pa, "1", 0), "1");
    rep = fcall_act_release(&w, "1", "1", act_entry);
    cr_assert_str_eq(rep->str, "orphan", "the old entry is no longer it");
    freeReplyObject(rep);
    duro_test_finish(&h);
}

Test(lua_library, act_timeout_tells_alive_from_timed_out)
{
    wf w;
    char act_entry[64];
    with_activity(&w, "order-16", act_entry, sizeof(act_entry));
    redisReply *rep = fcall_act_timeout(&w, "1", "1", act_entry, "10");
    cr_assert_str_eq(rep->str, "alive");
    freeReplyObject(rep);
    rep = fcall_act_timeout(&w, "1", "1", act_entry, "5000");
    cr_assert_str_eq(rep->str, "timedout");
    freeReplyObject(rep);
    cr_assert_str_eq(event_types(w.k.hist),
                     "WorkflowStarted WorkflowTaskCompleted ActivityScheduled "
                     "ActivityTimedOut");
    rep = fcall_act_timeout(&w, "1", "1", act_entry, "5000");
    cr_assert_str_eq(rep->str, "orphan");
    freeReplyObject(rep);
    duro_test_finish(&h);
}

Test(lua_library, wft_timeout_reissues_the_task_with_a_new_token)
{
    wf w;
    char entry[64], again[64];
    started(&w, "order-17", entry, sizeof(entry));
    redisReply *rep = fcall_wft_timeout(&w, "1", entry, "10");
    cr_assert_str_eq(rep->str, "alive");
    freeReplyObject(rep);
    rep = fcall_wft_timeout(&w, "1", entry, "20000");
    cr_assert_str_eq(rep->str, "timedout");
    freeReplyObject(rep);
    cr_assert_str_eq(hget(w.k.wf, "token"), "2");
    cr_assert_str_eq(hget(w.k.wf, "wft_timeouts"), "1:2");
    cr_assert_str_eq(last_entry_field(w.wft, "token", again, sizeof(again)),
                     "2");
    cr_assert_str_eq(hget(w.k.wf, "wft_entry"), again);
    rep = fcall_wft_timeout(&w, "1", entry, "20000");
    cr_assert_str_eq(rep->str, "orphan");
    freeReplyObject(rep);
    duro_test_finish(&h);
}

Test(lua_library, signal_with_start_starts_then_signals)
{
    wf w;
    wf_init(&w, "order-18", "run-1");
    redisReply *rep = fcall_signal_with_start(&w, "");
    cr_assert_eq(rep->type, REDIS_REPLY_ARRAY, "%s", rep->str);
    cr_assert_str_eq(rep->element[0]->str, "run-1");
    cr_assert_str_eq(rep->element[1]->str, "started");
    freeReplyObject(rep);
    cr_assert_str_eq(event_types(w.k.hist), "WorkflowStarted SignalReceived");
    rep = fcall_signal_with_start(&w, "run-1");
    cr_assert_eq(rep->type, REDIS_REPLY_ARRAY, "%s", rep->str);
    cr_assert_str_eq(rep->element[1]->str, "signaled");
    freeReplyObject(rep);
    cr_assert_str_eq(hget(w.k.wf, "bufn"), "1", "the task is still out");
    error_starts(fcall_signal_with_start(&w, "run-0"), "DURO_STALE");
    duro_test_finish(&h);
}

/* old_layout rewrites activity 1 of w as library 27 and older stored it:
 * one hash field per part ("<seq>.<name>"), as a run in flight across the
 * upgrade holds it. */
static void old_layout(wf *w, const char *act_entry)
{
    const char *q = strstr(w->act, ":act:") + 5;
    freeReplyObject(cmd("DEL", w->k.pa, NULL));
    freeReplyObject(cmd("HSET", w->k.pa, "1.name", "charge", "1.queue", q,
                        "1.input", "[5]", "1.opts", "{}", "1.attempt", "1",
                        "1.entry", act_entry, "1.stc", "1000", "1.hbt", "0",
                        "1.sched", "1", "1.deadline", "0", NULL));
}

Test(lua_library, an_activity_pending_in_the_old_layout_completes)
{
    wf w;
    char act_entry[64];
    with_activity(&w, "order-30", act_entry, sizeof(act_entry));
    old_layout(&w, act_entry);
    redisReply *rep = fcall_act_complete(&w, "1", "1", act_entry, "completed",
                                         "{\"seq\":1,\"result\":5}");
    cr_assert_neq(rep->type, REDIS_REPLY_ERROR, "%s", rep->str);
    cr_assert_str_eq(rep->str, "resolved");
    freeReplyObject(rep);
    cr_assert_str_eq(event_types(w.k.hist),
                     "WorkflowStarted WorkflowTaskCompleted ActivityScheduled "
                     "ActivityCompleted");
    cr_assert_eq(count("EXISTS", w.k.pa), 0, "fields left behind");
    duro_test_finish(&h);
}

Test(lua_library, an_old_layout_activity_heartbeats_retries_then_completes)
{
    wf w;
    char act_entry[64], again[64];
    with_activity(&w, "order-31", act_entry, sizeof(act_entry));
    old_layout(&w, act_entry);
    ok(fcall_act_heartbeat(&w, "1", "1"), "heartbeat");
    /* rewritten once into the two records, the old fields gone */
    cr_assert_str_eq(hget(w.k.pa, "1.attempt"), "");
    cr_assert_eq(count("HLEN", w.k.pa), 2);
    cr_assert_str_eq(hget(w.k.pa, "1.s"), "1000,0,1,6,2;charge{}[5]");
    cr_assert_neq(pa_state(w.k.pa, "1", 3)[0], '\0');
    /* a retry at once queues attempt 2 with the old name and input */
    redisReply *rep =
        fcall_act_outcome(&w, "1", "1", act_entry, "failed", "{}", "0");
    cr_assert_neq(rep->type, REDIS_REPLY_ERROR, "%s", rep->str);
    cr_assert_str_eq(rep->str, "retrying");
    freeReplyObject(rep);
    cr_assert_str_eq(last_entry_field(w.act, "attempt", NULL, 0), "2");
    cr_assert_str_eq(last_entry_field(w.act, "name", NULL, 0), "charge");
    cr_assert_str_eq(last_entry_field(w.act, "input", NULL, 0), "[5]");
    cr_assert_str_eq(last_entry_field(w.act, "details", NULL, 0), "{\"at\":7}");
    last_entry_field(w.act, "seq", again, sizeof(again));
    cr_assert_str_eq(pa_state(w.k.pa, "1", 0), "2");
    cr_assert_str_eq(pa_state(w.k.pa, "1", 1), again);
    rep = fcall_act_complete(&w, "1", "2", again, "completed",
                             "{\"seq\":1,\"result\":5}");
    cr_assert_str_eq(rep->str, "resolved", "%s", rep->str);
    freeReplyObject(rep);
    cr_assert_eq(count("EXISTS", w.k.pa), 0, "fields left behind");
    duro_test_finish(&h);
}

/* describe (client_describe.c) reads a pending activity in either layout:
 * the records since library 28, and the fields of a run in flight. */
Test(lua_library, describe_shows_a_pending_activity_in_either_layout)
{
    wf w;
    char act_entry[64];
    with_activity(&w, "order-32", act_entry, sizeof(act_entry));
    freeReplyObject(cmd("HSET", DURO_META_KEY, "partitions", "4", NULL));
    setenv("DURO_PARTITIONS", "4", 1); /* PARTS, as the keys above */
    duro_client *c = duro_test_client(&h);
    unsetenv("DURO_PARTITIONS");
    for (int old = 0; old < 2; old++) {
        if (old) old_layout(&w, act_entry);
        cJSON *d = NULL;
        cr_assert_eq(duro_client_describe(c, w.id, &d), 0, "%s",
                     duro_client_errstr(c));
        cJSON *pa = cJSON_GetObjectItem(d, "pendingActivities");
        cr_assert_eq(cJSON_GetArraySize(pa), 1, "old=%d", old);
        cJSON *a = cJSON_GetArrayItem(pa, 0);
        cr_assert_eq(cJSON_GetObjectItem(a, "seq")->valuedouble, 1);
        cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(a, "name")),
                         "charge", "old=%d", old);
        cr_assert_eq(cJSON_GetObjectItem(a, "attempt")->valuedouble, 1);
        cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(a, "state")),
                         "scheduled");
        cJSON_Delete(d);
    }
    duro_client_free(c);
    duro_test_finish(&h);
}
