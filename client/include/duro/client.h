/* client.h: start, signal, query, inspect and stop Duro workflows from any
 * program.
 *
 * A duro_client is one synchronous connection to Redis (hiredis, no event
 * loop), for command-line tools, tests and services that start workflows.
 * It is not thread-safe: use one client per thread.
 *
 *     duro_client *c;
 *     char err[256];
 *     if (duro_client_new(&c, NULL, err, sizeof(err)) < 0)
 *         die(err);
 *     duro_start_opts o = {0};
 *     o.workflow_id = "order-7";
 *     o.type = "Order";
 *     o.task_queue = "food";
 *     o.input = "{\"productId\":3}";
 *     char run[DURO_UUID_LEN + 1];
 *     if (duro_client_start(c, &o, run) < 0)
 *         die(duro_client_errstr(c));
 *     cJSON *wf;
 *     if (duro_client_result(c, "order-7", duro_minutes(5), &wf) == 0) {
 *         ... cJSON_GetObjectItem(wf, "status"), "result" ...
 *         cJSON_Delete(wf);
 *     }
 *     duro_client_free(c);
 *
 * Every call returns 0 or a negative DURO_E* code (duro/errno.h) and keeps a
 * message for the last failure in the client (duro_client_errstr). Objects
 * handed out through a cJSON ** belong to the caller (cJSON_Delete); on
 * failure nothing is handed out and *out is set to NULL. Payloads (inputs,
 * results, event data) are stored exactly as given, or as the client's
 * codec encodes them (duro_client_set_codec); read back through cJSON
 * their numbers are doubles, as everywhere in the SDK.
 *
 * A call that loses the connection fails with DURO_ECONN; the next call
 * reconnects once before giving up. Whether the failed call took effect is
 * unknown (read the workflow back to find out). */
#ifndef DURO_CLIENT_H
#define DURO_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "duro/codec.h"
#include "duro/errno.h"
#include "duro/export.h"
#include "duro/ids.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct duro_client duro_client;

/* DURO_CLIENT_TIMEOUT_MS bounds connecting and each command. */
#define DURO_CLIENT_TIMEOUT_MS 5000
/* DURO_DEFAULT_TASK_TIMEOUT_MS: a workflow task not finished by a worker
 * within this time is handed to another worker. */
#define DURO_DEFAULT_TASK_TIMEOUT_MS 10000
/* DURO_LIST_DEFAULT_LIMIT / DURO_LIST_MAX_LIMIT: rows of duro_client_list. */
#define DURO_LIST_DEFAULT_LIMIT 100
#define DURO_LIST_MAX_LIMIT 10000

/* ---- Lifecycle ---- */

/* duro_client_new connects to `redis_url` (redis://[user:pw@]host[:port][/db];
 * NULL or "" means $DURO_REDIS_URL, else redis://127.0.0.1:6379) within
 * DURO_CLIENT_TIMEOUT_MS, loads the Functions library if Redis lacks it and
 * reads the partition count. Returns 0 and *out (free with
 * duro_client_free), or DURO_EINVAL (bad url), DURO_ECONN (unreachable,
 * "cannot connect to redis at host:port: reason"), DURO_EREDIS, with the
 * message in err. */
DURO_EXPORT int duro_client_new(duro_client **out, const char *redis_url,
                                char *err, size_t errsize);

/* duro_client_opts: zero fields take the defaults shown. */
typedef struct {
    const char *redis_url;  /* $DURO_REDIS_URL, else redis://127.0.0.1:6379 */
    const char *namespace_; /* $DURO_NAMESPACE, else "default": every call
                               of the client addresses this namespace */
} duro_client_opts;

/* duro_client_new_opts is duro_client_new with options (NULL: defaults);
 * also DURO_EINVAL for a bad namespace name and DURO_ENOTFOUND for a
 * namespace other than `default` that is not registered (duro operator
 * namespace create). */
DURO_EXPORT int duro_client_new_opts(duro_client **out,
                                     const duro_client_opts *opts, char *err,
                                     size_t errsize);

/* duro_client_namespace: the namespace c addresses. */
DURO_EXPORT const char *duro_client_namespace(const duro_client *c);

/* duro_client_free closes the connection. NULL is ignored. */
DURO_EXPORT void duro_client_free(duro_client *c);

/* duro_client_errstr: the message of the last failed call ("" if none).
 * Valid until the next call on c. */
DURO_EXPORT const char *duro_client_errstr(const duro_client *c);

/* duro_client_set_codec makes c encode every payload it writes (start and
 * signal inputs, query arguments) and decode every payload it reads
 * (describe's input and result, history event data, query results) with
 * codec (codec.h; borrowed: it must outlive c; NULL: none, the default).
 * A payload c cannot decode (no codec, a key it lacks, altered) is handed
 * out as stored, a JSON string duro_codec_sealed recognises, rather than
 * failing the call. */
