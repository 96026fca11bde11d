/* chaos_sched.c: chaos-check's `check` of the chaos schedule (chaos_plan.h):
 * the scheduler fires it while schedulers and Redis are killed, and each
 * nominal time must start exactly one workflow (docs/internals.md,
 * "Schedules": a time is marked handled only after its start), none
 * missed or skipped. This file checks the schedule's hash and gives the
 * times to check: from the first nominal time after its creation up to
 * its `next_nominal`, the first time not handled when the driver paused
 * it; chaos_mix.c checks each `<id>-<nominal time>` as a counter. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/config.h"
#include "duro/keys.h"
#include "chaos_plan.h"
#include "chaos_checker.h"
#include "chaos_tool.h"

/* SCHED_LAG_MS: how far the schedule's handled times may trail its pause
 * (the pause may come while every scheduler is down or Redis restarts). */
#define SCHED_LAG_MS 15000

static long long field_ll(const redisReply *r, size_t i)
{
    return r->type == REDIS_REPLY_ARRAY && i < r->elements &&
                   r->element[i]->type == REDIS_REPLY_STRING
               ? strtoll(r->element[i]->str, NULL, 10)
               : -1;
}

bool chaos_schedule_range(checker *k, char *id, size_t size, long long *first,
                          long long *end)
{
    redisReply *r =
        chaos_cmd(k, CHAOS_SCHED_KEY, "HGET %s paused_ms", CHAOS_SCHED_KEY);
    long long paused =
        r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : -1;
    freeReplyObject(r);
    if (paused < 0) return false; /* this drive ran no schedule */
    chaos_schedule_id(id, size, k->a->seed);
    duro_sched_keys sk;
    duro_sched_keys_init(&sk, DURO_KEYSPACE_DEFAULT(k->partitions), id);
    r = chaos_cmd(k, sk.sched,
                  "HMGET %s created_ms next_nominal missed skipped paused",
                  sk.sched);
    long long created = field_ll(r, 0), next = field_ll(r, 1);
    long long missed = field_ll(r, 2), skipped = field_ll(r, 3);
    bool is_paused = field_ll(r, 4) == 1;
    freeReplyObject(r);
    if (created < 0 || next < 0) {
        chaos_report(k, R_LOST, id, "no schedule hash");
        k->lost++;
        return false;
    }
    if (missed > 0 || skipped > 0 || !is_paused || paused - next > SCHED_LAG_MS)
        chaos_report(k, R_LOST, id,
                     "missed %lld skipped %lld paused %d, times handled up "
                     "to %lld, paused at %lld",
                     missed, skipped, is_paused, next, paused),
            k->lost++;
    /* the first nominal time follows the creation (one more interval: the
     * client's clock read before Redis wrote created_ms) */
    *first = (created / CHAOS_SCHED_INTERVAL_MS + 2) * CHAOS_SCHED_INTERVAL_MS;
    *end = next;
    return true;
}
