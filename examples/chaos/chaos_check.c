/* chaos_check.c: chaos-check's `check`: verifies from Redis alone that
 * nothing was lost, duplicated or left behind, and prints the summary
 * line. chaos-check is scripts/chaos's helper (chaos_main.c): `drive`
 * starts and signals the workflows, `wait` waits until they have closed.
 *
 *   chaos-check drive --redis URL --seed S --workflows N [--spread D]
 *   chaos-check wait  --redis URL --timeout D
 *   chaos-check check --redis URL --seed S --workflows N [--settle D]
 *                     [--kills K] [--redis-restarts R] [--wall W]
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/clock.h"
#include "duro/config.h"
#include "duro/duration.h"
#include "duro/history.h"
#include "duro/json.h"
#include "duro/keys.h"
#include "duro/reply.h"
#include "chaos_plan.h"
#include "chaos_tool.h"

/* MAX_REPORTS: problems printed per kind; the rest are only counted. */
#define MAX_REPORTS 20
#define MAX_SEQ 64

/* checker: the counts behind the summary line. */
typedef struct {
    const chaos_args *a;
    redisContext *c;
    int partitions;
    int completed, lost, duplicated, malformed, stuck, unrecorded;
    int leftovers, dead;
    long long executions, distinct, unplanned;
    int reports[8];
    /* chaos:exec, sorted: "key attempt" strings */
    char **exec;
    size_t nexec;
} checker;

enum { R_LOST, R_DUP, R_MALFORMED, R_STUCK, R_UNRECORDED, R_LEFTOVER };

static void report(checker *k, int kind, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void report(checker *k, int kind, const char *id, const char *fmt, ...)
{
    static const char *names[] = {"LOST",  "DUPLICATED", "MALFORMED",
                                  "STUCK", "UNRECORDED", "LEFTOVER"};
    if (++k->reports[kind] > MAX_REPORTS) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "chaos-check: %s %s: ", names[kind], id);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static redisReply *cmd(checker *k, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(k->c, fmt, ap);
    va_end(ap);
    if (!r) {
        fprintf(stderr, "chaos-check: redis: %s\n", k->c->errstr);
        exit(2);
    }
    return r;
}

/* ---- chaos:exec ------------------------------------------------------- */

static int strp_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* load_exec reads every execution record into k->exec, sorted. */
static void load_exec(checker *k)
{
    size_t cap = 1024;
    k->exec = malloc(cap * sizeof(char *));
    char start[64] = "-";
    for (;;) {
        redisReply *r =
            cmd(k, "XRANGE %s %s + COUNT 1000", CHAOS_EXEC_STREAM, start);
        size_t n = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
        for (size_t i = 0; i < n; i++) {
            const redisReply *e = r->element[i];
            const redisReply *key = duro_stream_field(e->element[1], "key");
            const redisReply *att = duro_stream_field(e->element[1], "attempt");
            snprintf(start, sizeof(start), "(%s", e->element[0]->str);
            if (!key || !att) continue;
            if (k->nexec == cap)
                k->exec = realloc(k->exec, (cap *= 2) * sizeof(char *));
            size_t len = strlen(key->str) + strlen(att->str) + 2;
            k->exec[k->nexec] = malloc(len);
            snprintf(k->exec[k->nexec++], len, "%s %s", key->str, att->str);
        }
        freeReplyObject(r);
        if (n < 1000) break;
    }
    qsort(k->exec, k->nexec, sizeof(char *), strp_cmp);
    k->executions = (long long)k->nexec;
    /* sorted, so the records of one key ("<wf>/<seq> ") are adjacent */
    for (size_t i = 0; i < k->nexec; i++) {
        size_t klen = (size_t)(strrchr(k->exec[i], ' ') - k->exec[i]) + 1;
        if (i == 0 || strncmp(k->exec[i - 1], k->exec[i], klen) != 0)
            k->distinct++;
    }
}

/* unplanned_runs: executions of activity id/seq beyond the first of the
 * attempts meant to succeed (attempt > fails): re-runs caused by lost
 * workers, timeouts or duplicate deliveries. */
static long long unplanned_runs(const checker *k, const char *id, int64_t seq,
                                int64_t fails)
{
    char prefix[256];
    int plen = snprintf(prefix, sizeof(prefix), "%s/%lld ", id, (long long)seq);
    size_t lo = 0, hi = k->nexec; /* first record >= prefix */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcmp(k->exec[mid], prefix) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    long long n = 0;
    for (; lo < k->nexec && strncmp(k->exec[lo], prefix, (size_t)plen) == 0;
         lo++)
        if (strtoll(k->exec[lo] + plen, NULL, 10) > fails) n++;
    return n > 1 ? n - 1 : 0;
}

static bool executed(const checker *k, const char *id, int64_t seq,
                     int64_t attempt)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s/%lld %lld", id, (long long)seq,
             (long long)attempt);
    const char *key = buf;
    return bsearch(&key, k->exec, k->nexec, sizeof(char *), strp_cmp) != NULL;
}

