/* connect.c: the driver's connections to its redis-server, plain or TLS,
 * and the arguments and certificates of a TLS-only server. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "duro/config.h"
#include "duro/redis.h"
#include "duro/tls_dev.h"

redisContext *bench_connect(bench *b, int timeout_ms)
{
    duro_redis_url u;
    char err[256];
    redisContext *c = NULL;
    if (duro_redis_url_parse(b->url, &u, err, sizeof(err)) == 0)
        duro_redis_open(&u, timeout_ms, &c, err, sizeof(err));
    return c;
}

int bench_tls_args(bench *b, const char *port, char **argv)
{
    /* static: the argv outlives this call */
    static char dir[PATH_MAX + 8], cert[PATH_MAX + 32], key[PATH_MAX + 32],
        ca[PATH_MAX + 32];
    char err[512];
    snprintf(dir, sizeof(dir), "%s/tls", b->tmpdir);
    if (duro__tls_dev_certs(dir, err, sizeof(err))) {
        fprintf(stderr, "duro-bench: %s\n", err);
        return -1;
    }
    snprintf(cert, sizeof(cert), "%s/server.crt", dir);
    snprintf(key, sizeof(key), "%s/server.key", dir);
    snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
    /* the driver and the processes it starts trust the generated CA */
    setenv("DURO_REDIS_TLS_CA", ca, 1);
    unsetenv("DURO_REDIS_TLS_CERT");
    unsetenv("DURO_REDIS_TLS_KEY");
    unsetenv("DURO_REDIS_TLS_SERVER_NAME");
    unsetenv("DURO_REDIS_TLS_INSECURE");
    char *tls[] = {"--tls-port",
                   (char *)port,
                   "--tls-cert-file",
                   cert,
                   "--tls-key-file",
                   key,
                   "--tls-ca-cert-file",
                   ca,
                   "--tls-auth-clients",
                   "no",
                   NULL};
    memcpy(argv, tls, sizeof(tls));
    return 0;
}
