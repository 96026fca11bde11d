/* harness_tamper.c: keys damaged by hand and put back, and a partition's
 * whole contents compared before and after a call (harness.h). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/keys.h"
#include "harness.h"

void duro_test_key_swap_in(redisContext *r, const char *key)
{
    char saved[DURO_KEY_MAX + 8];
    snprintf(saved, sizeof(saved), "%s:saved", key);
    redisReply *rep = redisCommand(
        r, "EVAL %s 2 %s %s",
        "if redis.call('EXISTS', KEYS[1]) == 1 then "
        "redis.call('RENAME', KEYS[1], KEYS[2]) end "
        "redis.call('SET', KEYS[1], 'not what you expect') return 1",
        key, saved);
    cr_assert(rep && rep->type == REDIS_REPLY_INTEGER, "swap %s: %s", key,
              rep ? rep->str : r->errstr);
    freeReplyObject(rep);
}

void duro_test_key_swap_out(redisContext *r, const char *key)
{
    char saved[DURO_KEY_MAX + 8];
    snprintf(saved, sizeof(saved), "%s:saved", key);
    redisReply *rep = redisCommand(
        r, "EVAL %s 2 %s %s",
        "redis.call('DEL', KEYS[1]) if redis.call('EXISTS', KEYS[2]) == 1 "
        "then redis.call('RENAME', KEYS[2], KEYS[1]) end return 1",
        key, saved);
    cr_assert(rep && rep->type == REDIS_REPLY_INTEGER, "restore %s: %s", key,
              rep ? rep->str : r->errstr);
    freeReplyObject(rep);
}

static int by_name(const void *a, const void *b)
{
    const redisReply *x = *(const redisReply *const *)a;
    const redisReply *y = *(const redisReply *const *)b;
    return strcmp(x->str, y->str);
}

char *duro_test_partition_dump(redisContext *r, int p)
{
    char pattern[64];
    snprintf(pattern, sizeof(pattern), "duro:{p%d}:*", p);
    redisReply *keys = duro_test_cmd(r, "KEYS", pattern, NULL);
    /* in one order, whatever the order KEYS walks the keyspace in */
    if (keys->elements)
        qsort(keys->element, keys->elements, sizeof(redisReply *), by_name);
    size_t len = 0;
    char *out = calloc(1, 1);
    cr_assert(out);
    for (size_t i = 0; i < keys->elements; i++) {
        const char *key = keys->element[i]->str;
        redisReply *d = duro_test_cmd(r, "DUMP", key, NULL);
        size_t kl = strlen(key);
        out = realloc(out, len + kl + 2 * d->len + 3);
        cr_assert(out);
        memcpy(out + len, key, kl);
        len += kl;
        out[len++] = '=';
        for (size_t j = 0; j < d->len; j++, len += 2)
            snprintf(out + len, 3, "%02x", (unsigned char)d->str[j]);
        out[len++] = ';';
        out[len] = '\0';
        freeReplyObject(d);
    }
    freeReplyObject(keys);
    return out;
}
