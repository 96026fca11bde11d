/* worker.c: the worker's lifecycle: setup, connections, stop. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "duro/clock.h"
#include "duro/errno.h"
#include "duro/ids.h"
#include "duro/json.h"
#include "duro/keys.h"
#include "duro/log.h"
#include "duro/redis.h"
#include "worker_internal.h"

#define TICK_MS 500

/* ---- Options and registration ---- */

int duro_worker_new(duro_worker **out, const duro_worker_opts *o)
{
    static const duro_worker_opts none;
    if (!o) o = &none;
    *out = NULL;
    if (o->workflow_stack_size != 0 &&
        (o->workflow_stack_size < DURO__CORO_STACK_MIN ||
         o->workflow_stack_size > DURO__CORO_STACK_MAX))
        return DURO_EINVAL;
    duro_worker *w = calloc(1, sizeof(*w));
    if (!w) return DURO_ENOMEM;
    w->redis_url =
        strdup(o->redis_url ? o->redis_url : duro_redis_url_default());
    w->task_queue = o->task_queue ? strdup(o->task_queue) : NULL;
    w->activity_threads = o->activity_threads > 0 ? o->activity_threads : 8;
    w->max_workflow_tasks =
        o->max_workflow_tasks > 0 ? o->max_workflow_tasks : 256;
    w->cache_size = o->cache_size > 0 ? o->cache_size : 10000;
    w->partitions = o->partitions > 0 ? o->partitions : 0; /* 0: not given */
    w->stall_timeout_ms = o->redis_stall_timeout_ms > 0
                              ? o->redis_stall_timeout_ms
                              : DURO_REDIS_STALL_TIMEOUT_MS;
    w->max_payload =
        o->max_payload > 0 ? o->max_payload : DURO_DEFAULT_MAX_PAYLOAD;
    w->shutdown_grace_ms =
        o->shutdown_grace_ms > 0 ? o->shutdown_grace_ms : 30000;
    w->workflow_stack_size = o->workflow_stack_size;
    if (o->identity) {
        w->identity = strdup(o->identity);
    } else {
        char host[128] = "worker", id[DURO_UUID_LEN + 1];
        gethostname(host, sizeof(host) - 1);
        duro_uuid_v4(id);
        if (asprintf(&w->identity, "%s-%d-%.8s", host, (int)getpid(), id) < 0)
            w->identity = NULL;
    }
    if (o->metrics_addr && *o->metrics_addr)
        w->metrics_addr = strdup(o->metrics_addr);
    pthread_mutex_init(&w->hb_mu, NULL);
    if (!w->redis_url || !w->identity ||
        (o->metrics_addr && *o->metrics_addr && !w->metrics_addr)) {
        duro_worker_free(w);
        return DURO_ENOMEM;
    }
    if (o->log_level) {
        int level = duro__log_level_parse(o->log_level);
        if (level < 0) {
            duro_error("CONFIG unknown log level \"%s\"", o->log_level);
            duro_worker_free(w);
            return DURO_EINVAL;
        }
        duro_log_set_level((duro_log_level)level);
    }
    *out = w;
    return 0;
}

int duro__log_level_parse(const char *name)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0) return i; /* duro_log_level order */
    return -1;
}

int duro_worker_register_workflow(duro_worker *w, const char *type,
                                  duro_workflow_fn fn)
{
    char err[128];
    if (!fn || duro_name_check("workflow type", type, err, sizeof(err)) != 0)
        return DURO_EINVAL;
    wf_reg *r = calloc(1, sizeof(*r));
    if (!r || !(r->type = strdup(type))) {
        free(r);
        return DURO_ENOMEM;
    }
    r->fn = fn;
    r->next = w->workflows;
    w->workflows = r;
    return 0;
}

int duro_worker_register_activity(duro_worker *w, const char *name,
                                  duro_activity_fn fn, void *arg)
{
    char err[128];
    if (!fn || duro_name_check("activity name", name, err, sizeof(err)) != 0)
        return DURO_EINVAL;
    act_reg *r = calloc(1, sizeof(*r));
    if (!r || !(r->name = strdup(name))) {
        free(r);
        return DURO_ENOMEM;
    }
    r->fn = fn;
    r->arg = arg;
    r->next = w->activities;
    w->activities = r;
    return 0;
}

/* ---- Helpers shared by the task files ---- */

int duro__partition_of_key(const char *key)
{
    const char *p = strstr(key, "{p");
    return p ? atoi(p + 2) : -1;
}

static void ignore_reply(duro_aredis *r, redisReply *reply, void *arg) {}

