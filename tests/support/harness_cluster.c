/* harness_cluster.c: a throwaway Redis Cluster for the integration tests
 * (see harness.h): nodes on free loopback ports, the cluster made with
 * redis-cli, and the operator's moves a test plays mid-run: a slot
 * migrated by hand, a master killed and its replica promoted. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "duro/keys.h"
#include "harness.h"

#define SLOTS 16384
#define NODE_READY_MS 5000
#define CLUSTER_READY_MS 30000
#define CREATE_MS 30000
#define SLOT_AGREE_MS 10000
#define MIGRATE_TIMEOUT_MS 5000

/* ---- Talking to a node ---- */

static redisContext *node_connect(const duro_test_node *n, int timeout_ms)
{
    struct timeval tv = {timeout_ms / 1000,
                         (suseconds_t)(timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", n->port, tv);
    if (c && !c->err) redisSetTimeout(c, tv);
    if (c && c->err) {
        redisFree(c);
        c = NULL;
    }
    return c;
}

/* node_string: the bulk or status answer of a command to node n, as a
 * malloc'd string (caller frees), or NULL. */
static char *node_string(const duro_test_node *n, const char *cmd)
{
    redisContext *c = node_connect(n, 1000);
    if (!c) return NULL;
    redisReply *r = redisCommand(c, cmd);
    char *s = NULL;
    if (r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS))
        s = strdup(r->str);
    freeReplyObject(r);
    redisFree(c);
    return s;
}

/* field_of: `name:value` of an INFO-style text into buf ("" if absent). */
static char *field_of(const char *text, const char *name, char *buf,
                      size_t size)
{
    buf[0] = '\0';
    size_t len = strlen(name);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : p)
        if (!strncmp(p, name, len) && p[len] == ':') {
            size_t v = strcspn(p + len + 1, "\r\n");
            snprintf(buf, size, "%.*s", (int)v, p + len + 1);
            break;
        }
    return buf;
}

redisContext *duro_test_cluster_redis(duro_test_harness *h, int idx)
{
    cr_assert(idx >= 0 && idx < h->cluster.nnodes, "no node %d", idx);
    redisContext *c = node_connect(&h->cluster.node[idx], 5000);
    cr_assert(c, "cannot connect to node %d (port %d)", idx,
              h->cluster.node[idx].port);
    return c;
}

char *duro_test_cluster_info(duro_test_harness *h, int idx, const char *field,
                             char *buf, size_t size)
{
    char *info = node_string(&h->cluster.node[idx], "CLUSTER INFO");
    field_of(info, field, buf, size);
    free(info);
    return buf;
}

/* node_ok: node idx says the cluster is ok, serves every slot and knows
 * `known` nodes (0: any count). */
static bool node_ok(duro_test_harness *h, int idx, int known)
{
    char *info = node_string(&h->cluster.node[idx], "CLUSTER INFO");
    char v[64];
    bool ok =
        info && !strcmp(field_of(info, "cluster_state", v, sizeof(v)), "ok") &&
        strtol(field_of(info, "cluster_slots_ok", v, sizeof(v)), NULL, 10) ==
            SLOTS &&
        (!known || strtol(field_of(info, "cluster_known_nodes", v, sizeof(v)),
                          NULL, 10) == known);
    free(info);
    return ok;
}

bool duro_test_cluster_ok(duro_test_harness *h)
{
    for (int i = 0; i < h->cluster.nnodes; i++)
        if (!h->cluster.node[i].killed && !node_ok(h, i, 0)) return false;
    return true;
}

/* replica_linked: node idx is a replica whose link to its master is up
 * (only then does it count for WAIT, and can it be promoted). */
static bool replica_linked(duro_test_harness *h, int idx)
{
    char *info = node_string(&h->cluster.node[idx], "INFO replication");
    char v[32];
    bool up = info &&
              !strcmp(field_of(info, "master_link_status", v, sizeof(v)), "up");
    free(info);
    return up;
}

/* ---- Slots ---- */

int duro_test_key_slot(const char *key)
{
    size_t len = strlen(key);
    const char *open = strchr(key, '{');
    if (open) {
        const char *close = strchr(open + 1, '}');
        if (close && close > open + 1) {
            key = open + 1;
            len = (size_t)(close - open - 1);
        }
    }
    return duro_crc16(key, len) & (SLOTS - 1);
}

