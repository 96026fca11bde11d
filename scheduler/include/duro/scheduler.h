/* scheduler.h: the Duro scheduler as a library: fires due timers and times
 * out tasks held by dead workers, on a libuv loop of the caller's or on a
 * thread of its own. `duro-scheduler` is this plus flags; `duro dev` runs
 * it in-process.
 *
 * Lifecycle:
 *
 *   duro_scheduler_opts o = {0};           // zeroed = defaults
 *   o.redis_url = "redis://127.0.0.1:6379";
 *   duro_scheduler *s;
 *   duro_scheduler_new(&s, &o);
 *   duro_scheduler_setup(s, err, sizeof(err));  // retry on DURO_ECONN
 *   duro_scheduler_start_thread(s);        // or _start(s, loop) + uv_run
 *   ...
 *   duro_scheduler_stop(s);                // any thread, any number of times
 *   duro_scheduler_free(s);                // joins its thread
 *
 * Several schedulers may run against one Redis at once: every fire and
 * timeout is an idempotent Function call.
 */
#ifndef DURO_SCHEDULER_PUBLIC_H
#define DURO_SCHEDULER_PUBLIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "duro/export.h"
#include "duro/metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct duro_scheduler duro_scheduler;

/* duro_scheduler_opts: zero means the default given for each field. */
typedef struct {
    const char *redis_url;    /* NULL: $DURO_REDIS_URL, else the default */
    int partitions;           /* the namespace's layout; 0: duro:meta's, 16
                                 when Redis has none (duro/redis.h) */
    int batch;                /* timers fetched per partition per round; 256 */
    int64_t scan_interval_ms; /* clock refresh and reclaim scan; 1000 */
    duro_metrics *metrics;    /* NULL: duro_metrics_default() */
    const char *metrics_addr; /* "127.0.0.1:9464": serve /metrics, /healthz
                                 and /readyz there; NULL: no HTTP server */
    int64_t redis_stall_timeout_ms; /* 5s: Redis not answering a PING this
                                       long makes the scheduler not ready */
    const char *namespace_;         /* serve only this namespace; NULL: every
                                       namespace (default and the registry's, found
                                       again every scan interval) */
    const char *archive_dir;        /* write each run's history there before
                                       retention removes it; NULL: no archival */
} duro_scheduler_opts;

/* duro_scheduler_new validates the options (copied) and parses the URL.
 * Returns 0, DURO_EINVAL (a message is logged) or DURO_ENOMEM. */
DURO_EXPORT int duro_scheduler_new(duro_scheduler **out,
                                   const duro_scheduler_opts *o);

/* duro_scheduler_setup makes one synchronous attempt to reach Redis, load
 * the Functions, learn the partition count and Redis' clock. Returns 0;
 * DURO_ECONN while Redis is unreachable (call again after a backoff); or
 * another DURO_E* that retrying will not fix. A message goes to err. */
DURO_EXPORT int duro_scheduler_setup(duro_scheduler *s, char *err,
                                     size_t errsize);

/* duro_scheduler_start starts on loop, which the caller runs; setup must
 * have succeeded. After duro_scheduler_stop the scheduler closes all its
 * handles, so the loop can run to completion. Returns 0 or DURO_E*. */
DURO_EXPORT int duro_scheduler_start(duro_scheduler *s, uv_loop_t *loop);

/* duro_scheduler_start_thread starts on a loop and thread of its own;
 * setup must have succeeded. Returns 0 or DURO_E*. */
DURO_EXPORT int duro_scheduler_start_thread(duro_scheduler *s);

/* duro_scheduler_stop asks the scheduler to stop: it stops firing and
 * closes its connections. Safe from any thread and from signal-free
 * contexts such as another loop's callbacks; idempotent. */
DURO_EXPORT void duro_scheduler_stop(duro_scheduler *s);

/* duro_scheduler_ready: connected to Redis and Redis answers (what /readyz
 * reports). Safe from any thread. */
DURO_EXPORT bool duro_scheduler_ready(const duro_scheduler *s);

/* duro_scheduler_error: the DURO_E* that made the scheduler stop on its
 * own (DURO_EAUTH: credentials refused; DURO_EINVAL: duro:meta holds
 * another partition count), or 0. Safe from any thread. */
DURO_EXPORT int duro_scheduler_error(const duro_scheduler *s);

/* duro_scheduler_free stops the HTTP server, and for a scheduler started
 * with _start_thread stops it and joins its thread; then logs the totals
 * and releases everything. A scheduler started on a caller's loop must
 * have been stopped and its loop run until the handles closed. */
DURO_EXPORT void duro_scheduler_free(duro_scheduler *s);

#ifdef __cplusplus
}
#endif
#endif
