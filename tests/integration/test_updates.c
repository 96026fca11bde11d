/* test_updates.c: workflow updates (docs/internals.md, "Updates") through
 * the client library against duro-test-worker's `updatable` workflow:
 * a validator's rejection writes nothing, an update is applied once
 * across a worker killed between its acceptance and its completion, a
 * repeated update id gets the recorded outcome, a closed workflow takes
 * no new update. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "duro/codec.h"
#include "duro/errno.h"
#include "harness.h"

#define QUEUE "test"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(updates, .init = setup, .fini = duro_test_fini, .timeout = 90);

static pid_t spawn_worker(void)
{
    pid_t w = duro_test_spawn(&h, "duro-test-worker", NULL);
    cr_assert(
        duro_test_wait_until(duro_test_log_contains(&h, w, "REDIS UP"), 5000));
    return w;
}

static void spawn_scheduler(void)
{
    pid_t s =
        duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    cr_assert(
        duro_test_wait_until(duro_test_log_contains(&h, s, "REDIS UP"), 5000));
}

/* raw_history: the run's history list as stored, one string. */
static char *raw_history(const char *id)
{
    redisContext *r = duro_test_redis(&h);
    redisReply *k = redisCommand(r, "KEYS duro:*:h:%s:*", id);
    cr_assert(k && k->type == REDIS_REPLY_ARRAY && k->elements == 1);
    redisReply *l = redisCommand(r, "LRANGE %s 0 -1", k->element[0]->str);
    size_t n = 1;
    for (size_t i = 0; i < l->elements; i++)
        n += l->element[i]->len + 1;
    char *s = calloc(1, n);
    for (size_t i = 0; i < l->elements; i++) {
        strcat(s, l->element[i]->str);
        strcat(s, "\x1e");
    }
    freeReplyObject(l);
    freeReplyObject(k);
    redisFree(r);
    return s;
}

static int update_fields(const char *id)
{
    redisContext *r = duro_test_redis(&h);
    redisReply *k = redisCommand(r, "KEYS duro:*:wf:%s", id);
    cr_assert(k && k->elements == 1);
    redisReply *f = redisCommand(r, "HKEYS %s", k->element[0]->str);
    int n = 0;
    for (size_t i = 0; i < f->elements; i++)
        n += strncmp(f->element[i]->str, "u:", 2) == 0;
    freeReplyObject(f);
    freeReplyObject(k);
    redisFree(r);
    return n;
}

static int count_in(const cJSON *hist, const char *type)
{
    return duro_test_count_events(hist, type);
}

Test(updates, rejected_by_the_validator_leaves_history_untouched)
{
    spawn_worker();
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "u-reject", "updatable", QUEUE, NULL, 0);
    char *res = NULL;
    cr_assert_eq(duro_client_update(c, "u-reject", "bump", "{\"n\":2}", NULL,
                                    10000, &res),
                 0, "%s", duro_client_errstr(c));
    cr_assert_str_eq(res, "2");
    free(res);
    char *before = raw_history("u-reject");
    int fields = update_fields("u-reject");
    int rc = duro_client_update(c, "u-reject", "bump", "{\"n\":-1}", "neg-1",
                                10000, &res);
    cr_assert_eq(rc, DURO_EINVAL, "%d %s", rc, duro_client_errstr(c));
    cr_assert_null(res);
    cr_assert(strstr(duro_client_errstr(c), "rejected") &&
                  strstr(duro_client_errstr(c), "negative"),
              "%s", duro_client_errstr(c));
    /* an unknown update is refused the same way, naming the known ones */
    rc = duro_client_update(c, "u-reject", "nope", "null", NULL, 10000, &res);
    cr_assert_eq(rc, DURO_EINVAL);
    cr_assert(strstr(duro_client_errstr(c), "bump"), "%s",
              duro_client_errstr(c));
    char *after = raw_history("u-reject");
    cr_assert_str_eq(after, before, "a rejected update wrote history");
    cr_assert_eq(update_fields("u-reject"), fields);
    free(before);
    free(after);
    /* a handler's failure is the caller's error, recorded; the workflow
     * goes on */
    rc = duro_client_update(c, "u-reject", "broken", "null", NULL, 10000, &res);
    cr_assert_eq(rc, DURO_EINVAL);
    cr_assert(strstr(duro_client_errstr(c), "broken on purpose"), "%s",
              duro_client_errstr(c));
    cr_assert_eq(duro_client_signal(c, "u-reject", "done", NULL, NULL), 0);
    cJSON *d = duro_test_result(c, "u-reject", 20000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cr_assert_eq(duro_test_num(cJSON_GetObjectItem(d, "result"), "count", 0),
                 2);
    cJSON_Delete(d);
    duro_client_free(c);
}

