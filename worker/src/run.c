/* run.c: a run's memory: made from its WorkflowStarted data, freed once
 * its suspended code has unwound (engine.c advances it in between).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "duro/hash.h"
#include "duro/log.h"
#include "run.h"

duro_wf *duro__run_new(const char *id, const char *run, const char *type,
                       const char *queue, const cJSON *input,
                       duro_workflow_fn fn)
{
    duro_wf *wf = calloc(1, sizeof(*wf));
    if (!wf) return NULL;
    wf->id = strdup(id);
    wf->run = strdup(run);
    wf->type = strdup(type);
    wf->queue = strdup(queue);
    wf->input = input ? cJSON_Duplicate(input, 1) : cJSON_CreateNull();
    if (!wf->id || !wf->run || !wf->type || !wf->queue || !wf->input) {
        duro__run_free(wf);
        return NULL;
    }
    wf->fn = fn;
    wf->rng = duro__fnv1a64(run); /* seeds the run's random numbers */
    return wf;
}

void duro__cmds_free(duro__cmd *c)
{
    while (c) {
        duro__cmd *next = c->next;
        free(c->name);
        free(c->data);
        free(c->queue);
        free(c->input);
        free(c->opts);
        free(c->value);
        free(c->id);
        free(c->target);
        free(c->target_run);
        free(c->policy);
        free(c);
        c = next;
    }
}

/* UNWIND_LIMIT bounds the SDK calls an unwinding run may make: code that
 * loops without end is abandoned (its stack dropped) rather than hanging
 * the worker. */
#define UNWIND_LIMIT 10000

/* unwind lets suspended workflow code finish before its stack goes: every
 * blocking call returns canceled at once, the code takes its own cleanup
 * path and returns, so what it allocated is freed. Nothing it issues is
 * kept. */
static void unwind(duro_wf *wf)
{
    if (!wf->coro || !wf->started || wf->done ||
        duro__coro_overflowed(wf->coro))
        return;
    wf->unwinding = true;
    wf->replaying = true; /* no logs from code that is being discarded */
    for (int i = 0;
         i < UNWIND_LIMIT && !wf->done && !duro__coro_overflowed(wf->coro); i++)
        duro__coro_resume(wf->coro);
    if (!wf->done)
        duro_warn(
            "UNWIND wf=%s run=%s: the workflow code did not return; its stack "
            "is dropped as is",
            wf->id, wf->run);
}

void duro__run_free(duro_wf *wf)
{
    if (!wf) return;
    unwind(wf);
    if (wf->coro) duro__coro_free(wf->coro);
    for (int k = 0; k < FUT_KINDS; k++) {
        for (int64_t i = 0; i < wf->futs[k].n; i++) {
            free(wf->futs[k].v[i]->queue);
            free(wf->futs[k].v[i]);
        }
        free(wf->futs[k].v);
    }
    handler *lists[] = {wf->signals, wf->queries};
    for (int i = 0; i < 2; i++) {
        for (handler *h = lists[i], *next; h; h = next) {
            next = h->next;
            free(h->name);
            free(h);
        }
    }
    for (update_handler *h = wf->updates, *next; h; h = next) {
        next = h->next;
        free(h->name);
        free(h);
    }
    for (pending_update *p = wf->pending_updates, *next; p; p = next) {
        next = p->next;
        free(p->id);
        free(p->name);
        free(p);
    }
    free(wf->update_error);
    for (pending_signal *p = wf->pending_signals, *next; p; p = next) {
        next = p->next;
        free(p->name);
        free(p);
    }
    for (int i = 0; i < wf->nowned; i++)
        cJSON_Delete(wf->owned[i]);
    free(wf->owned);
    for (int i = 0; i < wf->nstrs; i++)
        free(wf->strs[i]);
    free(wf->strs);
    duro__cmds_free(wf->cmds);
    for (int i = 0; i < wf->seg_n; i++) {
        free(wf->seg[i].name);
        cJSON_Delete(wf->seg[i].data);
    }
    free(wf->seg);
    for (int i = 0; i < wf->ninbound; i++)
        duro_event_free(&wf->inbound[i]);
    free(wf->inbound);
    for (version_choice *v = wf->versions, *next; v; v = next) {
        next = v->next;
        free(v->change_id);
        free(v);
    }
    cJSON_Delete(wf->input);
    cJSON_Delete(wf->result);
    free(wf->failure);
    free(wf->nondet);
    free(wf->id);
    free(wf->run);
    free(wf->type);
    free(wf->queue);
    free(wf);
}

duro__cmd *duro__run_take_cmds(duro_wf *wf)
{
    duro__cmd *c = wf->cmds;
    wf->cmds = wf->cmds_tail = NULL;
    wf->ncmds = 0;
    return c;
}
