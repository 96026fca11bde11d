/* config.h: the Redis URL and flag/environment lookup shared by programs. */
#ifndef DURO_CONFIG_H
#define DURO_CONFIG_H

#include <stddef.h>
#include "duro/export.h"

#define DURO_DEFAULT_REDIS_URL "redis://127.0.0.1:6379"

/* duro_redis_url: a parsed redis://[user:password@]host[:port][/db]. */
typedef struct {
    char host[256];
    int port;
    char user[128];
    char password[256];
    int db;
} duro_redis_url;

/* duro_redis_url_parse: 0, or DURO_EINVAL with a reason in err. An empty
 * or NULL url means DURO_DEFAULT_REDIS_URL. "unix://" is not supported. */
DURO_EXPORT int duro_redis_url_parse(const char *url, duro_redis_url *out,
                                     char *err, size_t errsize);

/* duro_env: the environment variable's value, or def when unset/empty. */
DURO_EXPORT const char *duro_env(const char *name, const char *def);

/* duro_redis_url_default: $DURO_REDIS_URL or DURO_DEFAULT_REDIS_URL. */
DURO_EXPORT const char *duro_redis_url_default(void);

#endif
