/* chaos_worker.c: the worker scripts/chaos kills at random: workflow
 * "chaos" runs the plan its seed selects (chaos_plan.h) on task queue
 * "chaos".
 *
 *   input  {"seed": S}            (S < 2^32)
 *   result {"sum": N, "signal": true|false}
 *
 * An activity step of "chaos" may carry a priority and fairness key of
 * its own (chaos_step.flow); the others take their run's.
 *
 * "chaos-counter" and "chaos-parent" (chaos_plan.h) add continue-as-new
 * and child workflows to the mix:
 *
 *   chaos-counter input  {"total","every","base","step","runs","sum"}
 *                 result {"count": total, "runs": R, "sum": N}
 *   chaos-parent  input  {"seed": S}
 *                 result {"sum": N, "children": n}
 *
 * Every activity attempt records itself (XADD chaos:exec * key <idempotency
 * key> attempt <n> name <name> wf <workflow id> [step <step>]) on its own
 * connection before it returns, so the checker can count re-executions,
 * match each ActivityCompleted to an execution, and tell a counter step
 * applied under two idempotency keys (twice) from one applied once.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "duro/config.h"
#include "duro/redis.h"
#include "duro/worker.h"
#include "chaos_plan.h"
#include "chaos_route.h"

/* ---- Activities ------------------------------------------------------- */

/* conn: each pool thread's own connection to chaos:exec's Redis (its
 * master on a cluster), freed when the thread ends (conn_key's
 * destructor). */
static __thread chaos_route *conn;
static pthread_key_t conn_key;
static pthread_once_t conn_once = PTHREAD_ONCE_INIT;

static void conn_free(void *c)
{
    chaos_route_free(c);
}

static void conn_key_init(void)
{
    if (pthread_key_create(&conn_key, conn_free) != 0) abort();
}

/* record appends this attempt to chaos:exec; 0, or -1 when Redis did not
 * acknowledge it (the attempt then fails and is retried, so that every
 * completed attempt has its record). With DURO_REDIS_WAIT=N the record
 * counts only once N replicas hold it, as the worker's own writes: a
 * failover must not lose the record of an attempt whose completion it
 * keeps. */
static int record(duro_actx *ctx, const cJSON *input, const char *url)
{
    const cJSON *step = cJSON_GetObjectItemCaseSensitive(input, "step");
    char stepbuf[32] = "";
    if (cJSON_IsNumber(step))
        snprintf(stepbuf, sizeof(stepbuf), "%d", step->valueint);
    if (!conn) {
        conn = chaos_route_open(url, 1000);
        if (!conn) return -1;
        pthread_once(&conn_once, conn_key_init);
        pthread_setspecific(conn_key, conn);
    }
    char attempt[16];
    snprintf(attempt, sizeof(attempt), "%d", duro_actx_attempt(ctx));
    /* <wf>/<run>/<seq> names the activity call the checker pairs attempts
     * by (a continued workflow reuses seqs in each run) */
    const char *key = duro_actx_idempotency_key(ctx);
    const char *wf = duro_actx_workflow_id(ctx);
    /* the route reconnects and follows a failover by itself */
    redisReply *r =
        *stepbuf
            ? chaos_route_write(conn, CHAOS_EXEC_STREAM,
                                "XADD %s * key %s attempt %s name %s wf "
                                "%s step %s",
                                CHAOS_EXEC_STREAM, key, attempt,
                                duro_actx_name(ctx), wf, stepbuf)
            : chaos_route_write(conn, CHAOS_EXEC_STREAM,
                                "XADD %s * key %s attempt %s name %s wf %s",
                                CHAOS_EXEC_STREAM, key, attempt,
                                duro_actx_name(ctx), wf);
    bool ok = r && r->type == REDIS_REPLY_STRING;
    if (r) freeReplyObject(r);
    return ok ? 0 : -1;
}

static int input_x(const cJSON *input)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(input, "x");
    return cJSON_IsNumber(x) ? x->valueint : 0;
}

/* work takes 5..50ms, so that kills and pauses catch attempts running. */
static void work(int x)
{
    int ms = 5 + (x < 0 ? -x : x) % 46;
    struct timespec ts = {0, (long)ms * 1000000};
    nanosleep(&ts, NULL);
}

static cJSON *value(int x)
{
    work(x);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "v", (double)chaos_act_value(x));
    return out;
}

/* act returns {"v": 2x+1}. */
static cJSON *act(duro_actx *ctx, const cJSON *input, void *arg)
{
    if (record(ctx, input, duro_worker_redis_url(arg)) != 0) {
        duro_actx_fail(ctx, "RecordFailed", false, "cannot record execution");
        return NULL;
    }
    return value(input_x(input));
}

