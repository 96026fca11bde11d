/* test_cli.c: the real `duro` binary against a live worker. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "duro/json.h"
#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(cli, .init = setup, .fini = duro_test_fini, .timeout = 60);

#define RUN_MS 15000

static int count_substr(const char *s, const char *sub)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, sub)); p += strlen(sub))
        n++;
    return n;
}

Test(cli, start_result_history_describe)
{
    duro_test_spawn(&h, "duro-scheduler", NULL);
    duro_test_spawn(&h, "bench-worker", NULL);
    duro_test_output o;

    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "start", "--workflow-id",
                  "cli-1", "--type", "bench", "--task-queue", "bench",
                  "--input", "{\"activities\":3}", NULL);
    cr_assert_eq(o.exit_code, 0, "start: %s", o.err);
    cr_assert(strstr(o.out, "cli-1"), "start printed: %s", o.out);
    duro_test_output_free(&o);

    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "result", "--workflow-id",
                  "cli-1", "--timeout", "10s", NULL);
    cr_assert_eq(o.exit_code, 0, "result: %s", o.err);
    cr_assert_str_eq(o.out, "{\"done\":3}\n");
    duro_test_output_free(&o);

    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "history",
                  "--workflow-id", "cli-1", NULL);
    cr_assert_eq(o.exit_code, 0, "history: %s", o.err);
    cr_assert_eq(count_substr(o.out, "WorkflowStarted"), 1, "%s", o.out);
    cr_assert_eq(count_substr(o.out, "ActivityScheduled"), 3, "%s", o.out);
    cr_assert_eq(count_substr(o.out, "ActivityCompleted"), 3, "%s", o.out);
    cr_assert_eq(count_substr(o.out, "WorkflowCompleted"), 1, "%s", o.out);
    cr_assert_lt(strstr(o.out, "WorkflowStarted"),
                 strstr(o.out, "WorkflowCompleted"));
    duro_test_output_free(&o);

    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "history",
                  "--workflow-id", "cli-1", "-o", "json", NULL);
    cr_assert_eq(o.exit_code, 0, "history -o json: %s", o.err);
    cJSON *events = cJSON_Parse(o.out);
    cr_assert(cJSON_IsArray(events), "not a JSON array: %s", o.out);
    cr_assert_eq(duro_test_count_events(events, "ActivityCompleted"), 3);
    cJSON_Delete(events);
    duro_test_output_free(&o);

    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "describe",
                  "--workflow-id", "cli-1", "-o", "json", NULL);
    cr_assert_eq(o.exit_code, 0, "describe: %s", o.err);
    cJSON *d = cJSON_Parse(o.out);
    cr_assert(cJSON_IsObject(d), "not a JSON object: %s", o.out);
    static const char *const fields[] = {
        "workflowId", "runId",     "type",         "taskQueue",
        "status",     "startTime", "closeTime",    "historyLength",
        "input",      "result",    "workflowTask", "pendingActivities"};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        cr_assert(cJSON_HasObjectItem(d, fields[i]), "describe lacks %s: %s",
                  fields[i], o.out);
    cr_assert_str_eq(duro_test_str(d, "workflowId"), "cli-1");
    cr_assert_str_eq(duro_test_str(d, "type"), "bench");
    cr_assert_str_eq(duro_test_str(d, "taskQueue"), "bench");
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cr_assert_eq(strlen(duro_test_str(d, "runId")), DURO_UUID_LEN);
    cr_assert_eq(duro_test_num(cJSON_GetObjectItem(d, "result"), "done", 0), 3);
    cr_assert_eq(
        duro_test_num(cJSON_GetObjectItem(d, "input"), "activities", 0), 3);
    cr_assert(cJSON_IsString(cJSON_GetObjectItem(d, "closeTime")));
    cr_assert_eq(
        cJSON_GetArraySize(cJSON_GetObjectItem(d, "pendingActivities")), 0);
    cJSON_Delete(d);
    duro_test_output_free(&o);

    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "describe",
                  "--workflow-id", "cli-1", NULL);
    cr_assert_eq(o.exit_code, 0, "describe (text): %s", o.err);
    cr_assert(strstr(o.out, "COMPLETED"), "%s", o.out);
    duro_test_output_free(&o);

    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "list", "-o", "json",
                  NULL);
    cr_assert_eq(o.exit_code, 0, "list: %s", o.err);
    cr_assert(strstr(o.out, "cli-1"), "%s", o.out);
    duro_test_output_free(&o);
    duro_test_finish(&h);
}

Test(cli, list_on_an_empty_namespace)
{
    duro_test_output o;
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "list", "-o", "json",
                  NULL);
    cr_assert_eq(o.exit_code, 0, "list: %s", o.err);
    cr_assert_str_eq(o.out, "[]\n");
    duro_test_output_free(&o);
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "list", "--status",
                  "COMPLETED", NULL);
    cr_assert_eq(o.exit_code, 0, "list --status: %s", o.err);
    duro_test_output_free(&o);
    duro_test_finish(&h);
}

Test(cli, start_twice_is_refused_while_running)
{
    /* no worker polls "nobody": the workflow stays RUNNING */
    duro_test_output o;
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "start", "--workflow-id",
                  "twice", "--type", "bench", "--task-queue", "nobody", NULL);
    cr_assert_eq(o.exit_code, 0, "first start: %s", o.err);
    duro_test_output_free(&o);
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "start", "--workflow-id",
                  "twice", "--type", "bench", "--task-queue", "nobody", NULL);
    cr_assert_neq(o.exit_code, 0, "second start succeeded: %s", o.out);
    cr_assert(strstr(o.err, "already started"), "stderr: %s", o.err);
    duro_test_output_free(&o);
    duro_test_finish(&h);
}

