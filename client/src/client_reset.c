/* client_reset.c: resetting a workflow to a workflow task of one of its
 * runs (Temporal's reset): a new run starts with that run's history up to
 * the task, which then runs again, on the fixed code.
 *
 * The client reads the run's history, picks the reset point and works out
 * what was pending there (activities scheduled and not resolved, timers
 * started and neither fired nor canceled), because that needs the events'
 * JSON, which the Functions never decode. duro_reset then copies the
 * events, re-applies the later signals, re-creates that pending work and
 * terminates the running run, in one call. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "duro/clock.h"
#include "duro/history.h"
#include "duro/ids.h"
#include "duro/json.h"

int duro_reset_point_parse(const char *s, duro_reset_point *out)
{
    if (s && !strcmp(s, "FirstWorkflowTask")) {
        *out = DURO_RESET_FIRST_WORKFLOW_TASK;
    } else if (s && !strcmp(s, "LastWorkflowTask")) {
        *out = DURO_RESET_LAST_WORKFLOW_TASK;
    } else {
        return DURO_EINVAL;
    }
    return 0;
}

/* rs: one reset being prepared. events own the decoded history. */
typedef struct {
    duro_client *c;
    const duro_reset_opts *o;
    duro_event *ev;
    size_t nev;
    int64_t point; /* the WorkflowTaskCompleted reset to */
    duro_argv pending;
    int npend;
    char acts[8][DURO_KEY_MAX]; /* activity streams, KEYS from *_ACT_BASE */
    const char *act_ptr[8];
    int nacts;
    char **strs; /* printed JSON the pending list borrows */
    int nstrs;
    char **chain; /* histories of the runs src_run continued as, in order */
    int nchain;
} rs;

/* RESET_CHAIN_MAX: the runs after src_run followed for their signals; a
 * longer chain is refused rather than reset with signals left out. */
#define RESET_CHAIN_MAX 1000

static void rs_free(rs *r)
{
    for (size_t i = 0; i < r->nev; i++)
        duro_event_free(&r->ev[i]);
    free(r->ev);
    duro_argv_free(&r->pending);
    for (int i = 0; i < r->nstrs; i++)
        cJSON_free(r->strs[i]);
    free(r->strs);
    for (int i = 0; i < r->nchain; i++)
        free(r->chain[i]);
    free(r->chain);
}

/* load_events reads run's whole history (LRANGE 0 -1) and decodes it. */
static int load_events(rs *r, const duro_wf_keys *k, const char *run)
{
    int rc;
    redisReply *rep = duro__history_range(r->c, k, 0, -1, &rc);
    if (!rep) return rc;
    rc = 0;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements == 0) {
        rc = duro__fail(r->c, DURO_ENOTFOUND,
                        "no history for workflow %s run %s", r->o->workflow_id,
                        run);
    } else if (!(r->ev = calloc(rep->elements, sizeof(*r->ev)))) {
        rc = duro__fail(r->c, DURO_ENOMEM, "out of memory");
    }
    for (size_t i = 0; rc == 0 && i < rep->elements; i++) {
        char why[256];
        rc = duro_event_decode_reply(rep->element[i], (int64_t)i + 1, &r->ev[i],
                                     why, sizeof(why));
        if (rc)
            rc = duro__fail(r->c, rc, "%s", why);
        else
            r->nev = i + 1;
    }
    freeReplyObject(rep);
    return rc;
}

