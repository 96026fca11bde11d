/* test_http_api.c: `duro server`, the HTTP API, driven over real sockets:
 * every route, each error status, auth on and off, CORS, bad bodies, and a
 * bounded fuzz after which the server still answers. duro-test-worker runs
 * the workflows (task queue "test"), duro-scheduler their timers. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(http_api, .init = setup, .fini = duro_test_fini, .timeout = 120);

#define NS "/api/v1/namespaces/default"

/* ---- A small HTTP/1.0 client ---- */

typedef struct {
    int status; /* -1 when nothing answered */
    char head[4096];
    char *body; /* NUL-terminated */
    cJSON *json;
} http_resp;

static void resp_free(http_resp *r)
{
    free(r->body);
    cJSON_Delete(r->json);
    memset(r, 0, sizeof(*r));
}

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = 70}; /* past the longest long poll */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) return; /* the server may close early (413, 401) */
        p += w;
        n -= (size_t)w;
    }
}

/* read_resp reads until the server closes, and splits head and body. */
static void read_resp(int fd, http_resp *r)
{
    size_t cap = 1 << 16, got = 0;
    char *buf = malloc(cap);
    ssize_t n;
    while ((n = read(fd, buf + got, cap - got - 1)) > 0) {
        got += (size_t)n;
        if (got + 1 == cap) buf = realloc(buf, cap *= 2);
    }
    buf[got] = '\0';
    close(fd);
    char *sep = strstr(buf, "\r\n\r\n");
    r->status = strncmp(buf, "HTTP/", 5) == 0 && strchr(buf, ' ')
                    ? (int)strtol(strchr(buf, ' ') + 1, NULL, 10)
                    : -1;
    snprintf(r->head, sizeof(r->head), "%.*s",
             sep ? (int)(sep - buf) : (int)got, buf);
    r->body = strdup(sep ? sep + 4 : "");
    r->json = cJSON_Parse(r->body);
    free(buf);
}

/* http: one request; extra is more header lines ("X: y\r\n") or NULL. */
static http_resp http(int port, const char *method, const char *path,
                      const char *extra, const char *body)
{
    http_resp r = {.status = -1};
    int fd = connect_to(port);
    if (fd < 0) return r;
    size_t blen = body ? strlen(body) : 0;
    char head[8192];
    int n = snprintf(head, sizeof(head),
                     "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n%s"
                     "Content-Length: %zu\r\n\r\n",
                     method, path, extra ? extra : "", blen);
    write_all(fd, head, (size_t)n);
    if (blen) write_all(fd, body, blen);
    read_resp(fd, &r);
    return r;
}

