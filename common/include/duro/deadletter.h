/* deadletter.h: moving an undecodable task entry to duro:dead. Internal to
 * Duro's programs (not installed). */
#ifndef DURO_DEADLETTER_H
#define DURO_DEADLETTER_H

#include <hiredis/hiredis.h>
#include "duro/redis.h"

/* DURO_DEAD_MAXLEN: duro:dead is capped (approximately, MAXLEN ~) so that a
 * writer stuck producing garbage cannot fill Redis' memory. */
#define DURO_DEAD_MAXLEN "10000"

/* DURO_DEAD_LETTER_CMDS: the most commands duro__dead_letter_cmds fills. */
#define DURO_DEAD_LETTER_CMDS 3

/* duro__dead_letter_cmds builds what moves entry `entry` of `stream` out of
 * the way, with a copy for a human and no second chance to trip a reader:
 *
 *   XADD duro:dead MAXLEN ~ 10000 * stream S entry E reason R fields JSON
 *   XACK S duro E
 *   XDEL S E
 *
 * (the last two only when entry is not NULL or empty: an entry without an
 * id cannot be acked). fields is the entry's field array (any shape, may be
 * NULL); its string fields become JSON. Logs one DEAD-LETTER line. Returns
 * how many of cmds it filled (1 or 3): the caller sends them in order and
 * frees each with duro_argv_free. They borrow stream, entry and reason. */
int duro__dead_letter_cmds(duro_argv cmds[DURO_DEAD_LETTER_CMDS],
                           const char *stream, const char *entry,
                           const redisReply *fields, const char *reason);

#endif
