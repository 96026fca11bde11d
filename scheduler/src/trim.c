/* trim.c: deletes the acknowledged task entries that a long-pending entry
 * keeps from the Functions' trim.
 *
 * The Functions acknowledge a task entry without deleting it and, now and
 * then, trim its stream up to the group's first pending entry
 * (docs/internals.md, "Trimming task streams"). An entry pending for long
 * (an activity that runs for hours) holds that point back, and every entry
 * acknowledged after it would stay. Every scan, per queue, partition,
 * level and fairness-key stream:
 *
 *   XPENDING <stream> duro - + 1            the first pending entry F
 *
 * and when F was added PIN_MS or more ago, page by page after it:
 *
 *   XINFO GROUPS <stream>                   the group's last-delivered id L
 *   XPENDING <stream> duro (<from> + PAGE   the pending ids of the page
 *   XRANGE <stream> (<from> + COUNT PAGE    the entries of the page
 *   XDEL <stream> <id>...                   those up to L and not pending
 *
 * in that order on one connection: an entry up to L that is not pending
 * when XPENDING runs was delivered and acknowledged, and nothing makes it
 * pending again (XCLAIM takes only pending entries), so the three answers
 * need not be atomic. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/keys.h"
#include "duro/log.h"
#include "duro/priority.h"
#include "sched_internal.h"

#define PIN_MS 1000
#define PAGE 500
#define MAX_PAGES 20
#define ID_MAX 48

/* sid: a stream entry id, compared as (ms, seq). */
typedef struct {
    unsigned long long ms, seq;
} sid;

static int sid_parse(const char *s, sid *out)
{
    char *end;
    out->ms = strtoull(s, &end, 10);
    if (*end != '-') return -1;
    out->seq = strtoull(end + 1, &end, 10);
    return *end ? -1 : 0;
}

static int sid_cmp(sid a, sid b)
{
    if (a.ms != b.ms) return a.ms < b.ms ? -1 : 1;
    return a.seq < b.seq ? -1 : a.seq > b.seq;
}

/* page: one stream's page after `from`, filled by three replies. */
typedef struct {
    sched *s;
    char key[DURO_KEY_MAX];
    char from[ID_MAX];
    int pages, waiting, failed;
    sid last;     /* the group's last-delivered id */
    sid *pend;    /* pending ids of the page, ascending */
    size_t npend; /* PAGE: the page may end before the entries' */
    sid *ids;     /* entry ids of the page, ascending */
    size_t nids;
    char next[ID_MAX]; /* the page's last entry id */
} page;

static void trim_page(sched *s, const char *key, const char *from, int pages);

/* ids_of: the ids of an XPENDING or XRANGE reply, in its order. Returns
 * -1 unless every element had one (memory, a reply of another shape):
 * a pending id missed would be deleted. */
static int ids_of(const redisReply *r, sid **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!r || r->type != REDIS_REPLY_ARRAY) return -1;
    if (r->elements == 0) return 0;
    sid *v = calloc(r->elements, sizeof(*v));
    if (!v) return -1;
    *out = v;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        const char *id = e->type == REDIS_REPLY_ARRAY && e->elements > 0
                             ? duro__reply_str(e->element[0])
                             : NULL;
        if (!id || sid_parse(id, &v[i]) != 0) return -1;
        *n = i + 1;
    }
    return 0;
}

/* page_done deletes what the three replies show acknowledged, then goes
 * on with the next page while pages come back full. */
static void page_done(page *pg)
{
    sched *s = pg->s;
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "XDEL");
    duro_argv_push(&a, pg->key);
    sid limit = pg->last;
    if (pg->npend >= PAGE && sid_cmp(pg->pend[pg->npend - 1], limit) < 0)
        limit = pg->pend[pg->npend - 1]; /* what follows is not known */
    size_t j = 0, n = 0;
    for (size_t i = 0; i < pg->nids && sid_cmp(pg->ids[i], limit) <= 0; i++) {
        while (j < pg->npend && sid_cmp(pg->pend[j], pg->ids[i]) < 0)
            j++;
        if (j < pg->npend && sid_cmp(pg->pend[j], pg->ids[i]) == 0) continue;
        duro_argv_pushf(&a, "%llu-%llu", pg->ids[i].ms, pg->ids[i].seq);
        n++;
    }
    if (n > 0) {
        duro_debug("TRIM stream=%s after=%s deleted=%zu", pg->key, pg->from, n);
        sched_cmd_noreply(s, &a, "XDEL");
    }
    duro_argv_free(&a);
    sid next;
    if (!s->stopping && pg->nids >= PAGE && pg->pages + 1 < MAX_PAGES &&
        sid_parse(pg->next, &next) == 0 && sid_cmp(next, limit) < 0)
        trim_page(s, pg->key, pg->next, pg->pages + 1);
}

