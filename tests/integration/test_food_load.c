/* test_food_load.c: the food-delivery acceptance check: 200 concurrent
 * orders on one duro-scheduler and two food-worker processes, each picked
 * up and delivered by signals sent at random moments, interleaved across
 * orders; every order completes with exactly its three notifications, one
 * charge and no refund.
 *
 * The seed of the random delays is printed; DURO_TEST_SEED replays it. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

#define QUEUE "durable-food"
#define ORDERS 200
#define DRIVE_MS 90000    /* all signals sent within this */
#define MAX_DELAY_MS 1500 /* random wait before each signal */
#define CHARGE_POLL_MS 50

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(food_load, .init = setup, .fini = duro_test_fini, .timeout = 120);

/* examples/food-delivery/catalogue.c, names in lower case */
static const char *const PRODUCTS[] = {
    "crispy chicken sandwich", "margherita pizza", "pad thai",
    "veggie burrito",          "caesar salad",     "ramen bowl",
};
#define NPRODUCTS ((int)(sizeof(PRODUCTS) / sizeof(PRODUCTS[0])))

enum { CHARGING, PICKUP_DUE, DELIVERY_DUE, SIGNALED };

typedef struct {
    char id[32];
    int product; /* 1-based */
    int phase;
    int64_t due; /* mono ms of the next action */
} order;

static order orders[ORDERS];

/* charged: the charge's ActivityCompleted is in the history. A pickedUp
 * sent after that is applied after it, in state Paid; one sent earlier
 * would be a no-op by the spec (pickedUp moves only Paid -> Picked up) and
 * the order would time out, so the driver waits for it, as a real driver
 * app waits for "Paid". */
static bool charged(duro_client *c, redisContext *r, const order *o)
{
    redisReply *x = redisCommand(r, "HLEN food:charges:%s", o->id);
    bool recorded = x && x->type == REDIS_REPLY_INTEGER && x->integer > 0;
    freeReplyObject(x);
    if (!recorded) return false;
    cJSON *hist = duro_test_history(c, o->id);
    bool yes = duro_test_count_events(hist, "ActivityCompleted") > 0;
    cJSON_Delete(hist);
    return yes;
}

static void send_signal(duro_client *c, const order *o, const char *name)
{
    int rc = duro_client_signal(c, o->id, name, NULL, NULL);
    cr_assert_eq(rc, 0, "signal %s to %s: %s (%s)", name, o->id,
                 duro_strerror(rc), duro_client_errstr(c));
}

/* random_delay: 0..MAX_DELAY_MS, with one in eight at 0 (back to back). */
static int64_t random_delay(unsigned *seed)
{
    if (rand_r(seed) % 8 == 0) return 0;
    return rand_r(seed) % (MAX_DELAY_MS + 1);
}

/* drive sends every order's signals; returns how many orders got both. */
static int drive(duro_client *c, redisContext *r, unsigned *seed)
{
    int64_t deadline = duro_test_mono_ms() + DRIVE_MS;
    int done = 0;
    while (done < ORDERS && duro_test_mono_ms() < deadline) {
        int64_t now = duro_test_mono_ms();
        for (int i = 0; i < ORDERS; i++) {
            order *o = &orders[i];
            if (o->phase == SIGNALED || o->due > now) continue;
            switch (o->phase) {
            case CHARGING:
                if (charged(c, r, o)) {
                    o->phase = PICKUP_DUE;
                    o->due = now + random_delay(seed);
                } else {
                    o->due = now + CHARGE_POLL_MS;
                }
                break;
            case PICKUP_DUE:
                send_signal(c, o, "pickedUp");
                o->phase = DELIVERY_DUE;
                o->due = now + random_delay(seed);
                break;
            case DELIVERY_DUE:
                send_signal(c, o, "delivered");
                o->phase = SIGNALED;
                done++;
                break;
            }
        }
        duro_test_sleep_ms(2);
    }
    return done;
}

/* check_order: NULL when the order closed as the spec says, else why not
 * (static buffer). */