/* pick_point sets r->point from the options. */
static int pick_point(rs *r, const char *run)
{
    const duro_reset_opts *o = r->o;
    int64_t first = 0, last = 0;
    for (size_t i = 0; i < r->nev; i++)
        if (r->ev[i].type == DURO_EVENT_WORKFLOW_TASK_COMPLETED) {
            if (!first) first = r->ev[i].id;
            last = r->ev[i].id;
        }
    if (o->point != DURO_RESET_EVENT_ID) {
        if (!first)
            return duro__fail(r->c, DURO_EINVAL,
                              "run %s has no completed workflow task to "
                              "reset to",
                              run);
        r->point = o->point == DURO_RESET_FIRST_WORKFLOW_TASK ? first : last;
        return 0;
    }
    if (o->event_id < 1 || (size_t)o->event_id > r->nev)
        return duro__fail(
            r->c, DURO_EINVAL,
            "run %s has events 1..%zu; there is no event %" PRId64, run, r->nev,
            o->event_id);
    const duro_event *e = &r->ev[o->event_id - 1];
    if (e->type != DURO_EVENT_WORKFLOW_TASK_COMPLETED)
        return duro__fail(r->c, DURO_EINVAL,
                          "event %" PRId64
                          " of run %s is %s: a reset point must be a "
                          "WorkflowTaskCompleted event (or use --type "
                          "FirstWorkflowTask|LastWorkflowTask)",
                          o->event_id, run, duro_event_name(e->type));
    r->point = o->event_id;
    return 0;
}

/* keep: a printed JSON value the pending list borrows, or NULL. */
static const char *keep(rs *r, const cJSON *v)
{
    if (!v) return "null";
    char **grown = realloc(r->strs, (size_t)(r->nstrs + 1) * sizeof(char *));
    if (!grown) return NULL;
    r->strs = grown;
    char *s = cJSON_PrintUnformatted(v);
    if (s) r->strs[r->nstrs++] = s;
    return s;
}

/* act_index: the KEYS index of queue's activity stream in the call. */
static int act_index(rs *r, int partition, const char *queue)
{
    char key[DURO_KEY_MAX];
    duro_key_act(key, sizeof(key), duro__ks(r->c), partition, queue);
    for (int i = 0; i < r->nacts; i++)
        if (!strcmp(r->acts[i], key)) return DURO_FCALL_RESET_ACT_BASE + i;
    if (r->nacts == (int)(sizeof(r->acts) / sizeof(r->acts[0]))) return -1;
    snprintf(r->acts[r->nacts], sizeof(r->acts[0]), "%s", key);
    r->act_ptr[r->nacts] = r->acts[r->nacts];
    return DURO_FCALL_RESET_ACT_BASE + r->nacts++;
}

/* resolved: e resolves the activity or timer scheduled by event s. */
static bool resolved(const duro_event *s, const duro_event *e)
{
    if (duro_event_seq(e) != duro_event_seq(s)) return false;
    if (s->type == DURO_EVENT_TIMER_STARTED)
        return e->type == DURO_EVENT_TIMER_FIRED ||
               e->type == DURO_EVENT_TIMER_CANCELED;
    return e->type == DURO_EVENT_ACTIVITY_COMPLETED ||
           e->type == DURO_EVENT_ACTIVITY_FAILED ||
           e->type == DURO_EVENT_ACTIVITY_TIMED_OUT ||
           e->type == DURO_EVENT_ACTIVITY_CANCEL_REQUESTED ||
           e->type == DURO_EVENT_ACTIVITY_CANCELED;
}

/* add_pending appends what event s (ActivityScheduled or TimerStarted
 * before the point, unresolved there) left pending. */