void duro__dead_letter(duro_worker *w, const char *stream,
                       const redisReply *entry, const char *reason)
{
    w->dead_letters++;
    const char *eid = "";
    cJSON *fields = cJSON_CreateObject();
    if (entry->type == REDIS_REPLY_ARRAY && entry->elements == 2) {
        if (entry->element[0]->type == REDIS_REPLY_STRING)
            eid = entry->element[0]->str;
        const redisReply *f = entry->element[1];
        for (size_t i = 0; f->type == REDIS_REPLY_ARRAY && i + 1 < f->elements;
             i += 2)
            if (f->element[i]->type == REDIS_REPLY_STRING &&
                f->element[i + 1]->type == REDIS_REPLY_STRING)
                cJSON_AddStringToObject(fields, f->element[i]->str,
                                        f->element[i + 1]->str);
    }
    char *text = cJSON_PrintUnformatted(fields);
    cJSON_Delete(fields);
    duro_warn("DEAD-LETTER stream=%s entry=%s reason=\"%s\"", stream, eid,
              reason);
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "XADD");
    duro_argv_push(&a, DURO_DEAD_KEY);
    duro_argv_push(&a, "MAXLEN");
    duro_argv_push(&a, "~");
    duro_argv_push(&a, "10000");
    duro_argv_push(&a, "*");
    duro_argv_push(&a, "stream");
    duro_argv_push(&a, stream);
    duro_argv_push(&a, "entry");
    duro_argv_push(&a, eid);
    duro_argv_push(&a, "reason");
    duro_argv_push(&a, reason);
    duro_argv_push(&a, "fields");
    duro_argv_push(&a, text ? text : "{}");
    duro_aredis_command(w->cmd, ignore_reply, NULL, &a);
    duro_argv_free(&a);
    free(text);
    if (*eid) {
        const char *ack[] = {"XACK", stream, DURO_GROUP, eid};
        const char *del[] = {"XDEL", stream, eid};
        duro_argv_init(&a);
        for (int i = 0; i < 4; i++)
            duro_argv_push(&a, ack[i]);
        duro_aredis_command(w->cmd, ignore_reply, NULL, &a);
        duro_argv_free(&a);
        duro_argv_init(&a);
        for (int i = 0; i < 3; i++)
            duro_argv_push(&a, del[i]);
        duro_aredis_command(w->cmd, ignore_reply, NULL, &a);
        duro_argv_free(&a);
    }
}

/* ---- Setup ---- */

/* early_stop is set by SIGTERM/SIGINT before the loop (and its own signal
 * handling) exists: while connecting or waiting for Redis. */
static volatile sig_atomic_t early_stop;

static void on_early_signal(int sig)
{
    early_stop = 1;
}

void duro__catch_early_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_early_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

/* create_groups makes every task stream and its group exist (BUSYGROUP is
 * fine) and registers the queue for the scheduler's timeout scans. */
static int create_groups(duro_worker *w, redisContext *c)
{
    for (int p = 0; p < w->partitions; p++) {
        const char *keys[3] = {w->wft_keys[p], w->act_keys[p], w->qry_keys[p]};
        for (int i = 0; i < 3; i++) {
            redisReply *r = redisCommand(c, "XGROUP CREATE %s %s 0 MKSTREAM",
                                         keys[i], DURO_GROUP);
            if (!r) return DURO_ECONN;
            freeReplyObject(r);
        }
    }
    redisReply *r =
        redisCommand(c, "SADD %s %s", DURO_QUEUES_KEY, w->task_queue);
    if (!r) return DURO_ECONN;
    freeReplyObject(r);
    return 0;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* connect_and_setup waits for Redis (capped backoff, one log line per new
 * error), loads the Functions, learns P and creates the groups. */
static int connect_and_setup(duro_worker *w)
{
    char err[256], last[256] = "";
    int64_t backoff = 100;
    while (!w->stopping && !early_stop) {
        redisContext *c = NULL;
        int rc = duro_redis_open(&w->url, 5000, &c, err, sizeof(err));
        if (c) {
            rc = duro_redis_setup(c,
                                  w->partitions ? w->partitions
                                                : DURO_PARTITIONS_ADOPT_OR_INIT,
                                  &w->partitions, err, sizeof(err));
            if (rc == 0) {
                w->wft_keys = calloc((size_t)w->partitions, sizeof(char *));
                w->act_keys = calloc((size_t)w->partitions, sizeof(char *));
                w->qry_keys = calloc((size_t)w->partitions, sizeof(char *));
                for (int p = 0; p < w->partitions; p++) {
                    char k[DURO_KEY_MAX];
                    w->wft_keys[p] =
                        strdup(duro_key_wft(k, sizeof(k), p, w->task_queue));
                    w->act_keys[p] =
                        strdup(duro_key_act(k, sizeof(k), p, w->task_queue));
                    w->qry_keys[p] =
                        strdup(duro_key_qry(k, sizeof(k), p, w->task_queue));
                }
                rc = create_groups(w, c);
                if (rc) snprintf(err, sizeof(err), "%s", c->errstr);
            }
            redisFree(c);
        }
        if (rc == 0) return 0;
        if (!duro_err_is_transient(rc) && rc != DURO_EREDIS) {
            duro_error("REDIS FATAL addr=%s:%d err=%s: %s (not retrying)",
                       w->url.host, w->url.port, duro_err_name(rc), err);
            return rc;
        }
        if (early_stop) break;
        if (strcmp(err, last) != 0) {
            duro_warn("REDIS-WAIT url=%s:%d err=\"%s\" (retrying)", w->url.host,
                      w->url.port, err);
            snprintf(last, sizeof(last), "%s", err);
        }
        sleep_ms(backoff);
        backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
    }
    return DURO_ECONN;
}

/* ---- Running and stopping ---- */

/* unblock ends a blocking read at once (it returns no entries), so that a
 * stopping worker does not wait out READ_BLOCK_MS. */
static void unblock(duro_worker *w, long long client_id)
{
    if (!client_id || !w->cmd) return;
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "CLIENT");
    duro_argv_push(&a, "UNBLOCK");
    duro_argv_pushll(&a, client_id);
    duro_aredis_command(w->cmd, ignore_reply, NULL, &a);
    duro_argv_free(&a);
}