static const char *check_order(duro_client *c, redisContext *r, const order *o,
                               int64_t timeout_ms)
{
    static char why[1024];
    cJSON *d = NULL;
    int rc = duro_client_result(c, o->id, timeout_ms > 1 ? timeout_ms : 1, &d);
    if (rc != 0) {
        snprintf(why, sizeof(why), "no result: %s (%s)", duro_strerror(rc),
                 duro_client_errstr(c));
        return why;
    }
    bool completed = !strcmp(duro_test_str(d, "status"), "COMPLETED");
    if (!completed) {
        char *p = cJSON_PrintUnformatted(d);
        snprintf(why, sizeof(why), "closed as %s", p);
        free(p);
        cJSON_Delete(d);
        return why;
    }
    cJSON_Delete(d);

    char rate[128];
    snprintf(rate, sizeof(rate), "✍️ Rate your meal. How was the %s?",
             PRODUCTS[o->product - 1]);
    const char *want[] = {"🚗 Order picked up", "✅ Order delivered!", rate};
    redisReply *x = redisCommand(r, "XRANGE food:notifications:%s - +", o->id);
    cr_assert(x && x->type == REDIS_REPLY_ARRAY);
    bool ok = x->elements == 3;
    for (size_t i = 0; ok && i < 3; i++) {
        redisReply *f = x->element[i]->element[1];
        ok = f->elements == 2 && !strcmp(f->element[0]->str, "message") &&
             !strcmp(f->element[1]->str, want[i]);
    }
    if (!ok) {
        int n = snprintf(why, sizeof(why), "notifications:");
        for (size_t i = 0; i < x->elements && n < (int)sizeof(why) - 1; i++) {
            redisReply *f = x->element[i]->element[1];
            n += snprintf(why + n, sizeof(why) - (size_t)n, " [%s]",
                          f->elements >= 2 ? f->element[1]->str : "?");
        }
    }
    freeReplyObject(x);
    if (!ok) return why;

    x = redisCommand(r, "HLEN food:charges:%s", o->id);
    long long charges = x ? x->integer : -1;
    freeReplyObject(x);
    x = redisCommand(r, "EXISTS food:refunds:%s", o->id);
    long long refunds = x ? x->integer : -1;
    freeReplyObject(x);
    if (charges != 1 || refunds != 0) {
        snprintf(why, sizeof(why), "charges=%lld refunds=%lld", charges,
                 refunds);
        return why;
    }
    return NULL;
}

/* count_in_log: lines of a child's log that contain s. */
static int count_in_log(const char *path, const char *s)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[2048];
    int n = 0;
    while (fgets(line, sizeof(line), f))
        if (strstr(line, s)) n++;
    fclose(f);
    return n;
}

Test(food_load, two_hundred_orders_on_two_workers_all_complete)
{
    const char *env = getenv("DURO_TEST_SEED");
    unsigned seed = env && *env ? (unsigned)strtoul(env, NULL, 10)
                                : (unsigned)time(NULL) ^ (unsigned)getpid();
    fprintf(stderr, "food-load: seed=%u (DURO_TEST_SEED replays it)\n", seed);

    /* the example's setup: the order upserts OrderState */
    duro_client *reg = duro_test_client(&h);
    cr_assert_eq(
        duro_client_search_attribute_create(reg, "OrderState", "Keyword"), 0);
    duro_client_free(reg);
    pid_t sched =
        duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    pid_t w1 = duro_test_spawn(&h, "food-worker", NULL);
    pid_t w2 = duro_test_spawn(&h, "food-worker", NULL);
    pid_t all[] = {sched, w1, w2};
    for (int i = 0; i < 3; i++)
        cr_assert(duro_test_wait_until(
                      duro_test_log_contains(&h, all[i], "REDIS UP"), 5000),
                  "a child did not connect to redis");
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);

    int64_t t0 = duro_test_mono_ms();
    for (int i = 0; i < ORDERS; i++) {
        order *o = &orders[i];
        snprintf(o->id, sizeof(o->id), "load-%03d", i);
        o->product = i % NPRODUCTS + 1;
        o->phase = CHARGING;
        o->due = t0;
        char input[256];
        snprintf(input, sizeof(input),
                 "{\"productId\":%d,\"pickupTimeout\":\"30s\","
                 "\"deliveryTimeout\":\"30s\",\"ratingDelay\":\"100ms\"}",
                 o->product);
        duro_test_start(c, o->id, "order", QUEUE, input, 0);
    }

    int signaled = drive(c, r, &seed);
    int64_t deadline = t0 + DRIVE_MS + 15000;
    int completed = 0, shown = 0;
    for (int i = 0; i < ORDERS; i++) {
        const char *why =
            check_order(c, r, &orders[i], deadline - duro_test_mono_ms());
        if (!why) {
            completed++;
        } else if (shown++ < 10) {
            fprintf(stderr, "food-load: %s (phase %d): %s\n", orders[i].id,
                    orders[i].phase, why);
        }
    }
    double wall = (double)(duro_test_mono_ms() - t0) / 1000.0;
    fprintf(stderr, "food-load: orders=%d completed=%d wall=%.1fs\n", ORDERS,
            completed, wall);

    cr_assert_eq(signaled, ORDERS,
                 "only %d orders were charged in time to be "
                 "signaled",
                 signaled);
    cr_assert_eq(completed, ORDERS,
                 "%d of %d orders are not as specified "
                 "(first ones above)",
                 ORDERS - completed, ORDERS);

    /* both workers took part */
    const char *log1 = NULL, *log2 = NULL;
    for (int i = 0; i < h.nchildren; i++) {
        if (h.children[i].pid == w1) log1 = h.children[i].log;
        if (h.children[i].pid == w2) log2 = h.children[i].log;
    }
    int a1 = count_in_log(log1, "ACTIVITY"),
        a2 = count_in_log(log2, "ACTIVITY");
    fprintf(stderr, "food-load: activity log lines worker1=%d worker2=%d\n", a1,
            a2);
    cr_assert(a1 > 0 && a2 > 0, "one worker did all the work (%d, %d)", a1, a2);

    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}
