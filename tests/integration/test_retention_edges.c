/* test_retention_edges.c: what deletion and archival must never lose: a
 * run id given with the wrong workflow id removes nothing of the run's own
 * workflow (visibility rows are keyed by run alone), and a partial line
 * left in an archive file (a write that failed on a full disk) does not
 * swallow the next run's line; a huge retention in the registry does
 * not stop runs from closing, and a batch of vx:close entries the sweep
 * cannot remove does not stall it; a second archive line without events
 * (two schedulers) does not hide the run's history; an older run's update
 * records go with it; a delete leaves alone a run that replaced the one
 * it read.
 *
 * Runs meant to stay RUNNING go to task queue "nobody". */
#include <criterion/criterion.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "client_int.h"
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

/* exists: EXISTS of key fmt (one %d for the partition, one or two %s). */
static long long exists(redisContext *r, const char *fmt, int p, const char *a,
                        const char *b)
{
    char key[256];
    snprintf(key, sizeof(key), fmt, p, a, b);
    return integer(r, "EXISTS %s%s", key, "");
}

/* A delete reads which run it removes, then terminates and purges it; a
 * run that replaced that one in between (here a start under
 * TerminateIfRunning; continue-as-new and signal-with-start alike) is not
 * the delete's: it keeps running with its row, and only the run read
 * goes. Both with the current run and with --run-id naming the run read
 * (the read and the act apart, as a start would fall between them). */
Test(retention_edges, delete_spares_a_run_started_after_its_read)
{
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    int parts = duro_client_partitions(c);
    for (int named = 0; named < 2; named++) {
        char id[32];
        snprintf(id, sizeof(id), "reused-%d", named);
        int p = duro_partition_of(id, parts);
        duro_test_start(c, id, "activities", "nobody", NULL, 0);
        char *old = current_run(c, id);
        duro__delete_target t;
        cr_assert_eq(duro__delete_read(c, id, named ? old : NULL, &t), 0, "%s",
                     duro_client_errstr(c));
        cr_assert(t.running, "the run read is running");
        duro_start_opts o = {0};
        o.workflow_id = id;
        o.type = "activities";
        o.task_queue = "nobody";
        o.id_reuse_policy = DURO_ID_REUSE_TERMINATE_IF_RUNNING;
        char run[DURO_UUID_LEN + 1];
        cr_assert_eq(duro_client_start(c, &o, run), 0, "%s",
                     duro_client_errstr(c));
        cr_assert_eq(duro__delete_act(c, id, &t), 0, "%s",
                     duro_client_errstr(c));
        cJSON *d = NULL;
        cr_assert_eq(duro_client_describe(c, id, &d), 0, "%s",
                     duro_client_errstr(c));
        cr_assert_str_eq(duro_test_str(d, "runId"), run);
        cr_assert_str_eq(duro_test_str(d, "status"), "RUNNING",
                         "the new run was terminated by a delete of %s", old);
        cJSON_Delete(d);
        row_intact(r, p, run);
        cr_assert_eq(exists(r, "duro:{p%d}:h:%s:%s", p, id, run), 1);
        cr_assert_eq(exists(r, "duro:{p%d}:h:%s:%s", p, id, old), 0,
                     "the run read keeps its history");
        cr_assert_eq(exists(r, "duro:{p%d}:vis:%s%s", p, old, ""), 0,
                     "the run read keeps its row");
        free(old);
    }
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* A write that failed half-way (a full disk) leaves a line without its
 * end in the day's archive file; the sweep's next line must still read
 * back once the run is removed. */
Test(retention_edges, archive_after_a_partial_line_reads_back)
{
    char dir[PATH_MAX + 16];
    snprintf(dir, sizeof(dir), "%s/archive", h.dir);
    cr_assert_eq(mkdir(dir, 0755), 0);
    duro_client *c = duro_test_client(&h);
    cr_assert_eq(duro_client_namespace_create(c, "half", 1000, NULL), 0, "%s",
                 duro_client_errstr(c));
    duro_client_free(c);
    char err[256];
    duro_client_opts co = {.namespace_ = "half"};
    cr_assert_eq(duro_client_new_opts(&c, &co, err, sizeof(err)), 0, "%s", err);
    duro_test_spawn(&h, "duro-test-worker", "--namespace", "half", NULL);
    duro_test_start(c, "h1", "activities", "test", NULL, 0);
    cJSON *d = duro_test_result(c, "h1", 20000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cJSON_Delete(d);

    /* the file of the day h1 closed, ending in half a line */
    redisContext *r = duro_test_redis(&h);
    int p = duro_partition_of("h1", duro_client_partitions(c));
    redisReply *x =
        redisCommand(r, "HGET duro:ns:half:{p%d}:wf:h1 close_ms", p);
    cr_assert(x && x->type == REDIS_REPLY_STRING);
    time_t closed = (time_t)(strtoll(x->str, NULL, 10) / 1000);
    freeReplyObject(x);
    struct tm tm;
    gmtime_r(&closed, &tm);
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/half-%04d-%02d-%02d.jsonl", dir,
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs("{\"namespace\":\"half\",\"workflowId\":\"h0\",\"history\":[{\"ev",
          f);
    cr_assert_eq(fclose(f), 0);

    duro_test_output o;
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "history", "-n", "half",
                  "-w", "h1", "-o", "json", NULL);
    cr_assert_eq(o.exit_code, 0, "history: %s", o.err);
    char *live = strdup(o.out);
    duro_test_output_free(&o);
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "200ms",
                    "--archive-dir", dir, NULL);
    bool gone = duro_test_wait_until(
        duro_client_describe(c, "h1", &d) == DURO_ENOTFOUND, 8000);
    cr_assert(gone, "not swept");
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "history", "-n", "half",
                  "-w", "h1", "--archived", "--archive-dir", dir, "-o", "json",
                  NULL);
    cr_assert_eq(o.exit_code, 0, "history --archived: %s", o.err);
    cr_assert_str_eq(o.out, live);
    duro_test_output_free(&o);
    free(live);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* A retention written into the registry by hand as a huge number (here
 * 9e18 ms) reaches each run's start: its close must still succeed (the
 * expiry is capped, not refused by PEXPIRE), and the run expire. */
