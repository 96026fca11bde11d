/* concurrency.c: concurrency per key: at most N attempts of a task
 * queue's activities with the same concurrency key (duro_activity_opts
 * .concurrency_key) run at once, across all the queue's workers; N is the
 * queue's `duro queue config --concurrency-per-key` (cpk in its flow
 * hash, read with the rate limit: ratelimit.c).
 *
 * The gate is at start, whichever stream the task came from: the worker
 * that read the attempt asks duro_conc_acquire for a slot (a lease in
 * `<prefix>{q:<queue>}:conc:<key>`, ending start-to-close + LEASE_SLACK_MS
 * from now, so a worker killed with it frees it by then); granted, the
 * attempt runs and its slot is given back (ZREM) when it ends; refused, it
 * goes back to its queue for DEFER_MS (duro_act_release with a delay), so
 * a full key holds no worker thread and the other keys keep moving.
 * Attempts without a key, or a queue without the limit, pay nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/log.h"
#include "duro/ratelimit.h"
#include "worker_internal.h"

#define LEASE_SLACK_MS 5000
#define DEFER_MS 200

/* key_of: c's concurrency key (from its options), or NULL. */
static const char *key_of(const duro_actx *c)
{
    return cJSON_GetStringValue(cJSON_GetObjectItem(c->opts, "concurrencyKey"));
}

/* the attempt's member in its key's zset */
static void member_of(const duro_actx *c, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s/%d/%s", c->run, c->seq, c->attempt, c->id);
}

static void on_acquire(duro_aredis *r, redisReply *reply, void *arg)
{
    duro_actx *c = arg;
    duro_worker *w = c->w;
    if (reply && reply->type == REDIS_REPLY_INTEGER && reply->integer == 1) {
        c->conc_held = true;
        if (!w->stopping) {
            w->act_run(w, c);
            return;
        }
        duro__conc_release(w, c); /* stopping: handed back below */
    }
    if (reply && reply->type == REDIS_REPLY_ERROR)
        duro_warn_limited(NULL, "CONC-ACQUIRE-FAILED wf=%s seq=%s err=%s",
                          c->id, c->seq, reply->str);
    if (reply && reply->type == REDIS_REPLY_INTEGER && !w->stopping)
        w->conc_waits++;
    duro_debug("CONC-WAIT wf=%s seq=%s attempt=%d key=%s", c->id, c->seq,
               c->attempt, key_of(c));
    /* full, refused or the connection lost: back in the queue a while
     * (lost, the hand-back is lost too and start-to-close retries it) */
    if (reply) {
        w->act_defer(c, w->stopping ? 0 : DEFER_MS);
    } else {
        duro__actx_unref(c);
    }
    w->maybe_finish(w);
}

bool duro__conc_gate(duro_worker *w, duro_actx *c)
{
    const char *key = w->conc_limit > 0 && !c->failed ? key_of(c) : NULL;
    if (!key) return false;
    char slots[DURO_KEY_MAX], flow[DURO_KEY_MAX], member[512];
    duro_key_conc(slots, sizeof(slots), &w->ks, w->task_queue, key);
    duro_key_flow(flow, sizeof(flow), &w->ks, w->task_queue);
    member_of(c, member, sizeof(member));
    double stc =
        cJSON_GetNumberValue(cJSON_GetObjectItem(c->opts, "startToCloseMs"));
    long long lease =
        (stc > 0 && stc < 1e12 ? (long long)stc : 60000) + LEASE_SLACK_MS;
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "FCALL");
    duro_argv_push(&a, "duro_conc_acquire");
    duro_argv_push(&a, "2");
    duro_argv_push(&a, slots);
    duro_argv_push(&a, flow);
    duro_argv_push(&a, member);
    duro_argv_pushll(&a, w->conc_limit);
    duro_argv_pushll(&a, lease);
    int rc = duro_aredis_command(w->cmd, on_acquire, c, &a);
    duro_argv_free(&a);
    if (rc != 0) duro__actx_unref(c); /* start-to-close brings it back */
    return true;
}

static void ignore(duro_aredis *r, redisReply *reply, void *arg) {}

void duro__conc_release(duro_worker *w, duro_actx *c)
{
    const char *key = c->conc_held ? key_of(c) : NULL;
    if (!key) return;
    c->conc_held = false;
    char slots[DURO_KEY_MAX], member[512];
    duro_key_conc(slots, sizeof(slots), &w->ks, w->task_queue, key);
    member_of(c, member, sizeof(member));
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "ZREM");
    duro_argv_push(&a, slots);
    duro_argv_push(&a, member);
    /* lost: the lease ends it */
    duro_aredis_command(w->cmd, ignore, NULL, &a);
    duro_argv_free(&a);
}
