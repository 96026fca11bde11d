/* coro.c: stackful coroutines with guarded stacks, kept for reuse by
 * coro_stack.c and switched by coro_switch.c (assembly on x86_64 and
 * aarch64, ucontext elsewhere). */
#include <assert.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "coro.h"
#include "coro_stack.h"
#include "coro_switch.h"

#ifdef DURO_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define DURO_TSAN_FIBERS 1
#endif

/* A coroutine owns one mapping: a PROT_NONE guard page at the low end and
 * the stack above it (stacks grow down, so running off the end faults on
 * the guard page). Switching is symmetric with the one thread that resumes
 * it: resume saves the resumer in caller and swaps to ctx; yield saves ctx
 * and swaps back to caller. The coroutine's first entry finds itself
 * through the thread-local current, which avoids smuggling a pointer
 * through makecontext's int arguments. The switch itself (coro_switch.h)
 * saves only the callee-saved registers: no system call, unlike
 * swapcontext, which it replaces where it has assembly for the CPU.
 *
 * Under ASan every switch is announced with __sanitizer_start_switch_fiber
 * and confirmed with __sanitizer_finish_switch_fiber so ASan knows which
 * stack is live; otherwise it reports false stack-buffer-overflows and
 * stack-use-after-returns. The coroutine remembers the resumer's stack
 * bounds (learned when it is switched to) to announce the switch back.
 * Under TSan each coroutine is a fiber (__tsan_create_fiber) and every
 * switch is announced with __tsan_switch_to_fiber just before it happens;
 * otherwise TSan sees one thread's shadow stack jump between stacks and
 * reports races (or crashes) on the frames of suspended coroutines.
 *
 * An overflow leaves the coroutine through a third path: the SIGSEGV
 * handler siglongjmps to the thread's `escape`, set by the resume that ran
 * it (one per thread, as coroutines do not nest; coro.h
 * says when that is safe). */
struct duro__coro {
    duro__coro_ctx ctx;    /* the coroutine's own context while suspended */
    duro__coro_ctx caller; /* the resumer's context while the coroutine runs */
    char *map;             /* guard page + stack, from stack_alloc() */
    size_t map_size;
    duro__coro_fn fn;
    void *arg;
    bool done;
    bool overflowed;
    /* who runs here, for the crash line: borrowed, outlive the coroutine */
    const char *wf, *run, *type;
    /* ASan bookkeeping, unused (but kept, for one layout) in other builds */
    void *fake_stack;          /* its ASan fake stack while suspended */
    const void *caller_bottom; /* the resumer's stack, to switch back */
    size_t caller_size;
    void *resume_fake; /* the resumer's fake stack, across an escape */
    /* TSan bookkeeping, unused in other builds */
    void *tsan_fiber;  /* this coroutine's TSan fiber */
    void *tsan_caller; /* the resumer's fiber, to switch back */
};

/* current is read by the signal handlers: initial-exec TLS is a plain
 * thread-pointer load there, with no lazy allocation. */
static __thread duro__coro *current __attribute__((tls_model("initial-exec")));
/* escape: where the overflow handler jumps, set by each resume. */
static __thread sigjmp_buf escape __attribute__((tls_model("initial-exec")));

/* ---- Stacks ---- */

static size_t page_size(void)
{
    return (size_t)sysconf(_SC_PAGESIZE);
}

static size_t round_to_page(size_t n)
{
    size_t page = page_size();
    return (n + page - 1) / page * page;
}

int duro__coro_stacks_cached(void)
{
    return duro__coro_stack_count(0);
}

int duro__coro_stacks_cached_of(size_t stack_size)
{
    if (stack_size == 0) stack_size = DURO__CORO_STACK_DEFAULT;
    return duro__coro_stack_count(round_to_page(stack_size) + page_size());
}

/* stack_alloc maps a guard page plus at least usable bytes of stack.
 * Returns the mapping or NULL with errno ENOMEM. */
