/* test_worker.c: duro-test-worker, the workflows and activities the
 * integration tests drive (task queue "test").
 *
 * Workflows (input -> result):
 *   activities        {"n":N}  -> {"echoed":[0..N-1]}   N sequential echoes
 *   retry             null     -> {"attempt":3}         fails twice, retried
 *   nonretry          null     -> FAILED "Fatal: card declined"
 *   sleep             {"ms":M} -> {"before","after"}    duro_now around a sleep
 *   timeout           null     -> {"attempt":2}         attempt 1 exceeds 1s
 *   fanout            {"n":N}  -> {"sum":1+..+N}        async + await_all
 *   unknown-activity  null     -> FAILED (activity not registered)
 *   gate              any      -> {"echo","signal"}     activity, timer,
 *                                 signal "open", query "stage"
 *   codec             X        -> {"stamp","beat","side","note"}  every
 *                     kind of payload, for test_codec.c (below)
 *   resettable        {"n":N}  -> {"sum","echo"}        N "add" signals
 *   updatable         null     -> {"count":C}           updates "bump" and
 *                     "broken", signal "done" (test_updates.c, below)
 *   spin              {"ms":M} -> "spun"                M ms without yielding
 *
 * Activities append "<name> <workflowId>/<seq> <attempt>" to the file named
 * by $DURO_TEST_LOG, when set, so that tests can count executions without
 * touching Redis. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "duro/worker.h"

/* ---- Activities ---- */

/* note_execution appends one line per attempt to $DURO_TEST_LOG. */
static void note_execution(duro_actx *ctx)
{
    const char *path = getenv("DURO_TEST_LOG");
    if (!path || !*path) return;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) return;
    char line[512];
    int n = snprintf(line, sizeof(line), "%s %s/%lld %d\n", duro_actx_name(ctx),
                     duro_actx_workflow_id(ctx), (long long)duro_actx_seq(ctx),
                     duro_actx_attempt(ctx));
    if (n > 0) (void)!write(fd, line, (size_t)n);
    close(fd);
}

static cJSON *echo(duro_actx *ctx, const cJSON *input, void *arg)
{
    note_execution(ctx);
    return cJSON_Duplicate(input, 1);
}

/* add_one: input number + 1. */
static cJSON *add_one(duro_actx *ctx, const cJSON *input, void *arg)
{
    note_execution(ctx);
    return cJSON_CreateNumber(cJSON_GetNumberValue(input) + 1);
}

/* flaky fails (retryably) on attempts 1 and 2. */
static cJSON *flaky(duro_actx *ctx, const cJSON *input, void *arg)
{
    note_execution(ctx);
    int attempt = duro_actx_attempt(ctx);
    if (attempt < 3) {
        duro_actx_fail(ctx, "Flaky", false, "flaky failure on attempt %d",
                       attempt);
        return NULL;
    }
    cJSON *r = cJSON_CreateObject();
    cJSON_AddNumberToObject(r, "attempt", attempt);
    return r;
}

static cJSON *fatal(duro_actx *ctx, const cJSON *input, void *arg)
{
    note_execution(ctx);
    duro_actx_fail(ctx, "Fatal", true, "card declined");
    return NULL;
}

/* slow: attempt 1 takes 3s (past its 1s start-to-close), later ones are
 * quick. */
