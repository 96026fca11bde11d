/* test_cluster_harness.c: the harness's Redis Cluster itself (no Duro
 * program): it comes up with every slot served, its slot arithmetic is
 * Redis's, a slot moves with its keys (ASK while it moves, MOVED after),
 * and a killed master's replica takes over with the data WAIT confirmed;
 * the old master, started again, is the new one's replica.
 * The cluster tests of Duro (test_cluster*.c) stand on these. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static duro_test_harness h;

TestSuite(cluster_harness, .fini = duro_test_fini, .timeout = 120);

/* reply_str: a command's answer to node idx as text: "ERR-TYPE ..." for
 * an error reply (e.g. "MOVED 123 127.0.0.1:p"), the string or status,
 * or "(nil)". Caller frees. */
static char *reply_str(int idx, const char *fmt, const char *arg)
{
    redisContext *c = duro_test_cluster_redis(&h, idx);
    redisReply *r = redisCommand(c, fmt, arg);
    cr_assert(r, "%s: %s", fmt, c->errstr);
    char *s = r->type == REDIS_REPLY_NIL ? strdup("(nil)")
              : r->str                   ? strdup(r->str)
                                         : NULL;
    if (r->type == REDIS_REPLY_INTEGER) {
        char n[32];
        snprintf(n, sizeof(n), "%lld", r->integer);
        s = strdup(n);
    }
    freeReplyObject(r);
    redisFree(c);
    return s;
}

/* set_confirmed: SET key yes on master idx, confirmed by one replica
 * (WAIT 1). */
static void set_confirmed(int idx, const char *key)
{
    redisContext *c = duro_test_cluster_redis(&h, idx);
    redisReply *r = redisCommand(c, "SET %s yes", key);
    cr_assert(r && r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);
    r = redisCommand(c, "WAIT 1 5000");
    cr_assert(r && r->type == REDIS_REPLY_INTEGER && r->integer == 1);
    freeReplyObject(r);
    redisFree(c);
}

Test(cluster_harness, three_masters_serve_every_slot)
{
    duro_test_cluster_start(&h, 3, 0, NULL);
    cr_assert_eq(h.cluster.nnodes, 3);
    char v[64];
    for (int i = 0; i < 3; i++) {
        cr_assert(h.cluster.node[i].master, "node %d", i);
        cr_assert_str_eq(
            duro_test_cluster_info(&h, i, "cluster_state", v, sizeof(v)), "ok");
        cr_assert_str_eq(
            duro_test_cluster_info(&h, i, "cluster_slots_ok", v, sizeof(v)),
            "16384");
    }
    cr_assert(duro_test_cluster_ok(&h));
    /* both URL forms name the nodes */
    char want[64];
    snprintf(want, sizeof(want), "redis://127.0.0.1:%d",
             h.cluster.node[0].port);
    cr_assert_str_eq(h.cluster.node_url, want);
    cr_assert_eq(strncmp(h.cluster.seed_url, "redis+cluster://127.0.0.1:", 26),
                 0, "%s", h.cluster.seed_url);
    cr_assert_str_eq(getenv("DURO_REDIS_URL"), h.cluster.seed_url);
    for (int i = 0; i < 3; i++) {
        snprintf(want, sizeof(want), "127.0.0.1:%d", h.cluster.node[i].port);
        cr_assert(strstr(h.cluster.seed_url, want), "%s", h.cluster.seed_url);
    }
    /* the slot of a partition's keys and of any key, as Redis says */
    const char *keys[] = {
        "duro:{p0}:wf:a",   "duro:{p7}:h:x:y", "duro:meta", "{}odd", "a{b",
        "duro:closed:{p15}"};
    for (size_t k = 0; k < sizeof(keys) / sizeof(*keys); k++) {
        char *s = reply_str(0, "CLUSTER KEYSLOT %s", keys[k]);
        cr_assert_eq(strtol(s, NULL, 10), duro_test_key_slot(keys[k]), "%s",
                     keys[k]);
        free(s);
    }
    cr_assert_eq(duro_test_partition_slot(7),
                 duro_test_key_slot("duro:{p7}:wf:x"));
    /* the owner CLUSTER SLOTS names accepts a write; another node redirects */
    int slot = duro_test_partition_slot(3);
    int owner = duro_test_cluster_owner(&h, 1, slot);
    cr_assert_geq(owner, 0);
    char *s = reply_str(owner, "SET %s 1", "duro:{p3}:probe");
    cr_assert_str_eq(s, "OK");
    free(s);
    s = reply_str((owner + 1) % 3, "GET %s", "duro:{p3}:probe");
    cr_assert_eq(strncmp(s, "MOVED ", 6), 0, "%s", s);
    free(s);
    duro_test_finish(&h);
}

