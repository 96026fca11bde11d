/* chaos_plan.h: the deterministic plan of one chaos workflow, shared by the
 * worker (which runs it), the driver (which starts and signals it) and the
 * checker (which knows the result it must end with).
 *
 * Workflow i of a run has the seed chaos_seed_of(run_seed, i), which alone
 * decides its kind (chaos_kind_of) and everything it does:
 *  - CHAOS_KIND_STEPS, type "chaos", input {"seed": S}: the steps of
 *    chaos_plan_make, whether the driver sends it the signal "go", and its
 *    result {"sum": ..., "signal": true|false};
 *  - CHAOS_KIND_COUNTER, type "chaos-counter": chaos_counter_make's count
 *    of "act" steps, continuing as new every `every` steps (input and
 *    result in chaos_worker.c);
 *  - CHAOS_KIND_PARENT, type "chaos-parent", input {"seed": S}: starts the
 *    children of chaos_parent_make (chaos-counter workflows, some of them
 *    chains of continue-as-new runs), waits for all and sums their sums;
 *  - CHAOS_KIND_OPS, type "chaos-ops", input {"seed": S}: takes updates,
 *    is started and signaled by signal-with-start, or is canceled
 *    (chaos_ops_make, below).
 *
 * Independently of its kind, the seed gives a workflow its run options
 * (chaos_flow_of: a priority, a fairness key, both or neither), which a
 * counter's continued runs and a parent's children inherit, and each
 * activity step of a steps workflow options of its own (chaos_step.flow):
 * the order of tasks changes, never the outcome. */
#ifndef DURO_CHAOS_PLAN_H
#define DURO_CHAOS_PLAN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define CHAOS_QUEUE "chaos"
#define CHAOS_TYPE "chaos"
#define CHAOS_SIGNAL "go"
#define CHAOS_EXEC_STREAM "chaos:exec"
#define CHAOS_MAX_STEPS 6
#define CHAOS_MAX_FANOUT 5
#define CHAOS_COUNTER_TYPE "chaos-counter"
#define CHAOS_PARENT_TYPE "chaos-parent"
#define CHAOS_MAX_CHILDREN 4
#define CHAOS_MAX_COUNT 8
/* CHAOS_SIGNAL_WAIT_MS: how long a workflow the driver signals waits for
 * "go"; far beyond the driver's delay, so the signal always wins. */
#define CHAOS_SIGNAL_WAIT_MS 60000

typedef enum {
    CHAOS_ACT,    /* one activity "act" {"x"} -> {"v": 2x+1} */
    CHAOS_FLAKY,  /* activity "flaky" {"x","fails"}: fails attempts 1..fails */
    CHAOS_SLEEP,  /* durable sleep of ms */
    CHAOS_WAIT,   /* wait for signal "go", at most ms */
    CHAOS_FANOUT, /* n activities "act" {"x": x+j} at once */
} chaos_step_kind;

/* chaos_flow: a run's or an activity's priority and fairness key. */
typedef struct {
    int priority; /* 1 (highest) .. 5; 0: none (the run's, or 3) */
    int tenant;   /* fairness key chaos_tenant(tenant); -1: none */
} chaos_flow;

typedef struct {
    chaos_step_kind kind;
    chaos_flow flow; /* ACT, FLAKY, FANOUT: the activities' own options */
    int x;           /* activity input */
    int n;           /* FLAKY: failing attempts (1..2); FANOUT: width */
    int64_t ms;      /* SLEEP / WAIT duration */
} chaos_step;

typedef struct {
    int nsteps;
    chaos_step steps[CHAOS_MAX_STEPS];
    bool signaled;           /* the driver sends "go" (only if a WAIT step) */
    int64_t signal_delay_ms; /* how long after the start the driver sends it */
    int64_t sum;             /* the expected result's "sum" */
    int activities;          /* activity calls the workflow makes */
    int planned_failures;    /* attempts that fail on purpose (FLAKY) */
} chaos_plan;

/* chaos_mix: splitmix64, the plan's random stream. */
static inline uint64_t chaos_mix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* chaos_seed_of: the seed of workflow i of a run seeded with run_seed. */
static inline uint32_t chaos_seed_of(uint64_t run_seed, int i)
{
    uint64_t s = run_seed * 1000003ull + (uint64_t)i;
    return (uint32_t)chaos_mix(&s);
}