DURO_EXPORT void duro_client_set_codec(duro_client *c, const duro_codec *codec);

/* duro_client_partitions: the namespace's partition count. */
DURO_EXPORT int duro_client_partitions(const duro_client *c);

/* ---- Starting ---- */

/* duro_id_reuse_policy: whether a start may make a new run of a workflow
 * id that already has a run (Temporal's WorkflowIdReusePolicy). Decided
 * inside the start's one Redis Function call, so two racing starts cannot
 * both pass it.
 *   DURO_ID_REUSE_ALLOW_DUPLICATE (default): a new run when none is
 *     RUNNING.
 *   DURO_ID_REUSE_ALLOW_DUPLICATE_FAILED_ONLY: only when the last run
 *     closed FAILED, CANCELED, TERMINATED or TIMED_OUT.
 *   DURO_ID_REUSE_REJECT_DUPLICATE: never when the id has any run.
 *   DURO_ID_REUSE_TERMINATE_IF_RUNNING: a RUNNING run is terminated
 *     (WorkflowTerminated in its history, with a reason naming the new run)
 *     and the new run started, in the same atomic step. */
typedef enum {
    DURO_ID_REUSE_ALLOW_DUPLICATE = 0,
    DURO_ID_REUSE_ALLOW_DUPLICATE_FAILED_ONLY,
    DURO_ID_REUSE_REJECT_DUPLICATE,
    DURO_ID_REUSE_TERMINATE_IF_RUNNING,
} duro_id_reuse_policy;

/* DURO_ID_REUSE_POLICIES lists the names duro_id_reuse_policy_parse takes,
 * for messages. */
#define DURO_ID_REUSE_POLICIES                                                 \
    "AllowDuplicate, AllowDuplicateFailedOnly, RejectDuplicate, "              \
    "TerminateIfRunning"

/* duro_id_reuse_policy_parse reads a policy name: Temporal's
 * (AllowDuplicate, ...), case-insensitive, or kebab-case
 * (allow-duplicate-failed-only, ...). Returns 0, or DURO_EINVAL. */
DURO_EXPORT int duro_id_reuse_policy_parse(const char *name,
                                           duro_id_reuse_policy *out);

/* duro_id_reuse_policy_name: Temporal's name of p ("AllowDuplicate", ...),
 * or NULL for a value outside the enum. */
DURO_EXPORT const char *duro_id_reuse_policy_name(duro_id_reuse_policy p);

/* duro_start_opts: zero it, then set the fields. The strings are borrowed
 * for the duration of the call. */
typedef struct {
    const char *workflow_id; /* required; 1..DURO_ID_MAX bytes */
    const char *type;        /* required workflow type name */
    const char *task_queue;  /* required; workers poll it */
    const char *input;       /* JSON text, at most 2 MiB; NULL = null */
    /* execution_timeout_ms limits the whole workflow, every run it
     * continues as new included; run_timeout_ms one run (Temporal's
     * WorkflowExecutionTimeout and WorkflowRunTimeout). 0 = none. Either
     * closes the workflow TIMED_OUT (WorkflowTimedOut). */
    int64_t execution_timeout_ms;
    int64_t run_timeout_ms;
    int64_t task_timeout_ms;              /* 0 = DURO_DEFAULT_TASK_TIMEOUT_MS */
    duro_id_reuse_policy id_reuse_policy; /* 0 = AllowDuplicate */
    const char *memo; /* JSON object text shown by describe and list; NULL */
    /* search_attributes: {"Name": value, ...} of registered custom search
     * attributes (duro_client_search_attribute_create), each value of its
     * type: Keyword/Text a string, Int/Double a number, Bool true/false,
     * Datetime an RFC 3339 string, KeywordList an array of strings. NULL:
     * none. Checked and indexed by the start's Function call. */
    const cJSON *search_attributes;
    /* priority: 1 (highest) .. 5; 0 = 3, the default. Within a task queue
     * a waiting task of a higher priority is handed out before a lower
     * one's; the run's activities and children inherit it. */
    int priority;
    /* fairness_key: e.g. a tenant id (1..64 of [A-Za-z0-9._:-]); NULL:
     * none. A task queue hands out the tasks of different keys round-robin
     * by weight (fairness_weight 1..1000, 0 = 1), so one key's burst does
     * not hold up another key's task. The run's activities inherit it. */
    const char *fairness_key;
    int fairness_weight;
} duro_start_opts;

