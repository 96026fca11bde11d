/* redis.c: connect, prepare Redis for Duro (the Functions library; the
 * duro:meta layout record: redis_meta.c), FCALL. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "duro/errno.h"
#include "duro/keys.h"
#include "duro/log.h"
#include "duro/lua.h"
#include "duro/redis.h"
#include "redis_int.h"
#include "redis_wait.h"
#include "sentinel.h"
#include "tls_sync.h"

static void set_err(char *err, size_t errsize, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errsize, const char *fmt, ...)
{
    if (!err || !errsize) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errsize, fmt, ap);
    va_end(ap);
}

/* ---- Connecting ---- */

/* expect_ok: checks (and frees) the reply of a command that must not fail;
 * an error reply is classified by duro_redis_error_code. */
static int expect_ok(redisContext *c, redisReply *r, const char *what,
                     char *err, size_t errsize)
{
    if (!r) {
        set_err(err, errsize, "%s: %s", what,
                c->errstr[0] ? c->errstr : "no reply");
        return DURO_ECONN;
    }
    int rc = 0;
    if (r->type == REDIS_REPLY_ERROR) {
        set_err(err, errsize, "%s: %s", what, r->str ? r->str : "error");
        rc = duro_redis_error_code(r->str);
    }
    freeReplyObject(r);
    return rc;
}

redisContext *duro_redis_connect(const duro_redis_url *url, int timeout_ms,
                                 char *err, size_t errsize)
{
    redisContext *c = NULL;
    duro_redis_open(url, timeout_ms, &c, err, errsize);
    return c;
}

/* connect_ctx: a blocking context to url: hiredis's own TCP connect for
 * redis://, our TLS socketpair (tls_sync.c) for rediss:// (*pump then set
 * for the caller to release). */
static int connect_ctx(const duro_redis_url *url, int timeout_ms,
                       redisContext **out, duro__tls_pump **pump, char *err,
                       size_t errsize)
{
    redisContext *c;
    struct timeval tv = {timeout_ms / 1000,
                         (suseconds_t)(timeout_ms % 1000) * 1000};
    *pump = NULL;
    if (url->tls) {
        char why[256];
        int fd;
        int rc =
            duro__tls_sync_open(url, timeout_ms, pump, &fd, why, sizeof(why));
        if (rc) {
            set_err(err, errsize, "%sredis at %s:%d: %s",
                    rc == DURO_ECONN ? "cannot reach " : "", url->host,
                    url->port, why);
            return rc;
        }
        c = redisConnectFd(fd);
    } else if (timeout_ms > 0) {
        c = redisConnectWithTimeout(url->host, url->port, tv);
    } else {
        c = redisConnect(url->host, url->port);
    }
    int rc = DURO_ECONN;
    if (!c)
        set_err(err, errsize, "cannot reach redis at %s:%d: out of memory",
                url->host, url->port);
    else if (c->err)
        set_err(err, errsize, "cannot reach redis at %s:%d: %s", url->host,
                url->port, c->errstr);
    else if (timeout_ms > 0 && redisSetTimeout(c, tv) != REDIS_OK)
        set_err(err, errsize, "cannot set the redis timeout: %s", c->errstr);
    else
        rc = 0;
    if (rc) {
        if (c) redisFree(c);
        duro__tls_pump_release(*pump);
        *pump = NULL;
        return rc;
    }
    *out = c;
    return 0;
}

/* hello_mode: HELLO 2's answer (a flat list of names and values) says
 * "mode" "cluster" on a cluster node. */
static int hello_mode(redisContext *c, redisReply *r, bool *cluster, char *err,
                      size_t errsize)
{
    if (r && r->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i + 1 < r->elements; i += 2)
            if (r->element[i]->type == REDIS_REPLY_STRING &&
                strcmp(r->element[i]->str, "mode") == 0 &&
                r->element[i + 1]->type == REDIS_REPLY_STRING)
                *cluster = strcmp(r->element[i + 1]->str, "cluster") == 0;
    return expect_ok(c, r, "HELLO", err, errsize);
}

/* hello: AUTH, SELECT and HELLO 2 on a fresh context. HELLO stands where a
 * PING was: as a PING, it makes a server that wants a password we lack say
 * NOAUTH now, needs no ACL grant (Redis lets anyone send it), and its
 * answer also says whether the server is a cluster node. */
static int hello(redisContext *c, const duro_redis_url *url, bool *cluster,
                 char *err, size_t errsize)
{
    int rc = 0;
    if (url->user[0])
        rc = expect_ok(c,
                       redisCommand(c, "AUTH %s %s", url->user, url->password),
                       "AUTH", err, errsize);
    else if (url->password[0])
        rc = expect_ok(c, redisCommand(c, "AUTH %s", url->password), "AUTH",
                       err, errsize);
    if (rc == 0 && url->db != 0) {
        rc = expect_ok(c, redisCommand(c, "SELECT %d", url->db), "SELECT", err,
                       errsize);
        if (rc == DURO_EREDIS) rc = DURO_EINVAL; /* no such database */
    }
    /* A server that wants a password we lack says NOAUTH only now. */
    if (rc == 0)
        rc = hello_mode(c, redisCommand(c, "HELLO 2"), cluster, err, errsize);
    return rc;
}

