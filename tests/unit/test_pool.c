/* test_pool.c: activity pool jobs, their done callbacks and closing. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <uv.h>

#include "pool.h"

TestSuite(pool, .timeout = 5);

/* ---- Fixture ---- */

typedef struct {
    atomic_int worked; /* times work ran */
    int done;          /* times done ran */
    bool on_loop;      /* work ran off the loop thread, done on it */
    int done_order;    /* position among all done calls */
    uv_sem_t *gate;    /* if set, work waits on it */
} job;

static uv_thread_t loop_thread;
static duro__pool *pool;
static int done_calls;
static int closed_calls;
static int expect;        /* close the pool after this many done calls */
static int busy_seen[64]; /* duro__pool_busy() inside each done call */

static void work(void *arg)
{
    job *j = arg;
    uv_thread_t self = uv_thread_self();

    if (uv_thread_equal(&self, &loop_thread))
        return; /* leaves worked at 0: the test fails */
    if (j->gate != NULL) uv_sem_wait(j->gate);
    atomic_fetch_add(&j->worked, 1);
}

static void on_closed(void *arg)
{
    cr_assert_eq(arg, &closed_calls);
    closed_calls++;
}

static void done(void *arg)
{
    job *j = arg;
    uv_thread_t self = uv_thread_self();

    j->on_loop = uv_thread_equal(&self, &loop_thread);
    j->done++;
    j->done_order = done_calls;
    if (done_calls < (int)(sizeof(busy_seen) / sizeof(busy_seen[0])))
        busy_seen[done_calls] = duro__pool_busy(pool);
    if (++done_calls == expect)
        duro__pool_close(pool, on_closed, &closed_calls);
}

static void setup(void)
{
    loop_thread = uv_thread_self();
}

/* finish runs the loop until the pool is gone and checks that it left
 * nothing behind. */
static void finish(uv_loop_t *loop)
{
    cr_assert_eq(uv_run(loop, UV_RUN_DEFAULT), 0);
    cr_assert_eq(closed_calls, 1);
    cr_assert_eq(uv_loop_close(loop), 0, "handles left open");
}

static void assert_once(job *jobs, int n)
{
    for (int i = 0; i < n; i++) {
        cr_assert_eq(atomic_load(&jobs[i].worked), 1, "job %d work", i);
        cr_assert_eq(jobs[i].done, 1, "job %d done", i);
        cr_assert(jobs[i].on_loop, "job %d done off the loop thread", i);
    }
}

/* ---- Tests ---- */

Test(pool, thousand_jobs_done_once_on_loop, .init = setup)
{
    enum { N = 1000 };
    static job jobs[N];
    uv_loop_t loop;

    uv_loop_init(&loop);
    cr_assert_eq(duro__pool_new(&pool, &loop, 4, work, done), 0);
    expect = N; /* closes from inside the last done callback */
    for (int i = 0; i < N; i++)
        cr_assert_eq(duro__pool_submit(pool, &jobs[i]), 0);
    finish(&loop);
    cr_assert_eq(done_calls, N);
    assert_once(jobs, N);
}

Test(pool, busy_counts_until_done, .init = setup)
{
    enum { N = 10 };
    static job jobs[N];
    uv_sem_t gate;
    uv_loop_t loop;

    uv_loop_init(&loop);
    uv_sem_init(&gate, 0);
    cr_assert_eq(duro__pool_new(&pool, &loop, 2, work, done), 0);
    cr_assert_eq(duro__pool_busy(pool), 0);
    for (int i = 0; i < N; i++) {
        jobs[i].gate = &gate;
        cr_assert_eq(duro__pool_submit(pool, &jobs[i]), 0);
        cr_assert_eq(duro__pool_busy(pool), i + 1);
    }
    /* Nothing can finish before the gate opens. */
    uv_run(&loop, UV_RUN_NOWAIT);
    cr_assert_eq(duro__pool_busy(pool), N);
    cr_assert_eq(done_calls, 0);
    for (int i = 0; i < N; i++)
        uv_sem_post(&gate);
    expect = N;
    finish(&loop);
    for (int i = 0; i < N; i++)
        cr_assert_eq(busy_seen[i], N - 1 - i, "done call %d", i);
    assert_once(jobs, N);
    uv_sem_destroy(&gate);
}

