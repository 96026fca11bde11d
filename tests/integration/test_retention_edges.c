/* test_retention_edges.c: what deletion and archival must never lose: a
 * run id given with the wrong workflow id removes nothing of the run's own
 * workflow (visibility rows are keyed by run alone).
 *
 * Runs meant to stay RUNNING go to task queue "nobody". */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/keys.h"
#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    unsetenv("DURO_NAMESPACE");
    duro_test_redis_start(&h);
}

TestSuite(retention_edges, .init = setup, .fini = duro_test_fini,
          .timeout = 90);

#define RUN_MS 10000

static char *current_run(duro_client *c, const char *id)
{
    cJSON *d = NULL;
    cr_assert_eq(duro_client_describe(c, id, &d), 0, "%s",
                 duro_client_errstr(c));
    char *run = strdup(duro_test_str(d, "runId"));
    cJSON_Delete(d);
    return run;
}

static long long integer(redisContext *r, const char *fmt, const char *a,
                         const char *b)
{
    redisReply *x = redisCommand(r, fmt, a, b);
    cr_assert(x && x->type == REDIS_REPLY_INTEGER, "%s", fmt);
    long long v = x->integer;
    freeReplyObject(x);
    return v;
}

/* row_intact: run's visibility row and its RUNNING and start entries are
 * all there (partition p of the default namespace). */
static void row_intact(redisContext *r, int p, const char *run)
{
    char row[128], running[128], start[128];
    snprintf(row, sizeof(row), "duro:{p%d}:vis:%s", p, run);
    snprintf(running, sizeof(running), "duro:{p%d}:vx:status:RUNNING", p);
    snprintf(start, sizeof(start), "duro:{p%d}:vx:start", p);
    cr_assert_eq(integer(r, "EXISTS %s%s", row, ""), 1, "row gone");
    redisReply *x = redisCommand(r, "ZSCORE %s %s", running, run);
    cr_assert(x && x->type == REDIS_REPLY_STRING, "RUNNING entry gone");
    freeReplyObject(x);
    x = redisCommand(r, "ZSCORE %s %s", start, run);
    cr_assert(x && x->type == REDIS_REPLY_STRING, "start entry gone");
    freeReplyObject(x);
}

/* `duro workflow delete -w B --run-id <A's run>`, A and B in the same
 * partition (so A's row is within the call's reach): A is running and
 * must keep its row and index entries, whether B has no hash or a
 * running one; the delete finds nothing. */
Test(retention_edges, delete_with_another_workflows_run_id_removes_nothing)
{
    duro_client *c = duro_test_client(&h);
    int parts = duro_client_partitions(c);
    duro_test_start(c, "victim", "activities", "nobody", NULL, 0);
    char *run = current_run(c, "victim");
    int p = duro_partition_of("victim", parts);
    char other[32] = "";
    for (int i = 0; i < 10000 && !*other; i++) {
        char id[32];
        snprintf(id, sizeof(id), "other-%d", i);
        if (duro_partition_of(id, parts) == p)
            snprintf(other, sizeof(other), "%s", id);
    }
    cr_assert(*other, "no id in partition %d", p);
    redisContext *r = duro_test_redis(&h);

    /* B has no hash */
    cr_assert_eq(duro_client_delete(c, other, run), DURO_ENOTFOUND, "%s",
                 duro_client_errstr(c));
    row_intact(r, p, run);
    /* B runs */
    duro_test_start(c, other, "activities", "nobody", NULL, 0);
    duro_test_output o;
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "delete", "-w", other,
                  "--run-id", run, NULL);
    cr_assert_eq(o.exit_code, 1, "delete of another id's run: %s", o.out);
    duro_test_output_free(&o);
    row_intact(r, p, run);
    int64_t n = -1;
    cr_assert_eq(duro_client_count(c, "", &n), 0, "%s", duro_client_errstr(c));
    cr_assert_eq(n, 2, "both run and are listed: %lld", (long long)n);
    cJSON *d = NULL;
    cr_assert_eq(duro_client_describe(c, "victim", &d), 0);
    cr_assert_str_eq(duro_test_str(d, "status"), "RUNNING");
    cJSON_Delete(d);
    free(run);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}