/* chaos_workflow_id writes "chaos-<run_seed>-<i>". */
static inline void chaos_workflow_id(char *buf, size_t size, uint64_t run_seed,
                                     int i)
{
    snprintf(buf, size, "chaos-%llu-%d", (unsigned long long)run_seed, i);
}

static inline int64_t chaos_act_value(int x)
{
    return 2 * (int64_t)x + 1;
}

/* ---- Priorities and fairness keys ---------------------------------- */

#define CHAOS_TENANTS 4

/* chaos_tenant: the fairness key of tenant t ("t0".."t3"), NULL for -1. */
static inline const char *chaos_tenant(int t)
{
    static const char *const names[CHAOS_TENANTS] = {"t0", "t1", "t2", "t3"};
    return t >= 0 && t < CHAOS_TENANTS ? names[t] : NULL;
}

/* chaos_tenant_weight: tenant t's fairness weight, the same wherever its
 * key is given (0: the default, 1); t1 and t2 get more turns. */
static inline int chaos_tenant_weight(int t)
{
    return t == 1 ? 2 : t == 2 ? 5 : 0;
}

/* chaos_flow_draw: a priority 1..5 one time in `one_in`, a tenant
 * (independently) one time in `one_in`. */
static inline chaos_flow chaos_flow_draw(uint64_t *s, int one_in)
{
    chaos_flow f = {0, -1};
    if (chaos_mix(s) % (uint64_t)one_in == 0)
        f.priority = 1 + (int)(chaos_mix(s) % 5);
    if (chaos_mix(s) % (uint64_t)one_in == 0)
        f.tenant = (int)(chaos_mix(s) % CHAOS_TENANTS);
    return f;
}

/* chaos_flow_of: the run options the driver starts the workflow with seed
 * seed with: a third get a priority, a third a fairness key (a ninth
 * both). A stream of its own, so that the plans stay what they were. */
static inline chaos_flow chaos_flow_of(uint32_t seed)
{
    uint64_t s = (uint64_t)seed ^ 0x666C6F77ull;
    return chaos_flow_draw(&s, 3);
}

/* chaos_plan_make derives the plan of the workflow with input seed. */
static inline void chaos_plan_make(uint32_t seed, chaos_plan *p)
{
    uint64_t s = seed;
    *p = (chaos_plan){0};
    p->nsteps = 2 + (int)(chaos_mix(&s) % (CHAOS_MAX_STEPS - 1));
    bool waited = false;
    for (int i = 0; i < p->nsteps; i++) {
        chaos_step *st = &p->steps[i];
        int r = (int)(chaos_mix(&s) % 100);
        st->x = (int)(chaos_mix(&s) % 1000);
        if (r < 30) {
            st->kind = CHAOS_ACT;
        } else if (r < 45) {
            st->kind = CHAOS_FLAKY;
            st->n = 1 + (int)(chaos_mix(&s) % 2);
        } else if (r < 65) {
            st->kind = CHAOS_SLEEP;
            st->ms = 100 + (int64_t)(chaos_mix(&s) % 1901);
        } else if (r < 80 && !waited) {
            waited = true;
            st->kind = CHAOS_WAIT;
            p->signaled = chaos_mix(&s) % 2 == 0;
            p->signal_delay_ms = (int64_t)(chaos_mix(&s) % 3000);
            st->ms = p->signaled ? CHAOS_SIGNAL_WAIT_MS
                                 : 200 + (int64_t)(chaos_mix(&s) % 1301);
        } else {
            st->kind = CHAOS_FANOUT;
            st->n = 2 + (int)(chaos_mix(&s) % (CHAOS_MAX_FANOUT - 1));
        }
        switch (st->kind) {
        case CHAOS_ACT:
            p->sum += chaos_act_value(st->x);
            p->activities++;
            break;
        case CHAOS_FLAKY:
            p->sum += chaos_act_value(st->x);
            p->activities++;
            p->planned_failures += st->n;
            break;
        case CHAOS_FANOUT:
            for (int j = 0; j < st->n; j++)
                p->sum += chaos_act_value(st->x + j);
            p->activities += st->n;
            break;
        default:
            break;
        }
    }
    /* a quarter of the activity steps get a priority of their own, a
     * quarter a fairness key (their own stream, as chaos_flow_of's) */
    uint64_t fs = (uint64_t)seed ^ 0x61637466ull;
    for (int i = 0; i < p->nsteps; i++)
        p->steps[i].flow = chaos_flow_draw(&fs, 4);
}

