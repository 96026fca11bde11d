/* cluster_sync.c: a blocking connection to one Redis or a Redis Cluster
 * (cluster_sync.h): the router over one redisContext per master. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "duro/clock.h"
#include "duro/cluster.h"
#include "duro/cluster_sync.h"
#include "duro/errno.h"
#include "duro/keys.h"
#include "duro/log.h"
#include "cluster_sync_int.h"
#include "redis_int.h"

/* ATTEMPTS bounds the sends of one command (redirections and retries
 * together) whatever the clock says. */
#define ATTEMPTS 64
#define PAUSE_FIRST_MS 20
#define PAUSE_MAX_MS 500

void duro__csync_errf(duro_cluster_sync *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->errstr, sizeof(r->errstr), fmt, ap);
    va_end(ap);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* node_url: url's credentials and TLS settings, addressed to addr. */
static void node_url(const duro_redis_url *url, const duro_redis_addr *addr,
                     duro_redis_url *out)
{
    *out = *url;
    snprintf(out->host, sizeof(out->host), "%s", addr->host);
    out->port = addr->port;
    out->sentinels = 0;
    out->seeds = 0;
    out->cluster = 0;
}

static void apply_timeout(duro_cluster_sync *r, redisContext *c)
{
    int ms = r->cmd_timeout_ms >= 0 ? r->cmd_timeout_ms : r->timeout_ms;
    if (ms < 0) ms = 0;
    struct timeval tv = {ms / 1000, (suseconds_t)(ms % 1000) * 1000};
    if (c && !c->err) redisSetTimeout(c, tv);
}

/* open_addr: a connection to addr (NULL with why in the errstr). */
static redisContext *open_addr(duro_cluster_sync *r,
                               const duro_redis_addr *addr)
{
    duro_redis_url u;
    node_url(&r->url, addr, &u);
    redisContext *c = NULL;
    char err[400];
    if (duro__redis_open_mode(&u, r->timeout_ms, &c, NULL, err, sizeof(err)))
        duro__csync_errf(r, "%s", err);
    else if (r->cmd_timeout_ms >= 0)
        apply_timeout(r, c);
    return c;
}

void duro__csync_drop(duro_cluster_sync *r, int i)
{
    if (r->link[i]) redisFree(r->link[i]);
    r->link[i] = NULL;
    r->stale = true; /* a failover may have moved its slots */
}

/* link_of: master i's connection, opened when needed. A master that
 * cannot be reached makes the map stale: a failover may have replaced it. */
redisContext *duro__csync_link(duro_cluster_sync *r, int i)
{
    if (r->link[i] && r->link[i]->err) duro__csync_drop(r, i);
    if (!r->link[i]) r->link[i] = open_addr(r, &r->map.node[i]);
    if (!r->link[i]) r->stale = true;
    return r->link[i];
}

/* ---- The slot map ---- */

/* ask_slots: CLUSTER SLOTS on c (reached at addr) into r->next. */
static int ask_slots(duro_cluster_sync *r, redisContext *c,
                     const duro_redis_addr *addr)
{
    redisReply *rep = redisCommand(c, "CLUSTER SLOTS");
    if (!rep) {
        duro__csync_errf(r, "CLUSTER SLOTS at %s:%d: %s", addr->host,
                         addr->port, c->errstr);
        return DURO_ECONN;
    }
    char err[300];
    int rc = duro_cluster_map_parse(&r->next, rep, addr, err, sizeof(err));
    if (rc == 0 && r->next.nodes == 0) {
        snprintf(err, sizeof(err), "CLUSTER SLOTS: no master serves a slot");
        rc = DURO_EAGAIN;
    } else if (rc && rep->type == REDIS_REPLY_ERROR) {
        rc = duro_redis_error_code(rep->str);
        if (rc == DURO_EREDIS) rc = DURO_EPROTO;
    }
    if (rc) duro__csync_errf(r, "%s:%d: %s", addr->host, addr->port, err);
    freeReplyObject(rep);
    return rc;
}

