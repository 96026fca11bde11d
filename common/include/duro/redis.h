/* redis.h: synchronous Redis helpers shared by the scheduler, client and
 * worker: connect, meta, Functions library loading, FCALL with reload. */
#ifndef DURO_REDIS_H
#define DURO_REDIS_H

#include <stddef.h>
#include <hiredis/hiredis.h>
#include "duro/config.h"
#include "duro/export.h"

/* DURO_MAX_PARTITIONS: the largest partition count. Each partition costs
 * a stream per task kind and queue, a consumer group, a key in every
 * blocking read of every worker and a timer scan in the scheduler; 1024 is
 * far beyond what one Redis needs and keeps those bounded. */
#define DURO_MAX_PARTITIONS 1024

/* duro_redis_open connects (rediss://: over TLS, verified; see
 * duro_redis_url), authenticates, selects the db and sends HELLO 2 (as a
 * PING would, it makes a server wanting a password say so now; its answer
 * also names a cluster node: cluster_sync.h). Returns 0 and the context in
 * *out (caller frees with redisFree), or a DURO_E* with a message in err:
 * DURO_ECONN (unreachable, timed out: retry), DURO_EAUTH (credentials or
 * rights refused, a TLS certificate refused on either side), DURO_EINVAL
 * (no such database; a TLS CA, certificate or key file unreadable),
 * DURO_EAGAIN (LOADING and such: retry). timeout_ms bounds connect and each
 * command (0: none). The message never holds the password. */
DURO_EXPORT int duro_redis_open(const duro_redis_url *url, int timeout_ms,
                                redisContext **out, char *err, size_t errsize);

/* duro_redis_connect: duro_redis_open that returns the context, or NULL
 * with a message in err. */
DURO_EXPORT redisContext *duro_redis_connect(const duro_redis_url *url,
                                             int timeout_ms, char *err,
                                             size_t errsize);

/* duro_redis_keepalive turns TCP keepalive on for c (hiredis's
 * redisEnableKeepAlive, which fails on a rediss:// context: its socket is
 * the TLS pump's private socketpair, and the pump's TCP connection has
 * keepalive from the start). REDIS_OK or REDIS_ERR (c->errstr). */
DURO_EXPORT int duro_redis_keepalive(redisContext *c);

/* Partition counts: a process is "given" a count (a flag, DURO_PARTITIONS,
 * an option) or not. The rule that keeps a fleet's layout safe when Redis
 * comes back empty:
 *   - a process given a count creates duro:meta with it when missing and
 *     refuses (DURO_EINVAL, naming both counts) a duro:meta that holds
 *     another: nothing ever rewrites a namespace's layout;
 *   - a worker or scheduler that was not given one adopts duro:meta's, and
 *     creates it with DURO_DEFAULT_PARTITIONS only when it is missing (a new
 *     namespace): DURO_PARTITIONS_ADOPT_OR_INIT;
 *   - a client that was not given one never creates it: DURO_PARTITIONS_ADOPT
 *     answers DURO_ENOTFOUND, and the client waits for a worker or scheduler
 *     to create or restore it (they restore it after every reconnect, see
 *     duro_aredis_guard). */
#define DURO_PARTITIONS_ADOPT 0
#define DURO_PARTITIONS_ADOPT_OR_INIT (-1)

/* duro_redis_setup makes Redis ready for Duro: loads the Functions library
 * when it is missing or older than ours, then duro_redis_meta_check (with
 * DURO_PARTITIONS_ADOPT_OR_INIT as above). Returns 0 and sets *out, or a
 * negative DURO_E* with a message in err. A library that needs loading by
 * a user the ACL does not allow FUNCTION LOAD is DURO_EAGAIN (retry later)
 * with the remedy, `duro operator init` as the admin role, in err. */
DURO_EXPORT int duro_redis_setup(redisContext *c, int partitions, int *out,
                                 char *err, size_t errsize);