/* check_master: through Sentinel, the server reached must be the master
 * (right after a failover a sentinel may still name the old one, which
 * may be back as a replica). */
static int check_master(redisContext *c, const duro_redis_url *url, char *err,
                        size_t errsize)
{
    redisReply *r = redisCommand(c, "ROLE");
    int rc = 0;
    if (!r) {
        set_err(err, errsize, "redis at %s:%d: %s", url->host, url->port,
                c->errstr);
        rc = DURO_ECONN;
    } else if (r->type == REDIS_REPLY_ERROR) {
        set_err(err, errsize, "ROLE: %s", r->str);
        rc = duro_redis_error_code(r->str);
    } else if (!duro__role_is_master(r)) {
        set_err(err, errsize,
                "redis at %s:%d is not the master of %s (yet): a failover "
                "is going on",
                url->host, url->port, url->sentinel_master);
        rc = DURO_EAGAIN;
    }
    freeReplyObject(r);
    return rc;
}

int duro_redis_open(const duro_redis_url *given, int timeout_ms,
                    redisContext **out, char *err, size_t errsize)
{
    return duro__redis_open_mode(given, timeout_ms, out, NULL, err, errsize);
}

int duro__redis_open_mode(const duro_redis_url *given, int timeout_ms,
                          redisContext **out, bool *cluster, char *err,
                          size_t errsize)
{
    bool is_cluster = false;
    redisContext *c = NULL;
    duro__tls_pump *pump = NULL;
    *out = NULL;
    duro_redis_url resolved;
    const duro_redis_url *url = given;
    duro__sentinel_mode_set(given->sentinels > 0);
    if (given->sentinels > 0) {
        resolved = *given;
        int rc = duro__sentinel_resolve(&resolved, err, errsize);
        if (rc) return rc;
        url = &resolved;
    }
    int rc = connect_ctx(url, timeout_ms, &c, &pump, err, errsize);
    if (rc) return rc;
    rc = hello(c, url, &is_cluster, err, errsize);
    if (rc == 0 && url->sentinels > 0) rc = check_master(c, url, err, errsize);
    if (rc == DURO_ECONN && !pump && err && errsize) {
        /* a TLS port drops a client that speaks plain RESP to it */
        size_t n = strlen(err);
        snprintf(err + n, errsize - n,
                 " (if that port speaks TLS, use rediss://)");
    }
    if (rc == DURO_ECONN && pump) {
        /* Under TLS 1.3 a server refuses a client certificate only after
         * the handshake: the pump knows why the first reply never came. */
        char why[256];
        int code = duro__tls_pump_error(pump, why, sizeof(why));
        if (code) {
            set_err(err, errsize, "redis at %s:%d: %s", url->host, url->port,
                    why);
            rc = code;
        }
    }
    duro__tls_pump_release(pump);
    if (rc != 0) {
        redisFree(c);
        return rc;
    }
    duro__redis_wait_configure(url);
    if (cluster) *cluster = is_cluster;
    *out = c;
    return 0;
}

int duro_redis_keepalive(redisContext *c)
{
    struct sockaddr_storage sa;
    socklen_t len = sizeof(sa);
    if (getsockname(c->fd, (struct sockaddr *)&sa, &len) == 0 &&
        sa.ss_family == AF_UNIX)
        return REDIS_OK; /* TLS: the pump's socket keeps itself alive */
    return redisEnableKeepAlive(c);
}

/* ---- Functions library ---- */

int duro_reply_is_missing_function(const char *errstr)
{
    return errstr && strcasestr(errstr, "function not found") != NULL;
}

int duro_functions_load(redisContext *c, char *err, size_t errsize)
{
    return duro__functions_load_copy(c, false, err, errsize);
}

int duro_functions_load_sharded(redisContext *c, char *err, size_t errsize)
{
    return duro__functions_load_copy(c, true, err, errsize);
}

/* load_copy: FUNCTION LOAD [REPLACE] of the library (its sharded copy
 * when sharded). Without REPLACE, a library already there is left alone:
 * DURO_EALREADY. */
