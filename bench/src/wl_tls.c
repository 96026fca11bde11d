/* wl_tls.c: `duro-bench --tls`: the throughput workload once more with
 * every connection (driver, scheduler, workers) on rediss:// to a
 * TLS-only redis-server, and its ratio to the plain TCP run. */
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

/* plain_wfs: workflows/s of the plain throughput run with w workers. */
static double plain_wfs(const cJSON *res, int w)
{
    const cJSON *o;
    cJSON_ArrayForEach(o, cJSON_GetObjectItem(res, "throughput"))
    {
        const cJSON *ow = cJSON_GetObjectItem(o, "workers");
        const cJSON *v = cJSON_GetObjectItem(o, "workflows_per_s");
        if (ow && v && (int)ow->valuedouble == w) return v->valuedouble;
    }
    return 0;
}

int bench_throughput_tls(bench *b, cJSON *res)
{
    int w = b->o.workers > 0 ? b->o.workers : 1;
    bench_subscriber_stop();
    bench_redis_stop(b);
    b->over_tls = true;
    b->tag = " TLS";
    if (bench_redis_start(b) < 0 || bench_subscriber_start(b) < 0) return -1;
    printf("# redis (TLS): %s\n", b->redis_cmd);
    cJSON *o = cJSON_AddObjectToObject(res, "throughput_tls");
    int rc = bench_throughput(b, w, o);
    const cJSON *tls = cJSON_GetObjectItem(o, "workflows_per_s");
    double plain = plain_wfs(res, w);
    if (rc == 0 && tls && plain > 0) {
        char fig[64];
        snprintf(fig, sizeof(fig), "throughput TLS / plain (W=%d)", w);
        printf("throughput W=%d: plain TCP %.0f wf/s, TLS %.0f wf/s: "
               "TLS / plain = %.2f\n",
               w, plain, tls->valuedouble, tls->valuedouble / plain);
        cJSON_AddNumberToObject(o, "ratio_to_plain", tls->valuedouble / plain);
        bench_figure(b, fig, "x", NULL, 0, tls->valuedouble / plain);
    }
    return rc;
}
