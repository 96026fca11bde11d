/* schedules.c: fires schedules (docs/internals.md "Schedules").
 *
 * A schedule's timer ('c|-|0|0|-|-|<id>') is handed here by timers.c. One
 * fire is a chain of round trips on the command connection:
 *
 *   1. FCALL duro_sched_claim: the timer moves a lease ahead and a token
 *      fences this fire; the reply is the schedule's hash and requests.
 *   2. HMGET status run of each workflow the schedule started that may
 *      still run (the overlap policy needs to know).
 *   3. schedules_plan (schedules_plan.c): which nominal times start a
 *      workflow, which are buffered, skipped (overlap) or missed (catch-up
 *      window), and the next fire.
 *   4. FCALL duro_start per action, with RejectDuplicate, on the workflow
 *      id <prefix or schedule id>-<nominal time RFC 3339>, in the
 *      workflow's own partition; DURO_ALREADY_STARTED counts as started.
 *   5. FCALL duro_sched_fire records the actions, counts and the next
 *      timer, if the token is still the schedule's claim.
 *
 * Exactly once per nominal time: a time is recorded as handled (the
 * schedule's next_nominal moves past it) only in step 5, after its start
 * succeeded or was found done. A scheduler that dies before step 5 leaves
 * the hash as it was; the timer comes due again when the lease ends and
 * the next claimant plans the same times from the same state, so it starts
 * the same ids, which the id makes harmless (RejectDuplicate: a second
 * start of an id never makes a second run). Two schedulers never plan at
 * once: the claim is atomic and the lease outlasts a fire by far.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "duro/errno.h"
#include "duro/fcall.h"
#include "duro/ids.h"
#include "duro/keys.h"
#include "duro/log.h"
#include "schedules_int.h"

#define LEASE_MS 5000
#define TASK_TIMEOUT_MS 10000 /* DURO_DEFAULT_TASK_TIMEOUT_MS */

static void job_free(sjob *j)
{
    free(j->cron);
    free(j->tz);
    free(j->type);
    free(j->queue);
    free(j->input);
    free(j->prefix);
    free(j->overlap);
    for (int i = 0; i < j->nreq; i++)
        free(j->reqs[i]);
    free(j->reqs);
    free(j->buffer);
    for (int i = 0; i < j->nstarts; i++)
        free(j->starts[i].started_data);
    free(j->starts);
    if (j->spec_ok) duro_spec_close(&j->spec);
    free(j);
}

/* ---- 5. Recording ---- */

static void on_recorded(duro_aredis *r, redisReply *reply, void *arg)
{
    sjob *j = arg;
    const char *res = duro__reply_str(reply) ? reply->str : "?";
    if (duro__reply_is_error(reply)) {
        sched_redis_error(j->s);
        res = reply->str; /* what refused it, in the log line below */
    }
    if (strcmp(res, "fired") == 0) {
        const struct {
            const char *result;
            long long n;
        } counts[] = {{"started", j->nstarts},
                      {"skipped", j->skipped},
                      {"missed", j->missed},
                      {"buffered", j->nbuffered}};
        for (size_t i = 0; i < 4; i++) {
            char l[64] = "";
            duro_metrics_label(l, sizeof(l), "result", counts[i].result);
            if (counts[i].n)
                duro_metrics_add(j->s->m, M_SCHEDULE_ACTIONS, l,
                                 (double)counts[i].n);
        }
    }
    duro_info("SCHEDULE FIRE sched=%s started=%d skipped=%lld missed=%lld "
              "buffered=%d result=%s",
              j->id, j->nstarts, j->skipped, j->missed, j->nbuffer,
              reply ? res : "lost");
    job_free(j);
}

