/* test_aredis_cluster.c: duro_aredis on a Redis Cluster started here (3
 * masters; 3+3 for the failover): routing per master, a slot moved by hand
 * mid-stream (ASK, then MOVED), a master killed and its replica promoted,
 * Functions loaded on every master and reloaded after FUNCTION FLUSH,
 * sharded subscriptions per master and after a slot move; classic and
 * sharded subscriptions on one server too. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "duro/aredis.h"
#include "duro/cluster.h"
#include "duro/errno.h"
#include "duro/fcall.h"
#include "duro/keys.h"
#include "duro/lua.h"
#include "harness.h"
#include "harness_aredis.h"

static duro_test_harness h;

static void setup(void)
{
    srand((unsigned)getpid());
    duro_test_redis_start(&h); /* a standalone server, for comparison */
}

TestSuite(aredis_cluster, .init = setup, .fini = duro_test_fini,
          .timeout = 150);

/* ---- A loopback cluster (the harness gets a shared one later) ---- */

#define NODES_MAX 6

typedef struct {
    int n;
    int port[NODES_MAX];
    pid_t pid[NODES_MAX];
    char id[NODES_MAX][48];
} tcluster;

static redisContext *node_ctx(const tcluster *c, int i)
{
    struct timeval tv = {2, 0};
    redisContext *r = redisConnectWithTimeout("127.0.0.1", c->port[i], tv);
    cr_assert(r && !r->err, "connect to node %d", c->port[i]);
    return r;
}

static redisReply *node_cmd(const tcluster *c, int i, const char *fmt, ...)
{
    redisContext *r = node_ctx(c, i);
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = redisvCommand(r, fmt, ap);
    va_end(ap);
    redisFree(r);
    return rep;
}

static bool node_info_has(const tcluster *c, int i, const char *what)
{
    redisContext *r = redisConnect("127.0.0.1", c->port[i]);
    if (!r || r->err) {
        if (r) redisFree(r);
        return false;
    }
    redisReply *rep = redisCommand(r, "CLUSTER INFO");
    bool ok = rep && rep->type == REDIS_REPLY_STRING && strstr(rep->str, what);
    if (rep) freeReplyObject(rep);
    redisFree(r);
    return ok;
}

/* port_free: nothing listens on 127.0.0.1:port and it can be bound. */
static bool port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    if (fd >= 0) close(fd);
    return ok;
}

/* cluster_port: a free port whose cluster bus port (+10000) is free too,
 * both below the kernel's ephemeral range (32768..), where no outgoing
 * connection takes them between this check and the node's bind. */
static int cluster_port(void)
{
    for (int i = 0; i < 1000; i++) {
        int p = 12000 + rand() % 10000;
        if (port_free(p) && port_free(p + 10000)) return p;
    }
    cr_assert_fail("no free port pair");
    return -1;
}

/* spawn_node starts node i of c on a free port pair: cluster mode, node
 * timeout 1s, a replica always takes over, nothing saved. */
static void spawn_node(tcluster *c, int i)
{
    c->port[i] = cluster_port();
    char port[16], conf[64], name[32], dump[64];
    snprintf(port, sizeof(port), "%d", c->port[i]);
    snprintf(conf, sizeof(conf), "nodes-%d.conf", c->port[i]);
    snprintf(dump, sizeof(dump), "dump-%d.rdb", c->port[i]);
    snprintf(name, sizeof(name), "cluster-%d", i);
    c->pid[i] = duro_test_spawn_redis(
        &h, name, "--port", port, "--bind", "127.0.0.1", "--dir", h.dir,
        "--cluster-enabled", "yes", "--cluster-config-file", conf,
        "--cluster-node-timeout", "1000", "--cluster-replica-validity-factor",
        "0", "--save", "", "--appendonly", "no", "--dbfilename", dump, NULL);
}

/* cluster_start: n nodes, --cluster-replicas replicas, node timeout 1s. */
static void cluster_start(tcluster *c, int n, int replicas)
{
    memset(c, 0, sizeof(*c));
    c->n = n;
    char cmd[1024];
    int len = snprintf(cmd, sizeof(cmd), "redis-cli --cluster create");
    for (int i = 0; i < n; i++) {
        spawn_node(c, i);
        len += snprintf(cmd + len, sizeof(cmd) - (size_t)len, " 127.0.0.1:%d",
                        c->port[i]);
    }
    for (int i = 0; i < n; i++) {
        int64_t end = duro_test_mono_ms() + 5000;
        redisContext *r = NULL;
        while (duro_test_mono_ms() < end) {
            r = redisConnect("127.0.0.1", c->port[i]);
            if (r && !r->err) break;
            if (r) redisFree(r);
            r = NULL;
            duro_test_sleep_ms(20);
        }
        cr_assert(r, "node %d did not start", c->port[i]);
        redisFree(r);
    }
    snprintf(cmd + len, sizeof(cmd) - (size_t)len,
             " --cluster-replicas %d --cluster-yes > %s/cluster-create.log "
             "2>&1",
             replicas, h.dir);
    /* NOLINTNEXTLINE(cert-env33-c): the test's own fixed command line */
    cr_assert_eq(system(cmd), 0, "redis-cli --cluster create failed");
    int64_t end = duro_test_mono_ms() + 20000;
    for (int i = 0; i < n; i++)
        while (!node_info_has(c, i, "cluster_state:ok"))
            cr_assert_lt(duro_test_mono_ms(), end, "cluster not ok");
    /* replicas in sync first: a replica never synced does not fail over */
    for (int i = 0; i < n; i++) {
        for (;;) {
            redisReply *rep = node_cmd(c, i, "INFO replication");
            bool ok = rep && rep->type == REDIS_REPLY_STRING &&
                      (strstr(rep->str, "role:master") ||
                       strstr(rep->str, "master_link_status:up"));
            if (rep) freeReplyObject(rep);
            if (ok) break;
            cr_assert_lt(duro_test_mono_ms(), end, "replica %d not in sync",
                         c->port[i]);
            duro_test_sleep_ms(50);
        }
    }
    for (int i = 0; i < n; i++) {
        redisReply *rep = node_cmd(c, i, "CLUSTER MYID");
        cr_assert(rep && rep->type == REDIS_REPLY_STRING);
        snprintf(c->id[i], sizeof(c->id[i]), "%s", rep->str);
        freeReplyObject(rep);
    }
}

