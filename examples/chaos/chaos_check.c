/* chaos_check.c: the history checks of chaos-check's `check` (chaos_mix.c
 * runs them over the mix and prints the summary line): each run's events
 * in order, each activity, timer and child resolved once, each completed
 * activity attempt matched to its record in chaos:exec. chaos-check is
 * scripts/chaos's helper (chaos_main.c): `drive` starts and signals the
 * workflows, `wait` waits until they have closed.
 *
 *   chaos-check drive --redis URL --seed S --workflows N [--spread D]
 *   chaos-check wait  --redis URL --timeout D
 *   chaos-check check --redis URL --seed S --workflows N [--settle D]
 *                     [--kills K] [--redis-restarts R] [--wall W]
 */
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
#include "chaos_checker.h"
#include "chaos_tool.h"

/* MAX_REPORTS: problems printed per kind; the rest are only counted. */
#define MAX_REPORTS 20
#define MAX_SEQ 64

void chaos_report(checker *k, int kind, const char *id, const char *fmt, ...)
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

redisReply *chaos_cmd(checker *k, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = chaos_route_vcmd(k->c, key, fmt, ap);
    va_end(ap);
    if (!r) {
        fprintf(stderr, "chaos-check: redis: %s\n", chaos_route_errstr(k->c));
        exit(2);
    }
    return r;
}

/* ---- chaos:exec ------------------------------------------------------- */

static int strp_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *joined(const char *a, const char *sep, const char *b)
{
    size_t len = strlen(a) + strlen(sep) + strlen(b) + 1;
    char *s = malloc(len);
    snprintf(s, len, "%s%s%s", a, sep, b);
    return s;
}

void chaos_load_exec(checker *k)
{
    size_t cap = 1024, ecap = 1024;
    k->exec = malloc(cap * sizeof(char *));
    k->eff = malloc(ecap * sizeof(char *));
    char start[64] = "-";
    for (;;) {
        redisReply *r =
            chaos_cmd(k, CHAOS_EXEC_STREAM, "XRANGE %s %s + COUNT 1000",
                      CHAOS_EXEC_STREAM, start);
        size_t n = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
        for (size_t i = 0; i < n; i++) {
            const redisReply *e = r->element[i];
            const redisReply *key = duro_stream_field(e->element[1], "key");
            const redisReply *att = duro_stream_field(e->element[1], "attempt");
            snprintf(start, sizeof(start), "(%s", e->element[0]->str);
            if (!key || !att) continue;
            if (k->nexec == cap)
                k->exec = realloc(k->exec, (cap *= 2) * sizeof(char *));
            k->exec[k->nexec++] = joined(key->str, " ", att->str);
            const redisReply *wf = duro_stream_field(e->element[1], "wf");
            const redisReply *step = duro_stream_field(e->element[1], "step");
            if (!wf || !step) continue;
            if (k->neff == ecap)
                k->eff = realloc(k->eff, (ecap *= 2) * sizeof(char *));
            char *ws = joined(wf->str, "#", step->str);
            k->eff[k->neff++] = joined(ws, " ", key->str);
            free(ws);
        }
        freeReplyObject(r);
        if (n < 1000) break;
    }
    qsort(k->exec, k->nexec, sizeof(char *), strp_cmp);
    qsort(k->eff, k->neff, sizeof(char *), strp_cmp);
    k->executions = (long long)k->nexec;
    /* sorted, so the records of one key ("<wf>/<seq> ") are adjacent */
    for (size_t i = 0; i < k->nexec; i++) {
        size_t klen = (size_t)(strrchr(k->exec[i], ' ') - k->exec[i]) + 1;
        if (i == 0 || strncmp(k->exec[i - 1], k->exec[i], klen) != 0)
            k->distinct++;
    }
}

void chaos_free_exec(checker *k)
{
    for (size_t i = 0; i < k->nexec; i++)
        free(k->exec[i]);
    for (size_t i = 0; i < k->neff; i++)
        free(k->eff[i]);
    free(k->exec);
    free(k->eff);
}

