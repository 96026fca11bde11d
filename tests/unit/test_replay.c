/* test_replay.c: the replay engine fed synthetic histories, no Redis. */
#include <criterion/criterion.h>
#include <string.h>

#include "duro/history.h"
#include "fake_history.h"
#include "run.h"

TestSuite(replay, .timeout = 5);

/* ---- Building histories ---- */

static duro_wf *new_run(duro_workflow_fn fn)
{
    cJSON *in = cJSON_Parse("{\"x\":1}");
    duro_wf *wf = duro__run_new("wf-1", "run-1", "t", "q", in, fn);
    cJSON_Delete(in);
    cr_assert_not_null(wf);
    return wf;
}

/* apply_all applies a whole recorded history, as the replay checker does:
 * the last task is matched at the end. */
static int apply_all(duro_wf *wf, history *h)
{
    int rc = duro__run_apply(wf, h->ev, h->n);
    return rc ? rc : duro__run_end_replay(wf);
}

static int count_cmds(const duro__cmd *c)
{
    int n = 0;
    for (; c; c = c->next)
        n++;
    return n;
}

/* ---- Workflows under test ---- */

static cJSON *two_activities(duro_wf *wf, const cJSON *input)
{
    duro_result a = duro_activity(wf, "a", NULL, NULL);
    duro_result b = duro_activity(wf, "b", NULL, NULL);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "a", cJSON_Duplicate(a.value, 1));
    cJSON_AddItemToObject(o, "b",
                          b.ok ? cJSON_Duplicate(b.value, 1)
                               : cJSON_CreateString(b.error));
    return o;
}

static cJSON *sleeper(duro_wf *wf, const cJSON *input)
{
    int64_t before = duro_now(wf);
    duro_sleep(wf, 500);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "before", (double)before);
    cJSON_AddNumberToObject(o, "after", (double)duro_now(wf));
    return o;
}

typedef struct {
    int count;
    char order[64];
} sig_state;

static void on_sig(duro_wf *wf, const cJSON *input, void *arg)
{
    sig_state *s = arg;
    s->count++;
    strncat(s->order, input->valuestring,
            sizeof(s->order) - strlen(s->order) - 1);
}

static bool got_two(void *arg)
{
    return ((sig_state *)arg)->count >= 2;
}

static cJSON *signals(duro_wf *wf, const cJSON *input)
{
    sig_state *s = duro_alloc(wf, sizeof(*s));
    duro_activity(wf, "first", NULL, NULL); /* signals may come meanwhile */
    duro_on_signal(wf, "go", on_sig, s);
    bool ok = duro_condition(wf, got_two, s, 60000);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "ok", ok);
    cJSON_AddStringToObject(o, "order", s->order);
    return o;
}

static cJSON *randoms(duro_wf *wf, const cJSON *input)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)duro_random(wf));
    duro_sleep(wf, 10);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "r", buf);
    cJSON_AddStringToObject(o, "uuid", duro_uuid(wf));
    return o;
}

/* ---- Tests ---- */

Test(replay, first_task_issues_the_first_activity)
{
    history h = {0};
    add(&h, DURO_EVENT_WORKFLOW_STARTED, "{}");
    duro_wf *wf = new_run(two_activities);
    cr_assert_eq(duro__run_apply(wf, h.ev, h.n), 0);
    cr_assert_eq(duro__run_advance(wf, 5000), 0);
    duro__cmd *c = duro__run_take_cmds(wf);
    cr_assert_eq(count_cmds(c), 1);
    cr_assert_eq(c->kind, CMD_ACTIVITY);
    cr_assert_eq(c->seq, 1);
    cr_assert_str_eq(c->name, "a");
    cr_assert_not_null(strstr(c->data, "\"name\":\"a\""));
    duro__cmds_free(c);
    duro__run_free(wf);
    history_free(&h);
}