Test(cli, invalid_json_input_is_a_clear_error)
{
    duro_test_output o;
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "start", "--workflow-id",
                  "badjson", "--type", "bench", "--task-queue", "bench",
                  "--input", "{\"activities\":", NULL);
    cr_assert_neq(o.exit_code, 0, "accepted invalid JSON: %s", o.out);
    cr_assert(strstr(o.err, "JSON"), "stderr does not say JSON: %s", o.err);
    duro_test_output_free(&o);
    /* and nothing was started */
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "describe",
                  "--workflow-id", "badjson", NULL);
    cr_assert_neq(o.exit_code, 0, "describe found it: %s", o.out);
    cr_assert(strstr(o.err, "not found"), "stderr: %s", o.err);
    duro_test_output_free(&o);
    duro_test_finish(&h);
}

/* An --input-file over the payload limit is refused as such, with the
 * limit, not with the size of the part the CLI read of it. */
Test(cli, input_file_over_the_limit_names_the_limit)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/big.json", h.dir);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputc('"', f);
    for (size_t i = 0; i < 3 * DURO_DEFAULT_MAX_PAYLOAD; i++)
        fputc('a', f);
    fputc('"', f);
    cr_assert_eq(fclose(f), 0);
    duro_test_output o;
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "start", "--workflow-id",
                  "big", "--type", "bench", "--task-queue", "bench",
                  "--input-file", path, NULL);
    cr_assert_eq(o.exit_code, 2, "%s%s", o.out, o.err);
    cr_assert(strstr(o.err, "more than 2097152 bytes, the payload limit"),
              "stderr: %s", o.err);
    duro_test_output_free(&o);
    duro_test_run(&h, &o, RUN_MS, "duro", "-o", "json", "workflow", "start",
                  "--workflow-id", "big", "--type", "bench", "--task-queue",
                  "bench", "--input-file", path, NULL);
    cr_assert_eq(o.exit_code, 2, "%s%s", o.out, o.err);
    cr_assert(strstr(o.err, "\"code\":\"PAYLOAD_TOO_LARGE\""), "stderr: %s",
              o.err);
    duro_test_output_free(&o);
    duro_test_finish(&h);
}

Test(cli, unreachable_redis_fails_fast_with_a_clear_message)
{
    char url[64];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", duro_test_free_port());
    duro_test_output o;
    duro_test_run(&h, &o, RUN_MS, "duro", "--redis", url, "workflow",
                  "describe", "--workflow-id", "x", NULL);
    cr_assert(!o.timed_out, "duro hung");
    cr_assert_neq(o.exit_code, 0);
    cr_assert_lt(o.elapsed_ms, 6000, "took %lldms", (long long)o.elapsed_ms);
    cr_assert(strstr(o.err, "cannot connect"), "stderr: %s", o.err);
    duro_test_output_free(&o);

    /* the same through the environment */
    setenv("DURO_REDIS_URL", url, 1);
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "start", "--workflow-id",
                  "x", "--type", "t", "--task-queue", "q", NULL);
    setenv("DURO_REDIS_URL", h.redis_url, 1);
    cr_assert_neq(o.exit_code, 0);
    cr_assert_lt(o.elapsed_ms, 6000, "took %lldms", (long long)o.elapsed_ms);
    cr_assert(strstr(o.err, "cannot connect"), "stderr: %s", o.err);
    cr_assert(strstr(o.err, url + strlen("redis://")), "names the address: %s",
              o.err);
    duro_test_output_free(&o);
    duro_test_finish(&h);
}

/* a --redis or --redis-wait that cannot be right used to exit 1 (a
 * runtime failure) with DURO_REDIS_WAIT named for --redis-wait */