static char *action_json(const sjob *j, const sstart *st)
{
    char nominal[DURO_RFC3339_LEN], actual[DURO_RFC3339_LEN];
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(
        o, "nominalTime", duro_rfc3339(st->nominal, nominal, sizeof(nominal)));
    cJSON_AddStringToObject(o, "actualTime",
                            duro_rfc3339(j->now, actual, sizeof(actual)));
    cJSON_AddStringToObject(o, "workflowId", st->wfid);
    cJSON_AddStringToObject(o, "runId", st->run);
    cJSON_AddStringToObject(o, "trigger", st->how);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static void job_record(sjob *j)
{
    duro_sched_keys k;
    duro_sched_keys_init(&k, j->ks, j->id);
    const char *keys[] = {k.sched, k.acts, k.req, k.timers};
    duro_argv a;
    duro_argv_fcall(&a, "duro_sched_fire", 4, keys);
    duro_argv_push(&a, j->id);
    duro_argv_push(&a, j->token);
    duro_argv_push(&a, j->rev);
    duro_argv_pushll(&a, j->new_next);
    if (j->due >= 0)
        duro_argv_pushll(&a, j->due);
    else
        duro_argv_push(&a, "-");
    char running[SCHED_MAX_RUNNING * 21 + 1] = "";
    size_t n = 0;
    for (int i = 0; i < j->nrunning; i++)
        n += (size_t)snprintf(running + n, sizeof(running) - n, "%s%lld",
                              n ? " " : "", (long long)j->running[i]);
    duro_argv_push(&a, running);
    size_t blen = (size_t)j->nbuffer * 21 + 1;
    char *buffer = calloc(1, blen);
    n = 0;
    for (int i = 0; buffer && i < j->nbuffer; i++)
        n += (size_t)snprintf(buffer + n, blen - n, "%s%lld", n ? " " : "",
                              (long long)j->buffer[i]);
    duro_argv_push(&a, buffer ? buffer : "");
    duro_argv_pushll(&a, j->missed);
    duro_argv_pushll(&a, j->skipped);
    duro_argv_pushll(&a, j->nstarts);
    duro_argv_pushll(&a, j->reqs_done);
    duro_argv_push(&a, j->requeue);
    for (int i = 0; i < j->nstarts; i++) {
        char *act = action_json(j, &j->starts[i]);
        if (act) {
            duro_argv_pushf(&a, "%s", act);
            cJSON_free(act);
        }
    }
    if (sched_cmd(j->s, on_recorded, j, &a) != 0) job_free(j);
    duro_argv_free(&a);
    free(buffer);
}

/* ---- 4. Starting ---- */

/* start_of: the job and one of its starts, as a reply's argument. */
typedef struct {
    sjob *j;
    sstart *st;
} start_of;

static void start_answered(sjob *j)
{
    if (--j->waiting > 0) return;
    if (j->failed || j->s->stopping) {
        /* nothing recorded: the lease ends and a claimant starts over */
        duro_warn_limited(NULL,
                          "SCHEDULE START FAILED sched=%s (retried "
                          "when the claim lapses)",
                          j->id);
        job_free(j);
        return;
    }
    job_record(j);
}

static void on_started(duro_aredis *r, redisReply *reply, void *arg)
{
    start_of *so = arg;
    sjob *j = so->j;
    sstart *st = so->st;
    free(so);
    if (!reply) {
        j->failed = 1;
    } else if (duro__reply_is_error(reply)) {
        int code = duro_redis_error_code(reply->str);
        char run[DURO_UUID_LEN + 1] = "";
        /* DURO_ALREADY_STARTED <run> <status> <policy>: a claimant before
         * us started it; that run is this time's action */
        if (code == DURO_EALREADY && sscanf(reply->str, "%*s %36s", run) == 1) {
            snprintf(st->run, sizeof(st->run), "%s", run);
        } else {
            sched_redis_error(j->s);
            duro_warn_limited(NULL,
                              "SCHEDULE START ERROR sched=%s wf=%s err=%s",
                              j->id, st->wfid, reply->str);
            j->failed = 1;
        }
    }
    start_answered(j);
}

static char *started_data(const sjob *j, const char *run)
{
    cJSON *d = cJSON_CreateObject();
    if (!d) return NULL;
    cJSON_AddStringToObject(d, "type", j->type);
    cJSON_AddStringToObject(d, "taskQueue", j->queue);
    cJSON_AddRawToObject(d, "input", j->input && *j->input ? j->input : "null");
    cJSON_AddStringToObject(d, "runId", run);
    cJSON_AddNumberToObject(d, "executionTimeoutMs", 0);
    char *s = cJSON_PrintUnformatted(d);
    cJSON_Delete(d);
    return s;
}

static int send_start(sjob *j, sstart *st)
{
    start_of *so = malloc(sizeof(*so));
    duro_uuid_v4(st->run);
    st->started_data = started_data(j, st->run);
    if (!so || !st->started_data) {
        free(so);
        return DURO_ENOMEM;
    }
    *so = (start_of){j, st};
    duro_wf_keys k;
    duro_wf_keys_init(&k, j->ks, st->wfid, st->run);
    duro_wf_keys_queues(&k, j->queue, NULL);
    duro_fcall_start_args sa = {.id = st->wfid,
                                .run = st->run,
                                .type = j->type,
                                .queue = j->queue,
                                .input =
                                    j->input && *j->input ? j->input : "null",
                                .started_data = st->started_data,
                                .exec_timeout_ms = 0,
                                .wft_timeout_ms = TASK_TIMEOUT_MS,
                                .policy = "RejectDuplicate",
                                .retention_ms = j->retention_ms};
    duro_argv a;
    duro_fcall_start(&a, &k, &sa, NULL, NULL);
    int rc = sched_cmd(j->s, on_started, so, &a);
    duro_argv_free(&a);
    if (rc) free(so);
    return rc;
}

/* stop_running cancels or terminates the runs the overlap policy ends
 * (CancelOther, TerminateOther); answers only matter when they fail. */
static void stop_running(sjob *j)
{
    for (int i = 0; i < j->nkill; i++) {
        char wfid[DURO_ID_MAX + 1];
        schedules_wfid(j, j->kill[i].nominal, wfid, sizeof(wfid));
        duro_wf_keys k;
        duro_wf_keys_init(&k, j->ks, wfid, j->kill[i].run);
        duro_wf_keys_queues(&k, j->kill[i].queue, NULL);
        char why[DURO_ID_MAX + 64];
        snprintf(why, sizeof(why), "schedule %s: overlap policy %s", j->id,
                 j->overlap);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "reason", why);
        char *data = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (!data) continue;
        duro_argv a;
        if (j->kill_how == 't') {
            duro_fcall_terminate(&a, &k, data);
            sched_cmd_noreply(j->s, &a, "schedule terminate");
        } else {
            duro_fcall_cancel(&a, &k, j->kill[i].run, data);
            sched_cmd_noreply(j->s, &a, "schedule cancel");
        }
        duro_argv_free(&a);
        cJSON_free(data);
    }
}

