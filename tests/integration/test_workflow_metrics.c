/* test_workflow_metrics.c: workflow counters by type and status, each
 * counted by the process that made the change (worker: started,
 * completed, failed, canceled; scheduler: timed_out; the process that
 * serves a terminate: terminated), the scheduler's timer kinds as words,
 * and the message when the metrics port is taken. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "duro/metrics.h"
#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(workflow_metrics, .init = setup, .fini = duro_test_fini,
          .timeout = 90);

/* sample: the value of the series `name{labels}` in a scrape, or -1. */
static double sample(const char *body, const char *name, const char *labels)
{
    char key[512];
    snprintf(key, sizeof(key), "\n%s{%s} ", name, labels);
    const char *p = strstr(body, key);
    return p ? strtod(p + strlen(key), NULL) : -1;
}

static pid_t spawn_with_metrics(const char *prog, int *port)
{
    *port = duro_test_free_port();
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", *port);
    pid_t pid = duro_test_spawn(&h, prog, "--metrics-addr", addr, NULL);
    static char body[1 << 16];
    cr_assert(duro_test_wait_until(duro_test_http_get(*port, "/readyz", body,
                                                      sizeof(body)) == 200,
                                   8000),
              "%s never became ready", prog);
    return pid;
}

/* wait_started: the run's first workflow task is committed. */
static void wait_started(duro_client *c, const char *id)
{
    bool ok = false;
    for (int i = 0; i < 500 && !ok; i++) {
        cJSON *hist = duro_test_history(c, id);
        ok = duro_test_count_events(hist, "WorkflowTaskCompleted") > 0;
        cJSON_Delete(hist);
        if (!ok) duro_test_sleep_ms(10);
    }
    cr_assert(ok, "%s never ran its first workflow task", id);
}

static void expect_status(duro_client *c, const char *id, const char *status)
{
    cJSON *d = duro_test_result(c, id, 20000);
    cr_assert_str_eq(duro_test_str(d, "status"), status, "%s", id);
    cJSON_Delete(d);
}

Test(workflow_metrics, started_and_closed_by_type_and_status)
{
    int sport, wport;
    spawn_with_metrics("duro-scheduler", &sport);
    spawn_with_metrics("duro-test-worker", &wport);
    duro_client *c = duro_test_client(&h);

    duro_test_start(c, "ok-1", "activities", "test", "{\"n\":1}", 0);
    duro_test_start(c, "ok-2", "activities", "test", "{\"n\":1}", 0);
    duro_test_start(c, "bad-1", "nonretry", "test", NULL, 0);
    duro_test_start(c, "nap-cancel", "sleep", "test", "{\"ms\":60000}", 0);
    duro_test_start(c, "nap-term", "sleep", "test", "{\"ms\":60000}", 0);
    duro_start_opts o = {.workflow_id = "nap-late",
                         .type = "sleep",
                         .task_queue = "test",
                         .input = "{\"ms\":60000}",
                         .execution_timeout_ms = 700};
    char run[DURO_UUID_LEN + 1];
    cr_assert_eq(duro_client_start(c, &o, run), 0, "%s", duro_client_errstr(c));

    expect_status(c, "ok-1", "COMPLETED");
    expect_status(c, "ok-2", "COMPLETED");
    expect_status(c, "bad-1", "FAILED");
    wait_started(c, "nap-cancel");
    cr_assert_geq(duro_client_cancel(c, "nap-cancel", "test", NULL), 0);
    expect_status(c, "nap-cancel", "CANCELED");
    wait_started(c, "nap-term");
    cr_assert_eq(duro_client_terminate(c, "nap-term", "test"), 0);
    expect_status(c, "nap-term", "TERMINATED");
    expect_status(c, "nap-late", "TIMED_OUT");

    static char body[1 << 20];
    const char *started = "duro_workflows_started_total";
    const char *closed = "duro_workflows_closed_total";
    cr_assert_eq(duro_test_http_get(wport, "/metrics", body, sizeof(body)),
                 200);
    cr_assert_eq(sample(body, started, "type=\"activities\""), 2, "%s", body);
    cr_assert_eq(sample(body, started, "type=\"nonretry\""), 1, "%s", body);
    cr_assert_eq(sample(body, started, "type=\"sleep\""), 3, "%s", body);
    cr_assert_eq(
        sample(body, closed, "type=\"activities\",status=\"completed\""), 2,
        "%s", body);
    cr_assert_eq(sample(body, closed, "type=\"nonretry\",status=\"failed\""), 1,
                 "%s", body);
    cr_assert_eq(sample(body, closed, "type=\"sleep\",status=\"canceled\""), 1,
                 "%s", body);
    cr_assert_null(strstr(body, "status=\"timed_out\""), "%s", body);

    /* the scheduler fired the execution timeout: it counts timed_out */
    cr_assert(
        duro_test_wait_until(
            duro_test_http_get(sport, "/metrics", body, sizeof(body)) == 200 &&
                sample(body, closed, "type=\"sleep\",status=\"timed_out\"") ==
                    1,
            5000),
        "no timed_out count in the scheduler:\n%s", body);
    cr_assert_geq(sample(body, "duro_scheduler_timers_fired_total",
                         "kind=\"execution_timeout\""),
                  1, "%s", body);
    cr_assert_geq(
        sample(body, "duro_scheduler_timers_fired_total", "kind=\"timer\""), 0,
        "every kind is a word, zero from the start:\n%s", body);
    cr_assert_null(strstr(body, "kind=\"x\""), "a kind letter leaks:\n%s",
                   body);

    /* terminate was served by this process: it counted it */
    double terminated = 0;
    cr_assert_eq(duro_metrics_lookup(duro_metrics_default(), closed,
                                     "type=\"sleep\",status=\"terminated\"",
                                     &terminated),
                 0);
    cr_assert_eq(terminated, 1);
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(workflow_metrics, a_taken_metrics_port_is_named_with_the_reason)
{
    /* hold a port the way another server would */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(fd, 4), 0);
    socklen_t len = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    int port = ntohs(a.sin_port);
    char addr[64], expect[128];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    snprintf(expect, sizeof(expect), "port=%d err=Address already in use",
             port);
    static const char *const progs[] = {"duro-test-worker", "duro-scheduler"};
    for (int i = 0; i < 2; i++) {
        duro_test_output o;
        duro_test_run(&h, &o, 10000, progs[i], "--metrics-addr", addr, NULL);
        cr_assert_eq(o.exit_code, 1, "%s: %s", progs[i], o.err);
        cr_assert(strstr(o.err, expect), "%s does not say \"%s\": %s", progs[i],
                  expect, o.err);
        cr_assert(!strstr(o.err, "cannot reach redis"),
                  "%s blames Redis for a taken port: %s", progs[i], o.err);
        duro_test_output_free(&o);
    }
    close(fd);
    duro_test_finish(&h);
}
