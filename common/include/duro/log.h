/* log.h: one line per event, text or JSON, through a replaceable sink. */
#ifndef DURO_LOG_H
#define DURO_LOG_H

#include <stdarg.h>
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
