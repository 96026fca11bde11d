/* retry.c: activity retry policy: which failures retry, and after how long. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "duro/retry.h"

#define DEFAULT_INITIAL_MS 1000
#define DEFAULT_COEFFICIENT 2.0
#define DEFAULT_MAX_FACTOR 100

int64_t duro_retry_backoff(const duro_retry_policy *p, int attempt)
{
    int64_t initial = DEFAULT_INITIAL_MS;
    double coeff = DEFAULT_COEFFICIENT;
    int64_t maximum = 0;
    if (p) {
        if (p->initial_interval_ms > 0) initial = p->initial_interval_ms;
        if (p->backoff_coefficient >= 1.0 && isfinite(p->backoff_coefficient))
            coeff = p->backoff_coefficient;
        maximum = p->maximum_interval_ms;
    }
    if (maximum <= 0)
        maximum = initial > INT64_MAX / DEFAULT_MAX_FACTOR
                      ? INT64_MAX
                      : initial * DEFAULT_MAX_FACTOR;
    if (attempt <= 1) return initial < maximum ? initial : maximum;
    /* Doubles keep this overflow-free: anything at or past maximum (or
     * infinite) is capped before converting back. */
    double d = (double)initial * pow(coeff, (double)(attempt - 1));
    if (!isfinite(d) || d >= (double)maximum) return maximum;
    return (int64_t)d;
}

int64_t duro_retry_delay(const duro_retry_policy *p, int attempt,
                         const char *error_type, bool non_retryable)
{
    if (non_retryable) return -1;
    if (p && error_type) {
        for (int i = 0; i < DURO_RETRY_MAX_NON_RETRYABLE; i++) {
            if (!p->non_retryable[i]) break;
            if (strcmp(p->non_retryable[i], error_type) == 0) return -1;
        }
    }
    if (p && p->max_attempts > 0 && attempt >= p->max_attempts) return -1;
    return duro_retry_backoff(p, attempt);
}

int64_t duro_redis_backoff_ms(int tries, int64_t cap_ms)
{
    int64_t d = 100;
    for (int i = 1; i < tries && d < cap_ms; i++)
        d *= 2;
    if (d > cap_ms) d = cap_ms;
    return d / 2 + (int64_t)((uint64_t)rand() % (uint64_t)(d / 2 + 1));
}
