/* chaos_mix.c: chaos-check's `check` over the whole mix: each workflow by
 * its kind (chaos_plan.h), the queues and timers left behind, and the
 * summary line. The history checks are chaos_check.c's.
 *
 *   chaos-check check --redis URL --seed S --workflows N [--settle D]
 *                     [--kills K] [--redis-restarts R] [--wall W]
 *
 * A continue-as-new chain is checked run by run, from the workflow's
 * current run back through each WorkflowStarted's continuedExecutionRunId:
 * every run's history, the number of runs, and that each of its steps was
 * applied under exactly one idempotency key (a step run again by a
 * duplicated run or task would record a second one). A parent's history
 * holds each child initiated, started and completed once; each child is
 * then checked as a chain of its own. Every workflow, and each child,
 * must keep the priority and fairness key it was started with
 * (chaos_flow.c), and the level and fair streams are scanned with the
 * other task streams.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/clock.h"
#include "duro/codec.h"
#include "duro/config.h"
#include "duro/cron.h"
#include "duro/json.h"
#include "duro/keys.h"
#include "duro/stream_backlog.h"
#include "chaos_plan.h"
#include "chaos_checker.h"
#include "chaos_tool.h"

/* result_get: the workflow's result parsed (the caller frees it), NULL
 * when it has none or it does not parse. */
static cJSON *result_get(const checker *k, const redisReply *h)
{
    const char *json = chaos_hash_get(h, "result");
    cJSON *v = NULL;
    char err[128];
    if (!json ||
        duro_codec_parse(k->a->codec, json, 1 << 20, &v, err, sizeof(err)) != 0)
        return NULL;
    return v;
}

/* open_hash reads workflow id's hash; reports it LOST unless it completed.
 * *run: its current run (NULL: none); *closed: it is no longer running. */
static redisReply *open_hash(checker *k, const char *id, const char **run,
                             bool *closed)
{
    duro_wf_keys wk;
    duro_wf_keys_init(&wk, DURO_KEYSPACE_DEFAULT(k->partitions), id, NULL);
    redisReply *h = chaos_cmd(k, wk.wf, "HGETALL %s", wk.wf);
    *run = h->type == REDIS_REPLY_ARRAY ? chaos_hash_get(h, "run") : NULL;
    const char *status = *run ? chaos_hash_get(h, "status") : NULL;
    *closed = status && strcmp(status, "RUNNING") != 0;
    if (!*run) {
        chaos_report(k, R_LOST, id, "no workflow hash");
    } else if (!status || strcmp(status, "COMPLETED") != 0) {
        const char *f = chaos_hash_get(h, "failure");
        chaos_report(k, R_LOST, id, "status %s run %s failure %s",
                     status ? status : "(none)", *run, f && *f ? f : "-");
    }
    return h;
}

static long long hash_hlen(const redisReply *h)
{
    const char *hlen = chaos_hash_get(h, "hlen");
    return hlen ? strtoll(hlen, NULL, 10) : -1;
}

/* run_steps: the steps run r (0 = the first) of counter c takes. */
static int run_steps(const chaos_counter *c, int r)
{
    int left = c->total - r * c->every;
    if (r < 0 || left <= 0) return 0;
    return left < c->every ? left : c->every;
}

/* check_chain checks each run of counter id back from run, the latest. */
static void check_chain(checker *k, const char *id, const chaos_counter *c,
                        const char *run, long long hlen, bool closed)
{
    char cur[64], prev[64];
    snprintf(cur, sizeof(cur), "%s", run);
    int n = 0;
    for (; *cur && n <= c->runs; n++) {
        hist_expect x = {.activities = run_steps(c, c->runs - 1 - n),
                         .continued = n > 0};
        if (chaos_check_history(k, id, cur, n == 0 ? hlen : -1, &x,
                                closed || n > 0, prev, sizeof(prev)) != 0)
            return;
        snprintf(cur, sizeof(cur), "%s", prev);
    }
    k->runs += n;
    if (closed && n != c->runs)
        chaos_report(k, n > c->runs ? R_DUP : R_LOST, id,
                     "a chain of %s%d runs, the plan has %d",
                     *cur ? "more than " : "", n, c->runs);
}

