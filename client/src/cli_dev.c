/* cli_dev.c: `duro dev start`: a private redis-server plus the scheduler,
 * in one foreground process, for development (like `temporal server
 * start-dev`).
 *
 * Nothing outlives us: the scheduler is a thread of this process, and
 * redis-server gets SIGTERM from the kernel when we die, even by SIGKILL
 * (PR_SET_PDEATHSIG), so no orphan keeps the port or the data dir.
 * --acl runs it under restricted Redis users (cli_dev_acl.c); --cluster N
 * runs N redis-servers as one Redis Cluster instead (cli_dev_cluster.c).
 * Starting and stopping a redis-server: cli_dev_redis.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cli_dev_acl.h"
#include "cli_dev_cluster.h"
#include "cli_dev_redis.h"
#include "duro/errno.h"
#include "duro/keys.h"
#include "duro/log.h"
#include "duro/redis.h"
#include "duro/scheduler.h"
#include "duro/tls_dev.h"

#define DEFAULT_DIR "./.duro/dev"
#define DEFAULT_PORT 6379

static const cli_opt DEV_OPTS[] = {
    {"dir", 0, "DIR",
     "data directory of the dev redis-server (default " DEFAULT_DIR ")", false},
    {"port", 'p', "PORT", "port on 127.0.0.1 (default 6379)", false},
    {"metrics-addr", 0, "HOST:PORT",
     "serve the scheduler's /metrics, /healthz, /readyz (default off)", false},
    {"http", 0, "HOST:PORT",
     "serve the HTTP API there (default 127.0.0.1:8233; off: none)", false},
    {"redis-server", 0, "PATH",
     "redis-server program (default: redis-server on $PATH)", false},
    {"tls", 0, NULL,
     "TLS only (rediss://): a generated CA and certificates in DIR/tls", false},
    {"acl", 0, NULL,
     "restricted users: duro-worker, -scheduler, -client, -admin (passwords "
     "in DIR/acl); the default user is switched off",
     false},
    {"app-keys", 0, "PATTERN",
     "with --acl: a user duro-app for your application's own keys (e.g. "
     "'food:*')",
     false},
    {"cluster", 0, "N",
     "a Redis Cluster of N masters on PORT..PORT+N-1 (bus ports +10000), "
     "data in DIR/node-<port>; prints its redis+cluster:// URL",
     false},
    {0},
};

/* ---- Checks ---- */

/* port_free: nobody listens on 127.0.0.1:port (we can bind it). */
static int port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

/* find_program: path itself when it holds a '/', else the first
 * executable of that name on $PATH, into out. 0 or -1. */
static int find_program(const char *name, char *out, size_t size)
{
    if (strchr(name, '/')) {
        snprintf(out, size, "%s", name);
        return access(out, X_OK);
    }
    const char *path = getenv("PATH");
    if (!path) path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        size_t n = strcspn(path, ":");
        snprintf(out, size, "%.*s/%s", (int)n, path, name);
        if (n && access(out, X_OK) == 0) return 0;
        path += n + (path[n] == ':');
    }
    return -1;
}

/* mkdir_p creates dir and its parents. 0 or -1 with errno. */
static int mkdir_p(const char *dir)
{
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s", dir);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* ---- The command ---- */

typedef struct {
    const char *dir, *metrics_addr;
    char abs_dir[4096]; /* redis-server chdirs there: paths must be absolute */
    char redis_prog[4096];
    int port;
    int cluster; /* --cluster N: masters, or 0 */
    bool tls;
    char tls_dir[4200]; /* abs_dir/tls */
    bool acl;
    const char *app_keys;
    char sched_url[512]; /* --acl: duro-scheduler's, password included */
    cli_dev_acl *acl_watch;
} dev_opts;

/* tls_env points this process (the set-up connection, the scheduler) at
 * the dev CA and its client certificate. */
static void tls_env(const dev_opts *o)
{
    static const char *const vars[][2] = {{"DURO_REDIS_TLS_CA", "ca.crt"},
                                          {"DURO_REDIS_TLS_CERT", "client.crt"},
                                          {"DURO_REDIS_TLS_KEY", "client.key"}};
    char path[4300];
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", o->tls_dir, vars[i][1]);
        setenv(vars[i][0], path, 1);
    }
    unsetenv("DURO_REDIS_TLS_SERVER_NAME");
}

