/* coro_stack.h: the cache of freed coroutine stacks under coro.c
 * (private).
 *
 * coro.c maps a coroutine's stack (a guard page plus the stack, one
 * mapping of map_size bytes) and, when the coroutine is freed, offers the
 * mapping here instead of unmapping it; the next coroutine of the same
 * map_size takes it back. Freed stacks are kept on one free list per
 * mapping size (a size class: sizes are exact, not rounded, so a reused
 * stack is exactly the size asked for), last freed first, linked through
 * a word at the top of each kept stack. Taking and keeping cost O(1): a
 * look among at most DURO__CORO_STACK_CLASSES classes and a list push or
 * pop, whatever the cache holds.
 *
 * Bounds: DURO__CORO_CACHE_MAX stacks in all (coro.h: each kept stack is
 * two of the process's memory mappings, so the bound is over all
 * classes, not per class), in at most DURO__CORO_STACK_CLASSES sizes
 * at a time. A class lasts while it holds a stack: a size seen once keeps
 * the one stack it freed until a coroutine of that size takes it back or
 * a full cache evicts it, then frees its class. When the cache is full, a
 * stack of a size that holds fewer than the biggest class evicts one stack
 * of the biggest class (the caller unmaps it) and is kept: a burst of one
 * size cannot keep every other size from being reused. A stack of the
 * biggest class itself is not kept then (the single-size case: as before,
 * the 16,385th freed stack is unmapped), nor is one of a ninth size while
 * eight sizes are kept.
 *
 * Threads: any thread that creates or frees a coroutine -- each worker's
 * loop thread (engine.c starts runs, run.c frees them when they finish or
 * leave the run cache), and the thread calling duro_replay_history or
 * freeing a worker. One mutex guards the whole cache and is held only for
 * the O(1) list work: no system call runs under it (the caller maps and
 * unmaps). The signal handlers never touch it. */
#ifndef DURO_CORO_STACK_H
#define DURO_CORO_STACK_H

#include <stdbool.h>
#include <stddef.h>

/* DURO__CORO_STACK_CLASSES: how many stack sizes are kept at once. A
 * worker uses one (--workflow-stack-size); a process running several
 * workers with different sizes, a few. */
#define DURO__CORO_STACK_CLASSES 8

/* duro__coro_stack_take returns a kept mapping of exactly map_size bytes,
 * or NULL when none is kept. Its contents are as its last coroutine left
 * them, but for the top word (the list link). */
char *duro__coro_stack_take(size_t map_size);

/* duro__coro_stack_put offers a freed mapping of map_size bytes (page
 * aligned, writable at its top). Returns NULL when it was kept, or a
 * mapping the caller must unmap, its size in *unmap_size: map itself when
 * it was not kept, or a stack it evicted to keep map. */
char *duro__coro_stack_put(char *map, size_t map_size, size_t *unmap_size);

/* duro__coro_stack_count: stacks kept of this map_size (0: of all). */
int duro__coro_stack_count(size_t map_size);

#endif