/* check_counter checks the chaos-counter workflow id (a top-level one, a
 * child or a scheduled one): its result, its chain of runs, each step
 * applied once. */
static void check_counter(checker *k, const char *id, const chaos_counter *c)
{
    const char *run;
    bool closed;
    redisReply *h = open_hash(k, id, &run, &closed);
    cJSON *res = run ? result_get(k, h) : NULL;
    if (run && closed && res) {
        int64_t count = duro_json_int(res, "count", -1);
        int64_t runs = duro_json_int(res, "runs", -1);
        int64_t sum = duro_json_int(res, "sum", -1);
        if (count != c->total || runs != c->runs || sum != c->sum)
            chaos_report(k, runs > c->runs ? R_DUP : R_LOST, id,
                         "result count %lld runs %lld sum %lld, expected "
                         "%d, %d, %lld",
                         (long long)count, (long long)runs, (long long)sum,
                         c->total, c->runs, (long long)c->sum);
    } else if (run && closed) {
        chaos_report(k, R_LOST, id, "no result");
    }
    cJSON_Delete(res);
    if (run) check_chain(k, id, c, run, hash_hlen(h), closed);
    for (int j = 0; j < c->total; j++) {
        int keys = chaos_applied(k, id, j);
        if (keys > 1 || (keys == 0 && closed))
            chaos_report(k, keys > 1 ? R_DUP : R_LOST, id,
                         "step %d applied under %d idempotency keys", j, keys);
    }
    k->steps += c->total;
    if (closed) chaos_check_leftovers(k, id, h);
    freeReplyObject(h);
}

/* check_parent checks the chaos-parent workflow id, then its children. */
static void check_parent(checker *k, const char *id, uint32_t seed)
{
    chaos_parent p;
    chaos_parent_make(seed, &p);
    const char *run;
    bool closed;
    redisReply *h = open_hash(k, id, &run, &closed);
    cJSON *res = run && closed ? result_get(k, h) : NULL;
    if (run && closed) {
        int64_t sum = duro_json_int(res, "sum", -1);
        int64_t n = duro_json_int(res, "children", -1);
        if (sum != p.sum || n != p.n)
            chaos_report(k, R_LOST, id,
                         "result sum %lld children %lld, expected %lld, %d",
                         (long long)sum, (long long)n, (long long)p.sum, p.n);
    }
    cJSON_Delete(res);
    if (run) {
        hist_expect x = {.children = p.n};
        char prev[64];
        chaos_check_history(k, id, run, hash_hlen(h), &x, closed, prev,
                            sizeof(prev));
        k->runs++;
    }
    if (closed) chaos_check_leftovers(k, id, h);
    freeReplyObject(h);
    for (int j = 0; j < p.n; j++) {
        char cid[128];
        chaos_child_id(cid, sizeof(cid), id, j);
        check_counter(k, cid, &p.child[j]);
    }
    k->children += p.n;
}

/* check_workflow checks workflow i by its kind; it counts as lost,
 * duplicated or malformed when a check of it (or of its children)
 * reported so, and as completed when nothing of it was lost. */