int duro_test_partition_slot(int p)
{
    char tag[24];
    snprintf(tag, sizeof(tag), "{p%d}", p);
    return duro_test_key_slot(tag);
}

/* node_by_port: the index of the node on port, or -1. */
static int node_by_port(const duro_test_harness *h, int port)
{
    for (int i = 0; i < h->cluster.nnodes; i++)
        if (h->cluster.node[i].port == port) return i;
    return -1;
}

static int node_by_id(const duro_test_harness *h, const char *id)
{
    for (int i = 0; i < h->cluster.nnodes; i++)
        if (!strcmp(h->cluster.node[i].id, id)) return i;
    return -1;
}

int duro_test_cluster_owner(duro_test_harness *h, int asked, int slot)
{
    redisContext *c = node_connect(&h->cluster.node[asked], 1000);
    if (!c) return -1;
    redisReply *r = redisCommand(c, "CLUSTER SLOTS");
    int owner = -1;
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements;
         i++) {
        redisReply *range = r->element[i];
        if (range->type != REDIS_REPLY_ARRAY || range->elements < 3) continue;
        if (slot < range->element[0]->integer ||
            slot > range->element[1]->integer)
            continue;
        redisReply *m = range->element[2];
        if (m->type == REDIS_REPLY_ARRAY && m->elements >= 2)
            owner = node_by_port(h, (int)m->element[1]->integer);
    }
    freeReplyObject(r);
    redisFree(c);
    return owner;
}

int duro_test_cluster_wf_master(duro_test_harness *h, const char *id,
                                int partitions)
{
    int slot = duro_test_partition_slot(duro_partition_of(id, partitions));
    int asked = duro_test_cluster_master(h, -1);
    return asked < 0 ? -1 : duro_test_cluster_owner(h, asked, slot);
}

int duro_test_cluster_master(duro_test_harness *h, int not )
{
    for (int i = 0; i < h->cluster.nnodes; i++)
        if (i != not &&h->cluster.node[i].master && !h->cluster.node[i].killed)
            return i;
    return -1;
}

/* ---- Topology ---- */

/* read_nodes parses one node's CLUSTER NODES into h->cluster: every
 * line is `<id> <ip>:<port>@<bus> <flags> <master id|-> ...`. */
static bool read_nodes(duro_test_harness *h, int asked)
{
    char *text = node_string(&h->cluster.node[asked], "CLUSTER NODES");
    if (!text) return false;
    char masters[DURO_TEST_CLUSTER_MAX][48] = {{0}};
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char id[48], addr[96], flags[128], master[48];
        if (sscanf(line, "%47s %95s %127s %47s", id, addr, flags, master) != 4)
            continue;
        const char *colon = strrchr(addr, ':');
        int i = colon ? node_by_port(h, (int)strtol(colon + 1, NULL, 10)) : -1;
        if (i < 0) continue;
        duro_test_node *n = &h->cluster.node[i];
        snprintf(n->id, sizeof(n->id), "%s", id);
        n->master = strstr(flags, "master") != NULL;
        snprintf(masters[i], sizeof(masters[i]), "%s", master);
    }
    free(text);
    for (int i = 0; i < h->cluster.nnodes; i++) {
        duro_test_node *n = &h->cluster.node[i];
        n->master_idx = n->master ? -1 : node_by_id(h, masters[i]);
    }
    return true;
}

void duro_test_cluster_refresh(duro_test_harness *h)
{
    for (int i = 0; i < h->cluster.nnodes; i++)
        if (!h->cluster.node[i].killed && read_nodes(h, i)) return;
    cr_assert_fail("no node of the cluster answers CLUSTER NODES");
}

