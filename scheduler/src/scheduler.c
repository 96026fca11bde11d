/* scheduler.c: the library's lifecycle: options, setup against Redis,
 * start on a loop or a thread, stop, free. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/clock.h"
#include "duro/cluster_sync.h"
#include "duro/errno.h"
#include "duro/log.h"
#include "duro/redis.h"
#include "sched_internal.h"

#define DEFAULT_BATCH 256
#define DEFAULT_SCAN_MS 1000
#define CONNECT_TIMEOUT_MS 2000

/* ---- Options ---- */

int duro_scheduler_new(duro_scheduler **out, const duro_scheduler_opts *o)
{
    static const duro_scheduler_opts none;
    if (!o) o = &none;
    *out = NULL;
    if ((o->namespace_ && *o->namespace_ &&
         duro_namespace_check(o->namespace_, NULL, 0)) ||
        o->partitions < 0 || o->partitions > DURO_MAX_PARTITIONS ||
        o->batch < 0 || o->batch > 100000 ||
        (o->scan_interval_ms && o->scan_interval_ms < 10) ||
        o->redis_stall_timeout_ms < 0) {
        duro_error("CONFIG bad scheduler options (partitions 1..%d, batch "
                   "1..100000, scan interval >= 10ms)",
                   DURO_MAX_PARTITIONS);
        return DURO_EINVAL;
    }
    sched *s = calloc(1, sizeof(*s));
    if (!s) return DURO_ENOMEM;
    char err[256];
    const char *url = o->redis_url ? o->redis_url : duro_redis_url_default();
    if (duro_redis_url_parse(url, &s->url, err, sizeof(err))) {
        duro_error("CONFIG redis url: %s", err);
        free(s);
        return DURO_EINVAL;
    }
    s->default_partitions =
        o->partitions ? o->partitions : DURO_PARTITIONS_ADOPT_OR_INIT;
    s->stall_timeout_ms = o->redis_stall_timeout_ms
                              ? o->redis_stall_timeout_ms
                              : DURO_REDIS_STALL_TIMEOUT_MS;
    s->batch = o->batch ? o->batch : DEFAULT_BATCH;
    s->scan_interval_ms =
        o->scan_interval_ms ? o->scan_interval_ms : DEFAULT_SCAN_MS;
    s->m = o->metrics ? o->metrics : duro_metrics_default();
    if (!s->m ||
        (o->metrics_addr && !(s->metrics_addr = strdup(o->metrics_addr))) ||
        (o->namespace_ && *o->namespace_ &&
         !(s->only_ns = strdup(o->namespace_))) ||
        (o->archive_dir && *o->archive_dir &&
         !(s->archive_dir = strdup(o->archive_dir)))) {
        free(s->metrics_addr);
        free(s->only_ns);
        free(s);
        return DURO_ENOMEM;
    }
    pthread_mutex_init(&s->stop_mu, NULL);
    atomic_init(&s->ready, 0);
    *out = s;
    return 0;
}

/* ---- Setup ---- */

/* read_clock: Redis TIME minus our monotonic clock, via the midpoint. */
static int64_t read_clock(redisContext *c)
{
    if (duro_clock_is_set()) return 0; /* sched_now_ms reads the test clock */
    int64_t t0 = duro_mono_us();
    redisReply *r = redisCommand(c, "TIME");
    int64_t mid = (t0 + duro_mono_us()) / 2;
    int64_t off = duro_now_ms() - duro_mono_ms();
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
        long long sec, usec;
        if (duro__reply_int(r->element[0], &sec) &&
            duro__reply_int(r->element[1], &usec))
            off = (int64_t)sec * 1000 + usec / 1000 - mid / 1000;
    }
    freeReplyObject(r);
    return off;
}

int duro_scheduler_setup(duro_scheduler *s, char *err, size_t errsize)
{
    /* one server: one connection, as ever; a cluster: the library on
     * every master (cluster_sync.h) */
    duro_cluster_sync *cs = NULL;
    int rc =
        duro_cluster_sync_open(&s->url, CONNECT_TIMEOUT_MS, &cs, err, errsize);
    if (!cs) return rc;
    if (duro_cluster_sync_is_cluster(cs)) s->url.cluster = 1;
    rc = duro_cluster_sync_setup(cs, s->default_partitions, &s->partitions, err,
                                 errsize);
    redisContext *c = rc == 0 ? duro_cluster_sync_context(cs, -1) : NULL;
    if (c) {
        s->clock_offset_ms = read_clock(c);
        s->set_up = 1;
    } else if (rc == 0) {
        snprintf(err, errsize, "%s", duro_cluster_sync_errstr(cs));
        rc = DURO_ECONN;
    }
    duro_cluster_sync_free(cs);
    return rc;
}

