/* test_query_startup.c: a query that waits in its stream when a worker
 * starts is answered. A worker reads queries on a connection of their own
 * and answers them through its commands connection (the history read, the
 * reply); that one has the longer handshake (the library's check), so it
 * often comes up last. A query read before it was up could not be sent
 * on and was dropped: its client waited out its whole timeout (an update
 * sent as the worker started failed the same way: its validation rides
 * the query path). Each round starts a run with no worker, sends the
 * query from a thread, starts a worker once the query is in its stream,
 * and wants the answer. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(query_startup, .init = setup, .fini = duro_test_fini, .timeout = 120);

enum { ROUNDS = 20, QUERY_MS = 5000 };

typedef struct {
    char id[32];
    int rc;
    char *result;
    char err[256];
} asked;

static void *ask(void *arg)
{
    asked *a = arg;
    duro_client *c = duro_test_client(&h);
    a->rc = duro_client_query(c, a->id, "count", NULL, QUERY_MS, &a->result);
    snprintf(a->err, sizeof(a->err), "%s", duro_client_errstr(c));
    duro_client_free(c);
    return NULL;
}

/* queued: entries in the query streams of queue "test" (every partition). */
static long long queued(redisContext *r, int partitions)
{
    long long n = 0;
    for (int p = 0; p < partitions; p++) {
        redisReply *rep = redisCommand(r, "XLEN duro:{p%d}:qry:test", p);
        cr_assert(rep && rep->type == REDIS_REPLY_INTEGER);
        n += rep->integer;
        freeReplyObject(rep);
    }
    return n;
}

Test(query_startup, a_query_waiting_when_the_worker_starts_is_answered)
{
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    for (int round = 0; round < ROUNDS; round++) {
        asked a = {.rc = -1};
        snprintf(a.id, sizeof(a.id), "qs-%d", round);
        duro_test_start(c, a.id, "updatable", "test", NULL, 0);
        long long before = queued(r, 16);
        pthread_t t;
        cr_assert_eq(pthread_create(&t, NULL, ask, &a), 0);
        cr_assert(duro_test_wait_until(queued(r, 16) > before, 5000),
                  "round %d: the query never reached its stream", round);
        pid_t worker = duro_test_spawn(&h, "duro-test-worker", NULL);
        cr_assert_eq(pthread_join(t, NULL), 0);
        duro_test_kill(&h, worker, SIGTERM);
        cr_assert_eq(a.rc, 0, "round %d: %s", round, a.err);
        cr_assert_str_eq(a.result, "0", "round %d", round);
        free(a.result);
    }
    redisFree(r);
    duro_client_free(c);
}
