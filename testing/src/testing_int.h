/* testing_int.h: the parts of the test environment (testenv.c). */
#ifndef DURO_TESTING_INT_H
#define DURO_TESTING_INT_H

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* TESTING_CLOCK_KEY: the virtual clock's offset from the real one (ms),
 * which the test library's now_ms adds to TIME. Outside every partition's
 * slot: the test environment's Redis is one private node. */
#define TESTING_CLOCK_KEY "duro:test:clock"

/* ---- test_redis.c ---- */

/* testing_redis: the server and its keeper, a thread of the environment's
 * own that forks it and waits for its end. The server's parent death
 * signal follows the thread that forked it (prctl(2)), not the process:
 * forked by the caller's thread, the server would stop when that thread
 * ends (an environment made on a setup thread), so the keeper forks it and
 * lives as long as it does. */
typedef struct {
    atomic_int pid; /* -1: not running */
    int port;
    char url[64];
    const char *prog;
    pthread_t keeper;
    bool keeper_running;
    atomic_bool exited; /* the keeper has reaped it (or could not fork) */
    int status;         /* waitpid's, once exited; -1: fork failed */
} testing_redis;

/* testing__redis_start runs prog on a free port of 127.0.0.1 (forked by
 * the keeper thread) and waits for its PING. 0, DURO_ENOTFOUND (no such
 * program), DURO_ECONN. */
int testing__redis_start(testing_redis *r, const char *prog);
/* testing__redis_stop: SIGTERM, then SIGKILL after 3s; joins the keeper,
 * which reaps it. */
void testing__redis_stop(testing_redis *r);

/* ---- test_clock.c ---- */

/* testing__clock_install puts the virtual clock (offset 0) under
 * duro_now_ms (the monotonic clocks stay real); uninstall restores the
 * real one. */
void testing__clock_install(void);
void testing__clock_uninstall(void);
/* testing__real_mono_ms: the real monotonic clock, for wall-time limits. */
int64_t testing__real_mono_ms(void);
/* testing__functions_load loads the library with its clock seam reading
 * TESTING_CLOCK_KEY. */
int testing__functions_load(redisContext *c);
/* testing__clock_start sets the clock to start_ms (ms since the epoch),
 * in Redis and in this process, before anything reads it. */
int testing__clock_start(redisContext *c, int64_t start_ms);
/* testing__idle_step: one look at Redis. *idle = 0 while a task is queued
 * or running, a timer is due or a schedule's fire is in flight; else 1,
 * and the clock moves to the earliest of the next timer and target (no
 * move when target <= now; target -1: the next timer), the process's clock
 * with it, and that timer's scheduler is woken. *now: the virtual time
 * after the step; *moved: whether the step moved it; why (when busy): the
 * key that keeps it busy. */
int testing__idle_step(redisContext *c, int64_t target, int *idle, int64_t *now,
                       bool *moved, char *why, size_t whysize);

#endif