static void nap(void *arg)
{
    (void)arg;
    uv_sleep(1);
}

static void count_done(void *arg)
{
    job *j = arg;
    uv_thread_t self = uv_thread_self();

    j->on_loop = uv_thread_equal(&self, &loop_thread);
    atomic_fetch_add(&j->worked, 1);
    j->done++;
    done_calls++;
}

Test(pool, close_with_jobs_in_flight, .init = setup)
{
    enum { N = 100 };
    static job jobs[N];
    uv_loop_t loop;

    uv_loop_init(&loop);
    cr_assert_eq(duro__pool_new(&pool, &loop, 4, nap, count_done), 0);
    for (int i = 0; i < N; i++)
        cr_assert_eq(duro__pool_submit(pool, &jobs[i]), 0);
    duro__pool_close(pool, on_closed, &closed_calls);
    cr_assert_eq(closed_calls, 0);
    finish(&loop);
    cr_assert_eq(done_calls, N);
    assert_once(jobs, N);
}

Test(pool, close_idle, .init = setup)
{
    uv_loop_t loop;

    uv_loop_init(&loop);
    cr_assert_eq(duro__pool_new(&pool, &loop, 3, work, done), 0);
    duro__pool_close(pool, on_closed, &closed_calls);
    finish(&loop);
    cr_assert_eq(done_calls, 0);
}

/* The first job blocks until every later job's done has run: were the
 * pool to let it hold up the others, the test would time out. A gate
 * rather than a 50 ms sleep makes that deterministic. */
static uv_sem_t blocker_gate;

static void done_then_unblock(void *arg)
{
    done(arg);
    if (done_calls == 20) uv_sem_post(&blocker_gate);
}

Test(pool, blocking_job_does_not_stop_others, .init = setup)
{
    enum { N = 21 };
    static job jobs[N];
    uv_loop_t loop;

    uv_loop_init(&loop);
    uv_sem_init(&blocker_gate, 0);
    cr_assert_eq(duro__pool_new(&pool, &loop, 2, work, done_then_unblock), 0);
    jobs[0].gate = &blocker_gate;
    expect = N;
    for (int i = 0; i < N; i++)
        cr_assert_eq(duro__pool_submit(pool, &jobs[i]), 0);
    finish(&loop);
    cr_assert_eq(jobs[0].done_order, N - 1, "the blocked job finished last");
    assert_once(jobs, N);
    uv_sem_destroy(&blocker_gate);
}

Test(pool, rejects_zero_threads)
{
    uv_loop_t loop;
    duro__pool *p = NULL;

    uv_loop_init(&loop);
    cr_assert_eq(duro__pool_new(&p, &loop, 0, work, done), -1);
    cr_assert_null(p);
    cr_assert_eq(uv_loop_close(&loop), 0);
}

/* A done callback may submit the next job (an activity retried, say). */
static job chain[5];

static void done_then_next(void *arg)
{
    done(arg);
    if (done_calls < 5)
        cr_assert_eq(duro__pool_submit(pool, &chain[done_calls]), 0);
}

Test(pool, submit_from_done, .init = setup)
{
    uv_loop_t loop;

    uv_loop_init(&loop);
    cr_assert_eq(duro__pool_new(&pool, &loop, 1, work, done_then_next), 0);
    expect = 5;
    cr_assert_eq(duro__pool_submit(pool, &chain[0]), 0);
    finish(&loop);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(chain[i].done_order, i);
    assert_once(chain, 5);
}

