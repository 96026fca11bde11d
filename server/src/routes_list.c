/* routes_list.c: the routes that page: a workflow's history, the list of
 * workflows and its count, and a task queue's figures.
 *
 * Page tokens are opaque to callers: the history's is the last eventId
 * sent; the list's is the client library's (duro_client_list_query). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "req.h"

/* ---- History ---- */

/* open_run: whether the run the request reads (?runId=, else the current
 * one) is open (*open), and its history length in *hlen (0 for a run that
 * is no longer the current one: it is closed and complete). 0, or the
 * client's error: a Redis that cannot be read says nothing about the run,
 * and taking it for closed would end a reader's following for good. */
static int open_run(srv_req *r, long *hlen, bool *open)
{
    cJSON *d = NULL;
    *hlen = 0;
    *open = false;
    int rc = duro_client_describe(r->client, r->params[1], &d);
    if (rc < 0) return rc;
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(d, "status");
    const cJSON *run = cJSON_GetObjectItemCaseSensitive(d, "runId");
    const cJSON *len = cJSON_GetObjectItemCaseSensitive(d, "historyLength");
    const char *want = srv_arg(r, "runId");
    bool current =
        !want || (cJSON_IsString(run) && strcmp(run->valuestring, want) == 0);
    *open = current && cJSON_IsString(st) &&
            strcmp(st->valuestring, "RUNNING") == 0;
    if (current && cJSON_IsNumber(len)) *hlen = (long)len->valuedouble;
    cJSON_Delete(d);
    return 0;
}

/* wait_for_event polls the run's history length (one hash read, not the
 * history) with backoff until it passes eventId `from`: 1, the history
 * is worth reading again; 0 when the run closed, the deadline passed or
 * the client left first; or the client's error. */
static int wait_for_event(srv_req *r, long from, int64_t deadline)
{
    for (int64_t backoff = 20;; backoff = backoff < 500 ? backoff * 2 : 500) {
        long hlen;
        bool open;
        int rc = open_run(r, &hlen, &open);
        if (rc < 0) return rc;
        if (hlen > from) return 1;
        int64_t left = deadline - srv_mono_ms();
        if (!open || left <= 0 || srv_stopping(r) || srv_client_gone(r))
            return 0;
        srv_sleep_ms(backoff < left ? backoff : left);
    }
}

/* after: how many events of h come after eventId `from`. */
static int after(const cJSON *h, long from, int *first)
{
    int n = 0, i = 0;
    *first = -1;
    for (const cJSON *e = h ? h->child : NULL; e; e = e->next, i++) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "eventId");
        if (cJSON_IsNumber(id) && id->valuedouble > (double)from) {
            if (*first < 0) *first = i;
            n++;
        }
    }
    return n;
}

/* GET .../history[?runId=&pageSize=&nextPageToken=&waitNewEvent=true]
 *   -> {"events":[...], "nextPageToken": "<eventId>" | null}
 * With waitNewEvent, a request with nothing new waits (polling with
 * backoff, up to SRV_MAX_WAIT_MS or ?wait=) for the next event, and the
 * token stays set while the run is open, so a reader can follow it. */
void srv_route_history(srv_req *r)
{
    long size, from;
    bool wait_new;
    int64_t wait;
    if (!srv_arg_int(r, "pageSize", SRV_DEFAULT_PAGE_SIZE, 1, SRV_MAX_PAGE_SIZE,
                     &size) ||
        !srv_arg_int(r, "nextPageToken", 0, 0, 1L << 40, &from) ||
        !srv_arg_bool(r, "waitNewEvent", &wait_new) ||
        !srv_arg_duration(r, "wait", 30000, SRV_MAX_WAIT_MS, &wait) ||
        !srv_client(r))
        return;
    int64_t deadline = srv_mono_ms() + wait;
    cJSON *h = NULL;
    int first = -1, n = 0;
    for (;;) {
        int rc = duro_client_history(r->client, r->params[1],
                                     srv_arg(r, "runId"), &h);
        if (rc < 0) {
            srv_client_error(r, rc);
            return;
        }
        n = after(h, from, &first);
        if (n > 0 || !wait_new || (rc = wait_for_event(r, from, deadline)) == 0)
            break;
        cJSON_Delete(h);
        h = NULL;
        if (rc < 0) {
            srv_client_error(r, rc);
            return;
        }
    }
    cJSON *events = cJSON_CreateArray();
    long last = from;
    for (int i = 0; first >= 0 && i < n && i < size; i++) {
        cJSON *e = cJSON_DetachItemFromArray(h, first);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "eventId");
        last = (long)id->valuedouble;
        cJSON_AddItemToArray(events, e);
    }
    cJSON_Delete(h);
    cJSON *a = cJSON_CreateObject();
    cJSON_AddItemToObject(a, "events", events);
    /* a run that closed after the history was read has events past
     * `last`: the token stays until the reader has its last event */
    long hlen = 0;
    bool open = false;
    int rc = n <= size && wait_new ? open_run(r, &hlen, &open) : 0;
    if (rc < 0) {
        cJSON_Delete(a);
        srv_client_error(r, rc);
        return;
    }
    if (n > size || (wait_new && (open || last < hlen))) {
        char tok[32];
        snprintf(tok, sizeof(tok), "%ld", last);
        cJSON_AddStringToObject(a, "nextPageToken", tok);
    } else
        cJSON_AddNullToObject(a, "nextPageToken");
    srv_json(r, MHD_HTTP_OK, a);
}

