/* wl_memory.c: the replay and cache workloads of duro-bench: how long a
 * replay of a long history takes, and what cached runs cost (docs/
 * benchmarks.md). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "duro/history.h"
#include "duro/keys.h"
#include "duro/redis.h"
#include "duro/reply.h"

/* ---- 5a. Replay ---- */

/* query_ms: one "progress" query; checks the answer. -1 on failure. */
static double query_ms(bench *b, const char *id, int want_done)
{
    char *res = NULL;
    int64_t t0 = bench_now_us();
    int rc = duro_client_query(b->client, id, "progress", NULL, 30000, &res);
    double ms = (double)(bench_now_us() - t0) / 1000.0;
    if (rc < 0) {
        fprintf(stderr, "duro-bench: query %s: %s\n", id,
                duro_client_errstr(b->client));
        return -1;
    }
    cJSON *j = cJSON_Parse(res);
    const cJSON *d = cJSON_GetObjectItem(j, "done");
    bool ok = cJSON_IsNumber(d) && d->valueint == want_done;
    if (!ok)
        fprintf(stderr, "duro-bench: query %s answered %s, want done=%d\n", id,
                res, want_done);
    cJSON_Delete(j);
    free(res);
    return ok ? ms : -1;
}

int bench_replay(bench *b, cJSON *out)
{
    int acts = b->o.quick ? 333 : 3333, small = 1, q = 5;
    if (bench_procs_start(b, 1, 20000) < 0) return -1;
    bench_track *big = bench_track_new("rl-", 1);
    bench_track *tiny = bench_track_new("rs-", 1);
    bench_track_use(tiny);
    int rc = bench_start_many(b, tiny, 0, 1, "long", bench_input_activities,
                              &small, 1);
    if (rc == 0) rc = bench_wait_all(b, tiny, 30000, "replay (small)");
    bench_track_use(big);
    int64_t t0 = bench_now_us();
    if (rc == 0)
        rc = bench_start_many(b, big, 0, 1, "long", bench_input_activities,
                              &acts, 1);
    if (rc == 0) rc = bench_wait_all(b, big, 300000, "replay (build)");
    double build_s = (double)(bench_now_us() - t0) / 1e6;
    bench_track_use(NULL);
    bench_procs_stop(b);
    char want[64];
    snprintf(want, sizeof(want), "{\"done\":%d}", acts);
    if (rc == 0 && (bench_verify(b, big, 1, want) > 0 ||
                    bench_verify(b, tiny, 1, "{\"done\":1}") > 0))
        rc = -1;
    long long hlen = -1;
    if (rc == 0) {
        duro_wf_keys k;
        duro_wf_keys_init(&k, &b->ks, "rl-0", NULL);
        redisReply *r = bench_redis_cmd(b, "HGET %s hlen", k.wf);
        hlen =
            r && r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : -1;
        freeReplyObject(r);
        /* a fresh worker: its cache is empty, every query replays */
        rc = bench_procs_start_flush(b, 1, 20000, false);
    }
    double base[5], ms[5];
    for (int i = 0; i < q && rc == 0; i++) {
        base[i] = query_ms(b, "rs-0", small);
        if (base[i] < 0) rc = -1;
    }
    for (int i = 0; i < q && rc == 0; i++) {
        ms[i] = query_ms(b, "rl-0", acts);
        if (ms[i] < 0) rc = -1;
    }
    if (rc < 0) b->failures++;
    if (rc == 0) {
        double first = ms[0];
        double med = bench_percentile(ms, q, 0.5);
        double bmed = bench_percentile(base, q, 0.5);
        printf("replay: query on a closed %lld-event history (built in %.1f "
               "s) on a fresh worker: first %.1f ms, median of %d %.1f ms "
               "(target < 100); same query on a 6-event history %.2f ms\n",
               hlen, build_s, first, q, med, bmed);
        cJSON_AddNumberToObject(out, "history_events", (double)hlen);
        cJSON_AddNumberToObject(out, "build_s", build_s);
        cJSON_AddNumberToObject(out, "query_first_ms", first);
        cJSON_AddNumberToObject(out, "query_median_ms", med);
        cJSON_AddNumberToObject(out, "query_small_history_median_ms", bmed);
        char fig[64];
        snprintf(fig, sizeof(fig), "replay of %lld events", hlen);
        bench_figure(b, fig, "ms", "<", 100, med);
    }
    bench_procs_stop(b);
    bench_track_free(big);
    bench_track_free(tiny);
    return rc;
}

/* ---- 5b. Cache ---- */

int bench_cache(bench *b, cJSON *out)
{
    int n = b->o.quick ? 1000 : 10000;
    if (bench_procs_start(b, 1, n < 10000 ? 10000 : n + 1000) < 0) return -1;
    long base_kb = bench_proc_kb(b->worker_pids[0], "VmRSS:");
    bench_track *t = bench_track_new("c-", n);
    bench_track_use(t);
    int rc = bench_start_many(b, t, 0, n, "sleeper", bench_input_sleep, "1h",
                              BENCH_WINDOW);
    /* the first task of each committed: its timer is in the timers zsets */
    int64_t deadline = bench_now_us() + 180000000LL;
    long long pending = 0;
    while (rc == 0 && bench_now_us() < deadline && !bench_stop_requested) {
        pending = bench_timers_pending(b);
        if (pending >= n) break;
        bench_sleep_ms(200);
    }
    if (rc == 0 && pending < n) {
        fprintf(stderr, "duro-bench: cache: only %lld of %d timers started\n",
                pending, n);
        b->failures++;
        rc = -1;
    }
    bench_sleep_ms(300); /* let the last commits' replies land */
    long rss = bench_proc_kb(b->worker_pids[0], "VmRSS:");
    long hwm = bench_proc_kb(b->worker_pids[0], "VmHWM:");
    /* wake them all so that they complete (a signal cancels the timer) */
    for (int i = 0; i < n && rc == 0 && !bench_stop_requested; i++) {
        char id[64];
        snprintf(id, sizeof(id), "c-%d", i);
        if (duro_client_signal(b->client, id, "wake", NULL, NULL) < 0) {
            fprintf(stderr, "duro-bench: signal %s: %s\n", id,
                    duro_client_errstr(b->client));
            b->failures++;
            rc = -1;
        }
    }
    if (rc == 0) rc = bench_wait_all(b, t, 180000, "cache");
    bench_track_use(NULL);
    if (rc == 0 && bench_verify(b, t, n, "{\"woken\":true}") > 0) rc = -1;
    if (rc == 0 || rss > 0) {
        printf("cache: %d sleeper runs cached and blocked on a timer, 1 "
               "worker: RSS %.1f MB (target < 300; idle worker %.1f MB, "
               "%.1f KB per run), peak %.1f MB\n",
               n, (double)rss / 1024.0, (double)base_kb / 1024.0,
               (double)(rss - base_kb) / n, (double)hwm / 1024.0);
        cJSON_AddNumberToObject(out, "runs", n);
        cJSON_AddNumberToObject(out, "worker_rss_kb", (double)rss);
        cJSON_AddNumberToObject(out, "worker_idle_rss_kb", (double)base_kb);
        cJSON_AddNumberToObject(out, "kb_per_run", (double)(rss - base_kb) / n);
        cJSON_AddNumberToObject(out, "worker_peak_rss_kb", (double)hwm);
        char fig[64];
        snprintf(fig, sizeof(fig), "worker RSS, %d cached runs", n);
        bench_figure(b, fig, "MB", "<", 300, (double)rss / 1024.0);
    }
    bench_procs_stop(b);
    bench_track_free(t);
    return rc;
}
