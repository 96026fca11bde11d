/* redis_meta.c: duro:meta, the record of a namespace's layout (its
 * partition count and schema) that every worker, scheduler and client
 * checks before it uses Redis, and sets (HSETNX) when it is missing; the
 * check runs on one server (a redisContext) or through any duro__caller
 * (a Redis Cluster's node, redis_int.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "duro/errno.h"
#include "duro/keys.h"
#include "duro/log.h"
#include "duro/redis.h"
#include "redis_int.h"

#define MAX_PARTITIONS DURO_MAX_PARTITIONS

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

/* One server's caller: the context itself. */
static redisReply *ctx_call(void *conn, const duro_argv *a)
{
    return redisCommandArgv(conn, a->argc, a->argv, a->lens);
}

static const char *ctx_errstr(void *conn)
{
    return ((redisContext *)conn)->errstr;
}

/* meta_cmd: `<cmd> duro:meta <field> [value]` through k; the reply, or
 * NULL (the connection failed: the message in err). */
static redisReply *meta_cmd(const duro__caller *k, const char *cmd,
                            const char *field, const char *value, char *err,
                            size_t errsize)
{
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, cmd);
    duro_argv_push(&a, DURO_META_KEY);
    duro_argv_push(&a, field);
    if (value) duro_argv_push(&a, value);
    redisReply *r = k->call(k->conn, &a);
    duro_argv_free(&a);
    if (!r) set_err(err, errsize, "%s duro:meta: %s", cmd, k->errstr(k->conn));
    return r;
}

/* get_partitions: duro:meta's partition count into *out (0 when there is
 * no meta). */
static int get_partitions(const duro__caller *k, int *out, char *err,
                          size_t errsize)
{
    /* HGET duro:meta partitions */
    redisReply *r = meta_cmd(k, "HGET", "partitions", NULL, err, errsize);
    if (!r) return DURO_ECONN;
    int rc = DURO_EPROTO;
    *out = 0;
    if (r->type == REDIS_REPLY_NIL) {
        rc = 0;
    } else if (r->type == REDIS_REPLY_STRING) {
        char *end;
        long v = strtol(r->str, &end, 10);
        if (r->len > 0 && *end == '\0' && v >= 1 && v <= MAX_PARTITIONS) {
            *out = (int)v;
            rc = 0;
        }
    } else if (r->type == REDIS_REPLY_ERROR) {
        rc = duro_redis_error_code(r->str);
    }
    if (rc != 0)
        set_err(err, errsize, "duro:meta partitions is not 1..%d (%s)",
                MAX_PARTITIONS,
                r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_ERROR
                    ? r->str
                    : "unexpected reply");
    freeReplyObject(r);
    return rc;
}

/* hsetnx: HSETNX duro:meta field value, any error reply classified. */
static int hsetnx(const duro__caller *k, const char *field, const char *value,
                  char *err, size_t errsize)
{
    redisReply *r = meta_cmd(k, "HSETNX", field, value, err, errsize);
    if (!r) return DURO_ECONN;
    int rc = 0;
    if (r->type == REDIS_REPLY_ERROR) {
        set_err(err, errsize, "HSETNX duro:meta: %s", r->str ? r->str : "");
        rc = duro_redis_error_code(r->str);
    }
    freeReplyObject(r);
    return rc;
}

int duro__meta_check_with(const duro__caller *k, int partitions, int *out,
                          char *err, size_t errsize)
{
    int rc;
    if (partitions > 0) {
        /* HSETNX duro:meta partitions <P>; HSETNX duro:meta schema 1 */
        char p[16];
        snprintf(p, sizeof(p), "%d", partitions);
        rc = hsetnx(k, "partitions", p, err, errsize);
        if (rc == 0) rc = hsetnx(k, "schema", "1", err, errsize);
        if (rc != 0) return rc;
    }
    int found = 0;
    rc = get_partitions(k, &found, err, errsize);
    if (rc != 0) return rc;
    if (found == 0) {
        set_err(err, errsize,
                "%s is missing: no worker or scheduler has set up this Redis "
                "yet, or Redis lost its data and none has restored it; start "
                "one, or give the partition count (DURO_PARTITIONS)",
                DURO_META_KEY);
        return DURO_ENOTFOUND;
    }
    if (partitions > 0 && found != partitions) {
        set_err(err, errsize,
                "layout mismatch: %s says partitions=%d but this process was "
                "given partitions=%d; every worker, scheduler and client of a "
                "namespace must use the same count",
                DURO_META_KEY, found, partitions);
        return DURO_EINVAL;
    }
    *out = found;
    return 0;
}

int duro_redis_meta_check(redisContext *c, int partitions, int *out, char *err,
                          size_t errsize)
{
    duro__caller k = {ctx_call, ctx_errstr, c};
    return duro__meta_check_with(&k, partitions, out, err, errsize);
}

int duro__setup_meta(const duro__caller *k, int partitions, int *out, char *err,
                     size_t errsize)
{
    if (partitions != DURO_PARTITIONS_ADOPT_OR_INIT)
        return duro__meta_check_with(k, partitions, out, err, errsize);
    int rc = duro__meta_check_with(k, DURO_PARTITIONS_ADOPT, out, err, errsize);
    if (rc != DURO_ENOTFOUND) return rc;
    rc = duro__meta_check_with(k, DURO_DEFAULT_PARTITIONS, out, err, errsize);
    if (rc == 0)
        duro_info("META CREATED partitions=%d (the default; no count was "
                  "given)",
                  *out);
    return rc;
}

int duro__setup_check(int partitions, char *err, size_t errsize)
{
    if (partitions > MAX_PARTITIONS ||
        partitions < DURO_PARTITIONS_ADOPT_OR_INIT) {
        set_err(err, errsize, "partitions must be 1..%d", MAX_PARTITIONS);
        return DURO_EINVAL;
    }
    return 0;
}

int duro_redis_setup(redisContext *c, int partitions, int *out, char *err,
                     size_t errsize)
{
    int rc = duro__setup_check(partitions, err, errsize);
    if (rc == 0) rc = duro__functions_ensure(c, false, err, errsize);
    if (rc != 0) return rc;
    duro__caller k = {ctx_call, ctx_errstr, c};
    return duro__setup_meta(&k, partitions, out, err, errsize);
}
