/* client_stack.c: where a running workflow is waiting (`duro workflow
 * stack`): the built-in query "duro:stack" that a worker answers from the
 * run's coroutine (worker/src/stack.c), asked only of running workflows
 * (a closed one waits for nothing). */
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "duro/json.h"

#define STACK_QUERY "duro:stack"

int duro_client_stack(duro_client *c, const char *workflow_id,
                      int64_t timeout_ms, cJSON **out)
{
    *out = NULL;
    duro__wf_head h;
    int rc = duro__read_head(c, workflow_id, &h);
    if (rc == DURO_ENOTFOUND)
        return duro__fail(c, rc, "workflow %s not found", workflow_id);
    if (rc < 0) return rc;
    if (strcmp(h.status, "RUNNING") != 0)
        return duro__fail(c, DURO_ENOTRUNNING,
                          "workflow %s is %s: only a running workflow is "
                          "waiting somewhere (its history shows how it "
                          "ended)",
                          workflow_id, h.status);
    char *text = NULL;
    rc =
        duro_client_query(c, workflow_id, STACK_QUERY, NULL, timeout_ms, &text);
    if (rc < 0) return rc;
    char why[256];
    rc = duro_json_parse(text, strlen(text),
                         8 * (size_t)DURO_DEFAULT_MAX_PAYLOAD, out, why,
                         sizeof(why));
    free(text);
    if (rc < 0) return duro__fail(c, DURO_EPROTO, "stack answer: %s", why);
    return 0;
}