/* set_urls: the seed URL (every master) and one node's URL. */
static void set_urls(duro_test_harness *h)
{
    duro_test_cluster *cl = &h->cluster;
    size_t off = (size_t)snprintf(cl->seed_url, sizeof(cl->seed_url),
                                  "redis+cluster://");
    for (int i = 0; i < cl->nnodes && off < sizeof(cl->seed_url); i++) {
        if (!cl->node[i].master || cl->node[i].killed) continue;
        off += (size_t)snprintf(
            cl->seed_url + off, sizeof(cl->seed_url) - off, "%s127.0.0.1:%d",
            cl->seed_url[off - 1] == '/' ? "" : ",", cl->node[i].port);
    }
    int first = duro_test_cluster_master(h, -1);
    snprintf(cl->node_url, sizeof(cl->node_url), "redis://127.0.0.1:%d",
             cl->node[first].port);
}

/* ---- Starting ---- */

/* node_ready: our server (by pid) answers PING on the node's port. */
static bool node_ready(const duro_test_node *n)
{
    char *pong = node_string(n, "PING");
    char *info = pong ? node_string(n, "INFO server") : NULL;
    char want[32], v[32];
    snprintf(want, sizeof(want), "%d", (int)n->pid);
    bool ok = pong && !strcmp(pong, "PONG") &&
              !strcmp(field_of(info, "process_id", v, sizeof(v)), want);
    free(pong);
    free(info);
    return ok;
}

/* spawn_node starts node i on its port and bus port, in <dir>/node-<i>
 * (again: with the nodes.conf and data it left there), and waits until
 * it answers; false when it did not come up. */
static bool spawn_node(duro_test_harness *h, int i, int attempt)
{
    duro_test_cluster *cl = &h->cluster;
    duro_test_node *n = &cl->node[i];
    char dir[PATH_MAX + 32], name[48];
    snprintf(dir, sizeof(dir), "%s/node-%d", h->dir, i);
    cr_assert(mkdir(dir, 0700) == 0 || errno == EEXIST, "mkdir %s", dir);
    char port[16], bus[16], conf[48], timeout[16];
    snprintf(port, sizeof(port), "%d", n->port);
    snprintf(bus, sizeof(bus), "%d", n->bus_port);
    snprintf(conf, sizeof(conf), "nodes-%d.conf", n->port);
    snprintf(timeout, sizeof(timeout), "%d", cl->node_timeout_ms);
    snprintf(name, sizeof(name), "cluster-node-%d-%d", i, attempt);
    n->pid = duro_test_spawn_redis(
        h, name, "--port", port, "--cluster-port", bus, "--bind", "127.0.0.1",
        "--save", "", "--appendonly", cl->appendonly, "--dir", dir,
        "--daemonize", "no", "--protected-mode", "no", "--cluster-enabled",
        "yes", "--cluster-config-file", conf, "--cluster-node-timeout", timeout,
        "--cluster-replica-validity-factor", "0", NULL);
    int64_t deadline = duro_test_mono_ms() + NODE_READY_MS;
    while (duro_test_alive(h, n->pid) && !node_ready(n) &&
           duro_test_mono_ms() < deadline)
        duro_test_sleep_ms(10);
    return node_ready(n);
}

/* start_node starts node i on free ports, retrying others when the ones
 * it was given are taken meanwhile. */
static void start_node(duro_test_harness *h, int i)
{
    duro_test_node *n = &h->cluster.node[i];
    for (int attempt = 0; attempt < 5; attempt++) {
        n->port = duro_test_free_port();
        n->bus_port = duro_test_free_port();
        if (n->port == n->bus_port) continue;
        if (spawn_node(h, i, attempt)) return;
        duro_test_kill(h, n->pid, SIGKILL); /* most likely: a port taken */
    }
    duro_test_dump_logs(h, 10);
    cr_assert_fail("cluster node %d did not start", i);
}

/* create runs redis-cli --cluster create over every node; the first
 * `masters` become the masters. */
