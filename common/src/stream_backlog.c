/* stream_backlog.c: a task stream's backlog from XLEN and XINFO GROUPS. */
#include <string.h>

#include "duro/keys.h"
#include "duro/reply.h"
#include "duro/stream_backlog.h"

/* our_group: the group duro's entry in an XINFO GROUPS reply, or NULL. */
static const redisReply *our_group(const redisReply *groups)
{
    if (!groups || groups->type != REDIS_REPLY_ARRAY) return NULL;
    for (size_t i = 0; i < groups->elements; i++) {
        const char *name =
            duro__reply_str(duro__reply_kv(groups->element[i], "name"));
        if (name && strcmp(name, DURO_GROUP) == 0) return groups->element[i];
    }
    return NULL;
}

long long duro__stream_backlog(const redisReply *xlen, const redisReply *groups,
                               long long *pending)
{
    long long len = 0, pend = 0, lag;
    if (!duro__reply_int(xlen, &len) || len < 0) len = 0;
    const redisReply *g = our_group(groups);
    if (g &&
        (!duro__reply_int(duro__reply_kv(g, "pending"), &pend) || pend < 0))
        pend = 0;
    if (pending) *pending = pend;
    if (g && duro__reply_int(duro__reply_kv(g, "lag"), &lag) && lag >= 0)
        return lag < len ? lag : len;
    return len > pend ? len - pend : 0;
}