static cJSON *slow(duro_actx *ctx, const cJSON *input, void *arg)
{
    note_execution(ctx);
    int attempt = duro_actx_attempt(ctx);
    if (attempt == 1) {
        for (int i = 0; i < 300 && !duro_actx_is_canceled(ctx); i++) {
            struct timespec ts = {0, 10 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    cJSON *r = cJSON_CreateObject();
    cJSON_AddNumberToObject(r, "attempt", attempt);
    return r;
}

/* progress: heartbeats {"step": n} from where a previous attempt left
 * off up to 5; attempt 1 stops heartbeating after step 2 (as if hung), so
 * its heartbeat timeout fails it and attempt 2 resumes from step 2. */
static cJSON *progress(duro_actx *ctx, const cJSON *input, void *arg)
{
    note_execution(ctx);
    const cJSON *prev = duro_actx_heartbeat_details(ctx);
    const cJSON *ps = cJSON_GetObjectItemCaseSensitive(prev, "step");
    int from = cJSON_IsNumber(ps) ? ps->valueint : 0;
    for (int step = from + 1; step <= 5; step++) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddNumberToObject(d, "step", step);
        duro_actx_heartbeat(ctx, d);
        cJSON_Delete(d);
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
        if (duro_actx_attempt(ctx) == 1 && step == 2) {
            for (int i = 0; i < 300 && !duro_actx_is_canceled(ctx); i++) {
                struct timespec t10 = {0, 10 * 1000000L};
                nanosleep(&t10, NULL);
            }
            break;
        }
    }
    cJSON *r = cJSON_CreateObject();
    cJSON_AddNumberToObject(r, "attempt", duro_actx_attempt(ctx));
    cJSON_AddNumberToObject(r, "resumedFrom", from);
    return r;
}

/* hold: sleeps input.ms (default 1500), then answers its attempt. */
static cJSON *hold(duro_actx *ctx, const cJSON *input, void *arg)
{
    note_execution(ctx);
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(input, "ms");
    int64_t left = cJSON_IsNumber(ms) ? (int64_t)ms->valuedouble : 1500;
    while (left > 0) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
        left -= 10;
    }
    cJSON *r = cJSON_CreateObject();
    cJSON_AddNumberToObject(r, "attempt", duro_actx_attempt(ctx));
    return r;
}

/* ---- Workflows ---- */

static int input_int(const cJSON *input, const char *name, int def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(input, name);
    return cJSON_IsNumber(v) ? v->valueint : def;
}

static duro_activity_opts quick_opts(void)
{
    duro_activity_opts o = {0};
    o.start_to_close_ms = duro_seconds(10);
    o.retry.initial_interval_ms = 100;
    o.retry.backoff_coefficient = 2.0;
    o.retry.maximum_interval_ms = 1000;
    return o;
}

static cJSON *wf_activities(duro_wf *wf, const cJSON *input)
{
    int n = input_int(input, "n", 3);
    duro_activity_opts o = quick_opts();
    cJSON *out = cJSON_CreateArray();
    duro_keep(wf, out);
    for (int i = 0; i < n; i++) {
        cJSON *in = cJSON_CreateNumber(i);
        duro_result r = duro_activity(wf, "echo", in, &o);
        cJSON_Delete(in);
        if (!r.ok) return duro_fail(wf, NULL, "echo %d: %s", i, r.error);
        cJSON_AddItemToArray(out, cJSON_Duplicate(r.value, 1));
    }
    cJSON *res = cJSON_CreateObject();
    cJSON_AddItemToObject(res, "echoed", cJSON_Duplicate(out, 1));
    return res;
}

static cJSON *wf_retry(duro_wf *wf, const cJSON *input)
{
    duro_activity_opts o = quick_opts();
    duro_result r = duro_activity(wf, "flaky", NULL, &o);
    if (!r.ok) return duro_fail(wf, NULL, "flaky: %s", r.error);
    cJSON *res = cJSON_CreateObject();
    cJSON_AddNumberToObject(res, "attempt", input_int(r.value, "attempt", -1));
    return res;
}

static cJSON *wf_nonretry(duro_wf *wf, const cJSON *input)
{
    duro_activity_opts o = quick_opts();
    duro_result r = duro_activity(wf, "fatal", NULL, &o);
    if (r.ok) return cJSON_CreateString("unexpected success");
    const char *type = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(r.failure, "type"));
    return duro_fail(wf, "Fatal", "%s: %s", type ? type : "?", r.error);
}

static cJSON *wf_sleep(duro_wf *wf, const cJSON *input)
{
    int ms = input_int(input, "ms", 300);
    int64_t before = duro_now(wf);
    duro_sleep(wf, ms);
    int64_t after = duro_now(wf);
    cJSON *res = cJSON_CreateObject();
    cJSON_AddNumberToObject(res, "before", (double)before);
    cJSON_AddNumberToObject(res, "after", (double)after);
    return res;
}

static cJSON *wf_timeout(duro_wf *wf, const cJSON *input)
{
    duro_activity_opts o = quick_opts();
    o.start_to_close_ms = 1000;
    duro_result r = duro_activity(wf, "slow", NULL, &o);
    if (!r.ok) return duro_fail(wf, NULL, "slow: %s", r.error);
    cJSON *res = cJSON_CreateObject();
    cJSON_AddNumberToObject(res, "attempt", input_int(r.value, "attempt", -1));
    return res;
}

static cJSON *wf_fanout(duro_wf *wf, const cJSON *input)
{
    int n = input_int(input, "n", 10);
    if (n < 1 || n > 100) return duro_fail(wf, "InvalidInput", "n: 1..100");
    duro_activity_opts o = quick_opts();
    duro_future *fs[100];
    for (int i = 0; i < n; i++) {
        cJSON *in = cJSON_CreateNumber(i);
        fs[i] = duro_activity_async(wf, "add_one", in, &o);
        cJSON_Delete(in);
    }
    duro_await_all(wf, fs, n);
    double sum = 0;
    for (int i = 0; i < n; i++) {
        duro_result r = duro_future_result(fs[i]);
        if (!r.ok) return duro_fail(wf, NULL, "add_one %d: %s", i, r.error);
        sum += cJSON_GetNumberValue(r.value);
    }
    cJSON *res = cJSON_CreateObject();
    cJSON_AddNumberToObject(res, "sum", sum);
    return res;
}

