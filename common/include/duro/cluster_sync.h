/* cluster_sync.h: a blocking connection to one Redis or to a Redis
 * Cluster, for the code that uses hiredis's redisContext (the client and
 * CLI, the setup of workers and schedulers).
 *
 * duro_cluster_sync_open chooses the path once: a redis:// server that is
 * not a cluster node is one redisContext, and every call is exactly
 * duro_redis_call (the same commands and round trips as before clusters);
 * a redis+cluster:// seed list, or a redis:// server whose handshake says
 * it is a cluster node, is a router: one redisContext per master, opened
 * when first needed with the URL's credentials and TLS settings, each
 * command sent to the master serving the slot of its routing key
 * (duro_cluster_argv_slot; a command without a key to any master). The
 * router follows what Redis Cluster answers:
 *   MOVED         the slot's entry is fixed, the map read again (CLUSTER
 *                 SLOTS), the command sent to the new master;
 *   ASK           ASKING then the command, on the named node, once;
 *   TRYAGAIN,     sent again after a growing pause (20 ms doubling to
 *   CLUSTERDOWN   500 ms) for up to DURO_CLUSTER_SYNC_RETRY_MS in all, then
 *                 the error is the answer (DURO_EAGAIN for callers);
 *   a master that cannot be reached: the map is read again from any node
 *                 that answers and the command, which never left, is sent
 *                 where the map says, with the same pauses and bound (a
 *                 failover promotes a replica within seconds);
 *   a lost connection: that call fails (as on one node: a write is never
 *                 sent twice unseen), the master's connection is dropped
 *                 and the map read again at the next call.
 * FCALLs whose Function is missing load the library's sharded copy on that
 * master (duro_lua_library_source) and are sent again; DURO_REDIS_WAIT
 * follows each FCALL on the connection it went to (per master). */
#ifndef DURO_CLUSTER_SYNC_H
#define DURO_CLUSTER_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <hiredis/hiredis.h>
#include "duro/config.h"
#include "duro/export.h"
#include "duro/redis.h"

/* DURO_CLUSTER_SYNC_RETRY_MS: how long TRYAGAIN, CLUSTERDOWN or a slot
 * with no master are retried before the error is given back. */
#define DURO_CLUSTER_SYNC_RETRY_MS 5000

typedef struct duro_cluster_sync duro_cluster_sync;

/* duro_cluster_sync_open connects as described above (timeout_ms bounds
 * each connect and command; 0: none). Returns 0 and the connection in
 * *out (free with duro_cluster_sync_free), or duro_redis_open's DURO_E*
 * with a message in err. A redis+cluster:// list whose seeds are not
 * cluster nodes is DURO_EINVAL. */
DURO_EXPORT int duro_cluster_sync_open(const duro_redis_url *url,
                                       int timeout_ms, duro_cluster_sync **out,
                                       char *err, size_t errsize);
DURO_EXPORT void duro_cluster_sync_free(duro_cluster_sync *r);

/* duro_cluster_sync_is_cluster: the router path was chosen. */
DURO_EXPORT bool duro_cluster_sync_is_cluster(const duro_cluster_sync *r);

/* duro_cluster_sync_broken: on one server, its connection failed (hiredis
 * contexts are not reused after an error: open a new one); a router mends
 * its connections itself and is never broken. */
DURO_EXPORT bool duro_cluster_sync_broken(const duro_cluster_sync *r);

/* duro_cluster_sync_errstr: why the last call or pipeline failed. */
DURO_EXPORT const char *duro_cluster_sync_errstr(const duro_cluster_sync *r);

/* duro_cluster_sync_call sends a to where it belongs and returns the reply
 * (caller frees with freeReplyObject), error replies included, or NULL
 * when a connection failed (duro_cluster_sync_errstr says why). */
DURO_EXPORT redisReply *duro_cluster_sync_call(duro_cluster_sync *r,
                                               const duro_argv *a);

