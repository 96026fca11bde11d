/* chaos_ops.c: chaos-check's `check` of a chaos-ops workflow (chaos_plan.h):
 *  - updates: each accepted update id has one UpdateAccepted and one
 *    UpdateCompleted, a rejected one (or one the plan never sent) none,
 *    and the result counts each accepted update once;
 *  - signal-with-start: one run (no run before it), each signal j
 *    received once, the result summing each once;
 *  - cancellation: one CancelRequested, the run closed CANCELED with its
 *    activities and timers resolved (chaos_check_history), and no timer
 *    of the run left in its partition's timers.
 * chaos_check_history checks the rest of the history, as for every run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/codec.h"
#include "duro/config.h"
#include "duro/history.h"
#include "duro/json.h"
#include "duro/keys.h"
#include "chaos_plan.h"
#include "chaos_checker.h"
#include "chaos_tool.h"

/* ops_tally: what the history holds of the plan's updates and signals. */
typedef struct {
    int accepted[CHAOS_MAX_OPS], completed[CHAOS_MAX_OPS];
    int signals[CHAOS_MAX_OPS];
    int foreign; /* update ids or signals the plan never sent */
    int cancels; /* CancelRequested events */
} ops_tally;

/* update_index: j for update id "<id>-u<j>", -1 for another id. */
static int update_index(const char *id, const char *uid)
{
    char want[96];
    for (int j = 0; j < CHAOS_MAX_OPS; j++) {
        chaos_update_id(want, sizeof(want), id, j);
        if (strcmp(want, uid) == 0) return j;
    }
    return -1;
}

static void tally_event(const char *id, const duro_event *e, ops_tally *t)
{
    if (e->type == DURO_EVENT_UPDATE_ACCEPTED ||
        e->type == DURO_EVENT_UPDATE_COMPLETED) {
        int j = update_index(id, duro_json_str(e->data, "updateId", ""));
        if (j < 0)
            t->foreign++;
        else if (e->type == DURO_EVENT_UPDATE_ACCEPTED)
            t->accepted[j]++;
        else
            t->completed[j]++;
    } else if (e->type == DURO_EVENT_SIGNAL_RECEIVED) {
        const cJSON *in = cJSON_GetObjectItemCaseSensitive(e->data, "input");
        int64_t j = duro_json_int(in, "j", -1);
        if (j < 0 || j >= CHAOS_MAX_OPS)
            t->foreign++;
        else
            t->signals[j]++;
    } else if (e->type == DURO_EVENT_CANCEL_REQUESTED) {
        t->cancels++;
    }
}

/* tally reads run's history into t; false when it does not decode
 * (chaos_check_history reports that). */
static bool tally(checker *k, const char *id, const char *run, ops_tally *t)
{
    duro_wf_keys wk;
    duro_wf_keys_init(&wk, DURO_KEYSPACE_DEFAULT(k->partitions), id, run);
    redisReply *r = chaos_cmd(k, wk.hist, "LRANGE %s 0 -1", wk.hist);
    size_t n = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        duro_event e;
        ok = duro_event_decode_reply(r->element[i], (int64_t)i + 1, &e, NULL,
                                     0) == 0;
        if (!ok) break;
        ok = duro_codec_decode_event(k->a->codec, e.type, e.data, NULL, 0) == 0;
        if (ok) tally_event(id, &e, t);
        duro_event_free(&e);
    }
    freeReplyObject(r);
    return ok;
}

/* check_tally compares t with the plan o. */
static void check_tally(checker *k, const char *id, const chaos_ops *o,
                        const ops_tally *t)
{
    if (t->foreign)
        chaos_report(k, R_MALFORMED, id, "%d updates or signals not sent",
                     t->foreign);
    for (int j = 0; j < o->n; j++) {
        if (o->mode == CHAOS_OPS_UPDATE) {
            int want = o->x[j] > 0 ? 1 : 0;
            if (t->accepted[j] != want || t->completed[j] != want)
                chaos_report(k,
                             t->accepted[j] > want || t->completed[j] > want
                                 ? R_DUP
                                 : R_LOST,
                             id,
                             "update %d (%s): %d UpdateAccepted, %d "
                             "UpdateCompleted",
                             j, want ? "accepted" : "rejected", t->accepted[j],
                             t->completed[j]);
        } else if (o->mode == CHAOS_OPS_SWS && t->signals[j] != 1) {
            chaos_report(k, t->signals[j] > 1 ? R_DUP : R_LOST, id,
                         "signal %d received %d times", j, t->signals[j]);
        }
    }
    if ((o->mode == CHAOS_OPS_CANCEL) != (t->cancels == 1))
        chaos_report(k, t->cancels > 1 ? R_DUP : R_MALFORMED, id,
                     "%d CancelRequested", t->cancels);
}

