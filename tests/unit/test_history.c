/* test_history.c: event names and decoding history elements built by hand. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/errno.h"
#include "duro/history.h"
#include "fake_reply.h"

TestSuite(history, .timeout = 5);

/* ---- History elements built by hand ---- */

/* item: "<type>\n<ts>\n<data>" in buf. */
static const char *item(char *buf, size_t size, const char *type,
                        const char *ts, const char *data)
{
    snprintf(buf, size, "%s\n%s\n%s", type, ts, data);
    return buf;
}

static int decode_at(const char *s, int64_t id, duro_event *e)
{
    char err[256] = "";
    int rc = duro_event_decode(s, strlen(s), id, e, err, sizeof(err));
    if (rc != 0) cr_assert_neq(err[0], '\0', "no reason given");
    return rc;
}

static int decode(const char *type, const char *ts, const char *data,
                  duro_event *e)
{
    char buf[512];
    return decode_at(item(buf, sizeof(buf), type, ts, data), 2, e);
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

Test(history, decode_valid_element)
{
    duro_event e;
    char buf[128];
    cr_assert_eq(
        decode_at(item(buf, sizeof(buf), "TimerStarted", "1764081344123",
                       "{\"seq\":3,\"durationMs\":1000}"),
                  7, &e),
        0);
    cr_assert_eq(e.id, 7);
    cr_assert_eq(e.type, DURO_EVENT_TIMER_STARTED);
    cr_assert_eq(e.ts, 1764081344123LL);
    cr_assert_not_null(e.data);
    cr_assert_eq(duro_event_seq(&e), 3);
    duro_event_free(&e);
    cr_assert_null(e.data);
}

Test(history, codes_round_trip_and_names_still_decode)
{
    for (int t = DURO_EVENT_UNKNOWN + 1; t < DURO_EVENT_COUNT; t++) {
        const char *code = duro_event_code((duro_event_type)t);
        for (int u = DURO_EVENT_UNKNOWN + 1; u < t; u++)
            cr_assert_str_neq(code, duro_event_code((duro_event_type)u),
                              "%s twice", code);
        duro_event e;
        cr_assert_eq(decode(code, "1", "{}", &e), 0, "%s", code);
        cr_assert_eq(e.type, t, "%s", code);
        duro_event_free(&e);
        cr_assert_eq(decode(duro_event_name((duro_event_type)t), "1", "{}", &e),
                     0);
        cr_assert_eq(e.type, t);
        duro_event_free(&e);
    }
    cr_assert_str_eq(duro_event_code(DURO_EVENT_WORKFLOW_TASK_COMPLETED), "WT");
    cr_assert_str_eq(duro_event_code(DURO_EVENT_ACTIVITY_SCHEDULED), "AS");
    duro_event e;
    cr_assert_eq(decode("ZZ", "1", "{}", &e), DURO_EPROTO);
}

Test(history, decode_data_may_hold_newlines)
{
    duro_event e;
    cr_assert_eq(decode("SignalReceived", "5", "{\"name\":\n\"a\\nb\"}", &e),
                 0);
    cr_assert_eq(e.type, DURO_EVENT_SIGNAL_RECEIVED);
    cr_assert_str_eq(cJSON_GetObjectItem(e.data, "name")->valuestring, "a\nb");
    duro_event_free(&e);
}

Test(history, decode_rejects_truncated_element)
{
    const char *bad[] = {"", "TimerFired", "TimerFired\n1", "TimerFired\n1{}",
                         "\n\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        duro_event e;
        cr_assert_eq(decode_at(bad[i], 1, &e), DURO_EPROTO, "\"%s\" accepted",
                     bad[i]);
    }
    duro_event e;
    cr_assert_eq(duro_event_decode(NULL, 0, 1, &e, NULL, 0), DURO_EPROTO);
}

Test(history, decode_reply_rejects_non_strings)
{
    duro_event e;
    char err[128];
    redisReply *r = fake_int(1);
    cr_assert_eq(duro_event_decode_reply(r, 1, &e, err, sizeof(err)),
                 DURO_EPROTO);
    freeReplyObject(r);
    r = fake_arr(0);
    cr_assert_eq(duro_event_decode_reply(r, 1, &e, err, sizeof(err)),
                 DURO_EPROTO);
    freeReplyObject(r);
    cr_assert_eq(duro_event_decode_reply(NULL, 1, &e, err, sizeof(err)),
                 DURO_EPROTO);
    r = fake_str("WorkflowTimedOut\n5\n{}");
    cr_assert_eq(duro_event_decode_reply(r, 4, &e, err, sizeof(err)), 0);
    cr_assert_eq(e.id, 4);
    cr_assert_eq(e.type, DURO_EVENT_WORKFLOW_TIMED_OUT);
    cr_assert_eq(duro_event_seq(&e), -1);
    duro_event_free(&e);
    freeReplyObject(r);
}

Test(history, decode_rejects_bad_id)
{
    duro_event e;
    cr_assert_eq(decode_at("TimerFired\n1\n{}", 0, &e), DURO_EPROTO);
    cr_assert_eq(decode_at("TimerFired\n1\n{}", -3, &e), DURO_EPROTO);
}

Test(history, decode_rejects_unknown_type)
{
    duro_event e;
    cr_assert_eq(decode("TimerExploded", "1", "{}", &e), DURO_EPROTO);
    cr_assert_eq(decode("Unknown", "1", "{}", &e), DURO_EPROTO);
    cr_assert_eq(decode("", "1", "{}", &e), DURO_EPROTO);
}

Test(history, decode_rejects_bad_ts)
{
    const char *ts[] = {"", "abc", "12x", "-5", "1.5"};
    for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
        duro_event e;
        cr_assert_eq(decode("TimerFired", ts[i], "{}", &e), DURO_EPROTO,
                     "ts \"%s\" accepted", ts[i]);
    }
}

Test(history, decode_rejects_bad_json)
{
    const char *data[] = {"", "{", "{\"seq\":}", "{} trailing", "{}{}", "nul"};
    for (size_t i = 0; i < sizeof(data) / sizeof(data[0]); i++) {
        duro_event e;
        cr_assert_eq(decode("TimerFired", "1", data[i], &e), DURO_EPROTO,
                     "data \"%s\" accepted", data[i]);
    }
}

Test(history, decode_rejects_non_object_data)
{
    const char *data[] = {"[]", "1", "\"x\"", "null", "true"};
    for (size_t i = 0; i < sizeof(data) / sizeof(data[0]); i++) {
        duro_event e;
        cr_assert_eq(decode("TimerFired", "1", data[i], &e), DURO_EPROTO,
                     "data %s accepted", data[i]);
    }
}

Test(history, decode_error_names_the_event)
{
    duro_event e;
    char err[256];
    const char *s = "TimerFired\n1\n[]";
    cr_assert_eq(duro_event_decode(s, strlen(s), 12, &e, err, sizeof(err)),
                 DURO_EPROTO);
    cr_assert(strstr(err, "12") != NULL, "%s", err);
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
