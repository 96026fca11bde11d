/* reply.h: tolerant readers of Redis replies, shared by every component.
 * Internal to Duro's programs (not installed). */
#ifndef DURO_REPLY_H
#define DURO_REPLY_H

#include <stdbool.h>
#include <stdint.h>
#include <hiredis/hiredis.h>

/* duro__reply_str: the text of a string or status reply, else NULL (a NULL
 * reply, an error, an integer, an array). */
const char *duro__reply_str(const redisReply *r);

/* duro__reply_is_error: true for an error reply (NULL is not one: a lost
 * connection is reported apart). */
bool duro__reply_is_error(const redisReply *r);

/* duro__parse_i64: all of s as a decimal (an optional '-', digits, nothing
 * else), else false. */
bool duro__parse_i64(const char *s, int64_t *out);

/* duro__reply_int: an integer reply, or a string reply holding exactly a
 * decimal (no NUL inside), else false. */
bool duro__reply_int(const redisReply *r, long long *out);

/* duro__reply_kv: in a flat [k, v, k, v, ...] array (a stream entry's
 * fields, HGETALL, XINFO), the value of key (compared with its length), or
 * NULL. */
const redisReply *duro__reply_kv(const redisReply *arr, const char *key);

#endif
