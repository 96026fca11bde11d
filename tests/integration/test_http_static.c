/* test_http_static.c: `duro server` serves the web UI (/) and the food app
 * (/apps/food/) from the files compiled into it (server/src/static.c):
 * content types, revalidation with ETag, 404 for unknown paths, the
 * directory redirect, and no token needed for the pages while the API
 * still wants one. The pages themselves run in a browser in
 * tests/browser/test_browser.py. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(http_static, .init = setup, .fini = duro_test_fini, .timeout = 60);

typedef struct {
    int status;
    char head[4096];
    char body[1 << 16];
    size_t body_len;
} resp;

/* get sends one HTTP/1.0 request (extra: more header lines or "") and
 * reads the answer until the server closes. */
static resp *get(int port, const char *method, const char *path,
                 const char *extra)
{
    resp *r = calloc(1, sizeof(*r));
    r->status = -1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return r;
    }
    char req[1024];
    int n = snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: x\r\n%s\r\n",
                     method, path, extra);
    cr_assert(write(fd, req, (size_t)n) == n);
    static char buf[sizeof(r->head) + sizeof(r->body)];
    size_t got = 0;
    ssize_t k;
    while (got + 1 < sizeof(buf) &&
           (k = read(fd, buf + got, sizeof(buf) - got - 1)) > 0)
        got += (size_t)k;
    close(fd);
    buf[got] = '\0';
    char *sep = strstr(buf, "\r\n\r\n");
    if (strncmp(buf, "HTTP/", 5) == 0 && strchr(buf, ' '))
        r->status = (int)strtol(strchr(buf, ' ') + 1, NULL, 10);
    snprintf(r->head, sizeof(r->head), "%.*s",
             sep ? (int)(sep - buf) : (int)got, buf);
    if (sep) {
        r->body_len = got - (size_t)(sep + 4 - buf);
        memcpy(r->body, sep + 4, r->body_len);
    }
    return r;
}

/* header: the value of header name in r (case-insensitive), or "". */
static const char *header(const resp *r, const char *name)
{
    static char v[512];
    size_t n = strlen(name);
    for (const char *p = strstr(r->head, "\r\n"); p; p = strstr(p, "\r\n")) {
        p += 2;
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *s = p + n + 1;
            while (*s == ' ')
                s++;
            size_t len = strcspn(s, "\r");
            snprintf(v, sizeof(v), "%.*s", (int)len, s);
            return v;
        }
    }
    return "";
}

static int start_server(const char *token_file)
{
    int port = duro_test_free_port();
    char addr[32];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    if (token_file)
        duro_test_spawn(&h, "duro", "server", "--http", addr,
                        "--api-token-file", token_file, NULL);
    else
        duro_test_spawn(&h, "duro", "server", "--http", addr, NULL);
    cr_assert(duro_test_wait_until(
                  duro_test_http_get(port, "/healthz", NULL, 0) == 200, 5000),
              "duro server did not come up");
    return port;
}

static void expect_file(int port, const char *path, const char *type,
                        const char *holds)
{
    resp *r = get(port, "GET", path, "");
    cr_expect_eq(r->status, 200, "%s: %d\n%s", path, r->status, r->head);
    cr_expect(strncmp(header(r, "Content-Type"), type, strlen(type)) == 0,
              "%s: Content-Type %s, want %s", path, header(r, "Content-Type"),
              type);
    cr_expect_str_eq(header(r, "Cache-Control"), "no-cache", "%s", path);
    cr_expect(header(r, "ETag")[0] == '"', "%s: ETag %s", path,
              header(r, "ETag"));
    cr_expect_str_eq(header(r, "X-Content-Type-Options"), "nosniff");
    cr_expect(strstr(r->body, holds), "%s: body lacks %s", path, holds);
    free(r);
}