/* duro_client_start starts a new run of workflow `workflow_id` and writes
 * its run id (DURO_UUID_LEN chars + NUL) into run_id (NULL: not wanted,
 * e.g. when the caller follows the workflow by its id). Whether an id that
 * already has a run may get a new one is o->id_reuse_policy's call (by
 * default: once the previous run has closed). Returns 0,
 * DURO_EALREADY when the policy refuses (the message names the run that
 * holds the id, its status and the policy: "workflow order-7 already has
 * run 5f3c... (COMPLETED); id reuse policy RejectDuplicate refuses a new
 * run"), DURO_EINVAL for a bad id/name/timeout/policy, DURO_EJSON /
 * DURO_ETOOBIG for bad input, DURO_ESTALE (TerminateIfRunning: the running
 * run kept changing), or DURO_ECONN / DURO_EREDIS. */
DURO_EXPORT int duro_client_start(duro_client *c, const duro_start_opts *o,
                                  char run_id[DURO_UUID_LEN + 1]);

/* ---- Inspecting ---- */

/* duro_client_describe reads the workflow's current run:
 *
 *   {"workflowId","runId","type","taskQueue","status",
 *    "startTime","closeTime" (ISO-8601; closeTime null while open),
 *    "historyLength", "input",
 *    "result"  (COMPLETED only),
 *    "failure" (other closed states: {"message","type",...} or null),
 *    "workflowTask":{"pending":bool,"attempt":n,"lastError":str|null},
 *    "pendingActivities":[{"seq","name","attempt",
 *        "state":"scheduled"|"backoff","lastFailure":obj|null,
 *        "lastHeartbeat":ISO|null}],
 *    "resetFrom":{"runId","eventId","reason"} (a run made by a reset only),
 *    "resetRuns":[{"runId","resetRunId"}] (runs of the id that were reset,
 *        with the run each reset made; absent when none),
 *    "parent":{"workflowId","runId"} (a child workflow only),
 *    "pendingChildren":[{"seq","workflowId","runId","parentClosePolicy",
 *        "started"}] (children not closed yet; absent when it never had one),
 *    "searchAttributes":{"Name":value,...}, "memo":obj|null}
 *
 * status is RUNNING, COMPLETED, FAILED, CANCELED, TERMINATED or TIMED_OUT
 * (CONTINUED_AS_NEW: only an older run of duro_client_describe_run). A run
 * started by continue-as-new has "continuedFromRunId".
 * Returns 0 and *out, DURO_ENOTFOUND, DURO_EPROTO (the hash is damaged),
 * DURO_ECONN / DURO_EREDIS. */
DURO_EXPORT int duro_client_describe(duro_client *c, const char *workflow_id,
                                     cJSON **out);

/* duro_client_describe_run describes run `run_id` of the workflow (NULL
 * or "": the current run, as duro_client_describe). An older run of a
 * reused id or of a continue-as-new chain is closed and answers from its
 * visibility row and its history (first and last events):
 * {"workflowId","runId","type","taskQueue","status","startTime",
 * "closeTime","historyLength","searchAttributes","memo","input",
 * "result" (COMPLETED) or "failure" (any other status; null for
 * CANCELED and CONTINUED_AS_NEW, as the current run's describe),
 * "continuedFromRunId" (a run started by continue-as-new),
 * "continuedAsRunId" (a run that continued as new)}, payloads decoded
 * with the client's codec as duro_client_describe decodes them. A
 * history gone (retention), damaged or of library 11 and older leaves
 * out what it would have given; the rest still comes back. Returns 0 and
 * *out, DURO_ENOTFOUND (no such run of this workflow, or its row is past
 * retention), DURO_EINVAL (bad workflow id), DURO_ECONN / DURO_EREDIS. */
DURO_EXPORT int duro_client_describe_run(duro_client *c,
                                         const char *workflow_id,
                                         const char *run_id, cJSON **out);

/* duro_client_result waits until the workflow is closed (in any status)
 * and hands out its describe object; check "status", then "result" or
 * "failure". timeout_ms <= 0 waits without a limit. Waiting costs no
 * polling: the client subscribes to the partition's close channel on a
 * second connection, which it keeps (unsubscribed) for its next wait, so
 * that waiting in short slices does not connect per slice; it is closed by
 * duro_client_free. Returns 0 and *out, DURO_ETIMEDOUT, DURO_ENOTFOUND,
 * DURO_ECONN / DURO_EREDIS. */
DURO_EXPORT int duro_client_result(duro_client *c, const char *workflow_id,
                                   int64_t timeout_ms, cJSON **out);

/* duro_client_history reads the history of run `run_id` (NULL = the current
 * run) as an array of {"eventId","type","time","data"}, oldest first.
 * Returns 0 and *events, DURO_ENOTFOUND (no such workflow, or no history
 * for that run), DURO_EPROTO (a damaged event, named in the message),
 * DURO_ECONN / DURO_EREDIS. */
DURO_EXPORT int duro_client_history(duro_client *c, const char *workflow_id,
                                    const char *run_id, cJSON **events);

