/* test_duration.c: parsing and formatting durations. */
#include <criterion/criterion.h>
#include <stdint.h>

#include "duro/duration.h"
#include "duro/errno.h"

TestSuite(duration, .timeout = 5);

static int64_t parse_ok(const char *s)
{
    int64_t ms = -12345;
    cr_assert_eq(duro_duration_parse(s, &ms), 0, "parse \"%s\"", s);
    return ms;
}

static void parse_bad(const char *s)
{
    int64_t ms = 77;
    cr_assert_eq(duro_duration_parse(s, &ms), DURO_EINVAL, "\"%s\" accepted",
                 s ? s : "(null)");
    cr_assert_eq(ms, 77, "output written on failure");
}

Test(duration, parses_each_unit)
{
    cr_assert_eq(parse_ok("500ms"), 500);
    cr_assert_eq(parse_ok("30s"), 30000);
    cr_assert_eq(parse_ok("1m"), 60000);
    cr_assert_eq(parse_ok("2h"), duro_hours(2));
    cr_assert_eq(parse_ok("7d"), duro_days(7));
    cr_assert_eq(parse_ok("0s"), 0);
}

Test(duration, bare_integer_is_milliseconds)
{
    cr_assert_eq(parse_ok("1500"), 1500);
    cr_assert_eq(parse_ok("0"), 0);
}

Test(duration, parses_compounds)
{
    cr_assert_eq(parse_ok("1h30m"), duro_minutes(90));
    cr_assert_eq(parse_ok("1s500ms"), 1500);
    cr_assert_eq(parse_ok("1d2h3m4s5ms"), duro_days(1) + duro_hours(2) +
                                              duro_minutes(3) +
                                              duro_seconds(4) + 5);
}

Test(duration, accepts_one_hundred_years)
{
    cr_assert_eq(parse_ok("36500d"), duro_days(36500));
}

Test(duration, rejects_malformed)
{
    const char *bad[] = {"",
                         "-1s",
                         "-5",
                         "1x",
                         "s",
                         "1h30",
                         " 1s",
                         "1s ",
                         "1 s",
                         "1h 30m",
                         "1.5s",
                         "1sms",
                         "30m1h",
                         "1m1m",
                         "1ms1s",
                         "+1s",
                         "ms",
                         "1S",
                         "36501d",
                         "99999999999999999999",
                         "9223372036854775807ms"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        parse_bad(bad[i]);
    parse_bad(NULL);
}

static void fmt_is(int64_t ms, const char *want)
{
    char buf[64];
    cr_assert_str_eq(duro_duration_format(ms, buf, sizeof(buf)), want);
}

Test(duration, formats_shortest_exact)
{
    fmt_is(0, "0s");
    fmt_is(250, "250ms");
    fmt_is(1000, "1s");
    fmt_is(1500, "1s500ms");
    fmt_is(90000, "1m30s");
    fmt_is(duro_hours(1) + 5000, "1h5s");
    fmt_is(duro_days(2), "2d");
    fmt_is(duro_days(1) + 1, "1d1ms");
}

Test(duration, format_round_trips)
{
    int64_t samples[] = {
        1, 999, 1000, 61001, 3599999, 86400000, duro_days(36500), 123456789};
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        char buf[64];
        duro_duration_format(samples[i], buf, sizeof(buf));
        cr_assert_eq(parse_ok(buf), samples[i], "%s", buf);
    }
}

Test(duration, format_truncates_safely)
{
    char buf[4];
    duro_duration_format(duro_hours(1) + 5000, buf, sizeof(buf));
    cr_assert_eq(buf[3], '\0');
}
