/* aredis_cmd.c: commands on a duro_aredis. Each command in flight keeps a
 * copy of its argv so that an FCALL that finds the Functions library
 * missing (Redis restarted without persistence, FUNCTION FLUSH) is resent
 * once the reload has put ours there ("Reloading the library", below)
 * instead of failing. Connecting and the handshake are aredis.c's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "duro/aredis.h"
#include "duro/clock.h"
#include "duro/errno.h"
#include "duro/log.h"
#include "duro/lua.h"
#include "aredis_int.h"
#include "redis_wait.h"

/* LOAD_RETRY_MS: how often a user the ACL refuses FUNCTION LOAD asks again */
#define LOAD_RETRY_MS 5000

/* req: one command in flight; it keeps a copy of argv so that an FCALL can
 * be resent after the library was reloaded. */
typedef struct req {
    duro_aredis *r;
    duro_aredis_cb cb;
    void *arg;
    unsigned long long sent_seq; /* r->send_seq when it was sent */
    int retried;
    /* DURO_REDIS_WAIT (redis_wait.h): an FCALL goes out with WAIT behind
     * it; the FCALL's reply is kept until WAIT's comes */
    int wait_want, wait_timeout_ms;
    int pending;    /* transport callbacks still to come */
    int have_reply; /* the current send's FCALL reply is in `held` */
    int delivered;  /* cb has run */
    int wait_lost;  /* WAIT could not be queued behind this send */
    redisReply *held;
    /* a reload's (hold_for_reload): the "function not found" it got first,
     * handed on if the reload fails; holding while the reload has it */
    redisReply *first_err;
    int holding;
    struct req *next_held;
    int argc;
    const char **argv; /* these three point into the req's own block */
    size_t *lens;
    char *blob; /* the argument bytes */
} req;

static void req_free(req *q)
{
    if (!q) return;
    if (q->held) freeReplyObject(q->held);
    if (q->first_err) freeReplyObject(q->first_err);
    free(q);
}

static req *req_new(duro_aredis *r, duro_aredis_cb cb, void *arg,
                    const duro_argv *a)
{
    /* one block: the req, argv, lens, then the bytes (one malloc and one
     * free per command instead of four each: every Function call and
     * read of a worker comes through here) */
    size_t total = 0;
    for (int i = 0; i < a->argc; i++)
        total += a->lens[i] + 1;
    size_t n = (size_t)a->argc + 1;
    req *q = malloc(sizeof(*q) + n * (sizeof(*q->argv) + sizeof(*q->lens)) +
                    total + 1);
    if (!q) return NULL;
    memset(q, 0, sizeof(*q));
    q->argv = (const char **)(q + 1);
    q->lens = (size_t *)(q->argv + n);
    q->blob = (char *)(q->lens + n);
    q->argv[a->argc] = NULL;
    q->lens[a->argc] = 0;
    char *p = q->blob;
    for (int i = 0; i < a->argc; i++) {
        memcpy(p, a->argv[i], a->lens[i]);
        p[a->lens[i]] = '\0';
        q->argv[i] = p;
        q->lens[i] = a->lens[i];
        p += a->lens[i] + 1;
    }
    q->argc = a->argc;
    q->r = r;
    q->cb = cb;
    q->arg = arg;
    return q;
}

static int is_fcall(const req *q)
{
    return q->argc >= 1 && (strcasecmp(q->argv[0], "FCALL") == 0 ||
                            strcasecmp(q->argv[0], "FCALL_RO") == 0);
}

static void on_reply(duro__tconn *ac, redisReply *rep, void *privdata);
static void on_wait_reply(duro__tconn *ac, redisReply *rep, void *privdata);

/* send_req sends q (and WAIT behind it when q waits for replicas: both
 * are queued before anything is written, so they go out together). */
static int send_req(duro_aredis *r, req *q)
{
    if (duro__tconn_command(r->ac, on_reply, q, q->argc, q->argv, q->lens) != 0)
        return DURO_ECONN;
    q->sent_seq = ++r->send_seq;
    q->pending++;
    q->have_reply = 0;
    q->wait_lost = 0;
    if (q->wait_want > 0) {
        char want[16], timeout[16];
        snprintf(want, sizeof(want), "%d", q->wait_want);
        snprintf(timeout, sizeof(timeout), "%d", q->wait_timeout_ms);
        const char *argv[3] = {"WAIT", want, timeout};
        size_t lens[3] = {4, strlen(want), strlen(timeout)};
        if (duro__tconn_command(r->ac, on_wait_reply, q, 3, argv, lens) != 0) {
            q->wait_lost = 1; /* on_reply answers NOREPLICAS */
            return 0;
        }
        ++r->send_seq;
        q->pending++;
    }
    return 0;
}

