/* test_functions_atomic.c: a Function that cannot finish writes nothing.
 *
 * Redis does not roll back a Function that fails halfway, so every Function
 * checks what can fail (the type of each key) before its first write. Here
 * each key a Function touches is replaced by a string, the Function is
 * called with the arguments a real run gives it, and every key of the
 * partition must read the same before and after (DUMP), the timer included.
 * The same call on the untouched keys then succeeds, so the refusals come
 * from the tampering and not from bad arguments.
 *
 * No worker runs: the test claims tasks itself (XREADGROUP), as
 * test_fencing.c does. */
#include <criterion/criterion.h>
#include <stdarg.h>
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

TestSuite(functions_atomic, .init = setup, .fini = duro_test_fini,
          .timeout = 60);

/* ---- Redis helpers ---- */

/* snapshot: "key\ttype\thex(DUMP)\n" for every key of partition p, sorted
 * by key. Caller frees. */
static int by_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *snapshot(redisContext *r, int p)
{
    char pattern[64];
    snprintf(pattern, sizeof(pattern), "duro:{p%d}:*", p);
    redisReply *keys = duro_test_cmd(r, "KEYS", pattern, NULL);
    cr_assert_eq(keys->type, REDIS_REPLY_ARRAY);
    size_t n = keys->elements;
    char **lines = calloc(n + 1, sizeof(char *));
    size_t total = 1;
    for (size_t i = 0; i < n; i++) {
        const char *key = keys->element[i]->str;
        redisReply *t = duro_test_cmd(r, "TYPE", key, NULL);
        redisReply *d = duro_test_cmd(r, "DUMP", key, NULL);
        size_t len = strlen(key) + strlen(t->str) + 2 * d->len + 4;
        lines[i] = malloc(len);
        int off = snprintf(lines[i], len, "%s\t%s\t", key, t->str);
        for (size_t j = 0; j < d->len; j++)
            off += snprintf(lines[i] + off, len - (size_t)off, "%02x",
                            (unsigned char)d->str[j]);
        snprintf(lines[i] + off, len - (size_t)off, "\n");
        total += strlen(lines[i]);
        freeReplyObject(t);
        freeReplyObject(d);
    }
    freeReplyObject(keys);
    qsort(lines, n, sizeof(char *), by_str);
    char *out = malloc(total);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        strcat(out, lines[i]);
        free(lines[i]);
    }
    free(lines);
    return out;
}

/* ---- Function calls ---- */

/* fn_call: one Function call, built by a duro_fcall_* builder into a over
 * the call's own copy of the keys (k) and commands (cmds). Zero it first. */
typedef struct {
    duro_wf_keys k;
    duro_argv a, cmds;
    const char *acts[1];
    duro_fcall_commit commit;
} fn_call;

static void fn_free(fn_call *f)
{
    duro_argv_free(&f->a);
    duro_argv_free(&f->cmds);
}

/* fn_keys frees f's previous argv and copies k for the next call; without
 * act the act slot is left empty (a workflow timer's call). fn_keys and
 * fn_commit may run in either order (arguments of one builder call). */
static duro_wf_keys *fn_keys(fn_call *f, const duro_wf_keys *k, bool act)
{
    duro_argv_free(&f->a);
    f->k = *k;
    if (!act) f->k.act[0] = '\0';
    return &f->k;
}

/* fn_commit: a commit of ncmd commands (strings, NULL-terminated) whose
 * activity stream (the first extra key) is the test queue's. */
static const duro_fcall_commit *fn_commit(fn_call *f, int ncmd, ...)
{
    duro_argv_free(&f->cmds);
    va_list ap;
    va_start(ap, ncmd);
    const char *a;
    while ((a = va_arg(ap, const char *)))
        duro_argv_push(&f->cmds, a);
    va_end(ap);
    f->acts[0] = f->k.act;
    f->commit = (duro_fcall_commit){.wtc_data = "{}",
                                    .ncmd = ncmd,
                                    .cmds = &f->cmds,
                                    .nacts = 1,
                                    .acts = f->acts};
    return &f->commit;
}

static int fn_nkeys(const fn_call *f)
{
    return (int)strtol(f->a.argv[2], NULL, 10);
}

static const char *fn_name(const fn_call *f)
{
    return f->a.argv[1];
}

static redisReply *fn_send(redisContext *r, fn_call *f)
{
    redisReply *rep = redisCommandArgv(r, f->a.argc, f->a.argv, f->a.lens);
    cr_assert(rep, "redis: %s", r->errstr);
    return rep;
}

/* ---- A run in every state at once ---- */

/* run_state: workflow `id` on task queue `id` (so that states never share
 * a task stream) with a claimed workflow task
 * (token, wft_entry), a claimed activity attempt (seq 1, act_entry), a due
 * timer (t_member) and a due schedule-to-close timer (s_member). */
typedef struct {
    redisContext *r;
    duro_client *c;
    duro_wf_keys k;  /* with the wft and act streams of queue `id` */
    duro_wf_keys nk; /* the same, for a new run new_run */
    char id[64];
    char run[DURO_UUID_LEN + 1], new_run[DURO_UUID_LEN + 1];
    char token[32], wft_entry[64], act_entry[64];
    char t_member[DURO_KEY_MAX], s_member[DURO_KEY_MAX];
} run_state;