static void create(duro_test_harness *h, int replicas)
{
    char *argv[DURO_TEST_CLUSTER_MAX + 8] = {"redis-cli", "--cluster",
                                             "create"};
    char addr[DURO_TEST_CLUSTER_MAX][32], nrep[8];
    int n = 3;
    for (int i = 0; i < h->cluster.nnodes; i++) {
        snprintf(addr[i], sizeof(addr[i]), "127.0.0.1:%d",
                 h->cluster.node[i].port);
        argv[n++] = addr[i];
    }
    snprintf(nrep, sizeof(nrep), "%d", replicas);
    argv[n++] = "--cluster-replicas";
    argv[n++] = nrep;
    argv[n++] = "--cluster-yes";
    argv[n] = NULL;
    char log[PATH_MAX + 32];
    snprintf(log, sizeof(log), "%s/cluster-create.log", h->dir);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        FILE *f = freopen(log, "a", stdout);
        if (f) dup2(fileno(stdout), 2);
        execvp("redis-cli", argv);
        _exit(127);
    }
    int st = 0;
    int64_t deadline = duro_test_mono_ms() + CREATE_MS;
    pid_t r;
    while ((r = waitpid(pid, &st, WNOHANG)) == 0 &&
           duro_test_mono_ms() < deadline)
        duro_test_sleep_ms(20);
    if (r == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    cr_assert(r == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "redis-cli --cluster create failed (%s; is redis-cli "
              "installed?); see %s",
              r == 0 ? "timed out" : "exit", log);
}

/* settled: every node is ok and knows all the others; as every node
 * sees it, there are `masters` masters, and every replica is linked to
 * its master. */
static bool settled(duro_test_harness *h, int masters)
{
    for (int i = 0; i < h->cluster.nnodes; i++)
        if (!node_ok(h, i, h->cluster.nnodes)) return false;
    for (int asked = 0; asked < h->cluster.nnodes; asked++) {
        if (!read_nodes(h, asked)) return false;
        int nm = 0;
        for (int i = 0; i < h->cluster.nnodes; i++)
            nm += h->cluster.node[i].master;
        if (nm != masters) return false;
    }
    for (int i = 0; i < h->cluster.nnodes; i++)
        if (!h->cluster.node[i].master && !replica_linked(h, i)) return false;
    return true;
}

void duro_test_cluster_start(duro_test_harness *h, int masters,
                             int replicas_per_master,
                             const duro_test_cluster_opts *o)
{
    if (!h->dir[0]) duro_test_dir_start(h);
    int n = masters * (1 + replicas_per_master);
    cr_assert(masters >= 3 && n <= DURO_TEST_CLUSTER_MAX,
              "a cluster wants 3 masters or more, %d nodes at most",
              DURO_TEST_CLUSTER_MAX);
    duro_test_cluster *cl = &h->cluster;
    memset(cl, 0, sizeof(*cl));
    cl->nnodes = n;
    cl->moving_slot = -1;
    snprintf(cl->appendonly, sizeof(cl->appendonly), "%s",
             o && o->appendonly ? o->appendonly : "no");
    cl->node_timeout_ms =
        o && o->node_timeout_ms > 0 ? o->node_timeout_ms : 1000;
    for (int i = 0; i < n; i++)
        start_node(h, i);
    create(h, replicas_per_master);
    bool ok = duro_test_wait_until(settled(h, masters), CLUSTER_READY_MS);
    if (!ok) duro_test_dump_logs(h, 10);
    cr_assert(ok,
              "the cluster did not settle (cluster_state:ok, every node "
              "known, %d masters, replicas linked)",
              masters);
    int nm = 0;
    for (int i = 0; i < n; i++)
        nm += cl->node[i].master;
    cr_assert_eq(nm, masters, "%d masters, not %d", nm, masters);
    set_urls(h);
    h->redis_port = cl->node[duro_test_cluster_master(h, -1)].port;
    snprintf(h->redis_url, sizeof(h->redis_url), "%s", cl->seed_url);
    setenv("DURO_REDIS_URL", h->redis_url, 1);
    setenv("DURO_PARTITIONS", "16", 1);
}

/* ---- Moving a slot ---- */

/* command_ok: node idx answers OK to the printf-style command. */
static void command_ok(duro_test_harness *h, int idx, const char *fmt, ...)
{
    redisContext *c = duro_test_cluster_redis(h, idx);
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    cr_assert(r && r->type == REDIS_REPLY_STATUS, "node %d (port %d): %s: %s",
              idx, h->cluster.node[idx].port, fmt,
              r && r->str ? r->str : c->errstr);
    freeReplyObject(r);
    redisFree(c);
}

