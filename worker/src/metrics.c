/* metrics.c: the worker's /metrics, /healthz and /readyz endpoint, and
 * the task-queue backlog that autoscalers scale workers on.
 *
 * Three sources feed the registry (duro_metrics_default()):
 *  - duro__worker_metrics_sample(w), on the loop thread, mirrors the
 *    worker's counters and gauges (cache, tasks, connections) into it. The
 *    worker's tick should call it; until it does, the render callback
 *    samples from the HTTP thread instead (plain reads of fields the loop
 *    owns: good enough for numbers, see `sample_fresh`).
 *  - a backlog thread with its own synchronous Redis connection (on a
 *    cluster a router, duro/cluster_sync.h: one per master) reads, every
 *    BACKLOG_PERIOD_MS, XLEN and XINFO GROUPS of every partition's stream
 *    of the task queue: backlog = the group's lag (tasks not yet handed to
 *    any worker; duro/stream_backlog.h), as `duro queue stats` computes it.
 *    It never touches the loop's connections.
 *  - task code may add its own: the families below are declared here so
 *    that wft.c and activity.c only observe/add (names in METRIC_*).
 *  - duro__worker_count_run, on the loop thread at an accepted commit,
 *    counts the runs the commit started or closed (by workflow type).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "duro/clock.h"
#include "duro/cluster_sync.h"
#include "duro/errno.h"
#include "duro/http.h"
#include "duro/keys.h"
#include "duro/log.h"
#include "duro/metrics.h"
#include "duro/priority.h"
#include "duro/redis.h"
#include "duro/reply.h"
#include "duro/stream_backlog.h"
#include "worker_internal.h"

#define BACKLOG_PERIOD_MS 5000
#define SAMPLE_FRESH_MS 3000
#define CONNECT_TIMEOUT_MS 2000

/* Families with no source in this file, for task code to update. */
#define METRIC_WFT_SECONDS "duro_worker_workflow_task_seconds"
#define METRIC_ACT_SECONDS "duro_worker_activity_seconds"
/* Workflow counters, by type: the same names and labels in every process
 * that counts (the scheduler counts timed_out), so that sum() adds up. */
#define METRIC_WF_STARTED "duro_workflows_started_total"
#define METRIC_WF_CLOSED "duro_workflows_closed_total"
#define METRIC_BACKLOG_BY_PRIORITY "duro_task_queue_backlog_by_priority"

/* wmetrics: one worker's endpoint. */
typedef struct wmetrics {
    duro_worker *w;
    duro_metrics *m;
    duro_http *http;
    char queue_label[256]; /* task_queue="..." */
    char *task_queue;
    duro_redis_url url;
    atomic_llong sampled_mono; /* last duro__worker_metrics_sample, ms */
    atomic_int ready;          /* as of that sample */
    int64_t loop_stall_ms;     /* no sample this long: not live */

    pthread_t backlog_thread;
    int backlog_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop; /* guarded by mu */
    struct wmetrics *next;
} wmetrics;

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static wmetrics *endpoints; /* one per worker with an endpoint */

static wmetrics *lookup(const duro_worker *w)
{
    pthread_mutex_lock(&registry_mu);
    wmetrics *e = endpoints;
    while (e && e->w != w)
        e = e->next;
    pthread_mutex_unlock(&registry_mu);
    return e;
}

/* ---- Families ---- */

