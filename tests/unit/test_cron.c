/* test_cron.c: cron and interval specs, time zones, next times, jitter. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "duro/cron.h"
#include "duro/errno.h"

TestSuite(cron, .timeout = 10);

static int64_t at(const char *rfc3339)
{
    int64_t ms = 0;
    cr_assert_eq(duro_rfc3339_parse(rfc3339, &ms), 0, "parse %s", rfc3339);
    return ms;
}

/* expect_next checks that the times after `from` are `want`, in order. */
static void expect_next(const char *expr, const char *tz, const char *from,
                        const char *const *want, int n)
{
    duro_spec s;
    char err[128] = "";
    cr_assert_eq(duro_spec_cron(&s, expr, tz, err, sizeof(err)), 0, "%s: %s",
                 expr, err);
    int64_t t = at(from);
    for (int i = 0; i < n; i++) {
        t = duro_spec_next(&s, t);
        char got[DURO_RFC3339_LEN];
        duro_rfc3339(t, got, sizeof(got));
        cr_assert_str_eq(got, want[i], "%s (%s) #%d after %s", expr,
                         tz ? tz : "UTC", i, from);
    }
    duro_spec_close(&s);
}

#define NEXT(expr, tz, from, ...)                                              \
    do {                                                                       \
        const char *w_[] = {__VA_ARGS__};                                      \
        expect_next(expr, tz, from, w_, (int)(sizeof(w_) / sizeof(w_[0])));    \
    } while (0)

static void bad(const char *expr)
{
    duro_spec s;
    char err[128] = "";
    cr_assert_eq(duro_spec_cron(&s, expr, NULL, err, sizeof(err)), DURO_EINVAL,
                 "\"%s\" accepted", expr);
    cr_assert(err[0], "no reason for \"%s\"", expr);
    duro_spec_close(&s);
}

Test(cron, fields_ranges_steps_lists)
{
    NEXT("*/15 * * * *", NULL, "2026-01-01T00:00:00Z", "2026-01-01T00:15:00Z",
         "2026-01-01T00:30:00Z", "2026-01-01T00:45:00Z",
         "2026-01-01T01:00:00Z");
    NEXT("5,10-12 3 * * *", NULL, "2026-01-01T00:00:00Z",
         "2026-01-01T03:05:00Z", "2026-01-01T03:10:00Z", "2026-01-01T03:11:00Z",
         "2026-01-01T03:12:00Z", "2026-01-02T03:05:00Z");
    NEXT("0 8-18/5 * * *", NULL, "2026-01-01T09:00:00Z", "2026-01-01T13:00:00Z",
         "2026-01-01T18:00:00Z", "2026-01-02T08:00:00Z");
    NEXT("7/20 * * * *", NULL, "2026-01-01T00:00:00Z", "2026-01-01T00:07:00Z",
         "2026-01-01T00:27:00Z", "2026-01-01T00:47:00Z",
         "2026-01-01T01:07:00Z");
}

Test(cron, month_and_day_names)
{
    /* 2026-06-01 is a Monday */
    NEXT("30 9 * jun mon-wed", NULL, "2026-05-31T00:00:00Z",
         "2026-06-01T09:30:00Z", "2026-06-02T09:30:00Z", "2026-06-03T09:30:00Z",
         "2026-06-08T09:30:00Z");
    NEXT("0 0 * * SUN,7", NULL, "2026-06-01T00:00:00Z", "2026-06-07T00:00:00Z",
         "2026-06-14T00:00:00Z");
    NEXT("0 12 1 JAN,Jul *", NULL, "2026-02-01T00:00:00Z",
         "2026-07-01T12:00:00Z", "2027-01-01T12:00:00Z");
}

Test(cron, day_of_month_or_day_of_week)
{
    /* both restricted: the 15th OR a Monday (2026-06-15 is a Monday too) */
    NEXT("0 0 15 * mon", NULL, "2026-06-02T00:00:00Z", "2026-06-08T00:00:00Z",
         "2026-06-15T00:00:00Z", "2026-06-22T00:00:00Z", "2026-06-29T00:00:00Z",
         "2026-07-06T00:00:00Z", "2026-07-13T00:00:00Z",
         "2026-07-15T00:00:00Z");
    /* one a star: both must match (the other is everything) */
    NEXT("0 0 13 * *", NULL, "2026-01-01T00:00:00Z", "2026-01-13T00:00:00Z",
         "2026-02-13T00:00:00Z");
}