/* use_dev_ca makes (or keeps) the CA and certificates in DIR/tls. */
static int use_dev_ca(dev_opts *o)
{
    char err[512];
    snprintf(o->tls_dir, sizeof(o->tls_dir), "%s/tls", o->abs_dir);
    if (duro__tls_dev_certs(o->tls_dir, err, sizeof(err)))
        return cli_fail("%s", err);
    tls_env(o);
    return 0;
}

/* read_cluster: --cluster N (not with --tls or --acl, which a cluster
 * does not do yet). */
static int read_cluster(cli_ctx *ctx, dev_opts *o)
{
    o->cluster = 0;
    const char *n = cli_get(ctx, "cluster");
    if (!n) return 0;
    char *end;
    long v = strtol(n, &end, 10);
    if (!*n || *end || v < 1 || v > CLI_DEV_CLUSTER_MAX)
        return cli_usage(ctx, "--cluster wants 1..%d masters, not \"%s\"",
                         CLI_DEV_CLUSTER_MAX, n);
    if (o->tls || o->acl)
        return cli_usage(ctx, "--cluster does not go with --tls or --acl");
    o->cluster = (int)v;
    return 0;
}

static int read_opts(cli_ctx *ctx, dev_opts *o)
{
    o->dir = cli_get(ctx, "dir") ? cli_get(ctx, "dir") : DEFAULT_DIR;
    o->metrics_addr = cli_get(ctx, "metrics-addr");
    o->tls = cli_get(ctx, "tls") != NULL;
    o->acl = cli_get(ctx, "acl") != NULL;
    o->acl_watch = NULL; /* cmd_dev's o is not zeroed */
    o->app_keys = cli_get(ctx, "app-keys");
    if (o->app_keys && !o->acl) return cli_usage(ctx, "--app-keys needs --acl");
    int rc = read_cluster(ctx, o);
    if (rc) return rc;
    o->port = DEFAULT_PORT;
    const char *p = cli_get(ctx, "port");
    if (p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (!*p || *end || v < 1 || v > 65535)
            return cli_usage(ctx, "--port wants 1..65535, not \"%s\"", p);
        o->port = (int)v;
    }
    const char *prog = cli_get(ctx, "redis-server");
    if (find_program(prog ? prog : "redis-server", o->redis_prog,
                     sizeof(o->redis_prog)))
        return cli_fail("%s not found%s; install Redis 7 (Debian: apt-get "
                        "install redis-server) or pass --redis-server PATH",
                        prog ? prog : "redis-server", prog ? "" : " on $PATH");
    if (o->cluster) {
        char err[256];
        if (cli_dev_cluster_check(o->port, o->cluster, err, sizeof(err)))
            return cli_fail("%s", err);
    } else if (!port_free(o->port))
        return cli_fail("port %d on 127.0.0.1 is taken (another Redis?); "
                        "pick another with --port",
                        o->port);
    if (mkdir_p(o->dir) || !realpath(o->dir, o->abs_dir))
        return cli_fail("cannot create %s: %s", o->dir, strerror(errno));
    return o->tls ? use_dev_ca(o) : 0;
}

/* start_scheduler: the scheduler library on its own thread. */
static int start_scheduler(const dev_opts *o, const char *url,
                           duro_scheduler **out)
{
    duro_scheduler_opts so = {0};
    so.redis_url = url;
    so.metrics_addr = o->metrics_addr;
    char err[256] = "";
    int rc = duro_scheduler_new(out, &so);
    if (rc == 0) rc = duro_scheduler_setup(*out, err, sizeof(err));
    if (rc == 0) rc = duro_scheduler_start_thread(*out);
    if (rc) {
        duro_scheduler_free(*out);
        *out = NULL;
        return cli_fail("cannot start the scheduler: %s",
                        *err ? err : duro_strerror(rc));
    }
    return 0;
}

/* print_tls tells how to reach a --tls dev server. */
static void print_tls(const dev_opts *o)
{
    printf("\nTLS: every client needs the dev CA (a client certificate is "
           "optional):\n"
           "  export DURO_REDIS_TLS_CA=%s/ca.crt\n"
           "  export DURO_REDIS_TLS_CERT=%s/client.crt "
           "DURO_REDIS_TLS_KEY=%s/client.key\n"
           "  redis-cli --tls --cacert %s/ca.crt -p %d\n",
           o->tls_dir, o->tls_dir, o->tls_dir, o->tls_dir, o->port);
}