/* claim reads one entry of stream as consumer "t": its id and `field`. */
static void claim(run_state *s, const char *stream, const char *field,
                  char *entry, size_t esize, char *value, size_t vsize)
{
    duro_test_claim_task(s->r, stream, "t", field, entry, esize, value, vsize);
}

static void state_init2(run_state *s, const char *id, bool task);

static void state_init(run_state *s, const char *id)
{
    state_init2(s, id, true);
}

/* state_init2: as described above; without `task` no workflow task is
 * outstanding (token and wft_entry stay empty). */
static void state_init2(run_state *s, const char *id, bool task)
{
    s->r = duro_test_redis(&h);
    s->c = duro_test_client(&h);
    snprintf(s->id, sizeof(s->id), "%s", id);
    int parts = duro_client_partitions(s->c);
    duro_test_start(s->c, id, "t", id, NULL, 0);
    duro_wf_keys_init(&s->k, DURO_KEYSPACE_DEFAULT(parts), id, NULL);
    redisReply *rep = duro_test_cmd(s->r, "HGET", s->k.wf, "run", NULL);
    cr_assert_eq(rep->type, REDIS_REPLY_STRING);
    snprintf(s->run, sizeof(s->run), "%s", rep->str);
    freeReplyObject(rep);
    duro_wf_keys_init(&s->k, DURO_KEYSPACE_DEFAULT(parts), id, s->run);
    duro_wf_keys_queues(&s->k, id, id);
    duro_uuid_v4(s->new_run);
    duro_wf_keys_init(&s->nk, DURO_KEYSPACE_DEFAULT(parts), id, s->new_run);
    duro_wf_keys_queues(&s->nk, id, id);
    duro_test_cmd_ok(s->r, "XGROUP", "CREATE", s->k.wft, DURO_GROUP, "0",
                     "MKSTREAM", NULL);
    duro_test_cmd_ok(s->r, "XGROUP", "CREATE", s->k.act, DURO_GROUP, "0",
                     "MKSTREAM", NULL);

    /* the first task schedules activity 1 (start-to-close 1s,
     * schedule-to-close 1ms) and timer 1 (due now) */
    char entry[64], token[32];
    claim(s, s->k.wft, "token", entry, sizeof(entry), token, sizeof(token));
    fn_call f = {0};
    duro_fcall_task t = {.run = s->run, .token = token, .entry = entry};
    duro_fcall_wft_complete(&f.a, fn_keys(&f, &s->k, true), &t,
                            fn_commit(&f, 2, "activity", "1", "{\"seq\":1}",
                                      "9", "echo", "null", "{}", "1000", "0",
                                      "1", "timer", "1", "{\"seq\":1}", "0",
                                      NULL));
    redisReply *done = fn_send(s->r, &f);
    cr_assert_eq(done->type, REDIS_REPLY_ARRAY, "%s",
                 done->type == REDIS_REPLY_ERROR ? done->str : "?");
    freeReplyObject(done);
    fn_free(&f);
    /* a signal makes a second task outstanding; claim it and the activity */
    s->token[0] = s->wft_entry[0] = '\0';
    if (task) {
        cr_assert_eq(duro_client_signal(s->c, id, "poke", NULL, NULL), 0, "%s",
                     duro_client_errstr(s->c));
        claim(s, s->k.wft, "token", s->wft_entry, sizeof(s->wft_entry),
              s->token, sizeof(s->token));
    }
    char seq[8];
    claim(s, s->k.act, "seq", s->act_entry, sizeof(s->act_entry), seq,
          sizeof(seq));
    duro_timer_member(s->t_member, sizeof(s->t_member), 't', s->run, 1, 0, id,
                      NULL, id);
    duro_timer_member(s->s_member, sizeof(s->s_member), 's', s->run, 1, 0, id,
                      id, id);
    duro_test_sleep_ms(5); /* the s timer is due 1ms after scheduling */
}

/* ---- The check ---- */

static bool timer_present(run_state *s, const char *member)
{
    redisReply *rep = duro_test_cmd(s->r, "ZSCORE", s->k.timers, member, NULL);
    bool there = rep->type == REDIS_REPLY_STRING;
    freeReplyObject(rep);
    return there;
}

/* saved: every key of a partition with its DUMP, to put it back. */
typedef struct {
    redisReply *keys;
    redisReply *dumps[256];
} saved;

static void save(run_state *s, saved *sv)
{
    char pattern[64];
    snprintf(pattern, sizeof(pattern), "duro:{p%d}:*", s->k.partition);
    sv->keys = duro_test_cmd(s->r, "KEYS", pattern, NULL);
    cr_assert_lt(sv->keys->elements, 256);
    for (size_t i = 0; i < sv->keys->elements; i++)
        sv->dumps[i] =
            duro_test_cmd(s->r, "DUMP", sv->keys->element[i]->str, NULL);
}

