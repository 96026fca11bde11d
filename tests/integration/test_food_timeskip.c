/* test_food_timeskip.c: the food order (examples/food-delivery) with its
 * real one-minute defaults (pickup timeout, delivery timeout, rating delay)
 * through every branch on the time-skipping test environment
 * (duro/testing.h): delivered and rated, not picked up in time, not
 * delivered in time, canceled. Each branch waits minutes of the workflow's
 * time and takes well under a second of wall time; all_branches runs the
 * four back to back and prints the wall time of the run. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "duro/duration.h"
#include "duro/testing.h"
#include "food.h"
#include "harness.h"

#define MSG_PICKED_UP "🚗 Order picked up"
#define MSG_DELIVERED "✅ Order delivered!"
#define MSG_NO_DRIVER                                                          \
    "⚠️ No drivers were available to pick up your order. Your payment "    \
    "has been refunded."
#define MSG_NOT_DELIVERED                                                      \
    "⚠️ Your driver was unable to deliver your order. Your payment has "   \
    "been refunded."
#define MSG_CANCELED                                                           \
    "⚠️ Your order was canceled. Your payment has been refunded."
#define MSG_RATE_PAD_THAI "✍️ Rate your meal. How was the pad thai?"

/* no timeouts given: the workflow's one-minute defaults */
#define ORDER "{\"productId\":3}"
#define WALL_LIMIT_MS 1000

static duro_testenv *env;
static duro_client *c;
static redisContext *r; /* the simulated services' state */

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void setup(void)
{
    duro_testenv_opts o = {.task_queue = FOOD_TASK_QUEUE};
    cr_assert_eq(duro_testenv_new(&env, &o), 0);
    duro_worker *w = duro_testenv_worker(env);
    duro_worker_register_workflow(w, "order", food_order);
    food_register_activities(w);
    cr_assert_eq(duro_testenv_start(env), 0);
    c = duro_testenv_client(env);
    cr_assert_eq(
        duro_client_search_attribute_create(c, FOOD_STATE_ATTRIBUTE, "Keyword"),
        0, "%s", duro_client_errstr(c));
    int port =
        (int)strtol(strrchr(duro_testenv_redis_url(env), ':') + 1, NULL, 10);
    r = redisConnect("127.0.0.1", port);
    cr_assert(r && !r->err);
}

static void teardown(void)
{
    redisFree(r);
    duro_testenv_free(env);
}

TestSuite(food_timeskip, .init = setup, .fini = teardown, .timeout = 60);

/* ---- Helpers ---- */

static void start_order(const char *id)
{
    duro_start_opts s = {.workflow_id = id,
                         .type = "order",
                         .task_queue = FOOD_TASK_QUEUE,
                         .input = ORDER};
    char run[DURO_UUID_LEN + 1];
    cr_assert_eq(duro_client_start(c, &s, run), 0, "start %s: %s", id,
                 duro_client_errstr(c));
}

static void send_signal(const char *id, const char *name)
{
    int rc = duro_client_signal(c, id, name, NULL, NULL);
    cr_assert_eq(rc, 0, "signal %s to %s: %s", name, id, duro_client_errstr(c));
}

/* state: getStatus's "state", once the order has done all it can. */
static char *state(const char *id)
{
    cr_assert_eq(duro_testenv_settle(env), 0, "%s did not settle", id);
    char *text = NULL;
    int rc = duro_client_query(c, id, "getStatus", NULL, 5000, &text);
    cr_assert_eq(rc, 0, "getStatus of %s: %s", id, duro_client_errstr(c));
    cJSON *s = cJSON_Parse(text);
    free(text);
    char *out = strdup(duro_test_str(s, "state"));
    cJSON_Delete(s);
    return out;
}

static void assert_state(const char *id, const char *want)
{
    char *got = state(id);
    cr_assert_str_eq(got, want, "%s is \"%s\", not \"%s\"", id, got, want);
    free(got);
}

/* result: the closed order's describe object, time skipped to get there. */
static cJSON *result(const char *id, const char *status)
{
    cJSON *d = NULL;
    int rc = duro_testenv_result(env, id, &d);
    cr_assert_eq(rc, 0, "result of %s: %s", id, duro_strerror(rc));
    char *p = cJSON_PrintUnformatted(d);
    cr_assert_str_eq(duro_test_str(d, "status"), status, "%s: %s", id, p);
    free(p);
    return d;
}

static void assert_failure(const cJSON *d, const char *message)
{
    cr_assert_str_eq(
        duro_test_str(cJSON_GetObjectItem(d, "failure"), "message"), message);
}

/* assert_notifications: food:notifications:<id> holds exactly `want`. */
static void assert_notifications(const char *id, int n,
                                 const char *const want[])
{
    redisReply *x = redisCommand(r, "XRANGE food:notifications:%s - +", id);
    cr_assert(x && x->type == REDIS_REPLY_ARRAY);
    cr_assert_eq((int)x->elements, n, "%s: %zu notifications, not %d", id,
                 x->elements, n);
    for (int i = 0; i < n; i++) {
        redisReply *f = x->element[i]->element[1];
        cr_assert_str_eq(f->element[1]->str, want[i], "%s: notification %d", id,
                         i);
    }
    freeReplyObject(x);
}

