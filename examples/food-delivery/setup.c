/* setup.c: what the food example needs registered in its namespace: the
 * OrderState search attribute. A thread of the worker registers it, so
 * that `food-worker` alone is enough to run the example; until it has,
 * an order's first workflow task fails ("unknown search attribute") and
 * is retried. A client waits for the worker to set the namespace's layout
 * up (duro:meta), hence the thread: the worker does that once it runs. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "duro/client.h"
#include "duro/log.h"
#include "food.h"

static char redis_url[512];
/* ns: the worker's --namespace, where the attribute must be registered
 * (a client of the default namespace registered it there, and every order
 * of `food-worker --namespace shop` failed its first workflow task). */
static char ns[256];

static void *setup_main(void *arg)
{
    (void)arg;
    for (int attempt = 0; attempt < 30; attempt++) {
        duro_client *c;
        char err[256];
        duro_client_opts o = {.redis_url = redis_url[0] ? redis_url : NULL,
                              .namespace_ = ns[0] ? ns : NULL};
        int rc = duro_client_new_opts(&c, &o, err, sizeof(err));
        if (rc == 0) {
            rc = duro_client_search_attribute_create(c, FOOD_STATE_ATTRIBUTE,
                                                     "Keyword");
            if (rc < 0) snprintf(err, sizeof(err), "%s", duro_client_errstr(c));
            duro_client_free(c);
        }
        if (rc == 0) {
            duro_info("FOOD-SETUP search attribute %s registered",
                      FOOD_STATE_ATTRIBUTE);
            return NULL;
        }
        if (!duro_err_is_transient(rc) && rc != DURO_ENOTFOUND) {
            duro_warn("FOOD-SETUP cannot register %s: %s", FOOD_STATE_ATTRIBUTE,
                      err);
            return NULL;
        }
        struct timespec ts = {1, 0};
        nanosleep(&ts, NULL);
    }
    duro_warn("FOOD-SETUP gave up registering %s", FOOD_STATE_ATTRIBUTE);
    return NULL;
}

void food_setup_start(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--redis") == 0 && i + 1 < argc)
            snprintf(redis_url, sizeof(redis_url), "%s", argv[i + 1]);
        else if (strncmp(argv[i], "--redis=", 8) == 0)
            snprintf(redis_url, sizeof(redis_url), "%s", argv[i] + 8);
        else if (strcmp(argv[i], "--namespace") == 0 && i + 1 < argc)
            snprintf(ns, sizeof(ns), "%s", argv[i + 1]);
        else if (strncmp(argv[i], "--namespace=", 12) == 0)
            snprintf(ns, sizeof(ns), "%s", argv[i] + 12);
    }
    pthread_t t;
    if (pthread_create(&t, NULL, setup_main, NULL) == 0) pthread_detach(t);
}
