/* test_describe_run.c: describing an older (closed) run of a reused id
 * (duro_client_describe_run, duro workflow describe --run-id): its input
 * and its result or failure come from its history's first and last
 * events, the same as the run's description had while it was current;
 * encrypted payloads decode with the key, stay as stored without (the
 * CLI shows "<encrypted: key k1>"); a history gone, damaged or of another
 * shape leaves them out, but the description still comes back.
 *
 * Runs that must close without a worker go to task queue "nobody" and are
 * terminated or time out; the others go to "test" (duro-test-worker). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "duro/codec.h"
#include "duro/keys.h"
#include "harness.h"

#define RESULT_MS 20000

#define KEY_LINE                                                               \
    "k1 "                                                                      \
    "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f\n"

#define OTHER_KEY_LINE                                                         \
    "k9 "                                                                      \
    "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f\n"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(describe_run, .init = setup, .fini = duro_test_fini, .timeout = 90);

/* ---- Helpers ---- */

/* start_run starts a new run of id (ALLOW_DUPLICATE) with an execution
 * timeout of timeout_ms (0: none); its id in run. */
static void start_timed(duro_client *c, const char *id, const char *type,
                        const char *queue, const char *input,
                        int64_t timeout_ms, char run[DURO_UUID_LEN + 1])
{
    duro_start_opts o = {0};
    o.workflow_id = id;
    o.type = type;
    o.task_queue = queue;
    o.input = input;
    o.execution_timeout_ms = timeout_ms;
    cr_assert_eq(duro_client_start(c, &o, run), 0, "start %s: %s", id,
                 duro_client_errstr(c));
}

static void start_run(duro_client *c, const char *id, const char *type,
                      const char *queue, const char *input,
                      char run[DURO_UUID_LEN + 1])
{
    start_timed(c, id, type, queue, input, 0, run);
}

/* closed_run makes a run of id that closes (type on queue "test"; on
 * "nobody" when type is NULL, terminated, or when type is "", timed out
 * by the scheduler) and returns the describe of the closed run while it
 * is current; its id in run. */
static cJSON *closed_run(duro_client *c, const char *id, const char *type,
                         const char *input, char run[DURO_UUID_LEN + 1])
{
    bool worked = type && *type;
    start_timed(c, id, worked ? type : "t", worked ? "test" : "nobody", input,
                type ? 100 * !worked : 0, run);
    if (!type)
        cr_assert_eq(duro_client_terminate(c, id, "no longer needed"), 0, "%s",
                     duro_client_errstr(c));
    cJSON *d = duro_test_result(c, id, RESULT_MS);
    cr_assert_str_eq(duro_test_str(d, "runId"), run);
    return d;
}

static cJSON *describe_old(duro_client *c, const char *id, const char *run)
{
    cJSON *d = NULL;
    int rc = duro_client_describe_run(c, id, run, &d);
    cr_assert_eq(rc, 0, "describe %s run %s: %d %s", id, run, rc,
                 duro_client_errstr(c));
    cr_assert_str_eq(duro_test_str(d, "runId"), run);
    return d;
}

/* same_member asserts that member name is in both objects, equal. */
static void same_member(const cJSON *want, const cJSON *got, const char *name)
{
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(want, name);
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(got, name);
    char *ws = cJSON_PrintUnformatted(w), *gs = cJSON_PrintUnformatted(g);
    cr_assert(w && g && cJSON_Compare(w, g, true), "%s: want %s, got %s", name,
              ws ? ws : "(absent)", gs ? gs : "(absent)");
    free(ws);
    free(gs);
}

static char *hist_key(duro_client *c, const char *id, const char *run)
{
    duro_wf_keys k;
    duro_wf_keys_init(&k, DURO_KEYSPACE_DEFAULT(duro_client_partitions(c)), id,
                      run);
    return strdup(k.hist);
}

/* ---- Reused ids ---- */

/* A completed, a failed, a terminated and a timed-out run of one id, each
 * described once it is an older run, read as they did while current: the
 * same input, and result or failure. */