/* ---- Continue-as-new and children ------------------------------------ */

typedef enum {
    CHAOS_KIND_STEPS,   /* 58%: chaos_plan */
    CHAOS_KIND_COUNTER, /* 15%: chaos_counter, continues as new */
    CHAOS_KIND_PARENT,  /* 15%: chaos_parent, starts children */
    CHAOS_KIND_OPS,     /* 12%: chaos_ops (updates, signal-with-start,
                           cancellation) */
} chaos_kind;

/* chaos_kind_of: the kind of the workflow with seed seed (its own stream,
 * so that the steps workflows keep the plans they always had). */
static inline chaos_kind chaos_kind_of(uint32_t seed)
{
    uint64_t s = (uint64_t)seed ^ 0x6B696E64ull;
    int r = (int)(chaos_mix(&s) % 100);
    return r < 58   ? CHAOS_KIND_STEPS
           : r < 70 ? CHAOS_KIND_OPS
           : r < 85 ? CHAOS_KIND_COUNTER
                    : CHAOS_KIND_PARENT;
}

/* chaos_counter: `total` activities "act" {"x": base+step, "step": step}
 * (step 0..total-1), `every` per run: the workflow continues as new after
 * each `every` steps, so it runs `runs` times and sums to `sum`. */
typedef struct {
    int total, every, base, runs;
    int64_t sum;
} chaos_counter;

static inline void chaos_counter_fill(chaos_counter *c)
{
    c->runs = (c->total + c->every - 1) / c->every;
    c->sum = 0;
    for (int j = 0; j < c->total; j++)
        c->sum += chaos_act_value(c->base + j);
}

/* chaos_counter_make: a top-level counter: 3..8 steps, 1..3 per run. */
static inline void chaos_counter_make(uint32_t seed, chaos_counter *c)
{
    uint64_t s = (uint64_t)seed ^ 0x636F756Eull;
    c->total = 3 + (int)(chaos_mix(&s) % (CHAOS_MAX_COUNT - 2));
    c->every = 1 + (int)(chaos_mix(&s) % 3);
    c->base = (int)(chaos_mix(&s) % 1000);
    chaos_counter_fill(c);
}

/* chaos_parent: n children, child j a counter of 1..3 steps that continues
 * as new every 1..total steps (every < total: a chain). */
typedef struct {
    int n;
    chaos_counter child[CHAOS_MAX_CHILDREN];
    int64_t sum; /* the parent's result's "sum": its children's sums */
} chaos_parent;

static inline void chaos_parent_make(uint32_t seed, chaos_parent *p)
{
    uint64_t s = (uint64_t)seed ^ 0x70617265ull;
    p->n = 2 + (int)(chaos_mix(&s) % (CHAOS_MAX_CHILDREN - 1));
    p->sum = 0;
    for (int j = 0; j < p->n; j++) {
        chaos_counter *c = &p->child[j];
        c->total = 1 + (int)(chaos_mix(&s) % 3);
        c->every = 1 + (int)(chaos_mix(&s) % (uint64_t)c->total);
        c->base = (int)(chaos_mix(&s) % 1000);
        chaos_counter_fill(c);
        p->sum += c->sum;
    }
}

/* ---- Updates, signal-with-start, cancellation ------------------------
 *
 * A CHAOS_KIND_OPS workflow (type "chaos-ops", input {"seed": S}) does
 * what chaos_ops_make's mode says:
 *  - CHAOS_OPS_UPDATE: registers update CHAOS_UPDATE {"x"} (its validator
 *    rejects x < 0; the handler adds x and answers {"n": updates so far})
 *    and waits for `accepted` updates; result {"sum", "updates"}. The
 *    driver sends update j with id "<wf>-u<j>", again with the same id
 *    when twice[j] (a client's retry after a lost reply); the last update
 *    is an accepted one, so that every rejection comes while it runs;
 *  - CHAOS_OPS_SWS: started by signal-with-start of signal CHAOS_SIGNAL
 *    {"j": 0, "x"}, then signals j = 1..n-1 (by signal-with-start when
 *    sws[j], else a plain signal) to the running workflow, which waits
 *    for all n; result {"sum", "signals"};
 *  - CHAOS_OPS_CANCEL: sleeps CHAOS_SIGNAL_WAIT_MS (sleep) or runs
 *    activity "slow" (which runs until it is canceled), the driver cancels
 *    it delay_ms after the start; when cleanup it then runs one "act"
 *    {"x"} and returns, closing CANCELED either way. */
