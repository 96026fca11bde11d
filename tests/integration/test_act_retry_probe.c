/* test_act_retry_probe.c: an activity attempt with a fairness key queued
 * again into its key's stream `<act>~k` (a retry at once, a hand-back, an
 * 'r' timer) also writes the ready zset `<act>~`, the meta hash
 * `<act>~~`, the partition's set of fair streams and a bell in `<act>`,
 * none of them in the call's KEYS. Each made a string by hand, the call
 * must answer DURO_WRONGTYPE naming it and write nothing (the partition's
 * dump unchanged); the key put back, the same call succeeds (library 47,
 * TASK.act_written in common/lua/duro.lua). So must a reset that
 * re-creates a pending activity with its own priority (the level's
 * stream) or fairness key (the key's stream and fair keys) (TASK.written).
 * DURO_TEST_LUA loads another duro.lua (harness_lua.h). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/fcall.h"
#include "harness_lua.h"
#include "harness_run.h"
#include "harness_task.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(act_retry_probe, .init = setup, .fini = duro_test_fini,
          .timeout = 120);

enum { KEY_LEN = DURO_KEY_MAX + 16, NKEYS = 4 };

/* attempt: activity 1 of t's run, fairness key k, start-to-close 10 min,
 * its first attempt claimed from `<act>~k` (entry, number) */
typedef struct {
    duro_test_task t;
    duro_wf_keys k; /* t's, act: `<act>~k` */
    char entry[64], number[16];
    char keys[NKEYS][KEY_LEN]; /* what a retry writes past k.act */
} attempt;

static void attempt_init(attempt *a, const char *id)
{
    memset(a, 0, sizeof(*a));
    duro_test_task_init(&h, &a->t, id);
    duro_test_lua_load(a->t.r, false);
    const char *f[] = {"activity",
                       "1",
                       "{\"seq\":1}",
                       "9",
                       "echo",
                       "null",
                       "{\"fairnessKey\":\"k\"}",
                       "600000",
                       "0",
                       "0"};
    redisReply *rep =
        duro_test_task_commit_cmds(&a->t, f, 10, 1, DURO_TEST_EAGER_NONE);
    cr_assert(rep->type != REDIS_REPLY_ERROR, "commit: %s", rep->str);
    freeReplyObject(rep);
    const char *act = a->t.k.act;
    a->k = a->t.k;
    snprintf(a->k.act, sizeof(a->k.act), "%.*s", (int)sizeof(a->k.act) - 3,
             act);
    strcat(a->k.act, "~k");
    freeReplyObject(
        redisCommand(a->t.r, "XGROUP CREATE %s %s 0", a->k.act, DURO_GROUP));
    duro_test_claim_task(a->t.r, a->k.act, "w", "attempt", a->entry,
                         sizeof(a->entry), a->number, sizeof(a->number));
    snprintf(a->keys[0], KEY_LEN, "%s~", act);
    snprintf(a->keys[1], KEY_LEN, "%s~~", act);
    snprintf(a->keys[2], KEY_LEN, "duro:{p%d}:fair:%s", a->t.p, a->t.id);
    snprintf(a->keys[3], KEY_LEN, "%s", act); /* the bell's */
}

static redisReply *fcall(attempt *a, duro_argv *v)
{
    return duro_test_argv_call(a->t.r, v);
}

static duro_fcall_attempt attempt_of(const attempt *a)
{
    duro_fcall_attempt at = {.run = a->t.run,
                             .seq = "1",
                             .attempt = strtoll(a->number, NULL, 10),
                             .entry = a->entry};
    return at;
}

/* failed: the attempt failed, retried after delay_ms (0: at once) */
static redisReply *failed(attempt *a, long long delay_ms)
{
    duro_fcall_attempt at = attempt_of(a);
    duro_fcall_act_result r = {.failed = true,
                               .data = "{}",
                               .retry_delay_ms = delay_ms,
                               .failure = "{\"message\":\"x\"}"};
    duro_argv v;
    duro_fcall_act_complete(&v, &a->k, &at, &r, 0, NULL);
    return fcall(a, &v);
}

static redisReply *call_failed(attempt *a)
{
    return failed(a, 0);
}

static redisReply *call_timeout(attempt *a)
{
    duro_fcall_attempt at = attempt_of(a);
    duro_argv v;
    duro_fcall_act_timeout(&v, &a->k, &at, 700000, 0);
    return fcall(a, &v);
}

static redisReply *call_release(attempt *a)
{
    duro_fcall_attempt at = attempt_of(a);
    duro_argv v;
    duro_fcall_act_release(&v, &a->k, &at);
    return fcall(a, &v);
}

/* retry_timed: the attempt failed, its retry's 'r' timer made due now */
static void retry_timed(attempt *a)
{
    redisReply *rep = failed(a, 600000);
    cr_assert(rep->type != REDIS_REPLY_ERROR, "fail: %s", rep->str);
    freeReplyObject(rep);
    redisReply *m =
        duro_test_cmd(a->t.r, "ZRANGE", a->t.k.timers, "0", "-1", NULL);
    for (size_t i = 0; i < m->elements; i++)
        if (m->element[i]->str[0] == 'r')
            duro_test_cmd_ok(a->t.r, "ZADD", a->t.k.timers, "XX", "0",
                             m->element[i]->str, NULL);
    freeReplyObject(m);
}

