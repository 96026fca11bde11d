/* commit.h: a workflow task's commands encoded as Function arguments,
 * shared by duro_wft_complete and the eager form of duro_act_complete. */
#ifndef DURO_COMMIT_H
#define DURO_COMMIT_H

#include "duro/keys.h"
#include "duro/redis.h"
#include "run.h"

#define DURO_MAX_ACT_QUEUES 8

/* duro__commit: the encoded command list and the activity streams it names
 * (passed as KEYS[key_base..]). */
typedef struct duro__commit {
    duro_argv args;  /* borrows strings from cmds */
    duro__cmd *cmds; /* owned */
    int ncmd;
    int nextra;
    char extra[DURO_MAX_ACT_QUEUES][DURO_KEY_MAX];
    int nacts[DURO_MAX_ACT_QUEUES]; /* activities scheduled on extra[i] */
    char wtc[96];                   /* WorkflowTaskCompleted data */
    const duro_keyspace *ks;        /* the run's namespace */
} duro__commit;

/* duro__commit_encode takes over cmds and encodes them for a run in
 * `partition` of keyspace ks (kept: it must outlive c) whose clock reads now;
 * key_base is the KEYS index of the first activity stream. Returns 0, or
 * DURO_EINVAL when the commands name more than DURO_MAX_ACT_QUEUES task queues.
 * Either way free with duro__commit_free (which frees cmds too). */
int duro__commit_encode(duro__commit *c, const duro_keyspace *ks, int partition,
                        int key_base, duro__cmd *cmds, int64_t now);
void duro__commit_free(duro__commit *c);

/* duro__commit_acts_to: how many activities the commands schedule on
 * activity stream key (eager activity dispatch asks for that many). */
int duro__commit_acts_to(const duro__commit *c, const char *key);

#endif
