/* aredis.h: an asynchronous Redis connection on a libuv loop, plain TCP or
 * TLS (rediss://), that reconnects by itself and reloads the Functions
 * library when Redis lost it. The worker and the scheduler talk to Redis
 * through it.
 *
 * Redis Cluster: when the URL is redis+cluster:// (seeds), or a redis://
 * server answers CLUSTER SLOTS with a map (asked once per connect until
 * the first success; a standalone server's "cluster support disabled" and
 * any other error leave everything as on one server), the handle becomes
 * a router: one connection per master (each reconnecting, with the URL's
 * credentials and TLS, database 0, the stall guard and DURO_REDIS_WAIT as
 * on one server), each command sent to the master of its slot
 * (duro_cluster_argv_slot; a keyless one to any master), MOVED and ASK
 * followed, TRYAGAIN and CLUSTERDOWN sent again for up to 5s, the slot map
 * refreshed after a redirection, a lost master, and every second while a
 * master is missing. Each master's library is checked when its connection
 * comes up and loaded (the sharded_wake copy, lua.h) when missing or
 * older. docs/internals.md, "Redis Cluster: the async connection". */
#ifndef DURO_AREDIS_H
#define DURO_AREDIS_H

#include <stdbool.h>
#include <stdint.h>
#include <hiredis/hiredis.h>
#include <uv.h>
#include "duro/config.h"
#include "duro/export.h"
#include "duro/redis.h"

typedef struct duro_aredis duro_aredis;

/* duro_aredis_cb receives the reply of one command, exactly once. reply is
 * NULL when the connection failed or was closed before the reply came (the
 * command may or may not have run). Error replies are passed as replies.
 * The reply is freed by the library after the callback returns. */
typedef void (*duro_aredis_cb)(duro_aredis *r, redisReply *reply, void *arg);

/* duro_aredis_state_cb is called on every connected/disconnected change
 * (after AUTH/SELECT succeeded for "connected"). On a cluster, connected
 * means: the slot map is known and every master that serves slots has its
 * connection up (each master's own connection also says when it is up; a
 * command to a master that is up is sent even while another is down). */
typedef void (*duro_aredis_state_cb)(duro_aredis *r, bool connected, void *arg);

/* duro_aredis_new creates the connection and starts connecting; it keeps
 * reconnecting with capped exponential backoff (100ms doubling to 5s, with
 * jitter), logging once per state change. `name` appears in logs.
 * Returns 0 or DURO_ENOMEM/DURO_EINVAL. */
DURO_EXPORT int duro_aredis_new(duro_aredis **out, uv_loop_t *loop,
                                const duro_redis_url *url, const char *name,
                                duro_aredis_state_cb on_state, void *arg);

/* duro_aredis_fatal_cb: the connection met a problem that retrying cannot
 * fix and stopped reconnecting: code is DURO_EAUTH (credentials or rights
 * refused; rediss://: a certificate refused on either side), DURO_EINVAL (a
 * bad database number, duro:meta holds another partition count than the
 * process runs with, or a TLS CA, certificate or key file that cannot be
 * loaded) or DURO_EPROTO (duro:meta unreadable); msg says which, naming both
 * counts for a layout mismatch. The owner should stop and exit non-zero. Runs
 * at most once. */
typedef void (*duro_aredis_fatal_cb)(duro_aredis *r, int code, const char *msg,
                                     void *arg);

/* duro_aredis_stall_cb: Redis stopped answering a PING within the stall
 * timeout (stalled = true), or answered again (false). */
typedef void (*duro_aredis_stall_cb)(duro_aredis *r, bool stalled, void *arg);

