/* greet_worker.c: an out-of-tree worker, built by scripts/sdk-check against
 * an installed Duro only (pkg-config and find_package). Workflow "greet"
 * runs activity "greet" on {"name":...} and returns "hello, <name>"; the
 * activity counts itself in the program's own metric sdk_greetings_total,
 * which the worker's --metrics-addr endpoint serves beside Duro's. */
#include <stdio.h>

#include <duro/log.h>
#include <duro/metrics.h>
#include <duro/worker.h>

static cJSON *greet_activity(duro_actx *ctx, const cJSON *input, void *arg)
{
    (void)arg;
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(input, "name"));
    if (!name) {
        duro_actx_fail(ctx, "BadInput", true, "no \"name\" in the input");
        return NULL;
    }
    char text[256];
    snprintf(text, sizeof(text), "hello, %s", name);
    duro_metrics_add(duro_metrics_default(), "sdk_greetings_total", NULL, 1);
    duro_actx_log(ctx, "GREET name=%s", name);
    return cJSON_CreateString(text);
}

static cJSON *greet_workflow(duro_wf *wf, const cJSON *input)
{
    duro_activity_opts o = {.start_to_close_ms = duro_seconds(10)};
    duro_result r = duro_activity(wf, "greet", input, &o);
    if (!r.ok) return duro_fail(wf, "GreetFailed", "%s", r.error);
    return cJSON_Duplicate(r.value, 1);
}

int main(int argc, char **argv)
{
    duro_metrics_describe(duro_metrics_default(), "sdk_greetings_total",
                          "counter", "Greetings made by this worker.");
    duro_worker_opts opts = {.task_queue = "sdk"};
    duro_worker *w;
    if (duro_worker_new(&w, &opts) != 0) return 1;
    if (duro_worker_register_workflow(w, "greet", greet_workflow) != 0 ||
        duro_worker_register_activity(w, "greet", greet_activity, NULL) != 0)
        return 1;
    int rc = duro_worker_main(w, argc, argv);
    duro_worker_free(w);
    return rc;
}