/* map_from: the slot map as node i sees it. */
static void map_from(const tcluster *c, int i, duro_cluster_map *m)
{
    redisReply *rep = node_cmd(c, i, "CLUSTER SLOTS");
    char err[128];
    cr_assert_eq(duro_cluster_map_parse(m, rep, NULL, err, sizeof(err)), 0,
                 "%s", err);
    freeReplyObject(rep);
}

/* owner: the node (index) serving slot, as node `asked` sees it. */
static int owner(const tcluster *c, int asked, int slot)
{
    static duro_cluster_map m;
    map_from(c, asked, &m);
    int n = m.slot_node[slot];
    cr_assert_geq(n, 0, "slot %d unserved", slot);
    for (int i = 0; i < c->n; i++)
        if (c->port[i] == m.node[n].port) return i;
    cr_assert_fail("slot %d served by an unknown port", slot);
    return -1;
}

static int key_slot(const char *key)
{
    return duro_cluster_slot(key, strlen(key));
}

/* move_slot moves slot from node `from` to node `to` in the steps
 * redis-cli --cluster reshard takes; between(arg) runs while the slot is
 * MIGRATING/IMPORTING, before its keys move. */
static void move_slot(const tcluster *c, int slot, int from, int to,
                      void (*between)(void *), void *arg)
{
    redisReply *rep;
    rep = node_cmd(c, to, "CLUSTER SETSLOT %d IMPORTING %s", slot, c->id[from]);
    cr_assert(rep && rep->type == REDIS_REPLY_STATUS, "IMPORTING");
    freeReplyObject(rep);
    rep = node_cmd(c, from, "CLUSTER SETSLOT %d MIGRATING %s", slot, c->id[to]);
    cr_assert(rep && rep->type == REDIS_REPLY_STATUS, "MIGRATING");
    freeReplyObject(rep);
    if (between) between(arg);
    for (int round = 0; round < 100; round++) {
        rep = node_cmd(c, from, "CLUSTER GETKEYSINSLOT %d 100", slot);
        cr_assert(rep && rep->type == REDIS_REPLY_ARRAY);
        size_t nkeys = rep->elements;
        for (size_t i = 0; i < rep->elements; i++) {
            redisReply *m = node_cmd(c, from, "MIGRATE 127.0.0.1 %d %s 0 5000",
                                     c->port[to], rep->element[i]->str);
            cr_assert(m && m->type == REDIS_REPLY_STATUS, "MIGRATE: %s",
                      m && m->str ? m->str : "?");
            freeReplyObject(m);
        }
        freeReplyObject(rep);
        if (nkeys == 0) break;
    }
    for (int i = 0; i < c->n; i++) {
        rep = node_cmd(c, i, "CLUSTER SETSLOT %d NODE %s", slot, c->id[to]);
        cr_assert(rep && rep->type == REDIS_REPLY_STATUS, "SETSLOT NODE: %s",
                  rep && rep->str ? rep->str : "?");
        freeReplyObject(rep);
    }
}

/* ---- The loop ---- */

static uv_loop_t loop;

typedef struct {
    int ok, errors, nulls;
    long long last_int;
    char last_err[256];
    char last_str[256];
} tally;

static void on_reply(duro_aredis *r, redisReply *rep, void *arg)
{
    tally *t = arg;
    if (!rep) {
        t->nulls++;
    } else if (rep->type == REDIS_REPLY_ERROR) {
        t->errors++;
        snprintf(t->last_err, sizeof(t->last_err), "%s", rep->str);
    } else {
        t->ok++;
        if (rep->type == REDIS_REPLY_INTEGER) t->last_int = rep->integer;
        if (rep->type == REDIS_REPLY_STRING || rep->type == REDIS_REPLY_STATUS)
            snprintf(t->last_str, sizeof(t->last_str), "%s", rep->str);
    }
}

static bool spin_until(bool (*cond)(void *), void *arg, int64_t ms)
{
    int64_t end = duro_test_mono_ms() + ms;
    while (!cond(arg)) {
        if (duro_test_mono_ms() > end) return false;
        uv_run(&loop, UV_RUN_NOWAIT);
        duro_test_sleep_ms(2);
    }
    return true;
}

static bool is_connected(void *arg)
{
    return duro_aredis_connected(arg);
}

static bool answered(void *arg)
{
    tally *t = arg;
    return t->ok + t->errors + t->nulls > 0;
}

typedef struct {
    tally *t;
    int n;
} many;

static bool all_answered(void *arg)
{
    many *m = arg;
    return m->t->ok + m->t->errors + m->t->nulls >= m->n;
}

/* pump runs the loop for ms. */
static void pump(int64_t ms)
{
    int64_t end = duro_test_mono_ms() + ms;
    while (duro_test_mono_ms() < end) {
        uv_run(&loop, UV_RUN_NOWAIT);
        duro_test_sleep_ms(2);
    }
}

