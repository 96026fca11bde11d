/* cron_tz.c: IANA time zones from TZif files (RFC 8536), for schedules.
 *
 * We parse the file ourselves rather than setenv("TZ") + tzset +
 * localtime_r: those are process-global (a worker or the scheduler runs
 * other threads) and cannot hold two zones at once. Only the v2+ 64-bit
 * body is read; times after the last transition follow the POSIX TZ
 * string of the footer (M, J and plain day rules). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/cron.h"
#include "duro/errno.h"

#define TZ_FILE_MAX (1 << 20)

/* rule: one POSIX TZ change rule (Mm.w.d, Jn or n) at `time` seconds of
 * local time. */
typedef struct {
    char kind; /* 'M', 'J' or 'D' */
    int m, w, d, n;
    int32_t time;
} rule;

struct duro_tz {
    char name[128];
    int64_t *trans; /* UTC seconds */
    uint8_t *idx;   /* type of each transition */
    int32_t *types; /* utoff of each type */
    int ntrans, ntypes;
    /* footer */
    int has_footer, has_dst;
    int32_t std_off, dst_off; /* seconds east */
    rule start, end;
};

/* ---- Civil dates ---- */

int64_t duro_civil_days(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void duro_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* ---- POSIX TZ footer ---- */

static const char *skip_name(const char *p)
{
    if (*p == '<') {
        const char *e = strchr(p, '>');
        return e ? e + 1 : NULL;
    }
    const char *s = p;
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
        p++;
    return p - s >= 3 ? p : NULL;
}

/* parse_hms reads [+-]hh[:mm[:ss]] into seconds. */
static const char *parse_hms(const char *p, int32_t *out)
{
    int sign = 1;
    if (*p == '+' || *p == '-') sign = *p++ == '-' ? -1 : 1;
    if (*p < '0' || *p > '9') return NULL;
    long v[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        char *end;
        v[i] = strtol(p, &end, 10);
        if (end == p || v[i] < 0 || v[i] > 167) return NULL;
        p = end;
        if (*p != ':' || i == 2) break;
        p++;
    }
    *out = (int32_t)(sign * (v[0] * 3600 + v[1] * 60 + v[2]));
    return p;
}

static const char *parse_rule(const char *p, rule *r)
{
    char *end;
    r->time = 7200;
    if (*p == 'M') {
        r->kind = 'M';
        r->m = (int)strtol(p + 1, &end, 10);
        if (*end != '.') return NULL;
        r->w = (int)strtol(end + 1, &end, 10);
        if (*end != '.') return NULL;
        r->d = (int)strtol(end + 1, &end, 10);
        if (r->m < 1 || r->m > 12 || r->w < 1 || r->w > 5 || r->d < 0 ||
            r->d > 6)
            return NULL;
    } else {
        r->kind = *p == 'J' ? 'J' : 'D';
        if (*p == 'J') p++;
        r->n = (int)strtol(p, &end, 10);
        if (end == p || r->n < 0 || r->n > 365) return NULL;
    }
    p = end;
    if (*p == '/') p = parse_hms(p + 1, &r->time);
    return p;
}

static int parse_footer(duro_tz *tz, const char *s)
{
    const char *p = skip_name(s);
    int32_t off;
    if (!p || !(p = parse_hms(p, &off))) return -1;
    tz->std_off = -off;
    tz->has_footer = 1;
    if (!*p) return 0;
    if (!(p = skip_name(p))) return -1;
    tz->dst_off = tz->std_off + 3600;
    if (*p && *p != ',') {
        if (!(p = parse_hms(p, &off))) return -1;
        tz->dst_off = -off;
    }
    if (*p != ',' || !(p = parse_rule(p + 1, &tz->start))) return -1;
    if (*p != ',' || !(p = parse_rule(p + 1, &tz->end))) return -1;
    tz->has_dst = 1;
    return *p ? -1 : 0;
}

/* rule_local: the local wall time (seconds, as if UTC) at which rule r
 * takes effect in year y. */
static int64_t rule_local(const rule *r, int64_t y)
{
    int64_t day;
    if (r->kind == 'M') {
        int64_t first = duro_civil_days(y, r->m, 1);
        int wd = (int)(((first % 7) + 11) % 7); /* 1970-01-01 was Thursday */
        int64_t d = first + (r->d - wd + 7) % 7 + 7 * (int64_t)(r->w - 1);
        static const int mdays[] = {31, 28, 31, 30, 31, 30,
                                    31, 31, 30, 31, 30, 31};
        int len = mdays[r->m - 1] + (r->m == 2 && leap(y));
        while (d >= first + len)
            d -= 7;
        day = d;
    } else if (r->kind == 'J') { /* 1..365, February 29 never counted */
        int n = r->n;
        day = duro_civil_days(y, 1, 1) + n - 1 + (leap(y) && n >= 60);
    } else {
        day = duro_civil_days(y, 1, 1) + r->n;
    }
    return day * 86400 + r->time;
}

static int32_t footer_offset(const duro_tz *tz, int64_t t)
{
    if (!tz->has_dst) return tz->std_off;
    int64_t y;
    int m, d;
    duro_civil_from_days((t + tz->std_off) / 86400 -
                             ((t + tz->std_off) % 86400 < 0),
                         &y, &m, &d);
    /* start is in standard time's wall clock, end in daylight time's */
    int64_t start = rule_local(&tz->start, y) - tz->std_off;
    int64_t end = rule_local(&tz->end, y) - tz->dst_off;
    int in_dst = start < end ? (t >= start && t < end)
                             : !(t >= end && t < start); /* south */
    return in_dst ? tz->dst_off : tz->std_off;
}

/* ---- TZif ---- */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* header: the six counts of a TZif header at p (44 bytes). */
static int header(const unsigned char *p, size_t avail, uint32_t c[6])
{
    if (avail < 44 || memcmp(p, "TZif", 4) != 0) return -1;
    for (int i = 0; i < 6; i++)
        c[i] = be32(p + 20 + 4 * (size_t)i);
    return 0;
}

static size_t body_len(const uint32_t c[6], int v2)
{
    /* isutcnt isstdcnt leapcnt timecnt typecnt charcnt */
    size_t t = v2 ? 8 : 4;
    return c[3] * t + c[3] + (size_t)c[4] * 6 + c[5] + c[2] * (t + 4) + c[1] +
           c[0];
}

static int parse_tzif(duro_tz *tz, const unsigned char *buf, size_t len)
{
    uint32_t c[6];
    if (header(buf, len, c) || buf[4] < '2') return DURO_EINVAL;
    size_t off = 44 + body_len(c, 0);
    if (off > len || header(buf + off, len - off, c)) return DURO_EINVAL;
    off += 44;
    if (c[4] == 0 || c[4] > 256 || c[3] > 100000 || body_len(c, 1) > len - off)
        return DURO_EINVAL;
    const unsigned char *p = buf + off;
    tz->ntrans = (int)c[3];
    tz->ntypes = (int)c[4];
    tz->trans = calloc(c[3] + 1, sizeof(*tz->trans));
    tz->idx = calloc(c[3] + 1, 1);
    tz->types = calloc(c[4], sizeof(*tz->types));
    if (!tz->trans || !tz->idx || !tz->types) return DURO_ENOMEM;
    for (uint32_t i = 0; i < c[3]; i++)
        tz->trans[i] = be64(p + 8 * (size_t)i);
    p += 8 * (size_t)c[3];
    for (uint32_t i = 0; i < c[3]; i++) {
        if (p[i] >= c[4]) return DURO_EINVAL;
        tz->idx[i] = p[i];
    }
    p += c[3];
    for (uint32_t i = 0; i < c[4]; i++)
        tz->types[i] = (int32_t)be32(p + 6 * (size_t)i);
    p += body_len(c, 1) - 9 * (size_t)c[3];
    /* footer: "\n<TZ string>\n" */
    size_t rest = len - (size_t)(p - buf);
    if (rest >= 2 && p[0] == '\n') {
        const unsigned char *nl = memchr(p + 1, '\n', rest - 1);
        if (nl && nl - p > 1 && nl - p < 120) {
            char s[128];
            memcpy(s, p + 1, (size_t)(nl - p - 1));
            s[nl - p - 1] = '\0';
            if (parse_footer(tz, s)) return DURO_EINVAL;
        }
    }
    return 0;
}

/* name_ok: a zone name is a relative path of letters, digits, '_', '-',
 * '+' and single '/' between parts: no "..", so no escape from dir. */
static int name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= 100 || name[0] == '/' || strstr(name, "..") ||
        strstr(name, "//"))
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
              (*p >= '0' && *p <= '9') || strchr("_-+/", *p)))
            return 0;
    return 1;
}

