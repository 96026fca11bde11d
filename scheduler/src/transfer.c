/* transfer.c: carries outbox records from one partition to another (child
 * workflows, reports to parents, signals and cancels between workflows). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include "duro/errno.h"
#include "duro/ids.h"
#include "duro/keys.h"
#include "duro/log.h"
#include "duro/reply.h"
#include "sched_internal.h"
#include "transfer.h"

/*
 * A record is written by a Function of its source partition, atomically
 * with the change that causes it: its body in the partition's outbox hash,
 * a member 'o|<run>|<a>|<b>|-|-|<id>' in its timers, due now. The timer
 * round (timers.c) hands each due member here. Three calls, each one
 * Function on one partition:
 *
 *   take   (source) duro_xfer_take: the member is due again in
 *          XFER_LEASE_MS, so no other scheduler takes it meanwhile, and a
 *          scheduler that dies between the steps is replaced then; it
 *          answers the lease's end (until);
 *   apply  (target) duro_xfer_apply: idempotent by the record id (a mark
 *          in the target partition keeps the outcome); a report for the
 *          sender is written there, as a record of the target partition;
 *          refused (DURO_STALE) once the lease is over;
 *   ack    (source) duro_xfer_ack: the record goes, unless another take
 *          holds it since ('lost');
 *   forget (target) DEL of the mark: no call can apply the record any
 *          more (no other take holds it, and a take whose lease is over
 *          applies nothing), so the mark's only use is over (a scheduler
 *          that dies before leaves it to its expiry).
 *
 * A record that is not a start first reads its target's current run and
 * task queue (HMGET), which name the keys the apply needs; a run changed
 * in between makes the apply answer DURO_STALE and the record is taken
 * again after its lease. A record that is not JSON, names no valid
 * target, or that the apply refuses as malformed (DURO_BADARG) is
 * dropped with a warning. DURO_XFER_CRASH=take|apply (a test seam) makes
 * the process exit right after that step's reply, as a crash would.
 */

#define XFER_LEASE_MS 10000
#define RUN_MAX 64

typedef struct {
    part *pt;
    void (*answered)(part *pt);
    char *member;
    size_t len;
    char rid[160];
    char *body_text;
    cJSON *body;
    const char *id; /* the target workflow (in body) */
    char run[RUN_MAX + 1];
    char queue[DURO_QUEUE_MAX + 1];
    char until[32]; /* the take's lease end (Redis ms) */
    int tp;         /* the target partition */
    int applied;    /* the apply answered: its mark exists */
} xfer;

static void xfer_end(xfer *x)
{
    part *pt = x->pt;
    void (*answered)(part *) = x->answered;
    cJSON_Delete(x->body);
    free(x->body_text);
    free(x->member);
    free(x);
    answered(pt);
}

/* crash_after: the test seam (see the top of the file). */
static void crash_after(const char *step)
{
    const char *c = getenv("DURO_XFER_CRASH");
    if (c && strcmp(c, step) == 0) {
        duro_warn("XFER CRASH after=%s (DURO_XFER_CRASH)", step);
        _exit(3);
    }
}