static int add_pending(rs *r, const duro_event *s, int partition)
{
    duro_argv *p = &r->pending;
    const cJSON *d = s->data;
    if (s->type == DURO_EVENT_TIMER_STARTED) {
        int64_t due = s->ts + duro_json_int(d, "durationMs", 0);
        int64_t in = due - duro_now_ms();
        duro_argv_push(p, "timer");
        duro_argv_pushll(p, duro_event_seq(s));
        duro_argv_pushll(p, in > 0 ? in : 0);
        r->npend++;
        return 0;
    }
    const cJSON *opts = cJSON_GetObjectItemCaseSensitive(d, "options");
    const char *queue = duro_json_str(d, "taskQueue", "");
    int key = act_index(r, partition, queue);
    const char *input = keep(r, cJSON_GetObjectItemCaseSensitive(d, "input"));
    const char *o = keep(r, opts);
    if (key < 0)
        return duro__fail(r->c, DURO_EINVAL,
                          "the activities pending at the reset point use "
                          "more than 8 task queues");
    if (!input || !o) return duro__fail(r->c, DURO_ENOMEM, "out of memory");
    duro_argv_push(p, "activity");
    duro_argv_pushll(p, duro_event_seq(s));
    duro_argv_pushll(p, key);
    duro_argv_push(p, duro_json_str(d, "name", ""));
    duro_argv_push(p, input);
    duro_argv_push(p, o);
    duro_argv_pushll(p, duro_json_int(opts, "startToCloseMs", 0));
    duro_argv_pushll(p, duro_json_int(opts, "heartbeatTimeoutMs", 0));
    duro_argv_pushll(p, duro_json_int(opts, "scheduleToCloseMs", 0));
    r->npend++;
    return 0;
}

/* closes_xfer: e answers the child start or external signal/cancel that
 * event s initiated (its outcome reached the run). */
static bool closes_xfer(const duro_event *s, const duro_event *e)
{
    if (duro_event_seq(e) != duro_event_seq(s)) return false;
    switch (s->type) {
    case DURO_EVENT_CHILD_INITIATED:
        return e->type == DURO_EVENT_CHILD_START_FAILED ||
               e->type == DURO_EVENT_CHILD_COMPLETED ||
               e->type == DURO_EVENT_CHILD_FAILED ||
               e->type == DURO_EVENT_CHILD_CANCELED ||
               e->type == DURO_EVENT_CHILD_TERMINATED ||
               e->type == DURO_EVENT_CHILD_TIMED_OUT;
    case DURO_EVENT_EXTERNAL_SIGNAL_INITIATED:
        return e->type == DURO_EVENT_EXTERNAL_SIGNALED ||
               e->type == DURO_EVENT_EXTERNAL_SIGNAL_FAILED;
    default:
        return e->type == DURO_EVENT_EXTERNAL_CANCEL_REQUESTED ||
               e->type == DURO_EVENT_EXTERNAL_CANCEL_FAILED;
    }
}

/* open_xfer refuses a point where a child workflow, or a signal or cancel
 * of another workflow, is still open: its outcome is addressed to the run
 * being reset, so the new run would wait for it forever. */
static int open_xfer(rs *r, const char *run)
{
    size_t end = (size_t)r->point - 1;
    for (size_t i = 0; i < end; i++) {
        const duro_event *s = &r->ev[i];
        if (s->type != DURO_EVENT_CHILD_INITIATED &&
            s->type != DURO_EVENT_EXTERNAL_SIGNAL_INITIATED &&
            s->type != DURO_EVENT_EXTERNAL_CANCEL_INITIATED)
            continue;
        bool done = false;
        for (size_t j = i + 1; j < end && !done; j++)
            done = closes_xfer(s, &r->ev[j]);
        if (!done)
            return duro__fail(r->c, DURO_EINVAL,
                              "event %" PRId64 " of run %s (%s) is still "
                              "open at event %" PRId64 ": its outcome goes "
                              "to that run; reset to a point before it or "
                              "after its outcome",
                              s->id, run, duro_event_name(s->type), r->point);
    }
    return 0;
}

/* find_pending fills the pending list from events 1..point-1. */
static int find_pending(rs *r, int partition)
{
    size_t end = (size_t)r->point - 1;
    for (size_t i = 0; i < end; i++) {
        const duro_event *s = &r->ev[i];
        if (s->type != DURO_EVENT_ACTIVITY_SCHEDULED &&
            s->type != DURO_EVENT_TIMER_STARTED)
            continue;
        bool done = false;
        for (size_t j = i + 1; j < end && !done; j++)
            done = resolved(s, &r->ev[j]);
        int rc = done ? 0 : add_pending(r, s, partition);
        if (rc) return rc;
    }
    return 0;
}

