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

/* ---- trip: the saga helper ---- */

/* cli_outcome starts a sample through the CLI and returns `duro workflow
 * result`'s stdout (caller frees), its exit code in *exit_code. */
static char *cli_outcome(const char *id, const char *type, const char *input,
                         int *exit_code)
{
    duro_test_output o;
    duro_test_run(&h, &o, 10000, "duro", "workflow", "start", "--workflow-id",
                  id, "--type", type, "--task-queue", QUEUE, "--input", input,
                  NULL);
    cr_assert_eq(o.exit_code, 0, "start %s: %s", type, o.err);
    duro_test_output_free(&o);
    duro_test_run(&h, &o, RESULT_MS, "duro", "workflow", "result",
                  "--workflow-id", id, NULL);
    *exit_code = o.exit_code;
    char *out = strdup(o.out);
    duro_test_output_free(&o);
    return out;
}

/* scheduled_names: the names of id's ActivityScheduled events, in history
 * order, joined with ",". */
static void scheduled_names(const char *id, char *buf, size_t size)
{
    duro_client *c = duro_test_client(&h);
    cJSON *hist = duro_test_history(c, id);
    buf[0] = '\0';
    const cJSON *e;
    for (int i = 0; (e = duro_test_find_event(hist, "ActivityScheduled", i));
         i++) {
        const char *name = duro_test_str(duro_test_event_data(e), "name");
        size_t n = strlen(buf);
        snprintf(buf + n, size - n, "%s%s", n ? "," : "", name);
    }
    cJSON_Delete(hist);
    duro_client_free(c);
}

Test(samples, trip_books_all_three_when_nothing_fails)
{
    spawn_samples();
    char *out = cli_result("trip-ok", "trip", "{\"fail\":null}");
    cr_assert(strstr(out, "\"booked\"") && strstr(out, "3"), "%s", out);
    free(out);
    char names[512];
    scheduled_names("trip-ok", names, sizeof(names));
    cr_assert_str_eq(names, "bookFlight,bookHotel,bookCar");
    duro_test_finish(&h);
}