/* duro_client_list lists runs, most recently started first, as
 * duro_client_list_query's rows: the first page of the query
 * "ExecutionStatus=status AND WorkflowType=type" (each NULL: any). limit
 * <= 0 means DURO_LIST_DEFAULT_LIMIT, at most DURO_LIST_MAX_LIMIT.
 * Returns 0 and *out, DURO_EINVAL (unknown status), DURO_ECONN /
 * DURO_EREDIS. */
DURO_EXPORT int duro_client_list(duro_client *c, const char *status,
                                 const char *type, int limit, cJSON **out);

/* ---- Visibility ---- */

/* duro_list_opts: zero it, then set the fields. */
typedef struct {
    /* query: a list filter, a subset of Temporal's (duro/vquery.h):
     * "WorkflowType='order' AND OrderState='Paid' ORDER BY StartTime ASC".
     * NULL or "": every run. Default order: StartTime DESC. */
    const char *query;
    int limit;              /* rows per page; <= 0: DURO_LIST_DEFAULT_LIMIT,
                               at most DURO_LIST_MAX_LIMIT */
    const char *page_token; /* a previous page's next token; NULL: first */
} duro_list_opts;

/* duro_client_list_query lists the runs that match o->query, one row per
 * run (every run of a reused id is its own row), as an array of
 * {"workflowId","runId","type","taskQueue","status","startTime",
 * "closeTime","searchAttributes":{...},"memo":obj|null}. *next_page_token
 * is the token of the next page (free() it), or NULL when this page is
 * the last. Reads fan out over the partitions (read-only Function calls
 * with a bounded scan each) and merge by the order key. Returns 0 and
 * *rows, DURO_EINVAL (a malformed query: the message names the column
 * and what was expected; an unknown field; a page token of another
 * query), DURO_ECONN / DURO_EREDIS. */
DURO_EXPORT int duro_client_list_query(duro_client *c, const duro_list_opts *o,
                                       cJSON **rows, char **next_page_token);

/* duro_client_count counts the runs that match query (NULL or "": all).
 * Returns 0 and *count, or the errors of duro_client_list_query. */
DURO_EXPORT int duro_client_count(duro_client *c, const char *query,
                                  int64_t *count);

/* duro_client_visibility_backfill writes the visibility rows of the runs
 * started by a Duro without them (before this library version): the
 * current run of each workflow in the per-partition open and closed
 * indexes, when it has no row. Idempotent; runs started since already have
 * one. *written gets the number of rows written. Returns 0, DURO_ECONN /
 * DURO_EREDIS. */
DURO_EXPORT int duro_client_visibility_backfill(duro_client *c,
                                                int64_t *written);

/* DURO_SA_NAME_MAX: the longest custom search attribute name. */
#define DURO_SA_NAME_MAX 64

/* duro_client_search_attribute_create registers custom search attribute
 * `name` (a letter, then letters, digits, '_') of `type`: Keyword, Text,
 * Int, Double, Bool, Datetime or KeywordList (any case). A value is at
 * most 2048 bytes as stored. Registering it again with
 * the same type does nothing. Returns 0, DURO_EINVAL (bad name or type, a
 * standard field's name), DURO_EALREADY (registered with another type),
 * DURO_ECONN / DURO_EREDIS. */
DURO_EXPORT int duro_client_search_attribute_create(duro_client *c,
                                                    const char *name,
                                                    const char *type);

/* duro_client_search_attribute_delete unregisters `name`: queries can no
 * longer name it and starts and upserts refuse it; values already stored
 * in rows stay. Returns 0, DURO_ENOTFOUND, DURO_EINVAL, DURO_ECONN /
 * DURO_EREDIS. */
DURO_EXPORT int duro_client_search_attribute_delete(duro_client *c,
                                                    const char *name);

/* duro_client_search_attribute_list: {"Name": "Type", ...}. */
DURO_EXPORT int duro_client_search_attribute_list(duro_client *c, cJSON **out);

/* duro_client_search_attribute_value reads attribute `name`'s value
 * written as command-line text ("Paid", "42", "true",
 * "2026-11-27T12:00:00Z", '["a","b"]') as the JSON value its type takes
 * in registry (duro_client_search_attribute_list's object). Returns 0
 * and *out (cJSON_Delete it), or DURO_EINVAL (unknown name, text that
 * does not fit the type). */
DURO_EXPORT int duro_client_search_attribute_value(duro_client *c,
                                                   const cJSON *registry,
                                                   const char *name,
                                                   const char *text,
                                                   cJSON **out);

