/* aredis_route.c: the commands of a duro_aredis on a Redis Cluster: each
 * sent to the master of its slot, redirections followed, TRYAGAIN and
 * CLUSTERDOWN sent again for a while (aredis_cluster.c keeps the map and
 * the masters' connections). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/clock.h"
#include "duro/cluster.h"
#include "duro/errno.h"
#include "duro/log.h"
#include "aredis_cluster.h"
#include "redis_wait.h"

static void creq_free(creq *q)
{
    if (q->last_err) freeReplyObject(q->last_err);
    duro_argv_free(&q->a);
    free(q->blob);
    free(q);
}

static creq *creq_new(duro_aredis *r, duro_aredis_cb cb, void *arg,
                      const duro_argv *a)
{
    creq *q = calloc(1, sizeof(*q));
    size_t total = 1;
    for (int i = 0; i < a->argc; i++)
        total += a->lens[i] + 1;
    if (!q || !(q->blob = malloc(total))) {
        free(q);
        return NULL;
    }
    duro_argv_init(&q->a);
    char *p = q->blob;
    for (int i = 0; i < a->argc; i++) {
        memcpy(p, a->argv[i], a->lens[i]);
        p[a->lens[i]] = '\0';
        duro_argv_pushn(&q->a, p, a->lens[i]);
        p += a->lens[i] + 1;
    }
    q->r = r;
    q->cb = cb;
    q->arg = arg;
    q->slot = duro_cluster_argv_slot(a);
    q->seq = ++r->cl->seq;
    q->deadline_ms = duro_mono_ms() + CLUSTER_RETRY_MS;
    return q;
}

static void creq_deliver(creq *q, redisReply *rep)
{
    q->cb(q->r, rep, q->arg);
    creq_free(q);
}

static void on_kid_reply(duro_aredis *k, redisReply *rep, void *arg);
static void ignore(duro_aredis *k, redisReply *rep, void *arg) {}

/* creq_send sends q to its master (after ASKING to an ASK target). 0, or
 * DURO_ECONN when that master is not connected. */
static int creq_send(creq *q)
{
    duro_aredis *r = q->r;
    duro_aredis *k;
    if (q->ask) {
        int i = duro__acluster_kid_find(r->cl, &q->ask_addr);
        k = i >= 0 ? r->cl->kid[i] : NULL;
    } else {
        k = duro__acluster_kid(r, q->slot);
    }
    if (!k || !duro_aredis_connected(k)) return DURO_ECONN;
    if (q->ask) {
        duro_argv a;
        duro_argv_init(&a);
        duro_argv_push(&a, "ASKING");
        int rc = duro_aredis_command(k, ignore, NULL, &a);
        duro_argv_free(&a);
        if (rc) return rc;
        q->ask = 0;
    }
    return duro_aredis_command(k, on_kid_reply, q, &q->a);
}

/* append puts q in the waiting list, which is kept in the order the
 * commands were first sent (an older one still in flight may be answered
 * TRYAGAIN after a newer one of its slot was told to wait). */
static void append(struct acluster *cl, creq *q)
{
    q->next = NULL;
    if (!cl->delayed_tail || cl->delayed_tail->seq < q->seq) {
        if (cl->delayed_tail)
            cl->delayed_tail->next = q;
        else
            cl->delayed = q;
        cl->delayed_tail = q;
        return;
    }
    creq **pp = &cl->delayed;
    while (*pp && (*pp)->seq < q->seq)
        pp = &(*pp)->next;
    q->next = *pp;
    *pp = q;
}

/* delay keeps q for a resend (err: the reply that made us wait). */
static void delay(creq *q, const redisReply *err)
{
    if (err) {
        if (q->last_err) freeReplyObject(q->last_err);
        q->last_err = duro__reply_dup(err);
    }
    q->next_try_ms = duro_mono_ms() + RETRY_STEP_MS;
    append(q->r->cl, q);
    duro__acluster_nudge(q->r);
}

/* slot_waits: a command of this slot waits for a resend, so a newer one
 * must not overtake it (one partition's commands keep their order). */
static int slot_waits(const struct acluster *cl, int slot)
{
    for (const creq *q = cl->delayed; q && slot >= 0; q = q->next)
        if (q->slot == slot) return 1;
    return 0;
}