/* new_aredis: one more handle on the loop (u: url's, or NULL). */
static duro_aredis *new_aredis(const char *url, const duro_redis_url *u,
                               const char *name)
{
    duro_redis_url parsed;
    char err[256];
    if (!u) {
        cr_assert_eq(duro_redis_url_parse(url, &parsed, err, sizeof(err)), 0,
                     "%s", err);
        u = &parsed;
    }
    duro_aredis *r = NULL;
    cr_assert_eq(duro_aredis_new(&r, &loop, u, name, NULL, NULL), 0);
    return r;
}

static duro_aredis *open_aredis(const char *url, const char *name)
{
    cr_assert_eq(uv_loop_init(&loop), 0);
    return new_aredis(url, NULL, name);
}

/* node_url: redis://<node i of c> into url (128 bytes). */
static char *node_url(const tcluster *c, int i, char *url)
{
    snprintf(url, 128, "redis://127.0.0.1:%d", c->port[i]);
    return url;
}

/* send_cmd sends one command whose reply goes to t (not waited for). */
static void send_cmd(duro_aredis *r, tally *t, int argc, const char **argv)
{
    duro_test_aredis_send(r, on_reply, t, argc, argv, NULL);
}

#define SEND(r, t, ...)                                                        \
    send_cmd(r, t,                                                             \
             sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *),     \
             (const char *[]){__VA_ARGS__})

/* cmd sends one command and waits for its reply. */
static tally cmd(duro_aredis *r, int argc, const char **argv)
{
    tally t = {0};
    send_cmd(r, &t, argc, argv);
    cr_assert(spin_until(answered, &t, 10000), "%s not answered", argv[0]);
    return t;
}

#define CMD(r, ...)                                                            \
    cmd(r, sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *),       \
        (const char *[]){__VA_ARGS__})

/* ---- Routing ---- */

static void check_partitions(duro_aredis *r, const tcluster *c, const char *val)
{
    for (int p = 0; p < 16; p++) {
        char key[32];
        snprintf(key, sizeof(key), "{p%d}:k", p);
        tally t = CMD(r, "SET", key, val);
        cr_assert_eq(t.ok, 1, "SET %s: %s", key, t.last_err);
        /* it is on the master that serves its slot, without redirection */
        int o = owner(c, 0, key_slot(key));
        redisReply *rep = node_cmd(c, o, "GET %s", key);
        cr_assert(rep && rep->type == REDIS_REPLY_STRING, "%s not on %d", key,
                  c->port[o]);
        cr_assert_str_eq(rep->str, val);
        freeReplyObject(rep);
    }
}

Test(aredis_cluster, routes_each_partition_to_its_master)
{
    tcluster c;
    cluster_start(&c, 3, 0);
    char url[128];
    duro_aredis *r =
        duro_test_aredis_open(&loop, node_url(&c, 1, url), "detect");
    cr_assert(duro_aredis_is_cluster(r), "a cluster node was not detected");
    check_partitions(r, &c, "v1");
    tally t = CMD(r, "PING"); /* keyless: any master */
    cr_assert_str_eq(t.last_str, "PONG");
    duro_test_aredis_close(&loop, r);

    /* redis+cluster:// seeds: the first seed is not even up */
    snprintf(url, sizeof(url), "redis+cluster://127.0.0.1:%d,127.0.0.1:%d",
             duro_test_free_port(), c.port[2]);
    r = open_aredis(url, "seeds");
    cr_assert(spin_until(is_connected, r, 15000), "not connected by seeds");
    cr_assert(duro_aredis_is_cluster(r));
    check_partitions(r, &c, "v2");
    duro_test_aredis_close(&loop, r);

    /* a standalone server stays one connection */
    r = duro_test_aredis_open(&loop, h.redis_url, "single");
    cr_assert_not(duro_aredis_is_cluster(r));
    t = CMD(r, "SET", "{p0}:k", "v");
    cr_assert_eq(t.ok, 1);
    duro_test_aredis_close(&loop, r);
    duro_test_finish(&h);
}

/* ---- Slot moves ---- */

typedef struct {
    duro_aredis *r;
    const char *key;
} during;

/* while_migrating: a key the old master does not hold is answered by ASK:
 * the router sends ASKING + the command to the importing master. */
static void while_migrating(void *arg)
{
    during *d = arg;
    tally t = CMD(d->r, "SET", d->key, "asked");
    cr_assert_eq(t.ok, 1, "SET during migration: %s", t.last_err);
    t = CMD(d->r, "INCR", "{p1}:ctr");
    cr_assert_eq(t.ok, 1, "INCR during migration: %s", t.last_err);
}

Test(aredis_cluster, follows_a_slot_moved_by_hand)
{
    tcluster c;
    cluster_start(&c, 3, 0);
    char url[128];
    duro_aredis *r =
        duro_test_aredis_open(&loop, node_url(&c, 0, url), "moves");
    int slot = key_slot("{p1}:ctr");
    int from = owner(&c, 0, slot), to = (from + 1) % 3;
    /* a stream of INCRs in flight while the slot moves */
    tally inc = {0};
    int sent = 0;
    for (int i = 0; i < 50; i++, sent++)
        SEND(r, &inc, "INCR", "{p1}:ctr");
    many m = {&inc, sent};
    cr_assert(spin_until(all_answered, &m, 10000));
    during d = {r, "{p1}:new"};
    move_slot(&c, slot, from, to, while_migrating, &d);
    sent += 1; /* while_migrating's */
    /* the key is now on `to`: the router still thinks `from` (MOVED) */
    for (int i = 0; i < 50; i++, sent++)
        SEND(r, &inc, "INCR", "{p1}:ctr");
    m.n = sent - 1;
    cr_assert(spin_until(all_answered, &m, 10000));
    cr_assert_eq(inc.errors + inc.nulls, 0, "lost INCRs: %s", inc.last_err);
    redisReply *rep = node_cmd(&c, to, "GET {p1}:ctr");
    cr_assert(rep && rep->type == REDIS_REPLY_STRING, "ctr not on the new");
    cr_assert_eq(strtol(rep->str, NULL, 10), sent, "ctr=%s sent=%d", rep->str,
                 sent);
    freeReplyObject(rep);
    rep = node_cmd(&c, to, "GET {p1}:new");
    cr_assert(rep && rep->type == REDIS_REPLY_STRING, "the ASKed key");
    cr_assert_str_eq(rep->str, "asked");
    freeReplyObject(rep);
    cr_assert(duro_aredis_connected(r));
    duro_test_aredis_close(&loop, r);
    duro_test_finish(&h);
}