/* adopt makes r->next the map, keeping the connections of the masters
 * still in it (by address) and closing the others. */
static void adopt(duro_cluster_sync *r)
{
    redisContext *links[DURO_CLUSTER_NODES_MAX] = {0};
    for (int i = 0; i < r->next.nodes; i++)
        for (int j = 0; j < r->map.nodes; j++)
            if (r->link[j] && r->map.node[j].port == r->next.node[i].port &&
                strcmp(r->map.node[j].host, r->next.node[i].host) == 0) {
                links[i] = r->link[j];
                r->link[j] = NULL;
            }
    for (int j = 0; j < r->map.nodes; j++)
        if (r->link[j]) redisFree(r->link[j]);
    memcpy(r->link, links, sizeof(links));
    memcpy(&r->map, &r->next, sizeof(r->map));
    r->stale = false;
}

/* refresh reads the map from a node that answers: the connected masters
 * first, then every known master, then the URL's seeds. 0 or DURO_E*
 * (the map is then left as it was, still stale). */
int duro__csync_refresh(duro_cluster_sync *r)
{
    int rc = DURO_ECONN;
    for (int i = 0; rc && i < r->map.nodes; i++)
        if (r->link[i] && !r->link[i]->err)
            rc = ask_slots(r, r->link[i], &r->map.node[i]);
    for (int i = 0; rc && i < r->map.nodes; i++)
        if (!r->link[i] || r->link[i]->err) {
            redisContext *c = duro__csync_link(r, i);
            if (c) rc = ask_slots(r, c, &r->map.node[i]);
        }
    int seeds = r->url.seeds > 0 ? r->url.seeds : 1;
    for (int i = 0; rc && i < seeds; i++) {
        duro_redis_addr a = {.port = r->url.port};
        if (r->url.seeds > 0)
            a = r->url.seed[i];
        else
            snprintf(a.host, sizeof(a.host), "%s", r->url.host);
        redisContext *c = open_addr(r, &a);
        if (!c) continue;
        rc = ask_slots(r, c, &a);
        redisFree(c);
    }
    if (rc == 0) adopt(r);
    return rc;
}

/* ---- Opening ---- */

/* first_node: a connection to the first seed that answers (the URL's own
 * server for redis://), and whether it is a cluster node. */
static int first_node(duro_cluster_sync *r, redisContext **c, bool *cluster,
                      duro_redis_addr *at, char *err, size_t errsize)
{
    if (r->url.seeds == 0) {
        snprintf(at->host, sizeof(at->host), "%s", r->url.host);
        at->port = r->url.port;
        return duro__redis_open_mode(&r->url, r->timeout_ms, c, cluster, err,
                                     errsize);
    }
    int rc = DURO_ECONN;
    for (int i = 0; i < r->url.seeds; i++) {
        duro_redis_url u;
        node_url(&r->url, &r->url.seed[i], &u);
        rc = duro__redis_open_mode(&u, r->timeout_ms, c, cluster, err, errsize);
        if (rc == 0) {
            *at = r->url.seed[i];
            return 0;
        }
        if (rc == DURO_EAUTH || rc == DURO_EINVAL) return rc;
    }
    return rc;
}

