/* sdk_update.c: workflow updates (Temporal's): handlers with validators.
 *
 * An update is validated first, read-only, on a worker's view of the run
 * (query.c asks duro__run_validate_update, like a query: a rejection
 * writes nothing); the client then records it (duro_update: the event
 * UpdateAccepted, once per update id) and waits. The task that applies
 * UpdateAccepted runs the handler here, in history order like a signal
 * handler, and issues CompleteUpdate, recorded as UpdateCompleted with the
 * caller's outcome in the same commit, which answers the waiting callers.
 * Replay runs the handler again and matches the command by update id, so
 * a worker that died between acceptance and completion leaves the update
 * to the next one, applied once (docs/internals.md, "Updates").
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/json.h"
#include "duro/log.h"
#include "duro/worker.h"
#include "engine_internal.h"
#include "run.h"

static update_handler *find_handler(const duro_wf *wf, const char *name)
{
    for (update_handler *h = wf->updates; h; h = h->next)
        if (strcmp(h->name, name) == 0) return h;
    return NULL;
}

/* ---- Completing ---- */

/* outcome_texts builds UpdateCompleted's data and the caller's outcome
 * ({"ok":true,"result":X} or {"ok":false,"error":M}, the shape of a query
 * answer) from the handler's result or its duro_update_fail message. */
static void outcome_texts(duro_wf *wf, duro__cmd *c, const char *name,
                          const cJSON *result)
{
    cJSON *d = cJSON_CreateObject();
    cJSON *o = cJSON_CreateObject();
    duro_assert(d && o);
    cJSON_AddStringToObject(d, "updateId", c->name);
    cJSON_AddStringToObject(d, "name", name);
    if (wf->update_error) {
        cJSON *f = cJSON_AddObjectToObject(d, "failure");
        cJSON_AddStringToObject(f, "message", wf->update_error);
        cJSON_AddStringToObject(f, "type", "UpdateFailed");
        cJSON_AddBoolToObject(o, "ok", 0);
        cJSON_AddStringToObject(o, "error", wf->update_error);
    } else {
        /* the codec's text is a JSON value: placed as raw JSON */
        char *enc = duro__encode_payload(wf, result);
        cJSON_AddItemToObject(d, "result", cJSON_CreateRaw(enc));
        cJSON_AddBoolToObject(o, "ok", 1);
        cJSON_AddItemToObject(o, "result", cJSON_CreateRaw(enc));
        free(enc);
    }
    c->data = cJSON_PrintUnformatted(d);
    c->value = cJSON_PrintUnformatted(o);
    duro_assert(c->data && c->value);
    cJSON_Delete(d);
    cJSON_Delete(o);
}

/* run_handler runs update `id`'s handler and issues its CompleteUpdate. */
static void run_handler(duro_wf *wf, const update_handler *h, const char *id,
                        const cJSON *input)
{
    free(wf->update_error);
    wf->update_error = NULL;
    cJSON *result = h->fn(wf, input, h->arg);
    duro__cmd *c = duro__new_cmd(wf, CMD_UPDATE_DONE, 0);
    c->name = strdup(id);
    duro_assert(c->name != NULL);
    if (!wf->replaying) {
        outcome_texts(wf, c, h->name, result);
        duro_debug("UPDATE-DONE wf=%s run=%s update=%s name=%s ok=%d", wf->id,
                   wf->run, id, h->name, wf->update_error == NULL);
    }
    cJSON_Delete(result);
    free(wf->update_error);
    wf->update_error = NULL;
}

/* accepted: the run's update_accepted callback (engine.c, apply_update):
 * the handler of `name`, or the update waits for one. */
static void accepted(duro_wf *wf, const char *id, const char *name,
                     const cJSON *input)
{
    const update_handler *h = find_handler(wf, name);
    if (h)
        run_handler(wf, h, id, input);
    else
        duro__keep_update(wf, id, name, input);
}

/* ---- The SDK calls ---- */

void duro_on_update(duro_wf *wf, const char *name, duro_update_fn fn,
                    duro_update_validator_fn validate, void *arg)
{
    duro__in_workflow(wf, "duro_on_update");
    update_handler *h = find_handler(wf, name);
    if (!h) {
        h = calloc(1, sizeof(*h));
        duro_assert(h != NULL);
        h->name = strdup(name);
        duro_assert(h->name != NULL);
        h->next = wf->updates;
        wf->updates = h;
    }
    h->fn = fn;
    h->validate = validate;
    h->arg = arg;
    wf->update_accepted = accepted;
    /* updates applied before this registration, in history order */
    for (pending_update **pp = &wf->pending_updates; *pp;) {
        pending_update *p = *pp;
        if (strcmp(p->name, name) != 0) {
            pp = &p->next;
            continue;
        }
        *pp = p->next;
        run_handler(wf, h, p->id, p->input);
        free(p->id);
        free(p->name);
        free(p);
    }
}

cJSON *duro_update_fail(duro_wf *wf, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    free(wf->update_error);
    wf->update_error = strdup(msg);
    duro_assert(wf->update_error != NULL);
    return NULL;
}

/* ---- Validation (a worker's read-only view, query.c) ---- */

int duro__run_validate_update(duro_wf *wf, const char *name, const cJSON *input,
                              char *err, size_t errsize)
{
    const update_handler *h = find_handler(wf, name);
    if (!h) {
        int n = snprintf(err, errsize, "unknown update \"%s\"; known:", name);
        if (!wf->updates && n > 0 && (size_t)n < errsize)
            n += snprintf(err + n, errsize - (size_t)n, " none");
        for (const update_handler *u = wf->updates;
             u && n > 0 && (size_t)n < errsize; u = u->next)
            n += snprintf(err + n, errsize - (size_t)n, " %s", u->name);
        return DURO_ENOTFOUND;
    }
    const char *why = h->validate ? h->validate(wf, input, h->arg) : NULL;
    if (why) {
        snprintf(err, errsize, "%s", why);
        return DURO_EINVAL;
    }
    return 0;
}
