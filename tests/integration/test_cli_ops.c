/* test_cli_ops.c: the duro command as an operator meets it: `duro dev`
 * leaving nothing behind, `workflow result` saying when no worker polls,
 * JSON errors, `duro health`. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
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

TestSuite(cli_ops, .init = setup, .fini = duro_test_fini, .timeout = 90);

#define RUN_MS 15000

/* ---- duro dev ---- */

/* proc_gone: pid has exited (a zombie counts: it holds no port). */
static bool proc_gone(pid_t pid)
{
    if (kill(pid, 0) != 0) return errno == ESRCH;
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return true;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *close = strrchr(buf, ')'); /* "pid (comm) S ..." */
    return close && close[1] == ' ' && (close[2] == 'Z' || close[2] == 'X');
}

/* read_log_pid: the number after `tag` in the log of child `pid`. */
static pid_t read_log_pid(const char *dir, const char *tag)
{
    char path[PATH_MAX + 32], line[1024];
    snprintf(path, sizeof(path), "%s", dir);
    FILE *f = fopen(path, "r");
    pid_t found = 0;
    while (f && !found && fgets(line, sizeof(line), f)) {
        const char *p = strstr(line, tag);
        if (p) found = (pid_t)strtol(p + strlen(tag), NULL, 10);
    }
    if (f) fclose(f);
    return found;
}

Test(cli_ops, dev_server_dies_with_duro_dev_even_by_sigkill)
{
    char port[16], dir[PATH_MAX + 16];
    snprintf(port, sizeof(port), "%d", duro_test_free_port());
    snprintf(dir, sizeof(dir), "%s/devdata", h.dir);
    pid_t dev =
        duro_test_spawn(&h, "duro", "dev", "--port", port, "--dir", dir, NULL);
    cr_assert(duro_test_wait_until(
                  duro_test_log_contains(&h, dev, "dev server ready"), 10000),
              "duro dev did not come up");
    const char *log = NULL;
    for (int i = 0; i < h.nchildren; i++)
        if (h.children[i].pid == dev) log = h.children[i].log;
    pid_t redis = read_log_pid(log, "redis-server pid ");
    cr_assert_gt(redis, 0, "no redis-server pid in the log");
    cr_assert(!proc_gone(redis), "redis-server %d is not running", (int)redis);

    duro_test_kill(&h, dev, SIGKILL);
    cr_assert(duro_test_wait_until(proc_gone(redis), 5000),
              "redis-server %d outlived duro dev killed by SIGKILL",
              (int)redis);
    /* and the port is free for the next `duro dev` */
    pid_t again =
        duro_test_spawn(&h, "duro", "dev", "--port", port, "--dir", dir, NULL);
    cr_assert(duro_test_wait_until(
                  duro_test_log_contains(&h, again, "dev server ready"), 10000),
              "a second duro dev could not take the port");
    duro_test_finish(&h);
}

/* ---- --status in any case ---- */

/* A second cancel is not an error: the client returns 0 (its promise is 0
 * or a negative code) and says so through already_requested; the CLI
 * reports it as alreadyRequested. No worker runs, so the run stays open. */
