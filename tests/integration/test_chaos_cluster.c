/* test_chaos_cluster.c: chaos-check reads a Redis Cluster (scripts/chaos
 * --cluster). Three masters share the slots; the keys of the 16
 * partitions are written straight to the master of each one's slot, and
 * chaos-check, given a seed list (redis+cluster://) or the redis:// URL of
 * one node, must count the open workflows of every partition, find a task
 * left in a stream on whichever master holds it (SCAN runs per master),
 * and print master_kills= in its summary line. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/keys.h"
#include "harness.h"

#define NODES 3
#define PARTITIONS 16

static duro_test_harness h;

TestSuite(chaos_cluster, .init = NULL, .fini = duro_test_fini, .timeout = 120);

static void cmd_ok(redisContext *c, const char *what, redisReply *r)
{
    cr_assert(r, "%s: %s", what, c->errstr);
    cr_assert(r->type != REDIS_REPLY_ERROR, "%s: %s", what, r->str);
    freeReplyObject(r);
}

/* node_of: a new connection to the master serving key (the caller
 * frees it). */
static redisContext *node_of(const char *key)
{
    int m = duro_test_cluster_owner(&h, 0, duro_test_key_slot(key));
    cr_assert_geq(m, 0, "no master serves %s", key);
    return duro_test_cluster_redis(&h, m);
}

static void write_key(const char *fmt, const char *key, const char *a,
                      const char *b)
{
    redisContext *c = node_of(key);
    cmd_ok(c, fmt, redisCommand(c, fmt, key, a, b));
    redisFree(c);
}

/* run_check runs chaos-check command over url with its extra arguments;
 * its exit code, stdout in out and stderr in err. */
static int run_check(const char *command, const char *url, const char *more,
                     char *out, char *err, size_t size)
{
    duro_test_output o;
    duro_test_run(&h, &o, 60000, "chaos-check", command, "--redis", url,
                  "--seed", "1", "--workflows", "1", "--timeout", "1s",
                  "--settle", "1s", more ? "--master-kills" : NULL, more, NULL);
    snprintf(out, size, "%s", o.out ? o.out : "");
    snprintf(err, size, "%s", o.err ? o.err : "");
    cr_log_info("chaos-check %s: exit %d\n%s%s", command, o.exit_code, out,
                err);
    int rc = o.exit_code;
    duro_test_output_free(&o);
    return rc;
}

Test(chaos_cluster, reads_every_partition_and_every_master)
{
    duro_test_cluster_start(&h, NODES, 0, NULL);
    char seeds[128], one[64], key[64], member[16], out[8192], err[8192];
    /* two of the three masters, and the third one's own URL */
    snprintf(seeds, sizeof(seeds), "redis+cluster://127.0.0.1:%d,127.0.0.1:%d",
             h.cluster.node[0].port, h.cluster.node[1].port);
    snprintf(one, sizeof(one), "redis://127.0.0.1:%d", h.cluster.node[2].port);
    write_key("HSET %s %s %s", DURO_META_KEY, "partitions", "16");
    for (int p = 0; p < PARTITIONS; p++) {
        snprintf(key, sizeof(key), "duro:{p%d}:vx:status:RUNNING", p);
        snprintf(member, sizeof(member), "r%d", p);
        write_key("ZADD %s %s %s", key, "1", member);
    }
    cr_assert_eq(run_check("wait", seeds, NULL, out, err, sizeof(out)), 1);
    cr_assert(strstr(err, "16 workflows still open"), "%s", err);
    /* a node's own URL: the cluster is detected, every master read */
    cr_assert_eq(run_check("wait", one, NULL, out, err, sizeof(out)), 1);
    cr_assert(strstr(err, "16 workflows still open"), "%s", err);
    for (int p = 0; p < PARTITIONS; p++) {
        snprintf(key, sizeof(key), "duro:{p%d}:vx:status:RUNNING", p);
        redisContext *c = node_of(key);
        cmd_ok(c, "DEL", redisCommand(c, "DEL %s", key));
        redisFree(c);
    }
    cr_assert_eq(run_check("wait", seeds, NULL, out, err, sizeof(out)), 0);

    /* a task left in a stream on one master, found by the per-master SCAN;
     * the workflow (never started) is lost */
    write_key("XADD %s * %s %s", "duro:{p5}:wft:chaos", "id", "x");
    cr_assert_eq(run_check("check", seeds, "2", out, err, sizeof(out)), 1);
    cr_assert(strstr(out, "lost=1 "), "%s", out);
    cr_assert(strstr(out, "leftovers=1 "), "%s", out);
    cr_assert(strstr(out, " master_kills=2\n"), "%s", out);
    cr_assert(strstr(err, "LEFTOVER duro:{p5}:wft:chaos"), "%s", err);
    duro_test_finish(&h);
}
