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

/* counter: {"to":N,"every":M} counts to N with a 1ms timer per step and
 * continues as new every M steps; the last run reports how many runs the
 * chain took. */
Test(samples, counter_continues_as_new)
{
    spawn_samples();
    char *out = cli_result("counter-1", "counter", "{\"to\":7,\"every\":2}");
    char flat[256];
    size_t n = 0;
    for (const char *p = out; *p && n + 1 < sizeof(flat); p++)
        if (*p != ' ' && *p != '\n') flat[n++] = *p;
    flat[n] = '\0';
    cr_assert(strstr(flat, "\"count\":7"), "%s", out);
    cr_assert(strstr(flat, "\"runs\":4"), "%s", out);
    free(out);
}