Test(updates, closed_workflow_refuses_a_new_update)
{
    spawn_worker();
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "u-closed", "updatable", QUEUE, NULL, 0);
    char *res = NULL;
    cr_assert_eq(duro_client_update(c, "u-closed", "bump", "{\"n\":4}", "b-4",
                                    10000, &res),
                 0, "%s", duro_client_errstr(c));
    free(res);
    cr_assert_eq(duro_client_signal(c, "u-closed", "done", NULL, NULL), 0);
    cJSON_Delete(duro_test_result(c, "u-closed", 20000));
    int rc = duro_client_update(c, "u-closed", "bump", "{\"n\":1}", NULL, 5000,
                                &res);
    cr_assert_eq(rc, DURO_ENOTRUNNING, "%d %s", rc, duro_client_errstr(c));
    cr_assert(strstr(duro_client_errstr(c), "COMPLETED"), "%s",
              duro_client_errstr(c));
    /* the id it had accepted still answers with its outcome */
    cr_assert_eq(duro_client_update(c, "u-closed", "bump", "{\"n\":4}", "b-4",
                                    5000, &res),
                 0, "%s", duro_client_errstr(c));
    cr_assert_str_eq(res, "4");
    free(res);
    rc = duro_client_update(c, "u-missing", "bump", "null", NULL, 5000, &res);
    cr_assert_eq(rc, DURO_ENOTFOUND);
    duro_client_free(c);
}

/* The worker dies (SIGKILL, in the handler) after UpdateAccepted was
 * recorded and before UpdateCompleted: the caller gets a retryable
 * timeout naming the update id; another worker applies the update once;
 * the retry with the same id gets its result. */
Test(updates, survives_a_worker_killed_between_acceptance_and_completion)
{
    char marker[PATH_MAX + 32];
    snprintf(marker, sizeof(marker), "%s/update-crashed", h.dir);
    setenv("DURO_TEST_UPDATE_CRASH", marker, 1);
    /* the marker exists: the first update does not crash */
    int fd = open(marker, O_CREAT | O_WRONLY, 0600);
    cr_assert(fd >= 0);
    close(fd);
    spawn_scheduler();
    pid_t w1 = spawn_worker();
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "u-crash", "updatable", QUEUE, NULL, 1000);
    char *res = NULL;
    cr_assert_eq(duro_client_update(c, "u-crash", "bump", "{\"n\":1}", "b-1",
                                    10000, &res),
                 0, "%s", duro_client_errstr(c));
    free(res);
    /* without the marker, the next handler run kills its worker */
    unlink(marker);
    int rc = duro_client_update(c, "u-crash", "bump", "{\"n\":10}", "b-10",
                                3000, &res);
    cr_assert_eq(rc, DURO_ETIMEDOUT, "%d %s", rc, duro_client_errstr(c));
    cr_assert(strstr(duro_client_errstr(c), "accepted") &&
                  strstr(duro_client_errstr(c), "b-10"),
              "%s", duro_client_errstr(c));
    cr_assert(duro_test_wait_until(!duro_test_alive(&h, w1), 5000));
    duro_test_kill(&h, w1, SIGKILL); /* on purpose: the test's seam */
    cr_assert_eq(access(marker, F_OK), 0, "the handler did not crash");
    cJSON *hist = duro_test_history(c, "u-crash");
    cr_assert_eq(count_in(hist, "UpdateAccepted"), 2);
    cr_assert_eq(count_in(hist, "UpdateCompleted"), 1);
    cJSON_Delete(hist);

    spawn_worker();
    rc = duro_client_update(c, "u-crash", "bump", "{\"n\":10}", "b-10", 30000,
                            &res);
    cr_assert_eq(rc, 0, "%s", duro_client_errstr(c));
    cr_assert_str_eq(res, "11");
    free(res);
    /* again: the recorded outcome, not applied a second time */
    rc = duro_client_update(c, "u-crash", "bump", "{\"n\":10}", "b-10", 10000,
                            &res);
    cr_assert_eq(rc, 0, "%s", duro_client_errstr(c));
    cr_assert_str_eq(res, "11");
    free(res);
    cr_assert_eq(duro_client_query(c, "u-crash", "count", NULL, 10000, &res),
                 0);
    cr_assert_str_eq(res, "11");
    free(res);
    hist = duro_test_history(c, "u-crash");
    cr_assert_eq(count_in(hist, "UpdateAccepted"), 2);
    cr_assert_eq(count_in(hist, "UpdateCompleted"), 2);
    cJSON_Delete(hist);
    duro_client_free(c);
    unsetenv("DURO_TEST_UPDATE_CRASH");
}

