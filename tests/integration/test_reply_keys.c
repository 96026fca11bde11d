/* test_reply_keys.c: the reply lists that answer updates and queries are
 * named in Redis data (an update's record `P <replykey>...` in the
 * workflow hash, a query entry's `reply` field) and answered with an
 * RPUSH and an expiry. Data edited by hand that names another key there
 * (duro:meta, another workflow's hash) must leave that key alone: the
 * answer goes only to reply lists of the workflow's partition. */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/errno.h"
#include "harness.h"

#define QUEUE "test"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(reply_keys, .init = setup, .fini = duro_test_fini, .timeout = 90);

static pid_t spawn_worker(void)
{
    pid_t w = duro_test_spawn(&h, "duro-test-worker", NULL);
    cr_assert(
        duro_test_wait_until(duro_test_log_contains(&h, w, "REDIS UP"), 5000));
    return w;
}

/* wf_key: the workflow hash's key of id (one). */
static void wf_key(redisContext *r, const char *id, char *out, size_t size)
{
    redisReply *k = redisCommand(r, "KEYS duro:*:wf:%s", id);
    cr_assert(k && k->type == REDIS_REPLY_ARRAY && k->elements == 1);
    snprintf(out, size, "%s", k->element[0]->str);
    freeReplyObject(k);
}

static long long ttl_of(redisContext *r, const char *key)
{
    redisReply *t = redisCommand(r, "PTTL %s", key);
    cr_assert(t && t->type == REDIS_REPLY_INTEGER);
    long long v = t->integer;
    freeReplyObject(t);
    return v;
}

static long long len_of(redisContext *r, const char *key)
{
    redisReply *t = redisCommand(r, "LLEN %s", key);
    long long v = t && t->type == REDIS_REPLY_INTEGER ? t->integer : -1;
    freeReplyObject(t);
    return v;
}

static long long xlen_of(redisContext *r, const char *key)
{
    redisReply *t = redisCommand(r, "XLEN %s", key);
    long long v = t && t->type == REDIS_REPLY_INTEGER ? t->integer : -1;
    freeReplyObject(t);
    return v;
}

static void run_of(duro_client *c, const char *id, char *run, size_t size)
{
    cJSON *d = NULL;
    cr_assert_eq(duro_client_describe(c, id, &d), 0);
    snprintf(run, size, "%s", duro_test_str(d, "runId"));
    cJSON_Delete(d);
}

/* A run closed with an update whose record was edited to name duro:meta
 * and another workflow's hash among its waiters: the real reply list is
 * answered, the other keys keep no expiry (they used to get 60 s). */
Test(reply_keys, closing_a_run_expires_no_key_a_damaged_update_names)
{
    spawn_worker();
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "rk-closed", "updatable", QUEUE, NULL, 1000);
    duro_test_start(c, "rk-victim", "updatable", QUEUE, NULL, 1000);
    char run[64], key[256], victim[256], rec[1024];
    run_of(c, "rk-closed", run, sizeof(run));
    redisContext *r = duro_test_redis(&h);
    wf_key(r, "rk-closed", key, sizeof(key));
    wf_key(r, "rk-victim", victim, sizeof(victim));
    const char *hash = strchr(key, '{');
    char reply[256];
    snprintf(reply, sizeof(reply), "duro:%.*s:qreply:mine",
             (int)(strchr(hash, '}') - hash + 1), hash);
    snprintf(rec, sizeof(rec), "P duro:meta %s %s", victim, reply);
    /* opt 1: the hash has optional fields (upend), as set() marks it */
    freeReplyObject(
        redisCommand(r, "HSET %s u:%s:x %s upend 1 opt 1", key, run, rec));
    cr_assert_eq(duro_client_terminate(c, "rk-closed", "qa"), 0, "%s",
                 duro_client_errstr(c));
    cr_assert_eq(len_of(r, reply), 1, "the real waiter is answered");
    cr_assert_eq(ttl_of(r, "duro:meta"), -1, "duro:meta got an expiry");
    cr_assert_eq(ttl_of(r, victim), -1, "another workflow got an expiry");
    redisFree(r);
    duro_client_free(c);
}

