/* test_hash.c: FNV-1a with Duro's offset basis, pinned: a run's random
 * numbers are seeded from it, so a change would break replays. */
#include <criterion/criterion.h>

#include "duro/hash.h"

TestSuite(hash, .timeout = 5);

Test(hash, values_are_pinned)
{
    cr_assert_eq(duro__fnv1a64(""), 1469598103934665603ULL);
    cr_assert_eq(duro__fnv1a64("a"), 4953267810257967366ULL);
    cr_assert_eq(duro__fnv1a64("run-1"), 6615986621015076910ULL);
}

Test(hash, bytes_above_127_are_unsigned)
{
    /* (unsigned char): a signed char would xor in sign-extended bits */
    uint64_t h = 1469598103934665603ULL;
    h ^= 0xe9;
    h *= 1099511628211ULL;
    cr_assert_eq(duro__fnv1a64("\xe9"), h);
}
