/* test_coro_stack.c: the freed-stack cache (coro_stack.c) through the
 * coroutines that use it: a stack of one size is reused while the cache is
 * full of another's, a burst of one size shares the bound, the single-size
 * case is as before, and a size seen once gives its class back.
 *
 * Criterion runs each test in its own process, so each starts with an
 * empty cache. No test times anything: reuse shows in the cache's counts
 * and in the stack addresses the coroutines run on. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <unistd.h>

#include "coro.h"

TestSuite(coro_stack, .timeout = 30);

#define MAX DURO__CORO_CACHE_MAX
#define SIZE_A ((size_t)16 * 1024) /* DURO__CORO_STACK_MIN: small maps */
#define SIZE_B ((size_t)80 * 1024) /* another size with 64 KiB pages too */

/* where: runs once and records where its frame lives (its stack). */
static void where(void *arg)
{
    volatile char here = 0;
    *(uintptr_t *)arg = (uintptr_t)&here;
}

static duro__coro *cs[MAX + 1];

/* fill_with: n coroutines of size, freed together: n stacks kept. */
static void fill_with(size_t size, int n)
{
    for (int i = 0; i < n; i++)
        cr_assert_eq(duro__coro_new(&cs[i], size, where, NULL), 0,
                     "coroutine %d", i);
    for (int i = 0; i < n; i++)
        duro__coro_free(cs[i]);
}

/* run_once: a coroutine of size that runs and is freed; its frame's
 * address. */
static uintptr_t run_once(size_t size)
{
    duro__coro *c;
    uintptr_t at = 0;
    cr_assert_eq(duro__coro_new(&c, size, where, &at), 0);
    duro__coro_resume(c);
    cr_assert(duro__coro_done(c));
    duro__coro_free(c);
    return at;
}

Test(coro_stack, other_size_reused_while_full_of_one)
{
    /* The defect: the cache full of size A's stacks, a freed stack of size
     * B was unmapped, so every coroutine of size B mapped a new one (and
     * first scanned all of A's). Now B's is kept (one of A's evicted) and
     * the next coroutine of size B runs on it. */
    fill_with(SIZE_A, MAX);
    cr_assert_eq(duro__coro_stacks_cached(), MAX);
    uintptr_t first = run_once(SIZE_B);
    cr_assert_eq(duro__coro_stacks_cached(), MAX);
    duro__coro *c;
    uintptr_t second = 0;
    cr_assert_eq(duro__coro_new(&c, SIZE_B, where, &second), 0);
    cr_assert_eq(duro__coro_stacks_cached(), MAX - 1,
                 "the coroutine of size B mapped a new stack: %d kept",
                 duro__coro_stacks_cached());
    duro__coro_resume(c);
    cr_assert_eq(second, first, "not run on the freed stack of size B");
    duro__coro_free(c);
    cr_assert_eq(duro__coro_stacks_cached_of(SIZE_B), 1);
    cr_assert_eq(duro__coro_stacks_cached_of(SIZE_A), MAX - 1);
}

Test(coro_stack, a_burst_of_another_size_shares_the_bound)
{
    /* A burst of B after a burst of A filled the cache: B's stacks evict
     * A's one for one, and the next burst of B takes all of them back. */
    enum { BURST = 300 };
    fill_with(SIZE_A, MAX);
    fill_with(SIZE_B, BURST);
    cr_assert_eq(duro__coro_stacks_cached(), MAX);
    cr_assert_eq(duro__coro_stacks_cached_of(SIZE_B), BURST);
    cr_assert_eq(duro__coro_stacks_cached_of(SIZE_A), MAX - BURST);
    for (int i = 0; i < BURST; i++)
        cr_assert_eq(duro__coro_new(&cs[i], SIZE_B, where, NULL), 0);
    cr_assert_eq(duro__coro_stacks_cached_of(SIZE_B), 0);
    cr_assert_eq(duro__coro_stacks_cached(), MAX - BURST,
                 "the second burst of B mapped new stacks");
    for (int i = 0; i < BURST; i++)
        duro__coro_free(cs[i]);
    /* A's stacks, fewer now, still come back */
    cr_assert_eq(duro__coro_stacks_cached(), MAX);
    run_once(SIZE_A);
    cr_assert_eq(duro__coro_stacks_cached_of(SIZE_A), MAX - BURST);
}

Test(coro_stack, one_size_at_the_bound_as_before)
{
    /* The common case: one size. The 16,385th freed stack is unmapped
     * (nothing of another size to evict), and the next burst takes every
     * kept stack back, last freed first. */
    fill_with(SIZE_A, MAX + 1);
    cr_assert_eq(duro__coro_stacks_cached(), MAX);
    uintptr_t at = run_once(SIZE_A);
    cr_assert_eq(run_once(SIZE_A), at, "not the last freed stack");
    for (int i = 0; i < MAX; i++)
        cr_assert_eq(duro__coro_new(&cs[i], SIZE_A, where, NULL), 0);
    cr_assert_eq(duro__coro_stacks_cached(), 0);
    for (int i = 0; i < MAX; i++)
        duro__coro_free(cs[i]);
    cr_assert_eq(duro__coro_stacks_cached(), MAX);
}

Test(coro_stack, a_size_seen_once_gives_its_class_back)
{
    /* DURO__CORO_STACK_CLASSES sizes kept at once: a stack of one more
     * size is unmapped until a class empties, then it is kept. */
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    enum { CLASSES = 8 };
    for (int i = 0; i < CLASSES; i++)
        run_once(SIZE_A + (size_t)i * page);
    cr_assert_eq(duro__coro_stacks_cached(), CLASSES);
    size_t ninth = SIZE_A + CLASSES * page;
    run_once(ninth);
    cr_assert_eq(duro__coro_stacks_cached_of(ninth), 0);
    duro__coro *c;
    cr_assert_eq(duro__coro_new(&c, SIZE_A, where, NULL), 0); /* empties */
    run_once(ninth);
    cr_assert_eq(duro__coro_stacks_cached_of(ninth), 1);
    duro__coro_free(c); /* now SIZE_A is the size left out: unmapped */
    cr_assert_eq(duro__coro_stacks_cached_of(SIZE_A), 0);
    cr_assert_eq(duro__coro_stacks_cached(), CLASSES);
}
