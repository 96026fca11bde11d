/* chaos_route.c: see chaos_route.h. A chaos tool's commands are few and
 * blocking, so this is the simplest router that survives a failover: a
 * slot table filled from CLUSTER SLOTS, one lazily opened connection per
 * node, and a retry loop that refreshes the table whenever a node moved
 * a slot away or stopped answering. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "duro/clock.h"
#include "duro/config.h"
#include "duro/errno.h"
#include "duro/keys.h"
#include "duro/redis.h"
#include "chaos_route.h"

#define SLOTS 16384
#define MAX_NODES 64
#define RETRY_SLEEP_MS 100

typedef struct {
    char host[256];
    int port;
    redisContext *c;
} node;

struct chaos_route {
    duro_redis_url url; /* the seed's: credentials, TLS, WAIT settings */
    bool cluster;
    node nodes[MAX_NODES]; /* seeds first, then nodes learnt of */
    int nnodes;
    short slot_node[SLOTS]; /* index into nodes, -1: unknown */
    int masters[MAX_NODES];
    int nmasters;
    char err[256];
};

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

int chaos_key_slot(const char *key)
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
    return duro_crc16(key, len) % SLOTS;
}

static int node_add(chaos_route *r, const char *host, int port)
{
    for (int i = 0; i < r->nnodes; i++)
        if (r->nodes[i].port == port && strcmp(r->nodes[i].host, host) == 0)
            return i;
    if (r->nnodes == MAX_NODES) return -1;
    node *n = &r->nodes[r->nnodes];
    size_t len = strnlen(host, sizeof(n->host) - 1); /* host may be r's */
    memmove(n->host, host, len);
    n->host[len] = 0;
    n->port = port;
    n->c = NULL;
    return r->nnodes++;
}

static void node_drop(chaos_route *r, int i)
{
    if (i < 0 || !r->nodes[i].c) return;
    redisFree(r->nodes[i].c);
    r->nodes[i].c = NULL;
}

/* node_conn: node i's connection, opened when needed; NULL on failure. */
static redisContext *node_conn(chaos_route *r, int i)
{
    node *n = &r->nodes[i];
    if (n->c && !n->c->err) return n->c;
    node_drop(r, i);
    duro_redis_url u = r->url;
    if (r->cluster || u.sentinels == 0) {
        snprintf(u.host, sizeof(u.host), "%s", n->host);
        u.port = n->port;
    }
    n->c = duro_redis_connect(&u, 2000, r->err, sizeof(r->err));
    return n->c;
}

/* refresh reloads the slot table from the first node that answers
 * CLUSTER SLOTS; 0, or -1 when none did. */
static int refresh(chaos_route *r)
{
    for (int i = 0; i < r->nnodes; i++) {
        redisContext *c = node_conn(r, i);
        redisReply *rep = c ? redisCommand(c, "CLUSTER SLOTS") : NULL;
        if (!rep) {
            node_drop(r, i);
            continue;
        }
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements == 0) {
            freeReplyObject(rep);
            continue;
        }
        const char *asked = r->nodes[i].host;
        for (int s = 0; s < SLOTS; s++)
            r->slot_node[s] = -1;
        r->nmasters = 0;
        for (size_t e = 0; e < rep->elements; e++) {
            const redisReply *x = rep->element[e];
            if (x->type != REDIS_REPLY_ARRAY || x->elements < 3) continue;
            const redisReply *m = x->element[2];
            if (m->type != REDIS_REPLY_ARRAY || m->elements < 2) continue;
            /* an empty host: "the node you asked" */
            const char *host = m->element[0]->str && *m->element[0]->str
                                   ? m->element[0]->str
                                   : asked;
            int ni = node_add(r, host, (int)m->element[1]->integer);
            if (ni < 0) continue;
            bool known = false;
            for (int k = 0; k < r->nmasters; k++)
                known |= r->masters[k] == ni;
            if (!known) r->masters[r->nmasters++] = ni;
            for (long long s = x->element[0]->integer;
                 s <= x->element[1]->integer && s < SLOTS; s++)
                r->slot_node[s] = (short)ni;
        }
        freeReplyObject(rep);
        return 0;
    }
    snprintf(r->err, sizeof(r->err), "no cluster node answered CLUSTER SLOTS");
    return -1;
}

/* redirect: the node a MOVED or ASK error sends the command to, or -1. */
static int redirect(chaos_route *r, const char *err, bool *ask)
{
    *ask = strncmp(err, "ASK ", 4) == 0;
    if (!*ask && strncmp(err, "MOVED ", 6) != 0) return -1;
    const char *addr = strchr(strchr(err, ' ') + 1, ' ');
    const char *colon = addr ? strrchr(addr, ':') : NULL;
    if (!colon) return -1;
    char host[256];
    snprintf(host, sizeof(host), "%.*s", (int)(colon - addr - 1), addr + 1);
    return node_add(r, host, atoi(colon + 1));
}

