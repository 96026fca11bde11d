/* ids.c: random run ids and the validity rules for ids and names. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "duro/errno.h"
#include "duro/ids.h"
#include "duro/utf8.h"

/* fill_random: getrandom, with a weak fallback that cannot fail, since a
 * run id must always be produced. */
static void fill_random(unsigned char *b, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(b + got, n - got, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            break;
        }
        got += (size_t)r;
    }
    if (got < n) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^
                     ((uint64_t)getpid() << 16) ^ (uintptr_t)b;
        for (size_t i = got; i < n; i++) { /* xorshift64* */
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            b[i] = (unsigned char)((x * 0x2545F4914F6CDD1DULL) >> 56);
        }
    }
}

void duro_uuid_v4(char out[DURO_UUID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[16];
    fill_random(b, sizeof(b));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* variant 10 */
    char *p = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) *p++ = '-';
        *p++ = hex[b[i] >> 4];
        *p++ = hex[b[i] & 0x0f];
    }
    *p = '\0';
}

static int fail(char *err, size_t errsize, const char *fmt, const char *what)
{
    if (err && errsize) snprintf(err, errsize, fmt, what);
    return DURO_EINVAL;
}

int duro_id_check(const char *id, char *err, size_t errsize)
{
    if (!id || !*id)
        return fail(err, errsize, "%s must not be empty", "workflow id");
    size_t n = strnlen(id, DURO_ID_MAX + 1);
    if (n > DURO_ID_MAX)
        return fail(err, errsize, "%s is longer than 1000 bytes",
                    "workflow id");
    size_t spaces = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)id[i];
        if (c < 0x20 || c == 0x7f)
            return fail(err, errsize, "%s contains a control character",
                        "workflow id");
        spaces += c == ' ';
    }
    /* "  " looks like no id at all in every listing and log line */
    if (spaces == n)
        return fail(err, errsize, "%s must not be blank", "workflow id");
    return 0;
}

int duro_id_check_input(const char *id, char *err, size_t errsize)
{
    int rc = duro_id_check(id, err, errsize);
    size_t at;
    if (rc == 0 && duro_utf8_check(id, strlen(id), &at) != 0) {
        if (err && errsize)
            snprintf(err, errsize, "workflow id is not valid UTF-8 (byte %zu)",
                     at);
        return DURO_EINVAL;
    }
    return rc;
}

static int name_char_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' ||
           c == '-';
}

int duro_name_check(const char *what, const char *name, char *err,
                    size_t errsize)
{
    if (!what) what = "name";
    if (!name || !*name)
        return fail(err, errsize, "%s must not be empty", what);
    size_t n = strnlen(name, DURO_QUEUE_MAX + 1);
    if (n > DURO_QUEUE_MAX)
        return fail(err, errsize, "%s is longer than 200 bytes", what);
    for (size_t i = 0; i < n; i++) {
        if (!name_char_ok((unsigned char)name[i])) {
            if (err && errsize)
                snprintf(err, errsize,
                         "%s \"%.*s\" has a character outside [A-Za-z0-9._:-]",
                         what, (int)(n > 64 ? 64 : n), name);
            return DURO_EINVAL;
        }
    }
    return 0;
}
