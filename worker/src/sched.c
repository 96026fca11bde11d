/* The scheduling policy of the worker's threads: SCHED_BATCH by default.
 *
 * Why: throughput is bound by redis-server's core. A worker's loop thread
 * sleeps between Redis's replies, so under CFS it wakes with a small
 * vruntime and preempts a running redis-server; with 2 and 4 workers on a
 * small machine Redis lost its core 5-9 times as often per workflow as
 * with one, and the runs' throughput followed those preemptions
 * (docs/benchmarks.md, "The worker's side on library 37"). SCHED_BATCH is
 * CFS without wake-up preemption: the woken thread waits for the running
 * task's slice instead of taking the core at once. The nice value stays
 * as it is and no privilege is needed. The loop thread sets it on itself
 * before it creates the activity pools, whose threads inherit it (clone
 * copies the policy), and puts the caller's policy back when the run ends.
 *
 * Measured (docs/benchmarks.md, "SCHED_BATCH for the worker's threads"):
 * Redis preempted about half as often, the worker's context switches per
 * workflow 5.2 -> 1.5, 4 workers no longer slower than one; 2 workers
 * still are (0.91x). A nice of +5 on the pool threads as well was tried
 * and not taken: no better, and it would lower user activities'
 * priority against every other process of the machine.
 */
#include <errno.h>
#include <sched.h>
#include <string.h>

#include "duro/log.h"
#include "worker_internal.h"

int duro__sched_batch_enter(const duro_worker *w)
{
    if (!w->sched_batch) return -1;
    int old = sched_getscheduler(0);
    /* only from the ordinary policy: a caller's real-time or idle policy
     * is its own choice */
    if (old != SCHED_OTHER) return -1;
    struct sched_param sp = {.sched_priority = 0};
    if (sched_setscheduler(0, SCHED_BATCH, &sp) != 0) {
        duro_warn("SCHED-BATCH-FAILED %s: the worker's threads keep "
                  "SCHED_OTHER",
                  strerror(errno));
        return -1;
    }
    return old;
}

void duro__sched_leave(int old)
{
    if (old < 0) return;
    struct sched_param sp = {.sched_priority = 0};
    (void)sched_setscheduler(0, old, &sp);
}
