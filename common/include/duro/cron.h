/* cron.h: schedule specs (5-field cron or an interval), IANA time zones
 * read from TZif files, next nominal times, jitter, RFC 3339 times.
 *
 * Pure: no Redis, no global state (time zones are parsed from the TZif
 * file into the duro_tz, never through setenv("TZ")/tzset, which are
 * process-global and not thread-safe). Times are Unix milliseconds, UTC. */
#ifndef DURO_CRON_H
#define DURO_CRON_H

#include <stddef.h>
#include <stdint.h>
#include "duro/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Time zones ---- */

/* duro_tz: one IANA time zone (transitions and the POSIX TZ rule for the
 * times after the last one). */
typedef struct duro_tz duro_tz;

/* DURO_TZ_DIR: where duro_tz_load looks for TZif files (Debian's tzdata). */
#define DURO_TZ_DIR "/usr/share/zoneinfo"

/* duro_tz_load reads zone `name` ("Europe/Berlin"; NULL, "" or "UTC": UTC)
 * from dir (NULL: DURO_TZ_DIR). Returns 0 and *out (free with
 * duro_tz_free), DURO_EINVAL for a bad name or a file that is not TZif v2+,
 * DURO_ENOTFOUND when there is no such zone, DURO_ENOMEM. */
DURO_EXPORT int duro_tz_load(const char *name, const char *dir, duro_tz **out);
DURO_EXPORT void duro_tz_free(duro_tz *tz);
/* duro_tz_offset: seconds east of UTC in effect at utc_s (NULL tz: 0). */
DURO_EXPORT int32_t duro_tz_offset(const duro_tz *tz, int64_t utc_s);
/* duro_tz_name: the name it was loaded by ("UTC" for UTC). */
DURO_EXPORT const char *duro_tz_name(const duro_tz *tz);
/* duro_tz_to_utc maps wall time local_s (seconds as if the wall clock were
 * UTC) to UTC. A wall time repeated by a fall-back maps to its first
 * occurrence (so a schedule fires once); one skipped by a spring-forward
 * gap is moved forward by the gap (02:30 in a 02:00->03:00 gap is 03:30),
 * as Temporal's scheduler (Go's time.Date) does. */
DURO_EXPORT int64_t duro_tz_to_utc(const duro_tz *tz, int64_t local_s);

/* ---- Specs ---- */

typedef enum { DURO_SPEC_CRON = 1, DURO_SPEC_INTERVAL = 2 } duro_spec_kind;

/* duro_spec: when a schedule's actions are due. For cron, bit n of a field
 * set means value n matches (dow 0 = Sunday, 7 folded into 0). */
typedef struct {
    duro_spec_kind kind;
    uint64_t minute;
    uint32_t hour, dom;
    uint16_t month;
    uint8_t dow;
    int dom_star, dow_star; /* the field was "*" (or "*" with a step) */
    int64_t interval_ms, offset_ms;
    duro_tz *tz; /* owned; NULL: UTC */
} duro_spec;

/* duro_spec_cron parses a 5-field cron expression (minute hour
 * day-of-month month day-of-week; ranges a-b, steps (every n: "* /n"
 * without the space, and a-b/n), lists,
 * JAN..DEC and SUN..SAT, 7 = Sunday) or @yearly/@annually, @monthly,
 * @weekly, @daily/@midnight, @hourly, interpreted in zone tz_name (NULL or
 * "": UTC). When both day fields are restricted a day matches either (as
 * cron does). Returns 0, or DURO_EINVAL with the reason in err, or what
 * duro_tz_load returns. Release with duro_spec_close. */
DURO_EXPORT int duro_spec_cron(duro_spec *s, const char *expr,
                               const char *tz_name, char *err, size_t errlen);
/* duro_spec_interval: every interval_ms (>= 1s), nominal times being the
 * epoch-aligned multiples of the interval plus offset_ms (0 <= offset <
 * interval), as Temporal's interval specs. */
DURO_EXPORT int duro_spec_interval(duro_spec *s, int64_t interval_ms,
                                   int64_t offset_ms, char *err, size_t errlen);
DURO_EXPORT void duro_spec_close(duro_spec *s);

/* duro_spec_next: the first nominal time strictly after after_ms, or -1
 * when there is none within 8 years (such as "0 0 30 2 *"). */
DURO_EXPORT int64_t duro_spec_next(const duro_spec *s, int64_t after_ms);

/* duro_spec_jitter: a delay in [0, jitter_ms) for the action at nominal_ms
 * of schedule id, the same on every call (a hash of both), so that every
 * scheduler agrees on when it is due. 0 when jitter_ms <= 0. */
DURO_EXPORT int64_t duro_spec_jitter(const char *id, int64_t nominal_ms,
                                     int64_t jitter_ms);

/* ---- RFC 3339 ---- */

#define DURO_RFC3339_LEN 32
/* duro_rfc3339 writes ms (UTC) as "2026-03-29T01:00:00Z" (milliseconds
 * are appended as ".250" only when not zero) into buf; returns buf. */
DURO_EXPORT char *duro_rfc3339(int64_t ms, char *buf, size_t size);
/* duro_rfc3339_parse reads "YYYY-MM-DDTHH:MM:SS[.fff](Z|+hh:mm|-hh:mm)".
 * Returns 0, or DURO_EINVAL. */
DURO_EXPORT int duro_rfc3339_parse(const char *s, int64_t *ms);

/* duro_civil_days: days since 1970-01-01 of a proleptic Gregorian date;
 * duro_civil_from_days the inverse. */
DURO_EXPORT int64_t duro_civil_days(int64_t y, int m, int d);
DURO_EXPORT void duro_civil_from_days(int64_t z, int64_t *y, int *m, int *d);

#ifdef __cplusplus
}
#endif
#endif
