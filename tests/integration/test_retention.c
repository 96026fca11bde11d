/* test_retention.c: retention and deletion: a closed run disappears once
 * its namespace's retention passed (nothing of it left in a SCAN of every
 * key), its hash and history carry an expiry from the moment it closes, a
 * new run of a reused id is not killed by the old run's expiry,
 * `duro workflow delete` (closed, running, an older run), and archival
 * (`duro-scheduler --archive-dir`, `duro workflow history --archived`).
 *
 * Runs meant to stay RUNNING go to task queue "nobody". */
#include <criterion/criterion.h>
#include <dirent.h>
#include <limits.h>
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

TestSuite(retention, .init = setup, .fini = duro_test_fini, .timeout = 90);

#define RUN_MS 10000

static duro_client *ns_client(const char *ns, int64_t retention_ms)
{
    duro_client *c = duro_test_client(&h);
    cr_assert_eq(duro_client_namespace_create(c, ns, retention_ms, NULL), 0,
                 "%s", duro_client_errstr(c));
    duro_client_free(c);
    char err[256];
    duro_client_opts o = {.namespace_ = ns};
    cr_assert_eq(duro_client_new_opts(&c, &o, err, sizeof(err)), 0, "%s", err);
    return c;
}

/* mentions: every key whose name holds s, plus every member holding s of
 * the sorted sets and sets (indexes, timers); one line each, in out. */
static int mentions(redisContext *r, const char *s, char *out, size_t size)
{
    int n = 0;
    size_t used = 0;
    out[0] = '\0';
    char cursor[32] = "0";
    do {
        redisReply *x = redisCommand(r, "SCAN %s COUNT 1000", cursor);
        cr_assert(x && x->type == REDIS_REPLY_ARRAY);
        snprintf(cursor, sizeof(cursor), "%s", x->element[0]->str);
        for (size_t i = 0; i < x->element[1]->elements; i++) {
            const char *key = x->element[1]->element[i]->str;
            bool hit = strstr(key, s) != NULL;
            redisReply *t = redisCommand(r, "TYPE %s", key);
            const char *type = t->str;
            redisReply *m = NULL;
            if (!hit && strcmp(type, "zset") == 0)
                m = redisCommand(r, "ZRANGE %s 0 -1", key);
            else if (!hit && strcmp(type, "set") == 0)
                m = redisCommand(r, "SMEMBERS %s", key);
            for (size_t j = 0; m && j < m->elements; j++)
                hit |= strstr(m->element[j]->str, s) != NULL;
            freeReplyObject(m);
            freeReplyObject(t);
            if (hit) {
                n++;
                used += (size_t)snprintf(out + used, size - used, "%s\n", key);
                if (used >= size) used = size - 1;
            }
        }
        freeReplyObject(x);
    } while (strcmp(cursor, "0") != 0);
    return n;
}

static long long pttl(redisContext *r, const char *key)
{
    redisReply *x = redisCommand(r, "PTTL %s", key);
    long long v = x->integer;
    freeReplyObject(x);
    return v;
}

static char *current_run(duro_client *c, const char *id)
{
    cJSON *d = NULL;
    cr_assert_eq(duro_client_describe(c, id, &d), 0, "%s",
                 duro_client_errstr(c));
    char *run = strdup(duro_test_str(d, "runId"));
    cJSON_Delete(d);
    return run;
}

/* ---- Retention ---- */

