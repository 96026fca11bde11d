/* test_chaos_mix.c: scripts/chaos's mix of continue-as-new counters and
 * parents with children, runs and activities with priorities and fairness
 * keys, updates, signal-with-start and cancellation
 * (examples/chaos/chaos_plan.h). chaos-check must pass a clean run of it,
 * and must fail once a task was left in a fair stream, a fair key still
 * counts a task, the schedule the drive runs marked a nominal time
 * handled that started no workflow, a run lost its priority, an update id
 * was accepted twice, a signal was delivered twice, a canceled run left a
 * timer behind, a step was applied twice (a second idempotency key for one
 * counter step, as a re-run step or a duplicated run would leave) or a
 * child did not complete. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/keys.h"
#include "harness.h"
#include "../../examples/chaos/chaos_plan.h"

/* SEED and WORKFLOWS: a run with counters that continue as new, a parent
 * whose children include a chain, and chaos-ops workflows of each mode
 * (asserted below). */
#define SEED 12
#define WORKFLOWS 30

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

static void teardown(void)
{
    duro_test_fini();
}

TestSuite(chaos_mix, .init = setup, .fini = teardown, .timeout = 180);

/* chaos_check runs chaos-check <command> over the run and returns its exit
 * code; its stdout in line (the summary of check). */
static int chaos_check(const char *command, const char *opt, const char *val,
                       char *line, size_t size)
{
    duro_test_output o;
    char n[16], seed[16];
    snprintf(n, sizeof(n), "%d", WORKFLOWS);
    snprintf(seed, sizeof(seed), "%d", SEED);
    duro_test_run(&h, &o, 120000, "chaos-check", command, "--workflows", n,
                  "--seed", seed, opt, val, NULL);
    if (line) snprintf(line, size, "%s", o.out ? o.out : "");
    cr_log_info("chaos-check %s: exit %d\n%s%s", command, o.exit_code,
                o.out ? o.out : "", o.err ? o.err : "");
    int rc = o.exit_code;
    duro_test_output_free(&o);
    return rc;
}

/* first_of: the first workflow of kind in the run whose plan passes ok
 * (NULL: any), -1 when none. */
static int first_of(chaos_kind kind, bool (*ok)(uint32_t seed))
{
    for (int i = 0; i < WORKFLOWS; i++) {
        uint32_t seed = chaos_seed_of(SEED, i);
        if (chaos_kind_of(seed) == kind && (!ok || ok(seed))) return i;
    }
    return -1;
}

static bool is_chain(uint32_t seed)
{
    chaos_counter c;
    chaos_counter_make(seed, &c);
    return c.runs > 1;
}

static bool has_chain_child(uint32_t seed)
{
    chaos_parent p;
    chaos_parent_make(seed, &p);
    for (int j = 0; j < p.n; j++)
        if (p.child[j].runs > 1) return true;
    return false;
}

/* check_leftover: chaos-check check fails on one leftover and nothing
 * else. */
static void check_leftover(const char *what)
{
    char line[1024];
    int rc = chaos_check("check", "--settle", "5s", line, sizeof(line));
    cr_assert_neq(rc, 0, "%s: %s", what, line);
    cr_assert(strstr(line, "lost=0 duplicated=0 ") &&
                  strstr(line, " leftovers=1 "),
              "%s: %s", what, line);
}

/* fair_leftovers: a task left in a fair stream, then a fair key still
 * counted as waiting in its stream's meta hash, each fail the check. */
static void fair_leftovers(redisContext *r)
{
    redisReply *rep = redisCommand(r, "SCAN 0 MATCH duro:{p*}:*:chaos~t* "
                                      "TYPE stream COUNT 100000");
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2);
    cr_assert(rep->element[1]->elements > 0, "no fair stream");
    char stream[256];
    snprintf(stream, sizeof(stream), "%s", rep->element[1]->element[0]->str);
    freeReplyObject(rep);
    rep = redisCommand(r, "XADD %s * id left run over", stream);
    cr_assert(rep && rep->type == REDIS_REPLY_STRING);
    char entry[64];
    snprintf(entry, sizeof(entry), "%s", rep->str);
    freeReplyObject(rep);
    check_leftover("an entry in a fair stream");
    /* taken, acked and deleted as a worker would (a bare XDEL would leave
     * the group's lag unknown) */
    rep = redisCommand(r, "XREADGROUP GROUP duro test COUNT 1 STREAMS %s >",
                       stream);
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY);
    freeReplyObject(rep);
    rep = redisCommand(r, "XACK %s duro %s", stream, entry);
    cr_assert(rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 1);
    freeReplyObject(rep);
    rep = redisCommand(r, "XDEL %s %s", stream, entry);
    cr_assert(rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 1);
    freeReplyObject(rep);

    /* "<S>~K" -> "<S>~~": its key counted one task more than it holds */
    const char *key = strrchr(stream, '~') + 1;
    char meta[256];
    snprintf(meta, sizeof(meta), "%.*s~", (int)(key - stream), stream);
    rep = redisCommand(r, "HSET %s n:%s 1", meta, key);
    cr_assert(rep && rep->type == REDIS_REPLY_INTEGER);
    freeReplyObject(rep);
    check_leftover("a fair key counted waiting");
    rep = redisCommand(r, "HDEL %s n:%s", meta, key);
    cr_assert(rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 1);
    freeReplyObject(rep);
}

