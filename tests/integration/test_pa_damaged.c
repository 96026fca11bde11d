/* test_pa_damaged.c: a damaged pending-activity record refuses the call.
 *
 * An activity's two records (`<seq>`, its state, and `<seq>.s`, its
 * schedule: docs/internals.md) carry the lengths of their parts in a
 * header. A record cut short, or whose header is damaged, must never be
 * read as a cut-off queue, details or input: every Function that reads it
 * fails with DURO_CORRUPT naming the hash and the seq, and writes nothing
 * (every key of the partition, timers and streams included, reads the same
 * before and after, by DUMP). The same calls on the records as written
 * then succeed, so the refusals come from the damage. So must an attempt's
 * entry that is no stream id, lease or '' (library 56): a call that acks
 * or reads it would fail in XACK or XRANGE naming no key, after its first
 * writes (a cancel's event), or take it for another attempt's (a hand-back
 * or a timeout answering "orphan" and acking the worker's entry).
 *
 * No worker runs: the test claims the tasks itself (XREADGROUP), as
 * test_functions_atomic.c does. */
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

TestSuite(pa_damaged, .init = setup, .fini = duro_test_fini, .timeout = 120);

/* ---- The partition, saved and compared ---- */

/* saved: every key of a partition (sorted) with its DUMP. */
typedef struct {
    redisReply *keys;
    redisReply *dumps[64];
} saved;

static int by_str(const void *a, const void *b)
{
    const redisReply *x = *(redisReply *const *)a;
    const redisReply *y = *(redisReply *const *)b;
    return strcmp(x->str, y->str);
}

static void save(redisContext *r, int p, saved *sv)
{
    char pattern[64];
    snprintf(pattern, sizeof(pattern), "duro:{p%d}:*", p);
    sv->keys = duro_test_cmd(r, "KEYS", pattern, NULL);
    cr_assert_lt(sv->keys->elements, 64);
    qsort(sv->keys->element, sv->keys->elements, sizeof(redisReply *), by_str);
    for (size_t i = 0; i < sv->keys->elements; i++)
        sv->dumps[i] =
            duro_test_cmd(r, "DUMP", sv->keys->element[i]->str, NULL);
}

static void saved_free(saved *sv)
{
    for (size_t i = 0; i < sv->keys->elements; i++)
        freeReplyObject(sv->dumps[i]);
    freeReplyObject(sv->keys);
}

/* same: a and b hold the same keys with the same DUMPs. */
static bool same(const saved *a, const saved *b, char *why, size_t size)
{
    if (a->keys->elements != b->keys->elements) {
        snprintf(why, size, "%zu keys, then %zu", a->keys->elements,
                 b->keys->elements);
        return false;
    }
    for (size_t i = 0; i < a->keys->elements; i++) {
        const char *key = a->keys->element[i]->str;
        if (strcmp(key, b->keys->element[i]->str) != 0 ||
            a->dumps[i]->len != b->dumps[i]->len ||
            memcmp(a->dumps[i]->str, b->dumps[i]->str, a->dumps[i]->len) != 0) {
            snprintf(why, size, "%s changed", key);
            return false;
        }
    }
    return true;
}

/* put_back restores the partition as sv holds it. */
static void put_back(redisContext *r, int p, const saved *sv)
{
    char pattern[64];
    snprintf(pattern, sizeof(pattern), "duro:{p%d}:*", p);
    redisReply *now = duro_test_cmd(r, "KEYS", pattern, NULL);
    for (size_t i = 0; i < now->elements; i++)
        duro_test_cmd_ok(r, "DEL", now->element[i]->str, NULL);
    freeReplyObject(now);
    for (size_t i = 0; i < sv->keys->elements; i++) {
        const char *key = sv->keys->element[i]->str;
        const char *argv[] = {"RESTORE", key, "0", sv->dumps[i]->str};
        size_t lens[] = {7, strlen(key), 1, sv->dumps[i]->len};
        redisReply *rep = redisCommandArgv(r, 4, argv, lens);
        cr_assert(rep && rep->type != REDIS_REPLY_ERROR, "restore %s", key);
        freeReplyObject(rep);
    }
}

/* ---- A run with activity 1 claimed ---- */