/* deliver runs q's callback once, with rep (borrowed). */
static void deliver(req *q, redisReply *rep)
{
    if (q->delivered) return;
    q->delivered = 1;
    q->cb(q->r, rep, q->arg);
}

/* release frees q once no transport callback is still to come for it. */
static void release(req *q)
{
    if (q->pending == 0 && !q->holding) req_free(q);
}

/* ---- Reloading the library ----
 *
 * An FCALL answered "function not found" is held, not resent at once: a
 * plain LOAD may meet a library that is already there ("already exists"),
 * older or not Duro's, which is only replaced after a look at its version;
 * a command resent behind the LOAD would run against that library and
 * fail (an activity's completion lost until its timeout). So one reload
 * runs per connection, and every FCALL that fails meanwhile joins it:
 *
 *   LOAD ──OK──────────────────────────────────────────▶ resend held
 *     │
 *     └─already exists─▶ FCALL duro_version
 *                          ├─ ours ──────────────────────▶ resend held
 *                          ├─ older, none ─▶ LOAD REPLACE ─OK─▶ resend
 *                          └─ newer (kept) ─────────────▶ fail held
 *   refused, failed, any other answer ───────────────────▶ fail held
 *   NULL (the connection ends) or an abandoned one ──────▶ NULL to held
 *
 * Failing hands each command the error it got first. Exactly one step's
 * callback is out at a time, so the transport's NULL on teardown ends the
 * reload once; a held command's callback runs once (deliver). */

typedef struct duro__areload {
    duro_aredis *r;
    duro__tconn *ac; /* the connection it runs on */
    req *held;       /* the FCALLs to resend, in order */
    req **tail;
} reload; /* r->reloading */

enum verdict { V_RESEND, V_REPLACE, V_FAIL };

/* finish ends a reload: resend (the library is ours now) or fail every
 * held command; `gone`: the connection ended (NULL to each). */
static void finish(reload *ld, enum verdict v, bool gone)
{
    duro_aredis *r = ld->r;
    if (r->reloading == ld) r->reloading = NULL;
    req *q = ld->held;
    while (q) {
        req *next = q->next_held;
        q->next_held = NULL;
        q->holding = 0;
        if (v == V_RESEND && !gone && !q->delivered) {
            /* its callback runs on the resent reply; or, the connection
             * going, NULL: the caller sends it again once back */
            if (r->ac != ld->ac || r->dying || send_req(r, q) != 0)
                deliver(q, NULL);
        } else {
            /* NULL (no memory for the copy): as lost, sent again */
            deliver(q, gone ? NULL : q->first_err);
        }
        release(q);
        q = next;
    }
    free(ld);
}

/* version_verdict: what a reload does about the library found already
 * there, from the reply of FCALL duro_version (logged). Older than ours
 * (an older component put its copy back while this one was connected):
 * ours goes over it. Ours: resent. Newer is kept: a newer library without
 * a Function this build calls is not replaced by an older copy, which
 * would serve the newer components unseen; the calls fail. No
 * duro_version at all: the library named duro is not Duro's (or went away
 * again): ours goes over it, as the connect-time check and the
 * synchronous reload do, rather than every call failing until a
 * reconnect. */
static enum verdict version_verdict(duro_aredis *r, const redisReply *rep)
{
    if (rep->type == REDIS_REPLY_ERROR &&
        duro_reply_is_missing_function(rep->str)) {
        duro_warn_limited(NULL,
                          "FUNCTIONS FOREIGN name=%s: the library there has "
                          "no duro_version (not Duro's, or gone again): "
                          "loading ours over it",
                          r->name);
        return V_REPLACE;
    }
    if (rep->type != REDIS_REPLY_INTEGER) return V_FAIL;
    if (rep->integer < duro_lua_version()) {
        duro_info("FUNCTIONS name=%s have=%lld want=%d: loading", r->name,
                  rep->integer, duro_lua_version());
        return V_REPLACE;
    }
    if (rep->integer > duro_lua_version()) {
        duro_warn_limited(NULL,
                          "FUNCTIONS KEPT name=%s have=%lld ours=%d: a newer "
                          "library, without a Function this build calls",
                          r->name, rep->integer, duro_lua_version());
        return V_FAIL;
    }
    return V_RESEND;
}

/* load_verdict: what a LOAD's reply means for the held commands (logged);
 * "already exists" (only a plain LOAD gets it) asks for the version. */