/* schedule_gap: the schedule marked one more nominal time handled than it
 * started a workflow for fails the check (lost=1), whatever times the
 * drive left it. */
static void schedule_gap(redisContext *r)
{
    char id[64];
    chaos_schedule_id(id, sizeof(id), SEED);
    redisReply *rep = redisCommand(r, "HGET %s partitions", DURO_META_KEY);
    cr_assert(rep && rep->type == REDIS_REPLY_STRING);
    int partitions = (int)strtol(rep->str, NULL, 10);
    freeReplyObject(rep);
    duro_sched_keys sk;
    duro_sched_keys_init(&sk, DURO_KEYSPACE_DEFAULT(partitions), id);
    rep = redisCommand(r, "HMGET %s created_ms next_nominal", sk.sched);
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
                  rep->element[0]->type == REDIS_REPLY_STRING &&
                  rep->element[1]->type == REDIS_REPLY_STRING,
              "no schedule %s", sk.sched);
    long long step = CHAOS_SCHED_INTERVAL_MS;
    long long first = (strtoll(rep->element[0]->str, NULL, 10) / step + 2) *
                      step; /* the first time chaos-check checks */
    long long next = strtoll(rep->element[1]->str, NULL, 10);
    char was[32];
    snprintf(was, sizeof(was), "%s", rep->element[1]->str);
    freeReplyObject(rep);
    rep = redisCommand(r, "HSET %s next_nominal %lld", sk.sched,
                       (next > first ? next : first) + step);
    cr_assert(rep && rep->type == REDIS_REPLY_INTEGER);
    freeReplyObject(rep);
    char line[1024];
    int rc = chaos_check("check", "--settle", "5s", line, sizeof(line));
    cr_assert_neq(rc, 0, "%s", line);
    cr_assert(strstr(line, "lost=1 duplicated=0 ") &&
                  strstr(line, " leftovers=0 "),
              "%s", line);
    rep = redisCommand(r, "HSET %s next_nominal %s", sk.sched, was);
    cr_assert(rep && rep->type == REDIS_REPLY_INTEGER);
    freeReplyObject(rep);
}

/* lost_priority: a workflow whose hash lost the priority it was started
 * with fails the check (malformed=1). */
static void lost_priority(redisContext *r)
{
    int i = 0;
    while (i < WORKFLOWS && chaos_flow_of(chaos_seed_of(SEED, i)).priority < 4)
        i++; /* 4 or 5: written in the hash (3 is not) */
    cr_assert(i < WORKFLOWS, "seed %d starts no workflow at priority 4-5",
              SEED);
    char id[64];
    chaos_workflow_id(id, sizeof(id), SEED, i);
    redisReply *rep = redisCommand(r, "HGET %s partitions", DURO_META_KEY);
    cr_assert(rep && rep->type == REDIS_REPLY_STRING);
    int partitions = (int)strtol(rep->str, NULL, 10);
    freeReplyObject(rep);
    duro_wf_keys wk;
    duro_wf_keys_init(&wk, DURO_KEYSPACE_DEFAULT(partitions), id, NULL);
    rep = redisCommand(r, "HGET %s priority", wk.wf);
    cr_assert(rep && rep->type == REDIS_REPLY_STRING, "%s: no priority", id);
    char was[16];
    snprintf(was, sizeof(was), "%s", rep->str);
    freeReplyObject(rep);
    rep = redisCommand(r, "HDEL %s priority", wk.wf);
    cr_assert(rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 1);
    freeReplyObject(rep);
    char line[1024];
    int rc = chaos_check("check", "--settle", "5s", line, sizeof(line));
    cr_assert_neq(rc, 0, "%s", line);
    cr_assert(strstr(line, "lost=0 duplicated=0 ") &&
                  strstr(line, " malformed=1 "),
              "%s", line);
    rep = redisCommand(r, "HSET %s priority %s", wk.wf, was);
    cr_assert(rep && rep->type == REDIS_REPLY_INTEGER);
    freeReplyObject(rep);
}