Test(retention, closed_run_disappears_after_retention)
{
    duro_client *c = ns_client("short", 1000);
    int port = duro_test_free_port();
    char addr[32];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "200ms",
                    "--metrics-addr", addr, NULL);
    duro_test_spawn(&h, "duro-test-worker", "--namespace", "short", NULL);
    /* a workflow that keeps running in the same partition's indexes */
    duro_test_start(c, "keep-open", "activities", "nobody", NULL, 0);
    duro_test_start(c, "gone-soon", "activities", "test", NULL, 0);
    cJSON *d = duro_test_result(c, "gone-soon", 20000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cJSON_Delete(d);
    redisContext *r = duro_test_redis(&h);
    char left[4096];
    cr_assert_gt(mentions(r, "gone-soon", left, sizeof(left)), 0);
    bool gone = duro_test_wait_until(
        mentions(r, "gone-soon", left, sizeof(left)) == 0, 8000);
    cr_assert(gone, "left after retention:\n%s", left);
    static char page[65536];
    cr_assert_eq(duro_test_http_get(port, "/metrics", page, sizeof(page)), 200);
    cr_assert(strstr(page, "duro_scheduler_retention_removed_total{"
                           "namespace=\"short\"} 1"),
              "%s", page);
    cr_assert_eq(duro_client_describe(c, "gone-soon", &d), DURO_ENOTFOUND);
    /* the running one stays */
    d = NULL;
    cr_assert_eq(duro_client_describe(c, "keep-open", &d), 0);
    cr_assert_str_eq(duro_test_str(d, "status"), "RUNNING");
    cJSON_Delete(d);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* A closing Function sets the expiry itself: without any scheduler, the
 * hash and history of a closed run expire after retention (+ the grace
 * the sweep has to archive first: retention/10 + 5 s). */
Test(retention, close_sets_expiry)
{
    duro_client *c = ns_client("ttl", 2000);
    duro_test_spawn(&h, "duro-test-worker", "--namespace", "ttl", NULL);
    duro_test_start(c, "t1", "activities", "test", NULL, 0);
    cJSON *d = duro_test_result(c, "t1", 20000);
    cJSON_Delete(d);
    char *run = current_run(c, "t1");
    redisContext *r = duro_test_redis(&h);
    int p = duro_partition_of("t1", duro_client_partitions(c));
    char wf[128], hist[160];
    snprintf(wf, sizeof(wf), "duro:ns:ttl:{p%d}:wf:t1", p);
    snprintf(hist, sizeof(hist), "duro:ns:ttl:{p%d}:h:t1:%s", p, run);
    long long a = pttl(r, wf), b = pttl(r, hist);
    cr_assert(a > 6000 && a <= 7200, "wf PTTL %lld", a);
    cr_assert(b > 6000 && b <= 7200, "history PTTL %lld", b);
    free(run);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* A new run of a reused id rewrites the same hash: the old run's expiry
 * must not carry over to it (it would delete a running workflow). */
Test(retention, new_run_of_reused_id_survives_old_expiry)
{
    duro_client *c = ns_client("reuse", 1000);
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "200ms", NULL);
    duro_test_spawn(&h, "duro-test-worker", "--namespace", "reuse", NULL);
    duro_test_start(c, "r1", "activities", "test", NULL, 0);
    cJSON *d = duro_test_result(c, "r1", 20000);
    cJSON_Delete(d);
    redisContext *r = duro_test_redis(&h);
    int p = duro_partition_of("r1", duro_client_partitions(c));
    char wf[128];
    snprintf(wf, sizeof(wf), "duro:ns:reuse:{p%d}:wf:r1", p);
    cr_assert_gt(pttl(r, wf), 0, "the closed run's hash expires");
    duro_test_start(c, "r1", "activities", "nobody", NULL, 0);
    cr_assert_eq(pttl(r, wf), -1, "the new run's hash must not expire");
    duro_test_sleep_ms(2500); /* past retention, several sweeps */
    d = NULL;
    cr_assert_eq(duro_client_describe(c, "r1", &d), 0, "%s",
                 duro_client_errstr(c));
    cr_assert_str_eq(duro_test_str(d, "status"), "RUNNING");
    cJSON_Delete(d);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* ---- Delete ---- */

Test(retention, delete_closed_running_and_older_run)
{
    duro_client *c = duro_test_client(&h);
    duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_test_start(c, "del-closed", "activities", "test", NULL, 0);
    cJSON *d = duro_test_result(c, "del-closed", 20000);
    cJSON_Delete(d);
    redisContext *r = duro_test_redis(&h);
    char left[4096];
    duro_test_output o;
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "delete", "-w",
                  "del-closed", NULL);
    cr_assert_eq(o.exit_code, 0, "delete closed: %s", o.err);
    duro_test_output_free(&o);
    cr_assert_eq(mentions(r, "del-closed", left, sizeof(left)), 0, "%s", left);

    /* a running one is terminated, then removed */
    duro_test_start(c, "del-open", "activities", "nobody", NULL, 0);
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "delete", "-w",
                  "del-open", NULL);
    cr_assert_eq(o.exit_code, 0, "delete running: %s", o.err);
    duro_test_output_free(&o);
    cr_assert_eq(duro_client_describe(c, "del-open", &d), DURO_ENOTFOUND);
    /* the task it had queued may stay in the stream: a worker drops a task
     * whose workflow is gone; nothing else of it is left */
    int n = mentions(r, "del-open", left, sizeof(left));
    cr_assert_eq(n, 0, "%s", left);

    /* an older run by --run-id: only its history goes */
    duro_test_start(c, "del-old", "activities", "test", NULL, 0);
    d = duro_test_result(c, "del-old", 20000);
    cJSON_Delete(d);
    char *old = current_run(c, "del-old");
    duro_test_start(c, "del-old", "activities", "nobody", NULL, 0);
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "delete", "-w", "del-old",
                  "--run-id", old, NULL);
    cr_assert_eq(o.exit_code, 0, "delete old run: %s", o.err);
    duro_test_output_free(&o);
    cJSON *ev = NULL;
    cr_assert_eq(duro_client_history(c, "del-old", old, &ev), DURO_ENOTFOUND);
    d = NULL;
    cr_assert_eq(duro_client_describe(c, "del-old", &d), 0);
    cr_assert_str_eq(duro_test_str(d, "status"), "RUNNING");
    cJSON_Delete(d);
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "delete", "-w", "del-old",
                  "--run-id", old, NULL);
    cr_assert_eq(o.exit_code, 1, "deleting it again: %s", o.out);
    duro_test_output_free(&o);
    free(old);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* ---- Archival ---- */

