/* clock.h: wall and monotonic clocks in milliseconds, with a test seam. */
#ifndef DURO_CLOCK_H
#define DURO_CLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "duro/export.h"

/* duro_clock_fns: the clocks every duro_*_ms/us call reads. A NULL field
 * means the real clock (CLOCK_REALTIME / CLOCK_MONOTONIC). */
typedef struct duro_clock_fns {
    int64_t (*now_ms)(void);  /* wall clock, ms since the epoch */
    int64_t (*mono_ms)(void); /* monotonic, ms */
    int64_t (*mono_us)(void); /* monotonic, microseconds */
} duro_clock_fns;

/* duro_clock_set replaces the clocks (copied: fns need not outlive the
 * call); NULL restores the real ones. A test seam: a test steps a fake
 * clock instead of sleeping. Set it before other threads read the clock;
 * a field left NULL keeps the real clock for that reading only (a fake
 * mono_ms does not move mono_us). */
DURO_EXPORT void duro_clock_set(const duro_clock_fns *fns);

/* duro_clock_is_set: whether duro_clock_set has replaced the wall clock.
 * Code that would go by Redis' TIME (the scheduler's due times, a
 * schedule's next time in the client) reads duro_now_ms instead while it
 * has: no test clock reaches Redis' TIME (duro/testing.h's virtual clock
 * reaches the Functions through their own seam). */
DURO_EXPORT bool duro_clock_is_set(void);

/* duro_now_ms: wall clock, ms since the epoch. */
DURO_EXPORT int64_t duro_now_ms(void);
/* duro_mono_ms: monotonic clock in ms, for timeouts and intervals. */
DURO_EXPORT int64_t duro_mono_ms(void);
/* duro_mono_us: monotonic clock in microseconds, for latencies. */
DURO_EXPORT int64_t duro_mono_us(void);
/* duro_iso8601 writes ms since the epoch as "2026-11-25T14:35:44.123Z". */
DURO_EXPORT char *duro_iso8601(int64_t ms, char *buf, size_t size);

#endif