typedef struct {
    int done;
    char got[2][16];
    char err[256];
} mget_result;

static void on_mget(duro_aredis *r, redisReply *rep, void *arg)
{
    mget_result *m = arg;
    m->done = 1;
    if (rep && rep->type == REDIS_REPLY_ERROR)
        snprintf(m->err, sizeof(m->err), "%s", rep->str);
    for (size_t i = 0;
         rep && rep->type == REDIS_REPLY_ARRAY && i < rep->elements && i < 2;
         i++)
        if (rep->element[i]->type == REDIS_REPLY_STRING)
            snprintf(m->got[i], sizeof(m->got[i]), "%s", rep->element[i]->str);
}

static bool mget_done(void *arg)
{
    return ((mget_result *)arg)->done;
}

static void node_ok(const tcluster *c, int i, const char *fmt, ...)
{
    redisContext *x = node_ctx(c, i);
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = redisvCommand(x, fmt, ap);
    va_end(ap);
    cr_assert(rep && rep->type != REDIS_REPLY_ERROR, "%s: %s", fmt,
              rep ? rep->str : x->errstr);
    freeReplyObject(rep);
    redisFree(x);
}

/* A multi-key command over a slot half moved is refused with TRYAGAIN:
 * the router sends it again until the move ends (then MOVED), within its
 * 5s bound. */
Test(aredis_cluster, tryagain_is_sent_again_until_the_move_ends)
{
    tcluster c;
    cluster_start(&c, 3, 0);
    char url[128];
    duro_aredis *r =
        duro_test_aredis_open(&loop, node_url(&c, 0, url), "tryagain");
    cr_assert_eq(CMD(r, "SET", "{p7}:a", "1").ok, 1);
    cr_assert_eq(CMD(r, "SET", "{p7}:b", "2").ok, 1);
    int slot = key_slot("{p7}:a");
    int from = owner(&c, 0, slot), to = (from + 1) % 3;
    node_ok(&c, to, "CLUSTER SETSLOT %d IMPORTING %s", slot, c.id[from]);
    node_ok(&c, from, "CLUSTER SETSLOT %d MIGRATING %s", slot, c.id[to]);
    node_ok(&c, from, "MIGRATE 127.0.0.1 %d {p7}:b 0 5000", c.port[to]);
    mget_result m = {0};
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "MGET");
    duro_argv_push(&a, "{p7}:a");
    duro_argv_push(&a, "{p7}:b");
    cr_assert_eq(duro_aredis_command(r, on_mget, &m, &a), 0);
    duro_argv_free(&a);
    pump(500); /* a few TRYAGAINs */
    cr_assert_not(m.done, "answered while the slot was half moved: %s", m.err);
    node_ok(&c, from, "MIGRATE 127.0.0.1 %d {p7}:a 0 5000", c.port[to]);
    for (int i = 0; i < c.n; i++)
        node_ok(&c, i, "CLUSTER SETSLOT %d NODE %s", slot, c.id[to]);
    cr_assert(spin_until(mget_done, &m, 5000), "MGET never answered");
    cr_assert_str_eq(m.err, "", "MGET: %s", m.err);
    cr_assert_str_eq(m.got[0], "1");
    cr_assert_str_eq(m.got[1], "2");
    duro_test_aredis_close(&loop, r);
    duro_test_finish(&h);
}

/* wait_everywhere: with DURO_REDIS_WAIT=1, an FCALL to every partition
 * through a router on url; each gets WAIT behind it on its master's
 * connection: want_ok says whether replicas confirm (3+3) or not (3). */
static void wait_everywhere(const char *url, bool want_ok)
{
    duro_redis_url u;
    char err[128];
    cr_assert_eq(duro_redis_url_parse(url, &u, err, sizeof(err)), 0);
    u.wait_replicas = 1;
    u.wait_timeout_ms = want_ok ? 5000 : 50;
    duro_aredis *w = new_aredis(NULL, &u, "wait");
    cr_assert(spin_until(is_connected, w, 10000));
    for (int p = 0; p < 16; p++) {
        char key[32];
        snprintf(key, sizeof(key), "{p%d}:x", p);
        tally t = CMD(w, "FCALL", "duro_version", "1", key);
        if (want_ok)
            cr_assert_eq(t.ok, 1, "FCALL+WAIT on %s: %s", key, t.last_err);
        else
            cr_assert(t.errors == 1 && strstr(t.last_err, "NOREPLICAS"),
                      "no WAIT behind the FCALL on %s", key);
    }
    duro_aredis_close(w);
}

/* A slot without master (DELSLOTS on its owner) answers CLUSTERDOWN: the
 * router sends each command again when the slot is served again, in the
 * order they were first sent, newer ones of that slot behind them. */
