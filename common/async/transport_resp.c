/* transport_resp.c: a command in Redis's wire format, written in place.
 *
 *   *<argc>\r\n  then per argument  $<len>\r\n<bytes>\r\n
 *
 * hiredis's redisFormatCommandArgv writes the same bytes, but into a
 * buffer of its own that the transport then copied into its output buffer
 * and freed, and it prints each length with sprintf: under the throughput
 * benchmark that was ~4% of the worker's CPU (a Function call has 20-40
 * arguments). Here the lengths are counted first and the command is
 * written once, where it will be sent from. */
#include <string.h>

#include "transport_resp.h"

/* digits: decimal digits of n. */
static size_t digits(size_t n)
{
    size_t d = 1;
    while (n >= 10) {
        n /= 10;
        d++;
    }
    return d;
}

/* put_line writes <tag><n>\r\n and returns its end. */
static char *put_line(char *p, char tag, size_t n)
{
    size_t d = digits(n);
    *p++ = tag;
    for (size_t i = d; i > 0; i--) {
        p[i - 1] = (char)('0' + n % 10);
        n /= 10;
    }
    p += d;
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

size_t duro__resp_len(int argc, const char **argv, const size_t *lens)
{
    (void)argv;
    size_t n = 1 + digits((size_t)argc) + 2;
    for (int i = 0; i < argc; i++)
        n += 1 + digits(lens[i]) + 2 + lens[i] + 2;
    return n;
}

char *duro__resp_put(char *dst, int argc, const char **argv, const size_t *lens)
{
    char *p = put_line(dst, '*', (size_t)argc);
    for (int i = 0; i < argc; i++) {
        p = put_line(p, '$', lens[i]);
        if (lens[i]) memcpy(p, argv[i], lens[i]);
        p += lens[i];
        *p++ = '\r';
        *p++ = '\n';
    }
    return p;
}
