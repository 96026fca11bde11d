/* activities.c: the outside services of the food-delivery example: a card
 * processor and a push-notification service, simulated in Redis.
 *
 * Activities run at least once, so each uses its idempotency key: a retried
 * charge finds the first one and never charges twice; a notification is
 * appended to food:notifications:<orderId> once per key. They connect to
 * $FOOD_SERVICES_URL (its password from $FOOD_SERVICES_PASSWORD_FILE when
 * set), else to the worker's Redis; on a Redis Cluster through the router
 * of duro/cluster_sync.h (each key on its master).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "duro/cluster_sync.h"
#include "duro/config.h"
#include "duro/redis.h"
#include "food.h"

static duro_worker *worker;
static pthread_key_t conn_key;
static pthread_once_t conn_once = PTHREAD_ONCE_INIT;

static void conn_free(void *c)
{
    duro_cluster_sync_free(c);
}

static void conn_key_init(void)
{
    pthread_key_create(&conn_key, conn_free);
}

/* services_password: $FOOD_SERVICES_PASSWORD_FILE's content (one trailing
 * newline dropped), when set, is the services user's password: the
 * worker's own DURO_REDIS_PASSWORD_FILE belongs to the worker's user, and a
 * file keeps the password out of the process list and the environment. */
static int services_password(duro_redis_url *url, char *err, size_t errsize)
{
    const char *path = duro_env("FOOD_SERVICES_PASSWORD_FILE", NULL);
    if (!path) return 0;
    FILE *f = fopen(path, "r");
    char buf[sizeof(url->password)];
    bool ok = f && fgets(buf, sizeof(buf), f) != NULL;
    if (f) fclose(f);
    buf[ok ? strcspn(buf, "\r\n") : 0] = '\0';
    if (!buf[0]) {
        snprintf(err, errsize, "FOOD_SERVICES_PASSWORD_FILE %.200s: %s", path,
                 ok ? "empty" : "unreadable");
        return -1;
    }
    memcpy(url->password, buf, sizeof(buf));
    memset(buf, 0, sizeof(buf));
    return 0;
}

/* service returns this pool thread's connection to the simulated services,
 * or NULL with a failure recorded on ctx (retryable). */
static duro_cluster_sync *service(duro_actx *ctx)
{
    pthread_once(&conn_once, conn_key_init);
    duro_cluster_sync *c = pthread_getspecific(conn_key);
    if (c && !duro_cluster_sync_broken(c)) return c;
    if (c) duro_cluster_sync_free(c);
    duro_redis_url url;
    char err[256];
    c = NULL;
    /* the services are not Duro: under Redis ACLs they have their own user
     * (the worker role may touch duro: keys only) */
    const char *u = duro_env("FOOD_SERVICES_URL", NULL);
    if (!u) u = duro_worker_redis_url(worker);
    if (duro_redis_url_parse(u, &url, err, sizeof(err)) == 0 &&
        services_password(&url, err, sizeof(err)) == 0)
        duro_cluster_sync_open(&url, 5000, &c, err, sizeof(err));
    pthread_setspecific(conn_key, c);
    if (!c) duro_actx_fail(ctx, "ServiceUnavailable", false, "%s", err);
    return c;
}

/* call runs one command; NULL (with a retryable failure) when it failed. */
static redisReply *call(duro_actx *ctx, duro_cluster_sync *c, int argc,
                        const char **argv)
{
    duro_argv a;
    duro_argv_init(&a);
    for (int i = 0; i < argc; i++)
        duro_argv_push(&a, argv[i]);
    redisReply *r = duro_cluster_sync_call(c, &a);
    duro_argv_free(&a);
    if (!r || r->type == REDIS_REPLY_ERROR) {
        duro_actx_fail(ctx, "ServiceUnavailable", false, "service error: %s",
                       r ? r->str : duro_cluster_sync_errstr(c));
        if (r) freeReplyObject(r);
        return NULL;
    }
    return r;
}

static const char *NOTIFY_ONCE =
    "if redis.call('SET', KEYS[1], '1', 'NX', 'EX', 604800) then "
    "redis.call('XADD', KEYS[2], '*', 'message', ARGV[1]) return 1 end "
    "return 0";