/* flaky fails its first "fails" attempts (retryably), then acts as act. */
static cJSON *flaky(duro_actx *ctx, const cJSON *input, void *arg)
{
    if (record(ctx, input, duro_worker_redis_url(arg)) != 0) {
        duro_actx_fail(ctx, "RecordFailed", false, "cannot record execution");
        return NULL;
    }
    const cJSON *fails = cJSON_GetObjectItemCaseSensitive(input, "fails");
    if (cJSON_IsNumber(fails) && duro_actx_attempt(ctx) <= fails->valueint) {
        duro_actx_fail(ctx, "Flaky", false, "planned failure of attempt %d",
                       duro_actx_attempt(ctx));
        return NULL;
    }
    return value(input_x(input));
}

/* slow records itself, then runs until its attempt is canceled (the
 * workflow's cancellation, learnt from a heartbeat) or 50s pass, far
 * beyond the driver's cancel; a chaos-ops workflow is canceled while it
 * runs (chaos_plan.h). */
static cJSON *slow(duro_actx *ctx, const cJSON *input, void *arg)
{
    if (record(ctx, input, duro_worker_redis_url(arg)) != 0) {
        duro_actx_fail(ctx, "RecordFailed", false, "cannot record execution");
        return NULL;
    }
    for (int i = 0; i < 1000 && !duro_actx_is_canceled(ctx); i++) {
        duro_actx_heartbeat(ctx, NULL);
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return value(input_x(input));
}

/* ---- The workflow ----------------------------------------------------- */

static const duro_activity_opts act_opts = {
    .start_to_close_ms = 2000,
    .retry = {.initial_interval_ms = 100,
              .backoff_coefficient = 2.0,
              .maximum_interval_ms = 1000},
};

static void on_go(duro_wf *wf, const cJSON *input, void *arg)
{
    *(bool *)arg = true;
}

static bool is_go(void *arg)
{
    return *(bool *)arg;
}

static cJSON *act_input(int x, int fails)
{
    cJSON *in = cJSON_CreateObject();
    cJSON_AddNumberToObject(in, "x", x);
    if (fails) cJSON_AddNumberToObject(in, "fails", fails);
    return in;
}

/* result_v: the "v" of an activity's result, or -1 when it has none. */
static int64_t result_v(const duro_result *r)
{
    const cJSON *v =
        r->ok ? cJSON_GetObjectItemCaseSensitive(r->value, "v") : NULL;
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : -1;
}

/* step_opts: act_opts with step st's own priority and fairness key (none:
 * the run's). */
static duro_activity_opts step_opts(const chaos_step *st)
{
    duro_activity_opts o = act_opts;
    o.priority = st->flow.priority;
    o.fairness_key = chaos_tenant(st->flow.tenant);
    o.fairness_weight = chaos_tenant_weight(st->flow.tenant);
    return o;
}

/* call runs step st's activity name and adds its value to *sum; false on
 * failure. */
static bool call(duro_wf *wf, const char *name, const chaos_step *st, int fails,
                 int64_t *sum)
{
    cJSON *in = act_input(st->x, fails);
    duro_activity_opts o = step_opts(st);
    duro_result r = duro_activity(wf, name, in, &o);
    cJSON_Delete(in);
    int64_t v = result_v(&r);
    if (v < 0) return false;
    *sum += v;
    return true;
}

static bool fan_out(duro_wf *wf, const chaos_step *st, int64_t *sum)
{
    duro_future *fs[CHAOS_MAX_FANOUT];
    duro_activity_opts o = step_opts(st);
    for (int j = 0; j < st->n; j++) {
        cJSON *in = act_input(st->x + j, 0);
        fs[j] = duro_activity_async(wf, "act", in, &o);
        cJSON_Delete(in);
    }
    duro_await_all(wf, fs, st->n);
    for (int j = 0; j < st->n; j++) {
        duro_result r = duro_future_result(fs[j]);
        int64_t v = result_v(&r);
        if (v < 0) return false;
        *sum += v;
    }
    return true;
}

static cJSON *chaos(duro_wf *wf, const cJSON *input)
{
    const cJSON *seed = cJSON_GetObjectItemCaseSensitive(input, "seed");
    if (!cJSON_IsNumber(seed) || seed->valuedouble < 0 ||
        seed->valuedouble > 4294967295.0)
        return duro_fail(wf, "InvalidInput", "\"seed\" must be 0..2^32-1");
    chaos_plan p;
    chaos_plan_make((uint32_t)seed->valuedouble, &p);

    bool *go = duro_alloc(wf, sizeof(*go));
    duro_on_signal(wf, CHAOS_SIGNAL, on_go, go);
    int64_t sum = 0;
    bool signaled = false;
    for (int i = 0; i < p.nsteps; i++) {
        const chaos_step *st = &p.steps[i];
        bool ok = true;
        switch (st->kind) {
        case CHAOS_ACT:
            ok = call(wf, "act", st, 0, &sum);
            break;
        case CHAOS_FLAKY:
            ok = call(wf, "flaky", st, st->n, &sum);
            break;
        case CHAOS_SLEEP:
            duro_sleep(wf, st->ms);
            break;
        case CHAOS_WAIT:
            signaled = duro_condition(wf, is_go, go, st->ms);
            break;
        case CHAOS_FANOUT:
            ok = fan_out(wf, st, &sum);
            break;
        }
        if (!ok) return duro_fail(wf, "ActivityFailed", "step %d failed", i);
    }
    cJSON *out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "sum", (double)sum);
    cJSON_AddBoolToObject(out, "signal", signaled);
    return out;
}

