/* log.h: one line per event, text or JSON, through a replaceable sink. */
#ifndef DURO_LOG_H
#define DURO_LOG_H

#include <stdarg.h>
#include <stdint.h>
#include "duro/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    DURO_LOG_DEBUG = 0,
    DURO_LOG_INFO = 1,
    DURO_LOG_WARN = 2,
    DURO_LOG_ERROR = 3,
} duro_log_level;

/* duro_log_sink receives each formatted message (no trailing newline). */
typedef void (*duro_log_sink)(duro_log_level level, const char *msg, void *arg);

/* duro_log_init reads DURO_LOG_LEVEL (debug|info|warn|error) and
 * DURO_LOG_FORMAT (text|json) and names the process in each line. */
DURO_EXPORT void duro_log_init(const char *process_name);
DURO_EXPORT void duro_log_set_level(duro_log_level level);
DURO_EXPORT duro_log_level duro_log_get_level(void);
/* duro_log_set_sink replaces the default sink (stderr); NULL restores it. */
DURO_EXPORT void duro_log_set_sink(duro_log_sink sink, void *arg);

/* duro_log writes "TAG key=value ..." style lines: fmt is printf-like and
 * should start with an upper-case tag. Thread-safe. */
DURO_EXPORT void duro_log(duro_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- Repeated events ----
 *
 * duro_log_limited writes a line like duro_log, but at most one per
 * interval (duro_log_set_limit_interval, default DURO_LOG_LIMIT_MS) for each
 * key, so that a fault that fails every call (Redis out of memory, a
 * refused password) cannot flood the log. The first occurrence is written;
 * later ones within the interval are only counted; the next one written
 * after it ends with " (suppressed N similar in 5.0s)". `key` names the
 * event: a string literal or a short built one ("FIRE-FAILED",
 * "REDIS DOWN commands"); NULL uses the message's tag: its leading
 * upper-case words ("REDIS DOWN name=x" -> "REDIS DOWN").
 * Keys beyond DURO_LOG_LIMIT_KEYS evict the least recently written one.
 * Thread-safe; lines below the log level are neither written nor counted.
 *
 *     duro_warn_limited("FIRE-FAILED", "FIRE-FAILED wf=%s err=%s", id, e);
 *     duro_warn_limited(NULL, "RECLAIM-FAILED p=%d err=%s", p, e);
 */
#define DURO_LOG_LIMIT_MS 5000
#define DURO_LOG_LIMIT_KEYS 128
DURO_EXPORT void duro_log_limited(duro_log_level level, const char *key,
                                  const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define duro_warn_limited(key, ...)                                            \
    duro_log_limited(DURO_LOG_WARN, key, __VA_ARGS__)
#define duro_error_limited(key, ...)                                           \
    duro_log_limited(DURO_LOG_ERROR, key, __VA_ARGS__)
#define duro_info_limited(key, ...)                                            \
    duro_log_limited(DURO_LOG_INFO, key, __VA_ARGS__)

/* duro_log_limited_flush writes, for each key whose interval has ended
 * with occurrences held back, one line "<key> (suppressed N similar in
 * 5.0s)", so that the count of a fault that stopped is not lost. Long-lived
 * processes call it from a periodic tick. */
DURO_EXPORT void duro_log_limited_flush(void);

/* duro_log_set_limit_interval: the interval of duro_log_limited; <= 0
 * restores DURO_LOG_LIMIT_MS. */
DURO_EXPORT void duro_log_set_limit_interval(int64_t ms);

/* duro_log_limited reads duro_mono_ms: tests step it with duro_clock_set
 * (duro/clock.h) instead of sleeping. */

#define duro_debug(...)                                                        \
    do {                                                                       \
        if (duro_log_get_level() <= DURO_LOG_DEBUG)                            \
            duro_log(DURO_LOG_DEBUG, __VA_ARGS__);                             \
    } while (0)
#define duro_info(...) duro_log(DURO_LOG_INFO, __VA_ARGS__)
#define duro_warn(...) duro_log(DURO_LOG_WARN, __VA_ARGS__)
#define duro_error(...) duro_log(DURO_LOG_ERROR, __VA_ARGS__)

/* duro_assert aborts with file and line when an invariant is broken. */
#define duro_assert(cond)                                                      \
    do {                                                                       \
        if (!(cond)) duro__assert_fail(#cond, __FILE__, __LINE__);             \
    } while (0)
DURO_EXPORT void duro__assert_fail(const char *expr, const char *file, int line)
    __attribute__((noreturn));

#ifdef __cplusplus
}
#endif
#endif