Test(cli_ops, cancel_twice_returns_0_and_says_already_requested)
{
    duro_test_output o;
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "start", "-w", "cx-1",
                  "--type", "bench", "--task-queue", "nobody", NULL);
    cr_assert_eq(o.exit_code, 0, "start: %s", o.err);
    duro_test_output_free(&o);
    duro_client *c = duro_test_client(&h);
    bool already = true;
    int rc = duro_client_cancel(c, "cx-1", "first", &already);
    cr_assert_eq(rc, 0, "first cancel: %d (%s)", rc, duro_client_errstr(c));
    cr_assert_not(already);
    rc = duro_client_cancel(c, "cx-1", "second", &already);
    cr_assert_eq(rc, 0, "second cancel: %d (%s)", rc, duro_client_errstr(c));
    cr_assert(already);
    rc = duro_client_cancel(c, "cx-1", NULL, NULL);
    cr_assert_eq(rc, 0, "a NULL out-parameter: %d", rc);
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "cancel", "-w", "cx-1",
                  "-o", "json", NULL);
    cr_assert_eq(o.exit_code, 0, "cli cancel: %s", o.err);
    cr_assert(strstr(o.out, "\"alreadyRequested\": true"), "%s", o.out);
    duro_test_output_free(&o);
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(cli_ops, list_status_accepts_any_case)
{
    duro_test_output o;
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "start", "-w", "st-1",
                  "--type", "bench", "--task-queue", "nobody", NULL);
    cr_assert_eq(o.exit_code, 0, "start: %s", o.err);
    duro_test_output_free(&o);
    static const char *const spellings[] = {"RUNNING", "running", "Running"};
    for (int i = 0; i < 3; i++) {
        duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "list", "--status",
                      spellings[i], "-o", "json", NULL);
        cr_assert_eq(o.exit_code, 0, "--status %s: %s", spellings[i], o.err);
        cr_assert(strstr(o.out, "st-1"), "--status %s: %s", spellings[i],
                  o.out);
        duro_test_output_free(&o);
    }
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "list", "--status",
                  "timed-out", "-o", "json", NULL);
    cr_assert_eq(o.exit_code, 0, "--status timed-out: %s", o.err);
    cr_assert_str_eq(o.out, "[]\n");
    duro_test_output_free(&o);
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "list", "--status",
                  "sleeping", NULL);
    cr_assert_eq(o.exit_code, 2, "an unknown status is a usage error: %s",
                 o.err);
    /* named as the flag the user gave, not as a column of a query */
    cr_assert(strstr(o.err, "--status: \"sleeping\" is not one of RUNNING"),
              "%s", o.err);
    duro_test_output_free(&o);
    duro_test_finish(&h);
}

/* ---- Errors as JSON ---- */

/* json_error: the code of the one JSON error line on stderr (asserts). */
static char *json_error(const duro_test_output *o)
{
    cJSON *j = cJSON_Parse(o->err);
    cr_assert(j, "stderr is not JSON: %s", o->err);
    const cJSON *e = cJSON_GetObjectItem(j, "error");
    const char *code = cJSON_GetStringValue(cJSON_GetObjectItem(e, "code"));
    const char *msg = cJSON_GetStringValue(cJSON_GetObjectItem(e, "message"));
    cr_assert(code && msg && *msg, "no error.code/message: %s", o->err);
    char *c = strdup(code);
    cJSON_Delete(j);
    return c;
}

/* expect_json_error runs `duro <args> -o json` and the same without -o
 * json: the same exit status, and the JSON form carries `code`. */
static void expect_json_error(const char *code, int exit_code,
                              const char *const *args)
{
    char *argv[16] = {0};
    int n = 0;
    for (; args[n] && n < 11; n++)
        argv[n] = (char *)args[n];
    duro_test_output text, json;
    duro_test_run(&h, &text, RUN_MS, "duro", argv[0], argv[1], argv[2], argv[3],
                  argv[4], argv[5], argv[6], argv[7], argv[8], argv[9],
                  argv[10], NULL);
    argv[n++] = "-o";
    argv[n++] = "json";
    duro_test_run(&h, &json, RUN_MS, "duro", argv[0], argv[1], argv[2], argv[3],
                  argv[4], argv[5], argv[6], argv[7], argv[8], argv[9],
                  argv[10], argv[11], argv[12], NULL);
    cr_assert_eq(text.exit_code, exit_code, "%s: %s", args[1], text.err);
    cr_assert_eq(json.exit_code, exit_code, "%s -o json: %s", args[1],
                 json.err);
    cr_assert_eq(json.out[0], '\0', "stdout: %s", json.out);
    char *got = json_error(&json);
    cr_assert_str_eq(got, code, "%s: %s", args[1], json.err);
    free(got);
    duro_test_output_free(&text);
    duro_test_output_free(&json);
}

