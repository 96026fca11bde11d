/* aredis.c: a self-reconnecting Redis connection on a libuv loop (its
 * commands: aredis_cmd.c). */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/aredis.h"
#include "duro/clock.h"
#include "duro/cluster.h"
#include "duro/errno.h"
#include "duro/keys.h"
#include "duro/log.h"
#include "duro/lua.h"
#include "aredis_int.h"
#include "redis_wait.h"
#include "sentinel.h"

/*
 * Lifecycle. A duro_aredis owns at most one connection at a time (a
 * duro__tconn, transport.c: TCP or TLS under hiredis's reader and
 * formatter) and one uv_timer that paces reconnects and bounds connect +
 * TLS handshake + Redis handshake:
 *
 *   WAIT --timer--> CONNECTING --onConnect--> HANDSHAKE --replies--> UP
 *     ^                  |                        |    |              |
 *     +------------------+---- failure / timeout -+----|- onDisconnect+
 *                        |                             v
 *                        +---------> credentials or certificate refused,
 *                                    layout mismatch: FATAL
 *
 * The handshake is AUTH, SELECT, PING and, on a guarded connection, the
 * duro:meta check (HSETNX restores a meta that Redis lost, HGET compares
 * the partition count): replies come in order, hs_kinds says which is
 * which. A FATAL connection never reconnects; its owner hears of it once
 * through on_fatal (from onDisconnect, or from onConnect when the TLS
 * handshake refused a certificate: DURO_EAUTH, no retry storm).
 *
 * While UP, the same timer ticks for the guard (aredis_guard.c).
 *
 * Redis Cluster: until the first UP a redis:// connection's handshake also
 * asks CLUSTER SLOTS; a map (not the standalone server's error) ends this
 * connection and makes r a router (aredis_cluster.c, reached only
 * through r->router, which duro_aredis_new sets), as a redis+cluster://
 * URL does from the start. A router's children are duro_aredis of their
 * own (duro__aredis_kid_new: one per master); their
 * handshake checks the Functions library (FCALL duro_version 0) and loads
 * the sharded copy when it is missing or older. The router's timer ticks
 * for the router; it is freed once its children are.
 *
 * Transport rules we live by (transport.h, hiredis 0.14's async contract):
 * a connection freed from inside one of its own callbacks is freed after
 * the callback returns; once a connection ends it calls every pending
 * reply callback with NULL, then onDisconnect (only if it was up), then
 * frees itself (its poll handle is uv_closed).
 *
 * The connection's data points to the duro_aredis while it is ours; one we
 * abandon (timeout, close) gets data = NULL so that its late callbacks are
 * recognised and ignored. The struct itself is freed when it is closing,
 * its timer is closed and no connection is alive.
 */

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define CONNECT_TIMEOUT_MS 5000
static void start_connect(duro_aredis *r);
static void schedule_reconnect(duro_aredis *r);

/* ---- Freeing ---- */

static void maybe_free(duro_aredis *r);

static void aredis_free(duro_aredis *r)
{
    duro_aredis *parent = r->parent;
    if (r->hs_slots) freeReplyObject(r->hs_slots);
    if (r->cl) r->router->free(r);
    sub *s = r->subs;
    while (s) {
        sub *next = s->next;
        free(s->channel);
        free(s);
        s = next;
    }
    free(r->name);
    free(r);
    if (parent) {
        parent->kids_alive--;
        maybe_free(parent);
    }
}

/* maybe_free releases r once nothing can call back into it any more (a
 * cluster router: once its children are freed as well). */
static void maybe_free(duro_aredis *r)
{
    if (r->closing && r->timer_closed && !r->ac_alive && r->kids_alive == 0)
        aredis_free(r);
}

static void on_timer_closed(uv_handle_t *h)
{
    duro_aredis *r = h->data;
    r->timer_closed = 1;
    maybe_free(r);
}

/* ---- State changes and logging ---- */