static int archive_files(const char *dir, const char *ns)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    size_t l = strlen(ns);
    while ((e = readdir(d)))
        if (strncmp(e->d_name, ns, l) == 0 && e->d_name[l] == '-' &&
            strstr(e->d_name, ".jsonl"))
            n++;
    closedir(d);
    return n;
}

/* double_archive appends namespace ns's archive file to itself, as a
 * crash between archiving a run and removing it leaves it. */
static void double_archive(const char *dir, const char *ns)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    struct dirent *e;
    char path[PATH_MAX + 300] = "";
    while ((e = readdir(d)))
        if (strncmp(e->d_name, ns, strlen(ns)) == 0)
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
    closedir(d);
    FILE *f = fopen(path, "r+");
    cr_assert_not_null(f, "%s", path);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof(buf), f);
    cr_assert(n > 0 && n < sizeof(buf));
    cr_assert_eq(fseek(f, 0, SEEK_END), 0); /* between a read and a write */
    cr_assert_eq(fwrite(buf, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(duro_test_count_lines(path, "{"), 2);
}

/* The history read back from the archive is the one Redis had; a run
 * written twice (a crash between archiving and removing it) reads once. */
Test(retention, archive_round_trip)
{
    char dir[PATH_MAX + 16];
    snprintf(dir, sizeof(dir), "%s/archive", h.dir);
    duro_client *c = ns_client("arch", 1000);
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "200ms",
                    "--archive-dir", dir, NULL);
    duro_test_spawn(&h, "duro-test-worker", "--namespace", "arch", NULL);
    duro_test_start(c, "a1", "activities", "test", NULL, 0);
    cJSON *d = duro_test_result(c, "a1", 20000);
    cJSON_Delete(d);
    char *run = current_run(c, "a1");
    duro_test_output o;
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "history", "-n", "arch",
                  "-w", "a1", "-o", "json", NULL);
    cr_assert_eq(o.exit_code, 0, "history: %s", o.err);
    char *live = strdup(o.out);
    duro_test_output_free(&o);
    bool gone = duro_test_wait_until(
        duro_client_describe(c, "a1", &d) == DURO_ENOTFOUND, 8000);
    cr_assert(gone, "not swept");
    cr_assert_eq(archive_files(dir, "arch"), 1);
    /* the row holds no `run` (library 31): the line names it all the same */
    char meta[128];
    snprintf(meta, sizeof(meta), "\"workflowId\":\"a1\",\"runId\":\"%s\"", run);
    cr_assert_eq(duro_test_archive_lines(dir, "arch", meta), 1,
                 "no line has %s", meta);
    free(run);

    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "history", "-n", "arch",
                  "-w", "a1", "--archived", "--archive-dir", dir, "-o", "json",
                  NULL);
    cr_assert_eq(o.exit_code, 0, "history --archived: %s", o.err);
    cr_assert_str_eq(o.out, live);
    duro_test_output_free(&o);

    /* the same line twice reads as one run */
    double_archive(dir, "arch");
    setenv("DURO_ARCHIVE_DIR", dir, 1);
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "history", "-n", "arch",
                  "-w", "a1", "--archived", "-o", "json", NULL);
    unsetenv("DURO_ARCHIVE_DIR");
    cr_assert_eq(o.exit_code, 0, "history --archived again: %s", o.err);
    cr_assert_str_eq(o.out, live);
    duro_test_output_free(&o);

    /* another namespace's archive has no a1 */
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "history", "-w", "a1",
                  "--archived", "--archive-dir", dir, NULL);
    cr_assert_eq(o.exit_code, 1, "%s", o.out);
    duro_test_output_free(&o);
    free(live);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* Archive before delete: while the archive cannot be written, the sweep
 * removes nothing (the run stays past its retention). */