static const char *jstr(const http_resp *r, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->json, name);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* expect_error: status and error code of the answer. */
#define expect_error(resp, want_status, want_code)                             \
    do {                                                                       \
        http_resp r_ = (resp);                                                 \
        cr_expect_eq(r_.status, want_status, "%s: %d %s", #resp, r_.status,    \
                     r_.body);                                                 \
        cr_expect_str_eq(jstr(&r_, "code"), want_code, "%s: %s", #resp,        \
                         r_.body);                                             \
        cr_expect(*jstr(&r_, "message"), "%s: no message", #resp);             \
        resp_free(&r_);                                                        \
    } while (0)

/* ---- Setup ---- */

static pid_t server_pid;

/* start_server runs `duro server` on a free port with the extra
 * NULL-terminated arguments; waits until /healthz answers. */
static int start_server(const char *const *extra)
{
    int port = duro_test_free_port();
    char addr[32];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    char *args[16] = {"server", "--http", addr};
    int n = 3;
    for (int i = 0; extra && extra[i] && n < 15; i++)
        args[n++] = (char *)extra[i];
    args[n] = NULL;
    server_pid = duro_test_spawnv(&h, "duro", args);
    cr_assert(duro_test_wait_until(
                  duro_test_http_get(port, "/healthz", NULL, 0) == 200, 5000),
              "duro server did not come up");
    return port;
}

static int start_all(void)
{
    duro_test_spawn(&h, "duro-scheduler", NULL);
    duro_test_spawn(&h, "duro-test-worker", NULL);
    return start_server(NULL);
}

static const char GATE[] =
    "{\"workflowType\":\"gate\",\"taskQueue\":\"test\",\"input\":{\"n\":7}}";

/* ---- Routes ---- */

Test(http_api, start_query_signal_result_describe_and_history)
{
    int port = start_all();
    http_resp r = http(port, "POST", NS "/workflows/g1", NULL, GATE);
    cr_assert_eq(r.status, 200, "%s", r.body);
    char run[64];
    snprintf(run, sizeof(run), "%s", jstr(&r, "runId"));
    cr_expect_eq(strlen(run), DURO_UUID_LEN);
    resp_free(&r);
    expect_error(http(port, "POST", NS "/workflows/g1", NULL, GATE), 409,
                 "ALREADY_STARTED");

    /* the query answers once the worker has reached the wait */
    bool waiting = duro_test_wait_until(
        ({
            http_resp q =
                http(port, "POST", NS "/workflows/g1/query/stage", NULL, NULL);
            const cJSON *v = cJSON_GetObjectItem(q.json, "result");
            bool w = q.status == 200 && cJSON_IsString(v) &&
                     strcmp(v->valuestring, "waiting") == 0;
            resp_free(&q);
            w;
        }),
        10000);
    cr_assert(waiting, "the gate workflow never reached its wait");

    r = http(port, "GET", NS "/workflows/g1", NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_expect_str_eq(jstr(&r, "workflowId"), "g1");
    cr_expect_str_eq(jstr(&r, "runId"), run);
    cr_expect_str_eq(jstr(&r, "workflowType"), "gate");
    cr_expect_str_eq(jstr(&r, "taskQueue"), "test");
    cr_expect_str_eq(jstr(&r, "status"), "RUNNING");
    cr_expect(*jstr(&r, "startTime"));
    cr_expect(cJSON_IsNull(cJSON_GetObjectItem(r.json, "closeTime")));
    cr_expect(cJSON_IsArray(cJSON_GetObjectItem(r.json, "pendingActivities")));
    resp_free(&r);
    char path[256];
    snprintf(path, sizeof(path), NS "/workflows/g1?runId=%s", run);
    r = http(port, "GET", path, NULL, NULL);
    cr_expect_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    expect_error(http(port, "GET", NS "/workflows/g1?runId=other", NULL, NULL),
                 404, "NOT_FOUND");

    /* a long poll on the history wakes on the signal's event */
    r = http(port, "GET", NS "/workflows/g1/history?pageSize=1000", NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    int before = cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "events"));
    cr_expect(cJSON_IsNull(cJSON_GetObjectItem(r.json, "nextPageToken")));
    resp_free(&r);
    r = http(port, "POST", NS "/workflows/g1/signal/open", NULL,
             "{\"input\":{\"key\":\"k1\"}}");
    cr_expect_eq(r.status, 200, "%s", r.body);
    cr_expect_str_eq(jstr(&r, "runId"), run);
    resp_free(&r);
    snprintf(path, sizeof(path),
             NS "/workflows/g1/history?waitNewEvent=true&nextPageToken=%d",
             before);
    int64_t t0 = duro_test_mono_ms();
    r = http(port, "GET", path, NULL, NULL);
    cr_expect_eq(r.status, 200, "%s", r.body);
    cr_expect_gt(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "events")), 0);
    cr_expect_lt(duro_test_mono_ms() - t0, 10000);
    resp_free(&r);

    r = http(port, "GET", NS "/workflows/g1/result?wait=20s", NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_expect_str_eq(jstr(&r, "status"), "COMPLETED");
    const cJSON *res = cJSON_GetObjectItem(r.json, "result");
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(
                         cJSON_GetObjectItem(res, "signal"), "key")),
                     "k1", "%s", r.body);
    cr_expect(*jstr(&r, "closeTime"));
    resp_free(&r);

    /* history in pages of 2 gives every event once, in order */
    r = http(port, "GET", NS "/workflows/g1/history?pageSize=1000", NULL, NULL);
    int total = cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "events"));
    resp_free(&r);
    cr_assert_gt(total, 4);
    char token[32] = "";
    int seen = 0, pages = 0;
    do {
        snprintf(path, sizeof(path), NS "/workflows/g1/history?pageSize=2%s%s",
                 *token ? "&nextPageToken=" : "", token);
        r = http(port, "GET", path, NULL, NULL);
        cr_assert_eq(r.status, 200, "%s", r.body);
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItem(r.json, "events"))
        {
            cr_expect_eq(
                cJSON_GetNumberValue(cJSON_GetObjectItem(e, "eventId")),
                ++seen);
        }
        const cJSON *t = cJSON_GetObjectItem(r.json, "nextPageToken");
        snprintf(token, sizeof(token), "%s",
                 cJSON_IsString(t) ? t->valuestring : "");
        resp_free(&r);
    } while (*token && ++pages < 100);
    cr_expect_eq(seen, total);
    duro_test_finish(&h);
}

