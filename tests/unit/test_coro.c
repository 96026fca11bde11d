/* test_coro.c: coroutine switching, stacks, and a switch-cost benchmark. */
#include <criterion/criterion.h>
#include <fenv.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "coro.h"
#include "coro_switch.h"

TestSuite(coro, .timeout = 5);

/* ---- Ordering ---- */

typedef struct {
    char log[32];
    int len;
} trace;

static void note(trace *t, char ch)
{
    cr_assert_lt(t->len, (int)sizeof(t->log) - 1);
    t->log[t->len++] = ch;
}

static void ping(void *arg)
{
    trace *t = arg;
    for (int i = 0; i < 3; i++) {
        note(t, (char)('a' + i));
        duro__coro_yield();
    }
    note(t, 'z');
}

Test(coro, ping_pong_ordering)
{
    trace t = {0};
    duro__coro *c;

    cr_assert_eq(duro__coro_new(&c, 0, ping, &t), 0);
    cr_assert_not(duro__coro_done(c));
    for (int i = 0; i < 3; i++) {
        duro__coro_resume(c);
        note(&t, (char)('0' + i));
        cr_assert_not(duro__coro_done(c));
    }
    duro__coro_resume(c);
    cr_assert(duro__coro_done(c));
    cr_assert_str_eq(t.log, "a0b1c2z");
    duro__coro_free(c);
}

static void two_step(void *arg)
{
    int *n = arg;
    (*n)++;
    duro__coro_yield();
    (*n)++;
}

Test(coro, interleaves_two_coroutines)
{
    int a = 0, b = 0;
    duro__coro *ca, *cb;

    cr_assert_eq(duro__coro_new(&ca, 0, two_step, &a), 0);
    cr_assert_eq(duro__coro_new(&cb, 0, two_step, &b), 0);
    duro__coro_resume(ca);
    cr_assert_eq(a, 1);
    cr_assert_eq(b, 0);
    duro__coro_resume(cb);
    duro__coro_resume(ca);
    cr_assert(duro__coro_done(ca));
    cr_assert_not(duro__coro_done(cb));
    duro__coro_resume(cb);
    cr_assert(duro__coro_done(cb));
    cr_assert_eq(a + b, 4);
    duro__coro_free(ca);
    duro__coro_free(cb);
}

/* ---- Many coroutines ---- */

#define MANY 10000
#define MANY_YIELDS 3

static void count_up(void *arg)
{
    int *n = arg;
    /* a local that must survive the switches on this coroutine's stack */
    volatile int mine = 0;
    for (int i = 0; i < MANY_YIELDS; i++) {
        mine++;
        duro__coro_yield();
    }
    *n = mine;
}

Test(coro, ten_thousand_alive_then_freed)
{
    static duro__coro *cs[MANY];
    static int counts[MANY];

    for (int i = 0; i < MANY; i++)
        cr_assert_eq(duro__coro_new(&cs[i], 0, count_up, &counts[i]), 0,
                     "coroutine %d", i);
    for (int round = 0; round <= MANY_YIELDS; round++)
        for (int i = 0; i < MANY; i++)
            duro__coro_resume(cs[i]);
    for (int i = 0; i < MANY; i++) {
        cr_assert(duro__coro_done(cs[i]));
        cr_assert_eq(counts[i], MANY_YIELDS);
        duro__coro_free(cs[i]);
    }
}

/* ---- Freeing ---- */

static void yield_forever(void *arg)
{
    (void)arg;
    char buf[512];
    memset(buf, 0x5a, sizeof(buf)); /* leave redzones and live data behind */
    for (;;)
        duro__coro_yield();
}

Test(coro, free_suspended)
{
    /* Free suspended coroutines, then reuse their (cached) stacks: an ASan
     * build must not trip over what the abandoned frames left behind. */
    for (int round = 0; round < 3; round++) {
        duro__coro *c[8];
        for (int i = 0; i < 8; i++) {
            cr_assert_eq(duro__coro_new(&c[i], 0, yield_forever, NULL), 0);
            duro__coro_resume(c[i]);
            duro__coro_resume(c[i]);
            cr_assert_not(duro__coro_done(c[i]));
        }
        for (int i = 0; i < 8; i++)
            duro__coro_free(c[i]);
    }
}

