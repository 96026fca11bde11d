/* test_lease_plan_mixed.c: a commit whose activities go different ways in
 * one call (library 44's LEASE.plan decides them in the check phase,
 * LEASE.take follows it): leased, to the stream for want of a deadline,
 * by a fairness key, to a queue the worker does not serve, and past the
 * request's count. What the plan decides and what the call writes must
 * agree: each leased activity has its l timer and a lease in the reply and
 * no stream entry; each other one has its stream entry, and its stream is
 * probed (made a string by hand, it refuses the commit before its first
 * write). Also the eligible KEYS indexes spelled otherwise than the
 * command's ("09" for 9), and every probe's wrong type (string, list,
 * set, zset, hash, stream) for each type a commit probes; the mixed
 * commit again with the library's Cluster copy. DURO_TEST_LUA loads
 * another duro.lua (harness_lua.h). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/fcall.h"
#include "harness_lua.h"
#include "harness_task.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(lease_plan_mixed, .init = setup, .fini = duro_test_fini,
          .timeout = 120);

/* ---- A commit by hand ---- */

/* plan: a commit's activity commands (10 words each, at most 8), its
 * second activity stream (KEYS[10]) and its eager tail */
typedef struct {
    const char *w[80];
    char seq[8][16], data[8][32];
    int n;
    char b[sizeof(((duro_wf_keys *)0)->act) + 8]; /* KEYS[10] */
    const char *count;                            /* "L2": leases asked */
    const char *index[2]; /* the eligible KEYS indexes (NULL: fewer) */
} plan;

/* add: activity seq on KEYS index key, options opts, start-to-close stc
 * (heartbeat and schedule-to-close none) */
static void add(plan *p, int seq, const char *key, const char *opts,
                const char *stc)
{
    size_t j = (size_t)p->n++;
    snprintf(p->seq[j], sizeof(p->seq[j]), "%d", seq);
    snprintf(p->data[j], sizeof(p->data[j]), "{\"seq\":%d}", seq);
    const char *f[] = {"activity", p->seq[j], p->data[j], key, "echo",
                       "null",     opts,      stc,        "0", "0"};
    memcpy(&p->w[j * 10U], f, sizeof(f));
}

static void plan_init(plan *p, const duro_test_task *t)
{
    memset(p, 0, sizeof(*p));
    snprintf(p->b, sizeof(p->b), "%s-b", t->k.act);
    p->count = "L2";
    p->index[0] = "9";
}

/* commit: FCALL duro_wft_complete of t's claimed task with p (the reply,
 * not NULL; the caller frees it) */
static redisReply *commit(duro_test_task *t, const plan *p)
{
    const char *argv[140];
    char nk[8], ncmd[8];
    int n = 0;
    snprintf(nk, sizeof(nk), "%d", 10);
    snprintf(ncmd, sizeof(ncmd), "%d", p->n);
    const char *head[] = {"FCALL",
                          "duro_wft_complete",
                          nk,
                          t->k.wf,
                          t->k.hist,
                          t->k.buf,
                          t->k.wft,
                          t->k.timers,
                          t->k.pa,
                          t->k.idx_open,
                          t->k.idx_closed,
                          t->k.act,
                          p->b,
                          t->run,
                          t->token,
                          t->entry,
                          "{}",
                          ncmd};
    for (size_t i = 0; i < sizeof(head) / sizeof(head[0]); i++)
        argv[n++] = head[i];
    for (int i = 0; i < p->n * 10; i++)
        argv[n++] = p->w[i];
    argv[n++] = "";  /* no sticky worker */
    argv[n++] = "0"; /* sticky_ms */
    argv[n++] = "w1";
    argv[n++] = p->count;
    for (int i = 0; i < 2 && p->index[i]; i++)
        argv[n++] = p->index[i];
    redisReply *rep = redisCommandArgv(t->r, n, argv, NULL);
    cr_assert(rep, "redis: %s", t->r->errstr);
    return rep;
}

