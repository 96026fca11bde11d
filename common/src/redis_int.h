/* redis_int.h: what redis.c shares with the cluster router (cluster_sync.c)
 * and nobody else: a connect that says whether the server is a cluster
 * node, the library check and the FCALL with its reload, each able to use
 * the sharded copy of the library (duro_lua_library_source). */
#ifndef DURO_REDIS_INT_H
#define DURO_REDIS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <hiredis/hiredis.h>

#include "duro/config.h"
#include "duro/redis.h"

/* duro__redis_open_mode is duro_redis_open; *cluster (when not NULL) says
 * whether the server is a Redis Cluster node: its handshake asks with
 * HELLO 2 (where a PING was), whose answer names the mode, so that finding
 * out costs no command on one node. */
int duro__redis_open_mode(const duro_redis_url *url, int timeout_ms,
                          redisContext **out, bool *cluster, char *err,
                          size_t errsize);

/* duro__functions_ensure: FCALL duro_version 0, loading the library (the
 * sharded copy when sharded) when it is missing or older. 0 or DURO_E*
 * (DURO_EAGAIN: this user may not load it; the remedy in err). */
int duro__functions_ensure(redisContext *c, bool sharded, char *err,
                           size_t errsize);

/* duro__functions_load_copy: FUNCTION LOAD REPLACE of the library, its
 * sharded copy when sharded. As duro_functions_load. */
int duro__functions_load_copy(redisContext *c, bool sharded, char *err,
                              size_t errsize);

/* duro__redis_call_lib is duro_redis_call, reloading the sharded copy on
 * "function not found" when sharded (a cluster master). */
redisReply *duro__redis_call_lib(redisContext *c, const duro_argv *a,
                                 bool sharded);

/* duro__caller: how the meta code sends a command: on one server through
 * its context, on a cluster through the router. call returns the reply or
 * NULL (errstr(conn) says why). */
typedef struct {
    redisReply *(*call)(void *conn, const duro_argv *a);
    const char *(*errstr)(void *conn);
    void *conn;
} duro__caller;

/* duro__meta_check_with is duro_redis_meta_check through k. */
int duro__meta_check_with(const duro__caller *k, int partitions, int *out,
                          char *err, size_t errsize);
/* duro__setup_meta: duro_redis_setup's meta part through k (partitions as
 * duro_redis_setup's, DURO_PARTITIONS_ADOPT_OR_INIT included). */
int duro__setup_meta(const duro__caller *k, int partitions, int *out, char *err,
                     size_t errsize);
/* duro__setup_check: 0, or DURO_EINVAL for a partitions argument outside
 * what duro_redis_setup takes. */
int duro__setup_check(int partitions, char *err, size_t errsize);

#endif
