/* levels.c: which priority levels' streams the blocking reads name.
 *
 * A read names every partition's plain streams, and a level's stream
 * (levels 1, 2, 4, 5: duro/priority.h) of a partition only while that
 * level is in use there: on a node with 16 partitions, an activity read
 * names 16 + 1 streams instead of 80, and a read's Redis CPU grows with
 * the streams it names (docs/internals.md, "The read set"). A level
 * stream joins the reads
 *
 *   at the start        when its group has entries not yet delivered
 *                       (XINFO GROUPS: lag > 0, or unknown)
 *   on a level bell     the Function that adds a task to a level stream
 *                       with nothing undelivered also adds {level=N,
 *                       p=P} to the queue's level bell stream of that
 *                       kind (`<partition 0's plain stream>!0`), which
 *                       every read names first: it wakes one worker at
 *                       once, ahead of any backlog; the bell is acked and
 *                       the next read, sent at once, names the level
 *   on a check          every LEVEL_CHECK_MS, the same XINFO GROUPS on
 *                       each level stream not read: the one case the bell
 *                       misses (the worker that took a level's bell died
 *                       with tasks of it still undelivered)
 *
 * and leaves them after LEVEL_IDLE_MS without a task from it: a task
 * added after that finds nothing undelivered there and rings.
 *
 * A reply that brings a bell also brings the tasks of the other streams
 * read, which may be of lower levels than the one the bell is for: they
 * are held (copied) until the next reply, which names the new level, has
 * been handed out, so that a level's first task does not wait behind
 * them. w->level_on NULL (out of memory, a broken bell stream) reads
 * every level, as before. */
#include <stdlib.h>
#include <string.h>

#include "duro/clock.h"
#include "duro/log.h"
#include "duro/priority.h"
#include "duro/stream_fields.h"
#include "worker_internal.h"

#define LEVEL_KINDS (DURO_STREAM_KINDS - DURO_STREAM_WFT_L1)
#define LEVEL_CHECK_MS 10000
#define LEVEL_IDLE_MS 60000

/* level_check: one XINFO GROUPS of a level stream not read. */
typedef struct {
    duro_worker *w;
    int index; /* (kind - DURO_STREAM_WFT_L1) * partitions + p */
} level_check;

/* held_task: a task of a reply held across a bell. */
typedef struct held_task {
    struct held_task *next;
    char *stream;
    redisReply *entry;
} held_task;

static const char *level_key(const duro_worker *w, int index)
{
    return duro__stream_key(w, DURO_STREAM_WFT_L1 + index / w->partitions,
                            index % w->partitions);
}

/* undelivered: whether an XINFO GROUPS reply shows entries of the stream
 * not yet delivered to the group, or cannot tell (no group, lag unknown,
 * an error): such a stream is read. */
static bool undelivered(const redisReply *r)
{
    if (!r || r->type != REDIS_REPLY_ARRAY) return true;
    for (size_t g = 0; g < r->elements; g++) {
        const redisReply *e = r->element[g];
        if (e->type != REDIS_REPLY_ARRAY) continue;
        const redisReply *name = duro_stream_field(e, "name");
        if (!name || name->type != REDIS_REPLY_STRING ||
            strcmp(name->str, DURO_GROUP) != 0)
            continue;
        const redisReply *lag = duro_stream_field(e, "lag");
        return !lag || lag->type != REDIS_REPLY_INTEGER || lag->integer > 0;
    }
    return true;
}

static void set_on(duro_worker *w, int index, bool on, const char *why)
{
    if (w->level_on[index] == on) return;
    w->level_on[index] = on;
    w->level_used_ms[index] = duro_mono_ms();
    duro_info("%s key=%s why=%s", on ? "LEVEL-READ" : "LEVEL-UNREAD",
              level_key(w, index), why);
}

bool duro__level_read(const duro_worker *w, int kind, int p)
{
    return kind < DURO_STREAM_WFT_L1 || !w->level_on ||
           w->level_on[(kind - DURO_STREAM_WFT_L1) * w->partitions + p];
}