/* hlen: fields of food:<what>:<id> (charges or refunds). */
static long long hlen(const char *what, const char *id)
{
    redisReply *x = redisCommand(r, "HLEN food:%s:%s", what, id);
    cr_assert(x && x->type == REDIS_REPLY_INTEGER);
    long long n = x->integer;
    freeReplyObject(x);
    return n;
}

/* virtual_ms: how long the run took by the workflow's own clock (its
 * first and last history events). */
static int64_t virtual_ms(const char *id)
{
    cJSON *h = duro_test_history(c, id);
    int n = cJSON_GetArraySize(h);
    int64_t ms = duro_test_event_time_ms(cJSON_GetArrayItem(h, n - 1)) -
                 duro_test_event_time_ms(cJSON_GetArrayItem(h, 0));
    cJSON_Delete(h);
    return ms;
}

/* ---- The branches ---- */

/* delivered: picked up at once, delivered a second before the delivery
 * timeout, asked for a rating after the one-minute rating delay. */
static void delivered(const char *id)
{
    start_order(id);
    assert_state(id, STATE_PAID);
    send_signal(id, "pickedUp");
    assert_state(id, STATE_PICKED_UP);
    cr_assert_eq(duro_testenv_sleep(env, duro_seconds(59)), 0);
    assert_state(id, STATE_PICKED_UP); /* the timeout has not fired */
    send_signal(id, "delivered");
    assert_state(id, STATE_DELIVERED);
    cJSON *d = result(id, "COMPLETED");
    cJSON_Delete(d);
    static const char *const want[] = {MSG_PICKED_UP, MSG_DELIVERED,
                                       MSG_RATE_PAD_THAI};
    assert_notifications(id, 3, want);
    cr_assert_eq(hlen("charges", id), 1);
    cr_assert_eq(hlen("refunds", id), 0);
    int64_t v = virtual_ms(id);
    cr_assert_geq(v, duro_seconds(59) + duro_minutes(1),
                  "%s ran %lldms of its time", id, (long long)v);
}

static void not_picked_up(const char *id)
{
    start_order(id);
    cJSON *d = result(id, "FAILED");
    assert_failure(d, "Not picked up in time");
    cJSON_Delete(d);
    static const char *const want[] = {MSG_NO_DRIVER};
    assert_notifications(id, 1, want);
    cr_assert_eq(hlen("charges", id), 1);
    cr_assert_eq(hlen("refunds", id), 1, "refund recorded");
    cr_assert_geq(virtual_ms(id), duro_minutes(1));
}

static void not_delivered(const char *id)
{
    start_order(id);
    assert_state(id, STATE_PAID);
    cr_assert_eq(duro_testenv_sleep(env, duro_seconds(59)), 0);
    send_signal(id, "pickedUp"); /* a second before the pickup timeout */
    cJSON *d = result(id, "FAILED");
    assert_failure(d, "Not delivered in time");
    cJSON_Delete(d);
    static const char *const want[] = {MSG_PICKED_UP, MSG_NOT_DELIVERED};
    assert_notifications(id, 2, want);
    cr_assert_eq(hlen("refunds", id), 1, "refund recorded");
    cr_assert_geq(virtual_ms(id), duro_seconds(59) + duro_minutes(1));
}

/* canceled: half-way through the pickup wait; the refund follows at once,
 * not at the pickup timeout. */
static void canceled(const char *id)
{
    start_order(id);
    assert_state(id, STATE_PAID);
    cr_assert_eq(duro_testenv_sleep(env, duro_seconds(30)), 0);
    int rc = duro_client_cancel(c, id, "customer changed their mind", NULL);
    cr_assert_eq(rc, 0, "cancel: %s", duro_client_errstr(c));
    cJSON *d = result(id, "CANCELED");
    cJSON_Delete(d);
    static const char *const want[] = {MSG_CANCELED};
    assert_notifications(id, 1, want);
    cr_assert_eq(hlen("refunds", id), 1, "refund recorded");
    int64_t v = virtual_ms(id);
    cr_assert(v >= duro_seconds(30) && v < duro_minutes(1),
              "%s ran %lldms of its time", id, (long long)v);
}

/* ---- Tests ---- */

/* timed runs branch(id) and checks it took less than WALL_LIMIT_MS. */
static void timed(void (*branch)(const char *), const char *id)
{
    int64_t t0 = wall_ms();
    branch(id);
    int64_t took = wall_ms() - t0;
    printf("food timeskip %s: %lldms of wall time\n", id, (long long)took);
    cr_assert_lt(took, WALL_LIMIT_MS, "%s took %lldms", id, (long long)took);
}

Test(food_timeskip, delivered_and_rated)
{
    timed(delivered, "ts-delivered");
}

Test(food_timeskip, not_picked_up_in_time_refunds)
{
    timed(not_picked_up, "ts-nopickup");
}

Test(food_timeskip, not_delivered_in_time_refunds)
{
    timed(not_delivered, "ts-nodelivery");
}

Test(food_timeskip, canceled_while_waiting_for_pickup_refunds)
{
    timed(canceled, "ts-canceled");
}

Test(food_timeskip, all_branches)
{
    int64_t t0 = wall_ms();
    delivered("all-delivered");
    not_picked_up("all-nopickup");
    not_delivered("all-nodelivery");
    canceled("all-canceled");
    int64_t took = wall_ms() - t0;
    printf("food timeskip: every branch in %lldms of wall time\n",
           (long long)took);
    cr_assert_lt(took, WALL_LIMIT_MS, "every branch took %lldms",
                 (long long)took);
}