Test(retention, unwritable_archive_keeps_the_run)
{
    char dir[PATH_MAX + 32];
    snprintf(dir, sizeof(dir), "%s/a-file/archive", h.dir);
    char file[PATH_MAX + 16];
    snprintf(file, sizeof(file), "%s/a-file", h.dir);
    FILE *f = fopen(file, "w"); /* a file where the directory's parent goes */
    cr_assert_not_null(f);
    fclose(f);
    duro_client *c = ns_client("noarch", 500);
    pid_t s = duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms",
                              "--archive-dir", dir, NULL);
    duro_test_spawn(&h, "duro-test-worker", "--namespace", "noarch", NULL);
    duro_test_start(c, "kept", "activities", "test", NULL, 0);
    cJSON *d = duro_test_result(c, "kept", 20000);
    cJSON_Delete(d);
    bool tried = duro_test_wait_until(
        duro_test_log_contains(&h, s, "ARCHIVE FAILED"), 5000);
    cr_assert(tried, "the sweep never tried to archive");
    duro_test_sleep_ms(500); /* more sweeps */
    d = NULL;
    cr_assert_eq(duro_client_describe(c, "kept", &d), 0, "%s",
                 duro_client_errstr(c));
    cJSON_Delete(d);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* ---- Every run of a reused id ---- */

/* closed_run starts id on queue, waits for it to complete and returns its
 * run id (free). */
static char *closed_run(duro_client *c, const char *id, const char *queue)
{
    duro_test_start(c, id, "activities", queue, NULL, 0);
    cJSON *d = duro_test_result(c, id, 20000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cJSON_Delete(d);
    return current_run(c, id);
}

/* none_left: nothing names id or any of its runs (keys, index members),
 * `workflow list` shows none of them and `workflow count` only `others`
 * (runs of other ids). */
static void none_left(duro_client *c, const char *ns, const char *id,
                      char *const *runs, int nruns, int64_t others)
{
    redisContext *r = duro_test_redis(&h);
    char left[4096];
    bool gone =
        duro_test_wait_until(mentions(r, id, left, sizeof(left)) == 0, 10000);
    cr_assert(gone, "left of %s after retention:\n%s", id, left);
    for (int i = 0; i < nruns; i++) {
        gone = duro_test_wait_until(
            mentions(r, runs[i], left, sizeof(left)) == 0, 5000);
        cr_assert(gone, "left of run %d (%s):\n%s", i + 1, runs[i], left);
    }
    redisFree(r);
    int64_t n = -1;
    cr_assert_eq(duro_client_count(c, "", &n), 0, "%s", duro_client_errstr(c));
    cr_assert_eq(n, others, "count after retention: %lld", (long long)n);
    duro_test_output o;
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "list", "-n", ns, NULL);
    cr_assert_eq(o.exit_code, 0, "list: %s", o.err);
    cr_assert_null(strstr(o.out, id), "%s", o.out);
    for (int i = 0; i < nruns; i++)
        cr_assert_null(strstr(o.out, runs[i]), "%s", o.out);
    duro_test_output_free(&o);
}