static int load_verdict(duro_aredis *r, const redisReply *rep)
{
    if (rep->type == REDIS_REPLY_ERROR &&
        duro_redis_error_code(rep->str) == DURO_EAUTH) {
        r->load_refused_ms = duro_mono_ms();
        duro_error_limited("FUNCTIONS LOAD REFUSED",
                           "FUNCTIONS LOAD REFUSED name=%s err=%s: the "
                           "Functions library is missing or old and this user "
                           "may not load it; run `duro operator init` as the "
                           "admin role",
                           r->name, rep->str);
        return V_FAIL;
    }
    if (rep->type == REDIS_REPLY_ERROR && rep->str &&
        strcasestr(rep->str, "already exists"))
        return V_REPLACE; /* look first: the caller asks the version */
    if (rep->type == REDIS_REPLY_ERROR) {
        duro_error_limited(NULL, "FUNCTIONS LOAD FAILED name=%s err=%s",
                           r->name, rep->str);
        return V_FAIL;
    }
    r->load_refused_ms = 0;
    duro_info("FUNCTIONS LOADED name=%s", r->name);
    return V_RESEND;
}

static int send_load(duro_aredis *r, bool replace, duro__tconn_reply_fn cb,
                     void *privdata)
{
    size_t len = 0;
    const char *src = duro_lua_library_source(r->sharded_lib, &len);
    const char *argv[4] = {"FUNCTION", "LOAD", "REPLACE", src};
    size_t lens[4] = {8, 4, 7, len};
    int argc = 4;
    if (!replace) { /* FUNCTION LOAD <src> */
        argv[2] = src;
        lens[2] = len;
        argc = 3;
    }
    if (duro__tconn_command(r->ac, cb, privdata, argc, argv, lens) != 0)
        return DURO_ECONN;
    ++r->send_seq;
    return 0;
}

/* on_replaced: the reply of the LOAD REPLACE a version look asked for. */
static void on_replaced(duro__tconn *ac, redisReply *rep, void *privdata)
{
    reload *ld = privdata;
    if (owner_of(ac) != ld->r || !rep) {
        finish(ld, V_FAIL, true);
        return;
    }
    finish(ld, load_verdict(ld->r, rep) == V_RESEND ? V_RESEND : V_FAIL, false);
}

static void on_version(duro__tconn *ac, redisReply *rep, void *privdata)
{
    reload *ld = privdata;
    duro_aredis *r = ld->r;
    if (owner_of(ac) != r || !rep) {
        finish(ld, V_FAIL, true);
        return;
    }
    enum verdict v = version_verdict(r, rep);
    if (v == V_REPLACE && send_load(r, true, on_replaced, ld) == 0) return;
    finish(ld, v == V_RESEND ? V_RESEND : V_FAIL, false);
}

/* on_loaded: the reply of the reload's plain LOAD. */
static void on_loaded(duro__tconn *ac, redisReply *rep, void *privdata)
{
    reload *ld = privdata;
    duro_aredis *r = ld->r;
    if (owner_of(ac) != r || !rep) {
        finish(ld, V_FAIL, true);
        return;
    }
    int v = load_verdict(r, rep);
    if (v == V_REPLACE) { /* already there: FCALL duro_version 0 */
        const char *argv[3] = {"FCALL", "duro_version", "0"};
        size_t lens[3] = {5, 12, 1};
        if (duro__tconn_command(r->ac, on_version, ld, 3, argv, lens) == 0) {
            ++r->send_seq;
            return;
        }
        v = V_FAIL;
    }
    finish(ld, (enum verdict)v, false);
}

static void on_handshake_load(duro__tconn *ac, redisReply *rep, void *privdata);

/* on_handshake_version, on_handshake_load: a LOAD that holds no command
 * (the handshake's, up_with_library): "already exists" replaces only an
 * older or foreign library, as a reload does. */
static void on_handshake_version(duro__tconn *ac, redisReply *rep,
                                 void *privdata)
{
    duro_aredis *r = privdata;
    if (owner_of(ac) != r || !rep) return;
    if (version_verdict(r, rep) == V_REPLACE)
        (void)send_load(r, true, on_handshake_load, r);
}

static void on_handshake_load(duro__tconn *ac, redisReply *rep, void *privdata)
{
    duro_aredis *r = privdata;
    if (owner_of(ac) != r || !rep) return;
    if (load_verdict(r, rep) != V_REPLACE) return;
    const char *argv[3] = {"FCALL", "duro_version", "0"};
    size_t lens[3] = {5, 12, 1};
    if (duro__tconn_command(r->ac, on_handshake_version, r, 3, argv, lens) == 0)
        ++r->send_seq;
}

int duro__aredis_load_library(duro_aredis *r, bool replace)
{
    return send_load(r, replace, on_handshake_load, r);
}

/* hold_for_reload answers "function not found" (rep): the library went
 * away (Redis restarted without persistence, FUNCTION FLUSH). q joins the
 * connection's reload, or starts one with a plain LOAD: a library another
 * component loaded meanwhile (perhaps a newer one) is not overwritten
 * unseen. Returns 0 if q is held (its callback runs once the reload has
 * decided). */