static int load_copy(redisContext *c, bool sharded, bool replace, char *err,
                     size_t errsize)
{
    /* FUNCTION LOAD [REPLACE] <source> */
    size_t len;
    const char *src = duro_lua_library_source(sharded, &len);
    redisReply *r = replace
                        ? redisCommand(c, "FUNCTION LOAD REPLACE %b", src, len)
                        : redisCommand(c, "FUNCTION LOAD %b", src, len);
    if (!r) {
        set_err(err, errsize, "FUNCTION LOAD: %s", c->errstr);
        return DURO_ECONN;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        set_err(err, errsize, "FUNCTION LOAD: %s", r->str);
        /* NOPERM (a restricted ACL user) -> DURO_EAUTH */
        int rc = duro_redis_error_code(r->str);
        if (!replace && r->str && strcasestr(r->str, "already exists"))
            rc = DURO_EALREADY;
        freeReplyObject(r);
        return rc;
    }
    freeReplyObject(r);
    duro_info("FUNCTIONS loaded library=duro version=%d%s", duro_lua_version(),
              sharded ? " sharded=1" : "");
    return 0;
}

int duro__functions_load_copy(redisContext *c, bool sharded, char *err,
                              size_t errsize)
{
    return load_copy(c, sharded, true, err, errsize);
}

/* load_or_wait loads the library that duro__functions_ensure found missing
 * (have == 0) or older, with REPLACE when replace (else DURO_EALREADY when
 * a library is there). A user the ACL does not allow FUNCTION LOAD (the
 * worker, scheduler and client roles) cannot: that is DURO_EAGAIN, with the
 * remedy in err, so that workers and schedulers wait, slowly, for an admin
 * to run `duro operator init`, rather than exit and crash-loop. */
static int load_or_wait(redisContext *c, bool sharded, long long have,
                        bool replace, char *err, size_t errsize)
{
    int rc = load_copy(c, sharded, replace, err, errsize);
    if (rc != DURO_EAUTH) return rc;
    char why[32] = "missing";
    if (have) snprintf(why, sizeof(why), "at version %lld", have);
    set_err(err, errsize,
            "the Functions library is %s (this build needs version %d) and "
            "this user may not load it (NOPERM): run `duro operator init` as "
            "the admin role",
            why, duro_lua_version());
    return DURO_EAGAIN;
}

/* ensure_once: duro__functions_ensure's one look. A library it finds
 * missing is loaded with REPLACE when replace_missing, else without:
 * DURO_EALREADY when one was there by the time it loaded its own. */
static int ensure_once(redisContext *c, bool sharded, bool replace_missing,
                       char *err, size_t errsize)
{
    redisReply *r = redisCommand(c, "FCALL duro_version 0");
    if (!r) {
        set_err(err, errsize, "FCALL duro_version: %s", c->errstr);
        return DURO_ECONN;
    }
    int ours = duro_lua_version();
    int rc = 0;
    if (r->type == REDIS_REPLY_ERROR) {
        if (duro_reply_is_missing_function(r->str)) {
            rc = load_or_wait(c, sharded, 0, replace_missing, err, errsize);
        } else if (r->str && strcasestr(r->str, "unknown command")) {
            set_err(err, errsize, "Redis 7.0 or newer is required (%s)",
                    r->str);
            rc = DURO_EREDIS;
        } else {
            set_err(err, errsize, "FCALL duro_version: %s", r->str);
            rc = duro_redis_error_code(r->str);
        }
    } else if (r->type == REDIS_REPLY_INTEGER) {
        if (r->integer < ours) {
            duro_info("FUNCTIONS upgrade from=%lld to=%d", r->integer, ours);
            rc = load_or_wait(c, sharded, r->integer, true, err, errsize);
        } else if (r->integer > ours) {
            /* limited: a long-lived process (`duro server`) looks again at
             * each call that finds a Function missing from it */
            duro_warn_limited("FUNCTIONS newer",
                              "FUNCTIONS newer library in redis "
                              "version=%lld ours=%d: keeping it",
                              r->integer, ours);
        }
    } else {
        set_err(err, errsize, "FCALL duro_version: unexpected reply type %d",
                r->type);
        rc = DURO_EPROTO;
    }
    freeReplyObject(r);
    return rc;
}

/* duro__functions_ensure: FCALL duro_version 0, loading ours when missing or
 * older. A newer library is kept: another component was upgraded first.
 * A missing one is loaded without REPLACE: components reload at once after
 * a FUNCTION FLUSH, and another's copy, perhaps newer, may have come
 * between our look and our load; then we look again, and a library still
 * without duro_version (not Duro's) is replaced. */
int duro__functions_ensure(redisContext *c, bool sharded, char *err,
                           size_t errsize)
{
    int rc = ensure_once(c, sharded, false, err, errsize);
    if (rc == DURO_EALREADY) rc = ensure_once(c, sharded, true, err, errsize);
    return rc;
}

/* ---- Calls ---- */

static int is_fcall(const duro_argv *a)
{
    if (a->argc < 1) return 0;
    size_t n = a->lens[0];
    return (n == 5 && strncasecmp(a->argv[0], "FCALL", 5) == 0) ||
           (n == 8 && strncasecmp(a->argv[0], "FCALL_RO", 8) == 0);
}

