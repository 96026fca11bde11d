/* test_utf8_edges.c: text that is not UTF-8 is refused where it enters
 * (the C client, the CLI's flags and files, a worker's results) and what
 * is already stored prints as valid JSON (`-o json`), with real processes
 * (redis-server, duro-scheduler, duro-test-worker, the duro CLI). */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "duro/client.h"
#include "duro/errno.h"
#include "duro/keys.h"
#include "duro/utf8.h"
#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(utf8_edges, .init = setup, .fini = duro_test_fini, .timeout = 60);

#define RUN_MS 20000

static bool valid(const char *s)
{
    return duro_utf8_check(s, strlen(s), NULL) == 0;
}

Test(utf8_edges, the_client_refuses_ids_names_and_payloads_that_are_not_utf8)
{
    duro_client *c = duro_test_client(&h);
    char run[DURO_UUID_LEN + 1];
    duro_start_opts o = {
        .workflow_id = "u8\xff", .type = "gate", .task_queue = "nobody"};
    cr_assert_eq(duro_client_start(c, &o, run), DURO_EINVAL);
    cr_assert(strstr(duro_client_errstr(c), "not valid UTF-8 (byte 2)"), "%s",
              duro_client_errstr(c));
    o.workflow_id = "u8-ok";
    o.input = "{\"a\":\"\xc3\"}";
    cr_assert_eq(duro_client_start(c, &o, run), DURO_EJSON);
    cr_assert(strstr(duro_client_errstr(c), "input: invalid UTF-8 at byte 6"),
              "%s", duro_client_errstr(c));
    o.input = "{\"a\":\"caf\xc3\xa9\"}";
    cr_assert_eq(duro_client_start(c, &o, run), 0, "%s", duro_client_errstr(c));
    cr_assert_eq(
        duro_client_signal(c, "u8-ok", "open", "\"\xed\xa0\x80\"", run),
        DURO_EJSON);
    cr_assert(strstr(duro_client_errstr(c), "invalid UTF-8 at byte 1"), "%s",
              duro_client_errstr(c));
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(utf8_edges, the_cli_refuses_bad_flags_and_files_and_prints_valid_json)
{
    duro_test_output o;
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "start", "-w", "u8\xff",
                  "--type", "gate", "--task-queue", "nobody", "-o", "json",
                  NULL);
    cr_assert_neq(o.exit_code, 0);
    cr_assert(strstr(o.err, "\"INVALID_ARGUMENT\""), "%s", o.err);
    cr_assert(valid(o.err), "stderr is not UTF-8: %s", o.err);
    duro_test_output_free(&o);
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "start", "-w", "u8-cli",
                  "--type", "gate", "--task-queue", "nobody", "--input",
                  "\"\xff\"", "-o", "json", NULL);
    cr_assert(strstr(o.err, "\"INVALID_JSON\""), "%s", o.err);
    cr_assert(strstr(o.err, "invalid UTF-8 at byte 1"), "%s", o.err);
    duro_test_output_free(&o);
    char path[PATH_MAX + 16];
    duro_test_write_file(&h, "in.json", "{\"k\":\"\xe9t\xe9\"}", path,
                         sizeof(path));
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "start", "-w", "u8-cli",
                  "--type", "gate", "--task-queue", "nobody", "--input-file",
                  path, NULL);
    cr_assert_neq(o.exit_code, 0);
    cr_assert(strstr(o.err, "invalid UTF-8 at byte 6"), "%s", o.err);
    duro_test_output_free(&o);

    /* a run whose input was stored before input was checked */
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "start", "-w", "u8-cli",
                  "--type", "gate", "--task-queue", "nobody", NULL);
    cr_assert_eq(o.exit_code, 0, "%s", o.err);
    duro_test_output_free(&o);
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    redisReply *rep =
        redisCommand(r, "HSET duro:{p%d}:wf:u8-cli input %b",
                     duro_partition_of("u8-cli", duro_client_partitions(c)),
                     "\"caf\xe9\"", (size_t)6);
    cr_assert(rep && rep->type == REDIS_REPLY_INTEGER);
    freeReplyObject(rep);
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "describe", "-w",
                  "u8-cli", "-o", "json", NULL);
    cr_assert_eq(o.exit_code, 0, "%s", o.err);
    cr_assert(valid(o.out), "-o json printed invalid UTF-8: %s", o.out);
    cr_assert(strstr(o.out, "\"caf\xef\xbf\xbd\""), "%s", o.out);
    cJSON *d = cJSON_Parse(o.out);
    cr_assert_not_null(d, "%s", o.out);
    cJSON_Delete(d);
    duro_test_output_free(&o);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* A worker's activity result of raw bytes fails the activity (not
 * retried, the same bytes would come again); a failure message of raw
 * bytes is mended (U+FFFD), since the failure must still land. */
Test(utf8_edges, a_workers_raw_bytes_are_refused_or_mended_before_commit)
{
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "u8-result", "raw-bytes", "test",
                    "{\"what\":\"result\"}", 0);
    duro_test_start(c, "u8-fail", "raw-bytes", "test", "{\"what\":\"fail\"}",
                    0);
    cJSON *d = duro_test_result(c, "u8-result", 20000);
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(d, "result");
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cr_assert(strstr(duro_test_str(res, "error"),
                     "activity result: invalid UTF-8 at byte 4"),
              "result: %s", cJSON_PrintUnformatted(res));
    cJSON_Delete(d);
    d = duro_test_result(c, "u8-fail", 20000);
    res = cJSON_GetObjectItemCaseSensitive(d, "result");
    cr_assert_str_eq(duro_test_str(res, "error"), "caf\xef\xbf\xbd closed");
    cJSON_Delete(d);
    duro_client_free(c);
    duro_test_finish(&h);
}
