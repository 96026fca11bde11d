/* redis.c: the driver's redis-server, INFO figures, pipelined starts, the
 * close-channel subscriber and the final verification. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "duro/fcall.h"
#include "duro/history.h"
#include "duro/keys.h"
#include "duro/redis.h"
#include "duro/reply.h"

#define CMD_TIMEOUT_MS 30000

/* ---- redis-server ---- */

/* settings_args appends the words of $DURO_REDIS_ARGS (redis-server
 * arguments split on blanks, e.g. "--stream-node-max-entries 16", to
 * measure a server setting; Redis' defaults otherwise), at argv[*argc],
 * at most up to argv[max - 1], and to settings, the line the report
 * shows. chain.mjs of --vs bullmq adds the same, so both peers run the
 * same server. 0, or -1 when too many. */
static int settings_args(char **argv, int *argc, int max, char *settings,
                         size_t size)
{
    static char words[1024]; /* static: the argv outlives this call */
    const char *env = getenv("DURO_REDIS_ARGS");
    snprintf(words, sizeof(words), "%s", env ? env : "");
    settings[0] = '\0';
    char *save = NULL;
    for (char *w = strtok_r(words, " \t\n", &save); w;
         w = strtok_r(NULL, " \t\n", &save)) {
        if (*argc >= max - 1) {
            fprintf(stderr, "duro-bench: too many words in DURO_REDIS_ARGS\n");
            return -1;
        }
        argv[(*argc)++] = w;
        size_t l = strlen(settings);
        snprintf(settings + l, size - l, "%s%s", l ? " " : "", w);
    }
    argv[*argc] = NULL;
    return 0;
}

int bench_redis_start(bench *b)
{
    b->port = bench_free_port();
    if (b->port <= 0) {
        fprintf(stderr, "duro-bench: no free port\n");
        return -1;
    }
    snprintf(b->url, sizeof(b->url), "%s://127.0.0.1:%d",
             b->over_tls ? "rediss" : "redis", b->port);
    char port[16];
    snprintf(port, sizeof(port), "%d", b->port);
    char *argv[64] = {(char *)b->o.redis_server,
                      "--port",
                      port,
                      "--bind",
                      "127.0.0.1",
                      "--dir",
                      b->tmpdir,
                      "--appendonly",
                      "yes",
                      "--appendfsync",
                      "everysec",
                      "--save",
                      "",
                      "--daemonize",
                      "no",
                      "--protected-mode",
                      "no",
                      NULL};
    if (b->over_tls) { /* TLS only: --port 0 --tls-port <port> ... */
        argv[2] = "0";
        if (bench_tls_args(b, port, argv + 17) < 0) return -1;
    }
    snprintf(b->redis_cmd, sizeof(b->redis_cmd),
             "%s --port %d --bind 127.0.0.1 --dir %s --appendonly yes "
             "--appendfsync everysec --save ''",
             b->o.redis_server, b->port, b->tmpdir);
    int argc = 17;
    while (argv[argc])
        argc++;
    if (settings_args(argv, &argc, 64, b->redis_settings,
                      sizeof(b->redis_settings)) < 0)
        return -1;
    size_t l = strlen(b->redis_cmd);
    if (b->redis_settings[0])
        snprintf(b->redis_cmd + l, sizeof(b->redis_cmd) - l, " %s",
                 b->redis_settings);
    if (b->over_tls) {
        l = strlen(b->redis_cmd);
        snprintf(b->redis_cmd + l, sizeof(b->redis_cmd) - l,
                 " (TLS only: --port 0 --tls-port %d, certificates in %s/tls)",
                 b->port, b->tmpdir);
    }
    b->redis_pid = bench_spawn(b, argv, "redis.log");
    if (b->redis_pid < 0) return -1;
    for (int i = 0; i < 100 && !bench_stop_requested; i++) { /* 5 s */
        bench_sleep_ms(50);
        redisContext *c = bench_connect(b, 1000);
        if (c && !c->err) {
            redisReply *r = redisCommand(c, "PING");
            bool up = r && r->type == REDIS_REPLY_STATUS;
            freeReplyObject(r);
            if (up) {
                struct timeval ct = {CMD_TIMEOUT_MS / 1000, 0};
                redisSetTimeout(c, ct);
                b->rc = c;
                char err[256];
                /* The bench owns this Redis and sets up its namespace
                 * before any worker runs: give the layout, as a deployment
                 * does (a client given none waits for a worker). */
                setenv("DURO_PARTITIONS", "16", 0);
                if (duro_client_new(&b->client, b->url, err, sizeof(err)) < 0 ||
                    duro_codec_aes_from_env(&b->codec, err, sizeof(err)) < 0) {
                    fprintf(stderr, "duro-bench: client: %s\n", err);
                    return -1;
                }
                /* the workers read the same variable */
                duro_client_set_codec(b->client, b->codec);
                b->partitions = duro_client_partitions(b->client);
                duro_keyspace_init(&b->ks,
                                   duro_namespace_default(b->o.namespace_),
                                   b->partitions);
                return 0;
            }
        }
        if (c) redisFree(c);
    }
    fprintf(stderr,
            "duro-bench: redis-server did not come up on port %d "
            "(see %s/redis.log)\n",
            b->port, b->tmpdir);
    return -1;
}

