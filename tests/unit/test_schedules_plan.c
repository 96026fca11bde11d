/* test_schedules_plan.c: what one schedule fire decides
 * (scheduler/src/schedules_plan.c): catch-up window, the per-fire budget,
 * overlap policies, triggers and backfills, pause, jitter and the next
 * due time. The job is built by hand as a claim would fill it. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "schedules_int.h"

TestSuite(schedules_plan, .timeout = 5);

#define T0 1790000000000LL /* a whole second (ms) */

/* job: an every-second schedule claimed at `now`, next_nominal `next`. */
static sjob *job(const char *policy, int64_t now, int64_t next)
{
    sjob *j = calloc(1, sizeof(*j));
    strcpy(j->id, "s");
    j->prefix = strdup("");
    j->overlap = strdup(policy);
    j->now = now;
    j->next_nominal = next;
    j->catchup_ms = 365LL * 86400 * 1000;
    char err[64];
    cr_assert_eq(duro_spec_interval(&j->spec, 1000, 0, err, sizeof(err)), 0);
    j->spec_ok = 1;
    static const char *const P[] = {"Skip",           "BufferOne",
                                    "BufferAll",      "CancelOther",
                                    "TerminateOther", "AllowAll"};
    for (int i = 0; i < 6; i++)
        if (!strcmp(policy, P[i])) j->policy = (overlap_policy)i;
    j->buffer = calloc(SCHED_MAX_BUFFER, sizeof(*j->buffer));
    j->starts = calloc(SCHED_MAX_ACTIONS + 1, sizeof(*j->starts));
    j->reqs = calloc(4, sizeof(*j->reqs));
    return j;
}

/* running: one earlier run still RUNNING (as the status step finds). */
static void running(sjob *j, int64_t nominal)
{
    int i = j->nrunning++;
    j->running[i] = nominal;
    j->alive[i] = 1;
    strcpy(j->runs[i], "r1");
    strcpy(j->queues[i], "q");
}

static void done(sjob *j)
{
    duro_spec_close(&j->spec);
    for (int i = 0; i < j->nreq; i++)
        free(j->reqs[i]);
    free(j->reqs);
    free(j->prefix);
    free(j->overlap);
    free(j->buffer);
    free(j->starts);
    free(j);
}

Test(schedules_plan, due_times_start_and_the_next_is_after_now)
{
    sjob *j = job("AllowAll", T0 + 2500, T0);
    schedules_plan(j);
    cr_assert_eq(j->nstarts, 3);
    cr_assert_str_eq(j->starts[0].wfid, "s-2026-09-21T14:13:20Z");
    cr_assert_eq(j->starts[2].nominal, T0 + 2000);
    cr_assert_eq(j->new_next, T0 + 3000);
    cr_assert_eq(j->due, T0 + 3000);
    cr_assert_eq(j->missed + j->skipped, 0);
    done(j);
}

Test(schedules_plan, times_older_than_the_window_are_missed)
{
    sjob *j = job("AllowAll", T0 + 10000, T0);
    j->catchup_ms = 3000;
    schedules_plan(j);
    cr_assert_eq(j->missed, 7);  /* T0..T0+6s */
    cr_assert_eq(j->nstarts, 4); /* T0+7s..T0+10s */
    cr_assert_eq(j->starts[0].nominal, T0 + 7000);
    done(j);
}

Test(schedules_plan, a_long_outage_is_worked_off_in_bounded_fires)
{
    sjob *j = job("AllowAll", T0 + 1000LL * 1000, T0);
    schedules_plan(j);
    cr_assert_eq(j->nstarts, SCHED_MAX_ACTIONS);
    cr_assert_eq(j->new_next, T0 + SCHED_MAX_ACTIONS * 1000LL);
    cr_assert_eq(j->due, j->now, "the rest is due at once");
    done(j);
}

Test(schedules_plan, skip_and_buffers_while_one_runs)
{
    const char *pol[] = {"Skip", "BufferOne", "BufferAll", "AllowAll"};
    int starts[] = {0, 0, 0, 3}, skipped[] = {3, 2, 0, 0},
        buffered[] = {0, 1, 3, 0};
    for (int p = 0; p < 4; p++) {
        sjob *j = job(pol[p], T0 + 2000, T0);
        running(j, T0 - 1000);
        schedules_plan(j);
        cr_assert_eq(j->nstarts, starts[p], "%s", pol[p]);
        cr_assert_eq(j->skipped, skipped[p], "%s", pol[p]);
        cr_assert_eq(j->nbuffer, buffered[p], "%s", pol[p]);
        if (buffered[p])
            cr_assert_eq(j->due, j->now + SCHED_POLL_MS, "%s polls", pol[p]);
        done(j);
    }
}