static cJSON *wf_unknown_activity(duro_wf *wf, const cJSON *input)
{
    duro_activity_opts o = quick_opts();
    o.retry.max_attempts = 2;
    duro_result r = duro_activity(wf, "no-such-activity", NULL, &o);
    if (r.ok) return cJSON_CreateString("unexpected success");
    return duro_fail(wf, "ActivityFailed", "%s", r.error);
}

static cJSON *wf_heartbeat(duro_wf *wf, const cJSON *input)
{
    duro_activity_opts o = quick_opts();
    o.heartbeat_timeout_ms = 500;
    duro_result r = duro_activity(wf, "progress", NULL, &o);
    if (!r.ok) return duro_fail(wf, NULL, "progress: %s", r.error);
    return cJSON_Duplicate(r.value, 1);
}

/* wf_hold runs one `hold` activity of input.ms, with a start-to-close of
 * input.timeoutMs (default 60s: only a hand-back may move it early). */
static cJSON *wf_hold(duro_wf *wf, const cJSON *input)
{
    duro_activity_opts o = quick_opts();
    o.start_to_close_ms = input_int(input, "timeoutMs", 60000);
    duro_result r = duro_activity(wf, "hold", input, &o);
    if (!r.ok) return duro_fail(wf, NULL, "hold: %s", r.error);
    return cJSON_Duplicate(r.value, 1);
}

/* wf_stall: its first workflow task blocks for $DURO_TEST_STALL_MS in the
 * worker that has the variable set (a worker stuck or about to die
 * mid-task), then it runs one echo activity. */
