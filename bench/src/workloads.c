/* workloads.c: the five workloads of duro-bench (docs/benchmarks.md). Each
 * runs against fresh scheduler and worker processes, prints one line, adds
 * its figures to the JSON document and verifies every workflow it started. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "duro/history.h"
#include "duro/keys.h"
#include "duro/redis.h"
#include "duro/reply.h"

#define WINDOW 256   /* pipelined starts in flight */
#define MAX_WFT 1024 /* --max-workflow-tasks of the workers */
#define READY_TIMEOUT_MS 15000

/* ---- Processes per workload ---- */

static int nlog;

/* wait_ready: the scheduler listens on duro:wake and every worker has its
 * two task readers blocked in XREADGROUP (Redis 7.0 lists a consumer in
 * the group only once it was served, so CLIENT LIST is the signal). */
static int wait_ready(bench *b, int w)
{
    int64_t deadline = bench_now_us() + (int64_t)READY_TIMEOUT_MS * 1000;
    while (bench_now_us() < deadline && !bench_stop_requested) {
        int readers = 0, sched = 0;
        redisReply *r = bench_redis_cmd(b, "CLIENT LIST TYPE normal");
        for (const char *p = r && r->type == REDIS_REPLY_STRING ? r->str : "";
             (p = strstr(p, "cmd=xreadgroup")); p++)
            readers++;
        freeReplyObject(r);
        r = bench_redis_cmd(b, "PUBSUB NUMSUB duro:wake");
        if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
            r->element[1]->type == REDIS_REPLY_INTEGER)
            sched = (int)r->element[1]->integer;
        freeReplyObject(r);
        if (readers >= 2 * w && sched >= 1) return 0;
        bench_sleep_ms(50);
    }
    fprintf(stderr,
            "duro-bench: workers/scheduler not ready after %d ms "
            "(logs in %s)\n",
            READY_TIMEOUT_MS, b->tmpdir);
    return -1;
}

static int procs_start(bench *b, int w, int cache_size, bool flush)
{
    if (flush && bench_flush(b) < 0) return -1;
    char path[PATH_MAX + 32], log[64];
    snprintf(path, sizeof(path), "%s/duro-scheduler", b->bindir);
    char *sargv[] = {path, NULL};
    snprintf(b->sched_cmd, sizeof(b->sched_cmd), "%s", path);
    snprintf(log, sizeof(log), "scheduler-%d.log", ++nlog);
    b->sched_pid = bench_spawn(b, sargv, log);
    if (b->sched_pid < 0) {
        b->sched_pid = 0;
        return -1;
    }
    char wpath[PATH_MAX + 32], cache[16], maxwft[16];
    snprintf(wpath, sizeof(wpath), "%s/bench-worker", b->bindir);
    snprintf(cache, sizeof(cache), "%d", cache_size);
    snprintf(maxwft, sizeof(maxwft), "%d", MAX_WFT);
    char *wargv[] = {
        wpath, "--cache-size", cache, "--max-workflow-tasks", maxwft, NULL};
    snprintf(b->worker_cmd, sizeof(b->worker_cmd),
             "%s --cache-size %s --max-workflow-tasks %s", wpath, cache,
             maxwft);
    b->nworkers = 0;
    for (int i = 0; i < w && i < BENCH_MAX_WORKERS; i++) {
        snprintf(log, sizeof(log), "worker-%d.%d.log", nlog, i);
        pid_t p = bench_spawn(b, wargv, log);
        if (p < 0) break;
        b->worker_pids[b->nworkers++] = p;
    }
    if (b->nworkers == w && wait_ready(b, w) == 0) return 0;
    bench_procs_stop(b);
    return -1;
}

int bench_procs_start(bench *b, int w, int cache_size)
{
    return procs_start(b, w, cache_size, true);
}

/* task_failures counts the WFT-FAIL lines (workflow tasks that failed and
 * were retried) in the logs of the current workload's workers. */