static char *stack_alloc(size_t usable, size_t *map_size)
{
    size_t page = page_size();
    char *map;

    *map_size = round_to_page(usable) + page;
    if ((map = duro__coro_stack_take(*map_size)) != NULL) return map;
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

/* stack_release keeps (coro_stack.c) or unmaps a stack, or keeps it and
 * unmaps another it evicted. An abandoned coroutine leaves its frames'
 * redzones poisoned in ASan's shadow, and the trampoline frame of a
 * finished one never returns, so the shadow is cleared before the memory
 * can be handed out again (or the cache writes its link at the top). */
static void stack_release(char *map, size_t map_size)
{
#ifdef DURO_ASAN
    ASAN_UNPOISON_MEMORY_REGION(map + page_size(), map_size - page_size());
#endif
    size_t unmap_size;
    char *unmap = duro__coro_stack_put(map, map_size, &unmap_size);
    if (unmap != NULL) munmap(unmap, unmap_size);
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

/* tsan_switch tells TSan that the next instruction switches to fiber;
 * it compiles to nothing in other builds. */
static inline void tsan_switch(void *fiber)
{
#ifdef DURO_TSAN_FIBERS
    __tsan_switch_to_fiber(fiber, 0);
#else
    (void)fiber;
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
    tsan_switch(c->tsan_caller);
    duro__coro_ctx_swap(&c->ctx, &c->caller);
    abort(); /* nothing resumes a done coroutine */
}

/* ---- Overflow and crash handling (see coro.h) ---- */

/* FATAL_SIGNALS get the crash line; the first two may be an overflow. */
static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE};
#define NFATAL (int)(sizeof(fatal_signals) / sizeof(fatal_signals[0]))
static struct sigaction previous[NFATAL];
static pthread_once_t handlers_once = PTHREAD_ONCE_INIT;

/* ALTSTACK_SIZE: the handler only formats a line; 64 KiB is ample. */
#define ALTSTACK_SIZE ((size_t)64 * 1024)
static pthread_key_t altstack_key;
static __thread bool altstack_ready __attribute__((tls_model("initial-exec")));

/* unsafe_text: the code of libc and the dynamic loader, where a fault may
 * hold a lock (coro.h). unsafe_known is false when libc was not found. */
#define UNSAFE_MAX 16
static struct {
    uintptr_t lo, hi;
} unsafe_text[UNSAFE_MAX];
static int unsafe_len;
static bool unsafe_known;

static int note_unsafe_object(struct dl_phdr_info *info, size_t size, void *arg)
{
    const char *name = info->dlpi_name ? info->dlpi_name : "";
    const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
    bool is_libc = strncmp(base, "libc.so", 7) == 0 ||
                   strncmp(base, "libc-", 5) == 0 ||
                   strncmp(base, "libc.musl", 9) == 0;
    if (!is_libc && strncmp(base, "ld-", 3) != 0 &&
        strncmp(base, "libpthread", 10) != 0)
        return 0;
    if (is_libc) unsafe_known = true;
    for (int i = 0; i < info->dlpi_phnum && unsafe_len < UNSAFE_MAX; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
        unsafe_text[unsafe_len].lo = info->dlpi_addr + ph->p_vaddr;
        unsafe_text[unsafe_len++].hi =
            info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
    }
    return 0;
}

/* fault_regs reads the faulting instruction and stack pointers; false on
 * architectures this file does not know (then nothing is recovered). */
static bool fault_regs(const void *uc, uintptr_t *pc, uintptr_t *sp)
{
    const ucontext_t *u = uc;
#if defined(__x86_64__)
    *pc = (uintptr_t)u->uc_mcontext.gregs[REG_RIP];
    *sp = (uintptr_t)u->uc_mcontext.gregs[REG_RSP];
    return true;
#elif defined(__aarch64__)
    *pc = (uintptr_t)u->uc_mcontext.pc;
    *sp = (uintptr_t)u->uc_mcontext.sp;
    return true;
#else
    (void)u, (void)pc, (void)sp;
    return false;
#endif
}

static bool pc_is_safe(uintptr_t pc)
{
    if (!unsafe_known) return false;
    for (int i = 0; i < unsafe_len; i++)
        if (pc >= unsafe_text[i].lo && pc < unsafe_text[i].hi) return false;
    return true;
}

/* ---- Writing from a signal handler ---- */

typedef struct {
    char buf[512];
    size_t len;
} line;

static void put(line *l, const char *s)
{
    while (*s && l->len < sizeof(l->buf) - 1)
        l->buf[l->len++] = *s++;
}

static void put_num(line *l, uint64_t n)
{
    char tmp[24];
    int i = 0;
    do
        tmp[i++] = (char)('0' + n % 10);
    while ((n /= 10) != 0);
    while (i > 0 && l->len < sizeof(l->buf) - 1)
        l->buf[l->len++] = tmp[--i];
}

static void put_label(line *l, const duro__coro *c)
{
    put(l, " wf=");
    put(l, c->wf ? c->wf : "?");
    put(l, " run=");
    put(l, c->run ? c->run : "?");
    put(l, " type=");
    put(l, c->type ? c->type : "?");
}

static void put_end(line *l)
{
    l->buf[l->len++] = '\n';
    ssize_t rc = write(STDERR_FILENO, l->buf, l->len);
    (void)rc; /* nothing better to do in a dying process */
}

static const char *signal_name(int sig)
{
    switch (sig) {
    case SIGSEGV:
        return "SIGSEGV";
    case SIGBUS:
        return "SIGBUS";
    case SIGABRT:
        return "SIGABRT";
    case SIGILL:
        return "SIGILL";
    case SIGFPE:
        return "SIGFPE";
    }
    return "?";
}

/* ---- The handler ---- */

/* is_overflow: the fault is c running off its stack: the address is in
 * its guard page, or the stack pointer is below the stack's bottom. */
static bool is_overflow(const duro__coro *c, uintptr_t addr, uintptr_t sp,
                        bool have_sp)
{
    uintptr_t guard = (uintptr_t)c->map, bottom = guard + page_size();
    if (addr >= guard && addr < bottom) return true;
    return have_sp && sp < bottom && bottom - sp <= DURO__CORO_STACK_MAX;
}

/* reraise restores the disposition found at install time so the process
 * dies of the real signal. A fault the kernel raised (si_code > 0) needs
 * nothing more: returning re-executes the instruction, which faults again
 * and reaches the previous handler with the true siginfo (ASan's reports
 * the address). abort() and kill() are sent again. */
static void reraise(int sig, const siginfo_t *si)
{
    for (int i = 0; i < NFATAL; i++)
        if (fatal_signals[i] == sig) sigaction(sig, &previous[i], NULL);
    if (si->si_code <= 0 || sig == SIGABRT) raise(sig);
}

static void on_fatal(int sig, siginfo_t *si, void *uc)
{
    int saved_errno = errno;
    duro__coro *c = current;
    uintptr_t pc = 0, sp = 0;
    bool have_regs = fault_regs(uc, &pc, &sp);
    line l = {.len = 0};

    if (c && (sig == SIGSEGV || sig == SIGBUS) &&
        is_overflow(c, (uintptr_t)si->si_addr, sp, have_regs)) {
        if (have_regs && pc_is_safe(pc)) {
            sigset_t unblock;
            sigemptyset(&unblock);
            sigaddset(&unblock, sig);
            pthread_sigmask(SIG_UNBLOCK, &unblock, NULL);
            c->overflowed = true;
            c->done = true;
            current = NULL;
            switch_start(NULL, c->caller_bottom, c->caller_size);
            tsan_switch(c->tsan_caller);
            errno = saved_errno;
            siglongjmp(escape, 1);
        }
        put(&l, "STACK-OVERFLOW");
        put_label(&l, c);
        put(&l, " stack=");
        put_num(&l, c->map_size - page_size());
        put(&l, ": inside libc or the dynamic loader, where a lock may be "
                "held; exiting");
        put_end(&l);
    }
    if (c) {
        l.len = 0;
        put(&l, "CRASH signal=");
        put(&l, signal_name(sig));
        put_label(&l, c);
        put_end(&l);
    }
    errno = saved_errno;
    reraise(sig, si);
}

static void altstack_free(void *p)
{
    stack_t ss = {.ss_flags = SS_DISABLE};
    sigaltstack(&ss, NULL);
    munmap(p, ALTSTACK_SIZE);
}

static void install_handlers(void)
{
    dl_iterate_phdr(note_unsafe_object, NULL);
    pthread_key_create(&altstack_key, altstack_free);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_fatal;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < NFATAL; i++)
        sigaction(fatal_signals[i], &sa, &previous[i]);
}

