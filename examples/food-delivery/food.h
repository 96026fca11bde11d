/* food.h: the food-delivery example: catalogue, workflow, activities. */
#ifndef FOOD_H
#define FOOD_H

#include "duro/worker.h"

#define FOOD_TASK_QUEUE "durable-food"

#define STATE_CHARGING "Charging card"
#define STATE_PAID "Paid"
#define STATE_PICKED_UP "Picked up"
#define STATE_DELIVERED "Delivered"
#define STATE_REFUNDING "Refunding"

/* food_product: one item of the catalogue. */
typedef struct {
    int id;
    const char *name;
    int price_cents;
} food_product;

/* food_product_lookup: the product with this id, or NULL. */
const food_product *food_product_lookup(int id);

/* food_order: the `order` workflow. */
cJSON *food_order(duro_wf *wf, const cJSON *input);

/* food_register_activities registers chargeCustomer, refundAndNotify and
 * sendPushNotification; they keep their simulated services' state in the
 * worker's Redis. */
void food_register_activities(duro_worker *w);

/* FOOD_STATE_ATTRIBUTE: the Keyword search attribute the order upserts on
 * every state change, so that `duro workflow list --query
 * "WorkflowType='order' AND OrderState='Paid'"` finds the orders waiting
 * for a driver. */
#define FOOD_STATE_ATTRIBUTE "OrderState"

/* food_setup_start registers FOOD_STATE_ATTRIBUTE in the background (the
 * Redis of --redis in argv, else $DURO_REDIS_URL), once the worker has
 * set the namespace up; idempotent (setup.c). */
void food_setup_start(int argc, char **argv);

#endif