/* With a payload codec the update's input and result are stored sealed
 * (UpdateAccepted, UpdateCompleted, the recorded outcome) and the caller
 * gets them plain. */
Test(updates, payload_codec_seals_input_and_result)
{
    char key[PATH_MAX + 32];
    snprintf(key, sizeof(key), "%s/codec.keys", h.dir);
    FILE *f = fopen(key, "w");
    cr_assert_not_null(f);
    fputs("k1 808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
          "\n",
          f);
    fclose(f);
    chmod(key, 0600);
    setenv(DURO_CODEC_KEY_FILE_ENV, key, 1);
    spawn_worker();
    duro_client *c = duro_test_client(&h);
    duro_codec *codec;
    char err[256];
    cr_assert_eq(duro_codec_aes_new(key, &codec, err, sizeof(err)), 0, "%s",
                 err);
    duro_client_set_codec(c, codec);
    duro_test_start(c, "u-codec", "updatable", QUEUE, NULL, 0);
    char *res = NULL;
    cr_assert_eq(duro_client_update(c, "u-codec", "bump", "{\"n\":40}", "c-1",
                                    10000, &res),
                 0, "%s", duro_client_errstr(c));
    cr_assert_str_eq(res, "40");
    free(res);
    /* the recorded outcome decodes too */
    cr_assert_eq(duro_client_update(c, "u-codec", "bump", "{\"n\":40}", "c-1",
                                    10000, &res),
                 0, "%s", duro_client_errstr(c));
    cr_assert_str_eq(res, "40");
    free(res);
    char *raw = raw_history("u-codec");
    cr_assert_null(strstr(raw, "\"n\":40"), "plain input in %s", raw);
    cr_assert_null(strstr(raw, "\"result\":40"), "plain result in %s", raw);
    cr_assert(strstr(raw, "UC\n") && strstr(raw, "duro:aes256gcm"), "%s", raw);
    free(raw);
    duro_client_free(c);
    duro_codec_aes_free(codec);
    unsetenv(DURO_CODEC_KEY_FILE_ENV);
}

/* A recording Redis refused (OOM: transient) may or may not have run for
 * all the caller knows: the error names the update id to call again with.
 * The update is marked accepted by hand so that the call goes straight to
 * duro_update, the one write refused. */
