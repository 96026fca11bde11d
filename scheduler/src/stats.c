/* stats.c: the scheduler's Prometheus metric families. */
#include <stdio.h>
#include <string.h>

#include "duro/ids.h"
#include "duro/keys.h"
#include "duro/metrics.h"
#include "sched_internal.h"

/* The workflow close counter, shared with the workers (they count the
 * other statuses): the same name and labels, so that sum() adds up. */
#define M_WF_CLOSED "duro_workflows_closed_total"

/* KINDS: a timer kind letter (the member's first field) as a label word. */
static const struct {
    char letter;
    const char *word;
} KINDS[] = {
    {'t', "timer"},
    {'r', "activity_retry"},
    {'s', "schedule_to_close"},
    {'w', "workflow_task_retry"},
    {'x', "execution_timeout"},
    {'k', "sticky_schedule_to_start"},
    {'n', "run_timeout"},
    {'q', "schedule_to_start"}, /* fired: an activity attempt timed out */
    {'l', "activity_lease"},    /* fired: a leased attempt checked (eager) */
};
#define NKINDS (sizeof(KINDS) / sizeof(KINDS[0]))

static const char *kind_word(char letter)
{
    for (size_t i = 0; i < NKINDS; i++)
        if (KINDS[i].letter == letter) return KINDS[i].word;
    return "unknown";
}

/* FAMILIES: name, type, help. Counters are updated on the loop thread as
 * things happen; nothing here is computed at render time. */
static const char *const FAMILIES[][3] = {
    {M_TIMERS_FIRED, "counter",
     "Timers fired, by kind (timer, activity_retry, schedule_to_close, "
     "workflow_task_retry, execution_timeout, sticky_schedule_to_start, "
     "run_timeout, schedule_to_start: an activity attempt no worker took "
     "in time, activity_lease: an eagerly leased attempt's timeout "
     "checked)."},
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
    {M_SWEPT, "counter",
     "Closed runs removed by the retention sweep, by namespace."},
    {M_ARCHIVED, "counter",
     "Runs written to the archive (--archive-dir) before removal, by "
     "namespace and result (ok, failed)."},
    {M_SCHEDULE_ACTIONS, "counter",
     "Schedule actions recorded, by result (started, skipped: overlap "
     "policy, missed: catch-up window, buffered)."},
    {M_WF_CLOSED, "counter",
     "Workflow runs this process closed, by type and status (scheduler: "
     "timed_out; workers count the other statuses)."},
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
    for (size_t i = 0; i < NKINDS; i++) {
        labels[0] = '\0';
        duro_metrics_label(labels, sizeof(labels), "kind", KINDS[i].word);
        duro_metrics_add(s->m, M_TIMERS_FIRED, labels, 0);
    }
    duro_metrics_add(s->m, M_TIMEOUTS, "kind=\"workflow_task\"", 0);
    duro_metrics_add(s->m, M_TIMEOUTS, "kind=\"activity\"", 0);
    static const char *const results[] = {"started", "skipped", "missed",
                                          "buffered"};
    for (size_t i = 0; i < 4; i++) {
        labels[0] = '\0';
        duro_metrics_label(labels, sizeof(labels), "result", results[i]);
        duro_metrics_add(s->m, M_SCHEDULE_ACTIONS, labels, 0);
    }
}

/* on_type counts a timed-out run once its type is read (the run is
 * closed already; NULL reply: the scheduler is stopping, not counted). */
static void on_type(duro_aredis *r, redisReply *reply, void *arg)
{
    (void)r;
    sched *s = arg;
    if (!reply) return;
    char l[2 * DURO_QUEUE_MAX + 64] = "";
    duro_metrics_label(l, sizeof(l), "type",
                       duro__reply_str(reply) ? reply->str : "");
    duro_metrics_label(l, sizeof(l), "status", "timed_out");
    duro_metrics_add(s->m, M_WF_CLOSED, l, 1);
}

/* count_timed_out reads the run's type (HGET wf type), the label the
 * workers use, then counts it. */
static void count_timed_out(sched *s, const duro_keyspace *ks, const char *id)
{
    duro_wf_keys k;
    duro_wf_keys_init(&k, ks, id, NULL);
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "HGET");
    duro_argv_push(&a, k.wf);
    duro_argv_push(&a, "type");
    sched_cmd(s, on_type, s, &a); /* not sent: not counted */
    duro_argv_free(&a);
}

void stats_fired(sched *s, const duro_keyspace *ks, char kind, const char *id,
                 int64_t late_ms)
{
    char labels[64] = "";
    duro_metrics_label(labels, sizeof(labels), "kind", kind_word(kind));
    duro_metrics_add(s->m, M_TIMERS_FIRED, labels, 1);
    duro_metrics_observe(s->m, M_TIMER_LATENESS, NULL,
                         late_ms > 0 ? (double)late_ms / 1000.0 : 0.0);
    if (kind == 'x' || kind == 'n') count_timed_out(s, ks, id);
}

void stats_count(sched *s, const char *name, const char *key, const char *value)
{
    char labels[128] = "";
    if (key) duro_metrics_label(labels, sizeof(labels), key, value);
    duro_metrics_add(s->m, name, labels, 1);
}
