/* stream_backlog.h: how many entries of a task stream wait for a worker.
 * Internal to Duro's programs (not installed).
 *
 * Acknowledged entries stay in a task stream until the trim that follows
 * a later acknowledgement passes them (docs/internals.md, "Trimming task
 * streams"), so XLEN - pending counts them too. The consumer group's lag
 * (XINFO GROUPS, Redis 7) is the count of entries after its last-delivered
 * id: the tasks no worker has been handed yet. */
#ifndef DURO_STREAM_BACKLOG_H
#define DURO_STREAM_BACKLOG_H

#include <hiredis/hiredis.h>

/* duro__stream_backlog: the backlog of one stream from its XLEN and XINFO
 * GROUPS replies (either may be NULL or an error: no stream yet counts as
 * empty), and the group duro's pending count in *pending (may be NULL).
 * Without the group every entry waits (XLEN). When Redis cannot tell the
 * group's lag (an entry deleted after the group's last-delivered id, until
 * a trim passes it, makes it nil) the answer is XLEN - pending, an upper
 * bound that also counts acknowledged entries not trimmed yet. */
long long duro__stream_backlog(const redisReply *xlen, const redisReply *groups,
                               long long *pending);

#endif