/* put_back restores the partition as save found it and frees sv. */
static void put_back(run_state *s, saved *sv)
{
    char pattern[64];
    snprintf(pattern, sizeof(pattern), "duro:{p%d}:*", s->k.partition);
    redisReply *now = duro_test_cmd(s->r, "KEYS", pattern, NULL);
    for (size_t i = 0; i < now->elements; i++)
        duro_test_cmd_ok(s->r, "DEL", now->element[i]->str, NULL);
    freeReplyObject(now);
    for (size_t i = 0; i < sv->keys->elements; i++) {
        const char *key = sv->keys->element[i]->str;
        const char *argv[] = {"RESTORE", key, "0", sv->dumps[i]->str};
        size_t lens[] = {7, strlen(key), 1, sv->dumps[i]->len};
        redisReply *r = redisCommandArgv(s->r, 4, argv, lens);
        cr_assert(r && r->type != REDIS_REPLY_ERROR, "restore %s", key);
        freeReplyObject(r);
        freeReplyObject(sv->dumps[i]);
    }
    freeReplyObject(sv->keys);
}

static bool listed(const char *key, const char *const *list)
{
    for (; list && *list; list++)
        if (!strcmp(key, *list)) return true;
    return false;
}

/* tamper_each_key replaces each key of the call in turn by a string and
 * calls the Function: it must refuse with DURO_WRONGTYPE naming the key
 * and write nothing, unless the key is in `unused` (NULL-terminated: keys
 * this call only deletes or does not touch), where it must succeed; a
 * Function that answers is whole, only an error can leave half a call.
 * The partition is put back after each. Finally calls it untouched and
 * expects `ok_reply` (a substring of the reply, or NULL: any non-error). */
static void tamper_each_key(run_state *s, fn_call *f, const char *ok_reply,
                            const char *const *unused)
{
    for (int i = 0; i < fn_nkeys(f); i++) {
        const char *key = f->a.argv[3 + i];
        saved sv;
        save(s, &sv);
        duro_test_cmd_ok(s->r, "DEL", key, NULL);
        duro_test_cmd_ok(s->r, "SET", key, "tampered", NULL);
        char *before = snapshot(s->r, s->k.partition);
        bool t_before = timer_present(s, s->t_member);
        bool s_before = timer_present(s, s->s_member);

        redisReply *rep = fn_send(s->r, f);
        char *after = snapshot(s->r, s->k.partition);
        /* the indexes before visibility rows: in KEYS, written by
         * duro_purge alone */
        if (listed(key, unused) || !strcmp(key, s->k.idx_open) ||
            !strcmp(key, s->k.idx_closed)) {
            cr_assert_neq(rep->type, REDIS_REPLY_ERROR,
                          "%s with unused %s a string: %s", fn_name(f), key,
                          rep->str);
        } else {
            cr_assert_str_eq(after, before,
                             "%s with %s a string changed the partition",
                             fn_name(f), key);
            cr_assert_eq(rep->type, REDIS_REPLY_ERROR,
                         "%s with %s a string succeeded", fn_name(f), key);
            cr_assert(strncmp(rep->str, "DURO_WRONGTYPE ", 15) == 0 &&
                          strstr(rep->str, key) && strstr(rep->str, "a string"),
                      "%s with %s a string: %s", fn_name(f), key, rep->str);
            cr_assert_eq(timer_present(s, s->t_member), t_before);
            cr_assert_eq(timer_present(s, s->s_member), s_before);
        }
        freeReplyObject(rep);
        free(before);
        free(after);
        put_back(s, &sv);
    }
    char *before = snapshot(s->r, s->k.partition);
    redisReply *rep = fn_send(s->r, f);
    cr_assert_neq(rep->type, REDIS_REPLY_ERROR, "%s untouched: %s", fn_name(f),
                  rep->str);
    if (ok_reply)
        cr_assert(
            (rep->type == REDIS_REPLY_STRING && strstr(rep->str, ok_reply)) ||
                (rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 &&
                 rep->element[0]->type == REDIS_REPLY_STRING &&
                 strstr(rep->element[0]->str, ok_reply)),
            "%s untouched did not answer %s", fn_name(f), ok_reply);
    freeReplyObject(rep);
    char *after = snapshot(s->r, s->k.partition);
    cr_assert_str_neq(after, before, "%s untouched changed nothing",
                      fn_name(f));
    free(before);
    free(after);
}

/* ---- One test per Function ---- */

Test(functions_atomic, timer_fire_keeps_its_timer_when_it_cannot_fire)
{
    run_state s;
    state_init(&s, "tf-t");
    fn_call f = {0};
    duro_fcall_timer_fire(&f.a, fn_keys(&f, &s.k, false), s.t_member,
                          strlen(s.t_member));
    const char *const unused[] = {s.k.idx_open, s.k.idx_closed, NULL};
    tamper_each_key(&s, &f, "fired", unused);
    cr_assert_not(timer_present(&s, s.t_member));
    fn_free(&f);
    duro_test_finish(&h);
}

Test(functions_atomic, timer_fire_of_an_activity_timeout)
{
    run_state s;
    state_init(&s, "tf-s");
    fn_call f = {0};
    duro_fcall_timer_fire(&f.a, fn_keys(&f, &s.k, true), s.s_member,
                          strlen(s.s_member));
    const char *const unused[] = {s.k.idx_open, s.k.idx_closed, NULL};
    tamper_each_key(&s, &f, "fired", unused);
    fn_free(&f);
    duro_test_finish(&h);
}

