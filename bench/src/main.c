/* main.c: duro-bench: flags, the run of the workloads, the report. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "duro/reply.h"

static const char *workloads[] = {"throughput", "latency", "fanout", "replay",
                                  "cache",      "timers",  "soak",   "http"};
#define NWORKLOADS 7

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: duro-bench [options]\n"
        "\n"
        "Starts its own redis-server (appendonly yes, appendfsync\n"
        "everysec, then the words of $DURO_REDIS_ARGS, e.g.\n"
        "\"--stream-node-max-entries 16\" to measure a setting) on a\n"
        "free port, then per workload\n"
        "one duro-scheduler and W bench-worker processes (from this\n"
        "program's directory), runs the workload, verifies every\n"
        "workflow it started and prints one line per workload. Exits 1\n"
        "when a workflow did not complete with the expected result.\n"
        "\n"
        "Workloads: throughput, latency, fanout, replay, cache, timers,\n"
        "soak (docs/benchmarks.md).\n"
        "\n"
        "  --quick              small sizes (~30 s): checks that every\n"
        "                       workload completes, not how fast\n"
        "  --workers W[,W...]   worker processes (default: throughput\n"
        "                       runs W=1 and W=2, the others W=1); a\n"
        "                       list runs throughput once per W, the\n"
        "                       others with the first\n"
        "  --only LIST          comma-separated workloads to run\n"
        "  --json FILE          figures as JSON (default bench-results.json)\n"
        "  --redis-server PATH  redis-server to run (default: from PATH)\n"
        "  --keep               keep the temp dir (logs, AOF)\n"
        "  --n N                throughput workflows (default 2000)\n"
        "  --latency-n N        latency workflows (default 200)\n"
        "  --namespace NAME     namespace of the workloads (default\n"
        "                       $DURO_NAMESPACE, else default; the soak\n"
        "                       uses its own, \"soak\")\n"
        "  --soak-n N           workflows of the soak (default 100000,\n"
        "                       --quick 500)\n"
        "  --tls                throughput (alone unless --only) over plain\n"
        "                       TCP, then again on a TLS-only redis-server\n"
        "                       (generated CA, rediss://), and the ratio\n"
        "  -h, --help           this text\n");
}

static bool selected(const bench *b, const char *name)
{
    if (!b->o.only) return true;
    size_t n = strlen(name);
    for (const char *p = b->o.only; (p = strstr(p, name)); p += n)
        if ((p == b->o.only || p[-1] == ',') && (p[n] == 0 || p[n] == ','))
            return true;
    return false;
}

/* parse_count: a workflow count for --n and --latency-n. */
static int parse_count(const char *arg, int *out)
{
    char *end;
    long v = strtol(arg, &end, 10);
    if (*end || v < 1 || v > 1000000) {
        fprintf(stderr, "duro-bench: a count wants 1..1000000, not '%s'\n",
                arg);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int parse_opts(bench *b, int argc, char **argv)
{
    b->o.json_path = "bench-results.json";
    b->o.redis_server = "redis-server";
    static const struct option longs[] = {
        {"quick", no_argument, NULL, 'q'},
        {"workers", required_argument, NULL, 'w'},
        {"only", required_argument, NULL, 'o'},
        {"json", required_argument, NULL, 'j'},
        {"redis-server", required_argument, NULL, 'r'},
        {"keep", no_argument, NULL, 'k'},
        {"n", required_argument, NULL, 'N'},
        {"latency-n", required_argument, NULL, 'l'},
        {"namespace", required_argument, NULL, 'n'},
        {"soak-n", required_argument, NULL, 's'},
        {"tls", no_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case 'q':
            b->o.quick = true;
            break;
        case 'w':
            if (bench_workers_parse(&b->o, optarg) < 0) return -1;
            break;
        case 'o':
            b->o.only = optarg;
            break;
        case 'j':
            b->o.json_path = optarg;
            break;
        case 'r':
            b->o.redis_server = optarg;
            break;
        case 'k':
            b->o.keep = true;
            break;
        case 'N':
        case 'l':
            if (parse_count(optarg, c == 'N' ? &b->o.n : &b->o.latency_n) < 0)
                return -1;
            break;
        case 'n':
            if (duro_namespace_check(optarg, NULL, 0)) {
                fprintf(stderr, "duro-bench: bad namespace '%s'\n", optarg);
                return -1;
            }
            b->o.namespace_ = optarg;
            break;
        case 's': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 10000000) {
                fprintf(stderr, "duro-bench: --soak-n wants 1..10000000\n");
                return -1;
            }
            b->o.soak_n = (int)v;
            break;
        }
        case 't':
            b->o.tls = true;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "duro-bench: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (b->o.tls && !b->o.only) b->o.only = "throughput";
    if (b->o.only) {
        /* every name in the list must be a workload */
        char *copy = strdup(b->o.only), *save = NULL;
        for (char *tok = strtok_r(copy, ",", &save); tok;
             tok = strtok_r(NULL, ",", &save)) {
            bool known = false;
            for (int i = 0; i < NWORKLOADS; i++)
                known |= strcmp(tok, workloads[i]) == 0;
            if (!known) {
                fprintf(stderr, "duro-bench: unknown workload '%s'\n", tok);
                free(copy);
                return -1;
            }
        }
        free(copy);
    }
    size_t len = 0;
    for (int i = 0; i < argc && len < sizeof(b->cmdline) - 1; i++)
        len += (size_t)snprintf(b->cmdline + len, sizeof(b->cmdline) - len,
                                "%s%s", i ? " " : "", argv[i]);
    return 0;
}

/* ---- Reporting ---- */

static void print_summary(bench *b)
{
    printf("\n%-36s %-12s %-14s %s\n", "figure", "target", "measured",
           b->o.quick ? "(--quick: sizes too small to judge)" : "");
    const cJSON *row;
    cJSON_ArrayForEach(row, b->summary)
    {
        const cJSON *t = cJSON_GetObjectItem(row, "target");
        const cJSON *met = cJSON_GetObjectItem(row, "met");
        const char *unit = cJSON_GetObjectItem(row, "unit")->valuestring;
        double m = cJSON_GetObjectItem(row, "measured")->valuedouble;
        char tgt[64], meas[64];
        snprintf(tgt, sizeof(tgt), "%s%s%s", t ? t->valuestring : "-",
                 t && *unit ? " " : "", t ? unit : "");
        snprintf(meas, sizeof(meas), m >= 100 ? "%.0f %s" : "%.3g %s", m, unit);
        printf("%-36s %-12s %-14s %s\n",
               cJSON_GetObjectItem(row, "figure")->valuestring, tgt, meas,
               !met                ? ""
               : cJSON_IsTrue(met) ? "ok"
                                   : "MISSED");
    }
}

static void machine_info(bench *b, cJSON *m)
{
    char model[256] = "?", line[512];
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, "model name", 10)) {
            char *p = strchr(line, ':');
            if (p) snprintf(model, sizeof(model), "%s", p + 2);
            model[strcspn(model, "\n")] = 0;
            break;
        }
    if (f) fclose(f);
    struct utsname u;
    uname(&u);
    char version[64] = "?";
    redisReply *r = bench_redis_cmd(b, "INFO server");
    const char *info = duro__reply_str(r);
    const char *v = info ? strstr(info, "redis_version:") : NULL;
    if (v)
        snprintf(version, sizeof(version), "%.*s", (int)strcspn(v + 14, "\r\n"),
                 v + 14);
    freeReplyObject(r);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    printf("# machine: %ld cores (%s), %s %s, redis %s\n", cpus, model,
           u.sysname, u.release, version);
    cJSON_AddNumberToObject(m, "cores", (double)cpus);
    cJSON_AddStringToObject(m, "cpu", model);
    cJSON_AddStringToObject(m, "kernel", u.release);
    cJSON_AddStringToObject(m, "redis_version", version);
}