static void set_down(duro_aredis *r, const char *why)
{
    int was = r->st == ST_UP;
    r->st = ST_WAIT;
    r->ping_out = 0;
    r->sample_left = 0;
    duro__aredis_stall_end(r, " (connection lost)");
    if (!r->down_logged) {
        /* Once per outage; a connection that flaps is limited as well. */
        char key[96];
        snprintf(key, sizeof(key), "REDIS DOWN %s", r->name);
        duro_warn_limited(key, "REDIS DOWN name=%s addr=%s:%d err=%s", r->name,
                          r->url.host, r->url.port,
                          why && *why ? why : "unknown");
        r->down_logged = 1;
    } else {
        duro_debug("REDIS RETRY name=%s err=%s", r->name, why ? why : "");
    }
    if (was && r->on_state && !r->closing) r->on_state(r, false, r->arg);
}

/* ---- Connecting ---- */

static void on_timer(uv_timer_t *t);

/* arm_guard runs a guard tick and sets the timer for the next one. */
static void arm_guard(duro_aredis *r)
{
    int64_t next = duro__aredis_guard_tick(r);
    if (next > 0) uv_timer_start(&r->timer, on_timer, (uint64_t)next, 0);
}

static void become_up(duro_aredis *r)
{
    r->st = ST_UP;
    r->backoff_ms = 0;
    uv_timer_stop(&r->timer);
    if (r->was_up) r->reconnects++;
    r->was_up = 1;
    r->down_logged = 0;
    r->detect = 0; /* a standalone server: it stays one */
    duro_info("REDIS UP name=%s addr=%s:%d db=%d", r->name, r->url.host,
              r->url.port, r->url.db);
    duro__aredis_report_meta(r);
    for (sub *s = r->subs; s; s = s->next)
        duro__aredis_send_subscribe(r, s);
    if (r->guard.partitions > 0 || r->guard.stall_timeout_ms > 0) {
        r->next_sample_ms = 0; /* count now: the data may be new */
        arm_guard(r);
    }
    if (r->on_state) r->on_state(r, true, r->arg);
}

/* go_fatal stops reconnecting; onDisconnect tells the owner. */
static void go_fatal(duro_aredis *r, duro__tconn *ac, int code, const char *fmt,
                     ...) __attribute__((format(printf, 4, 5)));
static void go_fatal(duro_aredis *r, duro__tconn *ac, int code, const char *fmt,
                     ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->fatal_msg, sizeof(r->fatal_msg), fmt, ap);
    va_end(ap);
    r->fatal = code;
    r->st = ST_FATAL;
    uv_timer_stop(&r->timer);
    duro_error("REDIS FATAL name=%s addr=%s:%d err=%s: %s (not retrying)",
               r->name, r->url.host, r->url.port, duro_err_name(code),
               r->fatal_msg);
    if (ac) duro__tconn_disconnect(ac); /* onDisconnect follows */
}

/* fatal_later: go_fatal without a connection to end (the TLS handshake or
 * the TLS set-up failed); the owner hears of it from the timer, outside
 * duro_aredis_new and the transport's callbacks. */
static void fatal_later(duro_aredis *r, int code, const char *msg)
{
    go_fatal(r, NULL, code, "%s", msg);
    uv_timer_start(&r->timer, on_timer, 0, 0);
}

/* become_cluster: a redis:// URL named a cluster node. This connection
 * ends; r becomes a router over one connection per master
 * (aredis_cluster.c), starting from the map the handshake read. */
static void become_cluster(duro_aredis *r, duro__tconn *ac)
{
    duro__tconn_pub(ac)->data = NULL;
    r->ac = NULL;
    r->ac_alive = 0;
    duro__tconn_disconnect(ac);
    uv_timer_stop(&r->timer);
    r->st = ST_WAIT;
    duro_info("REDIS CLUSTER name=%s addr=%s:%d: a cluster node; one "
              "connection per master",
              r->name, r->url.host, r->url.port);
    redisReply *slots = r->hs_slots;
    r->hs_slots = NULL;
    int rc = r->router->init(r, slots);
    freeReplyObject(slots);
    if (rc) {
        set_down(r, "out of memory");
        schedule_reconnect(r);
    }
}