/* The same damage when the update completes: a worker that died in the
 * handler leaves it accepted; its record is edited; the next worker
 * completes it and answers only the reply list of the partition. */
Test(reply_keys, completing_an_update_expires_no_key_its_record_names)
{
    char marker[PATH_MAX + 32];
    snprintf(marker, sizeof(marker), "%s/update-crashed", h.dir);
    setenv("DURO_TEST_UPDATE_CRASH", marker, 1);
    pid_t w1 = spawn_worker();
    pid_t s = duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms",
                              NULL); /* it times out the dead worker's task */
    cr_assert(
        duro_test_wait_until(duro_test_log_contains(&h, s, "REDIS UP"), 5000));
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "rk-done", "updatable", QUEUE, NULL, 1000);
    char run[64], key[256], rec[1024];
    run_of(c, "rk-done", run, sizeof(run));
    char *res = NULL;
    int rc = duro_client_update(c, "rk-done", "bump", "{\"n\":1}", "b-1", 2000,
                                &res);
    cr_assert_eq(rc, DURO_ETIMEDOUT, "%d %s", rc, duro_client_errstr(c));
    cr_assert(duro_test_wait_until(!duro_test_alive(&h, w1), 5000));
    duro_test_kill(&h, w1, SIGKILL); /* reaped: it killed itself */
    redisContext *r = duro_test_redis(&h);
    wf_key(r, "rk-done", key, sizeof(key));
    const char *hash = strchr(key, '{');
    char reply[256];
    snprintf(reply, sizeof(reply), "duro:%.*s:qreply:mine",
             (int)(strchr(hash, '}') - hash + 1), hash);
    snprintf(rec, sizeof(rec), "P duro:meta %s", reply);
    freeReplyObject(redisCommand(r, "HSET %s u:%s:b-1 %s", key, run, rec));
    spawn_worker();
    cr_assert(duro_test_wait_until(len_of(r, reply) == 1, 10000),
              "the real waiter is answered");
    cr_assert_eq(ttl_of(r, "duro:meta"), -1, "duro:meta got an expiry");
    redisFree(r);
    duro_client_free(c);
    unsetenv("DURO_TEST_UPDATE_CRASH");
}

/* A query entry whose reply names the hash of a workflow whose id holds
 * ":qreply:" (ids may hold ':'): dead-lettered, the hash keeps no expiry
 * (the answer's EXPIRE used to make it vanish in 60 s). */
Test(reply_keys, a_query_entry_naming_another_key_is_dead_lettered)
{
    spawn_worker();
    duro_client *c = duro_test_client(&h);
    const char *id = "rk:qreply:victim";
    duro_test_start(c, id, "updatable", QUEUE, NULL, 1000);
    char run[64], key[256];
    run_of(c, id, run, sizeof(run));
    redisContext *r = duro_test_redis(&h);
    wf_key(r, id, key, sizeof(key));
    const char *hash = strchr(key, '{');
    char stream[256];
    snprintf(stream, sizeof(stream), "duro:%.*s:qry:%s",
             (int)(strchr(hash, '}') - hash + 1), hash, QUEUE);
    redisReply *x =
        redisCommand(r, "XADD %s * id %s run %s name count input null reply %s",
                     stream, id, run, key);
    cr_assert(x && x->type == REDIS_REPLY_STRING, "%s", x ? x->str : "");
    freeReplyObject(x);
    /* answered (the damage: an expiry on the hash) or dead-lettered */
    cr_assert(duro_test_wait_until(
        xlen_of(r, "duro:dead") > 0 || ttl_of(r, key) != -1, 10000));
    cr_assert_eq(ttl_of(r, key), -1, "the workflow hash got an expiry");
    cr_assert_eq(xlen_of(r, "duro:dead"), 1);
    redisFree(r);
    duro_client_free(c);
}
