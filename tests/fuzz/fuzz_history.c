/* fuzz_history.c: libFuzzer target for duro_event_decode, the codec every
 * worker and client runs on history entries read from Redis.
 *
 * Input: one flag byte, then "id \n type \n ts \n data" (data runs to the
 * end and may hold newlines). The flags bend the entry's shape the way
 * garbage written into a stream by hand could: fields left out, an odd
 * field count, a non-string element, a wrong entry arity. Strings are
 * copied NUL-terminated, as hiredis hands them out, and may hold NULs. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "duro/history.h"

enum {
    NO_TYPE = 1,
    NO_TS = 2,
    NO_DATA = 4,
    ODD_FIELDS = 8,
    INT_ELEMENT = 16,
    WRONG_ARITY = 32,
};

static redisReply *str_reply(const uint8_t *s, size_t len)
{
    redisReply *r = calloc(1, sizeof(*r));
    r->type = REDIS_REPLY_STRING;
    r->str = malloc(len + 1);
    memcpy(r->str, s, len);
    r->str[len] = '\0';
    r->len = len;
    return r;
}

static redisReply *int_reply(long long v)
{
    redisReply *r = calloc(1, sizeof(*r));
    r->type = REDIS_REPLY_INTEGER;
    r->integer = v;
    return r;
}

static redisReply *array_reply(size_t n)
{
    redisReply *r = calloc(1, sizeof(*r));
    r->type = REDIS_REPLY_ARRAY;
    r->elements = n;
    r->element = n ? calloc(n, sizeof(redisReply *)) : NULL;
    return r;
}

static void free_reply(redisReply *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->elements; i++)
        free_reply(r->element[i]);
    free(r->element);
    free(r->str);
    free(r);
}

/* next_part splits off the bytes up to the next '\n' (or all of them). */
static const uint8_t *next_part(const uint8_t **p, const uint8_t *end,
                                size_t *len, int last)
{
    const uint8_t *s = *p;
    const uint8_t *nl = last ? NULL : memchr(s, '\n', (size_t)(end - s));
    const uint8_t *stop = nl ? nl : end;
    *len = (size_t)(stop - s);
    *p = nl ? nl + 1 : end;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int flags = data[0] & 0x3f;
    const uint8_t *p = data + 1, *end = data + size;
    size_t len[4];
    const uint8_t *part[4];
    for (int i = 0; i < 4; i++)
        part[i] = next_part(&p, end, &len[i], i == 3);

    static const char *names[] = {"type", "ts", "data"};
    redisReply *fields = array_reply(7);
    size_t n = 0;
    for (int i = 0; i < 3; i++) {
        if (flags & (1 << i)) continue;
        fields->element[n++] =
            str_reply((const uint8_t *)names[i], strlen(names[i]));
        fields->element[n++] = (flags & INT_ELEMENT) && i == 1
                                   ? int_reply(42)
                                   : str_reply(part[i + 1], len[i + 1]);
    }
    if (flags & ODD_FIELDS)
        fields->element[n++] = str_reply((const uint8_t *)"x", 1);
    fields->elements = n;

    redisReply *entry = array_reply((flags & WRONG_ARITY) ? 3 : 2);
    entry->element[0] = str_reply(part[0], len[0]);
    entry->element[1] = fields;
    if (flags & WRONG_ARITY) entry->element[2] = int_reply(0);

    duro_event e;
    char err[size % 2 ? 256 : 16];
    if (duro_event_decode(entry, &e, err, sizeof(err)) == 0) {
        if (!e.data || !cJSON_IsObject(e.data)) abort(); /* documented */
        (void)duro_event_seq(&e);
        (void)duro_event_name(e.type);
        duro_event_free(&e);
    } else if (!memchr(err, '\0', sizeof(err))) {
        abort(); /* the reason must be a terminated string */
    }
    free_reply(entry);
    return 0;
}
