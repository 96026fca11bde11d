/* sdk_local.c: local activities (duro_local_activity).
 *
 * A local activity runs in the workflow task that calls it, on the worker
 * running that task: no activity task, no pending-activity hash, no
 * second round trip. Its outcome is recorded as a marker (MarkerRecorded,
 * data {"kind":"localActivity","seq","name","attempt","value"} or
 * {..., "failure", "backoffMs"}) committed with the task's other commands;
 * a replay (cache miss, another worker, the replay checker) reads the
 * marker and does not call the function again.
 *
 * Where it runs: on the worker's local pool (w->local_pool, threads of its
 * own, as many as activity threads), as Temporal runs local activities on
 * worker threads. The workflow coroutine blocks (WAIT_LOCAL) and the
 * workflow task stays in flight while the event loop goes on with other
 * tasks, queries, heartbeats and replies; the pool's done callback hands
 * the outcome back to the loop, which runs the code on and commits the
 * task (wf->local_resume, set by wft.c). Two paths cannot wait and
 * refuse (the code stops at the call): the eager path (runs.c), which
 * commits in the call that reports an activity's completion (the run is
 * dropped and the completion goes the usual way: a workflow task replays
 * to this call and runs it on the pool), and a query's throwaway first
 * run (query.c), which answers from the handlers registered before it.
 *
 * The workflow task's deadline: a task that has waited past
 * DURO__LOCAL_TASK_BUDGET_MS since it started would commit after its
 * timeout, fenced off: a retry that would start past it is not run here
 * but recorded (its failure marker with backoffMs, a durable timer, the
 * next attempt in a later task), and an attempt that ends past it fails
 * the task with a clear message, to be retried with backoff.
 *
 * Retries: a failed attempt is retried at once in the same task while the
 * attempts and their backoff fit in local_retry_threshold_ms (the backoff
 * is slept on the pool thread). A retry that does not fit is recorded (a
 * failure marker with its backoffMs) and waited for with a durable timer,
 * so that the next attempt runs in a later workflow task, as Temporal does
 * past its local retry threshold. A failure the policy does not retry is
 * the activity's outcome.
 *
 * Heartbeats are ignored and it has no task token. A task that fails
 * after running it (the worker dies before the commit) runs it again: at
 * least once, as for any activity. */
#define DURO_NO_CALL_SITES /* defines duro_local_activity */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "duro/clock.h"
#include "duro/json.h"
#include "duro/utf8.h"
#include "duro/log.h"
#include "duro/retry_policy.h"
#include "duro/worker.h"
#include "engine_internal.h"
#include "run.h"
#include "worker_internal.h"

/* attempt_outcome: what one live batch of attempts ended with. */
typedef struct {
    int attempt;        /* the last attempt run */
    cJSON *value;       /* ok: the result (owned) */
    char *failure;      /* else: failure JSON (owned) */
    int64_t backoff_ms; /* failed: the next attempt's delay, -1: none */
} attempt_outcome;

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000,
                          .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static char *failure_of(const duro_actx *c)
{
    cJSON *f = cJSON_CreateObject();
    duro_assert(f != NULL);
    cJSON_AddStringToObject(f, "message", c->fail_msg ? c->fail_msg : "");
    cJSON_AddStringToObject(f, "type", c->fail_type ? c->fail_type : "");
    cJSON_AddBoolToObject(f, "nonRetryable", c->non_retryable);
    /* a message of raw bytes is mended, not refused: the failure must land */
    char *s = duro_utf8_mend(cJSON_PrintUnformatted(f));
    cJSON_Delete(f);
    duro_assert(s != NULL);
    return s;
}

/* local_call: one call of a local activity, what its attempts need; on
 * the pool, a job (the pool thread reads and writes only this). */
typedef struct duro__local_job {
    duro_wf *wf; /* loop side only; NULL: orphaned (the run went away) */
    duro_worker *w;
    act_reg *reg;
    char *id, *run;
    cJSON *input, *policy; /* owned copies */
    int64_t first_seq, threshold_ms;
    int64_t deadline_ms; /* duro_mono_ms; INT64_MAX: none */
    int attempt;         /* the first one to run */
    attempt_outcome out;
} local_call;

/* run_one runs attempt `attempt` of the call on this thread; true when
 * ok. */
