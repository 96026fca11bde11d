/* http.c: /metrics, /healthz and /readyz on libmicrohttpd's own thread. */
#include <errno.h>
#include <stdatomic.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "duro/errno.h"
#include "duro/http.h"
#include "duro/log.h"

#define CONNECTION_LIMIT 64
#define CONNECTION_TIMEOUT_S 10

struct duro_http {
    struct MHD_Daemon *d;
    duro_metrics *m;
    duro_http_ready_cb ready;
    void *arg;
    _Atomic(duro_http_ready_cb) live; /* set after start, read by MHD */
    void *_Atomic live_arg;
    int port;
};

/* ---- Requests ---- */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status,
                             const char *type, char *body, int owned)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        strlen(body), body,
        owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        if (owned) free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *data,
                                  size_t *data_size, void **state)
{
    duro_http *h = cls;
    static const char *const TEXT = "text/plain; charset=utf-8";
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
        strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, TEXT,
                     "method not allowed\n", 0);
    if (strcmp(url, "/metrics") == 0) {
        char *text = duro_metrics_render(h->m);
        if (!text)
            return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, TEXT,
                         "out of memory\n", 0);
        return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
                     text, 1);
    }
    if (strcmp(url, "/healthz") == 0) {
        duro_http_ready_cb live = atomic_load(&h->live);
        void *live_arg = atomic_load(&h->live_arg); /* stored before live */
        if (!live || live(live_arg))
            return reply(c, MHD_HTTP_OK, TEXT, "ok\n", 0);
        return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, TEXT, "stuck\n", 0);
    }
    if (strcmp(url, "/readyz") == 0) {
        if (!h->ready || h->ready(h->arg))
            return reply(c, MHD_HTTP_OK, TEXT, "ready\n", 0);
        return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, TEXT, "not ready\n", 0);
    }
    return reply(c, MHD_HTTP_NOT_FOUND, TEXT,
                 "not found (try /metrics, /healthz, /readyz)\n", 0);
}

/* ---- Address ---- */

/* split_addr: "host:port" or "[v6]:port" into host and port strings. */
static int split_addr(const char *addr, char *host, size_t hsize, char *port,
                      size_t psize)
{
    const char *colon;
    if (!addr || !*addr) return -1;
    if (addr[0] == '[') {
        const char *end = strchr(addr, ']');
        if (!end || end[1] != ':') return -1;
        if ((size_t)(end - addr - 1) >= hsize) return -1;
        memcpy(host, addr + 1, (size_t)(end - addr - 1));
        host[end - addr - 1] = '\0';
        colon = end + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon || colon == addr || (size_t)(colon - addr) >= hsize)
            return -1;
        if (memchr(addr, ':', (size_t)(colon - addr))) return -1; /* v6 */
        memcpy(host, addr, (size_t)(colon - addr));
        host[colon - addr] = '\0';
    }
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || p < 0 || p > 65535) return -1;
    snprintf(port, psize, "%ld", p);
    return 0;
}

static int resolve(const char *addr, struct sockaddr_storage *ss,
                   socklen_t *sslen)
{
    char host[256], port[8];
    if (split_addr(addr, host, sizeof(host), port, sizeof(port))) {
        duro_error("HTTP BAD ADDRESS addr=%s (want host:port, e.g. "
                   "127.0.0.1:9464 or 0.0.0.0:9464)",
                   addr ? addr : "");
        return DURO_EINVAL;
    }
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0 || !res) {
        duro_error("HTTP BAD ADDRESS addr=%s err=%s", addr, gai_strerror(rc));
        return DURO_EINVAL;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sslen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* listen_on binds and listens itself, rather than through libmicrohttpd,
 * so that a failure is logged with its errno (a port already taken reads
 * "Address already in use"). Returns the socket, or -1 after logging. */
static int listen_on(const char *addr, const struct sockaddr_storage *ss,
                     socklen_t sslen)
{
    int fd =
        socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (ss->ss_family == AF_INET6) /* exactly what was asked */
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    }
    if (fd < 0 || bind(fd, (const struct sockaddr *)ss, sslen) != 0 ||
        listen(fd, CONNECTION_LIMIT) != 0) {
        int err = errno;
        char port[8] = "?", host[256];
        split_addr(addr, host, sizeof(host), port, sizeof(port));
        duro_error("HTTP LISTEN FAILED addr=%s port=%s err=%s%s", addr, port,
                   strerror(err),
                   err == EADDRINUSE ? " (another process listens on that "
                                       "port: pick another metrics address)"
                                     : "");
        if (fd >= 0) close(fd);
        return -1;
    }
    return fd;
}

/* ---- Lifecycle ---- */

void duro_http_set_live(duro_http *h, duro_http_ready_cb live, void *arg)
{
    if (!h) return;
    atomic_store(&h->live_arg, arg); /* before live: never live(old arg) */
    atomic_store(&h->live, live);
}

int duro_http_start(duro_http **out, const char *addr, duro_metrics *m,
                    duro_http_ready_cb ready, void *arg)
{
    *out = NULL;
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    int rc = resolve(addr, &ss, &sslen);
    if (rc) return rc;
    int fd = listen_on(addr, &ss, sslen);
    if (fd < 0) return DURO_ECONN;
    duro_http *h = calloc(1, sizeof(*h));
    if (!h) {
        close(fd);
        return DURO_ENOMEM;
    }
    h->m = m;
    h->ready = ready;
    h->arg = arg;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    /* the daemon owns fd from here: MHD_stop_daemon closes it */
    h->d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, h, MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTION_LIMIT,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S,
        MHD_OPTION_END);
    if (!h->d) {
        duro_error("HTTP LISTEN FAILED addr=%s err=the HTTP server did not "
                   "start (see the line above)",
                   addr);
        free(h);
        return DURO_ECONN;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : 0;
    duro_info("HTTP LISTEN addr=%s port=%d paths=/metrics,/healthz,/readyz",
              addr, h->port);
    *out = h;
    return 0;
}

int duro_http_port(const duro_http *h)
{
    return h->port;
}

void duro_http_stop(duro_http *h)
{
    if (!h) return;
    MHD_stop_daemon(h->d);
    free(h);
}