Test(cluster_harness, a_slot_moves_with_its_keys)
{
    duro_test_cluster_start(&h, 3, 0, NULL);
    int slot = duro_test_partition_slot(5);
    int from = duro_test_cluster_owner(&h, 0, slot);
    int to = duro_test_cluster_master(&h, from);
    char key[64];
    for (int i = 0; i < 30; i++) {
        snprintf(key, sizeof(key), "duro:{p5}:k%d", i);
        char *s = reply_str(from, "SET %s v", key);
        cr_assert_str_eq(s, "OK");
        free(s);
    }
    duro_test_cluster_move_begin(&h, slot, to);
    cr_assert_eq(duro_test_cluster_move_keys(&h, 10), 10);
    /* a moved key: the source sends the client to the target for one
     * command; one still here: answered here */
    char *s = reply_str(from, "GET %s", "duro:{p5}:nothere");
    cr_assert_eq(strncmp(s, "ASK ", 4), 0, "%s", s);
    free(s);
    int here = 0, asked = 0;
    for (int i = 0; i < 30; i++) {
        snprintf(key, sizeof(key), "duro:{p5}:k%d", i);
        s = reply_str(from, "GET %s", key);
        here += !strcmp(s, "v");
        asked += !strncmp(s, "ASK ", 4);
        free(s);
    }
    cr_assert_eq(here, 20);
    cr_assert_eq(asked, 10);
    duro_test_cluster_move_end(&h);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(duro_test_cluster_owner(&h, i, slot), to, "node %d", i);
    for (int i = 0; i < 30; i++) {
        snprintf(key, sizeof(key), "duro:{p5}:k%d", i);
        s = reply_str(to, "GET %s", key);
        cr_assert_str_eq(s, "v", "%s", key);
        free(s);
        s = reply_str(from, "GET %s", key);
        cr_assert_eq(strncmp(s, "MOVED ", 6), 0, "%s", s);
        free(s);
    }
    cr_assert(duro_test_cluster_ok(&h));
    duro_test_finish(&h);
}

Test(cluster_harness, a_killed_master_is_replaced_by_its_replica)
{
    duro_test_cluster_start(&h, 3, 1, NULL);
    cr_assert_eq(h.cluster.nnodes, 6);
    int replicas = 0;
    for (int i = 0; i < 6; i++)
        if (!h.cluster.node[i].master) {
            replicas++;
            int m = h.cluster.node[i].master_idx;
            cr_assert(m >= 0 && h.cluster.node[m].master, "node %d", i);
        }
    cr_assert_eq(replicas, 3);
    int slot = duro_test_partition_slot(2);
    int victim = duro_test_cluster_owner(&h, 0, slot);
    /* a write its replica confirmed (WAIT 1) survives the crash */
    set_confirmed(victim, "duro:{p2}:kept");

    duro_test_cluster_kill(&h, victim);
    int now = duro_test_cluster_wait_promotion(&h, victim, 30000);
    cr_assert_neq(now, victim);
    cr_assert(h.cluster.node[now].master);
    for (int i = 0; i < 6; i++)
        if (!h.cluster.node[i].killed)
            cr_assert(duro_test_wait_until(
                          duro_test_cluster_owner(&h, i, slot) == now, 5000),
                      "node %d", i);
    char *s = reply_str(now, "GET %s", "duro:{p2}:kept");
    cr_assert_str_eq(s, "yes");
    free(s);

    /* the old master comes back as the new one's replica, so that a
     * write there is confirmed by a replica again */
    duro_test_cluster_restart(&h, victim, 30000);
    cr_assert_not(h.cluster.node[victim].master);
    cr_assert_eq(h.cluster.node[victim].master_idx, now);
    set_confirmed(now, "duro:{p2}:again");
    duro_test_finish(&h);
}