void bench_redis_stop(bench *b)
{
    if (b->client) duro_client_free(b->client);
    b->client = NULL;
    duro_codec_aes_free(b->codec);
    b->codec = NULL;
    if (b->rc) redisFree(b->rc);
    b->rc = NULL;
    bench_stop_pid(b->redis_pid, 10000);
    b->redis_pid = 0;
}

redisReply *bench_redis_cmd(bench *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(b->rc, fmt, ap);
    va_end(ap);
    if (!r) {
        fprintf(stderr, "duro-bench: redis: %s\n", b->rc->errstr);
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "duro-bench: redis: %s\n", r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

int bench_flush(bench *b)
{
    redisReply *r = bench_redis_cmd(b, "FLUSHALL SYNC");
    freeReplyObject(r);
    if (!r) return -1;
    /* the workers refuse an unregistered namespace: --namespace's is
     * registered again after each flush */
    const char *ns = duro_namespace_default(b->o.namespace_);
    if (strcmp(ns, DURO_DEFAULT_NAMESPACE) != 0 &&
        duro_client_namespace_create(b->client, ns, 0, "duro-bench") < 0) {
        fprintf(stderr, "duro-bench: namespace %s: %s\n", ns,
                duro_client_errstr(b->client));
        return -1;
    }
    return 0;
}

/* ---- INFO ---- */

static const char *info_field(const char *s, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = s; (p = strstr(p, name)); p += n)
        if ((p == s || p[-1] == '\n') && p[n] == ':') return p + n + 1;
    return NULL;
}

int bench_info_read(bench *b, bench_info *out)
{
    memset(out, 0, sizeof(*out));
    redisReply *r = bench_redis_cmd(b, "INFO everything");
    if (!duro__reply_str(r)) {
        freeReplyObject(r);
        return -1;
    }
    const char *s = r->str, *v;
    if ((v = info_field(s, "used_cpu_sys")))
        out->cpu_ms += strtod(v, NULL) * 1000;
    if ((v = info_field(s, "used_cpu_user")))
        out->cpu_ms += strtod(v, NULL) * 1000;
    if ((v = info_field(s, "total_commands_processed")))
        out->processed = strtoll(v, NULL, 10);
    if ((v = info_field(s, "total_reads_processed")))
        out->reads = strtoll(v, NULL, 10);
    if ((v = info_field(s, "total_writes_processed")))
        out->writes = strtoll(v, NULL, 10);
    if ((v = info_field(s, "used_memory")))
        out->used_memory = strtoll(v, NULL, 10);
    for (const char *p = s; (p = strstr(p, "\ncmdstat_")); p++) {
        const char *name = p + 9;
        const char *colon = strchr(name, ':');
        const char *calls = colon ? strstr(colon, "calls=") : NULL;
        if (!calls) break;
        long long n = strtoll(calls + 6, NULL, 10);
        out->calls += n;
        if (out->ncmds < 128) {
            int len = (int)(colon - name);
            snprintf(out->cmd[out->ncmds], sizeof(out->cmd[0]), "%.*s",
                     len < 31 ? len : 31, name);
            out->cmd_calls[out->ncmds++] = n;
        }
    }
    freeReplyObject(r);
    return 0;
}

/* ---- Completions: the subscriber thread ---- */

static struct {
    pthread_t thread;
    bool running;
    volatile bool stop;
    redisContext *c;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bench_track *t;
} sub = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

bench_track *bench_track_new(const char *prefix, int n)
{
    bench_track *t = calloc(1, sizeof(*t));
    snprintf(t->prefix, sizeof(t->prefix), "%s", prefix);
    t->n = n;
    t->start_us = calloc((size_t)n + 1, sizeof(*t->start_us));
    t->done_us = calloc((size_t)n + 1, sizeof(*t->done_us));
    t->run = calloc((size_t)n + 1, sizeof(*t->run));
    if (!t->start_us || !t->done_us || !t->run) abort();
    return t;
}

void bench_track_free(bench_track *t)
{
    if (!t) return;
    free(t->start_us);
    free(t->done_us);
    free(t->run);
    free(t);
}

void bench_track_use(bench_track *t)
{
    pthread_mutex_lock(&sub.mu);
    sub.t = t;
    pthread_mutex_unlock(&sub.mu);
}

static void on_closed(const char *id, int64_t now)
{
    pthread_mutex_lock(&sub.mu);
    bench_track *t = sub.t;
    size_t plen = t ? strlen(t->prefix) : 0;
    if (t && strncmp(id, t->prefix, plen) == 0) {
        char *end;
        long i = strtol(id + plen, &end, 10);
        if (!*end && i >= 0 && i < t->n && t->done_us[i] == 0) {
            t->done_us[i] = now;
            t->ndone++;
            pthread_cond_broadcast(&sub.cv);
        }
    }
    pthread_mutex_unlock(&sub.mu);
}

static void *sub_main(void *arg)
{
    redisContext *c = sub.c;
    while (!sub.stop) {
        void *reply = NULL;
        if (redisGetReplyFromReader(c, &reply) != REDIS_OK) break;
        if (!reply) {
            struct pollfd p = {.fd = c->fd, .events = POLLIN};
            int n = poll(&p, 1, 100);
            if (n < 0 && errno != EINTR) break;
            if (n > 0 && redisBufferRead(c) != REDIS_OK) break;
            continue;
        }
        int64_t now = bench_now_us();
        redisReply *r = reply;
        /* ["pmessage", pattern, channel, id] */
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 4 &&
            r->element[3]->type == REDIS_REPLY_STRING)
            on_closed(r->element[3]->str, now);
        freeReplyObject(r);
    }
    if (!sub.stop)
        fprintf(stderr, "duro-bench: subscriber lost: %s\n", c->errstr);
    return NULL;
}

