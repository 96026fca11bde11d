/* server.c: the HTTP listener of `duro server`: libmicrohttpd with a
 * thread per connection, request bodies, bearer tokens and CORS; the pool
 * of clients the handlers borrow is pool.c. The routes are in routes.c and
 * routes_*.c; reading and answering a request in req.c.
 *
 * A request goes: headers (auth, CORS preflight, Content-Length against
 * max_body) -> body chunks (kept up to max_body, the rest discarded and
 * answered 413) -> parse the body as a JSON object -> route -> answer. A
 * request refused before its body is read closes its connection; one
 * whose headers or body do not come in time is closed (deadline.c). */
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth.h"
#include "deadline.h"
#include "duro/errno.h"
#include "duro/log.h"
#include "duro/metrics.h"
#include "duro/utf8.h"
#include "req.h"
#include "server.h"
#include "static.h"

#define CONNECTION_TIMEOUT_S 90 /* idle; beyond the longest long poll */
#define DRAIN_MS 2000

struct duro_server {
    struct MHD_Daemon *d;
    srv_pool pool;
    atomic_bool stopping; /* waiting handlers answer once it is set */
    duro_metrics *m;      /* GET /metrics */
    srv_deadlines *dl;    /* header and body deadlines: deadline.c */
    char *cors_origin;
    srv_tokens tokens;
    size_t max_body;
    int64_t query_timeout;
    int port, cap;
    unsigned per_ip;          /* connections from one address; 0 = no limit */
    char *tls_cert, *tls_key; /* PEM text; MHD keeps pointers to them */
};

/* conn_state: one request's progress across libmicrohttpd's calls. */
typedef struct {
    char *body;
    size_t len, cap;
    size_t discarded; /* bytes of the body past max_body */
    bool too_big;
    int64_t t0_ms;
} conn_state;

/* ---- Answers ---- */

static void add_cors(const duro_server *s, struct MHD_Connection *c,
                     struct MHD_Response *resp)
{
    if (!s->cors_origin) return;
    const char *origin =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    if (strcmp(s->cors_origin, "*") == 0)
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
    else if (origin && strcmp(origin, s->cors_origin) == 0)
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", origin);
    MHD_add_response_header(resp, "Vary", "Origin");
}

/* send_answer queues r's answer (JSON) with its status. */
static enum MHD_Result send_answer(duro_server *s, struct MHD_Connection *c,
                                   unsigned status, char *json,
                                   const char *allow)
{
    static const char OOM[] =
        "{\"code\":\"OUT_OF_MEMORY\",\"message\":\"out of memory\"}";
    struct MHD_Response *resp =
        json ? MHD_create_response_from_buffer(strlen(json), json,
                                               MHD_RESPMEM_MUST_FREE)
             : MHD_create_response_from_buffer(sizeof(OOM) - 1, (void *)OOM,
                                               MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(json);
        return MHD_NO;
    }
    if (!json) status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (allow) MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                "Bearer realm=\"duro\"");
    add_cors(s, c, resp);
    enum MHD_Result rc = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* ---- Metrics ---- */

#define REQUESTS "duro_http_requests_total"
#define DURATION "duro_http_request_duration_seconds"

static int metrics_new(duro_server *s)
{
    s->m = duro_metrics_new();
    if (!s->m) return DURO_ENOMEM;
    duro_metrics_describe(s->m, REQUESTS, "counter",
                          "HTTP API requests answered, by route pattern and "
                          "status code");
    duro_metrics_describe(s->m, DURATION, "histogram",
                          "HTTP API request time from its headers to the "
                          "answer, by route pattern");
    duro_metrics_build_info(s->m, "duro-server");
    return 0;
}

/* count: one answered request; route NULL = none matched (or refused
 * before routing); t0_ms < 0 = not timed. */
