/* ratelimit.c: the key of a task queue's flow settings and token bucket. */
#include <stdio.h>

#include "duro/log.h"
#include "duro/ratelimit.h"

char *duro_key_flow(char *buf, size_t size, const duro_keyspace *ks,
                    const char *queue)
{
    int n = snprintf(buf, size, "%s{q:%s}:flow", ks->prefix, queue);
    duro_assert(n >= 0 && (size_t)n < size);
    return buf;
}

char *duro_key_conc(char *buf, size_t size, const duro_keyspace *ks,
                    const char *queue, const char *key)
{
    int n = snprintf(buf, size, "%s{q:%s}:conc:%s", ks->prefix, queue, key);
    duro_assert(n >= 0 && (size_t)n < size);
    return buf;
}