Test(cli_ops, errors_are_json_with_o_json_and_keep_their_exit_codes)
{
    duro_test_output o;
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "start", "-w", "je-1",
                  "--type", "bench", "--task-queue", "nobody", NULL);
    cr_assert_eq(o.exit_code, 0, "start: %s", o.err);
    duro_test_output_free(&o);

    const char *notfound[] = {"workflow", "describe", "-w", "nope", NULL, NULL,
                              NULL,       NULL,       NULL, NULL,   NULL};
    expect_json_error("NOT_FOUND", 1, notfound);
    const char *twice[] = {
        "workflow",     "start",  "-w", "je-1", "--type", "bench",
        "--task-queue", "nobody", NULL, NULL,   NULL};
    expect_json_error("ALREADY_STARTED", 1, twice);
    const char *badopt[] = {"workflow", "list", "--bogus", NULL, NULL, NULL,
                            NULL,       NULL,   NULL,      NULL, NULL};
    expect_json_error("INVALID_ARGUMENT", 2, badopt);
    const char *badjson[] = {"workflow", "start",   "-w", "je-2",
                             "--type",   "bench",   "-t", "q",
                             "--input",  "{\"a\":", NULL};
    expect_json_error("INVALID_JSON", 2, badjson);
    const char *timeout[] = {"workflow",  "result", "-w", "je-1",
                             "--timeout", "200ms",  NULL, NULL,
                             NULL,        NULL,     NULL};
    expect_json_error("DEADLINE_EXCEEDED", 1, timeout);
    const char *stats[] = {"queue", "stats", "--task-queue", "",   NULL, NULL,
                           NULL,    NULL,    NULL,           NULL, NULL};
    expect_json_error("INVALID_ARGUMENT", 2, stats);

    char url[64];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", duro_test_free_port());
    const char *down[] = {"--redis", url,  "workflow", "describe", "-w", "x",
                          NULL,      NULL, NULL,       NULL,       NULL};
    expect_json_error("UNAVAILABLE", 1, down);
    duro_test_finish(&h);
}

/* ---- workflow result: no worker polls ---- */

static int count_substr(const char *s, const char *sub)
{
    int n = 0;
    for (const char *p = s; s && (p = strstr(p, sub)); p += strlen(sub))
        n++;
    return n;
}

static char *child_log(pid_t pid)
{
    for (int i = 0; i < h.nchildren; i++)
        if (h.children[i].pid == pid) {
            FILE *f = fopen(h.children[i].log, "r");
            if (!f) return strdup("");
            char *buf = calloc(1, 1 << 16);
            size_t n = fread(buf, 1, (1 << 16) - 1, f);
            buf[n] = '\0';
            fclose(f);
            return buf;
        }
    return strdup("");
}

#define NO_WORKER "no worker is polling task queue \"bench\""

Test(cli_ops, result_warns_once_when_no_worker_polls_and_keeps_waiting)
{
    duro_test_output o;
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "start", "-w", "lonely",
                  "--type", "bench", "--task-queue", "bench", "--input",
                  "{\"activities\":1}", NULL);
    cr_assert_eq(o.exit_code, 0, "start: %s", o.err);
    duro_test_output_free(&o);
    setenv("DURO_RESULT_WARN_AFTER", "300ms", 1);
    pid_t waiter =
        duro_test_spawn(&h, "duro", "workflow", "result", "-w", "lonely", NULL);
    unsetenv("DURO_RESULT_WARN_AFTER");
    cr_assert(duro_test_wait_until(
                  duro_test_log_contains(&h, waiter, NO_WORKER), 10000),
              "no warning: %s", child_log(waiter));
    cr_assert(duro_test_alive(&h, waiter), "result gave up after warning");
    /* with -o json the warning is JSON too (killed after 3s: it waits) */
    setenv("DURO_RESULT_WARN_AFTER", "300ms", 1);
    duro_test_run(&h, &o, 3000, "duro", "workflow", "result", "-w", "lonely",
                  "-o", "json", NULL);
    unsetenv("DURO_RESULT_WARN_AFTER");
    cr_assert(o.timed_out, "result -o json returned: %s %s", o.out, o.err);
    cr_assert(strstr(o.err, "{\"warning\":{\"code\":\"NO_WORKER_POLLING\""),
              "%s", o.err);
    duro_test_output_free(&o);

    duro_test_spawn(&h, "bench-worker", NULL);
    cr_assert(duro_test_wait_until(!duro_test_alive(&h, waiter), 15000),
              "result did not return once a worker came");
    char *log = child_log(waiter);
    cr_assert(strstr(log, "{\"done\":1}"), "result: %s", log);
    cr_assert_eq(count_substr(log, NO_WORKER), 1, "warned more than once: %s",
                 log);
    free(log);
    duro_test_finish(&h);
}

/* A run with a priority (or a fairness key, whose bell goes to its
 * level's stream) waits in its level's stream: the warning looks there. */