static const char *const FAMILIES[][3] = {
    {"duro_worker_workflow_tasks_total", "counter",
     "Workflow tasks finished, by result (completed, failed, stale)."},
    {"duro_worker_activities_total", "counter",
     "Activity attempts finished, by result (completed, failed)."},
    {"duro_worker_replays_total", "counter",
     "Runs rebuilt by replaying their history (cache misses and queries)."},
    {"duro_worker_dead_letters_total", "counter",
     "Undecodable task entries moved to duro:dead."},
    {"duro_worker_cache_size", "gauge", "Runs held in the sticky cache."},
    {"duro_worker_cache_capacity", "gauge", "Capacity of the sticky cache."},
    {"duro_worker_cache_hits_total", "counter", "Sticky cache hits."},
    {"duro_worker_cache_misses_total", "counter", "Sticky cache misses."},
    {"duro_worker_cache_evictions_total", "counter",
     "Runs evicted from the sticky cache."},
    {"duro_worker_sticky_tasks_total", "counter",
     "Workflow tasks read from this worker's own (sticky) streams."},
    {"duro_worker_eager_activities_total", "counter",
     "Activity tasks taken by this worker's own commits (eager dispatch)."},
    {"duro_worker_workflow_tasks_inflight", "gauge",
     "Workflow tasks being processed."},
    {"duro_worker_activities_running", "gauge",
     "Activity attempts queued or running in the thread pool."},
    {"duro_worker_activity_threads", "gauge", "Size of the activity pool."},
    {"duro_worker_rate_limit", "gauge",
     "Tasks per second (kind activity or workflow) the task queue allows "
     "across all its workers (duro queue config); 0: unlimited."},
    {"duro_worker_rate_waits_total", "counter",
     "Reads of tasks (kind activity or workflow) this worker held back "
     "because the queue's token bucket was empty."},
    {"duro_worker_concurrency_per_key", "gauge",
     "Activities with one concurrency key the task queue runs at once across "
     "all its workers (duro queue config); 0: unlimited."},
    {"duro_worker_concurrency_waits_total", "counter",
     "Activity attempts this worker put back in their queue because their "
     "concurrency key was full."},
    {"duro_worker_broken_streams", "gauge",
     "Task streams of this queue holding another type than a stream (a "
     "hand edit): left out of the reads, their partition stalls until "
     "repaired."},
    {"duro_worker_redis_connected", "gauge",
     "1 while the connection is up, by connection."},
    {"duro_worker_redis_reconnects_total", "counter",
     "Redis connections re-established, by connection."},
    {"duro_task_queue_backlog", "gauge",
     "Tasks waiting in the task queue, not yet claimed by any worker, by "
     "kind (workflow, activity); summed over partitions. Scale workers on "
     "this."},
    {METRIC_BACKLOG_BY_PRIORITY, "gauge",
     "duro_task_queue_backlog by priority level 1 (highest) .. 5 too."},
    {"duro_task_queue_pending", "gauge",
     "Tasks claimed by a worker and not yet acknowledged, by kind."},
    {"duro_task_queue_backlog_errors_total", "counter",
     "Failed reads of the task queue backlog."},
    {METRIC_WF_STARTED, "counter",
     "Workflow runs whose first workflow task this process committed, by "
     "type."},
    {METRIC_WF_CLOSED, "counter",
     "Workflow runs this process closed, by type and status (worker: "
     "completed, failed, canceled; scheduler: timed_out)."},
    {METRIC_WFT_SECONDS, "histogram",
     "Workflow task processing time, claim to commit, by workflow type."},
    {METRIC_ACT_SECONDS, "histogram",
     "Activity attempt run time, by activity name."},
};

static void describe(wmetrics *e, const char *program)
{
    for (size_t i = 0; i < sizeof(FAMILIES) / sizeof(FAMILIES[0]); i++)
        duro_metrics_describe(e->m, FAMILIES[i][0], FAMILIES[i][1],
                              FAMILIES[i][2]);
    duro_metrics_build_info(e->m, program);
}

/* with_label: e->queue_label plus one more label, into buf. */
static const char *with_label(const wmetrics *e, char *buf, size_t size,
                              const char *key, const char *value)
{
    snprintf(buf, size, "%s", e->queue_label);
    duro_metrics_label(buf, size, key, value);
    return buf;
}

/* ---- Sampling the worker ---- */

static int conn_up(const duro_aredis *r)
{
    return r && duro_aredis_connected(r) && !duro_aredis_stalled(r);
}

/* put_sample writes the worker's numbers; pool_busy < 0 = unknown (not on
 * the loop thread). Returns readiness. */