static bool run_one(const local_call *lc, int attempt, attempt_outcome *out)
{
    act_reg *reg = lc->reg;
    duro_actx *c = duro__actx_new(lc->w);
    duro_assert(c != NULL);
    c->local = true;
    c->id = strdup(lc->id);
    c->run = strdup(lc->run);
    c->name = strdup(reg->name);
    int n = asprintf(&c->seq, "%" PRId64, lc->first_seq);
    duro_assert(n >= 0);
    n = asprintf(&c->idempotency_key, "%s/%s/L%" PRId64, lc->id, lc->run,
                 lc->first_seq);
    duro_assert(n >= 0 && c->id && c->run && c->name);
    c->attempt = attempt;
    c->reg = reg;
    cJSON *r = reg->fn(c, lc->input, reg->arg);
    out->attempt = attempt;
    bool ok = !c->failed;
    if (ok) {
        out->value = r ? r : cJSON_CreateNull();
    } else {
        cJSON_Delete(r);
        out->failure = failure_of(c);
    }
    duro_debug("LOCAL-ACT wf=%s activity=%s seq=%" PRId64 " attempt=%d %s",
               lc->id, reg->name, lc->first_seq, attempt, ok ? "ok" : "failed");
    c->failed = false; /* the fail strings go with the context */
    duro__actx_unref(c);
    return ok;
}

/* run_attempts runs attempts from lc->attempt into lc->out until one
 * succeeds, the policy gives up, or the next retry would pass the
 * threshold or the task's deadline. Any thread. */
static void run_attempts(local_call *lc)
{
    attempt_outcome *out = &lc->out;
    int attempt = lc->attempt;
    int64_t start = duro_mono_ms();
    for (;;) {
        memset(out, 0, sizeof(*out));
        if (run_one(lc, attempt, out)) return;
        cJSON *f = cJSON_Parse(out->failure);
        const char *type = duro_json_str(f, "type", "");
        const cJSON *nr = cJSON_GetObjectItemCaseSensitive(f, "nonRetryable");
        out->backoff_ms =
            duro__retry_delay_of(lc->policy, attempt, type, cJSON_IsTrue(nr));
        cJSON_Delete(f);
        int64_t now = duro_mono_ms();
        if (out->backoff_ms < 0 ||
            now - start + out->backoff_ms > lc->threshold_ms ||
            now + out->backoff_ms > lc->deadline_ms)
            return;
        sleep_ms(out->backoff_ms);
        free(out->failure);
        attempt++;
    }
}

/* marker_data: the marker of a batch, as recorded. */
static char *marker_data(duro_wf *wf, const char *name, int64_t mseq,
                         attempt_outcome *out)
{
    cJSON *d = cJSON_CreateObject();
    duro_assert(d != NULL);
    cJSON_AddStringToObject(d, "kind", "localActivity");
    cJSON_AddNumberToObject(d, "seq", (double)mseq);
    cJSON_AddStringToObject(d, "name", name);
    cJSON_AddNumberToObject(d, "attempt", out->attempt);
    if (out->value) {
        char *v = duro__encode_payload(wf, out->value);
        cJSON_AddRawToObject(d, "value", v);
        free(v);
    } else {
        cJSON_AddRawToObject(d, "failure", out->failure);
        cJSON_AddNumberToObject(d, "backoffMs", (double)out->backoff_ms);
    }
    char *s = cJSON_PrintUnformatted(d);
    cJSON_Delete(d);
    duro_assert(s != NULL);
    return s;
}

/* live_data: the marker's data as the code sees it (the value not
 * encoded by the codec); takes out's value and failure. */
static cJSON *live_data(attempt_outcome *out)
{
    cJSON *d = cJSON_CreateObject();
    duro_assert(d != NULL);
    cJSON_AddNumberToObject(d, "attempt", out->attempt);
    if (out->value) {
        cJSON_AddItemToObject(d, "value", out->value);
    } else {
        cJSON *f = cJSON_Parse(out->failure);
        cJSON_AddItemToObject(d, "failure", f ? f : cJSON_CreateNull());
        cJSON_AddNumberToObject(d, "backoffMs", (double)out->backoff_ms);
    }
    free(out->failure);
    out->value = NULL;
    out->failure = NULL;
    return d;
}

