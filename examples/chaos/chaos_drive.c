/* chaos_drive.c: chaos-check drive and wait: start the chaos workflows,
 * signal some of them, send updates, signal-with-start and cancels to the
 * chaos-ops ones while Redis, workers and schedulers are being killed,
 * then wait until every workflow has closed.
 *
 * Every call is retried until it is known to have taken effect exactly
 * once: a call that lost its connection may or may not have happened, so
 * before repeating it the driver reads Redis to find out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "duro/client.h"
#include "duro/clock.h"
#include "duro/config.h"
#include "duro/history.h"
#include "duro/json.h"
#include "duro/keys.h"
#include "duro/redis.h"
#include "chaos_plan.h"
#include "chaos_tool.h"

/* GIVE_UP_MS: one operation failing for this long ends the driver. */
#define GIVE_UP_MS 60000
#define RETRY_MS 200

void chaos_sleep_ms(int64_t ms)
{
    if (ms <= 0) return;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

chaos_route *chaos_connect(const chaos_args *a, int64_t wait_ms)
{
    return chaos_route_open(a->redis_url, wait_ms);
}

int chaos_partitions(chaos_route *c)
{
    redisReply *r =
        chaos_route_cmd(c, DURO_META_KEY, "HGET %s partitions", DURO_META_KEY);
    int n = -1;
    if (r && r->type == REDIS_REPLY_STRING) n = (int)strtol(r->str, NULL, 10);
    if (r) freeReplyObject(r);
    return n;
}

/* ---- Driving ---------------------------------------------------------- */

/* driver: the connections of the drive command. raw answers "did my call
 * happen?" questions; both are re-opened after a failure. */
typedef struct {
    const chaos_args *a;
    duro_client *client;
    chaos_route *raw;
    int partitions;
    int sig_j; /* has_signal's question: signal {"j": sig_j} (-1: any) */
} driver;

static bool ensure_client(driver *d)
{
    if (d->client) return true;
    char err[256];
    if (duro_client_new(&d->client, d->a->redis_url, err, sizeof(err)) != 0) {
        d->client = NULL;
        return false;
    }
    duro_client_set_codec(d->client, d->a->codec);
    d->partitions = duro_client_partitions(d->client);
    return true;
}

static bool ensure_raw(driver *d)
{
    if (!d->raw) d->raw = chaos_connect(d->a, 0); /* it reconnects itself */
    return d->raw != NULL;
}

/* exists: 1 when workflow id has a hash, 0 when not, -1 when unknown. */
static int exists(driver *d, const char *id)
{
    if (!ensure_raw(d) || !ensure_client(d)) return -1;
    duro_wf_keys k;
    duro_wf_keys_init(&k, DURO_KEYSPACE_DEFAULT(d->partitions), id, NULL);
    redisReply *r = chaos_route_cmd(d->raw, k.wf, "EXISTS %s", k.wf);
    int v = r && r->type == REDIS_REPLY_INTEGER ? (int)r->integer : -1;
    if (r) freeReplyObject(r);
    return v;
}

/* list_has_signal: 1 when an LRANGE reply of history or buffer elements
 * (the same encoding) holds a SignalReceived (with input {"j": j} unless
 * j < 0), 0 when not, -1 on error. */
static int list_has_signal(const driver *d, const redisReply *r, int j)
{
    if (!r || r->type != REDIS_REPLY_ARRAY) return -1;
    for (size_t i = 0; i < r->elements; i++) {
        duro_event e;
        if (duro_event_decode_reply(r->element[i], (int64_t)i + 1, &e, NULL,
                                    0) != 0)
            continue;
        bool hit = e.type == DURO_EVENT_SIGNAL_RECEIVED;
        if (hit && j >= 0) {
            const cJSON *in =
                duro_codec_decode_event(d->a->codec, e.type, e.data, NULL, 0) ==
                        0
                    ? cJSON_GetObjectItemCaseSensitive(e.data, "input")
                    : NULL;
            hit = duro_json_int(in, "j", -1) == j;
        }
        duro_event_free(&e);
        if (hit) return 1;
    }
    return 0;
}

/* has_signal: 1 when the current run of id holds a "go" signal (signal
 * {"j": d->sig_j} when sig_j >= 0) in its history or buffer, 0 when not
 * (or id has no run yet), -1 when unknown. */
static int has_signal(driver *d, const char *id)
{
    if (!ensure_raw(d) || !ensure_client(d)) return -1;
    duro_wf_keys k;
    duro_wf_keys_init(&k, DURO_KEYSPACE_DEFAULT(d->partitions), id, NULL);
    redisReply *r = chaos_route_cmd(d->raw, k.wf, "HGET %s run", k.wf);
    if (!r || r->type != REDIS_REPLY_STRING) {
        /* no workflow yet: a signal-with-start that did not start it */
        int none = r && r->type == REDIS_REPLY_NIL ? 0 : -1;
        if (r) freeReplyObject(r);
        return none;
    }
    duro_wf_keys_init(&k, DURO_KEYSPACE_DEFAULT(d->partitions), id, r->str);
    freeReplyObject(r);
    r = chaos_route_cmd(d->raw, k.hist, "LRANGE %s 0 -1", k.hist);
    int found = list_has_signal(d, r, d->sig_j);
    if (r) freeReplyObject(r);
    if (found) return found;
    r = chaos_route_cmd(d->raw, k.buf, "LRANGE %s 0 -1", k.buf);
    found = list_has_signal(d, r, d->sig_j);
    if (r) freeReplyObject(r);
    return found;
}

static void client_failed(driver *d, const char *what, const char *id, int rc)
{
    fprintf(stderr, "chaos-check: %s %s: %s (%s), retrying\n", what, id,
            d->client ? duro_client_errstr(d->client) : "no connection",
            duro_err_name(rc));
}

/* ---- Exactly once over a flaky connection ---- */

/* ACT_FAILED: an act_fn's answer for a failure retrying cannot fix (it
 * printed why). */
#define ACT_FAILED 1

/* act_fn tries the call once: 0 when it took effect, ACT_FAILED, or the
 * DURO_E* to retry on. uncertain: an earlier try may have taken effect. */
typedef int (*act_fn)(driver *d, const char *id, void *arg, bool uncertain);

/* exactly_once repeats act until it takes effect, asking done (1 yes, 0 no,
 * -1 cannot tell now) after a try whose outcome is unknown, so that the
 * call takes effect once. 0, or -1 on giving up. */
static int exactly_once(driver *d, const char *what, const char *id,
                        int (*done)(driver *d, const char *id), act_fn act,
                        void *arg)
{
    int64_t deadline = duro_mono_ms() + GIVE_UP_MS;
    bool uncertain = false; /* an earlier attempt may have taken effect */
    while (duro_mono_ms() < deadline) {
        if (uncertain) {
            int e = done(d, id);
            if (e == 1) return 0;
            if (e < 0) {
                chaos_sleep_ms(RETRY_MS);
                continue;
            }
        }
        if (!ensure_client(d)) {
            chaos_sleep_ms(RETRY_MS);
            continue;
        }
        int rc = act(d, id, arg, uncertain);
        if (rc == 0) return 0;
        if (rc == ACT_FAILED) return -1;
        client_failed(d, what, id, rc);
        uncertain = true;
        chaos_sleep_ms(RETRY_MS);
    }
    fprintf(stderr, "chaos-check: %s %s: gave up\n", what, id);
    return -1;
}

static int act_start(driver *d, const char *id, void *arg, bool uncertain)
{
    char run[DURO_UUID_LEN + 1];
    int rc = duro_client_start(d->client, arg, run);
    if (rc == 0 || (rc == DURO_EALREADY && uncertain)) return 0;
    if (rc == DURO_EINVAL || rc == DURO_EJSON || rc == DURO_EALREADY) {
        fprintf(stderr, "chaos-check: start %s: %s\n", id,
                duro_client_errstr(d->client));
        return ACT_FAILED;
    }
    return rc;
}

/* ---- Updates, signal-with-start, cancellation (chaos_plan.h) ---- */

/* never_known: a call that is safe to repeat (an update with its id, a
 * cancel, a schedule's pause) is repeated until it is answered. */
static int never_known(driver *d, const char *id)
{
    (void)d, (void)id;
    return 0;
}

/* sig_arg: signal j of a CHAOS_OPS_SWS workflow, by signal-with-start
 * with o (NULL: a plain signal). */
typedef struct {
    const duro_start_opts *o;
    int j, x;
} sig_arg;

static int act_ops_signal(driver *d, const char *id, void *arg, bool uncertain)
{
    (void)uncertain;
    const sig_arg *g = arg;
    char in[64], run[DURO_UUID_LEN + 1];
    snprintf(in, sizeof(in), "{\"j\":%d,\"x\":%d}", g->j, g->x);
    bool started = false;
    int rc = g->o ? duro_client_signal_with_start(d->client, g->o, CHAOS_SIGNAL,
                                                  in, run, &started)
                  : duro_client_signal(d->client, id, CHAOS_SIGNAL, in, NULL);
    if (rc == 0 && started != (g->j == 0)) {
        fprintf(stderr, "chaos-check: signal %d of %s %s a run\n", g->j, id,
                started ? "started" : "did not start");
        return ACT_FAILED;
    }
    if (rc == 0) return 0;
    if (rc == DURO_ENOTFOUND || rc == DURO_ENOTRUNNING || rc == DURO_EINVAL ||
        rc == DURO_EALREADY) {
        fprintf(stderr, "chaos-check: signal %d of %s: %s\n", g->j, id,
                duro_client_errstr(d->client));
        return ACT_FAILED;
    }
    return rc;
}

/* sws_signal sends signal j of ops to workflow id exactly once (by
 * signal-with-start with o when ops->sws[j]); 0 or -1. */
static int sws_signal(driver *d, const char *id, const duro_start_opts *o,
                      const chaos_ops *ops, int j)
{
    sig_arg g = {ops->sws[j] ? o : NULL, j, ops->x[j]};
    d->sig_j = j;
    return exactly_once(d, ops->sws[j] ? "signal-with-start" : "signal", id,
                        has_signal, act_ops_signal, &g);
}

/* update_arg: update j of a CHAOS_OPS_UPDATE workflow. */
typedef struct {
    const char *uid;
    int x;
} update_arg;

/* act_update sends the update once; with its id, a repeat after a lost
 * reply is answered from the record, so the driver repeats it until it
 * gets an answer. A rejection (x < 0) is the answer it expects. */
static int act_update(driver *d, const char *id, void *arg, bool uncertain)
{
    (void)uncertain;
    const update_arg *u = arg;
    char in[32], *res = NULL;
    snprintf(in, sizeof(in), "{\"x\":%d}", u->x);
    int rc =
        duro_client_update(d->client, id, CHAOS_UPDATE, in, u->uid, 5000, &res);
    free(res);
    bool rejected =
        rc == DURO_EINVAL && strstr(duro_client_errstr(d->client), "rejected");
    if ((rc == 0 && u->x >= 0) || (rejected && u->x < 0)) return 0;
    if (rc == 0 || rc == DURO_EINVAL || rc == DURO_ENOTFOUND ||
        rc == DURO_ENOTRUNNING) {
        fprintf(stderr, "chaos-check: update %s of %s: %s\n", u->uid, id,
                rc == 0 ? "accepted, the validator should reject it"
                        : duro_client_errstr(d->client));
        return ACT_FAILED;
    }
    return rc;
}

static int act_cancel(driver *d, const char *id, void *arg, bool uncertain)
{
    (void)arg, (void)uncertain;
    int rc = duro_client_cancel(d->client, id, "chaos", NULL);
    if (rc == DURO_ENOTFOUND || rc == DURO_ENOTRUNNING) {
        fprintf(stderr, "chaos-check: cancel %s: %s\n", id,
                duro_client_errstr(d->client));
        return ACT_FAILED;
    }
    return rc;
}

/* ops_drive sends workflow i's updates, signals or cancel (chaos_plan.h);
 * returns the failures. */
static int ops_drive(driver *d, int i)
{
    char id[64], uid[96];
    chaos_workflow_id(id, sizeof(id), d->a->seed, i);
    chaos_ops ops;
    chaos_ops_make(chaos_seed_of(d->a->seed, i), &ops);
    int failed = 0;
    if (ops.mode == CHAOS_OPS_CANCEL)
        return exactly_once(d, "cancel", id, never_known, act_cancel, NULL) !=
               0;
    duro_start_opts o = {.workflow_id = id,
                         .type = CHAOS_OPS_TYPE,
                         .task_queue = CHAOS_QUEUE,
                         .task_timeout_ms = 2000};
    char input[48];
    snprintf(input, sizeof(input), "{\"seed\":%u}",
             chaos_seed_of(d->a->seed, i));
    o.input = input;
    for (int j = 0; j < ops.n && !failed; j++) {
        if (ops.mode == CHAOS_OPS_SWS) {
            if (j > 0 && sws_signal(d, id, &o, &ops, j) != 0) failed++;
            continue;
        }
        chaos_update_id(uid, sizeof(uid), id, j);
        update_arg u = {uid, ops.x[j]};
        for (int t = 0; t < (ops.twice[j] ? 2 : 1) && !failed; t++)
            if (exactly_once(d, "update", id, never_known, act_update, &u) != 0)
                failed++;
    }
    return failed;
}

/* start starts workflow i; 0 once it is known to exist, -1 on giving up. */
static int start(driver *d, int i)
{
    char id[64], input[160];
    chaos_workflow_id(id, sizeof(id), d->a->seed, i);
    uint32_t seed = chaos_seed_of(d->a->seed, i);
    chaos_kind kind = chaos_kind_of(seed);
    if (kind == CHAOS_KIND_COUNTER) {
        chaos_counter c;
        chaos_counter_make(seed, &c);
        snprintf(input, sizeof(input),
                 "{\"total\":%d,\"every\":%d,\"base\":%d,\"step\":0,"
                 "\"runs\":0,\"sum\":0}",
                 c.total, c.every, c.base);
    } else {
        snprintf(input, sizeof(input), "{\"seed\":%u}", seed);
    }
    duro_start_opts o = {.workflow_id = id,
                         .type = kind == CHAOS_KIND_COUNTER ? CHAOS_COUNTER_TYPE
                                 : kind == CHAOS_KIND_PARENT ? CHAOS_PARENT_TYPE
                                 : kind == CHAOS_KIND_OPS    ? CHAOS_OPS_TYPE
                                                             : CHAOS_TYPE,
                         .task_queue = CHAOS_QUEUE,
                         .input = input,
                         .task_timeout_ms = 2000};
    /* its priority and fairness key (chaos_flow_of); a counter's continued
     * runs and a parent's children inherit them */
    chaos_flow f = chaos_flow_of(seed);
    o.priority = f.priority;
    o.fairness_key = chaos_tenant(f.tenant);
    o.fairness_weight = chaos_tenant_weight(f.tenant);
    chaos_ops ops;
    chaos_ops_make(seed, &ops);
    if (kind == CHAOS_KIND_OPS && ops.mode == CHAOS_OPS_SWS)
        return sws_signal(d, id, &o, &ops, 0);
    return exactly_once(d, "start", id, exists, act_start, &o);
}

static int act_signal(driver *d, const char *id, void *arg, bool uncertain)
{
    int rc = duro_client_signal(d->client, id, CHAOS_SIGNAL, "null", NULL);
    if (rc == 0) return 0;
    if (rc == DURO_ENOTFOUND || rc == DURO_ENOTRUNNING || rc == DURO_EINVAL) {
        fprintf(stderr, "chaos-check: signal %s: %s\n", id,
                duro_client_errstr(d->client));
        return ACT_FAILED;
    }
    return rc;
}

/* ---- The schedule ---- */

/* sched_exists: 1 when schedule id exists, 0 when not, -1 when unknown. */
static int sched_exists(driver *d, const char *id)
{
    if (!ensure_client(d)) return -1;
    cJSON *out = NULL;
    int rc = duro_client_schedule_describe(d->client, id, &out);
    cJSON_Delete(out);
    return rc == 0 ? 1 : rc == DURO_ENOTFOUND ? 0 : -1;
}

static int act_sched_create(driver *d, const char *id, void *arg,
                            bool uncertain)
{
    int rc = duro_client_schedule_create(d->client, arg);
    if (rc == 0 || (rc == DURO_EALREADY && uncertain)) return 0;
    if (rc == DURO_EINVAL || rc == DURO_EALREADY) {
        fprintf(stderr, "chaos-check: schedule create %s: %s\n", id,
                duro_client_errstr(d->client));
        return ACT_FAILED;
    }
    return rc;
}

static int act_sched_pause(driver *d, const char *id, void *arg, bool uncertain)
{
    (void)arg, (void)uncertain;
    int rc = duro_client_schedule_pause(d->client, id, true, "chaos over");
    if (rc == DURO_ENOTFOUND || rc == DURO_EINVAL) {
        fprintf(stderr, "chaos-check: schedule pause %s: %s\n", id,
                duro_client_errstr(d->client));
        return ACT_FAILED;
    }
    return rc;
}

/* sched_start creates the chaos schedule (chaos_plan.h); 0 or -1. */
static int sched_start(driver *d)
{
    char id[64];
    chaos_schedule_id(id, sizeof(id), d->a->seed);
    duro_schedule_opts o = {.schedule_id = id,
                            .interval_ms = CHAOS_SCHED_INTERVAL_MS,
                            .overlap_policy = "AllowAll",
                            .type = CHAOS_COUNTER_TYPE,
                            .task_queue = CHAOS_QUEUE,
                            .input = CHAOS_SCHED_INPUT};
    return exactly_once(d, "schedule create", id, sched_exists,
                        act_sched_create, &o);
}

/* sched_stop pauses the schedule, then records when in CHAOS_SCHED_KEY. */
static int sched_stop(driver *d)
{
    char id[64];
    chaos_schedule_id(id, sizeof(id), d->a->seed);
    if (exactly_once(d, "schedule pause", id, never_known, act_sched_pause,
                     NULL) != 0)
        return -1;
    long long paused = (long long)duro_now_ms();
    int64_t deadline = duro_mono_ms() + GIVE_UP_MS;
    while (duro_mono_ms() < deadline) {
        redisReply *r = ensure_raw(d)
                            ? chaos_route_write(d->raw, CHAOS_SCHED_KEY,
                                                "HSET %s paused_ms %lld",
                                                CHAOS_SCHED_KEY, paused)
                            : NULL;
        bool ok = r && r->type == REDIS_REPLY_INTEGER;
        if (r) freeReplyObject(r);
        if (ok) return 0;
        chaos_sleep_ms(RETRY_MS);
    }
    fprintf(stderr, "chaos-check: %s: gave up\n", CHAOS_SCHED_KEY);
    return -1;
}

/* signal sends "go" to workflow i exactly once; 0, or -1 on giving up. */
static int signal_go(driver *d, int i)
{
    char id[64];
    chaos_workflow_id(id, sizeof(id), d->a->seed, i);
    d->sig_j = -1;
    return exactly_once(d, "signal", id, has_signal, act_signal, NULL);
}

/* pending_signal: a signal to send at `due` (monotonic ms), or a chaos-ops
 * workflow's updates, signals or cancel (ops). */
typedef struct {
    int64_t due;
    int wf;
    bool ops;
} pending_signal;

/* send_due sends the signals due by now; returns the failures. */
static int send_due(driver *d, pending_signal *ps, int *n)
{
    int failed = 0, kept = 0;
    int64_t now = duro_mono_ms();
    for (int j = 0; j < *n; j++) {
        if (ps[j].due <= now) {
            if (ps[j].ops)
                failed += ops_drive(d, ps[j].wf);
            else if (signal_go(d, ps[j].wf) != 0)
                failed++;
            now = duro_mono_ms();
        } else {
            ps[kept++] = ps[j];
        }
    }
    *n = kept;
    return failed;
}

int chaos_drive(const chaos_args *a)
{
    driver d = {.a = a};
    pending_signal *ps = calloc((size_t)a->workflows + 1, sizeof(*ps));
    int nps = 0, failed = 0, signals = 0, n_ops = 0;
    int64_t t0 = duro_mono_ms();
    if (sched_start(&d) != 0) failed++;
    for (int i = 0; i < a->workflows && !failed; i++) {
        int64_t at = t0 + a->spread_ms * i / a->workflows;
        while (duro_mono_ms() < at) {
            failed += send_due(&d, ps, &nps);
            chaos_sleep_ms(at - duro_mono_ms() < 20 ? at - duro_mono_ms() : 20);
        }
        if (start(&d, i) != 0) {
            failed++;
            break;
        }
        chaos_plan p;
        uint32_t seed = chaos_seed_of(a->seed, i);
        chaos_plan_make(seed, &p);
        if (chaos_kind_of(seed) == CHAOS_KIND_STEPS && p.signaled) {
            ps[nps++] =
                (pending_signal){duro_mono_ms() + p.signal_delay_ms, i, false};
            signals++;
        } else if (chaos_kind_of(seed) == CHAOS_KIND_OPS) {
            chaos_ops ops;
            chaos_ops_make(seed, &ops);
            ps[nps++] =
                (pending_signal){duro_mono_ms() + ops.delay_ms, i, true};
            n_ops++;
        }
        failed += send_due(&d, ps, &nps);
    }
    while (nps > 0 && !failed) {
        failed += send_due(&d, ps, &nps);
        chaos_sleep_ms(20);
    }
    if (!failed && sched_stop(&d) != 0) failed++;
    free(ps);
    duro_client_free(d.client);
    chaos_route_free(d.raw);
    fprintf(stderr,
            "chaos-check: drive: %d workflows started, %d signals, "
            "%d workflows with updates, signal-with-start or a cancel, "
            "%d failures, %.1fs\n",
            a->workflows, signals, n_ops, failed,
            (double)(duro_mono_ms() - t0) / 1000);
    return failed ? 1 : 0;
}

/* ---- Waiting ---------------------------------------------------------- */

/* open_count: workflows in the duro:{p*}:vx:status:RUNNING indexes, -1 on
 * error. */
static long long open_count(chaos_route *c, int partitions)
{
    long long n = 0;
    for (int p = 0; p < partitions; p++) {
        char key[64];
        snprintf(key, sizeof(key), "duro:{p%d}:vx:status:RUNNING", p);
        redisReply *r = chaos_route_cmd(c, key, "ZCARD %s", key);
        bool ok = r && r->type == REDIS_REPLY_INTEGER;
        if (ok) n += r->integer;
        if (r) freeReplyObject(r);
        if (!ok) return -1;
    }
    return n;
}

int chaos_wait(const chaos_args *a)
{
    int64_t deadline = duro_mono_ms() + a->timeout_ms;
    chaos_route *c = NULL;
    long long open = -1;
    while (duro_mono_ms() < deadline) {
        if (!c) c = chaos_connect(a, 5000); /* then it reconnects itself */
        if (!c) continue;
        int partitions = chaos_partitions(c);
        open = partitions > 0 ? open_count(c, partitions) : -1;
        if (open == 0) break;
        chaos_sleep_ms(500);
    }
    chaos_route_free(c);
    fprintf(stderr, "chaos-check: wait: %lld workflows still open\n", open);
    return open == 0 ? 0 : 1;
}