static void job_act(sjob *j)
{
    schedules_plan(j);
    stop_running(j);
    j->waiting = 1; /* held while sending */
    for (int i = 0; i < j->nstarts && !j->failed; i++) {
        if (send_start(j, &j->starts[i]) == 0)
            j->waiting++;
        else
            j->failed = 1;
    }
    start_answered(j);
}

/* ---- 2. Which earlier actions still run ---- */

typedef struct {
    sjob *j;
    int i;
} status_of;

static void status_done(sjob *j)
{
    if (--j->waiting > 0) return;
    if (j->failed || j->s->stopping) {
        job_free(j);
        return;
    }
    job_act(j);
}

static void on_status(duro_aredis *r, redisReply *reply, void *arg)
{
    status_of *so = arg;
    sjob *j = so->j;
    int i = so->i;
    free(so);
    if (!reply) {
        j->failed = 1;
    } else if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 3) {
        const redisReply *st = reply->element[0], *run = reply->element[1],
                         *q = reply->element[2];
        char why[128];
        j->alive[i] = duro__reply_str(st) && strcmp(st->str, "RUNNING") == 0;
        /* they name keys: checked as the timers' are */
        if (duro__reply_str(run) && run->len <= DURO_UUID_LEN &&
            duro_name_check("run", run->str, why, sizeof(why)) == 0)
            snprintf(j->runs[i], sizeof(j->runs[i]), "%s", run->str);
        if (duro__reply_str(q) &&
            duro_name_check("queue", q->str, why, sizeof(why)) == 0)
            snprintf(j->queues[i], sizeof(j->queues[i]), "%s", q->str);
    } else {
        j->alive[i] = 1; /* unknown: assume it runs (never overlaps) */
    }
    status_done(j);
}

