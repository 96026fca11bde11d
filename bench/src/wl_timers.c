/* wl_timers.c: the timers workload of duro-bench: many sleepers, and how
 * late their timers fire (docs/benchmarks.md). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "duro/history.h"
#include "duro/keys.h"
#include "duro/redis.h"
#include "duro/reply.h"

/* ---- 3. Timers ---- */

typedef struct {
    int lo_ms, hi_ms;
} sleep_range;

/* input_random_sleep: a sleep in [lo, hi] ms, a fixed function of i. */
static void input_random_sleep(int i, char *buf, size_t size, void *arg)
{
    const sleep_range *r = arg;
    uint64_t x = (uint64_t)i * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 29;
    int ms = r->lo_ms + (int)(x % (uint64_t)(r->hi_ms - r->lo_ms + 1));
    snprintf(buf, size, "{\"sleep\":\"%dms\"}", ms);
}

/* lateness_read: TimerFired.ts - (TimerStarted.ts + durationMs) of every
 * sleeper, from the histories. Returns how many were found. */
static int64_t redis_time_ms(bench *b)
{
    redisReply *r = bench_redis_cmd(b, "TIME");
    int64_t ms = 0;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2)
        ms = strtoll(r->element[0]->str, NULL, 10) * 1000 +
             strtoll(r->element[1]->str, NULL, 10) / 1000;
    freeReplyObject(r);
    return ms;
}

static int lateness_read(bench *b, bench_track *t, double *late,
                         int64_t *due_ms)
{
    int found = 0;
    const int batch = 500;
    for (int from = 0; from < t->n; from += batch) {
        int m = t->n - from < batch ? t->n - from : batch;
        for (int i = from; i < from + m; i++) {
            char id[128];
            snprintf(id, sizeof(id), "%s%d", t->prefix, i);
            duro_wf_keys k;
            duro_wf_keys_init(&k, &b->ks, id, t->run[i]);
            redisAppendCommand(b->rc, "LRANGE %s 0 -1", k.hist);
        }
        for (int i = from; i < from + m; i++) {
            void *v = NULL;
            if (redisGetReply(b->rc, &v) != REDIS_OK) return found;
            redisReply *r = v;
            int64_t due = -1, fired = -1;
            for (size_t e = 0; r->type == REDIS_REPLY_ARRAY && e < r->elements;
                 e++) {
                duro_event ev;
                char err[128];
                if (duro_event_decode_reply(r->element[e], (int64_t)e + 1, &ev,
                                            err, sizeof(err)))
                    continue;
                if (ev.type == DURO_EVENT_TIMER_STARTED) {
                    const cJSON *d = cJSON_GetObjectItem(ev.data, "durationMs");
                    if (cJSON_IsNumber(d))
                        due = ev.ts + (int64_t)d->valuedouble;
                } else if (ev.type == DURO_EVENT_TIMER_FIRED) {
                    fired = ev.ts;
                }
                duro_event_free(&ev);
            }
            if (due >= 0 && fired >= 0) {
                due_ms[found] = due;
                late[found++] = (double)(fired - due);
            }
            freeReplyObject(r);
        }
    }
    return found;
}

