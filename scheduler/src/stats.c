/* stats.c: the scheduler's Prometheus metric families. */
#include <stdio.h>

#include "duro/metrics.h"
#include "sched_internal.h"

/* FAMILIES: name, type, help. Counters are updated on the loop thread as
 * things happen; nothing here is computed at render time. */
static const char *const FAMILIES[][3] = {
    {M_TIMERS_FIRED, "counter",
     "Timers fired, by kind (t workflow timer, r activity retry, s "
     "schedule-to-close, w workflow task retry, x execution timeout)."},
    {M_TIMERS_SKIPPED, "counter",
     "Due timers not fired, by reason (gone: another scheduler fired it; "
     "ignored: the run moved on; malformed; failed: the Function erred)."},
    {M_TIMER_LATENESS, "histogram",
     "How late a timer fired after its due time, by Redis' clock."},
    {M_TIMEOUTS, "counter",
     "Tasks timed out by the reclaim scan, by kind (workflow_task, "
     "activity)."},
    {M_ORPHANS, "counter",
     "Pending task entries acknowledged because their run moved on."},
    {M_DEAD, "counter", "Undecodable task entries moved to duro:dead."},
    {M_SCANS, "counter", "Reclaim scans started."},
    {M_SCANS_SKIPPED, "counter",
     "Reclaim scans skipped because the previous one was still running."},
    {M_REDIS_ERRORS, "counter", "Error replies from Redis."},
    {M_RECONNECTS, "counter",
     "Redis connections re-established, by connection (commands, wake)."},
    {M_CONNECTED, "gauge", "1 while the command connection is up."},
    {M_PARTITIONS, "gauge", "Partitions of the namespace (duro:meta)."},
};

void stats_describe(sched *s)
{
    for (size_t i = 0; i < sizeof(FAMILIES) / sizeof(FAMILIES[0]); i++)
        duro_metrics_describe(s->m, FAMILIES[i][0], FAMILIES[i][1],
                              FAMILIES[i][2]);
    char labels[128] = "";
    duro_metrics_build_info(s->m, "duro-scheduler");
    duro_metrics_set(s->m, M_PARTITIONS, NULL, s->partitions);
    duro_metrics_set(s->m, M_CONNECTED, NULL, 0);
    /* Zero series up front, so that rate() sees the first increment. */
    duro_metrics_add(s->m, M_SCANS, NULL, 0);
    duro_metrics_add(s->m, M_REDIS_ERRORS, NULL, 0);
    static const char *const kinds[] = {"t", "r", "s", "w", "x"};
    for (int i = 0; i < 5; i++) {
        snprintf(labels, sizeof(labels), "kind=\"%s\"", kinds[i]);
        duro_metrics_add(s->m, M_TIMERS_FIRED, labels, 0);
    }
    duro_metrics_add(s->m, M_TIMEOUTS, "kind=\"workflow_task\"", 0);
    duro_metrics_add(s->m, M_TIMEOUTS, "kind=\"activity\"", 0);
}

void stats_fired(sched *s, char kind, int64_t late_ms)
{
    char labels[32];
    snprintf(labels, sizeof(labels), "kind=\"%c\"",
             kind >= 'a' && kind <= 'z' ? kind : '?');
    duro_metrics_add(s->m, M_TIMERS_FIRED, labels, 1);
    duro_metrics_observe(s->m, M_TIMER_LATENESS, NULL,
                         late_ms > 0 ? (double)late_ms / 1000.0 : 0.0);
}

void stats_count(sched *s, const char *name, const char *key, const char *value)
{
    char labels[128] = "";
    if (key) duro_metrics_label(labels, sizeof(labels), key, value);
    duro_metrics_add(s->m, name, labels, 1);
}
