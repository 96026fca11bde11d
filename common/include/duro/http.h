/* http.h: the small HTTP server every Duro process can expose for
 * Prometheus and for orchestrators' probes, on its own thread.
 *
 *   GET /metrics   200, the registry in the Prometheus text format
 *                  (Content-Type: text/plain; version=0.0.4)
 *   GET /healthz   200 "ok" while the process runs and live(arg), when
 *                  set (duro_http_set_live), returns nonzero, else 503
 *                  "stuck" (liveness: e.g. a loop that stopped turning)
 *   GET /readyz    200 "ready" when ready(arg) returns nonzero, else 503
 *                  "not ready" (readiness: e.g. Redis connected)
 *   anything else  404 (405 for a method other than GET or HEAD)
 */
#ifndef DURO_HTTP_H
#define DURO_HTTP_H

#include "duro/export.h"
#include "duro/metrics.h"

typedef struct duro_http duro_http;

/* duro_http_ready_cb answers /readyz: nonzero means ready. It runs on the
 * server's thread, so it must only read what is safe to read from there. */
typedef int (*duro_http_ready_cb)(void *arg);

/* duro_http_start listens on exactly addr ("127.0.0.1:9464",
 * "0.0.0.0:9464", "[::1]:9464", "localhost:9464"; port 0 picks a free
 * port, see duro_http_port) and serves m (borrowed: it must outlive the
 * server) on a thread of its own. ready may be NULL (always ready).
 * Returns 0 and sets *out, or DURO_EINVAL (bad address; a message is
 * logged) or DURO_ECONN (cannot listen, e.g. the port is taken). */
DURO_EXPORT int duro_http_start(duro_http **out, const char *addr,
                                duro_metrics *m, duro_http_ready_cb ready,
                                void *arg);

/* duro_http_set_live makes /healthz answer 503 while live(arg) returns 0;
 * call it before the first probe can matter (right after duro_http_start),
 * as the server's thread may read it at any time. live runs on that
 * thread, as ready does. NULL: always live. */
DURO_EXPORT void duro_http_set_live(duro_http *h, duro_http_ready_cb live,
                                    void *arg);

/* duro_http_port: the port the server listens on. */
DURO_EXPORT int duro_http_port(const duro_http *h);

/* duro_http_stop stops the thread, closes the socket and frees h. Once it
 * returns, ready will not be called again. NULL is ignored. */
DURO_EXPORT void duro_http_stop(duro_http *h);

#endif