/* send_one sends the formatted command (ASKING before it, WAIT after it
 * when wait) on node i; its reply, or NULL when the connection failed or
 * WAIT was not confirmed (then r->err says which). */
static redisReply *send_one(chaos_route *r, int i, const char *cmd, size_t len,
                            bool asking, bool wait)
{
    redisContext *c = node_conn(r, i);
    if (!c) return NULL;
    if (asking) redisAppendCommand(c, "ASKING");
    redisAppendFormattedCommand(c, cmd, len);
    if (wait)
        redisAppendCommand(c, "WAIT %d %d", r->url.wait_replicas,
                           r->url.wait_timeout_ms);
    redisReply *rep = NULL, *w = NULL;
    bool ok = true;
    if (asking && redisGetReply(c, (void **)&w) == REDIS_OK) freeReplyObject(w);
    w = NULL;
    ok = redisGetReply(c, (void **)&rep) == REDIS_OK;
    if (ok && wait) ok = redisGetReply(c, (void **)&w) == REDIS_OK;
    if (!ok) {
        snprintf(r->err, sizeof(r->err), "%s:%d: %s", r->nodes[i].host,
                 r->nodes[i].port, c->errstr);
        if (rep) freeReplyObject(rep);
        node_drop(r, i);
        return NULL;
    }
    if (wait && rep->type != REDIS_REPLY_ERROR &&
        (w->type != REDIS_REPLY_INTEGER || w->integer < r->url.wait_replicas)) {
        snprintf(r->err, sizeof(r->err), "WAIT: %lld of %d replicas confirmed",
                 w->type == REDIS_REPLY_INTEGER ? w->integer : -1LL,
                 r->url.wait_replicas);
        freeReplyObject(rep);
        rep = NULL;
    }
    if (w) freeReplyObject(w);
    return rep;
}

/* run sends cmd to the node of slot (master index `master` when slot < 0)
 * until an answer that is no redirection and no transient error. */
static redisReply *run(chaos_route *r, int slot, int master, const char *cmd,
                       size_t len, bool wait)
{
    int64_t deadline = duro_mono_ms() + CHAOS_ROUTE_RETRY_MS;
    int ask_node = -1;
    for (;;) {
        int i = !r->cluster            ? 0
                : ask_node >= 0        ? ask_node
                : slot >= 0            ? r->slot_node[slot]
                : master < r->nmasters ? r->masters[master]
                                       : -1;
        redisReply *rep = NULL;
        if (i >= 0) rep = send_one(r, i, cmd, len, ask_node >= 0, wait);
        ask_node = -1;
        if (!rep && strncmp(r->err, "WAIT:", 5) == 0) return NULL;
        bool transient = !rep;
        if (rep && rep->type == REDIS_REPLY_ERROR && r->cluster) {
            bool ask;
            int to = redirect(r, rep->str, &ask);
            if (to >= 0) {
                freeReplyObject(rep);
                if (ask) {
                    ask_node = to;
                    continue;
                }
                refresh(r);
                if (duro_mono_ms() < deadline) continue;
                snprintf(r->err, sizeof(r->err), "redirected for %d ms",
                         CHAOS_ROUTE_RETRY_MS);
                return NULL;
            }
        }
        if (rep && rep->type == REDIS_REPLY_ERROR &&
            duro_err_is_transient(duro_redis_error_code(rep->str)))
            transient = true;
        if (!transient || duro_mono_ms() >= deadline) return rep;
        if (rep) {
            snprintf(r->err, sizeof(r->err), "%s", rep->str);
            freeReplyObject(rep);
        }
        sleep_ms(RETRY_SLEEP_MS);
        if (r->cluster) refresh(r);
    }
}

static redisReply *vrun(chaos_route *r, int slot, int master, bool wait,
                        const char *fmt, va_list ap)
{
    char *cmd = NULL;
    int len = redisvFormatCommand(&cmd, fmt, ap);
    if (len < 0) {
        snprintf(r->err, sizeof(r->err), "cannot format the command");
        return NULL;
    }
    redisReply *rep = run(r, slot, master, cmd, (size_t)len, wait);
    redisFreeCommand(cmd);
    return rep;
}

redisReply *chaos_route_vcmd(chaos_route *r, const char *key, const char *fmt,
                             va_list ap)
{
    return vrun(r, chaos_key_slot(key), 0, false, fmt, ap);
}

redisReply *chaos_route_cmd(chaos_route *r, const char *key, const char *fmt,
                            ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = vrun(r, chaos_key_slot(key), 0, false, fmt, ap);
    va_end(ap);
    return rep;
}

