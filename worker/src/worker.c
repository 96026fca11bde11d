/* worker.c: the worker's lifecycle: setup, connections, stop (making a
 * worker and registering its code: worker_new.c). */
#include <errno.h>
#include <stdarg.h>
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

/* ---- Running and stopping ---- */

static void ignore_reply(duro_aredis *r, redisReply *reply, void *arg) {}

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

static void maybe_finish(duro_worker *w);

static void begin_stop(duro_worker *w, const char *why)
{
    if (w->stopping) return;
    w->stopping = true;
    if (w->wft_reading) unblock(w, w->wft_client_id);
    if (w->act_reading) unblock(w, w->act_client_id);
    if (w->qry_reading) unblock(w, w->qry_client_id);
    atomic_store(&w->handing_back, true);
    duro__act_release_waiting(w);
    w->stop_deadline_ms = duro_mono_ms() + w->shutdown_grace_ms;
    duro_info("STOPPING reason=%s inflight_workflow_tasks=%d activities=%d",
              why, w->wft_inflight, w->pool ? duro__pool_busy(w->pool) : 0);
    maybe_finish(w);
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

static void on_local_pool_closed(void *arg)
{
    duro_worker *w = arg;
    w->local_pool = NULL;
    w->closing--;
}

/* handles: the loop's own handles, in the order open_loop makes them. */
#define NHANDLES 6
static void handles(duro_worker *w, uv_handle_t *hs[NHANDLES])
{
    uv_handle_t *all[NHANDLES] = {
        (uv_handle_t *)&w->stop_async, (uv_handle_t *)&w->hb_async,
        (uv_handle_t *)&w->sigterm,    (uv_handle_t *)&w->sigint,
        (uv_handle_t *)&w->tick,       (uv_handle_t *)&w->retry_timer};
    memcpy(hs, all, sizeof(all));
}

/* close_handles closes the connections, the handles that were opened and
 * the pool; the loop then runs until they are closed. */
static void close_handles(duro_worker *w)
{
    duro_aredis_close(w->cmd);
    duro_aredis_close(w->wft_conn);
    duro_aredis_close(w->act_conn);
    duro_aredis_close(w->qry_conn);
    duro_aredis_close(w->wake_conn);
    w->cmd = w->wft_conn = w->act_conn = w->qry_conn = w->wake_conn = NULL;
    uv_handle_t *hs[NHANDLES];
    handles(w, hs);
    for (int i = 0; i < w->nhandles; i++) {
        hs[i]->data = w;
        w->closing++;
        uv_close(hs[i], on_handle_closed);
    }
    w->nhandles = 0;
    if (w->pool) {
        w->closing++;
        duro__pool_close(w->pool, on_pool_closed, w);
    }
    if (w->local_pool) {
        w->closing++;
        duro__pool_close(w->local_pool, on_local_pool_closed, w);
    }
}

static void close_all(duro_worker *w)
{
    duro_info(
        "STOPPED workflow_tasks=%llu activities=%llu eager=%llu "
        "replays=%llu cache_hits=%llu cache_misses=%llu "
        "first_tasks=%llu sticky_tasks=%llu eager_activities=%llu "
        "waited_back=%llu",
        (unsigned long long)w->wft_done, (unsigned long long)w->act_done,
        (unsigned long long)w->eager_done, (unsigned long long)w->replays,
        (unsigned long long)w->cache.hits, (unsigned long long)w->cache.misses,
        (unsigned long long)w->wft_first, (unsigned long long)w->sticky_tasks,
        (unsigned long long)w->eager_acts_taken,
        (unsigned long long)w->act_waited_back);
    if (w->per_partition)
        duro_info("READS-PER-PARTITION rounds=%llu reads=%llu wakes=%llu "
                  "sweeps=%llu",
                  (unsigned long long)(w->wft_pr.rounds + w->act_pr.rounds),
                  (unsigned long long)(w->wft_pr.reads + w->act_pr.reads),
                  (unsigned long long)(w->wft_pr.wakes + w->act_pr.wakes),
                  (unsigned long long)(w->wft_pr.sweeps + w->act_pr.sweeps));
    close_handles(w);
}

/* leave_groups runs once the sticky runs are handed back. */
static void leave_groups(duro_worker *w)
{
    duro__groups_leave(w, close_all);
}

/* warn_undelivered: at a stop past the grace, what Redis never took (it
 * was away or refusing the whole time) goes with the process. Said once,
 * as it is not lost work but work done twice: those activities run again,
 * and those workflow tasks move, after their timeouts. */
static void warn_undelivered(duro_worker *w)
{
    if (w->completing == 0 && w->wft_inflight == 0) return;
    duro_warn("STOP-GRACE-OVER results=%d workflow_tasks=%d not delivered: "
              "they are retried after their timeouts",
              w->completing, w->wft_inflight);
}

/* stop_loop ends a stop that leaves activity threads running. */
static void stop_loop(duro_worker *w)
{
    uv_stop(&w->loop);
}

/* maybe_finish (w->maybe_finish) closes the worker once stopping and idle:
 * no blocking read outstanding, no workflow task or activity in progress,
 * every outcome delivered. After the grace period, activities still
 * running are handed back and the worker stops without them. */
static void maybe_finish(duro_worker *w)
{
    if (!w->stopping || !atomic_load(&w->running)) return;
    bool late = duro_mono_ms() >= w->stop_deadline_ms;
    /* a blocking read still out could receive a task (even one handed back
     * here) after we are gone; it returns within READ_BLOCK_MS and no new
     * read starts while stopping */
    if (w->wft_reading || w->act_reading || w->qry_reading) return;
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
        warn_undelivered(w);
        /* the pool's threads cannot be stopped: leave them to the exit,
         * once the cached runs are handed back (their next tasks would
         * otherwise wait out the sticky schedule-to-start timeout) */
        atomic_store(&w->running, false);
        if (w->completing == 0 && w->wft_inflight == 0)
            duro__sticky_hand_back(w, stop_loop);
        else
            uv_stop(&w->loop);
        return;
    }
    if (w->releasing > 0) return;
    if (late) warn_undelivered(w);
    if (late && duro__pool_busy(w->local_pool) > 0) {
        /* a local activity still running past the grace period: its
         * task is left to its timeout, its thread to the exit */
        duro_warn("STOP-GRACE-OVER local_activities=%d left running",
                  duro__pool_busy(w->local_pool));
        atomic_store(&w->running, false);
        uv_stop(&w->loop);
        return;
    }
    atomic_store(&w->running, false);
    if (w->completing == 0 && w->wft_inflight == 0)
        duro__sticky_hand_back(w, leave_groups);
    else
        close_all(w);
}

