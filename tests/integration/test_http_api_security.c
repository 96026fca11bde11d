/* test_http_api_security.c: `duro server` under attack and in its
 * settings: bearer tokens, CORS, HTTPS, the OpenAPI document and /metrics,
 * a bounded fuzz after which the server still answers, and the API inside
 * `duro dev`. The routes themselves are in test_http_api.c. */
#include "http_client.h"

TestSuite(http_security, .init = setup, .fini = duro_test_fini, .timeout = 120);

/* ---- Security ---- */

Test(http_security, bearer_token_required_and_nothing_touched_without_it)
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
    /* the scheme is case-insensitive */
    r = http(port, "GET", NS "/workflows/t1",
             "Authorization: bearer new-token-0123456789abcdef\r\n", NULL);
    cr_expect_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    /* health probes need no token */
    cr_expect_eq(duro_test_http_get(port, "/healthz", NULL, 0), 200);
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(http_security, a_short_token_file_is_refused_at_start)
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

Test(http_security, cors_off_by_default_and_on_for_the_origin_given)
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

Test(http_security, openapi_document_describes_every_route_and_metrics_count)
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
        {"/api/v1/namespaces/{ns}/workflows/{workflowId}/stack", "get"},
        {"/api/v1/namespaces/{ns}/workflows/{workflowId}/update/{name}",
         "post"},
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

Test(http_security, fuzz_bytes_paths_and_bodies_the_server_stays_up)
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

/* A long poll whose client left ends at once: before, it held its thread
 * and its connection slot for the whole wait (up to 60s), so clients that
 * gave up on waits could take every slot of the server. */
Test(http_security, a_long_poll_whose_client_left_frees_its_slot)
{
    const char *const ARGS[] = {"--max-connections", "1", NULL};
    int port = start_server(ARGS);
    /* no worker: the run stays RUNNING, the result wait waits */
    http_resp r = http(port, "POST", NS "/workflows/lp", NULL, GATE);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    int fd = connect_to(port);
    cr_assert(fd >= 0);
    static const char REQ[] =
        "GET " NS "/workflows/lp/result?wait=60s HTTP/1.0\r\n\r\n";
    write_all(fd, REQ, sizeof(REQ) - 1);
    /* the wait holds the only slot: another connection is turned away */
    cr_assert(duro_test_wait_until(
                  duro_test_http_get(port, "/healthz", NULL, 0) != 200, 5000),
              "the long poll does not hold the slot");
    close(fd);
    /* the server sees the client gone within a wait slice, not 60s later */
    cr_expect(duro_test_wait_until(
                  duro_test_http_get(port, "/healthz", NULL, 0) == 200, 20000),
              "the slot of a client that left is still taken");
    duro_test_finish(&h);
}

/* A %00 in the path or the query acts on nothing: libmicrohttpd hands
 * over C strings, and its decoding cut "nul%00id" to "nul", so that the
 * request started (or signalled, or served) another one than it named. */