void duro_test_cluster_move_begin(duro_test_harness *h, int slot, int to)
{
    duro_test_cluster *cl = &h->cluster;
    cr_assert_eq(cl->moving_slot, -1, "slot %d is being moved already",
                 cl->moving_slot);
    int from = duro_test_cluster_owner(h, to, slot);
    cr_assert(from >= 0 && from != to && cl->node[to].master,
              "slot %d: owner %d, target %d (a master?)", slot, from, to);
    command_ok(h, to, "CLUSTER SETSLOT %d IMPORTING %s", slot,
               cl->node[from].id);
    command_ok(h, from, "CLUSTER SETSLOT %d MIGRATING %s", slot,
               cl->node[to].id);
    cl->moving_slot = slot;
    cl->moving_from = from;
    cl->moving_to = to;
}

int duro_test_cluster_move_keys(duro_test_harness *h, int max)
{
    duro_test_cluster *cl = &h->cluster;
    cr_assert_neq(cl->moving_slot, -1, "duro_test_cluster_move_begin first");
    redisContext *c = duro_test_cluster_redis(h, cl->moving_from);
    redisReply *keys =
        redisCommand(c, "CLUSTER GETKEYSINSLOT %d %d", cl->moving_slot, max);
    cr_assert(keys && keys->type == REDIS_REPLY_ARRAY, "GETKEYSINSLOT: %s",
              keys && keys->str ? keys->str : c->errstr);
    int moved = (int)keys->elements;
    if (moved > 0) {
        /* MIGRATE host port "" 0 timeout KEYS k1 k2 ... */
        size_t argc = 7 + keys->elements;
        const char **argv = calloc(argc, sizeof(*argv));
        size_t *lens = calloc(argc, sizeof(*lens));
        cr_assert(argv && lens);
        char port[16], timeout[16];
        snprintf(port, sizeof(port), "%d", cl->node[cl->moving_to].port);
        snprintf(timeout, sizeof(timeout), "%d", MIGRATE_TIMEOUT_MS);
        const char *head[] = {"MIGRATE", "127.0.0.1", port,  "",
                              "0",       timeout,     "KEYS"};
        for (size_t i = 0; i < 7; i++) {
            argv[i] = head[i];
            lens[i] = strlen(head[i]);
        }
        for (size_t i = 0; i < keys->elements; i++) {
            argv[7 + i] = keys->element[i]->str;
            lens[7 + i] = keys->element[i]->len;
        }
        redisReply *r = redisCommandArgv(c, (int)argc, argv, lens);
        cr_assert(r && r->type == REDIS_REPLY_STATUS, "MIGRATE: %s",
                  r && r->str ? r->str : c->errstr);
        freeReplyObject(r);
        free(argv);
        free(lens);
    }
    freeReplyObject(keys);
    redisFree(c);
    return moved;
}

/* agreed: every live node maps slot to node `to`. */
static bool agreed(duro_test_harness *h, int slot, int to)
{
    for (int i = 0; i < h->cluster.nnodes; i++)
        if (!h->cluster.node[i].killed &&
            duro_test_cluster_owner(h, i, slot) != to)
            return false;
    return true;
}

void duro_test_cluster_move_end(duro_test_harness *h)
{
    duro_test_cluster *cl = &h->cluster;
    cr_assert_neq(cl->moving_slot, -1, "duro_test_cluster_move_begin first");
    /* a workload may keep writing: its new keys go to the target (ASK),
     * so the source empties; bounded all the same */
    int rounds = 0;
    while (duro_test_cluster_move_keys(h, 100) > 0)
        cr_assert_lt(++rounds, 1000, "slot %d never emptied", cl->moving_slot);
    int slot = cl->moving_slot, to = cl->moving_to, from = cl->moving_from;
    const char *id = cl->node[to].id;
    command_ok(h, to, "CLUSTER SETSLOT %d NODE %s", slot, id);
    command_ok(h, from, "CLUSTER SETSLOT %d NODE %s", slot, id);
    for (int i = 0; i < cl->nnodes; i++)
        if (i != to && i != from && cl->node[i].master && !cl->node[i].killed)
            command_ok(h, i, "CLUSTER SETSLOT %d NODE %s", slot, id);
    cl->moving_slot = -1;
    cr_assert(duro_test_wait_until(agreed(h, slot, to), SLOT_AGREE_MS),
              "not every node maps slot %d to node %d", slot, to);
}