/* ---- What a commit wrote ---- */

/* leases: the seqs of the leases in reply rep (flat: last, hlen, then per
 * stream `stream, count`, then per entry `id, {field, value...}`), as a
 * text ",1,5," */
static void leases(const redisReply *rep, char *out, size_t size)
{
    snprintf(out, size, ",");
    for (size_t i = 2; i + 1 < rep->elements;) {
        long long cnt = rep->element[i + 1]->integer;
        i += 2;
        for (long long e = 0; e < cnt && i + 1 < rep->elements; e++, i += 2) {
            const redisReply *id = rep->element[i], *f = rep->element[i + 1];
            if (id->type != REDIS_REPLY_STRING || id->str[0] != 'L') continue;
            for (size_t j = 0; j + 1 < f->elements; j += 2)
                if (strcmp(f->element[j]->str, "seq") == 0) {
                    size_t l = strlen(out);
                    snprintf(out + l, size - l, "%s,", f->element[j + 1]->str);
                }
        }
    }
}

/* seqs: the seqs of stream key's entries, in order, as ",2,6," */
static void seqs(duro_test_task *t, const char *key, char *out, size_t size)
{
    snprintf(out, size, ",");
    redisReply *rep = duro_test_cmd(t->r, "XRANGE", key, "-", "+", NULL);
    if (rep->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < rep->elements; i++) {
            const redisReply *f = rep->element[i]->element[1];
            for (size_t j = 0; j + 1 < f->elements; j += 2)
                if (strcmp(f->element[j]->str, "seq") == 0) {
                    size_t l = strlen(out);
                    snprintf(out + l, size - l, "%s,", f->element[j + 1]->str);
                }
        }
    freeReplyObject(rep);
}

/* l_timers: the seqs of t's run's l timers, ascending, as ",1,5," */
static void l_timers(duro_test_task *t, char *out, size_t size)
{
    snprintf(out, size, ",");
    redisReply *rep =
        duro_test_cmd(t->r, "ZRANGE", t->k.timers, "0", "-1", NULL);
    char prefix[128];
    snprintf(prefix, sizeof(prefix), "l|%s|", t->run);
    for (int seq = 1; seq <= 9; seq++)
        for (size_t i = 0; i < rep->elements; i++) {
            const char *m = rep->element[i]->str;
            size_t pl = strlen(prefix);
            if (strncmp(m, prefix, pl) == 0 &&
                strtol(m + pl, NULL, 10) == seq) {
                size_t l = strlen(out);
                snprintf(out + l, size - l, "%d,", seq);
            }
        }
    freeReplyObject(rep);
}

/* dump_all: t's partition (duro_test_partition_dump) */
static char *dump_all(duro_test_task *t)
{
    return duro_test_partition_dump(t->r, t->p);
}

/* ---- Keys of a wrong type ---- */

/* TYPES: each type a key can be made, and a command that makes it */
static const char *const TYPES[] = {"string", "list", "set",
                                    "zset",   "hash", "stream"};

static void make(duro_test_task *t, const char *key, const char *type)
{
    duro_test_cmd_ok(t->r, "DEL", key, NULL);
    if (strcmp(type, "string") == 0)
        duro_test_cmd_ok(t->r, "SET", key, "x", NULL);
    else if (strcmp(type, "list") == 0)
        duro_test_cmd_ok(t->r, "RPUSH", key, "x", NULL);
    else if (strcmp(type, "set") == 0)
        duro_test_cmd_ok(t->r, "SADD", key, "x", NULL);
    else if (strcmp(type, "zset") == 0)
        duro_test_cmd_ok(t->r, "ZADD", key, "1", "x", NULL);
    else if (strcmp(type, "hash") == 0)
        duro_test_cmd_ok(t->r, "HSET", key, "x", "1", NULL);
    else
        duro_test_cmd_ok(t->r, "XADD", key, "*", "x", "1", NULL);
}

