/* streams.c: the task streams: reading them, their consumer groups, and
 * keeping one bad key from stalling the others (their names:
 * stream_keys.c; acking and dead-lettering an entry: stream_ack.c).
 *
 * A worker reads every partition's stream of a kind in one XREADGROUP.
 * Redis answers such a read with one error when any of its keys is bad: a
 * key of another type (WRONGTYPE, e.g. a string SET over a stream by hand)
 * or a stream without the group (NOGROUP, after Redis lost its data). So a
 * read that fails with an error that is not transient starts a check of
 * every stream, one TYPE each:
 *
 *   none or stream  ──▶ XGROUP CREATE <key> duro 0 MKSTREAM (BUSYGROUP: fine)
 *   anything else   ──▶ broken: left out of the reads, logged, counted in
 *                       duro_worker_broken_streams; TYPE again every
 *                       DURO_STREAM_RECHECK_MS until it is a stream or gone,
 *                       then the group is (re-)created and it rejoins.
 *
 * No read is sent while a check is out; the check's last reply polls
 * (through w->poll: calls go down from the lifecycle, never back up).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/clock.h"
#include "duro/errno.h"
#include "duro/keys.h"
#include "duro/log.h"
#include "duro/stream_fields.h"
#include "worker_internal.h"

/* probe: one stream being checked. */
typedef struct {
    duro_worker *w;
    int index; /* kind * partitions + p */
} probe;

static const char *key_at(const duro_worker *w, int index)
{
    return duro__stream_key(w, index / w->partitions, index % w->partitions);
}

/* ---- Reading ---- */

/* push_streams appends STREAMS, then partitions from..to-1's healthy
 * streams of the kinds listed, then their ids. Returns how many. */
static int push_streams(duro_worker *w, duro_argv *a, const int *kinds,
                        int nkinds, int from, int to)
{
    duro_argv_push(a, "STREAMS");
    int n = 0;
    const char *bells = duro__level_bells(w, kinds, nkinds);
    for (int pass = 0; pass < 2; pass++) { /* the keys, then their ids */
        if (bells) duro_argv_push(a, pass == 0 ? bells : ">");
        for (int i = 0; i < nkinds; i++)
            for (int p = from; p < to; p++) {
                if (!duro__stream_key(w, kinds[i], p) ||
                    !duro__level_read(w, kinds[i], p))
                    continue;
                if (w->stream_broken &&
                    w->stream_broken[kinds[i] * w->partitions + p])
                    continue;
                if (pass == 0) {
                    duro_argv_push(a, duro__stream_key(w, kinds[i], p));
                    n++;
                    continue;
                }
                /* "0": what this consumer name was given and never
                 * acknowledged: a crashed earlier process of the same
                 * name, or a reply lost with the connection */
                bool own = kinds[i] == DURO_STREAM_STICKY && w->sticky_recover;
                duro_argv_push(a, own ? "0" : ">");
            }
    }
    return n;
}

/* read_head: XREADGROUP GROUP duro <identity> COUNT count */
static void read_head(duro_worker *w, duro_argv *a, long long count)
{
    duro_argv_init(a);
    duro_argv_push(a, "XREADGROUP");
    duro_argv_push(a, "GROUP");
    duro_argv_push(a, DURO_GROUP);
    duro_argv_push(a, w->identity);
    duro_argv_push(a, "COUNT");
    duro_argv_pushll(a, count);
}

int duro__xreadgroup_argv(duro_worker *w, duro_argv *a, long long count,
                          const int *kinds, int nkinds)
{
    read_head(w, a, count);
    duro_argv_push(a, "BLOCK");
    duro_argv_pushll(a, READ_BLOCK_MS);
    return push_streams(w, a, kinds, nkinds, 0, w->partitions);
}

int duro__xreadgroup_part_argv(duro_worker *w, duro_argv *a, long long count,
                               const int *kinds, int nkinds, int p)
{
    read_head(w, a, count);
    return push_streams(w, a, kinds, nkinds, p, p + 1);
}

int duro__read_entries(duro_worker *w, const redisReply *reply, const char *tag,
                       duro_entry_fn fn)
{
    if (!reply) { /* reconnecting restarts the reads */
        duro__level_release(w, fn);
        return -1;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        duro__level_release(w, fn);
        duro_warn_limited(NULL, "READ-FAILED read=%s err=%s", tag, reply->str);
        duro__read_failed(w, reply->str);
        return -1; /* the check or the backoff reads again */
    }
    duro__read_worked(w);
    if (reply->type == REDIS_REPLY_ARRAY) /* else nil: a timeout */
        return duro__level_entries(w, reply, fn);
    duro__level_release(w, fn);
    return 0;
}

/* ---- Backing off ----
 *
 * A read answered with an error is not sent again at once: after Redis
 * lost its data the read connections may be back before the command
 * connection the check needs, and every read would fail (NOGROUP) the
 * moment it is sent, hundreds a second. The first failure checks the
 * streams at once and reads again when the check is done; from the
 * second on, the reads wait READ_BACKOFF_MAX_MS at most (jittered), then
 * check (if the error asked for it) and read. */