Test(coro, freed_stacks_kept_past_a_burst)
{
    /* A worker frees as many stacks as it ran runs at once: a burst of
     * runs larger than the old cache (64) must not unmap the rest, and the
     * next burst takes them back instead of mapping new ones. */
    enum { BURST = 300 };
    static duro__coro *c[BURST];
    int before = duro__coro_stacks_cached();
    for (int i = 0; i < BURST; i++) {
        cr_assert_eq(duro__coro_new(&c[i], 0, yield_forever, NULL), 0);
        duro__coro_resume(c[i]);
    }
    int taken = before - duro__coro_stacks_cached(); /* reused */
    for (int i = 0; i < BURST; i++)
        duro__coro_free(c[i]);
    cr_assert_eq(duro__coro_stacks_cached(), before - taken + BURST,
                 "kept %d of %d freed stacks", duro__coro_stacks_cached(),
                 BURST);
    for (int i = 0; i < BURST; i++)
        cr_assert_eq(duro__coro_new(&c[i], 0, yield_forever, NULL), 0);
    cr_assert_eq(duro__coro_stacks_cached(), before - taken,
                 "the second burst mapped new stacks");
    for (int i = 0; i < BURST; i++)
        duro__coro_free(c[i]);
}

Test(coro, free_never_started_and_null)
{
    duro__coro *c;

    cr_assert_eq(duro__coro_new(&c, 0, yield_forever, NULL), 0);
    duro__coro_free(c);
    duro__coro_free(NULL);
}

/* ---- Stacks ---- */

/* recurse uses about 256 + frame bytes per level; volatile and the use of
 * the result after the call keep the compiler from flattening it. */
static int recurse(int depth)
{
    volatile char pad[256];
    pad[0] = (char)depth;
    pad[sizeof(pad) - 1] = (char)depth;
    if (depth == 0) return pad[0];
    return recurse(depth - 1) + pad[sizeof(pad) - 1] - (char)depth + 1;
}

static void deep(void *arg)
{
    int *out = arg;
    *out = recurse(*out);
}

Test(coro, deep_recursion_fits_default_stack)
{
    /* 600 levels is ~180 KiB of a 256 KiB stack (more under ASan, whose
     * stacks are larger to match). */
    int n = 600;
    duro__coro *c;

    cr_assert_eq(duro__coro_new(&c, 0, deep, &n), 0);
    duro__coro_resume(c);
    cr_assert(duro__coro_done(c));
    cr_assert_eq(n, 600);
    duro__coro_free(c);
}

Test(coro, custom_stack_size)
{
    int n = 3000; /* ~900 KiB */
    duro__coro *c;

    cr_assert_eq(duro__coro_new(&c, (size_t)2 * 1024 * 1024, deep, &n), 0);
    duro__coro_resume(c);
    cr_assert(duro__coro_done(c));
    cr_assert_eq(n, 3000);
    duro__coro_free(c);
}

static void overflow(void *arg)
{
    (void)arg;
    recurse(1 << 30);
}

/* The guard page turns an overflow into a fault; the handler finds it is
 * the running coroutine's and returns from resume, which leaves the
 * coroutine dead and the thread fit to go on. */
Test(coro, overflow_returns_from_resume)
{
    duro__coro *c;

    cr_assert_eq(duro__coro_new(&c, 0, overflow, NULL), 0);
    duro__coro_resume(c);
    cr_assert(duro__coro_overflowed(c));
    cr_assert(duro__coro_done(c));
    cr_assert_null(duro__coro_current());
    duro__coro_free(c);
}

/* big_frame touches a 1 MiB local array from its top down, as a frame
 * built with -fstack-clash-protection probes it. */
static void big_frame(void *arg)
{
    volatile char buf[1 << 20];
    for (long i = (long)sizeof(buf) - 1; i >= 0; i -= 1024)
        buf[i] = (char)i;
    *(int *)arg = buf[0] + 1;
}

