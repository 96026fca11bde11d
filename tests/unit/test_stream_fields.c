/* test_stream_fields.c: splitting stream entries and copying their fields. */
#include <criterion/criterion.h>

#include <cjson/cJSON.h>

#include "duro/errno.h"
#include "duro/stream_fields.h"
#include "fake_reply.h"

TestSuite(stream_fields, .timeout = 5);

Test(stream_fields, entry_splits_id_and_fields)
{
    redisReply *e = fake_arr(2, fake_str("5-0"),
                             fake_arr(2, fake_str("id"), fake_str("x")));
    const char *id;
    const redisReply *f;
    cr_assert_eq(duro__stream_entry(e, &id, &f), 0);
    cr_assert_str_eq(id, "5-0");
    cr_assert_eq(f, e->element[1]);
    freeReplyObject(e);
}

Test(stream_fields, entry_refuses_other_shapes)
{
    redisReply *bad[] = {
        fake_str("5-0"),
        fake_arr(1, fake_str("5-0")),
        fake_arr(2, fake_int(5), fake_arr(0)),
        fake_arr(3, fake_str("5-0"), fake_arr(0), fake_arr(0)),
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(redisReply *); i++) {
        const char *id = "?";
        const redisReply *f = bad[i];
        cr_assert_eq(duro__stream_entry(bad[i], &id, &f), DURO_EPROTO);
        cr_assert_null(id);
        cr_assert_null(f);
        freeReplyObject(bad[i]);
    }
    const char *id;
    const redisReply *f;
    cr_assert_eq(duro__stream_entry(NULL, &id, &f), DURO_EPROTO);
}

Test(stream_fields, dup_copies_strings_only)
{
    redisReply *f = fake_arr(6, fake_str("run"), fake_str("r-1"), fake_str("n"),
                             fake_int(3), fake_str("empty"), fake_str(""));
    char *v = NULL;
    cr_assert_eq(duro__stream_field_dup(f, "run", &v), 0);
    cr_assert_str_eq(v, "r-1");
    cr_assert_neq(v, f->element[1]->str, "a copy, not the reply's text");
    free(v);
    cr_assert_eq(duro__stream_field_dup(f, "empty", &v), 0);
    cr_assert_str_eq(v, "");
    free(v);
    v = (char *)"?";
    cr_assert_eq(duro__stream_field_dup(f, "n", &v), 0);
    cr_assert_null(v, "an integer is not a stream field value");
    v = (char *)"?";
    cr_assert_eq(duro__stream_field_dup(f, "absent", &v), 0);
    cr_assert_null(v);
    freeReplyObject(f);
}

Test(stream_fields, json_holds_the_string_fields)
{
    redisReply *f = fake_arr(6, fake_str("a"), fake_str("1"), fake_str("b"),
                             fake_int(2), fake_str("q\""), fake_str("x\ny"));
    char *s = duro__stream_fields_json(f);
    cr_assert_not_null(s);
    cJSON *o = cJSON_Parse(s);
    cr_assert_not_null(o, "%s", s);
    cr_assert_eq(cJSON_GetArraySize(o), 2, "%s", s);
    cr_assert_str_eq(cJSON_GetObjectItem(o, "a")->valuestring, "1");
    cr_assert_str_eq(cJSON_GetObjectItem(o, "q\"")->valuestring, "x\ny");
    cJSON_Delete(o);
    free(s);
    freeReplyObject(f);
    s = duro__stream_fields_json(NULL);
    cr_assert_str_eq(s, "{}");
    free(s);
}