static int put_sample(wmetrics *e, const duro_worker *w, int pool_busy)
{
    duro_metrics *m = e->m;
    const char *q = e->queue_label;
    char l[384];
    static const char *const results[3] = {"completed", "failed", "stale"};
    const uint64_t wft[3] = {w->wft_done, w->wft_failed, w->wft_stale};
    for (int i = 0; i < 3; i++)
        duro_metrics_set_counter(
            m, "duro_worker_workflow_tasks_total",
            with_label(e, l, sizeof(l), "result", results[i]), (double)wft[i]);
    const uint64_t act[2] = {w->act_done, w->act_failed};
    for (int i = 0; i < 2; i++)
        duro_metrics_set_counter(
            m, "duro_worker_activities_total",
            with_label(e, l, sizeof(l), "result", results[i]), (double)act[i]);
    duro_metrics_set_counter(m, "duro_worker_replays_total", q,
                             (double)w->replays);
    duro_metrics_set_counter(m, "duro_worker_dead_letters_total", q,
                             (double)w->dead_letters);
    duro_metrics_set(m, "duro_worker_cache_size", q, w->cache.size);
    duro_metrics_set(m, "duro_worker_cache_capacity", q, w->cache_size);
    duro_metrics_set_counter(m, "duro_worker_cache_hits_total", q,
                             (double)w->cache.hits);
    duro_metrics_set_counter(m, "duro_worker_cache_misses_total", q,
                             (double)w->cache.misses);
    duro_metrics_set_counter(m, "duro_worker_cache_evictions_total", q,
                             (double)w->cache.evictions);
    duro_metrics_set_counter(m, "duro_worker_sticky_tasks_total", q,
                             (double)w->sticky_tasks);
    duro_metrics_set_counter(m, "duro_worker_eager_activities_total", q,
                             (double)w->eager_acts_taken);
    duro_metrics_set(m, "duro_worker_workflow_tasks_inflight", q,
                     w->wft_inflight);
    if (pool_busy >= 0)
        duro_metrics_set(m, "duro_worker_activities_running", q, pool_busy);
    duro_metrics_set(m, "duro_worker_activity_threads", q, w->activity_threads);
    duro_metrics_set(m, "duro_worker_broken_streams", q, w->nbroken);
    static const char *const rkinds[DURO_RATE_KINDS] = {"activity", "workflow"};
    for (int i = 0; i < DURO_RATE_KINDS; i++) {
        const char *lk = with_label(e, l, sizeof(l), "kind", rkinds[i]);
        duro_metrics_set(m, "duro_worker_rate_limit", lk, w->rate[i].rate);
        duro_metrics_set_counter(m, "duro_worker_rate_waits_total", lk,
                                 (double)w->rate[i].waits);
    }
    duro_metrics_set(m, "duro_worker_concurrency_per_key", q, w->conc_limit);
    duro_metrics_set_counter(m, "duro_worker_concurrency_waits_total", q,
                             (double)w->conc_waits);
    /* The connections exist only while the worker runs; close_all clears
     * `running` before it closes them. */
    int running = w->running && !w->stopping;
    static const char *const names[4] = {"commands", "workflow-tasks",
                                         "activity-tasks", "queries"};
    const duro_aredis *conns[4] = {
        running ? w->cmd : NULL, running ? w->wft_conn : NULL,
        running ? w->act_conn : NULL, running ? w->qry_conn : NULL};
    int up = running;
    for (int i = 0; i < 4; i++) {
        with_label(e, l, sizeof(l), "conn", names[i]);
        duro_metrics_set(m, "duro_worker_redis_connected", l,
                         conn_up(conns[i]));
        if (conns[i])
            duro_metrics_set_counter(m, "duro_worker_redis_reconnects_total", l,
                                     (double)duro_aredis_reconnects(conns[i]));
        up = up && conn_up(conns[i]);
    }
    return up;
}

void duro__worker_metrics_sample(duro_worker *w)
{
    wmetrics *e = lookup(w);
    if (!e) return;
    int busy = w->pool ? duro__pool_busy(w->pool) : 0;
    atomic_store(&e->ready, put_sample(e, w, busy));
    atomic_store(&e->sampled_mono, (long long)duro_mono_ms());
}

/* sample_fresh: the loop thread sampled recently, so the HTTP thread need
 * not read the worker's fields itself. */
static int sample_fresh(wmetrics *e)
{
    long long t = atomic_load(&e->sampled_mono);
    return t && duro_mono_ms() - t < SAMPLE_FRESH_MS;
}

/* on_ready: the HTTP thread never reads the worker itself; a loop that has
 * not sampled lately (starting, or stuck) is not ready. Rendering shows the
 * last sample. */
static int on_ready(void *arg)
{
    wmetrics *e = arg;
    return sample_fresh(e) ? atomic_load(&e->ready) : 0;
}

/* on_live: a loop that has not sampled for loop_stall_ms is stuck
 * (workflow code that never yields). Before its first sample, taken as
 * the loop starts, the worker is still waiting for Redis: live. */