/* push appends message to the order's notification stream once per key.
 * The once key's {tag} is the stream's name: on a Redis Cluster both keys
 * of the script are in the stream's slot. */
static bool push(duro_actx *ctx, const char *key, const char *message)
{
    duro_cluster_sync *c = service(ctx);
    if (!c) return false;
    char once[2300], stream[1100];
    snprintf(stream, sizeof(stream), "food:notifications:%s",
             duro_actx_workflow_id(ctx));
    snprintf(once, sizeof(once), "food:notified:{%s}:%s", stream, key);
    const char *argv[] = {"EVAL", NOTIFY_ONCE, "2", once, stream, message};
    redisReply *r = call(ctx, c, 6, argv);
    if (!r) return false;
    if (r->integer == 1) duro_actx_log(ctx, "NOTIFY \"%s\"", message);
    freeReplyObject(r);
    return true;
}

static cJSON *send_push_notification(duro_actx *ctx, const cJSON *input,
                                     void *arg)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(input, "message");
    if (!cJSON_IsString(m)) {
        duro_actx_fail(ctx, "InvalidInput", true,
                       "\"message\" must be a string");
        return NULL;
    }
    push(ctx, duro_actx_idempotency_key(ctx), m->valuestring);
    return NULL;
}

/* record stores amount under the idempotency key in hash `what`:<order>;
 * the first attempt wins, a retry finds it. */
static bool record(duro_actx *ctx, const char *what, int amount)
{
    duro_cluster_sync *c = service(ctx);
    if (!c) return false;
    char key[1100], value[32];
    snprintf(key, sizeof(key), "food:%s:%s", what, duro_actx_workflow_id(ctx));
    snprintf(value, sizeof(value), "%d", amount);
    const char *argv[] = {"HSETNX", key, duro_actx_idempotency_key(ctx), value};
    redisReply *r = call(ctx, c, 4, argv);
    if (!r) return false;
    if (r->integer == 1)
        duro_actx_log(ctx, "%s amount=%d.%02d", what, amount / 100,
                      amount % 100);
    freeReplyObject(r);
    return true;
}

static cJSON *charge_customer(duro_actx *ctx, const cJSON *input, void *arg)
{
    const cJSON *card = cJSON_GetObjectItemCaseSensitive(input, "card");
    const cJSON *amount =
        cJSON_GetObjectItemCaseSensitive(input, "amountCents");
    const char *kind = cJSON_IsString(card) ? card->valuestring : "ok";
    if (!cJSON_IsNumber(amount)) {
        duro_actx_fail(ctx, "InvalidInput", true,
                       "\"amountCents\" must be a number");
        return NULL;
    }
    if (strcmp(kind, "declined") == 0) {
        duro_actx_fail(ctx, "CardDeclined", true, "Card declined");
        return NULL;
    }
    if (strcmp(kind, "flaky") == 0 && duro_actx_attempt(ctx) <= 2) {
        duro_actx_fail(ctx, "ServiceUnavailable", false,
                       "Payment service temporarily unavailable");
        return NULL;
    }
    if (!record(ctx, "charges", amount->valueint)) return NULL;
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "chargeId", duro_actx_idempotency_key(ctx));
    cJSON_AddNumberToObject(r, "amountCents", amount->valueint);
    return r;
}

static cJSON *refund_and_notify(duro_actx *ctx, const cJSON *input, void *arg)
{
    const cJSON *amount =
        cJSON_GetObjectItemCaseSensitive(input, "amountCents");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(input, "message");
    if (!cJSON_IsNumber(amount) || !cJSON_IsString(m)) {
        duro_actx_fail(ctx, "InvalidInput", true,
                       "needs amountCents and message");
        return NULL;
    }
    if (!record(ctx, "refunds", amount->valueint)) return NULL;
    char key[1200];
    snprintf(key, sizeof(key), "%s/notify", duro_actx_idempotency_key(ctx));
    push(ctx, key, m->valuestring);
    return NULL;
}

void food_register_activities(duro_worker *w)
{
    worker = w;
    duro_worker_register_activity(w, "chargeCustomer", charge_customer, NULL);
    duro_worker_register_activity(w, "refundAndNotify", refund_and_notify,
                                  NULL);
    duro_worker_register_activity(w, "sendPushNotification",
                                  send_push_notification, NULL);
}
