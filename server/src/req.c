/* req.c: reading a request (query string, JSON body) and answering it
 * with JSON, for the route handlers. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "duro/duration.h"
#include "duro/errno.h"
#include "duro/json.h"
#include "req.h"

/* ---- Answers ---- */

void srv_json(srv_req *r, unsigned status, cJSON *v)
{
    free(r->answer);
    r->answer = v ? duro_json_print_out(v) : NULL;
    cJSON_Delete(v);
    r->status = status;
    if (!r->answer) { /* out of memory: a static answer (server.c) */
        r->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
}

void srv_error(srv_req *r, unsigned status, const char *code, const char *fmt,
               ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "code", code);
    cJSON_AddStringToObject(o, "message", msg);
    srv_json(r, status, o);
}

unsigned srv_status_of(int rc, const char **code)
{
    static const struct {
        int rc;
        unsigned status;
        const char *code;
    } MAP[] = {
        {DURO_EINVAL, MHD_HTTP_BAD_REQUEST, "INVALID_ARGUMENT"},
        {DURO_EJSON, MHD_HTTP_BAD_REQUEST, "INVALID_JSON"},
        {DURO_ENOTFOUND, MHD_HTTP_NOT_FOUND, "NOT_FOUND"},
        {DURO_EALREADY, MHD_HTTP_CONFLICT, "ALREADY_STARTED"},
        {DURO_ENOTRUNNING, MHD_HTTP_CONFLICT, "NOT_RUNNING"},
        {DURO_ESTALE, MHD_HTTP_CONFLICT, "STALE"},
        {DURO_ETOOBIG, MHD_HTTP_CONTENT_TOO_LARGE, "PAYLOAD_TOO_LARGE"},
        {DURO_ETIMEDOUT, MHD_HTTP_GATEWAY_TIMEOUT, "DEADLINE_EXCEEDED"},
        {DURO_ECONN, MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE"},
        {DURO_EAGAIN, MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE"},
        {DURO_EAUTH, MHD_HTTP_SERVICE_UNAVAILABLE, "REDIS_AUTH"},
        {DURO_ENOMEM, MHD_HTTP_INTERNAL_SERVER_ERROR, "OUT_OF_MEMORY"},
        {DURO_EPROTO, MHD_HTTP_INTERNAL_SERVER_ERROR, "MALFORMED_DATA"},
        {DURO_EREDIS, MHD_HTTP_INTERNAL_SERVER_ERROR, "REDIS_ERROR"},
    };
    for (size_t i = 0; i < sizeof(MAP) / sizeof(MAP[0]); i++)
        if (MAP[i].rc == rc) {
            *code = MAP[i].code;
            return MAP[i].status;
        }
    *code = "INTERNAL";
    return MHD_HTTP_INTERNAL_SERVER_ERROR;
}

void srv_client_error(srv_req *r, int rc)
{
    const char *code;
    unsigned status = srv_status_of(rc, &code);
    const char *msg = r->client ? duro_client_errstr(r->client) : "";
    srv_error(r, status, code, "%s", *msg ? msg : duro_strerror(rc));
}

void srv_worker_answer(srv_req *r, int rc, const char *answer, cJSON *a)
{
    cJSON *v = rc == 0 ? cJSON_Parse(answer) : NULL;
    if (!a) a = cJSON_CreateObject();
    if (rc < 0)
        srv_client_error(r, rc);
    else if (!v)
        srv_error(r, MHD_HTTP_BAD_GATEWAY, "MALFORMED_DATA",
                  "the worker's answer is not JSON");
    if (rc < 0 || !v) {
        cJSON_Delete(a);
        return;
    }
    cJSON_AddItemToObject(a, "result", v);
    srv_json(r, MHD_HTTP_OK, a);
}

/* ---- Client and namespace ---- */

duro_client *srv_client(srv_req *r)
{
    if (r->client) return r->client;
    char err[256] = "";
    int rc;
    const char *ns = r->ns ? r->ns : "default";
    r->client = srv_pool_take(r->pool, ns, &rc, err, sizeof(err));
    if (r->client) return r->client;
    /* err names the namespace already ("namespace shop not found (create
       it: ...)", "namespace \"a b\" has a character outside ...") */
    if ((rc == DURO_ENOTFOUND || rc == DURO_EINVAL) && err[0])
        srv_error(r, MHD_HTTP_NOT_FOUND, "NOT_FOUND", "%s", err);
    else if (rc == DURO_ENOTFOUND || rc == DURO_EINVAL)
        srv_error(r, MHD_HTTP_NOT_FOUND, "NOT_FOUND",
                  "namespace %.128s not found", ns);
    else {
        const char *code = "UNAVAILABLE";
        unsigned status = srv_status_of(rc, &code);
        srv_error(r, status, code, "%s", err);
    }
    return NULL;
}

bool srv_namespace_ok(srv_req *r, const char *ns)
{
    r->ns = ns;
    return srv_client(r) != NULL;
}

/* ---- Waiting ---- */

bool srv_stopping(const srv_req *r)
{
    return r->stopping && atomic_load(r->stopping);
}

bool srv_client_gone(const srv_req *r)
{
    const union MHD_ConnectionInfo *ci =
        r->conn ? MHD_get_connection_info(r->conn,
                                          MHD_CONNECTION_INFO_CONNECTION_FD)
                : NULL;
    if (!ci) return false;
    char b;
    ssize_t n = recv(ci->connect_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 ||
           (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

int64_t srv_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void srv_sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- Query string ---- */

const char *srv_arg(const srv_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

bool srv_arg_int(srv_req *r, const char *name, long def, long min, long max,
                 long *out)
{
    const char *v = srv_arg(r, name);
    *out = def;
    if (!v) return true;
    char *end;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < min || n > max) {
        srv_error(r, MHD_HTTP_BAD_REQUEST, "INVALID_ARGUMENT",
                  "%s: want an integer in %ld..%ld, not \"%.64s\"", name, min,
                  max, v);
        return false;
    }
    *out = n;
    return true;
}

bool srv_arg_duration(srv_req *r, const char *name, int64_t def, int64_t max_ms,
                      int64_t *out)
{
    const char *v = srv_arg(r, name);
    *out = def;
    if (!v) return true;
    char *end;
    long secs = strtol(v, &end, 10);
    int64_t ms;
    if (*v && !*end && secs >= 0) /* seconds; past max_ms is max_ms */
        ms = secs > max_ms / 1000 ? max_ms : (int64_t)secs * 1000;
    else if (duro_duration_parse(v, &ms) != 0 || ms < 0) {
        srv_error(r, MHD_HTTP_BAD_REQUEST, "INVALID_ARGUMENT",
                  "%s: want a duration such as 30s or 500ms, not \"%.64s\"",
                  name, v);
        return false;
    }
    *out = ms > max_ms ? max_ms : ms;
    return true;
}

bool srv_arg_bool(srv_req *r, const char *name, bool *out)
{
    const char *v = srv_arg(r, name);
    *out = false;
    if (!v) return true;
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
        *out = true;
    else if (strcmp(v, "false") != 0 && strcmp(v, "0") != 0) {
        srv_error(r, MHD_HTTP_BAD_REQUEST, "INVALID_ARGUMENT",
                  "%s: want true or false, not \"%.64s\"", name, v);
        return false;
    }
    return true;
}

/* ---- JSON body ---- */

bool srv_body_check(srv_req *r, const char *const *allowed)
{
    if (!r->json) return true;
    for (const cJSON *m = r->json->child; m; m = m->next) {
        const char *const *a = allowed;
        while (*a && strcmp(*a, m->string) != 0)
            a++;
        if (!*a) {
            srv_error(r, MHD_HTTP_BAD_REQUEST, "INVALID_ARGUMENT",
                      "%.128s: unknown field in the body", m->string);
            return false;
        }
    }
    return true;
}

bool srv_body_string(srv_req *r, const char *name, bool required,
                     const char **out)
{
    const cJSON *v =
        r->json ? cJSON_GetObjectItemCaseSensitive(r->json, name) : NULL;
    *out = NULL;
    if (cJSON_IsString(v)) {
        *out = v->valuestring;
        return true;
    }
    if (v && !cJSON_IsNull(v)) {
        srv_error(r, MHD_HTTP_BAD_REQUEST, "INVALID_ARGUMENT",
                  "%s: want a string", name);
        return false;
    }
    if (required) {
        srv_error(r, MHD_HTTP_BAD_REQUEST, "INVALID_ARGUMENT", "%s: required",
                  name);
        return false;
    }
    return true;
}

bool srv_body_json(srv_req *r, const char *name, char **out)
{
    const cJSON *v =
        r->json ? cJSON_GetObjectItemCaseSensitive(r->json, name) : NULL;
    *out = NULL;
    if (!v) return true;
    *out = cJSON_PrintUnformatted(v);
    if (*out) return true;
    srv_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "OUT_OF_MEMORY",
              "%s: out of memory", name);
    return false;
}

bool srv_body_duration(srv_req *r, const char *name, int64_t *out)
{
    const cJSON *v =
        r->json ? cJSON_GetObjectItemCaseSensitive(r->json, name) : NULL;
    *out = 0;
    if (!v || cJSON_IsNull(v)) return true;
    if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e15) {
        *out = (int64_t)v->valuedouble;
        return true;
    }
    if (cJSON_IsString(v) && duro_duration_parse(v->valuestring, out) == 0 &&
        *out >= 0)
        return true;
    srv_error(r, MHD_HTTP_BAD_REQUEST, "INVALID_ARGUMENT",
              "%s: want a duration such as \"30s\" or milliseconds", name);
    return false;
}

void srv_shape_execution(cJSON *o)
{
    cJSON *t = cJSON_DetachItemFromObjectCaseSensitive(o, "type");
    if (t) cJSON_AddItemToObject(o, "workflowType", t);
}