Test(replay, full_history_replays_to_completion)
{
    history h = {0};
    add(&h, DURO_EVENT_WORKFLOW_STARTED, "{}");
    add(&h, DURO_EVENT_WORKFLOW_TASK_COMPLETED, "{\"now\":2000}");
    add(&h, DURO_EVENT_ACTIVITY_SCHEDULED, "{\"seq\":1,\"name\":\"a\"}");
    add(&h, DURO_EVENT_ACTIVITY_COMPLETED,
        "{\"seq\":1,\"attempt\":1,\"result\":11}");
    add(&h, DURO_EVENT_WORKFLOW_TASK_COMPLETED, "{\"now\":4000}");
    add(&h, DURO_EVENT_ACTIVITY_SCHEDULED, "{\"seq\":2,\"name\":\"b\"}");
    add(&h, DURO_EVENT_ACTIVITY_FAILED,
        "{\"seq\":2,\"attempt\":3,\"failure\":{\"message\":\"boom\",\"type\":"
        "\"X\"}}");
    duro_wf *wf = new_run(two_activities);
    cr_assert_eq(duro__run_apply(wf, h.ev, h.n), 0);
    cr_assert(wf->replaying);
    cr_assert_eq(duro__run_advance(wf, 9000), 0);
    cr_assert_not(wf->replaying);
    duro__cmd *c = duro__run_take_cmds(wf);
    cr_assert_eq(count_cmds(c), 1);
    cr_assert_eq(c->kind, CMD_COMPLETE);
    cr_assert_str_eq(c->value, "{\"a\":11,\"b\":\"boom\"}");
    duro__cmds_free(c);
    duro__run_free(wf);
    history_free(&h);
}

Test(replay, changed_activity_name_is_nondeterministic)
{
    history h = {0};
    add(&h, DURO_EVENT_WORKFLOW_STARTED, "{}");
    add(&h, DURO_EVENT_WORKFLOW_TASK_COMPLETED, "{\"now\":2000}");
    add(&h, DURO_EVENT_ACTIVITY_SCHEDULED, "{\"seq\":1,\"name\":\"charge\"}");
    duro_wf *wf = new_run(two_activities);
    cr_assert_eq(apply_all(wf, &h), DURO_ENONDET);
    cr_assert_not_null(wf->nondet);
    cr_assert_not_null(strstr(wf->nondet, "event 3"), "%s", wf->nondet);
    cr_assert_not_null(strstr(wf->nondet, "charge"), "%s", wf->nondet);
    cr_assert_not_null(strstr(wf->nondet, "ScheduleActivity seq=1 a"), "%s",
                       wf->nondet);
    duro__run_free(wf);
    history_free(&h);
}

Test(replay, timer_where_code_schedules_activity_is_nondeterministic)
{
    history h = {0};
    add(&h, DURO_EVENT_WORKFLOW_STARTED, "{}");
    add(&h, DURO_EVENT_WORKFLOW_TASK_COMPLETED, "{\"now\":2000}");
    add(&h, DURO_EVENT_TIMER_STARTED, "{\"seq\":1,\"durationMs\":5}");
    duro_wf *wf = new_run(two_activities);
    cr_assert_eq(apply_all(wf, &h), DURO_ENONDET);
    cr_assert_not_null(strstr(wf->nondet, "TimerStarted"), "%s", wf->nondet);
    duro__run_free(wf);
    history_free(&h);
}

Test(replay, command_missing_from_history_is_nondeterministic)
{
    history h = {0};
    add(&h, DURO_EVENT_WORKFLOW_STARTED, "{}");
    add(&h, DURO_EVENT_WORKFLOW_TASK_COMPLETED, "{\"now\":2000}");
    /* the recorded task issued nothing, but the code schedules "a" */
    add(&h, DURO_EVENT_SIGNAL_RECEIVED, "{\"name\":\"s\",\"input\":null}");
    duro_wf *wf = new_run(two_activities);
    cr_assert_eq(apply_all(wf, &h), DURO_ENONDET);
    cr_assert_not_null(strstr(wf->nondet, "does not have"), "%s", wf->nondet);
    duro__run_free(wf);
    history_free(&h);
}

