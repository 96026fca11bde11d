/* duration.c: parse and format durations such as "1h30m" and "250ms". */
#include <stdio.h>
#include <string.h>

#include "duro/duration.h"
#include "duro/errno.h"

#define MAX_MS ((int64_t)100 * 365 * 86400 * 1000) /* 100 years */

/* Units from largest to smallest; a compound must use them in this order,
 * each at most once ("1h30m", not "30m1h" or "1m1m"). */
static const struct {
    const char *name;
    int64_t ms;
} units[] = {
    {"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1},
};
#define NUNITS (sizeof(units) / sizeof(units[0]))

/* unit_at matches the unit at p; returns its index and sets *len, or -1. */
static int unit_at(const char *p, size_t *len)
{
    if (p[0] == 'm' && p[1] == 's') {
        *len = 2;
        return 4;
    }
    for (int i = 0; i < 4; i++) {
        if (p[0] == units[i].name[0]) {
            *len = 1;
            return i;
        }
    }
    return -1;
}

int duro_duration_parse(const char *s, int64_t *ms)
{
    if (!s || !*s || !ms) return DURO_EINVAL;
    const char *p = s;
    int64_t total = 0;
    int next_unit = 0; /* smallest index still allowed */
    while (*p) {
        if (*p < '0' || *p > '9') return DURO_EINVAL;
        int64_t n = 0;
        while (*p >= '0' && *p <= '9') {
            n = n * 10 + (*p - '0');
            if (n > MAX_MS) return DURO_EINVAL;
            p++;
        }
        if (!*p) {
            if (p != s + strspn(s, "0123456789")) /* "1h30": unit missing */
                return DURO_EINVAL;
            total = n; /* a bare integer is milliseconds */
            break;
        }
        size_t ulen;
        int u = unit_at(p, &ulen);
        if (u < 0 || u < next_unit) return DURO_EINVAL;
        if (n > MAX_MS / units[u].ms) return DURO_EINVAL;
        total += n * units[u].ms;
        if (total > MAX_MS) return DURO_EINVAL;
        next_unit = u + 1;
        p += ulen;
    }
    *ms = total;
    return 0;
}

char *duro_duration_format(int64_t ms, char *buf, size_t size)
{
    if (!buf || size == 0) return buf;
    size_t off = 0;
    buf[0] = '\0';
    uint64_t v;
    if (ms < 0) {
        off += (size_t)snprintf(buf, size, "-");
        v = (uint64_t)0 - (uint64_t)ms;
    } else {
        v = (uint64_t)ms;
    }
    if (v == 0) {
        snprintf(buf + off, off < size ? size - off : 0, "0s");
        return buf;
    }
    for (size_t i = 0; i < NUNITS; i++) {
        uint64_t n = v / (uint64_t)units[i].ms;
        v %= (uint64_t)units[i].ms;
        if (n == 0 || off >= size) continue;
        int w = snprintf(buf + off, size - off, "%llu%s", (unsigned long long)n,
                         units[i].name);
        if (w < 0) break;
        off += (size_t)w;
    }
    return buf;
}