/* ---- One workflow ----------------------------------------------------- */

/* hist_state: what one pass over a history found. */
typedef struct {
    char act[MAX_SEQ]; /* 0 unseen, 1 scheduled, 2 resolved */
    char timer[MAX_SEQ];
    int fails[MAX_SEQ]; /* the attempts of activity seq meant to fail */
    int scheduled, signals, closings;
} hist_state;

static bool is_closing(duro_event_type t)
{
    return t == DURO_EVENT_WORKFLOW_COMPLETED ||
           t == DURO_EVENT_WORKFLOW_FAILED ||
           t == DURO_EVENT_WORKFLOW_CANCELED ||
           t == DURO_EVENT_WORKFLOW_TERMINATED ||
           t == DURO_EVENT_WORKFLOW_TIMED_OUT ||
           t == DURO_EVENT_WORKFLOW_CONTINUED_AS_NEW;
}

/* check_event applies event e (the previous one was of type prev) to s;
 * false after reporting a problem. */
static bool check_event(checker *k, const char *id, const duro_event *e,
                        duro_event_type prev, hist_state *s)
{
    int64_t seq = duro_event_seq(e);
    bool act_res = e->type == DURO_EVENT_ACTIVITY_COMPLETED ||
                   e->type == DURO_EVENT_ACTIVITY_FAILED ||
                   e->type == DURO_EVENT_ACTIVITY_TIMED_OUT;
    bool timer_res = e->type == DURO_EVENT_TIMER_FIRED ||
                     e->type == DURO_EVENT_TIMER_CANCELED;
    const char *name = duro_event_name(e->type);
    if (s->closings) {
        report(k, R_MALFORMED, id, "event %lld %s after the closing event",
               (long long)e->id, name);
        return false;
    }
    if ((e->id == 1) != (e->type == DURO_EVENT_WORKFLOW_STARTED)) {
        report(k, R_MALFORMED, id, "event %lld is %s", (long long)e->id, name);
        return false;
    }
    if (duro_event_is_command(e->type) &&
        prev != DURO_EVENT_WORKFLOW_TASK_COMPLETED &&
        !duro_event_is_command(prev)) {
        report(k, R_MALFORMED, id,
               "command event %lld %s follows %s, not a "
               "task's commit",
               (long long)e->id, name, duro_event_name(prev));
        return false;
    }
    if (e->type == DURO_EVENT_ACTIVITY_SCHEDULED || act_res ||
        e->type == DURO_EVENT_TIMER_STARTED || timer_res) {
        if (seq < 0 || seq >= MAX_SEQ) {
            report(k, R_MALFORMED, id, "event %lld %s has seq %lld",
                   (long long)e->id, name, (long long)seq);
            return false;
        }
    }
    char *slot = e->type == DURO_EVENT_ACTIVITY_SCHEDULED || act_res
                     ? &s->act[seq < 0 ? 0 : seq]
                     : &s->timer[seq < 0 ? 0 : seq];
    if (e->type == DURO_EVENT_ACTIVITY_SCHEDULED ||
        e->type == DURO_EVENT_TIMER_STARTED) {
        if (*slot) {
            report(k, R_DUP, id, "event %lld: %s seq %lld again",
                   (long long)e->id, name, (long long)seq);
            return false;
        }
        *slot = 1;
        if (e->type == DURO_EVENT_ACTIVITY_SCHEDULED) {
            const cJSON *in =
                cJSON_GetObjectItemCaseSensitive(e->data, "input");
            s->fails[seq] = (int)duro_json_int(in, "fails", 0);
            k->unplanned += unplanned_runs(k, id, seq, s->fails[seq]);
            s->scheduled++;
        }
    } else if (act_res || timer_res) {
        if (*slot != 1) {
            report(k, *slot == 2 ? R_DUP : R_MALFORMED, id,
                   "event %lld: %s seq %lld %s", (long long)e->id, name,
                   (long long)seq,
                   *slot == 2 ? "resolved again" : "never started");
            return false;
        }
        *slot = 2;
        if (e->type == DURO_EVENT_ACTIVITY_COMPLETED) {
            int64_t attempt = duro_json_int(e->data, "attempt", -1);
            if (attempt <= s->fails[seq]) {
                report(k, R_MALFORMED, id,
                       "event %lld: activity %lld completed "
                       "by attempt %lld, which fails by design",
                       (long long)e->id, (long long)seq, (long long)attempt);
                return false;
            }
            if (!executed(k, id, seq, attempt)) {
                report(k, R_UNRECORDED, id,
                       "event %lld: activity %lld attempt "
                       "%lld completed but never recorded an execution",
                       (long long)e->id, (long long)seq, (long long)attempt);
                k->unrecorded++;
            }
        }
    } else if (e->type == DURO_EVENT_SIGNAL_RECEIVED) {
        s->signals++;
    } else if (is_closing(e->type)) {
        s->closings++;
    } else if (e->type != DURO_EVENT_WORKFLOW_STARTED &&
               e->type != DURO_EVENT_WORKFLOW_TASK_COMPLETED) {
        report(k, R_MALFORMED, id, "event %lld: unexpected %s",
               (long long)e->id, name);
        return false;
    }
    return true;
}