Test(aredis_cluster, clusterdown_commands_are_sent_again_in_order)
{
    tcluster c;
    cluster_start(&c, 3, 0);
    char url[128];
    duro_aredis *r = duro_test_aredis_open(&loop, node_url(&c, 0, url), "down");
    const char *key = "{p4}:list";
    int slot = key_slot(key);
    int o = owner(&c, 0, slot);
    node_ok(&c, o, "CLUSTER DELSLOTS %d", slot);
    tally t = {0};
    int sent = 0;
    for (int i = 1; i <= 20; i++) {
        char v[16];
        snprintf(v, sizeof(v), "%d", i);
        SEND(r, &t, "RPUSH", key, v);
        sent++;
        pump(20);
    }
    cr_assert_eq(t.ok, 0, "served while the slot had no master");
    node_ok(&c, o, "CLUSTER ADDSLOTS %d", slot);
    many m = {&t, sent};
    cr_assert(spin_until(all_answered, &m, 10000));
    cr_assert_eq(t.ok, sent, "errors=%d nulls=%d last=%s", t.errors, t.nulls,
                 t.last_err);
    redisReply *rep = node_cmd(&c, o, "LRANGE %s 0 -1", key);
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY);
    cr_assert_eq(rep->elements, (size_t)sent);
    for (size_t i = 0; i < rep->elements; i++)
        cr_assert_eq(strtol(rep->element[i]->str, NULL, 10), (long)i + 1,
                     "out of order at %zu", i);
    freeReplyObject(rep);
    duro_test_aredis_close(&loop, r);
    duro_test_finish(&h);
}

/* ---- Functions ---- */

static bool has_sharded_library(const tcluster *c, int i)
{
    redisReply *rep = node_cmd(c, i, "FUNCTION LIST WITHCODE");
    bool ok = false;
    for (size_t j = 0;
         rep && rep->type == REDIS_REPLY_ARRAY && j < rep->elements && !ok;
         j++) {
        redisReply *lib = rep->element[j];
        for (size_t k = 0; k + 1 < lib->elements; k += 2)
            if (strcmp(lib->element[k]->str, "library_code") == 0)
                ok = strstr(lib->element[k + 1]->str,
                            "local SHARDED_WAKE = true") != NULL;
    }
    if (rep) freeReplyObject(rep);
    return ok;
}

Test(aredis_cluster, functions_on_every_master)
{
    tcluster c;
    cluster_start(&c, 3, 0);
    char url[128];
    duro_aredis *r =
        duro_test_aredis_open(&loop, node_url(&c, 0, url), "functions");
    /* each master's LOAD went out before anything else on its connection:
     * a command to every partition has waited for it */
    for (int p = 0; p < 16; p++) {
        char key[32];
        snprintf(key, sizeof(key), "{p%d}:x", p);
        tally t = CMD(r, "EXISTS", key);
        cr_assert_eq(t.ok, 1);
    }
    for (int i = 0; i < 3; i++)
        cr_assert(has_sharded_library(&c, i),
                  "master %d has no sharded library after connect", i);
    /* one master loses them: the next FCALL there reloads them */
    const char *key = "{p2}:x";
    int o = owner(&c, 0, key_slot(key));
    redisReply *rep = node_cmd(&c, o, "FUNCTION FLUSH");
    freeReplyObject(rep);
    cr_assert_not(has_sharded_library(&c, o));
    tally t = CMD(r, "FCALL", "duro_version", "1", key);
    cr_assert_eq(t.ok, 1, "FCALL after FLUSH: %s", t.last_err);
    cr_assert_eq(t.last_int, duro_lua_version());
    cr_assert(has_sharded_library(&c, o), "not reloaded as the sharded copy");
    wait_everywhere(url, false); /* no replicas: NOREPLICAS everywhere */
    duro_test_aredis_close(&loop, r);
    duro_test_finish(&h);
}

/* add_node starts one more cluster node, has the cluster meet it, and
 * counts it in c (a master without slots). */
static int add_node(tcluster *c)
{
    int i = c->n;
    spawn_node(c, i);
    c->n++;
    int64_t end = duro_test_mono_ms() + 10000;
    redisReply *rep = NULL;
    while (!rep || rep->type != REDIS_REPLY_STATUS) {
        if (rep) freeReplyObject(rep);
        cr_assert_lt(duro_test_mono_ms(), end, "CLUSTER MEET refused");
        duro_test_sleep_ms(20);
        redisContext *x = redisConnect("127.0.0.1", c->port[i]);
        bool up = x && !x->err;
        if (x) redisFree(x);
        rep =
            up ? node_cmd(c, 0, "CLUSTER MEET 127.0.0.1 %d", c->port[i]) : NULL;
    }
    freeReplyObject(rep);
    rep = node_cmd(c, i, "CLUSTER MYID");
    snprintf(c->id[i], sizeof(c->id[i]), "%s", rep->str);
    freeReplyObject(rep);
    /* every node knows every other before a slot moves to it */
    for (int j = 0; j < c->n; j++) {
        char want[40];
        snprintf(want, sizeof(want), "cluster_known_nodes:%d", c->n);
        while (!node_info_has(c, j, want)) {
            cr_assert_lt(duro_test_mono_ms(), end, "node %d not met", j);
            duro_test_sleep_ms(50);
        }
    }
    return i;
}

/* A master added later (a slot moved to it) gets the library when its
 * connection comes up, before the first command, FCALL or not. */
Test(aredis_cluster, a_master_added_later_gets_the_library)
{
    tcluster c;
    cluster_start(&c, 3, 0);
    char url[128];
    duro_aredis *r = duro_test_aredis_open(&loop, node_url(&c, 0, url), "grow");
    int added = add_node(&c);
    cr_assert_not(has_sharded_library(&c, added));
    const char *key = "{p9}:y";
    int slot = key_slot(key);
    move_slot(&c, slot, owner(&c, 0, slot), added, NULL, NULL);
    tally t = CMD(r, "SET", key, "there"); /* MOVED to the new master */
    cr_assert_eq(t.ok, 1, "SET: %s", t.last_err);
    redisReply *rep = node_cmd(&c, added, "GET %s", key);
    cr_assert(rep && rep->type == REDIS_REPLY_STRING, "not on the new master");
    freeReplyObject(rep);
    cr_assert(has_sharded_library(&c, added),
              "the new master did not get the library on connect");
    cr_assert(duro_aredis_connected(r));
    duro_test_aredis_close(&loop, r);
    duro_test_finish(&h);
}