Test(retention_edges, huge_retention_in_the_registry_still_closes)
{
    duro_client *c = duro_test_client(&h);
    cr_assert_eq(duro_client_namespace_create(c, "huge", 1000, NULL), 0, "%s",
                 duro_client_errstr(c));
    duro_client_free(c);
    redisContext *r = duro_test_redis(&h);
    redisReply *x = redisCommand(
        r, "HSET duro:namespace:huge retention_ms 9000000000000000000");
    cr_assert(x && x->type == REDIS_REPLY_INTEGER);
    freeReplyObject(x);
    char err[256];
    duro_client_opts co = {.namespace_ = "huge"};
    cr_assert_eq(duro_client_new_opts(&c, &co, err, sizeof(err)), 0, "%s", err);
    duro_test_start(c, "big", "activities", "nobody", NULL, 0);
    cr_assert_eq(duro_client_terminate(c, "big", NULL), 0, "%s",
                 duro_client_errstr(c));
    cJSON *d = NULL;
    cr_assert_eq(duro_client_describe(c, "big", &d), 0);
    cr_assert_str_eq(duro_test_str(d, "status"), "TERMINATED");
    cJSON_Delete(d);
    int p = duro_partition_of("big", duro_client_partitions(c));
    x = redisCommand(r, "PTTL duro:ns:huge:{p%d}:wf:big", p);
    cr_assert(x && x->type == REDIS_REPLY_INTEGER && x->integer > 0,
              "the closed run's hash expires");
    freeReplyObject(x);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* A batch of vx:close entries the sweep cannot remove (no row: written by
 * hand; a running run's id) is stepped over: the closed run after them
 * still goes (archived), and the running one stays (not archived). */
Test(retention_edges, junk_entries_do_not_stall_the_sweep)
{
    duro_client *c = duro_test_client(&h);
    cr_assert_eq(duro_client_namespace_create(c, "junk", 1000, NULL), 0, "%s",
                 duro_client_errstr(c));
    duro_client_free(c);
    char err[256];
    duro_client_opts co = {.namespace_ = "junk"};
    cr_assert_eq(duro_client_new_opts(&c, &co, err, sizeof(err)), 0, "%s", err);
    int parts = duro_client_partitions(c);
    int p = duro_partition_of("closed", parts);
    char live[32] = "";
    for (int i = 0; i < 10000 && !*live; i++) {
        char id[32];
        snprintf(id, sizeof(id), "live-%d", i);
        if (duro_partition_of(id, parts) == p)
            snprintf(live, sizeof(live), "%s", id);
    }
    duro_test_start(c, live, "activities", "nobody", NULL, 0);
    char *live_run = current_run(c, live);
    duro_test_start(c, "closed", "activities", "nobody", NULL, 0);
    char *closed_run = current_run(c, "closed");
    cr_assert_eq(duro_client_terminate(c, "closed", NULL), 0, "%s",
                 duro_client_errstr(c));
    redisContext *r = duro_test_redis(&h);
    char vx[128];
    snprintf(vx, sizeof(vx), "duro:ns:junk:{p%d}:vx:close", p);
    for (int i = 1; i <= 3; i++) {
        redisReply *x = redisCommand(r, "ZADD %s %d junk-%d", vx, i, i);
        cr_assert(x && x->type == REDIS_REPLY_INTEGER);
        freeReplyObject(x);
    }
    redisReply *x = redisCommand(r, "ZADD %s 4 %s", vx, live_run);
    cr_assert(x && x->type == REDIS_REPLY_INTEGER);
    freeReplyObject(x);
    char dir[PATH_MAX + 16];
    snprintf(dir, sizeof(dir), "%s/archive", h.dir);
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "200ms", "--batch",
                    "4", "--archive-dir", dir, NULL);
    /* its row: the hash's own expiry (retention + 5.1 s) does not take
     * it, only the sweep does */
    char row[128];
    snprintf(row, sizeof(row), "duro:ns:junk:{p%d}:vis:%s", p, closed_run);
    bool gone =
        duro_test_wait_until(integer(r, "EXISTS %s%s", row, "") == 0, 8000);
    cr_assert(gone, "the closed run behind the junk was not swept");
    cJSON *d = NULL;
    cr_assert_eq(duro_client_describe(c, live, &d), 0);
    cr_assert_str_eq(duro_test_str(d, "status"), "RUNNING");
    cJSON_Delete(d);
    snprintf(row, sizeof(row), "duro:ns:junk:{p%d}:vis:%s", p, live_run);
    cr_assert_eq(integer(r, "EXISTS %s%s", row, ""), 1, "live row gone");
    /* archived: the closed run, never the running one */
    cr_assert_eq(duro_test_archive_lines(dir, "junk", closed_run), 1);
    cr_assert_eq(duro_test_archive_lines(dir, "junk", live_run), 0,
                 "a running run archived");
    free(live_run);
    free(closed_run);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* Two schedulers sweeping at once: one reads a run's row, the other
 * archives and removes the run, the first reads its history then (gone)
 * and writes a second line without events. The history read back is the
 * full one. */
Test(retention_edges, archived_line_without_events_does_not_hide_the_run)
{
    char dir[PATH_MAX + 16];
    snprintf(dir, sizeof(dir), "%s/archive", h.dir);
    duro_client *c = duro_test_client(&h);
    cr_assert_eq(duro_client_namespace_create(c, "twice", 1000, NULL), 0, "%s",
                 duro_client_errstr(c));
    duro_client_free(c);
    char err[256];
    duro_client_opts co = {.namespace_ = "twice"};
    cr_assert_eq(duro_client_new_opts(&c, &co, err, sizeof(err)), 0, "%s", err);
    duro_test_spawn(&h, "duro-test-worker", "--namespace", "twice", NULL);
    duro_test_start(c, "t1", "activities", "test", NULL, 0);
    cJSON *d = duro_test_result(c, "t1", 20000);
    cJSON_Delete(d);
    duro_test_output o;
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "history", "-n", "twice",
                  "-w", "t1", "-o", "json", NULL);
    cr_assert_eq(o.exit_code, 0, "history: %s", o.err);
    char *live = strdup(o.out);
    duro_test_output_free(&o);
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "200ms",
                    "--archive-dir", dir, NULL);
    bool gone = duro_test_wait_until(
        duro_client_describe(c, "t1", &d) == DURO_ENOTFOUND, 8000);
    cr_assert(gone, "not swept");

    /* the day's file: its one line again, without events */
    DIR *dd = opendir(dir);
    cr_assert_not_null(dd);
    struct dirent *e;
    char path[PATH_MAX + 300] = "";
    while ((e = readdir(dd)))
        if (strncmp(e->d_name, "twice-", 6) == 0)
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
    closedir(dd);
    FILE *f = fopen(path, "r+");
    cr_assert_not_null(f, "%s", path);
    static char line[1 << 16];
    cr_assert_not_null(fgets(line, sizeof(line), f));
    char *hist = strstr(line, ",\"history\":[");
    cr_assert_not_null(hist, "%s", line);
    snprintf(hist, sizeof(line) - (size_t)(hist - line), ",\"history\":[]}\n");
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    cr_assert_gt(fputs(line, f), -1);
    cr_assert_eq(fclose(f), 0);

    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "history", "-n", "twice",
                  "-w", "t1", "--archived", "--archive-dir", dir, "-o", "json",
                  NULL);
    cr_assert_eq(o.exit_code, 0, "history --archived: %s", o.err);
    cr_assert_str_eq(o.out, live);
    duro_test_output_free(&o);
    free(live);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* The update records of an older run of a reused id live in the hash of
 * the run after it: when retention removes the older run, they go too,
 * and nothing of the running one. */