/* Threads are woken one at a time (pool.c), yet jobs that block must still
 * run on every thread at once: each job here waits, at most 2 s, until all
 * N have started. Were a queued job left to a busy thread while another
 * slept, the jobs would give up and the test fail. */
static atomic_int arrived;
static atomic_int met;

static void rendezvous(void *arg)
{
    enum { N = 4 };
    (void)arg;
    atomic_fetch_add(&arrived, 1);
    for (int i = 0; i < 2000 && atomic_load(&arrived) < N; i++)
        uv_sleep(1);
    if (atomic_load(&arrived) >= N) atomic_fetch_add(&met, 1);
}

Test(pool, blocking_jobs_run_on_every_thread, .init = setup)
{
    enum { N = 4 };
    static job jobs[N];
    uv_loop_t loop;

    uv_loop_init(&loop);
    cr_assert_eq(duro__pool_new(&pool, &loop, N, rendezvous, count_done), 0);
    /* twice: the second burst finds the threads asleep again */
    for (int round = 0; round < 2; round++) {
        atomic_store(&arrived, 0);
        atomic_store(&met, 0);
        done_calls = 0;
        for (int i = 0; i < N; i++)
            cr_assert_eq(duro__pool_submit(pool, &jobs[i]), 0);
        while (done_calls < N)
            uv_run(&loop, UV_RUN_ONCE);
        cr_assert_eq(atomic_load(&met), N, "round %d: %d of %d jobs met", round,
                     atomic_load(&met), N);
    }
    duro__pool_close(pool, on_closed, &closed_calls);
    finish(&loop);
}

/* ---- One job at a time ---- */

static job *chain_jobs;
static int chain_n;

/* done_then_submit submits the next job from the done callback of the last
 * one, so that every job meets an idle pool (and a sleeping thread). */
static void done_then_submit(void *arg)
{
    done(arg);
    int next = done_calls;
    if (next < chain_n)
        cr_assert_eq(duro__pool_submit(pool, &chain_jobs[next]), 0);
}

Test(pool, jobs_one_at_a_time_each_run_once, .init = setup)
{
    enum { N = 300 };
    static job jobs[N];
    uv_loop_t loop;

    uv_loop_init(&loop);
    cr_assert_eq(duro__pool_new(&pool, &loop, 4, work, done_then_submit), 0);
    chain_jobs = jobs;
    chain_n = N;
    expect = N;
    cr_assert_eq(duro__pool_submit(pool, &jobs[0]), 0);
    finish(&loop);
    cr_assert_eq(done_calls, N);
    assert_once(jobs, N);
}

/* jobs that finish while the loop is away are handed back in one
 * wake-up (the bell coalesces), each done called once */
Test(pool, jobs_finished_while_the_loop_is_away_cost_one_wake_up, .init = setup)
{
    enum { N = 50 };
    static job jobs[N];
    uv_loop_t loop;

    uv_loop_init(&loop);
    cr_assert_eq(duro__pool_new(&pool, &loop, 4, work, done), 0);
    expect = -1; /* closed below, once counted */
    for (int i = 0; i < N; i++)
        cr_assert_eq(duro__pool_submit(pool, &jobs[i]), 0);
    /* the loop does not run until every job is back in the finished
     * list and the bell is heard (bounded wait): a job that has worked
     * may not be there yet */
    for (int spins = 0; spins < 4000 && duro__pool_ready(pool) < N; spins++)
        uv_sleep(1);
    uv_run(&loop, UV_RUN_NOWAIT);
    cr_assert_eq(done_calls, N, "%d of %d done after one turn", done_calls, N);
    cr_assert_eq(duro__pool_wakeups(pool), 1, "%llu wake-ups",
                 (unsigned long long)duro__pool_wakeups(pool));
    duro__pool_close(pool, on_closed, &closed_calls);
    finish(&loop);
    assert_once(jobs, N);
}
