/* test_clock.c: the clock seam (duro_clock_set). */
#include <criterion/criterion.h>

#include "duro/clock.h"

TestSuite(clock, .timeout = 5);

static int64_t wall = 1700000000123, mono = 5000, mono_us = 42;
static int64_t fake_wall(void)
{
    return wall;
}
static int64_t fake_mono(void)
{
    return mono;
}
static int64_t fake_mono_us(void)
{
    return mono_us;
}

Test(clock, fake_clocks_are_read_until_restored)
{
    duro_clock_fns f = {fake_wall, fake_mono, fake_mono_us};
    duro_clock_set(&f);
    f.mono_ms = NULL; /* copied: changing it afterwards changes nothing */
    cr_assert_eq(duro_now_ms(), 1700000000123);
    cr_assert_eq(duro_mono_ms(), 5000);
    cr_assert_eq(duro_mono_us(), 42);
    mono += 250;
    cr_assert_eq(duro_mono_ms(), 5250);
    duro_clock_set(NULL);
    cr_assert_gt(duro_now_ms(), 1700000000123); /* after Nov 2023 */
    cr_assert_neq(duro_mono_ms(), 5250);
}

Test(clock, a_null_field_keeps_the_real_clock)
{
    duro_clock_set(&(duro_clock_fns){.mono_ms = fake_mono});
    cr_assert_eq(duro_mono_ms(), mono);
    cr_assert_gt(duro_now_ms(), 1700000000123);
    duro_clock_set(NULL);
}

Test(clock, is_set_while_the_wall_clock_is_replaced)
{
    cr_assert_not(duro_clock_is_set());
    duro_clock_set(&(duro_clock_fns){.mono_ms = fake_mono});
    cr_assert_not(duro_clock_is_set(), "a fake monotonic clock is not Redis'");
    duro_clock_set(&(duro_clock_fns){.now_ms = fake_wall});
    cr_assert(duro_clock_is_set());
    duro_clock_set(NULL);
    cr_assert_not(duro_clock_is_set());
}