static const char *body_str(const xfer *x, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(x->body, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int failed(xfer *x, const char *step, const redisReply *r)
{
    if (!r) return 1;
    if (duro__reply_is_error(r)) {
        sched_redis_error(x->pt->s);
        duro_warn_limited(NULL,
                          "XFER FAILED step=%s record=%s err=%s (taken again "
                          "after its lease)",
                          step, x->rid, r->str);
        return 1;
    }
    return 0;
}

/* mark_key: the target partition's mark of the record. */
static void mark_key(const xfer *x, char *buf, size_t size)
{
    snprintf(buf, size, "%s{p%d}:xd:%s", x->pt->ns->ks.prefix, x->tp, x->rid);
}

/* ---- ack, forget ---- */

static void on_forgotten(duro_aredis *r, redisReply *reply, void *arg)
{
    xfer *x = arg;
    failed(x, "forget", reply);
    xfer_end(x);
}

static void forget(xfer *x)
{
    char mark[DURO_KEY_MAX];
    mark_key(x, mark, sizeof(mark));
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "DEL");
    duro_argv_push(&a, mark);
    if (sched_cmd(x->pt->s, on_forgotten, x, &a) != 0) xfer_end(x);
    duro_argv_free(&a);
}

static void on_acked(duro_aredis *r, redisReply *reply, void *arg)
{
    xfer *x = arg;
    /* lost: another take holds the record, and its apply needs the mark */
    if (failed(x, "ack", reply) || !x->applied ||
        (duro__reply_str(reply) && strcmp(reply->str, "lost") == 0))
        xfer_end(x);
    else
        forget(x);
}

static void send_ack(xfer *x)
{
    part *pt = x->pt;
    char outbox[DURO_SHORT_KEY_MAX];
    snprintf(outbox, sizeof(outbox), "%s{p%d}:outbox", pt->ns->ks.prefix,
             pt->p);
    const char *keys[] = {pt->timers_key, outbox};
    duro_argv a;
    duro_argv_fcall(&a, "duro_xfer_ack", 2, keys);
    duro_argv_pushn(&a, x->member, x->len);
    duro_argv_push(&a, x->until);
    if (sched_cmd(pt->s, on_acked, x, &a) != 0) xfer_end(x);
    duro_argv_free(&a);
}

/* ---- apply ---- */

static void on_applied(duro_aredis *r, redisReply *reply, void *arg)
{
    xfer *x = arg;
    /* a record the Function refuses as not its own (DURO_BADARG: damaged
     * by hand) would fail the same way after every lease: it goes */
    if (reply && duro__reply_is_error(reply) && reply->str &&
        strncmp(reply->str, "DURO_BADARG ", 12) == 0) {
        duro_warn("XFER MALFORMED record=%s reason=%s (dropped)", x->rid,
                  reply->str + 12);
        send_ack(x);
        return;
    }
    if (failed(x, "apply", reply)) {
        xfer_end(x);
        return;
    }
    x->applied = 1;
    const char *res = duro__reply_str(reply) ? reply->str : "?";
    duro_info("XFER record=%s op=%s target=%s outcome=%s", x->rid,
              body_str(x, "op"), x->id, res);
    crash_after("apply");
    send_ack(x);
}

static void send_apply(xfer *x)
{
    const duro_keyspace *ks = &x->pt->ns->ks;
    duro_wf_keys k;
    duro_wf_keys_init(&k, ks, x->id, x->run);
    duro_wf_keys_queues(&k, x->queue, NULL);
    char outbox[DURO_SHORT_KEY_MAX], mark[DURO_KEY_MAX];
    snprintf(outbox, sizeof(outbox), "%s{p%d}:outbox", ks->prefix, x->tp);
    mark_key(x, mark, sizeof(mark));
    const char *keys[] = {k.wf, k.hist,     k.buf,        k.wft,  k.timers,
                          k.pa, k.idx_open, k.idx_closed, outbox, mark};
    duro_argv a;
    duro_argv_fcall(&a, "duro_xfer_apply", 10, keys);
    duro_argv_push(&a, x->rid);
    duro_argv_push(&a, x->body_text);
    duro_argv_push(&a, x->until);
    if (sched_cmd(x->pt->s, on_applied, x, &a) != 0) xfer_end(x);
    duro_argv_free(&a);
}

/* ---- locate: the target's current run and queue ---- */

static void on_located(duro_aredis *r, redisReply *reply, void *arg)
{
    xfer *x = arg;
    if (failed(x, "locate", reply)) {
        xfer_end(x);
        return;
    }
    const char *run = NULL, *queue = NULL;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2) {
        run = duro__reply_str(reply->element[0]);
        queue = duro__reply_str(reply->element[1]);
    }
    char err[128];
    /* no such workflow: the apply answers notfound (and reports it) */
    if (!run || strlen(run) > RUN_MAX ||
        duro_name_check("run", run, err, sizeof(err)) != 0)
        run = "none";
    if (!queue || duro_name_check("queue", queue, err, sizeof(err)) != 0)
        queue = "none";
    snprintf(x->run, sizeof(x->run), "%s", run);
    snprintf(x->queue, sizeof(x->queue), "%s", queue);
    send_apply(x);
}

