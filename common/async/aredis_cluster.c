/* aredis_cluster.c: a duro_aredis on a Redis Cluster: one connection per
 * master behind the one handle, the slot map kept fresh, connected or not,
 * the guard through the router (commands and redirections:
 * aredis_route.c; lookups in the map: aredis_cmap.c). duro_aredis_new is
 * here: it gives every handle the router it may become (r->router). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "duro/clock.h"
#include "duro/cluster.h"
#include "duro/errno.h"
#include "duro/keys.h"
#include "duro/log.h"
#include "aredis_cluster.h"

/*
 * A router (r->cl set) owns no connection. It keeps:
 *
 *   map     slot -> master address (CLUSTER SLOTS), updated slot by slot
 *           on MOVED and re-read (debounced) after every MOVED, a lost
 *           master, CLUSTERDOWN, and every second while a master with
 *           slots is not connected (a failover: the promoted replica's
 *           address comes from a later map);
 *   kid[]   one child duro_aredis per master address (aredis.c: reconnecting,
 *           TLS, AUTH, stall guard, WAIT after FCALLs, the sharded library
 *           loaded on "function not found" and checked at each connect);
 *           a kid whose address is no master any more is closed;
 *   probe   a child used only to read the map when no kid can (at start
 *           from redis+cluster:// seeds; on a subscriber, whose kids are in
 *           subscribe mode), rotated over seeds and known masters;
 *   delayed commands waiting to be sent again (TRYAGAIN, CLUSTERDOWN, a
 *           redirection to a master not connected yet), until
 *           CLUSTER_RETRY_MS after they were first sent.
 *
 * Connected (duro_aredis_connected, the state callback) means: a map is
 * known and every master that serves slots has its connection up. A
 * command is routed whenever its own master is up, connected or not.
 * The timer (r->timer) ticks every TICK_MS while something waits, every
 * IDLE_TICK_MS otherwise.
 */

static void kid_state(duro_aredis *k, bool connected, void *arg);
static void recompute(duro_aredis *r);

/* ---- Children ---- */

static int kid_index(const struct acluster *cl, const duro_aredis *k)
{
    for (int i = 0; i < cl->nkids; i++)
        if (cl->kid[i] == k) return i;
    return -1;
}

static void kid_stall(duro_aredis *k, bool stalled, void *arg)
{
    duro_aredis *r = arg;
    struct acluster *cl = r->cl;
    int was = cl->stalled > 0;
    cl->stalled += stalled ? 1 : -1;
    if (cl->stalled < 0) cl->stalled = 0;
    r->stalled = cl->stalled > 0;
    if (was != r->stalled && r->guard.on_stall && !r->closing)
        r->guard.on_stall(r, r->stalled, r->guard.arg);
}

static void kid_fatal(duro_aredis *k, int code, const char *msg, void *arg)
{
    duro_aredis *r = arg;
    if (r->closing || r->cl->fatal_told) return;
    r->cl->fatal_told = 1;
    r->fatal = code;
    snprintf(r->fatal_msg, sizeof(r->fatal_msg), "%s", msg);
    r->st = ST_FATAL;
    if (r->guard.on_fatal) r->guard.on_fatal(r, code, msg, r->guard.arg);
}

static duro_aredis *kid_new(duro_aredis *r, const duro_redis_addr *a,
                            int master)
{
    duro_aredis *k = duro__aredis_kid_new(r, a, master, kid_state);
    if (!k) return NULL;
    duro_aredis_guard_opts g = {.on_fatal = kid_fatal, .arg = r};
    if (master) {
        g.stall_timeout_ms = r->guard.stall_timeout_ms;
        g.on_stall = kid_stall;
    }
    duro_aredis_guard(k, &g);
    return k;
}

static void kid_close(duro_aredis *r, duro_aredis *k)
{
    if (k->stalled) kid_stall(k, false, r);
    duro__acsub_kid_gone(r, k, 1);
    duro_aredis_close(k);
}

/* sync_kids opens a connection to every master of the map and closes those
 * to addresses that are no masters any more. */
