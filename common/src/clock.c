/* clock.c: wall and monotonic clocks in milliseconds, with a test seam. */
#include <stdio.h>
#include <time.h>

#include "duro/clock.h"

/* ---- The seam ---- */

/* The replacement clocks, NULL for the real ones. Read with relaxed atomic
 * loads: a test may set them while a worker thread reads the clock, and a
 * function pointer is read whole either way. */
static int64_t (*fake_now_ms)(void);
static int64_t (*fake_mono_ms)(void);
static int64_t (*fake_mono_us)(void);

void duro_clock_set(const duro_clock_fns *fns)
{
    __atomic_store_n(&fake_now_ms, fns ? fns->now_ms : NULL, __ATOMIC_RELAXED);
    __atomic_store_n(&fake_mono_ms, fns ? fns->mono_ms : NULL,
                     __ATOMIC_RELAXED);
    __atomic_store_n(&fake_mono_us, fns ? fns->mono_us : NULL,
                     __ATOMIC_RELAXED);
}

bool duro_clock_is_set(void)
{
    return __atomic_load_n(&fake_now_ms, __ATOMIC_RELAXED) != NULL;
}

/* ---- The clocks ---- */

int64_t duro_now_ms(void)
{
    int64_t (*fake)(void) = __atomic_load_n(&fake_now_ms, __ATOMIC_RELAXED);
    if (fake) return fake();

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t duro_mono_ms(void)
{
    int64_t (*fake)(void) = __atomic_load_n(&fake_mono_ms, __ATOMIC_RELAXED);
    if (fake) return fake();

    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t duro_mono_us(void)
{
    int64_t (*fake)(void) = __atomic_load_n(&fake_mono_us, __ATOMIC_RELAXED);
    if (fake) return fake();

    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

char *duro_iso8601(int64_t ms, char *buf, size_t size)
{
    if (size == 0) return buf;
    int64_t sec = ms / 1000;
    int64_t rem = ms % 1000;
    if (rem < 0) { /* floor for times before the epoch */
        rem += 1000;
        sec -= 1;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(buf, size, "?");
        return buf;
    }
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (int)rem);
    return buf;
}
