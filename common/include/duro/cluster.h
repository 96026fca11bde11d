/* cluster.h: what every component needs to talk to a Redis Cluster: the
 * hash slot of a key, the key that routes a command, the redirections
 * Redis answers with, and the slot map that CLUSTER SLOTS describes.
 *
 * Every key of partition p carries the hash tag {p<n>}, so a Function call
 * touches one slot; the routing key of an FCALL is its first key. Keys
 * outside the partitions (duro:meta, duro:queues, ...) are single-key
 * commands, each routed by its own slot. The connections that use this
 * (sync: the client; async: duro_aredis) keep one connection per master. */
#ifndef DURO_CLUSTER_H
#define DURO_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <hiredis/hiredis.h>
#include "duro/config.h"
#include "duro/export.h"
#include "duro/redis.h"

#define DURO_CLUSTER_SLOTS 16384
/* DURO_CLUSTER_NODES_MAX: masters a slot map holds (replicas are not
 * routed to). */
#define DURO_CLUSTER_NODES_MAX 64

/* duro_cluster_slot: the hash slot of key[0..len), with Redis's hash-tag
 * rule (the part between the first '{' and the next '}' when not empty). */
DURO_EXPORT int duro_cluster_slot(const char *key, size_t len);

/* duro_cluster_argv_key: the index in argv of the key that routes the
 * command, or -1 for a command with no key (PING, FUNCTION LOAD, INFO,
 * WAIT, TIME, CLUSTER, FCALL with 0 keys: any master serves it; FUNCTION
 * LOAD must be sent to every master). Knows FCALL/FCALL_RO/EVAL/EVALSHA
 * (first key after numkeys), XREADGROUP/XREAD (first key after STREAMS),
 * SPUBLISH/SSUBSCRIBE (the channel), and treats every other command with
 * two or more arguments as keyed by argv[1]. */
DURO_EXPORT int duro_cluster_argv_key(int argc, const char *const *argv,
                                      const size_t *lens);
/* duro_cluster_argv_slot: the slot of duro_cluster_argv_key's key, or -1. */
DURO_EXPORT int duro_cluster_argv_slot(const duro_argv *a);

/* duro_cluster_redirect: an error reply's redirection. */
typedef struct {
    bool ask; /* ASK (one command, after ASKING) rather than MOVED */
    int slot;
    duro_redis_addr addr;
} duro_cluster_redirect;

/* duro_cluster_parse_redirect: true and *out filled when errstr is
 * "MOVED <slot> <host>:<port>" or "ASK <slot> <host>:<port>" (an empty
 * host, as Redis 7 may send, is left empty: the caller uses the address it
 * sent to). */
DURO_EXPORT bool duro_cluster_parse_redirect(const char *errstr,
                                             duro_cluster_redirect *out);

/* duro_cluster_map: slot -> master. node[i] is a master's address;
 * slot_node[s] the index of the master serving slot s, or -1 when the map
 * has no master for it (CLUSTERDOWN: ask again later). */
typedef struct {
    int nodes;
    duro_redis_addr node[DURO_CLUSTER_NODES_MAX];
    short slot_node[DURO_CLUSTER_SLOTS];
} duro_cluster_map;

/* duro_cluster_map_parse fills m from a CLUSTER SLOTS reply. from is the
 * address the reply came from: a master given with an empty host or "?" is
 * taken to be at from's host. 0, or DURO_EPROTO (not a CLUSTER SLOTS reply:
 * an error, e.g. "cluster support disabled") with a reason in err. */
DURO_EXPORT int duro_cluster_map_parse(duro_cluster_map *m,
                                       const redisReply *reply,
                                       const duro_redis_addr *from, char *err,
                                       size_t errsize);

/* duro_cluster_map_node: the index of addr among m's masters, adding it
 * (DURO_CLUSTER_NODES_MAX reached: -1). A MOVED to a master not yet in the
 * map goes through here. */
DURO_EXPORT int duro_cluster_map_node(duro_cluster_map *m,
                                      const duro_redis_addr *addr);

/* duro_cluster_reply_disabled: the error a server without cluster support
 * answers CLUSTER SLOTS with ("ERR This instance has cluster support
 * disabled"): a redis:// URL that names a standalone server. */
DURO_EXPORT bool duro_cluster_reply_disabled(const redisReply *reply);

#endif