static void sync_kids(duro_aredis *r)
{
    struct acluster *cl = r->cl;
    memset(cl->node_slots, 0, sizeof(cl->node_slots));
    for (int s = 0; s < DURO_CLUSTER_SLOTS; s++)
        if (cl->map.slot_node[s] >= 0) cl->node_slots[cl->map.slot_node[s]] = 1;
    for (int i = 0; i < cl->nkids;) {
        int keep = 0;
        for (int n = 0; n < cl->map.nodes && !keep; n++)
            keep = cl->node_slots[n] &&
                   cl->map.node[n].port == cl->kid[i]->url.port &&
                   strcmp(cl->map.node[n].host, cl->kid[i]->url.host) == 0;
        if (keep) {
            i++;
            continue;
        }
        duro_aredis *k = cl->kid[i];
        duro_info("CLUSTER DROP name=%s addr=%s:%d: no master any more",
                  r->name, k->url.host, k->url.port);
        cl->kid[i] = cl->kid[--cl->nkids];
        kid_close(r, k);
    }
    for (int n = 0; n < cl->map.nodes; n++) {
        cl->node_kid[n] = -1;
        if (!cl->node_slots[n]) continue;
        int i = duro__acluster_kid_find(cl, &cl->map.node[n]);
        if (i < 0 && cl->nkids < DURO_CLUSTER_NODES_MAX) {
            duro_aredis *k = kid_new(r, &cl->map.node[n], 1);
            if (k) {
                i = cl->nkids;
                cl->kid[cl->nkids++] = k;
            }
        }
        cl->node_kid[n] = (short)i;
    }
}

/* ---- The slot map ---- */

static void on_slots(duro_aredis *k, redisReply *rep, void *arg)
{
    duro_aredis *r = arg;
    struct acluster *cl = r->cl;
    cl->refreshing = 0;
    if (r->closing) return;
    char err[256];
    if (duro_cluster_map_parse(&cl->scratch, rep, NULL, err, sizeof(err)) !=
        0) {
        duro_warn_limited(NULL, "CLUSTER MAP FAILED name=%s err=%s", r->name,
                          rep ? err : "connection lost");
        cl->refresh_wanted = 1;
        return;
    }
    /* an empty host: the node that answered */
    for (int n = 0; n < cl->scratch.nodes; n++)
        if (!cl->scratch.node[n].host[0])
            snprintf(cl->scratch.node[n].host, sizeof(cl->scratch.node[n].host),
                     "%s", k->url.host);
    int changed =
        !cl->known || memcmp(&cl->map, &cl->scratch, sizeof(cl->map)) != 0;
    cl->map = cl->scratch;
    cl->known = 1;
    if (changed)
        duro_info("CLUSTER MAP name=%s masters=%d from=%s:%d", r->name,
                  cl->map.nodes, k->url.host, k->url.port);
    if (k == cl->probe) { /* opened again when no kid can ask */
        duro_aredis_close(k);
        cl->probe = NULL;
    }
    sync_kids(r);
    duro__acsub_place(r);
    recompute(r);
}

/* probe_addr: the i-th address the probe may try: the seeds (or the URL's
 * own address), then the known masters. */
static const duro_redis_addr *probe_addr(duro_aredis *r, int i,
                                         duro_redis_addr *tmp)
{
    struct acluster *cl = r->cl;
    int seeds = r->url.seeds > 0 ? r->url.seeds : 1;
    int n = seeds + (cl->known ? cl->map.nodes : 0);
    i %= n;
    if (i < seeds) {
        if (r->url.seeds > 0) return &r->url.seed[i];
        snprintf(tmp->host, sizeof(tmp->host), "%s", r->url.host);
        tmp->port = r->url.port;
        return tmp;
    }
    return &cl->map.node[i - seeds];
}

static void probe_open(duro_aredis *r)
{
    struct acluster *cl = r->cl;
    duro_redis_addr tmp;
    const duro_redis_addr *a = probe_addr(r, cl->probe_next++, &tmp);
    cl->probe = kid_new(r, a, 0);
    cl->probe_since_ms = duro_mono_ms();
}