/* duro_redis_meta_check reads duro:meta's partition count into *out.
 * partitions > 0: creates duro:meta with it when missing; DURO_EINVAL when
 * duro:meta holds another count. DURO_PARTITIONS_ADOPT: DURO_ENOTFOUND when
 * duro:meta is missing. DURO_ECONN when the connection failed. */
DURO_EXPORT int duro_redis_meta_check(redisContext *c, int partitions, int *out,
                                      char *err, size_t errsize);

/* duro_functions_load loads (REPLACE) the embedded library. 0 or DURO_E*
 * (DURO_EAUTH when the ACL refuses FUNCTION LOAD). */
DURO_EXPORT int duro_functions_load(redisContext *c, char *err, size_t errsize);

/* duro_functions_load_sharded loads (REPLACE) the library's copy for a
 * Redis Cluster master (duro_lua_library_source(true)). As
 * duro_functions_load. */
DURO_EXPORT int duro_functions_load_sharded(redisContext *c, char *err,
                                            size_t errsize);

/* duro_reply_is_missing_function: true for the error Redis gives when the
 * library is not loaded (e.g. after a restart without persistence). */
DURO_EXPORT int duro_reply_is_missing_function(const char *errstr);

/* duro_argv: a growable argument vector for redisCommandArgv. */
typedef struct {
    int argc, cap;
    const char **argv;
    size_t *lens;
    char **owned; /* strings this argv frees (formatted ones) */
    int nowned, capowned;
} duro_argv;

DURO_EXPORT void duro_argv_init(duro_argv *a);
DURO_EXPORT void duro_argv_free(duro_argv *a);
/* duro_argv_push: borrows s (must outlive the argv). */
DURO_EXPORT void duro_argv_push(duro_argv *a, const char *s);
DURO_EXPORT void duro_argv_pushn(duro_argv *a, const char *s, size_t len);
/* duro_argv_pushf: formats and owns the string. */
DURO_EXPORT void duro_argv_pushf(duro_argv *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* duro_argv_pushll: a decimal integer, owned. */
DURO_EXPORT void duro_argv_pushll(duro_argv *a, long long v);

/* duro_argv_fcall starts a fresh argv as `FCALL fn nkeys keys...`; the
 * Function's arguments are pushed after it. keys are borrowed. */
DURO_EXPORT void duro_argv_fcall(duro_argv *a, const char *fn, int nkeys,
                                 const char *const *keys);

/* duro_redis_call sends argv and returns the reply (caller frees with
 * freeReplyObject) or NULL when the connection failed (c->errstr says why).
 * When the argv is an FCALL and Redis says the function is missing, the
 * library is loaded and the call made once more. */
DURO_EXPORT redisReply *duro_redis_call(redisContext *c, const duro_argv *a);

/* duro_redis_error_code maps an error reply to a DURO_E* code, by its
 * first word only (never by message text):
 *   a Duro Function's refusal: DURO_STALE -> DURO_ESTALE, DURO_ALREADY_STARTED
 *     -> DURO_EALREADY, DURO_NOT_FOUND -> DURO_ENOTFOUND, DURO_NOT_RUNNING
 *     -> DURO_ENOTRUNNING, DURO_BADARG -> DURO_EINVAL;
 *   a server that cannot serve the request now (OOM, BUSY, LOADING, READONLY,
 *     TRYAGAIN, MASTERDOWN, CLUSTERDOWN, NOREPLICAS) -> DURO_EAGAIN;
 *   credentials or rights (WRONGPASS, NOAUTH, NOPERM) -> DURO_EAUTH;
 *   a key of the wrong type (WRONGTYPE) -> DURO_EPROTO;
 *   anything else (and NULL) -> DURO_EREDIS. */
DURO_EXPORT int duro_redis_error_code(const char *errstr);

/* duro_reply_is_readonly: the error reply is READONLY (a replica was
 * written to: through Sentinel, the master moved). */
DURO_EXPORT int duro_reply_is_readonly(const char *errstr);

#endif