static cJSON *wf_stall(duro_wf *wf, const cJSON *input)
{
    const char *stall = getenv("DURO_TEST_STALL_MS");
    if (stall && !duro_is_replaying(wf)) {
        struct timespec ts = {(int)strtol(stall, NULL, 10) / 1000,
                              ((int)strtol(stall, NULL, 10) % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    duro_activity_opts o = quick_opts();
    duro_result r = duro_activity(wf, "echo", NULL, &o);
    if (!r.ok) return duro_fail(wf, NULL, "echo: %s", r.error);
    return cJSON_CreateString("done");
}

/* wf_versioned: version 1 of this code ran one echo; version 2 (when
 * $DURO_TEST_VARIANT is 2) adds an add_one before it behind
 * duro_get_version, so histories of both versions replay on it. Variant 3
 * adds the activity without the guard: old histories break. */
static cJSON *wf_versioned(duro_wf *wf, const cJSON *input)
{
    const char *variant = getenv("DURO_TEST_VARIANT");
    int v = variant ? (int)strtol(variant, NULL, 10) : 1;
    duro_activity_opts o = quick_opts();
    if (v == 2 && duro_get_version(wf, "add-one", DURO_DEFAULT_VERSION, 1) == 1)
        duro_activity(wf, "add_one", NULL, &o);
    if (v == 3) duro_activity(wf, "add_one", NULL, &o);
    duro_result r = duro_activity(wf, "echo", NULL, &o);
    if (!r.ok) return duro_fail(wf, NULL, "echo: %s", r.error);
    duro_sleep(wf, 10);
    return cJSON_CreateString("done");
}

/* wf_gate: an echo activity, a 100ms timer, then a wait (30s at most) for
 * signal "open"; query "stage" says how far it got. Result: {"echo":
 * <the activity's answer>, "signal": <open's input>}. */
typedef struct {
    const char *stage;
    cJSON *signal; /* kept with the run */
} gate_state;

static void gate_open(duro_wf *wf, const cJSON *input, void *arg)
{
    gate_state *g = arg;
    if (g->signal) return;
    g->signal = input ? cJSON_Duplicate(input, 1) : cJSON_CreateNull();
    duro_keep(wf, g->signal);
}

static cJSON *gate_stage(duro_wf *wf, const cJSON *input, void *arg)
{
    return cJSON_CreateString(((gate_state *)arg)->stage);
}

static bool gate_is_open(void *arg)
{
    return ((gate_state *)arg)->signal != NULL;
}

static cJSON *wf_gate(duro_wf *wf, const cJSON *input)
{
    gate_state g = {"started", NULL};
    duro_on_signal(wf, "open", gate_open, &g);
    duro_on_query(wf, "stage", gate_stage, &g);
    duro_activity_opts o = quick_opts();
    duro_result r = duro_activity(wf, "echo", input, &o);
    if (!r.ok) return duro_fail(wf, NULL, "echo: %s", r.error);
    g.stage = "sleeping";
    duro_sleep(wf, 100);
    g.stage = "waiting";
    if (!duro_condition(wf, gate_is_open, &g, duro_seconds(30)))
        return duro_fail(wf, "NoSignal", "signal open never came");
    cJSON *res = cJSON_CreateObject();
    cJSON_AddItemToObject(res, "echo", cJSON_Duplicate(r.value, 1));
    cJSON_AddItemToObject(res, "signal", cJSON_Duplicate(g.signal, 1));
    return res;
}

/* ---- A workflow to reset (test_reset.c) ---- */

typedef struct {
    int n, got;
    double sum;
} sums;

static void on_add(duro_wf *wf, const cJSON *input, void *arg)
{
    sums *s = arg;
    s->got++;
    s->sum += cJSON_GetNumberValue(input);
}

static bool sums_done(void *arg)
{
    const sums *s = arg;
    return s->got >= s->n;
}

/* wf_resettable {"n":N} -> {"sum":S,"echo":S}: starts a 1h timer it never
 * waits for (work pending across a reset), sums N "add" signals, then
 * echoes the sum. Where $DURO_TEST_BUG is set its code fails instead of
 * echoing: the bug a reset re-runs past once the worker is fixed. */
static cJSON *wf_resettable(duro_wf *wf, const cJSON *input)
{
    sums *s = duro_alloc(wf, sizeof(*s));
    *s = (sums){.n = input_int(input, "n", 1)};
    duro_timer(wf, 3600000);
    duro_on_signal(wf, "add", on_add, s);
    duro_condition(wf, sums_done, s, -1);
    if (getenv("DURO_TEST_BUG"))
        return duro_fail(wf, "Bug", "the bug after %d signals", s->got);
    duro_activity_opts o = quick_opts();
    cJSON *in = cJSON_CreateNumber(s->sum);
    duro_result r = duro_activity(wf, "echo", in, &o);
    cJSON_Delete(in);
    if (!r.ok) return duro_fail(wf, NULL, "echo: %s", r.error);
    cJSON *res = cJSON_CreateObject();
    cJSON_AddNumberToObject(res, "sum", s->sum);
    cJSON_AddItemToObject(res, "echo", cJSON_Duplicate(r.value, 1));
    return res;
}

/* wf_chain (test_continue.c): add_one(n), then continues as new with
 * {"n": n + 1, "runs": runs - 1} until runs is 1, which returns n + 1: the
 * activity's completion commits the continue-as-new eagerly. */
static cJSON *wf_chain(duro_wf *wf, const cJSON *input)
{
    int n = input_int(input, "n", 0), runs = input_int(input, "runs", 1);
    duro_activity_opts o = quick_opts();
    cJSON *in = cJSON_CreateNumber(n);
    duro_result r = duro_activity(wf, "add_one", in, &o);
    cJSON_Delete(in);
    if (!r.ok) return duro_fail(wf, NULL, "add_one: %s", r.error);
    int next = (int)cJSON_GetNumberValue(r.value);
    if (runs <= 1) return cJSON_CreateNumber(next);
    cJSON *c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "n", next);
    cJSON_AddNumberToObject(c, "runs", runs - 1);
    cJSON *ret = duro_continue_as_new(wf, c, NULL);
    cJSON_Delete(c);
    return ret;
}

/* wf_upsert (test_visibility.c): for i = 1..input.steps upserts
 * {"Step": "s<i>", "Count": i}, an echo activity between steps; with
 * input.wait it waits for signal "go" after the first upsert; with
 * input.bad it upserts an unregistered attribute first. */
static void on_go(duro_wf *wf, const cJSON *input, void *arg)
{
    (void)wf;
    (void)input;
    *(bool *)arg = true;
}

static bool got_go(void *arg)
{
    return *(bool *)arg;
}

static cJSON *wf_upsert(duro_wf *wf, const cJSON *input)
{
    int steps = input_int(input, "steps", 1);
    bool *go = duro_alloc(wf, sizeof(*go));
    duro_on_signal(wf, "go", on_go, go);
    if (input_int(input, "bad", 0)) {
        cJSON *a = cJSON_CreateObject();
        cJSON_AddStringToObject(a, "NotRegistered", "x");
        duro_upsert_search_attributes(wf, a);
        cJSON_Delete(a);
    }
    duro_activity_opts o = quick_opts();
    for (int i = 1; i <= steps; i++) {
        char v[16];
        snprintf(v, sizeof(v), "s%d", i);
        cJSON *a = cJSON_CreateObject();
        cJSON_AddStringToObject(a, "Step", v);
        cJSON_AddNumberToObject(a, "Count", i);
        int rc = duro_upsert_search_attributes(wf, a);
        cJSON_Delete(a);
        if (rc) return duro_fail(wf, NULL, "upsert: %d", rc);
        if (i == 1 && input_int(input, "wait", 0))
            duro_condition(wf, got_go, go, -1);
        else if (i < steps)
            duro_activity(wf, "echo", NULL, &o);
    }
    return cJSON_CreateString("done");
}

static void register_stack_workflows(duro_worker *w);
static void register_codec_workflow(duro_worker *w);
static void register_update_workflow(duro_worker *w);

/* ---- Priorities (test_priority.c) ---- */

/* nap: sleeps {"ms"} (default 100; later attempts {"retry_ms"}, default
 * ms) and notes its attempt in order. */
static cJSON *nap(duro_actx *ctx, const cJSON *input, void *arg)
{
    note_execution(ctx);
    int ms = input_int(input, "ms", 100);
    if (duro_actx_attempt(ctx) > 1) ms = input_int(input, "retry_ms", ms);
    for (int i = 0; i < ms / 10 && !duro_actx_is_canceled(ctx); i++) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return cJSON_CreateNumber(ms);
}

/* wf_napper: one nap {"ms", "retry_ms"}, at the activity priority
 * {"priority"} (0 or absent: the run's), with the fairness key {"fkey"}
 * (absent: the run's) and a start-to-close of {"stc"} ms (default 10s). */
static cJSON *wf_napper(duro_wf *wf, const cJSON *input)
{
    duro_activity_opts o = quick_opts();
    o.priority = input_int(input, "priority", 0);
    o.fairness_key =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(input, "fkey"));
    int stc = input_int(input, "stc", 0);
    if (stc > 0) o.start_to_close_ms = stc;
    cJSON *in = cJSON_CreateObject();
    cJSON_AddNumberToObject(in, "ms", input_int(input, "ms", 100));
    cJSON_AddNumberToObject(in, "retry_ms", input_int(input, "retry_ms", 100));
    duro_result r = duro_activity(wf, "nap", in, &o);
    cJSON_Delete(in);
    if (!r.ok) return duro_fail(wf, NULL, "nap: %s", r.error);
    return cJSON_Duplicate(r.value, 1);
}

static void register_priority_workflow(duro_worker *w)
{
    duro_worker_register_workflow(w, "napper", wf_napper);
    duro_worker_register_activity(w, "nap", nap, NULL);
}
static void register_child_workflows(duro_worker *w);

int main(int argc, char **argv)
{
    duro_worker *w;
    duro_worker_opts o = {0};
    o.task_queue = "test";
    if (duro_worker_new(&w, &o) != 0) return 1;
    duro_worker_register_workflow(w, "activities", wf_activities);
    duro_worker_register_workflow(w, "retry", wf_retry);
    duro_worker_register_workflow(w, "nonretry", wf_nonretry);
    duro_worker_register_workflow(w, "sleep", wf_sleep);
    duro_worker_register_workflow(w, "timeout", wf_timeout);
    duro_worker_register_workflow(w, "fanout", wf_fanout);
    duro_worker_register_workflow(w, "unknown-activity", wf_unknown_activity);
    duro_worker_register_activity(w, "echo", echo, NULL);
    duro_worker_register_activity(w, "add_one", add_one, NULL);
    duro_worker_register_activity(w, "flaky", flaky, NULL);
    duro_worker_register_activity(w, "fatal", fatal, NULL);
    duro_worker_register_activity(w, "slow", slow, NULL);
    duro_worker_register_workflow(w, "heartbeat", wf_heartbeat);
    duro_worker_register_workflow(w, "hold", wf_hold);
    duro_worker_register_workflow(w, "stall", wf_stall);
    duro_worker_register_workflow(w, "versioned", wf_versioned);
    duro_worker_register_activity(w, "progress", progress, NULL);
    duro_worker_register_activity(w, "hold", hold, NULL);
    duro_worker_register_workflow(w, "gate", wf_gate);
    duro_worker_register_workflow(w, "resettable", wf_resettable);
    duro_worker_register_workflow(w, "upsert", wf_upsert);
    duro_worker_register_workflow(w, "chain", wf_chain);
    register_stack_workflows(w);
    register_codec_workflow(w);
    register_update_workflow(w);
    register_priority_workflow(w);
    register_child_workflows(w);
    int rc = duro_worker_main(w, argc, argv);
    duro_worker_free(w);
    return rc;
}

/* ---- Workflow code that breaks its worker (test_stack_overflow.c) ---- */

/* big_frame has a 1 MiB local array and touches it from the top down, one
 * write per KiB, as a frame built with -fstack-clash-protection probes it:
 * on a stack smaller than 1 MiB it runs into the guard page. */
static __attribute__((noinline)) int big_frame(int seed)
{
    volatile char buf[1 << 20];
    for (long i = (long)sizeof(buf) - 1; i >= 0; i -= 1024)
        buf[i] = (char)(seed + i);
    return buf[sizeof(buf) - 1] + buf[0];
}

/* deep recurses `depth` levels of about 600 bytes each. */
static __attribute__((noinline)) int deep(int depth)
{
    volatile char pad[512];
    pad[0] = (char)depth;
    if (depth == 0) return pad[0];
    return deep(depth - 1) + pad[0] - (char)depth;
}

/* wf_stack_array: an activity, then the 1 MiB frame. */
static cJSON *wf_stack_array(duro_wf *wf, const cJSON *input)
{
    duro_activity_opts o = quick_opts();
    duro_result r = duro_activity(wf, "echo", NULL, &o);
    if (!r.ok) return duro_fail(wf, NULL, "echo: %s", r.error);
    big_frame(input_int(input, "seed", 1));
    return cJSON_CreateString("big frame fit");
}

/* wf_stack_recursion: recursion `depth` deep (default 100000, ~60 MiB). */
static cJSON *wf_stack_recursion(duro_wf *wf, const cJSON *input)
{
    int depth = input_int(input, "depth", 100000);
    return cJSON_CreateNumber(deep(depth));
}

/* wf_abort: workflow code that calls abort(): its worker dies each time. */
static cJSON *wf_abort(duro_wf *wf, const cJSON *input)
{
    abort();
}

/* wf_spin: workflow code that runs input.ms (default 1000) without ever
 * yielding, as a loop that forgot its exit would: it holds the loop. */
static cJSON *wf_spin(duro_wf *wf, const cJSON *input)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long long ms = input_int(input, "ms", 1000), ran;
    do {
        clock_gettime(CLOCK_MONOTONIC, &t);
        ran = (t.tv_sec - t0.tv_sec) * 1000LL +
              (t.tv_nsec - t0.tv_nsec) / 1000000;
    } while (ran < ms);
    return cJSON_CreateString("spun");
}

