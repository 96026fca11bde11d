/* chaos_route.c: see chaos_route.h. The routing itself is the library's
 * (duro/cluster_sync.h: the slot map, MOVED, ASK, TRYAGAIN, CLUSTERDOWN,
 * a master gone); what a chaos tool adds on top is patience: through a
 * failover or a restart of Redis, a call is tried again for up to
 * CHAOS_ROUTE_RETRY_MS, on a new connection when the one server's broke,
 * and a write is followed by WAIT when DURO_REDIS_WAIT asks for one. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "duro/clock.h"
#include "duro/cluster.h"
#include "duro/cluster_sync.h"
#include "duro/config.h"
#include "duro/errno.h"
#include "duro/redis.h"
#include "chaos_route.h"

#define RETRY_SLEEP_MS 100
#define CONNECT_TIMEOUT_MS 2000

struct chaos_route {
    duro_redis_url url; /* credentials, TLS, WAIT settings */
    duro_cluster_sync *s;
    char err[512];
};

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

int chaos_key_slot(const char *key)
{
    return duro_cluster_slot(key, strlen(key));
}

/* ensure: a usable connection (a new one when the one server's broke). */
static bool ensure(chaos_route *r)
{
    if (r->s && !duro_cluster_sync_broken(r->s)) return true;
    duro_cluster_sync_free(r->s);
    r->s = NULL;
    return duro_cluster_sync_open(&r->url, CONNECT_TIMEOUT_MS, &r->s, r->err,
                                  sizeof(r->err)) == 0;
}

/* to_argv: hiredis's formatted command (*N $len arg ...) as an argv. */
static int to_argv(const char *cmd, size_t len, duro_argv *a)
{
    const char *p = cmd, *end = cmd + len;
    if (p >= end || *p != '*') return -1;
    long n = strtol(p + 1, NULL, 10);
    p = strstr(p, "\r\n");
    for (long i = 0; p && i < n; i++) {
        p += 2;
        if (p >= end || *p != '$') return -1;
        long l = strtol(p + 1, NULL, 10);
        p = strstr(p, "\r\n");
        if (!p || l < 0 || p + 2 + l > end) return -1;
        duro_argv_pushn(a, p + 2, (size_t)l);
        p += 2 + l;
    }
    return p ? 0 : -1;
}

/* confirmed: WAIT on the connection of the master serving slot (where
 * the write just went) confirmed the replicas DURO_REDIS_WAIT asks for. */
static bool confirmed(chaos_route *r, int slot)
{
    redisContext *c = duro_cluster_sync_context(r->s, slot);
    redisReply *w = c ? redisCommand(c, "WAIT %d %d", r->url.wait_replicas,
                                     r->url.wait_timeout_ms)
                      : NULL;
    bool ok = w && w->type == REDIS_REPLY_INTEGER &&
              w->integer >= r->url.wait_replicas;
    snprintf(r->err, sizeof(r->err), "WAIT: %lld of %d replicas confirmed",
             w && w->type == REDIS_REPLY_INTEGER ? w->integer : -1LL,
             r->url.wait_replicas);
    if (w) freeReplyObject(w);
    return ok;
}

/* run sends a to the master of slot (master index `master` when slot <
 * 0) until an answer that is no transient error. */
static redisReply *run(chaos_route *r, int slot, int master, const duro_argv *a,
                       bool wait)
{
    int64_t deadline = duro_mono_ms() + CHAOS_ROUTE_RETRY_MS;
    for (;;) {
        redisReply *rep = NULL;
        if (ensure(r)) {
            rep = slot < 0 ? duro_cluster_sync_call_master(r->s, master, a)
                           : duro_cluster_sync_call(r->s, a);
            if (!rep)
                snprintf(r->err, sizeof(r->err), "%s",
                         duro_cluster_sync_errstr(r->s));
        }
        bool transient =
            !rep || (rep->type == REDIS_REPLY_ERROR &&
                     duro_err_is_transient(duro_redis_error_code(rep->str)));
        if (!transient && wait && rep->type != REDIS_REPLY_ERROR &&
            !confirmed(r, slot)) {
            freeReplyObject(rep);
            return NULL; /* maybe lost in a failover: not made */
        }
        if (!transient || duro_mono_ms() >= deadline) return rep;
        if (rep) {
            snprintf(r->err, sizeof(r->err), "%s", rep->str);
            freeReplyObject(rep);
        }
        sleep_ms(RETRY_SLEEP_MS);
    }
}

static redisReply *vrun(chaos_route *r, int slot, int master, bool wait,
                        const char *fmt, va_list ap)
{
    char *cmd = NULL;
    int len = redisvFormatCommand(&cmd, fmt, ap);
    duro_argv a;
    duro_argv_init(&a);
    redisReply *rep = NULL;
    if (len < 0 || to_argv(cmd, (size_t)len, &a) < 0)
        snprintf(r->err, sizeof(r->err), "cannot format the command");
    else
        rep = run(r, slot, master, &a, wait);
    duro_argv_free(&a);
    if (cmd) redisFreeCommand(cmd);
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
    return ensure(r) ? duro_cluster_sync_masters(r->s) : 1;
}

bool chaos_route_is_cluster(const chaos_route *r)
{
    return r->s && duro_cluster_sync_is_cluster(r->s);
}

const char *chaos_route_errstr(const chaos_route *r)
{
    return r->err;
}

void chaos_route_free(chaos_route *r)
{
    if (!r) return;
    duro_cluster_sync_free(r->s);
    free(r);
}

chaos_route *chaos_route_open(const char *url, int64_t wait_ms)
{
    chaos_route *r = calloc(1, sizeof(*r));
    if (!r) return NULL;
    int64_t deadline = duro_mono_ms() + wait_ms;
    if (duro_redis_url_parse(url, &r->url, r->err, sizeof(r->err)) == 0)
        for (;;) {
            if (ensure(r)) return r;
            if (duro_mono_ms() >= deadline) break;
            sleep_ms(200);
        }
    fprintf(stderr, "chaos: cannot connect to Redis: %s\n", r->err);
    chaos_route_free(r);
    return NULL;
}