Test(coro, overflow_then_more_coroutines_run)
{
    /* the same thread survives several overflows (the signal is unblocked
     * each time) and its other coroutines, suspended meanwhile, go on */
    int a = 0;
    duro__coro *keep;
    cr_assert_eq(duro__coro_new(&keep, 0, two_step, &a), 0);
    duro__coro_resume(keep);
    for (int i = 0; i < 3; i++) {
        int out = 0;
        duro__coro *c;
        cr_assert_eq(duro__coro_new(&c, 0, big_frame, &out), 0);
        duro__coro_resume(c);
        cr_assert(duro__coro_overflowed(c), "round %d", i);
        cr_assert_eq(out, 0);
        duro__coro_free(c);
    }
    duro__coro_resume(keep);
    cr_assert(duro__coro_done(keep));
    cr_assert_eq(a, 2);
    duro__coro_free(keep);
}

Test(coro, a_bigger_stack_fits_the_big_frame)
{
    int out = 0;
    duro__coro *c;

    cr_assert_eq(duro__coro_new(&c, (size_t)2 * 1024 * 1024, big_frame, &out),
                 0);
    duro__coro_resume(c);
    cr_assert_not(duro__coro_overflowed(c));
    cr_assert(duro__coro_done(c));
    cr_assert_eq(out, 1);
    cr_assert_geq(duro__coro_stack_size(c), (size_t)2 * 1024 * 1024);
    duro__coro_free(c);
}

/* overflow_in_libc writes into its own guard page from inside memset, as
 * an overflow inside libc would fault: libc may hold a lock there, so this
 * is not survivable and the process reports it and dies of SIGSEGV. The
 * stack's top is the page boundary just above the first frame's locals. */
static void overflow_in_libc(void *arg)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    volatile char here = 0;
    uintptr_t top = ((uintptr_t)&here + page - 1) / page * page;
    /* an address computed on purpose: the guard page below this stack */
    /* NOLINTNEXTLINE(performance-no-int-to-ptr) */
    char *guard = (char *)(top - *(size_t *)arg - page);
    volatile size_t n = 64;
    memset(guard + 128, (int)here, n);
}

Test(coro, overflow_inside_libc_is_fatal, .signal = SIGSEGV)
{
    duro__coro *c;
    size_t size = (size_t)DURO__CORO_STACK_MIN;

    /* what the crash handler hands over to: not ASan's, which would report
     * the fault and exit 1 instead of dying of it */
    signal(SIGSEGV, SIG_DFL);
    cr_assert_eq(duro__coro_new(&c, size, overflow_in_libc, &size), 0);
    duro__coro_set_label(c, "libc-test", "r1", "t");
    duro__coro_resume(c);
    cr_assert_fail("an overflow inside libc returned");
}

static void aborts(void *arg)
{
    (void)arg;
    abort();
}

/* abort() in a coroutine is a crash, not an overflow: it still kills the
 * process with SIGABRT, after the crash line. */
Test(coro, abort_still_kills, .signal = SIGABRT)
{
    duro__coro *c;

    cr_assert_eq(duro__coro_new(&c, 0, aborts, NULL), 0);
    duro__coro_set_label(c, "abort-test", NULL, "t");
    duro__coro_resume(c);
    cr_assert_fail("abort returned");
}

/* ---- Current ---- */

static void who_am_i(void *arg)
{
    duro__coro **seen = arg;
    seen[0] = duro__coro_current();
    duro__coro_yield();
    seen[1] = duro__coro_current();
}

Test(coro, current_inside_and_outside)
{
    duro__coro *seen[2] = {NULL, NULL};
    duro__coro *c;

    cr_assert_null(duro__coro_current());
    cr_assert_eq(duro__coro_new(&c, 0, who_am_i, seen), 0);
    duro__coro_resume(c);
    cr_assert_null(duro__coro_current());
    duro__coro_resume(c);
    cr_assert_eq(seen[0], c);
    cr_assert_eq(seen[1], c);
    cr_assert_null(duro__coro_current());
    duro__coro_free(c);
}

/* ---- State across switches ---- */

/* fp_work keeps many doubles live across its yields (more than the
 * caller-saved registers hold, so some sit in callee-saved ones: d8-d15 on
 * aarch64), while the resumer's own floating-point work runs in between. */