/* up_with_library: a cluster master whose library is missing or older than
 * ours gets it first (a master added later, a promoted replica): the LOAD
 * goes out before any command. A missing one is loaded without REPLACE, so
 * that a newer library another component loaded since the handshake's look
 * is not overwritten ("already exists": on_load_reply looks again). */
static void up_with_library(duro_aredis *r)
{
    if (r->lib_check && r->lib_have >= 0 && r->lib_have < duro_lua_version()) {
        duro_info("FUNCTIONS name=%s have=%lld want=%d: loading", r->name,
                  r->lib_have, duro_lua_version());
        duro__aredis_load_library(r, r->lib_have > 0);
    }
    become_up(r);
}

/* on_handshake: AUTH/SELECT/PING/meta replies; the last one decides.
 * Credentials refused, a bad database and a layout mismatch are fatal;
 * anything else (LOADING, too many clients, a lost connection) drops the
 * connection and retries with backoff. */
static void on_handshake(duro__tconn *ac, redisReply *reply, void *privdata)
{
    duro_aredis *r = privdata;
    if (owner_of(ac) != r || r->closing || r->st != ST_HANDSHAKE) return;
    enum hs_kind kind = r->hs_kinds[r->hs_seen < HS_MAX ? r->hs_seen : 0];
    r->hs_seen++;
    duro__aredis_hs_note(r, ac, kind, reply);
    if (--r->hs_pending > 0) return;
    int p = r->guard.partitions;
    if (r->hs_failed && (r->hs_code == DURO_EAUTH || r->hs_code == DURO_EINVAL))
        go_fatal(r, ac, r->hs_code, "%s", r->hs_err);
    else if (r->hs_failed)
        duro__tconn_disconnect(ac); /* onDisconnect follows */
    else if (r->hs_slots)
        become_cluster(r, ac);
    else if (p > 0 && r->meta_parts <= 0)
        go_fatal(r, ac, DURO_EPROTO, "%s partitions is not a count",
                 DURO_META_KEY);
    else if (p > 0 && r->meta_parts != p)
        go_fatal(r, ac, DURO_EINVAL,
                 "layout mismatch: %s says partitions=%ld but this process "
                 "runs with partitions=%d; every worker, scheduler and client "
                 "of a namespace must use the same count",
                 DURO_META_KEY, r->meta_parts, p);
    else
        up_with_library(r);
}

static void hs_send(duro_aredis *r, enum hs_kind kind, int argc,
                    const char **argv)
{
    size_t lens[4];
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    if (r->hs_sent >= HS_MAX) return;
    if (duro__tconn_command(r->ac, on_handshake, r, argc, argv, lens) == 0) {
        r->hs_kinds[r->hs_sent++] = kind;
        r->hs_pending++;
    }
}

/* on_connect queues the handshake (user code runs from its replies), or
 * after a failed connect schedules the next one; a certificate refused by
 * either side (DURO_EAUTH) is fatal instead: retrying cannot fix it. */