int duro_tz_load(const char *name, const char *dir, duro_tz **out)
{
    *out = NULL;
    duro_tz *tz = calloc(1, sizeof(*tz));
    if (!tz) return DURO_ENOMEM;
    if (!name || !*name || strcmp(name, "UTC") == 0) {
        strcpy(tz->name, "UTC");
        *out = tz;
        return 0;
    }
    if (!name_ok(name)) {
        free(tz);
        return DURO_EINVAL;
    }
    snprintf(tz->name, sizeof(tz->name), "%s", name);
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir ? dir : DURO_TZ_DIR, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        free(tz);
        return DURO_ENOTFOUND;
    }
    unsigned char *buf = malloc(TZ_FILE_MAX);
    size_t len = buf ? fread(buf, 1, TZ_FILE_MAX, f) : 0;
    fclose(f);
    int rc = buf ? parse_tzif(tz, buf, len) : DURO_ENOMEM;
    free(buf);
    if (rc) {
        duro_tz_free(tz);
        return rc;
    }
    *out = tz;
    return 0;
}

void duro_tz_free(duro_tz *tz)
{
    if (!tz) return;
    free(tz->trans);
    free(tz->idx);
    free(tz->types);
    free(tz);
}

const char *duro_tz_name(const duro_tz *tz)
{
    return tz ? tz->name : "UTC";
}

