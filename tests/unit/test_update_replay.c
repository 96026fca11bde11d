/* test_update_replay.c: updates in the replay engine, on synthetic
 * histories (no Redis): a handler's completion is issued in history
 * order, matched by update id on replay, and an update applied before its
 * handler is registered waits for it. */
#include <criterion/criterion.h>
#include <string.h>

#include "duro/errno.h"
#include "duro/history.h"
#include "fake_history.h"
#include "run.h"

TestSuite(update_replay, .timeout = 5);

typedef struct {
    double total;
    bool done;
} acc;

static cJSON *add_n(duro_wf *wf, const cJSON *input, void *arg)
{
    acc *a = arg;
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(input, "n");
    if (!cJSON_IsNumber(n)) return duro_update_fail(wf, "n missing");
    a->total += n->valuedouble;
    return cJSON_CreateNumber(a->total);
}

static const char *no_negative(duro_wf *wf, const cJSON *input, void *arg)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(input, "n");
    return cJSON_IsNumber(n) && n->valuedouble < 0 ? "negative" : NULL;
}

static bool is_done(void *arg)
{
    return ((acc *)arg)->done;
}

static cJSON *accumulate(duro_wf *wf, const cJSON *input)
{
    acc *a = duro_alloc(wf, sizeof(*a));
    duro_on_update(wf, "add", add_n, no_negative, a);
    duro_condition(wf, is_done, a, -1);
    return NULL;
}

static duro_wf *new_run(void)
{
    duro_wf *wf = duro__run_new("wf-1", "run-1", "t", "q", NULL, accumulate);
    cr_assert_not_null(wf);
    return wf;
}

#define UA(id, n)                                                              \
    "{\"updateId\":\"" id "\",\"name\":\"add\",\"input\":{\"n\":" n "}}"

/* The first task applies an update before the code registered anything:
 * the handler runs at registration, and its completion is the task's
 * command. */
Test(update_replay, update_in_the_first_task_waits_for_its_handler)
{
    history h = {0};
    add(&h, DURO_EVENT_WORKFLOW_STARTED, "{}");
    add(&h, DURO_EVENT_UPDATE_ACCEPTED, UA("u1", "3"));
    duro_wf *wf = new_run();
    cr_assert_eq(duro__run_apply(wf, h.ev, h.n), 0);
    cr_assert_eq(duro__run_advance(wf, 3000), 0);
    duro__cmd *c = duro__run_take_cmds(wf);
    cr_assert_not_null(c);
    cr_assert_eq(c->kind, CMD_UPDATE_DONE);
    cr_assert_str_eq(c->name, "u1");
    cr_assert_str_eq(c->value, "{\"ok\":true,\"result\":3}");
    cr_assert(strstr(c->data, "\"updateId\":\"u1\"") &&
                  strstr(c->data, "\"result\":3"),
              "%s", c->data);
    cr_assert_null(c->next);
    duro__cmds_free(c);
    duro__run_free(wf);
    history_free(&h);
}

/* Replay runs the handlers again (state comes back) and matches their
 * completions; a new update then sees the replayed total. */
Test(update_replay, replay_restores_state_and_matches_completions)
{
    history h = {0};
    add(&h, DURO_EVENT_WORKFLOW_STARTED, "{}");
    add(&h, DURO_EVENT_WORKFLOW_TASK_COMPLETED, "{\"now\":2000}");
    add(&h, DURO_EVENT_UPDATE_ACCEPTED, UA("u1", "3"));
    add(&h, DURO_EVENT_WORKFLOW_TASK_COMPLETED, "{\"now\":4000}");
    add(&h, DURO_EVENT_UPDATE_COMPLETED, "{\"updateId\":\"u1\",\"result\":3}");
    add(&h, DURO_EVENT_UPDATE_ACCEPTED, UA("u2", "5"));
    duro_wf *wf = new_run();
    cr_assert_eq(duro__run_apply(wf, h.ev, h.n), 0);
    cr_assert_eq(duro__run_advance(wf, 7000), 0, "%s",
                 wf->nondet ? wf->nondet : "");
    duro__cmd *c = duro__run_take_cmds(wf);
    cr_assert_not_null(c);
    cr_assert_eq(c->kind, CMD_UPDATE_DONE);
    cr_assert_str_eq(c->name, "u2");
    cr_assert_str_eq(c->value, "{\"ok\":true,\"result\":8}");
    duro__cmds_free(c);
    /* the validator reads the same state, read-only */
    char err[128];
    cJSON *neg = cJSON_Parse("{\"n\":-1}");
    cr_assert_eq(duro__run_validate_update(wf, "add", neg, err, sizeof(err)),
                 DURO_EINVAL);
    cr_assert_str_eq(err, "negative");
    cr_assert_eq(duro__run_validate_update(wf, "sub", neg, err, sizeof(err)),
                 DURO_ENOTFOUND);
    cr_assert(strstr(err, "known: add"), "%s", err);
    cJSON_Delete(neg);
    duro__run_free(wf);
    history_free(&h);
}

/* A recorded completion of another update than the code completes is a
 * non-determinism error, as any mismatched command. */
Test(update_replay, completion_of_another_update_is_nondeterministic)
{
    history h = {0};
    add(&h, DURO_EVENT_WORKFLOW_STARTED, "{}");
    add(&h, DURO_EVENT_WORKFLOW_TASK_COMPLETED, "{\"now\":2000}");
    add(&h, DURO_EVENT_UPDATE_ACCEPTED, UA("u1", "3"));
    add(&h, DURO_EVENT_WORKFLOW_TASK_COMPLETED, "{\"now\":4000}");
    add(&h, DURO_EVENT_UPDATE_COMPLETED, "{\"updateId\":\"u9\",\"result\":3}");
    duro_wf *wf = new_run();
    int rc = duro__run_apply(wf, h.ev, h.n);
    if (rc == 0) rc = duro__run_end_replay(wf);
    cr_assert_eq(rc, DURO_ENONDET);
    cr_assert(strstr(wf->nondet, "UpdateCompleted"), "%s", wf->nondet);
    duro__run_free(wf);
    history_free(&h);
}

/* duro_update_fail completes the update with the caller's error. */
Test(update_replay, failed_handler_completes_with_an_error)
{
    history h = {0};
    add(&h, DURO_EVENT_WORKFLOW_STARTED, "{}");
    add(&h, DURO_EVENT_WORKFLOW_TASK_COMPLETED, "{\"now\":2000}");
    add(&h, DURO_EVENT_UPDATE_ACCEPTED,
        "{\"updateId\":\"u1\",\"name\":\"add\",\"input\":{}}");
    duro_wf *wf = new_run();
    cr_assert_eq(duro__run_apply(wf, h.ev, h.n), 0);
    cr_assert_eq(duro__run_advance(wf, 3000), 0);
    duro__cmd *c = duro__run_take_cmds(wf);
    cr_assert_not_null(c);
    cr_assert_eq(c->kind, CMD_UPDATE_DONE);
    cr_assert_str_eq(c->value, "{\"ok\":false,\"error\":\"n missing\"}");
    cr_assert(strstr(c->data, "\"failure\""), "%s", c->data);
    duro__cmds_free(c);
    duro__run_free(wf);
    history_free(&h);
}
