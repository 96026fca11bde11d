/* cli_health.c: `duro health`: one HTTP GET of a Duro process's /readyz
 * (or any URL), exit 0 on 200. For container HEALTHCHECKs: the runtime
 * image has no curl. Plain HTTP/1.0 over a socket, with one deadline for
 * connect, send and the status line. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "duro/config.h"
#include "duro/errno.h"

#define DEFAULT_TIMEOUT_MS 2000
#define MAX_HEAD 4096

static const cli_opt HEALTH_OPTS[] = {
    {"url", 0, "URL",
     "what to GET (default http://127.0.0.1:<port of $DURO_METRICS_ADDR>"
     "/readyz)",
     false},
    {"timeout", 0, "DURATION", "give up after this long (default 2s)", false},
    {0},
};

/* http_url: the parts of "http://host[:port][/path]"; host may be
 * "[v6]". */
typedef struct {
    char host[256], port[8], path[1024];
} http_url;

static int parse_url(const char *url, http_url *u)
{
    if (strncmp(url, "http://", 7) != 0) return -1;
    const char *h = url + 7, *slash = strchr(h, '/');
    size_t hl = slash ? (size_t)(slash - h) : strlen(h);
    snprintf(u->path, sizeof(u->path), "%s", slash ? slash : "/");
    snprintf(u->port, sizeof(u->port), "80");
    const char *colon = NULL;
    if (*h == '[') {
        const char *end = memchr(h, ']', hl);
        if (!end) return -1;
        if (end + 1 < h + hl && end[1] == ':') colon = end + 1;
        h++;
        hl = (size_t)(end - h);
        if (colon) {
            size_t pl = (size_t)((slash ? slash : url + strlen(url)) - colon);
            if (pl < 2 || pl > sizeof(u->port)) return -1;
            snprintf(u->port, sizeof(u->port), "%.*s", (int)(pl - 1),
                     colon + 1);
        }
    } else {
        colon = memchr(h, ':', hl);
        if (colon) {
            size_t pl = hl - (size_t)(colon - h) - 1;
            if (pl < 1 || pl >= sizeof(u->port)) return -1;
            snprintf(u->port, sizeof(u->port), "%.*s", (int)pl, colon + 1);
            hl = (size_t)(colon - h);
        }
    }
    if (hl == 0 || hl >= sizeof(u->host)) return -1;
    snprintf(u->host, sizeof(u->host), "%.*s", (int)hl, h);
    char *end;
    long p = strtol(u->port, &end, 10);
    return *end || p < 1 || p > 65535 ? -1 : 0;
}

/* default_url: the readiness URL of this container's own process, from
 * $DURO_METRICS_ADDR ("0.0.0.0:9464" is asked on 127.0.0.1). */
static int default_url(char *out, size_t size)
{
    const char *addr = duro_env("DURO_METRICS_ADDR", NULL);
    const char *colon = addr ? strrchr(addr, ':') : NULL;
    if (!colon || !colon[1]) return -1;
    snprintf(out, size, "http://127.0.0.1:%s/readyz", colon + 1);
    return 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* wait_fd polls fd for events until deadline; 0, or DURO_ETIMEDOUT. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0) return DURO_ETIMEDOUT;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, (int)left);
        if (n > 0) return 0;
        if (n < 0 && errno != EINTR) return DURO_ECONN;
    }
}

/* connect_to: a connected socket to u, or -1 with *why set. */
static int connect_to(const http_url *u, int64_t deadline, const char **why)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    int g = getaddrinfo(u->host, u->port, &hints, &res);
    if (g != 0) {
        *why = gai_strerror(g);
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int rc = fd < 0 ? -1 : connect(fd, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (rc != 0 && fd >= 0 && errno == EINPROGRESS) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (wait_fd(fd, POLLOUT, deadline) != 0) {
            *why = "timed out connecting";
            close(fd);
            return -1;
        }
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        errno = err;
        rc = err ? -1 : 0;
    }
    if (rc != 0) {
        *why = strerror(errno);
        if (fd >= 0) close(fd);
        return -1;
    }
    return fd;
}

