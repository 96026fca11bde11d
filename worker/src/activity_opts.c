/* activity_opts.c: an activity's options as the JSON its task and its
 * ActivityScheduled event carry (docs/internals.md, "Activity task
 * options"). */
#include "duro/json.h"
#include "duro/log.h"
#include "engine_internal.h"

/* duro__activity_opts_json: the activity's options as its task and its
 * ActivityScheduled event carry them. Only startToCloseMs always; every other
 * field only when it differs from its default (the defaults of
 * common/src/retry.c, which the readers apply to a missing field:
 * scheduleToCloseMs, heartbeatTimeoutMs and scheduleToStartMs 0,
 * initialIntervalMs 1000, backoffCoefficient 2, maximumIntervalMs 100 x
 * initial, maximumAttempts 0, no nonRetryableErrorTypes), so a closed run's
 * history stays small (about 170 bytes less per activity). */
char *duro__activity_opts_json(const duro_activity_opts *o, int64_t stc)
{
    const duro_retry_policy *p = &o->retry;
    int64_t initial =
        p->initial_interval_ms > 0 ? p->initial_interval_ms : 1000;
    double coeff = p->backoff_coefficient >= 1.0 ? p->backoff_coefficient : 2.0;
    int64_t maxi =
        p->maximum_interval_ms > 0 ? p->maximum_interval_ms : 100 * initial;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "startToCloseMs", (double)stc);
    if (o->schedule_to_close_ms > 0)
        cJSON_AddNumberToObject(j, "scheduleToCloseMs",
                                (double)o->schedule_to_close_ms);
    if (o->heartbeat_timeout_ms > 0)
        cJSON_AddNumberToObject(j, "heartbeatTimeoutMs",
                                (double)o->heartbeat_timeout_ms);
    /* the Function puts the task in this level's stream (duro.lua,
     * act_priority); without it the run's priority applies */
    if (o->priority >= 1 && o->priority <= 5)
        cJSON_AddNumberToObject(j, "priority", o->priority);
    /* duro.lua, act_fairness; an invalid key is ignored there */
    if (o->fairness_key) {
        cJSON_AddStringToObject(j, "fairnessKey", o->fairness_key);
        if (o->fairness_weight > 1)
            cJSON_AddNumberToObject(j, "fairnessWeight", o->fairness_weight);
    }
    if (o->concurrency_key)
        cJSON_AddStringToObject(j, "concurrencyKey", o->concurrency_key);
    if (o->schedule_to_start_ms > 0)
        cJSON_AddNumberToObject(j, "scheduleToStartMs",
                                (double)o->schedule_to_start_ms);
    cJSON *r = cJSON_CreateObject();
    if (initial != 1000)
        cJSON_AddNumberToObject(r, "initialIntervalMs", (double)initial);
    if (coeff != 2.0) cJSON_AddNumberToObject(r, "backoffCoefficient", coeff);
    if (maxi != 100 * initial)
        cJSON_AddNumberToObject(r, "maximumIntervalMs", (double)maxi);
    if (p->max_attempts > 0)
        cJSON_AddNumberToObject(r, "maximumAttempts", p->max_attempts);
    if (p->non_retryable[0]) {
        cJSON *nr = cJSON_AddArrayToObject(r, "nonRetryableErrorTypes");
        for (int i = 0; i < DURO_RETRY_MAX_NON_RETRYABLE && p->non_retryable[i];
             i++)
            cJSON_AddItemToArray(nr, cJSON_CreateString(p->non_retryable[i]));
    }
    if (r->child)
        cJSON_AddItemToObject(j, "retry", r);
    else
        cJSON_Delete(r);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    duro_assert(s != NULL);
    return s;
}