Test(replay, history_command_the_code_never_issues_is_nondeterministic)
{
    history h = {0};
    add(&h, DURO_EVENT_WORKFLOW_STARTED, "{}");
    add(&h, DURO_EVENT_WORKFLOW_TASK_COMPLETED, "{\"now\":2000}");
    add(&h, DURO_EVENT_ACTIVITY_SCHEDULED, "{\"seq\":1,\"name\":\"a\"}");
    add(&h, DURO_EVENT_ACTIVITY_SCHEDULED, "{\"seq\":2,\"name\":\"extra\"}");
    duro_wf *wf = new_run(two_activities);
    cr_assert_eq(apply_all(wf, &h), DURO_ENONDET);
    cr_assert_not_null(strstr(wf->nondet, "issued no command"), "%s",
                       wf->nondet);
    duro__run_free(wf);
    history_free(&h);
}

Test(replay, events_out_of_order_are_rejected)
{
    history h = {0};
    add(&h, DURO_EVENT_WORKFLOW_STARTED, "{}");
    h.ev[0].id = 2;
    duro_wf *wf = new_run(two_activities);
    cr_assert_eq(duro__run_apply(wf, h.ev, h.n), DURO_EPROTO);
    duro__run_free(wf);
    history_free(&h);
}

Test(replay, workflow_clock_comes_from_the_history)
{
    history h = {0};
    add(&h, DURO_EVENT_WORKFLOW_STARTED, "{}");
    add(&h, DURO_EVENT_WORKFLOW_TASK_COMPLETED, "{\"now\":2000}");
    add(&h, DURO_EVENT_TIMER_STARTED, "{\"seq\":1,\"durationMs\":500}");
    add(&h, DURO_EVENT_TIMER_FIRED, "{\"seq\":1}");
    add(&h, DURO_EVENT_WORKFLOW_TASK_COMPLETED, "{\"now\":2600}");
    add(&h, DURO_EVENT_WORKFLOW_COMPLETED, "{\"result\":null}");
    duro_wf *wf = new_run(sleeper);
    cr_assert_eq(apply_all(wf, &h), 0);
    cr_assert(wf->done);
    cr_assert_null(wf->cmds);
    duro__run_free(wf);

    /* up to TimerFired only: the live task runs on the worker's clock, but
     * a worker clock behind the history never moves time backwards */
    for (int i = 0; i < 2; i++) {
        h.n--;
        cJSON_Delete(h.ev[h.n].data);
    }
    wf = new_run(sleeper);
    cr_assert_eq(duro__run_apply(wf, h.ev, h.n), 0);
    cr_assert_eq(duro__run_advance(wf, 1500), 0);
    duro__cmd *c = duro__run_take_cmds(wf);
    cr_assert_str_eq(c->value, "{\"before\":2000,\"after\":2000}");
    duro__cmds_free(c);
    duro__run_free(wf);
    wf = new_run(sleeper);
    cr_assert_eq(duro__run_apply(wf, h.ev, h.n), 0);
    cr_assert_eq(duro__run_advance(wf, 2600), 0);
    c = duro__run_take_cmds(wf);
    cr_assert_str_eq(c->value, "{\"before\":2000,\"after\":2600}");
    duro__cmds_free(c);
    duro__run_free(wf);
    history_free(&h);
}

Test(replay, signals_before_the_handler_are_delivered_in_order)
{
    history h = {0};
    add(&h, DURO_EVENT_WORKFLOW_STARTED, "{}");
    add(&h, DURO_EVENT_WORKFLOW_TASK_COMPLETED, "{\"now\":2000}");
    add(&h, DURO_EVENT_ACTIVITY_SCHEDULED, "{\"seq\":1,\"name\":\"first\"}");
    add(&h, DURO_EVENT_SIGNAL_RECEIVED, "{\"name\":\"go\",\"input\":\"A\"}");
    add(&h, DURO_EVENT_SIGNAL_RECEIVED, "{\"name\":\"go\",\"input\":\"B\"}");
    add(&h, DURO_EVENT_ACTIVITY_COMPLETED,
        "{\"seq\":1,\"attempt\":1,\"result\":null}");
    duro_wf *wf = new_run(signals);
    cr_assert_eq(duro__run_apply(wf, h.ev, h.n), 0);
    cr_assert_eq(duro__run_advance(wf, 3000), 0);
    duro__cmd *c = duro__run_take_cmds(wf);
    cr_assert_eq(count_cmds(c), 1, "no timer: the condition held at once");
    cr_assert_eq(c->kind, CMD_COMPLETE);
    cr_assert_str_eq(c->value, "{\"ok\":true,\"order\":\"AB\"}");
    duro__cmds_free(c);
    duro__run_free(wf);
    history_free(&h);
}