void duro_test_cluster_move_slot(duro_test_harness *h, int slot, int to)
{
    duro_test_cluster_move_begin(h, slot, to);
    duro_test_cluster_move_end(h);
}

/* ---- Failures ---- */

void duro_test_cluster_kill(duro_test_harness *h, int idx)
{
    duro_test_node *n = &h->cluster.node[idx];
    cr_assert(!n->killed, "node %d is down already", idx);
    duro_test_kill(h, n->pid, SIGKILL);
    n->killed = true;
    /* reaped at once: its port is free, nothing answers there */
    duro_test_wait_until(!duro_test_alive(h, n->pid), 2000);
}

/* promoted: the index of a live node that was a replica of `old` and now
 * says role:master, or -1. */
static int promoted(duro_test_harness *h, int old)
{
    for (int i = 0; i < h->cluster.nnodes; i++) {
        duro_test_node *n = &h->cluster.node[i];
        if (n->killed || n->master_idx != old) continue;
        char *info = node_string(n, "INFO replication");
        char v[16];
        bool master =
            info && !strcmp(field_of(info, "role", v, sizeof(v)), "master");
        free(info);
        if (master) return i;
    }
    return -1;
}

int duro_test_cluster_wait_promotion(duro_test_harness *h, int idx,
                                     int64_t timeout_ms)
{
    cr_assert(h->cluster.node[idx].killed, "node %d was not killed", idx);
    int64_t deadline = duro_test_mono_ms() + timeout_ms;
    int now = -1;
    bool ok = duro_test_wait_until((now = promoted(h, idx)) >= 0,
                                   deadline - duro_test_mono_ms());
    cr_assert(ok, "no replica of node %d became a master in %lldms", idx,
              (long long)timeout_ms);
    ok = duro_test_wait_until(duro_test_cluster_ok(h),
                              deadline - duro_test_mono_ms());
    cr_assert(ok, "the cluster did not get back to cluster_state:ok");
    duro_test_cluster_refresh(h);
    cr_assert(h->cluster.node[now].master);
    return now;
}

/* serves_slots: node `asked` maps some slot to node idx. */
static bool serves_slots(duro_test_harness *h, int asked, int idx)
{
    redisContext *c = node_connect(&h->cluster.node[asked], 1000);
    if (!c) return false;
    redisReply *r = redisCommand(c, "CLUSTER SLOTS");
    bool serves = false;
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements;
         i++) {
        redisReply *m =
            r->element[i]->elements >= 3 ? r->element[i]->element[2] : NULL;
        if (m && m->type == REDIS_REPLY_ARRAY && m->elements >= 2 &&
            m->element[1]->integer == h->cluster.node[idx].port)
            serves = true;
    }
    freeReplyObject(r);
    redisFree(c);
    return serves;
}

/* rejoined: node idx is back: every live node says ok and, as another
 * node sees it, it is a linked replica, or a master that serves slots
 * (when no replica took its place). */
static bool rejoined(duro_test_harness *h, int idx)
{
    int other = -1;
    for (int i = 0; i < h->cluster.nnodes && other < 0; i++)
        if (i != idx && !h->cluster.node[i].killed) other = i;
    if (other < 0 || !duro_test_cluster_ok(h) || !read_nodes(h, other))
        return false;
    const duro_test_node *n = &h->cluster.node[idx];
    return n->master ? serves_slots(h, other, idx)
                     : n->master_idx >= 0 && replica_linked(h, idx);
}

void duro_test_cluster_restart(duro_test_harness *h, int idx,
                               int64_t timeout_ms)
{
    duro_test_node *n = &h->cluster.node[idx];
    cr_assert(n->killed, "node %d is running", idx);
    static int restarts;
    cr_assert(spawn_node(h, idx, 100 + restarts++),
              "node %d did not start again on port %d", idx, n->port);
    n->killed = false;
    cr_assert(duro_test_wait_until(rejoined(h, idx), timeout_ms),
              "node %d did not rejoin the cluster", idx);
}