/* ---- Continue-as-new and children ------------------------------------ */

static int field(const cJSON *input, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(input, name);
    return cJSON_IsNumber(v) ? v->valueint : 0;
}

static cJSON *counter_input(const chaos_counter *c, int step, int runs,
                            int64_t sum)
{
    cJSON *in = cJSON_CreateObject();
    cJSON_AddNumberToObject(in, "total", c->total);
    cJSON_AddNumberToObject(in, "every", c->every);
    cJSON_AddNumberToObject(in, "base", c->base);
    cJSON_AddNumberToObject(in, "step", step);
    cJSON_AddNumberToObject(in, "runs", runs);
    cJSON_AddNumberToObject(in, "sum", (double)sum);
    return in;
}

/* counter runs steps step..step+every-1 of its count, then continues as
 * new with the next step, its run count and its sum so far. */
static cJSON *counter(duro_wf *wf, const cJSON *input)
{
    chaos_counter c = {.total = field(input, "total"),
                       .every = field(input, "every"),
                       .base = field(input, "base")};
    int step = field(input, "step"), runs = field(input, "runs") + 1;
    const cJSON *sumj = cJSON_GetObjectItemCaseSensitive(input, "sum");
    int64_t sum = cJSON_IsNumber(sumj) ? (int64_t)sumj->valuedouble : 0;
    if (c.total < 1 || c.every < 1 || step < 0)
        return duro_fail(wf, "InvalidInput", "total, every >= 1, step >= 0");
    for (int i = 0; i < c.every && step < c.total; i++, step++) {
        cJSON *in = act_input(c.base + step, 0);
        cJSON_AddNumberToObject(in, "step", step);
        duro_result r = duro_activity(wf, "act", in, &act_opts);
        cJSON_Delete(in);
        int64_t v = result_v(&r);
        if (v < 0) return duro_fail(wf, "ActivityFailed", "step %d", step);
        sum += v;
    }
    if (step < c.total) {
        cJSON *next = counter_input(&c, step, runs, sum);
        cJSON *r = duro_continue_as_new(wf, next, NULL);
        cJSON_Delete(next);
        return r;
    }
    cJSON *out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "count", step);
    cJSON_AddNumberToObject(out, "runs", runs);
    cJSON_AddNumberToObject(out, "sum", (double)sum);
    return out;
}

/* parent starts its children at once, waits for all, sums their sums. */
static cJSON *parent(duro_wf *wf, const cJSON *input)
{
    const cJSON *seed = cJSON_GetObjectItemCaseSensitive(input, "seed");
    if (!cJSON_IsNumber(seed) || seed->valuedouble < 0 ||
        seed->valuedouble > 4294967295.0)
        return duro_fail(wf, "InvalidInput", "\"seed\" must be 0..2^32-1");
    chaos_parent p;
    chaos_parent_make((uint32_t)seed->valuedouble, &p);
    duro_future *fs[CHAOS_MAX_CHILDREN];
    for (int j = 0; j < p.n; j++) {
        char id[300];
        chaos_child_id(id, sizeof(id), duro_workflow_id(wf), j);
        cJSON *in = counter_input(&p.child[j], 0, 0, 0);
        duro_child_opts o = {.workflow_id = id, .task_timeout_ms = 2000};
        fs[j] = duro_child_async(wf, CHAOS_COUNTER_TYPE, in, &o);
        cJSON_Delete(in);
    }
    duro_await_all(wf, fs, p.n);
    int64_t sum = 0;
    for (int j = 0; j < p.n; j++) {
        duro_result r = duro_future_result(fs[j]);
        const cJSON *v =
            r.ok ? cJSON_GetObjectItemCaseSensitive(r.value, "sum") : NULL;
        if (!cJSON_IsNumber(v))
            return duro_fail(wf, "ChildFailed", "child %d: %s", j,
                             r.ok ? "no sum" : r.error);
        sum += (int64_t)v->valuedouble;
    }
    cJSON *out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "sum", (double)sum);
    cJSON_AddNumberToObject(out, "children", p.n);
    return out;
}

