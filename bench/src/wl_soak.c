/* wl_soak.c: the retention soak (docs/benchmarks.md): N workflows of
 * three activities run through namespace "soak" with a retention of 10 s;
 * then the scheduler's sweep removes them. Redis used_memory after the
 * sweep must be within 10% of its value before the run (nothing stays
 * open here), and the sweep's cost is reported: the scheduler's CPU and
 * Redis' CPU from the last close until the closed indexes are empty. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "duro/errno.h"

#define SOAK_NS "soak"
#define SOAK_RETENTION_MS 10000

/* closed_left: the runs still in the namespace's vx:close indexes (every
 * closed run not yet swept), or -1. */
static long long closed_left(bench *b)
{
    for (int p = 0; p < b->partitions; p++) {
        char key[DURO_SHORT_KEY_MAX];
        duro_key_vx(key, sizeof(key), &b->ks, p, "close");
        redisAppendCommand(b->rc, "ZCARD %s", key);
    }
    long long sum = 0;
    for (int p = 0; p < b->partitions; p++) {
        void *v = NULL;
        if (redisGetReply(b->rc, &v) != REDIS_OK) return -1;
        redisReply *r = v;
        if (r->type == REDIS_REPLY_INTEGER) sum += r->integer;
        freeReplyObject(r);
    }
    return sum;
}

static long long dbsize(bench *b)
{
    redisReply *r = bench_redis_cmd(b, "DBSIZE");
    long long n = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return n;
}

/* use_soak switches the workloads' keyspace to the soak namespace (on)
 * or back to the one given on the command line. */
static void use_soak(bench *b, bool on)
{
    duro_keyspace_init(&b->ks,
                       on ? SOAK_NS : duro_namespace_default(b->o.namespace_),
                       b->partitions);
    b->retention_ms = on ? SOAK_RETENTION_MS : 0;
}

/* sweep_wait waits until the closed indexes are empty, at most the
 * retention plus timeout_ms; returns the runs left. */
static long long sweep_wait(bench *b, int64_t timeout_ms)
{
    int64_t deadline =
        bench_now_us() + (SOAK_RETENTION_MS + timeout_ms) * 1000LL;
    long long left = closed_left(b);
    while (left != 0 && bench_now_us() < deadline && !bench_stop_requested) {
        bench_sleep_ms(200);
        left = closed_left(b);
    }
    return left;
}

static int warm_up(bench *b)
{
    int n = 200, acts = 3;
    bench_track *t = bench_track_new("warm-", n);
    bench_track_use(t);
    int rc = bench_start_many(b, t, 0, n, "bench", bench_input_activities,
                              &acts, BENCH_WINDOW);
    if (rc == 0) rc = bench_wait_all(b, t, 60000, "soak warm-up");
    bench_track_use(NULL);
    bench_track_free(t);
    if (rc == 0 && sweep_wait(b, 60000) != 0) {
        fprintf(stderr, "duro-bench: soak: the warm-up was not swept\n");
        b->failures++;
        rc = -1;
    }
    bench_sleep_ms(300); /* the last requests settle */
    return rc;
}

int bench_soak(bench *b, cJSON *out)
{
    int n = b->o.soak_n > 0 ? b->o.soak_n : b->o.quick ? 500 : 100000;
    int acts = 3;
    if (bench_flush(b) < 0) return -1;
    int rc = duro_client_namespace_create(b->client, SOAK_NS, SOAK_RETENTION_MS,
                                          "retention soak");
    if (rc < 0) {
        fprintf(stderr, "duro-bench: soak: %s\n",
                duro_client_errstr(b->client));
        return -1;
    }
    use_soak(b, true);
    if (bench_procs_start_flush(b, 1, 20000, false) < 0) {
        use_soak(b, false);
        return -1;
    }
    /* "before" is taken warm: one small batch first, swept like the rest,
     * sizes Redis' fixed structures (about 0.4 MB whatever N is: stream
     * nodes, consumers, buffers), which would otherwise count as left over */
    rc = warm_up(b);
    bench_info i0, i1, i2;
    bench_info_read(b, &i0);
    long long keys0 = dbsize(b);
    double scpu0 = bench_proc_cpu_ms(b->sched_pid);
    bench_track *t = bench_track_new("soak-", n);
    bench_track_use(t);
    int64_t t0 = bench_now_us();
    if (rc == 0)
        rc = bench_start_many(b, t, 0, n, "bench", bench_input_activities,
                              &acts, BENCH_WINDOW);
    if (rc == 0) rc = bench_wait_all(b, t, 60000 + n * 10LL, "soak");
    bench_track_use(NULL);
    double run_s = (double)(bench_now_us() - t0) / 1e6;
    bench_info_read(b, &i1);
    double scpu1 = bench_proc_cpu_ms(b->sched_pid);
    int64_t t1 = bench_now_us();
    long long left = rc == 0 ? sweep_wait(b, 120000 + n) : -1;
    double sweep_s = (double)(bench_now_us() - t1) / 1e6;
    double scpu2 = bench_proc_cpu_ms(b->sched_pid);
    bench_sleep_ms(200);
    bench_info_read(b, &i2);
    long long keys2 = dbsize(b);
    bench_procs_stop(b);
    use_soak(b, false);
    bench_track_free(t);
    if (rc == 0 && left != 0) {
        fprintf(stderr, "duro-bench: soak: %lld runs not swept\n", left);
        b->failures++;
        rc = -1;
    }
    if (rc < 0) return -1;
    double before = (double)i0.used_memory, peak = (double)i1.used_memory;
    double after = (double)i2.used_memory;
    printf("%-12s n=%d run=%.1fs peak used_memory=%.1f MB, before %.2f MB, "
           "after sweep %.2f MB (%.1f%%); keys %lld -> %lld; sweep %.1fs "
           "after the last close: scheduler CPU %.0f ms (whole soak %.0f "
           "ms), Redis CPU %.0f ms\n",
           "soak", n, run_s, peak / 1e6, before / 1e6, after / 1e6,
           100.0 * after / before, keys0, keys2, sweep_s, scpu2 - scpu1,
           scpu2 - scpu0, i2.cpu_ms - i1.cpu_ms);
    cJSON_AddNumberToObject(out, "workflows", n);
    cJSON_AddNumberToObject(out, "retention_ms", SOAK_RETENTION_MS);
    cJSON_AddNumberToObject(out, "used_memory_before", before);
    cJSON_AddNumberToObject(out, "used_memory_peak", peak);
    cJSON_AddNumberToObject(out, "used_memory_after", after);
    cJSON_AddNumberToObject(out, "keys_before", (double)keys0);
    cJSON_AddNumberToObject(out, "keys_after", (double)keys2);
    cJSON_AddNumberToObject(out, "sweep_wait_s", sweep_s);
    cJSON_AddNumberToObject(out, "sweep_scheduler_cpu_ms", scpu2 - scpu1);
    cJSON_AddNumberToObject(out, "soak_scheduler_cpu_ms", scpu2 - scpu0);
    cJSON_AddNumberToObject(out, "sweep_redis_cpu_ms", i2.cpu_ms - i1.cpu_ms);
    bench_figure(b, "soak used_memory after / before", "x", "<=", 1.10,
                 after / before);
    return 0;
}