static long task_failures(bench *b)
{
    long n = 0;
    for (int i = 0; i < b->nworkers; i++) {
        char path[PATH_MAX + 64], line[1024];
        snprintf(path, sizeof(path), "%s/worker-%d.%d.log", b->tmpdir, nlog, i);
        FILE *f = fopen(path, "r");
        while (f && fgets(line, sizeof(line), f))
            if (strstr(line, " WFT-FAIL ")) n++;
        if (f) fclose(f);
    }
    return n;
}

void bench_procs_stop(bench *b)
{
    long fails = b->nworkers ? task_failures(b) : 0;
    if (fails > 0) {
        printf("  note: the workers logged %ld failed workflow tasks "
               "(WFT-FAIL, retried; see %s/worker-%d.*.log)\n",
               fails, b->tmpdir, nlog);
        b->task_failures += fails;
    }
    for (int i = 0; i < b->nworkers; i++)
        kill(b->worker_pids[i], SIGTERM); /* stop them together */
    for (int i = 0; i < b->nworkers; i++)
        bench_stop_pid(b->worker_pids[i], 15000);
    b->nworkers = 0;
    bench_stop_pid(b->sched_pid, 10000);
    b->sched_pid = 0;
}

static double workers_cpu_ms(bench *b)
{
    double sum = 0;
    for (int i = 0; i < b->nworkers; i++)
        sum += bench_proc_cpu_ms(b->worker_pids[i]);
    return sum;
}

static long workers_max_kb(bench *b, const char *field)
{
    long m = 0;
    for (int i = 0; i < b->nworkers; i++) {
        long kb = bench_proc_kb(b->worker_pids[i], field);
        if (kb > m) m = kb;
    }
    return m;
}

/* ---- Helpers ---- */

static void input_activities(int i, char *buf, size_t size, void *arg)
{
    snprintf(buf, size, "{\"activities\":%d}", *(int *)arg);
}

static void input_sleep(int i, char *buf, size_t size, void *arg)
{
    snprintf(buf, size, "{\"sleep\":\"%s\"}", (const char *)arg);
}

/* latencies_ms: done - start of workflows [from, from+n) in ms (malloc). */
static double *latencies_ms(bench_track *t, int from, int n)
{
    double *v = calloc((size_t)n + 1, sizeof(*v));
    for (int i = 0; i < n; i++)
        v[i] = (double)(t->done_us[from + i] - t->start_us[from + i]) / 1000.0;
    return v;
}

static int wait_all(bench *b, bench_track *t, int64_t timeout_ms,
                    const char *what)
{
    int got = bench_track_wait(t, t->n, timeout_ms);
    if (got < t->n) {
        fprintf(stderr,
                "duro-bench: %s: only %d of %d workflows closed "
                "within %lld s\n",
                what, got, t->n, (long long)(timeout_ms / 1000));
        b->failures++;
        return -1;
    }
    return 0;
}

/* ---- 1. Throughput ---- */

/* Commands the Functions library (common/lua/duro.lua) issues itself:
 * commandstats counts them as well as what clients send. */
static const char *lua_cmds[] = {
    "hset",    "zrem",  "hmget",  "hincrby", "xadd",      "zadd", "del",
    "publish", "hget",  "hdel",   "zscore",  "zrange",    "xdel", "xack",
    "time",    "rpush", "lrange", "type",    "xrevrange", NULL};

/* client_calls: calls of commands no Function issues (FCALL, XREADGROUP,
 * ...) between two INFO snapshots: a lower bound of the round trips
 * clients made, since clients may send the others too. */
static double client_calls(const bench_info *i0, const bench_info *i1)
{
    long long sum = 0;
    for (int j = 0; j < i1->ncmds; j++) {
        bool lua = false;
        for (int k = 0; lua_cmds[k]; k++)
            lua |= strcmp(i1->cmd[j], lua_cmds[k]) == 0;
        if (lua) continue;
        long long before = 0;
        for (int m = 0; m < i0->ncmds; m++)
            if (!strcmp(i0->cmd[m], i1->cmd[j])) before = i0->cmd_calls[m];
        sum += i1->cmd_calls[j] - before;
    }
    return (double)sum;
}

