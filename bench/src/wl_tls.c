/* wl_tls.c: `duro-bench --tls`: the throughput workload once more with
 * every connection (driver, scheduler, workers) on rediss:// to a
 * TLS-only redis-server, and its ratio to the plain TCP run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

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
