/* transfer.h: the outbox records' processor (transfer.c). */
#ifndef DURO_TRANSFER_H
#define DURO_TRANSFER_H

#include "duro/keys.h"
#include "sched_internal.h"

/* transfer_take carries the outbox record of timer member (len bytes,
 * parsed as t) of pt's round to its target partition; answered(pt) runs
 * once, when it is done (applied and acked, or left for its lease to
 * end). 0, or DURO_E* when it could not be sent (answered does not run). */
int transfer_take(part *pt, const char *member, size_t len,
                  const duro_timer_ref *t, void (*answered)(part *pt));

/* transfer_fire: transfer_take for a due member of pt's round, counted as
 * one of the round's fires in flight, or marking the round aborted when
 * it could not be sent. */
void transfer_fire(part *pt, const char *member, size_t len,
                   const duro_timer_ref *t, void (*answered)(part *pt));

#endif
