/* test_size.c: parsing and formatting byte sizes. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>

#include "duro/errno.h"
#include "duro/size.h"

TestSuite(size, .timeout = 5);

static size_t parse_ok(const char *s)
{
    size_t n = 12345;
    cr_assert_eq(duro_size_parse(s, &n), 0, "parse \"%s\"", s);
    return n;
}

static void parse_bad(const char *s)
{
    size_t n = 77;
    cr_assert_eq(duro_size_parse(s, &n), DURO_EINVAL, "\"%s\" accepted",
                 s ? s : "(null)");
    cr_assert_eq(n, 77, "output written on failure");
}

Test(size, bare_integer_is_bytes)
{
    cr_assert_eq(parse_ok("0"), 0);
    cr_assert_eq(parse_ok("4096"), 4096);
    cr_assert_eq(parse_ok("100b"), 100);
}

Test(size, binary_units_in_every_spelling)
{
    cr_assert_eq(parse_ok("256k"), (size_t)256 * 1024);
    cr_assert_eq(parse_ok("256K"), (size_t)256 * 1024);
    cr_assert_eq(parse_ok("256KB"), (size_t)256 * 1024);
    cr_assert_eq(parse_ok("256KiB"), (size_t)256 * 1024);
    cr_assert_eq(parse_ok("1m"), (size_t)1024 * 1024);
    cr_assert_eq(parse_ok("1MiB"), (size_t)1024 * 1024);
    cr_assert_eq(parse_ok("2g"), (size_t)2 << 30);
}

Test(size, rejects_malformed)
{
    parse_bad(NULL);
    parse_bad("");
    parse_bad("k");
    parse_bad("-1k");
    parse_bad("+1k");
    parse_bad("1.5m");
    parse_bad("1 m");
    parse_bad("1t");
    parse_bad("1kk");
    parse_bad("1mx");
    parse_bad("12 ");
}

Test(size, rejects_overflow)
{
    char big[64];
    snprintf(big, sizeof(big), "%zu0", (size_t)SIZE_MAX);
    parse_bad(big);
    snprintf(big, sizeof(big), "%zuk", (size_t)SIZE_MAX / 512);
    parse_bad(big);
}

Test(size, formats_largest_exact_unit)
{
    char buf[32];
    cr_assert_str_eq(duro_size_format((size_t)256 * 1024, buf, sizeof(buf)),
                     "256KiB");
    cr_assert_str_eq(duro_size_format((size_t)1024 * 1024, buf, sizeof(buf)),
                     "1MiB");
    cr_assert_str_eq(duro_size_format(1000, buf, sizeof(buf)), "1000B");
    cr_assert_str_eq(duro_size_format(0, buf, sizeof(buf)), "0B");
    cr_assert_str_eq(duro_size_format(1536, buf, sizeof(buf)), "1536B");
}
