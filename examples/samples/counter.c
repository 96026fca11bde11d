/* counter.c: `counter` counts from 0 to "to", one 1ms timer per step, and
 * continues as new every "every" steps, so no run's history grows with
 * "to". Input {"to": N, "every": M} (the runs pass on "count" and "runs"
 * too); the last run completes with {"count": N, "runs": ceil(N/M)}. A
 * query "count" answers the count so far, and a signal "add" ({"by": n})
 * raises the target by n, in whichever run it reaches. */
#include "samples.h"

typedef struct {
    int64_t count, to;
} counter_state;

static int64_t field(const cJSON *input, const char *name, int64_t dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(input, name);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : dflt;
}

static cJSON *count_query(duro_wf *wf, const cJSON *input, void *arg)
{
    (void)wf;
    (void)input;
    const counter_state *s = arg;
    return cJSON_CreateNumber((double)s->count);
}

static void on_add(duro_wf *wf, const cJSON *input, void *arg)
{
    (void)wf;
    counter_state *s = arg;
    s->to += field(input, "by", 0);
}

static cJSON *counter(duro_wf *wf, const cJSON *input)
{
    counter_state *s = duro_alloc(wf, sizeof(*s));
    s->to = field(input, "to", 0);
    s->count = field(input, "count", 0);
    int64_t every = field(input, "every", 1);
    int64_t runs = field(input, "runs", 0) + 1;
    if (every < 1) return duro_fail(wf, "BadInput", "\"every\" must be >= 1");
    duro_on_query(wf, "count", count_query, s);
    duro_on_signal(wf, "add", on_add, s);
    for (int64_t step = 0; s->count < s->to; step++) {
        if (step == every) {
            cJSON *next = cJSON_CreateObject();
            cJSON_AddNumberToObject(next, "to", (double)s->to);
            cJSON_AddNumberToObject(next, "every", (double)every);
            cJSON_AddNumberToObject(next, "count", (double)s->count);
            cJSON_AddNumberToObject(next, "runs", (double)runs);
            cJSON *r = duro_continue_as_new(wf, next, NULL);
            cJSON_Delete(next);
            return r;
        }
        duro_sleep(wf, 1);
        s->count++;
    }
    cJSON *out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "count", (double)s->count);
    cJSON_AddNumberToObject(out, "runs", (double)runs);
    return out;
}

int samples_register_counter(duro_worker *w)
{
    return duro_worker_register_workflow(w, "counter", counter);
}
