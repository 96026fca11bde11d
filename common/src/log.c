/* log.c: one line per event to stderr (text or JSON) or a replaceable sink. */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "duro/clock.h"
#include "duro/log.h"

/* All state is guarded by lock, except level, which is read without it on
 * the hot path (duro_debug) and so is accessed atomically. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int level = DURO_LOG_INFO;
static int json_format;
static char proc[64] = "duro";
static duro_log_sink sink;
static void *sink_arg;

static const char *level_upper[] = {"DEBUG", "INFO", "WARN", "ERROR"};
static const char *level_lower[] = {"debug", "info", "warn", "error"};

static int level_index(duro_log_level l)
{
    return (l < DURO_LOG_DEBUG || l > DURO_LOG_ERROR) ? DURO_LOG_ERROR : (int)l;
}

void duro_log_init(const char *process_name)
{
    const char *lv = getenv("DURO_LOG_LEVEL");
    const char *fmt = getenv("DURO_LOG_FORMAT");
    pthread_mutex_lock(&lock);
    if (process_name && *process_name)
        snprintf(proc, sizeof(proc), "%s", process_name);
    json_format = fmt && strcasecmp(fmt, "json") == 0;
    pthread_mutex_unlock(&lock);
    if (lv && *lv) {
        for (int i = 0; i < 4; i++)
            if (strcasecmp(lv, level_lower[i]) == 0)
                duro_log_set_level((duro_log_level)i);
        if (strcasecmp(lv, "warning") == 0) duro_log_set_level(DURO_LOG_WARN);
    }
}

void duro_log_set_level(duro_log_level l)
{
    __atomic_store_n(&level, level_index(l), __ATOMIC_RELAXED);
}

duro_log_level duro_log_get_level(void)
{
    return (duro_log_level)__atomic_load_n(&level, __ATOMIC_RELAXED);
}

void duro_log_set_sink(duro_log_sink s, void *arg)
{
    pthread_mutex_lock(&lock);
    sink = s;
    sink_arg = arg;
    pthread_mutex_unlock(&lock);
}

/* json_escape appends s as the body of a JSON string to f. */
static void json_escape(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        default:
            if (*p < 0x20)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
}

/* write_stderr is the default sink; called with lock held. */
static void write_stderr(int lv, const char *msg)
{
    char ts[40];
    duro_iso8601(duro_now_ms(), ts, sizeof(ts));
    flockfile(stderr);
    if (json_format) {
        fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"proc\":\"", ts,
                level_lower[lv]);
        json_escape(stderr, proc);
        fputs("\",\"msg\":\"", stderr);
        json_escape(stderr, msg);
        fputs("\"}\n", stderr);
    } else {
        fprintf(stderr, "%s %-5s %s %s\n", ts, level_upper[lv], proc, msg);
    }
    fflush(stderr);
    funlockfile(stderr);
}

/* format_msg formats into small, or a heap buffer when it does not fit;
 * the caller frees the result when it is not small. */
static char *format_msg(char *small, size_t size, const char *fmt, va_list ap)
{
    char *msg = small;
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(small, size, fmt, ap);
    if (n >= (int)size) {
        char *big = malloc((size_t)n + 1);
        if (big) {
            vsnprintf(big, (size_t)n + 1, fmt, ap2);
            msg = big;
        }
    } else if (n < 0) {
        snprintf(small, size, "(bad log format: %s)", fmt);
    }
    va_end(ap2);
    return msg;
}

/* emit writes one message; called with lock held. */
static void emit(int lv, const char *msg)
{
    if (sink)
        sink((duro_log_level)lv, msg, sink_arg);
    else
        write_stderr(lv, msg);
}

static void vlog(duro_log_level l, const char *fmt, va_list ap)
{
    char small[1024];
    char *msg = format_msg(small, sizeof(small), fmt, ap);
    pthread_mutex_lock(&lock);
    emit(level_index(l), msg);
    pthread_mutex_unlock(&lock);
    if (msg != small) free(msg);
}

void duro_log(duro_log_level l, const char *fmt, ...)
{
    if (level_index(l) < (int)duro_log_get_level()) return;
    va_list ap;
    va_start(ap, fmt);
    vlog(l, fmt, ap);
    va_end(ap);
}

/* ---- Repeated events ---- */

/* limit_slot: one key of duro_log_limited. A slot with key[0] == 0 is free.
 * All of them are guarded by lock. */