static void count(duro_server *s, const char *route, unsigned status,
                  int64_t t0_ms)
{
    char label[320] = "", labels[400] = "", code[16];
    snprintf(code, sizeof(code), "%u", status);
    duro_metrics_label(label, sizeof(label), "route", route ? route : "none");
    duro_metrics_label(labels, sizeof(labels), "route", route ? route : "none");
    duro_metrics_label(labels, sizeof(labels), "code", code);
    duro_metrics_add(s->m, REQUESTS, labels, 1);
    if (t0_ms >= 0)
        duro_metrics_observe(s->m, DURATION, label,
                             (double)(srv_mono_ms() - t0_ms) / 1000.0);
}

static enum MHD_Result send_metrics(duro_server *s, struct MHD_Connection *c)
{
    char *text = duro_metrics_render(s->m);
    struct MHD_Response *resp =
        text ? MHD_create_response_from_buffer(strlen(text), text,
                                               MHD_RESPMEM_MUST_FREE)
             : NULL;
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result rc = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* send_error: an answer decided before routing (auth, size). */
static enum MHD_Result send_error(duro_server *s, struct MHD_Connection *c,
                                  unsigned status, const char *code,
                                  const char *msg)
{
    srv_req r = {.conn = c};
    srv_error(&r, status, code, "%s", msg);
    count(s, NULL, status, -1);
    return send_answer(s, c, r.status, r.answer, NULL);
}

static enum MHD_Result send_preflight(duro_server *s, struct MHD_Connection *c)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Access-Control-Allow-Methods",
                            "GET, POST, OPTIONS");
    MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                            "Authorization, Content-Type");
    MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
    add_cors(s, c, resp);
    enum MHD_Result rc = MHD_queue_response(c, MHD_HTTP_NO_CONTENT, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* ---- Requests ---- */

/* on_headers: the first call of a request, before any body. Answers what
 * needs no body (refusals, preflight); returns MHD_YES with *answered
 * false to read the body. */
static enum MHD_Result on_headers(duro_server *s, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  bool *answered)
{
    *answered = true;
    if (strcmp(method, MHD_HTTP_METHOD_OPTIONS) == 0 && s->cors_origin)
        return send_preflight(s, c);
    if (srv_static_wanted(method, url)) { /* the web UI: static.c */
        unsigned status = 0;
        enum MHD_Result rc = srv_static_send(c, url, &status);
        count(s, "static", status, -1);
        return rc;
    }
    if (strcmp(url, "/healthz") != 0 && s->tokens.n > 0) {
        const char *h = MHD_lookup_connection_value(
            c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        if (!srv_tokens_accept(&s->tokens, h))
            return send_error(s, c, MHD_HTTP_UNAUTHORIZED, "UNAUTHENTICATED",
                              "missing or invalid bearer token "
                              "(Authorization: Bearer <token>)");
    }
    const char *len = MHD_lookup_connection_value(
        c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (len && strtoull(len, NULL, 10) > s->max_body) {
        char msg[128];
        snprintf(msg, sizeof(msg), "body of %.20s bytes; the limit is %zu", len,
                 s->max_body);
        return send_error(s, c, MHD_HTTP_CONTENT_TOO_LARGE, "PAYLOAD_TOO_LARGE",
                          msg);
    }
    *answered = false;
    return MHD_YES;
}

/* take_body appends one chunk, or discards it once over max_body (the
 * answer is a 413); false, closing the connection, once max_body more has
 * been discarded: only a body without Content-Length (chunked) gets that
 * far, and reading it to its end would let a client hold a thread for as
 * long as it streams. */
static bool take_body(duro_server *s, conn_state *st, const char *data,
                      size_t n)
{
    if (st->too_big || st->len + n > s->max_body) {
        st->too_big = true;
        st->discarded += n;
        return st->discarded <= s->max_body;
    }
    if (st->len + n + 1 > st->cap) {
        size_t cap = st->cap ? st->cap : 4096;
        while (cap < st->len + n + 1)
            cap *= 2;
        char *b = realloc(st->body, cap);
        if (!b) return false;
        st->body = b;
        st->cap = cap;
    }
    memcpy(st->body + st->len, data, n);
    st->len += n;
    st->body[st->len] = '\0';
    return true;
}

/* run_request: the whole body is in; parse it and route. */
/* bad_utf8_arg: a query argument iterator that stops at the first key
 * or value that is not well-formed UTF-8, leaving its key (or "a key",
 * itself not printable) in *cls. */
static enum MHD_Result bad_utf8_arg(void *cls, enum MHD_ValueKind kind,
                                    const char *key, const char *value)
{
    (void)kind;
    const char **bad = cls;
    if (key && duro_utf8_check(key, strlen(key), NULL) < 0) {
        *bad = "(a key)";
        return MHD_NO;
    }
    if (value && duro_utf8_check(value, strlen(value), NULL) < 0) {
        *bad = key;
        return MHD_NO;
    }
    return MHD_YES;
}

static enum MHD_Result run_request(duro_server *s, struct MHD_Connection *c,
                                   conn_state *st, const char *url,
                                   const char *method)
{
    if (st->too_big) {
        char msg[96];
        snprintf(msg, sizeof(msg), "body over the limit of %zu bytes",
                 s->max_body);
        return send_error(s, c, MHD_HTTP_CONTENT_TOO_LARGE, "PAYLOAD_TOO_LARGE",
                          msg);
    }
    if (strcmp(url, "/metrics") == 0 &&
        strcmp(method, MHD_HTTP_METHOD_GET) == 0)
        return send_metrics(s, c);
    srv_req r = {.conn = c,
                 .pool = &s->pool,
                 .query_timeout = s->query_timeout,
                 .stopping = &s->stopping};
    r.body = st->body;
    r.body_len = st->len;
    size_t at;
    const char *bad_arg = NULL;
    if (duro_utf8_check(url, strlen(url), &at) < 0)
        srv_error(&r, MHD_HTTP_BAD_REQUEST, "INVALID_ARGUMENT",
                  "path is not valid UTF-8 (byte %zu)", at);
    else if (MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, bad_utf8_arg,
                                       &bad_arg) &&
             bad_arg)
        srv_error(&r, MHD_HTTP_BAD_REQUEST, "INVALID_ARGUMENT",
                  "query argument %.64s is not valid UTF-8", bad_arg);
    else if (st->len > 0 && duro_utf8_check(st->body, st->len, &at) < 0)
        srv_error(&r, MHD_HTTP_BAD_REQUEST, "INVALID_JSON",
                  "body: invalid UTF-8 at byte %zu", at);
    else if (st->len > 0) {
        r.json = cJSON_ParseWithLength(st->body, st->len);
        if (!r.json || !cJSON_IsObject(r.json))
            srv_error(&r, MHD_HTTP_BAD_REQUEST, "INVALID_JSON",
                      "body: want a JSON object%s",
                      r.json ? "" : " (the text does not parse)");
    }
    if (!r.answer) srv_dispatch(&r, method, url);
    if (!r.answer && r.status == 0)
        srv_error(&r, MHD_HTTP_INTERNAL_SERVER_ERROR, "INTERNAL",
                  "the handler gave no answer");
    srv_pool_give(&s->pool, r.client);
    cJSON_Delete(r.json);
    count(s, r.route, r.status, st->t0_ms);
    duro_debug("HTTP REQ method=%s path=%s status=%u ms=%lld", method, url,
               r.status, (long long)(srv_mono_ms() - st->t0_ms));
    return send_answer(s, c, r.status, r.answer, *r.allow ? r.allow : NULL);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *data,
                                  size_t *data_size, void **state)
{
    duro_server *s = cls;
    conn_state *st = *state;
    if (!st) {
        bool answered;
        enum MHD_Result rc = on_headers(s, c, url, method, &answered);
        srv_deadlines_enter(s->dl, c,
                            answered ? SRV_PART_ANSWER : SRV_PART_BODY);
        if (answered) return rc;
        st = calloc(1, sizeof(*st));
        if (!st) return MHD_NO;
        st->t0_ms = srv_mono_ms();
        *state = st;
        return MHD_YES;
    }
    if (*data_size > 0) {
        if (!take_body(s, st, data, *data_size)) return MHD_NO;
        *data_size = 0;
        return MHD_YES;
    }
    srv_deadlines_enter(s->dl, c, SRV_PART_ANSWER);
    return run_request(s, c, st, url, method);
}

/* on_completed: the request is over; a kept-alive connection waits for
 * the next one. */
static void on_completed(void *cls, struct MHD_Connection *c, void **state,
                         enum MHD_RequestTerminationCode toe)
{
    duro_server *s = cls;
    srv_deadlines_enter(s->dl, c, SRV_PART_NEXT);
    conn_state *st = *state;
    if (!st) return;
    free(st->body);
    free(st);
    *state = NULL;
}

/* unescape percent-decodes the path and each query argument as
 * libmicrohttpd does, except that %00 decodes to 0x01: the handlers get C
 * strings, and a NUL would cut "a%00b" to "a", so that a request acted on
 * another workflow, name or file than the one it names. As 0x01 the value
 * keeps its length, and the checks that refuse control characters refuse
 * it (400), as no route or file matches it (404). */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
    for (char *p = strstr(s, "%00"); p; p = strstr(p + 3, "%00"))
        p[2] = '1';
    return MHD_http_unescape(s);
}

/* ---- Lifecycle ---- */

static int fail(char *err, size_t errsize, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errsize, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errsize, fmt, ap);
    va_end(ap);
    return rc;
}

