/* test_cache.c: the worker's run cache (worker/src/cache.c, compiled into
 * this test alone): LRU order, capacity, busy runs, shrink, peek vs lookup. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker_internal.h"

TestSuite(cache, .timeout = 5);

/* ---- The one engine function cache.c calls, recording what it frees ---- */

static char freed[64][16];
static int nfreed;

void duro__run_free(duro_wf *wf)
{
    if (nfreed < 64) snprintf(freed[nfreed], sizeof(freed[0]), "%s", wf->id);
    nfreed++;
    free(wf->id);
    free(wf);
}

static duro_wf *run(const char *id)
{
    duro_wf *wf = calloc(1, sizeof(*wf));
    wf->id = strdup(id);
    return wf;
}

/* order writes the cache's ids from most to least recently used. */
static const char *order(const run_cache *c)
{
    static char buf[256];
    buf[0] = '\0';
    for (duro_wf *wf = c->head; wf; wf = wf->lru_next) {
        if (buf[0]) strcat(buf, " ");
        strcat(buf, wf->id);
    }
    return buf;
}

static run_cache c;

static void fill(int cap, const char *const *ids, int n)
{
    nfreed = 0;
    cr_assert_eq(duro__cache_init(&c, cap), 0);
    for (int i = 0; i < n; i++)
        duro__cache_insert(&c, run(ids[i]));
}

static const char *const abc[] = {"a", "b", "c"};

Test(cache, newest_first_and_touch_moves_to_front)
{
    fill(3, abc, 3);
    cr_assert_str_eq(order(&c), "c b a");
    duro__cache_touch(&c, duro__cache_peek(&c, "a"));
    cr_assert_str_eq(order(&c), "a c b");
    cr_assert_eq(c.tail, duro__cache_peek(&c, "b"));
    duro__cache_close(&c);
    cr_assert_eq(nfreed, 3);
}

Test(cache, lookup_counts_hits_and_misses_and_peek_does_not)
{
    fill(3, abc, 3);
    cr_assert_not_null(duro__cache_lookup(&c, "b"));
    cr_assert_null(duro__cache_lookup(&c, "zz"));
    cr_assert_eq(c.hits, 1);
    cr_assert_eq(c.misses, 1);
    cr_assert_not_null(duro__cache_peek(&c, "b"));
    cr_assert_null(duro__cache_peek(&c, "zz"));
    cr_assert_eq(c.hits, 1);
    cr_assert_eq(c.misses, 1);
    /* neither reorders: the caller touches when it uses the run */
    cr_assert_str_eq(order(&c), "c b a");
    duro__cache_close(&c);
}

Test(cache, full_cache_evicts_the_least_recently_used)
{
    fill(3, abc, 3);
    duro__cache_touch(&c, duro__cache_peek(&c, "a"));
    duro__cache_insert(&c, run("d"));
    cr_assert_eq(c.size, 3);
    cr_assert_eq(c.evictions, 1);
    cr_assert_str_eq(freed[0], "b");
    cr_assert_null(duro__cache_peek(&c, "b"));
    cr_assert_str_eq(order(&c), "d a c");
    duro__cache_close(&c);
}

Test(cache, busy_runs_are_never_evicted)
{
    fill(2, abc, 2);
    duro__cache_peek(&c, "a")->busy = true;
    duro__cache_insert(&c, run("c"));
    cr_assert_str_eq(freed[0], "b",
                     "the idle run goes, not the older busy one");
    cr_assert_str_eq(order(&c), "c a");
    /* all busy: the cache grows past its capacity rather than drop one */
    duro__cache_peek(&c, "c")->busy = true;
    duro__cache_insert(&c, run("d"));
    cr_assert_eq(c.size, 3);
    cr_assert_eq(nfreed, 1);
    duro__cache_close(&c);
}

Test(cache, inserting_an_id_again_replaces_the_old_run)
{
    fill(3, abc, 3);
    duro_wf *fresh = run("a");
    duro__cache_insert(&c, fresh);
    cr_assert_eq(c.size, 3);
    cr_assert_eq(nfreed, 1);
    cr_assert_str_eq(freed[0], "a");
    cr_assert_eq(duro__cache_peek(&c, "a"), fresh);
    cr_assert_str_eq(order(&c), "a c b");
    duro__cache_close(&c);
}

Test(cache, remove_unlinks_and_frees)
{
    fill(3, abc, 3);
    duro__cache_remove(&c, duro__cache_peek(&c, "b"));
    cr_assert_eq(c.size, 2);
    cr_assert_str_eq(order(&c), "c a");
    cr_assert_eq(c.tail, duro__cache_peek(&c, "a"));
    cr_assert_null(duro__cache_peek(&c, "b"));
    duro__cache_close(&c);
}

Test(cache, shrink_keeps_ninety_percent_and_lowers_the_capacity)
{
    static const char *const ids[] = {"r0", "r1", "r2", "r3", "r4",
                                      "r5", "r6", "r7", "r8", "r9"};
    fill(20, ids, 10);
    duro__cache_shrink(&c);
    cr_assert_eq(c.cap, 9);
    cr_assert_eq(c.size, 9);
    cr_assert_str_eq(freed[0], "r0", "the least recently used goes first");
    /* at capacity: shrinking again lowers it by one at least */
    duro__cache_shrink(&c);
    cr_assert_eq(c.cap, 8);
    cr_assert_eq(c.size, 8);
    duro__cache_close(&c);
}

Test(cache, shrink_stops_at_busy_runs_and_at_one)
{
    fill(3, abc, 3);
    for (duro_wf *wf = c.head; wf; wf = wf->lru_next)
        wf->busy = true;
    duro__cache_shrink(&c);
    cr_assert_eq(c.cap, 2);
    cr_assert_eq(c.size, 3, "busy runs stay");
    duro__cache_close(&c);
    fill(1, abc, 1);
    duro__cache_shrink(&c);
    cr_assert_eq(c.cap, 1, "never below one");
    cr_assert_eq(c.size, 1);
    duro__cache_close(&c);
}

Test(cache, many_ids_share_buckets_without_losing_any)
{
    nfreed = 0;
    cr_assert_eq(duro__cache_init(&c, 500), 0);
    char id[16];
    for (int i = 0; i < 500; i++) {
        snprintf(id, sizeof(id), "wf-%d", i);
        duro__cache_insert(&c, run(id));
    }
    for (int i = 0; i < 500; i++) {
        snprintf(id, sizeof(id), "wf-%d", i);
        cr_assert_not_null(duro__cache_peek(&c, id), "%s", id);
    }
    cr_assert_eq(nfreed, 0);
    duro__cache_close(&c);
    cr_assert_eq(nfreed, 500);
}
