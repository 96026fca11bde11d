/* http_client.h: what the HTTP API tests share (test_http_api.c,
 * test_http_api_security.c): a small HTTP/1.0 client over raw sockets (no
 * new dependency), and starting `duro server` with a worker and a
 * scheduler. Each including test file has its own harness and suite. */
#ifndef DURO_TEST_HTTP_CLIENT_H
#define DURO_TEST_HTTP_CLIENT_H

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

static inline void setup(void)
{
    duro_test_redis_start(&h);
}

#define NS "/api/v1/namespaces/default"

/* ---- A small HTTP/1.0 client ---- */

typedef struct {
    int status; /* -1 when nothing answered */
    char head[4096];
    char *body; /* NUL-terminated */
    cJSON *json;
} http_resp;

static inline void resp_free(http_resp *r)
{
    free(r->body);
    cJSON_Delete(r->json);
    memset(r, 0, sizeof(*r));
}

static inline int connect_to(int port)
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

static inline void write_all(int fd, const void *buf, size_t n)
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
static inline void read_resp(int fd, http_resp *r)
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
static inline http_resp http(int port, const char *method, const char *path,
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

static inline const char *jstr(const http_resp *r, const char *name)
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
static inline int start_server(const char *const *extra)
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

static inline int start_all(void)
{
    duro_test_spawn(&h, "duro-scheduler", NULL);
    duro_test_spawn(&h, "duro-test-worker", NULL);
    return start_server(NULL);
}

#define GATE                                                                   \
    "{\"workflowType\":\"gate\",\"taskQueue\":\"test\",\"input\":{\"n\":7}}"

#endif