/* saved: what key held (DUMP; NULL when absent), to put back */
static redisReply *save(duro_test_task *t, const char *key)
{
    return duro_test_cmd(t->r, "DUMP", key, NULL);
}

static void put_back(duro_test_task *t, const char *key, redisReply *saved)
{
    duro_test_cmd_ok(t->r, "DEL", key, NULL);
    if (saved->type == REDIS_REPLY_STRING) {
        const char *argv[] = {"RESTORE", key, "0", saved->str};
        size_t lens[] = {7, strlen(key), 1, saved->len};
        redisReply *rep = redisCommandArgv(t->r, 4, argv, lens);
        cr_assert(rep && rep->type == REDIS_REPLY_STATUS, "RESTORE %s", key);
        freeReplyObject(rep);
    }
}

/* refused_as: with key of `type`, the commit of p is refused with
 * DURO_WRONGTYPE naming key, type and want, and writes nothing */
static void refused_as(duro_test_task *t, const plan *p, const char *key,
                       const char *type, const char *want)
{
    redisReply *saved = save(t, key);
    make(t, key, type);
    char *before = dump_all(t);
    redisReply *rep = commit(t, p);
    char msg[1024];
    snprintf(msg, sizeof(msg), "DURO_WRONGTYPE %s is a %s, expected %s", key,
             type, want);
    cr_assert(rep->type == REDIS_REPLY_ERROR && strcmp(rep->str, msg) == 0,
              "%s a %s: %s, not %s", key, type,
              rep->type == REDIS_REPLY_ERROR ? rep->str : "accepted", msg);
    freeReplyObject(rep);
    char *after = dump_all(t);
    cr_assert_str_eq(after, before, "%s a %s: the refused commit wrote", key,
                     type);
    free(before);
    free(after);
    put_back(t, key, saved);
    freeReplyObject(saved);
}

/* task: workflow id started, its first task claimed, the library under
 * test loaded (DURO_TEST_LUA's when set) */
static void task(duro_test_task *t, const char *id)
{
    duro_test_task_init(&h, t, id);
    duro_test_lua_load(t->r, false);
}

/* task_sharded: as task, the library's Cluster copy loaded (SHARDED_WAKE:
 * each task added also SPUBLISHes, which one node runs too) */
static void task_sharded(duro_test_task *t, const char *id)
{
    duro_test_task_init(&h, t, id);
    duro_test_lua_load(t->r, true);
}

/* mixed: the six ways of one commit (p), two leases asked on KEYS[9]:
 * 1 leased; 2 no deadline; 3 a fairness key; 4 on KEYS[10], not eligible;
 * 5 leased; 6 past the request's two */
static void mixed(plan *p)
{
    add(p, 1, "9", "{}", "600000");
    add(p, 2, "9", "{}", "0");
    add(p, 3, "9", "{\"fairnessKey\":\"k\"}", "600000");
    add(p, 4, "10", "{}", "600000");
    add(p, 5, "9", "{}", "600000");
    add(p, 6, "9", "{}", "600000");
}

/* mixed_commit: workflow id's commit of mixed() (library loaded by
 * load): the plan's two leases are the reply's and the l timers', the
 * four others are in their streams; each stream a non-leased activity is
 * written to, made any other type, refuses the commit whole before its
 * first write. */