/* duro_cluster_sync_pipeline sends cmds[0..n) and stores their replies in
 * replies[0..n), in order (error replies included). On one server: one
 * round trip. On a cluster: the commands grouped per master, every group
 * written before any reply is read (one round trip per master, side by
 * side); a command answered with a redirection or TRYAGAIN is sent again
 * alone, as duro_cluster_sync_call. Returns 0, or DURO_ECONN with no
 * replies left to free. */
DURO_EXPORT int duro_cluster_sync_pipeline(duro_cluster_sync *r,
                                           const duro_argv *cmds, int n,
                                           redisReply **replies);

/* duro_cluster_sync_masters: the masters of the slot map (1 on one
 * server), reading the map again when it is stale. */
DURO_EXPORT int duro_cluster_sync_masters(duro_cluster_sync *r);

/* duro_cluster_sync_call_master sends a to master i (0 <=
 * i < duro_cluster_sync_masters) whatever its key: for what is per master
 * (SCAN, FUNCTION LOAD). As duro_cluster_sync_call, without redirections. */
DURO_EXPORT redisReply *
duro_cluster_sync_call_master(duro_cluster_sync *r, int i, const duro_argv *a);

/* duro_cluster_sync_context: the connection of the master serving slot
 * (-1: the first master; on one server, its connection), opened when
 * needed; borrowed (r keeps it). NULL when it cannot connect (the errstr
 * says why). For callers that go on with a plain redisContext where one
 * server is all they support. */
DURO_EXPORT redisContext *duro_cluster_sync_context(duro_cluster_sync *r,
                                                    int slot);

/* duro_cluster_sync_master_context: master i's connection (0 <= i <
 * duro_cluster_sync_masters), as duro_cluster_sync_context. */
DURO_EXPORT redisContext *duro_cluster_sync_master_context(duro_cluster_sync *r,
                                                           int i);

/* duro_cluster_sync_node_url: the URL of the master serving slot (-1: any)
 * in *out, the credentials and TLS settings the connection's own, for a
 * connection of the caller's (a sharded subscription). 0 or DURO_EAGAIN
 * (no master serves the slot now) with why in the errstr. */
DURO_EXPORT int duro_cluster_sync_node_url(duro_cluster_sync *r, int slot,
                                           duro_redis_url *out);

/* duro_cluster_sync_refresh reads the slot map again now, for a caller
 * whose own connection to a master (a sharded subscription) met MOVED or
 * found the master gone. 0 (also on one server), or DURO_E* with the old
 * map kept and why in the errstr. */
DURO_EXPORT int duro_cluster_sync_refresh(duro_cluster_sync *r);

/* duro_cluster_sync_set_timeout: each connection's command timeout from
 * now on (those opened later too); ms <= 0: none. */
DURO_EXPORT void duro_cluster_sync_set_timeout(duro_cluster_sync *r, int ms);

/* duro_cluster_sync_setup is duro_redis_setup over r: on a cluster the
 * Functions library (its sharded copy) checked and loaded or upgraded on
 * every master, then duro:meta checked on the master serving it. */
DURO_EXPORT int duro_cluster_sync_setup(duro_cluster_sync *r, int partitions,
                                        int *out, char *err, size_t errsize);

/* duro_cluster_sync_meta_check is duro_redis_meta_check over r. */
DURO_EXPORT int duro_cluster_sync_meta_check(duro_cluster_sync *r,
                                             int partitions, int *out,
                                             char *err, size_t errsize);

/* duro_redis_setup_url opens url (duro_cluster_sync_open), runs
 * duro_cluster_sync_setup and closes: the one call a process needs to make
 * Redis ready whatever it is. When it finds a cluster it sets url->cluster
 * (so that a redis:// URL that names a node is known for one from then
 * on). Returns duro_cluster_sync_setup's 0 or DURO_E*. */
DURO_EXPORT int duro_redis_setup_url(duro_redis_url *url, int timeout_ms,
                                     int partitions, int *out, char *err,
                                     size_t errsize);

#endif