static void check_workflow(checker *k, int i)
{
    char id[64];
    chaos_workflow_id(id, sizeof(id), k->a->seed, i);
    uint32_t seed = chaos_seed_of(k->a->seed, i);
    int lost = k->reports[R_LOST], dup = k->reports[R_DUP];
    int malformed = k->reports[R_MALFORMED];
    switch (chaos_kind_of(seed)) {
    case CHAOS_KIND_STEPS:
        chaos_check_steps(k, id, seed);
        break;
    case CHAOS_KIND_COUNTER: {
        chaos_counter c;
        chaos_counter_make(seed, &c);
        check_counter(k, id, &c);
        k->counters++;
        break;
    }
    case CHAOS_KIND_PARENT:
        check_parent(k, id, seed);
        k->parents++;
        break;
    case CHAOS_KIND_OPS:
        chaos_check_ops(k, id, seed);
        break;
    }
    /* the run options: its own, and its children's, which inherit them */
    chaos_flow f = chaos_flow_of(seed);
    chaos_check_flow(k, id, &f);
    if (chaos_kind_of(seed) == CHAOS_KIND_PARENT) {
        chaos_parent p;
        chaos_parent_make(seed, &p);
        for (int j = 0; j < p.n; j++) {
            char cid[128];
            chaos_child_id(cid, sizeof(cid), id, j);
            chaos_check_flow(k, cid, &f);
        }
    }
    if (k->reports[R_LOST] > lost)
        k->lost++;
    else
        k->completed++;
    if (k->reports[R_DUP] > dup) k->duplicated++;
    if (k->reports[R_MALFORMED] > malformed) k->malformed++;
}

/* check_schedule checks each nominal time of the chaos schedule as
 * check_workflow does a mix workflow, counting it lost or duplicated. */
static void check_schedule(checker *k)
{
    char id[64], when[DURO_RFC3339_LEN], wf[128];
    long long t, end;
    if (!chaos_schedule_range(k, id, sizeof(id), &t, &end)) return;
    chaos_counter c = {.total = 1, .every = 1, .base = 0};
    chaos_counter_fill(&c);
    for (; t < end; t += CHAOS_SCHED_INTERVAL_MS) {
        duro_rfc3339(t, when, sizeof(when));
        snprintf(wf, sizeof(wf), "%s-%s", id, when);
        int lost = k->reports[R_LOST], dup = k->reports[R_DUP];
        check_counter(k, wf, &c);
        if (k->reports[R_LOST] > lost) k->lost++;
        if (k->reports[R_DUP] > dup) k->duplicated++;
        k->sched++;
    }
}

/* ---- Queues and timers ------------------------------------------------ */

/* scan_node counts master m's task-stream entries still queued or
 * pending; reports them when `report_them`. */
