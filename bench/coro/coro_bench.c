/* coro_bench.c: duro-bench-coro, the coroutine switch microbenchmark
 * (`scripts/bench --only coro`, docs/benchmarks.md).
 *
 * Times one stack switch three ways in the same run, on the same machine:
 * the assembly switch (coro_switch.c, where the CPU has one), the ucontext
 * swapcontext it replaced (a sigprocmask system call per switch), and
 * the whole duro__coro_resume + duro__coro_yield round trip the worker
 * makes, with whichever switch coro.c was built with. Each is run
 * `reps` times, interleaved; the best run counts (the least disturbed by
 * the other processes on the machine), and the median is printed too.
 *
 * A second line times a coroutine's start and end (duro__coro_new +
 * duro__coro_free, the stack taken from and given back to the cache of
 * freed stacks, coro_stack.c): with one stack size, then with a second
 * size after a burst of DURO__CORO_CACHE_MAX coroutines of the first left
 * the cache full of its stacks (two workers with different
 * workflow_stack_size in one process).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coro.h"
#include "coro_switch.h"

#define STACK_SIZE (64 * 1024)
#define REPS 5

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- The raw switches: main and one context ping-pong ---- */

#ifdef DURO__CORO_HAVE_ASM
static duro__coro_asm_ctx asm_main, asm_co;

static void asm_entry(void)
{
    for (;;)
        duro__coro_asm_swap(&asm_co, &asm_main);
}
#endif

static duro__coro_uc_ctx uc_main, uc_co;

static void uc_entry(void)
{
    for (;;)
        duro__coro_uc_swap(&uc_co, &uc_main);
}

/* round_trips_ns: ns per switch over n round trips (2n switches). */
static double asm_ns(long n)
{
#ifdef DURO__CORO_HAVE_ASM
    int64_t t0 = now_ns();
    for (long i = 0; i < n; i++)
        duro__coro_asm_swap(&asm_main, &asm_co);
    return (double)(now_ns() - t0) / (2.0 * (double)n);
#else
    (void)n;
    return -1;
#endif
}

static double uc_ns(long n)
{
    int64_t t0 = now_ns();
    for (long i = 0; i < n; i++)
        duro__coro_uc_swap(&uc_main, &uc_co);
    return (double)(now_ns() - t0) / (2.0 * (double)n);
}

static void spin(void *arg)
{
    (void)arg;
    for (;;)
        duro__coro_yield();
}

static duro__coro *coro;

static double coro_ns(long n)
{
    int64_t t0 = now_ns();
    for (long i = 0; i < n; i++)
        duro__coro_resume(coro);
    return (double)(now_ns() - t0) / (2.0 * (double)n);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ---- Coroutine start: new + free, the stack from the cache ---- */

#define SIZE_OTHER ((size_t)64 * 1024) /* the second size; first: default */

/* start_ns: ns per duro__coro_new + duro__coro_free of a stack of size. */
static double start_ns(size_t size, long n)
{
    int64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        duro__coro *c;
        if (duro__coro_new(&c, size, spin, NULL) != 0) return -1;
        duro__coro_free(c);
    }
    return (double)(now_ns() - t0) / (double)n;
}

/* burst: DURO__CORO_CACHE_MAX coroutines of the default size at once,
 * then all freed: the cache is full of their stacks. */
static int burst(void)
{
    static duro__coro *cs[DURO__CORO_CACHE_MAX];
    int rc = 0, made = 0;
    for (; made < DURO__CORO_CACHE_MAX; made++)
        if (duro__coro_new(&cs[made], 0, spin, NULL) != 0) {
            rc = -1;
            break;
        }
    for (int i = 0; i < made; i++)
        duro__coro_free(cs[i]);
    return rc;
}

static int start_bench(long n)
{
    double one[REPS], two[REPS];
    start_ns(0, 1000); /* warm up */
    for (int r = 0; r < REPS; r++)
        one[r] = start_ns(0, n);
    if (burst() != 0) return -1;
    start_ns(SIZE_OTHER, 10);
    for (int r = 0; r < REPS; r++)
        two[r] = start_ns(SIZE_OTHER, n);
    qsort(one, REPS, sizeof(double), cmp_double);
    qsort(two, REPS, sizeof(double), cmp_double);
    if (one[0] < 0 || two[0] < 0) return -1;
    printf("coro start: ns per duro__coro_new + free, best (median) of %d "
           "runs: one stack size %.1f (%.1f); a second size after a "
           "%d-stack burst of the first %.1f (%.1f); %ld a run\n",
           REPS, one[0], one[REPS / 2], DURO__CORO_CACHE_MAX, two[0],
           two[REPS / 2], n);
    return 0;
}

int main(int argc, char **argv)
{
    long n = 1000000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) {
            n = 100000;
        } else {
            fprintf(stderr, "usage: duro-bench-coro [--quick]\n");
            return 2;
        }
    }
    static char s1[STACK_SIZE] __attribute__((aligned(16)));
    static char s2[STACK_SIZE] __attribute__((aligned(16)));
#ifdef DURO__CORO_HAVE_ASM
    duro__coro_asm_make(&asm_co, s1, sizeof(s1), asm_entry);
#else
    (void)s1;
#endif
    duro__coro_uc_make(&uc_co, s2, sizeof(s2), uc_entry);
    if (duro__coro_new(&coro, 0, spin, NULL) != 0) {
        fprintf(stderr, "duro-bench-coro: out of memory\n");
        return 2;
    }
    /* warm up every path once */
    asm_ns(1000);
    uc_ns(1000);
    coro_ns(1000);

    double a[REPS], u[REPS], c[REPS];
    for (int r = 0; r < REPS; r++) {
        a[r] = asm_ns(n);
        u[r] = uc_ns(n / 10); /* ~40x slower: fewer rounds, same time */
        c[r] = coro_ns(n);
    }
    qsort(a, REPS, sizeof(double), cmp_double);
    qsort(u, REPS, sizeof(double), cmp_double);
    qsort(c, REPS, sizeof(double), cmp_double);
    duro__coro_free(coro);

    printf("coro: ns per stack switch, best (median) of %d runs: ", REPS);
    if (a[0] >= 0)
        printf("asm %.1f (%.1f), ", a[0], a[REPS / 2]);
    else
        printf("asm - (none for this CPU), ");
    printf("ucontext %.1f (%.1f)", u[0], u[REPS / 2]);
    if (a[0] > 0) printf(" = %.0fx asm", u[0] / a[0]);
    printf("; duro__coro resume+yield with %s %.1f (%.1f); %ld round trips "
           "a run\n",
           DURO__CORO_SWITCH_NAME, c[0], c[REPS / 2], n);
    if (start_bench(n / 50) != 0) {
        fprintf(stderr, "duro-bench-coro: out of memory\n");
        return 2;
    }
    return 0;
}
