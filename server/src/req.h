/* req.h: one HTTP request as the route handlers see it, and the helpers
 * they answer with (req.c). A handler reads the path parameters, the query
 * string and the JSON body, calls the client, and sets exactly one answer
 * through srv_json / srv_error / srv_client_error. */
#ifndef DURO_SERVER_REQ_H
#define DURO_SERVER_REQ_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "duro/client.h"
#include "pool.h"

#define SRV_MAX_PARAMS 4
#define SRV_DEFAULT_PAGE_SIZE 100
#define SRV_MAX_PAGE_SIZE 1000
/* SRV_MAX_WAIT_MS bounds every long poll (result, history): a waiting
 * request holds one of max_connections threads. */
#define SRV_MAX_WAIT_MS 60000

typedef struct {
    struct MHD_Connection *conn;
    srv_pool *pool;                     /* where srv_client borrows */
    const char *params[SRV_MAX_PARAMS]; /* {ns}, {workflowId}, {name} */
    char *body;                         /* NUL-terminated; NULL when empty */
    size_t body_len;
    cJSON *json;           /* the parsed body (an object), or NULL */
    const char *ns;        /* {ns}, set by srv_namespace_ok; or NULL */
    duro_client *client;   /* borrowed from the pool by srv_client */
    int64_t query_timeout; /* ms */
    const char *route;     /* the matched pattern, for metrics; or NULL */
    char allow[16];        /* a 405's Allow header: "GET", "GET, POST" */
    atomic_bool *stopping; /* set when the server stops: end waits */
    unsigned status;       /* the answer */
    char *answer;          /* JSON text (malloc) */
} srv_req;

/* srv_client: the request's client, of namespace r->ns ("default" when
 * NULL), taken from the pool on first use; NULL after answering 503 when
 * Redis cannot be reached, 404 NOT_FOUND for an unknown namespace. */
duro_client *srv_client(srv_req *r);

/* srv_namespace_ok selects namespace {ns} for the request and takes its
 * client (srv_client): false after answering 404 for a namespace that is
 * not registered (or 503 when Redis cannot be reached). */
bool srv_namespace_ok(srv_req *r, const char *ns);

/* ---- Answers ---- */

/* srv_json answers status with v (taken over and freed). */
void srv_json(srv_req *r, unsigned status, cJSON *v);
/* srv_error answers {"code","message"}. */
void srv_error(srv_req *r, unsigned status, const char *code, const char *fmt,
               ...) __attribute__((format(printf, 4, 5)));
/* srv_client_error answers a client call's failure rc with the client's
 * message and the status that fits the DURO_E* code. */
void srv_client_error(srv_req *r, int rc);
/* srv_worker_answer answers a call a worker answered (a query, an
 * update): the client's failure rc, else a (taken over; extra members,
 * may be NULL) with "result" set to the answer's JSON text, or 502 when
 * the worker's answer is not JSON. */
void srv_worker_answer(srv_req *r, int rc, const char *answer, cJSON *a);
/* srv_status_of: the HTTP status and error code of a DURO_E* value. */
unsigned srv_status_of(int rc, const char **code);

/* ---- Waiting ---- */

/* SRV_WAIT_SLICE_MS: a waiting handler looks at srv_stopping and
 * srv_client_gone this often, so that neither a stopping server nor a
 * client that left waits for a long poll to run out. */
#define SRV_WAIT_SLICE_MS 500

/* srv_stopping: the server is stopping (a waiting handler answers now). */
bool srv_stopping(const srv_req *r);
/* srv_client_gone: the client closed its connection (end of stream, or a
 * reset, seen without reading anything), so a long poll ends at once
 * instead of holding a thread and a connection slot for up to
 * SRV_MAX_WAIT_MS. A client that half-closes after sending its request
 * counts as gone (like nginx's default). */
bool srv_client_gone(const srv_req *r);
int64_t srv_mono_ms(void);
void srv_sleep_ms(int64_t ms);

/* ---- Reading the request ---- */

/* srv_arg: a query-string argument, or NULL. */
const char *srv_arg(const srv_req *r, const char *name);
/* srv_arg_int reads an integer argument in [min, max] into *out (def when
 * absent); answers 400 naming it and returns false when it is not one. */
bool srv_arg_int(srv_req *r, const char *name, long def, long min, long max,
                 long *out);
/* srv_arg_duration reads a duration argument ("30s", "500ms", or plain
 * seconds) capped at max_ms; answers 400 when malformed. */
bool srv_arg_duration(srv_req *r, const char *name, int64_t def, int64_t max_ms,
                      int64_t *out);
/* srv_arg_bool: "true"/"1" or "false"/"0"; answers 400 otherwise. */
bool srv_arg_bool(srv_req *r, const char *name, bool *out);

/* srv_body_check: the body's members are all in `allowed` (a NULL-ended
 * list); answers 400 naming the first stranger. An empty body passes. */
bool srv_body_check(srv_req *r, const char *const *allowed);
/* srv_body_string: member `name` as a string (NULL when absent or null);
 * answers 400 when it has another type, or when required and absent. */
bool srv_body_string(srv_req *r, const char *name, bool required,
                     const char **out);
/* srv_body_json: member `name` as compact JSON text in *out (caller frees;
 * NULL when absent). false only when out of memory (answered). */
bool srv_body_json(srv_req *r, const char *name, char **out);
/* srv_body_duration: member `name` as a duration string or a number of
 * milliseconds; 0 when absent. Answers 400 when malformed. */
bool srv_body_duration(srv_req *r, const char *name, int64_t *out);

/* srv_shape_execution renames the client's "type" to "workflowType", so
 * that describe, list and result share Temporal's member names. */
void srv_shape_execution(cJSON *o);

/* ---- Routes (routes_*.c) ---- */

typedef void (*srv_handler)(srv_req *r);

void srv_route_start(srv_req *r);
void srv_route_describe(srv_req *r);
void srv_route_signal(srv_req *r);
void srv_route_signal_with_start(srv_req *r);
void srv_route_query(srv_req *r);
void srv_route_stack(srv_req *r);
void srv_route_update(srv_req *r);
void srv_route_cancel(srv_req *r);
void srv_route_terminate(srv_req *r);
void srv_route_result(srv_req *r);
void srv_route_history(srv_req *r);
void srv_route_list(srv_req *r);
void srv_route_count(srv_req *r);
void srv_route_task_queue(srv_req *r);
void srv_route_openapi(srv_req *r);
void srv_route_health(srv_req *r);

/* srv_dispatch finds the route of method+url and runs it, or answers 404
 * (no route) / 405 (another method). */
void srv_dispatch(srv_req *r, const char *method, const char *url);

#endif
