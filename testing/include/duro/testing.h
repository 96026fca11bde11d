/* testing.h: a time-skipping test environment for workflows (duro::testing).
 *
 * One call starts a private redis-server (found on PATH) on a free port of
 * 127.0.0.1 and runs a worker, the scheduler and a client in the test's
 * own process against a virtual clock. While the test waits for a result
 * (duro_testenv_result) and every workflow is blocked on a timer (no task
 * queued or running, no timer due), the clock jumps to the next timer; a
 * test can also move it by hand (duro_testenv_sleep). A one-minute timeout
 * takes a few milliseconds of wall time.
 *
 *   duro_testenv *env;
 *   duro_testenv_opts o = {.task_queue = "orders"};
 *   cr_assert_eq(duro_testenv_new(&env, &o), 0);
 *   duro_worker_register_workflow(duro_testenv_worker(env), "order", order);
 *   cr_assert_eq(duro_testenv_start(env), 0);
 *   duro_start_opts s = {.workflow_id = "o-1", .type = "order",
 *                        .task_queue = "orders"};
 *   char run[DURO_UUID_LEN + 1];
 *   duro_client_start(duro_testenv_client(env), &s, run);
 *   cJSON *d;
 *   cr_assert_eq(duro_testenv_result(env, "o-1", &d), 0);  // skips time
 *   duro_testenv_free(env);
 *
 * The virtual clock is the whole process's wall clock (duro_now_ms, which
 * the scheduler and the client go by) and the Functions' (the library is
 * loaded with its clock seam reading the offset from the key
 * duro:test:clock, see docs/internals.md "Test clock"): one environment
 * per process at a time. Monotonic clocks (timeouts of queries, of
 * connections) stay real. Time only jumps inside duro_testenv_result and
 * duro_testenv_sleep, and only while nothing runs, so a test that reads a
 * state and then signals is never overtaken by a timeout. */
#ifndef DURO_TESTING_H
#define DURO_TESTING_H

#include <stdint.h>

#include "duro/client.h"
#include "duro/export.h"
#include "duro/worker.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct duro_testenv duro_testenv;

/* duro_testenv_opts: zero fields take the defaults shown. */
typedef struct {
    const char *task_queue;   /* required: the worker's task queue */
    const char *redis_server; /* "redis-server", found on PATH */
    int64_t wait_ms;          /* 10000: wall-clock limit of each wait */
    int activity_threads;     /* 4: the worker's */
    const char *log_level;    /* "warn": the process's (duro_log) */
    int64_t start_ms;         /* where the virtual clock starts, ms since
                                 the epoch; 0: the real time */
} duro_testenv_opts;

/* duro_testenv_new starts redis-server, loads the Functions with the test
 * clock and creates the worker (register on duro_testenv_worker, then
 * duro_testenv_start). Returns 0,
 * DURO_EINVAL (no task queue, wait_ms or start_ms < 0, start_ms past 2^53,
 * or an environment already exists),
 * DURO_ENOTFOUND (no redis-server), DURO_ECONN, DURO_ENOMEM; the reason is
 * logged. The clock starts at o->start_ms, else at the real time. */
DURO_EXPORT int duro_testenv_new(duro_testenv **out,
                                 const duro_testenv_opts *o);

/* duro_testenv_worker: the worker, to register workflows and activities
 * on before duro_testenv_start. */
DURO_EXPORT duro_worker *duro_testenv_worker(duro_testenv *env);

/* duro_testenv_start runs the worker on a thread of its own and the
 * scheduler on another, and connects the client. Returns 0 or DURO_E*. */
DURO_EXPORT int duro_testenv_start(duro_testenv *env);

/* duro_testenv_client: the environment's client (the test thread's). */
DURO_EXPORT duro_client *duro_testenv_client(duro_testenv *env);

/* duro_testenv_redis_url: "redis://127.0.0.1:<port>", the private server. */
DURO_EXPORT const char *duro_testenv_redis_url(const duro_testenv *env);

/* duro_testenv_now_ms: the virtual clock, ms since the epoch (what
 * duro_now_ms and the Functions read). */
DURO_EXPORT int64_t duro_testenv_now_ms(const duro_testenv *env);

/* duro_testenv_result waits until the workflow is closed, jumping the
 * clock to the next timer whenever nothing else can happen, and hands out
 * its describe object (as duro_client_result). Returns 0, DURO_ETIMEDOUT
 * (still open after wait_ms of wall time), DURO_ENOTFOUND, DURO_E*. */
DURO_EXPORT int duro_testenv_result(duro_testenv *env, const char *workflow_id,
                                    cJSON **out);

/* duro_testenv_sleep moves the clock forward by ms, firing the timers due
 * on the way in order and letting the work each causes finish before the
 * next, as if that much time had passed. Returns 0, DURO_EINVAL (ms < 0,
 * or past 2^53 ms since the epoch, where the Functions' numbers stop being
 * exact) or DURO_ETIMEDOUT (the work did not settle within wait_ms of wall
 * time). */
DURO_EXPORT int duro_testenv_sleep(duro_testenv *env, int64_t ms);

/* duro_testenv_settle waits, without moving the clock, until no task is
 * queued or running and no timer is due: the workflows have done all they
 * can until a timer, a signal or a cancel. Returns 0 or DURO_ETIMEDOUT. */
DURO_EXPORT int duro_testenv_settle(duro_testenv *env);

/* duro_testenv_free stops the worker, the scheduler and the client, kills
 * redis-server (by its PID) and restores the real clock. NULL is a no-op. */
DURO_EXPORT void duro_testenv_free(duro_testenv *env);

#ifdef __cplusplus
}
#endif

#endif
