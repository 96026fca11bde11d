/* test_fencing.c: stale completions are rejected and change nothing.
 *
 * No worker runs here: the test plays a worker itself, reading tasks with
 * XREADGROUP and calling the Functions with FCALL, so that it can hold on
 * to an old token or attempt while the task moves on. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/fcall.h"
#include "duro/keys.h"
#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(fencing, .init = setup, .fini = duro_test_fini, .timeout = 30);

/* ---- A fake worker ---- */

typedef struct {
    redisContext *r;
    duro_wf_keys k; /* with the wft and act streams of queue "test" */
    char run[DURO_UUID_LEN + 1];
} fake;

/* fcall sends a call built by a duro_fcall_* builder and frees it. */
static redisReply *fcall(fake *f, duro_argv *a)
{
    redisReply *rep = redisCommandArgv(f->r, a->argc, a->argv, a->lens);
    duro_argv_free(a);
    cr_assert(rep, "redis: %s", f->r->errstr);
    return rep;
}

static void fake_init(fake *f, duro_client *c, const char *id)
{
    f->r = duro_test_redis(&h);
    int parts = duro_client_partitions(c);
    duro_test_start(c, id, "activities", "test", "{\"n\":1}", 0);
    redisReply *rep = NULL;
    duro_wf_keys_init(&f->k, DURO_KEYSPACE_DEFAULT(parts), id, NULL);
    rep = duro_test_cmd(f->r, "HGET", f->k.wf, "run", NULL);
    cr_assert_eq(rep->type, REDIS_REPLY_STRING);
    snprintf(f->run, sizeof(f->run), "%s", rep->str);
    freeReplyObject(rep);
    duro_wf_keys_init(&f->k, DURO_KEYSPACE_DEFAULT(parts), id, f->run);
    duro_wf_keys_queues(&f->k, "test", "test");
    freeReplyObject(duro_test_cmd(f->r, "XGROUP", "CREATE", f->k.wft,
                                  DURO_GROUP, "0", "MKSTREAM", NULL));
    freeReplyObject(duro_test_cmd(f->r, "XGROUP", "CREATE", f->k.act,
                                  DURO_GROUP, "0", "MKSTREAM", NULL));
}

/* read_task claims one entry of stream as consumer "fake": its entry id
 * and the value of `field`. */
static void read_task(fake *f, const char *stream, const char *field,
                      char *entry, size_t esize, char *value, size_t vsize)
{
    duro_test_claim_task(f->r, stream, "fake", field, entry, esize, value,
                         vsize);
}

static long long xlen(fake *f)
{
    redisReply *rep = duro_test_cmd(f->r, "LLEN", f->k.hist, NULL);
    long long n = rep->integer;
    freeReplyObject(rep);
    return n;
}

static char *hget(fake *f, const char *field)
{
    redisReply *rep = duro_test_cmd(f->r, "HGET", f->k.wf, field, NULL);
    char *s = strdup(rep->type == REDIS_REPLY_STRING ? rep->str : "");
    freeReplyObject(rep);
    return s;
}

/* wft_complete commits a workflow task with ncmd commands (given as
 * strings after the command count); an activity command names KEYS[9],
 * the test queue's activity stream. */
static redisReply *wft_complete(fake *f, const char *token, const char *entry,
                                int ncmd, ...)
{
    duro_argv cmds;
    duro_argv_init(&cmds);
    va_list ap;
    va_start(ap, ncmd);
    const char *s;
    while ((s = va_arg(ap, const char *)))
        duro_argv_push(&cmds, s);
    va_end(ap);
    const char *acts[] = {f->k.act};
    duro_fcall_task t = {.run = f->run, .token = token, .entry = entry};
    duro_fcall_commit c = {.wtc_data = "{\"now\":1}",
                           .ncmd = ncmd,
                           .cmds = &cmds,
                           .nacts = 1,
                           .acts = acts};
    duro_argv a;
    duro_fcall_wft_complete(&a, &f->k, &t, &c);
    redisReply *rep = fcall(f, &a);
    duro_argv_free(&cmds);
    return rep;
}

static redisReply *act_complete(fake *f, const char *attempt, const char *entry)
{
    char data[128];
    snprintf(data, sizeof(data),
             "{\"seq\":1,\"attempt\":%s,\"result\":\"late\"}", attempt);
    duro_fcall_attempt at = {.run = f->run,
                             .seq = "1",
                             .attempt = strtoll(attempt, NULL, 10),
                             .entry = entry};
    duro_fcall_act_result r = {.data = data, .retry_delay_ms = -1};
    duro_argv a;
    duro_fcall_act_complete(&a, &f->k, &at, &r, 0, NULL);
    return fcall(f, &a);
}

static void assert_stale(redisReply *rep, const char *what)
{
    cr_assert_eq(rep->type, REDIS_REPLY_ERROR, "%s was accepted", what);
    cr_assert(!strncmp(rep->str, "DURO_STALE", 10), "%s: %s", what, rep->str);
    freeReplyObject(rep);
}

static void assert_pending_empty(fake *f, const char *stream)
{
    redisReply *rep = duro_test_cmd(f->r, "XPENDING", stream, DURO_GROUP, NULL);
    cr_assert_eq(rep->element[0]->integer, 0, "%s still has pending entries",
                 stream);
    freeReplyObject(rep);
}

/* ---- Tests ---- */

