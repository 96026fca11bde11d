/* test_utf8.c: the UTF-8 checker and mender (common/src/utf8.c) and the
 * entry checks built on them (duro_id_check_input, duro_json_parse_input,
 * duro_json_print_out, duro_codec_encode_json). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "duro/codec.h"
#include "duro/errno.h"
#include "duro/ids.h"
#include "duro/json.h"
#include "duro/utf8.h"

TestSuite(utf8, .timeout = 5);

static int check(const char *s, size_t *bad)
{
    return duro_utf8_check(s, strlen(s), bad);
}

Test(utf8, well_formed_text_is_accepted)
{
    static const char *const ok[] = {
        "",
        "plain ascii, longer than eight bytes",
        "caf\xc3\xa9",
        "\xc2\x80 \xdf\xbf",                 /* two-byte ends */
        "\xe0\xa0\x80 \xef\xbf\xbd",         /* U+0800, U+FFFD */
        "\xed\x9f\xbf \xee\x80\x80",         /* around the surrogates */
        "\xf0\x90\x80\x80 \xf4\x8f\xbf\xbf", /* U+10000, U+10FFFF */
        "\xe2\x82\xac 12345678 \xf0\x9f\x98\x80 tail",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        cr_assert_eq(check(ok[i], NULL), 0, "refused #%zu", i);
}

Test(utf8, ill_formed_text_is_refused_at_its_first_bad_byte)
{
    static const struct {
        const char *s;
        size_t at;
    } bad[] = {
        {"\xff", 0},
        {"abc\x80", 3},          /* lone continuation */
        {"12345678\xc3", 8},     /* truncated, after the fast path */
        {"\xc0\xaf", 0},         /* overlong '/' */
        {"\xc1\xbf", 0},         /* overlong */
        {"\xe0\x80\xaf", 0},     /* overlong three-byte */
        {"\xf0\x80\x80\xaf", 0}, /* overlong four-byte */
        {"x\xed\xa0\x80", 1},    /* surrogate U+D800 */
        {"\xed\xbf\xbf", 0},     /* surrogate U+DFFF */
        {"\xf4\x90\x80\x80", 0}, /* above U+10FFFF */
        {"\xf5\x80\x80\x80", 0}, /* no such lead byte */
        {"\xe2\x82", 0},         /* truncated three-byte */
        {"\xe2\x82x", 0},        /* bad continuation */
        {"ok \xf0\x9f\x98", 3},  /* truncated four-byte */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t at = 999;
        cr_assert_eq(check(bad[i].s, &at), DURO_EINVAL, "accepted #%zu", i);
        cr_assert_eq(at, bad[i].at, "#%zu: byte %zu", i, at);
    }
}

Test(utf8, mend_replaces_each_bad_byte_and_keeps_good_text)
{
    char *s = duro_utf8_mend(strdup("caf\xc3\xa9"));
    cr_assert_str_eq(s, "caf\xc3\xa9");
    free(s);
    s = duro_utf8_mend(strdup("a\xff"
                              "b\xc3"));
    cr_assert_str_eq(s, "a\xef\xbf\xbd"
                        "b\xef\xbf\xbd");
    cr_assert_eq(check(s, NULL), 0);
    free(s);
    s = duro_utf8_mend(strdup("\xed\xa0\x80"));
    cr_assert_str_eq(s, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    free(s);
    cr_assert_null(duro_utf8_mend(NULL));
}

Test(utf8, ids_that_enter_must_be_utf8_stored_ones_pass)
{
    char why[128] = "";
    cr_assert_eq(duro_id_check_input("caf\xc3\xa9", why, sizeof(why)), 0);
    cr_assert_eq(duro_id_check_input("ord\xff", why, sizeof(why)), DURO_EINVAL);
    cr_assert(strstr(why, "workflow id is not valid UTF-8 (byte 3)"), "%s",
              why);
    /* the shared check still reads what is already stored */
    cr_assert_eq(duro_id_check("ord\xff", why, sizeof(why)), 0);
    cr_assert_eq(duro_id_check_input("", why, sizeof(why)), DURO_EINVAL);
    cr_assert(strstr(why, "empty"), "%s", why);
}

Test(utf8, payloads_that_enter_must_be_utf8_and_print_out_mends)
{
    char why[128] = "";
    cJSON *v = NULL;
    const char *in = "{\"a\":\"x\xff\"}";
    cr_assert_eq(
        duro_json_parse_input(in, strlen(in), 100, &v, why, sizeof(why)),
        DURO_EJSON);
    cr_assert_null(v);
    cr_assert(strstr(why, "invalid UTF-8 at byte 7"), "%s", why);
    /* stored text still parses, and prints as valid JSON */
    cr_assert_eq(duro_json_parse(in, strlen(in), 100, &v, why, sizeof(why)), 0);
    char *out = duro_json_print_out(v);
    cr_assert_str_eq(out, "{\"a\":\"x\xef\xbf\xbd\"}");
    free(out);
    cJSON_Delete(v);
    const char *ok = "[\"caf\xc3\xa9\"]";
    cr_assert_eq(
        duro_json_parse_input(ok, strlen(ok), 100, &v, why, sizeof(why)), 0);
    cJSON_Delete(v);
}

Test(utf8, a_workers_payload_of_raw_bytes_is_refused)
{
    cJSON *v = cJSON_CreateString("r\xc3");
    char *out = NULL, why[128] = "";
    cr_assert_eq(duro_codec_encode_json(NULL, v, &out, why, sizeof(why)),
                 DURO_EJSON);
    cr_assert_null(out);
    cr_assert(strstr(why, "invalid UTF-8 at byte 2"), "%s", why);
    cJSON_Delete(v);
}
