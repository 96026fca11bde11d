/* priority.h: task priorities 1 (highest) .. 5 and the streams they use.
 *
 * A task queue has one stream per level and kind: level 3, the default,
 * keeps the queue's plain stream name (duro_key_wft, duro_key_act), so a
 * run without a priority costs nothing; level N is that name with "!N"
 * appended (same hash tag, so the same slot; '!' cannot occur in a queue
 * name). Workers read the levels in order, a level's streams only while
 * it is in use (docs/internals.md, "The read set"; `!0` names the level
 * bell stream, not a level). The Lua side (common/lua/
 * duro.lua, prio_stream) names them the same way. */
#ifndef DURO_PRIORITY_H
#define DURO_PRIORITY_H

#include <stddef.h>

#include "duro/export.h"

#define DURO_PRIORITY_MIN 1
#define DURO_PRIORITY_MAX 5
#define DURO_PRIORITY_DEFAULT 3
#define DURO_PRIORITY_LEVELS 5

/* duro_priority_key writes level's stream for the plain stream key base
 * (base itself for DURO_PRIORITY_DEFAULT) into buf; returns buf. */
DURO_EXPORT char *duro_priority_key(char *buf, size_t size, const char *base,
                                    int level);

/* duro_priority_of_key: the level a task stream key names (3 without a
 * "!N" suffix; a fair stream's "~<key>" after it is ignored). */
DURO_EXPORT int duro_priority_of_key(const char *key);

/* duro_priority_queue_len: the length of a task queue name that may carry
 * a level suffix and a fairness key ("orders!1" and "orders!1~acme" -> 6),
 * as the activity queues recorded for a prioritized or fair activity do
 * (docs/internals.md, "Priorities", "Fairness"). */
DURO_EXPORT size_t duro_priority_queue_len(const char *queue);

/* duro_priority_queue_check: duro_name_check of such a name without its
 * level suffix. */
DURO_EXPORT int duro_priority_queue_check(const char *queue, char *err,
                                          size_t errsize);

#endif