static void begin_stop(duro_worker *w, const char *why)
{
    if (w->stopping) return;
    w->stopping = true;
    if (w->wft_reading) unblock(w, w->wft_client_id);
    if (w->act_reading) unblock(w, w->act_client_id);
    atomic_store(&w->handing_back, true);
    w->stop_deadline_ms = duro_mono_ms() + w->shutdown_grace_ms;
    duro_info("STOPPING reason=%s inflight_workflow_tasks=%d activities=%d",
              why, w->wft_inflight, w->pool ? duro__pool_busy(w->pool) : 0);
    duro__maybe_finish(w);
}

static void on_stop_async(uv_async_t *h)
{
    begin_stop(h->data, "stop requested");
}

static void on_signal(uv_signal_t *h, int signum)
{
    begin_stop(h->data, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void on_handle_closed(uv_handle_t *h)
{
    duro_worker *w = h->data;
    w->closing--;
}

static void on_pool_closed(void *arg)
{
    duro_worker *w = arg;
    w->pool = NULL;
    w->closing--;
}

static void close_all(duro_worker *w)
{
    duro_info("STOPPED workflow_tasks=%llu activities=%llu eager=%llu "
              "replays=%llu cache_hits=%llu cache_misses=%llu",
              (unsigned long long)w->wft_done, (unsigned long long)w->act_done,
              (unsigned long long)w->eager_done, (unsigned long long)w->replays,
              (unsigned long long)w->cache.hits,
              (unsigned long long)w->cache.misses);
    duro_aredis_close(w->cmd);
    duro_aredis_close(w->wft_conn);
    duro_aredis_close(w->act_conn);
    w->cmd = w->wft_conn = w->act_conn = NULL;
    uv_handle_t *hs[] = {
        (uv_handle_t *)&w->stop_async, (uv_handle_t *)&w->hb_async,
        (uv_handle_t *)&w->sigterm,    (uv_handle_t *)&w->sigint,
        (uv_handle_t *)&w->tick,       (uv_handle_t *)&w->retry_timer};
    for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) {
        w->closing++;
        uv_close(hs[i], on_handle_closed);
    }
    w->closing++;
    duro__pool_close(w->pool, on_pool_closed, w);
}

static void on_left_group(duro_aredis *r, redisReply *reply, void *arg)
{
    duro_worker *w = arg;
    if (--w->leaving == 0) close_all(w);
}

/* leave_groups removes this worker's consumer from every group it read
 * from, so that dead workers do not pile up in XINFO CONSUMERS and queue
 * stats; only after a clean stop, when nothing is pending on it. */
static void leave_groups(duro_worker *w)
{
    w->leaving = 1; /* held until every command is sent */
    for (int p = 0; p < w->partitions && duro_aredis_connected(w->cmd); p++) {
        const char *keys[3] = {w->wft_keys[p], w->act_keys[p], w->qry_keys[p]};
        for (int i = 0; i < 3; i++) {
            duro_argv a;
            duro_argv_init(&a);
            duro_argv_push(&a, "XGROUP");
            duro_argv_push(&a, "DELCONSUMER");
            duro_argv_push(&a, keys[i]);
            duro_argv_push(&a, DURO_GROUP);
            duro_argv_push(&a, w->identity);
            if (duro_aredis_command(w->cmd, on_left_group, w, &a) == 0)
                w->leaving++;
            duro_argv_free(&a);
        }
    }
    on_left_group(NULL, NULL, w);
}

/* duro__maybe_finish closes the worker once stopping and idle: no blocking
 * read outstanding, no workflow task or activity in progress, every
 * outcome delivered. After the grace period, activities still running are
 * handed back and the worker stops without them. */
void duro__maybe_finish(duro_worker *w)
{
    if (!w->stopping || !w->running) return;
    bool late = duro_mono_ms() >= w->stop_deadline_ms;
    /* a blocking read still out could receive a task (even one handed back
     * here) after we are gone; it returns within READ_BLOCK_MS and no new
     * read starts while stopping */
    if (w->wft_reading || w->act_reading) return;
    if (w->wft_inflight > 0 && !late) return;
    if (w->completing > 0 && !late) return; /* incl. unsent and held ones */
    if (duro__pool_busy(w->pool) > 0) {
        if (!late) return;
        if (!w->abandoned) {
            duro_warn("STOP-GRACE-OVER activities=%d handed back",
                      duro__pool_busy(w->pool));
            w->abandoned = true;
            duro__act_release_inflight(w);
        }
        if (w->releasing > 0) return;
        /* the pool's threads cannot be stopped: leave them to the exit */
        w->running = false;
        uv_stop(&w->loop);
        return;
    }
    if (w->releasing > 0) return;
    w->running = false;
    if (!late && w->completing == 0 && w->wft_inflight == 0)
        leave_groups(w);
    else
        close_all(w);
}

static void on_tick(uv_timer_t *h)
{
    duro_worker *w = h->data;
    if (w->metrics_addr) duro__worker_metrics_sample(w);
    duro_log_limited_flush();
    duro__streams_tick(w);
    duro__act_flush_unsent(w);
    duro__wft_poll(w);
    duro__act_poll(w);
    if (w->stopping && duro__pool_busy(w->pool) > 0 &&
        duro_mono_ms() >= w->stop_deadline_ms)
        duro_warn(
            "STOP-WAIT activities=%d still running after the grace period",
            duro__pool_busy(w->pool));
    duro__maybe_finish(w);
}

static void on_client_id(duro_aredis *r, redisReply *reply, void *arg)
{
    long long *id = arg;
    if (reply && reply->type == REDIS_REPLY_INTEGER) *id = reply->integer;
}

/* ask_client_id learns a read connection's id (sent before its first read,
 * so the answer comes first) for CLIENT UNBLOCK on stop. */
static void ask_client_id(duro_aredis *r, long long *id)
{
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "CLIENT");
    duro_argv_push(&a, "ID");
    *id = 0;
    duro_aredis_command(r, on_client_id, id, &a);
    duro_argv_free(&a);
}

