/* coro_switch.c: the stack switch under coro.c: assembly on x86_64 and
 * aarch64, ucontext everywhere (coro_switch.h says which coro.c uses). */
#include <stdint.h>
#include <string.h>

#include "coro_switch.h"

/* ---- Assembly ----
 *
 * swap(save = first argument, to = second): push the callee-saved
 * registers and the floating-point control state onto the current stack,
 * store the stack pointer in save->sp, load to->sp, pop the same layout
 * from there and return -- to whoever called swap on that stack, or, the
 * first time, to the entry function that make() put where the return
 * address goes.
 *
 * x86_64 frame, from the saved sp up (64 bytes + return address):
 *   +0 MXCSR (4 bytes), +4 x87 control word (2), +8 r15, r14, r13, r12,
 *   rbx, rbp, +56 return address.
 * aarch64 frame (176 bytes): x19-x28 at +0..+72, x29 (fp) +80, x30 (lr)
 *   +88, d8-d15 at +96..+152, FPCR +160; ret jumps to the restored lr. */

#if defined(DURO__CORO_HAVE_ASM) && defined(__x86_64__)

/* SWAP_LABEL: the entry point, a branch target when built for CET's
 * indirect branch tracking. */
#if defined(__CET__) && (__CET__ & 1)
#define SWAP_LABEL "duro__coro_asm_swap:\nendbr64\n"
#else
#define SWAP_LABEL "duro__coro_asm_swap:\n"
#endif

/* clang-format off */
__asm__(".text\n"
        ".globl duro__coro_asm_swap\n"
        ".hidden duro__coro_asm_swap\n"
        ".type duro__coro_asm_swap, @function\n"
        ".p2align 4\n"
        SWAP_LABEL
        "pushq %rbp\n"
        "pushq %rbx\n"
        "pushq %r12\n"
        "pushq %r13\n"
        "pushq %r14\n"
        "pushq %r15\n"
        "subq $8, %rsp\n"
        "stmxcsr (%rsp)\n"
        "fnstcw 4(%rsp)\n"
        "movq %rsp, (%rdi)\n"
        "movq (%rsi), %rsp\n"
        "ldmxcsr (%rsp)\n"
        "fldcw 4(%rsp)\n"
        "addq $8, %rsp\n"
        "popq %r15\n"
        "popq %r14\n"
        "popq %r13\n"
        "popq %r12\n"
        "popq %rbx\n"
        "popq %rbp\n"
        "ret\n"
        ".size duro__coro_asm_swap, .-duro__coro_asm_swap\n");
/* clang-format on */

void duro__coro_asm_make(duro__coro_asm_ctx *ctx, void *stack, size_t size,
                         duro__coro_entry entry)
{
    /* The top, 16-aligned; entry then starts with rsp = top - 8, as after
     * a call, and finds a null return address there: the end of the frame
     * chain for debuggers and ASan's unwinder (rbp is 0 too). */
    char *end = (char *)stack + size;
    uintptr_t *sp = (uintptr_t *)(end - ((uintptr_t)end & 15));
    uint32_t mxcsr;
    uint16_t fpucw;

    *--sp = 0;                  /* entry's return address: none */
    *--sp = (uintptr_t)entry;   /* where swap's ret goes */
    for (int i = 0; i < 6; i++) /* rbp, rbx, r12-r15 */
        *--sp = 0;
    *--sp = 0;
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    __asm__ volatile("fnstcw %0" : "=m"(fpucw));
    memcpy(sp, &mxcsr, sizeof(mxcsr));
    memcpy((char *)sp + 4, &fpucw, sizeof(fpucw));
    ctx->sp = sp;
}

#elif defined(DURO__CORO_HAVE_ASM) && defined(__aarch64__)

/* clang-format off */
__asm__(".text\n"
        ".globl duro__coro_asm_swap\n"
        ".hidden duro__coro_asm_swap\n"
        ".type duro__coro_asm_swap, %function\n"
        ".p2align 4\n"
        "duro__coro_asm_swap:\n"
        "sub sp, sp, #176\n"
        "stp x19, x20, [sp, #0]\n"
        "stp x21, x22, [sp, #16]\n"
        "stp x23, x24, [sp, #32]\n"
        "stp x25, x26, [sp, #48]\n"
        "stp x27, x28, [sp, #64]\n"
        "stp x29, x30, [sp, #80]\n"
        "stp d8, d9, [sp, #96]\n"
        "stp d10, d11, [sp, #112]\n"
        "stp d12, d13, [sp, #128]\n"
        "stp d14, d15, [sp, #144]\n"
        "mrs x9, fpcr\n"
        "str x9, [sp, #160]\n"
        "mov x9, sp\n"
        "str x9, [x0]\n"
        "ldr x9, [x1]\n"
        "mov sp, x9\n"
        "ldr x9, [sp, #160]\n"
        "msr fpcr, x9\n"
        "ldp x19, x20, [sp, #0]\n"
        "ldp x21, x22, [sp, #16]\n"
        "ldp x23, x24, [sp, #32]\n"
        "ldp x25, x26, [sp, #48]\n"
        "ldp x27, x28, [sp, #64]\n"
        "ldp x29, x30, [sp, #80]\n"
        "ldp d8, d9, [sp, #96]\n"
        "ldp d10, d11, [sp, #112]\n"
        "ldp d12, d13, [sp, #128]\n"
        "ldp d14, d15, [sp, #144]\n"
        "add sp, sp, #176\n"
        "ret\n"
        ".size duro__coro_asm_swap, .-duro__coro_asm_swap\n");
/* clang-format on */

void duro__coro_asm_make(duro__coro_asm_ctx *ctx, void *stack, size_t size,
                         duro__coro_entry entry)
{
    /* entry starts with sp = top (16-aligned) and x29 = 0, the end of the
     * frame chain. */
    char *end = (char *)stack + size;
    uint64_t *frame = (uint64_t *)(end - ((uintptr_t)end & 15) - 176);
    uint64_t fpcr;

    memset(frame, 0, 176);
    frame[11] = (uint64_t)(uintptr_t)entry; /* x30, at +88 */
    __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
    frame[20] = fpcr; /* at +160 */
    ctx->sp = frame;
}

#endif

/* ---- ucontext ---- */

void duro__coro_uc_make(duro__coro_uc_ctx *ctx, void *stack, size_t size,
                        duro__coro_entry entry)
{
    getcontext(&ctx->uc);
    ctx->uc.uc_stack.ss_sp = stack;
    ctx->uc.uc_stack.ss_size = size;
    ctx->uc.uc_link = NULL;
    makecontext(&ctx->uc, entry, 0);
#ifdef DURO_ASAN
    /* ASan's swapcontext interceptor clears the shadow of the target's
     * uc_stack on every switch, which would erase the redzones of the
     * suspended frames (and cost a 32 KiB memset per resume). makecontext
     * has already consumed uc_stack, and coro.c keeps the shadow of a
     * reused stack clean, so hide it from the interceptor. */
    ctx->uc.uc_stack.ss_size = 0;
#endif
}

void duro__coro_uc_swap(duro__coro_uc_ctx *save, const duro__coro_uc_ctx *to)
{
    swapcontext(&save->uc, &to->uc);
}