Test(updates, refused_recording_names_the_update_id)
{
    spawn_worker();
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "u-oom", "updatable", QUEUE, NULL, 0);
    cJSON *d = NULL;
    cr_assert_eq(duro_client_describe(c, "u-oom", &d), 0);
    redisContext *r = duro_test_redis(&h);
    redisReply *k = redisCommand(r, "KEYS duro:*:wf:u-oom");
    cr_assert(k && k->elements == 1);
    freeReplyObject(redisCommand(r, "HSET %s u:%s:x-1 %s", k->element[0]->str,
                                 duro_test_str(d, "runId"), "P gone"));
    freeReplyObject(k);
    cJSON_Delete(d);
    freeReplyObject(redisCommand(r, "CONFIG SET maxmemory 1"));
    char *res = NULL;
    int rc =
        duro_client_update(c, "u-oom", "bump", "{\"n\":1}", "x-1", 3000, &res);
    freeReplyObject(redisCommand(r, "CONFIG SET maxmemory 0"));
    redisFree(r);
    cr_assert(duro_err_is_transient(rc), "%d %s", rc, duro_client_errstr(c));
    cr_assert(strstr(duro_client_errstr(c), "call again with update id x-1"),
              "%s", duro_client_errstr(c));
    duro_client_free(c);
}

/* pending_waiters: the reply lists waiting on update `uid` of the current
 * run of `id` ("P key..." in the workflow hash), 0 once it has an
 * outcome. */
static int pending_waiters(const char *id, const char *run, const char *uid)
{
    redisContext *r = duro_test_redis(&h);
    redisReply *k = redisCommand(r, "KEYS duro:*:wf:%s", id);
    cr_assert(k && k->elements == 1);
    redisReply *v =
        redisCommand(r, "HGET %s u:%s:%s", k->element[0]->str, run, uid);
    int n = 0;
    if (v && v->type == REDIS_REPLY_STRING && strncmp(v->str, "P ", 2) == 0)
        for (const char *p = v->str + 1; (p = strchr(p, ' ')); p++)
            n++;
    freeReplyObject(v);
    freeReplyObject(k);
    redisFree(r);
    return n;
}

/* A run that closes with an update accepted and not completed (its
 * worker died in the handler, and the run is terminated) answers the
 * callers waiting on it at once: the update failed, naming how the run
 * ended. They used to wait out their whole timeout, then be told to
 * call again. */
Test(updates, closing_the_run_answers_a_waiting_update)
{
    char marker[PATH_MAX + 32];
    snprintf(marker, sizeof(marker), "%s/update-crashed", h.dir);
    setenv("DURO_TEST_UPDATE_CRASH", marker, 1);
    pid_t w1 = spawn_worker();
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "u-close", "updatable", QUEUE, NULL, 1000);
    cJSON *d = NULL;
    cr_assert_eq(duro_client_describe(c, "u-close", &d), 0);
    char run[64];
    snprintf(run, sizeof(run), "%s", duro_test_str(d, "runId"));
    cJSON_Delete(d);
    char *res = NULL;
    /* accepted, then its worker dies in the handler */
    int rc = duro_client_update(c, "u-close", "bump", "{\"n\":1}", "b-1", 2000,
                                &res);
    cr_assert_eq(rc, DURO_ETIMEDOUT, "%d %s", rc, duro_client_errstr(c));
    cr_assert(duro_test_wait_until(!duro_test_alive(&h, w1), 5000));
    duro_test_kill(&h, w1, SIGKILL); /* on purpose: the test's seam */
    /* a caller waits on it with a long timeout */
    pid_t cli =
        duro_test_spawn(&h, "duro", "workflow", "update", "--workflow-id",
                        "u-close", "--name", "bump", "--input", "{\"n\":1}",
                        "--update-id", "b-1", "--timeout", "60s", NULL);
    cr_assert(duro_test_wait_until(pending_waiters("u-close", run, "b-1") == 2,
                                   10000));
    cr_assert_eq(duro_client_terminate(c, "u-close", "qa"), 0, "%s",
                 duro_client_errstr(c));
    int code = duro_test_wait_exit(&h, cli, 10000);
    cr_assert_eq(code, 1, "the waiting update did not end (%d)", code);
    cr_assert(duro_test_log_contains(&h, cli, "TERMINATED"));
    cr_assert_eq(pending_waiters("u-close", run, "b-1"), 0);
    /* the same id again: the recorded failure */
    rc = duro_client_update(c, "u-close", "bump", "{\"n\":1}", "b-1", 2000,
                            &res);
    cr_assert_eq(rc, DURO_EINVAL, "%d %s", rc, duro_client_errstr(c));
    cr_assert(strstr(duro_client_errstr(c), "TERMINATED"), "%s",
              duro_client_errstr(c));
    duro_client_free(c);
    unsetenv("DURO_TEST_UPDATE_CRASH");
}