/* duro_client_queue_stats reports, for task queue `queue` (NULL = every
 * queue workers have registered in duro:queues), an array of
 *
 *   {"taskQueue","kind":"workflow"|"activity","backlog","pending",
 *    "consumers","activeConsumers"}
 *
 * summed over the partitions: backlog = tasks not yet handed to a worker,
 * pending = tasks a worker holds, consumers = distinct worker names in the
 * consumer groups, activeConsumers = those seen in the last 60 seconds,
 * and "broken": [key, ...] only when some partition's stream key holds
 * another type (workers skip that partition until it is repaired).
 * Returns 0 and *out, DURO_EINVAL, DURO_ECONN / DURO_EREDIS. */
DURO_EXPORT int duro_client_queue_stats(duro_client *c, const char *queue,
                                        cJSON **out);

/* duro_queue_config: a task queue's flow settings to change; each field
 * < 0 leaves its setting as it is. */
typedef struct {
    double activities_per_second; /* > 0 sets the rate limit, 0 removes it */
    int burst;                    /* > 0: the bucket's size (default 1), for
                                     the rates set in the same call */
    int concurrency_per_key;      /* > 0 sets the limit, 0 removes it */
    double workflows_per_second;  /* workflow tasks: as activities' */
} duro_queue_config;

/* duro_client_queue_config changes task queue `queue`'s flow settings
 * (set NULL: none), enforced across all its workers: the rate of its
 * activity tasks and of its workflow tasks, and how many attempts of its
 * activities with the same concurrency key
 * (duro_activity_opts.concurrency_key) run at once. Then, when out is not
 * NULL, *out is {"taskQueue","activitiesPerSecond" (0: none),"burst",
 * "concurrencyPerKey" (0: none),"granted","throttled","throttledKey",
 * "workflowsPerSecond","workflowBurst","workflowGranted",
 * "workflowThrottled"}: tasks started under a rate limit, reads a worker
 * held back for want of a token, attempts put back because their key was
 * full. Workers see a change within 2 seconds. Returns 0, DURO_EINVAL,
 * DURO_ECONN / DURO_EREDIS. */
DURO_EXPORT int duro_client_queue_config(duro_client *c, const char *queue,
                                         const duro_queue_config *set,
                                         cJSON **out);

/* ---- Changing ---- */

/* duro_client_terminate closes the current run at once as TERMINATED,
 * recording WorkflowTerminated {"reason"} (reason NULL = ""); no workflow
 * code runs. Returns 0, DURO_ENOTFOUND, DURO_ENOTRUNNING, DURO_ECONN /
 * DURO_EREDIS. */
DURO_EXPORT int duro_client_terminate(duro_client *c, const char *workflow_id,
                                      const char *reason);

/* duro_reset_point: where duro_client_reset resets a run to. */
typedef enum {
    DURO_RESET_EVENT_ID = 0,        /* event_id, a WorkflowTaskCompleted */
    DURO_RESET_FIRST_WORKFLOW_TASK, /* the run's first completed task */
    DURO_RESET_LAST_WORKFLOW_TASK,  /* its last completed task */
} duro_reset_point;

/* duro_reset_point_parse: "FirstWorkflowTask" or "LastWorkflowTask".
 * Returns 0 or DURO_EINVAL. */
DURO_EXPORT int duro_reset_point_parse(const char *s, duro_reset_point *out);

typedef struct {
    const char *workflow_id;
    const char *run_id; /* the run to reset; NULL: the current run */
    duro_reset_point point;
    int64_t event_id; /* DURO_RESET_EVENT_ID */
    const char *reason;
} duro_reset_opts;

/* duro_client_reset starts a new run of the workflow whose history is the
 * given run's up to a workflow task completion (the WorkflowTaskCompleted
 * event N: events 1..N-1 are kept, and that task runs again, on the code
 * the workers have now), as Temporal's reset: the signals the run received
 * after that point are applied again (in order, at the end of the kept
 * events), the activities and timers pending at the point are scheduled
 * again (timers keep their due time), and a RUNNING run is terminated
 * first (WorkflowTerminated {"reason","resetRunId"}). describe shows the
 * link both ways ("resetFrom", "resetRuns"). run_id gets the new run.
 * Returns 0, DURO_ENOTFOUND (no workflow, or no history for that run),
 * DURO_EINVAL (bad id, or event_id is not a WorkflowTaskCompleted of the
 * run: the message says what it is), DURO_ESTALE (the running run kept
 * changing), DURO_ECONN / DURO_EREDIS. */
DURO_EXPORT int duro_client_reset(duro_client *c, const duro_reset_opts *o,
                                  char run_id[DURO_UUID_LEN + 1]);

/* duro_client_delete removes a workflow run at once with everything it
 * owns (its hash and index entries when it is the id's current run, its
 * history), as retention would later; a RUNNING run is terminated first
 * (reason "deleted"). run_id NULL: the current run. It acts on the run it
 * read alone: a run of the id that starts meanwhile (continue-as-new,
 * signal-with-start, a new start) keeps running and stays. Returns 0,
 * DURO_ENOTFOUND (no such workflow or run), DURO_ECONN / DURO_EREDIS. */