/* run: workflow `id` on task queue `id`, no workflow task outstanding,
 * activity 1 (echo, opts {}, input null, start-to-close 1s,
 * schedule-to-close 60s, so that a failure is retried) claimed as
 * act_entry. */
typedef struct {
    redisContext *r;
    duro_client *c;
    duro_wf_keys k;
    char id[64], run[DURO_UUID_LEN + 1], act_entry[64];
    char s_member[DURO_KEY_MAX], r_member[DURO_KEY_MAX], q_member[DURO_KEY_MAX];
} run;

static void run_init(run *s, const char *id)
{
    s->r = duro_test_redis(&h);
    duro_client *c = s->c = duro_test_client(&h);
    snprintf(s->id, sizeof(s->id), "%s", id);
    int parts = duro_client_partitions(c);
    duro_test_start(c, id, "t", id, NULL, 0);
    duro_wf_keys_init(&s->k, DURO_KEYSPACE_DEFAULT(parts), id, NULL);
    redisReply *rep = duro_test_cmd(s->r, "HGET", s->k.wf, "run", NULL);
    snprintf(s->run, sizeof(s->run), "%s", rep->str);
    freeReplyObject(rep);
    duro_wf_keys_init(&s->k, DURO_KEYSPACE_DEFAULT(parts), id, s->run);
    duro_wf_keys_queues(&s->k, id, id);
    duro_test_cmd_ok(s->r, "XGROUP", "CREATE", s->k.wft, DURO_GROUP, "0",
                     "MKSTREAM", NULL);
    duro_test_cmd_ok(s->r, "XGROUP", "CREATE", s->k.act, DURO_GROUP, "0",
                     "MKSTREAM", NULL);
    char entry[64], token[32], seq[8];
    duro_test_claim_task(s->r, s->k.wft, "t", "token", entry, sizeof(entry),
                         token, sizeof(token));
    duro_argv a = {0}, cmds = {0};
    const char *cmd_args[] = {"activity", "1",  "{\"seq\":1}", "9", "echo",
                              "null",     "{}", "1000",        "0", "60000"};
    for (size_t i = 0; i < sizeof(cmd_args) / sizeof(cmd_args[0]); i++)
        duro_argv_push(&cmds, cmd_args[i]);
    const char *acts[] = {s->k.act};
    duro_fcall_commit commit = {
        .wtc_data = "{}", .ncmd = 1, .cmds = &cmds, .nacts = 1, .acts = acts};
    duro_fcall_task t = {.run = s->run, .token = token, .entry = entry};
    duro_fcall_wft_complete(&a, &s->k, &t, &commit);
    rep = redisCommandArgv(s->r, a.argc, a.argv, a.lens);
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY, "%s",
              rep && rep->type == REDIS_REPLY_ERROR ? rep->str : "?");
    freeReplyObject(rep);
    duro_argv_free(&a);
    duro_argv_free(&cmds);
    duro_test_claim_task(s->r, s->k.act, "t", "seq", s->act_entry,
                         sizeof(s->act_entry), seq, sizeof(seq));
    duro_timer_member(s->s_member, sizeof(s->s_member), 's', s->run, 1, 0, id,
                      id, id);
    duro_timer_member(s->r_member, sizeof(s->r_member), 'r', s->run, 1, 1, id,
                      id, id);
    duro_timer_member(s->q_member, sizeof(s->q_member), 'q', s->run, 1, 1, id,
                      id, id);
}

/* field: the value of pa field f (caller frees). */
static char *field(run *s, const char *f)
{
    redisReply *rep = duro_test_cmd(s->r, "HGET", s->k.pa, f, NULL);
    cr_assert_eq(rep->type, REDIS_REPLY_STRING, "pa %s absent", f);
    char *v = strdup(rep->str);
    freeReplyObject(rep);
    return v;
}

/* ---- The calls that read the records ---- */

typedef enum {
    ACT_COMPLETE,
    ACT_FAIL_RETRY, /* failed, retried at once: reads the schedule */
    ACT_HEARTBEAT,
    ACT_RELEASE, /* queued again: reads the schedule */
    ACT_TIMEOUT, /* start-to-close over: reads the schedule */
    FIRE_S,      /* schedule-to-close */
    FIRE_R,      /* a retry (the state made to wait for it) */
    FIRE_Q,      /* schedule-to-start, retried at once */
    CANCEL,      /* a workflow task canceling the activity */
    NCALLS
} call_kind;

