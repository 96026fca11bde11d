/* test_badinput.c: bad input gets a clear error and harms nothing else:
 * unknown workflow types, garbage written into task streams by hand, and
 * invalid start requests. */
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

TestSuite(badinput, .init = setup, .fini = duro_test_fini, .timeout = 60);

static long long integer_reply(redisContext *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = redisvCommand(r, fmt, ap);
    va_end(ap);
    cr_assert(rep, "redis: %s", r->errstr);
    long long n = rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
    freeReplyObject(rep);
    return n;
}

/* pending_count: entries handed out and not yet acknowledged. */
static long long pending_count(redisContext *r, const char *stream)
{
    redisReply *rep = redisCommand(r, "XPENDING %s %s", stream, DURO_GROUP);
    cr_assert(rep, "redis: %s", r->errstr);
    long long n = rep->type == REDIS_REPLY_ARRAY && rep->elements > 0
                      ? rep->element[0]->integer
                      : -1;
    freeReplyObject(rep);
    return n;
}

static bool has_task_error(duro_client *c, const char *id, const char *needle)
{
    cJSON *d = NULL;
    bool ok = false;
    if (duro_client_describe(c, id, &d) == 0) {
        const char *e =
            duro_test_str(cJSON_GetObjectItem(d, "workflowTask"), "lastError");
        ok = strstr(e, needle) != NULL;
    }
    cJSON_Delete(d);
    return ok;
}

/* run_one checks that the worker still completes a normal workflow. */
static void run_one(duro_client *c, const char *id)
{
    duro_test_start(c, id, "activities", "test", "{\"n\":2}", 0);
    cJSON *d = duro_test_result(c, id, 20000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED", "%s", id);
    cJSON_Delete(d);
}

Test(badinput, unknown_workflow_type_is_reported_in_describe)
{
    duro_test_spawn(&h, "duro-scheduler", NULL);
    duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "unknown-type", "NoSuchType", "test", NULL, 0);
    cr_assert(duro_test_wait_until(
                  has_task_error(c, "unknown-type", "NoSuchType"), 10000),
              "describe never showed a workflow-task error naming the type");
    cJSON *d = NULL;
    cr_assert_eq(duro_client_describe(c, "unknown-type", &d), 0);
    cr_assert_str_eq(duro_test_str(d, "status"), "RUNNING",
                     "an unknown type is retried, not failed");
    cJSON_Delete(d);
    cJSON *hist = duro_test_history(c, "unknown-type");
    cr_assert_eq(cJSON_GetArraySize(hist), 1, "history untouched");
    cJSON_Delete(hist);
    run_one(c, "after-unknown-type");
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(badinput, garbage_activity_task_is_dead_lettered)
{
    duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_client *c = duro_test_client(&h);
    run_one(c, "before-garbage"); /* the worker has its groups now */
    redisContext *r = duro_test_redis(&h);
    char act[DURO_KEY_MAX];
    duro_key_act(act, sizeof(act), DURO_KEYSPACE_DEFAULT(0), 0, "test");
    redisReply *rep = redisCommand(r, "XADD %s * id oops name echo", act);
    cr_assert(rep && rep->type == REDIS_REPLY_STRING, "XADD");
    char *entry = strdup(rep->str);
    freeReplyObject(rep);
    rep = redisCommand(r, "XADD %s * just garbage", act);
    freeReplyObject(rep);

    cr_assert(duro_test_wait_until(
                  integer_reply(r, "XLEN %s", DURO_DEAD_KEY) >= 2, 10000),
              "the entries never reached %s", DURO_DEAD_KEY);
    rep = redisCommand(r, "XRANGE %s - + COUNT 1", DURO_DEAD_KEY);
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 1);
    redisReply *fields = rep->element[0]->element[1];
    bool has_stream = false, has_entry = false, has_reason = false;
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        const char *k = fields->element[i]->str,
                   *v = fields->element[i + 1]->str;
        if (!strcmp(k, "stream")) has_stream = !strcmp(v, act);
        if (!strcmp(k, "entry")) has_entry = !strcmp(v, entry);
        if (!strcmp(k, "reason")) has_reason = *v != '\0';
    }
    freeReplyObject(rep);
    cr_assert(has_stream, "dead letter names the stream %s", act);
    cr_assert(has_entry, "dead letter names the entry %s", entry);
    cr_assert(has_reason, "dead letter gives a reason");
    cr_assert(duro_test_wait_until(pending_count(r, act) == 0, 5000),
              "the garbage is still pending");
    cr_assert_eq(integer_reply(r, "XLEN %s", act), 0,
                 "the garbage is deleted from the task stream");
    run_one(c, "after-garbage");
    free(entry);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(badinput, garbage_workflow_task_is_dead_lettered)
{
    duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_client *c = duro_test_client(&h);
    run_one(c, "before-garbage");
    redisContext *r = duro_test_redis(&h);
    char wft[DURO_KEY_MAX];
    duro_key_wft(wft, sizeof(wft), DURO_KEYSPACE_DEFAULT(0), 0, "test");
    freeReplyObject(redisCommand(r, "XADD %s * nonsense 1", wft));
    /* well-formed, but for a workflow that does not exist */
    freeReplyObject(redisCommand(
        r,
        "XADD %s * id ghost run 00000000-0000-4000-8000-000000000000 token 1",
        wft));
    cr_assert(duro_test_wait_until(
                  integer_reply(r, "XLEN %s", DURO_DEAD_KEY) >= 1, 10000),
              "the malformed entry never reached %s", DURO_DEAD_KEY);
    cr_assert(duro_test_wait_until(pending_count(r, wft) == 0 &&
                                       integer_reply(r, "XLEN %s", wft) == 0,
                                   5000),
              "garbage left in %s", wft);
    run_one(c, "after-garbage");
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* The scheduler dead-letters what it cannot decode in a pending list; it
 * caps duro:dead like the worker does, so that a writer stuck producing
 * garbage cannot fill Redis' memory through it. */
Test(badinput, scheduler_dead_letters_are_capped)
{
    redisContext *r = duro_test_redis(&h);
    enum { OLD = 11000 };
    for (int i = 0; i < OLD; i++)
        redisAppendCommand(r, "XADD %s * old 1", DURO_DEAD_KEY);
    for (int i = 0; i < OLD; i++) {
        redisReply *rep = NULL;
        cr_assert_eq(redisGetReply(r, (void **)&rep), REDIS_OK);
        freeReplyObject(rep);
    }
    char wft[DURO_KEY_MAX];
    duro_key_wft(wft, sizeof(wft), DURO_KEYSPACE_DEFAULT(0), 0, "test");
    freeReplyObject(redisCommand(r, "SADD %s test", DURO_QUEUES_KEY));
    freeReplyObject(
        redisCommand(r, "XGROUP CREATE %s %s 0 MKSTREAM", wft, DURO_GROUP));
    freeReplyObject(redisCommand(r, "XADD %s * nonsense 1", wft));
    /* a consumer that read it and died: only the scheduler will see it */
    freeReplyObject(redisCommand(r, "XREADGROUP GROUP %s ghost STREAMS %s >",
                                 DURO_GROUP, wft));
    cr_assert_eq(pending_count(r, wft), 1);
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    cr_assert(
        duro_test_wait_until(integer_reply(r, "XLEN %s", wft) == 0, 10000),
        "the scheduler never dead-lettered the garbage in %s", wft);
    long long n = integer_reply(r, "XLEN %s", DURO_DEAD_KEY);
    /* MAXLEN ~ trims whole nodes (100 entries each by default) */
    cr_assert(n >= 10000 && n <= 10100, "duro:dead holds %lld entries", n);
    redisReply *rep =
        redisCommand(r, "XREVRANGE %s + - COUNT 1", DURO_DEAD_KEY);
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 1);
    const redisReply *f = rep->element[0]->element[1];
    cr_assert(f->elements >= 2 && strcmp(f->element[0]->str, "stream") == 0 &&
                  strcmp(f->element[1]->str, wft) == 0,
              "the newest dead letter is the scheduler's");
    freeReplyObject(rep);
    cr_assert_eq(pending_count(r, wft), 0, "the garbage is still pending");
    redisFree(r);
    duro_test_finish(&h);
}