static void mixed_commit(const char *id,
                         void (*load)(duro_test_task *, const char *))
{
    duro_test_task t;
    load(&t, id);
    plan p;
    plan_init(&p, &t);
    mixed(&p);
    for (size_t i = 0; i < sizeof(TYPES) / sizeof(TYPES[0]); i++) {
        if (strcmp(TYPES[i], "stream") == 0) continue;
        refused_as(&t, &p, t.k.act, TYPES[i], "stream");
        refused_as(&t, &p, p.b, TYPES[i], "stream");
    }
    redisReply *rep = commit(&t, &p);
    cr_assert_eq(rep->type, REDIS_REPLY_ARRAY, "commit: %s",
                 rep->type == REDIS_REPLY_ERROR ? rep->str : "?");
    char got[128];
    leases(rep, got, sizeof(got));
    cr_assert_str_eq(got, ",1,5,", "the reply's leases: %s", got);
    freeReplyObject(rep);
    l_timers(&t, got, sizeof(got));
    cr_assert_str_eq(got, ",1,5,", "l timers of seqs %s", got);
    seqs(&t, t.k.act, got, sizeof(got));
    cr_assert_str_eq(got, ",2,6,", "%s holds %s", t.k.act, got);
    seqs(&t, p.b, got, sizeof(got));
    cr_assert_str_eq(got, ",4,", "%s holds %s", p.b, got);
    char fair[sizeof(t.k.act) + 8];
    snprintf(fair, sizeof(fair), "%s~k", t.k.act);
    seqs(&t, fair, got, sizeof(got));
    cr_assert_str_eq(got, ",3,", "%s holds %s", fair, got);
    duro_test_task_free(&t);
}

/* One commit's six activities go where the plan says. */
Test(lease_plan_mixed, each_activity_goes_where_the_plan_says)
{
    mixed_commit("lpm-mixed", task);
    duro_test_finish(&h);
}

/* The Cluster copy of the library (duro_lua_library_source's, with
 * SHARDED_WAKE) plans, probes and writes the same. */
Test(lease_plan_mixed, the_cluster_copy_plans_alike)
{
    mixed_commit("lpm-sharded", task_sharded);
    duro_test_finish(&h);
}

/* A commit whose activities the plan leases all (on KEYS[9]) writes no
 * stream entry: KEYS[9] a string by hand does not refuse it, and stays
 * one; KEYS[10], named by none, is not probed either. */
Test(lease_plan_mixed, all_leased_writes_no_stream)
{
    duro_test_task t;
    task(&t, "lpm-all");
    plan p;
    plan_init(&p, &t);
    add(&p, 1, "9", "{}", "600000");
    duro_test_cmd_ok(t.r, "SET", t.k.act, "x", NULL);
    duro_test_cmd_ok(t.r, "SET", p.b, "x", NULL);
    redisReply *rep = commit(&t, &p);
    cr_assert_eq(rep->type, REDIS_REPLY_ARRAY, "commit: %s",
                 rep->type == REDIS_REPLY_ERROR ? rep->str : "?");
    char got[128];
    leases(rep, got, sizeof(got));
    cr_assert_str_eq(got, ",1,", "the reply's leases: %s", got);
    freeReplyObject(rep);
    l_timers(&t, got, sizeof(got));
    cr_assert_str_eq(got, ",1,");
    rep = duro_test_cmd(t.r, "TYPE", t.k.act, NULL);
    cr_assert_str_eq(rep->str, "string");
    freeReplyObject(rep);
    duro_test_task_free(&t);
    duro_test_finish(&h);
}

/* agree: after a commit of activity 1 (on KEYS[9]) that asked a lease,
 * either it is leased (a lease in the reply, its l timer, no entry) or it
 * went to the stream (its entry, no l timer, no lease); returns whether
 * leased */
static bool agree(duro_test_task *t, const redisReply *rep)
{
    char got[128], timers[128], entries[128];
    leases(rep, got, sizeof(got));
    l_timers(t, timers, sizeof(timers));
    seqs(t, t->k.act, entries, sizeof(entries));
    bool leased = strcmp(got, ",1,") == 0;
    if (leased) {
        cr_assert_str_eq(timers, ",1,", "leased, its l timers: %s", timers);
        cr_assert_str_eq(entries, ",", "leased, its entries: %s", entries);
    } else {
        cr_assert_str_eq(got, ",", "the reply's leases: %s", got);
        cr_assert_str_eq(timers, ",", "not leased, l timers: %s", timers);
        cr_assert_str_eq(entries, ",1,", "not leased, entries: %s", entries);
    }
    return leased;
}

