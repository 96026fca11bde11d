/* accumulator.c: `accumulator` (input null) keeps a running total that
 * updates change: update `add` with {"n": k} adds k and returns the new
 * total; its validator rejects a negative or missing n (an error naming
 * it negative, nothing recorded); signal `finish` completes the workflow
 * with {"total": T}. The sample of duro_on_update. */
#include "samples.h"

typedef struct {
    double total;
    bool finished;
} accumulator;

/* n_of: input.n, or -1 when absent or not a number. */
static double n_of(const cJSON *input)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(input, "n");
    return cJSON_IsNumber(n) ? n->valuedouble : -1;
}

static const char *validate_add(duro_wf *wf, const cJSON *input, void *arg)
{
    (void)wf;
    (void)arg;
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(input, "n");
    if (!cJSON_IsNumber(n)) return "add needs {\"n\": a number}";
    if (n_of(input) < 0) return "n must not be negative";
    return NULL;
}

static cJSON *add(duro_wf *wf, const cJSON *input, void *arg)
{
    (void)wf;
    accumulator *a = arg;
    a->total += n_of(input);
    return cJSON_CreateNumber(a->total);
}

static void finish(duro_wf *wf, const cJSON *input, void *arg)
{
    (void)wf;
    (void)input;
    ((accumulator *)arg)->finished = true;
}

static bool finished(void *arg)
{
    return ((accumulator *)arg)->finished;
}

static cJSON *total_query(duro_wf *wf, const cJSON *input, void *arg)
{
    (void)wf;
    (void)input;
    return cJSON_CreateNumber(((accumulator *)arg)->total);
}

static cJSON *accumulate(duro_wf *wf, const cJSON *input)
{
    (void)input;
    /* run-owned: queries and updates may read it after the code returned */
    accumulator *a = duro_alloc(wf, sizeof(*a));
    duro_on_update(wf, "add", add, validate_add, a);
    duro_on_signal(wf, "finish", finish, a);
    duro_on_query(wf, "total", total_query, a);
    duro_condition(wf, finished, a, -1);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddNumberToObject(r, "total", a->total);
    return r;
}

int samples_register_accumulator(duro_worker *w)
{
    return duro_worker_register_workflow(w, "accumulator", accumulate);
}