/* first_word_is: the error reply's code (its first word) is w. */
static int first_word_is(const char *s, const char *w)
{
    size_t n = strlen(w);
    return strncmp(s, w, n) == 0 && (s[n] == ' ' || s[n] == '\0');
}

/* on_kid_reply: a master answered q. Redirections are followed (MOVED:
 * the map learns the slot's master; ASK: ASKING then the command, once),
 * TRYAGAIN and CLUSTERDOWN are sent again until the deadline; anything
 * else (NULL too: the master's connection was lost) goes to the caller. */
static void on_kid_reply(duro_aredis *k, redisReply *rep, void *arg)
{
    creq *q = arg;
    duro_aredis *r = q->r;
    if (r->closing || !rep || rep->type != REDIS_REPLY_ERROR) {
        if (!rep && !r->closing) duro__acluster_want_refresh(r);
        creq_deliver(q, rep);
        return;
    }
    duro_cluster_redirect rd;
    if (duro_cluster_parse_redirect(rep->str, &rd) && q->hops < MAX_HOPS) {
        q->hops++;
        if (!rd.addr.host[0])
            snprintf(rd.addr.host, sizeof(rd.addr.host), "%s", k->url.host);
        if (rd.ask) {
            /* an importing master with no slot yet has no connection: the
             * command waits for the move to end (then MOVED) */
            q->ask = 1;
            q->ask_addr = rd.addr;
            if (duro__acluster_kid_find(r->cl, &rd.addr) < 0)
                duro__acluster_want_refresh(r);
        } else {
            duro__acluster_moved(r, rd.slot, &rd.addr);
        }
        if (creq_send(q) != 0) delay(q, rep);
        return;
    }
    int again = first_word_is(rep->str, "TRYAGAIN") ||
                first_word_is(rep->str, "CLUSTERDOWN");
    if (again && duro_mono_ms() < q->deadline_ms) {
        if (first_word_is(rep->str, "CLUSTERDOWN"))
            duro__acluster_want_refresh(r);
        delay(q, rep);
        return;
    }
    creq_deliver(q, rep);
}

int duro__acluster_command(duro_aredis *r, duro_aredis_cb cb, void *arg,
                           const duro_argv *a)
{
    if (r->fatal) return DURO_ECONN;
    creq *q = creq_new(r, cb, arg, a);
    if (!q) return DURO_ENOMEM;
    if (r->cl->delayed && slot_waits(r->cl, q->slot)) {
        q->next_try_ms = 0; /* behind the others, at the next tick */
        append(r->cl, q);
        duro__acluster_nudge(r);
        return 0;
    }
    if (creq_send(q) != 0) {
        creq_free(q);
        return DURO_ECONN;
    }
    return 0;
}

/* duro__acluster_retry sends again what waits and is due; past its deadline a
 * command gets the error that made it wait (NULL if none). */
void duro__acluster_retry(duro_aredis *r)
{
    struct acluster *cl = r->cl;
    int64_t now = duro_mono_ms();
    creq *list = cl->delayed;
    cl->delayed = cl->delayed_tail = NULL;
    /* a slot whose older command stays waiting keeps its newer ones too */
    unsigned char held[DURO_CLUSTER_SLOTS / 8];
    memset(held, 0, sizeof(held));
    while (list && !r->closing) {
        creq *q = list;
        list = q->next;
        q->next = NULL;
        int s = q->slot;
        int is_held = s >= 0 && (held[s / 8] & (1u << (s % 8)));
        if (now < q->deadline_ms && (q->next_try_ms > now || is_held)) {
            append(cl, q);
            if (s >= 0) held[s / 8] |= (unsigned char)(1u << (s % 8));
        } else if (now >= q->deadline_ms) {
            redisReply *e = q->last_err;
            q->last_err = NULL;
            creq_deliver(q, e);
            if (e) freeReplyObject(e);
        } else if (creq_send(q) != 0) {
            delay(q, NULL);
            if (s >= 0) held[s / 8] |= (unsigned char)(1u << (s % 8));
        }
    }
    while (list) { /* closed meanwhile */
        creq *q = list;
        list = q->next;
        creq_deliver(q, NULL);
    }
}

void duro__acluster_drop_delayed(duro_aredis *r)
{
    while (r->cl->delayed) {
        creq *q = r->cl->delayed;
        r->cl->delayed = q->next;
        creq_deliver(q, NULL);
    }
    r->cl->delayed_tail = NULL;
}
