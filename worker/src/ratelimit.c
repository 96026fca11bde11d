/* ratelimit.c: a worker's side of its task queue's rate limits (`duro
 * queue config --activities-per-second / --workflows-per-second`), each
 * enforced across every worker of the queue by one token bucket in Redis
 * (duro_rate_take).
 *
 * Without a limit a read costs nothing more: the worker reads the limits
 * (HMGET aps wps cpk of the queue's flow hash; cpk is concurrency.c's)
 * before its first read and then every RATE_REFRESH_TICKS ticks, and reads
 * as before. With one, each read of that kind first takes tokens for at
 * most its free room:
 *
 *   duro_rate_take want 0 ──▶ {g > 0}: XREADGROUP for g tasks; a read that
 *                              got n != g settles with duro_rate_take
 *                              (n - g) 1 (tokens back, or debt when one
 *                              read of every partition got more than g)
 *                        ──▶ {0, wait}: read again in wait ms
 *
 * so tasks wait in their streams, not in a worker: their timeouts only run
 * once a worker took them, and a stopped worker holds none. Queries ride
 * with the workflow-task read: they wait for its token but use none. */
#include <stdlib.h>
#include <string.h>

#include "duro/clock.h"
#include "duro/log.h"
#include "duro/ratelimit.h"
#include "worker_internal.h"

#define RATE_REFRESH_TICKS 4 /* 2s at the worker's 500ms tick */
/* RATE_WAIT_MAX_MS caps the wait for the next token: a slow rate (1 a day)
 * or a damaged bucket, whose wait overflows, asks again this often rather
 * than sleep for days or spin, and a limit raised meanwhile applies */
#define RATE_WAIT_MAX_MS 2000

static const char *const KIND_ARG[DURO_RATE_KINDS] = {"act", "wf"};
static const char *const KIND_LOG[DURO_RATE_KINDS] = {"activities",
                                                      "workflows"};

static void flow_key(const duro_worker *w, char *buf, size_t size)
{
    duro_key_flow(buf, size, &w->ks, w->task_queue);
}

/* reply_num: element i of an HMGET reply as a number >= 0 (nil: 0). */
static double reply_num(const redisReply *reply, size_t i)
{
    if (reply->type != REDIS_REPLY_ARRAY || i >= reply->elements ||
        reply->element[i]->type != REDIS_REPLY_STRING)
        return 0;
    double d = strtod(reply->element[i]->str, NULL);
    return d > 0 ? d : 0;
}

static void on_limit(duro_aredis *r, redisReply *reply, void *arg)
{
    duro_worker *w = arg;
    w->rate_asking = false;
    if (!reply) return; /* reconnecting: asked again at the next poll */
    /* an error (a hand-edited key of another type) reads as no limit */
    if (reply->type == REDIS_REPLY_ERROR)
        duro_warn_limited(NULL, "RATE-LIMIT-UNREADABLE queue=%s err=%s",
                          w->task_queue, reply->str);
    for (int k = 0; k < DURO_RATE_KINDS; k++) {
        double rate = reply_num(reply, (size_t)k);
        if (rate != w->rate[k].rate) {
            duro_info("RATE-LIMIT queue=%s %s_per_second=%g", w->task_queue,
                      KIND_LOG[k], rate);
            /* a wait for a token at the old rate ends: take at the new */
            duro__later_cancel(w, &w->rate[k].wait);
        }
        w->rate[k].rate = rate;
    }
    int cpk = (int)reply_num(reply, 2);
    if (cpk != w->conc_limit)
        duro_info("CONCURRENCY-LIMIT queue=%s per_key=%d", w->task_queue, cpk);
    w->conc_limit = cpk;
    w->rate_known = true;
    w->poll(w);
}