/* poll_all (w->poll) reads both kinds of task, and queries, again. */
static void poll_all(duro_worker *w)
{
    duro__wft_poll(w);
    duro__act_poll(w);
    duro__qry_poll(w);
}

static void on_tick(uv_timer_t *h)
{
    duro_worker *w = h->data;
    if (w->metrics_addr) duro__worker_metrics_sample(w);
    duro_log_limited_flush();
    duro__streams_tick(w);
    duro__rate_tick(w);
    duro__act_flush_unsent(w);
    if (w->per_partition) { /* the sweep: what a lost wake left behind */
        duro__pread_tick(&w->wft_pr);
        duro__pread_tick(&w->act_pr);
    }
    poll_all(w);
    /* a stop waits for Redis' answers (blocking reads unblocked, hand-
     * backs); a Redis that stopped answering must not hold it forever */
    if (w->stopping && !w->stop_forced &&
        duro_mono_ms() >= w->stop_deadline_ms + w->stall_timeout_ms) {
        duro_warn("STOP-FORCED Redis did not answer within the shutdown "
                  "grace and the stall timeout (%lldms): what was not "
                  "handed back is retried after its timeout",
                  (long long)w->stall_timeout_ms);
        w->stop_forced = true;
        atomic_store(&w->running, false);
        uv_stop(&w->loop);
        return;
    }
    if (w->stopping && duro__pool_busy(w->pool) > 0 &&
        duro_mono_ms() >= w->stop_deadline_ms)
        duro_warn(
            "STOP-WAIT activities=%d still running after the grace period",
            duro__pool_busy(w->pool));
    maybe_finish(w);
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
    if (!w->fatal) {
        w->fatal = code;
        duro__worker_seterr(w, code, "redis refused us: %s", msg ? msg : "");
    }
    begin_stop(w, "redis refused us (see REDIS FATAL)");
}