Test(http_api, list_count_and_task_queue)
{
    int port = start_all();
    char path[256];
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof(path), NS "/workflows/a%d", i);
        http_resp r =
            http(port, "POST", path, NULL,
                 "{\"workflowType\":\"activities\",\"taskQueue\":\"test\","
                 "\"input\":{\"n\":1}}");
        cr_assert_eq(r.status, 200, "%s", r.body);
        resp_free(&r);
        snprintf(path, sizeof(path), NS "/workflows/a%d/result?wait=20s", i);
        r = http(port, "GET", path, NULL, NULL);
        cr_assert_str_eq(jstr(&r, "status"), "COMPLETED", "%s", r.body);
        resp_free(&r);
    }
    http_resp r = http(port, "POST", NS "/workflows/g1", NULL, GATE);
    resp_free(&r);

    r = http(port, "GET",
             NS "/workflow-count?query=ExecutionStatus%3D%22COMPLETED%22", NULL,
             NULL);
    cr_expect_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(r.json, "count")), 5,
                 "%s", r.body);
    resp_free(&r);
    r = http(port, "GET", NS "/workflow-count", NULL, NULL);
    cr_expect_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(r.json, "count")), 6,
                 "%s", r.body);
    resp_free(&r);
    r = http(port, "GET",
             NS "/workflows?query=WorkflowType%20%3D%20'gate'%20AND%20"
                "ExecutionStatus%3D'RUNNING'",
             NULL, NULL);
    const cJSON *ex = cJSON_GetObjectItem(r.json, "executions");
    cr_expect_eq(cJSON_GetArraySize(ex), 1, "%s", r.body);
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(
                         cJSON_GetArrayItem(ex, 0), "workflowType")),
                     "gate");
    resp_free(&r);

    /* pages of 2 over 6 rows: 3 pages, each id once */
    char token[32] = "", ids[16][16];
    int n = 0, pages = 0;
    do {
        snprintf(path, sizeof(path), NS "/workflows?pageSize=2%s%s",
                 *token ? "&nextPageToken=" : "", token);
        r = http(port, "GET", path, NULL, NULL);
        cr_assert_eq(r.status, 200, "%s", r.body);
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItem(r.json, "executions"))
        {
            cr_assert_lt(n, 16);
            snprintf(
                ids[n], sizeof(ids[n]), "%s",
                cJSON_GetStringValue(cJSON_GetObjectItem(e, "workflowId")));
            for (int k = 0; k < n; k++)
                cr_expect_str_neq(ids[k], ids[n]);
            n++;
        }
        const cJSON *t = cJSON_GetObjectItem(r.json, "nextPageToken");
        snprintf(token, sizeof(token), "%s",
                 cJSON_IsString(t) ? t->valuestring : "");
        resp_free(&r);
        pages++;
    } while (*token && pages < 10);
    cr_expect_eq(n, 6);
    cr_expect_eq(pages, 3);

    r = http(port, "GET", NS "/task-queues/test", NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_expect_str_eq(jstr(&r, "taskQueue"), "test");
    cr_expect_geq(
        cJSON_GetNumberValue(cJSON_GetObjectItem(
            cJSON_GetObjectItem(r.json, "workflowTasks"), "consumers")),
        1, "%s", r.body);
    resp_free(&r);
    expect_error(http(port, "GET", NS "/workflows?query=Foo%3D1", NULL, NULL),
                 400, "INVALID_ARGUMENT");
    expect_error(http(port, "GET", NS "/workflows?pageSize=0", NULL, NULL), 400,
                 "INVALID_ARGUMENT");
    expect_error(http(port, "GET", NS "/workflows?pageSize=100000", NULL, NULL),
                 400, "INVALID_ARGUMENT");
    duro_test_finish(&h);
}

Test(http_api, signal_with_start_cancel_terminate)
{
    int port = start_all();
    static const char SWS[] =
        "{\"workflowType\":\"gate\",\"taskQueue\":\"test\",\"input\":1,"
        "\"signalInput\":\"early\"}";
    http_resp r = http(port, "POST", NS "/workflows/s1/signal-with-start/open",
                       NULL, SWS);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_expect(cJSON_IsTrue(cJSON_GetObjectItem(r.json, "started")));
    resp_free(&r);
    r = http(port, "GET", NS "/workflows/s1/result?wait=20s", NULL, NULL);
    cr_expect_str_eq(jstr(&r, "status"), "COMPLETED", "%s", r.body);
    resp_free(&r);

    r = http(port, "POST", NS "/workflows/c1", NULL, GATE);
    resp_free(&r);
    r = http(port, "POST", NS "/workflows/c1/signal-with-start/nothing", NULL,
             SWS);
    cr_expect(cJSON_IsFalse(cJSON_GetObjectItem(r.json, "started")), "%s",
              r.body);
    resp_free(&r);
    r = http(port, "POST", NS "/workflows/c1/cancel", NULL,
             "{\"reason\":\"test\"}");
    cr_expect_eq(r.status, 200, "%s", r.body);
    cr_expect(cJSON_IsFalse(cJSON_GetObjectItem(r.json, "alreadyRequested")));
    resp_free(&r);
    r = http(port, "POST", NS "/workflows/c1/terminate", NULL,
             "{\"reason\":\"enough\"}");
    cr_expect_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    r = http(port, "GET", NS "/workflows/c1/result?wait=0", NULL, NULL);
    cr_expect_str_eq(jstr(&r, "status"), "TERMINATED", "%s", r.body);
    resp_free(&r);
    expect_error(http(port, "POST", NS "/workflows/c1/terminate", NULL, NULL),
                 409, "NOT_RUNNING");
    expect_error(http(port, "POST", NS "/workflows/c1/signal/open", NULL, NULL),
                 409, "NOT_RUNNING");
    expect_error(http(port, "POST", NS "/workflows/c1/cancel", NULL, NULL), 409,
                 "NOT_RUNNING");
    duro_test_finish(&h);
}

/* ---- Errors ---- */