static int scan_node(checker *k, int m, bool report_them)
{
    int bad = 0;
    char cursor[32] = "0";
    do {
        redisReply *r = chaos_route_node_cmd(
            k->c, m, "SCAN %s MATCH duro:{p*}:* COUNT 1000", cursor);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            fprintf(stderr, "chaos-check: SCAN: %s\n",
                    r && r->type == REDIS_REPLY_ERROR
                        ? r->str
                        : chaos_route_errstr(k->c));
            exit(2);
        }
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        const redisReply *keys = r->element[1];
        for (size_t i = 0; i < keys->elements; i++) {
            const char *key = keys->element[i]->str;
            chaos_key_kind kind = chaos_key_kind_of(key);
            if (kind == CHAOS_KEY_OTHER || kind == CHAOS_KEY_BELLS) continue;
            if (kind == CHAOS_KEY_FAIR_READY || kind == CHAOS_KEY_FAIR_META) {
                bad += chaos_check_fair_keys(k, key, kind, report_them);
                continue;
            }
            if (report_them) {
                k->level_streams += kind == CHAOS_KEY_LEVEL;
                k->fair_streams += kind == CHAOS_KEY_FAIR;
            }
            /* acknowledged entries may stay until a trim passes them:
             * what must be empty is the backlog and the pending list */
            redisReply *len = chaos_cmd(k, key, "XLEN %s", key);
            redisReply *groups = chaos_cmd(k, key, "XINFO GROUPS %s", key);
            long long pn = 0;
            long long n = len->type == REDIS_REPLY_INTEGER
                              ? duro__stream_backlog(len, groups, &pn)
                              : -1;
            if (n != 0 || pn != 0) {
                bad++;
                if (report_them)
                    chaos_report(k, R_LEFTOVER, key,
                                 "%lld entries waiting, %lld pending", n, pn);
            }
            freeReplyObject(len);
            freeReplyObject(groups);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return bad;
}

/* scan_streams: scan_node over every master (SCAN sees one node's keys). */
static int scan_streams(checker *k, bool report_them)
{
    int bad = 0;
    for (int m = 0; m < chaos_route_masters(k->c); m++)
        bad += scan_node(k, m, report_them);
    return bad;
}

/* scan_timers counts timer members due more than 3s ago (the schedulers
 * are running: those should have fired). */
static int scan_timers(checker *k, bool report_them)
{
    int bad = 0;
    long long due = (long long)duro_now_ms() - 3000;
    for (int p = 0; p < k->partitions; p++) {
        char key[64];
        snprintf(key, sizeof(key), "duro:{p%d}:timers", p);
        redisReply *r = chaos_cmd(
            k, key, "ZRANGEBYSCORE %s -inf %lld WITHSCORES", key, due);
        for (size_t i = 0; i + 1 < r->elements; i += 2) {
            bad++;
            if (report_them)
                chaos_report(k, R_LEFTOVER, r->element[i]->str,
                             "timer due at %s never fired",
                             r->element[i + 1]->str);
        }
        freeReplyObject(r);
    }
    return bad;
}

/* check_queues waits up to settle_ms for the task streams to drain (the
 * schedulers ack orphans of killed workers after their timeouts), then
 * reports what is left. */
static void check_queues(checker *k)
{
    int64_t deadline = duro_mono_ms() + k->a->settle_ms;
    while (scan_streams(k, false) + scan_timers(k, false) > 0 &&
           duro_mono_ms() < deadline)
        chaos_sleep_ms(1000);
    k->leftovers += scan_streams(k, true) + scan_timers(k, true);
    redisReply *r = chaos_cmd(k, DURO_DEAD_KEY, "XLEN %s", DURO_DEAD_KEY);
    if (r->type == REDIS_REPLY_INTEGER && r->integer > 0) {
        k->dead = (int)r->integer;
        fprintf(stderr, "chaos-check: DEAD %d entries in %s\n", k->dead,
                DURO_DEAD_KEY);
    }
    freeReplyObject(r);
}

int chaos_check(const chaos_args *a)
{
    checker k = {.a = a};
    k.c = chaos_connect(a, 10000);
    if (!k.c) return 2;
    k.partitions = chaos_partitions(k.c);
    if (k.partitions <= 0) {
        fprintf(stderr, "chaos-check: no partition count in %s\n",
                DURO_META_KEY);
        return 2;
    }
    chaos_load_exec(&k);
    for (int i = 0; i < a->workflows; i++)
        check_workflow(&k, i);
    check_schedule(&k);
    check_queues(&k);
    long long reexec = k.executions - k.distinct;
    printf("chaos: workflows=%d completed=%d lost=%d duplicated=%d kills=%d "
           "redis_restarts=%d wall=%s malformed=%d stuck=%d leftovers=%d "
           "unrecorded=%d dead=%d crashes=%d reexec=%lld unplanned_reexec=%lld "
           "counters=%d parents=%d children=%d runs=%d steps=%d prio=%d "
           "fair=%d level_streams=%d fair_streams=%d sched=%d updates=%d "
           "sws=%d canceled=%d",
           a->workflows, k.completed, k.lost, k.duplicated, a->kills,
           a->redis_restarts, a->wall ? a->wall : "?", k.malformed, k.stuck,
           k.leftovers, k.unrecorded, k.dead, a->crashes, reexec, k.unplanned,
           k.counters, k.parents, k.children, k.runs, k.steps, k.prio, k.fair,
           k.level_streams, k.fair_streams, k.sched, k.ops[CHAOS_OPS_UPDATE],
           k.ops[CHAOS_OPS_SWS], k.ops[CHAOS_OPS_CANCEL]);
    if (a->master_kills >= 0) printf(" master_kills=%d", a->master_kills);
    printf("\n");
    fflush(stdout);
    chaos_free_exec(&k);
    chaos_route_free(k.c);
    bool ok = k.completed == a->workflows && !k.lost && !k.duplicated &&
              !k.malformed && !k.stuck && !k.leftovers && !k.unrecorded &&
              !k.dead && !a->crashes;
    return ok ? 0 : 1;
}
