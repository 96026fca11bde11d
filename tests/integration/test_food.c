/* test_food.c: the food-delivery order workflow (examples/food-delivery)
 * end to end: food-worker + duro-scheduler on a throwaway Redis, driven
 * through the client library as a customer app and a driver app would. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define QUEUE "durable-food"
#define RESULT_MS 20000
#define STATE_MS 10000
#define RUN_MS 15000

#define MSG_PICKED_UP "🚗 Order picked up"
#define MSG_DELIVERED "✅ Order delivered!"
#define MSG_NO_DRIVER                                                          \
    "⚠️ No drivers were available to pick up your order. Your payment "    \
    "has "                                                                     \
    "been refunded."
#define MSG_NOT_DELIVERED                                                      \
    "⚠️ Your driver was unable to deliver your order. Your payment has "   \
    "been refunded."
#define MSG_CANCELED                                                           \
    "⚠️ Your order was canceled. Your payment has been refunded."
#define MSG_RATE_PAD_THAI "✍️ Rate your meal. How was the pad thai?"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(food, .init = setup, .fini = duro_test_fini, .timeout = 60);

/* ---- Helpers ---- */

/* wait_up waits until a child has connected to Redis, by when it handles
 * SIGTERM (some tests are over within milliseconds; a SIGTERM during
 * startup is not what they test). */
/* register_order_state: what the example's setup does (scripts/demo; the
 * food-worker does it too, in the background). */
static void register_order_state(void)
{
    duro_client *c = duro_test_client(&h);
    int rc = duro_client_search_attribute_create(c, "OrderState", "Keyword");
    cr_assert_eq(rc, 0, "register OrderState: %s", duro_client_errstr(c));
    duro_client_free(c);
}

/* spawn_food starts a scheduler and one food-worker; returns the worker. */
static pid_t spawn_food(void)
{
    register_order_state();
    pid_t s =
        duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    pid_t w = duro_test_spawn(&h, "food-worker", NULL);
    duro_test_wait_up(&h, s, 5000);
    duro_test_wait_up(&h, w, 5000);
    return w;
}

static void start_order(duro_client *c, const char *id, const char *input)
{
    duro_test_start(c, id, "order", QUEUE, input, 0);
}

static void send_signal(duro_client *c, const char *id, const char *name)
{
    int rc = duro_client_signal(c, id, name, NULL, NULL);
    cr_assert_eq(rc, 0, "signal %s to %s: %s (%s)", name, id, duro_strerror(rc),
                 duro_client_errstr(c));
}

/* get_status asks getStatus; the caller frees the object. */
static cJSON *get_status(duro_client *c, const char *id)
{
    char *text = NULL;
    int rc = duro_client_query(c, id, "getStatus", NULL, 5000, &text);
    cr_assert_eq(rc, 0, "getStatus of %s: %s (%s)", id, duro_strerror(rc),
                 duro_client_errstr(c));
    cJSON *s = cJSON_Parse(text);
    cr_assert(cJSON_IsObject(s), "getStatus answered %s", text);
    free(text);
    return s;
}

/* state_is: getStatus reports `state`. */
static bool state_is(duro_client *c, const char *id, const char *state)
{
    cJSON *s = get_status(c, id);
    bool yes = !strcmp(duro_test_str(s, "state"), state);
    cJSON_Delete(s);
    return yes;
}

/* polled_state_is: as state_is, but a failed query is a "no" (polling
 * starts right after the start, and a query that reaches a worker before
 * the first workflow task has committed fails: see
 * query_right_after_start_answers, which states what it should do). */
static bool polled_state_is(duro_client *c, const char *id, const char *state,
                            char *last, size_t size)
{
    char *text = NULL;
    int rc = duro_client_query(c, id, "getStatus", NULL, 5000, &text);
    if (rc != 0) {
        snprintf(last, size, "error %s (%s)", duro_strerror(rc),
                 duro_client_errstr(c));
        return false;
    }
    snprintf(last, size, "%s", text);
    cJSON *s = cJSON_Parse(text);
    free(text);
    bool yes = !strcmp(duro_test_str(s, "state"), state);
    cJSON_Delete(s);
    return yes;
}

static void wait_state(duro_client *c, const char *id, const char *state)
{
    char last[512] = "";
    bool ok = duro_test_wait_until(
        polled_state_is(c, id, state, last, sizeof(last)), STATE_MS);
    cr_assert(ok, "%s never reached state \"%s\"; last answer: %s", id, state,
              last);
}

/* wft_idle: no workflow task is outstanding for the workflow. */
static bool wft_idle(duro_client *c, const char *id)
{
    cJSON *d = NULL;
    cr_assert_eq(duro_client_describe(c, id, &d), 0, "describe %s", id);
    bool idle = !cJSON_IsTrue(
        cJSON_GetObjectItem(cJSON_GetObjectItem(d, "workflowTask"), "pending"));
    cJSON_Delete(d);
    return idle;
}

/* notifications: the messages of food:notifications:<id>, oldest first. */
static cJSON *notifications(redisContext *r, const char *id)
{
    redisReply *x = redisCommand(r, "XRANGE food:notifications:%s - +", id);
    cr_assert(x && x->type == REDIS_REPLY_ARRAY, "XRANGE: %s",
              x ? x->str : r->errstr);
    cJSON *out = cJSON_CreateArray();
    for (size_t i = 0; i < x->elements; i++) {
        redisReply *fields = x->element[i]->element[1];
        for (size_t k = 0; k + 1 < fields->elements; k += 2)
            if (!strcmp(fields->element[k]->str, "message"))
                cJSON_AddItemToArray(
                    out, cJSON_CreateString(fields->element[k + 1]->str));
    }
    freeReplyObject(x);
    return out;
}