/* duro_aredis_guard_opts: what a connection watches for its owner; zero
 * fields turn the watch off.
 *
 *   partitions: the layout the process runs with. Every connect (the first
 *     and each reconnect) checks duro:meta before the connection counts as
 *     up: a missing meta (Redis came back empty) is restored with this
 *     count and logged as "REDIS LOST DATA ... N workflows may be gone" (N:
 *     the open workflows the connection last counted; it counts them every
 *     DURO_AREDIS_SAMPLE_MS); another count is fatal. Only one connection
 *     per process needs it (the commands one).
 *   stall_timeout_ms: while up, a PING is kept in flight; when it has not
 *     been answered for this long the connection is "stalled" (logged once
 *     as REDIS STALL, and REDIS STALL END with the duration when Redis
 *     answers again). Not for a connection that blocks (XREADGROUP BLOCK)
 *     or subscribes.
 *   on_fatal: see duro_aredis_fatal_cb. Without it a fatal problem is only
 *     logged and the connection stays down. Credentials refused (WRONGPASS,
 *     NOAUTH, NOPERM) and a bad database are fatal on every connection,
 *     guarded or not.
 *   on_stall: see duro_aredis_stall_cb (duro_aredis_stalled polls it). */
typedef struct {
    int partitions;
    int64_t stall_timeout_ms;
    duro_aredis_fatal_cb on_fatal;
    duro_aredis_stall_cb on_stall;
    void *arg;
} duro_aredis_guard_opts;

#define DURO_AREDIS_SAMPLE_MS 10000
#define DURO_REDIS_STALL_TIMEOUT_MS 5000

/* duro_aredis_guard sets what the connection watches (copied). Call it
 * right after duro_aredis_new, before the loop runs again. */
DURO_EXPORT void duro_aredis_guard(duro_aredis *r,
                                   const duro_aredis_guard_opts *g);

/* duro_aredis_stalled: a stall (see duro_aredis_guard_opts) is going on. */
DURO_EXPORT bool duro_aredis_stalled(const duro_aredis *r);

/* duro_aredis_command sends argv (copied). Returns 0 (cb runs exactly once)
 * or DURO_ECONN when not connected (cb never runs; on a cluster: when the
 * master of the command's slot is not). An FCALL answered with "function
 * not found" is retried once after FUNCTION LOAD REPLACE of the embedded
 * library (on a cluster: its sharded_wake copy, on that master); cb sees
 * the second reply. On a cluster, cb sees neither MOVED nor ASK, and
 * TRYAGAIN or CLUSTERDOWN only when they lasted 5s. */
DURO_EXPORT int duro_aredis_command(duro_aredis *r, duro_aredis_cb cb,
                                    void *arg, const duro_argv *a);

/* duro_aredis_subscribe subscribes to a channel and calls cb for each
 * message (reply is the ["message", channel, payload] array), and again
 * after every reconnect. The connection must be used for nothing else. On
 * a cluster (where PUBLISH reaches every node) it subscribes on one
 * connected master and moves to another when that one goes. */
DURO_EXPORT int duro_aredis_subscribe(duro_aredis *r, const char *channel,
                                      duro_aredis_cb cb, void *arg);

/* duro_aredis_ssubscribe subscribes to a sharded channel (SSUBSCRIBE, Redis
 * 7): cb gets each ["smessage", channel, payload]. On a cluster it is sent
 * on the connection to the master serving the channel's slot, and again
 * after a reconnect, a failover, or the slot moving (Redis sends the
 * subscriber an "sunsubscribe"; the new master is found by MOVED and the
 * map). Several channels share one connection per master. On one server
 * it is an SSUBSCRIBE there, sent again after every reconnect. The
 * connection must be used for nothing else (classic subscriptions may
 * share it). 0, DURO_EINVAL or DURO_ENOMEM; a message published while no
 * connection was subscribed is lost (callers poll as a fallback). */
DURO_EXPORT int duro_aredis_ssubscribe(duro_aredis *r, const char *channel,
                                       duro_aredis_cb cb, void *arg);

/* duro_aredis_is_cluster: r routes over a Redis Cluster's masters (known
 * once connected: a redis:// URL's first connect decides). */
DURO_EXPORT bool duro_aredis_is_cluster(const duro_aredis *r);

DURO_EXPORT bool duro_aredis_connected(const duro_aredis *r);
/* duro_aredis_reconnects: how many times the connection was re-established. */
DURO_EXPORT unsigned long duro_aredis_reconnects(const duro_aredis *r);

/* duro_aredis_close disconnects; callbacks of pending commands run with
 * NULL; the memory is released once libuv has closed its handles (so the
 * loop can run to completion with no handles left). Safe to call from
 * inside a callback. */
DURO_EXPORT void duro_aredis_close(duro_aredis *r);

#endif
