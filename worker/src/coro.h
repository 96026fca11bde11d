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

/* DURO__CORO_STACK_DEFAULT is the usable stack size chosen by stack_size 0
 * (the worker's --workflow-stack-size). Everything the workflow function
 * and what it calls keep on the stack counts against it: its locals, the
 * frames of its callees including libc's (printf and friends take several
 * KiB), and the SDK's own frames (a few KiB at most). Stacks are mapped
 * MAP_NORESERVE and only the pages a coroutine touches cost memory, so a
 * generous default costs nothing for the many small workflows. ASan's
 * redzones make frames several times larger, hence the bigger default in
 * that build. */
#ifdef DURO_ASAN
#define DURO__CORO_STACK_DEFAULT ((size_t)1024 * 1024)
#else
#define DURO__CORO_STACK_DEFAULT ((size_t)256 * 1024)
#endif

/* DURO__CORO_STACK_MIN and _MAX bound a configured stack size. */
#define DURO__CORO_STACK_MIN ((size_t)16 * 1024)
#define DURO__CORO_STACK_MAX ((size_t)1024 * 1024 * 1024)

/* DURO__CORO_CACHE_MAX is how many freed stacks are kept for reuse
 * (by a coroutine of the same size) instead of being unmapped, in all
 * sizes together (coro_stack.h: one free list per size, O(1) to take and
 * keep). A worker frees as many stacks as it ran runs at once (the run
 * cache holds up to --cache-size suspended runs, 10000 by default):
 * unmapping each one cost a munmap with its TLB shootdown, a sixth of the
 * worker's CPU in a burst of 2000 workflows, and the next burst mapped and
 * faulted them in again. A kept stack holds only the pages its coroutine
 * touched, which the worker held anyway while the coroutine lived, and
 * two of the process's memory mappings (vm.max_map_count, 65530 by
 * default), hence one bound for all sizes rather than one per size. */
#define DURO__CORO_CACHE_MAX 16384

/* duro__coro_stacks_cached: freed stacks kept for reuse now (tests). */
int duro__coro_stacks_cached(void);

/* duro__coro_stacks_cached_of: those of stack_size usable bytes (0 =
 * DURO__CORO_STACK_DEFAULT), as duro__coro_new rounds it (tests). */
int duro__coro_stacks_cached_of(size_t stack_size);

/* ---- Overflow and crashes ----
 *
 * A PROT_NONE guard page sits below every stack, so an overflow faults
 * instead of corrupting memory. The first duro__coro_new installs, once per
 * process, a handler for SIGSEGV and SIGBUS that runs on an alternate
 * signal stack (the faulting stack is exhausted; each thread that resumes
 * coroutines gets one) and, for SIGABRT, SIGILL and SIGFPE, a crash
 * reporter:
 *
 * - A fault while a coroutine runs whose address lies in that coroutine's
 *   guard page, or whose stack pointer has left the bottom of its stack (a
 *   frame larger than the guard page, built without -fstack-clash-
 *   protection, may skip it), is that coroutine's overflow. When it is safe
 *   (below) the handler siglongjmps back into the duro__coro_resume() that
 *   ran it: resume returns, duro__coro_overflowed() is true and the
 *   coroutine is dead; its owner reports it and frees it.
 * - Anything else -- another fault, abort() in workflow code, an overflow
 *   that is not safe to survive -- writes one line to stderr (CRASH
 *   signal=SIGSEGV wf=.. run=.. type=.., naming it through the label of the
 *   coroutine that ran) and re-raises the signal with the previous
 *   disposition, so the process dies as it would have and a core dump, if
 *   enabled, shows the real stack.
 *
 * When is jumping out of the coroutine safe? Leaving its frames behind is
 * like duro__coro_free() of a suspended coroutine: what they held is
 * abandoned. Memory is only leaked, and state the faulting frame left half
 * updated is never read again: the run is dropped, not resumed. A lock is
 * worse:
 * one held by an abandoned frame is never released, and the next thread to
 * take it -- the loop itself, in malloc or stdio -- deadlocks forever,
 * which is worse than dying. The locks that matter are libc's (malloc's
 * arenas, stdio's FILE locks, the dynamic loader's lock taken while it
 * binds a symbol), and they are held only while libc's or the loader's own
 * code runs. So the handler recovers only when the faulting instruction is
 * outside libc and the dynamic loader (their code is found with
 * dl_iterate_phdr when the handler is installed; a static binary, where it
 * cannot be told apart, never recovers). An overflow inside printf or
 * malloc therefore logs a STACK-OVERFLOW line saying so and the CRASH line,
 * and the process dies of the SIGSEGV; one in workflow
 * code or the SDK -- far the common case, since a big local array or a
 * deep recursion faults in the frame that grows -- is survived. Workflow
 * code that holds its own mutex while it overflows is beyond what this can
 * see: workflow code must not block, so it should hold none.
 *
 * The handler reads only the thread-local current coroutine and its
 * fields, and writes with write(2): async-signal-safe. */

/* duro__coro_new creates a suspended coroutine that will call fn(arg) on
 * its own stack of stack_size usable bytes (0 = DURO__CORO_STACK_DEFAULT;
 * rounded up to whole pages). Returns 0 and stores it in *out, or -1 with
 * errno ENOMEM (then *out is untouched). The caller frees it with
 * duro__coro_free(). */
int duro__coro_new(duro__coro **out, size_t stack_size, duro__coro_fn fn,
                   void *arg);

/* duro__coro_resume runs c until it yields, its fn returns or it
 * overflows its stack (then duro__coro_overflowed(c) is true and c is done).
 * It must be called from outside any coroutine (coroutines do not nest) and
 * c must not be done. */
void duro__coro_resume(duro__coro *c);

/* duro__coro_yield suspends the calling coroutine and returns from the
 * duro__coro_resume() that ran it; the next resume continues after this
 * call. Must be called from inside a coroutine. */
void duro__coro_yield(void);

/* duro__coro_done is true once c's fn has returned. */
bool duro__coro_done(const duro__coro *c);

/* duro__coro_overflowed is true once c ran off its stack: c never runs
 * again; its owner reports the overflow and frees it. */
bool duro__coro_overflowed(const duro__coro *c);

/* duro__coro_stack_size is c's usable stack size in bytes. */
size_t duro__coro_stack_size(const duro__coro *c);

/* duro__coro_set_label names the workflow that c runs, for the crash line
 * printed when a fatal signal arrives while c runs. The strings are
 * borrowed (a handler cannot copy) and must outlive c; NULL prints "?". */
void duro__coro_set_label(duro__coro *c, const char *wf, const char *run,
                          const char *type);

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