/* resolve: "host:port" or "[v6]:port" into a socket address. */
static int resolve(const char *addr, struct sockaddr_storage *ss)
{
    char host[256];
    const char *colon;
    if (addr[0] == '[') {
        const char *end = strchr(addr, ']');
        if (!end || end[1] != ':' || (size_t)(end - addr) > sizeof(host))
            return -1;
        snprintf(host, sizeof(host), "%.*s", (int)(end - addr - 1), addr + 1);
        colon = end + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon || colon == addr || (size_t)(colon - addr) >= sizeof(host))
            return -1;
        snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || port < 0 || port > 65535) return -1;
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || !res) return -1;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

/* drain stops taking connections, tells waiting handlers to answer, and
 * gives the requests in flight up to DRAIN_MS to be answered (a wait ends
 * within SRV_WAIT_SLICE_MS) before closing what is left. */
static void drain(duro_server *s)
{
    atomic_store(&s->stopping, true);
    MHD_socket fd = MHD_quiesce_daemon(s->d);
    for (int waited = 0; waited < DRAIN_MS; waited += 20) {
        const union MHD_DaemonInfo *info =
            MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
        if (!info || info->num_connections == 0) break;
        srv_sleep_ms(20);
    }
    MHD_stop_daemon(s->d); /* joins the connection threads */
    if (fd != MHD_INVALID_SOCKET) close(fd);
}