static int on_live(void *arg)
{
    wmetrics *e = arg;
    long long t = atomic_load(&e->sampled_mono);
    return !t || duro_mono_ms() - t < e->loop_stall_ms;
}

/* ---- Workflow counts ---- */

/* close_status: how a done run closed; the same choice as the engine's
 * coro_main makes for the close command it emits. */
static const char *close_status(const duro_wf *wf)
{
    if (wf->continued) return "continued_as_new";
    if (wf->failure) return "failed";
    return wf->cancel_requested ? "canceled" : "completed";
}

void duro__worker_count_run(duro_worker *w, const duro_wf *wf, bool first)
{
    if (!w->metrics_addr || (!first && !wf->done)) return;
    duro_metrics *m = duro_metrics_default();
    char l[DURO_QUEUE_MAX * 2 + 32] = "";
    duro_metrics_label(l, sizeof(l), "type", wf->type);
    if (first) duro_metrics_add(m, METRIC_WF_STARTED, l, 1);
    if (!wf->done) return;
    duro_metrics_label(l, sizeof(l), "status", close_status(wf));
    duro_metrics_add(m, METRIC_WF_CLOSED, l, 1);
}

/* ---- Backlog ---- */

/* read_partitions: duro:meta's partition count, or 0. */
static int read_partitions(duro_cluster_sync *c)
{
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "HGET");
    duro_argv_push(&a, DURO_META_KEY);
    duro_argv_push(&a, "partitions");
    redisReply *r = duro_cluster_sync_call(c, &a);
    duro_argv_free(&a);
    long long n = 0;
    if (!duro__reply_int(r, &n)) n = 0;
    if (r) freeReplyObject(r);
    return n > 0 && n <= DURO_MAX_PARTITIONS ? (int)n : 0;
}

/* measure pipelines XLEN + XINFO GROUPS for every stream of one kind and
 * priority level (on a cluster, to each partition's master, side by
 * side). Returns 0 or -1 (connection lost). */
static int measure(duro_cluster_sync *c, const duro_keyspace *ks,
                   const char *queue, int kind, int level, int parts,
                   long long *backlog, long long *pending)
{
    duro_argv *cmds = calloc((size_t)parts * 2, sizeof(duro_argv));
    redisReply **rep = calloc((size_t)parts * 2, sizeof(redisReply *));
    int rc = cmds && rep ? 0 : -1;
    char plain[DURO_KEY_MAX], key[DURO_KEY_MAX];
    for (int p = 0; !rc && p < parts; p++) {
        if (kind == 0)
            duro_key_wft(plain, sizeof(plain), ks, p, queue);
        else
            duro_key_act(plain, sizeof(plain), ks, p, queue);
        duro_priority_key(key, sizeof(key), plain, level);
        duro_argv *len = &cmds[(size_t)p * 2], *groups = len + 1;
        duro_argv_init(len);
        duro_argv_push(len, "XLEN");
        duro_argv_pushf(len, "%s", key);
        duro_argv_init(groups);
        duro_argv_push(groups, "XINFO");
        duro_argv_push(groups, "GROUPS");
        duro_argv_pushf(groups, "%s", key);
    }
    if (!rc && duro_cluster_sync_pipeline(c, cmds, parts * 2, rep)) rc = -1;
    long long waiting = 0, pend = 0;
    for (int p = 0; !rc && p < parts; p++) {
        redisReply **r = &rep[(size_t)p * 2];
        long long pd = 0; /* error replies: no stream yet */
        waiting += duro__stream_backlog(r[0], r[1], &pd);
        pend += pd;
        freeReplyObject(r[0]);
        freeReplyObject(r[1]);
    }
    for (int i = 0; cmds && i < parts * 2; i++)
        duro_argv_free(&cmds[i]);
    free(cmds);
    free(rep);
    if (rc) return rc;
    *backlog = waiting;
    *pending = pend;
    return 0;
}

/* wait_period sleeps until the next round; returns 1 when asked to stop. */
static int wait_period(wmetrics *e, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&e->mu);
    while (!e->stop && pthread_cond_timedwait(&e->cv, &e->mu, &ts) == 0)
        ;
    int stop = e->stop;
    pthread_mutex_unlock(&e->mu);
    return stop;
}