Test(replay, condition_met_before_timeout_cancels_its_timer)
{
    history h = {0};
    add(&h, DURO_EVENT_WORKFLOW_STARTED, "{}");
    add(&h, DURO_EVENT_WORKFLOW_TASK_COMPLETED, "{\"now\":2000}");
    add(&h, DURO_EVENT_ACTIVITY_SCHEDULED, "{\"seq\":1,\"name\":\"first\"}");
    add(&h, DURO_EVENT_ACTIVITY_COMPLETED,
        "{\"seq\":1,\"attempt\":1,\"result\":null}");
    add(&h, DURO_EVENT_WORKFLOW_TASK_COMPLETED, "{\"now\":3000}");
    add(&h, DURO_EVENT_TIMER_STARTED, "{\"seq\":1,\"durationMs\":60000}");
    add(&h, DURO_EVENT_SIGNAL_RECEIVED, "{\"name\":\"go\",\"input\":\"A\"}");
    add(&h, DURO_EVENT_SIGNAL_RECEIVED, "{\"name\":\"go\",\"input\":\"B\"}");
    duro_wf *wf = new_run(signals);
    cr_assert_eq(duro__run_apply(wf, h.ev, h.n), 0);
    cr_assert_eq(duro__run_advance(wf, 4000), 0);
    duro__cmd *c = duro__run_take_cmds(wf);
    cr_assert_eq(count_cmds(c), 2);
    cr_assert_eq(c->kind, CMD_CANCEL_TIMER);
    cr_assert_eq(c->seq, 1);
    cr_assert_eq(c->next->kind, CMD_COMPLETE);
    duro__cmds_free(c);
    duro__run_free(wf);
    history_free(&h);
}

Test(replay, cancellation_cancels_the_pending_activity)
{
    history h = {0};
    add(&h, DURO_EVENT_WORKFLOW_STARTED, "{}");
    add(&h, DURO_EVENT_WORKFLOW_TASK_COMPLETED, "{\"now\":2000}");
    add(&h, DURO_EVENT_ACTIVITY_SCHEDULED, "{\"seq\":1,\"name\":\"a\"}");
    add(&h, DURO_EVENT_CANCEL_REQUESTED, "{\"reason\":\"r\"}");
    duro_wf *wf = new_run(two_activities);
    cr_assert_eq(duro__run_apply(wf, h.ev, h.n), 0);
    cr_assert_eq(duro__run_advance(wf, 3000), 0);
    duro__cmd *c = duro__run_take_cmds(wf);
    /* cancel a, then b runs normally (cleanup after a cancel is allowed) */
    cr_assert_eq(count_cmds(c), 2);
    cr_assert_eq(c->kind, CMD_CANCEL_ACTIVITY);
    cr_assert_eq(c->seq, 1);
    cr_assert_str_eq(c->queue, "q");
    cr_assert_eq(c->next->kind, CMD_ACTIVITY);
    cr_assert_str_eq(c->next->name, "b");
    duro__cmds_free(c);
    duro__run_free(wf);
    history_free(&h);
}

