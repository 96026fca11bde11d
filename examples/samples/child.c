/* child.c: child workflows. `child-parent` ({"children": N}) starts N
 * `child-echo` children at once (input {"i": k}, k = 1..N), waits for
 * all, and completes with {"sum": 1+...+N} from their results. */
#include <stdio.h>

#include "samples.h"

#define MAX_CHILDREN 1000

static cJSON *child_echo(duro_wf *wf, const cJSON *input)
{
    (void)wf;
    return input ? cJSON_Duplicate(input, 1) : cJSON_CreateNull();
}

static cJSON *child_parent(duro_wf *wf, const cJSON *input)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(input, "children");
    if (!cJSON_IsNumber(n) || n->valuedouble < 0 ||
        n->valuedouble > MAX_CHILDREN)
        return duro_fail(wf, "InvalidInput", "children: 0..%d", MAX_CHILDREN);
    int count = (int)n->valuedouble;
    duro_future **fs =
        duro_alloc(wf, sizeof(duro_future *) * (size_t)(count + 1));
    for (int k = 1; k <= count; k++) {
        cJSON *in = cJSON_CreateObject();
        cJSON_AddNumberToObject(in, "i", k);
        fs[k - 1] = duro_child_async(wf, "child-echo", in, NULL);
        cJSON_Delete(in);
    }
    duro_await_all(wf, fs, count);
    double sum = 0;
    for (int k = 0; k < count; k++) {
        duro_result r = duro_future_result(fs[k]);
        if (!r.ok) return duro_fail(wf, NULL, "child %d: %s", k + 1, r.error);
        const cJSON *i = cJSON_GetObjectItemCaseSensitive(r.value, "i");
        sum += cJSON_IsNumber(i) ? i->valuedouble : 0;
    }
    cJSON *res = cJSON_CreateObject();
    cJSON_AddNumberToObject(res, "sum", sum);
    return res;
}

int samples_register_child(duro_worker *w)
{
    int rc = duro_worker_register_workflow(w, "child-parent", child_parent);
    return rc ? rc : duro_worker_register_workflow(w, "child-echo", child_echo);
}
