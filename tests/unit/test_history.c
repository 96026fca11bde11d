/* test_history.c: event names and decoding XRANGE entries built by hand. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "duro/errno.h"
#include "duro/history.h"
#include "fake_reply.h"

TestSuite(history, .timeout = 5);

/* ---- Fake reply trees (fake_reply.h; freed with freeReplyObject) ---- */

static redisReply *entry(const char *id, const char *type, const char *ts,
                         const char *data)
{
    return fake_arr(2, fake_str(id),
                    fake_arr(6, fake_str("type"), fake_str(type),
                             fake_str("ts"), fake_str(ts), fake_str("data"),
                             fake_str(data)));
}

static int decode(redisReply *r, duro_event *e)
{
    char err[256] = "";
    int rc = duro_event_decode(r, e, err, sizeof(err));
    if (rc != 0) cr_assert_neq(err[0], '\0', "no reason given");
    freeReplyObject(r);
    return rc;
}

/* ---- Names ---- */

Test(history, names_round_trip)
{
    for (int t = DURO_EVENT_UNKNOWN + 1; t < DURO_EVENT_COUNT; t++) {
        const char *n = duro_event_name((duro_event_type)t);
        cr_assert_eq(duro_event_type_of(n, strlen(n)), t, "%s", n);
    }
    cr_assert_str_eq(duro_event_name(DURO_EVENT_ACTIVITY_SCHEDULED),
                     "ActivityScheduled");
    cr_assert_str_eq(duro_event_name(DURO_EVENT_UNKNOWN), "Unknown");
    cr_assert_str_eq(duro_event_name((duro_event_type)999), "Unknown");
    cr_assert_eq(duro_event_type_of("Timer", 5), DURO_EVENT_UNKNOWN);
    cr_assert_eq(duro_event_type_of("TimerFiredX", 11), DURO_EVENT_UNKNOWN);
    cr_assert_eq(duro_event_type_of("TimerFiredX", 10), DURO_EVENT_TIMER_FIRED);
}

Test(history, command_flags)
{
    cr_assert(duro_event_is_command(DURO_EVENT_ACTIVITY_SCHEDULED));
    cr_assert(duro_event_is_command(DURO_EVENT_TIMER_STARTED));
    cr_assert(duro_event_is_command(DURO_EVENT_WORKFLOW_COMPLETED));
    cr_assert_not(duro_event_is_command(DURO_EVENT_WORKFLOW_TASK_COMPLETED));
    cr_assert_not(duro_event_is_command(DURO_EVENT_TIMER_FIRED));
    cr_assert_not(duro_event_is_command(DURO_EVENT_UNKNOWN));
}

/* ---- Decoding ---- */

Test(history, decode_valid_entry)
{
    duro_event e;
    cr_assert_eq(decode(entry("7-0", "TimerStarted", "1764081344123",
                              "{\"seq\":3,\"durationMs\":1000}"),
                        &e),
                 0);
    cr_assert_eq(e.id, 7);
    cr_assert_eq(e.type, DURO_EVENT_TIMER_STARTED);
    cr_assert_eq(e.ts, 1764081344123LL);
    cr_assert_not_null(e.data);
    cr_assert_eq(duro_event_seq(&e), 3);
    duro_event_free(&e);
    cr_assert_null(e.data);
}

Test(history, decode_fields_in_any_order)
{
    duro_event e;
    redisReply *r =
        fake_arr(2, fake_str("1-0"),
                 fake_arr(6, fake_str("data"), fake_str("{}"), fake_str("ts"),
                          fake_str("5"), fake_str("type"),
                          fake_str("WorkflowTimedOut")));
    cr_assert_eq(decode(r, &e), 0);
    cr_assert_eq(e.type, DURO_EVENT_WORKFLOW_TIMED_OUT);
    cr_assert_eq(duro_event_seq(&e), -1);
    duro_event_free(&e);
}

