/* sdk_saga.c: sagas, compensations registered step by step and run in
 * reverse (or all at once) in a detached scope (worker.h, "Sagas").
 *
 * A saga is a list of compensations, newest first, all in run-owned
 * memory. Compensating bumps wf->detached around the scheduling and the
 * wait, so the activities are marked detached (a cancellation of the
 * workflow does not cancel them, engine.c) and the wait is not ended by
 * one (sdk.c's block). Everything here is a function of the code's own
 * calls, so a replay schedules the same activities in the same order. */
#define DURO_NO_CALL_SITES /* defines duro_saga_compensate */
#include <stdio.h>
#include <string.h>

#include "duro/worker.h"
#include "engine_internal.h"
#include "run.h"
#include "stack.h"

typedef struct compensation {
    const char *activity;
    cJSON *input;
    duro_activity_opts opts;
    struct compensation *next; /* the one registered before */
} compensation;

struct duro_saga {
    duro_wf *wf;
    duro_saga_opts opts;
    compensation *newest;
    int n;
    const char *error;
};

duro_saga *duro_saga_new(duro_wf *wf, const duro_saga_opts *opts)
{
    duro__in_workflow(wf, "duro_saga_new");
    duro_saga *s = duro_alloc(wf, sizeof(*s));
    s->wf = wf;
    if (opts) s->opts = *opts;
    s->error = "";
    return s;
}

static const char *copy(duro_wf *wf, const char *str)
{
    return str ? duro_strdup(wf, str) : NULL;
}

int duro_saga_add(duro_saga *s, const char *activity, const cJSON *input,
                  const duro_activity_opts *opts)
{
    if (!s || !activity) return DURO_EINVAL;
    duro_wf *wf = s->wf;
    duro__in_workflow(wf, "duro_saga_add");
    compensation *c = duro_alloc(wf, sizeof(*c));
    c->activity = duro_strdup(wf, activity);
    c->input = input ? duro_keep(wf, cJSON_Duplicate(input, 1)) : NULL;
    if (opts) {
        c->opts = *opts;
        c->opts.task_queue = copy(wf, opts->task_queue);
        c->opts.fairness_key = copy(wf, opts->fairness_key);
        c->opts.concurrency_key = copy(wf, opts->concurrency_key);
        for (int i = 0; i < DURO_RETRY_MAX_NON_RETRYABLE; i++)
            c->opts.retry.non_retryable[i] =
                copy(wf, opts->retry.non_retryable[i]);
    }
    c->next = s->newest;
    s->newest = c;
    s->n++;
    return 0;
}

/* failed records the first compensation that failed. */
static void failed(duro_saga *s, const compensation *c, const duro_result *r)
{
    duro_wf *wf = s->wf;
    if (!*s->error) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s: %s", c->activity, r->error);
        s->error = duro_strdup(wf, msg);
    }
    duro_wf_log(wf, "SAGA compensation %s failed: %s", c->activity, r->error);
}

static int run_parallel(duro_saga *s, compensation *list, int count,
                        const duro__site *site)
{
    duro_wf *wf = s->wf;
    duro_future **fs = duro_alloc(wf, (size_t)count * sizeof(duro_future *));
    int n = 0;
    duro__at(site->file, site->line, site->func);
    for (compensation *c = list; c; c = c->next)
        fs[n++] = duro_activity_async(wf, c->activity, c->input, &c->opts);
    duro_await_all(wf, fs, n);
    int rc = 0, i = 0;
    for (compensation *c = list; c; c = c->next, i++) {
        duro_result r = duro_future_result(fs[i]);
        if (r.ok) continue;
        failed(s, c, &r);
        rc = DURO_EFAILED;
    }
    return rc;
}

static int run_sequential(duro_saga *s, compensation *list,
                          const duro__site *site)
{
    int rc = 0;
    for (compensation *c = list; c; c = c->next) {
        /* each wait let other runs' calls set the site */
        duro__at(site->file, site->line, site->func);
        duro_result r = duro_activity(s->wf, c->activity, c->input, &c->opts);
        if (r.ok) continue;
        failed(s, c, &r);
        rc = DURO_EFAILED;
        if (!s->opts.continue_with_error) break;
    }
    return rc;
}

int duro_saga_compensate(duro_saga *s)
{
    if (!s) return DURO_EINVAL;
    duro_wf *wf = s->wf;
    duro__in_workflow(wf, "duro_saga_compensate");
    compensation *list = s->newest;
    int n = s->n;
    s->newest = NULL; /* forgotten first: compensating twice runs nothing */
    s->n = 0;
    if (!list) return 0;
    duro__site site = duro__site_now(); /* the caller's, for the stack */
    const char *outer = wf->outer_call;
    wf->outer_call = "duro_saga_compensate";
    wf->detached++;
    int rc = s->opts.parallel ? run_parallel(s, list, n, &site)
                              : run_sequential(s, list, &site);
    wf->detached--;
    wf->outer_call = outer;
    return rc;
}

const char *duro_saga_error(const duro_saga *s)
{
    return s ? s->error : "";
}