/* check_history: 0, or -1 after reporting what is wrong with the run's
 * history. hlen is the hash's idea of its length; a run still open (already
 * counted as lost) is only checked for what must hold at any time. */
static int check_history(checker *k, const char *id, const duro_wf_keys *wk,
                         long long hlen, const chaos_plan *p, bool closed)
{
    redisReply *r = cmd(k, "LRANGE %s 0 -1", wk->hist);
    hist_state s = {0};
    int rc = 0;
    size_t n = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
    duro_event_type prev = DURO_EVENT_UNKNOWN;
    for (size_t i = 0; i < n && rc == 0; i++) {
        duro_event e;
        char err[256];
        if (duro_event_decode_reply(r->element[i], (int64_t)i + 1, &e, err,
                                    sizeof(err)) != 0) {
            report(k, R_MALFORMED, id, "event #%zu: %s", i + 1, err);
            rc = -1;
            break;
        }
        /* payloads as the workers wrote them (DURO_CODEC_KEY_FILE) */
        if (duro_codec_decode_event(k->a->codec, e.type, e.data, err,
                                    sizeof(err)) != 0) {
            report(k, R_MALFORMED, id, "event #%zu: %s", i + 1, err);
            duro_event_free(&e);
            rc = -1;
            break;
        }
        if (e.id != (int64_t)i + 1) {
            report(k, R_MALFORMED, id, "event #%zu has id %lld", i + 1,
                   (long long)e.id);
            rc = -1;
        } else if (!check_event(k, id, &e, prev, &s)) {
            rc = -1;
        }
        prev = e.type;
        duro_event_free(&e);
    }
    freeReplyObject(r);
    if (rc) return rc;
    if ((long long)n != hlen) {
        report(k, R_MALFORMED, id, "history has %zu events, hlen says %lld", n,
               hlen);
        return -1;
    }
    if (!closed) return 0;
    if (s.closings != 1) {
        report(k, R_MALFORMED, id, "%d closing events", s.closings);
        return -1;
    }
    for (int i = 0; i < MAX_SEQ; i++)
        if (s.act[i] == 1 || s.timer[i] == 1) {
            report(k, R_MALFORMED, id, "%s %d never resolved",
                   s.act[i] == 1 ? "activity" : "timer", i);
            return -1;
        }
    if (s.scheduled != p->activities) {
        report(k, s.scheduled > p->activities ? R_DUP : R_MALFORMED, id,
               "%d activities scheduled, the plan has %d", s.scheduled,
               p->activities);
        return -1;
    }
    if (s.signals != (p->signaled ? 1 : 0)) {
        report(k, s.signals > 1 ? R_DUP : R_MALFORMED, id,
               "%d signals received, %d sent", s.signals, p->signaled ? 1 : 0);
        return -1;
    }
    return 0;
}

/* hash_get: the value of field in an HGETALL reply, or NULL. */
static const char *hash_get(const redisReply *h, const char *field)
{
    return duro__reply_str(duro__reply_kv(h, field));
}

