/* cli_dev_cluster.c: `duro dev --cluster N`: N redis-servers on
 * consecutive loopback ports made into one Redis Cluster, every node a
 * master with an equal share of the slots, for trying Duro on a cluster
 * on one machine (see cli_dev_cluster.h). The cluster is made by hand
 * (CLUSTER ADDSLOTSRANGE, SET-CONFIG-EPOCH, MEET), as redis-cli
 * --cluster create does, so nothing but redis-server is needed. */
#include "cli_dev_cluster.h"
#include "cli_dev_redis.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#define SLOTS 16384
#define NODE_WAIT_MS 5000
#define CLUSTER_WAIT_MS 30000
#define POLL_MS 50

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void fail(char *err, size_t errsize, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errsize, fmt, ap);
    va_end(ap);
}

/* ---- Ports ---- */

static bool port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return false;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

int cli_dev_cluster_check(int port, int n, char *err, size_t errsize)
{
    if (n < 1 || n > CLI_DEV_CLUSTER_MAX) {
        fail(err, errsize, "--cluster wants 1..%d masters, not %d",
             CLI_DEV_CLUSTER_MAX, n);
        return -1;
    }
    if (port + n - 1 + CLI_DEV_CLUSTER_BUS_OFFSET > 65535) {
        fail(err, errsize,
             "--port %d: the cluster's bus ports (port + %d) would pass "
             "65535; pick a port below %d",
             port, CLI_DEV_CLUSTER_BUS_OFFSET,
             65536 - CLI_DEV_CLUSTER_BUS_OFFSET - n + 1);
        return -1;
    }
    for (int i = 0; i < n; i++)
        for (int bus = 0; bus < 2; bus++) {
            int p = port + i + (bus ? CLI_DEV_CLUSTER_BUS_OFFSET : 0);
            if (!port_free(p)) {
                fail(err, errsize,
                     "port %d on 127.0.0.1 is taken (another Redis?); the "
                     "cluster wants %d..%d and %d..%d: pick another --port",
                     p, port, port + n - 1, port + CLI_DEV_CLUSTER_BUS_OFFSET,
                     port + n - 1 + CLI_DEV_CLUSTER_BUS_OFFSET);
                return -1;
            }
        }
    return 0;
}

/* ---- Talking to a node ---- */

static redisContext *node_connect(int port)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c && !c->err) {
        redisSetTimeout(c, tv);
        return c;
    }
    if (c) redisFree(c);
    return NULL;
}

/* node_cmd: the reply of one command to node `port` (caller frees), or
 * NULL when it does not answer. */
static redisReply *node_cmd(int port, const char *fmt, ...)
{
    redisContext *c = node_connect(port);
    if (!c) return NULL;
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    redisFree(c);
    return r;
}

/* info_int: an integer field of node `port`'s CLUSTER INFO, or -1;
 * *ok (may be NULL) set to cluster_state:ok. */
static long info_int(int port, const char *field, bool *ok)
{
    redisReply *r = node_cmd(port, "CLUSTER INFO");
    long v = -1;
    if (ok) *ok = false;
    if (r && r->type == REDIS_REPLY_STRING) {
        const char *p = strstr(r->str, field);
        if (p && p[strlen(field)] == ':')
            v = strtol(p + strlen(field) + 1, NULL, 10);
        if (ok) *ok = strstr(r->str, "cluster_state:ok") != NULL;
    }
    freeReplyObject(r);
    return v;
}

static bool answers_ping(int port)
{
    redisReply *r = node_cmd(port, "PING");
    bool ok = r && r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    return ok;
}

/* command_ok: node `port` answers OK (a status) to the command. */
static int command_ok(int port, char *err, size_t errsize, const char *fmt, ...)
{
    redisContext *c = node_connect(port);
    if (!c) {
        fail(err, errsize, "node 127.0.0.1:%d does not answer", port);
        return -1;
    }
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    int rc = r && r->type == REDIS_REPLY_STATUS ? 0 : -1;
    if (rc)
        fail(err, errsize, "node 127.0.0.1:%d: %s", port,
             r && r->str ? r->str : c->errstr);
    freeReplyObject(r);
    redisFree(c);
    return rc;
}

/* ---- Starting ---- */

/* start_nodes spawns every node and waits for each to answer. */
static int start_nodes(cli_dev_cluster *cl, const char *prog, const char *dir,
                       int *stopped, char *err, size_t errsize)
{
    char bus[16], timeout[] = "5000";
    for (int i = 0; i < cl->n; i++) {
        int port = cl->port + i;
        char ndir[4200];
        snprintf(ndir, sizeof(ndir), "%s/node-%d", dir, port);
        if (mkdir(ndir, 0755) != 0 && errno != EEXIST) {
            fail(err, errsize, "cannot create %s: %s", ndir, strerror(errno));
            return -1;
        }
        snprintf(bus, sizeof(bus), "%d", port + CLI_DEV_CLUSTER_BUS_OFFSET);
        const char *extra[] = {"--cluster-enabled",
                               "yes",
                               "--cluster-config-file",
                               "nodes.conf",
                               "--cluster-port",
                               bus,
                               "--cluster-node-timeout",
                               timeout,
                               NULL};
        cl->pid[i] = cli_dev_spawn_redis(prog, ndir, port, NULL, extra);
        if (cl->pid[i] < 0) {
            fail(err, errsize, "fork: %s", strerror(errno));
            return -1;
        }
    }
    for (int i = 0; i < cl->n; i++) {
        int port = cl->port + i, waited = 0, st;
        while (!answers_ping(port)) {
            if ((*stopped = cli_dev_take_stop())) return -1;
            if (waitpid(cl->pid[i], &st, WNOHANG) == cl->pid[i] ||
                (waited += POLL_MS) > NODE_WAIT_MS) {
                fail(err, errsize,
                     "redis-server did not start on port %d; see "
                     "%s/node-%d/redis.log",
                     port, dir, port);
                return -1;
            }
            sleep_ms(POLL_MS);
        }
    }
    return 0;
}