/* ask_limit: HMGET on conn: a read connection before the first read
 * (connected when that read is due, and idle), later the command one
 * (the read connections may be blocked in a read) */
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
    duro_argv_push(&a, "wps");
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
    duro__bucket *b =
        (duro__bucket *)((char *)l - offsetof(duro__bucket, wait));
    b->w->poll(b->w);
}

/* take: FCALL duro_rate_take 1 flow  want force kind -> [granted, wait_ms] */
static int take(duro__bucket *b, long long want, bool force, duro_aredis_cb cb)
{
    duro_worker *w = b->w;
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
    duro_argv_push(&a, KIND_ARG[b->kind]);
    int rc = duro_aredis_command(w->cmd, cb, b, &a);
    duro_argv_free(&a);
    return rc;
}

static void on_take(duro_aredis *r, redisReply *reply, void *arg)
{
    duro__bucket *b = arg;
    duro_worker *w = b->w;
    b->taking = false;
    if (!reply) return;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_INTEGER ||
        reply->element[1]->type != REDIS_REPLY_INTEGER) {
        duro_warn_limited(
            NULL, "RATE-TAKE-FAILED queue=%s err=%s", w->task_queue,
            reply->type == REDIS_REPLY_ERROR ? reply->str : "bad reply");
        /* try again in a while rather than read past the limit */
        duro__call_at(w, &b->wait, poll_again, duro_mono_ms() + 1000);
        return;
    }
    long long g = reply->element[0]->integer;
    long long wait = reply->element[1]->integer;
    if (g > 0) {
        b->granted = (int)g;
        w->poll(w);
        return;
    }
    b->waits++;
    /* nothing granted and no wait: the Function's wait overflowed (a rate
     * near 0, a bucket edited by hand) */
    if (wait <= 0 || wait > RATE_WAIT_MAX_MS) wait = RATE_WAIT_MAX_MS;
    duro__call_at(w, &b->wait, poll_again, duro_mono_ms() + wait);
}

int duro__rate_gate(duro_worker *w, int kind, int room)
{
    if (!w->rate_known) {
        ask_limit(w, kind == DURO_RATE_ACT ? w->act_conn : w->wft_conn);
        return 0;
    }
    duro__bucket *b = &w->rate[kind];
    b->w = w;
    b->kind = kind;
    if (b->rate <= 0) return room;
    if (b->granted > 0) return b->granted < room ? b->granted : room;
    if (b->taking || b->wait.waiting || !w->cmd ||
        !duro_aredis_connected(w->cmd))
        return 0;
    if (take(b, room, false, on_take) == 0) b->taking = true;
    return 0;
}

static void on_settled(duro_aredis *r, redisReply *reply, void *arg) {}

/* is_query: a query stream's entries take no workflow-task token */
static bool is_query(const redisReply *key)
{
    return key->type == REDIS_REPLY_STRING && strstr(key->str, ":qry:");
}

long long duro__rate_count(const redisReply *reply)
{
    long long n = 0;
    for (size_t s = 0;
         reply && reply->type == REDIS_REPLY_ARRAY && s < reply->elements;
         s++) {
        const redisReply *sr = reply->element[s];
        if (sr->type == REDIS_REPLY_ARRAY && sr->elements == 2 &&
            sr->element[1]->type == REDIS_REPLY_ARRAY &&
            !is_query(sr->element[0]))
            n += (long long)sr->element[1]->elements;
    }
    return n;
}

void duro__rate_settle(duro_worker *w, int kind, long long n)
{
    duro__bucket *b = &w->rate[kind];
    if (b->rate <= 0 && b->granted == 0) return;
    long long diff = n - b->granted;
    b->granted = 0;
    if (diff != 0 && w->cmd && duro_aredis_connected(w->cmd))
        take(b, diff, true, on_settled);
}

void duro__rate_read(duro_worker *w, int kind, const redisReply *reply)
{
    duro__bucket *b = &w->rate[kind];
    if (b->rate <= 0 && b->granted == 0) return;
    duro__rate_settle(w, kind, duro__rate_count(reply));
}