/* assert_notifications: the order's notifications are exactly `want`. */
static void assert_notifications(redisContext *r, const char *id, int n,
                                 const char *const want[])
{
    cJSON *got = notifications(r, id);
    char *p = cJSON_PrintUnformatted(got);
    cr_assert_eq(cJSON_GetArraySize(got), n, "%s: notifications %s", id, p);
    for (int i = 0; i < n; i++)
        cr_assert_str_eq(cJSON_GetArrayItem(got, i)->valuestring, want[i],
                         "%s: notification %d in %s", id, i, p);
    free(p);
    cJSON_Delete(got);
}

/* hlen: fields of food:<what>:<id> (charges or refunds). */
static long long hlen(redisContext *r, const char *what, const char *id)
{
    redisReply *x = redisCommand(r, "HLEN food:%s:%s", what, id);
    cr_assert(x && x->type == REDIS_REPLY_INTEGER);
    long long n = x->integer;
    freeReplyObject(x);
    return n;
}

/* event_index: position of the n-th event of `type` (and signal/activity
 * `name` when not NULL) in the history, or -1. */
static int event_index(const cJSON *hist, const char *type, const char *name,
                       int n)
{
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, hist)
    {
        if (!strcmp(duro_test_str(e, "type"), type) &&
            (!name ||
             !strcmp(duro_test_str(duro_test_event_data(e), "name"), name)) &&
            n-- == 0)
            return i;
        i++;
    }
    return -1;
}

/* activity_seq: seq of the first activity called `name`, or -1. */
static int activity_seq(const cJSON *hist, const char *name)
{
    int i = event_index(hist, "ActivityScheduled", name, 0);
    if (i < 0) return -1;
    return (int)duro_test_num(duro_test_event_data(cJSON_GetArrayItem(hist, i)),
                              "seq", -1);
}

/* activity_outcome: the ActivityCompleted/Failed event of activity seq. */
static const cJSON *activity_outcome(const cJSON *hist, const char *type,
                                     int seq)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, hist)
    {
        if (!strcmp(duro_test_str(e, "type"), type) &&
            (int)duro_test_num(duro_test_event_data(e), "seq", -2) == seq)
            return e;
    }
    return NULL;
}

/* iso_ms parses "YYYY-MM-DDTHH:MM:SS.mmmZ"; -1 when it is not that. */
static int64_t iso_ms(const char *s)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "time", s);
    int64_t ms = duro_test_event_time_ms(e);
    cJSON_Delete(e);
    return ms;
}

static void assert_failed_with(cJSON *d, const char *id, const char *message)
{
    char *p = cJSON_PrintUnformatted(d);
    cr_assert_str_eq(duro_test_str(d, "status"), "FAILED", "%s: %s", id, p);
    cr_assert_str_eq(
        duro_test_str(cJSON_GetObjectItem(d, "failure"), "message"), message,
        "%s: %s", id, p);
    free(p);
}

/* deliver_order walks a started order through pickup and delivery and
 * waits for it to complete. */
static void deliver_order(duro_client *c, const char *id)
{
    wait_state(c, id, "Paid");
    send_signal(c, id, "pickedUp");
    wait_state(c, id, "Picked up");
    send_signal(c, id, "delivered");
    cJSON *d = duro_test_result(c, id, RESULT_MS);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cJSON_Delete(d);
}

static const char *const HAPPY[] = {MSG_PICKED_UP, MSG_DELIVERED,
                                    MSG_RATE_PAD_THAI};

/* ---- The happy path ---- */