static void page_answered(page *pg)
{
    if (--pg->waiting > 0) return;
    if (!pg->failed && !pg->s->stopping) page_done(pg);
    pg->s->trim_inflight--;
    free(pg->pend);
    free(pg->ids);
    free(pg);
}

static void on_groups(duro_aredis *r, redisReply *reply, void *arg)
{
    page *pg = arg;
    pg->failed = 1;
    for (size_t i = 0;
         reply && reply->type == REDIS_REPLY_ARRAY && i < reply->elements;
         i++) {
        const redisReply *g = reply->element[i];
        const char *name = duro__reply_str(duro__reply_kv(g, "name"));
        const char *last =
            duro__reply_str(duro__reply_kv(g, "last-delivered-id"));
        if (name && last && strcmp(name, DURO_GROUP) == 0 &&
            sid_parse(last, &pg->last) == 0)
            pg->failed = 0;
    }
    page_answered(pg);
}

static void on_pending(duro_aredis *r, redisReply *reply, void *arg)
{
    page *pg = arg;
    if (ids_of(reply, &pg->pend, &pg->npend) != 0) pg->failed = 1;
    page_answered(pg);
}

static void on_range(duro_aredis *r, redisReply *reply, void *arg)
{
    page *pg = arg;
    if (ids_of(reply, &pg->ids, &pg->nids) != 0) pg->failed = 1;
    if (!pg->failed && reply->elements > 0) {
        const redisReply *e = reply->element[reply->elements - 1];
        const char *id = e->type == REDIS_REPLY_ARRAY && e->elements > 0
                             ? duro__reply_str(e->element[0])
                             : NULL;
        snprintf(pg->next, sizeof(pg->next), "%s", id ? id : "");
    }
    page_answered(pg);
}

static void trim_page(sched *s, const char *key, const char *from, int pages)
{
    page *pg = calloc(1, sizeof(*pg));
    if (!pg) return;
    pg->s = s;
    pg->pages = pages;
    snprintf(pg->key, sizeof(pg->key), "%s", key);
    snprintf(pg->from, sizeof(pg->from), "%s", from);
    char excl[ID_MAX + 1];
    snprintf(excl, sizeof(excl), "(%s", from);
    duro_argv a[3];
    for (int i = 0; i < 3; i++)
        duro_argv_init(&a[i]);
    duro_argv_push(&a[0], "XINFO");
    duro_argv_push(&a[0], "GROUPS");
    duro_argv_push(&a[0], key);
    duro_argv_push(&a[1], "XPENDING");
    duro_argv_push(&a[1], key);
    duro_argv_push(&a[1], DURO_GROUP);
    duro_argv_push(&a[1], excl);
    duro_argv_push(&a[1], "+");
    duro_argv_pushll(&a[1], PAGE);
    duro_argv_push(&a[2], "XRANGE");
    duro_argv_push(&a[2], key);
    duro_argv_push(&a[2], excl);
    duro_argv_push(&a[2], "+");
    duro_argv_push(&a[2], "COUNT");
    duro_argv_pushll(&a[2], PAGE);
    duro_aredis_cb cbs[3] = {on_groups, on_pending, on_range};
    s->trim_inflight++;
    pg->waiting = 1; /* held until the three are sent */
    for (int i = 0; i < 3; i++) {
        if (sched_cmd(s, cbs[i], pg, &a[i]) == 0)
            pg->waiting++;
        else
            pg->failed = 1;
        duro_argv_free(&a[i]);
    }
    page_answered(pg);
}

/* ---- The first pending entry of each stream ---- */

typedef struct {
    sched *s;
    char key[DURO_KEY_MAX];
} stream_ref;

