/* timers.c: fires due timers, one pipelined batch per partition at a time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/errno.h"
#include "duro/fcall.h"
#include "duro/ids.h"
#include "duro/keys.h"
#include "duro/log.h"
#include "duro/priority.h"
#include "duro/retry.h"
#include "sched_internal.h"
#include "schedules_int.h"
#include "timers_held.h"
#include "timers_sts.h"
#include "transfer.h"

/*
 * A timer is a member of duro:{pN}:timers scored by its due time (Redis ms).
 * Firing is one FCALL duro_timer_fire per member; the Function's ZREM makes
 * it idempotent, so two schedulers (or a retry after a lost reply) never
 * fire a timer twice. All this file decides is which members to hand over
 * and when to look again.
 *
 * A fire Redis refuses for now (OOM, BUSY, LOADING, READONLY, ...:
 * duro_err_is_transient) refuses the partition's others too: the round
 * stops and the partition backs off (100ms doubling to 5s, jitter). A fire
 * that fails for its own reason (a key of the wrong type) is held: skipped
 * by the rounds until its own backoff (to 10s) ends, so that it neither
 * blocks the timers due after it (the next page starts after the members
 * left in the set) nor is tried in a loop. Either way the member stays in
 * the set and fires once Redis or the key is healthy again.
 *
 * A member is fetched by our estimate of Redis' clock (sched_now_ms),
 * which may run a millisecond or more ahead of the TIME the Function
 * checks: it answers 'early' and leaves the member in the set. The round's
 * next-due read starts after the members it left, so it cannot see that
 * one: the partition looks again 1ms later (doubling to 64ms while Redis
 * keeps saying early), else only the next scan would fire it.
 */

#define RUN_MAX 64          /* run ids are uuids; anything longer is garbage */
#define BACKOFF_MAX_MS 5000 /* a partition refused for now */
#define EARLY_RETRY_MS 1    /* a member Redis called early: look again */
#define EARLY_MAX_SHIFT 6   /* ... doubling to 64ms */

void timers_free(part *pt)
{
    while (pt->nheld > 0)
        held_remove(pt, &pt->held[0]);
    free(pt->held);
    pt->held = NULL;
    pt->capheld = 0;
}

/* fire: one member handed to duro_timer_fire. */
typedef struct {
    part *pt;
    char kind;
    long long a;
    int64_t due;
    char *id; /* points into member_copy */
    char *member_copy;
    char *member; /* as Redis sent it (binary), len bytes */
    size_t len;
    duro_timer_ref t; /* parsed, points into member_copy */
} fire;

static void batch_done(part *pt);
static void fetch_batch(part *pt);

/* ---- Round bookkeeping ---- */

/* round_end finishes a round; a wake that came meanwhile starts another. */
static void round_end(part *pt)
{
    sched *s = pt->s;
    pt->busy = 0;
    if (s->stopping) return;
    if (pt->aborted) {
        pt->next_due = NEXT_UNKNOWN;
        pt->aborted = 0;
    } else if (pt->again && !pt->transient) {
        timers_fetch(pt);
        return;
    }
    s->rearm(s); /* the loop's tick (sched.c) */
}

/* fire_answered counts one fire of the batch answered (a schedule's claim
 * too: schedules_claim calls it back). */
static void fire_answered(part *pt)
{
    if (--pt->inflight == 0) batch_done(pt);
}

/* early_retry: when to look again for the members Redis answered 'early'
 * this round (none: next). They are still due by our clock, so soon; the
 * first time in a row, Redis' clock is read again too. */
static int64_t early_retry(part *pt, int64_t now, int64_t next)
{
    if (!pt->early) {
        pt->early_rounds = 0;
        return next;
    }
    int shift =
        pt->early_rounds < EARLY_MAX_SHIFT ? pt->early_rounds : EARLY_MAX_SHIFT;
    int64_t delay = (int64_t)EARLY_RETRY_MS << shift;
    if (pt->early_rounds++ == 0) sched_clock_refresh(pt->s);
    duro_debug("TIMERS EARLY p=%d members=%d retry=%lldms", pt->p, pt->early,
               (long long)delay);
    return now + delay < next ? now + delay : next;
}

