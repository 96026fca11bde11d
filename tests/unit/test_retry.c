/* test_retry.c: retry decisions and backoff math. */
#include <criterion/criterion.h>
#include <stdint.h>

#include "duro/retry.h"

TestSuite(retry, .timeout = 5);

Test(retry, defaults_double_from_one_second)
{
    duro_retry_policy p = {0};
    cr_assert_eq(duro_retry_backoff(&p, 1), 1000);
    cr_assert_eq(duro_retry_backoff(&p, 2), 2000);
    cr_assert_eq(duro_retry_backoff(&p, 3), 4000);
    cr_assert_eq(duro_retry_backoff(NULL, 2), 2000);
}

Test(retry, default_maximum_is_100x_initial)
{
    duro_retry_policy p = {0};
    cr_assert_eq(duro_retry_backoff(&p, 8), 100000);
    cr_assert_eq(duro_retry_backoff(&p, 30), 100000);
    p.initial_interval_ms = 50;
    cr_assert_eq(duro_retry_backoff(&p, 30), 5000);
}

Test(retry, custom_policy)
{
    duro_retry_policy p = {.initial_interval_ms = 100,
                           .backoff_coefficient = 3.0,
                           .maximum_interval_ms = 1000};
    cr_assert_eq(duro_retry_backoff(&p, 1), 100);
    cr_assert_eq(duro_retry_backoff(&p, 2), 300);
    cr_assert_eq(duro_retry_backoff(&p, 3), 900);
    cr_assert_eq(duro_retry_backoff(&p, 4), 1000);
}

Test(retry, coefficient_below_one_means_default)
{
    duro_retry_policy p = {.backoff_coefficient = 0.5};
    cr_assert_eq(duro_retry_backoff(&p, 2), 2000);
    p.backoff_coefficient = 1.0;
    cr_assert_eq(duro_retry_backoff(&p, 5), 1000);
}

Test(retry, huge_attempts_do_not_overflow)
{
    duro_retry_policy p = {.initial_interval_ms = INT64_MAX / 2,
                           .backoff_coefficient = 10.0};
    int64_t d = duro_retry_backoff(&p, 1000000);
    cr_assert_gt(d, 0);
    cr_assert_eq(duro_retry_backoff(&p, 1), INT64_MAX / 2);
    duro_retry_policy q = {.maximum_interval_ms = 60000};
    cr_assert_eq(duro_retry_backoff(&q, 2147483647), 60000);
}

Test(retry, max_attempts)
{
    duro_retry_policy p = {.max_attempts = 3};
    cr_assert_eq(duro_retry_delay(&p, 1, "E", false), 1000);
    cr_assert_eq(duro_retry_delay(&p, 2, "E", false), 2000);
    cr_assert_eq(duro_retry_delay(&p, 3, "E", false), -1);
    p.max_attempts = 1;
    cr_assert_eq(duro_retry_delay(&p, 1, "E", false), -1);
    p.max_attempts = 0;
    cr_assert_eq(duro_retry_delay(&p, 1000, "E", false), 100000);
}

Test(retry, non_retryable_flag_and_types)
{
    duro_retry_policy p = {.non_retryable = {"BadInput", "Denied"}};
    cr_assert_eq(duro_retry_delay(&p, 1, "E", true), -1);
    cr_assert_eq(duro_retry_delay(&p, 1, "Denied", false), -1);
    cr_assert_eq(duro_retry_delay(&p, 1, "BadInput", false), -1);
    cr_assert_eq(duro_retry_delay(&p, 1, "Other", false), 1000);
    cr_assert_eq(duro_retry_delay(&p, 1, NULL, false), 1000);
}

Test(retry, non_retryable_full_array)
{
    duro_retry_policy p = {0};
    const char *names[] = {"a", "b", "c", "d", "e", "f", "g", "h"};
    for (int i = 0; i < DURO_RETRY_MAX_NON_RETRYABLE; i++)
        p.non_retryable[i] = names[i];
    cr_assert_eq(duro_retry_delay(&p, 1, "h", false), -1);
    cr_assert_eq(duro_retry_delay(&p, 1, "z", false), 1000);
}
