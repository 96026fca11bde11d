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
} sub;

enum state { ST_WAIT, ST_CONNECTING, ST_HANDSHAKE, ST_UP, ST_FATAL };

/* hs_kind: which handshake command a reply answers. */
enum hs_kind {
    HS_AUTH,
    HS_SELECT,
    HS_PING,
    HS_META_NEW,
    HS_META_SCHEMA,
    HS_META_GET,
    HS_ROLE /* through Sentinel: the server must be the master */
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
    unsigned long long load_seq; /* send_seq right after the last LOAD */
    int64_t load_refused_ms;     /* when the ACL last refused a LOAD, or 0 */
    sub *subs;
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

/* owner_of: the duro_aredis a connection belongs to, or NULL once it
 * was abandoned (its late callbacks are then ignored). */
static inline void *owner_of(duro__tconn *ac)
{
    return duro__tconn_pub(ac)->data;
}

#endif