static void on_fatal(duro_aredis *r, int code, const char *msg, void *arg)
{
    *(int *)arg = code;
}

static bool fatal_seen(void *arg)
{
    return *(int *)arg != 0;
}

/* The guard's duro:meta check runs through the router: a missing meta is
 * restored with the process's count, another count is fatal. */
Test(aredis_cluster, the_layout_check_runs_through_the_router)
{
    tcluster c;
    cluster_start(&c, 3, 0);
    char url[128];
    duro_aredis *r = open_aredis(node_url(&c, 1, url), "guarded");
    int fatal = 0;
    duro_aredis_guard_opts g = {.partitions = 16,
                                .stall_timeout_ms = 5000,
                                .on_fatal = on_fatal,
                                .arg = &fatal};
    duro_aredis_guard(r, &g);
    cr_assert(spin_until(is_connected, r, 10000));
    tally t = {0};
    for (int i = 0; i < 100 && strcmp(t.last_str, "16") != 0; i++) {
        t = CMD(r, "HGET", DURO_META_KEY, "partitions");
        spin_until(fatal_seen, &fatal, 20);
    }
    cr_assert_str_eq(t.last_str, "16", "duro:meta not restored");
    cr_assert_eq(fatal, 0);
    duro_aredis *other = new_aredis(url, NULL, "other");
    int fatal2 = 0;
    g.partitions = 4;
    g.arg = &fatal2;
    duro_aredis_guard(other, &g);
    cr_assert(spin_until(fatal_seen, &fatal2, 10000), "no layout mismatch");
    cr_assert_eq(fatal2, DURO_EINVAL);
    duro_aredis_close(other);
    duro_test_aredis_close(&loop, r);
    duro_test_finish(&h);
}

/* ---- Sharded subscriptions ---- */

#define CHANNELS 16

typedef struct {
    int got[CHANNELS];
} inbox;

static void on_smessage(duro_aredis *r, redisReply *rep, void *arg)
{
    inbox *in = arg;
    cr_assert_str_eq(rep->element[0]->str, "smessage");
    const char *ch = rep->element[1]->str;
    int p = strncmp(ch, "{p", 2) == 0 ? (int)strtol(ch + 2, NULL, 10) : -1;
    if (p >= 0 && p < CHANNELS) in->got[p]++;
}

typedef struct {
    const tcluster *c;
    inbox *in;
    int p;
    int before;
} wait_msg;

/* published: SPUBLISH on the channel's master (as node 0 sees the map)
 * until the subscriber got one more message, every 100ms. */
static bool published(void *arg)
{
    wait_msg *w = arg;
    if (w->in->got[w->p] > w->before) return true;
    static int64_t last;
    if (duro_test_mono_ms() - last < 100) return false;
    last = duro_test_mono_ms();
    char ch[32];
    snprintf(ch, sizeof(ch), "{p%d}:wake", w->p);
    int o = owner(w->c, 0, key_slot(ch));
    redisReply *rep = node_cmd(w->c, o, "SPUBLISH %s hi", ch);
    if (rep) freeReplyObject(rep);
    return false;
}

static void expect_message(const tcluster *c, inbox *in, int p)
{
    wait_msg w = {c, in, p, in->got[p]};
    cr_assert(spin_until(published, &w, 10000), "no smessage on {p%d}:wake", p);
}

Test(aredis_cluster, ssubscribe_per_master_and_after_a_move)
{
    tcluster c;
    cluster_start(&c, 3, 0);
    char url[128];
    duro_aredis *r = open_aredis(node_url(&c, 0, url), "wake");
    inbox in = {{0}};
    for (int p = 0; p < CHANNELS; p++) {
        char ch[32];
        snprintf(ch, sizeof(ch), "{p%d}:wake", p);
        cr_assert_eq(duro_aredis_ssubscribe(r, ch, on_smessage, &in), 0);
    }
    cr_assert(spin_until(is_connected, r, 10000));
    int on[3] = {0};
    for (int p = 0; p < CHANNELS; p++) {
        char ch[32];
        snprintf(ch, sizeof(ch), "{p%d}:wake", p);
        on[owner(&c, 0, key_slot(ch))]++;
        expect_message(&c, &in, p);
    }
    cr_assert(on[0] && on[1] && on[2], "channels on every master");
    /* the slot of {p3}:wake moves: Redis unsubscribes us, we follow */
    int slot = key_slot("{p3}:wake");
    int from = owner(&c, 0, slot);
    move_slot(&c, slot, from, (from + 1) % 3, NULL, NULL);
    expect_message(&c, &in, 3);
    expect_message(&c, &in, 4); /* the others still work */
    duro_test_aredis_close(&loop, r);
    duro_test_finish(&h);
}

static bool got_any(void *arg)
{
    int *n = arg;
    return *n > 0;
}

static void on_count(duro_aredis *r, redisReply *rep, void *arg)
{
    (*(int *)arg)++;
}