Test(schedules_plan, a_closed_run_releases_the_oldest_buffered)
{
    sjob *j = job("BufferAll", T0 + 500, T0 + 1000);
    running(j, T0 - 3000);
    j->alive[0] = 0; /* it closed */
    j->buffer[j->nbuffer++] = T0 - 2000;
    j->buffer[j->nbuffer++] = T0 - 1000;
    schedules_plan(j);
    cr_assert_eq(j->nstarts, 1);
    cr_assert_eq(j->starts[0].nominal, T0 - 2000);
    cr_assert_eq(j->nbuffer, 1);
    cr_assert_eq(j->nrunning, 1);
    done(j);
}

Test(schedules_plan, terminate_other_and_cancel_other)
{
    sjob *j = job("TerminateOther", T0, T0);
    running(j, T0 - 1000);
    schedules_plan(j);
    cr_assert_eq(j->nkill, 1);
    cr_assert_eq(j->kill_how, 't');
    cr_assert_eq(j->nstarts, 1);
    done(j);
    /* a catch-up batch: only the last survives, the others are skipped */
    j = job("TerminateOther", T0 + 3000, T0);
    running(j, T0 - 1000);
    schedules_plan(j);
    cr_assert_eq(j->nkill, 1);
    cr_assert_eq(j->nstarts, 1);
    cr_assert_eq(j->starts[0].nominal, T0 + 3000);
    cr_assert_eq(j->skipped, 3);
    cr_assert_eq(j->nrunning, 1);
    done(j);
    j = job("CancelOther", T0 + 1000, T0);
    running(j, T0 - 1000);
    schedules_plan(j);
    cr_assert_eq(j->nkill, 1, "asked once");
    cr_assert_eq(j->kill_how, 'c');
    cr_assert_eq(j->nstarts, 0);
    cr_assert_eq(j->nbuffer, 1, "only the newest waits");
    cr_assert_eq(j->buffer[0], T0 + 1000);
    cr_assert_eq(j->skipped, 1);
    done(j);
}

/* A range Redis accepted (the Function checks tonumber) but that is not
 * two int64 numbers is refused, not clamped into an endless backfill. */
Test(schedules_plan, a_backfill_range_out_of_range_is_refused)
{
    sjob *j = job("AllowAll", T0 + 5000, T0);
    j->paused = 1;
    j->reqs[j->nreq++] = strdup("B1790000000000:99999999999999999999");
    j->reqs[j->nreq++] = strdup("B1790000000000:1790000005000x");
    schedules_plan(j);
    cr_assert_eq(j->nstarts, 0);
    cr_assert_str_eq(j->requeue, "");
    cr_assert_eq(j->reqs_done, 2);
    done(j);
}

Test(schedules_plan, triggers_and_backfills_in_order_even_paused)
{
    sjob *j = job("AllowAll", T0 + 5000, T0);
    j->paused = 1;
    j->reqs[j->nreq++] = strdup("T1790000000123");
    char b[64];
    snprintf(b, sizeof(b), "B%lld:%lld", T0 - 200 * 1000LL, T0);
    j->reqs[j->nreq++] = strdup(b);
    schedules_plan(j);
    cr_assert_eq(j->nstarts, SCHED_MAX_ACTIONS, "budget");
    cr_assert_str_eq(j->starts[0].how, "trigger");
    cr_assert_str_eq(j->starts[0].wfid, "s-2026-09-21T14:13:20.123Z");
    cr_assert_str_eq(j->starts[1].how, "backfill");
    cr_assert_eq(j->starts[1].nominal, T0 - 200 * 1000LL);
    cr_assert_eq(j->reqs_done, 2);
    snprintf(b, sizeof(b), "B%lld:%lld", T0 - 101 * 1000LL, T0);
    cr_assert_str_eq(j->requeue, b, "the rest of the range");
    cr_assert_eq(j->new_next, T0, "paused: scheduled times untouched");
    cr_assert_eq(j->due, -1);
    done(j);
}

Test(schedules_plan, jitter_delays_the_due_time_not_the_nominal)
{
    sjob *j = job("AllowAll", T0 + 100, T0 + 1000);
    j->jitter_ms = 700;
    schedules_plan(j);
    int64_t jit = duro_spec_jitter("s", T0 + 1000, 700);
    cr_assert_eq(j->due, T0 + 1000 + jit);
    cr_assert_eq(j->new_next, T0 + 1000);
    cr_assert_eq(j->nstarts, 0);
    done(j);
}

/* The catch-up window counts from when an action was due (nominal plus
 * jitter): a time fired when due is never missed, however wide the
 * jitter is next to the window. */
Test(schedules_plan, a_jitter_wider_than_the_window_misses_nothing)
{
    int64_t n = T0 + 1000, jit = 0;
    for (; (jit = duro_spec_jitter("s", n, 900)) <= 100; n += 1000)
        ; /* a time whose jitter is wider than the window */
    sjob *j = job("AllowAll", n + jit, n);
    j->jitter_ms = 900;
    j->catchup_ms = 100;
    schedules_plan(j);
    cr_assert_eq(j->missed, 0, "fired when due, counted missed");
    cr_assert_eq(j->nstarts, 1);
    cr_assert_eq(j->starts[0].nominal, n);
    done(j);
}