/* ---- Updates, signal-with-start, cancellation (chaos_plan.h) ---- */

/* ops_state: a chaos-ops run's state, in duro_alloc memory. */
typedef struct {
    int count; /* updates applied, signals received */
    int want;
    int64_t sum;
    bool seen[CHAOS_MAX_OPS]; /* signal j received */
} ops_state;

static bool ops_done(void *arg)
{
    const ops_state *s = arg;
    return s->count >= s->want;
}

static const char *ops_validate(duro_wf *wf, const cJSON *input, void *arg)
{
    (void)wf, (void)arg;
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(input, "x");
    return cJSON_IsNumber(x) && x->valuedouble >= 0 ? NULL : "x must be >= 0";
}

static cJSON *ops_add(duro_wf *wf, const cJSON *input, void *arg)
{
    (void)wf;
    ops_state *s = arg;
    s->count++;
    s->sum += field(input, "x");
    cJSON *out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "n", s->count);
    return out;
}

/* ops_signal counts signal j once: a second delivery of it is not added,
 * and the checker finds it in the history. */
static void ops_signal(duro_wf *wf, const cJSON *input, void *arg)
{
    (void)wf;
    ops_state *s = arg;
    int j = field(input, "j");
    if (j < 0 || j >= CHAOS_MAX_OPS || s->seen[j]) return;
    s->seen[j] = true;
    s->count++;
    s->sum += field(input, "x");
}

static const duro_activity_opts slow_opts = {
    .start_to_close_ms = 60000,
    .heartbeat_timeout_ms = 5000,
    .retry = {.initial_interval_ms = 100,
              .backoff_coefficient = 2.0,
              .maximum_interval_ms = 1000},
};

static cJSON *ops(duro_wf *wf, const cJSON *input)
{
    const cJSON *seed = cJSON_GetObjectItemCaseSensitive(input, "seed");
    if (!cJSON_IsNumber(seed) || seed->valuedouble < 0 ||
        seed->valuedouble > 4294967295.0)
        return duro_fail(wf, "InvalidInput", "\"seed\" must be 0..2^32-1");
    chaos_ops o;
    chaos_ops_make((uint32_t)seed->valuedouble, &o);
    ops_state *s = duro_alloc(wf, sizeof(*s));
    cJSON *out = cJSON_CreateObject();
    if (o.mode == CHAOS_OPS_CANCEL) {
        /* a cancel that came before the first task: calls made after it
         * run normally, so nothing is started to be canceled */
        bool early = duro_is_canceled(wf);
        if (!early && o.sleep) {
            duro_sleep(wf, CHAOS_SIGNAL_WAIT_MS);
        } else if (!early) {
            cJSON *in = act_input(o.x[0], 0);
            duro_result r = duro_activity(wf, "slow", in, &slow_opts);
            cJSON_Delete(in);
            (void)r;
        }
        if (o.cleanup) {
            cJSON *in = act_input(o.x[1], 0);
            duro_result r = duro_activity(wf, "act", in, &act_opts);
            cJSON_Delete(in);
            cJSON_AddNumberToObject(out, "cleanup", (double)result_v(&r));
        }
        cJSON_AddBoolToObject(out, "canceled", duro_is_canceled(wf));
        return out;
    }
    s->want = o.mode == CHAOS_OPS_UPDATE ? o.accepted : o.n;
    if (o.mode == CHAOS_OPS_UPDATE)
        duro_on_update(wf, CHAOS_UPDATE, ops_add, ops_validate, s);
    else
        duro_on_signal(wf, CHAOS_SIGNAL, ops_signal, s);
    duro_condition(wf, ops_done, s, 2 * (int64_t)CHAOS_SIGNAL_WAIT_MS);
    cJSON_AddNumberToObject(out, "sum", (double)s->sum);
    cJSON_AddNumberToObject(
        out, o.mode == CHAOS_OPS_UPDATE ? "updates" : "signals", s->count);
    return out;
}

int main(int argc, char **argv)
{
    duro_worker *w;
    duro_worker_opts o = {0};
    o.task_queue = CHAOS_QUEUE;
    if (duro_worker_new(&w, &o) != 0) return 1;
    duro_worker_register_workflow(w, CHAOS_TYPE, chaos);
    duro_worker_register_workflow(w, CHAOS_COUNTER_TYPE, counter);
    duro_worker_register_workflow(w, CHAOS_PARENT_TYPE, parent);
    duro_worker_register_activity(w, "act", act, w);
    duro_worker_register_workflow(w, CHAOS_OPS_TYPE, ops);
    duro_worker_register_activity(w, "flaky", flaky, w);
    duro_worker_register_activity(w, "slow", slow, w);
    int rc = duro_worker_main(w, argc, argv);
    duro_worker_free(w);
    return rc;
}