Test(http_api, each_error_status_and_bad_bodies)
{
    /* no worker: the query below must time out */
    static const char *const ARGS[] = {"--query-timeout", "300ms", "--max-body",
                                       "64KiB", NULL};
    int port = start_server(ARGS);
    expect_error(http(port, "GET", NS "/workflows/nope", NULL, NULL), 404,
                 "NOT_FOUND");
    expect_error(http(port, "GET", NS "/workflows/nope/result", NULL, NULL),
                 404, "NOT_FOUND");
    expect_error(http(port, "GET", NS "/workflows/nope/history", NULL, NULL),
                 404, "NOT_FOUND");
    expect_error(http(port, "POST", NS "/workflows/nope/signal/x", NULL, NULL),
                 404, "NOT_FOUND");
    expect_error(
        http(port, "GET", "/api/v1/namespaces/other/workflows/x", NULL, NULL),
        404, "NOT_FOUND");
    expect_error(http(port, "GET", "/nothing/here", NULL, NULL), 404,
                 "NOT_FOUND");
    expect_error(http(port, "GET", NS "/workflows/x/", NULL, NULL), 404,
                 "NOT_FOUND");
    http_resp r = http(port, "DELETE", NS "/workflows/x", NULL, NULL);
    cr_expect_eq(r.status, 405);
    cr_expect(strstr(r.head, "Allow: GET, POST"), "%s", r.head);
    resp_free(&r);
    expect_error(http(port, "GET", NS "/workflows/x/cancel", NULL, NULL), 405,
                 "METHOD_NOT_ALLOWED");

    /* bodies: each refusal names the field */
    static const struct {
        const char *body, *code, *field;
    } BAD[] = {
        {"{", "INVALID_JSON", "body"},
        {"[1,2]", "INVALID_JSON", "body"},
        {"\"text\"", "INVALID_JSON", "body"},
        {"{}", "INVALID_ARGUMENT", "workflowType"},
        {"{\"workflowType\":1,\"taskQueue\":\"q\"}", "INVALID_ARGUMENT",
         "workflowType"},
        {"{\"workflowType\":\"t\"}", "INVALID_ARGUMENT", "taskQueue"},
        {"{\"workflowType\":\"t\",\"taskQueue\":[]}", "INVALID_ARGUMENT",
         "taskQueue"},
        {"{\"workflowType\":\"t\",\"taskQueue\":\"q\",\"colour\":1}",
         "INVALID_ARGUMENT", "colour"},
        {"{\"workflowType\":\"t\",\"taskQueue\":\"q\",\"idReusePolicy\":"
         "\"Sometimes\"}",
         "INVALID_ARGUMENT", "idReusePolicy"},
        {"{\"workflowType\":\"t\",\"taskQueue\":\"q\",\"taskTimeout\":"
         "\"soon\"}",
         "INVALID_ARGUMENT", "taskTimeout"},
    };
    for (size_t i = 0; i < sizeof(BAD) / sizeof(BAD[0]); i++) {
        r = http(port, "POST", NS "/workflows/b1", NULL, BAD[i].body);
        cr_expect_eq(r.status, 400, "%s: %d %s", BAD[i].body, r.status, r.body);
        cr_expect_str_eq(jstr(&r, "code"), BAD[i].code, "%s", BAD[i].body);
        cr_expect(strstr(jstr(&r, "message"), BAD[i].field), "%s: %s",
                  BAD[i].body, r.body);
        resp_free(&r);
    }
    expect_error(http(port, "POST", NS "/workflows/b1/terminate", NULL,
                      "{\"reason\":5}"),
                 400, "INVALID_ARGUMENT");
    expect_error(
        http(port, "GET", NS "/workflows/b1/result?wait=soon", NULL, NULL), 400,
        "INVALID_ARGUMENT");
    expect_error(http(port, "GET",
                      NS "/workflows/b1/history?waitNewEvent=maybe", NULL,
                      NULL),
                 400, "INVALID_ARGUMENT");
    /* nothing was started by any of them */
    expect_error(http(port, "GET", NS "/workflows/b1", NULL, NULL), 404,
                 "NOT_FOUND");

    /* 413: announced by Content-Length, and sent in chunks */
    size_t big = (size_t)100 * 1024;
    char *body = malloc(big + 1);
    memset(body, ' ', big);
    body[big] = '\0';
    expect_error(http(port, "POST", NS "/workflows/b2", NULL, body), 413,
                 "PAYLOAD_TOO_LARGE");
    int fd = connect_to(port);
    cr_assert(fd >= 0);
    static const char CHUNKED[] =
        "POST " NS "/workflows/b2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        "Transfer-Encoding: chunked\r\n\r\n";
    write_all(fd, CHUNKED, sizeof(CHUNKED) - 1);
    for (int i = 0; i < 4; i++) {
        char head[32];
        int n = snprintf(head, sizeof(head), "%zx\r\n", big / 4);
        write_all(fd, head, (size_t)n);
        write_all(fd, body, big / 4);
        write_all(fd, "\r\n", 2);
    }
    write_all(fd, "0\r\n\r\n", 5);
    r = (http_resp){0};
    read_resp(fd, &r);
    cr_expect_eq(r.status, 413, "%s", r.body);
    resp_free(&r);
    free(body);

    /* 504: no worker answers the query */
    r = http(port, "POST", NS "/workflows/q1", NULL, GATE);
    cr_expect_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    expect_error(http(port, "POST", NS "/workflows/q1/query/stage", NULL, NULL),
                 504, "DEADLINE_EXCEEDED");
    expect_error(
        http(port, "GET", NS "/workflows/q1/result?wait=200ms", NULL, NULL),
        504, "DEADLINE_EXCEEDED");

    /* 503: Redis does not answer */
    kill(h.redis_pid, SIGSTOP);
    r = http(port, "GET", NS "/workflows/q1", NULL, NULL);
    kill(h.redis_pid, SIGCONT);
    cr_expect_eq(r.status, 503, "%d %s", r.status, r.body);
    cr_expect_str_eq(jstr(&r, "code"), "UNAVAILABLE", "%s", r.body);
    resp_free(&r);
    r = http(port, "GET", NS "/workflows/q1", NULL, NULL);
    cr_expect_eq(r.status, 200, "after Redis came back: %s", r.body);
    resp_free(&r);
    duro_test_finish(&h);
}

