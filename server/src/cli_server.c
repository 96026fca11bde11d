/* cli_server.c: `duro server [--http HOST:PORT]`: the HTTP API in the
 * foreground until SIGINT/SIGTERM. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "duro/log.h"
#include "duro/size.h"
#include "server.h"

static const cli_opt SERVER_OPTS[] = {
    {"http", 0, "HOST:PORT",
     "listen address (default " DURO_SERVER_DEFAULT_ADDR ")", false},
    {"api-token-file", 0, "FILE",
     "require Authorization: Bearer <token>, one token per line of FILE",
     false},
    {"cors-origin", 0, "ORIGIN",
     "allow browsers on ORIGIN (or *) to call the API (default: no CORS)",
     false},
    {"tls-cert", 0, "FILE", "serve HTTPS with this PEM certificate", false},
    {"tls-key", 0, "FILE", "the PEM private key of --tls-cert", false},
    {"max-body", 0, "SIZE", "largest request body (default 2MiB + 64KiB)",
     false},
    {"max-connections", 0, "N", "connections served at once (default 64)",
     false},
    {"max-connections-per-ip", 0, "N",
     "connections from one client address at once (default: no limit)", false},
    {"query-timeout", 0, "DURATION",
     "how long a query (default 10s) or an update (default 30s) waits", false},
    {"header-timeout", 0, "DURATION",
     "time a client has to send a request's headers (default 10s)", false},
    {"body-timeout", 0, "DURATION",
     "time a client has to send a request's body (default 60s)", false},
    {0},
};

/* server_opts fills o from the command line. 0 or CLI_USAGE. */
static int server_opts(cli_ctx *ctx, duro_server_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->http_addr = cli_get(ctx, "http");
    o->redis_url = ctx->redis_url;
    o->api_token_file = cli_get(ctx, "api-token-file");
    o->cors_origin = cli_get(ctx, "cors-origin");
    o->tls_cert = cli_get(ctx, "tls-cert");
    o->tls_key = cli_get(ctx, "tls-key");
    const char *v = cli_get(ctx, "max-body");
    size_t bytes = 0;
    if (v && (duro_size_parse(v, &bytes) != 0 || bytes < 1024))
        return cli_usage(ctx,
                         "--max-body wants a size of 1KiB or more, "
                         "not \"%s\"",
                         v);
    o->max_body = bytes;
    if ((v = cli_get(ctx, "max-connections"))) {
        char *end;
        long n = strtol(v, &end, 10);
        if (!*v || *end || n < 1 || n > 4096)
            return cli_usage(ctx, "--max-connections wants 1..4096");
        o->max_connections = (int)n;
    }
    if ((v = cli_get(ctx, "max-connections-per-ip"))) {
        char *end;
        long n = strtol(v, &end, 10);
        if (!*v || *end || n < 1 || n > 4096)
            return cli_usage(ctx, "--max-connections-per-ip wants 1..4096");
        o->max_connections_per_ip = (int)n;
    }
    if (cli_get_duration(ctx, "query-timeout", &o->query_timeout_ms) ||
        cli_get_duration(ctx, "header-timeout", &o->header_timeout_ms) ||
        cli_get_duration(ctx, "body-timeout", &o->body_timeout_ms))
        return CLI_USAGE;
    if ((cli_get(ctx, "header-timeout") && o->header_timeout_ms <= 0) ||
        (cli_get(ctx, "body-timeout") && o->body_timeout_ms <= 0))
        return cli_usage(ctx, "--header-timeout and --body-timeout must be "
                              "above 0");
    return 0;
}

static int cmd_server(cli_ctx *ctx)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    /* blocked before the server's threads start, so only sigwait sees
     * them */
    sigprocmask(SIG_BLOCK, &set, NULL);
    duro_server_opts o;
    int rc = server_opts(ctx, &o);
    if (rc) return rc;
    if (!getenv("DURO_LOG_LEVEL")) duro_log_set_level(DURO_LOG_INFO);
    duro_server *s;
    char err[512] = "";
    rc = duro_server_start(&s, &o, err, sizeof(err));
    /* what the server refuses in a flag ("--http x: want HOST:PORT",
     * "--tls-cert and --tls-key go together") is a wrong command line */
    if (rc == DURO_EINVAL && strncmp(err, "--", 2) == 0)
        return cli_usage(ctx, "%s", err);
    if (rc < 0) return cli_fail_err(rc, "cannot start the HTTP API: %s", err);
    printf("Duro HTTP API on %s://%s (port %d); OpenAPI document at "
           "/api/v1/openapi.json\n",
           o.tls_cert ? "https" : "http",
           o.http_addr ? o.http_addr : DURO_SERVER_DEFAULT_ADDR,
           duro_server_port(s));
    printf("Web UI at /, the food app at /apps/food/\n");
    fflush(stdout);
    int sig = 0;
    while (sigwait(&set, &sig) != 0)
        ;
    fprintf(stderr, "duro: %s: stopping the HTTP API\n", strsignal(sig));
    duro_server_stop(s);
    return CLI_OK;
}

static const cli_cmd COMMANDS[] = {
    {"start", "Serve the HTTP API (JSON over HTTP, shaped like Temporal's)",
     SERVER_OPTS, cmd_server},
    {0},
};

const cli_group cli_server_group = {"server", "the HTTP API", COMMANDS, NULL};

/* ---- For `duro dev` ---- */

duro_server *cli_dev_api_start(const char *addr, const char *redis_url)
{
    if (addr && strcmp(addr, "off") == 0) return NULL;
    duro_server_opts o = {0};
    o.http_addr = addr;
    o.redis_url = redis_url;
    duro_server *s = NULL;
    char err[512] = "";
    if (duro_server_start(&s, &o, err, sizeof(err)) < 0) {
        fprintf(stderr,
                "duro: the HTTP API did not start (%s); pass --http "
                "HOST:PORT or --http off\n",
                err);
        return NULL;
    }
    const char *a = addr ? addr : DURO_SERVER_DEFAULT_ADDR;
    printf("  HTTP API on http://%s (OpenAPI document at "
           "/api/v1/openapi.json)\n"
           "  Web UI on http://%s/ and the food app on http://%s/apps/food/\n",
           a, a, a);
    fflush(stdout);
    return s;
}

void cli_dev_api_stop(duro_server *s)
{
    duro_server_stop(s);
}