/* An update record edited by hand: one that is neither an outcome nor
 * `P <replykey>...` is refused at once, named, rather than taken as
 * accepted (its callers used to wait out their timeout, told that it was
 * accepted and would be applied once); a malformed outcome is said as the
 * update's, not as a query's. */
Test(updates, a_damaged_update_record_is_a_clear_error)
{
    spawn_worker();
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "u-dmg", "updatable", QUEUE, NULL, 1000);
    char *res = NULL;
    int rc =
        duro_client_update(c, "u-dmg", "bump", "{\"n\":1}", "b-1", 10000, &res);
    cr_assert_eq(rc, 0, "%d %s", rc, duro_client_errstr(c));
    free(res);
    res = NULL;
    cJSON *d = NULL;
    cr_assert_eq(duro_client_describe(c, "u-dmg", &d), 0);
    char run[64];
    snprintf(run, sizeof(run), "%s", duro_test_str(d, "runId"));
    cJSON_Delete(d);
    redisContext *r = duro_test_redis(&h);
    redisReply *k = redisCommand(r, "KEYS duro:*:wf:u-dmg");
    cr_assert(k && k->elements == 1);
    freeReplyObject(redisCommand(r, "HSET %s u:%s:b-2 xyz u:%s:b-1 {bad",
                                 k->element[0]->str, run, run));
    freeReplyObject(k);
    redisFree(r);
    rc = duro_client_update(c, "u-dmg", "bump", "{\"n\":1}", "b-2", 5000, &res);
    cr_assert_eq(rc, DURO_EPROTO, "%d %s", rc, duro_client_errstr(c));
    cr_assert(strstr(duro_client_errstr(c), "u:"), "%s", duro_client_errstr(c));
    rc = duro_client_update(c, "u-dmg", "bump", "{\"n\":1}", "b-1", 5000, &res);
    cr_assert_eq(rc, DURO_EPROTO, "%d %s", rc, duro_client_errstr(c));
    cr_assert(strncmp(duro_client_errstr(c), "update bump: ", 13) == 0, "%s",
              duro_client_errstr(c));
    cr_assert_null(res);
    duro_client_free(c);
}

/* `workflow update` and `workflow query` read their input from a file, as
 * `signal` does: an argument holds at most 128 KiB on Linux, far below
 * the payload limit. */
Test(updates, update_and_query_read_their_input_from_a_file)
{
    spawn_worker();
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "u-file", "updatable", QUEUE, NULL, 1000);
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/input.json", h.dir);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs("{\"n\":2,\"pad\":\"", f);
    for (int i = 0; i < 300 * 1024; i++)
        fputc('a', f);
    fputs("\"}", f);
    cr_assert_eq(fclose(f), 0);
    duro_test_output o;
    duro_test_run(&h, &o, 20000, "duro", "workflow", "update", "-w", "u-file",
                  "--name", "bump", "--input-file", path, NULL);
    cr_assert_eq(o.exit_code, 0, "%s", o.err);
    cr_assert_str_eq(o.out, "2\n");
    duro_test_output_free(&o);
    duro_test_run(&h, &o, 20000, "duro", "workflow", "query", "-w", "u-file",
                  "--name", "count", "--input-file", path, NULL);
    cr_assert_eq(o.exit_code, 0, "%s", o.err);
    cr_assert_str_eq(o.out, "2\n");
    duro_test_output_free(&o);
    duro_client_free(c);
}