/* policy_of: the retry policy in the JSON duro__retry_delay_of reads. */
static cJSON *policy_of(const duro_local_activity_opts *o)
{
    duro_activity_opts ao = {.retry = o->retry};
    char *s = duro__activity_opts_json(&ao, 0);
    cJSON *j = s ? cJSON_Parse(s) : NULL;
    free(s);
    return j;
}

static act_reg *find(duro_wf *wf, const char *name)
{
    for (act_reg *r = wf->worker ? wf->worker->activities : NULL; r;
         r = r->next)
        if (strcmp(r->name, name) == 0) return r;
    return NULL;
}

/* outcome_of turns a marker's data into the call's result; false when it
 * is a failure to retry after data's backoffMs. */
static bool outcome_of(duro_wf *wf, const cJSON *data, duro_result *res)
{
    memset(res, 0, sizeof(*res));
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(data, "value");
    if (v) {
        res->ok = true;
        res->value = duro_keep(wf, cJSON_Duplicate(v, 1));
        res->error = "";
        return true;
    }
    if (duro_json_int(data, "backoffMs", -1) >= 0) return false;
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(data, "failure");
    res->failure =
        duro_keep(wf, f ? cJSON_Duplicate(f, 1) : cJSON_CreateNull());
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(res->failure, "message");
    res->error = cJSON_IsString(m) ? m->valuestring : "failed";
    return true;
}

/* canceled: the outcome of a local activity whose workflow was canceled
 * while it waited for a retry: its last failure, marked canceled. */
static duro_result canceled(duro_wf *wf, const cJSON *data)
{
    duro_result res = {0};
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(data, "failure");
    res.failure = duro_keep(wf, f ? cJSON_Duplicate(f, 1) : cJSON_CreateNull());
    res.error = "canceled while waiting for a retry";
    res.canceled = true;
    return res;
}

/* ---- The local pool ---- */

static void call_free(local_call *lc)
{
    free(lc->id);
    free(lc->run);
    cJSON_Delete(lc->input);
    cJSON_Delete(lc->policy);
    cJSON_Delete(lc->out.value);
    free(lc->out.failure);
    free(lc);
}

void duro__local_pool_work(void *job)
{
    run_attempts(job);
}

/* duro__local_pool_done hands the outcome back to the waiting code, on
 * the loop: the wait ends and the task that holds the run runs it on. */
void duro__local_pool_done(void *job)
{
    local_call *lc = job;
    duro_wf *wf = lc->wf;
    if (!wf) { /* its run was freed while this ran */
        call_free(lc);
        return;
    }
    wf->local_job = NULL;
    void (*resume)(duro_wf *, void *) = wf->local_resume;
    wf->local_resume = NULL;
    if (resume) resume(wf, wf->local_arg);
}

/* wait_local blocks the code until the pool's done callback (or, REFUSE,
 * until the run is dropped); false when the run is being unwound. */
static bool wait_local(duro_wf *wf)
{
    wf->wait_call = wf->outer_call ? wf->outer_call : "duro_local_activity";
    wf->wait = WAIT_LOCAL;
    wf->wait_cancelable = false; /* the outcome comes back in this task */
    while (!wf->unwinding && !duro__wait_satisfied(wf))
        duro__coro_yield();
    wf->wait = WAIT_NONE;
    wf->wait_call = NULL;
    return !wf->unwinding;
}

/* evicted: the outcome of a call whose run is discarded meanwhile. */
static duro_result evicted(void)
{
    duro_result res = {0};
    res.error = "the run was evicted from the worker";
    res.canceled = true;
    return res;
}

/* run_live runs the call's attempts as wf->local_mode says, into
 * lc->out; false when the run is being unwound (lc is then no longer the
 * caller's). */
static bool run_live(duro_wf *wf, local_call *lc)
{
    if (wf->local_mode == DURO__LOCAL_REFUSE) {
        wf->local_refused = true;
        wait_local(wf); /* until the run is dropped */
        call_free(lc);
        return false;
    }
    duro_worker *w = wf->worker;
    if (wf->local_mode != DURO__LOCAL_POOL || !w || !w->local_pool) {
        run_attempts(lc);
        return true;
    }
    lc->wf = wf;
    lc->deadline_ms = wf->local_deadline_ms;
    wf->local_job = lc;
    if (duro__pool_submit(w->local_pool, lc) != 0) {
        wf->local_job = NULL;
        call_free(lc);
        duro__abort_task(wf, "out of memory starting a local activity");
    }
    if (wait_local(wf)) return true;
    if (wf->local_job) {
        lc->wf = NULL; /* still running: its done callback frees it */
        wf->local_job = NULL;
    } else {
        call_free(lc);
    }
    return false;
}