static const char *const CALL_NAMES[NCALLS] = {
    "act_complete", "act_fail_retry", "act_heartbeat",
    "act_release",  "act_timeout",    "timer_fire s",
    "timer_fire r", "timer_fire q",   "wft_complete cancel_activity"};

/* reads_schedule: the call reads `<seq>.s` too. Not FIRE_Q: its attempt,
 * claimed by the test, is taken by a worker, so the fire ignores it and
 * reads no schedule (library 54: a record the fire would not act on must
 * not refuse it, keeping its timer firing forever). */
static bool reads_schedule(call_kind c)
{
    return c == ACT_FAIL_RETRY || c == ACT_RELEASE || c == ACT_TIMEOUT ||
           c == FIRE_R;
}

/* waiting_state: the state of attempt 1 waiting for its r timer (entry
 * ""), as a worker's put-back leaves it, for FIRE_R (caller frees). */
static char *waiting_state(run *s)
{
    char *st = field(s, "1");
    const char *c1 = strchr(st, ',');
    const char *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
    cr_assert(c2, "state %s", st);
    char *out = malloc(strlen(st) + 1);
    snprintf(out, strlen(st) + 1, "%.*s%s", (int)(c1 - st + 1), st, c2);
    free(st);
    return out;
}

/* prepare makes the run ready for call c: FIRE_S's s timer due, FIRE_R's
 * state and r timer, FIRE_Q's q timer, CANCEL's outstanding workflow task
 * (token: out). */
static void prepare(run *s, call_kind c, char *token, size_t tsize,
                    char *wft_entry, size_t esize)
{
    if (c == FIRE_S) {
        duro_test_cmd_ok(s->r, "ZADD", s->k.timers, "1", s->s_member, NULL);
    } else if (c == FIRE_R) {
        char *st = waiting_state(s);
        duro_test_cmd_ok(s->r, "HSET", s->k.pa, "1", st, NULL);
        free(st);
        duro_test_cmd_ok(s->r, "ZADD", s->k.timers, "1", s->r_member, NULL);
    } else if (c == FIRE_Q) {
        duro_test_cmd_ok(s->r, "ZADD", s->k.timers, "1", s->q_member, NULL);
    } else if (c == CANCEL) {
        cr_assert_eq(duro_client_signal(s->c, s->id, "poke", NULL, NULL), 0);
        duro_test_claim_task(s->r, s->k.wft, "t", "token", wft_entry, esize,
                             token, tsize);
    }
}

/* build puts call c's FCALL in a (cmds: the commit's command list). */
static void build(run *s, call_kind c, duro_argv *a, duro_argv *cmds,
                  const char *token, const char *wft_entry)
{
    duro_fcall_attempt at = {
        .run = s->run, .seq = "1", .attempt = 1, .entry = s->act_entry};
    duro_fcall_act_result done = {.data = "{\"seq\":1}", .retry_delay_ms = -1};
    duro_fcall_act_result failed = {.failed = true,
                                    .data = "{\"seq\":1}",
                                    .retry_delay_ms = 0,
                                    .failure = "{\"message\":\"x\"}"};
    switch (c) {
    case ACT_COMPLETE:
        duro_fcall_act_complete(a, &s->k, &at, &done, 0, NULL);
        break;
    case ACT_FAIL_RETRY:
        duro_fcall_act_complete(a, &s->k, &at, &failed, 0, NULL);
        break;
    case ACT_HEARTBEAT:
        duro_fcall_act_heartbeat(a, &s->k, &at, "{\"p\":1}");
        break;
    case ACT_RELEASE:
        duro_fcall_act_release(a, &s->k, &at);
        break;
    case ACT_TIMEOUT:
        duro_fcall_act_timeout(a, &s->k, &at, 5000, -1);
        break;
    case FIRE_S:
        duro_fcall_timer_fire(a, &s->k, s->s_member, strlen(s->s_member));
        break;
    case FIRE_R:
        duro_fcall_timer_fire(a, &s->k, s->r_member, strlen(s->r_member));
        break;
    case FIRE_Q:
        duro_fcall_timer_fire(a, &s->k, s->q_member, strlen(s->q_member));
        duro_argv_push(a, "0"); /* retry at once */
        break;
    case CANCEL: {
        duro_argv_push(cmds, "cancel_activity");
        duro_argv_push(cmds, "1");
        duro_argv_push(cmds, "{\"seq\":1}");
        duro_argv_push(cmds, "9");
        static const char *acts[1];
        acts[0] = s->k.act;
        duro_fcall_commit commit = {.wtc_data = "{}",
                                    .ncmd = 1,
                                    .cmds = cmds,
                                    .nacts = 1,
                                    .acts = acts};
        duro_fcall_task t = {.run = s->run, .token = token, .entry = wft_entry};
        duro_fcall_wft_complete(a, &s->k, &t, &commit);
        break;
    }
    default:
        cr_assert_fail("call %d", c);
    }
}