int bench_throughput(bench *b, int w, cJSON *out)
{
    int n = b->o.quick ? 200 : 2000, acts = 3;
    if (bench_procs_start(b, w, 20000) < 0) return -1;
    char prefix[32];
    snprintf(prefix, sizeof(prefix), "tp%d-", w);
    bench_track *t = bench_track_new(prefix, n);
    bench_track_use(t);
    bench_info i0, i1;
    bench_info_read(b, &i0);
    double wcpu0 = workers_cpu_ms(b), scpu0 = bench_proc_cpu_ms(b->sched_pid);

    int rc =
        bench_start_many(b, t, 0, n, "bench", input_activities, &acts, WINDOW);
    int64_t started = bench_now_us();
    if (rc == 0) rc = wait_all(b, t, b->o.quick ? 60000 : 180000, "throughput");
    bench_info_read(b, &i1);
    double wcpu = workers_cpu_ms(b) - wcpu0;
    double scpu = bench_proc_cpu_ms(b->sched_pid) - scpu0;
    long hwm = workers_max_kb(b, "VmHWM:");
    bench_track_use(NULL);
    if (rc == 0) {
        int64_t last = 0;
        for (int i = 0; i < n; i++)
            if (t->done_us[i] > last) last = t->done_us[i];
        double wall = (double)(last - t->start_us[0]) / 1e6;
        double *lat = latencies_ms(t, 0, n);
        double p50 = bench_percentile(lat, n, 0.50);
        double p99 = bench_percentile(lat, n, 0.99);
        free(lat);
        double wfs = n / wall, acts_s = n * acts / wall;
        double cpu_wf = (i1.cpu_ms - i0.cpu_ms) / n;
        double calls_wf = (double)(i1.calls - i0.calls) / n;
        double proc_wf = client_calls(&i0, &i1) / n;
        double mem_wf = (double)(i1.used_memory - i0.used_memory) / n;
        /* the busiest commands, by calls */
        char top[512] = "";
        cJSON *cmds = cJSON_CreateObject();
        bool used[128] = {0};
        for (int k = 0; k < 10; k++) {
            int best = -1;
            long long bd = 0;
            for (int j = 0; j < i1.ncmds; j++) {
                long long before = 0;
                for (int m = 0; m < i0.ncmds; m++)
                    if (!strcmp(i0.cmd[m], i1.cmd[j])) before = i0.cmd_calls[m];
                long long d = i1.cmd_calls[j] - before;
                if (k == 0 && d > 0)
                    cJSON_AddNumberToObject(cmds, i1.cmd[j], (double)d / n);
                if (!used[j] && d > bd) {
                    bd = d;
                    best = j;
                }
            }
            if (best < 0) break;
            used[best] = true;
            size_t l = strlen(top);
            snprintf(top + l, sizeof(top) - l, "%s%s %.1f", k ? ", " : "",
                     i1.cmd[best], (double)bd / n);
        }
        printf(
            "throughput W=%d: %d wf x %d act in %.2f s: %.0f wf/s "
            "(target >= 2500) %.0f act/s (>= 7500); start-to-close p50 "
            "%.1f ms p99 %.1f ms (all started in %.2f s); redis %.3f ms "
            "CPU/wf (<= 0.15), %.1f cmds/wf (<= 16; of which >= %.1f sent by "
            "clients, the rest run inside FCALL), "
            "%.0f B mem/wf; worker peak RSS %.1f MB, worker CPU %.3f "
            "ms/wf, scheduler CPU %.0f ms\n",
            w, n, acts, wall, wfs, acts_s, p50, p99,
            (double)(started - t->start_us[0]) / 1e6, cpu_wf, calls_wf, proc_wf,
            mem_wf, (double)hwm / 1024.0, wcpu / n, scpu);
        printf("  redis calls/wf by command: %s\n", top);
        cJSON_AddNumberToObject(out, "workers", w);
        cJSON_AddNumberToObject(out, "workflows", n);
        cJSON_AddNumberToObject(out, "activities_per_workflow", acts);
        cJSON_AddNumberToObject(out, "wall_s", wall);
        cJSON_AddNumberToObject(out, "workflows_per_s", wfs);
        cJSON_AddNumberToObject(out, "activities_per_s", acts_s);
        cJSON_AddNumberToObject(out, "latency_p50_ms", p50);
        cJSON_AddNumberToObject(out, "latency_p99_ms", p99);
        cJSON_AddNumberToObject(out, "start_phase_s",
                                (double)(started - t->start_us[0]) / 1e6);
        cJSON_AddNumberToObject(out, "redis_cpu_ms_per_wf", cpu_wf);
        cJSON_AddNumberToObject(out, "redis_calls_per_wf", calls_wf);
        cJSON_AddNumberToObject(out, "redis_client_commands_per_wf", proc_wf);
        cJSON_AddNumberToObject(out, "redis_commands_processed_per_wf",
                                (double)(i1.processed - i0.processed) / n);
        cJSON_AddItemToObject(out, "redis_calls_per_wf_by_command", cmds);
        cJSON_AddNumberToObject(out, "redis_memory_bytes_per_wf", mem_wf);
        cJSON_AddNumberToObject(out, "worker_peak_rss_kb", (double)hwm);
        cJSON_AddNumberToObject(out, "worker_cpu_ms_per_wf", wcpu / n);
        cJSON_AddNumberToObject(out, "scheduler_cpu_ms", scpu);
        char fig[64];
        snprintf(fig, sizeof(fig), "throughput W=%d wf/s", w);
        bench_figure(b, fig, "wf/s", ">=", 2500, wfs);
        snprintf(fig, sizeof(fig), "throughput W=%d act/s", w);
        bench_figure(b, fig, "act/s", ">=", 7500, acts_s);
        snprintf(fig, sizeof(fig), "redis CPU per wf (W=%d)", w);
        bench_figure(b, fig, "ms", "<=", 0.15, cpu_wf);
        snprintf(fig, sizeof(fig), "redis commands per wf (W=%d)", w);
        bench_figure(b, fig, "", "<=", 16, calls_wf);
        snprintf(fig, sizeof(fig), "redis client commands per wf (W=%d)", w);
        bench_figure(b, fig, "", NULL, 0, proc_wf);
        snprintf(fig, sizeof(fig), "redis memory per wf (W=%d)", w);
        bench_figure(b, fig, "B", NULL, 0, mem_wf);
        snprintf(fig, sizeof(fig), "worker peak RSS (W=%d)", w);
        bench_figure(b, fig, "MB", NULL, 0, (double)hwm / 1024.0);
    }
    if (rc == 0 && bench_verify(b, t, n, "{\"done\":3}") > 0) rc = -1;
    bench_procs_stop(b);
    bench_track_free(t);
    return rc;
}