#define READ_BACKOFF_MAX_MS 2000

static duro_worker *of_read_retry(duro__later *l)
{
    return (duro_worker *)(void *)((char *)l -
                                   offsetof(duro_worker, read_retry));
}

/* read_again: the backoff is over: check (the check reads when done), or
 * read. */
static void read_again(duro__later *l)
{
    duro_worker *w = of_read_retry(l);
    if (w->check_wanted) duro__streams_check(w, true);
    if (w->probing == 0) w->poll(w);
}

void duro__read_failed(duro_worker *w, const char *err)
{
    if (!duro_err_is_transient(duro_redis_error_code(err)))
        w->check_wanted = true;
    if (w->read_retry.waiting) return; /* one backoff for every read */
    duro__retry_later(w, &w->read_retry, read_again);
    if (w->read_retry.tries == 1 && w->check_wanted)
        duro__streams_check(w, true); /* reads at once when it is done */
}

void duro__read_worked(duro_worker *w)
{
    w->read_retry.tries = 0;
}

bool duro__reads_held(const duro_worker *w)
{
    return w->read_retry.waiting;
}

void duro__streams_connected(duro_worker *w)
{
    if (!w->check_wanted) return;
    duro__later_cancel(w, &w->read_retry);
    duro__streams_check(w, true);
}

/* ---- Checking ---- */

/* probe_done: a check's last reply reads again, at once after the first
 * failure (the check has recreated what the read missed). */
static void probe_done(duro_worker *w)
{
    if (--w->probing > 0) return;
    if (w->read_retry.tries <= 1) duro__later_cancel(w, &w->read_retry);
    w->poll(w);
}

static void set_broken(duro_worker *w, int index, bool broken, const char *type)
{
    if (w->stream_broken[index] == broken) return;
    w->stream_broken[index] = broken;
    w->nbroken += broken ? 1 : -1;
    /* logged on each change only: at most once per key and re-check */
    if (broken)
        duro_warn("STREAM-BROKEN key=%s type=%s: left out of the reads, "
                  "re-checked every %ds",
                  key_at(w, index), type, DURO_STREAM_RECHECK_MS / 1000);
    else
        duro_info("STREAM-REPAIRED key=%s: read again", key_at(w, index));
}

static void on_group(duro_aredis *r, redisReply *reply, void *arg)
{
    probe *pr = arg;
    duro_worker *w = pr->w;
    /* OK, or BUSYGROUP (it was there): readable either way; anything
     * else shows up again at the next read */
    if (reply && reply->type != REDIS_REPLY_ERROR)
        duro_info("GROUP-CREATED key=%s", key_at(w, pr->index));
    if (reply) set_broken(w, pr->index, false, NULL);
    free(pr);
    probe_done(w);
}

/* TYPE key -> +stream, +none, +string, ... */
static void on_type(duro_aredis *r, redisReply *reply, void *arg)
{
    probe *pr = arg;
    duro_worker *w = pr->w;
    const char *type =
        reply && reply->type == REDIS_REPLY_STATUS ? reply->str : NULL;
    if (type && strcmp(type, "stream") != 0 && strcmp(type, "none") != 0) {
        set_broken(w, pr->index, true, type);
    } else if (type) {
        duro_argv a;
        duro_argv_init(&a);
        duro_argv_push(&a, "XGROUP");
        duro_argv_push(&a, "CREATE");
        duro_argv_push(&a, key_at(w, pr->index));
        duro_argv_push(&a, DURO_GROUP);
        duro_argv_push(&a, "0");
        duro_argv_push(&a, "MKSTREAM");
        int rc = duro_aredis_command(w->cmd, on_group, pr, &a);
        duro_argv_free(&a);
        if (rc == 0) return; /* on_group finishes the probe */
    }
    free(pr);
    probe_done(w);
}

static void on_registered(duro_aredis *r, redisReply *reply, void *arg)
{
    probe_done(arg);
}

void duro__streams_check(duro_worker *w, bool all)
{
    if (w->probing > 0 || !w->cmd || !duro_aredis_connected(w->cmd)) return;
    int n = DURO_STREAM_KINDS * w->partitions;
    if (!w->stream_broken &&
        !(w->stream_broken = calloc((size_t)n, sizeof(bool))))
        return;
    w->next_recheck_ms = duro_mono_ms() + DURO_STREAM_RECHECK_MS;
    w->check_wanted = false;
    w->probing = 1; /* held until every probe is sent */
    for (int i = 0; i < n; i++) {
        if ((!all && !w->stream_broken[i]) || !key_at(w, i)) continue;
        probe *pr = malloc(sizeof(*pr));
        if (!pr) break;
        *pr = (probe){.w = w, .index = i};
        duro_argv a;
        duro_argv_init(&a);
        duro_argv_push(&a, "TYPE");
        duro_argv_push(&a, key_at(w, i));
        if (duro_aredis_command(w->cmd, on_type, pr, &a) == 0)
            w->probing++;
        else
            free(pr);
        duro_argv_free(&a);
    }
    duro__levels_check(w); /* answered before the SADD below */
    /* the queue may have gone from duro:queues with the data: the
     * scheduler's timeout scans find it there */
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "SADD");
    char qkey[DURO_SHORT_KEY_MAX];
    duro_argv_push(&a, duro_key_queues(qkey, sizeof(qkey), &w->ks));
    duro_argv_push(&a, w->task_queue);
    if (duro_aredis_command(w->cmd, on_registered, w, &a) == 0) w->probing++;
    duro_argv_free(&a);
    probe_done(w);
}

