/* test_chaos_codec.c: scripts/chaos's tools with the payload codec on.
 * chaos-worker encodes what it writes when DURO_CODEC_KEY_FILE is set, so
 * chaos-check must start the workflows through an encoding client and
 * decode what it checks (results, scheduled activities' inputs), else an
 * encrypted chaos run reports every workflow as wrong. */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "duro/codec.h"
#include "harness.h"

#define KEY_LINE                                                               \
    "k1 "                                                                      \
    "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f\n"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
    char path[PATH_MAX + 64];
    duro_test_write_file(&h, "codec.keys", KEY_LINE, path, sizeof(path));
    setenv(DURO_CODEC_KEY_FILE_ENV, path, 1);
}

static void teardown(void)
{
    unsetenv(DURO_CODEC_KEY_FILE_ENV);
    duro_test_fini();
}

TestSuite(chaos_codec, .init = setup, .fini = teardown, .timeout = 120);

/* chaos_check runs chaos-check <command> --workflows 4 --seed 7 and
 * returns its exit code; its stdout in line (the summary of check). */
static int chaos_check(const char *command, const char *extra, char *line,
                       size_t size)
{
    duro_test_output o;
    duro_test_run(&h, &o, 90000, "chaos-check", command, "--workflows", "4",
                  "--seed", "7", extra ? extra : "--spread",
                  extra ? "30s" : "0s", NULL);
    if (line) snprintf(line, size, "%s", o.out ? o.out : "");
    if (o.exit_code != 0)
        cr_log_error("chaos-check %s: exit %d\n%s%s", command, o.exit_code,
                     o.out ? o.out : "", o.err ? o.err : "");
    int rc = o.exit_code;
    duro_test_output_free(&o);
    return rc;
}

Test(chaos_codec, every_workflow_checks_out_with_payloads_encrypted)
{
    duro_test_spawn(&h, "duro-scheduler", NULL);
    duro_test_spawn(&h, "chaos-worker", NULL);
    cr_assert_eq(chaos_check("drive", NULL, NULL, 0), 0);
    cr_assert_eq(chaos_check("wait", "--timeout", NULL, 0), 0);
    char line[1024];
    int rc = chaos_check("check", "--settle", line, sizeof(line));
    cr_log_info("%s", line);
    cr_assert_eq(rc, 0, "%s", line);
    cr_assert(strstr(line, "completed=4 "), "%s", line);
    /* and the payloads were encrypted: a workflow's input in Redis */
    redisContext *r = duro_test_redis(&h);
    redisReply *rep = redisCommand(r, "SCAN 0 MATCH duro:{p*}:wf:* COUNT 1000");
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY &&
              rep->element[1]->elements > 0);
    redisReply *in =
        redisCommand(r, "HGET %s input", rep->element[1]->element[0]->str);
    cr_assert(in && in->type == REDIS_REPLY_STRING &&
                  strstr(in->str, DURO_CODEC_AES_PREFIX),
              "input not encrypted: %s", in ? in->str : "-");
    freeReplyObject(in);
    freeReplyObject(rep);
    redisFree(r);
    duro_test_finish(&h);
}