static void server_free(duro_server *s)
{
    if (!s) return;
    if (s->d) drain(s);
    srv_deadlines_stop(s->dl); /* after the daemon: no connection left */
    srv_pool_close(&s->pool);
    duro_metrics_free(s->m);
    srv_tokens_free(&s->tokens);
    free(s->cors_origin);
    free(s->tls_cert);
    free(s->tls_key);
    free(s);
}

/* configure copies the options into s and reads the files. */
static int configure(duro_server *s, const duro_server_opts *o, char *err,
                     size_t errsize)
{
    s->max_body = o->max_body ? o->max_body : DURO_SERVER_DEFAULT_MAX_BODY;
    s->query_timeout =
        o->query_timeout_ms > 0 ? o->query_timeout_ms : 0; /* 0 = default */
    s->cors_origin = o->cors_origin ? strdup(o->cors_origin) : NULL;
    s->per_ip =
        o->max_connections_per_ip > 0 ? (unsigned)o->max_connections_per_ip : 0;
    int64_t header_ms = o->header_timeout_ms > 0
                            ? o->header_timeout_ms
                            : DURO_SERVER_DEFAULT_HEADER_TIMEOUT_MS;
    int64_t body_ms = o->body_timeout_ms > 0
                          ? o->body_timeout_ms
                          : DURO_SERVER_DEFAULT_BODY_TIMEOUT_MS;
    if (metrics_new(s) || srv_pool_init(&s->pool, o->redis_url, s->cap) ||
        (o->cors_origin && !s->cors_origin) ||
        srv_deadlines_start(&s->dl, header_ms, body_ms,
                            (int64_t)CONNECTION_TIMEOUT_S * 1000, s->m))
        return fail(err, errsize, DURO_ENOMEM, "out of memory");
    if (o->api_token_file &&
        srv_tokens_load(&s->tokens, o->api_token_file, err, errsize) < 0)
        return DURO_EINVAL;
    if (!o->tls_cert != !o->tls_key)
        return fail(err, errsize, DURO_EINVAL,
                    "--tls-cert and --tls-key go together");
    if (o->tls_cert) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
            return fail(err, errsize, DURO_EINVAL,
                        "this libmicrohttpd was built without TLS");
        if (!(s->tls_cert =
                  srv_read_file(o->tls_cert, 1 << 20, err, errsize)) ||
            !(s->tls_key = srv_read_file(o->tls_key, 1 << 20, err, errsize)))
            return DURO_EINVAL;
    }
    /* Redis once now: a wrong URL or password fails the start */
    int rc;
    duro_client *c = srv_pool_take(&s->pool, "default", &rc, err, errsize);
    if (!c) return rc;
    srv_pool_give(&s->pool, c);
    return 0;
}