static void register_stack_workflows(duro_worker *w)
{
    duro_worker_register_workflow(w, "spin", wf_spin);
    duro_worker_register_workflow(w, "stack-array", wf_stack_array);
    duro_worker_register_workflow(w, "stack-recursion", wf_stack_recursion);
    duro_worker_register_workflow(w, "abort", wf_abort);
}

/* ---- Every kind of payload (test_codec.c) ---- */

/* stamp returns {"stamp":"ACT-RESULT-MARK","in":input}. */
static cJSON *stamp(duro_actx *ctx, const cJSON *input, void *arg)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "stamp", "ACT-RESULT-MARK");
    cJSON_AddItemToObject(r, "in", cJSON_Duplicate(input, 1));
    return r;
}

/* beat heartbeats its input as details, then holds for 1.5s so that a
 * test can read the details in Redis, and returns them. */
static cJSON *beat(duro_actx *ctx, const cJSON *input, void *arg)
{
    duro_actx_heartbeat(ctx, input);
    for (int i = 0; i < 150 && !duro_actx_is_canceled(ctx); i++)
        nanosleep(&(struct timespec){0, 10000000L}, NULL);
    return cJSON_Duplicate(input, 1);
}

typedef struct {
    char note[128];
    bool got;
} codec_state;

static void codec_on_note(duro_wf *wf, const cJSON *input, void *arg)
{
    codec_state *s = arg;
    const char *n = cJSON_GetStringValue(cJSON_GetObjectItem(input, "note"));
    snprintf(s->note, sizeof(s->note), "%s", n ? n : "?");
    s->got = true;
}