static int partitions_of(redisContext *r)
{
    redisReply *rep = redisCommand(r, "HGET %s partitions", DURO_META_KEY);
    cr_assert(rep && rep->type == REDIS_REPLY_STRING);
    int partitions = (int)strtol(rep->str, NULL, 10);
    freeReplyObject(rep);
    return partitions;
}

/* current_keys: the keys of workflow i's current run, its id in run. */
static void current_keys(redisContext *r, int i, duro_wf_keys *wk, char *run,
                         size_t size)
{
    char id[64];
    chaos_workflow_id(id, sizeof(id), SEED, i);
    int partitions = partitions_of(r);
    duro_wf_keys_init(wk, DURO_KEYSPACE_DEFAULT(partitions), id, NULL);
    redisReply *rep = redisCommand(r, "HGET %s run", wk->wf);
    cr_assert(rep && rep->type == REDIS_REPLY_STRING, "%s: no run", id);
    snprintf(run, size, "%s", rep->str);
    duro_wf_keys_init(wk, DURO_KEYSPACE_DEFAULT(partitions), id, rep->str);
    freeReplyObject(rep);
}

/* hist_swap rewrites the first event of workflow i's history that holds
 * `from` (replaced by `to`, as long), runs the check, which must fail with
 * `want` in its summary, and restores the event. */
static void hist_swap(redisContext *r, int i, const char *from, const char *to,
                      const char *want)
{
    duro_wf_keys wk;
    char run[64];
    current_keys(r, i, &wk, run, sizeof(run));
    redisReply *rep = redisCommand(r, "LRANGE %s 0 -1", wk.hist);
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY);
    size_t at = 0;
    while (at < rep->elements && !strstr(rep->element[at]->str, from))
        at++;
    cr_assert(at < rep->elements, "%s: no event holds %s", wk.hist, from);
    char *was = strdup(rep->element[at]->str);
    freeReplyObject(rep);
    char *now = strdup(was);
    char *in = strstr(now, from);
    for (size_t c = 0; to[c]; c++)
        in[c] = to[c];
    rep = redisCommand(r, "LSET %s %d %s", wk.hist, (int)at, now);
    cr_assert(rep && rep->type == REDIS_REPLY_STATUS, "LSET %s: %s", wk.hist,
              rep ? rep->str : r->errstr);
    freeReplyObject(rep);
    char line[1024];
    int rc = chaos_check("check", "--settle", "5s", line, sizeof(line));
    cr_assert_neq(rc, 0, "%s -> %s: %s", from, to, line);
    cr_assert(strstr(line, want), "%s -> %s: %s", from, to, line);
    rep = redisCommand(r, "LSET %s %d %s", wk.hist, (int)at, was);
    cr_assert(rep && rep->type == REDIS_REPLY_STATUS);
    freeReplyObject(rep);
    free(was);
    free(now);
}

static bool ops_mode_is(uint32_t seed, chaos_ops_mode mode)
{
    chaos_ops o;
    chaos_ops_make(seed, &o);
    return o.mode == mode;
}

/* updates_first_two: an update workflow whose updates 0 and 1 are
 * accepted. */
static bool updates_first_two(uint32_t seed)
{
    chaos_ops o;
    chaos_ops_make(seed, &o);
    return o.mode == CHAOS_OPS_UPDATE && o.x[0] > 0 && o.x[1] > 0;
}

static bool is_sws(uint32_t seed)
{
    return ops_mode_is(seed, CHAOS_OPS_SWS);
}

static bool is_cancel(uint32_t seed)
{
    return ops_mode_is(seed, CHAOS_OPS_CANCEL);
}

/* ops_tampered: an update id accepted twice (and another never), a
 * signal delivered twice (and another never), a result counting more
 * updates than were accepted, and a timer a canceled run left behind each
 * fail the check. */
static void ops_tampered(redisContext *r, int upd, int sws, int cancel)
{
    hist_swap(r, upd, "-u1\"", "-u0\"", "lost=1 duplicated=1 ");
    hist_swap(r, sws, "\"j\":1,", "\"j\":0,", "lost=1 duplicated=1 ");

    /* a result that counts an update more than the history accepted */
    duro_wf_keys wk;
    char run[64], member[256];
    current_keys(r, upd, &wk, run, sizeof(run));
    redisReply *rep = redisCommand(r, "HGET %s result", wk.wf);
    cr_assert(rep && rep->type == REDIS_REPLY_STRING);
    char *was = strdup(rep->str);
    freeReplyObject(rep);
    rep = redisCommand(r, "HSET %s result {\"sum\":0,\"updates\":99}", wk.wf);
    cr_assert(rep && rep->type == REDIS_REPLY_INTEGER);
    freeReplyObject(rep);
    char line[1024];
    int rc = chaos_check("check", "--settle", "5s", line, sizeof(line));
    cr_assert_neq(rc, 0, "%s", line);
    cr_assert(strstr(line, "lost=0 duplicated=1 "), "%s", line);
    rep = redisCommand(r, "HSET %s result %s", wk.wf, was);
    cr_assert(rep && rep->type == REDIS_REPLY_INTEGER);
    freeReplyObject(rep);
    free(was);

    current_keys(r, cancel, &wk, run, sizeof(run));
    char id[64];
    chaos_workflow_id(id, sizeof(id), SEED, cancel);
    snprintf(member, sizeof(member), "t|%s|9|0|%s|-|%s", run, CHAOS_QUEUE, id);
    rep =
        redisCommand(r, "ZADD %s %lld %s", wk.timers, 4102444800000LL, member);
    cr_assert(rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 1);
    freeReplyObject(rep);
    check_leftover("a canceled run's timer");
    rep = redisCommand(r, "ZREM %s %s", wk.timers, member);
    cr_assert(rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 1);
    freeReplyObject(rep);
}

