/* clock.h: wall and monotonic clocks in milliseconds, with a test seam. */
#ifndef DURO_CLOCK_H
#define DURO_CLOCK_H

#include <stddef.h>
#include <stdint.h>
#include "duro/export.h"

/* duro_now_ms: wall clock, ms since the epoch. */
DURO_EXPORT int64_t duro_now_ms(void);
/* duro_mono_ms: monotonic clock in ms, for timeouts and intervals. */
DURO_EXPORT int64_t duro_mono_ms(void);
/* duro_mono_us: monotonic clock in microseconds, for latencies. */
DURO_EXPORT int64_t duro_mono_us(void);
/* duro_iso8601 writes ms since the epoch as "2026-11-25T14:35:44.123Z". */
DURO_EXPORT char *duro_iso8601(int64_t ms, char *buf, size_t size);

#endif