/* call_once sends argv and, for an FCALL when DURO_REDIS_WAIT is set,
 * `WAIT N timeout` behind it in the same round trip (redis_wait.h). */
static redisReply *call_once(redisContext *c, const duro_argv *a)
{
    int timeout_ms;
    int want = duro__redis_wait_replicas(&timeout_ms);
    if (want <= 0 || !duro__redis_wait_wanted(a->argc, a->argv, a->lens))
        return redisCommandArgv(c, a->argc, a->argv, a->lens);
    if (redisAppendCommandArgv(c, a->argc, a->argv, a->lens) != REDIS_OK ||
        redisAppendCommand(c, "WAIT %d %d", want, timeout_ms) != REDIS_OK)
        return NULL;
    void *fcall = NULL, *wait = NULL;
    if (redisGetReply(c, &fcall) != REDIS_OK) return NULL;
    if (redisGetReply(c, &wait) != REDIS_OK) {
        freeReplyObject(fcall);
        return NULL;
    }
    return duro__redis_wait_verdict(fcall, wait, want, timeout_ms);
}

/* moved_master: through Sentinel, READONLY means the master this
 * connection reached is a replica now; closing the socket makes the
 * caller's next call fail as a lost connection, and its reconnect asks the
 * sentinels again. */
static void moved_master(redisContext *c, const redisReply *r)
{
    if (r && r->type == REDIS_REPLY_ERROR && duro__sentinel_mode() &&
        duro_reply_is_readonly(r->str)) {
        duro_warn_limited(NULL, "SENTINEL READONLY: the master moved; "
                                "reconnecting");
        shutdown(c->fd, SHUT_RDWR);
    }
}

redisReply *duro_redis_call(redisContext *c, const duro_argv *a)
{
    return duro__redis_call_lib(c, a, false);
}

redisReply *duro__redis_call_lib(redisContext *c, const duro_argv *a,
                                 bool sharded)
{
    redisReply *r = call_once(c, a);
    moved_master(c, r);
    if (r && r->type == REDIS_REPLY_ERROR && is_fcall(a) &&
        duro_reply_is_missing_function(r->str)) {
        /* Redis lost the library (restart without persistence): reload,
         * unless the library there is ours or newer (another component
         * loaded it meanwhile, or a newer release without this Function):
         * an older copy put over it would serve the newer components,
         * which do not look again until they reconnect. */
        char err[256];
        duro_warn_limited(NULL, "FUNCTIONS missing (%s): reloading", r->str);
        int rc = duro__functions_ensure(c, sharded, err, sizeof(err));
        /* err says why, with the remedy when the ACL refused the load
         * (load_or_wait); a LOAD refused for memory (OOM) is no matter of
         * rights */
        if (rc != 0) {
            duro_error_limited("FUNCTIONS reload failed",
                               "FUNCTIONS reload failed: %s", err);
            return r;
        }
        freeReplyObject(r);
        r = call_once(c, a);
    }
    return r;
}

int duro_reply_is_readonly(const char *errstr)
{
    return errstr && strncmp(errstr, "READONLY", 8) == 0 &&
           (errstr[8] == ' ' || errstr[8] == '\0');
}

int duro_redis_error_code(const char *errstr)
{
    static const struct {
        const char *word;
        int code;
    } map[] = {
        {"DURO_STALE", DURO_ESTALE},
        {"DURO_ALREADY_STARTED", DURO_EALREADY},
        {"DURO_NOT_FOUND", DURO_ENOTFOUND},
        {"DURO_NOT_RUNNING", DURO_ENOTRUNNING},
        {"DURO_BADARG", DURO_EINVAL},
        {"DURO_WRONGTYPE", DURO_EPROTO},
        {"DURO_CORRUPT", DURO_EPROTO},
        {"OOM", DURO_EAGAIN},
        {"BUSY", DURO_EAGAIN},
        {"LOADING", DURO_EAGAIN},
        {"READONLY", DURO_EAGAIN},
        {"TRYAGAIN", DURO_EAGAIN},
        {"MASTERDOWN", DURO_EAGAIN},
        {"CLUSTERDOWN", DURO_EAGAIN},
        {"NOREPLICAS", DURO_EAGAIN},
        {"WRONGPASS", DURO_EAUTH},
        {"NOAUTH", DURO_EAUTH},
        {"NOPERM", DURO_EAUTH},
        {"WRONGTYPE", DURO_EPROTO},
    };
    if (!errstr) return DURO_EREDIS;
    size_t n = strcspn(errstr, " \t\r\n");
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strlen(map[i].word) == n && memcmp(map[i].word, errstr, n) == 0)
            return map[i].code;
    return DURO_EREDIS;
}