Test(aredis_cluster, subscribe_and_ssubscribe_on_one_server)
{
    duro_aredis *r = open_aredis(h.redis_url, "single-sub");
    int classic = 0, sharded = 0;
    cr_assert_eq(duro_aredis_subscribe(r, "duro:wake", on_count, &classic), 0);
    cr_assert_eq(duro_aredis_ssubscribe(r, "{p0}:wake", on_count, &sharded), 0);
    cr_assert(spin_until(is_connected, r, 10000));
    redisContext *x = duro_test_redis(&h);
    for (int i = 0; i < 100 && !(classic && sharded); i++) {
        redisReply *rep = redisCommand(x, "PUBLISH duro:wake 1");
        freeReplyObject(rep);
        rep = redisCommand(x, "SPUBLISH {p0}:wake 1");
        freeReplyObject(rep);
        spin_until(got_any, &sharded, 100);
    }
    redisFree(x);
    cr_assert(classic > 0 && sharded > 0, "classic=%d sharded=%d", classic,
              sharded);
    duro_test_aredis_close(&loop, r);
    duro_test_finish(&h);
}

/* ---- Failover ---- */

typedef struct {
    duro_aredis *r;
    const char *key;
    tally t;
} probe_set;

/* set_works: a SET of key answered OK (sent again every 200ms). */
static bool set_works(void *arg)
{
    probe_set *p = arg;
    if (p->t.ok > 0) return true;
    static int64_t last;
    if (duro_test_mono_ms() - last < 200) return false;
    last = duro_test_mono_ms();
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "SET");
    duro_argv_push(&a, p->key);
    duro_argv_push(&a, "after");
    duro_aredis_command(p->r, on_reply, &p->t, &a);
    duro_argv_free(&a);
    return false;
}

/* classic_master: the master a classic subscription to duro:wake is on
 * (PUBSUB NUMSUB counts a node's own subscribers), or -1. */
static int classic_master(const tcluster *c)
{
    for (int i = 0; i < c->n; i++) {
        redisReply *rep = node_cmd(c, i, "PUBSUB NUMSUB duro:wake");
        bool here = rep && rep->type == REDIS_REPLY_ARRAY &&
                    rep->elements == 2 && rep->element[1]->integer > 0;
        if (rep) freeReplyObject(rep);
        if (here) return i;
    }
    return -1;
}

/* spin_publish: `cmd` on node i every 100ms until *count grows (10s). */
static bool spin_publish(const tcluster *c, int i, const char *cmd,
                         const int *count)
{
    int before = *count;
    int64_t end = duro_test_mono_ms() + 10000;
    while (*count == before && duro_test_mono_ms() < end) {
        redisReply *rep = node_cmd(c, i, cmd);
        if (rep) freeReplyObject(rep);
        pump(100);
    }
    return *count > before;
}

/* The master that holds both a classic and a sharded subscription is
 * killed: its replica is promoted, commands to its slots work again,
 * the promoted replica has the library, the sharded subscription follows
 * the slot there and the classic one moves to a live master. */
Test(aredis_cluster, follows_a_failover)
{
    tcluster c;
    cluster_start(&c, 6, 1);
    char url[128];
    duro_aredis *r =
        duro_test_aredis_open(&loop, node_url(&c, 0, url), "failover");
    duro_aredis *sub = new_aredis(url, NULL, "failover-wake");
    int classic = 0;
    cr_assert_eq(duro_aredis_subscribe(sub, "duro:wake", on_count, &classic),
                 0);
    cr_assert(spin_until(is_connected, sub, 10000));
    int victim = -1;
    for (int i = 0; i < 100 && victim < 0; i++) {
        spin_until(got_any, &classic, 20); /* lets the SUBSCRIBE go out */
        victim = classic_master(&c);
    }
    cr_assert_geq(victim, 0, "the classic subscription is nowhere");
    /* a partition of the victim's, for the sharded channel and the SETs */
    int part = -1;
    char key[32], ch[32], spub[64];
    for (int p = 0; p < 16 && part < 0; p++) {
        snprintf(key, sizeof(key), "{p%d}:k", p);
        if (owner(&c, victim, key_slot(key)) == victim) part = p;
    }
    cr_assert_geq(part, 0);
    snprintf(ch, sizeof(ch), "{p%d}:wake", part);
    snprintf(spub, sizeof(spub), "SPUBLISH %s hi", ch);
    int sharded = 0;
    cr_assert_eq(duro_aredis_ssubscribe(sub, ch, on_count, &sharded), 0);
    cr_assert(spin_publish(&c, victim, spub, &sharded), "no smessage");
    cr_assert(spin_publish(&c, victim, "PUBLISH duro:wake 1", &classic));
    tally t = CMD(r, "SET", key, "before");
    cr_assert_eq(t.ok, 1);
    wait_everywhere(url, true);       /* every master's replica confirms */
    int witness = (victim + 1) % c.n; /* alive: asked for the map */
    duro_test_kill(&h, c.pid[victim], SIGKILL);
    probe_set p = {r, key, {0}};
    cr_assert(spin_until(set_works, &p, 30000), "no SET after the failover: %s",
              p.t.last_err);
    cr_assert(spin_until(is_connected, r, 10000), "not connected again");
    int promoted = owner(&c, witness, key_slot(key));
    cr_assert_neq(promoted, victim);
    cr_assert(has_sharded_library(&c, promoted),
              "the promoted replica has no library");
    cr_assert(spin_publish(&c, promoted, spub, &sharded),
              "no smessage from the promoted replica");
    cr_assert(spin_publish(&c, witness, "PUBLISH duro:wake 1", &classic),
              "the classic subscription did not move");
    duro_aredis_close(sub);
    duro_test_aredis_close(&loop, r);
    duro_test_finish(&h);
}

/* ---- The scheduler on a cluster ---- */

#define PARTS 16

/* part_id: a workflow id "<stem>-<n>" of partition p, into id (32). */
static void part_id(char *id, const char *stem, int p)
{
    for (int i = 0;; i++) {
        snprintf(id, 32, "%s-%d", stem, i);
        if (duro_partition_of(id, PARTS) == p) return;
    }
}

/* start_run: duro_start of workflow id, run "run-<id>" (no worker: its
 * first task stays outstanding) through the router, with an execution
 * timeout of exec_ms (0: none); k gets its keys. */