/* ---- The damage ---- */

typedef enum {
    TRUNC_STATE,      /* the state cut one byte short */
    TRUNC_SCHED,      /* the schedule cut inside its options */
    PAST_END_STATE,   /* the queue's length past the record's end */
    PAST_END_SCHED,   /* the name's length past the record's end */
    NOT_NUMBER_STATE, /* the queue's length "x" */
    NOT_NUMBER_SCHED, /* the options' length "2x" */
    ENTRY_GARBAGE,    /* the attempt's entry "garbage" */
    ENTRY_NOT_ID,     /* "1-2-3": digits, but no stream id (XACK fails) */
    ENTRY_LEASE,      /* "L1-x": a lease not of its shape */
    NDAMAGES
} damage_kind;

static const char *const DAMAGE_NAMES[NDAMAGES] = {
    "truncated state",
    "truncated schedule",
    "state length past its end",
    "schedule length past its end",
    "state length not a number",
    "schedule length not a number",
    "entry garbage",
    "entry 1-2-3",
    "entry L1-x"};

static bool is_sched(damage_kind d)
{
    return d == TRUNC_SCHED || d == PAST_END_SCHED || d == NOT_NUMBER_SCHED;
}

static bool is_entry(damage_kind d)
{
    return d == ENTRY_GARBAGE || d == ENTRY_NOT_ID || d == ENTRY_LEASE;
}

/* skipped: whether damage d is not one call c can show: the attempt's
 * entry of a completion (it acks its own entry, never the record's, and
 * its lean read leaves the entry unread: it answers, and its resolve drops
 * the record) or of a retry's fire (the state made to wait has entry "") */
static bool skipped(call_kind c, damage_kind d)
{
    if (is_sched(d)) return !reads_schedule(c);
    return is_entry(d) && (c == ACT_COMPLETE || c == FIRE_R);
}

/* set_length replaces header field `at` (0-based, before ';') of rec by v. */
static char *set_length(const char *rec, int at, const char *v)
{
    size_t n = strlen(rec) + strlen(v) + 1;
    char *out = malloc(n);
    const char *p = rec;
    for (int i = 0; i < at; i++) {
        p = strchr(p, ',');
        cr_assert(p, "record %s", rec);
        p++;
    }
    const char *end = p + strcspn(p, ",;");
    snprintf(out, n, "%.*s%s%s", (int)(p - rec), rec, v, end);
    return out;
}

static void damage(run *s, damage_kind d)
{
    const char *f = is_sched(d) ? "1.s" : "1";
    char *rec = field(s, f), *bad = NULL;
    switch (d) {
    case TRUNC_STATE: /* "<...>,<#queue>,0;<queue>": a byte of the queue */
        bad = strdup(rec);
        bad[strlen(bad) - 1] = '\0';
        break;
    case TRUNC_SCHED: /* "...;echo{}null": "echo{" */
        bad = strdup(rec);
        bad[strlen(bad) - strlen("}null")] = '\0';
        break;
    case PAST_END_STATE:
        bad = set_length(rec, 4, "999");
        break;
    case PAST_END_SCHED:
        bad = set_length(rec, 3, "999");
        break;
    case NOT_NUMBER_STATE:
        bad = set_length(rec, 4, "x");
        break;
    case NOT_NUMBER_SCHED:
        bad = set_length(rec, 4, "2x");
        break;
    case ENTRY_GARBAGE:
        bad = set_length(rec, 1, "garbage");
        break;
    case ENTRY_NOT_ID:
        bad = set_length(rec, 1, "1-2-3");
        break;
    case ENTRY_LEASE:
        bad = set_length(rec, 1, "L1-x");
        break;
    default:
        cr_assert_fail("damage %d", d);
    }
    duro_test_cmd_ok(s->r, "HSET", s->k.pa, f, bad, NULL);
    free(rec);
    free(bad);
}

