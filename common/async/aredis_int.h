/* aredis_int.h: the duro_aredis struct, shared by aredis.c (connecting),
 * aredis_cmd.c (commands), aredis_guard.c (stalls, the open-workflow
 * count) and aredis_sub.c (subscriptions). The bytes go through
 * transport.c. */
#ifndef DURO_AREDIS_INT_H
#define DURO_AREDIS_INT_H

#include <stdint.h>
#include <uv.h>

#include "duro/aredis.h"
#include "transport.h"

typedef struct sub {
    struct sub *next;
    duro_aredis *r;
    char *channel;
    duro_aredis_cb cb;
    void *arg;
    int sharded; /* SSUBSCRIBE (duro_aredis_ssubscribe) */
    /* cluster mode (aredis_csub.c): the master's connection it is on, and
     * whether the (S)SUBSCRIBE went out on its current connection */
    int slot;
    duro_aredis *kid;
    int active;
} sub;

struct acluster; /* aredis_cluster.c */

/* duro__arouter: what a cluster router does in place of a connection
 * (aredis_cluster.c, aredis_route.c, aredis_csub.c). The connection code
 * (aredis.c, aredis_cmd.c, aredis_sub.c) reaches the router only through
 * r->router, set by duro_aredis_new (aredis_cluster.c): calls go from the
 * router down to the connections it is made of, never back up. */
typedef struct duro__arouter {
    /* makes r a router (see duro__acluster_new) */
    int (*init)(duro_aredis *r, const redisReply *slots);
    void (*tick)(duro_aredis *r);
    int (*command)(duro_aredis *r, duro_aredis_cb cb, void *arg,
                   const duro_argv *a);
    void (*place_subs)(duro_aredis *r);
    bool (*up)(const duro_aredis *r);
    unsigned long (*reconnects)(const duro_aredis *r);
    void (*close)(duro_aredis *r);
    void (*free)(duro_aredis *r);
} duro__arouter;

enum state { ST_WAIT, ST_CONNECTING, ST_HANDSHAKE, ST_UP, ST_FATAL };

/* hs_kind: which handshake command a reply answers. */
enum hs_kind {
    HS_AUTH,
    HS_SELECT,
    HS_PING,
    HS_META_NEW,
    HS_META_SCHEMA,
    HS_META_GET,
    HS_ROLE,   /* through Sentinel: the server must be the master */
    HS_SLOTS,  /* CLUSTER SLOTS: is a redis:// server a cluster node? */
    HS_VERSION /* a cluster master: FCALL duro_version 0 */
};
#define HS_MAX 8

struct duro_aredis {
    uv_loop_t *loop;
    duro__tconn *ac; /* current connection, or NULL */
    int ac_alive;    /* a connection that knows us is still alive */
    enum state st;
    duro_redis_url url;
    char *name;
    duro_aredis_state_cb on_state;
    void *arg;
    uv_timer_t timer;
    int timer_closed;
    int closing;
    int hs_pending; /* handshake replies still expected */
    int hs_failed;
    int hs_code;      /* DURO_E* of the first failure */
    char hs_err[256]; /* why the handshake failed, for the DOWN line */
    enum hs_kind hs_kinds[HS_MAX];
    int hs_sent, hs_seen;
    int meta_created; /* HSETNX created duro:meta on this connect */
    long meta_parts;  /* what HGET found, 0 if nothing usable */
    int fatal;        /* DURO_E* that stopped reconnecting, or 0 */
    char fatal_msg[320];
    duro_aredis_guard_opts guard;
    int ping_out; /* a guard PING is in flight */
    int64_t ping_sent_ms;
    int stalled;
    int64_t stall_start_ms;
    int sample_left; /* ZCARD replies still expected */
    unsigned long long sample_sum, open_known;
    int64_t sample_ms; /* when open_known was counted; 0: never */
    int64_t next_sample_ms;
    int dying; /* the current context is being torn down */
    int64_t backoff_ms;
    int was_up;      /* reached UP at least once */
    int down_logged; /* a DOWN line was written since the last UP */
    unsigned long reconnects;
    unsigned long long send_seq; /* commands written on this context */
    /* the reload of the Functions library under way on this context
     * (aredis_cmd.c), or NULL */
    struct duro__areload *reloading;
    int64_t load_refused_ms; /* when the ACL last refused a LOAD, or 0 */
    sub *subs;
    /* Redis Cluster (aredis_cluster.c). A router (cl set) has no connection
     * of its own: it routes over one child duro_aredis per master (parent
     * set in those). */
    struct acluster *cl;
    const duro__arouter *router; /* the router r becomes (duro__arouter) */
    duro_aredis *parent;
    int kids_alive;       /* children not freed yet */
    int detect;           /* the handshake asks CLUSTER SLOTS */
    redisReply *hs_slots; /* the map the handshake found, or NULL */
    int sharded_lib;      /* load duro_lua_library_source(true, ...) */
    int lib_check;        /* the handshake checks the library's version */
    long long lib_have;   /* what it found: 0 missing, -1 unknown */
};

