/* client_signal.c: inbound events for a running workflow: signals,
 * signal-with-start and cancel requests (docs/internals.md, "Signals,
 * cancellation, queries").
 *
 * Each call reads the current run, then makes one FCALL naming that run.
 * DURO_STALE means a new run replaced it in between: read it again and
 * retry, a few times at most. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "client_vis.h"
#include "duro/fcall.h"
#include "duro/json.h"

#define STALE_TRIES 3

#define SIGNAL_RULE "signals go only to running workflows"
#define CANCEL_RULE "only running workflows can be canceled"

/* fcall_fail turns a Function error reply into a code and message; rule
 * says what a closed workflow cannot take. */
static int fcall_fail(duro_client *c, const redisReply *r, const char *id,
                      const char *rule)
{
    const char *e = r->str ? r->str : "";
    const char *rest = strchr(e, ' ');
    int code = duro_redis_error_code(e);
    switch (code) {
    case DURO_EALREADY: /* signal-with-start refused by id reuse policy */
        return duro__already_fail(c, e, id);
    case DURO_ENOTFOUND:
        return duro__fail(c, code, "workflow %s not found", id);
    case DURO_ENOTRUNNING:
        return duro__fail(c, code, "workflow %s is %.40s; %s", id,
                          rest ? rest + 1 : "closed", rule);
    case DURO_ESTALE:
        return duro__fail(c, code,
                          "workflow %s: a new run kept replacing the current "
                          "one; try again",
                          id);
    case DURO_EINVAL: /* DURO_BADARG <why>: e.g. a search attribute */
        return duro__fail(c, code, "%.400s", rest ? rest + 1 : e);
    default:
        return duro__fail(c, code, "redis: %.400s", e);
    }
}

/* ---- Delivery to the current run ---- */

/* deliver makes one attempt: FCALL duro_signal or duro_cancel (by fn,
 * duro_fcall_signal or duro_fcall_cancel) to the current run. Copies the
 * run into run_out (may be NULL) and the reply text into reply. */
typedef void deliver_fn(duro_argv *a, const duro_wf_keys *k, const char *run,
                        const char *data);

static int deliver(duro_client *c, deliver_fn *fn, const char *id,
                   const char *data, const char *rule,
                   char run_out[DURO_UUID_LEN + 1], char *reply, size_t rsize)
{
    duro__wf_head h;
    int rc = duro__read_head(c, id, &h);
    if (rc < 0) return rc;
    if (strcmp(h.status, "RUNNING") != 0)
        return duro__fail(c, DURO_ENOTRUNNING, "workflow %s is %s; %s", id,
                          h.status, rule);
    duro_wf_keys_queues(&h.k, h.queue, NULL);
    duro_argv a;
    fn(&a, &h.k, h.run, data);
    redisReply *r = duro__call(c, &a, true, &rc);
    duro_argv_free(&a);
    if (!r) return rc;
    if (r->type == REDIS_REPLY_ERROR) {
        rc = fcall_fail(c, r, id, rule);
    } else {
        const char *s = duro__reply_str(r);
        snprintf(reply, rsize, "%s", s ? s : "");
        if (run_out) snprintf(run_out, DURO_UUID_LEN + 1, "%s", h.run);
    }
    freeReplyObject(r);
    return rc;
}

/* deliver_retrying: deliver, again after DURO_STALE. */
static int deliver_retrying(duro_client *c, deliver_fn *fn, const char *id,
                            const char *data, const char *rule,
                            char run_out[DURO_UUID_LEN + 1], char *reply,
                            size_t rsize)
{
    int rc = DURO_ESTALE;
    for (int i = 0; i < STALE_TRIES && rc == DURO_ESTALE; i++)
        rc = deliver(c, fn, id, data, rule, run_out, reply, rsize);
    return rc;
}

/* ---- Signal ---- */

/* signal_data builds SignalReceived's data {"name","input"} around the
 * caller's input text, so that no number loses precision. Caller frees
 * *out with cJSON_free. */
static int signal_data(duro_client *c, const char *name, const char *input,
                       char **out)
{
    char why[256];
    *out = NULL;
    if (duro_name_check("signal name", name, why, sizeof(why)) < 0)
        return duro__fail(c, DURO_EINVAL, "%s", why);
    const char *in = input ? input : "null";
    cJSON *parsed = NULL;
    int rc = duro_json_parse_input(in, strlen(in), DURO_DEFAULT_MAX_PAYLOAD,
                                   &parsed, why, sizeof(why));
    if (rc < 0) return duro__fail(c, rc, "signal input: %s", why);
    cJSON_Delete(parsed);
    char *sealed;
    if ((rc = duro__seal(c, in, &sealed)) < 0) return rc;
    cJSON *d = cJSON_CreateObject();
    if (d) {
        cJSON_AddStringToObject(d, "name", name);
        cJSON_AddRawToObject(d, "input", sealed);
    }
    free(sealed);
    *out = d ? cJSON_PrintUnformatted(d) : NULL;
    cJSON_Delete(d);
    return *out ? 0 : duro__fail(c, DURO_ENOMEM, "out of memory");
}

int duro_client_signal(duro_client *c, const char *workflow_id,
                       const char *name, const char *input,
                       char run_out[DURO_UUID_LEN + 1])
{
    char *data, reply[64];
    int rc = signal_data(c, name, input, &data);
    if (rc < 0) return rc;
    rc = deliver_retrying(c, duro_fcall_signal, workflow_id, data, SIGNAL_RULE,
                          run_out, reply, sizeof(reply));
    cJSON_free(data);
    return rc;
}