/* settle_round sets when to look again from `next` (the first member not
 * left in the set this round, NEXT_NONE if none): no sooner than the end
 * of a backoff, no later than the first held member's retry or a retry of
 * the members Redis called early. */
static void settle_round(part *pt, int64_t next)
{
    sched *s = pt->s;
    int64_t now = sched_now_ms(s);
    int64_t first_held = held_sweep(pt, !pt->transient && !pt->aborted);
    if (pt->transient) {
        pt->tries++;
        pt->hold_until = now + duro_redis_backoff_ms(pt->tries, BACKOFF_MAX_MS);
        next = pt->hold_until;
    } else {
        pt->tries = 0;
        pt->hold_until = 0;
        if (first_held < next) next = first_held;
        /* members that failed without being held (too many held) stay
         * due: look again at the next scan, not in a loop */
        if (pt->errors && next <= now) next = now + s->scan_interval_ms;
        next = early_retry(pt, now, next);
    }
    pt->next_due = next;
    round_end(pt);
}

/* ---- Next due ---- */

/* ZRANGE key kept kept WITHSCORES -> [member, score] or []: the first
 * member after those this round left in the set. */
static void on_next(duro_aredis *r, redisReply *reply, void *arg)
{
    part *pt = arg;
    sched *s = pt->s;
    int64_t next = NEXT_NONE;
    if (!reply) {
        pt->aborted = 1;
        round_end(pt);
        return;
    } else if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 0) {
        next = NEXT_NONE;
    } else if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2) {
        char *end;
        const char *sc =
            duro__reply_str(reply->element[1]) ? reply->element[1]->str : "x";
        double d = strtod(sc, &end);
        next = (*end || end == sc) ? sched_now_ms(s) + s->scan_interval_ms
                                   : (int64_t)d;
    } else {
        if (duro__reply_is_error(reply)) {
            sched_redis_error(s);
            if (duro_err_is_transient(duro_redis_error_code(reply->str)))
                pt->transient++;
        }
        duro_warn_limited(NULL, "TIMERS NEXT FAILED p=%d err=%s", pt->p,
                          duro__reply_is_error(reply) ? reply->str
                                                      : "unexpected reply");
        next = sched_now_ms(s) + s->scan_interval_ms;
    }
    settle_round(pt, next);
}

static void fetch_next_due(part *pt)
{
    if (pt->transient) { /* Redis refuses for now: no point asking */
        settle_round(pt, NEXT_NONE);
        return;
    }
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "ZRANGE");
    duro_argv_push(&a, pt->timers_key);
    duro_argv_pushll(&a, pt->kept);
    duro_argv_pushll(&a, pt->kept);
    duro_argv_push(&a, "WITHSCORES");
    if (sched_cmd(pt->s, on_next, pt, &a) != 0) {
        pt->aborted = 1;
        round_end(pt);
    }
    duro_argv_free(&a);
}

static void batch_done(part *pt)
{
    if (pt->aborted || pt->s->stopping)
        round_end(pt);
    else if (pt->full && !pt->transient)
        fetch_batch(pt); /* more may be due right now */
    else
        fetch_next_due(pt);
}

/* ---- Firing one member ---- */

static void count_result(sched *s, const fire *f, const redisReply *reply)
{
    int64_t late = sched_now_ms(s) - f->due;
    const char *res = duro__reply_str(reply) ? reply->str : "?";
    if (strcmp(res, "fired") == 0) {
        s->st.fired++;
        if (late > s->st.late_max_ms) s->st.late_max_ms = late;
        stats_fired(s, &f->pt->ns->ks, f->kind, f->id, late);
    } else if (strcmp(res, "gone") == 0) {
        s->st.gone++;
        stats_count(s, M_TIMERS_SKIPPED, "reason", "gone");
    } else if (strcmp(res, "early") == 0) {
        /* our clock estimate ran ahead of Redis': early_retry */
        f->pt->kept++;
        f->pt->early++;
    } else {
        s->st.ignored++;
        stats_count(s, M_TIMERS_SKIPPED, "reason", "ignored");
    }
    duro_debug("FIRE wf=%s kind=%c a=%lld late=%lldms result=%s", f->id,
               f->kind, f->a, (long long)late, res);
}