void duro__streams_tick(duro_worker *w)
{
    if (w->nbroken > 0 && duro_mono_ms() >= w->next_recheck_ms)
        duro__streams_check(w, false);
    duro__levels_tick(w);
}

/* ---- Consumer groups ---- */

/* group_create: XGROUP CREATE key duro 0 MKSTREAM where key lives. */
static int group_create(duro_cluster_sync *cs, const char *key)
{
    const char *argv[] = {"XGROUP", "CREATE", key, DURO_GROUP, "0", "MKSTREAM"};
    duro_argv a;
    duro_argv_init(&a);
    for (size_t i = 0; i < sizeof(argv) / sizeof(argv[0]); i++)
        duro_argv_push(&a, argv[i]);
    redisReply *r = duro_cluster_sync_call(cs, &a);
    duro_argv_free(&a);
    if (!r) return DURO_ECONN;
    freeReplyObject(r); /* BUSYGROUP is fine; anything else the check sees */
    return 0;
}

int duro__groups_create(duro_worker *w, duro_cluster_sync *cs)
{
    for (int p = 0; p < w->partitions; p++) {
        for (int i = 0; i < DURO_STREAM_KINDS; i++) {
            const char *key = duro__stream_key(w, i, p);
            if (key && group_create(cs, key) != 0) return DURO_ECONN;
        }
    }
    char qkey[DURO_SHORT_KEY_MAX];
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "SADD");
    duro_argv_push(&a, duro_key_queues(qkey, sizeof(qkey), &w->ks));
    duro_argv_push(&a, w->task_queue);
    redisReply *r = duro_cluster_sync_call(cs, &a);
    duro_argv_free(&a);
    if (!r) return DURO_ECONN;
    freeReplyObject(r);
    /* reads per partition name every level (the level bells live in
     * partition 0's slot, which a cluster's Functions cannot reach) */
    if (w->force_per_partition || w->url.cluster) return 0;
    redisContext *c = duro_cluster_sync_context(cs, -1);
    return c ? duro__levels_init(w, c) : DURO_ECONN;
}

static void on_left_group(duro_aredis *r, redisReply *reply, void *arg)
{
    duro_worker *w = arg;
    if (--w->leaving == 0) w->groups_left(w);
}

void duro__groups_leave(duro_worker *w, void (*done)(duro_worker *w))
{
    w->groups_left = done;
    w->leaving = 1; /* held until every command is sent */
    static const int kinds[] = {
        DURO_STREAM_WFT,    DURO_STREAM_ACT,    DURO_STREAM_QRY,
        DURO_STREAM_WFT_L1, DURO_STREAM_WFT_L2, DURO_STREAM_WFT_L4,
        DURO_STREAM_WFT_L5, DURO_STREAM_ACT_L1, DURO_STREAM_ACT_L2,
        DURO_STREAM_ACT_L4, DURO_STREAM_ACT_L5};
    int nkinds = (int)(sizeof(kinds) / sizeof(kinds[0]));
    for (int p = 0; p < w->partitions && duro_aredis_connected(w->cmd); p++) {
        const char *keys[sizeof(kinds) / sizeof(kinds[0])];
        for (int i = 0; i < nkinds; i++)
            keys[i] = duro__stream_key(w, kinds[i], p);
        for (int i = 0; i < nkinds; i++) {
            duro_argv a;
            duro_argv_init(&a);
            duro_argv_push(&a, "XGROUP");
            duro_argv_push(&a, "DELCONSUMER");
            duro_argv_push(&a, keys[i]);
            duro_argv_push(&a, DURO_GROUP);
            duro_argv_push(&a, w->identity);
            if (duro_aredis_command(w->cmd, on_left_group, w, &a) == 0)
                w->leaving++;
            duro_argv_free(&a);
        }
    }
    for (int b = 0; b < 2 && w->level_bells[b] && duro_aredis_connected(w->cmd);
         b++) { /* the level bell streams (levels.c) */
        duro_argv a;
        duro_argv_init(&a);
        duro_argv_push(&a, "XGROUP");
        duro_argv_push(&a, "DELCONSUMER");
        duro_argv_push(&a, w->level_bells[b]);
        duro_argv_push(&a, DURO_GROUP);
        duro_argv_push(&a, w->identity);
        if (duro_aredis_command(w->cmd, on_left_group, w, &a) == 0)
            w->leaving++;
        duro_argv_free(&a);
    }
    on_left_group(NULL, NULL, w);
}