int bench_subscriber_start(bench *b)
{
    sub.c = bench_connect(b, 5000);
    if (!sub.c || sub.c->err) {
        fprintf(stderr, "duro-bench: subscriber connect failed\n");
        return -1;
    }
    /* The confirmation comes back before any message: subscribed from now. */
    /* every namespace's close notices: duro:closed:{pN} (default) and
     * duro:ns:<name>:closed:{pN} */
    redisReply *r =
        redisCommand(sub.c, "PSUBSCRIBE duro:closed:* duro:ns:*:closed:*");
    bool ok = r && r->type == REDIS_REPLY_ARRAY;
    freeReplyObject(r);
    r = NULL;
    ok = ok && redisGetReply(sub.c, (void **)&r) == REDIS_OK && r &&
         r->type == REDIS_REPLY_ARRAY;
    freeReplyObject(r);
    if (!ok) {
        fprintf(stderr, "duro-bench: PSUBSCRIBE failed\n");
        return -1;
    }
    sub.stop = false;
    if (pthread_create(&sub.thread, NULL, sub_main, NULL) != 0) return -1;
    sub.running = true;
    return 0;
}

void bench_subscriber_stop(void)
{
    if (sub.running) {
        sub.stop = true;
        pthread_join(sub.thread, NULL);
        sub.running = false;
    }
    if (sub.c) redisFree(sub.c);
    sub.c = NULL;
}