const char *duro__level_bells(const duro_worker *w, const int *kinds,
                              int nkinds)
{
    for (int i = 0; w->level_on && i < nkinds; i++)
        if (kinds[i] == DURO_STREAM_WFT || kinds[i] == DURO_STREAM_ACT)
            return w->level_bells[kinds[i]];
    return NULL;
}

static void held_free(held_task *t)
{
    while (t) {
        held_task *next = t->next;
        freeReplyObject(t->entry);
        free(t->stream);
        free(t);
        t = next;
    }
}

void duro__levels_free(duro_worker *w)
{
    for (int i = 0; i < 2; i++) { /* left pending: the scheduler's */
        held_free(w->level_held[i].head);
        w->level_held[i].head = NULL;
    }
    free(w->level_on);
    free(w->level_used_ms);
    free(w->level_bells[0]);
    free(w->level_bells[1]);
    w->level_on = NULL;
    w->level_used_ms = NULL;
    w->level_bells[0] = w->level_bells[1] = NULL;
}

/* group_made: whether XGROUP CREATE's reply leaves the group readable. */
static bool group_made(const redisReply *r)
{
    return r && (r->type != REDIS_REPLY_ERROR ||
                 strncmp(r->str, "BUSYGROUP", 9) == 0);
}

int duro__levels_init(duro_worker *w, redisContext *c)
{
    int n = LEVEL_KINDS * w->partitions;
    char k[DURO_KEY_MAX];
    duro__levels_free(w);
    if (!(w->level_on = calloc((size_t)n, sizeof(bool))) ||
        !(w->level_used_ms = calloc((size_t)n, sizeof(int64_t))) ||
        !(w->level_bells[0] =
              strdup(duro_priority_key(k, sizeof(k), w->wft_keys[0], 0))) ||
        !(w->level_bells[1] =
              strdup(duro_priority_key(k, sizeof(k), w->act_keys[0], 0)))) {
        duro__levels_free(w);
        return 0; /* every level is read */
    }
    w->next_level_check_ms = duro_mono_ms() + LEVEL_CHECK_MS;
    for (int b = 0; b < 2; b++)
        if (redisAppendCommand(c, "XGROUP CREATE %s %s 0 MKSTREAM",
                               w->level_bells[b], DURO_GROUP) != REDIS_OK)
            return DURO_ECONN;
    for (int i = 0; i < n; i++)
        if (redisAppendCommand(c, "XINFO GROUPS %s", level_key(w, i)) !=
            REDIS_OK)
            return DURO_ECONN;
    bool bells_ok = true;
    for (int i = -2; i < n; i++) {
        redisReply *r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK) return DURO_ECONN;
        if (i < 0)
            bells_ok = bells_ok && group_made(r);
        else if (undelivered(r))
            set_on(w, i, true, "start");
        freeReplyObject(r);
    }
    if (!bells_ok) {
        duro_warn("LEVEL-BELLS-BROKEN key=%s: every level is read",
                  w->level_bells[0]);
        duro__levels_free(w);
    }
    return 0;
}

static void on_bells_group(duro_aredis *r, redisReply *reply, void *arg)
{
    duro_worker *w = arg;
    if (reply && !group_made(reply) && w->level_on) {
        duro_warn("LEVEL-BELLS-BROKEN err=%s: every level is read", reply->str);
        duro__levels_free(w);
    }
}

void duro__levels_check(duro_worker *w)
{
    for (int b = 0; w->level_on && b < 2; b++) {
        duro_argv a;
        duro_argv_init(&a);
        duro_argv_push(&a, "XGROUP");
        duro_argv_push(&a, "CREATE");
        duro_argv_push(&a, w->level_bells[b]);
        duro_argv_push(&a, DURO_GROUP);
        duro_argv_push(&a, "0");
        duro_argv_push(&a, "MKSTREAM");
        (void)duro_aredis_command(w->cmd, on_bells_group, w, &a);
        duro_argv_free(&a);
    }
}

/* level_index: the index of level stream `stream`, or -1 (not one). */
static int level_index(const duro_worker *w, const char *stream)
{
    const char *bang = strrchr(stream, '!');
    int p = duro__partition_of_key(stream);
    if (!w->level_on || !bang || bang[1] < '1' || bang[1] > '5' || bang[2] ||
        bang[1] == '3' || p < 0 || p >= w->partitions)
        return -1;
    int base = strstr(stream, ":act:") ? DURO_STREAM_ACT : DURO_STREAM_WFT;
    int kind = duro__stream_kind_at(base, bang[1] - '0');
    return (kind - DURO_STREAM_WFT_L1) * w->partitions + p;
}