int bench_timers(bench *b, cJSON *out)
{
    int n = b->o.quick ? 1000 : 50000;
    sleep_range range = {1000, b->o.quick ? 3000 : 10000};
    int w = b->o.workers > 0 ? b->o.workers : 1;
    if (bench_procs_start(b, w, n + 10000) < 0) return -1;
    bench_track *t = bench_track_new("tm-", n);
    bench_track_use(t);
    double scpu0 = bench_proc_cpu_ms(b->sched_pid);
    int64_t t0 = bench_now_us();
    int rc = bench_start_many(b, t, 0, n, "sleeper", input_random_sleep, &range,
                              BENCH_WINDOW);
    double start_s = (double)(bench_now_us() - t0) / 1e6;
    int64_t start_end_ms = redis_time_ms(b);
    long long peak = 0;
    int64_t deadline = bench_now_us() + (range.hi_ms + 180000LL) * 1000;
    while (rc == 0 && bench_now_us() < deadline && !bench_stop_requested) {
        long long p = bench_timers_pending(b); /* twice a second: cheap */
        if (p > peak) peak = p;
        if (bench_track_wait(t, n, 500) >= n) break;
    }
    double all_s = (double)(bench_now_us() - t0) / 1e6;
    double scpu = bench_proc_cpu_ms(b->sched_pid) - scpu0;
    bench_track_use(NULL);
    if (rc == 0 && t->ndone < n) {
        fprintf(stderr, "duro-bench: timers: only %d of %d closed\n", t->ndone,
                n);
        b->failures++;
        rc = -1;
    }
    if (rc == 0 && bench_verify(b, t, n, "{\"woken\":false}") > 0) rc = -1;
    if (rc == 0) {
        double *late = calloc((size_t)n, sizeof(*late));
        double *later = calloc((size_t)n, sizeof(*later));
        int64_t *due = calloc((size_t)n, sizeof(*due));
        int found = lateness_read(b, t, late, due), nlater = 0;
        for (int i = 0; i < found; i++)
            if (due[i] > start_end_ms) later[nlater++] = late[i];
        double p99_after = bench_percentile(later, nlater, 0.99);
        free(later);
        free(due);
        if (found < n) {
            fprintf(stderr,
                    "duro-bench: timers: %d of %d histories lack "
                    "TimerStarted/TimerFired\n",
                    n - found, n);
            b->failures++;
            rc = -1;
        }
        double p50 = bench_percentile(late, found, 0.50);
        double p99 = bench_percentile(late, found, 0.99);
        double max = found ? late[found - 1] : 0;
        /* how lateness spreads: the scan interval (1 s) shows up here */
        static const int edges[] = {10, 50, 100, 500, 1000, 2000};
        int counts[7] = {0};
        for (int i = 0; i < found; i++) {
            int k = 0;
            while (k < 6 && late[i] >= edges[k])
                k++;
            counts[k]++;
        }
        free(late);
        cJSON *hist = cJSON_AddObjectToObject(out, "lateness_histogram_ms");
        char hline[256] = "";
        for (int k = 0; k < 7; k++) {
            char name[32];
            if (k == 0)
                snprintf(name, sizeof(name), "<%d", edges[0]);
            else if (k == 6)
                snprintf(name, sizeof(name), ">=%d", edges[5]);
            else
                snprintf(name, sizeof(name), "%d-%d", edges[k - 1], edges[k]);
            cJSON_AddNumberToObject(hist, name, counts[k]);
            size_t l = strlen(hline);
            snprintf(hline + l, sizeof(hline) - l, "%s%s: %d", k ? ", " : "",
                     name, counts[k]);
        }
        printf("timers: %d sleepers of %d-%d s (all started in %.1f s, peak "
               "%lld timers pending), W=%d: TimerFired lateness p50 %.0f ms "
               "p99 %.0f ms (target <= 50) max %.0f ms; scheduler CPU %.0f ms "
               "(%.1f us/timer); all closed after %.1f s; p99 of the %d "
               "timers due after the last start returned: %.0f ms\n",
               n, range.lo_ms / 1000, range.hi_ms / 1000, start_s, peak, w, p50,
               p99, max, scpu, scpu * 1000 / n, all_s, nlater, p99_after);
        printf("  lateness histogram (ms): %s\n", hline);
        cJSON_AddNumberToObject(out, "lateness_p99_after_start_phase_ms",
                                p99_after);
        cJSON_AddNumberToObject(out, "timers_due_after_start_phase", nlater);
        cJSON_AddNumberToObject(out, "workers", w);
        cJSON_AddNumberToObject(out, "workflows", n);
        cJSON_AddNumberToObject(out, "sleep_min_ms", range.lo_ms);
        cJSON_AddNumberToObject(out, "sleep_max_ms", range.hi_ms);
        cJSON_AddNumberToObject(out, "start_phase_s", start_s);
        cJSON_AddNumberToObject(out, "peak_pending_timers", (double)peak);
        cJSON_AddNumberToObject(out, "lateness_p50_ms", p50);
        cJSON_AddNumberToObject(out, "lateness_p99_ms", p99);
        cJSON_AddNumberToObject(out, "lateness_max_ms", max);
        cJSON_AddNumberToObject(out, "scheduler_cpu_ms", scpu);
        cJSON_AddNumberToObject(out, "total_s", all_s);
        bench_figure(b, "timer lateness p99", "ms", "<=", 50, p99);
        bench_figure(b, "timer lateness max", "ms", NULL, 0, max);
        bench_figure(b, "scheduler CPU (timers)", "ms", NULL, 0, scpu);
    }
    bench_procs_stop(b);
    bench_track_free(t);
    return rc;
}
