/* deadletter.c: the commands that move an undecodable task to duro:dead. */
#include <stdlib.h>

#include "duro/deadletter.h"
#include "duro/keys.h"
#include "duro/log.h"
#include "duro/stream_fields.h"

int duro__dead_letter_cmds(duro_argv cmds[DURO_DEAD_LETTER_CMDS],
                           const char *stream, const char *entry,
                           const redisReply *fields, const char *reason)
{
    if (!entry) entry = "";
    duro_warn("DEAD-LETTER stream=%s entry=%s reason=\"%s\"", stream, entry,
              reason);
    char *text = duro__stream_fields_json(fields);
    duro_argv *a = &cmds[0];
    duro_argv_init(a);
    duro_argv_push(a, "XADD");
    duro_argv_push(a, DURO_DEAD_KEY);
    duro_argv_push(a, "MAXLEN");
    duro_argv_push(a, "~");
    duro_argv_push(a, DURO_DEAD_MAXLEN);
    duro_argv_push(a, "*");
    duro_argv_push(a, "stream");
    duro_argv_push(a, stream);
    duro_argv_push(a, "entry");
    duro_argv_push(a, entry);
    duro_argv_push(a, "reason");
    duro_argv_push(a, reason);
    duro_argv_push(a, "fields");
    /* out of memory for the copy: the entry still leaves its stream */
    duro_argv_pushf(a, "%s", text ? text : "{}");
    free(text);
    if (!*entry) return 1;
    a = &cmds[1];
    duro_argv_init(a);
    duro_argv_push(a, "XACK");
    duro_argv_push(a, stream);
    duro_argv_push(a, DURO_GROUP);
    duro_argv_push(a, entry);
    a = &cmds[2];
    duro_argv_init(a);
    duro_argv_push(a, "XDEL");
    duro_argv_push(a, stream);
    duro_argv_push(a, entry);
    return 3;
}
