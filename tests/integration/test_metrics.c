/* test_metrics.c: a worker's /metrics, /healthz and /readyz, scraped over
 * HTTP after it ran 100 workflows. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(metrics, .init = setup, .fini = duro_test_fini, .timeout = 60);

/* metric_sum adds up every sample of `name` (all label sets). */
static double metric_sum(const char *text, const char *name)
{
    double sum = 0;
    size_t len = strlen(name);
    for (const char *l = text; l && *l;
         l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, name, len) != 0 || (l[len] != ' ' && l[len] != '{'))
            continue;
        const char *v = strchr(l, ' ');
        const char *nl = strchr(l, '\n');
        if (v && (!nl || v < nl)) sum += strtod(v + 1, NULL);
    }
    return sum;
}

Test(metrics, a_worker_serves_plausible_metrics_after_100_workflows)
{
    int port = duro_test_free_port();
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    pid_t worker =
        duro_test_spawn(&h, "bench-worker", "--metrics-addr", addr, NULL);
    static char body[1 << 20];
    cr_assert(duro_test_wait_until(duro_test_http_get(port, "/readyz", body,
                                                      sizeof(body)) == 200,
                                   5000),
              "/readyz never became ready");
    cr_assert_eq(duro_test_http_get(port, "/healthz", body, sizeof(body)), 200);
    cr_assert_eq(duro_test_http_get(port, "/nope", body, sizeof(body)), 404);

    duro_client *c = duro_test_client(&h);
    char id[32];
    for (int i = 0; i < 100; i++) {
        snprintf(id, sizeof(id), "m-%d", i);
        duro_test_start(c, id, "bench", "bench", "{\"activities\":2}", 0);
    }
    for (int i = 0; i < 100; i++) {
        snprintf(id, sizeof(id), "m-%d", i);
        cJSON *d = duro_test_result(c, id, 20000);
        cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
        cJSON_Delete(d);
    }
    duro_client_free(c);

    /* the worker samples its counters on its loop's tick (500ms) */
    cr_assert(
        duro_test_wait_until(
            (duro_test_http_get(port, "/metrics", body, sizeof(body)) == 200 &&
             metric_sum(body, "duro_worker_activities_total") >= 200),
            5000),
        "activities_total never reached 200:\n%s", body);
    cr_assert_geq(metric_sum(body, "duro_worker_workflow_tasks_total"), 300,
                  "3 workflow tasks per workflow (1 queued + 2 eager)");
    double replays = metric_sum(body, "duro_worker_replays_total");
    cr_assert(replays >= 100 && replays <= 110,
              "about one replay per workflow: %g", replays);
    cr_assert_geq(metric_sum(body, "duro_worker_activity_seconds_count"), 200);
    cr_assert_geq(metric_sum(body, "duro_worker_workflow_task_seconds_count"),
                  1);
    cr_assert_eq(metric_sum(body, "duro_worker_redis_connected"), 4, "%s",
                 body);
    cr_assert_not_null(strstr(body, "duro_build_info{"), "%s", body);
    cr_assert_not_null(
        strstr(body, "# TYPE duro_worker_activity_seconds histogram"));
    cr_assert(duro_test_wait_until((duro_test_http_get(port, "/metrics", body,
                                                       sizeof(body)) == 200 &&
                                    strstr(body, "duro_task_queue_backlog{")),
                                   8000),
              "no backlog gauge (the HPA scales on it):\n%s", body);
    duro_test_kill(&h, worker, SIGTERM);
    duro_test_finish(&h);
}