static void on_connect(duro__tconn *ac, int status)
{
    duro_aredis *r = owner_of(ac);
    if (!r) return;
    if (status != 0) {
        /* the transport frees the connection right after this returns */
        const duro__tconn_public *pub = duro__tconn_pub(ac);
        duro__tconn_pub(ac)->data = NULL;
        r->ac = NULL;
        r->ac_alive = 0;
        if (r->closing)
            return; /* the timer is closing; maybe_free runs from there */
        if (pub->code == DURO_EAUTH) {
            fatal_later(r, DURO_EAUTH, pub->errstr);
            return;
        }
        set_down(r, pub->errstr);
        schedule_reconnect(r);
        return;
    }
    r->st = ST_HANDSHAKE;
    r->hs_pending = 0;
    r->hs_failed = 0;
    r->hs_code = 0;
    r->hs_err[0] = '\0';
    r->hs_sent = r->hs_seen = 0;
    r->meta_created = 0;
    r->meta_parts = 0;
    char db[16];
    snprintf(db, sizeof(db), "%d", r->url.db);
    if (r->url.password[0] && r->url.user[0])
        hs_send(r, HS_AUTH, 3,
                (const char *[]){"AUTH", r->url.user, r->url.password});
    else if (r->url.password[0])
        hs_send(r, HS_AUTH, 2, (const char *[]){"AUTH", r->url.password});
    if (r->url.db != 0)
        hs_send(r, HS_SELECT, 2, (const char *[]){"SELECT", db});
    /* A PING makes every connect report through a reply callback. */
    hs_send(r, HS_PING, 1, (const char *[]){"PING"});
    if (r->url.sentinels > 0) hs_send(r, HS_ROLE, 1, (const char *[]){"ROLE"});
    if (r->hs_slots) {
        freeReplyObject(r->hs_slots);
        r->hs_slots = NULL;
    }
    if (r->detect)
        hs_send(r, HS_SLOTS, 2, (const char *[]){"CLUSTER", "SLOTS"});
    r->lib_have = -1;
    if (r->lib_check)
        hs_send(r, HS_VERSION, 3,
                (const char *[]){"FCALL", "duro_version", "0"});
    if (r->guard.partitions > 0) {
        /* HSETNX duro:meta partitions <P>; HSETNX duro:meta schema 1;
         * HGET duro:meta partitions */
        char parts[16];
        snprintf(parts, sizeof(parts), "%d", r->guard.partitions);
        hs_send(r, HS_META_NEW, 4,
                (const char *[]){"HSETNX", DURO_META_KEY, "partitions", parts});
        hs_send(r, HS_META_SCHEMA, 4,
                (const char *[]){"HSETNX", DURO_META_KEY, "schema", "1"});
        hs_send(r, HS_META_GET, 3,
                (const char *[]){"HGET", DURO_META_KEY, "partitions"});
    }
}

static void on_disconnect(duro__tconn *ac, int status)
{
    duro_aredis *r = owner_of(ac);
    if (!r) return;
    duro__tconn_pub(ac)->data = NULL;
    r->ac = NULL;
    r->ac_alive = 0;
    if (r->closing) {
        maybe_free(r);
        return;
    }
    if (r->fatal) {
        r->st = ST_FATAL;
        if (r->guard.on_fatal)
            r->guard.on_fatal(r, r->fatal, r->fatal_msg, r->guard.arg);
        return;
    }
    if (r->hs_failed)
        set_down(r, r->hs_err);
    else
        set_down(r, status == 0 ? "connection closed"
                                : duro__tconn_pub(ac)->errstr);
    if (!r->closing) /* on_state may have closed us */
        schedule_reconnect(r);
}

/* abandon_ctx drops the current connection from outside its callbacks
 * (timer, close): pending commands get NULL now, and its own callbacks that
 * still come are ignored because data is NULL. */
static void abandon_ctx(duro_aredis *r)
{
    duro__tconn *ac = r->ac;
    if (!ac) return;
    if (duro__tconn_in_callback(ac)) {
        /* Inside one of this connection's reply callbacks: it is freed
         * after the callback returns and then calls onDisconnect, which
         * must still find us to finish the close. */
        duro__tconn_free(ac);
        return;
    }
    duro__tconn_pub(ac)->data = NULL;
    r->ac = NULL;
    r->ac_alive = 0;
    duro__tconn_free(ac);
}

static void on_timer(uv_timer_t *t)
{
    duro_aredis *r = t->data;
    if (r->closing) return;
    if (r->cl) {
        r->router->tick(r);
        return;
    }
    if (r->st == ST_WAIT) {
        start_connect(r);
        return;
    }
    if (r->st == ST_FATAL) {
        if (r->guard.on_fatal)
            r->guard.on_fatal(r, r->fatal, r->fatal_msg, r->guard.arg);
        return;
    }
    if (r->st == ST_UP) {
        arm_guard(r);
        return;
    }
    if (r->st == ST_CONNECTING || r->st == ST_HANDSHAKE) {
        abandon_ctx(r);
        set_down(r, "connect timed out");
        schedule_reconnect(r);
    }
}

void duro__aredis_arm(duro_aredis *r, int64_t ms)
{
    if (!r->closing) uv_timer_start(&r->timer, on_timer, (uint64_t)ms, 0);
}