/* XPENDING key duro - + 1 -> [] or [[id, consumer, idle, deliveries]] */
static void on_first(duro_aredis *r, redisReply *reply, void *arg)
{
    stream_ref *st = arg;
    sched *s = st->s;
    s->trim_inflight--;
    const char *id = NULL;
    sid f;
    if (!s->stopping && reply && reply->type == REDIS_REPLY_ARRAY &&
        reply->elements == 1 && reply->element[0]->type == REDIS_REPLY_ARRAY &&
        reply->element[0]->elements > 0)
        id = duro__reply_str(reply->element[0]->element[0]);
    if (id && strlen(id) < ID_MAX && sid_parse(id, &f) == 0 &&
        (long long)f.ms <= sched_now_ms(s) - PIN_MS)
        trim_page(s, st->key, id, 0);
    free(st);
}

static void first_pending(sched *s, const char *key)
{
    stream_ref *st = calloc(1, sizeof(*st));
    if (!st) return;
    st->s = s;
    snprintf(st->key, sizeof(st->key), "%s", key);
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "XPENDING");
    duro_argv_push(&a, key);
    duro_argv_push(&a, DURO_GROUP);
    duro_argv_push(&a, "-");
    duro_argv_push(&a, "+");
    duro_argv_push(&a, "1");
    if (sched_cmd(s, on_first, st, &a) == 0)
        s->trim_inflight++;
    else
        free(st);
    duro_argv_free(&a);
}

/* ---- Which streams ---- */

/* SMEMBERS <prefix>{pN}:fair:<queue> -> the partition's fairness-key
 * streams (docs/internals.md, "Fairness") */
static void on_fair(duro_aredis *r, redisReply *reply, void *arg)
{
    sched *s = arg;
    s->trim_inflight--;
    for (size_t i = 0; !s->stopping && reply &&
                       reply->type == REDIS_REPLY_ARRAY && i < reply->elements;
         i++) {
        const char *k = duro__reply_str(reply->element[i]);
        if (k && reply->element[i]->len < DURO_KEY_MAX) first_pending(s, k);
    }
}

static void trim_queue(const nspace *ns, const char *queue)
{
    sched *s = ns->s;
    char key[DURO_KEY_MAX], lkey[DURO_KEY_MAX];
    for (int p = 0; p < ns->ks.partitions; p++) {
        for (int l = DURO_PRIORITY_MIN; l <= DURO_PRIORITY_MAX; l++) {
            duro_key_wft(key, sizeof(key), &ns->ks, p, queue);
            first_pending(s, duro_priority_key(lkey, sizeof(lkey), key, l));
            duro_key_act(key, sizeof(key), &ns->ks, p, queue);
            first_pending(s, duro_priority_key(lkey, sizeof(lkey), key, l));
        }
        duro_argv a;
        duro_argv_init(&a);
        duro_argv_push(&a, "SMEMBERS");
        duro_argv_pushf(&a, "%s{p%d}:fair:%s", ns->ks.prefix, p, queue);
        if (sched_cmd(s, on_fair, s, &a) == 0) s->trim_inflight++;
        duro_argv_free(&a);
    }
}

/* SMEMBERS <prefix>queues -> [queue, ...] */
static void on_queues(duro_aredis *r, redisReply *reply, void *arg)
{
    const nspace *ns = arg;
    sched *s = ns->s;
    s->trim_inflight--;
    char err[128];
    for (size_t i = 0; !s->stopping && reply &&
                       reply->type == REDIS_REPLY_ARRAY && i < reply->elements;
         i++) {
        const redisReply *q = reply->element[i];
        if (duro__reply_str(q) && strlen(q->str) == q->len &&
            duro_name_check("queue", q->str, err, sizeof(err)) == 0)
            trim_queue(ns, q->str);
    }
}

void trim_scan(sched *s)
{
    if (s->trim_inflight > 0) return; /* the last scan is still running */
    for (nspace *ns = s->spaces; ns; ns = ns->next) {
        if (!ns->live) continue;
        char key[DURO_SHORT_KEY_MAX];
        duro_argv a;
        duro_argv_init(&a);
        duro_argv_push(&a, "SMEMBERS");
        duro_argv_push(&a, duro_key_queues(key, sizeof(key), &ns->ks));
        if (sched_cmd(s, on_queues, ns, &a) == 0) s->trim_inflight++;
        duro_argv_free(&a);
    }
}
