/* cron.c: schedule specs: cron expressions and intervals, their next
 * nominal times, jitter, and RFC 3339 times (cron.h). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "duro/cron.h"
#include "duro/errno.h"

#define SEARCH_DAYS (366 * 8 + 2) /* Feb 29 recurs within 8 years */

/* ---- Parsing ---- */

typedef struct {
    const char *what;
    int lo, hi;
    const char *const *names; /* names[i] is value lo + i */
} field_def;

static const char *const MONTHS[] = {"jan", "feb", "mar", "apr", "may",
                                     "jun", "jul", "aug", "sep", "oct",
                                     "nov", "dec", NULL};
static const char *const DAYS[] = {"sun", "mon", "tue", "wed",
                                   "thu", "fri", "sat", NULL};

static const field_def FIELDS[5] = {
    {"minute", 0, 59, NULL},       {"hour", 0, 23, NULL},
    {"day-of-month", 1, 31, NULL}, {"month", 1, 12, MONTHS},
    {"day-of-week", 0, 7, DAYS},
};

static int fail(char *err, size_t n, const char *fmt, const char *a,
                const char *b)
{
    if (err && n) snprintf(err, n, fmt, a, b);
    return DURO_EINVAL;
}

/* value reads a number or a name of field f at *p. */
static int value(const field_def *f, const char **p, int *out)
{
    const char *s = *p;
    if (isdigit((unsigned char)*s)) {
        long v = 0;
        while (isdigit((unsigned char)*s) && v < 1000)
            v = v * 10 + (*s++ - '0');
        if (v < f->lo || v > f->hi) return -1;
        *out = (int)v;
        *p = s;
        return 0;
    }
    for (int i = 0; f->names && f->names[i]; i++)
        if (strncasecmp(s, f->names[i], 3) == 0 &&
            !isalpha((unsigned char)s[3])) {
            *out = f->lo + i; /* JAN = 1, SUN = 0 */
            *p = s + 3;
            return 0;
        }
    return -1;
}

/* parse_item: "*", "v", "a-b", each optionally "/step". */
static int parse_item(const field_def *f, const char *s, uint64_t *bits,
                      int *star)
{
    int lo, hi, step = 1;
    const char *p = s;
    if (*p == '*') {
        lo = f->lo;
        hi = f->hi == 7 ? 6 : f->hi;
        p++;
        *star = 1;
    } else {
        if (value(f, &p, &lo)) return -1;
        hi = lo;
        if (*p == '-') {
            p++;
            if (value(f, &p, &hi) || hi < lo) return -1;
        }
    }
    if (*p == '/') {
        p++;
        if (!isdigit((unsigned char)*p)) return -1;
        long v = strtol(p, (char **)&p, 10);
        if (v < 1 || v > 60) return -1;
        step = (int)v;
        if (lo == hi && !*star) hi = f->hi == 7 ? 6 : f->hi; /* "5/15" */
    }
    if (*p) return -1;
    for (int v = lo; v <= hi; v += step)
        *bits |= 1ULL << (f->names == DAYS && v == 7 ? 0 : v);
    return 0;
}

static int parse_field(const field_def *f, const char *s, uint64_t *bits,
                       int *star, char *err, size_t n)
{
    char buf[128];
    if (strlen(s) >= sizeof(buf))
        return fail(err, n, "%s field too long%s", f->what, "");
    snprintf(buf, sizeof(buf), "%s", s);
    *bits = 0;
    *star = 0;
    int items = 0;
    for (char *save = NULL, *it = strtok_r(buf, ",", &save); it;
         it = strtok_r(NULL, ",", &save), items++) {
        int st = 0;
        if (parse_item(f, it, bits, &st))
            return fail(err, n, "bad %s field \"%s\"", f->what, s);
        if (st && items == 0 && !strchr(s, ',')) *star = 1;
    }
    if (!*bits || s[strlen(s) - 1] == ',' || s[0] == ',' || strstr(s, ",,"))
        return fail(err, n, "bad %s field \"%s\"", f->what, s);
    return 0;
}