static bool result_ok(const checker *k, const char *json, const chaos_plan *p)
{
    cJSON *v = NULL;
    char err[128];
    if (!json ||
        duro_codec_parse(k->a->codec, json, 1 << 20, &v, err, sizeof(err)) != 0)
        return false;
    const cJSON *sum = cJSON_GetObjectItemCaseSensitive(v, "sum");
    const cJSON *sig = cJSON_GetObjectItemCaseSensitive(v, "signal");
    bool ok = cJSON_IsNumber(sum) && (int64_t)sum->valuedouble == p->sum &&
              cJSON_IsBool(sig) && cJSON_IsTrue(sig) == p->signaled;
    cJSON_Delete(v);
    return ok;
}

/* check_visibility: the closed run's visibility row says what its hash
 * says, and its status index moved with it. */
static void check_visibility(checker *k, const char *id, const duro_wf_keys *wk,
                             const redisReply *h)
{
    const char *run = hash_get(h, "run"), *status = hash_get(h, "status");
    if (!run || !status) return;
    char row[DURO_KEY_MAX], idx[DURO_KEY_MAX];
    duro_key_vis(row, sizeof(row), DURO_KEYSPACE_DEFAULT(k->partitions),
                 wk->partition, run);
    redisReply *r = cmd(k, "HGET %s status", row);
    if (r->type != REDIS_REPLY_STRING || strcmp(r->str, status) != 0)
        report(k, R_STUCK, id, "visibility row says %s, the hash %s",
               r->type == REDIS_REPLY_STRING ? r->str : "(none)", status),
            k->stuck++;
    freeReplyObject(r);
    duro_key_vx(idx, sizeof(idx), DURO_KEYSPACE_DEFAULT(k->partitions),
                wk->partition, "status:RUNNING");
    r = cmd(k, "ZSCORE %s %s", idx, run);
    if (r->type != REDIS_REPLY_NIL)
        report(k, R_STUCK, id, "closed but still in %s", idx), k->stuck++;
    freeReplyObject(r);
    duro_key_vx(idx, sizeof(idx), DURO_KEYSPACE_DEFAULT(k->partitions),
                wk->partition, "close");
    r = cmd(k, "ZSCORE %s %s", idx, run);
    if (r->type == REDIS_REPLY_NIL)
        report(k, R_STUCK, id, "closed but not in %s", idx), k->stuck++;
    freeReplyObject(r);
}

/* check_leftovers: the workflow's buffer, pending activities and index
 * entries must be gone once it has closed. */
static void check_leftovers(checker *k, const char *id, const duro_wf_keys *wk,
                            const redisReply *h)
{
    /* a closed run's hash drops its task bookkeeping (wft with it); one
     * that kept wft must hold no outstanding task */
    const char *wft = hash_get(h, "wft");
    if (wft && strcmp(wft, "0") != 0)
        report(k, R_STUCK, id, "closed with wft=%s", wft), k->stuck++;
    redisReply *r = cmd(k, "EXISTS %s %s", wk->buf, wk->pa);
    if (r->type == REDIS_REPLY_INTEGER && r->integer != 0)
        report(k, R_STUCK, id, "closed with a buffer or pending activities"),
            k->stuck++;
    freeReplyObject(r);
    check_visibility(k, id, wk, h);
}

static void check_workflow(checker *k, int i)
{
    char id[64];
    chaos_workflow_id(id, sizeof(id), k->a->seed, i);
    chaos_plan p;
    chaos_plan_make(chaos_seed_of(k->a->seed, i), &p);
    duro_wf_keys wk;
    duro_wf_keys_init(&wk, DURO_KEYSPACE_DEFAULT(k->partitions), id, NULL);
    redisReply *h = cmd(k, "HGETALL %s", wk.wf);
    const char *run = h->type == REDIS_REPLY_ARRAY ? hash_get(h, "run") : NULL;
    const char *status = run ? hash_get(h, "status") : NULL;
    if (!run) {
        report(k, R_LOST, id, "no workflow hash");
        k->lost++;
    } else if (!status || strcmp(status, "COMPLETED") != 0) {
        const char *f = hash_get(h, "failure"), *we = hash_get(h, "wft_error");
        report(k, R_LOST, id, "status %s run %s failure %s wft_error %s",
               status ? status : "(none)", run, f && *f ? f : "-",
               we && *we ? we : "-");
        k->lost++;
    } else if (!result_ok(k, hash_get(h, "result"), &p)) {
        report(k, R_LOST, id,
               "result %s, expected {\"sum\":%lld,\"signal\":%s}",
               hash_get(h, "result"), (long long)p.sum,
               p.signaled ? "true" : "false");
        k->lost++;
    } else {
        k->completed++;
    }
    if (run) {
        duro_wf_keys_init(&wk, DURO_KEYSPACE_DEFAULT(k->partitions), id, run);
        const char *hlen = hash_get(h, "hlen");
        int before = k->reports[R_DUP];
        bool closed = status && strcmp(status, "RUNNING") != 0;
        if (check_history(k, id, &wk, hlen ? strtoll(hlen, NULL, 10) : -1, &p,
                          closed) != 0) {
            if (k->reports[R_DUP] > before)
                k->duplicated++;
            else
                k->malformed++;
        }
        if (closed) check_leftovers(k, id, &wk, h);
    }
    freeReplyObject(h);
}

