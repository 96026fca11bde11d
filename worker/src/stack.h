/* stack.h: what a run is blocked in, for the `duro:stack` query. */
#ifndef DURO_STACK_H
#define DURO_STACK_H

#include <cjson/cJSON.h>
#include "run.h"

/* DURO__STACK_QUERY: the built-in query that answers duro__run_stack. */
#define DURO__STACK_QUERY "duro:stack"

/* duro__site_now: the call site duro__at last recorded on this thread. */
duro__site duro__site_now(void);

/* duro__run_stack describes where wf's code is: {"workflowId", "runId",
 * "type", "coroutines": [{"name", "state", "call", "file", "line",
 * "function", "waitingOn": [{"kind", "seq", "name", "file", "line",
 * "function", "detached"}]}]} (docs/internals.md, "Where is it
 * waiting?"). Caller frees; NULL when out of memory. */
cJSON *duro__run_stack(const duro_wf *wf);

#endif
