/* reply.c: tolerant readers of Redis replies (data in Redis is not trusted:
 * a hand-written key may hold any shape). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "duro/reply.h"

const char *duro__reply_str(const redisReply *r)
{
    if (r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) &&
        r->str)
        return r->str;
    return NULL;
}

bool duro__reply_is_error(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ERROR;
}

bool duro__parse_i64(const char *s, int64_t *out)
{
    if (!s || !((*s >= '0' && *s <= '9') || *s == '-')) return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || end == s) return false;
    *out = v;
    return true;
}

bool duro__reply_int(const redisReply *r, long long *out)
{
    if (r && r->type == REDIS_REPLY_INTEGER) {
        *out = r->integer;
        return true;
    }
    const char *s = duro__reply_str(r);
    int64_t v;
    /* strlen: a NUL inside the reply would hide trailing bytes */
    if (!s || strlen(s) != r->len || !duro__parse_i64(s, &v)) return false;
    *out = v;
    return true;
}

const redisReply *duro__reply_kv(const redisReply *arr, const char *key)
{
    if (!arr || arr->type != REDIS_REPLY_ARRAY || !key) return NULL;
    size_t n = strlen(key);
    for (size_t i = 0; i + 1 < arr->elements; i += 2) {
        const redisReply *k = arr->element[i];
        if (duro__reply_str(k) && k->len == n && memcmp(k->str, key, n) == 0)
            return arr->element[i + 1];
    }
    return NULL;
}