/* ---- Offsets ---- */

int32_t duro_tz_offset(const duro_tz *tz, int64_t t)
{
    if (!tz || (tz->ntypes == 0 && !tz->has_footer)) return 0;
    if (tz->ntrans == 0 || t < tz->trans[0])
        return tz->ntrans == 0 && tz->has_footer ? footer_offset(tz, t)
                                                 : tz->types[0];
    if (t >= tz->trans[tz->ntrans - 1] && tz->has_footer)
        return footer_offset(tz, t);
    int lo = 0, hi = tz->ntrans - 1; /* last transition <= t */
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (tz->trans[mid] <= t)
            lo = mid;
        else
            hi = mid - 1;
    }
    return tz->types[tz->idx[lo]];
}

int64_t duro_tz_to_utc(const duro_tz *tz, int64_t local_s)
{
    /* the offsets a day either side: a zone changes at most once a day */
    int32_t before = duro_tz_offset(tz, local_s - 86400);
    int32_t after = duro_tz_offset(tz, local_s + 86400);
    int64_t a = local_s - before, b = local_s - after;
    int ok_a = duro_tz_offset(tz, a) == before;
    int ok_b = duro_tz_offset(tz, b) == after;
    if (ok_a && ok_b) return a < b ? a : b; /* repeated: the first */
    if (ok_a) return a;
    if (ok_b) return b;
    /* in a gap: the wall clock had not been moved yet, so read it with the
     * offset before the change (02:30 CET = 03:30 CEST) */
    return a;
}
