/* order.c: the food-delivery order workflow, after Temporal's "Building
 * Reliable Distributed Systems in Node" post, written in C on Duro.
 *
 *   charge card ─▶ Paid ─(pickedUp within pickupTimeout)─▶ Picked up
 *     ─(delivered within deliveryTimeout)─▶ Delivered ─ sleep ratingDelay ─▶
 *     ask for a rating
 *   a timeout on either wait refunds the customer and fails the order.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "duro/clock.h"
#include "food.h"

/* order_state lives in run-owned memory so that getStatus can still read
 * it after the workflow function has returned. */
typedef struct {
    const char *state;
    int64_t delivered_at; /* ms, 0 = not yet */
    int product_id;
} order_state;

static cJSON *get_status(duro_wf *wf, const cJSON *input, void *arg)
{
    const order_state *s = arg;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "state", s->state);
    if (s->delivered_at) {
        char iso[32];
        cJSON_AddStringToObject(
            o, "deliveredAt", duro_iso8601(s->delivered_at, iso, sizeof(iso)));
    } else {
        cJSON_AddNullToObject(o, "deliveredAt");
    }
    cJSON_AddNumberToObject(o, "productId", s->product_id);
    return o;
}

static void on_picked_up(duro_wf *wf, const cJSON *input, void *arg)
{
    order_state *s = arg;
    if (strcmp(s->state, STATE_PAID) == 0) s->state = STATE_PICKED_UP;
}

static void on_delivered(duro_wf *wf, const cJSON *input, void *arg)
{
    order_state *s = arg;
    if (strcmp(s->state, STATE_PICKED_UP) == 0) {
        s->state = STATE_DELIVERED;
        s->delivered_at = duro_now(wf);
    }
}

static bool is_picked_up(void *arg)
{
    return strcmp(((order_state *)arg)->state, STATE_PICKED_UP) == 0;
}

static bool is_delivered(void *arg)
{
    return strcmp(((order_state *)arg)->state, STATE_DELIVERED) == 0;
}

/* set_state moves the order to `state` and upserts it as the OrderState
 * search attribute, so that list queries see where each order is. */
static void set_state(duro_wf *wf, order_state *s, const char *state)
{
    s->state = state;
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, FOOD_STATE_ATTRIBUTE, state);
    duro_upsert_search_attributes(wf, a);
    cJSON_Delete(a);
}

/* notify sends a push notification; its failure does not fail the order. */
static void notify(duro_wf *wf, const char *message)
{
    cJSON *in = cJSON_CreateObject();
    cJSON_AddStringToObject(in, "message", message);
    duro_activity(wf, "sendPushNotification", in, NULL);
    cJSON_Delete(in);
}

static void refund(duro_wf *wf, const food_product *p, const char *message)
{
    cJSON *in = cJSON_CreateObject();
    cJSON_AddNumberToObject(in, "productId", p->id);
    cJSON_AddNumberToObject(in, "amountCents", p->price_cents);
    cJSON_AddStringToObject(in, "message", message);
    duro_activity(wf, "refundAndNotify", in, NULL);
    cJSON_Delete(in);
}

static int64_t duration_or(const cJSON *input, const char *name, int64_t def,
                           bool *bad)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(input, name);
    int64_t ms = def;
    if (v &&
        (!cJSON_IsString(v) || duro_duration_parse(v->valuestring, &ms) != 0))
        *bad = true;
    return ms;
}

cJSON *food_order(duro_wf *wf, const cJSON *input)
{
    order_state *s = duro_alloc(wf, sizeof(*s));
    s->state = STATE_CHARGING;
    duro_on_query(wf, "getStatus", get_status, s);
    duro_on_signal(wf, "pickedUp", on_picked_up, s);
    duro_on_signal(wf, "delivered", on_delivered, s);

    const cJSON *pid = cJSON_GetObjectItemCaseSensitive(input, "productId");
    if (!cJSON_IsNumber(pid))
        return duro_fail(wf, "InvalidInput", "\"productId\" must be a number");
    s->product_id = pid->valueint;
    bool bad = false;
    int64_t pickup = duration_or(input, "pickupTimeout", duro_minutes(1), &bad);
    int64_t delivery =
        duration_or(input, "deliveryTimeout", duro_minutes(1), &bad);
    int64_t rating = duration_or(input, "ratingDelay", duro_minutes(1), &bad);
    if (bad)
        return duro_fail(wf, "InvalidInput",
                         "timeouts must be durations like \"30s\"");
    set_state(wf, s, STATE_CHARGING);
    const food_product *p = food_product_lookup(s->product_id);
    if (!p)
        return duro_fail(wf, "ProductNotFound", "Product %d not found",
                         s->product_id);

    /* the card service is flaky at times: retry soon, but not a declined card
     */
    duro_activity_opts charge_opts = {
        .retry = {.initial_interval_ms = 200,
                  .non_retryable = {"CardDeclined"}}};
    cJSON *charge_in = cJSON_CreateObject();
    cJSON_AddNumberToObject(charge_in, "productId", p->id);
    cJSON_AddNumberToObject(charge_in, "amountCents", p->price_cents);
    const cJSON *card = cJSON_GetObjectItemCaseSensitive(input, "card");
    cJSON_AddStringToObject(charge_in, "card",
                            cJSON_IsString(card) ? card->valuestring : "ok");
    duro_result charged =
        duro_activity(wf, "chargeCustomer", charge_in, &charge_opts);
    cJSON_Delete(charge_in);
    if (charged.canceled)
        return NULL; /* canceled before the card was charged */
    if (!charged.ok) {
        char msg[512];
        snprintf(msg, sizeof(msg),
                 "Failed to charge customer for %s. Error: %s", p->name,
                 charged.error);
        notify(wf, msg);
        return duro_fail(wf, "ChargeFailed", "%s", msg);
    }
    set_state(wf, s, STATE_PAID);

    if (!duro_condition(wf, is_picked_up, s, pickup)) {
        set_state(wf, s, STATE_REFUNDING);
        if (duro_is_canceled(wf)) {
            refund(wf, p,
                   "⚠️ Your order was canceled. Your payment has been "
                   "refunded.");
            return NULL; /* closes as CANCELED */
        }
        refund(wf, p,
               "⚠️ No drivers were available to pick up your order. "
               "Your payment has been refunded.");
        return duro_fail(wf, "NotPickedUp", "Not picked up in time");
    }
    set_state(wf, s, STATE_PICKED_UP); /* the signal handler's state */
    notify(wf, "🚗 Order picked up");

    if (!duro_condition(wf, is_delivered, s, delivery)) {
        set_state(wf, s, STATE_REFUNDING);
        if (duro_is_canceled(wf)) {
            refund(wf, p,
                   "⚠️ Your order was canceled. Your payment has been "
                   "refunded.");
            return NULL;
        }
        refund(wf, p,
               "⚠️ Your driver was unable to deliver your order. "
               "Your payment has been refunded.");
        return duro_fail(wf, "NotDelivered", "Not delivered in time");
    }
    set_state(wf, s, STATE_DELIVERED);
    notify(wf, "✅ Order delivered!");

    duro_sleep(wf, rating);
    char lower[128], msg[256];
    size_t i = 0;
    for (; p->name[i] && i + 1 < sizeof(lower); i++)
        lower[i] = (char)tolower((unsigned char)p->name[i]);
    lower[i] = '\0';
    snprintf(msg, sizeof(msg), "✍️ Rate your meal. How was the %s?", lower);
    notify(wf, msg);
    return NULL;
}