/* ---- Listing ---- */

/* GET /namespaces/{ns}/workflows[?query=&pageSize=&nextPageToken=]
 *   -> {"executions":[...], "nextPageToken": "<token>" | null}
 * The query is the visibility query language (duro/vquery.h); a malformed
 * one answers 400 with the parser's message, which names the position.
 * The token is the client's own, opaque and bound to its query. */
void srv_route_list(srv_req *r)
{
    long size;
    if (!srv_arg_int(r, "pageSize", SRV_DEFAULT_PAGE_SIZE, 1, SRV_MAX_PAGE_SIZE,
                     &size) ||
        !srv_client(r))
        return;
    const char *tok = srv_arg(r, "nextPageToken");
    duro_list_opts o = {.query = srv_arg(r, "query"),
                        .limit = (int)size,
                        .page_token = tok && *tok ? tok : NULL};
    cJSON *rows = NULL;
    char *next = NULL;
    int rc = duro_client_list_query(r->client, &o, &rows, &next);
    if (rc < 0) {
        srv_client_error(r, rc);
        return;
    }
    for (cJSON *e = rows->child; e; e = e->next)
        srv_shape_execution(e);
    cJSON *a = cJSON_CreateObject();
    cJSON_AddItemToObject(a, "executions", rows);
    if (next)
        cJSON_AddStringToObject(a, "nextPageToken", next);
    else
        cJSON_AddNullToObject(a, "nextPageToken");
    free(next);
    srv_json(r, MHD_HTTP_OK, a);
}

/* GET /namespaces/{ns}/workflow-count[?query=] -> {"count"}: every match,
 * counted by the client (no cap). */
void srv_route_count(srv_req *r)
{
    if (!srv_client(r)) return;
    int64_t n = 0;
    int rc = duro_client_count(r->client, srv_arg(r, "query"), &n);
    if (rc < 0) {
        srv_client_error(r, rc);
        return;
    }
    cJSON *a = cJSON_CreateObject();
    cJSON_AddNumberToObject(a, "count", (double)n);
    srv_json(r, MHD_HTTP_OK, a);
}

/* ---- Task queues ---- */

/* GET /namespaces/{ns}/task-queues/{queue}
 *   -> {"taskQueue", "workflowTasks": {...}, "activityTasks": {...}} */
void srv_route_task_queue(srv_req *r)
{
    if (!srv_client(r)) return;
    cJSON *stats = NULL;
    int rc = duro_client_queue_stats(r->client, r->params[1], &stats);
    if (rc < 0) {
        srv_client_error(r, rc);
        return;
    }
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "taskQueue", r->params[1]);
    cJSON *e;
    while ((e = cJSON_DetachItemFromArray(stats, 0))) {
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(e, "kind");
        bool wf =
            cJSON_IsString(kind) && strcmp(kind->valuestring, "workflow") == 0;
        cJSON_DeleteItemFromObjectCaseSensitive(e, "kind");
        cJSON_DeleteItemFromObjectCaseSensitive(e, "taskQueue");
        const char *key = wf ? "workflowTasks" : "activityTasks";
        if (cJSON_GetObjectItemCaseSensitive(a, key))
            cJSON_Delete(e);
        else
            cJSON_AddItemToObject(a, key, e);
    }
    cJSON_Delete(stats);
    srv_json(r, MHD_HTTP_OK, a);
}
