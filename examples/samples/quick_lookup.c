/* quick_lookup.c: `quick-lookup` makes input.n calls to a fast activity,
 * lookup, as local activities (duro_local_activity): each runs inside the
 * workflow task and is recorded as a marker, with no trip through the
 * activity queue. Input {"n": N}; completes with {"done": N}. With
 * "remote": true the same calls are normal activities, to compare the
 * two (README, "Local activities"). */
#include "samples.h"

#define QUICK_LOOKUP_MAX 100000

/* lookup: a stand-in for a cache or an in-memory table: {"key": k} ->
 * {"key": k, "value": 2k}. */
static cJSON *lookup(duro_actx *ctx, const cJSON *input, void *arg)
{
    (void)ctx;
    (void)arg;
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(input, "key");
    double key = cJSON_IsNumber(k) ? k->valuedouble : 0;
    cJSON *r = cJSON_CreateObject();
    cJSON_AddNumberToObject(r, "key", key);
    cJSON_AddNumberToObject(r, "value", 2 * key);
    return r;
}

static cJSON *quick_lookup(duro_wf *wf, const cJSON *input)
{
    const cJSON *nj = cJSON_GetObjectItemCaseSensitive(input, "n");
    if (!cJSON_IsNumber(nj) || nj->valuedouble < 0 ||
        nj->valuedouble > QUICK_LOOKUP_MAX)
        return duro_fail(wf, "InvalidInput", "input must be {\"n\": 0..%d}",
                         QUICK_LOOKUP_MAX);
    int n = nj->valueint;
    bool remote =
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(input, "remote"));
    for (int i = 1; i <= n; i++) {
        cJSON *in = cJSON_CreateObject();
        cJSON_AddNumberToObject(in, "key", i);
        duro_result r = remote ? duro_activity(wf, "lookup", in, NULL)
                               : duro_local_activity(wf, "lookup", in, NULL);
        cJSON_Delete(in);
        if (!r.ok) return duro_fail(wf, "LookupFailed", "%s", r.error);
    }
    cJSON *out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "done", n);
    return out;
}

int samples_register_quick_lookup(duro_worker *w)
{
    int rc = duro_worker_register_workflow(w, "quick-lookup", quick_lookup);
    if (rc == 0) rc = duro_worker_register_activity(w, "lookup", lookup, NULL);
    return rc;
}