/* failures: one line per case that went wrong (every case runs, so a
 * failure lists them all). */
static char failures[8192];

static void failed(const char *fmt, ...)
{
    size_t n = strlen(failures);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(failures + n, sizeof(failures) - n, fmt, ap);
    va_end(ap);
    n = strlen(failures);
    if (n + 1 < sizeof(failures)) strcat(failures, "\n");
}

/* call sends call c, expects it refused with DURO_CORRUPT naming the pa
 * hash and seq 1 when `damaged`, else answered; refused, the partition
 * must read as it did before. Returns whether it went so (else failed()). */
static bool call(run *s, call_kind c, const char *what, bool damaged)
{
    bool ok = true;
    char token[32] = "", wft_entry[64] = "";
    prepare(s, c, token, sizeof(token), wft_entry, sizeof(wft_entry));
    duro_argv a = {0}, cmds = {0};
    build(s, c, &a, &cmds, token, wft_entry);
    saved before, after;
    save(s->r, s->k.partition, &before);
    redisReply *rep = redisCommandArgv(s->r, a.argc, a.argv, a.lens);
    cr_assert(rep, "redis: %s", s->r->errstr);
    save(s->r, s->k.partition, &after);
    if (damaged) {
        char why[256];
        if (!same(&before, &after, why, sizeof(why))) {
            failed("%s, %s: wrote (%s)", CALL_NAMES[c], what, why);
            ok = false;
        }
        if (!(rep->type == REDIS_REPLY_ERROR &&
              !strncmp(rep->str, "DURO_CORRUPT ", 13) &&
              strstr(rep->str, s->k.pa) && strstr(rep->str, "of seq 1:"))) {
            failed("%s, %s: %s", CALL_NAMES[c], what,
                   rep->type == REDIS_REPLY_ERROR ? rep->str : "answered");
            ok = false;
        }
    } else if (rep->type == REDIS_REPLY_ERROR) {
        failed("%s, untouched: %s", CALL_NAMES[c], rep->str);
        ok = false;
    }
    freeReplyObject(rep);
    saved_free(&before);
    saved_free(&after);
    duro_argv_free(&a);
    duro_argv_free(&cmds);
    return ok;
}

/* Every call that reads a record, on every damage to it: refused whole;
 * on the records as written: answered. */
Test(pa_damaged, every_reader_refuses_a_damaged_record_whole)
{
    run s;
    run_init(&s, "pa-dmg");
    saved good;
    save(s.r, s.k.partition, &good);
    int cases = 0, bad = 0;
    for (int c = 0; c < NCALLS; c++) {
        for (int d = 0; d < NDAMAGES; d++) {
            if (skipped((call_kind)c, (damage_kind)d)) continue;
            put_back(s.r, s.k.partition, &good);
            damage(&s, (damage_kind)d);
            bad += !call(&s, (call_kind)c, DAMAGE_NAMES[d], true);
            cases++;
        }
        put_back(s.r, s.k.partition, &good);
        bad += !call(&s, (call_kind)c, "untouched", false);
        cases++;
    }
    put_back(s.r, s.k.partition, &good);
    saved_free(&good);
    cr_assert_eq(bad, 0, "%d of %d cases:\n%s", bad, cases, failures);
    duro_test_finish(&h);
}

/* A record of the layout before library 28 (thirteen fields) still
 * upgrades: a heartbeat on it answers, and leaves the two records. */
