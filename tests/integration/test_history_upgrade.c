/* test_history_upgrade.c: histories written by library 11 and older (a
 * stream per run, entry N-0 = event N with fields type, ts, data) are
 * converted to the list format the first time something meets them: a
 * Function writing the run (load_wf), a worker reading it (its task fails
 * once, duro_wft_fail converts), a client reading it. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/history.h"
#include "duro/keys.h"
#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(history_upgrade, .init = setup, .fini = duro_test_fini,
          .timeout = 60);

static const char *key_type(redisContext *r, const char *key)
{
    static char t[32];
    redisReply *rep = redisCommand(r, "TYPE %s", key);
    snprintf(t, sizeof(t), "%s", rep && rep->str ? rep->str : "?");
    freeReplyObject(rep);
    return t;
}

/* to_stream rewrites run's history as library 10 wrote it. */
static void to_stream(redisContext *r, const char *hist)
{
    redisReply *items = redisCommand(r, "LRANGE %s 0 -1", hist);
    cr_assert(items && items->type == REDIS_REPLY_ARRAY && items->elements);
    freeReplyObject(redisCommand(r, "DEL %s", hist));
    for (size_t i = 0; i < items->elements; i++) {
        duro_event e;
        cr_assert_eq(duro_event_decode_reply(items->element[i], (int64_t)i + 1,
                                             &e, NULL, 0),
                     0);
        char *data = cJSON_PrintUnformatted(e.data);
        redisReply *rep = redisCommand(
            r, "XADD %s %lld-0 type %s ts %lld data %s", hist, (long long)e.id,
            duro_event_name(e.type), (long long)e.ts, data);
        cr_assert(rep && rep->type == REDIS_REPLY_STRING, "XADD: %s",
                  rep ? rep->str : r->errstr);
        freeReplyObject(rep);
        free(data);
        duro_event_free(&e);
    }
    freeReplyObject(items);
    cr_assert_str_eq(key_type(r, hist), "stream");
}

static void run_keys(duro_client *c, const char *id, duro_wf_keys *k)
{
    cJSON *d = NULL;
    cr_assert_eq(duro_client_describe(c, id, &d), 0);
    duro_wf_keys_init(k, DURO_KEYSPACE_DEFAULT(duro_client_partitions(c)), id,
                      duro_test_str(d, "runId"));
    cJSON_Delete(d);
}

/* A run started by the old library, its first task still queued: the
 * worker's read fails once, the task's failure converts the history, and
 * the run completes. Then, closed and old again, a client reads it. */
Test(history_upgrade, an_old_running_run_completes_and_an_old_closed_one_reads)
{
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    duro_test_start(c, "up-1", "activities", "test", "{\"n\":2}", 0);
    duro_wf_keys k;
    run_keys(c, "up-1", &k);
    to_stream(r, k.hist);

    duro_test_spawn(&h, "duro-scheduler", NULL);
    duro_test_spawn(&h, "duro-test-worker", NULL);
    cJSON *d = duro_test_result(c, "up-1", 20000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    char *res = cJSON_PrintUnformatted(cJSON_GetObjectItem(d, "result"));
    cr_assert_str_eq(res, "{\"echoed\":[0,1]}");
    free(res);
    cJSON_Delete(d);
    cr_assert_str_eq(key_type(r, k.hist), "list");

    cJSON *before = duro_test_history(c, "up-1");
    to_stream(r, k.hist);
    cJSON *after = duro_test_history(c, "up-1");
    char *a = cJSON_PrintUnformatted(before),
         *b = cJSON_PrintUnformatted(after);
    cr_assert_str_eq(b, a);
    free(a);
    free(b);
    cJSON_Delete(before);
    cJSON_Delete(after);
    cr_assert_str_eq(key_type(r, k.hist), "list");

    /* a query replays an old closed history: the worker converts it */
    to_stream(r, k.hist);
    char *answer = NULL;
    cr_assert_eq(duro_client_query(c, "up-1", "nope", NULL, 10000, &answer),
                 DURO_EINVAL, "%s", duro_client_errstr(c));
    cr_assert(strstr(duro_client_errstr(c), "unknown query"), "%s",
              duro_client_errstr(c));
    free(answer);
    cr_assert_str_eq(key_type(r, k.hist), "list");
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* Terminating an old running run: the Function converts the history
 * before it appends, so the event ids go on where the old ones stopped. */
Test(history_upgrade, a_function_converts_before_it_appends)
{
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    duro_test_start(c, "up-2", "activities", "test", "{\"n\":1}", 0);
    duro_wf_keys k;
    run_keys(c, "up-2", &k);
    to_stream(r, k.hist);
    cr_assert_eq(duro_client_terminate(c, "up-2", "old"), 0, "%s",
                 duro_client_errstr(c));
    cr_assert_str_eq(key_type(r, k.hist), "list");
    cJSON *hist = duro_test_history(c, "up-2");
    cr_assert_eq(cJSON_GetArraySize(hist), 2);
    cr_assert_str_eq(duro_test_str(cJSON_GetArrayItem(hist, 0), "type"),
                     "WorkflowStarted");
    cr_assert_str_eq(duro_test_str(cJSON_GetArrayItem(hist, 1), "type"),
                     "WorkflowTerminated");
    cr_assert_eq(duro_test_num(cJSON_GetArrayItem(hist, 1), "eventId", -1), 2);
    cJSON_Delete(hist);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}