DURO_EXPORT int duro_client_delete(duro_client *c, const char *workflow_id,
                                   const char *run_id);

/* ---- Namespaces (client_namespace.c) ---- */

/* duro_namespace_info: one namespace as the registry has it. */
typedef struct {
    char name[65];
    int64_t retention_ms;
    char description[256];
    int64_t created_ms;   /* 0: not registered (default, implicitly) */
    long long open_count; /* running workflows (describe only) */
} duro_namespace_info;

/* duro_client_namespace_create registers namespace `name` with a
 * retention (ms > 0; 0: 72h) and a description (NULL: ""). Returns 0,
 * DURO_EINVAL (bad name or retention), DURO_EALREADY (exists),
 * DURO_ECONN / DURO_EREDIS. */
DURO_EXPORT int duro_client_namespace_create(duro_client *c, const char *name,
                                             int64_t retention_ms,
                                             const char *description);
/* duro_client_namespace_update changes the retention (0: unchanged) and
 * the description (NULL: unchanged). `default` may be updated without
 * having been created. A new retention applies to runs started after it;
 * the scheduler's sweep applies it to closed runs too when it is shorter.
 * DURO_ENOTFOUND for an unknown namespace. */
DURO_EXPORT int duro_client_namespace_update(duro_client *c, const char *name,
                                             int64_t retention_ms,
                                             const char *description);
/* duro_client_namespace_describe fills *info. DURO_ENOTFOUND for an
 * unknown namespace (`default` is always known). */
DURO_EXPORT int duro_client_namespace_describe(duro_client *c, const char *name,
                                               duro_namespace_info *info);
/* duro_client_namespace_list: *out (free) holds *n namespaces, `default`
 * first, then the registered ones by name. */
DURO_EXPORT int duro_client_namespace_list(duro_client *c,
                                           duro_namespace_info **out,
                                           size_t *n);
/* duro_client_namespace_delete removes a namespace and all its keys (a
 * SCAN over its prefix). Refused while it has running
 * workflows unless force (DURO_EINVAL, the count in the message);
 * `default` cannot be deleted (DURO_EINVAL). */
DURO_EXPORT int duro_client_namespace_delete(duro_client *c, const char *name,
                                             bool force);

/* ---- Signals, cancellation, queries ---- */

/* DURO_QUERY_DEFAULT_TIMEOUT_MS: how long duro_client_query waits for a
 * worker's answer when given 0. */
#define DURO_QUERY_DEFAULT_TIMEOUT_MS 10000

/* duro_client_signal sends signal `name` with `input` (JSON text, at most
 * 2 MiB, stored verbatim; NULL = null) to the current run, recording
 * SignalReceived {"name","input"}. The event goes into the history at once,
 * or, while a workflow task is outstanding, into the workflow's buffer, to
 * be appended when that task commits. run_out (may be NULL) gets the run
 * that received it. Returns 0 once Redis has stored the signal,
 * DURO_ENOTFOUND, DURO_ENOTRUNNING (the workflow is closed: "workflow X is
 * COMPLETED; signals go only to running workflows"), DURO_EINVAL (bad id or
 * name), DURO_EJSON / DURO_ETOOBIG, DURO_ESTALE (a new run kept replacing
 * the current one), DURO_ECONN / DURO_EREDIS. */
DURO_EXPORT int duro_client_signal(duro_client *c, const char *workflow_id,
                                   const char *name, const char *input,
                                   char run_out[DURO_UUID_LEN + 1]);

/* duro_client_signal_with_start signals the workflow's running run, or,
 * when none is running, starts a new run (as duro_client_start with o) that
 * holds the signal as event 2, seen by its first workflow task. One atomic
 * step either way. Writes the run that got the signal into run_out and sets
 * *started (may be NULL) to whether it is a new run. A running run on a
 * task queue other than o->task_queue is signaled where it is.
 * o->id_reuse_policy applies when no run is RUNNING (a running run is
 * signaled, whatever the policy). Returns 0 and the errors of
 * duro_client_start and duro_client_signal. */
DURO_EXPORT int
duro_client_signal_with_start(duro_client *c, const duro_start_opts *o,
                              const char *signal_name, const char *signal_input,
                              char run_out[DURO_UUID_LEN + 1], bool *started);

/* duro_client_cancel asks the current run to cancel itself, recording
 * CancelRequested {"reason"} (reason NULL = ""); the workflow code decides
 * what to do (usually clean up, then close as CANCELED). Returns 0 when
 * the run has a cancel request: *already_requested (may be NULL) is false
 * when this call recorded it, true when one had been requested before
 * (nothing written). Else DURO_ENOTFOUND, DURO_ENOTRUNNING, DURO_ECONN /
 * DURO_EREDIS. */
