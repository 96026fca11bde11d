/* test_worker_opts.c: a program that embeds the worker (duro_worker_new +
 * duro_worker_run, no duro_worker_main) gets every flag's behaviour through
 * duro_worker_opts: the metrics endpoint, the log level, the identity. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "duro/log.h"
#include "duro/worker.h"
#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(worker_opts, .init = setup, .fini = duro_test_fini, .timeout = 60);

static cJSON *echo(duro_wf *wf, const cJSON *input)
{
    return cJSON_Duplicate(input, 1);
}

static void *run_worker(void *arg)
{
    static int rc;
    rc = duro_worker_run(arg);
    return &rc;
}

Test(worker_opts, an_embedded_worker_serves_metrics_from_its_opts)
{
    int port = duro_test_free_port();
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    duro_worker_opts o = {.redis_url = h.redis_url,
                          .task_queue = "embedded",
                          .identity = "embedded-1",
                          .metrics_addr = addr,
                          .log_level = "warn"};
    duro_worker *w;
    cr_assert_eq(duro_worker_new(&w, &o), 0);
    cr_assert_eq(duro_log_get_level(), DURO_LOG_WARN, "opts.log_level");
    cr_assert_eq(duro_worker_register_workflow(w, "echo", echo), 0);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, run_worker, w), 0);

    char body[65536];
    cr_assert(duro_test_wait_until(duro_test_http_get(port, "/readyz", body,
                                                      sizeof(body)) == 200,
                                   5000),
              "the embedded worker never served /readyz on %s", addr);

    /* it works, and the endpoint counts what it did */
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "emb-1", "echo", "embedded", "{\"n\":7}", 0);
    cJSON *wf = NULL;
    cr_assert_eq(duro_client_result(c, "emb-1", 10000, &wf), 0);
    cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(wf, "status")),
                     "COMPLETED");
    cJSON_Delete(wf);
    cr_assert_eq(duro_test_http_get(port, "/metrics", body, sizeof(body)), 200);
    cr_assert(strstr(body, "duro_worker_workflow_tasks_total"),
              "no worker metric in:\n%.2000s", body);

    /* the consumer name is opts.identity: the group of the partition
     * that held the task knows it */
    redisContext *r = duro_test_redis(&h);
    bool seen = false;
    for (int p = 0; p < 16 && !seen; p++) {
        redisReply *rep =
            redisCommand(r, "XINFO CONSUMERS duro:{p%d}:wft:embedded duro", p);
        for (size_t i = 0;
             rep && rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++) {
            redisReply *cons = rep->element[i];
            for (size_t k = 0; k + 1 < cons->elements; k += 2)
                if (!strcmp(cons->element[k]->str, "name"))
                    seen |= !strcmp(cons->element[k + 1]->str, "embedded-1");
        }
        if (rep) freeReplyObject(rep);
    }
    redisFree(r);
    cr_assert(seen, "no consumer named embedded-1");

    duro_worker_stop(w);
    void *rc;
    pthread_join(t, &rc);
    cr_assert_eq(*(int *)rc, 0);
    /* the endpoint lives as long as the run */
    cr_assert_eq(duro_test_http_get(port, "/healthz", body, sizeof(body)), -1);
    duro_worker_free(w);
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(worker_opts, an_unknown_log_level_is_refused)
{
    duro_worker_opts o = {.task_queue = "embedded", .log_level = "loud"};
    duro_worker *w = (duro_worker *)1;
    cr_assert_eq(duro_worker_new(&w, &o), DURO_EINVAL);
    cr_assert_null(w);
    duro_test_finish(&h);
}
