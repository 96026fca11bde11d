/* engine_internal.h: what the SDK calls (sdk.c) and the engine (engine.c)
 * share. */
#ifndef DURO_ENGINE_INTERNAL_H
#define DURO_ENGINE_INTERNAL_H

#include <stdbool.h>
#include "run.h"

/* duro__wait_satisfied: what the coroutine waits for has happened. */
bool duro__wait_satisfied(const duro_wf *wf);

/* duro__emit_close issues the closing command (CMD_COMPLETE with the result
 * JSON or CMD_FAIL with the failure JSON). */
void duro__emit_close(duro_wf *wf, cmd_kind kind, const char *value);

/* duro__emit_cancel cancels a pending future: a RequestCancelActivity or
 * CancelTimer command, and the future resolves as canceled. */
void duro__emit_cancel(duro_wf *wf, duro_future *f);

/* duro__deliver_signal runs the handler of `name` or keeps the signal for
 * one registered later. input is run-owned. */
void duro__deliver_signal(duro_wf *wf, const char *name, const cJSON *input);

/* duro__encode_payload prints v (NULL = null) with the run's codec, in
 * workflow code. A codec that fails stops the code like a non-determinism
 * error (the task fails and is retried): a payload must not reach Redis
 * unencoded. Returns malloc'd text. */
char *duro__encode_payload(duro_wf *wf, const cJSON *v);
/* duro__activity_opts_json: options o (start-to-close stc ms, defaults
 * applied) as task/event JSON, naming only what differs from the
 * defaults (activity_opts.c). Caller frees. */
char *duro__activity_opts_json(const duro_activity_opts *o, int64_t stc);
/* duro__abort_task stops the workflow code for good: the task fails like
 * a non-determinism error, with `msg`, and the history stays untouched. */
void duro__abort_task(duro_wf *wf, const char *msg) __attribute__((noreturn));
/* duro__new_cmd appends a command of kind to the run's list (sdk.c). */
duro__cmd *duro__new_cmd(duro_wf *wf, cmd_kind kind, int64_t seq);
/* duro__new_future: a new future of kind with the kind's next seq. */
duro_future *duro__new_future(duro_wf *wf, fut_kind kind);
/* duro__xfer_resolve resolves the future a child or external event is
 * about (sdk_child.c); duro__xfer_cmd_matches: command c is the one the
 * recorded ChildWorkflowInitiated / External*Initiated e describes;
 * duro__xfer_is_event: e is one of those sdk_child.c resolves. */
int duro__xfer_resolve(duro_wf *wf, const duro_event *e);
bool duro__xfer_cmd_matches(const duro__cmd *c, const seg_ev *e);
bool duro__xfer_is_event(duro_event_type t);
/* duro__resolve_failed resolves f as failed (non-retryable) with a
 * run-owned failure {message, type} (sdk.c). */
void duro__resolve_failed(duro_wf *wf, duro_future *f, const char *type,
                          const char *msg);
/* duro__in_workflow aborts unless called from the run's coroutine. */
void duro__in_workflow(const duro_wf *wf, const char *call);

/* duro_json_name: data.name as a string, "" when absent. */
const char *duro_json_name(const cJSON *data);

#endif