int bench_track_wait(bench_track *t, int want, int64_t timeout_ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    int64_t ns = dl.tv_nsec + (timeout_ms % 1000) * 1000000;
    dl.tv_sec += timeout_ms / 1000 + ns / 1000000000;
    dl.tv_nsec = ns % 1000000000;
    pthread_mutex_lock(&sub.mu);
    while (t->ndone < want && !bench_stop_requested) {
        /* wake every 200 ms to notice a ^C */
        struct timespec now, step;
        clock_gettime(CLOCK_REALTIME, &now);
        if (now.tv_sec > dl.tv_sec ||
            (now.tv_sec == dl.tv_sec && now.tv_nsec >= dl.tv_nsec))
            break;
        step = now;
        step.tv_nsec += 200000000;
        if (step.tv_nsec >= 1000000000) {
            step.tv_sec++;
            step.tv_nsec -= 1000000000;
        }
        if (step.tv_sec > dl.tv_sec ||
            (step.tv_sec == dl.tv_sec && step.tv_nsec > dl.tv_nsec))
            step = dl;
        pthread_cond_timedwait(&sub.cv, &sub.mu, &step);
    }
    int n = t->ndone;
    pthread_mutex_unlock(&sub.mu);
    return n;
}

/* ---- Starting ---- */

/* start_argv builds FCALL duro_start for workflow i of t, as
 * duro_client_start does (duro_fcall_start), with a fresh run id. The argv
 * borrows k, id, data, type and input. */
static void start_argv(bench *b, bench_track *t, int i, const char *type,
                       const char *input, duro_argv *a, duro_wf_keys *k,
                       char *id, size_t idsize, char *data, size_t datasize)
{
    snprintf(id, idsize, "%s%d", t->prefix, i);
    duro_uuid_v4(t->run[i]);
    snprintf(data, datasize,
             "{\"type\":\"%s\",\"taskQueue\":\"%s\",\"input\":%s,"
             "\"runId\":\"%s\",\"executionTimeoutMs\":0}",
             type, BENCH_QUEUE, input, t->run[i]);
    duro_wf_keys_init(k, &b->ks, id, t->run[i]);
    duro_wf_keys_queues(k, BENCH_QUEUE, NULL);
    duro_fcall_start_args s = {.id = id,
                               .run = t->run[i],
                               .type = type,
                               .queue = BENCH_QUEUE,
                               .input = input,
                               .started_data = data,
                               .exec_timeout_ms = 0,
                               .wft_timeout_ms = DURO_DEFAULT_TASK_TIMEOUT_MS,
                               .retention_ms = b->retention_ms};
    duro_fcall_start(a, k, &s, NULL, NULL);
}

