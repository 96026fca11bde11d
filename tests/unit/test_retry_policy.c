/* test_retry_policy.c: an activity's retry policy read from its options. */
#include <criterion/criterion.h>

#include "duro/retry_policy.h"

TestSuite(retry_policy, .timeout = 5);

static cJSON *opts(const char *text)
{
    cJSON *o = cJSON_Parse(text);
    cr_assert_not_null(o, "%s", text);
    return o;
}

Test(retry_policy, reads_every_member)
{
    cJSON *o = opts("{\"retry\":{\"initialIntervalMs\":50,"
                    "\"maximumIntervalMs\":400,\"maximumAttempts\":4,"
                    "\"backoffCoefficient\":3,"
                    "\"nonRetryableErrorTypes\":[\"A\",7,\"B\"]}}");
    duro_retry_policy p;
    duro__retry_policy_of(o, &p);
    cr_assert_eq(p.initial_interval_ms, 50);
    cr_assert_eq(p.maximum_interval_ms, 400);
    cr_assert_eq(p.max_attempts, 4);
    cr_assert_float_eq(p.backoff_coefficient, 3.0, 1e-9);
    cr_assert_str_eq(p.non_retryable[0], "A");
    cr_assert_str_eq(p.non_retryable[1], "B", "a number is skipped");
    cr_assert_null(p.non_retryable[2]);
    cr_assert_eq(duro__retry_delay_of(o, 1, "X", false), 50);
    cr_assert_eq(duro__retry_delay_of(o, 2, "X", false), 150);
    cr_assert_eq(duro__retry_delay_of(o, 3, "X", false), 400);
    cr_assert_eq(duro__retry_delay_of(o, 4, "X", false), -1, "max attempts");
    cr_assert_eq(duro__retry_delay_of(o, 1, "B", false), -1);
    cr_assert_eq(duro__retry_delay_of(o, 1, "X", true), -1);
    cJSON_Delete(o);
}

Test(retry_policy, absent_or_mistyped_keeps_defaults)
{
    static const char *const texts[] = {"{}", "{\"retry\":5}",
                                        "{\"retry\":[1]}",
                                        "{\"retry\":{\"backoffCoefficient\":"
                                        "\"2\",\"initialIntervalMs\":\"9\"}}"};
    for (size_t i = 0; i < sizeof(texts) / sizeof(*texts); i++) {
        cJSON *o = opts(texts[i]);
        duro_retry_policy p;
        duro__retry_policy_of(o, &p);
        cr_assert_eq(p.initial_interval_ms, 0, "%s", texts[i]);
        cr_assert_float_eq(p.backoff_coefficient, 0.0, 1e-9, "%s", texts[i]);
        cr_assert_eq(duro__retry_delay_of(o, 2, "X", false), 2000, "%s",
                     texts[i]);
        cJSON_Delete(o);
    }
    cr_assert_eq(duro__retry_delay_of(NULL, 1, NULL, false), 1000);
}

Test(retry_policy, a_long_list_is_honoured_to_its_end)
{
    /* the struct holds DURO_RETRY_MAX_NON_RETRYABLE types; the tenth must
     * still stop retries */
    cJSON *o = opts("{\"retry\":{\"nonRetryableErrorTypes\":[\"t1\",\"t2\","
                    "\"t3\",\"t4\",\"t5\",\"t6\",\"t7\",\"t8\",\"t9\","
                    "\"TimeoutError\"]}}");
    cr_assert(duro__retry_lists(o, "TimeoutError"));
    cr_assert_not(duro__retry_lists(o, "t10"));
    cr_assert_not(duro__retry_lists(o, NULL));
    cr_assert_eq(duro__retry_delay_of(o, 1, "TimeoutError", false), -1);
    cr_assert_eq(duro__retry_delay_of(o, 1, "t10", false), 1000);
    cJSON_Delete(o);
}
