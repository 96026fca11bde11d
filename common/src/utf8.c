/* utf8.c: a strict UTF-8 scanner, and a mender for stored text (through
 * duro_malloc, the allocator cJSON prints with). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "duro/alloc.h"
#include "duro/errno.h"
#include "duro/utf8.h"

/* seq_len: the length of the well-formed sequence at p (n bytes left), or
 * 0 when the byte at p starts none (RFC 3629's table of well-formed byte
 * sequences: the second byte's range rules out overlong forms, surrogates
 * and code points above U+10FFFF). */
static size_t seq_len(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    if (c < 0x80) return 1;
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else
        return 0;
    if (n < len || p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xBF) return 0;
    return len;
}

int duro_utf8_check(const char *s, size_t len, size_t *bad)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        /* ASCII eight bytes at a time: most payloads are ASCII */
        while (i + 8 <= len) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if (w & 0x8080808080808080ULL) break;
            i += 8;
        }
        if (i >= len) break;
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = seq_len(p + i, len - i);
        if (n == 0) {
            if (bad) *bad = i;
            return DURO_EINVAL;
        }
        i += n;
    }
    return 0;
}

char *duro_utf8_mend(char *s)
{
    if (!s) return NULL;
    size_t len = strlen(s), at;
    if (duro_utf8_check(s, len, &at) == 0) return s;
    /* each bad byte grows to three */
    char *out = duro_malloc(at + 3 * (len - at) + 1);
    if (!out) {
        duro_free(s);
        return NULL;
    }
    memcpy(out, s, at);
    size_t o = at;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = at; i < len;) {
        size_t n = seq_len(p + i, len - i);
        if (n == 0) {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        } else {
            memcpy(out + o, p + i, n);
            o += n;
            i += n;
        }
    }
    out[o] = '\0';
    duro_free(s);
    return out;
}