Test(replay, random_and_uuid_are_the_same_on_replay)
{
    history h = {0};
    add(&h, DURO_EVENT_WORKFLOW_STARTED, "{}");
    add(&h, DURO_EVENT_WORKFLOW_TASK_COMPLETED, "{\"now\":2000}");
    add(&h, DURO_EVENT_TIMER_STARTED, "{\"seq\":1,\"durationMs\":10}");
    add(&h, DURO_EVENT_TIMER_FIRED, "{\"seq\":1}");
    char *first = NULL;
    for (int round = 0; round < 2; round++) {
        duro_wf *wf = new_run(randoms);
        cr_assert_eq(duro__run_apply(wf, h.ev, h.n), 0);
        cr_assert_eq(duro__run_advance(wf, 3000), 0);
        duro__cmd *c = duro__run_take_cmds(wf);
        if (!first)
            first = strdup(c->value);
        else
            cr_assert_str_eq(c->value, first);
        duro__cmds_free(c);
        duro__run_free(wf);
    }
    free(first);
    history_free(&h);
}

/* ---- Versions and side effects ---- */

static cJSON *patched(duro_wf *wf, const cJSON *input)
{
    /* v1 of this code scheduled only "a"; v2 adds "check" before it */
    if (duro_get_version(wf, "add-check", DURO_DEFAULT_VERSION, 1) == 1)
        duro_activity(wf, "check", NULL, NULL);
    duro_activity(wf, "a", NULL, NULL);
    return NULL;
}

Test(replay, get_version_replays_a_history_from_before_the_change)
{
    history h = {0};
    add(&h, DURO_EVENT_WORKFLOW_STARTED, "{}");
    add(&h, DURO_EVENT_WORKFLOW_TASK_COMPLETED, "{\"now\":2000}");
    add(&h, DURO_EVENT_ACTIVITY_SCHEDULED, "{\"seq\":1,\"name\":\"a\"}");
    add(&h, DURO_EVENT_ACTIVITY_COMPLETED,
        "{\"seq\":1,\"attempt\":1,\"result\":1}");
    duro_wf *wf = new_run(patched);
    cr_assert_eq(duro__run_apply(wf, h.ev, h.n), 0);
    cr_assert_eq(duro__run_advance(wf, 3000), 0, "%s",
                 wf->nondet ? wf->nondet : "");
    duro__cmd *c = duro__run_take_cmds(wf);
    cr_assert_eq(c->kind, CMD_COMPLETE);
    duro__cmds_free(c);
    duro__run_free(wf);
    history_free(&h);
}

Test(replay, get_version_records_and_replays_the_new_version)
{
    /* live: the marker comes first, then the new activity */
    history h = {0};
    add(&h, DURO_EVENT_WORKFLOW_STARTED, "{}");
    duro_wf *wf = new_run(patched);
    cr_assert_eq(duro__run_apply(wf, h.ev, h.n), 0);
    cr_assert_eq(duro__run_advance(wf, 2000), 0);
    duro__cmd *c = duro__run_take_cmds(wf);
    cr_assert_eq(c->kind, CMD_MARKER);
    cr_assert_str_eq(
        c->data,
        "{\"kind\":\"version\",\"changeId\":\"add-check\",\"version\":1}");
    cr_assert_eq(c->next->kind, CMD_ACTIVITY);
    cr_assert_str_eq(c->next->name, "check");
    duro__cmds_free(c);
    duro__run_free(wf);

    /* replay of that history takes the same branch */
    add(&h, DURO_EVENT_WORKFLOW_TASK_COMPLETED, "{\"now\":2000}");
    add(&h, DURO_EVENT_MARKER_RECORDED,
        "{\"kind\":\"version\",\"changeId\":\"add-check\",\"version\":1}");
    add(&h, DURO_EVENT_ACTIVITY_SCHEDULED, "{\"seq\":1,\"name\":\"check\"}");
    add(&h, DURO_EVENT_ACTIVITY_COMPLETED,
        "{\"seq\":1,\"attempt\":1,\"result\":1}");
    wf = new_run(patched);
    cr_assert_eq(duro__run_apply(wf, h.ev, h.n), 0);
    cr_assert_eq(duro__run_advance(wf, 3000), 0, "%s",
                 wf->nondet ? wf->nondet : "");
    c = duro__run_take_cmds(wf);
    cr_assert_eq(c->kind, CMD_ACTIVITY);
    cr_assert_str_eq(c->name, "a");
    duro__cmds_free(c);
    duro__run_free(wf);
    history_free(&h);
}