/* ---- Security ---- */

Test(http_api, bearer_token_required_and_nothing_touched_without_it)
{
    char file[PATH_MAX + 32];
    snprintf(file, sizeof(file), "%s/tokens", h.dir);
    FILE *f = fopen(file, "w");
    cr_assert(f);
    fprintf(f, "# API tokens\nold-token-0123456789abcdef\n"
               "new-token-0123456789abcdef\n");
    fclose(f);
    static char arg[PATH_MAX + 32];
    snprintf(arg, sizeof(arg), "%s", file);
    const char *const ARGS[] = {"--api-token-file", arg, NULL};
    int port = start_server(ARGS);
    expect_error(http(port, "POST", NS "/workflows/t1", NULL, GATE), 401,
                 "UNAUTHENTICATED");
    http_resp r =
        http(port, "POST", NS "/workflows/t1",
             "Authorization: Bearer new-token-0123456789abcdeX\r\n", GATE);
    cr_expect_eq(r.status, 401);
    cr_expect(strstr(r.head, "WWW-Authenticate: Bearer"), "%s", r.head);
    resp_free(&r);
    expect_error(http(port, "GET", "/api/v1/openapi.json",
                      "Authorization: Basic eDp5\r\n", NULL),
                 401, "UNAUTHENTICATED");
    /* the refused start wrote nothing */
    duro_client *c = duro_test_client(&h);
    cJSON *d = NULL;
    cr_expect_eq(duro_client_describe(c, "t1", &d), DURO_ENOTFOUND);
    cJSON_Delete(d);
    /* either token of the file works */
    r = http(port, "POST", NS "/workflows/t1",
             "Authorization: Bearer old-token-0123456789abcdef\r\n", GATE);
    cr_expect_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    r = http(port, "GET", NS "/workflows/t1",
             "Authorization: Bearer new-token-0123456789abcdef\r\n", NULL);
    cr_expect_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    /* health probes need no token */
    cr_expect_eq(duro_test_http_get(port, "/healthz", NULL, 0), 200);
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(http_api, a_short_token_file_is_refused_at_start)
{
    char file[PATH_MAX + 32];
    snprintf(file, sizeof(file), "%s/short", h.dir);
    FILE *f = fopen(file, "w");
    fprintf(f, "short\n");
    fclose(f);
    duro_test_output o;
    duro_test_run(&h, &o, 10000, "duro", "server", "--http", "127.0.0.1:0",
                  "--api-token-file", file, NULL);
    cr_expect_neq(o.exit_code, 0);
    cr_expect(strstr(o.err, "shorter than 16"), "%s", o.err);
    duro_test_output_free(&o);
    duro_test_finish(&h);
}

Test(http_api, cors_off_by_default_and_on_for_the_origin_given)
{
    int port = start_server(NULL);
    http_resp r = http(port, "GET", "/api/v1/openapi.json",
                       "Origin: http://ui.example\r\n", NULL);
    cr_expect_eq(r.status, 200);
    cr_expect_null(strstr(r.head, "Access-Control"), "%s", r.head);
    resp_free(&r);
    r = http(port, "OPTIONS", NS "/workflows/x", NULL, NULL);
    cr_expect_eq(r.status, 405);
    resp_free(&r);
    duro_test_kill(&h, server_pid, SIGTERM);

    static const char *const ARGS[] = {"--cors-origin", "http://ui.example",
                                       NULL};
    port = start_server(ARGS);
    r = http(port, "OPTIONS", NS "/workflows/x",
             "Origin: http://ui.example\r\n"
             "Access-Control-Request-Method: POST\r\n",
             NULL);
    cr_expect_eq(r.status, 204);
    cr_expect(strstr(r.head, "Access-Control-Allow-Origin: http://ui.example"),
              "%s", r.head);
    cr_expect(strstr(r.head, "Access-Control-Allow-Headers: Authorization"),
              "%s", r.head);
    resp_free(&r);
    r = http(port, "GET", NS "/workflows/x", "Origin: http://evil.example\r\n",
             NULL);
    cr_expect_null(strstr(r.head, "Access-Control-Allow-Origin"), "%s", r.head);
    resp_free(&r);
    duro_test_finish(&h);
}

/* ---- The document ---- */

Test(http_api, openapi_document_describes_every_route_and_metrics_count)
{
    int port = start_server(NULL);
    http_resp r = http(port, "GET", "/api/v1/openapi.json", NULL, NULL);
    cr_assert_eq(r.status, 200);
    cr_assert(r.json, "not JSON");
    cr_expect_str_eq(jstr(&r, "openapi"), "3.1.0");
    const cJSON *paths = cJSON_GetObjectItem(r.json, "paths");
    static const struct {
        const char *path, *method;
    } ROUTES[] = {
        {"/api/v1/openapi.json", "get"},
        {"/api/v1/namespaces/{ns}/workflows", "get"},
        {"/api/v1/namespaces/{ns}/workflow-count", "get"},
        {"/api/v1/namespaces/{ns}/task-queues/{queue}", "get"},
        {"/api/v1/namespaces/{ns}/workflows/{workflowId}", "get"},
        {"/api/v1/namespaces/{ns}/workflows/{workflowId}", "post"},
        {"/api/v1/namespaces/{ns}/workflows/{workflowId}/history", "get"},
        {"/api/v1/namespaces/{ns}/workflows/{workflowId}/result", "get"},
        {"/api/v1/namespaces/{ns}/workflows/{workflowId}/signal/{name}",
         "post"},
        {"/api/v1/namespaces/{ns}/workflows/{workflowId}/signal-with-start/"
         "{name}",
         "post"},
        {"/api/v1/namespaces/{ns}/workflows/{workflowId}/query/{name}", "post"},
        {"/api/v1/namespaces/{ns}/workflows/{workflowId}/cancel", "post"},
        {"/api/v1/namespaces/{ns}/workflows/{workflowId}/terminate", "post"},
    };
    for (size_t i = 0; i < sizeof(ROUTES) / sizeof(ROUTES[0]); i++) {
        const cJSON *op = cJSON_GetObjectItem(
            cJSON_GetObjectItem(paths, ROUTES[i].path), ROUTES[i].method);
        cr_expect(op, "%s %s missing", ROUTES[i].method, ROUTES[i].path);
        cr_expect(cJSON_GetObjectItem(op, "responses"), "%s", ROUTES[i].path);
    }
    cr_expect_eq(cJSON_GetArraySize((cJSON *)paths),
                 (int)(sizeof(ROUTES) / sizeof(ROUTES[0])) - 1,
                 "a path in the document that the test does not know");
    resp_free(&r);

    /* and /metrics counts the requests by route pattern and status */
    r = http(port, "GET", NS "/workflows/nope", NULL, NULL);
    resp_free(&r);
    r = http(port, "GET", "/metrics", NULL, NULL);
    cr_expect_eq(r.status, 200);
    cr_expect(strstr(r.body, "duro_http_requests_total{route=\"/api/v1/"
                             "openapi.json\",code=\"200\"} 1"),
              "%s", r.body);
    cr_expect(strstr(r.body, "duro_http_requests_total{route=\"/api/v1/"
                             "namespaces/{ns}/workflows/{workflowId}\","
                             "code=\"404\"} 1"),
              "%s", r.body);
    cr_expect(strstr(r.body, "duro_http_request_duration_seconds_count"), "%s",
              r.body);
    resp_free(&r);
    duro_test_finish(&h);
}

/* ---- Fuzz ---- */

/* rnd: a xorshift generator seeded per run (printed, to replay one). */
static uint64_t rnd_state;
static uint64_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

static void random_text(char *buf, size_t n, const char *alphabet)
{
    size_t k = alphabet ? strlen(alphabet) : 0;
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)(alphabet ? (unsigned char)alphabet[rnd() % k]
                                 : (unsigned char)(rnd() & 0xff));
    buf[n] = '\0';
}

