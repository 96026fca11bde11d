/* aredis_guard.c: what a guarded duro_aredis watches while it is up: a
 * Redis that stops answering (a stall: SIGSTOP, a frozen VM, a long
 * blocking script), and how many workflows were open, so that a Redis that
 * comes back empty (aredis.c's handshake restores duro:meta) is reported
 * with what it held.
 *
 * One PING is kept in flight: it is sent on a tick when none is, and the
 * connection is stalled once it has waited stall_timeout_ms. The ticks run
 * on the connection's timer (idle while UP otherwise), every quarter of
 * the stall timeout (20ms..1s). */
#include <stdio.h>
#include <string.h>

#include "duro/clock.h"
#include "duro/keys.h"
#include "duro/log.h"
#include "aredis_int.h"

void duro__aredis_stall_end(duro_aredis *r, const char *how)
{
    if (!r->stalled) return;
    r->stalled = 0;
    duro_info("REDIS STALL END name=%s addr=%s:%d duration=%lldms%s", r->name,
              r->url.host, r->url.port,
              (long long)(duro_mono_ms() - r->stall_start_ms), how);
    if (r->guard.on_stall && !r->closing)
        r->guard.on_stall(r, false, r->guard.arg);
}

/* ---- Stalls and the open-workflow count ---- */

static void on_ping(duro__tconn *ac, redisReply *reply, void *privdata)
{
    duro_aredis *r = privdata;
    if (owner_of(ac) != r || !reply) return; /* teardown: set_down saw to it */
    r->ping_out = 0;
    duro__aredis_stall_end(r, "");
}

static void on_sample(duro__tconn *ac, redisReply *rep, void *privdata)
{
    duro_aredis *r = privdata;
    if (owner_of(ac) != r || !rep || r->sample_left <= 0) return;
    if (rep->type == REDIS_REPLY_INTEGER && rep->integer > 0)
        r->sample_sum += (unsigned long long)rep->integer;
    if (--r->sample_left == 0) {
        r->open_known = r->sample_sum;
        r->sample_ms = duro_mono_ms();
    }
}

/* send_sample counts the open workflows: ZCARD of each partition's
 * vx:status:RUNNING index, plus its idx:open (where a library before
 * visibility rows kept them; empty once the scheduler migrated it),
 * pipelined. */
static void send_sample(duro_aredis *r)
{
    r->sample_sum = 0;
    r->sample_left = 0;
    duro_keyspace ks; /* the default namespace's: the one every project has */
    duro_keyspace_init(&ks, NULL, r->guard.partitions);
    for (int p = 0; p < r->guard.partitions; p++) {
        for (int i = 0; i < 2; i++) {
            char key[DURO_SHORT_KEY_MAX];
            if (i == 0)
                duro_key_vx(key, sizeof(key), &ks, p, "status:RUNNING");
            else
                duro_key_idx_open(key, sizeof(key), &ks, p);
            const char *argv[2] = {"ZCARD", key};
            size_t lens[2] = {5, strlen(key)};
            if (duro__tconn_command(r->ac, on_sample, r, 2, argv, lens) != 0)
                return;
            r->sample_left++;
        }
    }
}

static int64_t guard_tick_ms(const duro_aredis *r)
{
    int64_t t =
        r->guard.stall_timeout_ms > 0 ? r->guard.stall_timeout_ms / 4 : 1000;
    return t < 20 ? 20 : t > 1000 ? 1000 : t;
}

int64_t duro__aredis_guard_tick(duro_aredis *r)
{
    int64_t now = duro_mono_ms();
    if (r->guard.stall_timeout_ms > 0) {
        if (!r->ping_out) {
            const char *argv[1] = {"PING"};
            size_t lens[1] = {4};
            if (duro__tconn_command(r->ac, on_ping, r, 1, argv, lens) == 0) {
                r->ping_out = 1;
                r->ping_sent_ms = now;
            }
        } else if (!r->stalled &&
                   now - r->ping_sent_ms >= r->guard.stall_timeout_ms) {
            r->stalled = 1;
            r->stall_start_ms = r->ping_sent_ms;
            duro_warn("REDIS STALL name=%s addr=%s:%d no reply for %lldms "
                      "(stall timeout %lldms)",
                      r->name, r->url.host, r->url.port,
                      (long long)(now - r->ping_sent_ms),
                      (long long)r->guard.stall_timeout_ms);
            if (r->guard.on_stall) r->guard.on_stall(r, true, r->guard.arg);
            if (r->closing || r->st != ST_UP) return -1; /* closed by it */
        }
    }
    if (r->guard.partitions > 0 && !r->sample_left &&
        now >= r->next_sample_ms) {
        send_sample(r);
        r->next_sample_ms = now + DURO_AREDIS_SAMPLE_MS;
    }
    return guard_tick_ms(r);
}

/* ---- Reporting a lost Redis ---- */

void duro__aredis_report_meta(duro_aredis *r)
{
    if (!r->meta_created) return;
    if (r->sample_ms)
        duro_error("REDIS LOST DATA name=%s addr=%s:%d: Redis lost its data: "
                   "%llu workflows may be gone (open %llds before); duro:meta "
                   "restored with partitions=%d",
                   r->name, r->url.host, r->url.port, r->open_known,
                   (long long)((duro_mono_ms() - r->sample_ms) / 1000),
                   r->guard.partitions);
    else
        duro_error("REDIS LOST DATA name=%s addr=%s:%d: Redis lost its data "
                   "(duro:meta was missing; workflows started before may be "
                   "gone); duro:meta restored with partitions=%d",
                   r->name, r->url.host, r->url.port, r->guard.partitions);
}

/* ---- Public ---- */

void duro_aredis_guard(duro_aredis *r, const duro_aredis_guard_opts *g)
{
    if (!r) return;
    if (g)
        r->guard = *g;
    else
        memset(&r->guard, 0, sizeof(r->guard));
}

bool duro_aredis_stalled(const duro_aredis *r)
{
    return r && r->stalled;
}