int duro_server_start(duro_server **out, const duro_server_opts *o, char *err,
                      size_t errsize)
{
    *out = NULL;
    const char *addr = o->http_addr ? o->http_addr : DURO_SERVER_DEFAULT_ADDR;
    struct sockaddr_storage ss;
    if (resolve(addr, &ss) != 0)
        return fail(err, errsize, DURO_EINVAL,
                    "--http %s: want HOST:PORT, e.g. 127.0.0.1:8233", addr);
    duro_server *s = calloc(1, sizeof(*s));
    if (!s) return fail(err, errsize, DURO_ENOMEM, "out of memory");
    s->cap = o->max_connections > 0 ? o->max_connections
                                    : DURO_SERVER_DEFAULT_CONNECTIONS;
    int rc = configure(s, o, err, errsize);
    if (rc) {
        server_free(s);
        return rc;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    if (s->tls_cert) flags |= MHD_USE_TLS;
    struct MHD_OptionItem tls[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key},
        {MHD_OPTION_END, 0, NULL},
    };
    s->d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, &ss,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->cap,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, s->per_ip,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, srv_deadlines_notify, s->dl,
        MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL, MHD_OPTION_ARRAY,
        s->tls_cert ? tls : tls + 2, MHD_OPTION_END);
    if (!s->d) {
        server_free(s);
        return fail(err, errsize, DURO_ECONN,
                    "cannot listen on %s (taken, or not an address of this "
                    "host%s)",
                    addr, o->tls_cert ? ", or the TLS files do not load" : "");
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : 0;
    duro_info("HTTP API LISTEN addr=%s port=%d tls=%s auth=%s cors=%s", addr,
              s->port, s->tls_cert ? "on" : "off",
              s->tokens.n ? "token" : "off",
              s->cors_origin ? s->cors_origin : "off");
    *out = s;
    return 0;
}

int duro_server_port(const duro_server *s)
{
    return s->port;
}

void duro_server_stop(duro_server *s)
{
    server_free(s);
}