/* on_fatal: Redis refused the credentials or the layout; retrying cannot
 * help, so the worker stops and duro_worker_run returns the code. */
static void on_fatal(duro_aredis *r, int code, const char *msg, void *arg)
{
    duro_worker *w = arg;
    if (!w->fatal) w->fatal = code;
    begin_stop(w, "redis refused us (see REDIS FATAL)");
}

static void on_conn_state(duro_aredis *r, bool connected, void *arg)
{
    duro_worker *w = arg;
    if (!connected) {
        if (r == w->wft_conn) w->wft_reading = false;
        if (r == w->act_conn) w->act_reading = false;
        duro__maybe_finish(w);
        return;
    }
    if (r == w->cmd) duro__act_flush_unsent(w);
    if (r == w->wft_conn) {
        ask_client_id(r, &w->wft_client_id);
        duro__wft_poll(w);
    }
    if (r == w->act_conn) {
        ask_client_id(r, &w->act_client_id);
        duro__act_poll(w);
    }
}

static int run(duro_worker *w)
{
    char err[256];
    if (!w->task_queue ||
        duro_name_check("task queue", w->task_queue, err, sizeof(err)) != 0) {
        duro_error("CONFIG %s",
                   w->task_queue ? err : "a task queue is required");
        return DURO_EINVAL;
    }
    if (duro_redis_url_parse(w->redis_url, &w->url, err, sizeof(err)) != 0) {
        duro_error("CONFIG redis url: %s", err);
        return DURO_EINVAL;
    }
    if (!w->workflows && !w->activities) {
        duro_error("CONFIG nothing registered");
        return DURO_EINVAL;
    }
    duro__catch_early_signals();
    int rc = connect_and_setup(w);
    if (early_stop) {
        duro_info("STOPPED before it started (signal)");
        return 0;
    }
    if (rc != 0) return rc;
    rc = duro__cache_init(&w->cache, w->cache_size);
    if (rc != 0) return rc;

    uv_loop_init(&w->loop);
    rc = duro__pool_new(&w->pool, &w->loop, w->activity_threads,
                        duro__act_pool_work, duro__act_pool_done);
    if (rc != 0) return DURO_ENOMEM;
    uv_async_init(&w->loop, &w->stop_async, on_stop_async);
    uv_async_init(&w->loop, &w->hb_async, duro__hb_drain);
    uv_signal_init(&w->loop, &w->sigterm);
    uv_signal_init(&w->loop, &w->sigint);
    uv_timer_init(&w->loop, &w->tick);
    uv_timer_init(&w->loop, &w->retry_timer);
    w->stop_async.data = w->hb_async.data = w->sigterm.data = w->sigint.data =
        w->tick.data = w->retry_timer.data = w;
    uv_signal_start(&w->sigterm, on_signal, SIGTERM);
    uv_signal_start(&w->sigint, on_signal, SIGINT);
    if (early_stop) w->stopping = true; /* a signal before libuv took over */
    uv_timer_start(&w->tick, on_tick, TICK_MS, TICK_MS);
    if (duro_aredis_new(&w->cmd, &w->loop, &w->url, "commands", on_conn_state,
                        w) ||
        duro_aredis_new(&w->wft_conn, &w->loop, &w->url, "workflow-tasks",
                        on_conn_state, w) ||
        duro_aredis_new(&w->act_conn, &w->loop, &w->url, "activity-tasks",
                        on_conn_state, w))
        return DURO_ENOMEM;
    duro_aredis_guard_opts g = {.on_fatal = on_fatal, .arg = w};
    duro_aredis_guard(w->wft_conn, &g);
    duro_aredis_guard(w->act_conn, &g);
    g.partitions = w->partitions;
    g.stall_timeout_ms = w->stall_timeout_ms;
    duro_aredis_guard(w->cmd, &g);
    w->running = true;
    duro_info(
        "WORKER-START queue=%s identity=%s partitions=%d threads=%d cache=%d",
        w->task_queue, w->identity, w->partitions, w->activity_threads,
        w->cache_size);
    if (w->stopping) {
        w->stopping = false;
        begin_stop(w, "stop requested");
    }
    uv_run(&w->loop, UV_RUN_DEFAULT);
    if (w->abandoned) {
        duro_info("STOPPED with activities still running (handed back)");
        return DURO_ETIMEDOUT;
    }
    uv_loop_close(&w->loop);
    return w->fatal;
}