static int read_per_partition(duro_worker *w);

/* on_conn_state: a connection came up or went down. Reads per partition
 * keep `reading` set until their round's last reply (NULL ones too)
 * came; a connection back up reads every partition (wake messages may
 * have been lost meanwhile). */
static void on_conn_state(duro_aredis *r, bool connected, void *arg)
{
    duro_worker *w = arg;
    if (!connected) {
        if (r == w->wft_conn && !w->per_partition) w->wft_reading = false;
        if (r == w->act_conn && !w->per_partition) w->act_reading = false;
        if (r == w->qry_conn) w->qry_reading = false;
        maybe_finish(w);
        return;
    }
    /* a redis:// URL that names a node of a Redis Cluster */
    if (!w->per_partition && duro_aredis_is_cluster(r) &&
        read_per_partition(w) != 0)
        begin_stop(w, "out of memory");
    if (r == w->cmd) {
        duro__act_flush_unsent(w);
        duro__streams_connected(w); /* a check a failed read asked for */
        poll_all(w); /* the query reads wait for this connection */
    }
    if (r == w->wake_conn) {
        duro__pread_all_due(&w->wft_pr);
        duro__pread_all_due(&w->act_pr);
        poll_all(w);
    }
    if (r == w->wft_conn) {
        if (!w->per_partition) ask_client_id(r, &w->wft_client_id);
        w->sticky_recover = w->sticky_keys != NULL;
        if (w->per_partition) duro__pread_all_due(&w->wft_pr);
        duro__wft_poll(w);
    }
    if (r == w->act_conn) {
        if (!w->per_partition) ask_client_id(r, &w->act_client_id);
        if (w->per_partition) duro__pread_all_due(&w->act_pr);
        duro__act_poll(w);
    }
    if (r == w->qry_conn && !w->per_partition) {
        ask_client_id(r, &w->qry_client_id);
        duro__qry_poll(w);
    }
}

/* read_per_partition turns the reads per partition on (partread.c): their
 * state, and the subscriber of the wake channels (wake.c). 0 or
 * DURO_ENOMEM. */
static int read_per_partition(duro_worker *w)
{
    if (duro__pread_init(w, &w->wft_pr) != 0 ||
        duro__pread_init(w, &w->act_pr) != 0)
        return DURO_ENOMEM;
    w->per_partition = true;
    if (duro_aredis_new(&w->wake_conn, &w->loop, &w->url, "wake", on_conn_state,
                        w) != 0)
        return DURO_ENOMEM;
    duro_aredis_guard_opts g = {.on_fatal = on_fatal, .arg = w};
    duro_aredis_guard(w->wake_conn, &g);
    int rc = duro__wake_start(w);
    if (rc == DURO_ENOMEM) return rc;
    duro_info("READ-PER-PARTITION partitions=%d wake=%s sweep=%dms",
              w->partitions, rc == 0 ? "on" : "off", DURO_READ_SWEEP_MS);
    return 0;
}

/* config_error logs a configuration refused by duro_worker_run and keeps
 * it as the worker's last error; returns DURO_EINVAL. */
static int config_error(duro_worker *w, const char *msg)
{
    duro_error("CONFIG %s", msg);
    return duro__worker_seterr(w, DURO_EINVAL, "%s", msg);
}

static int check_config(duro_worker *w)
{
    char err[256], msg[300];
    if (!w->task_queue) return config_error(w, "a task queue is required");
    if (duro_name_check("task queue", w->task_queue, err, sizeof(err)) != 0)
        return config_error(w, err);
    if (duro_redis_url_parse(w->redis_url, &w->url, err, sizeof(err)) != 0) {
        snprintf(msg, sizeof(msg), "redis url: %s", err);
        return config_error(w, msg);
    }
    if (!w->workflows && !w->activities)
        return config_error(w, "nothing registered");
    return 0;
}

/* open_loop makes the loop, the activity pool, the loop's own handles and
 * the connections. 0, or DURO_ENOMEM with whatever it opened still open
 * (close_loop closes it). */