static int read_start_reply(bench *b)
{
    void *v = NULL;
    if (redisGetReply(b->rc, &v) != REDIS_OK) {
        fprintf(stderr, "duro-bench: start: %s\n", b->rc->errstr);
        return -1;
    }
    redisReply *r = v;
    int rc = 0;
    if (r->type != REDIS_REPLY_STRING) {
        fprintf(stderr, "duro-bench: start failed: %s\n",
                r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        rc = -1;
    }
    freeReplyObject(r);
    return rc;
}

int bench_start_many(bench *b, bench_track *t, int from, int n,
                     const char *type, bench_input_fn input, void *arg,
                     int window)
{
    int inflight = 0, rc = 0;
    char in[512], id[128], data[2048], err[256];
    for (int i = from; i < from + n && rc == 0 && !bench_stop_requested; i++) {
        input(i, in, sizeof(in), arg);
        char *sealed = NULL; /* as duro_client_start encodes it */
        if (duro_codec_encode(b->codec, in, &sealed, err, sizeof(err)) < 0) {
            fprintf(stderr, "duro-bench: start: %s\n", err);
            rc = -1;
            break;
        }
        duro_argv a;
        duro_wf_keys k;
        start_argv(b, t, i, type, sealed, &a, &k, id, sizeof(id), data,
                   sizeof(data));
        t->start_us[i] = bench_now_us();
        if (redisAppendCommandArgv(b->rc, a.argc, a.argv, a.lens) != REDIS_OK)
            rc = -1;
        duro_argv_free(&a);
        free(sealed);
        if (++inflight >= window || i == from + n - 1) {
            /* flush now so that start_us is close to the send time */
            int done = 0;
            while (!done)
                if (redisBufferWrite(b->rc, &done) != REDIS_OK) {
                    rc = -1;
                    break;
                }
        }
        while (rc == 0 && inflight >= window) {
            rc = read_start_reply(b);
            inflight--;
        }
    }
    while (inflight-- > 0)
        if (read_start_reply(b) < 0) rc = -1;
    return bench_stop_requested ? -1 : rc;
}

/* ---- Verification ---- */

int bench_verify(bench *b, bench_track *t, int n, const char *want)
{
    cJSON *wantj = cJSON_Parse(want);
    int bad = 0, shown = 0;
    const int batch = 1000;
    for (int from = 0; from < n; from += batch) {
        int m = n - from < batch ? n - from : batch;
        for (int i = from; i < from + m; i++) {
            char id[128];
            snprintf(id, sizeof(id), "%s%d", t->prefix, i);
            duro_wf_keys k;
            duro_wf_keys_init(&k, &b->ks, id, NULL);
            redisAppendCommand(b->rc, "HMGET %s status result run", k.wf);
        }
        for (int i = from; i < from + m; i++) {
            void *v = NULL;
            if (redisGetReply(b->rc, &v) != REDIS_OK) {
                fprintf(stderr, "duro-bench: verify: %s\n", b->rc->errstr);
                cJSON_Delete(wantj);
                return n;
            }
            redisReply *r = v;
            const char *status = "?", *result = "";
            if (r->type == REDIS_REPLY_ARRAY && r->elements == 3) {
                if (duro__reply_str(r->element[0])) status = r->element[0]->str;
                if (duro__reply_str(r->element[1])) result = r->element[1]->str;
            }
            cJSON *got = NULL;
            char why[256];
            duro_codec_parse(b->codec, result, strlen(result) + 1, &got, why,
                             sizeof(why));
            bool ok = strcmp(status, "COMPLETED") == 0 && got &&
                      cJSON_Compare(got, wantj, 1);
            cJSON_Delete(got);
            if (!ok) {
                bad++;
                if (shown++ < 5)
                    fprintf(stderr,
                            "duro-bench: VERIFY FAILED wf=%s%d status=%s "
                            "result=%.200s want=%s\n",
                            t->prefix, i, status, result, want);
            }
            freeReplyObject(r);
        }
    }
    cJSON_Delete(wantj);
    if (bad) {
        fprintf(stderr,
                "duro-bench: %d of %d %s* workflows not COMPLETED "
                "with %s\n",
                bad, n, t->prefix, want);
        b->failures++;
    }
    return bad;
}

long long bench_timers_pending(bench *b)
{
    long long sum = 0;
    for (int p = 0; p < b->partitions; p++) {
        char key[DURO_SHORT_KEY_MAX];
        duro_key_timers(key, sizeof(key), &b->ks, p);
        redisAppendCommand(b->rc, "ZCARD %s", key);
    }
    for (int p = 0; p < b->partitions; p++) {
        void *v = NULL;
        if (redisGetReply(b->rc, &v) != REDIS_OK) return -1;
        redisReply *r = v;
        if (r->type == REDIS_REPLY_INTEGER) sum += r->integer;
        freeReplyObject(r);
    }
    return sum;
}