Test(history, decode_rejects_truncated_entry)
{
    duro_event e;
    cr_assert_eq(decode(fake_arr(1, fake_str("1-0")), &e), DURO_EPROTO);
    cr_assert_eq(decode(fake_arr(0), &e), DURO_EPROTO);
    cr_assert_eq(
        decode(fake_arr(2, fake_str("1-0"),
                        fake_arr(3, fake_str("type"), fake_str("TimerFired"),
                                 fake_str("ts"))),
               &e),
        DURO_EPROTO);
    cr_assert_eq(
        decode(fake_arr(2, fake_str("1-0"),
                        fake_arr(4, fake_str("type"), fake_str("TimerFired"),
                                 fake_str("ts"), fake_str("1"))),
               &e),
        DURO_EPROTO, "missing data accepted");
    cr_assert_eq(
        decode(fake_arr(2, fake_str("1-0"),
                        fake_arr(4, fake_str("type"), fake_str("TimerFired"),
                                 fake_str("data"), fake_str("{}"))),
               &e),
        DURO_EPROTO, "missing ts accepted");
    cr_assert_eq(
        decode(fake_arr(2, fake_str("1-0"), fake_str("not an array")), &e),
        DURO_EPROTO);
    cr_assert_eq(decode(fake_str("1-0"), &e), DURO_EPROTO);
    cr_assert_eq(duro_event_decode(NULL, &e, NULL, 0), DURO_EPROTO);
}

Test(history, decode_rejects_non_string_elements)
{
    duro_event e;
    cr_assert_eq(decode(fake_arr(2, fake_int(1), fake_arr(0)), &e),
                 DURO_EPROTO);
    cr_assert_eq(
        decode(fake_arr(2, fake_str("1-0"),
                        fake_arr(6, fake_str("type"), fake_str("TimerFired"),
                                 fake_str("ts"), fake_int(5), fake_str("data"),
                                 fake_str("{}"))),
               &e),
        DURO_EPROTO);
}

Test(history, decode_rejects_wrong_id)
{
    const char *ids[] = {
        "1-1", "0-0",  "abc-0", "-0",   "1",
        "1-",  "1-00", "x1-0",  "1 -0", "99999999999999999999-0"};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        duro_event e;
        cr_assert_eq(
            decode(entry(ids[i], "TimerFired", "1", "{\"seq\":1}"), &e),
            DURO_EPROTO, "id %s accepted", ids[i]);
    }
}

Test(history, decode_rejects_unknown_type)
{
    duro_event e;
    cr_assert_eq(decode(entry("2-0", "TimerExploded", "1", "{}"), &e),
                 DURO_EPROTO);
    cr_assert_eq(decode(entry("2-0", "Unknown", "1", "{}"), &e), DURO_EPROTO);
    cr_assert_eq(decode(entry("2-0", "", "1", "{}"), &e), DURO_EPROTO);
}

Test(history, decode_rejects_bad_ts)
{
    const char *ts[] = {"", "abc", "12x", "-5", "1.5"};
    for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
        duro_event e;
        cr_assert_eq(decode(entry("2-0", "TimerFired", ts[i], "{}"), &e),
                     DURO_EPROTO, "ts \"%s\" accepted", ts[i]);
    }
}

Test(history, decode_rejects_bad_json)
{
    const char *data[] = {"", "{", "{\"seq\":}", "{} trailing", "{}{}", "nul"};
    for (size_t i = 0; i < sizeof(data) / sizeof(data[0]); i++) {
        duro_event e;
        cr_assert_eq(decode(entry("2-0", "TimerFired", "1", data[i]), &e),
                     DURO_EPROTO, "data \"%s\" accepted", data[i]);
    }
}

Test(history, decode_rejects_non_object_data)
{
    const char *data[] = {"[]", "1", "\"x\"", "null", "true"};
    for (size_t i = 0; i < sizeof(data) / sizeof(data[0]); i++) {
        duro_event e;
        cr_assert_eq(decode(entry("2-0", "TimerFired", "1", data[i]), &e),
                     DURO_EPROTO, "data %s accepted", data[i]);
    }
}

Test(history, decode_error_names_the_event)
{
    duro_event e;
    char err[256];
    redisReply *r = entry("12-0", "TimerFired", "1", "[]");
    cr_assert_eq(duro_event_decode(r, &e, err, sizeof(err)), DURO_EPROTO);
    cr_assert(strstr(err, "12") != NULL, "%s", err);
    freeReplyObject(r);
}

Test(history, stream_field_lookup)
{
    redisReply *f = fake_arr(4, fake_str("id"), fake_str("wf-1"),
                             fake_str("run"), fake_str("r1"));
    const redisReply *v = duro_stream_field(f, "run");
    cr_assert_not_null(v);
    cr_assert_str_eq(v->str, "r1");
    cr_assert_null(duro_stream_field(f, "ru"));
    cr_assert_null(duro_stream_field(f, "wf-1"), "matched a value as a field");
    cr_assert_null(duro_stream_field(NULL, "id"));
    freeReplyObject(f);
}
