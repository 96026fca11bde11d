/* chaos_flow.c: chaos-check's `check` of priorities and fairness keys
 * (docs/internals.md, "Priorities" and "Fairness"): each workflow's hash
 * keeps the priority and fairness key it was started with (a counter's
 * continued runs and a parent's children inherit them), and what the
 * level and fair paths leave beside the task streams is empty at the end:
 * no fair key still counted as waiting (`n:K` in a stream's `<S>~~` hash),
 * no key still ready (`<S>~` zset). Their streams' backlogs are checked
 * with the other task streams (chaos_mix.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/config.h"
#include "duro/keys.h"
#include "chaos_plan.h"
#include "chaos_checker.h"
#include "chaos_tool.h"

/* ---- Run options ------------------------------------------------------ */

/* same_field: the hash's value v (NULL: absent) is want, where want NULL
 * or "" means absent. */
static bool same_field(const redisReply *v, const char *want)
{
    bool absent = v->type != REDIS_REPLY_STRING || !*v->str;
    if (!want || !*want) return absent;
    return !absent && strcmp(v->str, want) == 0;
}

void chaos_check_flow(checker *k, const char *id, const chaos_flow *f)
{
    duro_wf_keys wk;
    duro_wf_keys_init(&wk, DURO_KEYSPACE_DEFAULT(k->partitions), id, NULL);
    redisReply *r =
        chaos_cmd(k, wk.wf, "HMGET %s run priority fkey fweight", wk.wf);
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 4 ||
        r->element[0]->type != REDIS_REPLY_STRING) {
        freeReplyObject(r); /* no hash: reported LOST by its kind's check */
        return;
    }
    /* the hash writes a priority only when not 3, a weight when not 1 */
    char prio[16] = "", weight[16] = "";
    if (f->priority && f->priority != 3)
        snprintf(prio, sizeof(prio), "%d", f->priority);
    int w = chaos_tenant_weight(f->tenant);
    if (f->tenant >= 0 && w > 1) snprintf(weight, sizeof(weight), "%d", w);
    const char *key = chaos_tenant(f->tenant);
    if (!same_field(r->element[1], prio) || !same_field(r->element[2], key) ||
        !same_field(r->element[3], weight)) {
#define SHOWN(e) ((e)->type == REDIS_REPLY_STRING ? (e)->str : "-")
        chaos_report(k, R_MALFORMED, id,
                     "run options priority %s fkey %s fweight %s, started "
                     "with %s, %s, %s",
                     SHOWN(r->element[1]), SHOWN(r->element[2]),
                     SHOWN(r->element[3]), *prio ? prio : "-", key ? key : "-",
                     *weight ? weight : "-");
#undef SHOWN
    }
    if (f->priority) k->prio++;
    if (key) k->fair++;
    freeReplyObject(r);
}

/* ---- What the level and fair paths leave ------------------------------ */

chaos_key_kind chaos_key_kind_of(const char *key)
{
    const char *q = strstr(key, "}:wft:");
    if (!q) q = strstr(key, "}:act:");
    if (!q) return CHAOS_KEY_OTHER;
    q += 6; /* the queue, then its level, sticky or fair suffix */
    size_t n = strlen(q);
    if (strchr(q, '~')) {
        if (n >= 2 && strcmp(q + n - 2, "~~") == 0) return CHAOS_KEY_FAIR_META;
        if (q[n - 1] == '~') return CHAOS_KEY_FAIR_READY;
        return CHAOS_KEY_FAIR;
    }
    const char *bang = strchr(q, '!');
    if (bang)
        return strcmp(bang, "!0") == 0 ? CHAOS_KEY_BELLS : CHAOS_KEY_LEVEL;
    return CHAOS_KEY_TASKS;
}

int chaos_check_fair_keys(checker *k, const char *key, chaos_key_kind kind,
                          bool report_them)
{
    int bad = 0;
    if (kind == CHAOS_KEY_FAIR_READY) {
        redisReply *r = chaos_cmd(k, key, "ZRANGE %s 0 -1", key);
        bool zset = r->type == REDIS_REPLY_ARRAY;
        size_t n = zset ? r->elements : 0;
        if (!zset || n > 0) {
            bad++;
            if (report_them)
                chaos_report(
                    k, R_LEFTOVER, key, "%s%zu fair keys still ready%s%s",
                    zset ? "" : "not a zset: ", n, n ? ", the first " : "",
                    n ? r->element[0]->str : "");
        }
        freeReplyObject(r);
        return bad;
    }
    if (kind != CHAOS_KEY_FAIR_META) return 0;
    /* a key's n:K goes when its count reaches 0 (duro_fair_took): one
     * left counts tasks that are not in its stream any more */
    redisReply *r = chaos_cmd(k, key, "HGETALL %s", key);
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements;
         i += 2) {
        const char *field = r->element[i]->str;
        if (strncmp(field, "n:", 2) != 0) continue;
        bad++;
        if (report_them)
            chaos_report(k, R_LEFTOVER, key,
                         "fair key %s still counts %s tasks waiting", field + 2,
                         r->element[i + 1]->str);
    }
    freeReplyObject(r);
    return bad;
}
