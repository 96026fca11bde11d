/* coro.h: stackful coroutines that workflow code runs on (private). */
#ifndef DURO_CORO_H
#define DURO_CORO_H

#include <stdbool.h>
#include <stddef.h>

/* duro__coro is one coroutine: a guarded stack and a saved context. A
 * coroutine is created suspended, runs only inside duro__coro_resume() and
 * gives control back with duro__coro_yield() or by returning from its fn.
 * Coroutines may be used on several threads, but a coroutine is resumed on
 * the thread that created it (one loop thread in the worker). */
typedef struct duro__coro duro__coro;

/* duro__coro_fn is a coroutine's body; when it returns the coroutine is
 * done and duro__coro_resume() returns to its caller one last time. */
typedef void (*duro__coro_fn)(void *arg);

/* DURO__CORO_STACK_DEFAULT is the usable stack size chosen by stack_size 0.
 * ASan's redzones make frames several times larger, hence the bigger
 * default in that build. A PROT_NONE guard page sits below every stack, so
 * an overflow is a SIGSEGV rather than silent corruption. */
#ifdef DURO_ASAN
#define DURO__CORO_STACK_DEFAULT (256u * 1024u)
#else
#define DURO__CORO_STACK_DEFAULT (64u * 1024u)
#endif

/* DURO__CORO_CACHE_MAX is how many freed default-size stacks are kept for
 * reuse instead of being unmapped. */
#define DURO__CORO_CACHE_MAX 64

/* duro__coro_new creates a suspended coroutine that will call fn(arg) on
 * its own stack of stack_size usable bytes (0 = DURO__CORO_STACK_DEFAULT;
 * rounded up to whole pages). Returns 0 and stores it in *out, or -1 with
 * errno ENOMEM (then *out is untouched). The caller frees it with
 * duro__coro_free(). */
int duro__coro_new(duro__coro **out, size_t stack_size, duro__coro_fn fn,
                   void *arg);

/* duro__coro_resume runs c until it yields or its fn returns. It must be
 * called from outside any coroutine (coroutines do not nest) and c must not
 * be done. */
void duro__coro_resume(duro__coro *c);

/* duro__coro_yield suspends the calling coroutine and returns from the
 * duro__coro_resume() that ran it; the next resume continues after this
 * call. Must be called from inside a coroutine. */
void duro__coro_yield(void);

/* duro__coro_done is true once c's fn has returned. */
bool duro__coro_done(const duro__coro *c);

/* duro__coro_current returns the coroutine running on this thread, or NULL
 * outside coroutines. */
duro__coro *duro__coro_current(void);

/* duro__coro_free releases c and its stack. c may be done, never started,
 * or suspended forever (a run evicted from the cache): a suspended fn is
 * simply abandoned, so nothing on its stack is cleaned up -- it must own no
 * resources that only its own code would release. Must not be called on the
 * running coroutine. NULL is ignored. */
void duro__coro_free(duro__coro *c);

#endif