Test(cron, macros)
{
    NEXT("@hourly", NULL, "2026-01-01T00:30:00Z", "2026-01-01T01:00:00Z");
    NEXT("@daily", NULL, "2026-01-01T00:30:00Z", "2026-01-02T00:00:00Z");
    NEXT("@weekly", NULL, "2026-01-01T00:30:00Z", "2026-01-04T00:00:00Z");
    NEXT("@monthly", NULL, "2026-01-31T00:30:00Z", "2026-02-01T00:00:00Z");
    NEXT("@yearly", NULL, "2026-01-01T00:30:00Z", "2027-01-01T00:00:00Z");
    NEXT("@annually", NULL, "2026-01-01T00:30:00Z", "2027-01-01T00:00:00Z");
    /* blanks around a macro, as around the fields of the 5-field form */
    NEXT(" @daily ", NULL, "2026-01-01T00:30:00Z", "2026-01-02T00:00:00Z");
    NEXT("@daily\t", NULL, "2026-01-01T00:30:00Z", "2026-01-02T00:00:00Z");
}

Test(cron, month_ends_and_leap_years)
{
    NEXT("0 0 31 * *", NULL, "2026-01-31T00:00:00Z", "2026-03-31T00:00:00Z",
         "2026-05-31T00:00:00Z", "2026-07-31T00:00:00Z");
    NEXT("0 0 29 2 *", NULL, "2026-01-01T00:00:00Z", "2028-02-29T00:00:00Z",
         "2032-02-29T00:00:00Z");
    NEXT("59 23 28-31 2 *", NULL, "2027-02-27T00:00:00Z",
         "2027-02-28T23:59:00Z", "2028-02-28T23:59:00Z",
         "2028-02-29T23:59:00Z");
    /* 2100 is not a leap year */
    NEXT("0 0 29 2 *", NULL, "2097-01-01T00:00:00Z", "2104-02-29T00:00:00Z");
}

Test(cron, never_matching_returns_minus_one)
{
    duro_spec s;
    char err[128];
    cr_assert_eq(duro_spec_cron(&s, "0 0 30 2 *", NULL, err, sizeof(err)), 0);
    cr_assert_eq(duro_spec_next(&s, at("2026-01-01T00:00:00Z")), -1);
    duro_spec_close(&s);
}

Test(cron, rejects_malformed)
{
    const char *list[] = {"",
                          "* * * *",
                          "* * * * * *",
                          "60 * * * *",
                          "* 24 * * *",
                          "* * 0 * *",
                          "* * * 13 *",
                          "* * * * 8",
                          "5-1 * * * *",
                          "*/0 * * * *",
                          "a * * * *",
                          "* * * foo *",
                          "1,,2 * * * *",
                          ",1 * * * *",
                          "@sometimes",
                          "@daily x",
                          "@dailyx",
                          "1- * * * *"};
    for (size_t i = 0; i < sizeof(list) / sizeof(list[0]); i++)
        bad(list[i]);
}

Test(cron, time_zone_offsets)
{
    duro_tz *tz;
    cr_assert_eq(duro_tz_load("Europe/Berlin", NULL, &tz), 0);
    cr_assert_eq(duro_tz_offset(tz, at("2026-01-15T12:00:00Z") / 1000), 3600);
    cr_assert_eq(duro_tz_offset(tz, at("2026-07-15T12:00:00Z") / 1000), 7200);
    /* far past the last transition: the POSIX TZ footer */
    cr_assert_eq(duro_tz_offset(tz, at("2090-07-15T12:00:00Z") / 1000), 7200);
    cr_assert_eq(duro_tz_offset(tz, at("2090-12-15T12:00:00Z") / 1000), 3600);
    duro_tz_free(tz);
    cr_assert_eq(duro_tz_load("Australia/Sydney", NULL, &tz), 0);
    cr_assert_eq(duro_tz_offset(tz, at("2090-01-15T00:00:00Z") / 1000), 39600);
    cr_assert_eq(duro_tz_offset(tz, at("2090-07-15T00:00:00Z") / 1000), 36000);
    duro_tz_free(tz);
    cr_assert_eq(duro_tz_load("No/Such_Zone", NULL, &tz), DURO_ENOTFOUND);
    cr_assert_eq(duro_tz_load("../etc/passwd", NULL, &tz), DURO_EINVAL);
    cr_assert_eq(duro_tz_load("/etc/passwd", NULL, &tz), DURO_EINVAL);
}