Test(functions_atomic, signal_and_cancel)
{
    run_state s;
    state_init(&s, "sig");
    fn_call f = {0};
    duro_fcall_signal(&f.a, fn_keys(&f, &s.k, true), s.run,
                      "{\"name\":\"x\",\"input\":null}");
    tamper_each_key(&s, &f, s.run, NULL);
    duro_fcall_cancel(&f.a, fn_keys(&f, &s.k, true), s.run, "{}");
    tamper_each_key(&s, &f, "ok", NULL);
    fn_free(&f);
    duro_test_finish(&h);
}

Test(functions_atomic, start_and_signal_with_start)
{
    run_state s;
    state_init(&s, "st");
    duro_fcall_start_args st = {.id = s.id,
                                .run = s.new_run,
                                .type = "t",
                                .queue = s.id,
                                .input = "null",
                                .started_data = "{}",
                                .exec_timeout_ms = 0,
                                .wft_timeout_ms = 10000,
                                .policy = "AllowDuplicate"};
    fn_call f = {0};
    duro_fcall_signal_with_start(&f.a, fn_keys(&f, &s.nk, true), &st,
                                 "{\"name\":\"x\",\"input\":null}", s.k.hist,
                                 s.run);
    /* a running run is signaled: the new run's keys stay untouched */
    const char *const unused_sws[] = {s.nk.hist, s.k.pa, NULL};
    tamper_each_key(&s, &f, s.run, unused_sws);
    /* TerminateIfRunning touches the running run and the new one */
    st.policy = "TerminateIfRunning";
    duro_fcall_start(&f.a, fn_keys(&f, &s.nk, true), &st, s.k.hist, s.run);
    /* the buffer and pending activities of the old run are deleted, and
     * the new run's history is new */
    const char *const unused_start[] = {s.nk.hist, s.k.buf, s.k.pa, NULL};
    tamper_each_key(&s, &f, s.new_run, unused_start);
    fn_free(&f);
    duro_test_finish(&h);
}

/* A new id's start has its task's XADD as its first write, with no TYPE
 * of the task stream before it: a task stream of another type still
 * refuses the start whole, leaving the id's orphaned keys (a buffer and
 * pending activities without a hash) as they were. */
Test(functions_atomic, start_of_a_new_id)
{
    run_state s;
    state_init(&s, "fr");
    duro_test_cmd_ok(s.r, "DEL", s.k.wf, NULL);
    duro_fcall_start_args st = {.id = s.id,
                                .run = s.new_run,
                                .type = "t",
                                .queue = s.id,
                                .input = "null",
                                .started_data = "{}",
                                .exec_timeout_ms = 0,
                                .wft_timeout_ms = 10000,
                                .policy = "AllowDuplicate"};
    fn_call f = {0};
    duro_fcall_start(&f.a, fn_keys(&f, &s.nk, true), &st, s.k.hist, s.run);
    /* deleted or never touched by such a start (no timeout: no timer) */
    const char *const unused[] = {s.nk.hist,  s.k.buf,  s.k.pa,
                                  s.k.timers, s.k.hist, NULL};
    tamper_each_key(&s, &f, s.new_run, unused);
    fn_free(&f);
    duro_test_finish(&h);
}

/* duro_reset of the running run to its first task, re-creating its
 * pending activity and timer: every key is checked before the first
 * write, but the new run's history and the pending activities (only
 * deleted before they are written). */
Test(functions_atomic, reset)
{
    run_state s;
    state_init(&s, "rs");
    duro_argv pend;
    duro_argv_init(&pend);
    const char *items[] = {"activity", "1", "11", "echo",  "null", "{}",
                           "1000",     "0", "0",  "timer", "1",    "0"};
    for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++)
        duro_argv_push(&pend, items[i]);
    const char *acts[] = {s.k.act};
    duro_fcall_reset_args ra = {.id = s.id,
                                .run = s.new_run,
                                .src_run = s.run,
                                .cur_run = s.run,
                                .hist_cur = s.k.hist,
                                .hist_src = s.k.hist,
                                .event_id = 2,
                                .reason = "r",
                                .type = "t",
                                .queue = s.id,
                                .input = "null",
                                .npend = 2,
                                .pending = &pend,
                                .nacts = 1,
                                .acts = acts};
    fn_call f = {0};
    duro_fcall_reset(&f.a, fn_keys(&f, &s.nk, true), &ra);
    const char *const unused[] = {s.nk.hist, s.k.pa, NULL};
    tamper_each_key(&s, &f, s.new_run, unused);
    fn_free(&f);
    duro_argv_free(&pend);
    duro_test_finish(&h);
}