Test(samples, trip_compensates_in_reverse_for_each_failing_step)
{
    spawn_samples();
    static const struct {
        const char *fail, *order;
    } cases[] = {
        {"flight", "bookFlight"},
        {"hotel", "bookFlight,bookHotel,cancelFlight"},
        {"car", "bookFlight,bookHotel,bookCar,cancelHotel,cancelFlight"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char id[64], input[64], names[512];
        snprintf(id, sizeof(id), "trip-%s", cases[i].fail);
        snprintf(input, sizeof(input), "{\"fail\":\"%s\"}", cases[i].fail);
        int code;
        char *out = cli_outcome(id, "trip", input, &code);
        cr_assert_neq(code, 0, "%s: %s", id, out);
        cr_assert(strstr(out, "FAILED"), "%s: %s", id, out);
        char step[64];
        snprintf(step, sizeof(step), "booking the %s failed", cases[i].fail);
        cr_assert(strstr(out, step), "%s: %s", id, out);
        free(out);
        scheduled_names(id, names, sizeof(names));
        cr_assert_str_eq(names, cases[i].order, "%s", id);
    }
    duro_test_finish(&h);
}

/* ---- approval, quick-lookup (asynchronous completion, local activities) */

/* cli_ok runs one duro command that must succeed. */
static void cli_ok(const char *what, const char *const *argv)
{
    duro_test_output o;
    duro_test_run(&h, &o, 10000, "duro", argv[0], argv[1], argv[2], argv[3],
                  argv[4], argv[5], argv[6], argv[7], argv[8], argv[9],
                  argv[10], NULL);
    cr_assert_eq(o.exit_code, 0, "%s: %s", what, o.err);
    duro_test_output_free(&o);
}

Test(samples, approval_completes_when_someone_approves)
{
    pid_t w = spawn_samples();
    const char *start[] = {"workflow",     "start",  "--workflow-id",
                           "approval-1",   "--type", "approval",
                           "--task-queue", QUEUE,    "--input",
                           "null",         NULL};
    cli_ok("start", start);
    cr_assert(
        duro_test_wait_until(
            duro_test_log_contains(&h, w, "waiting: duro activity"), 10000),
        "waitForApproval never ran");
    const char *complete[] = {
        "activity", "complete", "--workflow-id", "approval-1", "--activity-id",
        "1",        "--result", "\"yes\"",       NULL,         NULL,
        NULL};
    cli_ok("complete", complete);
    duro_test_output o;
    duro_test_run(&h, &o, RESULT_MS, "duro", "workflow", "result",
                  "--workflow-id", "approval-1", NULL);
    cr_assert_eq(o.exit_code, 0, "result: %s", o.err);
    cr_assert(strstr(o.out, "\"approved\"") && strstr(o.out, "\"yes\""), "%s",
              o.out);
    duro_test_output_free(&o);
}

Test(samples, quick_lookup_runs_n_local_activities)
{
    spawn_samples();
    char *out = cli_result("quick-lookup-1", "quick-lookup", "{\"n\":5}");
    cr_assert(strstr(out, "\"done\"") && strstr(out, "5"), "%s", out);
    free(out);
    duro_test_output o;
    duro_test_run(&h, &o, 10000, "duro", "workflow", "history", "--workflow-id",
                  "quick-lookup-1", "-o", "json", NULL);
    cr_assert_eq(o.exit_code, 0, "history: %s", o.err);
    int markers = 0;
    for (const char *p = o.out; (p = strstr(p, "MarkerRecorded")); p++)
        markers++;
    cr_assert_eq(markers, 5, "%s", o.out);
    cr_assert_null(strstr(o.out, "ActivityScheduled"), "%s", o.out);
    duro_test_output_free(&o);
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

/* ---- README's "Samples" commands, run as written ---- */

#define README_MAX ((size_t)256 * 1024)
#define ARGS_MAX 16

/* readme_samples: the text of README's "## Samples" section (malloc'd). */
static char *readme_samples(void)
{
    FILE *f = fopen(DURO_SOURCE_DIR "/README.md", "rb");
    cr_assert(f, "cannot open README.md");
    char *s = malloc(README_MAX);
    size_t n = fread(s, 1, README_MAX - 1, f);
    fclose(f);
    s[n] = '\0';
    char *sec = strstr(s, "\n## Samples\n");
    cr_assert(sec, "README.md has no \"## Samples\" section");
    char *end = strstr(sec + 1, "\n## ");
    if (end) *end = '\0';
    memmove(s, sec, strlen(sec) + 1);
    return s;
}

/* split_line splits a shell line into words (single and double quotes,
 * no escapes) and its trailing "# comment" (*comment, or NULL). Returns
 * the word count. Writes into line. */
static int split_line(char *line, char **argv, char **comment)
{
    int argc = 0;
    *comment = NULL;
    char *r = line, *w = line;
    while (*r) {
        while (*r == ' ')
            r++;
        if (!*r) break;
        if (*r == '#') {
            *comment = r + 1 + (r[1] == ' ');
            break;
        }
        cr_assert_lt(argc, ARGS_MAX - 1, "too many words: %s", line);
        argv[argc++] = w;
        char q = 0;
        for (; *r && (q || *r != ' '); r++) {
            if (!q && (*r == '\'' || *r == '"'))
                q = *r;
            else if (q && *r == q)
                q = 0;
            else
                *w++ = *r;
        }
        cr_assert_eq(q, 0, "unbalanced quote");
        bool more = *r != '\0'; /* w may be r: test before writing */
        *w++ = '\0';
        if (more) r++;
    }
    argv[argc] = NULL;
    return argc;
}

/* expect: what a command's comment promises. "exit 1..." -> exit 1;
 * "{json}..." -> exit 0 and that first line on stdout; "N" or "N; ..." ->
 * exit 0 and N; anything else -> exit 0. */
static void expect(const char *comment, int *code, char *out, size_t cap)
{
    *code = 0;
    out[0] = '\0';
    if (!comment) return;
    if (strncmp(comment, "exit 1", 6) == 0) {
        *code = 1;
        return;
    }
    size_t n = strcspn(comment, " ;");
    if (comment[0] == '{') {
        while (n > 0 && comment[n - 1] == ':')
            n--;
    } else if (n == 0 || strspn(comment, "0123456789") != n ||
               (comment[n] && comment[n] != ';')) {
        return;
    }
    cr_assert_lt(n, cap);
    memcpy(out, comment, n);
    out[n] = '\0';
}

/* run_readme_line runs one `duro ...` line of the section and checks it
 * against its comment; stderr_has, when set, must be in its stderr. */
static void run_readme_line(char *line, const char *stderr_has)
{
    char copy[512], *argv[ARGS_MAX], *comment;
    snprintf(copy, sizeof(copy), "%s", line);
    int argc = split_line(copy, argv, &comment);
    cr_assert_gt(argc, 1, "%s", line);
    int code;
    char want[256];
    expect(comment, &code, want, sizeof(want));
    duro_test_output o;
    /* `activity complete` right after the start: the first workflow task
     * may not have scheduled the activity yet; a person is slower */
    for (int tries = 0;; tries++) {
        duro_test_run(&h, &o, RESULT_MS, argv[0], argv[1], argv[2], argv[3],
                      argv[4], argv[5], argv[6], argv[7], argv[8], argv[9],
                      argv[10], argv[11], argv[12], argv[13], argv[14], NULL);
        if (o.exit_code == code || strcmp(argv[1], "activity") != 0 ||
            tries == 50)
            break;
        duro_test_output_free(&o);
        duro_test_sleep_ms(100);
    }
    cr_assert_eq(o.exit_code, code, "%s\nstdout: %s\nstderr: %s", line, o.out,
                 o.err);
    if (want[0]) {
        size_t n = strcspn(o.out, "\n");
        cr_assert(strlen(want) == n && strncmp(o.out, want, n) == 0,
                  "%s\nwant: %s\ngot:  %s", line, want, o.out);
    }
    if (stderr_has)
        cr_assert(strstr(o.err, stderr_has), "%s\nwant on stderr: %s\ngot: %s",
                  line, stderr_has, o.err);
    duro_test_output_free(&o);
}

/* Every `duro ...` line of README's "Samples" code blocks runs against
 * the samples worker and does what its comment says; a comment line
 * "# duro: ..." right after a command is that command's stderr. */
Test(samples, readme_samples_commands_do_what_they_say)
{
    spawn_samples();
    char *sec = readme_samples();
    int ran = 0;
    bool in_sh = false;
    char *pending = NULL; /* a command waiting for a "# duro:" line */
    for (char *line = strtok(sec, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "```", 3) == 0) {
            in_sh = strcmp(line, "```sh") == 0;
            continue;
        }
        if (!in_sh) continue;
        if (strncmp(line, "# duro: ", 8) == 0 && pending) {
            run_readme_line(pending, line + 2);
            pending = NULL;
            ran++;
            continue;
        }
        if (pending) {
            run_readme_line(pending, NULL);
            pending = NULL;
            ran++;
        }
        if (strncmp(line, "duro ", 5) == 0) pending = line;
    }
    if (pending) {
        run_readme_line(pending, NULL);
        ran++;
    }
    cr_assert_geq(ran, 20, "only %d commands in README's Samples", ran);
    free(sec);
    duro_test_finish(&h);
}