Test(retention_edges, older_runs_update_records_go_with_it)
{
    duro_client *c = duro_test_client(&h);
    cr_assert_eq(duro_client_namespace_create(c, "upd", 1000, NULL), 0, "%s",
                 duro_client_errstr(c));
    duro_client_free(c);
    char err[256];
    duro_client_opts co = {.namespace_ = "upd"};
    cr_assert_eq(duro_client_new_opts(&c, &co, err, sizeof(err)), 0, "%s", err);
    duro_test_spawn(&h, "duro-test-worker", "--namespace", "upd", NULL);
    duro_test_start(c, "u1", "updatable", "test", NULL, 0);
    char *res = NULL;
    cr_assert_eq(
        duro_client_update(c, "u1", "bump", "{\"n\":2}", "bump-1", 10000, &res),
        0, "%s", duro_client_errstr(c));
    free(res);
    cr_assert_eq(duro_client_signal(c, "u1", "done", NULL, NULL), 0, "%s",
                 duro_client_errstr(c));
    cJSON *d = duro_test_result(c, "u1", 20000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cJSON_Delete(d);
    char *old = current_run(c, "u1");
    duro_test_start(c, "u1", "updatable", "nobody", NULL, 0);
    char *now = current_run(c, "u1");
    redisContext *r = duro_test_redis(&h);
    int p = duro_partition_of("u1", duro_client_partitions(c));
    char wf[128], field[128];
    snprintf(wf, sizeof(wf), "duro:ns:upd:{p%d}:wf:u1", p);
    snprintf(field, sizeof(field), "u:%s:bump-1", old);
    cr_assert_eq(integer(r, "HEXISTS %s %s", wf, field), 1,
                 "the update is recorded in the hash");
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "200ms", NULL);
    char row[128];
    snprintf(row, sizeof(row), "duro:ns:upd:{p%d}:vis:%s", p, old);
    bool gone =
        duro_test_wait_until(integer(r, "EXISTS %s%s", row, "") == 0, 8000);
    cr_assert(gone, "the older run was not swept");
    cr_assert_eq(integer(r, "HEXISTS %s %s", wf, field), 0,
                 "the older run's update record is left");
    d = NULL;
    cr_assert_eq(duro_client_describe(c, "u1", &d), 0);
    cr_assert_str_eq(duro_test_str(d, "status"), "RUNNING");
    cr_assert_str_eq(duro_test_str(d, "runId"), now);
    cJSON_Delete(d);
    free(old);
    free(now);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}
