/* metrics.h: a thread-safe registry of counters, gauges and histograms,
 * rendered in the Prometheus text exposition format (version 0.0.4).
 *
 * A family is a metric name with a type and help text; a series is one
 * label set of a family. Labels are passed preformatted, as they appear
 * between the braces: `type="order"` or `queue="food",kind="workflow"`
 * (NULL or "" for none); build label values from untrusted text with
 * duro_metrics_label, which escapes them. Names follow Prometheus naming:
 * `duro_` prefix, `_total` for counters, `_seconds` for histograms of
 * durations.
 *
 * Every call may come from any thread. Updates are a mutex and a short
 * linear search, fine for the tens of series a Duro process has; hot
 * paths that count millions of events per second should batch.
 */
#ifndef DURO_METRICS_H
#define DURO_METRICS_H

#include <stddef.h>
#include "duro/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct duro_metrics duro_metrics;

/* duro_metrics_render_cb is called by duro_metrics_render before it takes
 * its snapshot, on the rendering thread, without the registry's lock held:
 * it may call duro_metrics_set and friends to refresh gauges. */
typedef void (*duro_metrics_render_cb)(duro_metrics *m, void *arg);

/* duro_metrics_new: an empty registry, or NULL when out of memory. */
DURO_EXPORT duro_metrics *duro_metrics_new(void);
/* duro_metrics_free releases the registry and all its series. Not for the
 * default registry. */
DURO_EXPORT void duro_metrics_free(duro_metrics *m);

/* duro_metrics_default: the process-wide registry, created on first use
 * and never freed. NULL only when out of memory. */
DURO_EXPORT duro_metrics *duro_metrics_default(void);

/* duro_metrics_describe declares family `name` of `type` ("counter",
 * "gauge" or "histogram") with its help text (copied). Describing a family
 * again with the same type replaces the help; another type is refused.
 * Returns 0, DURO_EINVAL (bad name or type, type conflict) or
 * DURO_ENOMEM. A family used before it is described is created with the
 * type its first update implies and no help. */
DURO_EXPORT int duro_metrics_describe(duro_metrics *m, const char *name,
                                      const char *type, const char *help);

/* duro_metrics_add adds v (>= 0) to a counter. Returns 0 or DURO_E*. */
DURO_EXPORT int duro_metrics_add(duro_metrics *m, const char *name,
                                 const char *labels, double v);
/* duro_metrics_set sets a gauge. Returns 0 or DURO_E*. */
DURO_EXPORT int duro_metrics_set(duro_metrics *m, const char *name,
                                 const char *labels, double v);
/* duro_metrics_set_counter sets a counter to v, for a collector that
 * mirrors a monotonic count kept elsewhere (e.g. a struct field read in a
 * render callback). Returns 0 or DURO_E*. */
DURO_EXPORT int duro_metrics_set_counter(duro_metrics *m, const char *name,
                                         const char *labels, double v);
/* duro_metrics_observe records one observation (in seconds for a
 * `_seconds` family) in a histogram with the default buckets
 * DURO_METRICS_BUCKETS. Returns 0 or DURO_E*. */
DURO_EXPORT int duro_metrics_observe(duro_metrics *m, const char *name,
                                     const char *labels, double v);

/* DURO_METRICS_BUCKETS: upper bounds of the default histogram buckets in
 * seconds, 0.5ms to 10s (+Inf is implied). */
#define DURO_METRICS_BUCKETS                                                   \
    {                                                                          \
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,    \
            2.5, 5, 10                                                         \
    }
#define DURO_METRICS_NBUCKETS 14

/* duro_metrics_lookup reads a counter's or gauge's current value, or a
 * histogram's observation count, into *out. Returns 0 or DURO_ENOTFOUND
 * (no such series). For tests and for owners that derive one metric from
 * another. */
DURO_EXPORT int duro_metrics_lookup(duro_metrics *m, const char *name,
                                    const char *labels, double *out);

/* duro_metrics_on_render registers cb to run at the start of every render
 * (in registration order). Returns 0 or DURO_ENOMEM. */
DURO_EXPORT int duro_metrics_on_render(duro_metrics *m,
                                       duro_metrics_render_cb cb, void *arg);
/* duro_metrics_off_render removes a callback registered with the same cb
 * and arg. It waits for a render in progress on another thread, so once
 * it returns cb is not running and will not run again: arg may be freed.
 * Never call it from inside a render callback (it would deadlock). */
DURO_EXPORT void duro_metrics_off_render(duro_metrics *m,
                                         duro_metrics_render_cb cb, void *arg);

/* duro_metrics_render runs the render callbacks and returns the whole
 * registry in the Prometheus text format (families in the order they were
 * created, series in the order they appeared). The caller frees the text
 * with free(). NULL when out of memory. */
DURO_EXPORT char *duro_metrics_render(duro_metrics *m);

/* duro_metrics_build_info sets the gauge
 * duro_build_info{program="<program>",version="<Duro's version>"} 1. */
DURO_EXPORT int duro_metrics_build_info(duro_metrics *m, const char *program);

/* duro_metrics_label writes `key="value"` into buf with value escaped as
 * the format requires (\\, \" and \n), appending to what buf holds after a
 * comma when buf is not empty. Returns buf, or NULL when it does not fit
 * (buf is then left as it was). */
DURO_EXPORT char *duro_metrics_label(char *buf, size_t size, const char *key,
                                     const char *value);

#ifdef __cplusplus
}
#endif
#endif