/* next_run: the run that last (a run's last event) continued as, copied
 * to out; false when it did not continue as new. */
static bool next_run(const duro_event *last, char out[DURO_UUID_LEN + 1])
{
    if (last->type != DURO_EVENT_WORKFLOW_CONTINUED_AS_NEW) return false;
    snprintf(out, DURO_UUID_LEN + 1, "%s",
             duro_json_str(last->data, "newExecutionRunId", ""));
    return true;
}

/* add_chain appends run's history key to r->chain and reads its last
 * event into *last (type 0 when the history is gone). */
static int add_chain(rs *r, const char *run, duro_event *last)
{
    duro_client *c = r->c;
    if (duro__check_run(run) < 0)
        return duro__fail(c, DURO_EPROTO,
                          "workflow %s: a run continued as a bad run id",
                          r->o->workflow_id);
    if (r->nchain == RESET_CHAIN_MAX)
        return duro__fail(c, DURO_EINVAL,
                          "workflow %s: more than %d runs continued from the "
                          "run reset; their signals cannot all be applied "
                          "again",
                          r->o->workflow_id, RESET_CHAIN_MAX);
    duro_wf_keys k;
    duro_wf_keys_init(&k, duro__ks(c), r->o->workflow_id, run);
    char **grown = realloc(r->chain, (size_t)(r->nchain + 1) * sizeof(char *));
    if (!grown) return duro__fail(c, DURO_ENOMEM, "out of memory");
    r->chain = grown;
    if (!(r->chain[r->nchain] = strdup(k.hist)))
        return duro__fail(c, DURO_ENOMEM, "out of memory");
    r->nchain++;
    int rc;
    redisReply *rep = duro__history_range(c, &k, -1, -1, &rc);
    if (!rep) return rc;
    rc = 0;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 1) {
        char why[256];
        rc =
            duro_event_decode_reply(rep->element[0], 1, last, why, sizeof(why));
        if (rc) rc = duro__fail(c, rc, "%s", why);
    }
    freeReplyObject(rep);
    return rc;
}

/* follow_chain fills r->chain with the histories of the runs src_run
 * continued as, one after the other, up to the chain's last run: their
 * signals are applied again too (as Temporal's reset does). */
static int follow_chain(rs *r)
{
    char run[DURO_UUID_LEN + 1];
    bool more = next_run(&r->ev[r->nev - 1], run);
    while (more) {
        duro_event last = {0};
        int rc = add_chain(r, run, &last);
        more = rc == 0 && last.data && next_run(&last, run);
        duro_event_free(&last);
        if (rc) return rc;
    }
    return 0;
}

static int reset_fail(duro_client *c, const redisReply *rep, const char *id)
{
    const char *e = rep->str ? rep->str : "";
    int code = duro_redis_error_code(e);
    if (code == DURO_ENOTFOUND)
        return duro__fail(c, code, "workflow %s: %.400s", id, e);
    if (code == DURO_EINVAL) {
        const char *sp = strchr(e, ' ');
        return duro__fail(c, code, "%.400s", sp ? sp + 1 : e);
    }
    return duro__fail(c, code, "redis: %.400s", e);
}