static const struct {
    const char *name, *expr;
} MACROS[] = {
    {"@yearly", "0 0 1 1 *"},  {"@annually", "0 0 1 1 *"},
    {"@monthly", "0 0 1 * *"}, {"@weekly", "0 0 * * 0"},
    {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

static int parse_cron(duro_spec *s, const char *expr, char *err, size_t n)
{
    if (!expr) return fail(err, n, "no cron expression%s%s", "", "");
    while (*expr == ' ' || *expr == '\t')
        expr++;
    if (*expr == '@') {
        /* blanks after the name too, as the 5-field form allows them */
        size_t len = strcspn(expr, " \t");
        const char *found = NULL;
        for (size_t i = 0; i < sizeof(MACROS) / sizeof(MACROS[0]); i++)
            if (strlen(MACROS[i].name) == len &&
                strncasecmp(expr, MACROS[i].name, len) == 0 &&
                expr[len + strspn(expr + len, " \t")] == '\0')
                found = MACROS[i].expr;
        if (!found) return fail(err, n, "unknown macro \"%s\"%s", expr, "");
        expr = found;
    }
    char buf[512];
    if (strlen(expr) >= sizeof(buf))
        return fail(err, n, "cron expression too long%s%s", "", "");
    snprintf(buf, sizeof(buf), "%s", expr);
    char *part[6];
    int np = 0;
    for (char *save = NULL, *t = strtok_r(buf, " \t", &save); t && np < 6;
         t = strtok_r(NULL, " \t", &save))
        part[np++] = t;
    if (np != 5)
        return fail(err, n, "\"%s\": a cron expression has 5 fields%s", expr,
                    "");
    uint64_t bits[5];
    int star[5];
    for (int i = 0; i < 5; i++) {
        int rc = parse_field(&FIELDS[i], part[i], &bits[i], &star[i], err, n);
        if (rc) return rc;
    }
    s->minute = bits[0];
    s->hour = (uint32_t)bits[1];
    s->dom = (uint32_t)bits[2];
    s->month = (uint16_t)bits[3];
    s->dow = (uint8_t)bits[4];
    s->dom_star = star[2];
    s->dow_star = star[4];
    return 0;
}

int duro_spec_cron(duro_spec *s, const char *expr, const char *tz_name,
                   char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    s->kind = DURO_SPEC_CRON;
    int rc = parse_cron(s, expr, err, errlen);
    if (rc) return rc;
    rc = duro_tz_load(tz_name, NULL, &s->tz);
    if (rc) fail(err, errlen, "unknown time zone \"%s\"%s", tz_name, "");
    return rc;
}

int duro_spec_interval(duro_spec *s, int64_t interval_ms, int64_t offset_ms,
                       char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    s->kind = DURO_SPEC_INTERVAL;
    if (interval_ms < 1000)
        return fail(err, errlen, "the interval must be at least 1s%s%s", "",
                    "");
    if (offset_ms < 0 || offset_ms >= interval_ms)
        return fail(err, errlen,
                    "the offset must be at least 0 and less than the "
                    "interval%s%s",
                    "", "");
    s->interval_ms = interval_ms;
    s->offset_ms = offset_ms;
    return 0;
}

void duro_spec_close(duro_spec *s)
{
    duro_tz_free(s->tz);
    s->tz = NULL;
}

/* ---- Next times ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

static int day_matches(const duro_spec *s, int64_t days)
{
    int64_t y;
    int m, d;
    duro_civil_from_days(days, &y, &m, &d);
    if (!(s->month & (1u << m))) return 0;
    int wd = (int)(((days % 7) + 11) % 7);
    int dom = (int)((s->dom >> d) & 1u), dow = (s->dow >> wd) & 1;
    /* cron: when both are restricted, either matches */
    if (s->dom_star || s->dow_star) return dom && dow;
    return dom || dow;
}

/* day_first: the earliest matching time of local day `days` after `after`
 * (UTC seconds), or INT64_MAX. Every time of the day is mapped, not just
 * the first in wall-clock order: in a spring-forward gap wall order and
 * UTC order differ. */
static int64_t day_first(const duro_spec *s, int64_t days, int64_t after)
{
    int64_t best = INT64_MAX;
    for (int h = 0; h < 24; h++) {
        if (!((s->hour >> h) & 1)) continue;
        for (int mi = 0; mi < 60; mi++) {
            if (!((s->minute >> mi) & 1)) continue;
            int64_t u = duro_tz_to_utc(s->tz, days * 86400 + (int64_t)h * 3600 +
                                                  (int64_t)mi * 60);
            if (u > after && u < best) best = u;
        }
    }
    return best;
}

int64_t duro_spec_next(const duro_spec *s, int64_t after_ms)
{
    if (s->kind == DURO_SPEC_INTERVAL) {
        int64_t k = floor_div(after_ms - s->offset_ms, s->interval_ms) + 1;
        return k * s->interval_ms + s->offset_ms;
    }
    int64_t after = floor_div(after_ms, 1000);
    int64_t local = after + duro_tz_offset(s->tz, after);
    int64_t day = floor_div(local, 86400) - 1; /* a day back: offsets */
    int64_t best = INT64_MAX;
    for (int64_t i = 0; i < SEARCH_DAYS; i++) {
        /* a later day's times come after an earlier day's but for an
         * offset change of hours: settle two days past the best */
        if (best != INT64_MAX && (day + i) * 86400 > best + 2 * (int64_t)86400)
            break;
        if (!day_matches(s, day + i)) continue;
        int64_t u = day_first(s, day + i, after);
        if (u < best) best = u;
    }
    return best == INT64_MAX ? -1 : best * 1000;
}

int64_t duro_spec_jitter(const char *id, int64_t nominal_ms, int64_t jitter_ms)
{
    if (jitter_ms <= 0) return 0;
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const char *p = id; p && *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    for (int i = 0; i < 8; i++)
        h = (h ^ ((uint64_t)nominal_ms >> (8 * i) & 0xff)) * 1099511628211ULL;
    return (int64_t)(h % (uint64_t)jitter_ms);
}

/* ---- RFC 3339 ---- */

char *duro_rfc3339(int64_t ms, char *buf, size_t size)
{
    int64_t s = floor_div(ms, 1000), rem = ms - s * 1000;
    int64_t days = floor_div(s, 86400), sec = s - days * 86400;
    int64_t y;
    int m, d;
    duro_civil_from_days(days, &y, &m, &d);
    int n =
        snprintf(buf, size, "%04lld-%02d-%02dT%02d:%02d:%02d", (long long)y, m,
                 d, (int)(sec / 3600), (int)(sec / 60 % 60), (int)(sec % 60));
    if (n > 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, rem ? ".%03dZ" : "Z", (int)rem);
    return buf;
}

static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i])) return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

int duro_rfc3339_parse(const char *s, int64_t *ms)
{
    if (!s) return DURO_EINVAL;
    const char *p = s;
    int y, mo, d, h, mi, se, frac = 0;
    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
        digits(&p, 2, &d) || (*p != 'T' && *p != 't' && *p != ' '))
        return DURO_EINVAL;
    p++;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' ||
        digits(&p, 2, &se))
        return DURO_EINVAL;
    if (*p == '.') {
        p++;
        int n = 0;
        while (isdigit((unsigned char)*p)) {
            if (n < 3) frac = frac * 10 + (*p - '0');
            n++, p++;
        }
        if (n == 0) return DURO_EINVAL;
        for (; n < 3; n++)
            frac *= 10;
    }
    int off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om;
        if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om))
            return DURO_EINVAL;
        off = sign * (oh * 3600 + om * 60);
    } else {
        return DURO_EINVAL;
    }
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
        se > 60)
        return DURO_EINVAL;
    int64_t secs = duro_civil_days(y, mo, d) * 86400 + (int64_t)h * 3600 +
                   (int64_t)mi * 60 + se;
    *ms = (secs - off) * 1000 + frac;
    return 0;
}