Test(cli_ops, result_warns_for_a_run_with_a_priority_or_fairness_key)
{
    static const char *const starts[][2] = {{"--priority", "1"},
                                            {"--fairness-key", "tenant-a"}};
    for (int i = 0; i < 2; i++) {
        char id[16];
        snprintf(id, sizeof(id), "lonely-%d", i);
        duro_test_output o;
        duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "start", "-w", id,
                      "--type", "bench", "--task-queue", "bench", starts[i][0],
                      starts[i][1], NULL);
        cr_assert_eq(o.exit_code, 0, "start: %s", o.err);
        duro_test_output_free(&o);
        /* killed after 4s: it waits for ever */
        setenv("DURO_RESULT_WARN_AFTER", "300ms", 1);
        duro_test_run(&h, &o, 4000, "duro", "workflow", "result", "-w", id,
                      NULL);
        unsetenv("DURO_RESULT_WARN_AFTER");
        cr_assert(o.timed_out, "result returned: %s %s", o.out, o.err);
        cr_assert(strstr(o.err, NO_WORKER), "%s %s: no warning: %s",
                  starts[i][0], starts[i][1], o.err);
        duro_test_output_free(&o);
    }
    duro_test_finish(&h);
}

Test(cli_ops, result_does_not_warn_while_a_worker_polls)
{
    duro_test_spawn(&h, "duro-scheduler", NULL);
    duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_test_output o;
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "start", "-w", "napper",
                  "--type", "sleep", "--task-queue", "test", "--input",
                  "{\"ms\":2500}", NULL);
    cr_assert_eq(o.exit_code, 0, "start: %s", o.err);
    duro_test_output_free(&o);
    setenv("DURO_RESULT_WARN_AFTER", "300ms", 1);
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "result", "-w", "napper",
                  NULL);
    unsetenv("DURO_RESULT_WARN_AFTER");
    cr_assert_eq(o.exit_code, 0, "result: %s", o.err);
    cr_assert(!strstr(o.err, "no worker"), "false warning: %s", o.err);
    duro_test_output_free(&o);
    duro_test_finish(&h);
}

/* ---- duro health ---- */

Test(cli_ops, health_answers_for_a_worker_and_fails_on_a_closed_port)
{
    int port = duro_test_free_port();
    char addr[64], url[128];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/readyz", port);
    duro_test_output o;
    /* nothing listens yet */
    duro_test_run(&h, &o, RUN_MS, "duro", "health", "--url", url, NULL);
    cr_assert_eq(o.exit_code, 1, "closed port: %s %s", o.out, o.err);
    cr_assert(strstr(o.err, "refused"), "%s", o.err);
    cr_assert_lt(o.elapsed_ms, 3000);
    duro_test_output_free(&o);

    duro_test_spawn(&h, "bench-worker", "--metrics-addr", addr, NULL);
    cr_assert(
        duro_test_wait_until((duro_test_run(&h, &o, RUN_MS, "duro", "health",
                                            "--url", url, NULL),
                              duro_test_output_free(&o), o.exit_code == 0),
                             8000),
        "duro health never saw the worker ready");
    /* the default URL comes from DURO_METRICS_ADDR, as in the image */
    setenv("DURO_METRICS_ADDR", addr, 1);
    duro_test_run(&h, &o, RUN_MS, "duro", "health", NULL);
    unsetenv("DURO_METRICS_ADDR");
    cr_assert_eq(o.exit_code, 0, "%s", o.err);
    cr_assert(strstr(o.out, "200"), "%s", o.out);
    duro_test_output_free(&o);
    /* any status but 200 is unhealthy */
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/nope", port);
    duro_test_run(&h, &o, RUN_MS, "duro", "health", "--url", url, NULL);
    cr_assert_eq(o.exit_code, 1, "%s", o.out);
    cr_assert(strstr(o.err, "HTTP 404"), "%s", o.err);
    duro_test_output_free(&o);
    duro_test_finish(&h);
}

Test(cli_ops, health_gives_up_on_a_server_that_never_answers)
{
    /* a listener that never accepts: connect succeeds, nothing answers */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(fd, 4), 0);
    socklen_t len = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/readyz", ntohs(a.sin_port));
    duro_test_output o;
    duro_test_run(&h, &o, RUN_MS, "duro", "health", "--url", url, "--timeout",
                  "300ms", NULL);
    cr_assert_eq(o.exit_code, 1, "%s", o.err);
    cr_assert(strstr(o.err, "timed out"), "%s", o.err);
    cr_assert_lt(o.elapsed_ms, 2000, "took %lldms", (long long)o.elapsed_ms);
    duro_test_output_free(&o);
    close(fd);
    duro_test_finish(&h);
}