/* ---- 2. Latency ---- */

int bench_latency(bench *b, cJSON *out)
{
    int n = b->o.quick ? 50 : 200, warm = 10, acts = 3;
    int w = b->o.workers > 0 ? b->o.workers : 1;
    if (bench_procs_start(b, w, 20000) < 0) return -1;
    bench_track *t = bench_track_new("lat-", n + warm);
    bench_track_use(t);
    int rc = 0;
    for (int i = 0; i < n + warm && rc == 0; i++) {
        rc = bench_start_many(b, t, i, 1, "bench", input_activities, &acts, 1);
        if (rc == 0 && bench_track_wait(t, i + 1, 10000) < i + 1) {
            fprintf(stderr,
                    "duro-bench: latency: workflow %d not closed "
                    "within 10 s\n",
                    i);
            b->failures++;
            rc = -1;
        }
    }
    bench_track_use(NULL);
    if (rc == 0) {
        double *lat = latencies_ms(t, warm, n);
        double p50 = bench_percentile(lat, n, 0.50);
        double p99 = bench_percentile(lat, n, 0.99);
        double max = lat[n - 1];
        free(lat);
        printf("latency: %d wf x %d act one at a time (after %d warm-up), "
               "W=%d: start-to-close p50 %.2f ms (target <= 2) p99 %.2f ms "
               "(<= 10) max %.2f ms\n",
               n, acts, warm, w, p50, p99, max);
        cJSON_AddNumberToObject(out, "workers", w);
        cJSON_AddNumberToObject(out, "workflows", n);
        cJSON_AddNumberToObject(out, "warmup", warm);
        cJSON_AddNumberToObject(out, "p50_ms", p50);
        cJSON_AddNumberToObject(out, "p99_ms", p99);
        cJSON_AddNumberToObject(out, "max_ms", max);
        bench_figure(b, "latency p50", "ms", "<=", 2, p50);
        bench_figure(b, "latency p99", "ms", "<=", 10, p99);
    }
    if (rc == 0 && bench_verify(b, t, n + warm, "{\"done\":3}") > 0) rc = -1;
    bench_procs_stop(b);
    bench_track_free(t);
    return rc;
}

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
            duro_wf_keys_init(&k, b->partitions, id, t->run[i]);
            redisAppendCommand(b->rc, "XRANGE %s - +", k.hist);
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
                if (duro_event_decode(r->element[e], &ev, err, sizeof(err)))
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
                              WINDOW);
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