static bool codec_got(void *arg)
{
    return ((codec_state *)arg)->got;
}

/* codec_query answers {"note": the signal's note or "", "asked": input}. */
static cJSON *codec_query(duro_wf *wf, const cJSON *input, void *arg)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "note", ((codec_state *)arg)->note);
    cJSON_AddItemToObject(r, "asked", cJSON_Duplicate(input, 1));
    return r;
}

static cJSON *codec_side(void *arg)
{
    return cJSON_CreateString("SIDE-MARK");
}

/* wf_codec: stamp(input), beat({"beat":"BEAT-MARK"}), a side effect, then
 * waits for signal "note" {"note":...}; query "state" reads the note. */
static cJSON *wf_codec(duro_wf *wf, const cJSON *input)
{
    codec_state *s = duro_alloc(wf, sizeof(*s));
    duro_on_signal(wf, "note", codec_on_note, s);
    duro_on_query(wf, "state", codec_query, s);
    duro_result st = duro_activity(wf, "stamp", input, NULL);
    if (!st.ok) return duro_fail(wf, NULL, "stamp: %s", st.error);
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "beat", "BEAT-MARK");
    duro_activity_opts o = {.heartbeat_timeout_ms = 10000};
    duro_result bt = duro_activity(wf, "beat", b, &o);
    cJSON_Delete(b);
    if (!bt.ok) return duro_fail(wf, NULL, "beat: %s", bt.error);
    const cJSON *side = duro_side_effect(wf, codec_side, NULL);
    duro_condition(wf, codec_got, s, -1);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddItemToObject(r, "stamp", cJSON_Duplicate(st.value, 1));
    cJSON_AddItemToObject(r, "beat", cJSON_Duplicate(bt.value, 1));
    cJSON_AddItemToObject(r, "side", cJSON_Duplicate(side, 1));
    cJSON_AddStringToObject(r, "note", s->note);
    return r;
}