/* spelled: activity 1 on KEYS index `key`, the commit naming `listed` as
 * eligible: with the stream a string, the commit is refused whole if and
 * only if the activity then goes to the stream; put back, it is accepted
 * and the plan and the writes agree */
static void spelled(const char *id, const char *key, const char *listed)
{
    duro_test_task t;
    task(&t, id);
    plan p;
    plan_init(&p, &t);
    p.count = "L1";
    p.index[0] = listed;
    add(&p, 1, key, "{}", "600000");
    duro_test_cmd_ok(t.r, "SET", t.k.act, "x", NULL);
    char *before = dump_all(&t);
    redisReply *refused = commit(&t, &p);
    char *after = dump_all(&t);
    duro_test_cmd_ok(t.r, "DEL", t.k.act, NULL);
    freeReplyObject(redisCommand(t.r, "XGROUP CREATE %s %s 0 MKSTREAM", t.k.act,
                                 DURO_GROUP));
    bool stream_refused = refused->type == REDIS_REPLY_ERROR;
    if (stream_refused) {
        cr_assert(strstr(refused->str, "DURO_WRONGTYPE"), "%s", refused->str);
        cr_assert_str_eq(after, before, "the refused commit wrote");
        redisReply *rep = commit(&t, &p);
        cr_assert_eq(rep->type, REDIS_REPLY_ARRAY, "commit: %s",
                     rep->type == REDIS_REPLY_ERROR ? rep->str : "?");
        cr_assert(!agree(&t, rep), "%s/%s: refused for its stream, leased", key,
                  listed);
        freeReplyObject(rep);
    } else {
        cr_assert_eq(refused->type, REDIS_REPLY_ARRAY);
        cr_assert(agree(&t, refused), "%s/%s: not leased, stream unprobed", key,
                  listed);
    }
    freeReplyObject(refused);
    free(before);
    free(after);
    duro_test_task_free(&t);
}

/* The eligible index spelled otherwise than the command's KEYS index
 * ("09" and "9"): whichever way the library takes it, the plan, the
 * probe and the writes agree. */
Test(lease_plan_mixed, an_index_spelled_otherwise_agrees)
{
    spelled("lpm-sp1", "9", "09");
    spelled("lpm-sp2", "09", "9");
    spelled("lpm-sp3", "9", "9");
    duro_test_finish(&h);
}

/* Every type a commit probes (pa a hash, timers a zset, the buffer a
 * list, an activity stream a stream), made each other type: the commit is
 * refused naming the key, its type and the type wanted, and writes
 * nothing. An empty stream with its group (XLEN 0) is no refusal. */
Test(lease_plan_mixed, each_wrong_type_is_named_before_any_write)
{
    duro_test_task t;
    task(&t, "lpm-types");
    /* a signal while the task is out: the buffer holds it (bufn 1) */
    duro_argv a;
    duro_fcall_signal(&a, &t.k, t.run, "{\"name\":\"s\"}");
    redisReply *rep = redisCommandArgv(t.r, a.argc, a.argv, a.lens);
    duro_argv_free(&a);
    cr_assert(rep && rep->type != REDIS_REPLY_ERROR, "signal: %s",
              rep ? rep->str : t.r->errstr);
    freeReplyObject(rep);
    char *bufn = duro_test_hget(t.r, t.k.wf, "bufn");
    cr_assert_str_eq(bufn, "1");
    free(bufn);
    plan p;
    plan_init(&p, &t);
    p.count = "L1";
    add(&p, 1, "9", "{}", "600000");
    add(&p, 2, "10", "{}", "600000");
    freeReplyObject(
        redisCommand(t.r, "XGROUP CREATE %s %s 0 MKSTREAM", p.b, DURO_GROUP));
    const struct {
        const char *key, *want;
    } probed[] = {{t.k.pa, "hash"},
                  {t.k.timers, "zset"},
                  {t.k.buf, "list"},
                  {p.b, "stream"}};
    for (size_t k = 0; k < sizeof(probed) / sizeof(probed[0]); k++)
        for (size_t i = 0; i < sizeof(TYPES) / sizeof(TYPES[0]); i++)
            if (strcmp(TYPES[i], probed[k].want) != 0)
                refused_as(&t, &p, probed[k].key, TYPES[i], probed[k].want);
    rep = duro_test_cmd(t.r, "XLEN", p.b, NULL);
    cr_assert_eq(rep->integer, 0, "%s not empty", p.b);
    freeReplyObject(rep);
    rep = commit(&t, &p);
    cr_assert_eq(rep->type, REDIS_REPLY_ARRAY, "commit: %s",
                 rep->type == REDIS_REPLY_ERROR ? rep->str : "?");
    freeReplyObject(rep);
    char got[128];
    seqs(&t, p.b, got, sizeof(got));
    cr_assert_str_eq(got, ",2,", "%s holds %s", p.b, got);
    duro_test_task_free(&t);
    duro_test_finish(&h);
}