Test(functions_atomic, workflow_task_calls)
{
    run_state s;
    state_init(&s, "wft");
    fn_call f = {0};
    duro_fcall_task t = {.run = s.run, .token = s.token, .entry = s.wft_entry};
    duro_fcall_wft_timeout(&f.a, fn_keys(&f, &s.k, true), &t, 999999);
    /* hist and buf: in its prefix, unused */
    const char *const unused_timeout[] = {s.k.hist, s.k.buf, NULL};
    tamper_each_key(&s, &f, "timedout", unused_timeout);

    state_init(&s, "wft-fail");
    t = (duro_fcall_task){.run = s.run, .token = s.token, .entry = s.wft_entry};
    duro_fcall_wft_fail(&f.a, fn_keys(&f, &s.k, true), &t, "boom", 0);
    tamper_each_key(&s, &f, "ok", NULL);

    state_init(&s, "wft-done");
    t = (duro_fcall_task){.run = s.run, .token = s.token, .entry = s.wft_entry};
    duro_fcall_wft_complete(&f.a, fn_keys(&f, &s.k, true), &t,
                            fn_commit(&f, 2, "timer", "2", "{\"seq\":2}",
                                      "60000", "complete", "{\"result\":1}",
                                      "1", NULL));
    /* the buffer is empty and the pending activities only deleted, and
     * no command names the activity stream in KEYS: a commit checks only
     * what it writes */
    const char *const unused_done[] = {s.k.buf, s.k.pa, s.k.act, NULL};
    tamper_each_key(&s, &f, NULL, unused_done);

    /* a signal buffered while the task is out: the commit appends it, so
     * the buffer is checked; a marker touches neither timers nor pending
     * activities nor an activity stream, and the run stays open (the
     * indexes are not written) */
    state_init(&s, "wft-buf");
    cr_assert_eq(duro_client_signal(s.c, s.id, "poke", NULL, NULL), 0, "%s",
                 duro_client_errstr(s.c));
    t = (duro_fcall_task){.run = s.run, .token = s.token, .entry = s.wft_entry};
    duro_fcall_wft_complete(&f.a, fn_keys(&f, &s.k, true), &t,
                            fn_commit(&f, 1, "marker", "{}", NULL));
    const char *const unused_buf[] = {s.k.timers,   s.k.pa,         s.k.act,
                                      s.k.idx_open, s.k.idx_closed, NULL};
    tamper_each_key(&s, &f, NULL, unused_buf);

    /* its task waits in worker wx's sticky stream: the release moves it to
     * the shared one (hist and buf: in its prefix, unused) */
    state_init(&s, "wft-sticky");
    duro_test_cmd_ok(s.r, "HSET", s.k.wf, "sticky", "wx", "wft_sticky", "wx",
                     NULL);
    duro_fcall_sticky_release(&f.a, fn_keys(&f, &s.k, true), s.run, "wx");
    tamper_each_key(&s, &f, "moved", unused_timeout);
    fn_free(&f);
    duro_test_finish(&h);
}

Test(functions_atomic, activity_calls)
{
    run_state s;
    state_init(&s, "act-hb");
    fn_call f = {0};
    duro_fcall_attempt at = {
        .run = s.run, .seq = "1", .attempt = 1, .entry = s.act_entry};
    duro_fcall_act_heartbeat(&f.a, fn_keys(&f, &s.k, true), &at, "{\"p\":1}");
    /* hist, buf, wft and timers: in its prefix, unused */
    const char *const unused_hb[] = {s.k.hist, s.k.buf, s.k.wft, s.k.timers,
                                     NULL};
    tamper_each_key(&s, &f, "ok", unused_hb);
    duro_fcall_act_release(&f.a, fn_keys(&f, &s.k, true), &at);
    const char *const unused_idx[] = {s.k.idx_open, s.k.idx_closed, NULL};
    tamper_each_key(&s, &f, "released", unused_idx);

    state_init(&s, "act-to");
    at = (duro_fcall_attempt){
        .run = s.run, .seq = "1", .attempt = 1, .entry = s.act_entry};
    duro_fcall_act_timeout(&f.a, fn_keys(&f, &s.k, true), &at, 5000, -1);
    tamper_each_key(&s, &f, "timedout", unused_idx);

    state_init(&s, "act-done");
    at = (duro_fcall_attempt){
        .run = s.run, .seq = "1", .attempt = 1, .entry = s.act_entry};
    duro_fcall_act_result res = {.data = "{\"seq\":1}", .retry_delay_ms = -1};
    duro_fcall_act_complete(&f.a, fn_keys(&f, &s.k, true), &at, &res, 0, NULL);
    /* a workflow task is outstanding: the outcome goes to the buffer, the
     * task stream is not written */
    const char *const unused_done[] = {s.k.idx_open, s.k.idx_closed, s.k.wft,
                                       NULL};
    tamper_each_key(&s, &f, "resolved", unused_done);

    /* an eager workflow task that closes the run writes the indexes too */
    state_init2(&s, "act-eager", false);
    at = (duro_fcall_attempt){
        .run = s.run, .seq = "1", .attempt = 1, .entry = s.act_entry};
    redisReply *hlen = duro_test_cmd(s.r, "HGET", s.k.wf, "hlen", NULL);
    duro_fcall_act_complete(
        &f.a, fn_keys(&f, &s.k, true), &at, &res, strtoll(hlen->str, NULL, 10),
        fn_commit(&f, 1, "complete", "{\"result\":1}", "1", NULL));
    /* no task is queued and the empty buffer is only deleted */
    const char *const unused_eager[] = {s.k.buf, s.k.wft, NULL};
    tamper_each_key(&s, &f, "eager", unused_eager);
    freeReplyObject(hlen);
    fn_free(&f);
    duro_test_finish(&h);
}