Test(badinput, invalid_start_requests_are_refused)
{
    duro_client *c = duro_test_client(&h);
    char run[DURO_UUID_LEN + 1];
    duro_start_opts o = {0};
    o.workflow_id = "bad";
    o.type = "activities";
    o.task_queue = "test";

    o.input = "{\"n\":";
    cr_assert_eq(duro_client_start(c, &o, run), DURO_EJSON, "%s",
                 duro_client_errstr(c));
    o.input = NULL;
    o.workflow_id = "";
    cr_assert_eq(duro_client_start(c, &o, run), DURO_EINVAL);
    o.workflow_id = "bad";
    o.task_queue = "has|pipe";
    cr_assert_eq(duro_client_start(c, &o, run), DURO_EINVAL, "queue with |");
    o.task_queue = "test";
    size_t big = 2 * 1024 * 1024 + 16;
    char *s = malloc(big + 3);
    s[0] = '"';
    memset(s + 1, 'x', big);
    s[big + 1] = '"';
    s[big + 2] = '\0';
    o.input = s;
    cr_assert_eq(duro_client_start(c, &o, run), DURO_ETOOBIG, "%s",
                 duro_client_errstr(c));
    free(s);
    cJSON *d = NULL;
    cr_assert_eq(duro_client_describe(c, "bad", &d), DURO_ENOTFOUND,
                 "nothing was started");
    duro_client_free(c);
    duro_test_finish(&h);
}