Test(chaos_mix, checks_out_then_fails_on_a_step_applied_twice_or_a_lost_child)
{
    int counter = first_of(CHAOS_KIND_COUNTER, is_chain);
    int parent = first_of(CHAOS_KIND_PARENT, has_chain_child);
    int upd = first_of(CHAOS_KIND_OPS, updates_first_two);
    int sws = first_of(CHAOS_KIND_OPS, is_sws);
    int cancel = first_of(CHAOS_KIND_OPS, is_cancel);
    cr_assert(counter >= 0 && parent >= 0 && upd >= 0 && sws >= 0 &&
                  cancel >= 0,
              "seed %d lacks the mix", SEED);
    duro_test_spawn(&h, "duro-scheduler", NULL);
    duro_test_spawn(&h, "chaos-worker", NULL);
    cr_assert_eq(chaos_check("drive", "--spread", "0s", NULL, 0), 0);
    cr_assert_eq(chaos_check("wait", "--timeout", "90s", NULL, 0), 0);
    char line[1024];
    int rc = chaos_check("check", "--settle", "5s", line, sizeof(line));
    cr_assert_eq(rc, 0, "%s", line);
    cr_assert(strstr(line, "lost=0 duplicated=0 ") &&
                  strstr(line, "completed=30 "),
              "%s", line);
    cr_assert(!strstr(line, "counters=0 ") && !strstr(line, "parents=0 "), "%s",
              line);
    cr_assert(!strstr(line, " prio=0 ") && !strstr(line, " fair=0 ") &&
                  !strstr(line, "level_streams=0 ") &&
                  !strstr(line, "fair_streams=0") &&
                  !strstr(line, " updates=0") && !strstr(line, " sws=0") &&
                  !strstr(line, " canceled=0"),
              "%s", line);
    redisContext *r = duro_test_redis(&h);
    fair_leftovers(r);
    schedule_gap(r);
    lost_priority(r);
    ops_tampered(r, upd, sws, cancel);

    /* counter step 0 applied again under another run's idempotency key */
    char id[64], key[128];
    chaos_workflow_id(id, sizeof(id), SEED, counter);
    snprintf(key, sizeof(key), "%s/00000000-0000-0000-0000-000000000000/1", id);
    redisReply *rep =
        redisCommand(r, "XADD %s * key %s attempt 1 name act wf %s step 0",
                     CHAOS_EXEC_STREAM, key, id);
    cr_assert(rep && rep->type == REDIS_REPLY_STRING);
    freeReplyObject(rep);
    rc = chaos_check("check", "--settle", "5s", line, sizeof(line));
    cr_assert_neq(rc, 0, "%s", line);
    cr_assert(strstr(line, "lost=0 duplicated=1 "), "%s", line);

    /* a parent's child that did not complete */
    char pid[64], cid[128];
    chaos_workflow_id(pid, sizeof(pid), SEED, parent);
    chaos_child_id(cid, sizeof(cid), pid, 0);
    rep = redisCommand(r, "HGET %s partitions", DURO_META_KEY);
    cr_assert(rep && rep->type == REDIS_REPLY_STRING);
    int partitions = (int)strtol(rep->str, NULL, 10);
    freeReplyObject(rep);
    duro_wf_keys wk;
    duro_wf_keys_init(&wk, DURO_KEYSPACE_DEFAULT(partitions), cid, NULL);
    rep = redisCommand(r, "HSET %s status FAILED", wk.wf);
    cr_assert(rep && rep->type == REDIS_REPLY_INTEGER);
    freeReplyObject(rep);
    rc = chaos_check("check", "--settle", "5s", line, sizeof(line));
    cr_assert_neq(rc, 0, "%s", line);
    cr_assert(strstr(line, "lost=1 duplicated=1 "), "%s", line);
    redisFree(r);
    duro_test_finish(&h);
}
