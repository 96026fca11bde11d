/* size.c: parse and format byte sizes such as "256k" and "1MiB". */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <strings.h>

#include "duro/errno.h"
#include "duro/size.h"

/* unit_shift: the power of two that the unit spelled by s (up to its end)
 * stands for, or -1. "" is bytes. */
static int unit_shift(const char *s)
{
    static const struct {
        char letter;
        int shift;
    } units[] = {{'k', 10}, {'m', 20}, {'g', 30}};
    if (!*s) return 0;
    if (strcasecmp(s, "b") == 0) return 0;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (tolower((unsigned char)s[0]) != units[i].letter) continue;
        const char *rest = s + 1;
        if (!*rest || strcasecmp(rest, "b") == 0 || strcasecmp(rest, "ib") == 0)
            return units[i].shift;
    }
    return -1;
}

int duro_size_parse(const char *s, size_t *bytes)
{
    if (!s || !bytes || !isdigit((unsigned char)*s)) return DURO_EINVAL;
    size_t n = 0;
    for (; isdigit((unsigned char)*s); s++) {
        size_t d = (size_t)(*s - '0');
        if (n > (SIZE_MAX - d) / 10) return DURO_EINVAL;
        n = n * 10 + d;
    }
    int shift = unit_shift(s);
    if (shift < 0) return DURO_EINVAL;
    if (shift > 0 && n > (SIZE_MAX >> shift)) return DURO_EINVAL;
    *bytes = n << shift;
    return 0;
}

char *duro_size_format(size_t bytes, char *buf, size_t size)
{
    static const char *names[] = {"B", "KiB", "MiB", "GiB"};
    int u = 0;
    while (u < 3 && bytes != 0 && bytes % 1024 == 0) {
        bytes /= 1024;
        u++;
    }
    snprintf(buf, size, "%zu%s", bytes, names[u]);
    return buf;
}