int duro_cluster_sync_open(const duro_redis_url *url, int timeout_ms,
                           duro_cluster_sync **out, char *err, size_t errsize)
{
    *out = NULL;
    duro_cluster_sync *r = calloc(1, sizeof(*r));
    if (!r) {
        snprintf(err, errsize, "out of memory");
        return DURO_ENOMEM;
    }
    r->url = *url;
    r->timeout_ms = timeout_ms;
    r->cmd_timeout_ms = -1;
    redisContext *c = NULL;
    bool cluster = false;
    duro_redis_addr at = {0};
    int rc = first_node(r, &c, &cluster, &at, err, errsize);
    if (rc) {
        free(r);
        return rc;
    }
    if (!cluster && url->cluster) {
        snprintf(err, errsize,
                 "%s:%d is not a Redis Cluster node (cluster_enabled is "
                 "off): use redis:// for a single server",
                 at.host, at.port);
        redisFree(c);
        free(r);
        return DURO_EINVAL;
    }
    if (!cluster) {
        r->one = c;
        *out = r;
        return 0;
    }
    r->cluster = true;
    rc = ask_slots(r, c, &at);
    if (rc) {
        snprintf(err, errsize, "%s", r->errstr);
        redisFree(c);
        free(r);
        return rc;
    }
    r->map.nodes = 0;
    adopt(r);
    /* keep the first connection when it is one of the masters */
    for (int i = 0; c && i < r->map.nodes; i++)
        if (r->map.node[i].port == at.port &&
            strcmp(r->map.node[i].host, at.host) == 0) {
            r->link[i] = c;
            c = NULL;
        }
    if (c) redisFree(c);
    duro_info("CLUSTER map masters=%d via=%s:%d", r->map.nodes, at.host,
              at.port);
    *out = r;
    return 0;
}

void duro_cluster_sync_free(duro_cluster_sync *r)
{
    if (!r) return;
    if (r->one) redisFree(r->one);
    for (int i = 0; i < DURO_CLUSTER_NODES_MAX; i++)
        if (r->link[i]) redisFree(r->link[i]);
    free(r);
}

bool duro_cluster_sync_is_cluster(const duro_cluster_sync *r)
{
    return r->cluster;
}

bool duro_cluster_sync_broken(const duro_cluster_sync *r)
{
    return !r->cluster && (!r->one || r->one->err);
}

const char *duro_cluster_sync_errstr(const duro_cluster_sync *r)
{
    if (!r->cluster && r->one && r->one->err) return r->one->errstr;
    return r->errstr;
}

/* ---- Routing ---- */

/* retry_later: the cluster answers that it cannot serve the command now
 * and did not run it (a multi-key command during a slot's migration, a
 * cluster without a quorum or a slot without a master). */
bool duro__csync_retry_later(const char *errstr)
{
    return errstr && (strncmp(errstr, "TRYAGAIN", 8) == 0 ||
                      strncmp(errstr, "CLUSTERDOWN", 11) == 0);
}

static redisReply *error_reply(const char *msg)
{
    redisReply *e = calloc(1, sizeof(*e));
    if (!e) return NULL;
    e->type = REDIS_REPLY_ERROR;
    e->str = strdup(msg);
    if (!e->str) {
        free(e);
        return NULL;
    }
    e->len = strlen(msg);
    return e;
}

/* node_for: the master serving slot (-1: any master, the first that has a
 * connection). -1 when the map has none. */
int duro__csync_node_for(duro_cluster_sync *r, int slot)
{
    if (slot >= 0) return r->map.slot_node[slot];
    for (int i = 0; i < r->map.nodes; i++)
        if (r->link[i] && !r->link[i]->err) return i;
    return r->map.nodes > 0 ? 0 : -1;
}

/* send sends a to master i (after ASKING when asking). NULL: the
 * connection failed and was dropped; *unsent then says whether a never
 * left (the master could not be reached: safe to send elsewhere). */
static redisReply *send_to(duro_cluster_sync *r, int i, const duro_argv *a,
                           bool asking, bool *unsent)
{
    redisContext *c = duro__csync_link(r, i);
    *unsent = !c;
    if (!c) return NULL;
    if (asking) {
        redisReply *k = redisCommand(c, "ASKING");
        if (k) freeReplyObject(k);
    }
    redisReply *rep = c->err ? NULL : duro__redis_call_lib(c, a, true);
    if (!rep) {
        duro__csync_errf(r, "redis at %s:%d: %s", r->map.node[i].host,
                         r->map.node[i].port,
                         c->errstr[0] ? c->errstr : "no reply");
        duro__csync_drop(r, i);
    }
    return rep;
}

/* redirect follows a MOVED or ASK in rep (from master i): true and the
 * node to send to next in *next (*asking for ASK). */