/* ---- Signal with start ---- */

/* sws_reply reads {run, "signaled"|"started"}. */
static int sws_reply(duro_client *c, const redisReply *r,
                     char run_out[DURO_UUID_LEN + 1], bool *started)
{
    const char *run = r->type == REDIS_REPLY_ARRAY && r->elements == 2
                          ? duro__reply_str(r->element[0])
                          : NULL;
    const char *how = run ? duro__reply_str(r->element[1]) : NULL;
    if (!how || duro__check_run(run) < 0)
        return duro__fail(c, DURO_EPROTO,
                          "duro_signal_with_start gave a malformed reply");
    snprintf(run_out, DURO_UUID_LEN + 1, "%s", run);
    if (started) *started = strcmp(how, "started") == 0;
    return 0;
}

/* sws_call: FCALL duro_signal_with_start (duro_fcall_signal_with_start).
 * hist is the new run's history; hist_cur the running run's (or the new
 * one's when none runs). */
static int sws_call(duro_client *c, const duro_start_opts *o,
                    const duro__wf_head *h, const char *sig,
                    char run_out[DURO_UUID_LEN + 1], bool *started)
{
    bool running = strcmp(h->status, "RUNNING") == 0;
    char run[DURO_UUID_LEN + 1];
    duro_uuid_v4(run);
    duro_wf_keys k;
    duro_wf_keys_init(&k, duro__ks(c), o->workflow_id, run);
    duro_wf_keys_queues(&k, o->task_queue, NULL);
    int64_t retention = duro__retention(c);
    if (retention < 0) return (int)retention;
    char *data = duro__started_data(o, run);
    if (!data) return duro__fail(c, DURO_ENOMEM, "out of memory");
    duro_fcall_start_args s;
    duro__start_args(o, run, data, &s);
    char *sa = NULL;
    int rc = duro__vis_start_args(c, o, &sa);
    if (rc < 0) {
        cJSON_free(data);
        return rc;
    }
    s.search_attrs = sa;
    s.retention_ms = retention;
    duro_argv a;
    duro_fcall_signal_with_start(&a, &k, &s, sig, running ? h->k.hist : k.hist,
                                 running ? h->run : NULL);
    redisReply *r = duro__call(c, &a, true, &rc);
    duro_argv_free(&a);
    cJSON_free(data);
    cJSON_free(sa);
    if (!r) return rc;
    rc = r->type == REDIS_REPLY_ERROR
             ? fcall_fail(c, r, o->workflow_id, SIGNAL_RULE)
             : sws_reply(c, r, run_out, started);
    freeReplyObject(r);
    return rc;
}

/* sws_once reads the current run and signals or starts. The Function takes
 * one workflow-task stream, the new run's; a run running on another task
 * queue is signaled through duro_signal instead, so that its next task
 * lands in its own queue. A closed or vanished run there means: retry. */
static int sws_once(duro_client *c, const duro_start_opts *o, const char *sig,
                    char run_out[DURO_UUID_LEN + 1], bool *started)
{
    duro__wf_head h;
    int rc = duro__read_head(c, o->workflow_id, &h);
    if (rc < 0 && rc != DURO_ENOTFOUND) return rc;
    bool running = rc == 0 && strcmp(h.status, "RUNNING") == 0;
    if (!running || strcmp(h.queue, o->task_queue) == 0)
        return sws_call(c, o, &h, sig, run_out, started);
    char reply[64];
    rc = deliver(c, duro_fcall_signal, o->workflow_id, sig, SIGNAL_RULE,
                 run_out, reply, sizeof(reply));
    if (rc == DURO_ENOTRUNNING || rc == DURO_ENOTFOUND) return DURO_ESTALE;
    if (rc == 0 && started) *started = false;
    return rc;
}

int duro_client_signal_with_start(duro_client *c, const duro_start_opts *o,
                                  const char *signal_name,
                                  const char *signal_input,
                                  char run_out[DURO_UUID_LEN + 1],
                                  bool *started)
{
    char *sig;
    int rc = duro__check_start(c, o);
    if (rc < 0) return rc;
    if ((rc = signal_data(c, signal_name, signal_input, &sig)) < 0) return rc;
    duro_start_opts so;
    char *sealed = NULL;
    if ((rc = duro__seal_start(c, o, &so, &sealed)) < 0) {
        cJSON_free(sig);
        return rc;
    }
    o = &so;
    rc = DURO_ESTALE;
    for (int i = 0; i < STALE_TRIES && rc == DURO_ESTALE; i++)
        rc = sws_once(c, o, sig, run_out, started);
    free(sealed);
    if (rc == DURO_ESTALE)
        duro__fail(c, rc,
                   "workflow %s: its run kept changing during "
                   "signal-with-start; try again",
                   o->workflow_id);
    cJSON_free(sig);
    return rc;
}

/* ---- Cancel ---- */

int duro_client_cancel(duro_client *c, const char *workflow_id,
                       const char *reason, bool *already_requested)
{
    int err = 0;
    if (already_requested) *already_requested = false;
    char *data = duro__reason_json(c, reason, &err);
    if (!data) return err;
    char reply[64];
    int rc = deliver_retrying(c, duro_fcall_cancel, workflow_id, data,
                              CANCEL_RULE, NULL, reply, sizeof(reply));
    cJSON_free(data);
    if (rc == 0 && already_requested)
        *already_requested = strcmp(reply, "already") == 0;
    return rc;
}
