/* fake_reply.h: hand-built hiredis reply trees for unit tests (free them
 * with freeReplyObject). */
#ifndef DURO_TEST_FAKE_REPLY_H
#define DURO_TEST_FAKE_REPLY_H

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <hiredis/hiredis.h>

static inline redisReply *fake_typed(int type, const char *s, size_t len)
{
    redisReply *r = calloc(1, sizeof(*r));
    r->type = type;
    r->len = len;
    r->str = malloc(len + 1);
    memcpy(r->str, s, len);
    r->str[len] = '\0';
    return r;
}

static inline redisReply *fake_str(const char *s)
{
    return fake_typed(REDIS_REPLY_STRING, s, strlen(s));
}

static inline redisReply *fake_status(const char *s)
{
    return fake_typed(REDIS_REPLY_STATUS, s, strlen(s));
}

static inline redisReply *fake_error(const char *s)
{
    return fake_typed(REDIS_REPLY_ERROR, s, strlen(s));
}

static inline redisReply *fake_int(long long v)
{
    redisReply *r = calloc(1, sizeof(*r));
    r->type = REDIS_REPLY_INTEGER;
    r->integer = v;
    return r;
}

static inline redisReply *fake_nil(void)
{
    redisReply *r = calloc(1, sizeof(*r));
    r->type = REDIS_REPLY_NIL;
    return r;
}

/* fake_arr(n, ...): an array of n replies (owned by the array). */
static inline redisReply *fake_arr(size_t n, ...)
{
    redisReply *r = calloc(1, sizeof(*r));
    r->type = REDIS_REPLY_ARRAY;
    r->elements = n;
    r->element = calloc(n ? n : 1, sizeof(redisReply *));
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        r->element[i] = va_arg(ap, redisReply *);
    va_end(ap);
    return r;
}

#endif