static double fp_series(int yields)
{
    double a = 1.0, b = 0.5, c = 0.25, d = 0.125, e = 3.0, f = 7.0, g = 11.0,
           h = 13.0, k = 17.0, m = 19.0;
    for (int i = 0; i < 8; i++) {
        a = a * 1.5 + b;
        b = b * 0.75 - c;
        c = c + d * e;
        d = d / 3.0 + f;
        e = e * 0.5 + g;
        f = f - h / 7.0;
        g = g * 1.25 + k;
        h = h / 1.1 - m;
        k = k * 0.9 + a;
        m = m + b * c;
        if (yields) duro__coro_yield();
    }
    return a + b + c + d + e + f + g + h + k + m;
}

static void fp_work(void *arg)
{
    *(double *)arg = fp_series(1);
}

Test(coro, floating_point_values_survive_switches)
{
    double want = fp_series(0), got = 0, noise = 1.0;
    duro__coro *c[4];
    double out[4] = {0};

    for (int i = 0; i < 4; i++)
        cr_assert_eq(duro__coro_new(&c[i], 0, fp_work, &out[i]), 0);
    for (int round = 0; round < 9; round++)
        for (int i = 0; i < 4; i++) {
            volatile double v = noise * 3.7 + round; /* the resumer's own */
            noise = v / 1.3 + 0.1;
            duro__coro_resume(c[i]);
        }
    for (int i = 0; i < 4; i++) {
        cr_assert(duro__coro_done(c[i]));
        got = out[i];
        cr_assert(got == want, "coroutine %d: %.17g, want %.17g", i, got, want);
        duro__coro_free(c[i]);
    }
}

/* upward sets its own rounding mode and checks it stays across a switch
 * (the floating-point control state is saved with each context). */
static void upward(void *arg)
{
    int *seen = arg;
    fesetround(FE_UPWARD);
    duro__coro_yield();
    seen[0] = fegetround();
    volatile double third = 1.0;
    third /= 3.0;
    seen[1] = third * 3.0 > 1.0; /* rounded up */
    fesetround(FE_TONEAREST);
}

Test(coro, rounding_mode_belongs_to_each_context)
{
    int seen[2] = {-1, -1};
    duro__coro *c;

    cr_assert_eq(fegetround(), FE_TONEAREST);
    cr_assert_eq(duro__coro_new(&c, 0, upward, seen), 0);
    duro__coro_resume(c);
    cr_assert_eq(fegetround(), FE_TONEAREST, "the coroutine's mode leaked");
    duro__coro_resume(c);
    cr_assert(duro__coro_done(c));
    cr_assert_eq(seen[0], FE_UPWARD);
    cr_assert_eq(seen[1], 1);
    cr_assert_eq(fegetround(), FE_TONEAREST);
    duro__coro_free(c);
}

/* ---- Many coroutines, each deep in its own recursion ---- */

#define NDEEP 200
#define DEEP_LEVELS 100

/* descend recurses `left` more levels, yields at the bottom, and checks on
 * the way up that every frame's locals are what it wrote: frames of
 * other coroutines ran on other stacks in between. */
static long descend(int id, int left)
{
    volatile long mine[16];
    for (int i = 0; i < 16; i++)
        mine[i] = (long)id * 1000003 + (long)left * 31 + i;
    long below = 0;
    if (left > 0)
        below = descend(id, left - 1);
    else
        duro__coro_yield();
    for (int i = 0; i < 16; i++)
        if (mine[i] != (long)id * 1000003 + (long)left * 31 + i)
            return -1000000;
    return below + 1;
}

static void deep_then_yield(void *arg)
{
    int *io = arg; /* in: the id; out: levels that came back intact */
    *io = (int)descend(*io, DEEP_LEVELS);
}