/* ---- Queues and timers ------------------------------------------------ */

/* scan_streams counts task-stream entries still queued or pending;
 * reports them when `report_them`. */
static int scan_streams(checker *k, bool report_them)
{
    int bad = 0;
    char cursor[32] = "0";
    do {
        redisReply *r = cmd(k, "SCAN %s MATCH duro:{p*}:* COUNT 1000", cursor);
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        const redisReply *keys = r->element[1];
        for (size_t i = 0; i < keys->elements; i++) {
            const char *key = keys->element[i]->str;
            if (!strstr(key, "}:wft:") && !strstr(key, "}:act:")) continue;
            redisReply *len = cmd(k, "XLEN %s", key);
            redisReply *pend = cmd(k, "XPENDING %s %s", key, DURO_GROUP);
            long long n = len->type == REDIS_REPLY_INTEGER ? len->integer : -1;
            long long pn = pend->type == REDIS_REPLY_ARRAY &&
                                   pend->elements > 0 &&
                                   pend->element[0]->type == REDIS_REPLY_INTEGER
                               ? pend->element[0]->integer
                               : 0;
            if (n != 0 || pn != 0) {
                bad++;
                if (report_them)
                    report(k, R_LEFTOVER, key, "%lld entries, %lld pending", n,
                           pn);
            }
            freeReplyObject(len);
            freeReplyObject(pend);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return bad;
}

/* scan_timers counts timer members due more than 3s ago (the schedulers
 * are running: those should have fired). */
static int scan_timers(checker *k, bool report_them)
{
    int bad = 0;
    long long due = (long long)duro_now_ms() - 3000;
    for (int p = 0; p < k->partitions; p++) {
        redisReply *r = cmd(
            k, "ZRANGEBYSCORE duro:{p%d}:timers -inf %lld WITHSCORES", p, due);
        for (size_t i = 0; i + 1 < r->elements; i += 2) {
            bad++;
            if (report_them)
                report(k, R_LEFTOVER, r->element[i]->str,
                       "timer due at %s never fired", r->element[i + 1]->str);
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
    k->leftovers = scan_streams(k, true) + scan_timers(k, true);
    redisReply *r = cmd(k, "XLEN %s", DURO_DEAD_KEY);
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
    load_exec(&k);
    for (int i = 0; i < a->workflows; i++)
        check_workflow(&k, i);
    check_queues(&k);
    long long reexec = k.executions - k.distinct;
    printf(
        "chaos: workflows=%d completed=%d lost=%d duplicated=%d kills=%d "
        "redis_restarts=%d wall=%s malformed=%d stuck=%d leftovers=%d "
        "unrecorded=%d dead=%d crashes=%d reexec=%lld unplanned_reexec=%lld\n",
        a->workflows, k.completed, k.lost, k.duplicated, a->kills,
        a->redis_restarts, a->wall ? a->wall : "?", k.malformed, k.stuck,
        k.leftovers, k.unrecorded, k.dead, a->crashes, reexec, k.unplanned);
    fflush(stdout);
    for (size_t i = 0; i < k.nexec; i++)
        free(k.exec[i]);
    free(k.exec);
    redisFree(k.c);
    bool ok = k.completed == a->workflows && !k.lost && !k.duplicated &&
              !k.malformed && !k.stuck && !k.leftovers && !k.unrecorded &&
              !k.dead && !a->crashes;
    return ok ? 0 : 1;
}
