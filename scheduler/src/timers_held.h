/* timers_held.h: a partition's held members (timers_held.c), for the
 * rounds of timers.c. */
#ifndef DURO_TIMERS_HELD_H
#define DURO_TIMERS_HELD_H

#include <stddef.h>
#include <stdint.h>

#include "sched_internal.h"

/* held_lookup: the held entry of member (len bytes), or NULL. */
held *held_lookup(part *pt, const char *member, size_t len);
/* held_remove forgets h (its fire succeeded, or it left the set). */
void held_remove(part *pt, held *h);
/* held_add notes one more failure of member; its next try is backed off
 * (HELD_PER_PART at most are held: beyond, one is not skipped). */
void held_add(part *pt, const char *member, size_t len);
/* held_sweep, at the end of a round (complete: not cut short): a held
 * member the round did not meet although its retry was due is gone from
 * the set. Returns the earliest retry of the rest (NEXT_NONE: none). */
int64_t held_sweep(part *pt, int complete);

#endif
