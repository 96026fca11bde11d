/* cache.c: live runs by workflow id, bounded, least recently used out.
 *
 * A hit lets a workflow task resume the suspended coroutine with only the
 * events added since; a miss replays the whole history. The cache is only
 * a cache: dropping any run at any time is always correct.
 */
#include <stdlib.h>
#include <string.h>

#include "duro/errno.h"
#include "duro/hash.h"
#include "worker_internal.h"

int duro__cache_init(run_cache *c, int cap)
{
    memset(c, 0, sizeof(*c));
    c->cap = cap > 0 ? cap : 1;
    c->nbuckets = 64;
    while (c->nbuckets < (size_t)c->cap * 2)
        c->nbuckets *= 2;
    c->buckets = calloc(c->nbuckets, sizeof(duro_wf *));
    return c->buckets ? 0 : DURO_ENOMEM;
}

static duro_wf **slot_of(run_cache *c, const char *id)
{
    duro_wf **s = &c->buckets[duro__fnv1a64(id) & (c->nbuckets - 1)];
    while (*s && strcmp((*s)->id, id) != 0)
        s = &(*s)->hash_next;
    return s;
}

static void lru_unlink(run_cache *c, duro_wf *wf)
{
    if (wf->lru_prev)
        wf->lru_prev->lru_next = wf->lru_next;
    else
        c->head = wf->lru_next;
    if (wf->lru_next)
        wf->lru_next->lru_prev = wf->lru_prev;
    else
        c->tail = wf->lru_prev;
    wf->lru_prev = wf->lru_next = NULL;
}

static void lru_push_front(run_cache *c, duro_wf *wf)
{
    wf->lru_prev = NULL;
    wf->lru_next = c->head;
    if (c->head) c->head->lru_prev = wf;
    c->head = wf;
    if (!c->tail) c->tail = wf;
}

duro_wf *duro__cache_lookup(run_cache *c, const char *id)
{
    duro_wf *wf = *slot_of(c, id);
    if (wf)
        c->hits++;
    else
        c->misses++;
    return wf;
}

duro_wf *duro__cache_peek(run_cache *c, const char *id)
{
    return *slot_of(c, id);
}

void duro__cache_touch(run_cache *c, duro_wf *wf)
{
    lru_unlink(c, wf);
    lru_push_front(c, wf);
}

void duro__cache_remove(run_cache *c, duro_wf *wf)
{
    duro_wf **s = slot_of(c, wf->id);
    if (*s == wf) {
        *s = wf->hash_next;
        lru_unlink(c, wf);
        c->size--;
    }
    duro__run_free(wf);
}

/* evict_one drops the least recently used run that no task is using. */
static void evict_one(run_cache *c)
{
    for (duro_wf *wf = c->tail; wf; wf = wf->lru_prev) {
        if (!wf->busy) {
            c->evictions++;
            if (c->on_evict) c->on_evict(c->evict_arg, wf);
            duro__cache_remove(c, wf);
            return;
        }
    }
}

void duro__cache_insert(run_cache *c, duro_wf *wf)
{
    duro_wf **s = slot_of(c, wf->id);
    if (*s) duro__cache_remove(c, *s);
    if (c->size >= c->cap) evict_one(c);
    s = slot_of(c, wf->id);
    wf->hash_next = NULL;
    *s = wf;
    lru_push_front(c, wf);
    c->size++;
}

void duro__cache_shrink(run_cache *c)
{
    int cap = c->size - c->size / 10;
    if (cap < 1) cap = 1;
    if (cap >= c->cap) cap = c->cap - 1 > 0 ? c->cap - 1 : 1;
    c->cap = cap;
    while (c->size > c->cap) {
        int before = c->size;
        evict_one(c);
        if (c->size == before) break; /* the rest is busy */
    }
}

void duro__cache_close(run_cache *c)
{
    while (c->head)
        duro__cache_remove(c, c->head);
    free(c->buckets);
    c->buckets = NULL;
}
