/* retry_policy.c: an activity's retry policy read from its task options. */
#include <string.h>

#include "duro/json.h"
#include "duro/retry_policy.h"

static const cJSON *retry_of(const cJSON *opts)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(opts, "retry");
    return cJSON_IsObject(r) ? r : NULL;
}

void duro__retry_policy_of(const cJSON *opts, duro_retry_policy *p)
{
    memset(p, 0, sizeof(*p));
    const cJSON *r = retry_of(opts);
    if (!r) return;
    p->initial_interval_ms = duro_json_int(r, "initialIntervalMs", 0);
    p->maximum_interval_ms = duro_json_int(r, "maximumIntervalMs", 0);
    p->max_attempts = (int)duro_json_int(r, "maximumAttempts", 0);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(r, "backoffCoefficient");
    if (cJSON_IsNumber(c)) p->backoff_coefficient = c->valuedouble;
    const cJSON *nr =
        cJSON_GetObjectItemCaseSensitive(r, "nonRetryableErrorTypes");
    int n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, nr)
    {
        if (n < DURO_RETRY_MAX_NON_RETRYABLE && cJSON_IsString(it))
            p->non_retryable[n++] = it->valuestring;
    }
}

bool duro__retry_lists(const cJSON *opts, const char *error_type)
{
    const cJSON *nr = cJSON_GetObjectItemCaseSensitive(
        retry_of(opts), "nonRetryableErrorTypes");
    const cJSON *it;
    if (!error_type) return false;
    cJSON_ArrayForEach(it, nr)
    {
        if (cJSON_IsString(it) && strcmp(it->valuestring, error_type) == 0)
            return true;
    }
    return false;
}

int64_t duro__retry_delay_of(const cJSON *opts, int attempt,
                             const char *error_type, bool non_retryable)
{
    duro_retry_policy p;
    duro__retry_policy_of(opts, &p);
    /* the policy holds the first few listed types; the rest are checked
     * here so that a long list is honoured too */
    if (duro__retry_lists(opts, error_type)) non_retryable = true;
    return duro_retry_delay(&p, attempt, error_type, non_retryable);
}