Test(cli, bad_redis_and_redis_wait_flags_are_usage_errors)
{
    duro_test_output o;
    duro_test_run(&h, &o, RUN_MS, "duro", "--redis", "redis://127.0.0.1:70000",
                  "workflow", "describe", "--workflow-id", "x", NULL);
    cr_assert_eq(o.exit_code, 2, "stderr: %s", o.err);
    cr_assert(strstr(o.err, "--redis: bad redis url"), "stderr: %s", o.err);
    duro_test_output_free(&o);

    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "describe",
                  "--workflow-id", "x", "--redis-wait", "two", "-o", "json",
                  NULL);
    cr_assert_eq(o.exit_code, 2, "stderr: %s", o.err);
    cr_assert(strstr(o.err, "\"INVALID_ARGUMENT\""), "stderr: %s", o.err);
    cr_assert(strstr(o.err, "--redis-wait must be 0..64"), "stderr: %s", o.err);
    duro_test_output_free(&o);
    duro_test_finish(&h);
}

/* run_stdout_full runs argv (a NULL-terminated duro command line) with
 * its stdout on /dev/full; its exit status, its stderr in err. */
static int run_stdout_full(char *err, size_t size, const char *const *argv)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/duro", DURO_BIN_DIR);
    int p[2];
    cr_assert_eq(pipe(p), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int full = open("/dev/full", O_WRONLY);
        if (full < 0 || dup2(full, 1) < 0 || dup2(p[1], 2) < 0) _exit(126);
        close(p[0]);
        execv(path, (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < size && (r = read(p[0], err + n, size - n - 1)) > 0)
        n += (size_t)r;
    err[n] = '\0';
    close(p[0]);
    int st = 0;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* an answer that could not be written (a full disk, a closed stdout) used
 * to exit 1 without a word */
Test(cli, an_answer_that_cannot_be_written_says_so)
{
    duro_test_output o;
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "start", "--workflow-id",
                  "full-1", "--type", "t", "--task-queue", "q", NULL);
    cr_assert_eq(o.exit_code, 0, "start: %s", o.err);
    duro_test_output_free(&o);
    char err[4096];
    const char *argv[] = {"duro",          "workflow", "describe",
                          "--workflow-id", "full-1",   NULL};
    cr_assert_eq(run_stdout_full(err, sizeof(err), argv), 1, "stderr: %s", err);
    cr_assert(strstr(err, "cannot write the output: No space left on device"),
              "stderr: %s", err);
    duro_test_finish(&h);
}

/* --timeout 0 used to mean the default for query, update and stack (a
 * query waited 10s) and "for ever" for result */
Test(cli, a_zero_timeout_is_a_usage_error)
{
    const char *verbs[][3] = {{"query", "--name", "q"},
                              {"update", "--name", "u"},
                              {"stack", "--workflow-id", "z"},
                              {"result", "--workflow-id", "z"}};
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        duro_test_output o;
        duro_test_run(&h, &o, RUN_MS, "duro", "workflow", verbs[i][0],
                      "--workflow-id", "z", verbs[i][1], verbs[i][2],
                      "--timeout", "0", NULL);
        cr_assert_eq(o.exit_code, 2, "%s: %s", verbs[i][0], o.err);
        cr_assert(strstr(o.err, "--timeout must be above 0"), "%s: %s",
                  verbs[i][0], o.err);
        duro_test_output_free(&o);
    }
    duro_test_finish(&h);
}

/* `duro server start` used to exit 1 for a wrong --http or a lone
 * --tls-cert (the command line is wrong: 2), and report every failure
 * as UNKNOWN with -o json */
Test(cli, server_start_flag_errors_are_usage_errors)
{
    duro_test_output o;
    duro_test_run(&h, &o, RUN_MS, "duro", "server", "start", "--http",
                  "127.0.0.1:99999", NULL);
    cr_assert_eq(o.exit_code, 2, "%s", o.err);
    cr_assert(strstr(o.err, "--http 127.0.0.1:99999: want HOST:PORT"), "%s",
              o.err);
    duro_test_output_free(&o);

    duro_test_run(&h, &o, RUN_MS, "duro", "server", "start", "--http",
                  "127.0.0.1:0", "--tls-cert", "x.crt", NULL);
    cr_assert_eq(o.exit_code, 2, "%s", o.err);
    cr_assert(strstr(o.err, "--tls-cert and --tls-key go together"), "%s",
              o.err);
    duro_test_output_free(&o);

    char url[64];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", duro_test_free_port());
    duro_test_run(&h, &o, RUN_MS, "duro", "--redis", url, "server", "start",
                  "--http", "127.0.0.1:0", "-o", "json", NULL);
    cr_assert_eq(o.exit_code, 1, "%s", o.err);
    cr_assert(strstr(o.err, "\"code\":\"UNAVAILABLE\""), "%s", o.err);
    duro_test_output_free(&o);
    duro_test_finish(&h);
}
