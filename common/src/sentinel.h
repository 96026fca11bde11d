/* sentinel.h: finding the master through Redis Sentinel (internal).
 *
 * A redis+sentinel:// URL names sentinels and a master; every connect,
 * blocking (redis.c) or async (aredis.c), first asks the sentinels in turn
 * for the master's current address (SENTINEL get-master-addr-by-name),
 * then checks with ROLE that the server it reached is a master: after a
 * failover the old address fails or answers as a replica, the connection
 * is dropped, and the next connect finds the promoted one. */
#ifndef DURO_SENTINEL_H
#define DURO_SENTINEL_H

#include <stddef.h>
#include <hiredis/hiredis.h>

#include "duro/config.h"

/* DURO_SENTINEL_TIMEOUT_MS: connect + answer, per sentinel asked */
#define DURO_SENTINEL_TIMEOUT_MS 500

/* duro__sentinel_resolve asks url's sentinels (in order; the one that
 * answered moves first) for the master's address and writes it into
 * url->host and url->port. 0, or DURO_ECONN (no sentinel answered),
 * DURO_ENOTFOUND (they do not know the master) with why in err. A sentinel
 * that wants a password gets $DURO_REDIS_SENTINEL_PASSWORD. */
int duro__sentinel_resolve(duro_redis_url *url, char *err, size_t errsize);

/* duro__role_is_master: a ROLE reply says "master". */
int duro__role_is_master(const redisReply *r);

/* duro__sentinel_mode / duro__sentinel_mode_set: this process connects
 * through Sentinel (set by duro_redis_open), so a READONLY answer means
 * the master moved: the blocking connection is closed to find it again. */
int duro__sentinel_mode(void);
void duro__sentinel_mode_set(int on);

#endif
