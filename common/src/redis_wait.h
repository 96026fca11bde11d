/* redis_wait.h: replica-acknowledged writes (DURO_REDIS_WAIT), shared by
 * blocking connections (redis.c) and async ones (aredis_cmd.c).
 *
 * Redis replicates asynchronously: a write the primary acknowledged can
 * vanish when a replica without it is promoted. With DURO_REDIS_WAIT=N
 * every FCALL (every state change goes through a Function; FCALL_RO never
 * writes) is sent with `WAIT N timeout` right behind it, in the same
 * round trip, and its reply is handed on only when N replicas confirmed
 * everything this connection wrote; otherwise the caller gets a
 * NOREPLICAS error (DURO_EAGAIN: transient, send again) in its place. */
#ifndef DURO_REDIS_WAIT_H
#define DURO_REDIS_WAIT_H

#include <stdbool.h>
#include <stddef.h>
#include <hiredis/hiredis.h>

#include "duro/config.h"

/* duro__redis_wait_configure records url's WAIT settings for the blocking
 * connections of this process (duro_redis_call has only the context):
 * every component of a process talks to one Redis, with one setting. */
void duro__redis_wait_configure(const duro_redis_url *url);

/* duro__redis_wait_replicas: the setting recorded last (0: no WAIT); its
 * timeout in *timeout_ms. */
int duro__redis_wait_replicas(int *timeout_ms);

/* duro__redis_wait_wanted: argv is an FCALL (a call that may write). */
bool duro__redis_wait_wanted(int argc, const char *const *argv,
                             const size_t *lens);

/* duro__redis_wait_verdict takes the FCALL's reply and WAIT's (both
 * owned) and returns the reply to hand on: the FCALL's when it is an
 * error (nothing to confirm) or when WAIT counted at least `want`
 * replicas, else a new NOREPLICAS error reply. Frees what it does not
 * return. NULL when fcall is NULL, or when there is no memory for the
 * error: callers take it as a lost connection and send again, never as
 * an unconfirmed success. */
redisReply *duro__redis_wait_verdict(redisReply *fcall, redisReply *wait,
                                     int want, int timeout_ms);

/* duro__reply_dup: a deep copy of r that freeReplyObject frees, or NULL
 * (out of memory). */
redisReply *duro__reply_dup(const redisReply *r);

#endif