/* The hot path: an eager workflow task that schedules the next activity
 * on the queue the completed one came from (KEYS[10] is KEYS[9], which the
 * ack checks; pa was read first, so neither needs a TYPE of its own). */
Test(functions_atomic, eager_commit_scheduling_on_the_same_queue)
{
    run_state s;
    state_init2(&s, "act-next", false);
    fn_call f = {0};
    duro_fcall_attempt at = {
        .run = s.run, .seq = "1", .attempt = 1, .entry = s.act_entry};
    duro_fcall_act_result res = {.data = "{\"seq\":1}", .retry_delay_ms = -1};
    redisReply *hlen = duro_test_cmd(s.r, "HGET", s.k.wf, "hlen", NULL);
    duro_fcall_act_complete(
        &f.a, fn_keys(&f, &s.k, true), &at, &res, strtoll(hlen->str, NULL, 10),
        fn_commit(&f, 1, "activity", "2", "{\"seq\":2}", "10", "echo", "null",
                  "{}", "1000", "0", "0", NULL));
    cr_assert_str_eq(f.a.argv[3 + 8], f.a.argv[3 + 9]);
    /* the run stays open (indexes), no task is queued, nothing buffered */
    const char *const unused[] = {s.k.idx_open, s.k.idx_closed, s.k.buf,
                                  s.k.wft, NULL};
    tamper_each_key(&s, &f, "eager", unused);
    /* activity 1's records went when the call ended; activity 2's are new */
    redisReply *old = duro_test_cmd(s.r, "HEXISTS", s.k.pa, "1.s", NULL);
    redisReply *now = duro_test_cmd(s.r, "HEXISTS", s.k.pa, "2.s", NULL);
    cr_assert_eq(old->integer, 0);
    cr_assert_eq(now->integer, 1);
    freeReplyObject(old);
    freeReplyObject(now);
    freeReplyObject(hlen);
    fn_free(&f);
    duro_test_finish(&h);
}

/* A start with an execution timeout writes the timers (which the body
 * checks then, not on every start). */
Test(functions_atomic, start_with_an_execution_timeout)
{
    run_state s;
    state_init(&s, "st-x");
    cr_assert_eq(duro_client_terminate(s.c, s.id, "test"), 0, "%s",
                 duro_client_errstr(s.c));
    duro_fcall_start_args st = {.id = s.id,
                                .run = s.new_run,
                                .type = "t",
                                .queue = s.id,
                                .input = "null",
                                .started_data = "{}",
                                .exec_timeout_ms = 60000,
                                .wft_timeout_ms = 10000,
                                .policy = "AllowDuplicate"};
    fn_call f = {0};
    duro_fcall_start(&f.a, fn_keys(&f, &s.nk, true), &st, s.k.hist, "");
    /* the closed run's buffer and pending activities are only deleted, the
     * new run's history is new, the closed run's history is not read */
    const char *const unused[] = {s.nk.hist, s.k.buf, s.k.pa, s.k.hist, NULL};
    tamper_each_key(&s, &f, s.new_run, unused);
    fn_free(&f);
    duro_test_finish(&h);
}

Test(functions_atomic, terminate)
{
    run_state s;
    state_init(&s, "term");
    fn_call f = {0};
    duro_fcall_terminate(&f.a, fn_keys(&f, &s.k, true),
                         "{\"reason\":\"test\"}");
    /* buf and pa: deleted; wft: in its prefix, unused */
    const char *const unused[] = {s.k.buf, s.k.pa, s.k.wft, NULL};
    tamper_each_key(&s, &f, "ok", unused);
    fn_free(&f);
    duro_test_finish(&h);
}

/* refused_whole calls f and expects an error starting with `word`, with
 * the partition unchanged. */
static void refused_whole(run_state *s, fn_call *f, const char *word)
{
    char *before = snapshot(s->r, s->k.partition);
    redisReply *rep = fn_send(s->r, f);
    char *after = snapshot(s->r, s->k.partition);
    cr_assert_str_eq(after, before, "%s changed the partition", fn_name(f));
    cr_assert(rep->type == REDIS_REPLY_ERROR &&
                  strncmp(rep->str, word, strlen(word)) == 0,
              "%s: %s", fn_name(f), rep->str ? rep->str : "(not an error)");
    freeReplyObject(rep);
    free(before);
    free(after);
}

/* A history with an event added by hand past its length would give the
 * events appended next the wrong ids: refused before the first write. */
