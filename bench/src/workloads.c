/* workloads.c: the processes every workload of duro-bench runs against,
 * and the throughput, latency and fan-out workloads (docs/benchmarks.md;
 * timers in wl_timers.c, replay and cache in wl_memory.c). Each
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

int bench_procs_start_flush(bench *b, int w, int cache_size, bool flush)
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
    char *wargv[] = {wpath,  "--cache-size", cache,    "--max-workflow-tasks",
                     maxwft, "--namespace",  b->ks.ns, NULL};
    snprintf(b->worker_cmd, sizeof(b->worker_cmd),
             "%s --cache-size %s --max-workflow-tasks %s --namespace %s", wpath,
             cache, maxwft, b->ks.ns);
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
    return bench_procs_start_flush(b, w, cache_size, true);
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

static double workers_ctxsw(bench *b)
{
    double sum = 0;
    for (int i = 0; i < b->nworkers; i++)
        sum += (double)bench_proc_ctxsw(b->worker_pids[i]);
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

void bench_input_activities(int i, char *buf, size_t size, void *arg)
{
    snprintf(buf, size, "{\"activities\":%d}", *(int *)arg);
}

void bench_input_sleep(int i, char *buf, size_t size, void *arg)
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

int bench_wait_all(bench *b, bench_track *t, int64_t timeout_ms,
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
    "hset",      "zrem",    "hmget", "hincrby",  "xadd",     "zadd",
    "del",       "publish", "hget",  "hdel",     "zscore",   "zrange",
    "xdel",      "xack",    "time",  "rpush",    "lrange",   "type",
    "xrevrange", "llen",    "xtrim", "xpending", "spublish", NULL};

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

/* io_figures prints (and adds to out) the load-independent figures of
 * how the clients talk to Redis, per workflow: a socket read that brings
 * fewer commands means less pipelining, an XREADGROUP more is a blocked
 * read's wake-up (and its re-arming) more, and redis-server's involuntary
 * context switches are the times it could have run on but lost its core
 * (its voluntary ones, the times it had nothing to do). */
static void io_figures(const bench_info *i0, const bench_info *i1, int n,
                       double proc_wf, long csw, long preempted, cJSON *out)
{
    double xrg = 0;
    for (int j = 0; j < i1->ncmds; j++) {
        if (strcmp(i1->cmd[j], "xreadgroup") != 0) continue;
        long long before = 0;
        for (int m = 0; m < i0->ncmds; m++)
            if (!strcmp(i0->cmd[m], "xreadgroup")) before = i0->cmd_calls[m];
        xrg = (double)(i1->cmd_calls[j] - before) / n;
    }
    double reads_wf = (double)(i1->reads - i0->reads) / n;
    double writes_wf = (double)(i1->writes - i0->writes) / n;
    printf("  redis per wf: %.2f socket reads, %.2f socket writes, %.1f "
           "client commands per read, %.3f XREADGROUP; redis-server %.3f "
           "context switches (%.3f preempted)\n",
           reads_wf, writes_wf, reads_wf > 0 ? proc_wf / reads_wf : 0, xrg,
           (double)csw / n, (double)preempted / n);
    cJSON_AddNumberToObject(out, "redis_reads_per_wf", reads_wf);
    cJSON_AddNumberToObject(out, "redis_writes_per_wf", writes_wf);
    cJSON_AddNumberToObject(out, "redis_xreadgroup_per_wf", xrg);
    cJSON_AddNumberToObject(out, "redis_ctxsw_per_wf", (double)csw / n);
    cJSON_AddNumberToObject(out, "redis_preempted_per_wf",
                            (double)preempted / n);
}

