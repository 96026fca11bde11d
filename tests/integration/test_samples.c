/* test_samples.c: the samples worker (examples/samples) driven as a user
 * would, through the `duro` CLI, with each sample's contract from the
 * README's "Samples" section. Every sample adds its tests here. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define QUEUE "samples"
#define RESULT_MS 20000

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(samples, .init = setup, .fini = duro_test_fini, .timeout = 90);

/* spawn_samples starts a scheduler and one samples-worker and waits until
 * both have connected; returns the worker's pid. */
static pid_t spawn_samples(void)
{
    pid_t s =
        duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    pid_t w = duro_test_spawn(&h, "samples-worker", NULL);
    cr_assert(
        duro_test_wait_until(duro_test_log_contains(&h, s, "REDIS UP"), 5000));
    cr_assert(
        duro_test_wait_until(duro_test_log_contains(&h, w, "REDIS UP"), 5000));
    return w;
}

/* cli_result runs `duro workflow start ... ; duro workflow result` for one
 * sample and returns the result's stdout (caller frees). */
static char *cli_result(const char *id, const char *type, const char *input)
{
    duro_test_output o;
    duro_test_run(&h, &o, 10000, "duro", "workflow", "start", "--workflow-id",
                  id, "--type", type, "--task-queue", QUEUE, "--input", input,
                  NULL);
    cr_assert_eq(o.exit_code, 0, "start %s: %s", type, o.err);
    duro_test_output_free(&o);
    duro_test_run(&h, &o, RESULT_MS, "duro", "workflow", "result",
                  "--workflow-id", id, NULL);
    cr_assert_eq(o.exit_code, 0, "result %s: %s", type, o.err);
    char *out = strdup(o.out);
    duro_test_output_free(&o);
    return out;
}

Test(samples, echo_returns_its_input)
{
    spawn_samples();
    char *out = cli_result("echo-1", "echo", "{\"hello\":\"world\"}");
    cr_assert(strstr(out, "\"hello\"") && strstr(out, "\"world\""), "%s", out);
    free(out);
}

/* ---- child-parent, child-echo, pinger, ponger ---- */

Test(samples, child_parent_sums_its_children)
{
    spawn_samples();
    char *out =
        cli_result("child-parent-1", "child-parent", "{\"children\":5}");
    cr_assert(strstr(out, "\"sum\"") && strstr(out, "15"), "%s", out);
    free(out);
    /* each child ran once, as a workflow of its own, with {"i": k} */
    duro_test_output o;
    duro_test_run(&h, &o, 10000, "duro", "workflow", "result", "--workflow-id",
                  "child-parent-1/3", NULL);
    cr_assert_eq(o.exit_code, 0, "%s", o.err);
    cr_assert(strstr(o.out, "\"i\"") && strstr(o.out, "3"), "%s", o.out);
    duro_test_output_free(&o);
}

Test(samples, pinger_signals_a_ponger)
{
    spawn_samples();
    duro_test_output o;
    duro_test_run(&h, &o, 10000, "duro", "workflow", "start", "--workflow-id",
                  "ponger-1", "--type", "ponger", "--task-queue", QUEUE,
                  "--input", "null", NULL);
    cr_assert_eq(o.exit_code, 0, "%s", o.err);
    duro_test_output_free(&o);
    char *out = cli_result("pinger-1", "pinger", "{\"target\":\"ponger-1\"}");
    cr_assert(strstr(out, "\"delivered\"") && strstr(out, "true"), "%s", out);
    free(out);
    duro_test_run(&h, &o, RESULT_MS, "duro", "workflow", "result",
                  "--workflow-id", "ponger-1", NULL);
    cr_assert_eq(o.exit_code, 0, "%s", o.err);
    cr_assert(strstr(o.out, "\"pinged\"") && strstr(o.out, "true"), "%s",
              o.out);
    duro_test_output_free(&o);
}

Test(samples, pinger_to_a_missing_workflow_is_not_delivered)
{
    spawn_samples();
    char *out =
        cli_result("pinger-2", "pinger", "{\"target\":\"nobody-here\"}");
    cr_assert(strstr(out, "\"delivered\"") && strstr(out, "false"), "%s", out);
    free(out);
}
