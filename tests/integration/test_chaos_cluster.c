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
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "duro/keys.h"
#include "harness.h"

#define NODES 3
#define PARTITIONS 16

static duro_test_harness h;
static int ports[NODES];
static redisContext *nodes[NODES];

static void teardown(void)
{
    for (int i = 0; i < NODES; i++)
        if (nodes[i]) redisFree(nodes[i]);
    duro_test_fini();
}

TestSuite(chaos_cluster, .init = NULL, .fini = teardown, .timeout = 120);

static void cmd_ok(redisContext *c, const char *what, redisReply *r)
{
    cr_assert(r, "%s: %s", what, c->errstr);
    cr_assert(r->type != REDIS_REPLY_ERROR, "%s: %s", what, r->str);
    freeReplyObject(r);
}

/* node_of: the node serving key, by the slot ranges start_cluster gave. */
static redisContext *node_of(const char *key)
{
    const char *open = strchr(key, '{'), *close = open ? strchr(open, '}') : 0;
    uint16_t slot =
        open && close && close > open + 1
            ? duro_crc16(open + 1, (size_t)(close - open - 1)) % 16384
            : duro_crc16(key, strlen(key)) % 16384;
    return nodes[slot * NODES / 16384];
}

static bool cluster_ok(void)
{
    for (int i = 0; i < NODES; i++) {
        redisReply *r = redisCommand(nodes[i], "CLUSTER INFO");
        bool ok = r && r->type == REDIS_REPLY_STRING &&
                  strstr(r->str, "cluster_state:ok");
        if (r) freeReplyObject(r);
        if (!ok) return false;
    }
    return true;
}

/* port_free: nothing listens on 127.0.0.1:port (a bind succeeds). */
static bool port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    if (fd >= 0) close(fd);
    return ok;
}

/* cluster_port: a free port whose cluster bus port (+10000) is free too. */
static int cluster_port(void)
{
    for (int i = 0; i < 1000; i++) {
        int p = duro_test_free_port();
        if (p <= 55535 && port_free(p + 10000)) return p;
    }
    cr_assert_fail("no free port with a free bus port");
    return -1;
}

/* connect_node: a connection to the node on port, NULL until it is up. */
static redisContext *connect_node(int port)
{
    redisContext *c = redisConnect("127.0.0.1", port);
    redisReply *r = c && !c->err ? redisCommand(c, "PING") : NULL;
    bool up = r && r->type == REDIS_REPLY_STATUS;
    if (r) freeReplyObject(r);
    if (up) return c;
    if (c) redisFree(c);
    return NULL;
}

/* start_cluster: three cluster-enabled servers, node i serving the slots
 * [i * 16384 / 3, (i + 1) * 16384 / 3), met and in state ok. */
static void start_cluster(void)
{
    duro_test_redis_start(&h); /* the harness's dir (its server is unused) */
    for (int i = 0; i < NODES; i++) {
        char port[16], conf[PATH_MAX + 32], name[16];
        ports[i] = cluster_port();
        snprintf(port, sizeof(port), "%d", ports[i]);
        snprintf(conf, sizeof(conf), "%s/nodes-%d.conf", h.dir, ports[i]);
        snprintf(name, sizeof(name), "node%d", i);
        duro_test_spawn_redis(&h, name, "--port", port, "--bind", "127.0.0.1",
                              "--cluster-enabled", "yes",
                              "--cluster-config-file", conf, "--save", "",
                              "--appendonly", "no", NULL);
    }
    for (int i = 0; i < NODES; i++) {
        cr_assert(
            duro_test_wait_until((nodes[i] = connect_node(ports[i])), 5000),
            "node %d did not come up", i);
        cmd_ok(nodes[i], "ADDSLOTSRANGE",
               redisCommand(nodes[i], "CLUSTER ADDSLOTSRANGE %d %d",
                            i * 16384 / NODES, (i + 1) * 16384 / NODES - 1));
    }
    for (int i = 1; i < NODES; i++)
        cmd_ok(nodes[0], "MEET",
               redisCommand(nodes[0], "CLUSTER MEET 127.0.0.1 %d", ports[i]));
    cr_assert(duro_test_wait_until(cluster_ok(), 20000),
              "the cluster never reached cluster_state:ok");
}

static void write_key(const char *fmt, const char *key, const char *a,
                      const char *b)
{
    redisContext *c = node_of(key);
    cmd_ok(c, fmt, redisCommand(c, fmt, key, a, b));
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
    start_cluster();
    char seeds[128], one[64], key[64], member[16], out[8192], err[8192];
    snprintf(seeds, sizeof(seeds), "redis+cluster://127.0.0.1:%d,127.0.0.1:%d",
             ports[0], ports[1]);
    snprintf(one, sizeof(one), "redis://127.0.0.1:%d", ports[2]);
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
