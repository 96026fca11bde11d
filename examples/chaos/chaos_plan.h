/* chaos_plan.h: the deterministic plan of one chaos workflow, shared by the
 * worker (which runs it), the driver (which starts and signals it) and the
 * checker (which knows the result it must end with).
 *
 * A workflow's input is {"seed": S} with S < 2^32. The seed alone decides
 * its steps, whether the driver sends it the signal "go", and its result
 * {"sum": ..., "signal": true|false}. */
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

typedef struct {
    chaos_step_kind kind;
    int x;      /* activity input */
    int n;      /* FLAKY: failing attempts (1..2); FANOUT: width */
    int64_t ms; /* SLEEP / WAIT duration */
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
}

#endif