static void refresh(duro_aredis *r)
{
    struct acluster *cl = r->cl;
    if (cl->refreshing || r->closing) return;
    duro_aredis *k = duro__acluster_kid(r, -1);
    if (!k && cl->probe && duro_aredis_connected(cl->probe)) k = cl->probe;
    if (!k) {
        if (!cl->probe) probe_open(r);
        return; /* the probe's connect or the next tick tries again */
    }
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "CLUSTER");
    duro_argv_push(&a, "SLOTS");
    if (duro_aredis_command(k, on_slots, r, &a) == 0) {
        cl->refreshing = 1;
        cl->refresh_wanted = 0;
        cl->last_refresh_ms = duro_mono_ms();
    }
    duro_argv_free(&a);
    /* a probe that found a kid to ask through is not needed any more */
    if (k != cl->probe && cl->probe) {
        duro_aredis_close(cl->probe);
        cl->probe = NULL;
    }
}

/* map_changed: a redirect moved a slot (duro__acluster_moved): the kids
 * follow the map at once. */
static void map_changed(duro_aredis *r)
{
    sync_kids(r);
    recompute(r);
}

/* ---- Connected or not ---- */

static void meta_check(duro_aredis *r);

static void recompute(duro_aredis *r)
{
    struct acluster *cl = r->cl;
    int up = cl->known && cl->nkids > 0;
    for (int n = 0; up && n < cl->map.nodes; n++)
        if (cl->node_slots[n] &&
            (cl->node_kid[n] < 0 ||
             !duro_aredis_connected(cl->kid[cl->node_kid[n]])))
            up = 0;
    if (up == cl->up || r->closing) return;
    cl->up = up;
    if (up) {
        if (cl->ups++ > 0) r->reconnects++;
        duro_info("REDIS UP name=%s cluster masters=%d", r->name, cl->nkids);
    } else {
        char key[96];
        snprintf(key, sizeof(key), "REDIS DOWN %s", r->name);
        duro_warn_limited(key,
                          "REDIS DOWN name=%s cluster: a master is not "
                          "connected",
                          r->name);
    }
    if (up) meta_check(r);
    if (r->on_state && !r->closing) r->on_state(r, up, r->arg);
}

static void kid_state(duro_aredis *k, bool connected, void *arg)
{
    duro_aredis *r = arg;
    struct acluster *cl = r->cl;
    if (r->closing) return;
    if (k == cl->probe) {
        if (connected) refresh(r);
        return;
    }
    if (kid_index(cl, k) < 0) return;
    if (!connected) {
        duro__acsub_kid_gone(r, k, 0);
        duro__acluster_want_refresh(r); /* a failover may be on its way */
    }
    duro__acsub_place(r);
    recompute(r);
}

bool duro__acluster_up(const duro_aredis *r)
{
    return r->cl->up;
}

unsigned long duro__acluster_reconnects(const duro_aredis *r)
{
    return r->reconnects;
}

/* ---- The guard: duro:meta and the open-workflow count, routed ---- */

static void on_meta(duro_aredis *k, redisReply *rep, void *arg)
{
    duro_aredis *r = k; /* the router: creq delivers it */
    enum hs_kind kind = *(const enum hs_kind *)arg; /* in meta_check's KINDS */
    if (r->closing || !rep || rep->type == REDIS_REPLY_ERROR) return;
    if (kind == HS_META_NEW && rep->type == REDIS_REPLY_INTEGER &&
        rep->integer == 1) {
        r->meta_created = 1;
        duro__aredis_report_meta(r);
        r->meta_created = 0;
        return;
    }
    if (kind != HS_META_GET) return;
    char *end = NULL;
    long v = rep->type == REDIS_REPLY_STRING ? strtol(rep->str, &end, 10) : 0;
    long parts = end && end != rep->str && *end == '\0' ? v : 0;
    int p = r->guard.partitions;
    char msg[320];
    if (parts == p) return;
    if (parts <= 0)
        snprintf(msg, sizeof(msg), "%s partitions is not a count",
                 DURO_META_KEY);
    else
        snprintf(msg, sizeof(msg),
                 "layout mismatch: %s says partitions=%ld but this process "
                 "runs with partitions=%d; every worker, scheduler and client "
                 "of a namespace must use the same count",
                 DURO_META_KEY, parts, p);
    duro_error("REDIS FATAL name=%s cluster err=%s: %s (not retrying)", r->name,
               duro_err_name(parts <= 0 ? DURO_EPROTO : DURO_EINVAL), msg);
    kid_fatal(NULL, parts <= 0 ? DURO_EPROTO : DURO_EINVAL, msg, r);
}

