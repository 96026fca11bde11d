/* pool.h: the activity thread pool, which hands results back to a loop. */
#ifndef DURO_POOL_H
#define DURO_POOL_H

#include <stdint.h>
#include <uv.h>

/* duro__pool runs jobs on its own threads and calls done for each one on
 * the loop thread. Jobs are opaque to the pool: the caller owns them, and a
 * job belongs to the pool from submit until its done callback returns. */
typedef struct duro__pool duro__pool;

/* duro__pool_work_fn runs a job on a pool thread; it may block. It must not
 * touch the loop or anything the loop thread owns. */
typedef void (*duro__pool_work_fn)(void *job);

/* duro__pool_done_fn runs on the loop thread once work(job) has returned,
 * exactly once per submitted job (also while the pool is closing). */
typedef void (*duro__pool_done_fn)(void *job);

/* duro__pool_close_cb runs on the loop thread when a closed pool's memory
 * has been released. */
typedef void (*duro__pool_close_cb)(void *arg);

/* duro__pool_new starts threads (>= 1) workers that call work and wakes
 * loop to call done. Returns 0 and stores the pool in *out, or -1 (threads
 * < 1, out of memory, or a thread or descriptor that cannot be created;
 * *out is untouched). The pool holds one referenced uv_poll handle on
 * loop (its bell: bell.h) until duro__pool_close() finishes. */
int duro__pool_new(duro__pool **out, uv_loop_t *loop, int threads,
                   duro__pool_work_fn work, duro__pool_done_fn done);

/* duro__pool_submit queues job; jobs start in FIFO order. Loop thread only;
 * never blocks. Returns 0, or -1 when out of memory (done will not run for
 * job). Submitting to a closing pool is a bug. */
int duro__pool_submit(duro__pool *p, void *job);

/* duro__pool_wakeups: the times the loop woke for finished jobs (each
 * answers one or more; jobs that finish while the loop is busy share
 * one). Loop thread only. */
uint64_t duro__pool_wakeups(const duro__pool *p);

/* duro__pool_ready: the finished jobs waiting for the loop once the bell
 * rung for them has been heard (0 before: the loop's next turn might not
 * see them). Any thread; for tests that must know what one turn of the
 * loop will hand back. */
int duro__pool_ready(duro__pool *p);

/* duro__pool_busy counts jobs submitted but whose done has not been called
 * yet (a done callback no longer counts its own job). Loop thread only. */
int duro__pool_busy(const duro__pool *p);

/* duro__pool_close lets queued and running jobs finish and their done
 * callbacks run, then joins the threads, closes the bell and
 * frees the pool; on_closed(arg) (may be NULL) runs after that, from the
 * loop. Never blocks on jobs. Loop thread only, once; may be called from a
 * done callback. Afterwards p may only be given to duro__pool_busy(), and
 * only until on_closed runs. */
void duro__pool_close(duro__pool *p, duro__pool_close_cb on_closed, void *arg);

#endif