/* ---- Start ---- */

static int ready_cb(void *arg)
{
    return duro_scheduler_ready(arg);
}

int duro_scheduler_start(duro_scheduler *s, uv_loop_t *loop)
{
    if (!s->set_up || s->started) return DURO_EINVAL;
    s->loop = loop;
    stats_describe(s);
    if (s->metrics_addr) {
        int rc = duro_http_start(&s->http, s->metrics_addr, s->m, ready_cb, s);
        if (rc) return rc;
    }
    duro_info("START redis=%s:%d db=%d partitions=%d batch=%d scan=%lldms "
              "metrics=%s namespaces=%s archive=%s",
              s->url.host, s->url.port, s->url.db, s->partitions, s->batch,
              (long long)s->scan_interval_ms,
              s->metrics_addr ? s->metrics_addr : "off",
              s->only_ns ? s->only_ns : "all",
              s->archive_dir ? s->archive_dir : "off");
    int rc = sched_start_handles(s);
    if (rc && !s->started) {
        /* nothing is on the loop: leave s as it was, so that a second
         * start does not open a second server over this one */
        duro_http_stop(s->http);
        s->http = NULL;
    }
    return rc;
}

static void thread_main(void *arg)
{
    sched *s = arg;
    uv_run(s->loop, UV_RUN_DEFAULT);
}

int duro_scheduler_start_thread(duro_scheduler *s)
{
    if (!s->set_up || s->started) return DURO_EINVAL;
    int rc = uv_loop_init(&s->own_loop);
    if (rc) return DURO_ENOMEM;
    rc = duro_scheduler_start(s, &s->own_loop);
    if (rc && !s->started) { /* nothing on the loop yet */
        uv_loop_close(&s->own_loop);
        return rc;
    }
    /* Even after a failed start the thread runs the loop until the
     * handles closed, so that free finds a quiet loop. */
    if (uv_thread_create(&s->thread, thread_main, s) != 0) {
        uv_run(&s->own_loop, UV_RUN_DEFAULT);
        uv_loop_close(&s->own_loop);
        s->started = 0;
        return DURO_ENOMEM;
    }
    s->threaded = 1;
    return rc;
}

/* ---- Stop ---- */

void duro_scheduler_stop(duro_scheduler *s)
{
    if (!s) return;
    pthread_mutex_lock(&s->stop_mu);
    if (s->started && !s->stop_closed) uv_async_send(&s->stop_async);
    pthread_mutex_unlock(&s->stop_mu);
}

bool duro_scheduler_ready(const duro_scheduler *s)
{
    return atomic_load(&((sched *)s)->ready) != 0 &&
           atomic_load(&((sched *)s)->stalled) == 0;
}

int duro_scheduler_error(const duro_scheduler *s)
{
    return atomic_load(&((sched *)s)->fatal);
}

void duro_scheduler_free(duro_scheduler *s)
{
    if (!s) return;
    duro_http_stop(s->http); /* first: its /readyz reads s */
    s->http = NULL;
    if (s->threaded) {
        duro_scheduler_stop(s);
        uv_thread_join(&s->thread);
        uv_loop_close(&s->own_loop);
    }
    if (s->started) {
        sched_stats *st = &s->st;
        duro_info("EXIT fired=%llu ignored=%llu gone=%llu malformed=%llu "
                  "fire_errors=%llu late_max=%lldms wft_timedout=%llu "
                  "act_timedout=%llu orphans=%llu dead=%llu swept=%llu "
                  "archived=%llu archive_errors=%llu",
                  st->fired, st->ignored, st->gone, st->malformed,
                  st->fire_errors, (long long)st->late_max_ms, st->wft_timedout,
                  st->act_timedout, st->orphans, st->dead, st->swept,
                  st->archived, st->archive_errors);
    }
    pthread_mutex_destroy(&s->stop_mu);
    spaces_free(s);
    free(s->only_ns);
    free(s->archive_dir);
    free(s->metrics_addr);
    free(s);
}