/* join gives node i its share of the slots and a distinct config epoch,
 * then has node 0 meet the others; the cluster gossips the rest. */
static int join(const cli_dev_cluster *cl, char *err, size_t errsize)
{
    for (int i = 0; i < cl->n; i++) {
        int lo = SLOTS * i / cl->n, hi = SLOTS * (i + 1) / cl->n - 1;
        int port = cl->port + i;
        if (command_ok(port, err, errsize, "CLUSTER SET-CONFIG-EPOCH %d",
                       i + 1) ||
            command_ok(port, err, errsize, "CLUSTER ADDSLOTSRANGE %d %d", lo,
                       hi))
            return -1;
    }
    for (int i = 1; i < cl->n; i++)
        if (command_ok(cl->port, err, errsize, "CLUSTER MEET 127.0.0.1 %d %d",
                       cl->port + i, cl->port + i + CLI_DEV_CLUSTER_BUS_OFFSET))
            return -1;
    return 0;
}

/* all_ok: every node says cluster_state:ok and knows all n. */
static bool all_ok(const cli_dev_cluster *cl)
{
    for (int i = 0; i < cl->n; i++) {
        bool ok;
        if (info_int(cl->port + i, "cluster_known_nodes", &ok) != cl->n || !ok)
            return false;
    }
    return true;
}

/* form: a new data dir's nodes (no slots, alone) are joined; a dir of
 * an earlier run holds this cluster already; anything else is refused. */
static int form(const cli_dev_cluster *cl, const char *dir, char *err,
                size_t errsize)
{
    int fresh = 0, formed = 0;
    for (int i = 0; i < cl->n; i++) {
        long known = info_int(cl->port + i, "cluster_known_nodes", NULL);
        long slots = info_int(cl->port + i, "cluster_slots_assigned", NULL);
        fresh += known == 1 && slots == 0;
        formed += known == cl->n && slots == SLOTS;
    }
    if (fresh == cl->n) return join(cl, err, errsize);
    if (formed == cl->n) return 0;
    fail(err, errsize,
         "%s holds a cluster of another shape than --cluster %d on port %d "
         "(a different --cluster or --port before?): use another --dir",
         dir, cl->n, cl->port);
    return -1;
}

int cli_dev_cluster_start(cli_dev_cluster *cl, const char *prog,
                          const char *dir, int port, int n, int *stopped,
                          char *err, size_t errsize)
{
    memset(cl, 0, sizeof(*cl));
    cl->n = n;
    cl->port = port;
    *stopped = 0;
    int rc = start_nodes(cl, prog, dir, stopped, err, errsize);
    if (rc == 0) rc = form(cl, dir, err, errsize);
    for (int waited = 0; rc == 0 && !all_ok(cl); waited += POLL_MS) {
        if ((*stopped = cli_dev_take_stop())) {
            rc = -1;
        } else if (waited > CLUSTER_WAIT_MS) {
            fail(err, errsize,
                 "the cluster did not reach cluster_state:ok in %ds; see "
                 "%s/node-*/redis.log",
                 CLUSTER_WAIT_MS / 1000, dir);
            rc = -1;
        } else {
            sleep_ms(POLL_MS);
        }
    }
    if (rc) cli_dev_cluster_stop(cl);
    return rc ? (*stopped ? *stopped : -1) : 0;
}

void cli_dev_cluster_url(const cli_dev_cluster *cl, char *buf, size_t size)
{
    size_t off = (size_t)snprintf(buf, size, "redis+cluster://");
    for (int i = 0; i < cl->n && off < size; i++)
        off += (size_t)snprintf(buf + off, size - off, "%s127.0.0.1:%d",
                                i ? "," : "", cl->port + i);
}

void cli_dev_cluster_print(const cli_dev_cluster *cl, const char *url,
                           const char *dir, const char *metrics_addr)
{
    printf("Duro dev cluster ready: DURO_REDIS_URL=%s\n"
           "  %d masters on 127.0.0.1:%d..%d (cluster bus +%d), data in "
           "%s/node-<port> (appendonly)\n"
           "  redis://127.0.0.1:%d works too (the cluster is detected); "
           "redis-cli -c -p %d\n"
           "  scheduler running in this process%s%s\n"
           "\n"
           "Start a worker in another terminal:\n"
           "  export DURO_REDIS_URL=%s\n"
           "  food-worker          # or your own worker program\n"
           "\n"
           "Ctrl-C stops the scheduler and the cluster.\n",
           url, cl->n, cl->port, cl->port + cl->n - 1,
           CLI_DEV_CLUSTER_BUS_OFFSET, dir, cl->port, cl->port,
           metrics_addr ? ", metrics on http://" : "",
           metrics_addr ? metrics_addr : "", url);
    fflush(stdout);
}

void cli_dev_cluster_stop(cli_dev_cluster *cl)
{
    /* SIGTERM to all first: they shut down side by side */
    for (int i = 0; i < cl->n; i++) {
        int st;
        if (cl->pid[i] > 0 && waitpid(cl->pid[i], &st, WNOHANG) == 0)
            kill(cl->pid[i], SIGTERM);
    }
    for (int i = 0; i < cl->n; i++)
        if (cl->pid[i] > 0) cli_dev_stop_redis(cl->pid[i]);
    cl->n = 0;
}