static void fire_free(fire *f)
{
    free(f->member_copy);
    free(f->member);
    free(f);
}

/* fire_refused: the member of f stays in the set, Redis having refused
 * its fire or the read before it (err): refused for now (code transient),
 * the partition backs off; else the member is held (backed off alone). */
static void fire_refused(part *pt, const fire *f, int code, const char *err)
{
    sched *s = pt->s;
    pt->kept++;
    s->st.fire_errors++;
    sched_redis_error(s);
    stats_count(s, M_TIMERS_SKIPPED, "reason", "failed");
    if (duro_err_is_transient(code)) {
        pt->transient++;
    } else {
        pt->errors++;
        held_add(pt, f->member, f->len);
    }
    duro_warn_limited(NULL,
                      "FIRE FAILED wf=%s kind=%c a=%lld err=%s (kept, tried "
                      "again later)",
                      f->id, f->kind, f->a, err);
}

static void on_fired(duro_aredis *r, redisReply *reply, void *arg)
{
    fire *f = arg;
    part *pt = f->pt;
    if (!reply) {
        pt->aborted = 1;
    } else if (duro__reply_is_error(reply)) {
        /* the Function leaves the member in the set */
        fire_refused(pt, f, duro_redis_error_code(reply->str), reply->str);
    } else {
        held *h = held_lookup(pt, f->member, f->len);
        if (h) held_remove(pt, h);
        count_result(pt->s, f, reply);
    }
    fire_free(f);
    fire_answered(pt);
}

static void on_zrem(duro_aredis *r, redisReply *reply, void *arg)
{
    part *pt = arg;
    if (!reply) pt->aborted = 1;
    fire_answered(pt);
}

/* drop_member removes a member no Function could make sense of: it would
 * otherwise stay due forever and be fetched on every round. */
static void drop_member(part *pt, const char *member, size_t len,
                        const char *why)
{
    duro_warn("TIMER MALFORMED p=%d member=%.*s reason=%s", pt->p,
              (int)(len > 200 ? 200 : len), member, why);
    pt->s->st.malformed++;
    stats_count(pt->s, M_TIMERS_SKIPPED, "reason", "malformed");
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "ZREM");
    duro_argv_push(&a, pt->timers_key);
    duro_argv_pushn(&a, member, len);
    if (sched_cmd(pt->s, on_zrem, pt, &a) == 0)
        pt->inflight++;
    else
        pt->aborted = 1;
    duro_argv_free(&a);
}

/* check_timer validates what will become key names: the Function trusts
 * the keys we pass, and keys.c asserts on over-long names. */
static const char *check_timer(const part *pt, const duro_timer_ref *t)
{
    char err[128];
    size_t rl = strlen(t->run);
    if (rl > RUN_MAX || duro_name_check("run", t->run, err, sizeof(err)))
        return "bad run id";
    if (duro_id_check(t->id, err, sizeof(err))) return "bad workflow id";
    if (duro_partition_of(t->id, pt->ns->ks.partitions) != pt->p)
        return "workflow id belongs to another partition";
    if (duro_name_check("queue", t->wfqueue, err, sizeof(err)))
        return "bad workflow queue";
    if (strchr("rsql", t->kind) &&
        duro_priority_queue_check(t->actqueue, err, sizeof(err)))
        return "bad activity queue";
    return NULL;
}

/* send_fire: FCALL duro_timer_fire (duro_fcall_timer_fire); the act key
 * only for r, s, q and l timers; a q or l timer's retry delay (-1: none)
 * after. */
static int send_fire(part *pt, fire *f, const duro_timer_ref *t,
                     const char *member, size_t len, int64_t delay)
{
    sched *s = pt->s;
    duro_wf_keys k;
    duro_wf_keys_init(&k, &pt->ns->ks, t->id, t->run);
    duro_wf_keys_queues(&k, t->wfqueue,
                        strchr("rsql", t->kind) ? t->actqueue : NULL);
    duro_argv a;
    duro_fcall_timer_fire(&a, &k, member, len);
    if (t->kind == 'q' || t->kind == 'l')
        duro_argv_pushll(&a, (long long)delay);
    int rc = sched_cmd(s, on_fired, f, &a);
    duro_argv_free(&a);
    return rc;
}