static void register_codec_workflow(duro_worker *w)
{
    duro_worker_register_workflow(w, "codec", wf_codec);
    duro_worker_register_activity(w, "stamp", stamp, NULL);
    duro_worker_register_activity(w, "beat", beat, NULL);
}

/* ---- A workflow that takes updates (test_updates.c) ---- */

typedef struct {
    double count;
    bool done;
} counter;

/* validate_bump rejects a negative input.n. */
static const char *validate_bump(duro_wf *wf, const cJSON *input, void *arg)
{
    (void)wf;
    (void)arg;
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(input, "n");
    return cJSON_IsNumber(n) && n->valuedouble < 0 ? "n is negative" : NULL;
}

/* bump adds input.n and returns the count. Where $DURO_TEST_UPDATE_CRASH
 * names a file that does not exist yet, it creates it and the worker
 * dies by SIGKILL: after the update was accepted, before its completion
 * is committed (once: the next worker finds the file). */
static cJSON *bump(duro_wf *wf, const cJSON *input, void *arg)
{
    const char *crash = getenv("DURO_TEST_UPDATE_CRASH");
    if (crash && !duro_is_replaying(wf)) {
        int fd = open(crash, O_CREAT | O_EXCL | O_WRONLY, 0600);
        if (fd >= 0) raise(SIGKILL);
    }
    counter *c = arg;
    c->count += input_int(input, "n", 1);
    return cJSON_CreateNumber(c->count);
}

static cJSON *broken(duro_wf *wf, const cJSON *input, void *arg)
{
    (void)input;
    (void)arg;
    return duro_update_fail(wf, "broken on purpose");
}

static void on_done(duro_wf *wf, const cJSON *input, void *arg)
{
    (void)wf;
    (void)input;
    ((counter *)arg)->done = true;
}

static bool counter_done(void *arg)
{
    return ((counter *)arg)->done;
}

static cJSON *count_query(duro_wf *wf, const cJSON *input, void *arg)
{
    (void)wf;
    (void)input;
    return cJSON_CreateNumber(((counter *)arg)->count);
}

static cJSON *wf_updatable(duro_wf *wf, const cJSON *input)
{
    (void)input;
    counter *c = duro_alloc(wf, sizeof(*c));
    duro_on_update(wf, "bump", bump, validate_bump, c);
    duro_on_update(wf, "broken", broken, NULL, c);
    duro_on_signal(wf, "done", on_done, c);
    duro_on_query(wf, "count", count_query, c);
    duro_condition(wf, counter_done, c, -1);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddNumberToObject(r, "count", c->count);
    return r;
}

static void register_update_workflow(duro_worker *w)
{
    duro_worker_register_workflow(w, "updatable", wf_updatable);
}

/* ---- Child workflows (tests/integration/test_child.c) ---- */

/* wf_child_policy starts child input.childId, a `sleep` of a minute, under
 * parent close policy input.policy (Terminate, RequestCancel, Abandon),
 * and waits for it: cancelling this workflow closes it with the child
 * still running, which the policy then applies to. */