/* Each execution is its own row: retention removes the older runs of a
 * reused id (row, index entries, history) as well as the current one. */
Test(retention, every_run_of_a_reused_id_is_swept)
{
    duro_client *c = ns_client("again", 800);
    duro_test_spawn(&h, "duro-test-worker", "--namespace", "again", NULL);
    char *runs[3];
    for (int i = 0; i < 3; i++)
        runs[i] = closed_run(c, "twice", "test");
    int64_t n = -1;
    cr_assert_eq(duro_client_count(c, "", &n), 0);
    cr_assert_eq(n, 3, "every run is listed before retention: %lld",
                 (long long)n);
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "200ms", NULL);
    none_left(c, "again", "twice", runs, 3, 0);
    for (int i = 0; i < 3; i++)
        free(runs[i]);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* Older runs go while the id's current run keeps running: their rows,
 * index entries, histories and the hash's reset:<run> field of a reset
 * run. */
Test(retention, older_runs_go_while_the_current_one_runs)
{
    duro_client *c = ns_client("older", 800);
    duro_test_spawn(&h, "duro-test-worker", "--namespace", "older", NULL);
    char *runs[2];
    runs[0] = closed_run(c, "kept", "test");
    char reset_run[DURO_UUID_LEN + 1];
    duro_reset_opts o = {.workflow_id = "kept",
                         .run_id = runs[0],
                         .point = DURO_RESET_LAST_WORKFLOW_TASK,
                         .reason = "retention test"};
    cr_assert_eq(duro_client_reset(c, &o, reset_run), 0, "%s",
                 duro_client_errstr(c));
    cJSON *d = duro_test_result(c, "kept", 20000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cJSON_Delete(d);
    runs[1] = strdup(reset_run);
    duro_test_start(c, "kept", "activities", "nobody", NULL, 0);
    char *current = current_run(c, "kept");
    redisContext *r = duro_test_redis(&h);
    int p = duro_partition_of("kept", duro_client_partitions(c));
    char wf[128];
    snprintf(wf, sizeof(wf), "duro:ns:older:{p%d}:wf:kept", p);
    redisReply *x = redisCommand(r, "HEXISTS %s reset:%s", wf, runs[0]);
    cr_assert_eq(x->integer, 1, "the reset is recorded in the hash");
    freeReplyObject(x);

    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "200ms", NULL);
    char left[4096];
    for (int i = 0; i < 2; i++) {
        bool gone = duro_test_wait_until(
            mentions(r, runs[i], left, sizeof(left)) == 0, 10000);
        cr_assert(gone, "left of run %d (%s):\n%s", i + 1, runs[i], left);
    }
    x = redisCommand(r, "HEXISTS %s reset:%s", wf, runs[0]);
    cr_assert_eq(x->integer, 0, "reset:<run> of a removed run left");
    freeReplyObject(x);
    int64_t n = -1;
    cr_assert_eq(duro_client_count(c, "", &n), 0);
    cr_assert_eq(n, 1, "only the running run is left: %lld", (long long)n);
    d = NULL;
    cr_assert_eq(duro_client_describe(c, "kept", &d), 0);
    cr_assert_str_eq(duro_test_str(d, "status"), "RUNNING");
    cr_assert_str_eq(duro_test_str(d, "runId"), current);
    cJSON_Delete(d);
    for (int i = 0; i < 2; i++)
        free(runs[i]);
    free(current);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* A sweep that stops between archiving runs and removing them (here its
 * Redis user may not DEL, so every duro_purge fails, then it is killed):
 * the next sweep archives each run once more and removes everything. */
Test(retention, sweep_killed_between_archive_and_purge_repeats_once)
{
    char dir[PATH_MAX + 16];
    snprintf(dir, sizeof(dir), "%s/archive", h.dir);
    duro_client *c = ns_client("crash", 500);
    duro_test_spawn(&h, "duro-test-worker", "--namespace", "crash", NULL);
    char *runs[2];
    for (int i = 0; i < 2; i++)
        runs[i] = closed_run(c, "crashy", "test");

    redisContext *r = duro_test_redis(&h);
    redisReply *x =
        redisCommand(r, "ACL SETUSER nodel on >pw ~* &* +@all -del -unlink");
    cr_assert(x && x->type == REDIS_REPLY_STATUS);
    freeReplyObject(x);
    const char *url = getenv("DURO_REDIS_URL");
    cr_assert(url && strncmp(url, "redis://", 8) == 0);
    char *saved = strdup(url);
    char nodel[256];
    snprintf(nodel, sizeof(nodel), "redis://nodel:pw@%s", saved + 8);
    setenv("DURO_REDIS_URL", nodel, 1);
    pid_t s = duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms",
                              "--archive-dir", dir, NULL);
    setenv("DURO_REDIS_URL", saved, 1);
    bool archived = duro_test_wait_until(
        duro_test_archive_lines(dir, "crash", runs[0]) >= 1 &&
            duro_test_archive_lines(dir, "crash", runs[1]) >= 1,
        8000);
    cr_assert(archived, "the first sweep did not archive both runs");
    duro_test_kill(&h, s, SIGKILL);
    duro_test_wait_exit(&h, s, 5000);
    int before[2] = {duro_test_archive_lines(dir, "crash", runs[0]),
                     duro_test_archive_lines(dir, "crash", runs[1])};
    int64_t n = -1;
    cr_assert_eq(duro_client_count(c, "", &n), 0);
    cr_assert_eq(n, 2, "archived, not removed: %lld", (long long)n);

    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms",
                    "--archive-dir", dir, NULL);
    none_left(c, "crash", "crashy", runs, 2, 0);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(duro_test_archive_lines(dir, "crash", runs[i]),
                     before[i] + 1, "run %d archived %d times, then %d", i + 1,
                     before[i], duro_test_archive_lines(dir, "crash", runs[i]));
        free(runs[i]);
    }
    free(saved);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* A closed run written the way a library before visibility rows left it
 * (idx:closed, no row, no expiry) and a running one (idx:open): the
 * scheduler migrates both indexes to rows, sweeps the closed run and
 * counts the running one once. */
