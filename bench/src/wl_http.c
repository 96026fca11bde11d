/* wl_http.c: the "http" workload: workflows started and awaited through
 * `duro server` (POST start, GET result?wait=30s), beside the same through
 * the C client directly, at the same concurrency, so the figures show what
 * the HTTP layer adds.
 *
 * Each of HTTP_CONCURRENCY threads takes the next workflow number and runs
 * it to completion; the HTTP side opens one connection per request
 * (HTTP/1.0), as a simple client does. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

#define HTTP_CONCURRENCY 20
#define HTTP_ACTIVITIES 1

typedef struct {
    bench *b;
    bool http;
    int port, n;
    const char *prefix;
    atomic_int next;
    atomic_int bad;
    double *start_ms, *total_ms; /* per workflow */
} http_run;

/* ---- A minimal HTTP/1.0 exchange ---- */

/* http_call sends one request and reads the answer into buf; returns the
 * status, or -1. */
static int http_call(int port, const char *method, const char *path,
                     const char *body, char *buf, size_t size)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = 40};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char req[1024];
    int n = snprintf(req, sizeof(req),
                     "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: "
                     "%zu\r\n\r\n%s",
                     method, path, body ? strlen(body) : 0, body ? body : "");
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    size_t got = 0;
    ssize_t r;
    while (got + 1 < size && (r = read(fd, buf + got, size - got - 1)) > 0)
        got += (size_t)r;
    buf[got] = '\0';
    close(fd);
    const char *sp = strncmp(buf, "HTTP/", 5) == 0 ? strchr(buf, ' ') : NULL;
    return sp ? (int)strtol(sp + 1, NULL, 10) : -1;
}

/* ---- One workflow, either way ---- */

static bool one_http(http_run *w, const char *id, double *start_ms)
{
    char path[256], buf[8192], body[256];
    snprintf(path, sizeof(path), "/api/v1/namespaces/default/workflows/%s", id);
    snprintf(body, sizeof(body),
             "{\"workflowType\":\"bench\",\"taskQueue\":\"" BENCH_QUEUE
             "\",\"input\":{\"activities\":%d}}",
             HTTP_ACTIVITIES);
    int64_t t0 = bench_now_us();
    if (http_call(w->port, "POST", path, body, buf, sizeof(buf)) != 200)
        return false;
    *start_ms = (double)(bench_now_us() - t0) / 1000.0;
    snprintf(path + strlen(path), sizeof(path) - strlen(path),
             "/result?wait=30s");
    return http_call(w->port, "GET", path, NULL, buf, sizeof(buf)) == 200 &&
           strstr(buf, "\"COMPLETED\"") != NULL;
}

static bool one_direct(duro_client *c, const char *id, double *start_ms)
{
    char input[64], run[DURO_UUID_LEN + 1];
    snprintf(input, sizeof(input), "{\"activities\":%d}", HTTP_ACTIVITIES);
    duro_start_opts o = {0};
    o.workflow_id = id;
    o.type = "bench";
    o.task_queue = BENCH_QUEUE;
    o.input = input;
    int64_t t0 = bench_now_us();
    if (duro_client_start(c, &o, run) < 0) return false;
    *start_ms = (double)(bench_now_us() - t0) / 1000.0;
    cJSON *d = NULL;
    if (duro_client_result(c, id, 30000, &d) < 0) return false;
    const cJSON *st = cJSON_GetObjectItem(d, "status");
    bool ok = cJSON_IsString(st) && strcmp(st->valuestring, "COMPLETED") == 0;
    cJSON_Delete(d);
    return ok;
}

static void *runner(void *arg)
{
    http_run *w = arg;
    duro_client *c = NULL;
    char err[256];
    if (!w->http && duro_client_new(&c, w->b->url, err, sizeof(err)) < 0) {
        fprintf(stderr, "duro-bench: http: %s\n", err);
        atomic_fetch_add(&w->bad, 1);
        return NULL;
    }
    int i;
    while ((i = atomic_fetch_add(&w->next, 1)) < w->n &&
           !bench_stop_requested) {
        char id[64];
        snprintf(id, sizeof(id), "%s%d", w->prefix, i);
        int64_t t0 = bench_now_us();
        bool ok = w->http ? one_http(w, id, &w->start_ms[i])
                          : one_direct(c, id, &w->start_ms[i]);
        w->total_ms[i] = (double)(bench_now_us() - t0) / 1000.0;
        if (!ok) atomic_fetch_add(&w->bad, 1);
    }
    duro_client_free(c);
    return NULL;
}