Test(food, happy_path_moves_through_the_states_and_completes)
{
    spawn_food();
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    start_order(c, "happy-1",
                "{\"productId\":3,\"pickupTimeout\":\"10s\","
                "\"deliveryTimeout\":\"10s\",\"ratingDelay\":\"200ms\"}");

    wait_state(c, "happy-1", "Paid");
    cJSON *s = get_status(c, "happy-1");
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(s, "deliveredAt")));
    cr_assert_eq(duro_test_num(s, "productId", 0), 3);
    cJSON_Delete(s);
    cr_assert_eq(hlen(r, "charges", "happy-1"), 1);

    send_signal(c, "happy-1", "pickedUp");
    wait_state(c, "happy-1", "Picked up");
    s = get_status(c, "happy-1");
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(s, "deliveredAt")));
    cJSON_Delete(s);

    duro_test_sleep_ms(300); /* the drive to the customer */
    send_signal(c, "happy-1", "delivered");
    wait_state(c, "happy-1", "Delivered");
    s = get_status(c, "happy-1");
    const char *at = duro_test_str(s, "deliveredAt");
    cr_assert_gt(iso_ms(at), 0, "deliveredAt is not ISO-8601: \"%s\"", at);
    cr_assert_eq(duro_test_num(s, "productId", 0), 3);

    cJSON *d = duro_test_result(c, "happy-1", RESULT_MS);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cJSON_Delete(d);
    assert_notifications(r, "happy-1", 3, HAPPY);
    cr_assert_eq(hlen(r, "charges", "happy-1"), 1);
    cr_assert_eq(hlen(r, "refunds", "happy-1"), 0);

    /* deliveredAt is duro_now() in the delivered handler: the workflow
     * clock of the task that applied the signal, i.e. the "now" of the
     * first WorkflowTaskCompleted after the SignalReceived; the driver
     * waited 300ms, so the clock of any earlier task is visibly wrong */
    cJSON *hist = duro_test_history(c, "happy-1");
    int di = event_index(hist, "SignalReceived", "delivered", 0);
    cr_assert_geq(di, 0);
    int64_t signaled = duro_test_event_time_ms(cJSON_GetArrayItem(hist, di));
    int64_t task_now = -1;
    for (int i = di + 1; task_now < 0 && i < cJSON_GetArraySize(hist); i++) {
        const cJSON *ev = cJSON_GetArrayItem(hist, i);
        if (!strcmp(duro_test_str(ev, "type"), "WorkflowTaskCompleted"))
            task_now =
                (int64_t)duro_test_num(duro_test_event_data(ev), "now", -1);
    }
    cr_assert_geq(iso_ms(at), signaled,
                  "deliveredAt %s is %lldms before the delivered signal was "
                  "recorded (the clock of an earlier workflow task)",
                  at, (long long)(signaled - iso_ms(at)));
    cr_assert_eq(iso_ms(at), task_now,
                 "deliveredAt %s is not the now (%lld) of the task that "
                 "applied the signal",
                 at, (long long)task_now);

    /* the only timer that fired is the rating delay (the waits' timers
     * were canceled when their signals came) */
    cr_assert_eq(duro_test_count_events(hist, "TimerFired"), 1);
    int fired = (int)duro_test_num(
        duro_test_event_data(duro_test_find_event(hist, "TimerFired", 0)),
        "seq", -1);
    const cJSON *e, *started = NULL;
    cJSON_ArrayForEach(e, hist)
    {
        if (!strcmp(duro_test_str(e, "type"), "TimerStarted") &&
            (int)duro_test_num(duro_test_event_data(e), "seq", -2) == fired)
            started = e;
    }
    cr_assert(started, "no TimerStarted for timer %d", fired);
    cr_assert_eq(duro_test_num(duro_test_event_data(started), "durationMs", 0),
                 200, "the rating timer is not ratingDelay");
    cJSON_Delete(hist);
    cJSON_Delete(s);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* Reusing an order id starts a new run whose activities must run again:
 * their idempotency keys are scoped to the run, so the second order is
 * charged and notified, not deduplicated against the first. */