static redisReply *call_timer(attempt *a)
{
    redisReply *m =
        duro_test_cmd(a->t.r, "ZRANGEBYSCORE", a->t.k.timers, "0", "0", NULL);
    cr_assert(m->elements == 1, "no r timer due");
    duro_argv v;
    duro_fcall_timer_fire(&v, &a->k, m->element[0]->str,
                          strlen(m->element[0]->str));
    redisReply *rep = fcall(a, &v); /* (v borrows the member) */
    freeReplyObject(m);
    return rep;
}

/* probed: each key a retry writes made a string in turn (a fresh attempt
 * `name`-i, brought to state by prep, NULL: claimed), then call: refused
 * whole, naming it; put back, call succeeds */
static void probed(const char *name, void (*prep)(attempt *),
                   redisReply *(*call)(attempt *))
{
    for (int i = 0; i < NKEYS; i++) {
        char id[32];
        snprintf(id, sizeof(id), "%s-%d", name, i);
        attempt a;
        attempt_init(&a, id);
        if (prep) prep(&a);
        const char *key = a.keys[i];
        char *before = duro_test_probe_in(a.t.r, a.t.p, key);
        duro_test_probe_refused(a.t.r, a.t.p, key, before, call(&a), a.t.id);
        redisReply *rep = call(&a);
        cr_assert(rep->type != REDIS_REPLY_ERROR, "%s put back: %s", key,
                  rep->str);
        freeReplyObject(rep);
        duro_test_task_free(&a.t);
    }
    duro_test_finish(&h);
}

Test(act_retry_probe, failed_retried_at_once)
{
    probed("rf", NULL, call_failed);
}

Test(act_retry_probe, timed_out_retried_at_once)
{
    probed("rt", NULL, call_timeout);
}

Test(act_retry_probe, handed_back)
{
    probed("rh", NULL, call_release);
}

Test(act_retry_probe, retry_timer_fired)
{
    probed("rr", retry_timed, call_timer);
}

/* ---- A reset re-creating a pending activity ---- */

/* reset: t's run (its first task committed) reset to event 2 as run "r2",
 * re-creating activity 1 with options opts on the run's activity queue */
static redisReply *reset(duro_test_task *t, const char *opts)
{
    duro_wf_keys k = t->k;
    duro_wf_keys_init(&k, DURO_KEYSPACE_DEFAULT(duro_client_partitions(t->c)),
                      t->id, "r2");
    duro_wf_keys_queues(&k, t->id, t->id);
    duro_argv pend, v;
    duro_argv_init(&pend);
    const char *f[] = {"activity", "1",    "11", "echo", "null",
                       opts,       "6000", "0",  "0"};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        duro_argv_push(&pend, f[i]);
    const char *acts[] = {t->k.act};
    duro_fcall_reset_args r = {.id = t->id,
                               .run = "r2",
                               .src_run = t->run,
                               .cur_run = t->run,
                               .hist_cur = t->k.hist,
                               .hist_src = t->k.hist,
                               .event_id = 2,
                               .reason = "probe",
                               .type = "t",
                               .queue = t->id,
                               .input = "null",
                               .npend = 1,
                               .pending = &pend,
                               .nacts = 1,
                               .acts = acts};
    duro_fcall_reset(&v, &k, &r);
    redisReply *rep = duro_test_argv_call(t->r, &v);
    duro_argv_free(&pend);
    return rep;
}

/* Each key the re-created activity writes (suffix of the activity stream;
 * the fair set spelled out) made a string: the reset is refused whole. */
Test(act_retry_probe, reset_recreating_an_activity)
{
    const struct {
        const char *opts, *suffix;
    } cases[] = {{"{\"priority\":1}", "!1"},
                 {"{\"fairnessKey\":\"k\"}", "~k"},
                 {"{\"fairnessKey\":\"k\"}", "~"},
                 {"{\"fairnessKey\":\"k\"}", "~~"},
                 {"{\"fairnessKey\":\"k\"}", NULL}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char id[32], key[KEY_LEN];
        snprintf(id, sizeof(id), "rs-%zu", i);
        duro_test_task t;
        duro_test_task_init(&h, &t, id);
        duro_test_lua_load(t.r, false);
        redisReply *rep =
            duro_test_task_commit_cmds(&t, NULL, 0, 0, DURO_TEST_EAGER_NONE);
        cr_assert(rep->type != REDIS_REPLY_ERROR, "commit: %s", rep->str);
        freeReplyObject(rep);
        if (cases[i].suffix)
            snprintf(key, sizeof(key), "%s%s", t.k.act, cases[i].suffix);
        else
            snprintf(key, sizeof(key), "duro:{p%d}:fair:%s", t.p, t.id);
        char *before = duro_test_probe_in(t.r, t.p, key);
        duro_test_probe_refused(t.r, t.p, key, before, reset(&t, cases[i].opts),
                                "reset");
        rep = reset(&t, cases[i].opts);
        cr_assert(rep->type != REDIS_REPLY_ERROR, "%s put back: %s", key,
                  rep->str);
        freeReplyObject(rep);
        duro_test_task_free(&t);
    }
    duro_test_finish(&h);
}
