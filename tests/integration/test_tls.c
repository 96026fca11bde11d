/* test_tls.c: Duro over rediss:// against a TLS-only redis-server (the
 * harness generates the CA and certificates): the core scenario through
 * the CLI, a worker reconnecting after the server restarts, and what must
 * be refused, clearly and without a retry storm: an untrusted certificate
 * (wrong CA), a certificate for another name, a missing client
 * certificate under tls-auth-clients yes. DURO_REDIS_TLS_INSECURE=1 skips
 * verification and says so once. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static duro_test_harness h;

TestSuite(tls, .fini = duro_test_fini, .timeout = 90);

/* ---- Helpers ---- */

static void start(const char *auth_clients, const char *server_cert)
{
    duro_test_tls_opts o = {auth_clients, server_cert};
    duro_test_redis_start_tls(&h, &o);
}

static void use_ca(const char *name)
{
    char p[PATH_MAX + 32];
    setenv("DURO_REDIS_TLS_CA", duro_test_tls_file(&h, name, p, sizeof(p)), 1);
}

/* cli runs `duro <args>` (NULL-terminated) into o, with errors as JSON. */
#define cli(o, ...)                                                            \
    duro_test_run(&h, (o), 15000, "duro", "-o", "json", __VA_ARGS__, NULL)

/* run_workflow starts type with input through the CLI and returns the
 * `duro workflow result` output (asserting success). */
static char *run_workflow(const char *id, const char *type, const char *input)
{
    duro_test_output o;
    cli(&o, "workflow", "start", "--type", type, "--task-queue", "test",
        "--workflow-id", id, "--input", input);
    cr_assert_eq(o.exit_code, 0, "start %s: %s", id, o.err);
    duro_test_output_free(&o);
    cli(&o, "workflow", "result", "--workflow-id", id, "--timeout", "12s");
    cr_assert_eq(o.exit_code, 0, "result %s: %s %s", id, o.out, o.err);
    char *out = strdup(o.out);
    duro_test_output_free(&o);
    return out;
}

/* refused runs `duro workflow list` and asserts it fails fast as an
 * authentication failure (PERMISSION_DENIED, the class of WRONGPASS) whose
 * message holds why. */
static void refused(const char *why)
{
    duro_test_output o;
    cli(&o, "workflow", "list");
    cr_assert_neq(o.exit_code, 0, "accepted: %s", o.out);
    cr_assert(!o.timed_out && o.elapsed_ms < 5000, "took %lldms",
              (long long)o.elapsed_ms);
    cr_assert(strstr(o.err, "PERMISSION_DENIED"), "not an auth error: %s",
              o.err);
    cr_assert(strstr(o.err, why), "no \"%s\" in: %s", why, o.err);
    duro_test_output_free(&o);
}

/* lines_with: lines of a child's log that hold needle. */
static int lines_with(pid_t pid, const char *needle)
{
    const duro_test_child *ch = NULL;
    for (int i = 0; i < h.nchildren; i++)
        if (h.children[i].pid == pid) ch = &h.children[i];
    cr_assert(ch);
    FILE *f = fopen(ch->log, "r");
    int n = 0;
    char line[4096];
    while (f && fgets(line, sizeof(line), f))
        n += strstr(line, needle) != NULL;
    if (f) fclose(f);
    return n;
}

/* prog_refused starts a worker or scheduler that must stop by itself, not
 * retry: non-zero exit within 10 s, and its log says why. */
static void prog_refused(const char *prog, const char *why)
{
    pid_t w = duro_test_spawn(&h, prog, NULL);
    int code = duro_test_wait_exit(&h, w, 10000);
    cr_assert_gt(code, 0, "%s did not stop with an error (%d)", prog, code);
    cr_assert(duro_test_log_contains(&h, w, why), "no \"%s\" in the log of %s",
              why, prog);
}

static void worker_refused(const char *why)
{
    prog_refused("duro-test-worker", why);
}

/* ---- Working over TLS ---- */