/* meta_check: what the handshake does on one server, once the router is
 * connected: restore a lost duro:meta, refuse another partition count. */
static void meta_check(duro_aredis *r)
{
    int p = r->guard.partitions;
    if (p <= 0) return;
    char parts[16];
    snprintf(parts, sizeof(parts), "%d", p);
    const char *cmds[3][4] = {
        {"HSETNX", DURO_META_KEY, "partitions", parts},
        {"HSETNX", DURO_META_KEY, "schema", "1"},
        {"HGET", DURO_META_KEY, "partitions", NULL},
    };
    static const enum hs_kind KINDS[3] = {HS_META_NEW, HS_META_SCHEMA,
                                          HS_META_GET};
    for (int i = 0; i < 3; i++) {
        duro_argv a;
        duro_argv_init(&a);
        for (int j = 0; j < 4 && cmds[i][j]; j++)
            duro_argv_push(&a, cmds[i][j]);
        duro__acluster_command(r, on_meta, (void *)&KINDS[i], &a);
        duro_argv_free(&a);
    }
}

/* on_sample: one partition index's ZCARD (the guard's open-workflow
 * count, aredis_guard.c, summed over the router's masters). */
static void on_sample(duro_aredis *r, redisReply *rep, void *arg)
{
    (void)arg;
    if (r->closing || r->sample_left <= 0) return;
    if (rep && rep->type == REDIS_REPLY_INTEGER && rep->integer > 0)
        r->sample_sum += (unsigned long long)rep->integer;
    if (--r->sample_left == 0) {
        r->open_known = r->sample_sum;
        r->sample_ms = duro_mono_ms();
    }
}

/* sample counts the open workflows as a guarded connection does on one
 * server, each partition's ZCARDs routed to its master. */
static void sample(duro_aredis *r)
{
    r->sample_sum = 0;
    r->sample_left = 0;
    duro_keyspace ks;
    duro_keyspace_init(&ks, NULL, r->guard.partitions);
    for (int p = 0; p < r->guard.partitions; p++) {
        for (int i = 0; i < 2; i++) {
            char key[DURO_SHORT_KEY_MAX];
            if (i == 0)
                duro_key_vx(key, sizeof(key), &ks, p, "status:RUNNING");
            else
                duro_key_idx_open(key, sizeof(key), &ks, p);
            duro_argv a;
            duro_argv_init(&a);
            duro_argv_push(&a, "ZCARD");
            duro_argv_push(&a, key);
            r->sample_left++;
            if (duro__acluster_command(r, on_sample, NULL, &a) != 0)
                r->sample_left--;
            duro_argv_free(&a);
        }
    }
}

/* ---- The timer ---- */