#define CHAOS_OPS_TYPE "chaos-ops"
#define CHAOS_UPDATE "add"
#define CHAOS_MAX_OPS 5

typedef enum {
    CHAOS_OPS_UPDATE,
    CHAOS_OPS_SWS,
    CHAOS_OPS_CANCEL
} chaos_ops_mode;

typedef struct {
    chaos_ops_mode mode;
    int n;                /* updates sent / signals sent */
    int x[CHAOS_MAX_OPS]; /* update j's or signal j's "x" (< 0: rejected) */
    bool twice[CHAOS_MAX_OPS]; /* update j sent twice with its id */
    bool sws[CHAOS_MAX_OPS];   /* signal j by signal-with-start */
    int accepted;              /* updates accepted */
    int64_t sum;               /* the result's "sum" */
    bool sleep, cleanup;       /* CANCEL: what is in flight, what follows */
    int64_t delay_ms;          /* when the driver's updates, signals or
                                  cancel come after the start */
} chaos_ops;

static inline void chaos_ops_make(uint32_t seed, chaos_ops *o)
{
    uint64_t s = (uint64_t)seed ^ 0x6F707321ull;
    *o = (chaos_ops){0};
    o->mode = (chaos_ops_mode)(chaos_mix(&s) % 3);
    o->delay_ms = (int64_t)(chaos_mix(&s) % 1500);
    o->n = 2 + (int)(chaos_mix(&s) % (CHAOS_MAX_OPS - 1));
    for (int j = 0; j < o->n; j++) {
        o->x[j] = 1 + (int)(chaos_mix(&s) % 1000);
        if (o->mode == CHAOS_OPS_UPDATE && j < o->n - 1 &&
            chaos_mix(&s) % 3 == 0)
            o->x[j] = -o->x[j];
        o->twice[j] = o->mode == CHAOS_OPS_UPDATE && chaos_mix(&s) % 2 == 0;
        o->sws[j] = o->mode == CHAOS_OPS_SWS && (j == 0 || chaos_mix(&s) % 2);
        if (o->x[j] > 0) {
            o->accepted++;
            o->sum += o->x[j];
        }
    }
    o->sleep = chaos_mix(&s) % 2 == 0;
    o->cleanup = chaos_mix(&s) % 2 == 0;
}

/* chaos_update_id writes update j's id: "<wf>-u<j>". */
static inline void chaos_update_id(char *buf, size_t size, const char *wf,
                                   int j)
{
    snprintf(buf, size, "%s-u%d", wf, j);
}

/* ---- The schedule ------------------------------------------------------
 *
 * During the drive an interval schedule (chaos_schedule_id, every
 * CHAOS_SCHED_INTERVAL_MS, overlap AllowAll) starts a one-step
 * chaos-counter (CHAOS_SCHED_INPUT) per nominal time, as workflow
 * "<chaos_schedule_id>-<nominal time, RFC 3339>"; the driver pauses it at
 * the end and records when in CHAOS_SCHED_KEY's field `paused_ms`. */
#define CHAOS_SCHED_INTERVAL_MS 1000
#define CHAOS_SCHED_KEY "chaos:sched"
#define CHAOS_SCHED_INPUT                                                      \
    "{\"total\":1,\"every\":1,\"base\":0,\"step\":0,\"runs\":0,\"sum\":0}"

/* chaos_schedule_id writes "chaos-<run_seed>-s", the schedule's id and its
 * workflows' id prefix. */
static inline void chaos_schedule_id(char *buf, size_t size, uint64_t run_seed)
{
    snprintf(buf, size, "chaos-%llu-s", (unsigned long long)run_seed);
}

/* chaos_child_id writes child j's workflow id: "<parent id>/c<j>". */
static inline void chaos_child_id(char *buf, size_t size, const char *parent,
                                  int j)
{
    snprintf(buf, size, "%s/c%d", parent, j);
}

#endif