typedef struct {
    char key[96];
    int64_t written_ms;      /* when its last line was written */
    unsigned long long held; /* occurrences counted since then */
    int level;               /* of the last occurrence, for the flush */
} limit_slot;

static limit_slot slots[DURO_LOG_LIMIT_KEYS];
static int64_t limit_ms = DURO_LOG_LIMIT_MS;

void duro_log_set_limit_interval(int64_t ms)
{
    pthread_mutex_lock(&lock);
    limit_ms = ms > 0 ? ms : DURO_LOG_LIMIT_MS;
    pthread_mutex_unlock(&lock);
}

/* slot_for finds key's slot, or takes a free one, or evicts the least
 * recently written. Called with lock held. */
static limit_slot *slot_for(const char *key, size_t len)
{
    if (len >= sizeof(slots[0].key)) len = sizeof(slots[0].key) - 1;
    limit_slot *victim = &slots[0];
    for (int i = 0; i < DURO_LOG_LIMIT_KEYS; i++) {
        limit_slot *s = &slots[i];
        if (!s->key[0]) {
            victim = s;
            break;
        }
        if (strncmp(s->key, key, len) == 0 && s->key[len] == '\0') return s;
        if (s->written_ms < victim->written_ms) victim = s;
    }
    memcpy(victim->key, key, len);
    victim->key[len] = '\0';
    victim->written_ms = INT64_MIN;
    victim->held = 0;
    return victim;
}

/* tag_len: the length of msg's tag, its leading upper-case words
 * ("REDIS DOWN name=x" -> "REDIS DOWN"); the first word if none is. */
static size_t tag_len(const char *msg)
{
    size_t end = 0, i = 0;
    for (;;) {
        size_t w = i;
        while ((msg[i] >= 'A' && msg[i] <= 'Z') ||
               (msg[i] >= '0' && msg[i] <= '9') || msg[i] == '-' ||
               msg[i] == '_')
            i++;
        if (i == w || (msg[i] != ' ' && msg[i] != '\0')) break;
        end = i;
        if (msg[i] == '\0') break;
        i++;
    }
    return end ? end : strcspn(msg, " ");
}

void duro_log_limited(duro_log_level l, const char *key, const char *fmt, ...)
{
    if (level_index(l) < (int)duro_log_get_level()) return;
    char small[1024];
    va_list ap;
    va_start(ap, fmt);
    char *msg = format_msg(small, sizeof(small), fmt, ap);
    va_end(ap);
    size_t klen = key ? strlen(key) : tag_len(msg);
    pthread_mutex_lock(&lock);
    limit_slot *s = slot_for(key ? key : msg, klen);
    int64_t now = duro_mono_ms();
    s->level = level_index(l);
    if (s->written_ms != INT64_MIN && now - s->written_ms < limit_ms) {
        s->held++;
    } else if (s->held) {
        char *line = NULL;
        double secs = s->written_ms == INT64_MIN
                          ? 0
                          : (double)(now - s->written_ms) / 1000.0;
        if (asprintf(&line, "%s (suppressed %llu similar in %.1fs)", msg,
                     s->held, secs) < 0)
            line = NULL;
        emit(level_index(l), line ? line : msg);
        free(line);
        s->held = 0;
        s->written_ms = now;
    } else {
        emit(level_index(l), msg);
        s->written_ms = now;
    }
    pthread_mutex_unlock(&lock);
    if (msg != small) free(msg);
}

void duro_log_limited_flush(void)
{
    pthread_mutex_lock(&lock);
    int64_t now = duro_mono_ms();
    for (int i = 0; i < DURO_LOG_LIMIT_KEYS; i++) {
        limit_slot *s = &slots[i];
        if (!s->key[0] || !s->held || now - s->written_ms < limit_ms) continue;
        char line[192];
        snprintf(line, sizeof(line), "%.95s (suppressed %llu similar in %.1fs)",
                 s->key, s->held, (double)(now - s->written_ms) / 1000.0);
        emit(s->level, line);
        s->held = 0;
        s->written_ms = now;
    }
    pthread_mutex_unlock(&lock);
}

void duro__assert_fail(const char *expr, const char *file, int line)
{
    duro_log(DURO_LOG_ERROR, "ASSERT failed: %s at %s:%d", expr, file, line);
    /* A custom sink may buffer or drop; make sure the reason is visible. */
    pthread_mutex_lock(&lock);
    bool custom = sink != NULL;
    pthread_mutex_unlock(&lock);
    if (custom)
        fprintf(stderr, "ASSERT failed: %s at %s:%d\n", expr, file, line);
    abort();
}