static void job_status(sjob *j)
{
    j->waiting = 1; /* held while sending */
    for (int i = 0; i < j->nrunning && !j->failed; i++) {
        char wfid[DURO_ID_MAX + 1];
        schedules_wfid(j, j->running[i], wfid, sizeof(wfid));
        duro_wf_keys k;
        duro_wf_keys_init(&k, j->ks, wfid, NULL);
        status_of *so = malloc(sizeof(*so));
        if (!so) {
            j->failed = 1;
            break;
        }
        *so = (status_of){j, i};
        duro_argv a;
        duro_argv_init(&a);
        duro_argv_push(&a, "HMGET");
        duro_argv_push(&a, k.wf);
        duro_argv_push(&a, "status");
        duro_argv_push(&a, "run");
        duro_argv_push(&a, "queue");
        if (sched_cmd(j->s, on_status, so, &a) == 0) {
            j->waiting++;
        } else {
            free(so);
            j->failed = 1;
        }
        duro_argv_free(&a);
    }
    status_done(j);
}

/* ---- 1. Claiming ---- */

/* claim_of: what a claim's reply needs. */
typedef struct {
    part *pt;
    void (*answered)(part *pt); /* the round's count (timers.c) */
    char id[DURO_ID_MAX + 1];
} claim_of;

static void on_claim(duro_aredis *r, redisReply *reply, void *arg)
{
    claim_of *c = arg;
    part *pt = c->pt;
    sched *s = pt->s;
    if (!reply) {
        pt->aborted = 1;
    } else if (duro__reply_is_error(reply)) {
        int code = duro_redis_error_code(reply->str);
        pt->kept++;
        sched_redis_error(s);
        if (duro_err_is_transient(code))
            pt->transient++;
        else
            pt->errors++;
        duro_warn_limited(NULL, "SCHEDULE CLAIM FAILED sched=%s err=%s", c->id,
                          reply->str);
    } else if (reply->type == REDIS_REPLY_ARRAY) {
        sjob *j = schedules_job_new(s, c->id, reply);
        if (j) {
            j->ks = &pt->ns->ks;
            j->retention_ms = pt->ns->retention_ms;
            s->st.fired++;
            job_status(j);
        } else {
            duro_warn_limited(NULL,
                              "SCHEDULE MALFORMED sched=%s (retried "
                              "when the claim lapses)",
                              c->id);
        }
    } else if (duro__reply_str(reply) && strcmp(reply->str, "early") == 0) {
        pt->kept++;
        pt->early++; /* looked at again soon (timers.c) */
    }
    void (*answered)(part * pt) = c->answered;
    free(c);
    answered(pt);
}

int schedules_claim(part *pt, const char *id, void (*answered)(part *pt))
{
    claim_of *c = malloc(sizeof(*c));
    if (!c) return DURO_ENOMEM;
    c->pt = pt;
    c->answered = answered;
    snprintf(c->id, sizeof(c->id), "%s", id);
    duro_sched_keys k;
    duro_sched_keys_init(&k, &pt->ns->ks, id);
    const char *keys[] = {k.sched, k.req, k.timers};
    duro_argv a;
    duro_argv_fcall(&a, "duro_sched_claim", 3, keys);
    duro_argv_push(&a, id);
    duro_argv_pushll(&a, LEASE_MS);
    int rc = sched_cmd(pt->s, on_claim, c, &a);
    duro_argv_free(&a);
    if (rc) free(c);
    return rc;
}