static bool redirect(duro_cluster_sync *r, int i, const redisReply *rep,
                     int *next, bool *asking)
{
    duro_cluster_redirect rd;
    if (rep->type != REDIS_REPLY_ERROR ||
        !duro_cluster_parse_redirect(rep->str, &rd))
        return false;
    if (!rd.addr.host[0]) rd.addr = r->map.node[i];
    int n = duro_cluster_map_node(&r->map, &rd.addr);
    if (n < 0) return false;
    *asking = rd.ask;
    *next = n;
    if (!rd.ask) {
        r->map.slot_node[rd.slot] = (short)n;
        r->stale = true;
        duro_info("CLUSTER MOVED slot=%d to=%s:%d", rd.slot, rd.addr.host,
                  rd.addr.port);
    }
    return true;
}

redisReply *duro__csync_call(duro_cluster_sync *r, const duro_argv *a)
{
    int slot = duro_cluster_argv_slot(a);
    int64_t deadline = duro_mono_ms() + DURO_CLUSTER_SYNC_RETRY_MS;
    int pause = PAUSE_FIRST_MS, next = -1;
    bool asking = false, refreshed = false;
    for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
        if (r->stale && !refreshed && next < 0) {
            duro__csync_refresh(r); /* on failure the old map serves */
            refreshed = true;
        }
        int i = next >= 0 ? next : duro__csync_node_for(r, slot);
        bool ask = asking;
        next = -1;
        asking = false;
        if (i < 0) {
            if (duro_mono_ms() + pause >= deadline) break;
            sleep_ms(pause);
            pause = pause * 2 > PAUSE_MAX_MS ? PAUSE_MAX_MS : pause * 2;
            refreshed = false;
            r->stale = true;
            continue;
        }
        bool unsent;
        redisReply *rep = send_to(r, i, a, ask, &unsent);
        if (!rep && unsent && duro_mono_ms() + pause < deadline) {
            /* its master is down: wait for the failover's new map */
            sleep_ms(pause);
            pause = pause * 2 > PAUSE_MAX_MS ? PAUSE_MAX_MS : pause * 2;
            refreshed = false;
            continue;
        }
        if (!rep) return NULL;
        if (redirect(r, i, rep, &next, &asking)) {
            freeReplyObject(rep);
            continue;
        }
        if (rep->type == REDIS_REPLY_ERROR &&
            duro__csync_retry_later(rep->str) &&
            duro_mono_ms() + pause < deadline) {
            freeReplyObject(rep);
            sleep_ms(pause);
            pause = pause * 2 > PAUSE_MAX_MS ? PAUSE_MAX_MS : pause * 2;
            r->stale = true;
            refreshed = false;
            continue;
        }
        return rep;
    }
    char msg[160];
    snprintf(msg, sizeof(msg),
             "CLUSTERDOWN no master serves slot %d (waited %dms)", slot,
             DURO_CLUSTER_SYNC_RETRY_MS);
    duro__csync_errf(r, "%s", msg);
    return error_reply(msg);
}

redisReply *duro_cluster_sync_call(duro_cluster_sync *r, const duro_argv *a)
{
    if (!r->cluster) return duro_redis_call(r->one, a);
    return duro__csync_call(r, a);
}

redisReply *duro_cluster_sync_call_master(duro_cluster_sync *r, int i,
                                          const duro_argv *a)
{
    if (!r->cluster) return duro_redis_call(r->one, a);
    if (i < 0 || i >= r->map.nodes) {
        duro__csync_errf(r, "no master %d (the map has %d)", i, r->map.nodes);
        return NULL;
    }
    bool unsent;
    return send_to(r, i, a, false, &unsent);
}

int duro_cluster_sync_masters(duro_cluster_sync *r)
{
    if (!r->cluster) return 1;
    if (r->stale) duro__csync_refresh(r);
    return r->map.nodes;
}

/* ---- Connections for callers ---- */