Test(coro, many_coroutines_suspended_deep_in_recursion)
{
    static duro__coro *cs[NDEEP];
    static int io[NDEEP];

    for (int i = 0; i < NDEEP; i++) {
        io[i] = i;
        cr_assert_eq(duro__coro_new(&cs[i], 0, deep_then_yield, &io[i]), 0);
    }
    for (int i = 0; i < NDEEP; i++) /* all down to their yield */
        duro__coro_resume(cs[i]);
    for (int i = NDEEP - 1; i >= 0; i--) { /* back up, in reverse */
        duro__coro_resume(cs[i]);
        cr_assert(duro__coro_done(cs[i]));
        cr_assert_eq(io[i], DEEP_LEVELS + 1, "coroutine %d", i);
        duro__coro_free(cs[i]);
    }
}

/* ---- The switch itself, both implementations ---- */

/* A context that ping-pongs with the test through either implementation:
 * the entry adds to a counter, switches back, and ends by switching back
 * for good. */
#define RAW_STACK ((size_t)64 * 1024)
#define RAW_ROUNDS 1000

static struct {
    bool use_asm;
#ifdef DURO__CORO_HAVE_ASM
    duro__coro_asm_ctx asm_main, asm_co;
#endif
    duro__coro_uc_ctx uc_main, uc_co;
    long counter;
    double acc;
} raw;

static void raw_back(void)
{
#ifdef DURO__CORO_HAVE_ASM
    if (raw.use_asm) {
        duro__coro_asm_swap(&raw.asm_co, &raw.asm_main);
        return;
    }
#endif
    duro__coro_uc_swap(&raw.uc_co, &raw.uc_main);
}

static void raw_entry(void)
{
    double acc = 0.5; /* live across every switch */
    for (int i = 0; i < RAW_ROUNDS; i++) {
        raw.counter += i;
        acc = acc * 1.0001 + 1.0;
        raw_back();
    }
    raw.acc = acc;
    for (;;) /* an entry never returns */
        raw_back();
}

static void raw_run(bool use_asm)
{
    static char stack[RAW_STACK] __attribute__((aligned(16)));
    double want = 0.5;
    long sum = 0;

    memset(&raw, 0, sizeof(raw));
    raw.use_asm = use_asm;
#ifdef DURO__CORO_HAVE_ASM
    if (use_asm) duro__coro_asm_make(&raw.asm_co, stack, RAW_STACK, raw_entry);
#endif
    if (!use_asm) duro__coro_uc_make(&raw.uc_co, stack, RAW_STACK, raw_entry);
    for (int i = 0; i <= RAW_ROUNDS; i++) {
#ifdef DURO__CORO_HAVE_ASM
        if (use_asm) duro__coro_asm_swap(&raw.asm_main, &raw.asm_co);
#endif
        if (!use_asm) duro__coro_uc_swap(&raw.uc_main, &raw.uc_co);
        if (i < RAW_ROUNDS) {
            sum += i;
            want = want * 1.0001 + 1.0;
            cr_assert_eq(raw.counter, sum, "round %d", i);
        }
    }
    cr_assert(raw.acc == want, "%.17g, want %.17g", raw.acc, want);
}

Test(coro, ucontext_switch_ping_pong)
{
    raw_run(false);
}

Test(coro, asm_switch_ping_pong)
{
#ifdef DURO__CORO_HAVE_ASM
    raw_run(true);
#else
    cr_skip_test("no assembly switch for this CPU: coro.c uses ucontext");
#endif
}

/* ---- Benchmark ---- */

#define BENCH_ROUNDS 200000

static void spin(void *arg)
{
    (void)arg;
    for (;;)
        duro__coro_yield();
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Prints the cost of one switch (a resume+yield round trip is two). It
 * asserts nothing about speed: machines and builds differ too much. */
Test(coro, bench_switch)
{
    duro__coro *c;

    cr_assert_eq(duro__coro_new(&c, 0, spin, NULL), 0);
    duro__coro_resume(c); /* warm up */
    int64_t t0 = now_ns();
    for (int i = 0; i < BENCH_ROUNDS; i++)
        duro__coro_resume(c);
    int64_t t1 = now_ns();
    fprintf(stderr, "BENCH coro switch (%s) %.1f ns (%d round trips)\n",
            DURO__CORO_SWITCH_NAME, (double)(t1 - t0) / (2.0 * BENCH_ROUNDS),
            BENCH_ROUNDS);
    duro__coro_free(c);
}