static cJSON *host_name(void *arg)
{
    int *calls = arg;
    (*calls)++;
    return cJSON_CreateString("host-7");
}

static int side_effect_calls;

static cJSON *with_side_effect(duro_wf *wf, const cJSON *input)
{
    const cJSON *v = duro_side_effect(wf, host_name, &side_effect_calls);
    duro_sleep(wf, 10);
    return cJSON_Duplicate(v, 1);
}

Test(replay, side_effect_runs_once_and_replays_its_value)
{
    history h = {0};
    add(&h, DURO_EVENT_WORKFLOW_STARTED, "{}");
    add(&h, DURO_EVENT_WORKFLOW_TASK_COMPLETED, "{\"now\":2000}");
    add(&h, DURO_EVENT_MARKER_RECORDED,
        "{\"kind\":\"sideEffect\",\"seq\":1,\"value\":\"recorded-host\"}");
    add(&h, DURO_EVENT_TIMER_STARTED, "{\"seq\":1,\"durationMs\":10}");
    add(&h, DURO_EVENT_TIMER_FIRED, "{\"seq\":1}");
    side_effect_calls = 0;
    duro_wf *wf = new_run(with_side_effect);
    cr_assert_eq(duro__run_apply(wf, h.ev, h.n), 0);
    cr_assert_eq(duro__run_advance(wf, 3000), 0, "%s",
                 wf->nondet ? wf->nondet : "");
    cr_assert_eq(side_effect_calls, 0, "replay must not run the side effect");
    duro__cmd *c = duro__run_take_cmds(wf);
    cr_assert_str_eq(c->value, "\"recorded-host\"");
    duro__cmds_free(c);
    duro__run_free(wf);
    history_free(&h);
}

Test(replay, end_replay_checks_the_last_recorded_task)
{
    history h = {0};
    add(&h, DURO_EVENT_WORKFLOW_STARTED, "{}");
    add(&h, DURO_EVENT_WORKFLOW_TASK_COMPLETED, "{\"now\":2000}");
    add(&h, DURO_EVENT_ACTIVITY_SCHEDULED, "{\"seq\":1,\"name\":\"renamed\"}");
    duro_wf *wf = new_run(two_activities);
    cr_assert_eq(duro__run_apply(wf, h.ev, h.n), 0,
                 "matching waits for the task's end");
    cr_assert_eq(duro__run_end_replay(wf), DURO_ENONDET);
    cr_assert_not_null(strstr(wf->nondet, "event 3"), "%s", wf->nondet);
    duro__run_free(wf);
    history_free(&h);
}

/* ---- Unwinding ---- */

static int unwound_cleanups;

static cJSON *holds_memory(duro_wf *wf, const cJSON *input)
{
    cJSON *in = cJSON_CreateString("held across the wait");
    duro_result r = duro_activity(wf, "a", in, NULL);
    cJSON_Delete(in); /* runs only if the code gets control back */
    unwound_cleanups++;
    if (!r.ok) return duro_fail(wf, NULL, "%s", r.error);
    return NULL;
}

Test(replay, freeing_a_suspended_run_lets_its_code_clean_up)
{
    history h = {0};
    add(&h, DURO_EVENT_WORKFLOW_STARTED, "{}");
    duro_wf *wf = new_run(holds_memory);
    cr_assert_eq(duro__run_apply(wf, h.ev, h.n), 0);
    cr_assert_eq(duro__run_advance(wf, 2000), 0);
    duro__cmds_free(duro__run_take_cmds(wf));
    unwound_cleanups = 0;
    duro__run_free(wf); /* suspended in duro_activity: unwound, not leaked */
    cr_assert_eq(unwound_cleanups, 1);
    history_free(&h);
}