redisContext *duro_cluster_sync_context(duro_cluster_sync *r, int slot)
{
    if (!r->cluster) return r->one;
    if (r->stale) duro__csync_refresh(r);
    int i = slot >= 0 ? r->map.slot_node[slot] : (r->map.nodes ? 0 : -1);
    if (i < 0) {
        duro__csync_errf(r, "CLUSTERDOWN no master serves slot %d", slot);
        return NULL;
    }
    return duro__csync_link(r, i);
}

redisContext *duro_cluster_sync_master_context(duro_cluster_sync *r, int i)
{
    if (!r->cluster) return r->one;
    if (i < 0 || i >= r->map.nodes) {
        duro__csync_errf(r, "no master %d (the map has %d)", i, r->map.nodes);
        return NULL;
    }
    return duro__csync_link(r, i);
}

int duro_cluster_sync_node_url(duro_cluster_sync *r, int slot,
                               duro_redis_url *out)
{
    if (!r->cluster) {
        *out = r->url;
        return 0;
    }
    if (r->stale) duro__csync_refresh(r);
    int i = slot >= 0 ? r->map.slot_node[slot] : (r->map.nodes ? 0 : -1);
    if (i < 0) {
        duro__csync_errf(r, "CLUSTERDOWN no master serves slot %d", slot);
        return DURO_EAGAIN;
    }
    node_url(&r->url, &r->map.node[i], out);
    return 0;
}

int duro_cluster_sync_refresh(duro_cluster_sync *r)
{
    if (!r->cluster) return 0;
    r->stale = true;
    return duro__csync_refresh(r);
}

void duro_cluster_sync_set_timeout(duro_cluster_sync *r, int ms)
{
    r->cmd_timeout_ms = ms > 0 ? ms : 0;
    if (!r->cluster) {
        apply_timeout(r, r->one);
        return;
    }
    for (int i = 0; i < r->map.nodes; i++)
        apply_timeout(r, r->link[i]);
}

/* ---- Setup ---- */

static redisReply *router_call(void *conn, const duro_argv *a)
{
    return duro_cluster_sync_call(conn, a);
}

static const char *router_errstr(void *conn)
{
    return duro_cluster_sync_errstr(conn);
}

int duro_cluster_sync_meta_check(duro_cluster_sync *r, int partitions, int *out,
                                 char *err, size_t errsize)
{
    duro__caller k = {router_call, router_errstr, r};
    return duro__meta_check_with(&k, partitions, out, err, errsize);
}

/* functions_everywhere: the sharded library on every master of the map. */
static int functions_everywhere(duro_cluster_sync *r, char *err, size_t errsize)
{
    int n = duro_cluster_sync_masters(r);
    for (int i = 0; i < n; i++) {
        redisContext *c = duro__csync_link(r, i);
        if (!c) {
            snprintf(err, errsize, "%s", r->errstr);
            return DURO_ECONN;
        }
        char why[400];
        int rc = duro__functions_ensure(c, true, why, sizeof(why));
        if (rc) {
            snprintf(err, errsize, "master %s:%d: %s", r->map.node[i].host,
                     r->map.node[i].port, why);
            return rc;
        }
    }
    return 0;
}

int duro_cluster_sync_setup(duro_cluster_sync *r, int partitions, int *out,
                            char *err, size_t errsize)
{
    if (!r->cluster)
        return duro_redis_setup(r->one, partitions, out, err, errsize);
    int rc = duro__setup_check(partitions, err, errsize);
    if (rc == 0) rc = functions_everywhere(r, err, errsize);
    if (rc) return rc;
    duro__caller k = {router_call, router_errstr, r};
    return duro__setup_meta(&k, partitions, out, err, errsize);
}

int duro_redis_setup_url(duro_redis_url *url, int timeout_ms, int partitions,
                         int *out, char *err, size_t errsize)
{
    duro_cluster_sync *r = NULL;
    int rc = duro_cluster_sync_open(url, timeout_ms, &r, err, errsize);
    if (rc) return rc;
    if (r->cluster) url->cluster = 1;
    rc = duro_cluster_sync_setup(r, partitions, out, err, errsize);
    duro_cluster_sync_free(r);
    return rc;
}
