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

/* ---- accumulator (updates) ---- */

/* cli_update runs `duro workflow update` and returns its output (caller
 * frees with duro_test_output_free); uid may be NULL. */
static void cli_update(duro_test_output *o, const char *id, const char *input,
                       const char *uid)
{
    if (uid)
        duro_test_run(&h, o, 20000, "duro", "workflow", "update",
                      "--workflow-id", id, "--name", "add", "--input", input,
                      "--update-id", uid, NULL);
    else
        duro_test_run(&h, o, 20000, "duro", "workflow", "update",
                      "--workflow-id", id, "--name", "add", "--input", input,
                      NULL);
}

Test(samples, accumulator_adds_through_updates_and_finishes)
{
    spawn_samples();
    duro_test_output o;
    duro_test_run(&h, &o, 10000, "duro", "workflow", "start", "--workflow-id",
                  "acc-1", "--type", "accumulator", "--task-queue", QUEUE,
                  "--input", "null", NULL);
    cr_assert_eq(o.exit_code, 0, "start: %s", o.err);
    duro_test_output_free(&o);
    cli_update(&o, "acc-1", "{\"n\":5}", NULL);
    cr_assert_eq(o.exit_code, 0, "add 5: %s", o.err);
    cr_assert_str_eq(o.out, "5\n");
    duro_test_output_free(&o);
    cli_update(&o, "acc-1", "{\"n\":7}", "add-7");
    cr_assert_eq(o.exit_code, 0, "add 7: %s", o.err);
    cr_assert_str_eq(o.out, "12\n");
    duro_test_output_free(&o);
    /* the same update id again: the recorded outcome, not applied twice */
    cli_update(&o, "acc-1", "{\"n\":7}", "add-7");
    cr_assert_eq(o.exit_code, 0, "add 7 again: %s", o.err);
    cr_assert_str_eq(o.out, "12\n");
    duro_test_output_free(&o);
    /* the validator refuses a negative n: exit 1, its message */
    cli_update(&o, "acc-1", "{\"n\":-3}", NULL);
    cr_assert_eq(o.exit_code, 1, "add -3: %s", o.out);
    cr_assert(strstr(o.err, "negative") && strstr(o.err, "rejected"), "%s",
              o.err);
    duro_test_output_free(&o);
    duro_test_run(&h, &o, 10000, "duro", "workflow", "signal", "--workflow-id",
                  "acc-1", "--name", "finish", NULL);
    cr_assert_eq(o.exit_code, 0, "finish: %s", o.err);
    duro_test_output_free(&o);
    duro_test_run(&h, &o, RESULT_MS, "duro", "workflow", "result",
                  "--workflow-id", "acc-1", NULL);
    cr_assert_eq(o.exit_code, 0, "result: %s", o.err);
    cr_assert(strstr(o.out, "\"total\"") && strstr(o.out, "12"), "%s", o.out);
    duro_test_output_free(&o);
    /* closed: a new update is refused clearly; a recorded one still
     * answers with its outcome */
    cli_update(&o, "acc-1", "{\"n\":1}", NULL);
    cr_assert_neq(o.exit_code, 0);
    cr_assert(strstr(o.err, "COMPLETED") &&
                  strstr(o.err, "updates go only to running workflows"),
              "%s", o.err);
    duro_test_output_free(&o);
    cli_update(&o, "acc-1", "{\"n\":7}", "add-7");
    cr_assert_eq(o.exit_code, 0, "add 7 after close: %s", o.err);
    cr_assert_str_eq(o.out, "12\n");
    duro_test_output_free(&o);
}