static int write_json(bench *b)
{
    char *s = cJSON_Print(b->json);
    FILE *f = fopen(b->o.json_path, "w");
    int rc = -1;
    if (f && s) {
        rc = fputs(s, f) < 0 ? -1 : 0;
        fputc('\n', f);
        if (fclose(f) != 0) rc = -1;
    } else if (f) {
        fclose(f);
    }
    if (rc < 0)
        fprintf(stderr, "duro-bench: cannot write %s\n", b->o.json_path);
    else
        printf("# figures written to %s\n", b->o.json_path);
    cJSON_free(s);
    return rc;
}

/* ---- Run ---- */

static int run_workloads(bench *b, cJSON *res)
{
    int rc = 0;
    if (selected(b, "throughput")) {
        cJSON *arr = cJSON_AddArrayToObject(res, "throughput");
        int ws[BENCH_MAX_WORKERS] = {1, 2}, nw = 2;
        if (b->o.nwlist > 0) {
            memcpy(ws, b->o.wlist, sizeof(ws));
            nw = b->o.nwlist;
        }
        for (int i = 0; i < nw && !bench_stop_requested; i++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddItemToArray(arr, o);
            if (bench_throughput(b, ws[i], o) < 0) rc = -1;
        }
        bench_throughput_ratios(b, arr);
    }
    static int (*const fns[])(bench *, cJSON *) = {
        NULL,        bench_latency, bench_fanout, bench_replay,
        bench_cache, bench_timers,  bench_soak,   bench_http};
    for (int i = 1; i < NWORKLOADS && !bench_stop_requested; i++) {
        if (!selected(b, workloads[i])) continue;
        cJSON *o = cJSON_AddObjectToObject(res, workloads[i]);
        fflush(stdout);
        if (fns[i](b, o) < 0) rc = -1;
        fflush(stdout);
    }
    return bench_stop_requested ? -1 : rc;
}