/* schedule_reconnect waits 100ms doubling to 5s, with +-25% jitter so that
 * a fleet does not reconnect in lockstep after a Redis restart. */
static void schedule_reconnect(duro_aredis *r)
{
    r->st = ST_WAIT;
    r->backoff_ms = r->backoff_ms ? r->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (r->backoff_ms > BACKOFF_MAX_MS) r->backoff_ms = BACKOFF_MAX_MS;
    int64_t jitter = r->backoff_ms / 4;
    int64_t d =
        r->backoff_ms - jitter + (jitter ? rand() % (2 * jitter + 1) : 0);
    uv_timer_start(&r->timer, on_timer, (uint64_t)d, 0);
}

static void start_connect(duro_aredis *r)
{
    char err[256];
    int code = 0;
    /* Through Sentinel, ask where the master is now (blocking, at most
     * DURO_SENTINEL_TIMEOUT_MS per sentinel: only while (re)connecting). */
    if (r->url.sentinels > 0 &&
        duro__sentinel_resolve(&r->url, err, sizeof(err)) != 0) {
        set_down(r, err);
        schedule_reconnect(r);
        return;
    }
    duro__tconn *ac =
        duro__tconn_new(r->loop, &r->url, on_connect, on_disconnect, r, &code,
                        err, sizeof(err));
    if (!ac) {
        /* A CA, certificate or key file that cannot be loaded does not get
         * better by retrying. */
        if (code == DURO_EINVAL) {
            fatal_later(r, code, err);
            return;
        }
        set_down(r, err);
        schedule_reconnect(r);
        return;
    }
    r->ac = ac;
    r->ac_alive = 1;
    r->st = ST_CONNECTING;
    r->dying = 0;
    r->send_seq = 0;
    r->ping_out = 0;
    r->sample_left = 0;
    uv_timer_start(&r->timer, on_timer, CONNECT_TIMEOUT_MS, 0);
}

/* ---- Public lifecycle ---- */

int duro__aredis_open(duro_aredis **out, uv_loop_t *loop,
                      const duro_redis_url *url, const char *name,
                      duro_aredis_state_cb on_state, void *arg,
                      const duro__arouter *router)
{
    if (!out || !loop || !url || !url->host[0] || url->port <= 0)
        return DURO_EINVAL;
    duro_aredis *r = calloc(1, sizeof(*r));
    if (!r) return DURO_ENOMEM;
    r->name = strdup(name && *name ? name : "redis");
    if (!r->name) {
        free(r);
        return DURO_ENOMEM;
    }
    r->loop = loop;
    r->url = *url;
    r->on_state = on_state;
    r->arg = arg;
    r->router = router;
    r->st = ST_WAIT;
    uv_timer_init(loop, &r->timer);
    r->timer.data = r;
    if (url->cluster) {
        /* redis+cluster:// seeds: a router from the start */
        if (router->init(r, NULL) != 0) {
            r->closing = 1;
            uv_close((uv_handle_t *)&r->timer, on_timer_closed);
            return DURO_ENOMEM;
        }
        *out = r;
        return 0;
    }
    /* a redis:// server may be a cluster node: its handshake says */
    r->detect = url->sentinels == 0;
    start_connect(r);
    *out = r;
    return 0;
}

bool duro_aredis_connected(const duro_aredis *r)
{
    if (r && r->cl) return !r->closing && r->router->up(r);
    return r && r->st == ST_UP && !r->closing && !r->dying;
}

bool duro_aredis_is_cluster(const duro_aredis *r)
{
    return r && r->cl;
}

unsigned long duro_aredis_reconnects(const duro_aredis *r)
{
    if (r && r->cl) return r->router->reconnects(r);
    return r ? r->reconnects : 0;
}

void duro_aredis_close(duro_aredis *r)
{
    if (!r || r->closing) return;
    r->closing = 1;
    r->st = ST_WAIT;
    uv_timer_stop(&r->timer);
    uv_close((uv_handle_t *)&r->timer, on_timer_closed);
    abandon_ctx(r);
    if (r->cl) r->router->close(r);
    /* freed by on_timer_closed or on_disconnect, whichever comes last */
}