static void level_used(duro_worker *w, const char *stream)
{
    int i = level_index(w, stream);
    if (i >= 0) w->level_used_ms[i] = duro_mono_ms();
}

static bool is_bells(const duro_worker *w, const char *stream)
{
    return w->level_on && (strcmp(stream, w->level_bells[0]) == 0 ||
                           strcmp(stream, w->level_bells[1]) == 0);
}

/* level_bell: bell entry of bell stream `stream`: its level joins the
 * reads and the bell is acked; returns the level when it was not read,
 * else DURO_PRIORITY_MAX + 1. */
static int level_bell(duro_worker *w, const char *stream,
                      const redisReply *entry)
{
    if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 ||
        entry->element[0]->type != REDIS_REPLY_STRING ||
        entry->element[1]->type != REDIS_REPLY_ARRAY)
        return DURO_PRIORITY_MAX + 1;
    int rang = DURO_PRIORITY_MAX + 1;
    const redisReply *lv = duro_stream_field(entry->element[1], "level");
    const redisReply *pv = duro_stream_field(entry->element[1], "p");
    int level = lv && lv->type == REDIS_REPLY_STRING
                    ? (int)strtol(lv->str, NULL, 10)
                    : 0;
    int p = pv && pv->type == REDIS_REPLY_STRING
                ? (int)strtol(pv->str, NULL, 10)
                : -1;
    if (level >= DURO_PRIORITY_MIN && level <= DURO_PRIORITY_MAX &&
        level != DURO_PRIORITY_DEFAULT && p >= 0 && p < w->partitions) {
        int base = strcmp(stream, w->level_bells[0]) == 0 ? DURO_STREAM_WFT
                                                          : DURO_STREAM_ACT;
        int i = (duro__stream_kind_at(base, level) - DURO_STREAM_WFT_L1) *
                    w->partitions +
                p;
        if (!w->level_on[i]) rang = level;
        set_on(w, i, true, "bell");
        w->level_used_ms[i] = duro_mono_ms();
    }
    duro__stream_ack(w, stream, entry->element[0]->str);
    return rang;
}

/* ---- Holding a reply's tasks across a bell ---- */

/* reply_dup: a deep copy of an entry's reply that freeReplyObject frees,
 * or NULL (out of memory). */
static redisReply *reply_dup(const redisReply *r)
{
    redisReply *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    c->type = r->type;
    c->integer = r->integer;
    if (r->type == REDIS_REPLY_ARRAY) {
        if (r->elements &&
            !(c->element = calloc(r->elements, sizeof(redisReply *)))) {
            free(c);
            return NULL;
        }
        c->elements = r->elements;
        for (size_t i = 0; i < r->elements; i++)
            if (!(c->element[i] = reply_dup(r->element[i]))) {
                freeReplyObject(c);
                return NULL;
            }
    } else if (r->str) {
        if (!(c->str = malloc(r->len + 1))) {
            free(c);
            return NULL;
        }
        memcpy(c->str, r->str, r->len + 1);
        c->len = r->len;
    }
    return c;
}

/* held_of: the tasks held for the reads that hand out to fn. */
static struct duro_level_held *held_of(duro_worker *w, duro_entry_fn fn)
{
    for (int i = 0; i < 2; i++)
        if (w->level_held[i].fn == fn || !w->level_held[i].fn) {
            w->level_held[i].fn = fn;
            return &w->level_held[i];
        }
    return NULL;
}

static void hold(duro_worker *w, duro_entry_fn fn, const char *stream,
                 const redisReply *entry)
{
    struct duro_level_held *h = held_of(w, fn);
    held_task *t = h ? calloc(1, sizeof(*t)) : NULL;
    if (t && (t->stream = strdup(stream)) && (t->entry = reply_dup(entry))) {
        held_task **tail = (held_task **)&h->head;
        while (*tail)
            tail = &(*tail)->next;
        *tail = t;
        return;
    }
    if (t) free(t->stream);
    free(t);
    fn(w, stream, entry); /* out of memory: handed out now */
}