Test(http_api, fuzz_bytes_paths_and_bodies_the_server_stays_up)
{
    int port = start_all();
    rnd_state = (uint64_t)duro_test_mono_ms() | 1;
    fprintf(stderr, "fuzz seed %llu\n", (unsigned long long)rnd_state);
    static const char *const PREFIX[] = {
        NS "/workflows/",          NS "/workflows/f1/",
        NS "/workflows/f1/query/", NS "/workflows/f1/signal/",
        "/api/v1/namespaces/",     "/",
    };
    static const char *const METHODS[] = {"GET", "POST", "PUT", "OPTIONS",
                                          "HEAD"};
    static const char PATHCH[] = "abc/%?=&{}.-_0123456789";
    static const char JSONCH[] = "{}[]\":,0123456789.eE+-truefalsnul \\u";
    http_resp r = http(port, "POST", NS "/workflows/f1", NULL, GATE);
    resp_free(&r);
    int answered = 0;
    for (int i = 0; i < 300; i++) {
        char path[200], body[600];
        int kind = (int)(rnd() % 4);
        if (kind == 0) { /* raw bytes on the socket */
            int fd = connect_to(port);
            cr_assert(fd >= 0);
            size_t n = 1 + rnd() % 500;
            random_text(body, n, NULL);
            write_all(fd, body, n);
            shutdown(fd, SHUT_WR);
            r = (http_resp){0};
            read_resp(fd, &r);
            resp_free(&r);
            continue;
        }
        const char *pre = PREFIX[rnd() % 6];
        size_t plen = strlen(pre);
        snprintf(path, sizeof(path), "%s", pre);
        random_text(path + plen, rnd() % 40, PATHCH);
        if (kind == 1) { /* random JSON-ish body to a real route */
            random_text(body, rnd() % 300, JSONCH);
            r = http(port, "POST", NS "/workflows/f1/query/stage", NULL, body);
        } else if (kind == 2) {
            random_text(body, rnd() % 300, JSONCH);
            r = http(port, METHODS[rnd() % 5], path, NULL, body);
        } else {
            r = http(port, "GET", path, NULL, NULL);
        }
        cr_expect(r.status >= 200 && r.status < 600, "%s -> %d", path,
                  r.status);
        answered += r.status > 0;
        resp_free(&r);
    }
    cr_expect_gt(answered, 200);
    /* connections that never finish their request hold a thread each, not
     * the server: a request beside them is answered at once */
    int idle[16];
    for (int i = 0; i < 16; i++) {
        idle[i] = connect_to(port);
        cr_assert(idle[i] >= 0);
        static const char PART[] = "GET /api/v1/openapi.json HTTP/1.1\r\nHo";
        write_all(idle[i], PART, sizeof(PART) - 1);
    }
    int64_t t0 = duro_test_mono_ms();
    r = http(port, "GET", NS "/workflows/f1", NULL, NULL);
    cr_expect_eq(r.status, 200, "%s", r.body);
    cr_expect_lt(duro_test_mono_ms() - t0, 2000);
    resp_free(&r);
    for (int i = 0; i < 16; i++)
        close(idle[i]);
    cr_assert(duro_test_alive(&h, server_pid), "duro server died");
    r = http(port, "GET", NS "/workflows/f1", NULL, NULL);
    cr_expect_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    duro_test_finish(&h);
}