/* lower_bound: the first of the n sorted strings a that is >= key. */
static size_t lower_bound(char *const *a, size_t n, const char *key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcmp(a[mid], key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int chaos_applied(const checker *k, const char *wf, int step)
{
    char prefix[300];
    int plen = snprintf(prefix, sizeof(prefix), "%s#%d ", wf, step);
    int keys = 0;
    /* sorted: the records of one key are adjacent */
    for (size_t i = lower_bound(k->eff, k->neff, prefix);
         i < k->neff && strncmp(k->eff[i], prefix, (size_t)plen) == 0; i++)
        if (keys == 0 || strcmp(k->eff[i], k->eff[i - 1]) != 0) keys++;
    return keys;
}

/* unplanned_runs: executions of activity id/seq beyond the first of the
 * attempts meant to succeed (attempt > fails): re-runs caused by lost
 * workers, timeouts or duplicate deliveries. */
static long long unplanned_runs(const checker *k, const char *id, int64_t seq,
                                int64_t fails)
{
    char prefix[400];
    int plen = snprintf(prefix, sizeof(prefix), "%s/%lld ", id, (long long)seq);
    size_t lo = lower_bound(k->exec, k->nexec, prefix);
    long long n = 0;
    for (; lo < k->nexec && strncmp(k->exec[lo], prefix, (size_t)plen) == 0;
         lo++)
        if (strtoll(k->exec[lo] + plen, NULL, 10) > fails) n++;
    return n > 1 ? n - 1 : 0;
}

static bool executed(const checker *k, const char *id, int64_t seq,
                     int64_t attempt)
{
    char buf[400];
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
    int fails[MAX_SEQ];  /* the attempts of activity seq meant to fail */
    char child[MAX_SEQ]; /* 0 unseen, 1 initiated, 2 started, 3 completed */
    int scheduled, signals, closings, children;
    duro_event_type closing;
    char xid[300]; /* "<id>/<run>": chaos:exec's key prefix of the run */
    char *prev;    /* the run this one continues */
    size_t prev_size;
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

/* check_child_event applies a child event: each child seq is initiated,
 * started and completed once, in that order. */
static bool check_child_event(checker *k, const char *id, const duro_event *e,
                              hist_state *s)
{
    int64_t seq = duro_event_seq(e);
    const char *name = duro_event_name(e->type);
    if (seq < 0 || seq >= MAX_SEQ) {
        chaos_report(k, R_MALFORMED, id, "event %lld %s has seq %lld",
                     (long long)e->id, name, (long long)seq);
        return false;
    }
    int want = e->type == DURO_EVENT_CHILD_INITIATED ? 0
               : e->type == DURO_EVENT_CHILD_STARTED ? 1
                                                     : 2;
    char *st = &s->child[seq];
    if (*st != want) {
        chaos_report(k, *st > want ? R_DUP : R_MALFORMED, id,
                     "event %lld: %s child %lld %s", (long long)e->id, name,
                     (long long)seq, *st > want ? "again" : "out of order");
        return false;
    }
    *st = (char)(want + 1);
    if (want == 0) s->children++;
    return true;
}

/* check_event applies event e (the previous one was of type prev) to s;
 * false after reporting a problem. */
static bool check_event(checker *k, const char *id, const duro_event *e,
                        duro_event_type prev, hist_state *s)
{
    int64_t seq = duro_event_seq(e);
    bool act_res = e->type == DURO_EVENT_ACTIVITY_COMPLETED ||
                   e->type == DURO_EVENT_ACTIVITY_FAILED ||
                   e->type == DURO_EVENT_ACTIVITY_TIMED_OUT ||
                   e->type == DURO_EVENT_ACTIVITY_CANCELED ||
                   /* the cancel drops the pending activity (the workflow
                    * no longer waits for it; the attempt is fenced off) */
                   e->type == DURO_EVENT_ACTIVITY_CANCEL_REQUESTED;
    bool timer_res = e->type == DURO_EVENT_TIMER_FIRED ||
                     e->type == DURO_EVENT_TIMER_CANCELED;
    const char *name = duro_event_name(e->type);
    if (s->closings) {
        chaos_report(k, R_MALFORMED, id,
                     "event %lld %s after the closing event", (long long)e->id,
                     name);
        return false;
    }
    if ((e->id == 1) != (e->type == DURO_EVENT_WORKFLOW_STARTED)) {
        chaos_report(k, R_MALFORMED, id, "event %lld is %s", (long long)e->id,
                     name);
        return false;
    }
    if (duro_event_is_command(e->type) &&
        prev != DURO_EVENT_WORKFLOW_TASK_COMPLETED &&
        !duro_event_is_command(prev)) {
        chaos_report(k, R_MALFORMED, id,
                     "command event %lld %s follows %s, not a "
                     "task's commit",
                     (long long)e->id, name, duro_event_name(prev));
        return false;
    }
    if (e->type == DURO_EVENT_ACTIVITY_SCHEDULED || act_res ||
        e->type == DURO_EVENT_TIMER_STARTED || timer_res) {
        if (seq < 0 || seq >= MAX_SEQ) {
            chaos_report(k, R_MALFORMED, id, "event %lld %s has seq %lld",
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
            chaos_report(k, R_DUP, id, "event %lld: %s seq %lld again",
                         (long long)e->id, name, (long long)seq);
            return false;
        }
        *slot = 1;
        if (e->type == DURO_EVENT_ACTIVITY_SCHEDULED) {
            const cJSON *in =
                cJSON_GetObjectItemCaseSensitive(e->data, "input");
            s->fails[seq] = (int)duro_json_int(in, "fails", 0);
            k->unplanned += unplanned_runs(k, s->xid, seq, s->fails[seq]);
            s->scheduled++;
        }
    } else if (act_res || timer_res) {
        if (*slot != 1) {
            chaos_report(k, *slot == 2 ? R_DUP : R_MALFORMED, id,
                         "event %lld: %s seq %lld %s", (long long)e->id, name,
                         (long long)seq,
                         *slot == 2 ? "resolved again" : "never started");
            return false;
        }
        *slot = 2;
        if (e->type == DURO_EVENT_ACTIVITY_COMPLETED) {
            int64_t attempt = duro_json_int(e->data, "attempt", -1);
            if (attempt <= s->fails[seq]) {
                chaos_report(k, R_MALFORMED, id,
                             "event %lld: activity %lld completed "
                             "by attempt %lld, which fails by design",
                             (long long)e->id, (long long)seq,
                             (long long)attempt);
                return false;
            }
            if (!executed(k, s->xid, seq, attempt)) {
                chaos_report(k, R_UNRECORDED, id,
                             "event %lld: activity %lld attempt "
                             "%lld completed but never recorded an execution",
                             (long long)e->id, (long long)seq,
                             (long long)attempt);
                k->unrecorded++;
            }
        }
    } else if (e->type == DURO_EVENT_CHILD_INITIATED ||
               e->type == DURO_EVENT_CHILD_STARTED ||
               e->type == DURO_EVENT_CHILD_COMPLETED) {
        return check_child_event(k, id, e, s);
    } else if (e->type == DURO_EVENT_SIGNAL_RECEIVED) {
        s->signals++;
    } else if (is_closing(e->type)) {
        s->closings++;
        s->closing = e->type;
    } else if (e->type == DURO_EVENT_WORKFLOW_STARTED) {
        const char *prev =
            duro_json_str(e->data, "continuedExecutionRunId", "");
        snprintf(s->prev, s->prev_size, "%s", prev);
    } else if (e->type != DURO_EVENT_WORKFLOW_TASK_COMPLETED &&
               e->type != DURO_EVENT_UPDATE_ACCEPTED &&
               e->type != DURO_EVENT_UPDATE_COMPLETED &&
               e->type != DURO_EVENT_CANCEL_REQUESTED) {
        /* updates and cancel requests: chaos_ops.c counts them */
        chaos_report(k, R_MALFORMED, id, "event %lld: unexpected %s",
                     (long long)e->id, name);
        return false;
    }
    return true;
}

int chaos_check_history(checker *k, const char *id, const char *run,
                        long long hlen, const hist_expect *x, bool closed,
                        char *prev_run, size_t prev_size)
{
    duro_wf_keys wk;
    duro_wf_keys_init(&wk, DURO_KEYSPACE_DEFAULT(k->partitions), id, run);
    redisReply *r = chaos_cmd(k, wk.hist, "LRANGE %s 0 -1", wk.hist);
    hist_state s = {.prev = prev_run, .prev_size = prev_size};
    snprintf(prev_run, prev_size, "%s", "");
    snprintf(s.xid, sizeof(s.xid), "%s/%s", id, run);
    int rc = 0;
    size_t n = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
    duro_event_type prev = DURO_EVENT_UNKNOWN;
    for (size_t i = 0; i < n && rc == 0; i++) {
        duro_event e;
        char err[256];
        if (duro_event_decode_reply(r->element[i], (int64_t)i + 1, &e, err,
                                    sizeof(err)) != 0) {
            chaos_report(k, R_MALFORMED, id, "event #%zu: %s", i + 1, err);
            rc = -1;
            break;
        }
        /* payloads as the workers wrote them (DURO_CODEC_KEY_FILE) */
        if (duro_codec_decode_event(k->a->codec, e.type, e.data, err,
                                    sizeof(err)) != 0) {
            chaos_report(k, R_MALFORMED, id, "event #%zu: %s", i + 1, err);
            duro_event_free(&e);
            rc = -1;
            break;
        }
        if (e.id != (int64_t)i + 1) {
            chaos_report(k, R_MALFORMED, id, "event #%zu has id %lld", i + 1,
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
    if (hlen >= 0 && (long long)n != hlen) {
        chaos_report(k, R_MALFORMED, id,
                     "history has %zu events, hlen says %lld", n, hlen);
        return -1;
    }
    if (!closed) return 0;
    if (s.closings != 1) {
        chaos_report(k, R_MALFORMED, id, "%d closing events", s.closings);
        return -1;
    }
    for (int i = 0; i < MAX_SEQ; i++)
        if (s.act[i] == 1 || s.timer[i] == 1) {
            chaos_report(k, R_MALFORMED, id, "%s %d never resolved",
                         s.act[i] == 1 ? "activity" : "timer", i);
            return -1;
        }
    if ((s.closing == DURO_EVENT_WORKFLOW_CONTINUED_AS_NEW) != x->continued) {
        chaos_report(k, R_MALFORMED, id, "run %s closed with %s", run,
                     duro_event_name(s.closing));
        return -1;
    }
    for (int i = 0; i < MAX_SEQ; i++)
        if (s.child[i] == 1 || s.child[i] == 2) {
            chaos_report(k, R_MALFORMED, id, "child %d never completed", i);
            return -1;
        }
    if (x->activities >= 0 && s.scheduled != x->activities) {
        chaos_report(k, s.scheduled > x->activities ? R_DUP : R_MALFORMED, id,
                     "run %s: %d activities scheduled, the plan has %d", run,
                     s.scheduled, x->activities);
        return -1;
    }
    if (s.children != x->children) {
        chaos_report(k, s.children > x->children ? R_DUP : R_MALFORMED, id,
                     "%d children started, the plan has %d", s.children,
                     x->children);
        return -1;
    }
    if (s.signals != x->signals) {
        chaos_report(k, s.signals > x->signals ? R_DUP : R_MALFORMED, id,
                     "%d signals received, %d sent", s.signals, x->signals);
        return -1;
    }
    return 0;
}

const char *chaos_hash_get(const redisReply *h, const char *field)
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
    const char *run = chaos_hash_get(h, "run"),
               *status = chaos_hash_get(h, "status");
    if (!run || !status) return;
    char row[DURO_KEY_MAX], idx[DURO_KEY_MAX];
    duro_key_vis(row, sizeof(row), DURO_KEYSPACE_DEFAULT(k->partitions),
                 wk->partition, run);
    redisReply *r = chaos_cmd(k, row, "HGET %s status", row);
    if (r->type != REDIS_REPLY_STRING || strcmp(r->str, status) != 0)
        chaos_report(k, R_STUCK, id, "visibility row says %s, the hash %s",
                     r->type == REDIS_REPLY_STRING ? r->str : "(none)", status),
            k->stuck++;
    freeReplyObject(r);
    duro_key_vx(idx, sizeof(idx), DURO_KEYSPACE_DEFAULT(k->partitions),
                wk->partition, "status:RUNNING");
    r = chaos_cmd(k, idx, "ZSCORE %s %s", idx, run);
    if (r->type != REDIS_REPLY_NIL)
        chaos_report(k, R_STUCK, id, "closed but still in %s", idx), k->stuck++;
    freeReplyObject(r);
    duro_key_vx(idx, sizeof(idx), DURO_KEYSPACE_DEFAULT(k->partitions),
                wk->partition, "close");
    r = chaos_cmd(k, idx, "ZSCORE %s %s", idx, run);
    if (r->type == REDIS_REPLY_NIL)
        chaos_report(k, R_STUCK, id, "closed but not in %s", idx), k->stuck++;
    freeReplyObject(r);
}

void chaos_check_leftovers(checker *k, const char *id, const redisReply *h)
{
    duro_wf_keys w;
    duro_wf_keys_init(&w, DURO_KEYSPACE_DEFAULT(k->partitions), id,
                      chaos_hash_get(h, "run"));
    const duro_wf_keys *wk = &w;
    /* a closed run's hash drops its task bookkeeping (wft with it); one
     * that kept wft must hold no outstanding task */
    const char *wft = chaos_hash_get(h, "wft");
    if (wft && strcmp(wft, "0") != 0)
        chaos_report(k, R_STUCK, id, "closed with wft=%s", wft), k->stuck++;
    redisReply *r = chaos_cmd(k, wk->buf, "EXISTS %s %s", wk->buf, wk->pa);
    if (r->type == REDIS_REPLY_INTEGER && r->integer != 0)
        chaos_report(k, R_STUCK, id,
                     "closed with a buffer or pending activities"),
            k->stuck++;
    freeReplyObject(r);
    check_visibility(k, id, wk, h);
}

void chaos_check_steps(checker *k, const char *id, uint32_t seed)
{
    chaos_plan p;
    chaos_plan_make(seed, &p);
    duro_wf_keys wk;
    duro_wf_keys_init(&wk, DURO_KEYSPACE_DEFAULT(k->partitions), id, NULL);
    redisReply *h = chaos_cmd(k, wk.wf, "HGETALL %s", wk.wf);
    const char *run =
        h->type == REDIS_REPLY_ARRAY ? chaos_hash_get(h, "run") : NULL;
    const char *status = run ? chaos_hash_get(h, "status") : NULL;
    if (!run) {
        chaos_report(k, R_LOST, id, "no workflow hash");
    } else if (!status || strcmp(status, "COMPLETED") != 0) {
        const char *f = chaos_hash_get(h, "failure");
        const char *we = chaos_hash_get(h, "wft_error");
        chaos_report(k, R_LOST, id, "status %s run %s failure %s wft_error %s",
                     status ? status : "(none)", run, f && *f ? f : "-",
                     we && *we ? we : "-");
    } else if (!result_ok(k, chaos_hash_get(h, "result"), &p)) {
        chaos_report(k, R_LOST, id,
                     "result %s, expected {\"sum\":%lld,\"signal\":%s}",
                     chaos_hash_get(h, "result"), (long long)p.sum,
                     p.signaled ? "true" : "false");
    }
    if (run) {
        const char *hlen = chaos_hash_get(h, "hlen");
        bool closed = status && strcmp(status, "RUNNING") != 0;
        hist_expect x = {.activities = p.activities,
                         .signals = p.signaled ? 1 : 0};
        char prev[64];
        chaos_check_history(k, id, run, hlen ? strtoll(hlen, NULL, 10) : -1, &x,
                            closed, prev, sizeof(prev));
        if (closed) chaos_check_leftovers(k, id, h);
    }
    freeReplyObject(h);
}
