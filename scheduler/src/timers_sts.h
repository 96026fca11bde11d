/* timers_sts.h: the retry delay of a schedule-to-start timeout ('q'
 * timer), read from its activity's pending-activity record. */
#ifndef DURO_SCHED_TIMERS_STS_H
#define DURO_SCHED_TIMERS_STS_H

#include <stdbool.h>
#include <stdint.h>
#include <hiredis/hiredis.h>

/* timers_sts_delay: attempt's retry delay in ms (-1: none) after a
 * schedule-to-start timeout, from the reply to HMGET pa <seq>.s
 * <seq>.opts. False when the record is damaged (the delay unknown). */
bool timers_sts_delay(const redisReply *reply, long long attempt,
                      int64_t *delay);

#endif
