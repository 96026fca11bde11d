/* retry.h: activity retry policy and backoff math. */
#ifndef DURO_RETRY_H
#define DURO_RETRY_H

#include <stdbool.h>
#include <stdint.h>
#include "duro/export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DURO_RETRY_MAX_NON_RETRYABLE 8

/* duro_retry_policy: zero fields take the defaults: initial interval 1s,
 * backoff coefficient 2.0, maximum interval 100x the initial interval,
 * unlimited attempts (max_attempts 0). max_attempts 1 means no retries. */
typedef struct {
    int64_t initial_interval_ms;
    double backoff_coefficient;
    int64_t maximum_interval_ms;
    int max_attempts;
    /* error types that are never retried (NULL-terminated or full) */
    const char *non_retryable[DURO_RETRY_MAX_NON_RETRYABLE];
} duro_retry_policy;

/* duro_retry_delay returns the delay in ms before attempt+1 after attempt
 * `attempt` (1-based) failed with `error_type`, or -1 when no retry should
 * happen: the failure is marked non-retryable, its type is listed in the
 * policy, or max_attempts is reached. */
DURO_EXPORT int64_t duro_retry_delay(const duro_retry_policy *p, int attempt,
                                     const char *error_type,
                                     bool non_retryable);

/* duro_retry_backoff is the pure backoff: min(initial * coeff^(attempt-1),
 * maximum) with the defaults applied. */
DURO_EXPORT int64_t duro_retry_backoff(const duro_retry_policy *p, int attempt);

/* duro_redis_backoff_ms: how long to wait before try `tries` (1-based) of a
 * call Redis refused for now or lost with the connection: 100ms doubling
 * per try up to cap_ms, then a random half to all of it, so that a fleet
 * does not resend in lockstep when Redis recovers. */
DURO_EXPORT int64_t duro_redis_backoff_ms(int tries, int64_t cap_ms);

#ifdef __cplusplus
}
#endif
#endif