int bench_throughput(bench *b, int w, cJSON *out)
{
    int n = b->o.n > 0 ? b->o.n : b->o.quick ? 200 : 2000, acts = 3;
    if (bench_procs_start(b, w, 20000) < 0) return -1;
    char prefix[32];
    snprintf(prefix, sizeof(prefix), "tp%d-", w);
    bench_track *t = bench_track_new(prefix, n);
    bench_track_use(t);
    bench_info i0, i1;
    bench_info_read(b, &i0);
    double wcpu0 = workers_cpu_ms(b), scpu0 = bench_proc_cpu_ms(b->sched_pid);
    double wcsw0 = workers_ctxsw(b);
    long rinv0, rinv1, rcsw0 = bench_proc_ctxsw_of(b->redis_pid, &rinv0);

    int rc = bench_start_many(b, t, 0, n, "bench", bench_input_activities,
                              &acts, BENCH_WINDOW);
    int64_t started = bench_now_us();
    if (rc == 0)
        rc = bench_wait_all(b, t, b->o.quick ? 60000 : 180000, "throughput");
    bench_info_read(b, &i1);
    double wcpu = workers_cpu_ms(b) - wcpu0;
    double wcsw = workers_ctxsw(b) - wcsw0;
    long rcsw = bench_proc_ctxsw_of(b->redis_pid, &rinv1) - rcsw0;
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
            "throughput W=%d%s: %d wf x %d act in %.2f s: %.0f wf/s "
            "(target >= 2500) %.0f act/s (>= 7500); start-to-close p50 "
            "%.1f ms p99 %.1f ms (all started in %.2f s); redis %.3f ms "
            "CPU/wf (<= 0.15), %.1f cmds/wf (<= 16; of which >= %.1f sent by "
            "clients, the rest run inside FCALL), "
            "%.0f B mem/wf; worker peak RSS %.1f MB, worker CPU %.3f "
            "ms/wf (%.1f context switches/wf), scheduler CPU %.0f ms\n",
            w, b->tag, n, acts, wall, wfs, acts_s, p50, p99,
            (double)(started - t->start_us[0]) / 1e6, cpu_wf, calls_wf, proc_wf,
            mem_wf, (double)hwm / 1024.0, wcpu / n, wcsw / n, scpu);
        printf("  redis calls/wf by command: %s\n", top);
        io_figures(&i0, &i1, n, proc_wf, rcsw, rinv1 - rinv0, out);
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
        cJSON_AddNumberToObject(out, "worker_ctxsw_per_wf", wcsw / n);
        cJSON_AddNumberToObject(out, "scheduler_cpu_ms", scpu);
        char fig[64];
        snprintf(fig, sizeof(fig), "throughput W=%d%s wf/s", w, b->tag);
        bench_figure(b, fig, "wf/s", ">=", 2500, wfs);
        snprintf(fig, sizeof(fig), "throughput W=%d%s act/s", w, b->tag);
        bench_figure(b, fig, "act/s", ">=", 7500, acts_s);
        snprintf(fig, sizeof(fig), "redis CPU per wf (W=%d%s)", w, b->tag);
        bench_figure(b, fig, "ms", "<=", 0.15, cpu_wf);
        snprintf(fig, sizeof(fig), "redis commands per wf (W=%d%s)", w, b->tag);
        bench_figure(b, fig, "", "<=", 16, calls_wf);
        snprintf(fig, sizeof(fig), "redis client commands per wf (W=%d%s)", w,
                 b->tag);
        bench_figure(b, fig, "", NULL, 0, proc_wf);
        snprintf(fig, sizeof(fig), "redis memory per wf (W=%d%s)", w, b->tag);
        bench_figure(b, fig, "B", NULL, 0, mem_wf);
        snprintf(fig, sizeof(fig), "worker peak RSS (W=%d%s)", w, b->tag);
        bench_figure(b, fig, "MB", NULL, 0, (double)hwm / 1024.0);
    }
    if (rc == 0 && bench_verify(b, t, n, "{\"done\":3}") > 0) rc = -1;
    int nworkers = b->nworkers;
    bench_procs_stop(b);
    if (rc == 0) bench_cache_figures(b, nlog, nworkers, w, n, out);
    bench_track_free(t);
    return rc;
}

/* ---- 2. Latency ---- */

int bench_latency(bench *b, cJSON *out)
{
    int n = b->o.latency_n > 0 ? b->o.latency_n : b->o.quick ? 50 : 200;
    int warm = 10, acts = 3;
    int w = b->o.workers > 0 ? b->o.workers : 1;
    if (bench_procs_start(b, w, 20000) < 0) return -1;
    bench_track *t = bench_track_new("lat-", n + warm);
    bench_track_use(t);
    int rc = 0;
    bench_info i0 = {0}, i1;
    double wcsw0 = 0, wcpu0 = 0;
    for (int i = 0; i < n + warm && rc == 0; i++) {
        if (i == warm) { /* wake-ups and socket reads of the timed ones */
            bench_info_read(b, &i0);
            wcsw0 = workers_ctxsw(b);
            wcpu0 = workers_cpu_ms(b);
        }
        rc = bench_start_many(b, t, i, 1, "bench", bench_input_activities,
                              &acts, 1);
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
    double wcsw = (workers_ctxsw(b) - wcsw0) / n;
    double wcpu = (workers_cpu_ms(b) - wcpu0) / n;
    bench_info_read(b, &i1);
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
        /* load-independent: each context switch of a worker's thread is
         * a sleep and a wake-up; Redis's socket reads count the commands
         * that arrived apart (the bench driver's own INFO reads included) */
        double rd = (double)(i1.reads - i0.reads) / n;
        double wr = (double)(i1.writes - i0.writes) / n;
        printf("  per wf: worker %.1f context switches, %.3f ms CPU; redis "
               "%.1f socket reads, %.1f socket writes\n",
               wcsw, wcpu, rd, wr);
        cJSON_AddNumberToObject(out, "worker_cpu_ms_per_wf", wcpu);
        cJSON_AddNumberToObject(out, "worker_ctxsw_per_wf", wcsw);
        cJSON_AddNumberToObject(out, "redis_reads_per_wf", rd);
        cJSON_AddNumberToObject(out, "redis_writes_per_wf", wr);
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

/* ---- 4. Fan-out ---- */

int bench_fanout(bench *b, cJSON *out)
{
    int acts = b->o.quick ? 100 : 1000;
    int w = b->o.workers > 0 ? b->o.workers : 1;
    if (bench_procs_start(b, w, 20000) < 0) return -1;
    bench_track *t = bench_track_new("fan-", 1);
    bench_track_use(t);
    int rc = bench_start_many(b, t, 0, 1, "fanout", bench_input_activities,
                              &acts, 1);
    if (rc == 0) rc = bench_wait_all(b, t, 120000, "fanout");
    bench_track_use(NULL);
    if (rc == 0) {
        double ms = (double)(t->done_us[0] - t->start_us[0]) / 1000.0;
        redisReply *r = NULL;
        duro_wf_keys k;
        duro_wf_keys_init(&k, &b->ks, "fan-0", NULL);
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
