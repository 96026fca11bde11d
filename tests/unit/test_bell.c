/* test_bell.c: a loop's bell rung from other threads (worker/src/bell.c):
 * no ring is lost, rings made while the loop is away cost it one wake-up,
 * and a ringing thread stopped halfway never holds the loop. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "bell.h"

TestSuite(bell, .timeout = 20);

#define THREADS 4
#define RINGS 20000

/* the owner's queue: a count of items, under its own lock, as the pool
 * keeps its finished jobs */
typedef struct {
    uv_loop_t loop;
    duro__bell bell;
    uv_mutex_t lock;
    long queued, taken, calls;
    long want; /* close the bell once this many are taken */
    bool closed;
} fixture;

static void on_closed(duro__bell *b)
{
    ((fixture *)b->data)->closed = true;
}

static void on_ring(duro__bell *b)
{
    fixture *f = b->data;
    uv_mutex_lock(&f->lock);
    f->taken += f->queued;
    f->queued = 0;
    uv_mutex_unlock(&f->lock);
    f->calls++;
    if (f->want > 0 && f->taken == f->want) duro__bell_close(b, on_closed);
}

static void start(fixture *f)
{
    memset(f, 0, sizeof(*f));
    cr_assert_eq(uv_loop_init(&f->loop), 0);
    cr_assert_eq(uv_mutex_init(&f->lock), 0);
    cr_assert_eq(duro__bell_init(&f->loop, &f->bell, on_ring), 0);
    f->bell.data = f;
}

static void finish(fixture *f)
{
    cr_assert_eq(uv_loop_close(&f->loop), 0, "a handle is left open");
    uv_mutex_destroy(&f->lock);
}

static void ringer(void *arg)
{
    fixture *f = arg;
    for (int i = 0; i < RINGS; i++) {
        uv_mutex_lock(&f->lock);
        f->queued++;
        uv_mutex_unlock(&f->lock);
        duro__bell_ring(&f->bell);
    }
}

Test(bell, rings_from_many_threads_are_all_answered)
{
    fixture f;
    start(&f);
    f.want = (long)THREADS * RINGS;
    uv_thread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        cr_assert_eq(uv_thread_create(&t[i], ringer, &f), 0);
    /* returns once the bell is closed: after the last item was taken */
    uv_run(&f.loop, UV_RUN_DEFAULT);
    for (int i = 0; i < THREADS; i++)
        uv_thread_join(&t[i]);
    cr_assert(f.closed);
    cr_assert_eq(f.taken, f.want);
    cr_assert_eq((long)f.bell.answered, f.calls);
    cr_assert_leq(f.calls, f.want);
    finish(&f);
}

Test(bell, rings_while_the_loop_is_away_cost_one_wake_up)
{
    fixture f;
    start(&f);
    uv_thread_t t;
    cr_assert_eq(uv_thread_create(&t, ringer, &f), 0);
    uv_thread_join(&t); /* every ring made before the loop looks */
    uv_run(&f.loop, UV_RUN_NOWAIT);
    cr_assert_eq(f.taken, RINGS);
    cr_assert_eq(f.bell.answered, 1, "%llu wake-ups",
                 (unsigned long long)f.bell.answered);
    /* answered: the next ring wakes it again */
    duro__bell_ring(&f.bell);
    uv_run(&f.loop, UV_RUN_NOWAIT);
    cr_assert_eq(f.bell.answered, 2);
    duro__bell_close(&f.bell, on_closed);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    cr_assert(f.closed);
    finish(&f);
}

static void on_timer(uv_timer_t *h)
{
    *(int *)h->data += 1;
}

Test(bell, a_ringer_stopped_halfway_does_not_hold_the_loop)
{
    fixture f;
    start(&f);
    /* a thread that made the exchange and was preempted before its write:
     * the loop goes on with its other work (uv_async_t's receiving side
     * in libuv 1.44 spins and yields until such a sender is done) */
    atomic_store(&f.bell.rung, 1);
    uv_timer_t timer;
    int fired = 0;
    uv_timer_init(&f.loop, &timer);
    timer.data = &fired;
    uv_timer_start(&timer, on_timer, 0, 0);
    uv_run(&f.loop, UV_RUN_NOWAIT);
    cr_assert_eq(fired, 1);
    cr_assert_eq(f.bell.answered, 0);
    /* its write, once it runs again, is answered as usual */
    static const uint64_t one = 1;
    cr_assert_eq(write(f.bell.wfd, &one, sizeof(one)), (ssize_t)sizeof(one));
    uv_run(&f.loop, UV_RUN_NOWAIT);
    cr_assert_eq(f.bell.answered, 1);
    uv_close((uv_handle_t *)&timer, NULL);
    duro__bell_close(&f.bell, on_closed);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    finish(&f);
}