Test(describe_run, older_runs_show_input_and_outcome_as_when_current)
{
    duro_test_spawn_up(&h, 5000, "duro-test-worker", NULL);
    duro_test_spawn_up(&h, 5000, "duro-scheduler", "--scan-interval", "100ms",
                       NULL);
    duro_client *c = duro_test_client(&h);
    const char *id = "dr-reused";
    char runs[4][DURO_UUID_LEN + 1], last[DURO_UUID_LEN + 1];
    cJSON *was[4];
    was[0] = closed_run(c, id, "activities", "{\"n\":2}", runs[0]);
    was[1] = closed_run(c, id, "nonretry", "{\"card\":\"4242\"}", runs[1]);
    was[2] = closed_run(c, id, NULL, "{\"why\":\"stop\"}", runs[2]);
    was[3] = closed_run(c, id, "", "[1,2]", runs[3]);
    start_run(c, id, "t", "nobody", NULL, last);
    static const char *const outcome[4] = {"result", "failure", "failure",
                                           "failure"};
    static const char *const status[4] = {"COMPLETED", "FAILED", "TERMINATED",
                                          "TIMED_OUT"};
    for (int i = 0; i < 4; i++) {
        cr_assert_str_eq(duro_test_str(was[i], "status"), status[i]);
        cJSON *d = describe_old(c, id, runs[i]);
        cr_assert_str_eq(duro_test_str(d, "status"), status[i]);
        same_member(was[i], d, "input");
        same_member(was[i], d, outcome[i]);
        cr_assert_not(cJSON_HasObjectItem(d, i ? "result" : "failure"));
        cr_assert_not(cJSON_HasObjectItem(d, "workflowTask"));
        cJSON_Delete(d);
        cJSON_Delete(was[i]);
    }
    /* the failed run through the CLI, text and JSON */
    duro_test_output o;
    duro_test_run(&h, &o, 30000, "duro", "workflow", "describe",
                  "--workflow-id", id, "--run-id", runs[1], NULL);
    cr_assert_eq(o.exit_code, 0, "%s %s", o.out, o.err);
    cr_assert(strstr(o.out, "Input") && strstr(o.out, "4242"), "%s", o.out);
    cr_assert(strstr(o.out, "Failure") && strstr(o.out, "card declined"), "%s",
              o.out);
    duro_test_output_free(&o);
    duro_test_run(&h, &o, 30000, "duro", "workflow", "describe",
                  "--workflow-id", id, "--run-id", runs[0], "-o", "json", NULL);
    cr_assert_eq(o.exit_code, 0, "%s %s", o.out, o.err);
    cJSON *j = cJSON_Parse(o.out);
    cr_assert_eq(duro_test_num(cJSON_GetObjectItem(j, "input"), "n", -1), 2,
                 "%s", o.out);
    cr_assert(cJSON_IsObject(cJSON_GetObjectItem(j, "result")), "%s", o.out);
    cJSON_Delete(j);
    duro_test_output_free(&o);
    duro_client_free(c);
}

/* ---- Encrypted payloads ---- */

/* An older run's input and result decode with the key, as the current
 * run's do; without it they stay as stored and the CLI shows
 * "<encrypted: key k1>". */
Test(describe_run, encrypted_run_with_and_without_the_key)
{
    char key_path[PATH_MAX + 64];
    duro_test_write_file(&h, "describe.keys", KEY_LINE, key_path,
                         sizeof(key_path));
    setenv(DURO_CODEC_KEY_FILE_ENV, key_path, 1);
    duro_test_spawn_up(&h, 5000, "duro-test-worker", NULL);
    duro_codec *codec;
    char err[256];
    cr_assert_eq(duro_codec_aes_new(key_path, &codec, err, sizeof(err)), 0,
                 "%s", err);
    duro_client *c = duro_test_client(&h);
    duro_client_set_codec(c, codec);
    const char *id = "dr-sealed";
    char old[DURO_UUID_LEN + 1], last[DURO_UUID_LEN + 1];
    cJSON *was = closed_run(c, id, "activities", "{\"n\":3}", old);
    cr_assert_eq(duro_test_num(cJSON_GetObjectItem(was, "input"), "n", -1), 3);
    start_run(c, id, "t", "nobody", NULL, last);
    cJSON *d = describe_old(c, id, old);
    same_member(was, d, "input");
    same_member(was, d, "result");
    cJSON_Delete(d);
    cJSON_Delete(was);
    /* without the key (a key file that lacks k1): the stored payload, as
       the current run's describe gives it */
    char other_path[PATH_MAX + 64];
    duro_test_write_file(&h, "other.keys", OTHER_KEY_LINE, other_path,
                         sizeof(other_path));
    duro_codec *other;
    cr_assert_eq(duro_codec_aes_new(other_path, &other, err, sizeof(err)), 0,
                 "%s", err);
    duro_client *plain = duro_test_client(&h);
    duro_client_set_codec(plain, other);
    d = describe_old(plain, id, old);
    cr_assert(!strncmp(duro_test_str(d, "input"), DURO_CODEC_AES_PREFIX "k1:",
                       strlen(DURO_CODEC_AES_PREFIX "k1:")));
    cr_assert(!strncmp(duro_test_str(d, "result"), DURO_CODEC_AES_PREFIX "k1:",
                       strlen(DURO_CODEC_AES_PREFIX "k1:")));
    cJSON_Delete(d);
    duro_client_free(plain);
    duro_codec_aes_free(other);
    /* the CLI without a key file says so */
    unsetenv(DURO_CODEC_KEY_FILE_ENV);
    duro_test_output o;
    duro_test_run(&h, &o, 30000, "duro", "workflow", "describe",
                  "--workflow-id", id, "--run-id", old, NULL);
    cr_assert_eq(o.exit_code, 0, "%s %s", o.out, o.err);
    const char *in = strstr(o.out, "Input");
    const char *res = strstr(o.out, "Result");
    cr_assert(in && res && strstr(in, "<encrypted: key k1>") &&
                  strstr(res, "<encrypted: key k1>"),
              "%s", o.out);
    cr_assert_null(strstr(o.out, DURO_CODEC_AES_PREFIX), "%s", o.out);
    duro_test_output_free(&o);
    duro_client_free(c);
    duro_codec_aes_free(codec);
}

