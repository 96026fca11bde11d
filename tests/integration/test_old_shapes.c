/* test_old_shapes.c: what `duro workflow describe` and `duro workflow list`
 * show for a run whose workflow hash and visibility row are in the shapes
 * library 30 wrote (result, failure, close_ms and wft_error written empty,
 * cancel_requested "0"; the row with its `run`), against a run written by
 * this library (those fields absent, the row without `run`): the same,
 * while running, once completed by a worker, and for a new run of the
 * old run's id (docs/internals.md, "Workflow hash" and "Visibility"). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/keys.h"
#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(old_shapes, .init = setup, .fini = duro_test_fini, .timeout = 60);

enum { RUN_MS = 10000 };

/* cli_json runs `duro workflow <verb> ...` with -o json and parses what
 * it prints (asserts it exits 0). */
static cJSON *cli_json(const char *verb, const char *flag, const char *arg)
{
    duro_test_output o;
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", verb, flag, arg, "-o",
                  "json", NULL);
    cr_assert_eq(o.exit_code, 0, "%s %s %s: %s", verb, flag, arg, o.err);
    cJSON *j = cJSON_Parse(o.out);
    cr_assert_not_null(j, "%s: not JSON: %s", verb, o.out);
    duro_test_output_free(&o);
    return j;
}

/* described: `duro workflow describe -w id` without what differs between
 * two runs by nature (ids and times), as text. */
static char *described(const char *id, const char *status, char *run,
                       size_t size)
{
    cJSON *d = cli_json("describe", "-w", id);
    cr_assert_str_eq(duro_test_str(d, "status"), status, "%s", id);
    snprintf(run, size, "%s", duro_test_str(d, "runId"));
    const char *volatile_[] = {"workflowId", "runId", "startTime", "closeTime"};
    for (size_t i = 0; i < sizeof(volatile_) / sizeof(volatile_[0]); i++) {
        const cJSON *t = cJSON_GetObjectItem(d, volatile_[i]);
        if (i == 3) { /* a close time: present as text only once closed */
            bool shown = cJSON_IsString(t) && *t->valuestring;
            cr_assert_eq(shown, strcmp(status, "RUNNING") != 0,
                         "%s: closeTime %s", id,
                         t ? cJSON_PrintUnformatted(t) : "absent");
        }
        cJSON_DeleteItemFromObject(d, volatile_[i]);
    }
    char *s = cJSON_PrintUnformatted(d);
    cJSON_Delete(d);
    return s;
}

/* listed: `duro workflow list` shows run `run` of id with status, found
 * by its workflow id (among the id's runs) and by its run id. */
static void listed(const char *id, const char *run, const char *status)
{
    char q[128];
    snprintf(q, sizeof(q), "WorkflowId = '%s'", id);
    cJSON *rows = cli_json("list", "--query", q);
    int found = 0;
    const cJSON *row;
    cJSON_ArrayForEach(row, rows)
    {
        if (strcmp(duro_test_str(row, "runId"), run) != 0) continue;
        found++;
        cr_assert_str_eq(duro_test_str(row, "status"), status, "%s", id);
    }
    cr_assert_eq(found, 1, "%s %s listed %d times", id, run, found);
    cJSON_Delete(rows);
    snprintf(q, sizeof(q), "RunId = '%s'", run);
    rows = cli_json("list", "--query", q);
    cr_assert_eq(cJSON_GetArraySize(rows), 1, "%s by its run", id);
    row = cJSON_GetArrayItem(rows, 0);
    cr_assert_str_eq(duro_test_str(row, "workflowId"), id);
    cr_assert_str_eq(duro_test_str(row, "runId"), run);
    cr_assert_str_eq(duro_test_str(row, "status"), status, "%s", id);
    cJSON_Delete(rows);
}

/* to_library_30 rewrites run `run` of id as library 30 left a start. */
static void to_library_30(redisContext *r, const char *id, const char *run)
{
    duro_wf_keys k;
    duro_wf_keys_init(&k, DURO_KEYSPACE_DEFAULT(DURO_DEFAULT_PARTITIONS), id,
                      run);
    duro_test_cmd_ok(r, "HSET", k.wf, "result", "", "failure", "", "close_ms",
                     "", "wft_error", "", "cancel_requested", "0", NULL);
    char row[DURO_KEY_MAX];
    duro_key_vis(row, sizeof(row),
                 DURO_KEYSPACE_DEFAULT(DURO_DEFAULT_PARTITIONS), k.partition,
                 run);
    duro_test_cmd_ok(r, "HSET", row, "run", run, NULL);
}

Test(old_shapes, describe_and_list_read_both_shapes_alike)
{
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    const char *in = "{\"n\":2}";
    duro_test_start(c, "shape-new", "activities", "test", in, 0);
    duro_test_start(c, "shape-old", "activities", "test", in, 0);
    char run_new[DURO_UUID_LEN + 1], run_old[DURO_UUID_LEN + 1];
    free(described("shape-old", "RUNNING", run_old, sizeof(run_old)));
    to_library_30(r, "shape-old", run_old);

    /* running */
    char *d_new = described("shape-new", "RUNNING", run_new, sizeof(run_new));
    char *d_old = described("shape-old", "RUNNING", run_old, sizeof(run_old));
    cr_assert_str_eq(d_old, d_new);
    free(d_new);
    free(d_old);
    listed("shape-new", run_new, "RUNNING");
    listed("shape-old", run_old, "RUNNING");

    /* completed by a worker of this library */
    pid_t pids[2];
    duro_test_spawn_scheduler_and_worker(&h, 10000, pids);
    cJSON *res = duro_test_result(c, "shape-old", 20000);
    duro_test_assert_echoed(res, "shape-old", 2);
    cJSON_Delete(res);
    res = duro_test_result(c, "shape-new", 20000);
    duro_test_assert_echoed(res, "shape-new", 2);
    cJSON_Delete(res);
    d_new = described("shape-new", "COMPLETED", run_new, sizeof(run_new));
    d_old = described("shape-old", "COMPLETED", run_old, sizeof(run_old));
    cr_assert_str_eq(d_old, d_new);
    free(d_new);
    free(d_old);
    listed("shape-new", run_new, "COMPLETED");
    listed("shape-old", run_old, "COMPLETED");

    /* a new run of each id, on a queue no worker polls: nothing of the
     * closed run shows */
    duro_test_start(c, "shape-new", "activities", "idle", in, 0);
    duro_test_start(c, "shape-old", "activities", "idle", in, 0);
    char again_new[DURO_UUID_LEN + 1], again_old[DURO_UUID_LEN + 1];
    d_new = described("shape-new", "RUNNING", again_new, sizeof(again_new));
    d_old = described("shape-old", "RUNNING", again_old, sizeof(again_old));
    cr_assert_str_eq(d_old, d_new);
    cr_assert_null(strstr(d_old, "echoed"), "the old result shows: %s", d_old);
    free(d_new);
    free(d_old);
    cr_assert_str_neq(again_old, run_old);
    listed("shape-old", again_old, "RUNNING");
    listed("shape-old", run_old, "COMPLETED");
    listed("shape-new", again_new, "RUNNING");
    listed("shape-new", run_new, "COMPLETED");
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}