Test(tls, core_scenario_over_tls)
{
    start(NULL, NULL);
    duro_test_spawn(&h, "duro-scheduler", NULL);
    pid_t w = duro_test_spawn(&h, "duro-test-worker", NULL);
    cr_assert(
        duro_test_wait_until(duro_test_log_contains(&h, w, "REDIS UP"), 5000));
    char *out = run_workflow("tls-acts", "activities", "{\"n\":3}");
    cr_assert(strstr(out, "\"echoed\""), "activities: %s", out);
    free(out);
    /* a durable timer: fired by the scheduler over its own TLS connection */
    out = run_workflow("tls-sleep", "sleep", "{\"ms\":300}");
    cr_assert(strstr(out, "\"after\""), "sleep: %s", out);
    free(out);
    /* and the client library, from this process */
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "tls-lib", "fanout", "test", "{\"n\":4}", 0);
    cJSON *d = duro_test_result(c, "tls-lib", 15000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cr_assert_eq(duro_test_num(cJSON_GetObjectItem(d, "result"), "sum", 0), 10);
    cJSON_Delete(d);
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(tls, worker_reconnects_after_tls_server_restart)
{
    start(NULL, NULL);
    duro_test_spawn(&h, "duro-scheduler", NULL);
    pid_t w = duro_test_spawn(&h, "duro-test-worker", NULL);
    free(run_workflow("before", "activities", "{\"n\":2}"));
    duro_test_redis_restart(&h, SIGTERM, 300, "yes", NULL);
    /* its three connections (commands, workflow and activity tasks) went
     * down and came back over TLS: three REDIS UP lines, then three more */
    cr_assert(duro_test_wait_until(lines_with(w, "REDIS UP") >= 6, 15000),
              "the worker did not reconnect: %d REDIS UP lines",
              lines_with(w, "REDIS UP"));
    cr_assert_gt(lines_with(w, "REDIS DOWN"), 0);
    char *out = run_workflow("after", "sleep", "{\"ms\":200}");
    cr_assert(strstr(out, "\"after\""), "%s", out);
    free(out);
    out = run_workflow("after-acts", "activities", "{\"n\":2}");
    cr_assert(strstr(out, "\"echoed\""), "%s", out);
    free(out);
    cr_assert(duro_test_alive(&h, w));
    duro_test_finish(&h);
}

/* ---- Refused: untrusted, wrong name, no client certificate ---- */

Test(tls, wrong_ca_is_refused_without_retry_storm)
{
    start(NULL, NULL);
    use_ca("other-ca.crt");
    refused("certificate verify failed");
    worker_refused("certificate verify failed");
    prog_refused("duro-scheduler", "certificate verify failed");
    /* A worker that is up when the server comes back with a certificate
     * its CA did not sign: its connections refuse it and stop (one REDIS
     * FATAL each), the worker exits; nothing retries. */
    use_ca("ca.crt");
    pid_t w = duro_test_spawn(&h, "duro-test-worker", NULL);
    cr_assert(
        duro_test_wait_until(duro_test_log_contains(&h, w, "REDIS UP"), 5000));
    strcpy(h.tls_server, "foreign");
    duro_test_redis_restart(&h, SIGTERM, 100, "no", NULL);
    int code = duro_test_wait_exit(&h, w, 15000);
    cr_assert_gt(code, 0, "the worker kept going (%d)", code);
    int fatal = lines_with(w, "REDIS FATAL name=");
    cr_assert(fatal >= 1 && fatal <= 3, "%d REDIS FATAL lines", fatal);
    cr_assert_leq(lines_with(w, "certificate verify failed"), 4,
                  "the refusal was logged again and again");
    duro_test_finish(&h);
}

Test(tls, host_name_mismatch_is_refused)
{
    start(NULL, "other-name"); /* a valid certificate, for other.example */
    refused("IP address mismatch");
    setenv("DURO_REDIS_TLS_SERVER_NAME", "localhost", 1);
    refused("hostname mismatch");
    worker_refused("hostname mismatch");
    /* the name it does hold, given explicitly: accepted */
    setenv("DURO_REDIS_TLS_SERVER_NAME", "other.example", 1);
    duro_test_output o;
    cli(&o, "workflow", "list");
    cr_assert_eq(o.exit_code, 0, "%s", o.err);
    duro_test_output_free(&o);
    duro_test_finish(&h);
}

Test(tls, mutual_tls_with_and_without_a_client_certificate)
{
    start("yes", NULL);
    duro_test_spawn(&h, "duro-scheduler", NULL);
    pid_t w = duro_test_spawn(&h, "duro-test-worker", NULL);
    char *out = run_workflow("mtls", "sleep", "{\"ms\":100}");
    cr_assert(strstr(out, "\"after\""), "%s", out);
    free(out);
    cr_assert(duro_test_alive(&h, w));
    unsetenv("DURO_REDIS_TLS_CERT");
    unsetenv("DURO_REDIS_TLS_KEY");
    refused("client certificate");
    worker_refused("client certificate");
    duro_test_finish(&h);
}

Test(tls, insecure_skips_verification_and_says_so_once)
{
    start(NULL, NULL);
    use_ca("other-ca.crt"); /* verification would fail */
    setenv("DURO_REDIS_TLS_INSECURE", "1", 1);
    duro_test_output o;
    cli(&o, "workflow", "list");
    cr_assert_eq(o.exit_code, 0, "%s", o.err);
    const char *first = strstr(o.err, "TLS INSECURE");
    cr_assert(first, "no warning: %s", o.err);
    cr_assert_null(strstr(first + 1, "TLS INSECURE"), "warned twice: %s",
                   o.err);
    duro_test_output_free(&o);
    setenv("DURO_REDIS_TLS_INSECURE", "0", 1);
    refused("certificate verify failed");
    duro_test_finish(&h);
}

/* ---- duro dev --tls ---- */

Test(tls, duro_dev_tls_runs_a_workflow_with_its_generated_ca)
{
    start(NULL, NULL); /* for its temp dir; the dev server is another */
    char port[16], dir[PATH_MAX + 16], ca[PATH_MAX + 32], url[64];
    int p = duro_test_free_port();
    snprintf(port, sizeof(port), "%d", p);
    snprintf(dir, sizeof(dir), "%s/dev", h.dir);
    pid_t dev = duro_test_spawn(&h, "duro", "dev", "--tls", "--port", port,
                                "--dir", dir, NULL);
    cr_assert(duro_test_wait_until(
                  duro_test_log_contains(&h, dev, "dev server ready"), 10000),
              "duro dev --tls did not come up");
    snprintf(url, sizeof(url), "rediss://127.0.0.1:%d", p);
    cr_assert(duro_test_log_contains(&h, dev, url), "not announced: %s", url);
    /* what it prints: the CA is enough (a client certificate is optional) */
    snprintf(ca, sizeof(ca), "%s/tls/ca.crt", dir);
    setenv("DURO_REDIS_URL", url, 1);
    setenv("DURO_REDIS_TLS_CA", ca, 1);
    unsetenv("DURO_REDIS_TLS_CERT");
    unsetenv("DURO_REDIS_TLS_KEY");
    duro_test_spawn(&h, "duro-test-worker", NULL);
    /* the timer is fired by the scheduler inside duro dev */
    char *out = run_workflow("dev-tls", "sleep", "{\"ms\":200}");
    cr_assert(strstr(out, "\"after\""), "%s", out);
    free(out);
    duro_test_finish(&h);
}

/* rediss:// to a port without TLS (here one that accepts and never
 * answers, as a plain Redis does a ClientHello) and redis:// to a TLS
 * port used to say only "TLS handshake timed out" and "Connection reset
 * by peer" */
Test(tls, the_wrong_scheme_for_a_port_says_which_to_use)
{
    start(NULL, NULL);
    use_ca("ca.crt");
    char url[64];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", h.redis_port);
    duro_test_output o;
    duro_test_run(&h, &o, 15000, "duro", "--redis", url, "workflow", "list",
                  NULL);
    cr_assert_eq(o.exit_code, 1, "%s", o.err);
    cr_assert(strstr(o.err, "if that port speaks TLS, use rediss://"), "%s",
              o.err);
    duro_test_output_free(&o);

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, len), 0);
    cr_assert_eq(listen(fd, 4), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    snprintf(url, sizeof(url), "rediss://127.0.0.1:%d", ntohs(a.sin_port));
    duro_test_run(&h, &o, 15000, "duro", "--redis", url, "workflow", "list",
                  NULL);
    close(fd);
    cr_assert(!o.timed_out, "duro hung");
    cr_assert_eq(o.exit_code, 1, "%s", o.err);
    cr_assert(strstr(o.err, "no TLS answer (a port without TLS? then use "
                            "redis://)"),
              "%s", o.err);
    duro_test_output_free(&o);
    duro_test_finish(&h);
}