static void print_ready(const dev_opts *o, const char *url, pid_t pid)
{
    printf("Duro dev server ready: DURO_REDIS_URL=%s\n"
           "  redis-server pid %d, data in %s (appendonly), log %s/redis.log\n"
           "  scheduler running in this process%s%s\n"
           "\n"
           "Start a worker in another terminal:\n"
           "  export DURO_REDIS_URL=%s\n"
           "  food-worker          # or your own worker program\n"
           "and a workflow:\n"
           "  duro workflow start --type order --task-queue durable-food "
           "--workflow-id order-1 --input '{\"productId\":2}'\n"
           "\n"
           "Ctrl-C stops the scheduler and redis-server.\n",
           url, (int)pid, o->abs_dir, o->abs_dir,
           o->metrics_addr ? ", metrics on http://" : "",
           o->metrics_addr ? o->metrics_addr : "", url);
    if (o->tls) print_tls(o);
    if (o->acl)
        cli_dev_acl_print(o->abs_dir, o->tls ? "rediss" : "redis", o->port,
                          o->app_keys);
    fflush(stdout);
}

/* dev_acl_setup (--acl): the users of every role, then the Functions
 * loaded by duro-admin, as `duro operator init` would; o->sched_url is
 * then the scheduler's. c stays the default user's. */
static int dev_acl_setup(dev_opts *o, redisContext *c, char *err,
                         size_t errsize)
{
    const char *scheme = o->tls ? "rediss" : "redis";
    char admin[512];
    int rc = cli_dev_acl_users(c, o->abs_dir, o->app_keys, err, errsize);
    if (rc) return rc;
    if (cli_dev_acl_url(o->abs_dir, "admin", scheme, o->port, admin,
                        sizeof(admin)) ||
        cli_dev_acl_url(o->abs_dir, "scheduler", scheme, o->port, o->sched_url,
                        sizeof(o->sched_url))) {
        snprintf(err, errsize, "cannot read the passwords in %.200s/acl",
                 o->abs_dir);
        return DURO_EINVAL;
    }
    duro_redis_url u;
    rc = duro_redis_url_parse(admin, &u, err, errsize);
    memset(admin, 0, sizeof(admin));
    redisContext *a = rc ? NULL : duro_redis_connect(&u, 2000, err, errsize);
    memset(&u, 0, sizeof(u));
    if (!a) return rc ? rc : DURO_ECONN;
    int parts = 0;
    rc = duro_redis_setup(a, DURO_PARTITIONS_ADOPT_OR_INIT, &parts, err,
                          errsize);
    redisFree(a);
    return rc;
}

/* dev_acl_lock (--acl): the default user off; the watch of refusals takes
 * over *c (set to NULL). 0 or CLI_FAILED. */
static int dev_acl_lock(dev_opts *o, redisContext **c)
{
    if (!o->acl) return 0;
    char err[256];
    o->acl_watch = cli_dev_acl_lock(*c, err, sizeof(err));
    if (!o->acl_watch) return cli_fail("%s", err);
    *c = NULL;
    return 0;
}

/* wait_stop blocks until SIGINT/SIGTERM, or one of the n redis-servers
 * exits (SIGCHLD). Returns the signal, or 0 when a redis-server died. */
static int wait_stop(const sigset_t *set, const pid_t *redis, int n)
{
    for (;;) {
        int sig = 0;
        if (sigwait(set, &sig) != 0) continue;
        if (sig != SIGCHLD) return sig;
        int status;
        for (int i = 0; i < n; i++)
            if (waitpid(redis[i], &status, WNOHANG) == redis[i]) return 0;
    }
}

/* ---- --cluster N ---- */

/* dev_cluster (--cluster N): the nodes, then the scheduler, which loads
 * the Functions on every master and writes duro:meta as it does on one
 * Redis, then the HTTP API, all given the seed URL. */
static int dev_cluster(cli_ctx *ctx, dev_opts *o, const sigset_t *set)
{
    cli_dev_cluster cl;
    char err[512], url[512];
    int stopped = 0;
    int rc = cli_dev_cluster_start(&cl, o->redis_prog, o->abs_dir, o->port,
                                   o->cluster, &stopped, err, sizeof(err));
    if (rc > 0) {
        fprintf(stderr, "duro: %s during startup: the cluster is stopped\n",
                strsignal(rc));
        return CLI_OK;
    }
    if (rc) return cli_fail("%s", err);
    cli_dev_cluster_url(&cl, url, sizeof(url));
    duro_scheduler *s = NULL;
    if (start_scheduler(o, url, &s)) {
        cli_dev_cluster_stop(&cl);
        return CLI_FAILED;
    }
    cli_dev_cluster_print(&cl, url, o->abs_dir, o->metrics_addr);
    struct duro_server *api = cli_dev_api_start(cli_get(ctx, "http"), url);
    int sig = wait_stop(set, cl.pid, cl.n);
    if (sig)
        fprintf(stderr, "duro: %s: stopping the scheduler and the cluster\n",
                strsignal(sig));
    else
        fprintf(stderr,
                "duro: a cluster node exited; see %s/node-*/redis.log\n",
                o->dir);
    cli_dev_api_stop(api);
    duro_scheduler_free(s);
    cli_dev_cluster_stop(&cl);
    fprintf(stderr, "duro: dev server stopped\n");
    return sig ? CLI_OK : CLI_FAILED;
}