static bench B;

static void cleanup(void)
{
    bench_subscriber_stop();
    bench_kill_all();
    bench_redis_stop(&B);
    bench_tmpdir_remove(&B);
}

int main(int argc, char **argv)
{
    bench *b = &B;
    b->tag = "";
    if (parse_opts(b, argc, argv) < 0) return 2;
    ssize_t n = readlink("/proc/self/exe", b->bindir, sizeof(b->bindir) - 1);
    if (n <= 0) return 2;
    b->bindir[n] = 0;
    *strrchr(b->bindir, '/') = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    bench_signals_install();

    b->json = cJSON_CreateObject();
    b->summary = cJSON_CreateArray();
    printf("# command: %s\n", b->cmdline);
    int64_t t0 = bench_now_us();
    int rc = 0;
    if (bench_tmpdir_make(b) < 0 || bench_redis_start(b) < 0 ||
        bench_subscriber_start(b) < 0) {
        cleanup();
        return 2;
    }
    printf("# redis: %s\n", b->redis_cmd);
    printf("# scheduler: %s/duro-scheduler; workers: %s/bench-worker "
           "--cache-size C --max-workflow-tasks 1024 (DURO_REDIS_URL=%s)\n",
           b->bindir, b->bindir, b->url);
    cJSON *machine = cJSON_AddObjectToObject(b->json, "machine");
    machine_info(b, machine);
    cJSON_AddStringToObject(b->json, "command", b->cmdline);
    /* compare.mjs of --vs bullmq checks both peers ran these */
    cJSON_AddStringToObject(b->json, "redis_settings", b->redis_settings);
    cJSON_AddBoolToObject(b->json, "quick", b->o.quick);
    cJSON_AddBoolToObject(b->json, "payloadCodec", b->codec != NULL);
    if (b->codec)
        printf("# payloads encrypted with the keys of $DURO_CODEC_KEY_FILE\n");
    time_t now = time(NULL);
    char date[64];
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    cJSON_AddStringToObject(b->json, "date", date);
    cJSON *res = cJSON_AddObjectToObject(b->json, "workloads");

    if (run_workloads(b, res) < 0) rc = 1;
    if (b->o.tls && !bench_stop_requested && bench_throughput_tls(b, res) < 0)
        rc = 1;
    if (bench_stop_requested) fprintf(stderr, "duro-bench: interrupted\n");
    cleanup();

    print_summary(b);
    double total = (double)(bench_now_us() - t0) / 1e6;
    cJSON_AddItemToObject(b->json, "summary", b->summary);
    cJSON_AddNumberToObject(b->json, "verification_failures", b->failures);
    cJSON_AddNumberToObject(b->json, "worker_task_failures",
                            (double)b->task_failures);
    cJSON_AddBoolToObject(b->json, "ok", rc == 0 && b->failures == 0);
    cJSON_AddNumberToObject(b->json, "total_s", total);
    if (write_json(b) < 0) rc = 1;
    if (b->failures) rc = 1;
    printf("# %s in %.0f s: %s\n", rc == 0 ? "done" : "FAILED", total,
           rc == 0 ? "every workflow COMPLETED with the expected result"
                   : "see the errors above");
    cJSON_Delete(b->json);
    return rc;
}
