/* harness_task.h: a workflow whose first workflow task the test claims and
 * commits by hand, with no worker, for the tests that call the Functions
 * directly (test_lease.c, test_lease_paths.c). */
#ifndef DURO_HARNESS_TASK_H
#define DURO_HARNESS_TASK_H

#include <stdbool.h>

#include "duro/ids.h"
#include "duro/keys.h"
#include "harness.h"

/* duro_test_task: workflow `id` of type "t" on queue `id` (its activities
 * on queue `id` too), started, its first workflow task claimed as consumer
 * "t" of Duro's group. */
typedef struct {
    redisContext *r;
    duro_client *c;
    duro_wf_keys k; /* with the run and both queues */
    int p;          /* its partition */
    char id[32], run[DURO_UUID_LEN + 1], entry[64], token[32];
    char lease[64];    /* the lease the last commit made ("" when none) */
    long long started; /* the lease's <started> (ms) */
    char member[512];  /* the l timer of activity 1's first attempt */
} duro_test_task;

void duro_test_task_init(duro_test_harness *h, duro_test_task *t,
                         const char *id);
void duro_test_task_free(duro_test_task *t);

/* duro_test_task_commit_cmds: duro_wft_complete of t's claimed task with
 * the ncmd commands whose nfields words are fields (as the worker encodes
 * them), naming the run's own activity stream; eager: DURO_TEST_EAGER_NONE
 * (no eager tail), _ENTRIES (worker "w1" asks for 4 tasks as a worker of
 * library 34 does: stream entries) or _LEASES (leased). The reply (not
 * NULL; the caller frees it); a lease it made is kept in t->lease and
 * t->started. */
enum { DURO_TEST_EAGER_NONE, DURO_TEST_EAGER_ENTRIES, DURO_TEST_EAGER_LEASES };
redisReply *duro_test_task_commit_cmds(duro_test_task *t,
                                       const char *const *fields, int nfields,
                                       int ncmd, int eager);

/* duro_test_task_commit: duro_wft_complete of t's claimed task scheduling
 * activity 1 ("echo", input null) on the run's own queue with task options
 * opts, start-to-close stc, heartbeat timeout hbt and schedule-to-close
 * stc2 (ms, as text), the eager tail asking worker "w1" for 4 tasks:
 * leased (lease) or, as a worker of library 34 asks, as stream entries.
 * The reply (asserted an array; the caller frees it); a lease it made is
 * kept in t->lease and t->started. */
redisReply *duro_test_task_commit(duro_test_task *t, const char *opts,
                                  const char *stc, const char *hbt,
                                  const char *stc2, bool lease);

#endif
