/* test_json.c: strict, bounded JSON parsing and lookups. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "duro/errno.h"
#include "duro/json.h"

TestSuite(json, .timeout = 5);

static int parse(const char *s, size_t max, cJSON **out)
{
    char err[128];
    return duro_json_parse(s, strlen(s), max, out, err, sizeof(err));
}

Test(json, parses_exact_text)
{
    cJSON *v;
    cr_assert_eq(parse("{\"a\":1, \"b\":\"x\"}  \n", 100, &v), 0);
    cr_assert_eq(duro_json_int(v, "a", -1), 1);
    cr_assert_str_eq(duro_json_str(v, "b", "?"), "x");
    cJSON_Delete(v);
    cr_assert_eq(parse("42", 100, &v), 0);
    cr_assert(cJSON_IsNumber(v));
    cJSON_Delete(v);
}

Test(json, rejects_trailing_garbage)
{
    cJSON *v = (cJSON *)1;
    cr_assert_eq(parse("{} x", 100, &v), DURO_EJSON);
    cr_assert_null(v);
    cr_assert_eq(parse("1 2", 100, &v), DURO_EJSON);
    cr_assert_eq(parse("{}{}", 100, &v), DURO_EJSON);
}

Test(json, rejects_invalid_and_empty)
{
    cJSON *v;
    char err[128] = "";
    cr_assert_eq(parse("{\"a\":", 100, &v), DURO_EJSON);
    cr_assert_eq(parse("", 100, &v), DURO_EJSON);
    cr_assert_eq(parse("   ", 100, &v), DURO_EJSON);
    cr_assert_eq(duro_json_parse("{\"a\":1}", 3, 100, &v, err, sizeof(err)),
                 DURO_EJSON);
    cr_assert_neq(err[0], '\0');
}

Test(json, respects_length_not_nul)
{
    const char buf[] = "[1]\0garbage";
    cJSON *v;
    cr_assert_eq(duro_json_parse(buf, 3, 100, &v, NULL, 0), 0);
    cJSON_Delete(v);
    cr_assert_eq(duro_json_parse(buf, sizeof(buf) - 1, 100, &v, NULL, 0),
                 DURO_EJSON);
}

Test(json, rejects_too_big)
{
    cJSON *v;
    char err[128];
    cr_assert_eq(duro_json_parse("[1,2,3]", 7, 6, &v, err, sizeof(err)),
                 DURO_ETOOBIG);
    cr_assert_eq(duro_json_parse("[1,2,3]", 7, 7, &v, err, sizeof(err)), 0);
    cJSON_Delete(v);
}

Test(json, print_is_compact)
{
    cJSON *v;
    cr_assert_eq(parse("{ \"a\" : [ 1 , 2 ] }", 100, &v), 0);
    char *s = duro_json_print(v);
    cr_assert_str_eq(s, "{\"a\":[1,2]}");
    free(s);
    cJSON_Delete(v);
    s = duro_json_print(NULL);
    cr_assert_str_eq(s, "null");
    free(s);
}

Test(json, lookups_tolerate_absent_and_mistyped)
{
    cJSON *v;
    cr_assert_eq(parse("{\"n\":\"7\",\"s\":3,\"big\":5000000000}", 100, &v), 0);
    cr_assert_eq(duro_json_int(v, "n", -1), -1);
    cr_assert_str_eq(duro_json_str(v, "s", "def"), "def");
    cr_assert_str_eq(duro_json_str(v, "missing", "def"), "def");
    cr_assert_eq(duro_json_int(v, "big", -1), 5000000000LL);
    cr_assert_eq(duro_json_int(NULL, "n", 9), 9);
    cJSON_Delete(v);
}
