/* test_client_result.c: duro_client_result waited in slices (as duro
 * server's long polls and the CLI wait) keeps one subscriber connection
 * for all of them, still sees a close that happens between two slices,
 * and opens a new connection when the kept one is gone; on a cluster the
 * kept connection follows the channel's master (SSUBSCRIBE there). */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/errno.h"
#include "duro/keys.h"
#include "harness.h"

#define QUEUE "test"
#define SLICES 10
#define SLICE_MS 30

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(client_result, .init = setup, .fini = duro_test_fini, .timeout = 60);

/* connects: Redis's total_connections_received (r's own connect is in). */
static long connects(redisContext *r)
{
    redisReply *i = redisCommand(r, "INFO stats");
    cr_assert(i && i->type == REDIS_REPLY_STRING);
    const char *f = strstr(i->str, "total_connections_received:");
    cr_assert(f);
    long n = strtol(f + strlen("total_connections_received:"), NULL, 10);
    freeReplyObject(i);
    return n;
}

/* slices waits n slices on a run that stays open: each one times out. */
static void slices(duro_client *c, const char *id, int n)
{
    for (int i = 0; i < n; i++) {
        cJSON *d = NULL;
        int rc = duro_client_result(c, id, SLICE_MS, &d);
        cr_assert_eq(rc, DURO_ETIMEDOUT, "slice %d of %s: %s (%s)", i, id,
                     duro_strerror(rc), duro_client_errstr(c));
        cr_assert_null(d);
    }
}

/* expect_closed: the closed run's status from a result wait is status. */
static void expect_closed(duro_client *c, const char *id, const char *status)
{
    cJSON *d = duro_test_result(c, id, 5000);
    cr_assert_str_eq(duro_test_str(d, "status"), status);
    cJSON_Delete(d);
}

Test(client_result, slices_of_one_wait_share_one_connection)
{
    redisContext *r = duro_test_redis(&h);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "sl-1", "noop", QUEUE, NULL, 0);
    long before = connects(r);
    slices(c, "sl-1", SLICES);
    long after = connects(r);
    /* the first slice connects its subscriber, the others reuse it */
    cr_assert_leq(after - before, 1, "%d slices made %ld connections", SLICES,
                  after - before);
    /* a close between two slices: the next one sees it at once */
    cr_assert_eq(duro_client_terminate(c, "sl-1", "done"), 0);
    expect_closed(c, "sl-1", "TERMINATED");
    cr_assert_eq(connects(r), after, "the closed wait connected again");
    duro_client_free(c);
    redisFree(r);
}

/* closer: once the result wait is subscribed to id's channel, closes id
 * from a client of its own; so the wait ends by the message on its kept
 * connection (or by its status read, if that came after the close). */
typedef struct {
    const char *id;
    int port;     /* the server that serves id's channel */
    bool sharded; /* a cluster: PUBSUB SHARDNUMSUB */
    int rc;
} closer;

static void *close_when_subscribed(void *arg)
{
    closer *k = arg;
    duro_keyspace ks;
    char chan[128];
    duro_keyspace_init(&ks, NULL, 16);
    duro_key_closed_channel(chan, sizeof(chan), &ks,
                            duro_partition_of(k->id, 16));
    redisContext *r = redisConnect("127.0.0.1", k->port);
    k->rc = -1;
    for (int i = 0; r && !r->err && i < 5000; i++) {
        redisReply *n = redisCommand(
            r, "PUBSUB %s %s", k->sharded ? "SHARDNUMSUB" : "NUMSUB", chan);
        bool on = n && n->type == REDIS_REPLY_ARRAY && n->elements == 2 &&
                  n->element[1]->integer > 0;
        if (n) freeReplyObject(n);
        if (!on) {
            duro_test_sleep_ms(1);
            continue;
        }
        duro_client *c = duro_test_client(&h);
        k->rc = duro_client_terminate(c, k->id, NULL);
        duro_client_free(c);
        break;
    }
    if (r) redisFree(r);
    return NULL;
}

Test(client_result, a_close_during_a_slice_wakes_it)
{
    duro_client *c = duro_test_client(&h);
    /* two ids in two partitions: the kept connection changes channel */
    cr_assert_neq(duro_partition_of("sl-a", 16), duro_partition_of("sl-c", 16));
    duro_test_start(c, "sl-a", "noop", QUEUE, NULL, 0);
    duro_test_start(c, "sl-c", "noop", QUEUE, NULL, 0);
    slices(c, "sl-a", 3);
    slices(c, "sl-c", 3);
    slices(c, "sl-a", 3);
    /* closed while nobody waits: the next wait sees it */
    cr_assert_eq(duro_client_terminate(c, "sl-c", NULL), 0);
    expect_closed(c, "sl-c", "TERMINATED");
    /* closed while a wait on the kept connection listens */
    closer k = {"sl-a", h.redis_port, false, -1};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, close_when_subscribed, &k), 0);
    expect_closed(c, "sl-a", "TERMINATED");
    pthread_join(t, NULL);
    cr_assert_eq(k.rc, 0, "the closer: %d", k.rc);
    duro_client_free(c);
}