/* An activity with a fairness key goes to its key's stream beside its
 * queue's (`<stream>~<key>`) and writes the queue's fair keys (the ready
 * zset `<stream>~`, the hash `<stream>~~`, the partition's fair set); one
 * with a priority goes to its level's stream (`<stream>!1`). Each made
 * another type by hand refuses the commit before its first write, naming
 * it (library 45: Redis's WRONGTYPE at the XADD or SADD, the task acked
 * and the history written). */
Test(lease_plan_mixed, fair_and_level_keys_are_probed)
{
    duro_test_task t;
    task(&t, "lpm-fair");
    plan p;
    plan_init(&p, &t);
    p.count = "L1";
    p.index[0] = "10"; /* none of these on KEYS[9] is leased */
    add(&p, 1, "9", "{\"fairnessKey\":\"k\"}", "600000");
    add(&p, 2, "9", "{\"priority\":1}", "600000");
    char fair[sizeof(t.k.act) + 8], ready[sizeof(t.k.act) + 8],
        meta[sizeof(t.k.act) + 8], set[sizeof(t.k.act) + 8],
        level[sizeof(t.k.act) + 8];
    snprintf(fair, sizeof(fair), "%s~k", t.k.act);
    snprintf(ready, sizeof(ready), "%s~", t.k.act);
    snprintf(meta, sizeof(meta), "%s~~", t.k.act);
    snprintf(set, sizeof(set), "duro:{p%d}:fair:%s", t.p, t.id);
    snprintf(level, sizeof(level), "%s!1", t.k.act);
    const struct {
        const char *key, *want;
    } keys[] = {{fair, "stream"},
                {ready, "zset"},
                {meta, "hash"},
                {set, "set"},
                {level, "stream"}};
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
        for (size_t i = 0; i < sizeof(TYPES) / sizeof(TYPES[0]); i++)
            if (strcmp(TYPES[i], keys[k].want) != 0)
                refused_as(&t, &p, keys[k].key, TYPES[i], keys[k].want);
    redisReply *rep = commit(&t, &p);
    cr_assert_eq(rep->type, REDIS_REPLY_ARRAY, "commit: %s",
                 rep->type == REDIS_REPLY_ERROR ? rep->str : "?");
    freeReplyObject(rep);
    char got[128];
    seqs(&t, fair, got, sizeof(got));
    cr_assert_str_eq(got, ",1,", "%s holds %s", fair, got);
    seqs(&t, level, got, sizeof(got));
    cr_assert_str_eq(got, ",2,", "%s holds %s", level, got);
    rep = duro_test_cmd(t.r, "SISMEMBER", set, fair, NULL);
    cr_assert_eq(rep->integer, 1, "%s not in %s", fair, set);
    freeReplyObject(rep);
    duro_test_task_free(&t);
    duro_test_finish(&h);
}