Test(cron, berlin_spring_forward_shifts_the_missing_time)
{
    /* 2026-03-29: 02:00 CET -> 03:00 CEST (01:00Z). 02:30 does not exist:
     * moved forward by the gap, 03:30 CEST = 01:30Z; the day before and
     * after at 02:30 local. */
    NEXT("30 2 * * *", "Europe/Berlin", "2026-03-27T12:00:00Z",
         "2026-03-28T01:30:00Z", "2026-03-29T01:30:00Z",
         "2026-03-30T00:30:00Z");
    /* hourly across the gap: 01:00 CET, then 03:00 CEST; the shifted
     * 02:00 is 03:00 and fires once */
    NEXT("0 * * * *", "Europe/Berlin", "2026-03-28T23:30:00Z",
         "2026-03-29T00:00:00Z", "2026-03-29T01:00:00Z",
         "2026-03-29T02:00:00Z");
}

Test(cron, berlin_fall_back_fires_once)
{
    /* 2026-10-25: 03:00 CEST -> 02:00 CET (01:00Z). 02:30 happens twice
     * (00:30Z and 01:30Z): fires at the first only. */
    NEXT("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z",
         "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z");
    NEXT("0 * * * *", "Europe/Berlin", "2026-10-24T23:30:00Z",
         "2026-10-25T00:00:00Z", "2026-10-25T02:00:00Z",
         "2026-10-25T03:00:00Z");
    /* daily at 09:00 local, both sides of the change */
    NEXT("0 9 * * *", "Europe/Berlin", "2026-10-24T00:00:00Z",
         "2026-10-24T07:00:00Z", "2026-10-25T08:00:00Z");
}

Test(cron, intervals_are_epoch_aligned)
{
    duro_spec s;
    char err[128];
    cr_assert_eq(duro_spec_interval(&s, 600000, 60000, err, sizeof(err)), 0);
    cr_assert_eq(duro_spec_next(&s, at("2026-01-01T00:00:30Z")),
                 at("2026-01-01T00:01:00Z"));
    cr_assert_eq(duro_spec_next(&s, at("2026-01-01T00:01:00Z")),
                 at("2026-01-01T00:11:00Z"));
    cr_assert_eq(duro_spec_interval(&s, 500, 0, err, sizeof(err)), DURO_EINVAL);
    cr_assert_eq(duro_spec_interval(&s, 1000, 1000, err, sizeof(err)),
                 DURO_EINVAL);
    cr_assert_eq(duro_spec_interval(&s, 1000, 0, err, sizeof(err)), 0);
    cr_assert_eq(duro_spec_next(&s, 1500), 2000);
}

Test(cron, jitter_is_deterministic_and_bounded)
{
    int differ = 0;
    for (int64_t n = 0; n < 100; n++) {
        int64_t j = duro_spec_jitter("s1", n * 1000, 30000);
        cr_assert(j >= 0 && j < 30000);
        cr_assert_eq(j, duro_spec_jitter("s1", n * 1000, 30000));
        differ += j != duro_spec_jitter("s2", n * 1000, 30000);
    }
    cr_assert_gt(differ, 90);
    cr_assert_eq(duro_spec_jitter("s1", 5, 0), 0);
}

Test(cron, rfc3339_round_trip)
{
    char buf[DURO_RFC3339_LEN];
    cr_assert_str_eq(duro_rfc3339(0, buf, sizeof(buf)), "1970-01-01T00:00:00Z");
    cr_assert_str_eq(
        duro_rfc3339(at("2028-02-29T23:59:59.250Z"), buf, sizeof(buf)),
        "2028-02-29T23:59:59.250Z");
    cr_assert_eq(at("2026-03-29T03:30:00+02:00"), at("2026-03-29T01:30:00Z"));
    int64_t ms;
    cr_assert_eq(duro_rfc3339_parse("2026-03-29", &ms), DURO_EINVAL);
    cr_assert_eq(duro_rfc3339_parse("2026-13-01T00:00:00Z", &ms), DURO_EINVAL);
}
