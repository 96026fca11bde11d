/* test_reply.c: the tolerant reply readers shared by every component. */
#include <criterion/criterion.h>

#include "duro/reply.h"
#include "fake_reply.h"

TestSuite(reply, .timeout = 5);

Test(reply, str_takes_strings_and_statuses_only)
{
    redisReply *s = fake_str("a"), *st = fake_status("OK"),
               *e = fake_error("ERR x"), *i = fake_int(3), *n = fake_nil();
    cr_assert_str_eq(duro__reply_str(s), "a");
    cr_assert_str_eq(duro__reply_str(st), "OK");
    cr_assert_null(duro__reply_str(e));
    cr_assert_null(duro__reply_str(i));
    cr_assert_null(duro__reply_str(n));
    cr_assert_null(duro__reply_str(NULL));
    cr_assert(duro__reply_is_error(e));
    cr_assert_not(duro__reply_is_error(s));
    cr_assert_not(duro__reply_is_error(NULL));
    freeReplyObject(s);
    freeReplyObject(st);
    freeReplyObject(e);
    freeReplyObject(i);
    freeReplyObject(n);
}

Test(reply, int_reads_integers_and_exact_decimals)
{
    long long v = 0;
    redisReply *i = fake_int(-7), *d = fake_str("1234"), *neg = fake_str("-5");
    cr_assert(duro__reply_int(i, &v));
    cr_assert_eq(v, -7);
    cr_assert(duro__reply_int(d, &v));
    cr_assert_eq(v, 1234);
    cr_assert(duro__reply_int(neg, &v));
    cr_assert_eq(v, -5);
    static const char *const bad[] = {
        "", "-", "12x", " 1", "+1", "99999999999999999999", "1.5"};
    for (size_t k = 0; k < sizeof(bad) / sizeof(*bad); k++) {
        redisReply *b = fake_str(bad[k]);
        v = 42;
        cr_assert_not(duro__reply_int(b, &v), "accepted \"%s\"", bad[k]);
        cr_assert_eq(v, 42, "wrote *out for \"%s\"", bad[k]);
        freeReplyObject(b);
    }
    /* a NUL inside hides trailing bytes from strtoll */
    redisReply *nul = fake_typed(REDIS_REPLY_STRING, "12\0x", 4);
    cr_assert_not(duro__reply_int(nul, &v));
    cr_assert_not(duro__reply_int(NULL, &v));
    freeReplyObject(nul);
    freeReplyObject(i);
    freeReplyObject(d);
    freeReplyObject(neg);
}

Test(reply, kv_finds_values_by_whole_key)
{
    redisReply *a =
        fake_arr(6, fake_str("id"), fake_str("wf-1"), fake_int(9),
                 fake_str("skipped"), fake_str("idle"), fake_int(15));
    cr_assert_str_eq(duro__reply_str(duro__reply_kv(a, "id")), "wf-1");
    long long v;
    cr_assert(duro__reply_int(duro__reply_kv(a, "idle"), &v));
    cr_assert_eq(v, 15);
    cr_assert_null(duro__reply_kv(a, "i"), "a prefix is not the key");
    cr_assert_null(duro__reply_kv(a, "idle2"));
    cr_assert_null(duro__reply_kv(a, "skipped"), "values are not keys");
    cr_assert_null(duro__reply_kv(NULL, "id"));
    redisReply *odd = fake_arr(1, fake_str("id"));
    cr_assert_null(duro__reply_kv(odd, "id"), "a key without a value");
    redisReply *s = fake_str("id");
    cr_assert_null(duro__reply_kv(s, "id"), "not an array");
    freeReplyObject(a);
    freeReplyObject(odd);
    freeReplyObject(s);
}
