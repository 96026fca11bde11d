/* aredis_cmd.c: commands on a duro_aredis. Each command in flight keeps a
 * copy of its argv so that an FCALL that finds the Functions library
 * missing (Redis restarted without persistence, FUNCTION FLUSH) is resent
 * after one FUNCTION LOAD instead of failing. Connecting and the
 * handshake are aredis.c's. */
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
    int argc;
    const char **argv;
    size_t *lens;
    char *blob; /* the argument bytes, one allocation */
} req;

static void req_free(req *q)
{
    if (!q) return;
    free(q->argv);
    free(q->lens);
    free(q->blob);
    free(q);
}

static req *req_new(duro_aredis *r, duro_aredis_cb cb, void *arg,
                    const duro_argv *a)
{
    req *q = calloc(1, sizeof(*q));
    if (!q) return NULL;
    size_t total = 0;
    for (int i = 0; i < a->argc; i++)
        total += a->lens[i] + 1;
    q->argv = calloc((size_t)a->argc + 1, sizeof(*q->argv));
    q->lens = calloc((size_t)a->argc + 1, sizeof(*q->lens));
    q->blob = malloc(total + 1);
    if (!q->argv || !q->lens || !q->blob) {
        req_free(q);
        return NULL;
    }
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

static int send_req(duro_aredis *r, req *q)
{
    if (duro__tconn_command(r->ac, on_reply, q, q->argc, q->argv, q->lens) != 0)
        return DURO_ECONN;
    q->sent_seq = ++r->send_seq;
    return 0;
}

static void on_load_reply(duro__tconn *ac, redisReply *rep, void *privdata)
{
    duro_aredis *r = privdata;
    if (owner_of(ac) != r || !rep) return;
    if (rep->type == REDIS_REPLY_ERROR &&
        duro_redis_error_code(rep->str) == DURO_EAUTH) {
        r->load_refused_ms = duro_mono_ms();
        duro_error_limited("FUNCTIONS LOAD REFUSED",
                           "FUNCTIONS LOAD REFUSED name=%s err=%s: the "
                           "Functions library is missing or old and this user "
                           "may not load it; run `duro operator init` as the "
                           "admin role",
                           r->name, rep->str);
    } else if (rep->type == REDIS_REPLY_ERROR) {
        duro_error_limited(NULL, "FUNCTIONS LOAD FAILED name=%s err=%s",
                           r->name, rep->str);
    } else {
        r->load_refused_ms = 0;
        duro_info("FUNCTIONS LOADED name=%s", r->name);
    }
}

/* reload_and_resend answers "function not found": the library went away
 * (Redis restarted without persistence, FUNCTION FLUSH). One LOAD serves
 * every FCALL that was sent before it; replies come back in order, so the
 * resent FCALL always runs after the LOAD. Returns 0 if q was resent. */
static int reload_and_resend(duro_aredis *r, req *q)
{
    if (!r->ac || r->st != ST_UP) return DURO_ECONN;
    /* refused lately: the FCALLs in between get their own error */
    if (r->load_refused_ms &&
        duro_mono_ms() - r->load_refused_ms < LOAD_RETRY_MS)
        return DURO_EAUTH;
    if (q->sent_seq > r->load_seq) {
        const char *argv[4] = {"FUNCTION", "LOAD", "REPLACE",
                               duro_lua_source()};
        size_t lens[4] = {8, 4, 7, duro_lua_source_len()};
        if (duro__tconn_command(r->ac, on_load_reply, r, 4, argv, lens) != 0)
            return DURO_ECONN;
        r->load_seq = ++r->send_seq;
        duro_warn_limited(NULL, "FUNCTIONS MISSING name=%s action=reload",
                          r->name);
    }
    q->retried = 1;
    return send_req(r, q);
}

/* on_reply delivers one reply (or NULL on teardown) to its command. */
static void on_reply(duro__tconn *ac, redisReply *rep, void *privdata)
{
    req *q = privdata;
    duro_aredis *r = q->r;
    if (rep && rep->type == REDIS_REPLY_ERROR && !q->retried && is_fcall(q) &&
        duro_reply_is_missing_function(rep->str) && owner_of(ac) == r &&
        reload_and_resend(r, q) == 0)
        return; /* q lives on; its callback runs on the resent reply */
    if (!rep && owner_of(ac) == r)
        r->dying = 1; /* going down: new commands get DURO_ECONN now */
    q->cb(r, rep, q->arg);
    req_free(q);
}

int duro_aredis_command(duro_aredis *r, duro_aredis_cb cb, void *arg,
                        const duro_argv *a)
{
    if (!r || !cb || !a || a->argc < 1) return DURO_EINVAL;
    if (r->closing || r->st != ST_UP || !r->ac || r->dying) return DURO_ECONN;
    req *q = req_new(r, cb, arg, a);
    if (!q) return DURO_ENOMEM;
    int rc = send_req(r, q);
    if (rc) req_free(q);
    return rc;
}