static int hold_for_reload(duro_aredis *r, req *q, const redisReply *rep)
{
    if (!r->ac || r->st != ST_UP || r->dying) return DURO_ECONN;
    reload *ld =
        r->reloading && r->reloading->ac == r->ac ? r->reloading : NULL;
    /* refused lately: the FCALLs in between get their own error */
    if (!ld && r->load_refused_ms &&
        duro_mono_ms() - r->load_refused_ms < LOAD_RETRY_MS)
        return DURO_EAUTH;
    if (!ld) {
        if (!(ld = calloc(1, sizeof(*ld)))) return DURO_ENOMEM;
        *ld = (reload){.r = r, .ac = r->ac};
        ld->tail = &ld->held;
        if (send_load(r, false, on_loaded, ld) != 0) {
            free(ld);
            return DURO_ECONN;
        }
        r->reloading = ld;
        duro_warn_limited(NULL, "FUNCTIONS MISSING name=%s action=reload",
                          r->name);
    }
    q->first_err = duro__reply_dup(rep);
    q->retried = 1;
    q->holding = 1;
    *ld->tail = q;
    ld->tail = &q->next_held;
    return 0;
}

/* on_reply delivers one reply (or NULL on teardown) to its command; a
 * command that waits for replicas keeps it for on_wait_reply. */
static void on_reply(duro__tconn *ac, redisReply *rep, void *privdata)
{
    req *q = privdata;
    duro_aredis *r = q->r;
    q->pending--;
    if (rep && rep->type == REDIS_REPLY_ERROR && !q->retried && is_fcall(q) &&
        duro_reply_is_missing_function(rep->str) && owner_of(ac) == r &&
        hold_for_reload(r, q, rep) == 0)
        return; /* q lives on; its callback runs once the reload decided */
    if (!rep && owner_of(ac) == r)
        r->dying = 1; /* going down: new commands get DURO_ECONN now */
    if (rep && rep->type == REDIS_REPLY_ERROR && r->url.sentinels > 0 &&
        duro_reply_is_readonly(rep->str) && owner_of(ac) == r && !r->dying) {
        /* the master moved (sentinel.h): find it again */
        duro_warn_limited(NULL, "SENTINEL READONLY name=%s: reconnecting",
                          r->name);
        r->dying = 1;
        duro__tconn_disconnect(ac);
    }
    if (q->wait_want > 0 && rep && !q->delivered && q->wait_lost) {
        redisReply *out = duro__redis_wait_verdict(
            duro__reply_dup(rep), NULL, q->wait_want, q->wait_timeout_ms);
        deliver(q, out); /* NULL (no memory): as lost, sent again */
        if (out) freeReplyObject(out);
        release(q);
        return;
    }
    if (q->wait_want > 0 && rep && !q->delivered) {
        q->held = duro__reply_dup(rep);
        if (q->held) {
            q->have_reply = 1;
            return; /* on_wait_reply hands it on */
        }
        /* no memory to keep it: never an unconfirmed success; as lost,
         * the caller sends it again */
        duro_warn_limited(NULL, "WAIT SKIPPED name=%s: out of memory", r->name);
        rep = NULL;
    }
    deliver(q, rep);
    release(q);
}

/* on_wait_reply: WAIT's answer for the FCALL sent just before it. A WAIT
 * that went out behind an FCALL answered "function not found" (resent
 * since, with a WAIT of its own) is not the one that counts. */
static void on_wait_reply(duro__tconn *ac, redisReply *rep, void *privdata)
{
    (void)ac;
    req *q = privdata;
    q->pending--;
    if (q->have_reply) {
        q->have_reply = 0;
        redisReply *w = rep ? duro__reply_dup(rep) : NULL;
        redisReply *out = duro__redis_wait_verdict(q->held, w, q->wait_want,
                                                   q->wait_timeout_ms);
        q->held = NULL;
        deliver(q, out);
        if (out) freeReplyObject(out);
    } else if (!rep) {
        deliver(q, NULL);
    }
    release(q);
}

int duro_aredis_command(duro_aredis *r, duro_aredis_cb cb, void *arg,
                        const duro_argv *a)
{
    if (!r || !cb || !a || a->argc < 1) return DURO_EINVAL;
    if (r->cl && !r->closing) return r->router->command(r, cb, arg, a);
    if (r->closing || r->st != ST_UP || !r->ac || r->dying) return DURO_ECONN;
    req *q = req_new(r, cb, arg, a);
    if (!q) return DURO_ENOMEM;
    if (r->url.wait_replicas > 0 &&
        duro__redis_wait_wanted(q->argc, q->argv, q->lens)) {
        q->wait_want = r->url.wait_replicas;
        q->wait_timeout_ms = r->url.wait_timeout_ms > 0
                                 ? r->url.wait_timeout_ms
                                 : DURO_REDIS_WAIT_TIMEOUT_MS;
    }
    int rc = send_req(r, q);
    if (rc) req_free(q);
    return rc;
}