/* HMGET pa <seq>.s <seq>.opts -> the activity's options. A
 * schedule-to-start timeout is retried by the activity's policy, which
 * only C computes (timers_sts.c). A damaged record, or a key of another
 * type, holds the member as a fire that fails for its own reason. */
static void on_sts_opts(duro_aredis *r, redisReply *reply, void *arg)
{
    fire *f = arg;
    part *pt = f->pt;
    int64_t delay = -1;
    if (!reply) { /* like a lost fire: a later round retries */
        pt->aborted = 1;
        pt->kept++;
    } else if (duro__reply_is_error(reply)) { /* a key of another type */
        fire_refused(pt, f, duro_redis_error_code(reply->str), reply->str);
    } else if (!timers_sts_delay(reply, f->t.b, &delay)) {
        pt->kept++;
        pt->errors++;
        pt->s->st.fire_errors++;
        stats_count(pt->s, M_TIMERS_SKIPPED, "reason", "failed");
        held_add(pt, f->member, f->len);
        duro_warn_limited(NULL,
                          "FIRE DAMAGED wf=%s kind=%c a=%lld field=%lld.s: "
                          "damaged pending-activity record (kept, tried "
                          "again later)",
                          f->id, f->kind, f->a, f->a);
    } else if (send_fire(pt, f, &f->t, f->member, f->len, delay) == 0) {
        return;
    } else {
        pt->aborted = 1;
    }
    fire_free(f);
    fire_answered(pt);
}

/* send_sts_fire: a q timer (schedule-to-start) or an l timer (a leased
 * attempt's start-to-close or heartbeat timeout) reads its activity's
 * retry policy first: both may time the attempt out. */
static int send_sts_fire(part *pt, fire *f)
{
    duro_wf_keys k;
    duro_wf_keys_init(&k, &pt->ns->ks, f->t.id, f->t.run);
    /* the schedule record, or the field of library 27 and older */
    char sched[40], field[40];
    snprintf(sched, sizeof(sched), "%lld.s", f->t.a);
    snprintf(field, sizeof(field), "%lld.opts", f->t.a);
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "HMGET");
    duro_argv_push(&a, k.pa);
    duro_argv_push(&a, sched);
    duro_argv_push(&a, field);
    int rc = sched_cmd(pt->s, on_sts_opts, f, &a);
    duro_argv_free(&a);
    return rc;
}

static void fire_member(part *pt, const redisReply *m, const redisReply *sc)
{
    held *h = held_lookup(pt, m->str, m->len);
    if (h) {
        h->seen = 1;
        if (h->retry_at > sched_now_ms(pt->s)) {
            pt->kept++; /* still backing off: leave it, look behind it */
            return;
        }
    }
    double due = 0;
    char *end = NULL;
    if (duro__reply_str(sc)) due = strtod(sc->str, &end);
    fire *f = calloc(1, sizeof(*f));
    char *copy = malloc(m->len + 1);
    char *raw = malloc(m->len + 1);
    if (!f || !copy || !raw) {
        free(f);
        free(copy);
        free(raw);
        pt->errors++; /* try again next scan */
        pt->kept++;
        return;
    }
    memcpy(raw, m->str, m->len);
    memcpy(copy, m->str, m->len);
    copy[m->len] = '\0';
    duro_timer_ref t;
    const char *why = NULL;
    if (strlen(copy) != m->len || duro_timer_parse(copy, &t) != 0)
        why = "not <kind>|<run>|<a>|<b>|<wfqueue>|<actqueue>|<id>";
    else
        why = check_timer(pt, &t);
    if (why) {
        free(f);
        free(copy);
        free(raw);
        drop_member(pt, m->str, m->len, why);
        return;
    }
    if (t.kind == 'c') { /* a schedule: its own chain (schedules.c) */
        free(f);
        free(raw);
        if (schedules_claim(pt, t.id, fire_answered) == 0)
            pt->inflight++;
        else
            pt->aborted = 1;
        free(copy);
        return;
    }
    if (t.kind == 'o') { /* an outbox record: its own chain (transfer.c) */
        free(f);
        transfer_fire(pt, raw, m->len, &t, fire_answered);
        free(raw);
        free(copy);
        return;
    }
    if (!strchr("trswxknql", t.kind))
        duro_warn("TIMER UNKNOWN KIND kind=%c wf=%s: passing it to the "
                  "Functions anyway",
                  t.kind, t.id);
    *f = (fire){.pt = pt,
                .kind = t.kind,
                .a = t.a,
                .due = end && !*end ? (int64_t)due : 0,
                .id = t.id,
                .member_copy = copy,
                .member = raw,
                .len = m->len,
                .t = t};
    if ((t.kind == 'q' || t.kind == 'l'
             ? send_sts_fire(pt, f)
             : send_fire(pt, f, &t, m->str, m->len, -1)) == 0) {
        pt->inflight++;
    } else {
        pt->aborted = 1;
        free(copy);
        free(raw);
        free(f);
    }
}