Test(http_security, a_nul_byte_in_an_id_or_path_is_refused_not_cut)
{
    int port = start_server(NULL);
    expect_error(http(port, "POST", NS "/workflows/nul%00id", NULL, GATE), 400,
                 "INVALID_ARGUMENT");
    duro_client *c = duro_test_client(&h);
    cJSON *d = NULL;
    cr_expect_eq(duro_client_describe(c, "nul", &d), DURO_ENOTFOUND);
    cJSON_Delete(d);
    http_resp r = http(port, "POST", NS "/workflows/nul", NULL, GATE);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    r = http(port, "GET", NS "/workflows/nul%00x", NULL, NULL);
    cr_expect_neq(r.status, 200, "%s", r.body);
    resp_free(&r);
    r = http(port, "GET", NS "/workflows/nul?runId=%00", NULL, NULL);
    cr_expect_neq(r.status, 200, "%s", r.body);
    resp_free(&r);
    r = http(port, "GET", "/index.html%00.js", NULL, NULL);
    cr_expect_eq(r.status, 404, "%s", r.head);
    resp_free(&r);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* A history long poll that meets a Redis gone away answers 503: it
 * answered 200 with "nextPageToken": null, which tells a reader following
 * the run that it has closed, so the reader stopped for good. */
Test(http_security, a_history_long_poll_without_redis_is_503_not_the_end)
{
    const char *const ARGS[] = {"--max-connections", "1", NULL};
    int port = start_server(ARGS);
    http_resp r = http(port, "POST", NS "/workflows/hf", NULL, GATE);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    r = http(port, "GET", NS "/workflows/hf/history?waitNewEvent=true&wait=0",
             NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    char path[256];
    snprintf(path, sizeof(path),
             "GET " NS "/workflows/hf/history?waitNewEvent=true&wait=60s"
             "&nextPageToken=%s HTTP/1.0\r\n\r\n",
             jstr(&r, "nextPageToken"));
    cr_assert(*jstr(&r, "nextPageToken"), "%s", r.body);
    resp_free(&r);
    int fd = connect_to(port);
    cr_assert(fd >= 0);
    write_all(fd, path, strlen(path));
    /* the long poll holds the only slot: it is waiting */
    cr_assert(duro_test_wait_until(
                  duro_test_http_get(port, "/healthz", NULL, 0) != 200, 5000),
              "the long poll does not wait");
    duro_test_redis_stop(&h, SIGKILL);
    r = (http_resp){0};
    read_resp(fd, &r);
    cr_expect_eq(r.status, 503, "%s", r.body);
    cr_expect_str_eq(jstr(&r, "code"), "UNAVAILABLE", "%s", r.body);
    resp_free(&r);
    duro_test_redis_start_again(&h, "no", NULL);
    duro_test_finish(&h);
}

/* ?wait= in seconds past the 60s bound waits 60s: the seconds were
 * multiplied into milliseconds before the bound, so a wait of 2^63/1000
 * seconds overflowed into a negative one and the wait did not wait. */
Test(http_security, a_huge_wait_in_seconds_waits_the_longest_wait)
{
    const char *const ARGS[] = {"--max-connections", "1", NULL};
    int port = start_server(ARGS);
    http_resp r = http(port, "POST", NS "/workflows/hw", NULL, GATE);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    int fd = connect_to(port);
    cr_assert(fd >= 0);
    static const char REQ[] = "GET " NS "/workflows/hw/result"
                              "?wait=9223372036854776 HTTP/1.0\r\n\r\n";
    write_all(fd, REQ, sizeof(REQ) - 1);
    /* it waits, holding the only slot (a 504 at once would free it) */
    cr_expect(duro_test_wait_until(
                  duro_test_http_get(port, "/healthz", NULL, 0) != 200, 5000),
              "the wait did not wait");
    close(fd); /* the client leaves: the wait ends */
    duro_test_finish(&h);
}

/* A chunked body far over --max-body is cut off: the server read and
 * discarded it to its end before answering 413, so a client streaming
 * without end held a thread for as long as it liked. */
Test(http_security, an_endless_chunked_body_is_cut_off)
{
    const char *const ARGS[] = {"--max-body", "1KiB", NULL};
    int port = start_server(ARGS);
    int fd = connect_to(port);
    cr_assert(fd >= 0);
    static const char HEAD[] =
        "POST " NS "/workflows/big HTTP/1.1\r\nHost: x\r\n"
        "Transfer-Encoding: chunked\r\n\r\n";
    cr_assert_eq(send(fd, HEAD, sizeof(HEAD) - 1, MSG_NOSIGNAL),
                 (ssize_t)sizeof(HEAD) - 1);
    static char chunk[8192 + 16];
    int n = snprintf(chunk, sizeof(chunk), "%x\r\n", 8192);
    memset(chunk + n, 'a', 8192);
    chunk[n + 8192] = '\r';
    chunk[n + 8192 + 1] = '\n';
    size_t len = (size_t)n + 8192 + 2;
    /* 64 MiB, far past what the socket buffers hold: the server must
     * close the connection long before */
    bool cut = false;
    for (int i = 0; i < 8192 && !cut; i++)
        cut = send(fd, chunk, len, MSG_NOSIGNAL) != (ssize_t)len;
    cr_expect(cut, "the server read a 64 MiB body with a 1 KiB limit");
    close(fd);
    cr_expect_eq(duro_test_http_get(port, "/healthz", NULL, 0), 200);
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

Test(http_security, https_with_tls_cert_and_key)
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

Test(http_security, duro_dev_serves_the_api_and_prints_its_url)
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