/* reset_once: one attempt; DURO_ESTALE when the running run changed. */
static int reset_once(duro_client *c, const duro_reset_opts *o,
                      char run_id[DURO_UUID_LEN + 1])
{
    duro__wf_head h;
    int rc = duro__read_head(c, o->workflow_id, &h);
    if (rc == DURO_ENOTFOUND)
        return duro__fail(c, rc, "workflow %s not found", o->workflow_id);
    if (rc < 0) return rc;
    const char *src = o->run_id ? o->run_id : h.run;
    if (duro__check_run(src) < 0)
        return duro__fail(c, DURO_EINVAL,
                          "run id must be 1..36 characters of [0-9A-Za-z-]");
    bool running = strcmp(h.status, "RUNNING") == 0;
    duro_wf_keys ks;
    duro_wf_keys_init(&ks, duro__ks(c), o->workflow_id, src);
    rs r = {.c = c, .o = o};
    duro_argv_init(&r.pending);
    rc = load_events(&r, &ks, src);
    if (rc == 0) rc = pick_point(&r, src);
    if (rc == 0 && r.ev[0].type != DURO_EVENT_WORKFLOW_STARTED)
        rc = duro__fail(c, DURO_EPROTO,
                        "run %s does not start with "
                        "WorkflowStarted",
                        src);
    if (rc == 0) rc = open_xfer(&r, src);
    if (rc == 0) rc = find_pending(&r, ks.partition);
    if (rc == 0) rc = follow_chain(&r);
    if (rc == 0) {
        const cJSON *sd = r.ev[0].data;
        const char *queue = duro_json_str(sd, "taskQueue", "");
        const char *input = keep(&r, cJSON_GetObjectItem(sd, "input"));
        char run[DURO_UUID_LEN + 1];
        duro_uuid_v4(run);
        duro_wf_keys k;
        duro_wf_keys_init(&k, duro__ks(c), o->workflow_id, run);
        duro_wf_keys_queues(&k, queue, NULL);
        duro_fcall_reset_args ra = {
            .id = o->workflow_id,
            .run = run,
            .src_run = src,
            .cur_run = running ? h.run : NULL,
            .hist_cur = running ? h.k.hist : ks.hist,
            .hist_src = ks.hist,
            .event_id = r.point,
            .reason = o->reason,
            .type = duro_json_str(sd, "type", ""),
            .queue = queue,
            .input = input,
            .exec_timeout_ms = duro_json_int(sd, "executionTimeoutMs", 0),
            .run_timeout_ms = duro_json_int(sd, "runTimeoutMs", 0),
            .nchain = r.nchain,
            .chain = (const char *const *)r.chain,
            .npend = r.npend,
            .pending = &r.pending,
            .nacts = r.nacts,
            .acts = r.act_ptr};
        duro_argv a;
        duro_fcall_reset(&a, &k, &ra);
        redisReply *rep = duro__call(c, &a, true, &rc);
        duro_argv_free(&a);
        if (rep && rep->type == REDIS_REPLY_ERROR)
            rc = reset_fail(c, rep, o->workflow_id);
        else if (rep)
            snprintf(run_id, DURO_UUID_LEN + 1, "%s", run);
        if (rep) freeReplyObject(rep);
    }
    rs_free(&r);
    return rc;
}

int duro_client_reset(duro_client *c, const duro_reset_opts *o,
                      char run_id[DURO_UUID_LEN + 1])
{
    char why[256];
    if (!o || !o->workflow_id)
        return duro__fail(c, DURO_EINVAL, "workflow id is required");
    if (duro_id_check(o->workflow_id, why, sizeof(why)) < 0)
        return duro__fail(c, DURO_EINVAL, "%s", why);
    if (o->point != DURO_RESET_EVENT_ID &&
        o->point != DURO_RESET_FIRST_WORKFLOW_TASK &&
        o->point != DURO_RESET_LAST_WORKFLOW_TASK)
        return duro__fail(c, DURO_EINVAL, "unknown reset point");
    /* the running run is terminated only if it is the one read here: a
     * run that took its place in between is read again */
    int rc = DURO_ESTALE;
    for (int i = 0; i < 3 && rc == DURO_ESTALE; i++)
        rc = reset_once(c, o, run_id);
    if (rc == DURO_ESTALE)
        duro__fail(c, rc,
                   "workflow %s: its running run kept changing; try "
                   "again",
                   o->workflow_id);
    return rc;
}
