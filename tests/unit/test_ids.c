/* test_ids.c: the validity rules for workflow ids (common/src/ids.c). */
#include <criterion/criterion.h>
#include <string.h>
#include "duro/errno.h"
#include "duro/ids.h"

TestSuite(ids, .timeout = 5);

Test(ids, ordinary_ids_are_accepted)
{
    char why[128];
    cr_assert_eq(duro_id_check("order-7", why, sizeof(why)), 0);
    cr_assert_eq(duro_id_check("a b", why, sizeof(why)), 0);
    cr_assert_eq(duro_id_check(" padded ", why, sizeof(why)), 0);
    cr_assert_eq(duro_id_check("caf\xc3\xa9", why, sizeof(why)), 0);
}

Test(ids, empty_and_blank_ids_are_refused)
{
    static const char *const blank[] = {"", " ", "   ", "\t", " \t ", "\n"};
    for (size_t i = 0; i < sizeof(blank) / sizeof(blank[0]); i++) {
        char why[128] = "";
        cr_assert_eq(duro_id_check(blank[i], why, sizeof(why)), DURO_EINVAL,
                     "accepted \"%s\"", blank[i]);
        cr_assert(strstr(why, "workflow id"), "why: %s", why);
    }
    char why[128] = "";
    duro_id_check("  ", why, sizeof(why));
    cr_assert(strstr(why, "blank"), "why: %s", why);
    cr_assert_eq(duro_id_check(NULL, why, sizeof(why)), DURO_EINVAL);
}

Test(ids, control_characters_and_overlong_ids_are_refused)
{
    char why[128], big[DURO_ID_MAX + 2];
    cr_assert_eq(duro_id_check("a\x01z", why, sizeof(why)), DURO_EINVAL);
    cr_assert_eq(duro_id_check("a\x7fz", why, sizeof(why)), DURO_EINVAL);
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    cr_assert_eq(duro_id_check(big, why, sizeof(why)), DURO_EINVAL);
    big[DURO_ID_MAX] = '\0';
    cr_assert_eq(duro_id_check(big, why, sizeof(why)), 0);
}
