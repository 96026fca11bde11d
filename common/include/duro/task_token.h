/* task_token.h: the task token of an activity attempt (internal).
 *
 * An activity that completes asynchronously (duro_actx_complete_later)
 * hands its task token to the system that will finish it; that system
 * completes or fails the attempt with the client library or `duro
 * activity complete --task-token T`. The token names everything the
 * completion's Function call needs: namespace, workflow id, run, activity
 * seq, attempt, the stream entry and both task queues. It is the hex form
 * of a small JSON object: opaque, safe on a command line, and fenced like
 * any completion by its attempt (a token of an attempt that timed out is
 * refused as stale). */
#ifndef DURO_TASK_TOKEN_H
#define DURO_TASK_TOKEN_H

#include <stddef.h>
#include "duro/export.h"

/* duro_task_token: the fields of a token; decoded ones are heap copies. */
typedef struct {
    char *ns, *id, *run, *seq, *entry, *wfqueue, *actqueue;
    long long attempt;
} duro_task_token;

/* DURO_TASK_TOKEN_MAX: the longest token accepted (bytes). */
#define DURO_TASK_TOKEN_MAX 4096

/* duro_task_token_encode writes t's token to *out (caller frees).
 * 0 or DURO_ENOMEM. */
DURO_EXPORT int duro_task_token_encode(const duro_task_token *t, char **out);

/* duro_task_token_decode parses token into t (free with
 * duro_task_token_free). 0, or DURO_EINVAL with a reason in err. */
DURO_EXPORT int duro_task_token_decode(const char *token, duro_task_token *t,
                                       char *err, size_t errsize);

DURO_EXPORT void duro_task_token_free(duro_task_token *t);

#endif
