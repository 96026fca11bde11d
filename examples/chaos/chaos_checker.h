/* chaos_checker.h: what chaos-check's `check` shares between the history
 * checks (chaos_check.c) and the checks of each kind of workflow plus the
 * summary (chaos_mix.c). */
#ifndef DURO_CHAOS_CHECKER_H
#define DURO_CHAOS_CHECKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <hiredis/hiredis.h>

#include "duro/keys.h"
#include "chaos_plan.h"
#include "chaos_tool.h"

/* checker: the counts behind the summary line. */
typedef struct {
    const chaos_args *a;
    chaos_route *c;
    int partitions;
    int completed, lost, duplicated, malformed, stuck, unrecorded;
    int leftovers, dead;
    int counters, parents, children, runs, steps;
    /* workflows checked to run with a priority, with a fairness key; task
     * streams of a level (1, 2, 4, 5), of a fairness key, checked empty */
    int prio, fair, level_streams, fair_streams;
    int sched; /* nominal times of the schedule checked */
    /* chaos-ops workflows checked, by chaos_ops_mode: updates,
     * signal-with-start, cancellation */
    int ops[3];
    long long executions, distinct, unplanned;
    int reports[8];
    /* chaos:exec, sorted: "key attempt" strings */
    char **exec;
    size_t nexec;
    /* chaos:exec's records with a step, sorted: "<wf>#<step> <key>" */
    char **eff;
    size_t neff;
} checker;

enum { R_LOST, R_DUP, R_MALFORMED, R_STUCK, R_UNRECORDED, R_LEFTOVER };

/* hist_expect: what a closed run's history must hold. */
typedef struct {
    int activities; /* ActivityScheduled events (-1: any number) */
    int signals;    /* SignalReceived events */
    int children;   /* children started and completed */
    bool continued; /* it closes with WorkflowContinuedAsNew */
} hist_expect;

void chaos_report(checker *k, int kind, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* chaos_cmd runs a command whose keys share key's slot (chaos_route.h);
 * exits when Redis does not answer. */
redisReply *chaos_cmd(checker *k, const char *key, const char *fmt, ...);

/* chaos_load_exec reads chaos:exec into k->exec and k->eff. */
void chaos_load_exec(checker *k);
void chaos_free_exec(checker *k);
/* chaos_applied: the idempotency keys under which step `step` of workflow
 * wf recorded an execution (1 when it was applied once). */
int chaos_applied(const checker *k, const char *wf, int step);

/* chaos_check_history: 0, or -1 after reporting what is wrong with run's
 * history. hlen: the hash's idea of its length (-1: unknown); a run still
 * open (already counted as lost) is only checked for what must hold at any
 * time. prev receives the run it continues ("" for a first run). */
int chaos_check_history(checker *k, const char *id, const char *run,
                        long long hlen, const hist_expect *x, bool closed,
                        char *prev, size_t prev_size);

/* chaos_hash_get: the value of field in an HGETALL reply, or NULL. */
const char *chaos_hash_get(const redisReply *h, const char *field);

/* chaos_check_leftovers: the closed workflow id (hash h) kept no buffer,
 * pending activity or index entry. */
void chaos_check_leftovers(checker *k, const char *id, const redisReply *h);

/* chaos_check_steps checks the CHAOS_KIND_STEPS workflow id. */
void chaos_check_steps(checker *k, const char *id, uint32_t seed);

/* chaos_check_ops checks the CHAOS_KIND_OPS workflow id (chaos_ops.c). */
void chaos_check_ops(checker *k, const char *id, uint32_t seed);

/* chaos_schedule_range: false when the drive ran no schedule
 * (chaos_plan.h); else the schedule's id in id, and the nominal times
 * [*first, *end) whose workflows must have completed once, after
 * reporting as LOST (and counting in k->lost) a schedule that missed or
 * skipped a time, was not paused, or stopped handling its times well
 * before the pause (chaos_sched.c). */
bool chaos_schedule_range(checker *k, char *id, size_t size, long long *first,
                          long long *end);

/* ---- Priorities and fairness keys (chaos_flow.c) ---- */

/* chaos_check_flow: workflow id's hash (its current run) keeps the
 * priority and fairness key f it was started with; a mismatch is
 * MALFORMED. */
void chaos_check_flow(checker *k, const char *id, const chaos_flow *f);

/* chaos_key_kind: what a key of a task queue holds (docs/internals.md). */
typedef enum {
    CHAOS_KEY_OTHER,      /* not a task queue's */
    CHAOS_KEY_TASKS,      /* a plain (level 3) or sticky task stream */
    CHAOS_KEY_LEVEL,      /* <S>!L: the tasks of level L */
    CHAOS_KEY_BELLS,      /* <S>!0: level bells; a dead worker's stay pending */
    CHAOS_KEY_FAIR,       /* <S>~K: the tasks of fairness key K */
    CHAOS_KEY_FAIR_READY, /* <S>~: the keys with tasks waiting */
    CHAOS_KEY_FAIR_META,  /* <S>~~: virtual time and per-key counts */
} chaos_key_kind;

chaos_key_kind chaos_key_kind_of(const char *key);

/* chaos_check_fair_keys counts what a fair ready zset or meta hash still
 * holds of tasks (none should be waiting at the end); reports it when
 * report_them. 0 for other kinds. */
int chaos_check_fair_keys(checker *k, const char *key, chaos_key_kind kind,
                          bool report_them);

#endif
