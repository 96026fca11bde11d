/* stack.c: call sites of SDK calls and the `duro:stack` answer.
 *
 * The macros of worker.h call duro__at before each SDK call; it keeps the
 * site in a thread-local, which the call reads while it runs (before it
 * yields): new futures and blocking waits copy it into the run. Reading
 * the stack is then a walk over what the run already holds. Workflow code
 * runs one coroutine per run, so the answer has one coroutine, "main". */
#include "stack.h"

#include "duro/worker.h"

static __thread duro__site current;

void duro__at(const char *file, int line, const char *func)
{
    current.file = file;
    current.line = line;
    current.func = func;
}

duro__site duro__site_now(void)
{
    return current;
}

static void add_site(cJSON *o, const duro__site *s)
{
    if (!s->file) return;
    cJSON_AddStringToObject(o, "file", s->file);
    cJSON_AddNumberToObject(o, "line", s->line);
    if (s->func) cJSON_AddStringToObject(o, "function", s->func);
}

static cJSON *future_json(const duro_future *f)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind",
                            f->kind == FUT_TIMER ? "timer" : "activity");
    cJSON_AddNumberToObject(o, "seq", (double)f->seq);
    if (f->name) cJSON_AddStringToObject(o, "name", f->name);
    add_site(o, &f->site);
    if (f->detached) cJSON_AddBoolToObject(o, "detached", 1);
    return o;
}

static const char *state(const duro_wf *wf)
{
    if (!wf->started) return "not started";
    if (wf->done) return "returned";
    return wf->wait != WAIT_NONE ? "blocked" : "running";
}

static cJSON *main_coroutine(const duro_wf *wf)
{
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "name", "main");
    cJSON_AddStringToObject(c, "state", state(wf));
    if (wf->wait == WAIT_NONE || !wf->wait_call) return c;
    cJSON_AddStringToObject(c, "call", wf->wait_call);
    add_site(c, &wf->wait_site);
    cJSON *on = cJSON_AddArrayToObject(c, "waitingOn");
    for (int i = 0; i < wf->wait_n; i++)
        if (!wf->wait_futs[i]->resolved)
            cJSON_AddItemToArray(on, future_json(wf->wait_futs[i]));
    return c;
}

cJSON *duro__run_stack(const duro_wf *wf)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "workflowId", wf->id);
    cJSON_AddStringToObject(o, "runId", wf->run);
    cJSON_AddStringToObject(o, "type", wf->type);
    cJSON *cs = cJSON_AddArrayToObject(o, "coroutines");
    cJSON_AddItemToArray(cs, main_coroutine(wf));
    return o;
}