Test(functions_atomic, a_history_with_events_past_its_length_is_refused)
{
    run_state s;
    state_init(&s, "tail");
    redisReply *good = duro_test_cmd(s.r, "DUMP", s.k.hist, NULL);
    duro_test_cmd_ok(s.r, "RPUSH", s.k.hist, "Garbage\n1\n{}", NULL);
    fn_call f = {0};
    duro_fcall_timer_fire(&f.a, fn_keys(&f, &s.k, false), s.t_member,
                          strlen(s.t_member));
    refused_whole(&s, &f, "DURO_CORRUPT ");
    cr_assert(timer_present(&s, s.t_member));
    duro_fcall_task t = {.run = s.run, .token = s.token, .entry = s.wft_entry};
    duro_fcall_wft_complete(&f.a, fn_keys(&f, &s.k, true), &t,
                            fn_commit(&f, 1, "marker", "{}", NULL));
    refused_whole(&s, &f, "DURO_CORRUPT ");
    duro_fcall_attempt at = {
        .run = s.run, .seq = "1", .attempt = 1, .entry = s.act_entry};
    duro_fcall_act_result res = {.data = "{\"seq\":1}", .retry_delay_ms = -1};
    duro_fcall_act_complete(&f.a, fn_keys(&f, &s.k, true), &at, &res, 0, NULL);
    refused_whole(&s, &f, "DURO_CORRUPT ");
    /* the same through the client: a clear error, DURO_EPROTO */
    cr_assert_eq(duro_client_terminate(s.c, s.id, "x"), DURO_EPROTO);
    cr_assert(strstr(duro_client_errstr(s.c), "not its length"), "%s",
              duro_client_errstr(s.c));
    /* the history as it was lets the calls through again */
    duro_test_cmd_ok(s.r, "DEL", s.k.hist, NULL);
    const char *argv[] = {"RESTORE", s.k.hist, "0", good->str};
    size_t lens[] = {7, strlen(s.k.hist), 1, good->len};
    freeReplyObject(redisCommandArgv(s.r, 4, argv, lens));
    freeReplyObject(good);
    const char *const unused[] = {s.k.idx_open, s.k.idx_closed, s.k.wft, NULL};
    tamper_each_key(&s, &f, "resolved", unused);
    fn_free(&f);
    duro_test_finish(&h);
}

/* End to end: a timer due while its history is damaged is refused, stays,
 * and fires once the history is repaired. */
