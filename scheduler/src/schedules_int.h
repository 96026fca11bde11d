/* schedules_int.h: one schedule fire in flight (schedules.c) and its plan
 * (schedules_plan.c). */
#ifndef DURO_SCHEDULES_INT_H
#define DURO_SCHEDULES_INT_H

#include <stdint.h>

#include "duro/cron.h"
#include "duro/ids.h"
#include "sched_internal.h"

#define SCHED_MAX_RUNNING 64    /* workflows tracked for the overlap policy */
#define SCHED_MAX_ACTIONS 100   /* nominal times offered per fire */
#define SCHED_MAX_BUFFER 1000   /* buffered starts (BufferAll) */
#define SCHED_POLL_MS 1000      /* a buffered start looks again this often */
#define SCHED_MISSED_MAX 100000 /* missed times counted one by one */

typedef enum {
    OVERLAP_SKIP,
    OVERLAP_BUFFER_ONE,
    OVERLAP_BUFFER_ALL,
    OVERLAP_CANCEL_OTHER,
    OVERLAP_TERMINATE_OTHER,
    OVERLAP_ALLOW_ALL,
} overlap_policy;

/* sstart: one workflow this fire starts. */
typedef struct {
    int64_t nominal;
    char wfid[DURO_ID_MAX + 1];
    char run[DURO_UUID_LEN + 1];
    char *started_data;
    const char *how; /* "schedule", "trigger", "backfill", "buffered" */
} sstart;

/* skill: a run the overlap policy cancels or terminates. */
typedef struct {
    int64_t nominal;
    char run[DURO_UUID_LEN + 1];
    char queue[DURO_QUEUE_MAX + 1];
} skill;

/* sjob: one claimed fire of schedule `id`: the snapshot the claim
 * returned, then the plan. */
typedef struct sjob {
    const duro_keyspace *ks; /* the namespace of the schedule */
    int64_t retention_ms;    /* its retention, for the runs it starts */
    sched *s;
    char id[DURO_ID_MAX + 1];
    char token[64], rev[32];
    int64_t now;
    /* the hash */
    char *cron, *tz, *type, *queue, *input, *prefix, *overlap;
    overlap_policy policy;
    int64_t jitter_ms, catchup_ms, next_nominal;
    int paused;
    duro_spec spec;
    int spec_ok;
    int64_t running[SCHED_MAX_RUNNING];
    int alive[SCHED_MAX_RUNNING + 1];
    char runs[SCHED_MAX_RUNNING + 1][DURO_UUID_LEN + 1];
    char queues[SCHED_MAX_RUNNING + 1][DURO_QUEUE_MAX + 1]; /* their task
                                                               queues */
    int nrunning;
    int64_t *buffer;
    int nbuffer;
    char **reqs;
    int nreq;
    /* the plan */
    sstart *starts;
    int nstarts;
    skill kill[SCHED_MAX_RUNNING];
    int nkill;
    char kill_how;         /* 'c' cancel, 't' terminate */
    int64_t new_next, due; /* due -1: no timer */
    long long missed, skipped;
    int nbuffered; /* buffered by this fire */
    int reqs_done;
    char requeue[64];
    /* the chain */
    int waiting;
    int failed;
} sjob;

/* schedules_job_new parses a claim's reply {'claimed', token, now, hash,
 * requests} into a job. NULL when it is malformed or memory ran out. */
sjob *schedules_job_new(sched *s, const char *id, const redisReply *reply);
/* schedules_plan decides the fire (see schedules_plan.c). */
void schedules_plan(sjob *j);
/* schedules_wfid: "<prefix or id>-<nominal RFC 3339>". */
char *schedules_wfid(const sjob *j, int64_t nominal, char *buf, size_t size);
/* schedules_claim hands schedule timer `id` of pt's round to a fire;
 * answered(pt) runs once the claim's reply was handled, so that the round
 * (timers.c) counts it without schedules.c calling back into the round.
 * 0, or DURO_E* when it could not be sent. */
int schedules_claim(part *pt, const char *id, void (*answered)(part *pt));

#endif
