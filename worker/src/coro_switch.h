/* coro_switch.h: the stack switch under coro.c (private).
 *
 * Two implementations of one small contract, "save where I am, continue
 * where that context left off":
 *
 * - duro__coro_asm_*: a few instructions of assembly (coro_switch.c) on
 *   x86_64 and aarch64. It saves what the calling convention says a callee
 *   must preserve -- x86_64: rbx, rbp, r12-r15, the stack pointer, the x87
 *   control word and MXCSR; aarch64: x19-x29, lr, sp, d8-d15 and FPCR --
 *   on the suspended stack, and nothing else, since the call to it already
 *   tells the compiler every other register is clobbered. No system call:
 *   a switch costs a few nanoseconds.
 * - duro__coro_uc_*: ucontext (getcontext/makecontext/swapcontext), the
 *   portable fallback. glibc's swapcontext saves and restores the signal
 *   mask with a sigprocmask system call on every switch (~170 ns).
 *
 * DURO__CORO_ASM is defined where coro.c uses the assembly; elsewhere, and
 * when built with -DDURO_CORO_UCONTEXT, it uses ucontext. The assembly is
 * also left out when the compiler builds for x86 shadow stacks (CET
 * -fcf-protection=return): it does not switch the shadow stack, glibc's
 * swapcontext does. The ucontext pair is always compiled, so that
 * `scripts/bench --only coro` can time both in one run.
 *
 * A context is made once on a fresh stack with an entry function that
 * never returns (it must switch away for good instead), then resumed by
 * swap. swap(save, to) stores the current context in *save and continues
 * in *to; it returns when some later swap names *save as its target.
 */
#ifndef DURO_CORO_SWITCH_H
#define DURO_CORO_SWITCH_H

#include <stddef.h>
#include <ucontext.h>

#if (defined(__x86_64__) || defined(__aarch64__)) && defined(__linux__)
#if !(defined(__CET__) && (__CET__ & 2))
#define DURO__CORO_HAVE_ASM 1
#endif
#endif

#if defined(DURO__CORO_HAVE_ASM) && !defined(DURO_CORO_UCONTEXT)
#define DURO__CORO_ASM 1
#endif

/* duro__coro_entry is a context's first function; it must never return. */
typedef void (*duro__coro_entry)(void);

#ifdef DURO__CORO_HAVE_ASM
/* duro__coro_asm_ctx: a suspended context is its stack pointer; the
 * registers are saved on the stack below it. */
typedef struct {
    void *sp;
} duro__coro_asm_ctx;

/* duro__coro_asm_make prepares ctx to run entry on the size bytes of stack
 * at stack (the low end), with the caller's floating-point control state. */
void duro__coro_asm_make(duro__coro_asm_ctx *ctx, void *stack, size_t size,
                         duro__coro_entry entry);

/* duro__coro_asm_swap saves the current context in *save and continues in
 * *to (in assembly, coro_switch.c). */
__attribute__((visibility("hidden"))) void
duro__coro_asm_swap(duro__coro_asm_ctx *save, const duro__coro_asm_ctx *to);
#endif

/* duro__coro_uc_ctx: the same on ucontext. */
typedef struct {
    ucontext_t uc;
} duro__coro_uc_ctx;

/* duro__coro_uc_make: as duro__coro_asm_make. Under ASan the stack is then
 * hidden from ASan's swapcontext interceptor (coro_switch.c says why). */
void duro__coro_uc_make(duro__coro_uc_ctx *ctx, void *stack, size_t size,
                        duro__coro_entry entry);

/* duro__coro_uc_swap: as duro__coro_asm_swap. */
void duro__coro_uc_swap(duro__coro_uc_ctx *save, const duro__coro_uc_ctx *to);

/* What coro.c uses. */
#ifdef DURO__CORO_ASM
typedef duro__coro_asm_ctx duro__coro_ctx;
#define duro__coro_ctx_make duro__coro_asm_make
#define duro__coro_ctx_swap duro__coro_asm_swap
#define DURO__CORO_SWITCH_NAME "asm"
#else
typedef duro__coro_uc_ctx duro__coro_ctx;
#define duro__coro_ctx_make duro__coro_uc_make
#define duro__coro_ctx_swap duro__coro_uc_swap
#define DURO__CORO_SWITCH_NAME "ucontext"
#endif

#endif