static int cmd_dev(cli_ctx *ctx)
{
    /* Blocked first, before redis-server and any thread start, so that
     * only we see them: a Ctrl-C during startup stops what was started
     * (through take_stop, or wait_stop once up). Blocked also keeps a
     * SIGINT that a non-interactive shell made SIG_IGN for a background
     * job: a blocked signal is never discarded. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
    dev_opts o;
    int rc = read_opts(ctx, &o);
    if (rc) return rc;
    if (!getenv("DURO_LOG_LEVEL")) duro_log_set_level(DURO_LOG_INFO);
    int sig = cli_dev_take_stop();
    if (sig) {
        fprintf(stderr, "duro: %s: not starting\n", strsignal(sig));
        return CLI_OK;
    }
    if (o.cluster) return dev_cluster(ctx, &o, &set);
    pid_t pid = cli_dev_spawn_redis(o.redis_prog, o.abs_dir, o.port,
                                    o.tls ? o.tls_dir : NULL, NULL);
    if (pid < 0) return cli_fail("fork: %s", strerror(errno));
    char url[64], err[256];
    snprintf(url, sizeof(url), "%s://127.0.0.1:%d", o.tls ? "rediss" : "redis",
             o.port);
    duro_redis_url u;
    duro_redis_url_parse(url, &u, err, sizeof(err));
    int exited = 0, stopped = 0, parts = 0;
    redisContext *c = cli_dev_wait_redis(&u, pid, &exited, &stopped);
    if (!c && stopped) {
        fprintf(stderr, "duro: %s during startup: stopping redis-server\n",
                strsignal(stopped));
        cli_dev_stop_redis(pid);
        fprintf(stderr, "duro: dev server stopped\n");
        return CLI_OK;
    }
    if (!c) {
        if (!exited) cli_dev_stop_redis(pid);
        return cli_fail("redis-server did not start on port %d; see "
                        "%s/redis.log",
                        o.port, o.dir);
    }
    /* a data directory set up with another count keeps it */
    rc = o.acl ? dev_acl_setup(&o, c, err, sizeof(err))
               : duro_redis_setup(c, DURO_PARTITIONS_ADOPT_OR_INIT, &parts, err,
                                  sizeof(err));
    if (rc) {
        redisFree(c);
        cli_dev_stop_redis(pid);
        return cli_fail("cannot load the Duro Functions: %s", err);
    }
    duro_scheduler *s = NULL;
    if (start_scheduler(&o, o.acl ? o.sched_url : url, &s) ||
        dev_acl_lock(&o, &c)) {
        duro_scheduler_free(s);
        if (c) redisFree(c);
        cli_dev_stop_redis(pid);
        return CLI_FAILED;
    }
    if (c) redisFree(c);
    print_ready(&o, url, pid);
    struct duro_server *api = cli_dev_api_start(cli_get(ctx, "http"), url);
    sig = wait_stop(&set, &pid, 1);
    if (sig)
        fprintf(stderr, "duro: %s: stopping the scheduler and redis-server\n",
                strsignal(sig));
    else
        fprintf(stderr, "duro: redis-server exited; see %s/redis.log\n", o.dir);
    cli_dev_api_stop(api);
    duro_scheduler_free(s);
    cli_dev_acl_stop(o.acl_watch);
    if (sig) cli_dev_stop_redis(pid);
    fprintf(stderr, "duro: dev server stopped\n");
    return sig ? CLI_OK : CLI_FAILED;
}

static const cli_cmd COMMANDS[] = {
    {"start",
     "Run a private redis-server and the scheduler in the foreground for "
     "development",
     DEV_OPTS, cmd_dev},
    {0},
};

const cli_group cli_dev_group = {"dev", "a local development server", COMMANDS,
                                 NULL};