Test(retention, upgraded_layout_closed_run_is_swept)
{
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    int parts = duro_client_partitions(c);
    const char *run = "33333333-3333-4333-8333-333333333333";
    int p = duro_partition_of("old-c", parts);
    long long closed = 1000; /* 1970: long past any retention */
    redisReply *x = redisCommand(
        r,
        "HSET duro:{p%d}:wf:old-c run %s type activities queue test status "
        "COMPLETED input {} result {} start_ms 500 close_ms %lld hlen 1 "
        "token 1",
        p, run, closed);
    freeReplyObject(x);
    x = redisCommand(r, "RPUSH duro:{p%d}:h:old-c:%s x", p, run);
    freeReplyObject(x);
    x = redisCommand(r, "ZADD duro:{p%d}:idx:closed %lld old-c", p, closed);
    freeReplyObject(x);
    int q = duro_partition_of("old-o", parts);
    x = redisCommand(r,
                     "HSET duro:{p%d}:wf:old-o run 44444444-4444-4444-8444-"
                     "444444444444 type activities queue nobody status "
                     "RUNNING input {} start_ms 600 close_ms \"\" hlen 0 "
                     "token 1",
                     q);
    freeReplyObject(x);
    x = redisCommand(r, "ZADD duro:{p%d}:idx:open 600 old-o", q);
    freeReplyObject(x);

    cr_assert_eq(duro_client_namespace_update(c, "default", 1000, NULL), 0);
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "200ms", NULL);
    char *runs[1] = {(char *)run};
    none_left(c, "default", "old-c", runs, 1, 1);
    /* both old indexes are empty now; the running run has its row */
    for (int i = 0; i < 2; i++) {
        x = redisCommand(r, "EXISTS duro:{p%d}:idx:%s", i ? p : q,
                         i ? "closed" : "open");
        cr_assert_eq(x->integer, 0, "idx:%s left", i ? "closed" : "open");
        freeReplyObject(x);
    }
    x = redisCommand(r,
                     "HGET duro:{p%d}:vis:44444444-4444-4444-8444-"
                     "444444444444 status",
                     q);
    cr_assert_eq(x->type, REDIS_REPLY_STRING);
    cr_assert_str_eq(x->str, "RUNNING");
    freeReplyObject(x);
    duro_namespace_info info;
    cr_assert_eq(duro_client_namespace_describe(c, "default", &info), 0, "%s",
                 duro_client_errstr(c));
    cr_assert_eq(info.open_count, 1, "running: %lld", info.open_count);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* ---- What a closed run keeps ---- */