Test(pa_damaged, an_old_layout_record_still_upgrades)
{
    run s;
    run_init(&s, "pa-old");
    char *st = field(&s, "1");
    /* "1,<entry>,<deadline>,,<#queue>,0;<queue>" in the old fields */
    char entry[64], deadline[32];
    cr_assert_eq(sscanf(st, "1,%63[^,],%31[^,],", entry, deadline), 2, "%s",
                 st);
    const char *queue = strchr(st, ';') + 1;
    duro_test_cmd_ok(s.r, "HDEL", s.k.pa, "1", "1.s", NULL);
    const char *argv[] = {
        "HSET",      s.k.pa, "1.name",     "echo",   "1.queue",   queue,
        "1.input",   "null", "1.opts",     "{}",     "1.attempt", "1",
        "1.entry",   entry,  "1.stc",      "1000",   "1.hbt",     "0",
        "1.sched",   "1",    "1.deadline", deadline, "1.hb",      "",
        "1.details", "",     "1.failure",  ""};
    redisReply *rep =
        redisCommandArgv(s.r, sizeof(argv) / sizeof(argv[0]), argv, NULL);
    cr_assert(rep && rep->type == REDIS_REPLY_INTEGER);
    freeReplyObject(rep);
    cr_assert(call(&s, ACT_HEARTBEAT, "old layout", false), "%s", failures);
    char *now = field(&s, "1"), *sc = field(&s, "1.s");
    cr_assert(strstr(now, queue) && strstr(sc, "echo{}null"), "%s / %s", now,
              sc);
    rep = duro_test_cmd(s.r, "HEXISTS", s.k.pa, "1.attempt", NULL);
    cr_assert_eq(rep->integer, 0);
    freeReplyObject(rep);
    free(now);
    free(sc);
    free(st);
    duro_test_finish(&h);
}

/* A completion reads the state's lean part (attempt, deadline, queue):
 * its schedule-to-close timer, named by the queue, goes with it, and both
 * records go when the call ends. */
Test(pa_damaged, a_completion_removes_the_timer_its_queue_names)
{
    run s;
    run_init(&s, "pa-lean");
    redisReply *rep =
        duro_test_cmd(s.r, "ZSCORE", s.k.timers, s.s_member, NULL);
    cr_assert_eq(rep->type, REDIS_REPLY_STRING, "no s timer %s", s.s_member);
    freeReplyObject(rep);
    cr_assert(call(&s, ACT_COMPLETE, "untouched", false), "%s", failures);
    rep = duro_test_cmd(s.r, "ZSCORE", s.k.timers, s.s_member, NULL);
    cr_assert_eq(rep->type, REDIS_REPLY_NIL, "s timer left");
    freeReplyObject(rep);
    rep = duro_test_cmd(s.r, "HLEN", s.k.pa, NULL);
    cr_assert_eq(rep->integer, 0);
    freeReplyObject(rep);
    duro_test_finish(&h);
}

/* A completion whose own entry is no stream id (a damaged task token, or
 * the record's entry read by `duro activity complete`) is refused whole
 * with DURO_BADARG naming the entry and the stream: XACK's own error names
 * neither. Its real entry then completes it. */
Test(pa_damaged, a_completion_of_an_entry_not_a_stream_id_is_refused)
{
    run s;
    run_init(&s, "pa-ent");
    duro_fcall_attempt at = {
        .run = s.run, .seq = "1", .attempt = 1, .entry = "garbage"};
    duro_fcall_act_result done = {.data = "{\"seq\":1}", .retry_delay_ms = -1};
    saved before, after;
    save(s.r, s.k.partition, &before);
    duro_argv a = {0};
    duro_fcall_act_complete(&a, &s.k, &at, &done, 0, NULL);
    redisReply *rep = redisCommandArgv(s.r, a.argc, a.argv, a.lens);
    duro_argv_free(&a);
    save(s.r, s.k.partition, &after);
    char why[256] = "";
    cr_assert(same(&before, &after, why, sizeof(why)), "wrote (%s)", why);
    cr_assert(rep && rep->type == REDIS_REPLY_ERROR &&
                  !strncmp(rep->str, "DURO_BADARG entry garbage of ", 29) &&
                  strstr(rep->str, s.k.act),
              "answered %s", rep && rep->str ? rep->str : "?");
    freeReplyObject(rep);
    at.entry = s.act_entry;
    duro_fcall_act_complete(&a, &s.k, &at, &done, 0, NULL);
    rep = redisCommandArgv(s.r, a.argc, a.argv, a.lens);
    duro_argv_free(&a);
    cr_assert(rep && rep->type != REDIS_REPLY_ERROR, "%s",
              rep && rep->str ? rep->str : "?");
    freeReplyObject(rep);
    saved_free(&before);
    saved_free(&after);
    duro_test_finish(&h);
}
