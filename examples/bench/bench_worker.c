/* bench_worker.c: the benchmark workflow: N sequential no-op activities,
 * with an optional durable sleep between them.
 *
 *   input  {"activities": N, "sleep": "200ms"}   (sleep optional)
 *   result {"done": N}
 */
#include <stdio.h>
#include <string.h>

#include "duro/worker.h"

static cJSON *noop(duro_actx *ctx, const cJSON *input, void *arg)
{
    return cJSON_Duplicate(input, 1);
}

static cJSON *bench(duro_wf *wf, const cJSON *input)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(input, "activities");
    const cJSON *sleep = cJSON_GetObjectItemCaseSensitive(input, "sleep");
    if (!cJSON_IsNumber(n) || n->valueint < 0 || n->valueint > 100000)
        return duro_fail(wf, "InvalidInput", "\"activities\" must be 0..100000");
    int64_t pause = 0;
    if (sleep && (!cJSON_IsString(sleep) ||
                  duro_duration_parse(sleep->valuestring, &pause) != 0))
        return duro_fail(wf, "InvalidInput", "\"sleep\" must be a duration like \"200ms\"");

    duro_activity_opts opts = {.start_to_close_ms = duro_seconds(5)};
    for (int i = 0; i < n->valueint; i++) {
        if (i > 0 && pause > 0) duro_sleep(wf, pause);
        cJSON *in = cJSON_CreateNumber(i);
        duro_result r = duro_activity(wf, "noop", in, &opts);
        cJSON_Delete(in);
        if (!r.ok) return duro_fail(wf, "ActivityFailed", "noop %d: %s", i, r.error);
    }
    cJSON *out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "done", n->valueint);
    return out;
}

int main(int argc, char **argv)
{
    duro_worker *w;
    duro_worker_opts o = {0};
    o.task_queue = "bench";
    if (duro_worker_new(&w, &o) != 0) return 1;
    duro_worker_register_workflow(w, "bench", bench);
    duro_worker_register_activity(w, "noop", noop, NULL);
    int rc = duro_worker_main(w, argc, argv);
    duro_worker_free(w);
    return rc;
}
