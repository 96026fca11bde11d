/* test_metrics.c: the metrics registry and its Prometheus text format. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "duro/errno.h"
#include "duro/metrics.h"

TestSuite(metrics, .timeout = 10);

static duro_metrics *m;

static void setup(void)
{
    m = duro_metrics_new();
    cr_assert(m);
}

static void teardown(void)
{
    duro_metrics_free(m);
}

/* has: the rendered text contains line (a whole line). */
static int has(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)); p++)
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
            return 1;
    return 0;
}

Test(metrics, render_counter_and_gauge, .init = setup, .fini = teardown)
{
    cr_assert_eq(duro_metrics_describe(m, "duro_timers_fired_total", "counter",
                                       "Timers fired."),
                 0);
    cr_assert_eq(duro_metrics_describe(m, "duro_cache_size", "gauge",
                                       "Runs in the cache."),
                 0);
    duro_metrics_add(m, "duro_timers_fired_total", NULL, 1);
    duro_metrics_add(m, "duro_timers_fired_total", NULL, 2);
    duro_metrics_add(m, "duro_timers_fired_total", "kind=\"t\"", 1);
    duro_metrics_set(m, "duro_cache_size", NULL, 7);
    duro_metrics_set(m, "duro_cache_size", NULL, 5.5);
    char *t = duro_metrics_render(m);
    cr_assert(t);
    cr_assert_str_eq(t, "# HELP duro_timers_fired_total Timers fired.\n"
                        "# TYPE duro_timers_fired_total counter\n"
                        "duro_timers_fired_total 3\n"
                        "duro_timers_fired_total{kind=\"t\"} 1\n"
                        "# HELP duro_cache_size Runs in the cache.\n"
                        "# TYPE duro_cache_size gauge\n"
                        "duro_cache_size 5.5\n");
    free(t);
}

Test(metrics, empty_registry_renders_empty_text, .init = setup,
     .fini = teardown)
{
    char *t = duro_metrics_render(m);
    cr_assert(t);
    cr_assert_str_eq(t, "");
    free(t);
}

Test(metrics, undescribed_family_gets_type_without_help, .init = setup,
     .fini = teardown)
{
    duro_metrics_set(m, "duro_up", NULL, 1);
    char *t = duro_metrics_render(m);
    cr_assert_str_eq(t, "# TYPE duro_up gauge\nduro_up 1\n");
    free(t);
}

Test(metrics, rejects_bad_names_types_and_conflicts, .init = setup,
     .fini = teardown)
{
    cr_assert_eq(duro_metrics_describe(m, "9bad", "counter", ""), DURO_EINVAL);
    cr_assert_eq(duro_metrics_describe(m, "bad-name", "counter", ""),
                 DURO_EINVAL);
    cr_assert_eq(duro_metrics_describe(m, "duro_x", "summary", ""),
                 DURO_EINVAL);
    cr_assert_eq(duro_metrics_describe(m, "duro_x_total", "counter", ""), 0);
    cr_assert_eq(duro_metrics_set(m, "duro_x_total", NULL, 1), DURO_EINVAL);
    cr_assert_eq(duro_metrics_describe(m, "duro_x_total", "gauge", ""),
                 DURO_EINVAL);
    cr_assert_eq(duro_metrics_add(m, "duro_x_total", NULL, -1), DURO_EINVAL);
    double v = -1;
    cr_assert_eq(duro_metrics_lookup(m, "duro_x_total", NULL, &v),
                 DURO_ENOTFOUND);
}

Test(metrics, escapes_help_and_label_values, .init = setup, .fini = teardown)
{
    duro_metrics_describe(m, "duro_e", "gauge", "a \\ b\nc \"q\"");
    char labels[128] = "";
    cr_assert(
        duro_metrics_label(labels, sizeof(labels), "type", "or\"d\\er\nx"));
    cr_assert(duro_metrics_label(labels, sizeof(labels), "queue", "food"));
    cr_assert_str_eq(labels, "type=\"or\\\"d\\\\er\\nx\",queue=\"food\"");
    duro_metrics_set(m, "duro_e", labels, 1);
    char *t = duro_metrics_render(m);
    /* HELP escapes \ and newline only; quotes stay as they are */
    cr_assert(has(t, "# HELP duro_e a \\\\ b\\nc \"q\""), "%s", t);
    cr_assert(has(t, "duro_e{type=\"or\\\"d\\\\er\\nx\",queue=\"food\"} 1"),
              "%s", t);
    free(t);
}

Test(metrics, label_that_does_not_fit_leaves_buffer_alone)
{
    char b[16] = "a=\"1\"";
    cr_assert_null(duro_metrics_label(b, sizeof(b), "long", "0123456789"));
    cr_assert_str_eq(b, "a=\"1\"");
}