static void start_run(duro_aredis *r, const char *id, int64_t exec_ms,
                      duro_wf_keys *k)
{
    char run[64];
    snprintf(run, sizeof(run), "run-%s", id);
    duro_wf_keys_init(k, DURO_KEYSPACE_DEFAULT(PARTS), id, run);
    duro_wf_keys q = *k;
    duro_wf_keys_queues(&q, "q", NULL);
    duro_fcall_start_args sa = {.id = id,
                                .run = run,
                                .type = "t",
                                .queue = "q",
                                .input = "null",
                                .started_data = "{}",
                                .exec_timeout_ms = exec_ms,
                                .wft_timeout_ms = 600000};
    duro_argv a;
    duro_fcall_start(&a, &q, &sa, NULL, NULL);
    tally t = {0};
    cr_assert_eq(duro_aredis_command(r, on_reply, &t, &a), 0);
    duro_argv_free(&a); /* it pointed into q and run */
    cr_assert(spin_until(answered, &t, 10000));
    cr_assert_eq(t.ok, 1, "duro_start %s: %s", id, t.last_err);
}

/* sched_cluster: a cluster of 3 masters, r connected through node 0 (it
 * loads the library) with duro:meta set for PARTS partitions, and
 * $DURO_REDIS_URL naming the node that holds duro:meta (the scheduler's
 * synchronous setup reads it on the node its URL names; cluster-aware
 * setup is the client library's). */
static duro_aredis *sched_cluster(tcluster *c)
{
    cluster_start(c, 3, 0);
    char url[128];
    duro_aredis *r = duro_test_aredis_open(&loop, node_url(c, 0, url), "test");
    tally t = CMD(r, "HSET", DURO_META_KEY, "partitions", "16", "schema", "1");
    cr_assert_eq(t.ok, 1, "%s", t.last_err);
    int meta = owner(c, 0, key_slot(DURO_META_KEY));
    setenv("DURO_REDIS_URL", node_url(c, meta, url), 1);
    return r;
}

typedef struct {
    duro_aredis *r;
    duro_wf_keys k[PARTS];
    char member[PARTS][DURO_KEY_MAX];
} fired;

/* all_fired: every partition's timer left its zset and reached its run's
 * buffer (bufn 1). */
static bool all_fired(void *arg)
{
    fired *f = arg;
    for (int p = 0; p < PARTS; p++) {
        tally t = CMD(f->r, "ZSCORE", f->k[p].timers, f->member[p]);
        if (t.last_str[0]) return false;
        t = CMD(f->r, "HGET", f->k[p].wf, "bufn");
        if (strcmp(t.last_str, "1") != 0) return false;
    }
    return true;
}

Test(aredis_cluster, scheduler_fires_timers_on_every_master)
{
    tcluster c;
    duro_aredis *r = sched_cluster(&c);
    static fired f;
    f.r = r;
    int on[3] = {0};
    for (int p = 0; p < PARTS; p++) {
        char id[32], run[64];
        part_id(id, "cl", p);
        start_run(r, id, 0, &f.k[p]);
        on[owner(&c, 0, key_slot(f.k[p].timers))]++;
        snprintf(run, sizeof(run), "run-%s", id);
        duro_timer_member(f.member[p], sizeof(f.member[p]), 't', run, 1, 0, "q",
                          NULL, id);
        tally t = CMD(r, "ZADD", f.k[p].timers, "1", f.member[p]);
        cr_assert_eq(t.ok, 1, "%s", t.last_err);
    }
    cr_assert(on[0] && on[1] && on[2], "timers on every master");
    pid_t s = duro_test_spawn(&h, "duro-scheduler", NULL);
    cr_assert(spin_until(all_fired, &f, 20000), "timers not fired everywhere");
    cr_assert(duro_test_log_contains(&h, s, "REDIS UP name=scheduler cluster"));
    duro_test_aredis_close(&loop, r);
    duro_test_finish(&h);
}

typedef struct {
    duro_aredis *r;
    duro_wf_keys k[PARTS];
} closed_runs;

/* all_timed_out: every run's execution timeout fired (it is no longer
 * RUNNING). */
static bool all_timed_out(void *arg)
{
    closed_runs *c = arg;
    for (int p = 0; p < PARTS; p++) {
        tally t = CMD(c->r, "HGET", c->k[p].wf, "status");
        if (strcmp(t.last_str, "RUNNING") == 0) return false;
    }
    return true;
}

/* A Function that adds the earliest timer of a partition PUBLISHes
 * duro:wake from that partition's master; the scheduler's one
 * subscription (on some master) hears every master's: with a scan every
 * minute, only the wake-ups can fire these timers in time. */
Test(aredis_cluster, the_scheduler_wakes_from_every_master)
{
    tcluster c;
    duro_aredis *r = sched_cluster(&c);
    pid_t s =
        duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "60s", NULL);
    int64_t end = duro_test_mono_ms() + 10000;
    while (!duro_test_log_contains(&h, s,
                                   "REDIS UP name=scheduler-wake "
                                   "cluster")) {
        cr_assert_lt(duro_test_mono_ms(), end, "scheduler not connected");
        duro_test_sleep_ms(50);
    }
    duro_test_sleep_ms(500); /* its first scan learned every partition */
    static closed_runs cr;
    cr.r = r;
    for (int p = 0; p < PARTS; p++) {
        char id[32];
        part_id(id, "wk", p);
        start_run(r, id, 200, &cr.k[p]);
    }
    cr_assert(spin_until(all_timed_out, &cr, 15000),
              "execution timeouts not fired by wake-ups");
    duro_test_aredis_close(&loop, r);
    duro_test_finish(&h);
}
