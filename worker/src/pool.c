/* pool.c: activity threads fed by a FIFO, finished jobs drained by a loop. */
#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>

#include "bell.h"
#include "pool.h"

/* Jobs move through two mutex-guarded FIFOs, in the same item: the loop
 * pushes to todo; a thread pops, runs work(job) without the lock, pushes
 * the item to finished and rings the loop's bell (bell.c: not a
 * uv_async_t, whose receiving side in libuv 1.44 spins while a sender is
 * inside uv_async_send). Rings coalesce, so one on_bell callback swaps
 * out the whole finished list and calls done for each item, then frees
 * it.
 *
 * Waking threads is what a hand-off costs (a futex system call for the
 * waker, a context switch for the woken), so the pool wakes only the
 * threads work needs, one at a time: a submit signals a sleeping thread
 * only when no thread is free to take the job (awake between jobs, or
 * signalled and on its way); a thread that takes a job while more wait
 * and no one else is free signals the next. A burst of short jobs is then
 * run by the first thread awake while the next one wakes, and long jobs
 * still spread over every thread, one wake-up apart. Signals are sent
 * after the lock is released, so that the woken thread does not block at
 * once on the mutex its waker holds. A thread that finishes a job pops the
 * next one under the same lock.
 *
 * Closing never waits for jobs: it marks the pool closing, and whichever
 * comes later -- close itself, or the drain that brings busy to 0 -- stops
 * the now idle workers, joins them (they exit at once), and closes the
 * bell, whose close callback frees the pool. */

typedef struct item {
    struct item *next;
    void *job;
} item;

typedef struct {
    item *head;
    item *tail;
} fifo;

struct duro__pool {
    uv_loop_t *loop;
    duro__bell bell; /* rung by workers whenever finished grows */
    duro__pool_work_fn work;
    duro__pool_done_fn done;
    uv_thread_t *threads;
    int nthreads;

    uv_mutex_t lock; /* guards todo, finished, stopping and the counts */
    uv_cond_t wake;  /* todo grew, or stopping was set */
    fifo todo;
    fifo finished;
    bool stopping; /* workers exit when they see it (todo is empty then) */
    int sleeping;  /* threads waiting on wake */
    int signalled; /* signals sent that no thread has woken from yet */
    int running;   /* threads inside work() */

    /* Loop thread only. */
    int busy;       /* submitted, done not yet called */
    bool closing;   /* duro__pool_close() was called */
    bool finishing; /* threads joined, bell closing */
    duro__pool_close_cb on_closed;
    void *close_arg;
};

/* ---- FIFO ---- */

static void fifo_push(fifo *q, item *it)
{
    it->next = NULL;
    if (q->tail != NULL)
        q->tail->next = it;
    else
        q->head = it;
    q->tail = it;
}

static item *fifo_pop(fifo *q)
{
    item *it = q->head;
    if (it != NULL) {
        q->head = it->next;
        if (q->head == NULL) q->tail = NULL;
    }
    return it;
}

/* ---- Pool threads ---- */

/* need_wake: a queued job finds no thread free to take it (awake between
 * jobs, or signalled) while one sleeps. Lock held. */
static bool need_wake(const duro__pool *p)
{
    int awake = p->nthreads - p->sleeping;
    int free_now = awake - p->running + p->signalled;
    return p->todo.head != NULL && free_now <= 0 && p->sleeping > p->signalled;
}

/* take: the next job for this thread, waiting for one; NULL when stopping.
 * Sets *wake when another thread must be woken for the jobs left. Lock
 * held. */
static item *take(duro__pool *p, bool *wake)
{
    while (p->todo.head == NULL && !p->stopping) {
        p->sleeping++;
        uv_cond_wait(&p->wake, &p->lock);
        p->sleeping--;
        /* a spurious wake-up may take another's signal: a thread more
         * awake than counted, never one less */
        if (p->signalled > 0) p->signalled--;
    }
    item *it = fifo_pop(&p->todo);
    if (it == NULL) return NULL; /* stopping */
    p->running++;
    *wake = need_wake(p);
    if (*wake) p->signalled++;
    return it;
}

static void worker(void *arg)
{
    duro__pool *p = arg;
    bool wake = false;

    uv_mutex_lock(&p->lock);
    item *it = take(p, &wake);
    uv_mutex_unlock(&p->lock);
    while (it != NULL) {
        if (wake) uv_cond_signal(&p->wake);
        p->work(it->job);
        uv_mutex_lock(&p->lock);
        p->running--;
        fifo_push(&p->finished, it);
        /* pops without waiting when a job is queued, so the result goes
         * out before the next job runs */
        wake = false;
        item *next = p->todo.head != NULL ? take(p, &wake) : NULL;
        uv_mutex_unlock(&p->lock);
        duro__bell_ring(&p->bell);
        if (next == NULL) {
            uv_mutex_lock(&p->lock);
            next = take(p, &wake);
            uv_mutex_unlock(&p->lock);
        }
        it = next;
    }
}

