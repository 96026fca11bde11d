/* ratelimit.c: a worker's side of its task queue's activity rate limit
 * (`duro queue config --activities-per-second`), enforced across every
 * worker of the queue by one token bucket in Redis (duro_rate_take).
 *
 * Without a limit a read costs nothing more: the worker reads the limits
 * (HMGET aps cpk of the queue's flow hash; cpk is concurrency.c's) before its
 * first activity read and then every RATE_REFRESH_TICKS ticks, and reads as
 * before. With one, each read first takes tokens for at most its free threads:
 *
 *   duro_rate_take want 0 ──▶ {g > 0}: XREADGROUP for g tasks; a read that
 *                              got n != g settles with duro_rate_take
 *                              (n - g) 1 (tokens back, or debt when one
 *                              read of every partition got more than g)
 *                        ──▶ {0, wait}: read again in wait ms
 *
 * so tasks wait in their stream, not in a worker: their start-to-close
 * only runs once a worker took them, and a stopped worker holds none. */
#include <stdlib.h>
#include <string.h>

#include "duro/clock.h"
#include "duro/log.h"
#include "duro/ratelimit.h"
#include "worker_internal.h"

#define RATE_REFRESH_TICKS 4 /* 2s at the worker's 500ms tick */

static void flow_key(const duro_worker *w, char *buf, size_t size)
{
    duro_key_flow(buf, size, &w->ks, w->task_queue);
}

static void on_limit(duro_aredis *r, redisReply *reply, void *arg)
{
    duro_worker *w = arg;
    w->rate_asking = false;
    if (!reply) return; /* reconnecting: asked again at the next poll */
    double aps = 0, cpk = 0;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2) {
        if (reply->element[0]->type == REDIS_REPLY_STRING)
            aps = strtod(reply->element[0]->str, NULL);
        if (reply->element[1]->type == REDIS_REPLY_STRING)
            cpk = strtod(reply->element[1]->str, NULL);
    }
    /* an error (a hand-edited key of another type) reads as no limit */
    if (reply->type == REDIS_REPLY_ERROR)
        duro_warn_limited(NULL, "RATE-LIMIT-UNREADABLE queue=%s err=%s",
                          w->task_queue, reply->str);
    if (aps < 0) aps = 0;
    if (aps != w->rate_aps || !w->rate_known)
        duro_info("RATE-LIMIT queue=%s activities_per_second=%g", w->task_queue,
                  aps);
    if ((int)cpk != w->conc_limit)
        duro_info("CONCURRENCY-LIMIT queue=%s per_key=%d", w->task_queue,
                  (int)cpk);
    w->rate_aps = aps;
    w->conc_limit = cpk > 0 ? (int)cpk : 0;
    w->rate_known = true;
    duro__act_poll(w);
}

/* ask_limit: HGET on conn: the activity connection before the first read
 * (connected when that read is due, and idle), later the command one
 * (the activity connection may be blocked in a read) */
static void ask_limit(duro_worker *w, duro_aredis *conn)
{
    if (w->rate_asking || !conn || !duro_aredis_connected(conn)) return;
    char key[DURO_KEY_MAX];
    flow_key(w, key, sizeof(key));
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "HMGET");
    duro_argv_push(&a, key);
    duro_argv_push(&a, "aps");
    duro_argv_push(&a, "cpk");
    if (duro_aredis_command(conn, on_limit, w, &a) == 0) w->rate_asking = true;
    duro_argv_free(&a);
    w->rate_ticks = 0;
}

void duro__rate_tick(duro_worker *w)
{
    if (++w->rate_ticks >= RATE_REFRESH_TICKS) ask_limit(w, w->cmd);
}

static void poll_again(duro__later *l)
{
    duro_worker *w =
        (duro_worker *)((char *)l - offsetof(duro_worker, rate_wait));
    duro__act_poll(w);
}

/* take: FCALL duro_rate_take 1 flow  want force -> [granted, wait_ms] */
static int take(duro_worker *w, long long want, bool force, duro_aredis_cb cb)
{
    char key[DURO_KEY_MAX];
    flow_key(w, key, sizeof(key));
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "FCALL");
    duro_argv_push(&a, "duro_rate_take");
    duro_argv_push(&a, "1");
    duro_argv_push(&a, key);
    duro_argv_pushll(&a, want);
    duro_argv_push(&a, force ? "1" : "0");
    int rc = duro_aredis_command(w->cmd, cb, w, &a);
    duro_argv_free(&a);
    return rc;
}

static void on_take(duro_aredis *r, redisReply *reply, void *arg)
{
    duro_worker *w = arg;
    w->rate_taking = false;
    if (!reply) return;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_INTEGER ||
        reply->element[1]->type != REDIS_REPLY_INTEGER) {
        duro_warn_limited(
            NULL, "RATE-TAKE-FAILED queue=%s err=%s", w->task_queue,
            reply->type == REDIS_REPLY_ERROR ? reply->str : "bad reply");
        /* try again in a while rather than read past the limit */
        duro__call_at(w, &w->rate_wait, poll_again, duro_mono_ms() + 1000);
        return;
    }
    long long g = reply->element[0]->integer;
    long long wait = reply->element[1]->integer;
    if (g > 0) {
        w->rate_granted = (int)g;
        duro__act_poll(w);
        return;
    }
    w->rate_waits++;
    duro__call_at(w, &w->rate_wait, poll_again,
                  duro_mono_ms() + (wait > 0 ? wait : 1));
}

int duro__rate_gate(duro_worker *w, int room)
{
    if (!w->rate_known) {
        ask_limit(w, w->act_conn);
        return 0;
    }
    if (w->rate_aps <= 0) return room;
    if (w->rate_granted > 0)
        return w->rate_granted < room ? w->rate_granted : room;
    if (w->rate_taking || w->rate_wait.waiting || !w->cmd ||
        !duro_aredis_connected(w->cmd))
        return 0;
    if (take(w, room, false, on_take) == 0) w->rate_taking = true;
    return 0;
}

static void on_settled(duro_aredis *r, redisReply *reply, void *arg) {}

void duro__rate_read(duro_worker *w, const redisReply *reply)
{
    if (w->rate_aps <= 0 && w->rate_granted == 0) return;
    long long n = 0;
    for (size_t s = 0;
         reply && reply->type == REDIS_REPLY_ARRAY && s < reply->elements;
         s++) {
        const redisReply *sr = reply->element[s];
        if (sr->type == REDIS_REPLY_ARRAY && sr->elements == 2 &&
            sr->element[1]->type == REDIS_REPLY_ARRAY)
            n += (long long)sr->element[1]->elements;
    }
    long long diff = n - w->rate_granted;
    w->rate_granted = 0;
    if (diff != 0 && w->cmd && duro_aredis_connected(w->cmd))
        take(w, diff, true, on_settled);
}
