/* duration.h: durations in milliseconds, written 500ms, 30s, 1m, 2h, 7d. */
#ifndef DURO_DURATION_H
#define DURO_DURATION_H

#include <stddef.h>
#include <stdint.h>
#include "duro/export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define duro_ms(n) ((int64_t)(n))
#define duro_seconds(n) ((int64_t)(n)*1000)
#define duro_minutes(n) ((int64_t)(n)*60 * 1000)
#define duro_hours(n) ((int64_t)(n)*3600 * 1000)
#define duro_days(n) ((int64_t)(n)*86400 * 1000)

/* duro_duration_parse parses "500ms", "30s", "1m", "2h", "7d", compounds
 * such as "1h30m", and a bare integer as milliseconds. Returns 0 and sets
 * *ms, or DURO_EINVAL for anything else (empty, negative, overflow above
 * 100 years, unknown unit, trailing garbage). */
DURO_EXPORT int duro_duration_parse(const char *s, int64_t *ms);

/* duro_duration_format writes the shortest exact form ("1m30s", "250ms",
 * "0s") into buf and returns buf. */
DURO_EXPORT char *duro_duration_format(int64_t ms, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
