/* config.h: the Redis URL and flag/environment lookup shared by programs. */
#ifndef DURO_CONFIG_H
#define DURO_CONFIG_H

#include <stddef.h>
#include "duro/export.h"

#define DURO_DEFAULT_REDIS_URL "redis://127.0.0.1:6379"

#define DURO_SENTINELS_MAX 8
#define DURO_CLUSTER_SEEDS_MAX 16

/* duro_redis_addr: one host and port. */
typedef struct {
    char host[256];
    int port;
} duro_redis_addr;

/* duro_redis_url: a parsed redis[s]://[user:password@]host[:port][/db], or
 * redis+sentinel://[user:password@]s1[:port],s2,...,sN/master[/db] (a
 * primary found through Sentinel: README, "Replicas, failover and ..."),
 * or redis+cluster://[user:password@]h1[:port],h2,... (seed nodes of a
 * Redis Cluster; rediss+cluster:// over TLS).
 * rediss:// (tls = 1) takes its TLS settings from the environment when the
 * URL is parsed:
 *   DURO_REDIS_TLS_CA           CA file or directory (default: the system's)
 *   DURO_REDIS_TLS_CERT, _KEY   a client certificate and its key (mutual TLS)
 *   DURO_REDIS_TLS_SERVER_NAME  the name the certificate must hold and that
 *                               is sent as SNI (default: the URL's host)
 *   DURO_REDIS_TLS_INSECURE=1   no certificate verification: development
 *                               only, warned about once per process (0
 *                               or 1; anything else is DURO_EINVAL).
 * Every URL also takes the replica-acknowledgement settings from the
 * environment (README, "Replicas, failover and ..."):
 *   DURO_REDIS_WAIT=N           every Function call that changes state is
 *                               followed by WAIT N <timeout>; fewer than N
 *                               replicas confirming turns its reply into a
 *                               NOREPLICAS error (0..64; default 0: no WAIT)
 *   DURO_REDIS_WAIT_TIMEOUT     how long WAIT waits (a duration, default 1s) */
typedef struct {
    char host[256]; /* redis+sentinel://: the master's, once resolved */
    int port;
    char user[128];
    char password[256];
    int db;
    int tls;
    int tls_insecure;
    char tls_ca[1024];
    char tls_cert[1024];
    char tls_key[1024];
    char tls_server_name[256];
    /* redis+sentinel://[user:password@]s1[:26379],s2,.../master[/db]: the
     * sentinels to ask for the master's address at every connect (host
     * and port above start as the first sentinel's); 0 for redis:// */
    int sentinels;
    duro_redis_addr sentinel[DURO_SENTINELS_MAX];
    char sentinel_master[128];
    /* redis+cluster://[user:password@]h1[:6379],h2,... (rediss+cluster://:
     * TLS): the nodes to ask for the slot map (host and port above are the
     * first seed's); 0 for the other schemes. cluster is 1 for a seed list
     * and set by a component that finds a redis:// URL's server to be a
     * cluster node (cluster.h). */
    int cluster;
    int seeds;
    duro_redis_addr seed[DURO_CLUSTER_SEEDS_MAX];
    int wait_replicas;   /* DURO_REDIS_WAIT: 0 = no WAIT after writes */
    int wait_timeout_ms; /* DURO_REDIS_WAIT_TIMEOUT */
} duro_redis_url;

#define DURO_REDIS_WAIT_MAX 64
#define DURO_REDIS_WAIT_TIMEOUT_MS 1000

/* duro_redis_url_parse: 0, or DURO_EINVAL with a reason in err (the URL
 * in it redacted). An empty or NULL url means DURO_DEFAULT_REDIS_URL.
 * "unix://" is not supported; "rediss://" is TLS (see duro_redis_url). When the
 * URL holds no password, one comes from $DURO_REDIS_PASSWORD_FILE (a file
 * holding it; one trailing newline is stripped) or else $DURO_REDIS_PASSWORD,
 * so that it need not be on a command line where `ps` shows it. Every component
 * parses its URL here. */
DURO_EXPORT int duro_redis_url_parse(const char *url, duro_redis_url *out,
                                     char *err, size_t errsize);

/* duro_redis_url_redact writes url into buf with its password replaced by
 * "***" (redis://user:***@host:6379/0), for messages. Returns buf. */
DURO_EXPORT char *duro_redis_url_redact(const char *url, char *buf,
                                        size_t size);

/* duro_env: the environment variable's value, or def when unset/empty. */
DURO_EXPORT const char *duro_env(const char *name, const char *def);

/* duro_redis_url_default: $DURO_REDIS_URL or DURO_DEFAULT_REDIS_URL. */
DURO_EXPORT const char *duro_redis_url_default(void);

#endif