/* run_side runs n workflows one way; fills the figures into out. */
static int run_side(bench *b, bool http, int port, int n, cJSON *out)
{
    http_run w = {.b = b, .http = http, .port = port, .n = n};
    w.prefix = http ? "http-" : "direct-";
    w.start_ms = calloc((size_t)n, sizeof(double));
    w.total_ms = calloc((size_t)n, sizeof(double));
    pthread_t th[HTTP_CONCURRENCY];
    int64_t t0 = bench_now_us();
    for (int i = 0; i < HTTP_CONCURRENCY; i++)
        pthread_create(&th[i], NULL, runner, &w);
    for (int i = 0; i < HTTP_CONCURRENCY; i++)
        pthread_join(th[i], NULL);
    double secs = (double)(bench_now_us() - t0) / 1e6;
    int bad = atomic_load(&w.bad);
    double rps = 2.0 * n / secs; /* a start and a result per workflow */
    double s50 = bench_percentile(w.start_ms, n, 0.50);
    double s99 = bench_percentile(w.start_ms, n, 0.99);
    double t50 = bench_percentile(w.total_ms, n, 0.50);
    double t99 = bench_percentile(w.total_ms, n, 0.99);
    printf("http: %-6s %d wf x %d act, concurrency %d: %.0f requests/s "
           "(%.0f wf/s), start p50 %.2f ms p99 %.2f ms, start-to-result "
           "p50 %.2f ms p99 %.2f ms%s\n",
           http ? "HTTP" : "direct", n, HTTP_ACTIVITIES, HTTP_CONCURRENCY, rps,
           n / secs, s50, s99, t50, t99, bad ? " (FAILURES)" : "");
    cJSON_AddNumberToObject(out, "requests_per_s", rps);
    cJSON_AddNumberToObject(out, "workflows_per_s", n / secs);
    cJSON_AddNumberToObject(out, "start_p50_ms", s50);
    cJSON_AddNumberToObject(out, "start_p99_ms", s99);
    cJSON_AddNumberToObject(out, "result_p50_ms", t50);
    cJSON_AddNumberToObject(out, "result_p99_ms", t99);
    cJSON_AddNumberToObject(out, "failures", bad);
    char fig[64];
    snprintf(fig, sizeof(fig), "%s requests/s", http ? "http" : "direct");
    bench_figure(b, fig, "req/s", NULL, 0, rps);
    snprintf(fig, sizeof(fig), "%s start p99", http ? "http" : "direct");
    bench_figure(b, fig, "ms", NULL, 0, s99);
    free(w.start_ms);
    free(w.total_ms);
    if (bad) {
        fprintf(stderr, "duro-bench: http: %d workflows failed (%s)\n", bad,
                http ? "HTTP" : "direct");
        b->failures += bad;
        return -1;
    }
    return 0;
}

/* start_server runs `duro server` on a free port; its port, or -1. */
static int start_server(bench *b, pid_t *pid)
{
    int port = bench_free_port();
    char path[PATH_MAX + 32], addr[32], buf[512];
    snprintf(path, sizeof(path), "%s/duro", b->bindir);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    char *argv[] = {path, "server", "--http", addr, NULL};
    *pid = bench_spawn(b, argv, "duro-server.log");
    if (*pid < 0) return -1;
    for (int i = 0; i < 250; i++) {
        if (http_call(port, "GET", "/healthz", NULL, buf, sizeof(buf)) == 200)
            return port;
        bench_sleep_ms(20);
    }
    fprintf(stderr, "duro-bench: http: duro server did not come up (see "
                    "duro-server.log)\n");
    return -1;
}

int bench_http(bench *b, cJSON *out)
{
    int n = b->o.quick ? 100 : 1000;
    if (bench_procs_start(b, 1, 20000) < 0) return -1;
    pid_t pid = 0;
    int port = start_server(b, &pid);
    int rc = port < 0 ? -1 : 0;
    if (rc == 0)
        rc =
            run_side(b, false, port, n, cJSON_AddObjectToObject(out, "direct"));
    if (rc == 0 && !bench_stop_requested)
        rc = run_side(b, true, port, n, cJSON_AddObjectToObject(out, "http"));
    if (pid > 0) bench_stop_pid(pid, 5000);
    bench_procs_stop(b);
    return rc;
}