Test(metrics, histogram_buckets_are_cumulative, .init = setup, .fini = teardown)
{
    duro_metrics_describe(m, "duro_lateness_seconds", "histogram", "Late.");
    duro_metrics_observe(m, "duro_lateness_seconds", NULL, 0.0001);
    duro_metrics_observe(m, "duro_lateness_seconds", NULL, 0.001); /* le */
    duro_metrics_observe(m, "duro_lateness_seconds", NULL, 0.3);
    duro_metrics_observe(m, "duro_lateness_seconds", NULL, 42);
    char *t = duro_metrics_render(m);
    const char *want[] = {
        "# TYPE duro_lateness_seconds histogram",
        "duro_lateness_seconds_bucket{le=\"0.0005\"} 1",
        "duro_lateness_seconds_bucket{le=\"0.001\"} 2",
        "duro_lateness_seconds_bucket{le=\"0.0025\"} 2",
        "duro_lateness_seconds_bucket{le=\"0.25\"} 2",
        "duro_lateness_seconds_bucket{le=\"0.5\"} 3",
        "duro_lateness_seconds_bucket{le=\"10\"} 3",
        "duro_lateness_seconds_bucket{le=\"+Inf\"} 4",
        "duro_lateness_seconds_sum 42.3011",
        "duro_lateness_seconds_count 4",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        cr_assert(has(t, want[i]), "missing \"%s\" in:\n%s", want[i], t);
    free(t);
    double n;
    cr_assert_eq(duro_metrics_lookup(m, "duro_lateness_seconds", NULL, &n), 0);
    cr_assert_eq(n, 4);
}

Test(metrics, histogram_labels_come_before_le, .init = setup, .fini = teardown)
{
    duro_metrics_observe(m, "duro_wft_seconds", "type=\"order\"", 0.002);
    char *t = duro_metrics_render(m);
    cr_assert(has(t, "duro_wft_seconds_bucket{type=\"order\",le=\"0.0025\"} 1"),
              "%s", t);
    cr_assert(has(t, "duro_wft_seconds_count{type=\"order\"} 1"), "%s", t);
    free(t);
}

static void refresh(duro_metrics *r, void *arg)
{
    int *calls = arg;
    duro_metrics_set(r, "duro_refreshed", NULL, ++*calls);
}

Test(metrics, render_hook_runs_before_snapshot, .init = setup, .fini = teardown)
{
    int calls = 0;
    cr_assert_eq(duro_metrics_on_render(m, refresh, &calls), 0);
    char *t = duro_metrics_render(m);
    cr_assert(has(t, "duro_refreshed 1"), "%s", t);
    free(t);
    t = duro_metrics_render(m);
    cr_assert(has(t, "duro_refreshed 2"), "%s", t);
    free(t);
    duro_metrics_off_render(m, refresh, &calls);
    free(duro_metrics_render(m));
    cr_assert_eq(calls, 2);
}

Test(metrics, default_registry_is_shared)
{
    cr_assert(duro_metrics_default());
    cr_assert_eq(duro_metrics_default(), duro_metrics_default());
}

/* ---- Threads ---- */

#define THREADS 4
#define ROUNDS 20000

static void *hammer(void *arg)
{
    char labels[32] = "";
    duro_metrics_label(labels, sizeof(labels), "t", (const char *)arg);
    for (int i = 0; i < ROUNDS; i++) {
        duro_metrics_add(m, "duro_ops_total", NULL, 1);
        duro_metrics_add(m, "duro_ops_by_thread_total", labels, 1);
        duro_metrics_observe(m, "duro_op_seconds", NULL, 0.001);
        duro_metrics_set(m, "duro_last", NULL, i);
        if (i % 2000 == 0) free(duro_metrics_render(m));
    }
    return NULL;
}

Test(metrics, four_threads_lose_no_updates, .init = setup, .fini = teardown)
{
    pthread_t th[THREADS];
    static const char *names[THREADS] = {"a", "b", "c", "d"};
    for (int i = 0; i < THREADS; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, hammer, (void *)names[i]), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    double v;
    cr_assert_eq(duro_metrics_lookup(m, "duro_ops_total", NULL, &v), 0);
    cr_assert_eq(v, THREADS * ROUNDS);
    cr_assert_eq(duro_metrics_lookup(m, "duro_op_seconds", NULL, &v), 0);
    cr_assert_eq(v, THREADS * ROUNDS);
    for (int i = 0; i < THREADS; i++) {
        char labels[32] = "";
        duro_metrics_label(labels, sizeof(labels), "t", names[i]);
        cr_assert_eq(
            duro_metrics_lookup(m, "duro_ops_by_thread_total", labels, &v), 0);
        cr_assert_eq(v, ROUNDS);
    }
    char *t = duro_metrics_render(m);
    cr_assert(has(t, "duro_op_seconds_bucket{le=\"0.001\"} 80000"), "%s", t);
    free(t);
}

Test(metrics, set_counter_mirrors_an_external_count, .init = setup,
     .fini = teardown)
{
    cr_assert_eq(duro_metrics_set_counter(m, "duro_done_total", NULL, 5), 0);
    cr_assert_eq(duro_metrics_set_counter(m, "duro_done_total", NULL, 9), 0);
    cr_assert_eq(duro_metrics_set_counter(m, "duro_done_total", NULL, -1),
                 DURO_EINVAL);
    char *t = duro_metrics_render(m);
    cr_assert(has(t, "# TYPE duro_done_total counter"), "%s", t);
    cr_assert(has(t, "duro_done_total 9"), "%s", t);
    free(t);
}

Test(metrics, build_info_names_program_and_version, .init = setup,
     .fini = teardown)
{
    cr_assert_eq(duro_metrics_build_info(m, "food-worker"), 0);
    char *t = duro_metrics_render(m);
    cr_assert(strstr(t, "duro_build_info{program=\"food-worker\",version=\""),
              "%s", t);
    free(t);
}
