/* history.h: history events: types, names and the stream-entry codec. */
#ifndef DURO_HISTORY_H
#define DURO_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>
#include "duro/export.h"

/* DURO_EVENT_MAP(XX): XX(UPPER, Name, is_command). is_command marks the
 * events a workflow task's commit writes after WorkflowTaskCompleted;
 * the others are inbound (they arrive from outside the code). */
#define DURO_EVENT_MAP(XX)                                                     \
    XX(WORKFLOW_STARTED, WorkflowStarted, 0)                                   \
    XX(WORKFLOW_TASK_COMPLETED, WorkflowTaskCompleted, 0)                      \
    XX(ACTIVITY_SCHEDULED, ActivityScheduled, 1)                               \
    XX(ACTIVITY_COMPLETED, ActivityCompleted, 0)                               \
    XX(ACTIVITY_FAILED, ActivityFailed, 0)                                     \
    XX(ACTIVITY_TIMED_OUT, ActivityTimedOut, 0)                                \
    XX(ACTIVITY_CANCEL_REQUESTED, ActivityCancelRequested, 1)                  \
    XX(ACTIVITY_CANCELED, ActivityCanceled, 0)                                 \
    XX(TIMER_STARTED, TimerStarted, 1)                                         \
    XX(TIMER_FIRED, TimerFired, 0)                                             \
    XX(TIMER_CANCELED, TimerCanceled, 1)                                       \
    XX(SIGNAL_RECEIVED, SignalReceived, 0)                                     \
    XX(MARKER_RECORDED, MarkerRecorded, 1)                                     \
    XX(CANCEL_REQUESTED, CancelRequested, 0)                                   \
    XX(WORKFLOW_COMPLETED, WorkflowCompleted, 1)                               \
    XX(WORKFLOW_FAILED, WorkflowFailed, 1)                                     \
    XX(WORKFLOW_CANCELED, WorkflowCanceled, 1)                                 \
    XX(WORKFLOW_TERMINATED, WorkflowTerminated, 0)                             \
    XX(WORKFLOW_TIMED_OUT, WorkflowTimedOut, 0)                                \
    XX(WORKFLOW_CONTINUED_AS_NEW, WorkflowContinuedAsNew, 1)                   \
    XX(UPSERT_SEARCH_ATTRIBUTES, UpsertWorkflowSearchAttributes, 1)            \
    XX(UPDATE_ACCEPTED, UpdateAccepted, 0)                                     \
    XX(UPDATE_COMPLETED, UpdateCompleted, 1)                                   \
    XX(CHILD_INITIATED, ChildWorkflowInitiated, 1)                             \
    XX(CHILD_STARTED, ChildWorkflowStarted, 0)                                 \
    XX(CHILD_START_FAILED, ChildWorkflowStartFailed, 0)                        \
    XX(CHILD_COMPLETED, ChildWorkflowCompleted, 0)                             \
    XX(CHILD_FAILED, ChildWorkflowFailed, 0)                                   \
    XX(CHILD_CANCELED, ChildWorkflowCanceled, 0)                               \
    XX(CHILD_TERMINATED, ChildWorkflowTerminated, 0)                           \
    XX(CHILD_TIMED_OUT, ChildWorkflowTimedOut, 0)                              \
    XX(EXTERNAL_SIGNAL_INITIATED, ExternalSignalInitiated, 1)                  \
    XX(EXTERNAL_SIGNALED, ExternalSignaled, 0)                                 \
    XX(EXTERNAL_SIGNAL_FAILED, ExternalSignalFailed, 0)                        \
    XX(EXTERNAL_CANCEL_INITIATED, ExternalCancelInitiated, 1)                  \
    XX(EXTERNAL_CANCEL_REQUESTED, ExternalCancelRequested, 0)                  \
    XX(EXTERNAL_CANCEL_FAILED, ExternalCancelFailed, 0)

typedef enum {
    DURO_EVENT_UNKNOWN = 0,
#define XX(upper, name, cmd) DURO_EVENT_##upper,
    DURO_EVENT_MAP(XX)
#undef XX
        DURO_EVENT_COUNT
} duro_event_type;

/* duro_event_name: "ActivityScheduled" etc.; "Unknown" for bad values. */
DURO_EXPORT const char *duro_event_name(duro_event_type t);
/* duro_event_type_of: the type for a name, DURO_EVENT_UNKNOWN if none. */
DURO_EXPORT duro_event_type duro_event_type_of(const char *name, size_t len);
/* duro_event_is_command: written by a task commit after its
 * WorkflowTaskCompleted (ActivityScheduled, TimerStarted, ...). */
DURO_EXPORT bool duro_event_is_command(duro_event_type t);

/* duro_event: one decoded history event. Owns data. */
typedef struct {
    int64_t id; /* event N is element N (from 1) of the history list */
    duro_event_type type;
    int64_t ts;  /* ms since the epoch, written by Redis */
    cJSON *data; /* never NULL after a successful decode */
} duro_event;

/* A history is a Redis list, one element per event: event N is element
 * N (LRANGE index N-1). An element is "<type>\n<ts>\n<data>": the event
 * type's two-letter code (duro_event_code) or its name, the time in ms
 * since the epoch (written by Redis) and the data JSON object
 * (docs/internals.md, "History list"). */

/* duro_event_code: the short name stored for type t ("WT" for
 * WorkflowTaskCompleted ...), or its name when it has none. */
DURO_EXPORT const char *duro_event_code(duro_event_type t);

/* duro_event_decode decodes element s[0..len) as event `id`. Returns 0,
 * or DURO_EPROTO with a reason in err (not three newline-separated parts,
 * unknown type, bad ts, data not a JSON object, id < 1), or DURO_ENOMEM
 * (see duro_json_parse). On success the caller frees with
 * duro_event_free. */
DURO_EXPORT int duro_event_decode(const char *s, size_t len, int64_t id,
                                  duro_event *out, char *err, size_t errsize);
/* duro_event_decode_reply: duro_event_decode of one LRANGE element (a
 * string reply; anything else is DURO_EPROTO). */
DURO_EXPORT int duro_event_decode_reply(const redisReply *elem, int64_t id,
                                        duro_event *out, char *err,
                                        size_t errsize);
DURO_EXPORT void duro_event_free(duro_event *e);

/* duro_event_seq: data.seq as an integer, or -1 when absent. */
DURO_EXPORT int64_t duro_event_seq(const duro_event *e);

/* duro_stream_field: the value of `name` in an XRANGE/XREADGROUP entry's
 * field array, or NULL. */
DURO_EXPORT const redisReply *duro_stream_field(const redisReply *fields,
                                                const char *name);

#endif
