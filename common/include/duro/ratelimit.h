/* ratelimit.h: a task queue's flow settings (`duro queue config`): the
 * key that holds them and its token bucket (docs/internals.md, "Flow
 * control"). */
#ifndef DURO_RATELIMIT_H
#define DURO_RATELIMIT_H

#include <stddef.h>

#include "duro/export.h"
#include "duro/keys.h"

/* duro_key_flow: "<prefix>{q:<queue>}:flow", the queue's flow hash: one
 * slot of its own on Redis Cluster (a queue spans every partition). */
DURO_EXPORT char *duro_key_flow(char *buf, size_t size, const duro_keyspace *ks,
                                const char *queue);

/* duro_key_conc: "<prefix>{q:<queue>}:conc:<key>", the running attempts
 * of concurrency key `key` on that queue (the flow hash's slot). */
DURO_EXPORT char *duro_key_conc(char *buf, size_t size, const duro_keyspace *ks,
                                const char *queue, const char *key);

#endif
