/* stream_ack.c: what becomes of an entry read from a task stream once it
 * is done with (XACK: the trim deletes it later) or cannot be processed
 * (moved to the dead-letter stream, duro/deadletter.h). Both are sent
 * without waiting for the reply. */
#include "duro/deadletter.h"
#include "duro/stream_fields.h"
#include "worker_internal.h"

static void ignore_reply(duro_aredis *r, redisReply *reply, void *arg) {}

void duro__dead_letter(duro_worker *w, const char *stream,
                       const redisReply *entry, const char *reason)
{
    w->dead_letters++;
    const char *eid = NULL;
    const redisReply *fields = NULL;
    (void)duro__stream_entry(entry, &eid, &fields); /* any shape goes */
    duro_argv cmds[DURO_DEAD_LETTER_CMDS];
    int n = duro__dead_letter_cmds(cmds, stream, eid, fields, reason);
    for (int i = 0; i < n; i++) {
        duro_aredis_command(w->cmd, ignore_reply, NULL, &cmds[i]);
        duro_argv_free(&cmds[i]);
    }
}

void duro__stream_ack(duro_worker *w, const char *stream, const char *eid)
{
    const char *ack[] = {"XACK", stream, DURO_GROUP, eid};
    duro_argv a;
    duro_argv_init(&a);
    for (int i = 0; i < 4; i++)
        duro_argv_push(&a, ack[i]);
    duro_aredis_command(w->cmd, ignore_reply, NULL, &a);
    duro_argv_free(&a);
}