Test(http_static, pages_with_their_types)
{
    int port = start_server(NULL);
    expect_file(port, "/", "text/html; charset=utf-8", "ui.js");
    expect_file(port, "/workflow.html", "text/html", "Timeline");
    expect_file(port, "/task-queues.html", "text/html", "Task queues");
    expect_file(port, "/api.js", "text/javascript", "/api/v1/namespaces/");
    expect_file(port, "/ui.js", "text/javascript", "nextPageToken");
    expect_file(port, "/duro.css", "text/css", "@media");
    expect_file(port, "/apps/food/", "text/html", "food.js");
    expect_file(port, "/apps/food/driver.html", "text/html", "On the way");
    expect_file(port, "/apps/food/food.js", "text/javascript", "durable-food");

    /* pages allow this origin only: no CDN, no inline script */
    resp *r = get(port, "GET", "/", "");
    cr_expect(
        strstr(header(r, "Content-Security-Policy"), "default-src 'self'"),
        "%s", r->head);
    free(r);
}

Test(http_static, etag_revalidation_and_head)
{
    int port = start_server(NULL);
    resp *r = get(port, "GET", "/apps/food/food.js", "");
    char etag[128], extra[256];
    snprintf(etag, sizeof(etag), "%s", header(r, "ETag"));
    size_t len = r->body_len;
    free(r);
    cr_assert(etag[0] && len > 100);

    snprintf(extra, sizeof(extra), "If-None-Match: %s\r\n", etag);
    r = get(port, "GET", "/apps/food/food.js", extra);
    cr_expect_eq(r->status, 304, "%s", r->head);
    cr_expect_eq(r->body_len, 0);
    cr_expect_str_eq(header(r, "ETag"), etag);
    free(r);

    r = get(port, "GET", "/apps/food/food.js", "If-None-Match: \"other\"\r\n");
    cr_expect_eq(r->status, 200);
    cr_expect_eq(r->body_len, len);
    free(r);

    r = get(port, "HEAD", "/", "");
    cr_expect_eq(r->status, 200, "%s", r->head);
    cr_expect_eq(r->body_len, 0);
    cr_expect(strncmp(header(r, "Content-Type"), "text/html", 9) == 0);
    free(r);
}

Test(http_static, unknown_paths_and_the_directory_redirect)
{
    int port = start_server(NULL);
    const char *missing[] = {"/nope.html",
                             "/apps/food/nope.js",
                             "/apps/",
                             "/index.html/",
                             "/apps/food/../../etc/passwd",
                             "/apps/food/%2e%2e/index.html"};
    for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
        resp *r = get(port, "GET", missing[i], "");
        cr_expect_eq(r->status, 404, "%s: %d", missing[i], r->status);
        cr_expect_str_eq(header(r, "Content-Type"), "application/json");
        cr_expect(strstr(r->body, "\"NOT_FOUND\""), "%s", r->body);
        free(r);
    }
    resp *r = get(port, "GET", "/apps/food", "");
    cr_expect_eq(r->status, 301, "%s", r->head);
    cr_expect_str_eq(header(r, "Location"), "/apps/food/");
    free(r);

    /* the API keeps its JSON answers: POST / is no page, GET of an
     * unknown API path a JSON 404 */
    r = get(port, "POST", "/", "");
    cr_expect_eq(r->status, 404);
    cr_expect(strstr(r->body, "\"NOT_FOUND\""), "%s", r->body);
    free(r);
    r = get(port, "GET", "/api/v1/nope", "");
    cr_expect_eq(r->status, 404);
    cr_expect(strstr(r->body, "\"NOT_FOUND\""), "%s", r->body);
    free(r);
}

Test(http_static, pages_need_no_token_the_api_does)
{
    char path[] = "/tmp/duro-static-tokens-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    const char tok[] = "static-test-token-0123456789\n";
    cr_assert(write(fd, tok, sizeof(tok) - 1) == (ssize_t)(sizeof(tok) - 1));
    close(fd);
    int port = start_server(path);

    resp *r = get(port, "GET", "/apps/food/order.html", "");
    cr_expect_eq(r->status, 200, "%s", r->head);
    free(r);
    r = get(port, "GET", "/api/v1/namespaces/default/workflows", "");
    cr_expect_eq(r->status, 401, "%s", r->head);
    free(r);
    r = get(port, "GET", "/api/v1/namespaces/default/workflows",
            "Authorization: Bearer static-test-token-0123456789\r\n");
    cr_expect_eq(r->status, 200, "%s", r->head);
    free(r);
    unlink(path);
}