/* duro_worker_run serves the metrics endpoint around the run, so that it
 * answers /healthz while Redis is still away. */
int duro_worker_run(duro_worker *w)
{
    int rc = w->task_queue ? duro__worker_metrics_start(w, w->metrics_addr) : 0;
    if (rc != 0) {
        duro_error("METRICS cannot serve %s: %s", w->metrics_addr,
                   rc == DURO_ECONN ? "cannot listen there (the HTTP LISTEN "
                                      "FAILED line says why)"
                                    : duro_strerror(rc));
        return rc;
    }
    rc = run(w);
    duro__worker_metrics_stop(w);
    return rc;
}

const char *duro_worker_redis_url(const duro_worker *w)
{
    return w->redis_url;
}

void duro_worker_stop(duro_worker *w)
{
    if (w->running)
        uv_async_send(&w->stop_async);
    else
        w->stopping = true;
}

void duro_worker_free(duro_worker *w)
{
    if (!w) return;
    if (w->abandoned) return; /* activity threads may still use it */
    duro__cache_close(&w->cache);
    while (w->workflows) {
        wf_reg *r = w->workflows;
        w->workflows = r->next;
        free(r->type);
        free(r);
    }
    while (w->activities) {
        act_reg *r = w->activities;
        w->activities = r->next;
        free(r->name);
        free(r);
    }
    for (int p = 0; w->wft_keys && p < w->partitions; p++) {
        free(w->wft_keys[p]);
        free(w->act_keys[p]);
        free(w->qry_keys[p]);
    }
    free(w->wft_keys);
    free(w->act_keys);
    free(w->qry_keys);
    free(w->stream_broken);
    pthread_mutex_destroy(&w->hb_mu);
    free(w->redis_url);
    free(w->task_queue);
    free(w->identity);
    free(w->metrics_addr);
    free(w);
}