DURO_EXPORT int duro_client_cancel(duro_client *c, const char *workflow_id,
                                   const char *reason, bool *already_requested);

/* duro_client_query asks query handler `name` of the workflow (open or
 * closed: a worker replays a closed one) with `input` (JSON text, NULL =
 * null), through a worker polling the workflow's task queue; no history is
 * written. Waits timeout_ms (0 = DURO_QUERY_DEFAULT_TIMEOUT_MS). Returns 0
 * and *result_json (the handler's JSON text; caller frees with free()),
 * DURO_ENOTFOUND, DURO_EINVAL (bad arguments, or the handler failed or is
 * unknown: the message is the worker's, which names the known queries),
 * DURO_ETIMEDOUT (no worker answered in time), DURO_EJSON / DURO_ETOOBIG,
 * DURO_EPROTO (a malformed answer), DURO_ECONN / DURO_EREDIS. On failure
 * *result_json is NULL. */
DURO_EXPORT int duro_client_query(duro_client *c, const char *workflow_id,
                                  const char *name, const char *input,
                                  int64_t timeout_ms, char **result_json);

/* ---- Where is it waiting? (workflow stack) ---- */

/* duro_client_stack asks a worker where running workflow `workflow_id`
 * is blocked (Temporal's `workflow stack`), through the built-in query
 * "duro:stack", waiting timeout_ms (0 = DURO_QUERY_DEFAULT_TIMEOUT_MS).
 * Returns 0 and *out (caller frees with cJSON_Delete): {"workflowId",
 * "runId", "type", "coroutines": [{"name": "main", "state": "blocked",
 * "call": "duro_await_all", "file", "line", "function", "waitingOn":
 * [{"kind": "activity"|"timer", "seq", "name", "file", "line",
 * "function"}]}]}, where file:line is the workflow code's call (worker.h,
 * "Where is it waiting?"). Else DURO_ENOTFOUND, DURO_ENOTRUNNING (a
 * closed workflow: "workflow X is COMPLETED: only a running workflow is
 * waiting somewhere ..."), and the errors of duro_client_query. */
DURO_EXPORT int duro_client_stack(duro_client *c, const char *workflow_id,
                                  int64_t timeout_ms, cJSON **out);

/* ---- Schedules (docs/internals.md "Schedules") ---- */

/* duro_schedule_opts: a schedule, as create and update take it (update
 * replaces all of it but its state: counts, running workflows, actions).
 * Either cron (5 fields or @hourly/@daily/@weekly/@monthly/@yearly, in
 * time_zone, an IANA name, NULL = UTC) or interval_ms (>= 1s) with
 * offset_ms (nominal times: the epoch-aligned multiples of the interval
 * plus the offset). Each action starts workflow `type` on `task_queue`
 * with `input` (JSON, NULL = null) and id "<workflow_id_prefix or
 * schedule_id>-<nominal time, RFC 3339 UTC>", once per nominal time. */
typedef struct {
    const char *schedule_id;
    const char *cron;
    int64_t interval_ms, offset_ms;
    const char *time_zone;
    int64_t jitter_ms; /* each action delayed by [0, jitter), fixed per time */
    /* Skip (default), BufferOne, BufferAll, CancelOther, TerminateOther,
     * AllowAll: what an action does while an earlier one still runs */
    const char *overlap_policy;
    /* a time missed by more (scheduler down) is counted missed, not run;
     * 0 = 365 days */
    int64_t catchup_window_ms;
    bool paused;
    const char *note;
    const char *type, *task_queue, *input, *workflow_id_prefix;
} duro_schedule_opts;

/* duro_client_schedule_create: DURO_EALREADY when the id is taken,
 * DURO_EINVAL (message says why) for a bad spec or option. */
DURO_EXPORT int duro_client_schedule_create(duro_client *c,
                                            const duro_schedule_opts *o);
/* duro_client_schedule_update: DURO_ENOTFOUND when there is no such
 * schedule. The next time is computed afresh from now. */
DURO_EXPORT int duro_client_schedule_update(duro_client *c,
                                            const duro_schedule_opts *o);
/* duro_client_schedule_pause pauses (no actions but triggers) or
 * unpauses (times passed while paused are not acted on) with a note. */
DURO_EXPORT int duro_client_schedule_pause(duro_client *c, const char *id,
                                           bool paused, const char *note);
/* duro_client_schedule_trigger: one action now, by the overlap policy. */
DURO_EXPORT int duro_client_schedule_trigger(duro_client *c, const char *id);
/* duro_client_schedule_backfill: an action for every nominal time in
 * [start_ms, end_ms], by the overlap policy. */
DURO_EXPORT int duro_client_schedule_backfill(duro_client *c, const char *id,
                                              int64_t start_ms, int64_t end_ms);
