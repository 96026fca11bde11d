/* cli_dev_redis.h: starting, waiting for and stopping the redis-server
 * processes of `duro dev` (cli_dev_redis.c). */
#ifndef DURO_CLI_DEV_REDIS_H
#define DURO_CLI_DEV_REDIS_H

#include <sys/types.h>

#include <hiredis/hiredis.h>

#include "duro/redis.h"

/* cli_dev_spawn_redis starts prog on 127.0.0.1:port with its
 * data and redis.log in dir (appendonly), plus the NULL-terminated extra
 * arguments (may be NULL), in its own process group; it gets SIGTERM when
 * we die. Returns the pid or -1. cli_dev_stop_redis: SIGTERM, then
 * SIGKILL after 5s. cli_dev_take_stop: a pending SIGINT/SIGTERM, or 0. */
pid_t cli_dev_spawn_redis(const char *prog, const char *dir, int port,
                          const char *tls_dir, const char *const *extra);
void cli_dev_stop_redis(pid_t pid);
int cli_dev_take_stop(void);

/* cli_dev_wait_redis: PING answered within 5s while the child pid lives.
 * The connection, or NULL (*exited set when the child is gone, *stopped
 * to the signal when SIGINT/SIGTERM came first). */
redisContext *cli_dev_wait_redis(const duro_redis_url *url, pid_t pid,
                                 int *exited, int *stopped);

#endif
