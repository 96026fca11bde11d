/* chaos_route.h: the chaos tools' own Redis connection, one server or a
 * Redis Cluster. chaos-check reads what the workflows left in Redis, and
 * chaos-worker records each activity attempt, with plain commands: on a
 * cluster each goes to the master that serves its key's slot.
 *
 * The URL is any URL the components take: redis://, rediss:// and
 * redis+sentinel:// name one server; redis+cluster://[user:pw@]h1:p1,h2:p2
 * (rediss+cluster:// with TLS) lists seed nodes of a cluster, and a
 * redis:// URL of a node that reports cluster_enabled:1 is a seed as well.
 * The routing is the library's router (duro/cluster_sync.h): the slot
 * map comes from CLUSTER SLOTS, is refreshed after a MOVED reply or a
 * lost connection (a failover), and ASK redirections are followed.
 * Transient errors (TRYAGAIN, CLUSTERDOWN, LOADING, a refused connection)
 * are retried for up to CHAOS_ROUTE_RETRY_MS. */
#ifndef DURO_CHAOS_ROUTE_H
#define DURO_CHAOS_ROUTE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <hiredis/hiredis.h>

#define CHAOS_ROUTE_RETRY_MS 30000

typedef struct chaos_route chaos_route;

/* chaos_route_open connects to url, retrying for up to wait_ms; NULL
 * (after a message on stderr) when it never succeeds. */
chaos_route *chaos_route_open(const char *url, int64_t wait_ms);
void chaos_route_free(chaos_route *r);

/* chaos_route_is_cluster: the URL named a cluster (or a node of one). */
bool chaos_route_is_cluster(const chaos_route *r);

/* chaos_route_cmd runs a command whose keys share key's slot on the
 * server that holds it; NULL (a message in chaos_route_errstr) when no
 * server answered within CHAOS_ROUTE_RETRY_MS. An error reply other than a
 * redirection or a transient one is returned as it is. */
redisReply *chaos_route_cmd(chaos_route *r, const char *key, const char *fmt,
                            ...);
redisReply *chaos_route_vcmd(chaos_route *r, const char *key, const char *fmt,
                             va_list ap);

/* chaos_route_write: chaos_route_cmd followed, on the same connection, by
 * WAIT for the replicas the URL's DURO_REDIS_WAIT asks for (none: no
 * WAIT); NULL when fewer confirmed in DURO_REDIS_WAIT_TIMEOUT: the write
 * may be lost in a failover and must count as not made. */
redisReply *chaos_route_write(chaos_route *r, const char *key, const char *fmt,
                              ...);

/* chaos_route_masters: the servers keyless commands go to, one per master
 * (1 without a cluster); chaos_route_node_cmd runs one on master i. */
int chaos_route_masters(chaos_route *r);
redisReply *chaos_route_node_cmd(chaos_route *r, int i, const char *fmt, ...);

const char *chaos_route_errstr(const chaos_route *r);

/* chaos_key_slot: the cluster hash slot of key (its {hash tag} if any). */
int chaos_key_slot(const char *key);

#endif