/* check_result: the closed run's result is what the plan says. */
static void check_result(checker *k, const char *id, const chaos_ops *o,
                         const char *json)
{
    cJSON *v = NULL;
    char err[128];
    if (!json ||
        duro_codec_parse(k->a->codec, json, 1 << 20, &v, err, sizeof(err)) != 0)
        v = NULL;
    int64_t sum = duro_json_int(v, "sum", -1);
    bool ok;
    int64_t n = -1, want = -1;
    if (o->mode == CHAOS_OPS_CANCEL) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(v, "canceled");
        ok = cJSON_IsTrue(c) &&
             (!o->cleanup ||
              duro_json_int(v, "cleanup", -1) == chaos_act_value(o->x[1]));
    } else {
        n = duro_json_int(
            v, o->mode == CHAOS_OPS_UPDATE ? "updates" : "signals", -1);
        want = o->mode == CHAOS_OPS_UPDATE ? o->accepted : o->n;
        ok = sum == o->sum && n == want;
    }
    if (!ok)
        chaos_report(k, n > want ? R_DUP : R_LOST, id,
                     "result %s, expected sum %lld and %lld", json ? json : "-",
                     (long long)o->sum, (long long)want);
    cJSON_Delete(v);
}

/* check_timers: no timer of the closed run is left in its partition's
 * timers (a canceled sleep's, an activity's timeout). */
static void check_timers(checker *k, const char *id, const char *run)
{
    duro_wf_keys wk;
    duro_wf_keys_init(&wk, DURO_KEYSPACE_DEFAULT(k->partitions), id, run);
    char cursor[32] = "0";
    int n = 0;
    do {
        redisReply *r = chaos_cmd(k, wk.timers, "ZSCAN %s %s MATCH *|%s|*",
                                  wk.timers, cursor, run);
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            freeReplyObject(r);
            break;
        }
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        for (size_t i = 0; i + 1 < r->element[1]->elements; i += 2) {
            const char *m = r->element[1]->element[i]->str;
            /* retention and transfer records outlive the run */
            if (m[0] == 'o' || m[0] == 'c') continue;
            if (++n == 1)
                chaos_report(k, R_LEFTOVER, id, "closed with timer %s", m);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    k->leftovers += n;
}

void chaos_check_ops(checker *k, const char *id, uint32_t seed)
{
    chaos_ops o;
    chaos_ops_make(seed, &o);
    k->ops[o.mode]++;
    duro_wf_keys wk;
    duro_wf_keys_init(&wk, DURO_KEYSPACE_DEFAULT(k->partitions), id, NULL);
    redisReply *h = chaos_cmd(k, wk.wf, "HGETALL %s", wk.wf);
    const char *run =
        h->type == REDIS_REPLY_ARRAY ? chaos_hash_get(h, "run") : NULL;
    const char *status = run ? chaos_hash_get(h, "status") : NULL;
    const char *want = o.mode == CHAOS_OPS_CANCEL ? "CANCELED" : "COMPLETED";
    bool closed = status && strcmp(status, "RUNNING") != 0;
    if (!run) {
        chaos_report(k, R_LOST, id, "no workflow hash");
    } else if (!status || strcmp(status, want) != 0) {
        const char *f = chaos_hash_get(h, "failure");
        chaos_report(k, R_LOST, id, "status %s run %s failure %s, expected %s",
                     status ? status : "(none)", run, f && *f ? f : "-", want);
    } else {
        check_result(k, id, &o, chaos_hash_get(h, "result"));
    }
    if (run) {
        const char *hlen = chaos_hash_get(h, "hlen");
        hist_expect x = {.activities = o.mode == CHAOS_OPS_CANCEL ? -1 : 0,
                         .signals = o.mode == CHAOS_OPS_SWS ? o.n : 0};
        char prev[64];
        chaos_check_history(k, id, run, hlen ? strtoll(hlen, NULL, 10) : -1, &x,
                            closed, prev, sizeof(prev));
        if (*prev)
            chaos_report(k, R_DUP, id, "run %s continues run %s", run, prev);
        ops_tally t = {0};
        if (tally(k, id, run, &t)) check_tally(k, id, &o, &t);
        if (closed) {
            chaos_check_leftovers(k, id, h);
            check_timers(k, id, run);
        }
    }
    freeReplyObject(h);
}