DURO_EXPORT int duro_client_schedule_delete(duro_client *c, const char *id);
/* duro_client_schedule_describe: *out (cJSON_Delete it) holds the spec,
 * action, policies, state (paused, note, missed, skipped, actions,
 * running), the next 5 times and the last 10 actions with each
 * workflow's status and result. DURO_ENOTFOUND when absent. */
DURO_EXPORT int duro_client_schedule_describe(duro_client *c, const char *id,
                                              cJSON **out);
/* duro_client_schedule_list: *out, an array of {scheduleId, spec, paused,
 * nextTime, taskQueue, type}, every partition's. */
DURO_EXPORT int duro_client_schedule_list(duro_client *c, cJSON **out);

/* ---- Asynchronous activity completion ---- */

/* duro_activity_ref names an activity attempt waiting for an outside
 * completion (its function returned duro_actx_complete_later): either
 * task_token (duro_actx_task_token's; that attempt only), or workflow_id
 * and activity_id (the activity's seq in the current run, 1, 2, ...:
 * whichever attempt is current). Exactly one of the two ways. */
typedef struct {
    const char *task_token;
    const char *workflow_id;
    int64_t activity_id;
} duro_activity_ref;

/* duro_client_activity_complete completes the attempt with result (JSON
 * text, NULL = null): ActivityCompleted is recorded as if a worker had
 * returned it. Returns 0, DURO_ESTALE (a token's attempt timed out and
 * was retried, or the activity is over: "... use --workflow-id and
 * --activity-id to complete its current attempt"), DURO_ENOTFOUND (no
 * such workflow, or the activity is not pending), DURO_ENOTRUNNING,
 * DURO_EINVAL (a bad token or ref, or a token of another namespace),
 * DURO_EJSON, DURO_ECONN / DURO_EREDIS. */
DURO_EXPORT int duro_client_activity_complete(duro_client *c,
                                              const duro_activity_ref *ref,
                                              const char *result);

/* duro_client_activity_fail fails the attempt with an application error
 * (type NULL: "ApplicationError"): retried by the activity's retry
 * policy unless non_retryable or the policy lists type, else
 * ActivityFailed is recorded. Errors as duro_client_activity_complete. */
DURO_EXPORT int duro_client_activity_fail(duro_client *c,
                                          const duro_activity_ref *ref,
                                          const char *type, const char *message,
                                          bool non_retryable);

/* duro_client_activity_heartbeat records a heartbeat of the attempt
 * (details: JSON text or NULL), which keeps its heartbeat timeout from
 * firing. Errors as duro_client_activity_complete. */
DURO_EXPORT int duro_client_activity_heartbeat(duro_client *c,
                                               const duro_activity_ref *ref,
                                               const char *details);
/* ---- Updates (docs/internals.md "Updates") ---- */

/* DURO_UPDATE_DEFAULT_TIMEOUT_MS: how long duro_client_update waits for
 * the validation and the handler's result when given 0. */
#define DURO_UPDATE_DEFAULT_TIMEOUT_MS 30000

/* duro_client_update sends update `name` with `input` (JSON text, NULL =
 * null) to the workflow's running run and waits for the handler's result
 * (Temporal's update): a worker polling the workflow's task queue runs the
 * handler's validator first, read-only (a rejection writes nothing); an
 * accepted update is recorded (UpdateAccepted), applied by the next
 * workflow task, and its result recorded (UpdateCompleted). update_id
 * (NULL: a fresh uuid) makes it idempotent: an id already accepted is
 * never applied again, and its caller gets the recorded outcome, even
 * after the run closed. Waits timeout_ms in all (0 =
 * DURO_UPDATE_DEFAULT_TIMEOUT_MS). Returns 0 and *result_json (the
 * handler's JSON text; caller frees with free()); DURO_EINVAL (bad
 * arguments, "update N rejected: <validator's message>", an unknown
 * update, or "update N failed: <duro_update_fail's message>");
 * DURO_ENOTFOUND; DURO_ENOTRUNNING (a closed workflow takes no new
 * update); DURO_ETIMEDOUT (no worker answered, or the update was accepted
 * but not completed in time: call again with the same update_id, which
 * the message names, for its result); DURO_ESTALE (a new run replaced the
 * current one meanwhile); DURO_EJSON / DURO_ETOOBIG, DURO_EPROTO,
 * DURO_EREDIS; DURO_ECONN / DURO_EAGAIN (when recording the update, the
 * message names the update id to call again with). On failure
 * *result_json is NULL. */
DURO_EXPORT int duro_client_update(duro_client *c, const char *workflow_id,
                                   const char *name, const char *input,
                                   const char *update_id, int64_t timeout_ms,
                                   char **result_json);

#ifdef __cplusplus
}
#endif
#endif