Test(client_result, a_kept_connection_that_was_killed_is_replaced)
{
    redisContext *r = duro_test_redis(&h);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "sl-k", "noop", QUEUE, NULL, 0);
    slices(c, "sl-k", 2);
    /* the kept subscriber: the connection whose last command was
     * (un)subscribe */
    redisReply *l = redisCommand(r, "CLIENT LIST");
    cr_assert(l && l->type == REDIS_REPLY_STRING);
    long id = -1;
    for (char *line = l->str; line && *line; line = strchr(line, '\n')) {
        if (*line == '\n') line++;
        char *end = strchr(line, '\n');
        char *cmd = strstr(line, " cmd=");
        if (cmd && (!end || cmd < end) &&
            (strncmp(cmd, " cmd=subscribe ", 15) == 0 ||
             strncmp(cmd, " cmd=unsubscribe ", 17) == 0)) {
            cr_assert_eq(id, -1, "two subscribers: %s", l->str);
            id = strtol(line + 3, NULL, 10);
        }
    }
    freeReplyObject(l);
    cr_assert_gt(id, 0, "no subscriber connection");
    redisReply *k = redisCommand(r, "CLIENT KILL ID %ld", id);
    cr_assert(k && k->type == REDIS_REPLY_INTEGER && k->integer == 1);
    freeReplyObject(k);
    slices(c, "sl-k", 2);
    cr_assert_eq(duro_client_terminate(c, "sl-k", NULL), 0);
    expect_closed(c, "sl-k", "TERMINATED");
    duro_client_free(c);
    redisFree(r);
}

/* acl_log_count: how many times Redis refused `object` (ACL LOG). */
static long acl_log_count(redisContext *r, const char *object)
{
    redisReply *l = redisCommand(r, "ACL LOG");
    cr_assert(l && l->type == REDIS_REPLY_ARRAY);
    long n = 0;
    for (size_t i = 0; i < l->elements; i++) {
        const redisReply *e = l->element[i];
        bool it = false;
        long count = 0;
        for (size_t j = 0; j + 1 < e->elements; j += 2) {
            const char *k = e->element[j]->str;
            const redisReply *v = e->element[j + 1];
            if (strcmp(k, "object") == 0 && v->str)
                it = strcmp(v->str, object) == 0;
            if (strcmp(k, "count") == 0) count = (long)v->integer;
        }
        if (it) n += count;
    }
    freeReplyObject(l);
    return n;
}

Test(client_result, a_user_that_may_not_unsubscribe_still_waits)
{
    /* a Redis user set up before UNSUBSCRIBE was in the client role */
    redisContext *r = duro_test_redis(&h);
    freeReplyObject(redisCommand(r, "ACL SETUSER old on >pw ~* &* +@all "
                                    "-unsubscribe -sunsubscribe"));
    char url[128];
    snprintf(url, sizeof(url), "redis://old:pw@127.0.0.1:%d", h.redis_port);
    duro_client *c = duro_test_client_url(url);
    duro_test_start(c, "sl-o", "noop", QUEUE, NULL, 0);
    slices(c, "sl-o", 5);
    /* refused once, then the client stopped keeping the connection */
    cr_assert_eq(acl_log_count(r, "unsubscribe"), 1);
    cr_assert_eq(duro_client_terminate(c, "sl-o", NULL), 0);
    expect_closed(c, "sl-o", "TERMINATED");
    duro_client_free(c);
    redisFree(r);
}

/* ---- On a cluster ---- */

static void cluster_setup(void)
{
    duro_test_cluster_opts o = {.node_timeout_ms = 2000};
    duro_test_cluster_start(&h, 3, 0, &o);
}

TestSuite(client_result_cluster, .init = cluster_setup, .fini = duro_test_fini,
          .timeout = 120);

/* master_connects: connects() on the master serving id's partition. */
static long master_connects(const char *id)
{
    int m = duro_test_cluster_wf_master(&h, id, 16);
    cr_assert_geq(m, 0);
    redisContext *r = duro_test_cluster_redis(&h, m);
    long n = connects(r);
    redisFree(r);
    return n;
}

Test(client_result_cluster, slices_keep_one_connection_per_master)
{
    /* a, then a2 in another partition of the same master, then b on
     * another master */
    char ids[64][16];
    const char *a = "cl-0", *a2 = NULL, *b = NULL;
    int ma = duro_test_cluster_wf_master(&h, a, 16);
    for (int i = 1; i < 64 && (!a2 || !b); i++) {
        snprintf(ids[i], sizeof(ids[i]), "cl-%d", i);
        int m = duro_test_cluster_wf_master(&h, ids[i], 16);
        if (m == ma && !a2 &&
            duro_partition_of(ids[i], 16) != duro_partition_of(a, 16))
            a2 = ids[i];
        if (m != ma && !b) b = ids[i];
    }
    cr_assert(a2 && b, "no ids on one master and on another");
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, a, "noop", QUEUE, NULL, 0);
    duro_test_start(c, a2, "noop", QUEUE, NULL, 0);
    duro_test_start(c, b, "noop", QUEUE, NULL, 0);
    long before = master_connects(a);
    slices(c, a, SLICES);
    slices(c, a2, SLICES);
    long after = master_connects(a);
    /* one subscriber for both channels of the master (and the counting) */
    cr_assert_leq(after - before, 2, "%d slices made %ld connections",
                  2 * SLICES, after - before - 1);
    slices(c, b, 3);
    /* b's close, while a wait on b's master listens */
    closer k = {b, h.cluster.node[duro_test_cluster_wf_master(&h, b, 16)].port,
                true, -1};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, close_when_subscribed, &k), 0);
    expect_closed(c, b, "TERMINATED");
    pthread_join(t, NULL);
    cr_assert_eq(k.rc, 0, "the closer: %d", k.rc);
    /* back to a's master: a new subscriber there, and a's close seen */
    cr_assert_eq(duro_client_terminate(c, a, NULL), 0);
    expect_closed(c, a, "TERMINATED");
    duro_client_free(c);
}