Test(fencing, stale_workflow_task_token_is_rejected)
{
    duro_client *c = duro_test_client(&h);
    fake f;
    fake_init(&f, c, "fence-wft");
    char entry[64], token[32];
    read_task(&f, f.k.wft, "token", entry, sizeof(entry), token, sizeof(token));

    /* the task times out and is handed out again with a new token */
    duro_argv a;
    duro_fcall_task t = {.run = f.run, .token = token, .entry = entry};
    duro_fcall_wft_timeout(&a, &f.k, &t, 999999999);
    redisReply *rep = fcall(&f, &a);
    cr_assert_eq(rep->type, REDIS_REPLY_STRING, "%s",
                 rep->type == REDIS_REPLY_ERROR ? rep->str : "?");
    cr_assert_str_eq(rep->str, "timedout");
    freeReplyObject(rep);
    long long before = xlen(&f);
    char *hlen = hget(&f, "hlen"), *tok = hget(&f, "token");
    cr_assert_str_neq(tok, token, "the token moved on");

    /* the old holder's completion is stale and changes nothing */
    assert_stale(wft_complete(&f, token, entry, 1, "complete", "{\"result\":1}",
                              "1", NULL),
                 "completion with the old token");
    cr_assert_eq(xlen(&f), before, "history unchanged");
    char *status = hget(&f, "status"), *hlen2 = hget(&f, "hlen");
    cr_assert_str_eq(status, "RUNNING");
    cr_assert_str_eq(hlen2, hlen);
    free(status);
    free(hlen2);

    /* the new holder commits */
    char entry2[64], token2[32];
    read_task(&f, f.k.wft, "token", entry2, sizeof(entry2), token2,
              sizeof(token2));
    cr_assert_str_eq(token2, tok);
    rep = wft_complete(&f, token2, entry2, 1, "complete", "{\"result\":1}", "1",
                       NULL);
    cr_assert_eq(rep->type, REDIS_REPLY_ARRAY, "%s",
                 rep->type == REDIS_REPLY_ERROR ? rep->str : "?");
    freeReplyObject(rep);
    status = hget(&f, "status");
    cr_assert_str_eq(status, "COMPLETED");
    cr_assert_eq(xlen(&f), before + 2, "WorkflowTaskCompleted + completed");

    /* a replay of the same (now spent) token is stale too */
    long long after = xlen(&f);
    assert_stale(wft_complete(&f, token2, entry2, 1, "complete",
                              "{\"result\":2}", "2", NULL),
                 "second completion with the same token");
    cr_assert_eq(xlen(&f), after);
    assert_pending_empty(&f, f.k.wft);
    free(status);
    free(hlen);
    free(tok);
    redisFree(f.r);
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(fencing, stale_activity_attempt_is_rejected)
{
    duro_client *c = duro_test_client(&h);
    fake f;
    fake_init(&f, c, "fence-act");
    char entry[64], token[32];
    read_task(&f, f.k.wft, "token", entry, sizeof(entry), token, sizeof(token));
    redisReply *rep = wft_complete(
        &f, token, entry, 1, "activity", "1",
        "{\"seq\":1,\"name\":\"echo\",\"taskQueue\":\"test\",\"input\":0,"
        "\"options\":{}}",
        "9", "echo", "0",
        "{\"startToCloseMs\":1000,\"retry\":{\"initialIntervalMs\":100}}",
        "1000", "0", "0", NULL);
    cr_assert_eq(rep->type, REDIS_REPLY_ARRAY, "%s",
                 rep->type == REDIS_REPLY_ERROR ? rep->str : "?");
    freeReplyObject(rep);

    char aentry[64], attempt[16];
    read_task(&f, f.k.act, "attempt", aentry, sizeof(aentry), attempt,
              sizeof(attempt));
    cr_assert_str_eq(attempt, "1");

    /* attempt 1 times out; attempt 2 is enqueued at once (delay 0) */
    duro_argv a;
    duro_fcall_attempt at = {
        .run = f.run, .seq = "1", .attempt = 1, .entry = aentry};
    duro_fcall_act_timeout(&a, &f.k, &at, 999999, 0);
    rep = fcall(&f, &a);
    cr_assert_eq(rep->type, REDIS_REPLY_STRING, "%s",
                 rep->type == REDIS_REPLY_ERROR ? rep->str : "?");
    cr_assert_str_eq(rep->str, "timedout");
    freeReplyObject(rep);
    long long before = xlen(&f);

    /* attempt 1's late answer is fenced off */
    assert_stale(act_complete(&f, "1", aentry), "completion of attempt 1");
    cr_assert_eq(xlen(&f), before, "history unchanged");

    /* attempt 2 completes, once */
    char aentry2[64], attempt2[16];
    read_task(&f, f.k.act, "attempt", aentry2, sizeof(aentry2), attempt2,
              sizeof(attempt2));
    cr_assert_str_eq(attempt2, "2");
    rep = act_complete(&f, "2", aentry2);
    cr_assert_neq(rep->type, REDIS_REPLY_ERROR, "%s", rep->str);
    freeReplyObject(rep);
    cr_assert_eq(xlen(&f), before + 1, "one ActivityCompleted");
    assert_stale(act_complete(&f, "2", aentry2), "duplicate completion");
    cr_assert_eq(xlen(&f), before + 1, "history unchanged");
    assert_pending_empty(&f, f.k.act);

    cJSON *hist = duro_test_history(c, "fence-act");
    cr_assert_eq(duro_test_count_events(hist, "ActivityCompleted"), 1);
    cr_assert_eq(duro_test_num(duro_test_event_data(duro_test_find_event(
                                   hist, "ActivityCompleted", 0)),
                               "attempt", 0),
                 2);
    cJSON_Delete(hist);
    redisFree(f.r);
    duro_client_free(c);
    duro_test_finish(&h);
}