/* http_status GETs u and returns the status code, or a DURO_E* with *why
 * set. */
static int http_status(const http_url *u, int64_t timeout_ms, const char **why)
{
    int64_t deadline = now_ms() + timeout_ms;
    int fd = connect_to(u, deadline, why);
    if (fd < 0) return DURO_ECONN;
    char req[1400], head[MAX_HEAD];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.0\r\nHost: %s:%s\r\nUser-Agent: duro-health"
                     "\r\nConnection: close\r\n\r\n",
                     u->path, u->host, u->port);
    size_t sent = 0, got = 0;
    int rc = 0;
    while (rc == 0 && sent < (size_t)n) {
        ssize_t w = send(fd, req + sent, (size_t)n - sent, MSG_NOSIGNAL);
        if (w > 0)
            sent += (size_t)w;
        else if (errno == EAGAIN || errno == EINTR)
            rc = wait_fd(fd, POLLOUT, deadline);
        else
            rc = DURO_ECONN;
    }
    /* the status line is all we need */
    while (rc == 0 && got + 1 < sizeof(head) && !memchr(head, '\n', got)) {
        ssize_t r = recv(fd, head + got, sizeof(head) - 1 - got, 0);
        if (r > 0)
            got += (size_t)r;
        else if (r < 0 && (errno == EAGAIN || errno == EINTR))
            rc = wait_fd(fd, POLLIN, deadline);
        else
            break; /* closed, or an error: judge what came */
    }
    close(fd);
    head[got] = '\0';
    int status = 0;
    if (rc == DURO_ETIMEDOUT) *why = "timed out waiting for the answer";
    if (rc) return rc;
    /* "HTTP/1.1 200 OK": the number after the first space */
    const char *sp = strchr(head, ' ');
    char *end = NULL;
    long code = sp && !strncmp(head, "HTTP/", 5) ? strtol(sp + 1, &end, 10) : 0;
    status = end && end != sp + 1 && code > 0 && code < 1000 ? (int)code : 0;
    if (!status) {
        *why = got ? "not an HTTP answer" : "the connection closed unanswered";
        return DURO_EPROTO;
    }
    return status;
}

static int cmd_health(cli_ctx *ctx)
{
    int64_t timeout = DEFAULT_TIMEOUT_MS;
    if (cli_get_duration(ctx, "timeout", &timeout)) return CLI_USAGE;
    if (timeout <= 0) return cli_usage(ctx, "--timeout must be above 0");
    char def[128];
    const char *url = cli_get(ctx, "url");
    if (!url && default_url(def, sizeof(def)) != 0)
        return cli_usage(ctx, "give --url, or set DURO_METRICS_ADDR "
                              "(host:port) to check this container's process");
    if (!url) url = def;
    http_url u;
    if (parse_url(url, &u) != 0)
        return cli_usage(ctx, "--url: \"%s\" is not http://host:port/path",
                         url);
    const char *why = "";
    int status = http_status(&u, timeout, &why);
    if (status < 0) return cli_fail_err(status, "%s: %s", url, why);
    if (status != 200)
        return cli_fail_err(DURO_EAGAIN, "%s: HTTP %d", url, status);
    if (ctx->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "url", url);
        cJSON_AddNumberToObject(j, "status", 200);
        cli_print_json(j);
        cJSON_Delete(j);
    } else
        printf("%s: HTTP 200\n", url);
    return CLI_OK;
}

static const cli_cmd COMMANDS[] = {
    {"check",
     "GET a Duro process's /readyz (or --url): exit 0 on HTTP 200, 1 "
     "otherwise; for container health checks",
     HEALTH_OPTS, cmd_health},
    {0},
};

const cli_group cli_health_group = {
    "health", "check a Duro process's health endpoint", COMMANDS, NULL};