/* release hands out the held tasks of levels up to `upto`, by level, the
 * earlier first within one; the others stay held. */
static void release(duro_worker *w, duro_entry_fn fn, int upto)
{
    struct duro_level_held *h = held_of(w, fn);
    for (int l = DURO_PRIORITY_MIN; h && l <= upto; l++)
        for (held_task **i = (held_task **)&h->head; *i;) {
            held_task *t = *i;
            if (duro_priority_of_key(t->stream) != l) {
                i = &t->next;
                continue;
            }
            *i = t->next;
            t->next = NULL;
            fn(w, t->stream, t->entry);
            held_free(t);
        }
}

void duro__level_release(duro_worker *w, duro_entry_fn fn)
{
    release(w, fn, DURO_PRIORITY_MAX);
}

/* stream_of: the stream name of a reply's element, or NULL (malformed). */
static const char *stream_of(const redisReply *sr)
{
    return sr->type == REDIS_REPLY_ARRAY && sr->elements == 2 &&
                   sr->element[0]->type == REDIS_REPLY_STRING &&
                   sr->element[1]->type == REDIS_REPLY_ARRAY
               ? sr->element[0]->str
               : NULL;
}

int duro__level_entries(duro_worker *w, const redisReply *reply,
                        duro_entry_fn fn)
{
    int rang = DURO_PRIORITY_MAX + 1; /* the highest level rung (1 first) */
    for (size_t s = 0; s < reply->elements; s++) {
        const redisReply *sr = reply->element[s];
        const char *stream = stream_of(sr);
        if (!stream || !is_bells(w, stream)) continue;
        for (size_t i = 0; i < sr->element[1]->elements; i++) {
            int l = level_bell(w, stream, sr->element[1]->element[i]);
            if (l < rang) rang = l;
        }
    }
    struct duro_level_held *h = held_of(w, fn);
    /* nothing held, no new level: the reply's order is the levels' */
    bool direct = !h || (!h->head && rang > DURO_PRIORITY_MAX) || w->stopping;
    for (size_t s = 0; s < reply->elements; s++) {
        const redisReply *sr = reply->element[s];
        const char *stream = stream_of(sr);
        if (!stream || is_bells(w, stream)) continue;
        if (sr->element[1]->elements > 0) level_used(w, stream);
        for (size_t i = 0; i < sr->element[1]->elements; i++)
            if (direct)
                fn(w, stream, sr->element[1]->element[i]);
            else
                hold(w, fn, stream, sr->element[1]->element[i]);
    }
    /* a new level's tasks come with the next read: what is below it waits
     * for them */
    release(w, fn, w->stopping ? DURO_PRIORITY_MAX : rang);
    return 0;
}

/* ---- Checking ---- */

static void on_check(duro_aredis *r, redisReply *reply, void *arg)
{
    level_check *lc = arg;
    duro_worker *w = lc->w;
    if (reply && reply->type != REDIS_REPLY_ERROR && w->level_on &&
        undelivered(reply)) {
        set_on(w, lc->index, true, "check");
        w->poll(w);
    }
    free(lc);
}

void duro__levels_tick(duro_worker *w)
{
    int64_t now = duro_mono_ms();
    if (!w->level_on || now < w->next_level_check_ms || !w->cmd ||
        !duro_aredis_connected(w->cmd))
        return;
    w->next_level_check_ms = now + LEVEL_CHECK_MS;
    for (int i = 0; i < LEVEL_KINDS * w->partitions; i++) {
        if (w->level_on[i]) {
            if (now - w->level_used_ms[i] >= LEVEL_IDLE_MS)
                set_on(w, i, false, "idle");
            continue;
        }
        level_check *lc = malloc(sizeof(*lc));
        if (!lc) return;
        *lc = (level_check){.w = w, .index = i};
        duro_argv a;
        duro_argv_init(&a);
        duro_argv_push(&a, "XINFO");
        duro_argv_push(&a, "GROUPS");
        duro_argv_push(&a, level_key(w, i));
        if (duro_aredis_command(w->cmd, on_check, lc, &a) != 0) free(lc);
        duro_argv_free(&a);
    }
}
