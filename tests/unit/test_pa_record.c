/* test_pa_record.c: a pending activity's packed records
 * (common/src/pa_record.c), as common/lua/duro.lua writes them. */
#include <criterion/criterion.h>
#include <string.h>
#include "duro/pa_record.h"

TestSuite(pa_record, .timeout = 5);

static bool eq(duro_pa_part p, const char *want)
{
    return p.len == strlen(want) && memcmp(p.s, want, p.len) == 0;
}

Test(pa_record, a_state_splits_into_its_parts_whatever_bytes_they_hold)
{
    const char *s = "2,1700-0,0,1700123,5,10;pay;q{\"at\":\";\"}{\"m\":\",\"}";
    duro_pa_state st;
    cr_assert(duro_pa_state_parse(s, strlen(s), &st));
    cr_assert(eq(st.attempt, "2"));
    cr_assert(eq(st.entry, "1700-0"));
    cr_assert(eq(st.deadline, "0"));
    cr_assert(eq(st.hb, "1700123"));
    cr_assert(eq(st.queue, "pay;q"));
    cr_assert(eq(st.details, "{\"at\":\";\"}"));
    cr_assert(eq(st.failure, "{\"m\":\",\"}"));
}

Test(pa_record, a_schedule_splits_into_its_parts)
{
    const char *s = "1000,0,1700,6,2;charge{}[5]";
    duro_pa_sched sc;
    cr_assert(duro_pa_sched_parse(s, strlen(s), &sc));
    cr_assert(eq(sc.stc, "1000"));
    cr_assert(eq(sc.name, "charge"));
    cr_assert(eq(sc.opts, "{}"));
    cr_assert(eq(sc.input, "[5]"));
}

Test(pa_record, a_record_of_another_shape_is_refused)
{
    duro_pa_state st;
    duro_pa_sched sc;
    const char *bad[] = {"", "1,2,3", "1,e,0,,x,0;", "1,e,0,,9,0;short",
                         "1,e,0,,,0;q"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
        cr_assert_not(duro_pa_state_parse(bad[i], strlen(bad[i]), &st), "%s",
                      bad[i]);
    cr_assert_not(duro_pa_sched_parse("1000,0,1,60,2;charge{}", 22, &sc));
    cr_assert_not(duro_pa_sched_parse(NULL, 0, &sc));
}
