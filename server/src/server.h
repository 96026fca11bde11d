/* server.h: `duro server`, the HTTP API: JSON over HTTP in front of the
 * client library (client/include/duro/client.h), with paths shaped like
 * Temporal's HTTP API (docs/http-api.md lists them).
 *
 * libmicrohttpd runs every connection on a thread of its own (the handlers
 * block on Redis; hiredis contexts are not thread-safe), capped at
 * max_connections. A handler borrows a duro_client from the server's pool
 * for the length of one request and gives it back. */
#ifndef DURO_SERVER_H
#define DURO_SERVER_H

#include <stddef.h>
#include <stdint.h>

/* DURO_SERVER_DEFAULT_ADDR: Temporal's UI port, on loopback only. */
#define DURO_SERVER_DEFAULT_ADDR "127.0.0.1:8233"
/* DURO_SERVER_DEFAULT_MAX_BODY: the payload limit, plus room for the
 * fields around it. */
#define DURO_SERVER_DEFAULT_MAX_BODY (2 * 1024 * 1024 + 64 * 1024)
#define DURO_SERVER_DEFAULT_CONNECTIONS 64
/* DURO_SERVER_DEFAULT_HEADER_TIMEOUT_MS: the time a connection has to
 * send a request's headers (Go's ReadHeaderTimeout, as commonly set);
 * past it the connection is closed, so that clients sending their
 * headers a byte at a time cannot hold every connection slot. */
#define DURO_SERVER_DEFAULT_HEADER_TIMEOUT_MS 10000
/* DURO_SERVER_DEFAULT_BODY_TIMEOUT_MS: the time from the end of the
 * headers to the end of the body (nginx's client_body_timeout): a
 * max_body body at about 300 kbit/s. */
#define DURO_SERVER_DEFAULT_BODY_TIMEOUT_MS 60000

typedef struct duro_server duro_server;

/* duro_server_opts: zero it, then set what differs from the defaults. The
 * strings are read during duro_server_start only. */
typedef struct {
    const char *http_addr;      /* NULL = DURO_SERVER_DEFAULT_ADDR */
    const char *redis_url;      /* NULL = $DURO_REDIS_URL or the default */
    const char *api_token_file; /* NULL = no authentication */
    const char *cors_origin;    /* NULL = no CORS headers */
    const char *tls_cert;       /* PEM files: both or neither */
    const char *tls_key;
    size_t max_body;            /* bytes; 0 = DURO_SERVER_DEFAULT_MAX_BODY */
    int max_connections;        /* 0 = DURO_SERVER_DEFAULT_CONNECTIONS */
    int64_t query_timeout_ms;   /* 0 = DURO_QUERY_DEFAULT_TIMEOUT_MS */
    int64_t header_timeout_ms;  /* 0 = DURO_SERVER_DEFAULT_HEADER_TIMEOUT_MS */
    int64_t body_timeout_ms;    /* 0 = DURO_SERVER_DEFAULT_BODY_TIMEOUT_MS */
    int max_connections_per_ip; /* 0 = no limit */
} duro_server_opts;

/* duro_server_start checks Redis once (so that a wrong URL fails here,
 * not on the first request), then listens. Returns 0 and *out (stop with
 * duro_server_stop), or DURO_EINVAL (bad address, unreadable token or TLS
 * file, TLS unsupported), DURO_ECONN (cannot listen, or Redis
 * unreachable), with the reason in err. */
int duro_server_start(duro_server **out, const duro_server_opts *o, char *err,
                      size_t errsize);

/* duro_server_port: the port it listens on (useful with port 0). */
int duro_server_port(const duro_server *s);

/* duro_server_stop closes the listener, waits for the requests in flight
 * and frees the client pool. NULL is ignored. */
void duro_server_stop(duro_server *s);

#endif