static long long memory_usage(redisContext *r, const char *key)
{
    redisReply *x = redisCommand(r, "MEMORY USAGE %s SAMPLES 0", key);
    long long n = x && x->type == REDIS_REPLY_INTEGER ? x->integer : 0;
    freeReplyObject(x);
    return n;
}

/* A closed 3-activity run's keys (hash, history, visibility row) stay
 * within their budget, no idx:open/idx:closed is written, and activity
 * options at their defaults are not spelled out in the history. */
Test(retention, closed_run_memory_budget)
{
    duro_client *c = duro_test_client(&h);
    duro_test_spawn(&h, "duro-test-worker", NULL);
    char *run = closed_run(c, "budget", "test");
    redisContext *r = duro_test_redis(&h);
    duro_wf_keys k;
    duro_wf_keys_init(&k, DURO_KEYSPACE_DEFAULT(duro_client_partitions(c)),
                      "budget", run);
    char row[DURO_KEY_MAX];
    duro_key_vis(row, sizeof(row),
                 DURO_KEYSPACE_DEFAULT(duro_client_partitions(c)), k.partition,
                 run);
    long long wf = memory_usage(r, k.wf), hist = memory_usage(r, k.hist),
              vis = memory_usage(r, row);
    cr_assert(wf > 0 && hist > 0 && vis > 0);
    cr_assert_leq(wf + hist + vis, 1800,
                  "closed run: hash %lld + history %lld + row %lld B", wf, hist,
                  vis);
    redisReply *x = redisCommand(r, "EXISTS %s %s", k.idx_open, k.idx_closed);
    cr_assert_eq(x->integer, 0, "idx:open/idx:closed written");
    freeReplyObject(x);
    x = redisCommand(r, "LINDEX %s 2", k.hist); /* ActivityScheduled */
    cr_assert_eq(x->type, REDIS_REPLY_STRING);
    cr_assert_null(strstr(x->str, "heartbeatTimeoutMs"), "%s", x->str);
    cr_assert_null(strstr(x->str, "nonRetryableErrorTypes"), "%s", x->str);
    freeReplyObject(x);
    free(run);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* A workflow hash written by library 26 or older has no `opt` field, which
 * says whether the optional fields (retention, priority, parent, ...) are
 * there: its Functions read them all, so a run started before the upgrade
 * still closes with its namespace's retention, not the default 72 h. */
Test(retention, a_hash_without_opt_still_reads_its_retention)
{
    duro_client *c = ns_client("ttlold", 2000);
    duro_test_start(c, "o1", "activities", "test", NULL, 0);
    redisContext *r = duro_test_redis(&h);
    int p = duro_partition_of("o1", duro_client_partitions(c));
    char wf[128];
    snprintf(wf, sizeof(wf), "duro:ns:ttlold:{p%d}:wf:o1", p);
    redisReply *x = redisCommand(r, "HGET %s opt", wf);
    cr_assert(x && x->type == REDIS_REPLY_STRING && strcmp(x->str, "1") == 0,
              "a start with a retention writes opt 1");
    freeReplyObject(x);
    x = redisCommand(r, "HDEL %s opt", wf); /* library 26's layout */
    cr_assert(x && x->type == REDIS_REPLY_INTEGER && x->integer == 1);
    freeReplyObject(x);
    cr_assert_eq(duro_client_terminate(c, "o1", NULL), 0, "%s",
                 duro_client_errstr(c));
    long long a = pttl(r, wf);
    cr_assert(a > 6000 && a <= 7200, "wf PTTL %lld", a);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}