/* ---- 4. Fan-out ---- */

int bench_fanout(bench *b, cJSON *out)
{
    int acts = b->o.quick ? 100 : 1000;
    int w = b->o.workers > 0 ? b->o.workers : 1;
    if (bench_procs_start(b, w, 20000) < 0) return -1;
    bench_track *t = bench_track_new("fan-", 1);
    bench_track_use(t);
    int rc = bench_start_many(b, t, 0, 1, "fanout", input_activities, &acts, 1);
    if (rc == 0) rc = wait_all(b, t, 120000, "fanout");
    bench_track_use(NULL);
    if (rc == 0) {
        double ms = (double)(t->done_us[0] - t->start_us[0]) / 1000.0;
        redisReply *r = NULL;
        duro_wf_keys k;
        duro_wf_keys_init(&k, b->partitions, "fan-0", NULL);
        r = bench_redis_cmd(b, "HGET %s hlen", k.wf);
        long long hlen;
        if (!duro__reply_int(r, &hlen)) hlen = -1;
        freeReplyObject(r);
        printf("fanout: 1 wf x %d activities (async + await_all), W=%d: "
               "%.0f ms start to close (%.0f act/s), %lld history events\n",
               acts, w, ms, acts / (ms / 1000.0), hlen);
        cJSON_AddNumberToObject(out, "workers", w);
        cJSON_AddNumberToObject(out, "activities", acts);
        cJSON_AddNumberToObject(out, "wall_ms", ms);
        cJSON_AddNumberToObject(out, "history_events", (double)hlen);
        bench_figure(b, "fan-out wall time", "ms", NULL, 0, ms);
    }
    char want[64];
    snprintf(want, sizeof(want), "{\"done\":%d}", acts);
    if (rc == 0 && bench_verify(b, t, 1, want) > 0) rc = -1;
    bench_procs_stop(b);
    bench_track_free(t);
    return rc;
}

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
    int rc =
        bench_start_many(b, tiny, 0, 1, "long", input_activities, &small, 1);
    if (rc == 0) rc = wait_all(b, tiny, 30000, "replay (small)");
    bench_track_use(big);
    int64_t t0 = bench_now_us();
    if (rc == 0)
        rc = bench_start_many(b, big, 0, 1, "long", input_activities, &acts, 1);
    if (rc == 0) rc = wait_all(b, big, 300000, "replay (build)");
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
        duro_wf_keys_init(&k, b->partitions, "rl-0", NULL);
        redisReply *r = bench_redis_cmd(b, "HGET %s hlen", k.wf);
        hlen =
            r && r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : -1;
        freeReplyObject(r);
        /* a fresh worker: its cache is empty, every query replays */
        rc = procs_start(b, 1, 20000, false);
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
    int rc = bench_start_many(b, t, 0, n, "sleeper", input_sleep, "1h", WINDOW);
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
    if (rc == 0) rc = wait_all(b, t, 180000, "cache");
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