static int open_loop(duro_worker *w)
{
    uv_handle_t *hs[NHANDLES];
    handles(w, hs);
    if (duro__pool_new(&w->pool, &w->loop, w->activity_threads,
                       duro__act_pool_work, duro__act_pool_done) != 0 ||
        duro__pool_new(&w->local_pool, &w->loop, w->activity_threads,
                       duro__local_pool_work, duro__local_pool_done) != 0)
        return DURO_ENOMEM;
    int rc = uv_async_init(&w->loop, &w->stop_async, on_stop_async);
    if (rc == 0) w->nhandles++;
    if (rc == 0 &&
        (rc = uv_async_init(&w->loop, &w->hb_async, duro__hb_drain)) == 0)
        w->nhandles++;
    if (rc == 0 && (rc = uv_signal_init(&w->loop, &w->sigterm)) == 0)
        w->nhandles++;
    if (rc == 0 && (rc = uv_signal_init(&w->loop, &w->sigint)) == 0)
        w->nhandles++;
    if (rc == 0 && (rc = uv_timer_init(&w->loop, &w->tick)) == 0) w->nhandles++;
    if (rc == 0 && (rc = uv_timer_init(&w->loop, &w->retry_timer)) == 0)
        w->nhandles++;
    if (rc != 0) return DURO_ENOMEM;
    for (int i = 0; i < NHANDLES; i++)
        hs[i]->data = w;
    if (duro_aredis_new(&w->cmd, &w->loop, &w->url, "commands", on_conn_state,
                        w) ||
        duro_aredis_new(&w->wft_conn, &w->loop, &w->url, "workflow-tasks",
                        on_conn_state, w) ||
        duro_aredis_new(&w->act_conn, &w->loop, &w->url, "activity-tasks",
                        on_conn_state, w) ||
        duro_aredis_new(&w->qry_conn, &w->loop, &w->url, "queries",
                        on_conn_state, w))
        return DURO_ENOMEM;
    return 0;
}

/* close_loop closes what open_loop opened after it failed, and the loop. */
static int close_loop(duro_worker *w, int rc)
{
    close_handles(w);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    uv_loop_close(&w->loop);
    return duro__worker_seterr(w, rc, "cannot set up the worker's loop: %s",
                               duro_strerror(rc));
}