static void locate(xfer *x)
{
    duro_wf_keys k;
    duro_wf_keys_init(&k, &x->pt->ns->ks, x->id, "-");
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "HMGET");
    duro_argv_push(&a, k.wf);
    duro_argv_push(&a, "run");
    duro_argv_push(&a, "queue");
    if (sched_cmd(x->pt->s, on_located, x, &a) != 0) xfer_end(x);
    duro_argv_free(&a);
}

/* ---- take ---- */

/* parse_body checks what becomes key names: the target id, and for a
 * start the new run and its queue. NULL when fine, else why not. */
static const char *parse_body(xfer *x)
{
    x->body = cJSON_Parse(x->body_text);
    if (!x->body) return "body is not JSON";
    const char *op = body_str(x, "op");
    x->id = body_str(x, "id");
    char err[128];
    if (!op || !x->id || duro_id_check(x->id, err, sizeof(err)) != 0)
        return "no valid op or target id";
    x->tp = duro_partition_of(x->id, x->pt->ns->ks.partitions);
    if (strcmp(op, "start") != 0) return NULL;
    const char *run = body_str(x, "run"), *queue = body_str(x, "queue");
    if (!run || strlen(run) > RUN_MAX ||
        duro_name_check("run", run, err, sizeof(err)) != 0 || !queue ||
        duro_name_check("queue", queue, err, sizeof(err)) != 0)
        return "bad run or queue";
    snprintf(x->run, sizeof(x->run), "%s", run);
    snprintf(x->queue, sizeof(x->queue), "%s", queue);
    return NULL;
}

static void on_taken(duro_aredis *r, redisReply *reply, void *arg)
{
    xfer *x = arg;
    if (failed(x, "take", reply)) {
        xfer_end(x);
        return;
    }
    const char *st = reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1
                         ? duro__reply_str(reply->element[0])
                         : NULL;
    if (!st || strcmp(st, "taken") != 0 || reply->elements != 3 ||
        !duro__reply_str(reply->element[1]) ||
        !duro__reply_str(reply->element[2])) {
        xfer_end(x); /* gone, or another scheduler holds it */
        return;
    }
    snprintf(x->until, sizeof(x->until), "%s", reply->element[2]->str);
    x->body_text = strdup(reply->element[1]->str);
    const char *why = x->body_text ? parse_body(x) : "out of memory";
    if (why) {
        duro_warn("XFER MALFORMED record=%s reason=%s (dropped)", x->rid, why);
        send_ack(x);
        return;
    }
    crash_after("take");
    if (strcmp(body_str(x, "op"), "start") == 0)
        send_apply(x);
    else
        locate(x);
}

int transfer_take(part *pt, const char *member, size_t len,
                  const duro_timer_ref *t, void (*answered)(part *pt))
{
    xfer *x = calloc(1, sizeof(*x));
    if (!x || !(x->member = malloc(len ? len : 1))) {
        free(x);
        return DURO_ENOMEM;
    }
    memcpy(x->member, member, len);
    x->len = len;
    x->pt = pt;
    x->answered = answered;
    snprintf(x->rid, sizeof(x->rid), "%s.%lld.%lld", t->run, t->a, t->b);
    char outbox[DURO_SHORT_KEY_MAX];
    snprintf(outbox, sizeof(outbox), "%s{p%d}:outbox", pt->ns->ks.prefix,
             pt->p);
    const char *keys[] = {pt->timers_key, outbox};
    duro_argv a;
    duro_argv_fcall(&a, "duro_xfer_take", 2, keys);
    duro_argv_pushn(&a, member, len);
    duro_argv_pushll(&a, XFER_LEASE_MS);
    duro_argv_push(&a, "until");
    int rc = sched_cmd(pt->s, on_taken, x, &a);
    duro_argv_free(&a);
    if (rc != 0) {
        free(x->member);
        free(x);
    }
    return rc;
}

void transfer_fire(part *pt, const char *member, size_t len,
                   const duro_timer_ref *t, void (*answered)(part *pt))
{
    if (transfer_take(pt, member, len, t, answered) == 0)
        pt->inflight++;
    else
        pt->aborted = 1;
}