/* duro__aredis_send_subscribe sends SUBSCRIBE for s on r's context
 * (aredis_sub.c). 0 or DURO_ECONN. */
int duro__aredis_send_subscribe(duro_aredis *r, sub *s);

/* duro__aredis_guard_tick: one guard tick while UP (PING, stall, count).
 * Returns the delay to the next tick in ms, or -1 when the owner closed
 * the connection from its on_stall callback. */
int64_t duro__aredis_guard_tick(duro_aredis *r);

/* duro__aredis_stall_end: the stall (if any) is over; `how` is appended to
 * the REDIS STALL END line. */
void duro__aredis_stall_end(duro_aredis *r, const char *how);

/* duro__aredis_report_meta: after the handshake's duro:meta check, says
 * (REDIS LOST DATA) when duro:meta had to be restored: Redis lost all it
 * held. */
void duro__aredis_report_meta(duro_aredis *r);

/* duro__aredis_hs_note records one handshake reply of kind in r (NULL:
 * the connection ac ended) (aredis_handshake.c). */
void duro__aredis_hs_note(duro_aredis *r, duro__tconn *ac, enum hs_kind kind,
                          redisReply *rep);

/* duro__aredis_load_library sends FUNCTION LOAD [REPLACE] of the library
 * (the sharded copy when r->sharded_lib) on r's connection, for the
 * handshake; its reply is logged (aredis_cmd.c). Without `replace` a
 * library already there stays, unless older than ours or not Duro's.
 * (A reload after "function not found" is aredis_cmd.c's own.) 0 or
 * DURO_ECONN. */
int duro__aredis_load_library(duro_aredis *r, bool replace);

/* duro__aredis_open: duro_aredis_new, with the router r becomes when its
 * URL or its server says Redis Cluster (aredis.c). */
int duro__aredis_open(duro_aredis **out, uv_loop_t *loop,
                      const duro_redis_url *url, const char *name,
                      duro_aredis_state_cb on_state, void *arg,
                      const duro__arouter *router);

/* duro__aredis_kid_new: a connection to master a of cluster router r
 * (aredis_cluster.c): r's credentials and TLS, database 0; master: its
 * handshake checks the library. Its state goes to on_state with arg r. NULL
 * when out of memory. */
duro_aredis *duro__aredis_kid_new(duro_aredis *r, const duro_redis_addr *a,
                                  int master, duro_aredis_state_cb on_state);

/* duro__aredis_arm: r's timer fires in ms (a router's tick). */
void duro__aredis_arm(duro_aredis *r, int64_t ms);

/* ---- aredis_cluster.c ---- */

/* duro__acluster_new makes r a cluster router; with a map (a redis://
 * server's handshake found one: borrowed) it starts from it, else it asks
 * the URL's seeds. 0 or DURO_ENOMEM. */
int duro__acluster_new(duro_aredis *r, const redisReply *slots);
/* duro__acluster_tick: the router's timer (retries, map refresh). */
void duro__acluster_tick(duro_aredis *r);
int duro__acluster_command(duro_aredis *r, duro_aredis_cb cb, void *arg,
                           const duro_argv *a);
bool duro__acluster_up(const duro_aredis *r);
unsigned long duro__acluster_reconnects(const duro_aredis *r);
/* duro__acluster_close closes the children and answers the commands
 * waiting for a retry with NULL. */
void duro__acluster_close(duro_aredis *r);
void duro__acluster_free(duro_aredis *r);
/* ---- aredis_cmap.c: the router's lookups in its map ---- */

/* duro__acluster_kid: r's connection to the master serving slot, or NULL;
 * slot -1: any connected master that has no subscription (it can run
 * commands), -2: any connected master. */
duro_aredis *duro__acluster_kid(duro_aredis *r, int slot);
/* duro__acluster_moved: a MOVED (or a sharded channel's) redirect: slot
 * now lives at addr; the map refresh is scheduled. */
void duro__acluster_moved(duro_aredis *r, int slot,
                          const duro_redis_addr *addr);
void duro__acluster_want_refresh(duro_aredis *r);
/* duro__acsub_count: subscriptions placed on kid. */
int duro__acsub_count(const duro_aredis *r, const duro_aredis *kid);

/* ---- aredis_csub.c: subscriptions of a cluster router ---- */

/* duro__acsub_place puts every subscription on the connection it belongs
 * to now (a sharded channel: its slot's master; a classic one: any
 * connected master), unsubscribing where it moved from. */
void duro__acsub_place(duro_aredis *r);
/* duro__acsub_kid_gone: kid went down (closed: also forget it). */
void duro__acsub_kid_gone(duro_aredis *r, duro_aredis *kid, int closed);

/* owner_of: the duro_aredis a connection belongs to, or NULL once it
 * was abandoned (its late callbacks are then ignored). */
static inline void *owner_of(duro__tconn *ac)
{
    return duro__tconn_pub(ac)->data;
}

#endif