redisReply *chaos_route_write(chaos_route *r, const char *key, const char *fmt,
                              ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep =
        vrun(r, chaos_key_slot(key), 0, r->url.wait_replicas > 0, fmt, ap);
    va_end(ap);
    return rep;
}

redisReply *chaos_route_node_cmd(chaos_route *r, int i, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = vrun(r, -1, i, false, fmt, ap);
    va_end(ap);
    return rep;
}

int chaos_route_masters(chaos_route *r)
{
    return r->cluster ? r->nmasters : 1;
}

bool chaos_route_is_cluster(const chaos_route *r)
{
    return r->cluster;
}

const char *chaos_route_errstr(const chaos_route *r)
{
    return r->err;
}

void chaos_route_free(chaos_route *r)
{
    if (!r) return;
    for (int i = 0; i < r->nnodes; i++)
        node_drop(r, i);
    free(r);
}

/* ---- Opening ---------------------------------------------------------- */

/* parse_cluster reads redis+cluster://[user:pw@]h1[:p1],h2.../[db]: the
 * seeds, and the first one's URL (parsed as every component parses a
 * redis:// URL: password file, TLS and WAIT settings from the
 * environment) as the template of every node's. 0 or -1. */
static int parse_cluster(chaos_route *r, const char *url)
{
    bool tls = strncmp(url, "rediss+", 7) == 0;
    const char *hosts = strstr(url, "://") + 3;
    const char *slash = strchr(hosts, '/');
    const char *at = strchr(hosts, '@');
    char user[600] = "";
    if (at && (!slash || at < slash)) {
        snprintf(user, sizeof(user), "%.*s", (int)(at - hosts + 1), hosts);
        hosts = at + 1;
    }
    const char *end = slash ? slash : hosts + strlen(hosts);
    for (const char *h = hosts; h < end;) {
        const char *comma = memchr(h, ',', (size_t)(end - h));
        const char *stop = comma ? comma : end;
        const char *colon = memchr(h, ':', (size_t)(stop - h));
        char host[256];
        snprintf(host, sizeof(host), "%.*s", (int)((colon ? colon : stop) - h),
                 h);
        int port = colon ? atoi(colon + 1) : 6379;
        if (!*host || port <= 0 || node_add(r, host, port) < 0) {
            snprintf(r->err, sizeof(r->err), "bad seed list in %s", url);
            return -1;
        }
        h = comma ? comma + 1 : end;
    }
    if (r->nnodes == 0) {
        snprintf(r->err, sizeof(r->err), "no seed node in %s", url);
        return -1;
    }
    char seed[1200];
    snprintf(seed, sizeof(seed), "%s://%s%s:%d%s", tls ? "rediss" : "redis",
             user, r->nodes[0].host, r->nodes[0].port, slash ? slash : "");
    return duro_redis_url_parse(seed, &r->url, r->err, sizeof(r->err)) ? -1 : 0;
}

/* probe: 1 when node 0 answered PING (and r->cluster says whether it
 * reported cluster_enabled:1), 0 when not yet. */
static int probe(chaos_route *r)
{
    redisContext *c = node_conn(r, 0);
    redisReply *rep = c ? redisCommand(c, "PING") : NULL;
    bool up = rep && rep->type == REDIS_REPLY_STATUS; /* not LOADING */
    if (rep) freeReplyObject(rep);
    if (!up) return 0;
    if (r->url.sentinels) return 1;
    rep = redisCommand(c, "INFO cluster");
    r->cluster = rep && rep->type == REDIS_REPLY_STRING &&
                 strstr(rep->str, "cluster_enabled:1");
    if (rep) freeReplyObject(rep);
    return 1;
}

chaos_route *chaos_route_open(const char *url, int64_t wait_ms)
{
    chaos_route *r = calloc(1, sizeof(*r));
    if (!r) return NULL;
    for (int s = 0; s < SLOTS; s++)
        r->slot_node[s] = -1;
    int rc;
    if (strstr(url, "+cluster://")) {
        r->cluster = true;
        rc = parse_cluster(r, url);
    } else {
        rc = duro_redis_url_parse(url, &r->url, r->err, sizeof(r->err));
        if (rc == 0) node_add(r, r->url.host, r->url.port);
    }
    int64_t deadline = duro_mono_ms() + wait_ms;
    while (rc == 0) {
        bool ready = r->cluster
                         ? refresh(r) == 0 && r->nmasters > 0
                         : probe(r) == 1 && (!r->cluster || refresh(r) == 0);
        if (ready) return r;
        if (duro_mono_ms() >= deadline) break;
        sleep_ms(200);
    }
    fprintf(stderr, "chaos: cannot connect to Redis: %s\n", r->err);
    chaos_route_free(r);
    return NULL;
}