Test(functions_atomic, a_refused_timer_fires_once_the_history_is_repaired)
{
    pid_t sched = duro_test_spawn(&h, "duro-scheduler", NULL);
    duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    duro_test_start(c, "fix", "sleep", "test", "{\"ms\":500}", 0);
    cJSON *hist = NULL;
    cr_assert(duro_test_wait_until(
        (cJSON_Delete(hist), hist = duro_test_history(c, "fix"),
         duro_test_count_events(hist, "TimerStarted") == 1),
        10000));
    cJSON_Delete(hist);
    cJSON *d = NULL;
    cr_assert_eq(duro_client_describe(c, "fix", &d), 0);
    duro_wf_keys k;
    duro_wf_keys_init(&k, DURO_KEYSPACE_DEFAULT(duro_client_partitions(c)),
                      "fix", duro_test_str(d, "runId"));
    char member[DURO_KEY_MAX];
    duro_timer_member(member, sizeof(member), 't', duro_test_str(d, "runId"), 1,
                      0, "test", NULL, "fix");
    cJSON_Delete(d);

    redisReply *good = duro_test_cmd(r, "DUMP", k.hist, NULL);
    duro_test_cmd_ok(r, "DEL", k.hist, NULL);
    duro_test_cmd_ok(r, "SET", k.hist, "damaged", NULL);
    cr_assert(duro_test_wait_until(
        duro_test_log_contains(&h, sched, "FIRE FAILED"), 5000));
    redisReply *rep = duro_test_cmd(r, "ZSCORE", k.timers, member, NULL);
    cr_assert_eq(rep->type, REDIS_REPLY_STRING, "the refused timer is gone");
    freeReplyObject(rep);
    cr_assert(duro_test_log_contains(&h, sched, "DURO_WRONGTYPE"));

    duro_test_cmd_ok(r, "DEL", k.hist, NULL);
    const char *argv[] = {"RESTORE", k.hist, "0", good->str};
    size_t lens[] = {7, strlen(k.hist), 1, good->len};
    freeReplyObject(redisCommandArgv(r, 4, argv, lens));
    freeReplyObject(good);
    d = duro_test_result(c, "fix", 10000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cJSON_Delete(d);
    hist = duro_test_history(c, "fix");
    cr_assert_eq(duro_test_count_events(hist, "TimerFired"), 1);
    cJSON_Delete(hist);
    duro_client_free(c);
    redisFree(r);
    duro_test_finish(&h);
}

/* ---- Out of memory ---- */

static long long used_memory(redisContext *r)
{
    redisReply *rep = duro_test_cmd(r, "INFO", "memory", NULL);
    const char *p = strstr(rep->str, "used_memory:");
    cr_assert(p);
    long long n = strtoll(p + strlen("used_memory:"), NULL, 10);
    freeReplyObject(rep);
    return n;
}

/* Under maxmemory + noeviction Redis refuses a Function that may write
 * before it starts (the library declares no allow-oom), and never stops
 * one midway: all or nothing without any check of ours. */
Test(functions_atomic, out_of_memory_refuses_a_call_whole)
{
    run_state s;
    state_init(&s, "oom");
    duro_test_cmd_ok(s.r, "CONFIG", "SET", "maxmemory-policy", "noeviction",
                     NULL);

    /* over the limit at the start: refused, nothing written */
    duro_test_cmd_ok(s.r, "CONFIG", "SET", "maxmemory", "1", NULL);
    char *before = snapshot(s.r, s.k.partition);
    int rc = duro_client_signal(s.c, s.id, "x", NULL, NULL);
    cr_assert_eq(rc, DURO_EAGAIN, "signal under OOM: %d %s", rc,
                 duro_client_errstr(s.c));
    fn_call f = {0};
    duro_fcall_timer_fire(&f.a, fn_keys(&f, &s.k, false), s.t_member,
                          strlen(s.t_member));
    redisReply *rep = fn_send(s.r, &f);
    cr_assert(rep->type == REDIS_REPLY_ERROR && !strncmp(rep->str, "OOM", 3),
              "timer fire under OOM: %s", rep->str ? rep->str : "?");
    freeReplyObject(rep);
    char *after = snapshot(s.r, s.k.partition);
    cr_assert_str_eq(after, before);
    cr_assert(timer_present(&s, s.t_member));
    free(before);
    free(after);

    /* under the limit at the start, over it midway: with a 2 MB input
     * Redis holds about 4.3 MB more before the call (query buffer and
     * arguments) and 6.8 MB after it (the input stored twice, in the
     * activity task and the pending activity); a limit at 5.5 MB is crossed
     * inside the call, which still completes whole */
    duro_test_cmd_ok(s.r, "CONFIG", "SET", "maxmemory", "0", NULL);
    char limit[32];
    long long base = used_memory(s.r);
    snprintf(limit, sizeof(limit), "%lld", base + 5632LL * 1024);
    duro_test_cmd_ok(s.r, "CONFIG", "SET", "maxmemory", limit, NULL);
    size_t big = 2 * 1024 * 1024 - 64;
    char *input = malloc(big + 3);
    input[0] = '"';
    memset(input + 1, 'x', big);
    strcpy(input + 1 + big, "\"");
    duro_fcall_task t = {.run = s.run, .token = s.token, .entry = s.wft_entry};
    duro_fcall_wft_complete(&f.a, fn_keys(&f, &s.k, true), &t,
                            fn_commit(&f, 1, "activity", "2", "{\"seq\":2}",
                                      "9", "echo", input, "{}", "0", "0", "0",
                                      NULL));
    rep = fn_send(s.r, &f);
    fn_free(&f);
    cr_assert_eq(rep->type, REDIS_REPLY_ARRAY, "big commit: %s",
                 rep->str ? rep->str : "?");
    freeReplyObject(rep);
    free(input);
    cr_assert_gt(used_memory(s.r), strtoll(limit, NULL, 10),
                 "the call stayed under");
    /* the schedule record: a short header, name, options, then the input */
    rep = duro_test_cmd(s.r, "HSTRLEN", s.k.pa, "2.s", NULL);
    cr_assert_geq(rep->integer, (long long)big + 2);
    cr_assert_lt(rep->integer, (long long)big + 2 + 64);
    freeReplyObject(rep);
    rep = duro_test_cmd(s.r, "HGET", s.k.wf, "wft", NULL);
    cr_assert_str_eq(rep->str, "0", "the commit stopped before its end");
    freeReplyObject(rep);
    /* and the next call is refused whole */
    cr_assert_eq(duro_client_signal(s.c, s.id, "x", NULL, NULL), DURO_EAGAIN);
    duro_test_cmd_ok(s.r, "CONFIG", "SET", "maxmemory", "0", NULL);
    duro_test_finish(&h);
}

/* duro_xfer_apply delivering a signal carried from another partition, with
 * a reply for its sender: every key it writes is checked before its first
 * write (the pending activities and the old indexes it never touches). */
Test(functions_atomic, transfer_apply_of_a_signal)
{
    run_state s;
    state_init(&s, "xf");
    char outbox[DURO_KEY_MAX], mark[DURO_KEY_MAX];
    snprintf(outbox, sizeof(outbox), "duro:{p%d}:outbox", s.k.partition);
    snprintf(mark, sizeof(mark), "duro:{p%d}:xd:r0.1.4", s.k.partition);
    char body[512];
    snprintf(body, sizeof(body),
             "{\"op\":\"deliver\",\"id\":\"%s\",\"run\":\"%s\","
             "\"event\":\"SignalReceived\",\"data\":\"{\\\"name\\\":\\\"x\\\","
             "\\\"input\\\":null}\",\"seq\":\"1\",\"reply_id\":\"other\","
             "\"reply_run\":\"r0\",\"reply_b\":\"5\",\"reply_ok\":"
             "\"ExternalSignaled\",\"reply_fail\":\"ExternalSignalFailed\"}",
             s.id, s.run);
    fn_call f = {0};
    const duro_wf_keys *k = fn_keys(&f, &s.k, false);
    const char *keys[] = {k->wf, k->hist,     k->buf,        k->wft, k->timers,
                          k->pa, k->idx_open, k->idx_closed, outbox, mark};
    duro_argv_fcall(&f.a, "duro_xfer_apply", 10, keys);
    duro_argv_push(&f.a, "r0.1.4");
    duro_argv_push(&f.a, body);
    const char *const unused[] = {s.k.pa, NULL};
    tamper_each_key(&s, &f, "delivered", unused);
    fn_free(&f);
    duro_test_finish(&h);
}