static void *backlog_main(void *arg)
{
    wmetrics *e = arg;
    duro_cluster_sync *c = NULL;
    static const char *const kinds[2] = {"workflow", "activity"};
    char l[384];
    do {
        char err[256];
        if (!c && duro_cluster_sync_open(&e->url, CONNECT_TIMEOUT_MS, &c, err,
                                         sizeof(err)))
            c = NULL;
        int parts = c ? read_partitions(c) : 0;
        int ok = parts > 0;
        for (int k = 0; ok && k < 2; k++) {
            long long backlog = 0, pending = 0;
            for (int v = DURO_PRIORITY_MIN; ok && v <= DURO_PRIORITY_MAX; v++) {
                long long b, pd;
                if (measure(c, &e->w->ks, e->task_queue, k, v, parts, &b,
                            &pd)) {
                    ok = 0;
                    break;
                }
                backlog += b;
                pending += pd;
                with_label(e, l, sizeof(l), "kind", kinds[k]);
                char lv[2] = {(char)('0' + v), '\0'};
                duro_metrics_label(l, sizeof(l), "priority", lv);
                duro_metrics_set(e->m, METRIC_BACKLOG_BY_PRIORITY, l,
                                 (double)b);
            }
            if (!ok) break;
            with_label(e, l, sizeof(l), "kind", kinds[k]);
            duro_metrics_set(e->m, "duro_task_queue_backlog", l,
                             (double)backlog);
            duro_metrics_set(e->m, "duro_task_queue_pending", l,
                             (double)pending);
        }
        if (!ok) {
            duro_metrics_add(e->m, "duro_task_queue_backlog_errors_total",
                             e->queue_label, 1);
            if (c && duro_cluster_sync_broken(c)) {
                duro_cluster_sync_free(c);
                c = NULL;
            }
        }
    } while (!wait_period(e, BACKLOG_PERIOD_MS));
    if (c) duro_cluster_sync_free(c);
    return NULL;
}

/* ---- Start and stop ---- */

static void endpoint_free(wmetrics *e)
{
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    free(e->task_queue);
    free(e);
}

int duro__worker_metrics_start(duro_worker *w, const char *addr)
{
    char err[256];
    if (!addr || !*addr) return 0;
    if (lookup(w)) return DURO_EALREADY;
    if (!w->task_queue) return DURO_EINVAL;
    wmetrics *e = calloc(1, sizeof(*e));
    if (!e || !(e->task_queue = strdup(w->task_queue))) {
        free(e);
        return DURO_ENOMEM;
    }
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    e->w = w;
    e->m = duro_metrics_default();
    if (!e->m) {
        endpoint_free(e);
        return DURO_ENOMEM;
    }
    if (duro_redis_url_parse(w->redis_url, &e->url, err, sizeof(err))) {
        duro_error("CONFIG redis url: %s", err);
        endpoint_free(e);
        return DURO_EINVAL;
    }
    duro_metrics_label(e->queue_label, sizeof(e->queue_label), "task_queue",
                       w->task_queue);
    describe(e, program_invocation_short_name);
    e->loop_stall_ms = w->loop_stall_ms;
    int rc = duro_http_start(&e->http, addr, e->m, on_ready, e);
    if (rc) {
        endpoint_free(e);
        return rc;
    }
    duro_http_set_live(e->http, on_live, e);
    e->backlog_started =
        pthread_create(&e->backlog_thread, NULL, backlog_main, e) == 0;
    if (!e->backlog_started) duro_warn("METRICS backlog thread not started");
    pthread_mutex_lock(&registry_mu);
    e->next = endpoints;
    endpoints = e;
    pthread_mutex_unlock(&registry_mu);
    return 0;
}

void duro__worker_metrics_stop(duro_worker *w)
{
    pthread_mutex_lock(&registry_mu);
    wmetrics **pp = &endpoints;
    while (*pp && (*pp)->w != w)
        pp = &(*pp)->next;
    wmetrics *e = *pp;
    if (e) *pp = e->next;
    pthread_mutex_unlock(&registry_mu);
    if (!e) return;
    duro_http_stop(e->http); /* no more /readyz reading w */
    if (e->backlog_started) {
        pthread_mutex_lock(&e->mu);
        e->stop = 1;
        pthread_cond_signal(&e->cv);
        pthread_mutex_unlock(&e->mu);
        pthread_join(e->backlog_thread, NULL);
    }
    endpoint_free(e);
}