static int run(duro_worker *w)
{
    int rc = check_config(w);
    if (rc != 0) return rc;
    duro__catch_early_signals();
    /* a test and diagnostic switch: a Redis Cluster's reads on one node */
    w->force_per_partition =
        strcmp(duro_env("DURO_READ_PER_PARTITION", "0"), "1") == 0;
    char err[256];
    if (w->sticky_ms > 0 && strlen(w->identity) > DURO_STICKY_WORKER_MAX) {
        duro_warn("STICKY-OFF identity is longer than %d bytes: no sticky "
                  "execution",
                  DURO_STICKY_WORKER_MAX);
        w->sticky_ms = 0;
    }
    rc = duro__worker_connect(w, err, sizeof(err));
    if (duro__early_stop()) {
        duro_info("STOPPED before it started (signal)");
        return 0;
    }
    if (rc != 0) return duro__worker_seterr(w, rc, "%s", err);
    rc = duro__cache_init(&w->cache, w->cache_size);
    if (rc != 0)
        return duro__worker_seterr(w, rc, "cannot make the run cache: %s",
                                   duro_strerror(rc));
    w->cache.on_evict = duro__sticky_on_evict;
    w->cache.evict_arg = w;
    if (uv_loop_init(&w->loop) != 0)
        return duro__worker_seterr(w, DURO_ENOMEM, "cannot make the loop");
    w->maybe_finish = maybe_finish;
    w->poll = poll_all;
    w->act_run = duro__act_run;
    w->act_defer = duro__act_defer;
    if ((rc = open_loop(w)) != 0) return close_loop(w, rc);
    if ((w->force_per_partition || w->url.cluster) &&
        (rc = read_per_partition(w)) != 0)
        return close_loop(w, rc);
    uv_signal_start(&w->sigterm, on_signal, SIGTERM);
    uv_signal_start(&w->sigint, on_signal, SIGINT);
    uv_timer_start(&w->tick, on_tick, TICK_MS, TICK_MS);
    /* the loop's first sample: from here on, a loop that stops turning
     * (workflow code that never yields) fails /healthz */
    if (w->metrics_addr) duro__worker_metrics_sample(w);
    duro_aredis_guard_opts g = {.on_fatal = on_fatal, .arg = w};
    duro_aredis_guard(w->wft_conn, &g);
    duro_aredis_guard(w->act_conn, &g);
    duro_aredis_guard(w->qry_conn, &g);
    g.partitions = w->partitions;
    g.stall_timeout_ms = w->stall_timeout_ms;
    duro_aredis_guard(w->cmd, &g);
    atomic_store(&w->running, true);
    duro_info(
        "WORKER-START ns=%s queue=%s identity=%s partitions=%d threads=%d "
        "cache=%d sticky=%lldms",
        w->ks.ns, w->task_queue, w->identity, w->partitions,
        w->activity_threads, w->cache_size, (long long)w->sticky_ms);
    /* a stop asked for before the loop ran (duro_worker_stop saw it not
     * running, or a signal before libuv took over) */
    if (duro__early_stop() || atomic_load(&w->stop_requested))
        begin_stop(w, "stop requested");
    uv_run(&w->loop, UV_RUN_DEFAULT);
    if (w->stop_forced) {
        duro_info("STOPPED without Redis' answers (see STOP-FORCED)");
        return duro__worker_seterr(w, DURO_ETIMEDOUT,
                                   "Redis did not answer the stop");
    }
    if (w->abandoned) {
        duro_info("STOPPED with activities still running (handed back)");
        return duro__worker_seterr(w, DURO_ETIMEDOUT,
                                   "activities still running after the "
                                   "shutdown grace were handed back");
    }
    uv_loop_close(&w->loop);
    return w->fatal;
}

/* duro_worker_run serves the metrics endpoint around the run, so that it
 * answers /healthz while Redis is still away. */
int duro_worker_run(duro_worker *w)
{
    w->err = 0;
    w->errstr[0] = '\0';
    int rc = w->task_queue ? duro__worker_metrics_start(w, w->metrics_addr) : 0;
    if (rc != 0) {
        const char *why = rc == DURO_ECONN ? "cannot listen there (the HTTP "
                                             "LISTEN FAILED line says why)"
                                           : duro_strerror(rc);
        duro_error("METRICS cannot serve %s: %s", w->metrics_addr, why);
        return duro__worker_seterr(w, rc, "metrics cannot serve %s: %s",
                                   w->metrics_addr, why);
    }
    int sched_old = duro__sched_batch_enter(w);
    rc = run(w);
    duro__sched_leave(sched_old);
    duro__worker_metrics_stop(w);
    return rc;
}

const char *duro_worker_redis_url(const duro_worker *w)
{
    return w->redis_url;
}

const char *duro_worker_errstr(const duro_worker *w)
{
    return w->errstr;
}

int duro__worker_seterr(duro_worker *w, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->errstr, sizeof(w->errstr), fmt, ap);
    va_end(ap);
    w->err = code;
    return code;
}

/* duro_worker_stop: the flag is stored before `running` is read, and run()
 * stores `running` before it reads the flag, so one of them sees the
 * other: a stop is never lost between the two. */
void duro_worker_stop(duro_worker *w)
{
    atomic_store(&w->stop_requested, true);
    if (atomic_load(&w->running)) uv_async_send(&w->stop_async);
}

void duro_worker_free(duro_worker *w)
{
    if (!w) return;
    /* activity threads, or the loop left open, may still use it */
    if (w->abandoned || w->stop_forced) return;
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
    duro__stream_keys_free(w);
    duro__levels_free(w);
    duro__pread_free(&w->wft_pr);
    duro__pread_free(&w->act_pr);
    free(w->stream_broken);
    if (w->hb_mu_ready) pthread_mutex_destroy(&w->hb_mu);
    free(w->redis_url);
    free(w->task_queue);
    free(w->identity);
    free(w->metrics_addr);
    duro_codec_aes_free(w->own_codec);
    free(w);
}
