/* coro.c: stackful coroutines on ucontext, with guarded, cached stacks. */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "coro.h"

#ifdef DURO_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

/* A coroutine owns one mapping: a PROT_NONE guard page at the low end and
 * the stack above it (stacks grow down, so running off the end faults on
 * the guard page). Switching is symmetric with the one thread that resumes
 * it: resume saves the resumer in caller and swaps to ctx; yield saves ctx
 * and swaps back to caller. The coroutine's first entry finds itself
 * through the thread-local current, which avoids smuggling a pointer
 * through makecontext's int arguments.
 *
 * Under ASan every switch is announced with __sanitizer_start_switch_fiber
 * and confirmed with __sanitizer_finish_switch_fiber so ASan knows which
 * stack is live; otherwise it reports false stack-buffer-overflows and
 * stack-use-after-returns. The coroutine remembers the resumer's stack
 * bounds (learned when it is switched to) to announce the switch back. */
struct duro__coro {
    ucontext_t ctx;    /* the coroutine's own context while suspended */
    ucontext_t caller; /* the resumer's context while the coroutine runs */
    char *map;         /* guard page + stack, from stack_alloc() */
    size_t map_size;
    duro__coro_fn fn;
    void *arg;
    bool done;
    /* ASan bookkeeping, unused (but kept, for one layout) in other builds */
    void *fake_stack;          /* its ASan fake stack while suspended */
    const void *caller_bottom; /* the resumer's stack, to switch back */
    size_t caller_size;
};

static __thread duro__coro *current;

/* ---- Stacks ---- */

/* Freed default-size stacks, reused as is (no madvise: a worker's stacks
 * are few and hot). Shared by all threads, hence the lock. */
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static char *cache[DURO__CORO_CACHE_MAX];
static int cache_len;

static size_t page_size(void)
{
    return (size_t)sysconf(_SC_PAGESIZE);
}

static size_t round_to_page(size_t n)
{
    size_t page = page_size();
    return (n + page - 1) / page * page;
}

static size_t default_map_size(void)
{
    return round_to_page(DURO__CORO_STACK_DEFAULT) + page_size();
}

static char *cache_pop(void)
{
    char *map = NULL;
    pthread_mutex_lock(&cache_lock);
    if (cache_len > 0) map = cache[--cache_len];
    pthread_mutex_unlock(&cache_lock);
    return map;
}

static bool cache_push(char *map)
{
    bool kept = false;
    pthread_mutex_lock(&cache_lock);
    if (cache_len < DURO__CORO_CACHE_MAX) {
        cache[cache_len++] = map;
        kept = true;
    }
    pthread_mutex_unlock(&cache_lock);
    return kept;
}

/* stack_alloc maps a guard page plus at least usable bytes of stack.
 * Returns the mapping or NULL with errno ENOMEM. */
static char *stack_alloc(size_t usable, size_t *map_size)
{
    size_t page = page_size();
    char *map;

    *map_size = round_to_page(usable) + page;
    if (*map_size == default_map_size() && (map = cache_pop()) != NULL)
        return map;
    map = mmap(NULL, *map_size, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (map == MAP_FAILED) {
        errno = ENOMEM;
        return NULL;
    }
    if (mprotect(map, page, PROT_NONE) != 0) {
        munmap(map, *map_size);
        errno = ENOMEM;
        return NULL;
    }
    return map;
}

/* stack_release caches or unmaps a stack. An abandoned coroutine leaves
 * its frames' redzones poisoned in ASan's shadow, and the trampoline frame
 * of a finished one never returns, so the shadow is cleared before the
 * memory can be handed out again. */
static void stack_release(char *map, size_t map_size)
{
#ifdef DURO_ASAN
    ASAN_UNPOISON_MEMORY_REGION(map + page_size(), map_size - page_size());
#endif
    if (map_size == default_map_size() && cache_push(map)) return;
    munmap(map, map_size);
}

/* ---- Switching ---- */

/* switch_start and switch_finish wrap the ASan fiber annotations; they
 * compile to nothing in other builds. */
static inline void switch_start(void **fake_save, const void *bottom,
                                size_t size)
{
#ifdef DURO_ASAN
    __sanitizer_start_switch_fiber(fake_save, bottom, size);
#else
    (void)fake_save, (void)bottom, (void)size;
#endif
}

static inline void switch_finish(void *fake, const void **bottom_old,
                                 size_t *size_old)
{
#ifdef DURO_ASAN
    __sanitizer_finish_switch_fiber(fake, bottom_old, size_old);
#else
    (void)fake, (void)bottom_old, (void)size_old;
#endif
}

/* trampoline is every coroutine's first frame. It never returns: the final
 * switch passes a NULL fake-stack save so ASan frees this fiber's fake
 * stack, then jumps back into duro__coro_resume(). */
static void trampoline(void)
{
    duro__coro *c = current;

    switch_finish(NULL, &c->caller_bottom, &c->caller_size);
    c->fn(c->arg);
    c->done = true;
    switch_start(NULL, c->caller_bottom, c->caller_size);
    setcontext(&c->caller);
    abort(); /* setcontext only returns on a corrupt context */
}

/* ---- API ---- */

int duro__coro_new(duro__coro **out, size_t stack_size, duro__coro_fn fn,
                   void *arg)
{
    duro__coro *c = calloc(1, sizeof(*c));

    if (c == NULL) {
        errno = ENOMEM;
        return -1;
    }
    if (stack_size == 0) stack_size = DURO__CORO_STACK_DEFAULT;
    c->map = stack_alloc(stack_size, &c->map_size);
    if (c->map == NULL) {
        free(c);
        return -1;
    }
    c->fn = fn;
    c->arg = arg;
    getcontext(&c->ctx);
    c->ctx.uc_stack.ss_sp = c->map + page_size();
    c->ctx.uc_stack.ss_size = c->map_size - page_size();
    c->ctx.uc_link = NULL;
    makecontext(&c->ctx, trampoline, 0);
#ifdef DURO_ASAN
    /* ASan's swapcontext interceptor clears the shadow of the target's
     * uc_stack on every switch, which would erase the redzones of the
     * suspended frames (and cost a 32 KiB memset per resume). makecontext
     * has already consumed uc_stack, and stack_release() keeps the shadow
     * of a reused stack clean, so hide it from the interceptor. */
    c->ctx.uc_stack.ss_size = 0;
#endif
    *out = c;
    return 0;
}

void duro__coro_resume(duro__coro *c)
{
    void *fake = NULL;

    assert(current == NULL && "coroutines do not nest");
    assert(!c->done);
    current = c;
    switch_start(&fake, c->map + page_size(), c->map_size - page_size());
    swapcontext(&c->caller, &c->ctx);
    switch_finish(fake, NULL, NULL);
    current = NULL;
}

void duro__coro_yield(void)
{
    duro__coro *c = current;

    assert(c != NULL && "yield outside a coroutine");
    switch_start(&c->fake_stack, c->caller_bottom, c->caller_size);
    swapcontext(&c->ctx, &c->caller);
    switch_finish(c->fake_stack, &c->caller_bottom, &c->caller_size);
}

bool duro__coro_done(const duro__coro *c)
{
    return c->done;
}

duro__coro *duro__coro_current(void)
{
    return current;
}

void duro__coro_free(duro__coro *c)
{
    if (c == NULL) return;
    assert(c != current && "free of the running coroutine");
    stack_release(c->map, c->map_size);
    free(c);
}