/* ---- Histories gone or damaged ---- */

/* expect_without_history asserts that run `run` of id (terminated) is
 * still described, without input, result and failure; what names the
 * case. */
static void expect_without_history(duro_client *c, const char *id,
                                   const char *run, const char *what)
{
    cJSON *d = NULL;
    int rc = duro_client_describe_run(c, id, run, &d);
    cr_assert_eq(rc, 0, "%s: %d %s", what, rc, duro_client_errstr(c));
    cr_assert_str_eq(duro_test_str(d, "status"), "TERMINATED", "%s", what);
    cr_assert_not(cJSON_HasObjectItem(d, "input"), "%s", what);
    cr_assert_not(cJSON_HasObjectItem(d, "failure"), "%s", what);
    cr_assert_not(cJSON_HasObjectItem(d, "result"), "%s", what);
    cJSON_Delete(d);
}

/* A history replaced by garbage elements, by a string, by a stream (the
 * shape of library 11 and older) or deleted: the description comes back
 * from the visibility row, without input and failure, never an error. */
Test(describe_run, history_gone_or_damaged_still_describes)
{
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    const char *id = "dr-damaged";
    char old[DURO_UUID_LEN + 1], last[DURO_UUID_LEN + 1];
    cJSON *was = closed_run(c, id, NULL, "{\"k\":1}", old);
    start_run(c, id, "t", "nobody", NULL, last);
    /* intact: input and failure */
    cJSON *d = describe_old(c, id, old);
    same_member(was, d, "input");
    same_member(was, d, "failure");
    cJSON_Delete(d);
    cJSON_Delete(was);
    char *hist = hist_key(c, id, old);
    /* garbage at both ends */
    freeReplyObject(duro_test_cmd(r, "LSET", hist, "0", "garbage", NULL));
    freeReplyObject(duro_test_cmd(r, "LSET", hist, "-1", "WE\nx\n{", NULL));
    expect_without_history(c, id, old, "garbage elements");
    /* a string */
    freeReplyObject(duro_test_cmd(r, "DEL", hist, NULL));
    freeReplyObject(duro_test_cmd(r, "SET", hist, "not a history", NULL));
    expect_without_history(c, id, old, "a string");
    /* a stream, the shape of library 11 and older */
    freeReplyObject(duro_test_cmd(r, "DEL", hist, NULL));
    freeReplyObject(duro_test_cmd(r, "XADD", hist, "1-0", "type",
                                  "WorkflowStarted", "data", "{}", NULL));
    expect_without_history(c, id, old, "a stream");
    /* gone */
    freeReplyObject(duro_test_cmd(r, "DEL", hist, NULL));
    expect_without_history(c, id, old, "deleted");
    /* the CLI prints what is there, no null input */
    duro_test_output o;
    duro_test_run(&h, &o, 30000, "duro", "workflow", "describe",
                  "--workflow-id", id, "--run-id", old, NULL);
    cr_assert_eq(o.exit_code, 0, "%s %s", o.out, o.err);
    cr_assert(strstr(o.out, "TERMINATED"), "%s", o.out);
    cr_assert_null(strstr(o.out, "Input"), "%s", o.out);
    duro_test_output_free(&o);
    free(hist);
    redisFree(r);
    duro_client_free(c);
}