int64_t duro__local_budget_ms(const duro_wf *wf)
{
    int64_t t = wf->task_timeout_ms;
    return t > 0 ? t - t / 5 : DURO__LOCAL_TASK_BUDGET_MS;
}

/* late fails the task of an attempt that ended past the task's
 * deadline: its commit would come after the task timed out. */
static void late(duro_wf *wf, const char *name, local_call *lc)
{
    char msg[320];
    snprintf(msg, sizeof(msg),
             "local activity %s ran past the workflow task's deadline "
             "(%lld ms after the task started, the task timeout less a "
             "margin): the task is retried; keep local activities short "
             "or run it as an activity",
             name, (long long)duro__local_budget_ms(wf));
    call_free(lc);
    duro__abort_task(wf, msg);
}

duro_result duro_local_activity(duro_wf *wf, const char *name,
                                const cJSON *input,
                                const duro_local_activity_opts *opts)
{
    duro__in_workflow(wf, "duro_local_activity");
    duro_local_activity_opts o = opts ? *opts : (duro_local_activity_opts){0};
    int64_t threshold = o.local_retry_threshold_ms > 0
                            ? o.local_retry_threshold_ms
                            : DURO_LOCAL_RETRY_THRESHOLD_MS;
    int64_t first_seq = wf->marker_seq + 1;
    int attempt = 1;
    for (;;) {
        int64_t mseq = ++wf->marker_seq;
        char key[64];
        snprintf(key, sizeof(key), "localActivity:%" PRId64, mseq);
        const seg_ev *rec = duro__seg_next(wf); /* read before issuing */
        duro__cmd *c = duro__new_cmd(wf, CMD_MARKER, mseq);
        c->name = strdup(key);
        const cJSON *data;
        if (wf->replaying) {
            if (!rec || rec->type != DURO_EVENT_MARKER_RECORDED ||
                strcmp(rec->name, key) != 0 ||
                strcmp(duro_json_str(rec->data, "name", ""), name) != 0) {
                char msg[256];
                snprintf(msg, sizeof(msg),
                         "local activity %s is not where the history "
                         "recorded it",
                         name);
                duro__abort_task(wf, msg);
            }
            data = rec->data;
        } else {
            act_reg *reg = find(wf, name);
            if (!reg) {
                char msg[256];
                snprintf(msg, sizeof(msg),
                         "local activity \"%s\" is not registered on this "
                         "worker",
                         name);
                duro__abort_task(wf, msg);
            }
            local_call *lc = calloc(1, sizeof(*lc));
            duro_assert(lc != NULL);
            lc->w = wf->worker;
            lc->reg = reg;
            lc->id = strdup(wf->id);
            lc->run = strdup(wf->run);
            lc->input = input ? cJSON_Duplicate(input, 1) : NULL;
            lc->policy = policy_of(&o);
            lc->first_seq = first_seq;
            lc->attempt = attempt;
            lc->threshold_ms = threshold;
            lc->deadline_ms = INT64_MAX;
            duro_assert(lc->id && lc->run && (!input || lc->input));
            if (!run_live(wf, lc)) return evicted();
            if (wf->local_mode == DURO__LOCAL_POOL &&
                duro_mono_ms() > wf->local_deadline_ms)
                late(wf, name, lc);
            c->data = marker_data(wf, name, mseq, &lc->out);
            data = duro_keep(wf, live_data(&lc->out));
            call_free(lc);
        }
        duro_result res;
        if (outcome_of(wf, data, &res)) return res;
        /* past the threshold: the next attempt in a later task */
        attempt = (int)duro_json_int(data, "attempt", attempt) + 1;
        duro_result t =
            duro_await(wf, duro_timer(wf, duro_json_int(data, "backoffMs", 0)));
        if (t.canceled) return canceled(wf, data);
    }
}