void duro__acluster_tick(duro_aredis *r)
{
    struct acluster *cl = r->cl;
    int64_t now = duro_mono_ms();
    if (cl->delayed) duro__acluster_retry(r);
    if (r->closing) return;
    if (!cl->up && cl->known && now - cl->last_refresh_ms >= REFRESH_DOWN_MS)
        cl->refresh_wanted = 1;
    if (!cl->known) cl->refresh_wanted = 1;
    if (cl->delayed) cl->refresh_wanted = 1; /* a slot may have no master */
    if (cl->probe && !duro_aredis_connected(cl->probe) &&
        now - cl->probe_since_ms >= PROBE_WAIT_MS) {
        duro_aredis_close(cl->probe); /* try the next address */
        cl->probe = NULL;
    }
    if (cl->refresh_wanted && now - cl->last_refresh_ms >= REFRESH_MIN_MS)
        refresh(r);
    if (r->guard.partitions > 0 && cl->up && !r->sample_left &&
        now >= r->next_sample_ms) {
        r->next_sample_ms = now + DURO_AREDIS_SAMPLE_MS;
        sample(r);
    }
    cl->fast = cl->delayed || cl->refresh_wanted || cl->refreshing || !cl->up ||
               cl->probe;
    duro__aredis_arm(r, cl->fast ? TICK_MS : IDLE_TICK_MS);
}

/* ---- Lifecycle ---- */

int duro__acluster_new(duro_aredis *r, const redisReply *slots)
{
    struct acluster *cl = calloc(1, sizeof(*cl));
    if (!cl) return DURO_ENOMEM;
    r->cl = cl;
    cl->map_changed = map_changed;
    if (slots) {
        duro_redis_addr from = {.port = r->url.port};
        snprintf(from.host, sizeof(from.host), "%s", r->url.host);
        char err[256];
        if (duro_cluster_map_parse(&cl->map, slots, &from, err, sizeof(err)) ==
            0) {
            cl->known = 1;
            cl->last_refresh_ms = duro_mono_ms();
            duro_info("CLUSTER MAP name=%s masters=%d from=%s:%d", r->name,
                      cl->map.nodes, from.host, from.port);
            sync_kids(r);
        }
    }
    if (!cl->known) probe_open(r);
    cl->fast = 1;
    duro__aredis_arm(r, TICK_MS);
    return 0;
}

void duro__acluster_close(duro_aredis *r)
{
    struct acluster *cl = r->cl;
    duro__acluster_drop_delayed(r);
    if (cl->probe) duro_aredis_close(cl->probe);
    cl->probe = NULL;
    while (cl->nkids > 0)
        duro_aredis_close(cl->kid[--cl->nkids]);
}

void duro__acluster_free(duro_aredis *r)
{
    free(r->cl);
    r->cl = NULL;
}

/* ---- Making a handle ---- */

/* The router's operations, reached by the connection code through
 * r->router (aredis_int.h). */
static const duro__arouter router = {
    .init = duro__acluster_new,
    .tick = duro__acluster_tick,
    .command = duro__acluster_command,
    .place_subs = duro__acsub_place,
    .up = duro__acluster_up,
    .reconnects = duro__acluster_reconnects,
    .close = duro__acluster_close,
    .free = duro__acluster_free,
};

/* duro_aredis_new: a connection (aredis.c) that becomes a router when its
 * URL or its server says Redis Cluster. */
int duro_aredis_new(duro_aredis **out, uv_loop_t *loop,
                    const duro_redis_url *url, const char *name,
                    duro_aredis_state_cb on_state, void *arg)
{
    return duro__aredis_open(out, loop, url, name, on_state, arg, &router);
}

/* duro__aredis_kid_new: a connection to one master of r's cluster (the
 * URL's credentials and TLS, database 0, no detection). */
duro_aredis *duro__aredis_kid_new(duro_aredis *r, const duro_redis_addr *a,
                                  int master, duro_aredis_state_cb on_state)
{
    duro_redis_url u = r->url;
    snprintf(u.host, sizeof(u.host), "%s", a->host);
    u.port = a->port;
    u.cluster = 0;
    u.seeds = 0;
    u.sentinels = 0;
    u.db = 0;
    char name[320];
    snprintf(name, sizeof(name), "%s@%s:%d", r->name, a->host, a->port);
    duro_aredis *k = NULL;
    if (duro__aredis_open(&k, r->loop, &u, name, on_state, r, &router) != 0)
        return NULL;
    k->detect = 0;
    k->parent = r;
    k->sharded_lib = 1;
    k->lib_check = master;
    r->kids_alive++;
    return k;
}
