/* load.c: loading a run from its history: the run is built from its
 * WorkflowStarted event and every later event is applied in order. Used by
 * workflow tasks and queries (history pages read from Redis) and by the
 * replay checker (an exported history). Nothing here runs a live task.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/errno.h"
#include "duro/history.h"
#include "duro/json.h"
#include "duro/keys.h"
#include "worker_internal.h"

int duro__run_create(duro_worker *w, const char *id, const char *run,
                     const duro_event *e, duro_wf **out, char *err,
                     size_t errsize)
{
    *out = NULL;
    if (e->id != 1 || e->type != DURO_EVENT_WORKFLOW_STARTED) {
        snprintf(err, errsize, "history does not start with WorkflowStarted");
        return DURO_EINVAL;
    }
    const char *type = duro_json_str(e->data, "type", "");
    const char *queue = duro_json_str(e->data, "taskQueue", w->task_queue);
    wf_reg *reg = w->workflows;
    while (reg && strcmp(reg->type, type) != 0)
        reg = reg->next;
    if (!reg) {
        int n =
            snprintf(err, errsize,
                     "unknown workflow type \"%s\" (this worker knows:", type);
        for (wf_reg *r = w->workflows; r && n > 0 && (size_t)n < errsize;
             r = r->next)
            n += snprintf(err + n, errsize - (size_t)n, " %s", r->type);
        if (n > 0 && (size_t)n < errsize)
            snprintf(err + n, errsize - (size_t)n, ")");
        return DURO_EINVAL;
    }
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(e->data, "input");
    duro_wf *wf = duro__run_new(id, run, type, queue, input, reg->fn);
    w->replays++;
    if (!wf) {
        snprintf(err, errsize, "%s", duro_strerror(DURO_ENOMEM));
        return DURO_ENOMEM;
    }
    /* only a timeout other than the default is recorded (start_run) */
    wf->task_timeout_ms = duro_json_int(e->data, "taskTimeoutMs", 0);
    wf->stack_size = w->workflow_stack_size;
    wf->codec = w->codec;
    wf->worker = w;
    *out = wf;
    return 0;
}

int duro__event_decode(const duro_worker *w, const duro_event *e, char *err,
                       size_t errsize)
{
    char why[384];
    int rc =
        duro_codec_decode_event(w->codec, e->type, e->data, why, sizeof(why));
    if (rc != 0)
        snprintf(err, errsize, "history event %lld %s: %s", (long long)e->id,
                 duro_event_name(e->type), why);
    return rc;
}

int duro__load_event(duro_worker *w, duro_wf **wfp, const char *id,
                     const char *run, const duro_event *e, char *err,
                     size_t errsize)
{
    int rc = duro__event_decode(w, e, err, errsize);
    if (!*wfp && rc == 0)
        rc = duro__run_create(w, id, run, e, wfp, err, errsize);
    if (rc != 0) return rc;
    rc = duro__run_apply(*wfp, e, 1);
    if (rc == DURO_ENONDET)
        snprintf(err, errsize, "%s", (*wfp)->nondet);
    else if (rc == DURO_EPROTO)
        snprintf(err, errsize, "history event %lld out of order",
                 (long long)e->id);
    else if (rc)
        snprintf(err, errsize, "%s", duro_strerror(rc));
    return rc;
}

int duro__history_apply_page(duro_worker *w, duro_wf **wfp, const char *id,
                             const char *run, int64_t from,
                             const redisReply *page, char *err, size_t errsize)
{
    for (size_t i = 0; i < page->elements; i++) {
        duro_event e;
        char why[256];
        if (duro_event_decode_reply(page->element[i], from + (int64_t)i, &e,
                                    why, sizeof(why)) != 0) {
            snprintf(err, errsize, "corrupt history: %s", why);
            return DURO_EPROTO;
        }
        int rc = duro__load_event(w, wfp, id, run, &e, err, errsize);
        duro_event_free(&e);
        if (rc != 0) return rc;
    }
    return 0;
}

/* ---- Reading history pages ---- */

void duro__history_argv(duro_argv *a, const char *hist, int64_t from)
{
    duro_argv_init(a);
    duro_argv_push(a, "LRANGE");
    duro_argv_push(a, hist);
    duro_argv_pushll(a, from - 1);
    duro_argv_pushll(a, from - 1 + DURO_HISTORY_PAGE - 1);
}

int duro__read_history(duro_worker *w, const char *id, const char *run,
                       int64_t from, duro_aredis_cb cb, void *arg)
{
    duro_wf_keys k;
    duro_wf_keys_init(&k, &w->ks, id, run);
    duro_argv a;
    duro__history_argv(&a, k.hist, from);
    int rc = duro_aredis_command(w->cmd, cb, arg, &a);
    duro_argv_free(&a);
    return rc;
}