/* ---- Fetching due members ---- */

/* ZRANGEBYSCORE key -inf now WITHSCORES LIMIT kept batch
 *   -> [member, score, member, score, ...] */
static void on_due(duro_aredis *r, redisReply *reply, void *arg)
{
    part *pt = arg;
    if (!reply) {
        pt->aborted = 1;
        round_end(pt);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements % 2) {
        if (duro__reply_is_error(reply)) {
            sched_redis_error(pt->s);
            if (duro_err_is_transient(duro_redis_error_code(reply->str)))
                pt->transient++;
        }
        duro_warn_limited(NULL, "TIMERS FETCH FAILED p=%d err=%s", pt->p,
                          duro__reply_is_error(reply) ? reply->str
                                                      : "unexpected reply");
        pt->errors++;
        fetch_next_due(pt);
        return;
    }
    size_t n = reply->elements / 2;
    pt->full = n >= (size_t)pt->s->batch;
    pt->inflight = 1; /* held until the loop is done sending */
    for (size_t i = 0; i < n && !pt->aborted; i++) {
        const redisReply *m = reply->element[2 * i];
        if (!duro__reply_str(m)) {
            pt->errors++;
            pt->kept++;
            continue;
        }
        fire_member(pt, m, reply->element[2 * i + 1]);
    }
    fire_answered(pt);
}

static void fetch_batch(part *pt)
{
    sched *s = pt->s;
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "ZRANGEBYSCORE");
    duro_argv_push(&a, pt->timers_key);
    duro_argv_push(&a, "-inf");
    duro_argv_pushll(&a, (long long)sched_now_ms(s));
    duro_argv_push(&a, "WITHSCORES");
    duro_argv_push(&a, "LIMIT");
    duro_argv_pushll(&a, pt->kept); /* after the members left in the set */
    duro_argv_pushll(&a, s->batch);
    if (sched_cmd(s, on_due, pt, &a) != 0) {
        pt->aborted = 1;
        round_end(pt);
    }
    duro_argv_free(&a);
}

/* ---- Entry points ---- */

void timers_fetch(part *pt)
{
    if (pt->s->stopping) return;
    if (pt->busy) {
        pt->again = 1;
        return;
    }
    if (pt->hold_until > sched_now_ms(pt->s)) {
        /* backing off: the rearmed tick comes back at hold_until */
        if (pt->next_due < pt->hold_until) pt->next_due = pt->hold_until;
        return;
    }
    pt->busy = 1;
    pt->again = 0;
    pt->errors = 0;
    pt->transient = 0;
    pt->kept = 0;
    pt->early = 0;
    pt->aborted = 0;
    pt->full = 0;
    fetch_batch(pt);
}

void timers_fetch_due(sched *s, int all)
{
    int64_t now = sched_now_ms(s);
    FOR_EACH_PART(s, pt)
    {
        if (all || pt->next_due == NEXT_UNKNOWN || pt->next_due <= now)
            timers_fetch(pt);
    }
}