static cJSON *wf_child_policy(duro_wf *wf, const cJSON *input)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(input, "childId");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(input, "policy");
    duro_child_opts o = {0};
    o.workflow_id = cJSON_IsString(id) ? id->valuestring : NULL;
    const char *policy = cJSON_IsString(p) ? p->valuestring : "Terminate";
    if (strcmp(policy, "RequestCancel") == 0)
        o.parent_close_policy = DURO_PARENT_CLOSE_REQUEST_CANCEL;
    else if (strcmp(policy, "Abandon") == 0)
        o.parent_close_policy = DURO_PARENT_CLOSE_ABANDON;
    cJSON *in = cJSON_CreateObject();
    cJSON_AddNumberToObject(in, "ms", 60000);
    duro_result r = duro_child(wf, "sleep", in, &o);
    cJSON_Delete(in);
    if (r.canceled) return NULL; /* the run closes CANCELED */
    if (!r.ok) return duro_fail(wf, NULL, "child: %s", r.error);
    return cJSON_Duplicate(r.value, 1);
}

/* wf_cancel_other requests the cancellation of workflow input.target:
 * {"requested": true}, or false when no such workflow is running. */
static cJSON *wf_cancel_other(duro_wf *wf, const cJSON *input)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(input, "target");
    duro_result r =
        duro_cancel_external(wf, cJSON_IsString(t) ? t->valuestring : "", NULL);
    cJSON *res = cJSON_CreateObject();
    cJSON_AddBoolToObject(res, "requested", r.ok);
    return res;
}

/* wf_child_outcome runs child workflow input.type (input input.input,
 * execution timeout input.timeoutMs, 0 = none) and reports how it ended:
 * {"ok", "failureType", "error"}. */
static cJSON *wf_child_outcome(duro_wf *wf, const cJSON *input)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(input, "type");
    duro_child_opts o = {0};
    o.execution_timeout_ms = input_int(input, "timeoutMs", 0);
    duro_result r =
        duro_child(wf, cJSON_IsString(t) ? t->valuestring : "echo",
                   cJSON_GetObjectItemCaseSensitive(input, "input"), &o);
    cJSON *res = cJSON_CreateObject();
    cJSON_AddBoolToObject(res, "ok", r.ok);
    const char *ft = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(r.failure, "type"));
    cJSON_AddStringToObject(res, "failureType", ft ? ft : "");
    cJSON_AddStringToObject(res, "error", r.error ? r.error : "");
    if (r.ok && r.value)
        cJSON_AddItemToObject(res, "value", cJSON_Duplicate(r.value, 1));
    return res;
}

/* wf_renew continues as new until input.runs is 1, then sleeps a minute:
 * a child whose run is no longer the one its parent started. */
static cJSON *wf_renew(duro_wf *wf, const cJSON *input)
{
    int runs = input_int(input, "runs", 1);
    if (runs <= 1) {
        duro_sleep(wf, 60000);
        return cJSON_CreateObject();
    }
    cJSON *c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "runs", runs - 1);
    cJSON *ret = duro_continue_as_new(wf, c, NULL);
    cJSON_Delete(c);
    return ret;
}

/* raw: an activity whose result ({"what":"result"}) or failure message
 * ({"what":"fail"}) holds a byte that is not UTF-8 (Latin-1 e-acute). */
static cJSON *raw(duro_actx *ctx, const cJSON *input, void *arg)
{
    (void)arg;
    const cJSON *what = cJSON_GetObjectItemCaseSensitive(input, "what");
    if (cJSON_IsString(what) && strcmp(what->valuestring, "fail") == 0) {
        duro_actx_fail(ctx, "Raw", true, "caf\xe9 closed");
        return NULL;
    }
    return cJSON_CreateString("caf\xe9");
}

/* wf_raw_bytes runs raw once: {"value": its result} or {"error": its
 * failure's message}. */
static cJSON *wf_raw_bytes(duro_wf *wf, const cJSON *input)
{
    duro_activity_opts o = quick_opts();
    duro_result r = duro_activity(wf, "raw", input, &o);
    cJSON *res = cJSON_CreateObject();
    if (r.ok)
        cJSON_AddItemToObject(res, "value", cJSON_Duplicate(r.value, 1));
    else
        cJSON_AddStringToObject(res, "error", r.error);
    return res;
}

static void register_child_workflows(duro_worker *w)
{
    duro_worker_register_workflow(w, "raw-bytes", wf_raw_bytes);
    duro_worker_register_activity(w, "raw", raw, NULL);
    duro_worker_register_workflow(w, "renew", wf_renew);
    duro_worker_register_workflow(w, "child-outcome", wf_child_outcome);
    duro_worker_register_workflow(w, "child-policy", wf_child_policy);
    duro_worker_register_workflow(w, "cancel-other", wf_cancel_other);
}