Test(food, reused_order_id_charges_and_notifies_again)
{
    spawn_food();
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    const char *input = "{\"productId\":3,\"pickupTimeout\":\"10s\","
                        "\"deliveryTimeout\":\"10s\",\"ratingDelay\":\"50ms\"}";
    start_order(c, "reused-1", input);
    deliver_order(c, "reused-1");
    assert_notifications(r, "reused-1", 3, HAPPY);
    cr_assert_eq(hlen(r, "charges", "reused-1"), 1);

    start_order(c, "reused-1", input);
    deliver_order(c, "reused-1");
    static const char *const TWICE[] = {MSG_PICKED_UP,     MSG_DELIVERED,
                                        MSG_RATE_PAD_THAI, MSG_PICKED_UP,
                                        MSG_DELIVERED,     MSG_RATE_PAD_THAI};
    assert_notifications(r, "reused-1", 6, TWICE);
    cr_assert_eq(hlen(r, "charges", "reused-1"), 2,
                 "the second run of the id was not charged");
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* ---- Timeouts and failures ---- */

Test(food, pickup_timeout_refunds_and_fails)
{
    spawn_food();
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    int64_t t0 = duro_test_mono_ms();
    start_order(c, "nopick-1",
                "{\"productId\":3,\"pickupTimeout\":\"1s\","
                "\"ratingDelay\":\"200ms\"}");
    cJSON *d = duro_test_result(c, "nopick-1", RESULT_MS);
    int64_t took = duro_test_mono_ms() - t0;
    assert_failed_with(d, "nopick-1", "Not picked up in time");
    cJSON_Delete(d);
    cr_assert_geq(took, 1000, "failed after %lldms, before pickupTimeout",
                  (long long)took);
    cr_assert_eq(hlen(r, "charges", "nopick-1"), 1);
    cr_assert_eq(hlen(r, "refunds", "nopick-1"), 1, "refund recorded");
    static const char *const want[] = {MSG_NO_DRIVER};
    assert_notifications(r, "nopick-1", 1, want);
    cr_assert(state_is(c, "nopick-1", "Refunding"));
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(food, delivery_timeout_refunds_and_fails)
{
    spawn_food();
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    start_order(c, "nodeliver-1",
                "{\"productId\":3,\"pickupTimeout\":\"10s\","
                "\"deliveryTimeout\":\"1s\",\"ratingDelay\":\"200ms\"}");
    wait_state(c, "nodeliver-1", "Paid");
    send_signal(c, "nodeliver-1", "pickedUp");
    cJSON *d = duro_test_result(c, "nodeliver-1", RESULT_MS);
    assert_failed_with(d, "nodeliver-1", "Not delivered in time");
    cJSON_Delete(d);
    cr_assert_eq(hlen(r, "charges", "nodeliver-1"), 1);
    cr_assert_eq(hlen(r, "refunds", "nodeliver-1"), 1, "refund recorded");
    static const char *const want[] = {MSG_PICKED_UP, MSG_NOT_DELIVERED};
    assert_notifications(r, "nodeliver-1", 2, want);
    cJSON *s = get_status(c, "nodeliver-1");
    cr_assert_str_eq(duro_test_str(s, "state"), "Refunding");
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(s, "deliveredAt")));
    cJSON_Delete(s);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(food, declined_card_notifies_and_fails_without_charging)
{
    spawn_food();
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    start_order(c, "declined-1", "{\"productId\":3,\"card\":\"declined\"}");
    cJSON *d = duro_test_result(c, "declined-1", RESULT_MS);
    static const char *const want[] = {
        "Failed to charge customer for Pad Thai. Error: Card declined"};
    assert_failed_with(d, "declined-1", want[0]);
    cJSON_Delete(d);
    assert_notifications(r, "declined-1", 1, want);
    cr_assert_eq(hlen(r, "charges", "declined-1"), 0, "a charge was recorded");
    cr_assert_eq(hlen(r, "refunds", "declined-1"), 0);

    cJSON *hist = duro_test_history(c, "declined-1");
    int seq = activity_seq(hist, "chargeCustomer");
    const cJSON *af = activity_outcome(hist, "ActivityFailed", seq);
    cr_assert(af, "no ActivityFailed for chargeCustomer");
    cr_assert_eq(duro_test_num(duro_test_event_data(af), "attempt", 0), 1,
                 "a declined card is not retried");
    cJSON_Delete(hist);
    cr_assert(state_is(c, "declined-1", "Charging card"));
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(food, flaky_card_is_charged_once_on_the_third_attempt)
{
    spawn_food();
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    start_order(c, "flaky-1",
                "{\"productId\":3,\"card\":\"flaky\",\"pickupTimeout\":\"10s\","
                "\"deliveryTimeout\":\"10s\",\"ratingDelay\":\"200ms\"}");
    /* attempts 2 and 3 start 200ms and 400ms after the previous failure */
    wait_state(c, "flaky-1", "Charging card");
    deliver_order(c, "flaky-1");

    cJSON *hist = duro_test_history(c, "flaky-1");
    int seq = activity_seq(hist, "chargeCustomer");
    cr_assert_geq(seq, 0, "chargeCustomer never scheduled");
    const cJSON *done = activity_outcome(hist, "ActivityCompleted", seq);
    cr_assert(done, "no ActivityCompleted for chargeCustomer");
    cr_assert_eq(duro_test_num(duro_test_event_data(done), "attempt", 0), 3);
    cr_assert_null(activity_outcome(hist, "ActivityFailed", seq),
                   "retried attempts are not final");
    cr_assert_eq(event_index(hist, "ActivityScheduled", "chargeCustomer", 1),
                 -1, "chargeCustomer scheduled twice");
    cJSON_Delete(hist);

    cr_assert_eq(hlen(r, "charges", "flaky-1"), 1, "exactly one charge");
    cJSON *desc = NULL;
    cr_assert_eq(duro_client_describe(c, "flaky-1", &desc), 0);
    char key[128];
    snprintf(key, sizeof(key), "flaky-1/%s/%d", duro_test_str(desc, "runId"),
             seq);
    cJSON_Delete(desc);
    redisReply *x = redisCommand(r, "HEXISTS food:charges:flaky-1 %s", key);
    cr_assert(x && x->integer == 1, "the charge is not under key %s", key);
    freeReplyObject(x);
    cr_assert_eq(hlen(r, "refunds", "flaky-1"), 0);
    assert_notifications(r, "flaky-1", 3, HAPPY);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(food, unknown_product_fails)
{
    spawn_food();
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    start_order(c, "noproduct-1", "{\"productId\":99}");
    cJSON *d = duro_test_result(c, "noproduct-1", RESULT_MS);
    assert_failed_with(d, "noproduct-1", "Product 99 not found");
    cJSON_Delete(d);
    cJSON *hist = duro_test_history(c, "noproduct-1");
    cr_assert_eq(duro_test_count_events(hist, "ActivityScheduled"), 0,
                 "nothing is charged or sent");
    cJSON_Delete(hist);
    cr_assert_eq(hlen(r, "charges", "noproduct-1"), 0);
    assert_notifications(r, "noproduct-1", 0, NULL);
    cJSON *s = get_status(c, "noproduct-1");
    cr_assert_eq(duro_test_num(s, "productId", 0), 99);
    cJSON_Delete(s);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* ---- Queries ---- */

Test(food, query_after_completion_answers_from_history)
{
    pid_t worker = spawn_food();
    duro_client *c = duro_test_client(&h);
    start_order(c, "closed-q-1",
                "{\"productId\":3,\"pickupTimeout\":\"10s\","
                "\"deliveryTimeout\":\"10s\",\"ratingDelay\":\"200ms\"}");
    deliver_order(c, "closed-q-1");

    char *first = NULL;
    int rc =
        duro_client_query(c, "closed-q-1", "getStatus", NULL, 5000, &first);
    cr_assert_eq(rc, 0, "%s", duro_client_errstr(c));
    cJSON *s = cJSON_Parse(first);
    cr_assert_str_eq(duro_test_str(s, "state"), "Delivered", "%s", first);
    cr_assert_gt(iso_ms(duro_test_str(s, "deliveredAt")), 0, "%s", first);
    cr_assert_eq(duro_test_num(s, "productId", 0), 3, "%s", first);
    cJSON_Delete(s);

    /* a fresh worker has no cache: it replays the closed run and must
     * arrive at the same answer, deliveredAt included (duro_now is
     * deterministic) */
    duro_test_kill(&h, worker, SIGTERM);
    cr_assert(duro_test_wait_until(!duro_test_alive(&h, worker), 10000),
              "food-worker ignored SIGTERM");
    duro_test_spawn_up(&h, 5000, "food-worker", NULL);
    char *second = NULL;
    rc = duro_client_query(c, "closed-q-1", "getStatus", NULL, 10000, &second);
    cr_assert_eq(rc, 0, "%s", duro_client_errstr(c));
    cr_assert_str_eq(second, first, "replayed answer differs");
    free(first);
    free(second);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* A query right after the start may reach a worker before the first
 * workflow task has committed (history: WorkflowStarted only). getStatus
 * is registered by the first line of the workflow, so the expected answer
 * is the initial state, {"state":"Charging card","deliveredAt":null,
 * "productId":3} (a worker can run the code over the history it has,
 * discarding the commands, as it does for a replay), or at the very least
 * a clear "not ready yet" error; never "unknown query getStatus". */
Test(food, query_right_after_start_answers)
{
    spawn_food();
    duro_client *c = duro_test_client(&h);
    /* no card service answers before the query: the flaky card keeps the
     * order in "Charging card" for >= 600ms */
    start_order(c, "early-q-1", "{\"productId\":3,\"card\":\"flaky\"}");
    char *text = NULL;
    int rc = duro_client_query(c, "early-q-1", "getStatus", NULL, 5000, &text);
    cr_assert_eq(rc, 0, "getStatus right after start: %s (%s)",
                 duro_strerror(rc), duro_client_errstr(c));
    cJSON *s = cJSON_Parse(text);
    cr_assert_str_eq(duro_test_str(s, "state"), "Charging card", "%s", text);
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(s, "deliveredAt")), "%s", text);
    cr_assert_eq(duro_test_num(s, "productId", 0), 3, "%s", text);
    cJSON_Delete(s);
    free(text);
    cr_assert_eq(duro_client_terminate(c, "early-q-1", "test over"), 0);
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(food, unknown_query_lists_getStatus)
{
    spawn_food();
    duro_client *c = duro_test_client(&h);
    start_order(c, "badquery-1", "{\"productId\":3,\"pickupTimeout\":\"30s\"}");
    wait_state(c, "badquery-1", "Paid");
    char *text = NULL;
    int rc = duro_client_query(c, "badquery-1", "getState", NULL, 5000, &text);
    cr_assert_eq(rc, DURO_EINVAL, "rc %d (%s)", rc, duro_client_errstr(c));
    cr_assert_null(text);
    const char *e = duro_client_errstr(c);
    cr_assert(strstr(e, "getState"), "names the query: %s", e);
    cr_assert(strstr(e, "getStatus"), "lists the known ones: %s", e);
    /* the workflow is not disturbed */
    cr_assert(state_is(c, "badquery-1", "Paid"));
    cr_assert_eq(duro_client_terminate(c, "badquery-1", "test over"), 0);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* ---- Signals ---- */

/* Signals sent before the workflow waits for them. The spec's state
 * machine is the blog post's: pickedUp moves Paid -> Picked up, delivered
 * moves Picked up -> Delivered, and a signal in any other state changes
 * nothing (a driver cannot pick up an order that is not paid yet; the app
 * would send it again). So an early signal is not lost but recorded and
 * handed to its handler in history order, where it is a no-op: pickedUp
 * and delivered that land while the card is being charged (the flaky card
 * keeps it charging >= 600ms) sit in the history before the charge's
 * ActivityCompleted, and after the charge the order is Paid, not Picked
 * up or Delivered. Applying them after the charge (out of history order)
 * would show here as a state past Paid. */
Test(food, signals_during_charging_are_recorded_and_applied_in_order)
{
    spawn_food();
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    start_order(c, "early-1",
                "{\"productId\":3,\"card\":\"flaky\",\"pickupTimeout\":\"10s\","
                "\"deliveryTimeout\":\"10s\",\"ratingDelay\":\"200ms\"}");
    send_signal(c, "early-1", "pickedUp");
    send_signal(c, "early-1", "delivered");

    wait_state(c, "early-1", "Paid");
    duro_test_sleep_ms(300);
    cr_assert(state_is(c, "early-1", "Paid"),
              "an early signal was applied after the charge");
    cJSON *hist = duro_test_history(c, "early-1");
    int seq = activity_seq(hist, "chargeCustomer");
    const cJSON *done = activity_outcome(hist, "ActivityCompleted", seq);
    cr_assert(done, "charge not completed but state is Paid");
    int di = -1, i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, hist)
    {
        if (e == done) di = i;
        i++;
    }
    int p = event_index(hist, "SignalReceived", "pickedUp", 0);
    int dl = event_index(hist, "SignalReceived", "delivered", 0);
    cr_assert(p >= 0 && dl > p, "signals missing or out of order (%d, %d)", p,
              dl);
    cr_assert_lt(dl, di, "signals were not recorded while charging");
    cJSON_Delete(hist);

    deliver_order(c, "early-1");
    assert_notifications(r, "early-1", 3, HAPPY);
    hist = duro_test_history(c, "early-1");
    cr_assert_eq(duro_test_count_events(hist, "SignalReceived"), 4);
    cJSON_Delete(hist);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* Signal-with-start: the signal is event 2 of a new run, seen by the first
 * task, which registers the handlers; it is delivered then (a no-op while
 * charging, as above). On a running order the same call just signals. */
Test(food, signal_with_start_then_signal_with_start_on_the_running_order)
{
    spawn_food();
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    duro_start_opts o = {0};
    o.workflow_id = "sws-1";
    o.type = "order";
    o.task_queue = QUEUE;
    o.input = "{\"productId\":2,\"pickupTimeout\":\"10s\","
              "\"deliveryTimeout\":\"10s\",\"ratingDelay\":\"200ms\"}";
    char run1[DURO_UUID_LEN + 1], run2[DURO_UUID_LEN + 1];
    bool started = false;
    int rc =
        duro_client_signal_with_start(c, &o, "pickedUp", NULL, run1, &started);
    cr_assert_eq(rc, 0, "%s", duro_client_errstr(c));
    cr_assert(started);

    wait_state(c, "sws-1", "Paid");
    cJSON *hist = duro_test_history(c, "sws-1");
    cr_assert_str_eq(duro_test_str(cJSON_GetArrayItem(hist, 0), "type"),
                     "WorkflowStarted");
    cr_assert_str_eq(duro_test_str(cJSON_GetArrayItem(hist, 1), "type"),
                     "SignalReceived");
    cr_assert_str_eq(
        duro_test_str(duro_test_event_data(cJSON_GetArrayItem(hist, 1)),
                      "name"),
        "pickedUp");
    cJSON_Delete(hist);

    rc = duro_client_signal_with_start(c, &o, "pickedUp", NULL, run2, &started);
    cr_assert_eq(rc, 0, "%s", duro_client_errstr(c));
    cr_assert_not(started, "started a second run of a running order");
    cr_assert_str_eq(run2, run1);
    wait_state(c, "sws-1", "Picked up");
    send_signal(c, "sws-1", "delivered");
    cJSON *d = duro_test_result(c, "sws-1", RESULT_MS);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cJSON_Delete(d);
    static const char *const want[] = {
        MSG_PICKED_UP, MSG_DELIVERED,
        "✍️ Rate your meal. How was the margherita pizza?"};
    assert_notifications(r, "sws-1", 3, want);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* check_back_to_back: both signals in the history, pickedUp first, and the
 * order completed with the usual notifications. */
static void check_back_to_back(duro_client *c, redisContext *r, const char *id)
{
    cJSON *d = duro_test_result(c, id, RESULT_MS);
    char *p = cJSON_PrintUnformatted(d);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED", "%s: %s", id, p);
    free(p);
    cJSON_Delete(d);
    cJSON *hist = duro_test_history(c, id);
    int pi = event_index(hist, "SignalReceived", "pickedUp", 0);
    int di = event_index(hist, "SignalReceived", "delivered", 0);
    cr_assert(pi >= 0 && di > pi, "%s: signals at %d and %d", id, pi, di);
    cr_assert_eq(duro_test_count_events(hist, "SignalReceived"), 2);
    cJSON_Delete(hist);
    assert_notifications(r, id, 3, HAPPY);
    cr_assert_eq(hlen(r, "charges", id), 1);
    cr_assert_eq(hlen(r, "refunds", id), 0);
}

/* delivered arrives while the task that pickedUp scheduled is outstanding:
 * the worker is stopped (SIGSTOP) so that the task cannot finish first. The
 * signal goes to the buffer and is appended after that task's commit. */
Test(food, signal_while_a_workflow_task_is_outstanding_is_buffered_in_order)
{
    pid_t worker = spawn_food();
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    const char *id = "inflight-1";
    start_order(c, id,
                "{\"productId\":3,\"pickupTimeout\":\"10s\","
                "\"deliveryTimeout\":\"10s\",\"ratingDelay\":\"200ms\"}");
    wait_state(c, id, "Paid");
    cr_assert(duro_test_wait_until(wft_idle(c, id), 5000));

    duro_test_kill(&h, worker, SIGSTOP);
    send_signal(c, id, "pickedUp");
    cr_assert_not(wft_idle(c, id), "pickedUp scheduled no workflow task");
    send_signal(c, id, "delivered");
    cJSON *hist = duro_test_history(c, id);
    cr_assert_eq(event_index(hist, "SignalReceived", "delivered", 0), -1,
                 "delivered reached the history while a task was outstanding");
    cJSON_Delete(hist);
    duro_test_kill(&h, worker, SIGCONT);

    check_back_to_back(c, r, id);
    /* the task that saw pickedUp committed before delivered was appended */
    hist = duro_test_history(c, id);
    int pi = event_index(hist, "SignalReceived", "pickedUp", 0);
    int di = event_index(hist, "SignalReceived", "delivered", 0);
    bool commit_between = false;
    for (int i = pi + 1; i < di; i++)
        if (!strcmp(duro_test_str(cJSON_GetArrayItem(hist, i), "type"),
                    "WorkflowTaskCompleted"))
            commit_between = true;
    cr_assert(commit_between,
              "no task commit between pickedUp (%d) and "
              "delivered (%d)",
              pi, di);
    cJSON_Delete(hist);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* The same without stopping anything: pickedUp and delivered back to back,
 * as a driver app that reports both at once, for a few orders side by side.
 * Whatever the batching (one task or two), delivered must not be lost or
 * applied before pickedUp, and the pickup wait must see the pickup even if
 * the order is already Delivered by the time the code resumes. */
Test(food, back_to_back_signals_complete_the_order)
{
    spawn_food();
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    enum { N = 4 };
    char ids[N][32];
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof(ids[i]), "b2b-%d", i);
        start_order(c, ids[i],
                    "{\"productId\":3,\"pickupTimeout\":\"10s\","
                    "\"deliveryTimeout\":\"10s\",\"ratingDelay\":\"200ms\"}");
    }
    int outstanding = 0;
    for (int i = 0; i < N; i++) {
        wait_state(c, ids[i], "Paid");
        send_signal(c, ids[i], "pickedUp");
        if (i % 2 && !wft_idle(c, ids[i])) outstanding++;
        send_signal(c, ids[i], "delivered");
    }
    cr_log_info("back-to-back: %d of %d checked with a task outstanding",
                outstanding, N / 2);
    for (int i = 0; i < N; i++)
        check_back_to_back(c, r, ids[i]);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(food, signal_to_a_closed_order_is_refused)
{
    spawn_food();
    duro_client *c = duro_test_client(&h);
    start_order(c, "done-1",
                "{\"productId\":3,\"pickupTimeout\":\"10s\","
                "\"deliveryTimeout\":\"10s\",\"ratingDelay\":\"200ms\"}");
    deliver_order(c, "done-1");

    int rc = duro_client_signal(c, "done-1", "delivered", NULL, NULL);
    cr_assert_eq(rc, DURO_ENOTRUNNING, "rc %d (%s)", rc, duro_client_errstr(c));
    const char *e = duro_client_errstr(c);
    cr_assert(strstr(e, "done-1") && strstr(e, "COMPLETED"), "message: %s", e);
    cr_assert(strstr(e, "running"), "message: %s", e);

    duro_test_output o;
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "signal", "--workflow-id",
                  "done-1", "--name", "pickedUp", NULL);
    cr_assert_eq(o.exit_code, 1, "exit %d; stdout %s; stderr %s", o.exit_code,
                 o.out, o.err);
    cr_assert(strstr(o.err, "COMPLETED"), "stderr: %s", o.err);
    cr_assert(strstr(o.err, "signals go only to running workflows"),
              "stderr: %s", o.err);
    duro_test_output_free(&o);

    cJSON *hist = duro_test_history(c, "done-1");
    cr_assert_eq(duro_test_count_events(hist, "SignalReceived"), 2,
                 "a refused signal was recorded");
    cJSON_Delete(hist);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* ---- Cancellation ---- */

Test(food, cancel_during_pickup_wait_refunds_and_closes_canceled)
{
    spawn_food();
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    start_order(c, "cancel-1",
                "{\"productId\":3,\"pickupTimeout\":\"30s\","
                "\"ratingDelay\":\"200ms\"}");
    wait_state(c, "cancel-1", "Paid");
    int64_t t0 = duro_test_mono_ms();
    int rc =
        duro_client_cancel(c, "cancel-1", "customer changed their mind", NULL);
    cr_assert_eq(rc, 0, "cancel: %d (%s)", rc, duro_client_errstr(c));

    cJSON *d = duro_test_result(c, "cancel-1", RESULT_MS);
    int64_t took = duro_test_mono_ms() - t0;
    char *p = cJSON_PrintUnformatted(d);
    cr_assert_str_eq(duro_test_str(d, "status"), "CANCELED", "%s", p);
    free(p);
    cJSON_Delete(d);
    cr_assert_lt(took, 10000, "cancel waited for the pickup timeout (%lldms)",
                 (long long)took);
    cr_assert_eq(hlen(r, "charges", "cancel-1"), 1);
    cr_assert_eq(hlen(r, "refunds", "cancel-1"), 1, "refund recorded");
    static const char *const want[] = {MSG_CANCELED};
    assert_notifications(r, "cancel-1", 1, want);

    cJSON *hist = duro_test_history(c, "cancel-1");
    cr_assert_eq(duro_test_count_events(hist, "CancelRequested"), 1);
    cr_assert_eq(duro_test_count_events(hist, "WorkflowCanceled"), 1);
    int ri = event_index(hist, "ActivityScheduled", "refundAndNotify", 0);
    cr_assert_gt(ri, event_index(hist, "CancelRequested", NULL, 0));
    cJSON_Delete(hist);
    cr_assert(state_is(c, "cancel-1", "Refunding"));

    rc = duro_client_cancel(c, "cancel-1", NULL, NULL);
    cr_assert_eq(rc, DURO_ENOTRUNNING, "second cancel: %d (%s)", rc,
                 duro_client_errstr(c));
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* ---- The OrderState search attribute ---- */

/* count_query: duro_client_count of query. */
static int64_t count_query(duro_client *c, const char *query)
{
    int64_t n = -1;
    int rc = duro_client_count(c, query, &n);
    cr_assert_eq(rc, 0, "count %s: %s", query, duro_client_errstr(c));
    return n;
}

static bool only_in_state(duro_client *c, const char *id, const char *state)
{
    char q[128];
    snprintf(q, sizeof(q), "WorkflowType='order' AND OrderState='%s'", state);
    duro_list_opts o = {.query = q};
    cJSON *rows;
    int rc = duro_client_list_query(c, &o, &rows, NULL);
    cr_assert_eq(rc, 0, "list %s: %s", q, duro_client_errstr(c));
    bool yes =
        cJSON_GetArraySize(rows) == 1 &&
        !strcmp(duro_test_str(cJSON_GetArrayItem(rows, 0), "workflowId"), id);
    cJSON_Delete(rows);
    return yes;
}

Test(food, order_state_is_a_search_attribute_lists_find)
{
    spawn_food();
    duro_client *c = duro_test_client(&h);
    const char *in = "{\"productId\":3,\"pickupTimeout\":\"20s\","
                     "\"deliveryTimeout\":\"20s\",\"ratingDelay\":\"100ms\"}";
    start_order(c, "sa-1", in);
    start_order(c, "sa-2", in);
    const char *paid = "WorkflowType='order' AND OrderState='Paid'";
    cr_assert(duro_test_wait_until(count_query(c, paid) == 2, STATE_MS),
              "two orders wait for a driver: %lld",
              (long long)count_query(c, paid));
    send_signal(c, "sa-1", "pickedUp");
    cr_assert(
        duro_test_wait_until(only_in_state(c, "sa-1", "Picked up"), STATE_MS));
    cr_assert(only_in_state(c, "sa-2", "Paid"));
    send_signal(c, "sa-1", "delivered");
    cJSON *d = duro_test_result(c, "sa-1", RESULT_MS);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cr_assert_str_eq(
        duro_test_str(cJSON_GetObjectItem(d, "searchAttributes"), "OrderState"),
        "Delivered");
    cJSON_Delete(d);
    /* Charging card, Paid, Picked up, Delivered: one event each */
    cJSON *hist = duro_test_history(c, "sa-1");
    cr_assert_eq(duro_test_count_events(hist, "UpsertWorkflowSearchAttributes"),
                 4);
    cJSON_Delete(hist);
    cr_assert_eq(count_query(c, "OrderState='Delivered' AND "
                                "ExecutionStatus='Completed'"),
                 1);
    duro_test_finish(&h);
}

/* ---- On a Redis Cluster ---- */

TestSuite(food_cluster, .fini = duro_test_fini, .timeout = 180);

/* food_node: a connection to the master serving key (asserts). */
static redisContext *food_node(const char *key)
{
    int m = duro_test_cluster_owner(&h, duro_test_cluster_master(&h, -1),
                                    duro_test_key_slot(key));
    cr_assert_geq(m, 0, "no master serves %s", key);
    return duro_test_cluster_redis(&h, m);
}

/* notified: order id has n notifications (read on their master). */
static bool notified(const char *id, int n)
{
    char key[64];
    snprintf(key, sizeof(key), "food:notifications:%s", id);
    redisContext *r = food_node(key);
    cJSON *got = notifications(r, id);
    bool all = cJSON_GetArraySize(got) == n;
    cJSON_Delete(got);
    redisFree(r);
    if (!all) duro_test_sleep_ms(50);
    return all;
}

/* The simulated services follow the cluster too: an order whose charges
 * and notifications live on masters other than the first seed's (where a
 * plain connection would be answered MOVED) is charged once, notified and
 * completed. */
Test(food_cluster, an_order_completes_on_a_cluster)
{
    duro_test_cluster_start(&h, 3, 0, NULL);
    char id[32], key[64];
    for (int n = 0; n < 1000; n++) {
        snprintf(id, sizeof(id), "cl-%d", n);
        snprintf(key, sizeof(key), "food:charges:%s", id);
        int charges = duro_test_key_slot(key);
        snprintf(key, sizeof(key), "food:notifications:%s", id);
        int notes = duro_test_key_slot(key);
        if (duro_test_cluster_owner(&h, 0, charges) != 0 &&
            duro_test_cluster_owner(&h, 0, notes) != 0)
            break;
    }
    pid_t w = spawn_food();
    duro_client *c = duro_test_client(&h);
    start_order(c, id,
                "{\"productId\":3,\"pickupTimeout\":\"10s\","
                "\"deliveryTimeout\":\"10s\",\"ratingDelay\":\"200ms\"}");
    deliver_order(c, id);
    cr_assert(duro_test_wait_until(notified(id, 3), 5000),
              "the rating request never came");
    snprintf(key, sizeof(key), "food:notifications:%s", id);
    redisContext *r = food_node(key);
    assert_notifications(r, id, 3, HAPPY);
    redisFree(r);
    snprintf(key, sizeof(key), "food:charges:%s", id);
    r = food_node(key);
    cr_assert_eq(hlen(r, "charges", id), 1);
    redisFree(r);
    cr_assert_not(duro_test_log_contains(&h, w, "MOVED"));
    cr_assert_not(duro_test_log_contains(&h, w, "CROSSSLOT"));
    duro_client_free(c);
    duro_test_finish(&h);
}

/* `food-worker --namespace shop` (README) registers OrderState in shop,
 * where its orders upsert it: registered in the default namespace
 * instead, every order's first workflow task failed for ever. */
Test(food, worker_in_a_namespace_registers_order_state_there)
{
    duro_client *admin = duro_test_client(&h);
    int rc = duro_client_namespace_create(admin, "shop", 0, NULL);
    cr_assert_eq(rc, 0, "create shop: %s", duro_client_errstr(admin));
    duro_client_free(admin);
    pid_t s =
        duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    pid_t w = duro_test_spawn(&h, "food-worker", "--namespace", "shop", NULL);
    duro_test_wait_up(&h, s, 5000);
    duro_test_wait_up(&h, w, 5000);

    duro_client *c = NULL;
    char err[256];
    duro_client_opts o = {.namespace_ = "shop"};
    rc = duro_client_new_opts(&c, &o, err, sizeof(err));
    cr_assert_eq(rc, 0, "client for shop: %s", err);
    start_order(c, "shop-1",
                "{\"productId\":2,\"pickupTimeout\":\"30s\","
                "\"deliveryTimeout\":\"30s\"}");
    wait_state(c, "shop-1", "Paid");
    duro_client_free(c);
    duro_test_finish(&h);
}
