/* bench_worker.c: the benchmark workflows (driven by bench/, duro-bench).
 *
 *   bench    {"activities": N, "sleep": "200ms"} -> {"done": N}
 *            N sequential no-op activities, an optional durable sleep
 *            between them (sleep optional).
 *   fanout   {"activities": N} -> {"done": N}
 *            N no-op activities at once (duro_activity_async), then
 *            duro_await_all.
 *   sleeper  {"sleep": "D"} -> {"woken": false} when the timer fired,
 *            {"woken": true} when signal "wake" came first (the timer is
 *            then canceled).
 *   long     {"activities": N} -> {"done": N}
 *            like bench without sleeps, with query "progress" -> {"done": i}
 *            so that a query replays its (3N+3 event) history.
 */
#include <stdio.h>
#include <string.h>

#include "duro/worker.h"

#define MAX_ACTIVITIES 100000

/* activities_of: input's "activities" (0..MAX_ACTIVITIES), or -1. */
static int activities_of(const cJSON *input)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(input, "activities");
    if (!cJSON_IsNumber(n) || n->valueint < 0 || n->valueint > MAX_ACTIVITIES)
        return -1;
    return n->valueint;
}

/* done_object: {"done": n}, what each workflow here returns. */
static cJSON *done_object(int n)
{
    cJSON *out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "done", n);
    return out;
}

static cJSON *noop(duro_actx *ctx, const cJSON *input, void *arg)
{
    return cJSON_Duplicate(input, 1);
}

/* run_noop runs activity "noop" on i and waits for it: NULL, or the
 * failure's message. */
static const char *run_noop(duro_wf *wf, int i)
{
    duro_activity_opts opts = {.start_to_close_ms = duro_seconds(5)};
    cJSON *in = cJSON_CreateNumber(i);
    duro_result r = duro_activity(wf, "noop", in, &opts);
    cJSON_Delete(in);
    return r.ok ? NULL : r.error;
}

static cJSON *bench(duro_wf *wf, const cJSON *input)
{
    int count = activities_of(input);
    const cJSON *sleep = cJSON_GetObjectItemCaseSensitive(input, "sleep");
    if (count < 0)
        return duro_fail(wf, "InvalidInput", "\"activities\" must be 0..%d",
                         MAX_ACTIVITIES);
    int64_t pause = 0;
    if (sleep && (!cJSON_IsString(sleep) ||
                  duro_duration_parse(sleep->valuestring, &pause) != 0))
        return duro_fail(wf, "InvalidInput",
                         "\"sleep\" must be a duration like \"200ms\"");

    for (int i = 0; i < count; i++) {
        if (i > 0 && pause > 0) duro_sleep(wf, pause);
        const char *err = run_noop(wf, i);
        if (err) return duro_fail(wf, "ActivityFailed", "noop %d: %s", i, err);
    }
    return done_object(count);
}

/* ---- fanout ---- */

static cJSON *fanout(duro_wf *wf, const cJSON *input)
{
    int count = activities_of(input);
    if (count < 0)
        return duro_fail(wf, "InvalidInput", "\"activities\" must be 0..%d",
                         MAX_ACTIVITIES);
    size_t nfs = (size_t)(count ? count : 1);
    /* an array of pointers, so sizeof(*fs) is meant */
    /* NOLINTNEXTLINE(bugprone-sizeof-expression) */
    duro_future **fs = duro_alloc(wf, nfs * sizeof(*fs));
    duro_activity_opts opts = {.start_to_close_ms = duro_seconds(30)};
    for (int i = 0; i < count; i++) {
        cJSON *in = cJSON_CreateNumber(i);
        fs[i] = duro_activity_async(wf, "noop", in, &opts);
        cJSON_Delete(in);
    }
    duro_await_all(wf, fs, count);
    int ok = 0;
    for (int i = 0; i < count; i++)
        ok += duro_future_result(fs[i]).ok;
    if (ok != count)
        return duro_fail(wf, "ActivityFailed", "%d of %d activities failed",
                         count - ok, count);
    return done_object(count);
}

/* ---- sleeper ---- */

static bool is_woken(void *arg)
{
    return *(bool *)arg;
}

static void on_wake(duro_wf *wf, const cJSON *input, void *arg)
{
    *(bool *)arg = true;
}

static cJSON *sleeper(duro_wf *wf, const cJSON *input)
{
    const cJSON *sleep = cJSON_GetObjectItemCaseSensitive(input, "sleep");
    int64_t ms = 0;
    if (!cJSON_IsString(sleep) ||
        duro_duration_parse(sleep->valuestring, &ms) != 0 || ms <= 0)
        return duro_fail(wf, "InvalidInput",
                         "\"sleep\" must be a duration like \"5s\"");
    bool *woken = duro_alloc(wf, sizeof(*woken));
    duro_on_signal(wf, "wake", on_wake, woken);
    bool met = duro_condition(wf, is_woken, woken, ms);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddBoolToObject(out, "woken", met);
    return out;
}

/* ---- long ---- */

static cJSON *progress(duro_wf *wf, const cJSON *input, void *arg)
{
    return done_object(*(int *)arg);
}

static cJSON *long_wf(duro_wf *wf, const cJSON *input)
{
    int count = activities_of(input);
    if (count < 0)
        return duro_fail(wf, "InvalidInput", "\"activities\" must be 0..%d",
                         MAX_ACTIVITIES);
    int *done =
        duro_alloc(wf, sizeof(*done)); /* read by queries after return */
    duro_on_query(wf, "progress", progress, done);
    for (int i = 0; i < count; i++) {
        const char *err = run_noop(wf, i);
        if (err) return duro_fail(wf, "ActivityFailed", "noop %d: %s", i, err);
        *done = i + 1;
    }
    return done_object(count);
}

int main(int argc, char **argv)
{
    duro_worker *w;
    duro_worker_opts o = {0};
    o.task_queue = "bench";
    if (duro_worker_new(&w, &o) != 0) return 1;
    duro_worker_register_workflow(w, "bench", bench);
    duro_worker_register_workflow(w, "fanout", fanout);
    duro_worker_register_workflow(w, "sleeper", sleeper);
    duro_worker_register_workflow(w, "long", long_wf);
    duro_worker_register_activity(w, "noop", noop, NULL);
    int rc = duro_worker_main(w, argc, argv);
    duro_worker_free(w);
    return rc;
}
