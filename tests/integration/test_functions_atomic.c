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

#include "duro/keys.h"
#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(functions_atomic, .init = setup, .fini = duro_test_fini,
          .timeout = 60);

#define MAX_ARGS 40

/* ---- Redis helpers ---- */

static redisReply *cmdv(redisContext *r, int argc, const char **argv)
{
    redisReply *rep = redisCommandArgv(r, argc, argv, NULL);
    cr_assert(rep, "redis: %s", r->errstr);
    return rep;
}

/* cmd runs a command given as NULL-terminated strings. */
static redisReply *cmd(redisContext *r, ...)
{
    const char *argv[MAX_ARGS];
    int n = 0;
    va_list ap;
    va_start(ap, r);
    const char *a;
    while ((a = va_arg(ap, const char *)) && n < MAX_ARGS)
        argv[n++] = a;
    va_end(ap);
    return cmdv(r, n, argv);
}

static void run_ok(redisContext *r, ...)
{
    const char *argv[MAX_ARGS];
    int n = 0;
    va_list ap;
    va_start(ap, r);
    const char *a;
    while ((a = va_arg(ap, const char *)) && n < MAX_ARGS)
        argv[n++] = a;
    va_end(ap);
    redisReply *rep = cmdv(r, n, argv);
    cr_assert_neq(rep->type, REDIS_REPLY_ERROR, "%s: %s", argv[0], rep->str);
    freeReplyObject(rep);
}

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
    redisReply *keys = cmd(r, "KEYS", pattern, NULL);
    cr_assert_eq(keys->type, REDIS_REPLY_ARRAY);
    size_t n = keys->elements;
    char **lines = calloc(n + 1, sizeof(char *));
    size_t total = 1;
    for (size_t i = 0; i < n; i++) {
        const char *key = keys->element[i]->str;
        redisReply *t = cmd(r, "TYPE", key, NULL);
        redisReply *d = cmd(r, "DUMP", key, NULL);
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

/* ---- A run in every state at once ---- */

/* run_state: workflow `id` on task queue `id` (so that states never share
 * a task stream) with a claimed workflow task
 * (token, wft_entry), a claimed activity attempt (seq 1, act_entry), a due
 * timer (t_member) and a due schedule-to-close timer (s_member). */
typedef struct {
    redisContext *r;
    duro_client *c;
    duro_wf_keys k;
    char id[64];
    char wft[DURO_KEY_MAX], act[DURO_KEY_MAX];
    char run[DURO_UUID_LEN + 1], new_run[DURO_UUID_LEN + 1];
    char new_hist[DURO_KEY_MAX];
    char token[32], wft_entry[64], act_entry[64];
    char t_member[DURO_KEY_MAX], s_member[DURO_KEY_MAX];
} run_state;

/* claim reads one entry of stream as consumer "t": its id and `field`. */
static void claim(run_state *s, const char *stream, const char *field,
                  char *entry, size_t esize, char *value, size_t vsize)
{
    redisReply *rep = cmd(s->r, "XREADGROUP", "GROUP", DURO_GROUP, "t", "COUNT",
                          "1", "STREAMS", stream, ">", NULL);
    cr_assert_eq(rep->type, REDIS_REPLY_ARRAY, "no task in %s", stream);
    redisReply *e = rep->element[0]->element[1]->element[0];
    snprintf(entry, esize, "%s", e->element[0]->str);
    redisReply *fields = e->element[1];
    value[0] = '\0';
    for (size_t i = 0; i + 1 < fields->elements; i += 2)
        if (!strcmp(fields->element[i]->str, field))
            snprintf(value, vsize, "%s", fields->element[i + 1]->str);
    cr_assert(value[0], "entry %s has no %s", entry, field);
    freeReplyObject(rep);
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
    duro_wf_keys_init(&s->k, parts, id, NULL);
    redisReply *rep = cmd(s->r, "HGET", s->k.wf, "run", NULL);
    cr_assert_eq(rep->type, REDIS_REPLY_STRING);
    snprintf(s->run, sizeof(s->run), "%s", rep->str);
    freeReplyObject(rep);
    duro_wf_keys_init(&s->k, parts, id, s->run);
    duro_key_wft(s->wft, sizeof(s->wft), s->k.partition, id);
    duro_key_act(s->act, sizeof(s->act), s->k.partition, id);
    duro_uuid_v4(s->new_run);
    duro_wf_keys nk;
    duro_wf_keys_init(&nk, parts, id, s->new_run);
    snprintf(s->new_hist, sizeof(s->new_hist), "%s", nk.hist);
    run_ok(s->r, "XGROUP", "CREATE", s->wft, DURO_GROUP, "0", "MKSTREAM", NULL);
    run_ok(s->r, "XGROUP", "CREATE", s->act, DURO_GROUP, "0", "MKSTREAM", NULL);

    /* the first task schedules activity 1 (start-to-close 1s,
     * schedule-to-close 1ms) and timer 1 (due now) */
    char entry[64], token[32];
    claim(s, s->wft, "token", entry, sizeof(entry), token, sizeof(token));
    run_ok(s->r, "FCALL", "duro_wft_complete", "9", s->k.wf, s->k.hist,
           s->k.buf, s->wft, s->k.timers, s->k.pa, s->k.idx_open,
           s->k.idx_closed, s->act, s->run, token, entry, "{}", "2", "activity",
           "1", "{\"seq\":1}", "9", "echo", "null", "{}", "1000", "0", "1",
           "timer", "1", "{\"seq\":1}", "0", NULL);
    /* a signal makes a second task outstanding; claim it and the activity */
    s->token[0] = s->wft_entry[0] = '\0';
    if (task) {
        cr_assert_eq(duro_client_signal(s->c, id, "poke", NULL, NULL), 0, "%s",
                     duro_client_errstr(s->c));
        claim(s, s->wft, "token", s->wft_entry, sizeof(s->wft_entry), s->token,
              sizeof(s->token));
    }
    char seq[8];
    claim(s, s->act, "seq", s->act_entry, sizeof(s->act_entry), seq,
          sizeof(seq));
    duro_timer_member(s->t_member, sizeof(s->t_member), 't', s->run, 1, 0, id,
                      NULL, id);
    duro_timer_member(s->s_member, sizeof(s->s_member), 's', s->run, 1, 0, id,
                      id, id);
    duro_test_sleep_ms(5); /* the s timer is due 1ms after scheduling */
}

/* ---- The check ---- */

/* fn_call: FCALL <fn> <nkeys> keys... args... */
typedef struct {
    const char *argv[MAX_ARGS];
    int argc, nkeys;
} fn_call;

static void fn_call_init(fn_call *f, const char *fn, int nkeys, ...)
{
    static char nk[8];
    f->argc = 0;
    f->argv[f->argc++] = "FCALL";
    f->argv[f->argc++] = fn;
    snprintf(nk, sizeof(nk), "%d", nkeys);
    f->argv[f->argc++] = nk;
    f->nkeys = nkeys;
    va_list ap;
    va_start(ap, nkeys);
    const char *a;
    while ((a = va_arg(ap, const char *)) && f->argc < MAX_ARGS)
        f->argv[f->argc++] = a;
    va_end(ap);
}

static bool timer_present(run_state *s, const char *member)
{
    redisReply *rep = cmd(s->r, "ZSCORE", s->k.timers, member, NULL);
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
    sv->keys = cmd(s->r, "KEYS", pattern, NULL);
    cr_assert_lt(sv->keys->elements, 256);
    for (size_t i = 0; i < sv->keys->elements; i++)
        sv->dumps[i] = cmd(s->r, "DUMP", sv->keys->element[i]->str, NULL);
}

/* put_back restores the partition as save found it and frees sv. */
static void put_back(run_state *s, saved *sv)
{
    char pattern[64];
    snprintf(pattern, sizeof(pattern), "duro:{p%d}:*", s->k.partition);
    redisReply *now = cmd(s->r, "KEYS", pattern, NULL);
    for (size_t i = 0; i < now->elements; i++)
        run_ok(s->r, "DEL", now->element[i]->str, NULL);
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
    for (int i = 0; i < f->nkeys; i++) {
        const char *key = f->argv[3 + i];
        saved sv;
        save(s, &sv);
        run_ok(s->r, "DEL", key, NULL);
        run_ok(s->r, "SET", key, "tampered", NULL);
        char *before = snapshot(s->r, s->k.partition);
        bool t_before = timer_present(s, s->t_member);
        bool s_before = timer_present(s, s->s_member);

        redisReply *rep = cmdv(s->r, f->argc, f->argv);
        char *after = snapshot(s->r, s->k.partition);
        if (listed(key, unused)) {
            cr_assert_neq(rep->type, REDIS_REPLY_ERROR,
                          "%s with unused %s a string: %s", f->argv[1], key,
                          rep->str);
        } else {
            cr_assert_str_eq(after, before,
                             "%s with %s a string changed the partition",
                             f->argv[1], key);
            cr_assert_eq(rep->type, REDIS_REPLY_ERROR,
                         "%s with %s a string succeeded", f->argv[1], key);
            cr_assert(strncmp(rep->str, "DURO_WRONGTYPE ", 15) == 0 &&
                          strstr(rep->str, key) && strstr(rep->str, "a string"),
                      "%s with %s a string: %s", f->argv[1], key, rep->str);
            cr_assert_eq(timer_present(s, s->t_member), t_before);
            cr_assert_eq(timer_present(s, s->s_member), s_before);
        }
        freeReplyObject(rep);
        free(before);
        free(after);
        put_back(s, &sv);
    }
    char *before = snapshot(s->r, s->k.partition);
    redisReply *rep = cmdv(s->r, f->argc, f->argv);
    cr_assert_neq(rep->type, REDIS_REPLY_ERROR, "%s untouched: %s", f->argv[1],
                  rep->str);
    if (ok_reply)
        cr_assert(
            (rep->type == REDIS_REPLY_STRING && strstr(rep->str, ok_reply)) ||
                (rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 &&
                 rep->element[0]->type == REDIS_REPLY_STRING &&
                 strstr(rep->element[0]->str, ok_reply)),
            "%s untouched did not answer %s", f->argv[1], ok_reply);
    freeReplyObject(rep);
    char *after = snapshot(s->r, s->k.partition);
    cr_assert_str_neq(after, before, "%s untouched changed nothing",
                      f->argv[1]);
    free(before);
    free(after);
}

/* ---- One test per Function ---- */

#define K_DELIVER(s) (s)->k.wf, (s)->k.hist, (s)->k.buf, (s)->wft

Test(functions_atomic, timer_fire_keeps_its_timer_when_it_cannot_fire)
{
    run_state s;
    state_init(&s, "tf-t");
    fn_call f;
    fn_call_init(&f, "duro_timer_fire", 9, K_DELIVER(&s), s.k.timers, s.k.pa,
                 s.k.timers, s.k.idx_open, s.k.idx_closed, s.t_member, NULL);
    const char *const unused[] = {s.k.idx_open, s.k.idx_closed, NULL};
    tamper_each_key(&s, &f, "fired", unused);
    cr_assert_not(timer_present(&s, s.t_member));
    duro_test_finish(&h);
}

Test(functions_atomic, timer_fire_of_an_activity_timeout)
{
    run_state s;
    state_init(&s, "tf-s");
    fn_call f;
    fn_call_init(&f, "duro_timer_fire", 9, K_DELIVER(&s), s.k.timers, s.k.pa,
                 s.act, s.k.idx_open, s.k.idx_closed, s.s_member, NULL);
    const char *const unused[] = {s.k.idx_open, s.k.idx_closed, NULL};
    tamper_each_key(&s, &f, "fired", unused);
    duro_test_finish(&h);
}

Test(functions_atomic, signal_and_cancel)
{
    run_state s;
    state_init(&s, "sig");
    fn_call f;
    fn_call_init(&f, "duro_signal", 4, K_DELIVER(&s), s.run,
                 "{\"name\":\"x\",\"input\":null}", NULL);
    tamper_each_key(&s, &f, s.run, NULL);
    fn_call_init(&f, "duro_cancel", 4, K_DELIVER(&s), s.run, "{}", NULL);
    tamper_each_key(&s, &f, "ok", NULL);
    duro_test_finish(&h);
}

Test(functions_atomic, start_and_signal_with_start)
{
    run_state s;
    state_init(&s, "st");
    fn_call f;
    fn_call_init(&f, "duro_signal_with_start", 9, s.k.wf, s.new_hist, s.wft,
                 s.k.timers, s.k.idx_open, s.k.idx_closed, s.k.buf, s.k.pa,
                 s.k.hist, s.id, s.new_run, "t", s.id, "null", "{}", "0",
                 "10000", "{\"name\":\"x\",\"input\":null}", s.run,
                 "AllowDuplicate", NULL);
    /* a running run is signaled: the new run's keys stay untouched */
    const char *const unused_sws[] = {s.new_hist, s.k.pa, NULL};
    tamper_each_key(&s, &f, s.run, unused_sws);
    /* TerminateIfRunning touches the running run and the new one */
    fn_call_init(&f, "duro_start", 9, s.k.wf, s.new_hist, s.wft, s.k.timers,
                 s.k.idx_open, s.k.idx_closed, s.k.buf, s.k.pa, s.k.hist, s.id,
                 s.new_run, "t", s.id, "null", "{}", "0", "10000",
                 "TerminateIfRunning", s.run, NULL);
    /* the buffer and pending activities of the old run are deleted, and
     * the new run's history is new */
    const char *const unused_start[] = {s.new_hist, s.k.buf, s.k.pa, NULL};
    tamper_each_key(&s, &f, s.new_run, unused_start);
    duro_test_finish(&h);
}

Test(functions_atomic, workflow_task_calls)
{
    run_state s;
    state_init(&s, "wft");
    fn_call f;
    fn_call_init(&f, "duro_wft_timeout", 3, s.k.wf, s.wft, s.k.timers, s.run,
                 s.token, s.wft_entry, "999999", NULL);
    tamper_each_key(&s, &f, "timedout", NULL);

    state_init(&s, "wft-fail");
    fn_call_init(&f, "duro_wft_fail", 5, K_DELIVER(&s), s.k.timers, s.run,
                 s.token, s.wft_entry, "boom", "0", NULL);
    tamper_each_key(&s, &f, "ok", NULL);

    state_init(&s, "wft-done");
    fn_call_init(&f, "duro_wft_complete", 9, K_DELIVER(&s), s.k.timers, s.k.pa,
                 s.k.idx_open, s.k.idx_closed, s.act, s.run, s.token,
                 s.wft_entry, "{}", "2", "timer", "2", "{\"seq\":2}", "60000",
                 "complete", "{\"result\":1}", "1", NULL);
    tamper_each_key(&s, &f, NULL, NULL);
    duro_test_finish(&h);
}

Test(functions_atomic, activity_calls)
{
    run_state s;
    state_init(&s, "act-hb");
    fn_call f;
    fn_call_init(&f, "duro_act_heartbeat", 2, s.k.wf, s.k.pa, s.run, "1", "1",
                 "{\"p\":1}", NULL);
    tamper_each_key(&s, &f, "ok", NULL);
    fn_call_init(&f, "duro_act_release", 7, K_DELIVER(&s), s.k.timers, s.k.pa,
                 s.act, s.run, "1", "1", s.act_entry, NULL);
    tamper_each_key(&s, &f, "released", NULL);

    state_init(&s, "act-to");
    fn_call_init(&f, "duro_act_timeout", 7, K_DELIVER(&s), s.k.timers, s.k.pa,
                 s.act, s.run, "1", "1", s.act_entry, "5000", "-1", NULL);
    tamper_each_key(&s, &f, "timedout", NULL);

    state_init(&s, "act-done");
    fn_call_init(&f, "duro_act_complete", 9, K_DELIVER(&s), s.k.timers, s.k.pa,
                 s.act, s.k.idx_open, s.k.idx_closed, s.run, "1", "1",
                 s.act_entry, "completed", "{\"seq\":1}", "-1", "", NULL);
    const char *const unused[] = {s.k.idx_open, s.k.idx_closed, NULL};
    tamper_each_key(&s, &f, "resolved", unused);

    /* an eager workflow task that closes the run writes the indexes too */
    state_init2(&s, "act-eager", false);
    redisReply *hlen = cmd(s.r, "HGET", s.k.wf, "hlen", NULL);
    fn_call_init(&f, "duro_act_complete", 9, K_DELIVER(&s), s.k.timers, s.k.pa,
                 s.act, s.k.idx_open, s.k.idx_closed, s.run, "1", "1",
                 s.act_entry, "completed", "{\"seq\":1}", "-1", "", hlen->str,
                 "{}", "1", "complete", "{\"result\":1}", "1", NULL);
    tamper_each_key(&s, &f, "eager", NULL);
    freeReplyObject(hlen);
    duro_test_finish(&h);
}

Test(functions_atomic, terminate)
{
    run_state s;
    state_init(&s, "term");
    fn_call f;
    fn_call_init(&f, "duro_terminate", 7, s.k.wf, s.k.hist, s.k.buf, s.k.pa,
                 s.k.timers, s.k.idx_open, s.k.idx_closed,
                 "{\"reason\":\"test\"}", NULL);
    const char *const unused[] = {s.k.buf, s.k.pa, NULL}; /* deleted */
    tamper_each_key(&s, &f, "ok", unused);
    duro_test_finish(&h);
}

/* refused_whole calls f and expects an error starting with `word`, with
 * the partition unchanged. */
static void refused_whole(run_state *s, fn_call *f, const char *word)
{
    char *before = snapshot(s->r, s->k.partition);
    redisReply *rep = cmdv(s->r, f->argc, f->argv);
    char *after = snapshot(s->r, s->k.partition);
    cr_assert_str_eq(after, before, "%s changed the partition", f->argv[1]);
    cr_assert(rep->type == REDIS_REPLY_ERROR &&
                  strncmp(rep->str, word, strlen(word)) == 0,
              "%s: %s", f->argv[1], rep->str ? rep->str : "(not an error)");
    freeReplyObject(rep);
    free(before);
    free(after);
}

/* A history with an event added by hand past its length would make the
 * first XADD fail after earlier writes (an ack, a ZREM): refused first. */
Test(functions_atomic, a_history_with_events_past_its_length_is_refused)
{
    run_state s;
    state_init(&s, "tail");
    redisReply *good = cmd(s.r, "DUMP", s.k.hist, NULL);
    run_ok(s.r, "XADD", s.k.hist, "99-0", "type", "Garbage", NULL);
    fn_call f;
    fn_call_init(&f, "duro_timer_fire", 9, K_DELIVER(&s), s.k.timers, s.k.pa,
                 s.k.timers, s.k.idx_open, s.k.idx_closed, s.t_member, NULL);
    refused_whole(&s, &f, "DURO_CORRUPT ");
    cr_assert(timer_present(&s, s.t_member));
    fn_call_init(&f, "duro_wft_complete", 9, K_DELIVER(&s), s.k.timers, s.k.pa,
                 s.k.idx_open, s.k.idx_closed, s.act, s.run, s.token,
                 s.wft_entry, "{}", "1", "marker", "{}", NULL);
    refused_whole(&s, &f, "DURO_CORRUPT ");
    fn_call_init(&f, "duro_act_complete", 9, K_DELIVER(&s), s.k.timers, s.k.pa,
                 s.act, s.k.idx_open, s.k.idx_closed, s.run, "1", "1",
                 s.act_entry, "completed", "{\"seq\":1}", "-1", "", NULL);
    refused_whole(&s, &f, "DURO_CORRUPT ");
    /* the same through the client: a clear error, DURO_EPROTO */
    cr_assert_eq(duro_client_terminate(s.c, s.id, "x"), DURO_EPROTO);
    cr_assert(strstr(duro_client_errstr(s.c), "past its length"), "%s",
              duro_client_errstr(s.c));
    /* the history as it was lets the calls through again */
    run_ok(s.r, "DEL", s.k.hist, NULL);
    const char *argv[] = {"RESTORE", s.k.hist, "0", good->str};
    size_t lens[] = {7, strlen(s.k.hist), 1, good->len};
    freeReplyObject(redisCommandArgv(s.r, 4, argv, lens));
    freeReplyObject(good);
    const char *const unused[] = {s.k.idx_open, s.k.idx_closed, NULL};
    tamper_each_key(&s, &f, "resolved", unused);
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
    duro_wf_keys_init(&k, duro_client_partitions(c), "fix",
                      duro_test_str(d, "runId"));
    char member[DURO_KEY_MAX];
    duro_timer_member(member, sizeof(member), 't', duro_test_str(d, "runId"), 1,
                      0, "test", NULL, "fix");
    cJSON_Delete(d);

    redisReply *good = cmd(r, "DUMP", k.hist, NULL);
    run_ok(r, "DEL", k.hist, NULL);
    run_ok(r, "SET", k.hist, "damaged", NULL);
    cr_assert(duro_test_wait_until(
        duro_test_log_contains(&h, sched, "FIRE FAILED"), 5000));
    redisReply *rep = cmd(r, "ZSCORE", k.timers, member, NULL);
    cr_assert_eq(rep->type, REDIS_REPLY_STRING, "the refused timer is gone");
    freeReplyObject(rep);
    cr_assert(duro_test_log_contains(&h, sched, "DURO_WRONGTYPE"));

    run_ok(r, "DEL", k.hist, NULL);
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
    redisReply *rep = cmd(r, "INFO", "memory", NULL);
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
    run_ok(s.r, "CONFIG", "SET", "maxmemory-policy", "noeviction", NULL);

    /* over the limit at the start: refused, nothing written */
    run_ok(s.r, "CONFIG", "SET", "maxmemory", "1", NULL);
    char *before = snapshot(s.r, s.k.partition);
    int rc = duro_client_signal(s.c, s.id, "x", NULL, NULL);
    cr_assert_eq(rc, DURO_EAGAIN, "signal under OOM: %d %s", rc,
                 duro_client_errstr(s.c));
    redisReply *rep =
        cmd(s.r, "FCALL", "duro_timer_fire", "9", s.k.wf, s.k.hist, s.k.buf,
            s.wft, s.k.timers, s.k.pa, s.k.timers, s.k.idx_open, s.k.idx_closed,
            s.t_member, NULL);
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
    run_ok(s.r, "CONFIG", "SET", "maxmemory", "0", NULL);
    char limit[32];
    long long base = used_memory(s.r);
    snprintf(limit, sizeof(limit), "%lld", base + 5632LL * 1024);
    run_ok(s.r, "CONFIG", "SET", "maxmemory", limit, NULL);
    size_t big = 2 * 1024 * 1024 - 64;
    char *input = malloc(big + 3);
    input[0] = '"';
    memset(input + 1, 'x', big);
    strcpy(input + 1 + big, "\"");
    rep = cmd(s.r, "FCALL", "duro_wft_complete", "9", s.k.wf, s.k.hist, s.k.buf,
              s.wft, s.k.timers, s.k.pa, s.k.idx_open, s.k.idx_closed, s.act,
              s.run, s.token, s.wft_entry, "{}", "1", "activity", "2",
              "{\"seq\":2}", "9", "echo", input, "{}", "0", "0", "0", NULL);
    cr_assert_eq(rep->type, REDIS_REPLY_ARRAY, "big commit: %s",
                 rep->str ? rep->str : "?");
    freeReplyObject(rep);
    free(input);
    cr_assert_gt(used_memory(s.r), strtoll(limit, NULL, 10),
                 "the call stayed under");
    rep = cmd(s.r, "HSTRLEN", s.k.pa, "2.input", NULL);
    cr_assert_eq(rep->integer, (long long)big + 2);
    freeReplyObject(rep);
    rep = cmd(s.r, "HGET", s.k.wf, "wft", NULL);
    cr_assert_str_eq(rep->str, "0", "the commit stopped before its end");
    freeReplyObject(rep);
    /* and the next call is refused whole */
    cr_assert_eq(duro_client_signal(s.c, s.id, "x", NULL, NULL), DURO_EAGAIN);
    run_ok(s.r, "CONFIG", "SET", "maxmemory", "0", NULL);
    duro_test_finish(&h);
}
