/* retry_policy.h: an activity's retry policy read from its task options
 * (docs/internals.md "Activity task options"). Internal to Duro's programs
 * (not installed). */
#ifndef DURO_RETRY_POLICY_H
#define DURO_RETRY_POLICY_H

#include <stdbool.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "duro/retry.h"

/* duro__retry_policy_of fills p from opts.retry (initialIntervalMs,
 * maximumIntervalMs, maximumAttempts, backoffCoefficient and the first
 * DURO_RETRY_MAX_NON_RETRYABLE nonRetryableErrorTypes); absent or mistyped
 * members keep the defaults (zero). The strings point into opts. */
void duro__retry_policy_of(const cJSON *opts, duro_retry_policy *p);

/* duro__retry_lists: true when opts.retry.nonRetryableErrorTypes names
 * error_type (the whole list, however long). */
bool duro__retry_lists(const cJSON *opts, const char *error_type);

/* duro__retry_delay_of: duro_retry_delay under the policy in opts: the
 * delay in ms before the attempt after `attempt` failed with error_type,
 * or -1 when it must not be retried. */
int64_t duro__retry_delay_of(const cJSON *opts, int attempt,
                             const char *error_type, bool non_retryable);

#endif