/* ---- TLS ---- */

/* sh runs a shell command, its stdout into out; the exit status. */
static int sh(const char *cmd, char *out, size_t size)
{
    FILE *p = popen(cmd, "r"); /* NOLINT(cert-env33-c): the test's own
                                * openssl and curl commands */
    if (!p) return -1;
    size_t n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(http_api, https_with_tls_cert_and_key)
{
    char cmd[3 * PATH_MAX], out[4096];
    if (sh("command -v openssl && command -v curl", out, sizeof(out)) != 0)
        cr_skip_test("needs the openssl and curl programs");
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "
             "/CN=127.0.0.1 -keyout %s/key.pem -out %s/cert.pem 2>&1",
             h.dir, h.dir);
    cr_assert_eq(sh(cmd, out, sizeof(out)), 0, "%s", out);
    static char cert[PATH_MAX + 16], key[PATH_MAX + 16];
    snprintf(cert, sizeof(cert), "%s/cert.pem", h.dir);
    snprintf(key, sizeof(key), "%s/key.pem", h.dir);
    int port = duro_test_free_port();
    char addr[32];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    server_pid = duro_test_spawn(&h, "duro", "server", "--http", addr,
                                 "--tls-cert", cert, "--tls-key", key, NULL);
    cr_assert(duro_test_wait_until(
        duro_test_log_contains(&h, server_pid, "HTTP API LISTEN"), 5000));
    snprintf(cmd, sizeof(cmd),
             "curl -s --max-time 5 --cacert %s https://127.0.0.1:%d"
             "/api/v1/namespaces/default/workflows",
             cert, port);
    cr_expect_eq(sh(cmd, out, sizeof(out)), 0);
    cr_expect(strstr(out, "\"executions\""), "%s", out);
    /* plain HTTP on the TLS port gets no answer */
    cr_expect_neq(duro_test_http_get(port, "/healthz", NULL, 0), 200);
    duro_test_finish(&h);
}

/* ---- duro dev ---- */

Test(http_api, duro_dev_serves_the_api_and_prints_its_url)
{
    char port[16], addr[32], dir[PATH_MAX + 16];
    snprintf(port, sizeof(port), "%d", duro_test_free_port());
    int http_port = duro_test_free_port();
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", http_port);
    snprintf(dir, sizeof(dir), "%s/devdata", h.dir);
    pid_t dev = duro_test_spawn(&h, "duro", "dev", "--port", port, "--dir", dir,
                                "--http", addr, NULL);
    char want[64];
    snprintf(want, sizeof(want), "HTTP API on http://%s", addr);
    cr_assert(
        duro_test_wait_until(duro_test_log_contains(&h, dev, want), 10000),
        "duro dev did not print the API's URL");
    http_resp r = http(http_port, "GET", NS "/workflows", NULL, NULL);
    cr_expect_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    duro_test_finish(&h);
}