/* stop_threads wakes every worker to exit and joins the first n. */
static void stop_threads(duro__pool *p, int n)
{
    uv_mutex_lock(&p->lock);
    p->stopping = true;
    uv_cond_broadcast(&p->wake);
    uv_mutex_unlock(&p->lock);
    for (int i = 0; i < n; i++)
        uv_thread_join(&p->threads[i]);
}

/* ---- Loop thread ---- */

static void release(duro__pool *p)
{
    uv_cond_destroy(&p->wake);
    uv_mutex_destroy(&p->lock);
    free(p->threads);
    free(p);
}

static void on_bell_closed(duro__bell *b)
{
    duro__pool *p = b->data;
    duro__pool_close_cb cb = p->on_closed;
    void *arg = p->close_arg;

    release(p);
    if (cb != NULL) cb(arg);
}

/* finish_close runs once busy is 0 after duro__pool_close(): the workers
 * are idle, so joining them does not block on jobs. */
static void finish_close(duro__pool *p)
{
    if (p->finishing) return;
    p->finishing = true;
    stop_threads(p, p->nthreads);
    duro__bell_close(&p->bell, on_bell_closed);
}

static void on_bell(duro__bell *b)
{
    duro__pool *p = b->data;
    item *list, *it;

    uv_mutex_lock(&p->lock);
    list = p->finished.head;
    p->finished.head = p->finished.tail = NULL;
    uv_mutex_unlock(&p->lock);
    while ((it = list) != NULL) {
        void *job = it->job;
        list = it->next;
        free(it);
        assert(p->busy > 0);
        p->busy--;
        p->done(job); /* may submit, or close (which then waits for us) */
    }
    if (p->closing && p->busy == 0) finish_close(p);
}

/* ---- API ---- */

int duro__pool_new(duro__pool **out, uv_loop_t *loop, int threads,
                   duro__pool_work_fn work, duro__pool_done_fn done)
{
    duro__pool *p;
    int started;

    if (threads < 1 || (p = calloc(1, sizeof(*p))) == NULL) return -1;
    p->threads = calloc((size_t)threads, sizeof(*p->threads));
    if (p->threads == NULL || uv_mutex_init(&p->lock) != 0) {
        free(p->threads);
        free(p);
        return -1;
    }
    if (uv_cond_init(&p->wake) != 0) {
        uv_mutex_destroy(&p->lock);
        free(p->threads);
        free(p);
        return -1;
    }
    p->loop = loop;
    p->work = work;
    p->done = done;
    p->nthreads = threads;
    /* Threads first: until a job is submitted they only wait on wake, and
     * a bell, once initialised, can only be released by the loop. */
    for (started = 0; started < threads; started++)
        if (uv_thread_create(&p->threads[started], worker, p) != 0) break;
    if (started < threads || duro__bell_init(loop, &p->bell, on_bell) != 0) {
        stop_threads(p, started);
        release(p);
        return -1;
    }
    p->bell.data = p;
    *out = p;
    return 0;
}

int duro__pool_submit(duro__pool *p, void *job)
{
    item *it;

    assert(!p->closing && "submit to a closing pool");
    if ((it = malloc(sizeof(*it))) == NULL) return -1;
    it->job = job;
    p->busy++;
    uv_mutex_lock(&p->lock);
    fifo_push(&p->todo, it);
    bool wake = need_wake(p);
    if (wake) p->signalled++;
    uv_mutex_unlock(&p->lock);
    if (wake) uv_cond_signal(&p->wake);
    return 0;
}

uint64_t duro__pool_wakeups(const duro__pool *p)
{
    return p->bell.answered;
}

int duro__pool_ready(duro__pool *p)
{
    int n = 0;
    uv_mutex_lock(&p->lock);
    for (const item *it = p->finished.head; it != NULL; it = it->next)
        n++;
    uv_mutex_unlock(&p->lock);
    return duro__bell_heard(&p->bell) ? n : 0;
}

int duro__pool_busy(const duro__pool *p)
{
    return p->busy;
}

void duro__pool_close(duro__pool *p, duro__pool_close_cb on_closed, void *arg)
{
    assert(!p->closing && "pool closed twice");
    p->closing = true;
    p->on_closed = on_closed;
    p->close_arg = arg;
    if (p->busy == 0) finish_close(p);
}
