/* test_replay_child.c: the replay engine with child workflows and signals
 * to other workflows, fed synthetic histories, no Redis. */
#include <criterion/criterion.h>
#include <string.h>

#include "duro/history.h"
#include "fake_history.h"
#include "run.h"

TestSuite(replay_child, .timeout = 5);

/* two_children starts children a and b at once, then signals "peer". */
static cJSON *two_children(duro_wf *wf, const cJSON *input)
{
    (void)input;
    duro_future *f[2] = {duro_child_async(wf, "a", NULL, NULL),
                         duro_child_async(wf, "b", NULL, NULL)};
    duro_await_all(wf, f, 2);
    duro_result ra = duro_future_result(f[0]);
    duro_result rb = duro_future_result(f[1]);
    duro_result s = duro_signal_external(wf, "peer", NULL, "hi", NULL);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "a", cJSON_Duplicate(ra.value, 1));
    cJSON_AddStringToObject(o, "b", rb.ok ? "ok" : rb.error);
    cJSON_AddBoolToObject(o, "signaled", s.ok);
    return o;
}

static duro_wf *new_run(void)
{
    duro_wf *wf = duro__run_new("p", "run-1", "t", "q", NULL, two_children);
    cr_assert_not_null(wf);
    return wf;
}

static duro__cmd *first_task(duro_wf *wf)
{
    history h = {0};
    add(&h, DURO_EVENT_WORKFLOW_STARTED, "{}");
    cr_assert_eq(duro__run_apply(wf, h.ev, h.n), 0);
    cr_assert_eq(duro__run_advance(wf, 2000), 0);
    history_free(&h);
    return duro__run_take_cmds(wf);
}

Test(replay_child, first_task_starts_both_children)
{
    duro_wf *wf = new_run();
    duro__cmd *c = first_task(wf);
    cr_assert_eq(c->kind, CMD_CHILD);
    cr_assert_eq(c->seq, 1);
    cr_assert_str_eq(c->target, "p/1");
    cr_assert_str_eq(c->close_policy, "Terminate");
    cr_assert_eq(c->next->kind, CMD_CHILD);
    cr_assert_str_eq(c->next->target, "p/2");
    cr_assert_null(c->next->next);
    duro__cmds_free(c);
    duro__run_free(wf);
}

Test(replay_child, recorded_outcomes_replay_to_completion)
{
    history h = {0};
    add(&h, DURO_EVENT_WORKFLOW_STARTED, "{}");
    add(&h, DURO_EVENT_WORKFLOW_TASK_COMPLETED, "{\"now\":2000}");
    add(&h, DURO_EVENT_CHILD_INITIATED, "{\"seq\":1,\"name\":\"a\"}");
    add(&h, DURO_EVENT_CHILD_INITIATED, "{\"seq\":2,\"name\":\"b\"}");
    add(&h, DURO_EVENT_CHILD_STARTED, "{\"seq\":1}");
    add(&h, DURO_EVENT_CHILD_COMPLETED, "{\"seq\":1,\"result\":7}");
    add(&h, DURO_EVENT_WORKFLOW_TASK_COMPLETED, "{\"now\":3000}");
    add(&h, DURO_EVENT_CHILD_START_FAILED,
        "{\"seq\":2,\"cause\":\"WorkflowAlreadyStarted\"}");
    add(&h, DURO_EVENT_WORKFLOW_TASK_COMPLETED, "{\"now\":4000}");
    add(&h, DURO_EVENT_EXTERNAL_SIGNAL_INITIATED, "{\"seq\":1}");
    add(&h, DURO_EVENT_EXTERNAL_SIGNAL_FAILED,
        "{\"seq\":1,\"cause\":\"NotFound\"}");
    duro_wf *wf = new_run();
    cr_assert_eq(duro__run_apply(wf, h.ev, h.n), 0, "%s",
                 wf->nondet ? wf->nondet : "");
    cr_assert_eq(duro__run_advance(wf, 9000), 0);
    duro__cmd *c = duro__run_take_cmds(wf);
    cr_assert_eq(c->kind, CMD_COMPLETE);
    cr_assert_str_eq(c->value,
                     "{\"a\":7,\"b\":\"child workflow id already in use\","
                     "\"signaled\":false}");
    duro__cmds_free(c);
    duro__run_free(wf);
    history_free(&h);
}

Test(replay_child, a_child_of_another_type_is_nondeterministic)
{
    history h = {0};
    add(&h, DURO_EVENT_WORKFLOW_STARTED, "{}");
    add(&h, DURO_EVENT_WORKFLOW_TASK_COMPLETED, "{\"now\":2000}");
    add(&h, DURO_EVENT_CHILD_INITIATED, "{\"seq\":1,\"name\":\"other\"}");
    duro_wf *wf = new_run();
    int rc = duro__run_apply(wf, h.ev, h.n);
    if (rc == 0) rc = duro__run_end_replay(wf);
    cr_assert_eq(rc, DURO_ENONDET);
    cr_assert_not_null(strstr(wf->nondet, "StartChildWorkflow"), "%s",
                       wf->nondet);
    duro__run_free(wf);
    history_free(&h);
}