/* altstack_setup gives this thread a signal stack unless it has one (ASan
 * installs its own); the handler needs it, the coroutine's is exhausted. */
static void altstack_setup(void)
{
    stack_t old;
    altstack_ready = true;
    if (sigaltstack(NULL, &old) == 0 && !(old.ss_flags & SS_DISABLE) &&
        old.ss_size >= 16384)
        return;
    void *p = mmap(NULL, ALTSTACK_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return; /* an overflow then kills the process */
    stack_t ss = {.ss_sp = p, .ss_size = ALTSTACK_SIZE, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0) {
        munmap(p, ALTSTACK_SIZE);
        return;
    }
    pthread_setspecific(altstack_key, p);
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
    pthread_once(&handlers_once, install_handlers);
    if (stack_size == 0) stack_size = DURO__CORO_STACK_DEFAULT;
    c->map = stack_alloc(stack_size, &c->map_size);
    if (c->map == NULL) {
        free(c);
        return -1;
    }
    c->fn = fn;
    c->arg = arg;
    duro__coro_ctx_make(&c->ctx, c->map + page_size(),
                        c->map_size - page_size(), trampoline);
#ifdef DURO_TSAN_FIBERS
    c->tsan_fiber = __tsan_create_fiber(0);
#endif
    *out = c;
    return 0;
}

void duro__coro_resume(duro__coro *c)
{
    assert(current == NULL && "coroutines do not nest");
    assert(!c->done);
    if (!altstack_ready) altstack_setup();
    current = c;
    c->resume_fake = NULL;
    /* no mask saved: the handler unblocks its signal before it jumps */
    if (sigsetjmp(escape, 0) == 0) {
        switch_start(&c->resume_fake, c->map + page_size(),
                     c->map_size - page_size());
#ifdef DURO_TSAN_FIBERS
        c->tsan_caller = __tsan_get_current_fiber();
#endif
        tsan_switch(c->tsan_fiber);
        duro__coro_ctx_swap(&c->caller, &c->ctx);
    }
    switch_finish(c->resume_fake, NULL, NULL);
    current = NULL;
}

void duro__coro_yield(void)
{
    duro__coro *c = current;

    assert(c != NULL && "yield outside a coroutine");
    switch_start(&c->fake_stack, c->caller_bottom, c->caller_size);
    tsan_switch(c->tsan_caller);
    duro__coro_ctx_swap(&c->ctx, &c->caller);
    switch_finish(c->fake_stack, &c->caller_bottom, &c->caller_size);
}

bool duro__coro_done(const duro__coro *c)
{
    return c->done;
}

bool duro__coro_overflowed(const duro__coro *c)
{
    return c->overflowed;
}

size_t duro__coro_stack_size(const duro__coro *c)
{
    return c->map_size - page_size();
}

void duro__coro_set_label(duro__coro *c, const char *wf, const char *run,
                          const char *type)
{
    c->wf = wf;
    c->run = run;
    c->type = type;
}

duro__coro *duro__coro_current(void)
{
    return current;
}

void duro__coro_free(duro__coro *c)
{
    if (c == NULL) return;
    assert(c != current && "free of the running coroutine");
#ifdef DURO_TSAN_FIBERS
    __tsan_destroy_fiber(c->tsan_fiber);
#endif
    stack_release(c->map, c->map_size);
    free(c);
}
