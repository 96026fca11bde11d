/* bell.h: wakes a loop from other threads, never making the loop wait for
 * them (what the activity pool hands its results back with). */
#ifndef DURO_BELL_H
#define DURO_BELL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct duro__bell;
typedef void (*duro__bell_cb)(struct duro__bell *b);

/* duro__bell: an eventfd (a pipe where there is none) watched by a
 * uv_poll handle. It stands in for uv_async_t, whose callback side in
 * libuv up to 1.44 spins (pause, then sched_yield) while a sender is
 * between its two atomic steps, around its write(2): on two shared cores
 * the loop burnt its time slice waiting for a pool thread that the same
 * wake-up had just preempted. Here a ring is one atomic exchange and, the
 * first time since the loop last answered, one write; the loop never
 * waits for the ringing thread. */
typedef struct duro__bell {
    uv_poll_t poll;
    int rfd, wfd;    /* the same descriptor for an eventfd */
    atomic_int rung; /* 1 from a ring until the loop answers it */
    duro__bell_cb cb, closed;
    void *data;        /* the owner's */
    uint64_t answered; /* times the loop woke for it and ran cb */
} duro__bell;

/* duro__bell_init: cb runs on loop's thread after one or more rings.
 * 0, or -1 (no descriptor, or the handle could not start). Loop thread. */
int duro__bell_init(uv_loop_t *loop, duro__bell *b, duro__bell_cb cb);

/* duro__bell_ring: any thread. Everything the ringing thread did before
 * the ring is visible to the cb it causes (which may run for an earlier
 * ring: the owner's queue, read under its own lock, is the truth). */
void duro__bell_ring(duro__bell *b);

/* duro__bell_heard: whether a ring waits for the loop's answer (its
 * write has reached the descriptor). Any thread; for tests. */
bool duro__bell_heard(const duro__bell *b);

/* duro__bell_close stops the bell; closed(b) runs from the loop once the
 * handle is closed and the descriptors released (then b may be freed).
 * Rings after close are a bug. Loop thread. */
void duro__bell_close(duro__bell *b, duro__bell_cb closed);

#endif