/* ---- History long poll ---- */

static int history_len(int port, const char *id)
{
    char path[256];
    snprintf(path, sizeof(path), NS "/workflows/%s", id);
    http_resp r = http(port, "GET", path, NULL, NULL);
    int n =
        (int)cJSON_GetNumberValue(cJSON_GetObjectItem(r.json, "historyLength"));
    resp_free(&r);
    return n;
}

Test(http_api, history_long_poll_is_bounded_and_ends_with_the_run)
{
    int port = start_server(NULL); /* no worker: nothing moves by itself */
    http_resp r = http(port, "POST", NS "/workflows/lp", NULL, GATE);
    char run1[64];
    snprintf(run1, sizeof(run1), "%s", jstr(&r, "runId"));
    resp_free(&r);
    int len = history_len(port, "lp");
    cr_assert_gt(len, 0);
    char path[256];
    snprintf(path, sizeof(path),
             NS "/workflows/lp/history?waitNewEvent=true&wait=300ms&"
                "nextPageToken=%d",
             len);
    int64_t t0 = duro_test_mono_ms();
    r = http(port, "GET", path, NULL, NULL);
    int64_t took = duro_test_mono_ms() - t0;
    cr_expect_eq(r.status, 200, "%s", r.body);
    cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "events")), 0);
    char want[16];
    snprintf(want, sizeof(want), "%d", len);
    cr_expect_str_eq(jstr(&r, "nextPageToken"), want, "%s", r.body);
    cr_expect(took >= 250 && took < 3000, "waited %lld ms", (long long)took);
    resp_free(&r);

    /* the terminate wakes a waiting reader, and the run's end ends it */
    r = http(port, "POST", NS "/workflows/lp/terminate", NULL, NULL);
    resp_free(&r);
    r = http(port, "GET", path, NULL, NULL);
    cr_expect_gt(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "events")), 0);
    cr_expect(cJSON_IsNull(cJSON_GetObjectItem(r.json, "nextPageToken")), "%s",
              r.body);
    resp_free(&r);
    len = history_len(port, "lp");
    snprintf(path, sizeof(path),
             NS "/workflows/lp/history?waitNewEvent=true&wait=10s&"
                "nextPageToken=%d",
             len);
    t0 = duro_test_mono_ms();
    r = http(port, "GET", path, NULL, NULL);
    cr_expect_lt(duro_test_mono_ms() - t0, 2000, "waited on a closed run");
    cr_expect(cJSON_IsNull(cJSON_GetObjectItem(r.json, "nextPageToken")));
    resp_free(&r);

    /* an earlier run, while a new one is open, is closed and complete */
    r = http(port, "POST", NS "/workflows/lp", NULL, GATE);
    cr_expect_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    snprintf(path, sizeof(path),
             NS "/workflows/lp/history?waitNewEvent=true&wait=10s&runId=%s&"
                "nextPageToken=%d",
             run1, len);
    t0 = duro_test_mono_ms();
    r = http(port, "GET", path, NULL, NULL);
    cr_expect_eq(r.status, 200, "%s", r.body);
    cr_expect_lt(duro_test_mono_ms() - t0, 2000, "waited on an old run");
    cr_expect(cJSON_IsNull(cJSON_GetObjectItem(r.json, "nextPageToken")));
    resp_free(&r);
    duro_test_finish(&h);
}

/* ---- Stopping ---- */

Test(http_api, sigterm_ends_long_polls_at_once)
{
    int port = start_server(NULL); /* no worker: the waits would run out */
    http_resp r = http(port, "POST", NS "/workflows/w1", NULL, GATE);
    resp_free(&r);
    int fds[2];
    static const char *const PATHS[] = {
        "GET " NS "/workflows/w1/result?wait=60s HTTP/1.0\r\n\r\n",
        "GET " NS "/workflows/w1/history?waitNewEvent=true&wait=60s&"
        "nextPageToken=1000 HTTP/1.0\r\n\r\n"};
    for (int i = 0; i < 2; i++) {
        fds[i] = connect_to(port);
        cr_assert(fds[i] >= 0);
        write_all(fds[i], PATHS[i], strlen(PATHS[i]));
    }
    duro_test_sleep_ms(300); /* both are waiting */
    int64_t t0 = duro_test_mono_ms();
    duro_test_kill(&h, server_pid, SIGTERM);
    cr_expect(duro_test_wait_until(!duro_test_alive(&h, server_pid), 3000),
              "duro server took more than 3s to stop");
    cr_expect_lt(duro_test_mono_ms() - t0, 3000);
    r = (http_resp){0};
    read_resp(fds[0], &r);
    cr_expect_eq(r.status, 503, "%s", r.body);
    resp_free(&r);
    read_resp(fds[1], &r);
    cr_expect_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    duro_test_finish(&h);
}
