/* client_namespace.c: the namespace registry (docs/internals.md,
 * "Namespaces"): create, update, describe, list, delete. What a client
 * reads of its own namespace (known? its retention) is client.c's. */
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "duro/clock.h"

static int check_name(duro_client *c, const char *name)
{
    char why[160];
    if (duro_namespace_check(name, why, sizeof(why)))
        return duro__fail(c, DURO_EINVAL, "%s", why);
    return 0;
}

static bool is_default(const char *name)
{
    return strcmp(name, DURO_DEFAULT_NAMESPACE) == 0;
}

/* simple runs one command whose reply only matters as an error. */
static int simple(duro_client *c, const duro_argv *a, long long *out)
{
    int rc;
    redisReply *r = duro__call(c, a, false, &rc);
    if (!r) return rc;
    if (out && !duro__reply_int(r, out)) *out = 0;
    freeReplyObject(r);
    return 0;
}

/* write_fields sets retention (0: unchanged) and description (NULL:
 * unchanged) in the registry hash. */
static int write_fields(duro_client *c, const char *name, int64_t retention_ms,
                        const char *description)
{
    if (retention_ms <= 0 && !description) return 0;
    char key[DURO_SHORT_KEY_MAX];
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "HSET");
    duro_argv_push(&a, duro_key_namespace(key, sizeof(key), name));
    if (retention_ms > 0) {
        duro_argv_push(&a, "retention_ms");
        duro_argv_pushll(&a, retention_ms);
    }
    if (description) {
        duro_argv_push(&a, "description");
        duro_argv_push(&a, description);
    }
    int rc = simple(c, &a, NULL);
    duro_argv_free(&a);
    c->retention_read = 0; /* read it again before the next start */
    return rc;
}

static int check_fields(duro_client *c, int64_t retention_ms,
                        const char *description)
{
    if (retention_ms < 0)
        return duro__fail(c, DURO_EINVAL, "retention must be positive");
    if (description && strlen(description) > 255)
        return duro__fail(c, DURO_EINVAL,
                          "description is longer than 255 bytes");
    return 0;
}

int duro_client_namespace_create(duro_client *c, const char *name,
                                 int64_t retention_ms, const char *description)
{
    int rc = check_name(c, name);
    if (rc == 0) rc = check_fields(c, retention_ms, description);
    if (rc < 0) return rc;
    if (is_default(name))
        return duro__fail(c, DURO_EALREADY,
                          "namespace default always exists (update it)");
    /* The registry first: a user refused it (only admin's role may add
     * namespaces, see README "ACL roles") then writes nothing, and a create
     * cut short after it is finished by the next one (SADD again is a
     * no-op), where a hash written first would say "already exists" for
     * ever to a namespace that is in no list. */
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "SADD");
    duro_argv_push(&a, DURO_NAMESPACES_KEY);
    duro_argv_push(&a, name);
    rc = simple(c, &a, NULL);
    duro_argv_free(&a);
    if (rc < 0) return rc;
    char key[DURO_SHORT_KEY_MAX];
    duro_argv_init(&a);
    duro_argv_push(&a, "HSETNX");
    duro_argv_push(&a, duro_key_namespace(key, sizeof(key), name));
    duro_argv_push(&a, "created_ms");
    duro_argv_pushll(&a, duro_now_ms());
    long long added = 0;
    rc = simple(c, &a, &added);
    duro_argv_free(&a);
    if (rc < 0) return rc;
    if (!added)
        return duro__fail(c, DURO_EALREADY, "namespace %s already exists",
                          name);
    return write_fields(
        c, name, retention_ms > 0 ? retention_ms : DURO_DEFAULT_RETENTION_MS,
        description ? description : "");
}

int duro_client_namespace_update(duro_client *c, const char *name,
                                 int64_t retention_ms, const char *description)
{
    int rc = check_name(c, name);
    if (rc == 0) rc = check_fields(c, retention_ms, description);
    if (rc < 0) return rc;
    duro_namespace_info info;
    rc = duro__registry_get(c, name, &info);
    if (rc < 0) return rc;
    if (rc == 0 && !is_default(name))
        return duro__fail(c, DURO_ENOTFOUND, "namespace %s not found", name);
    return write_fields(c, name, retention_ms, description);
}

/* open_count sums the running workflows of namespace name's partitions:
 * vx:status:RUNNING, plus idx:open where a library before visibility rows
 * kept them (the scheduler migrates it to rows until it is empty). */
static int open_count(duro_client *c, const char *name, long long *out)
{
    duro_keyspace ks;
    duro_keyspace_init(&ks, name, c->partitions);
    int n = 2 * c->partitions;
    duro_argv *cmds = calloc((size_t)n, sizeof(*cmds));
    redisReply **replies = calloc((size_t)n, sizeof(redisReply *));
    int rc = cmds && replies ? 0 : duro__fail(c, DURO_ENOMEM, "out of memory");
    char key[DURO_SHORT_KEY_MAX];
    for (int p = 0; rc == 0 && p < n; p++) {
        duro_argv_init(&cmds[p]);
        duro_argv_push(&cmds[p], "ZCARD");
        /* pushf: each command owns its key (push borrows) */
        duro_argv_pushf(&cmds[p], "%s",
                        p % 2 ? duro_key_idx_open(key, sizeof(key), &ks, p / 2)
                              : duro_key_vx(key, sizeof(key), &ks, p / 2,
                                            "status:RUNNING"));
    }
    if (rc == 0) rc = duro__pipeline(c, cmds, n, replies);
    *out = 0;
    for (int p = 0; cmds && p < n; p++) {
        long long v;
        if (rc == 0 && duro__reply_int(replies[p], &v)) *out += v;
        if (rc == 0) freeReplyObject(replies[p]);
        duro_argv_free(&cmds[p]);
    }
    free(cmds);
    free(replies);
    return rc;
}

int duro_client_namespace_describe(duro_client *c, const char *name,
                                   duro_namespace_info *info)
{
    int rc = check_name(c, name);
    if (rc == 0) rc = duro__registry_get(c, name, info);
    if (rc < 0) return rc;
    if (rc == 0 && !is_default(name))
        return duro__fail(c, DURO_ENOTFOUND, "namespace %s not found", name);
    return open_count(c, name, &info->open_count);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const duro_namespace_info *)a)->name,
                  ((const duro_namespace_info *)b)->name);
}

int duro_client_namespace_list(duro_client *c, duro_namespace_info **out,
                               size_t *n)
{
    *out = NULL;
    *n = 0;
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "SMEMBERS");
    duro_argv_push(&a, DURO_NAMESPACES_KEY);
    int rc;
    redisReply *r = duro__call(c, &a, false, &rc);
    duro_argv_free(&a);
    if (!r) return rc;
    size_t cnt = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
    duro_namespace_info *v = calloc(cnt + 1, sizeof(*v));
    if (!v) {
        freeReplyObject(r);
        return duro__fail(c, DURO_ENOMEM, "out of memory");
    }
    size_t k = 0;
    rc = duro__registry_get(c, DURO_DEFAULT_NAMESPACE, &v[k++]);
    for (size_t i = 0; rc >= 0 && i < cnt; i++) {
        const char *name = duro__reply_str(r->element[i]);
        if (!name || duro_namespace_check(name, NULL, 0) || is_default(name))
            continue;
        rc = duro__registry_get(c, name, &v[k++]);
    }
    freeReplyObject(r);
    if (rc < 0) {
        free(v);
        return rc;
    }
    if (k > 2) qsort(v + 1, k - 1, sizeof(*v), by_name);
    *out = v;
    *n = k;
    return 0;
}

/* unlink_keys UNLINKs the keys of a SCAN batch: one command on one
 * server; on a cluster one per key, pipelined (the keys of a batch lie in
 * many slots, and Redis Cluster refuses a command across slots). */
static int unlink_keys(duro_client *c, const redisReply *keys)
{
    duro_argv a;
    if (!duro__is_cluster(c)) {
        duro_argv_init(&a);
        duro_argv_push(&a, "UNLINK");
        for (size_t i = 0; i < keys->elements; i++)
            if (duro__reply_str(keys->element[i]))
                duro_argv_pushn(&a, keys->element[i]->str,
                                keys->element[i]->len);
        int rc = simple(c, &a, NULL);
        duro_argv_free(&a);
        return rc;
    }
    int n = (int)keys->elements;
    duro_argv *cmds = calloc((size_t)n, sizeof(duro_argv));
    redisReply **r = calloc((size_t)n, sizeof(redisReply *));
    int rc = cmds && r ? 0 : duro__fail(c, DURO_ENOMEM, "out of memory");
    for (int i = 0; rc == 0 && i < n; i++) {
        const char *key = duro__reply_str(keys->element[i]);
        duro_argv_init(&cmds[i]);
        duro_argv_push(&cmds[i], "UNLINK");
        duro_argv_pushn(&cmds[i], key ? key : "",
                        key ? keys->element[i]->len : 0);
    }
    if (rc == 0) rc = duro__pipeline(c, cmds, n, r);
    bool got = rc == 0;
    for (int i = 0; cmds && r && i < n; i++) {
        if (got && rc == 0 && r[i]->type == REDIS_REPLY_ERROR)
            rc = duro__fail(c, duro_redis_error_code(r[i]->str),
                            "UNLINK: %.300s", r[i]->str);
        if (got) freeReplyObject(r[i]);
        duro_argv_free(&cmds[i]);
    }
    free(cmds);
    free(r);
    return rc;
}

/* drop_keys_on UNLINKs every key of the namespace's prefix that master
 * `m` holds (SCAN batches; m: 0 on one server). */
static int drop_keys_on(duro_client *c, int m, const char *pattern)
{
    char cursor[32] = "0";
    int rc = 0;
    do {
        duro_argv a;
        duro_argv_init(&a);
        duro_argv_push(&a, "SCAN");
        duro_argv_push(&a, cursor);
        duro_argv_push(&a, "MATCH");
        duro_argv_push(&a, pattern);
        duro_argv_push(&a, "COUNT");
        duro_argv_push(&a, "1000");
        redisReply *r;
        if (duro__is_cluster(c)) {
            duro_cluster_sync *conn = duro__conn(c, &rc);
            r = conn ? duro_cluster_sync_call_master(conn, m, &a) : NULL;
            if (conn && !r)
                rc = duro__fail(c, DURO_ECONN, "SCAN: %s",
                                duro_cluster_sync_errstr(conn));
        } else {
            r = duro__call(c, &a, false, &rc);
        }
        duro_argv_free(&a);
        if (!r) return rc;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            !duro__reply_str(r->element[0])) {
            freeReplyObject(r);
            return duro__fail(c, DURO_EPROTO, "malformed SCAN reply");
        }
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        const redisReply *keys = r->element[1];
        if (keys->type == REDIS_REPLY_ARRAY && keys->elements > 0)
            rc = unlink_keys(c, keys);
        freeReplyObject(r);
    } while (rc == 0 && strcmp(cursor, "0") != 0);
    return rc;
}

/* drop_keys UNLINKs every key of the namespace's prefix, on each master. */
static int drop_keys(duro_client *c, const char *name)
{
    duro_keyspace ks;
    duro_keyspace_init(&ks, name, c->partitions);
    char pattern[DURO_SHORT_KEY_MAX];
    snprintf(pattern, sizeof(pattern), "%s*", ks.prefix);
    int rc;
    duro_cluster_sync *conn = duro__conn(c, &rc);
    if (!conn) return rc;
    int masters = duro_cluster_sync_masters(conn);
    for (int m = 0; rc == 0 && m < masters; m++)
        rc = drop_keys_on(c, m, pattern);
    return rc;
}

int duro_client_namespace_delete(duro_client *c, const char *name, bool force)
{
    int rc = check_name(c, name);
    if (rc < 0) return rc;
    if (is_default(name))
        return duro__fail(c, DURO_EINVAL,
                          "namespace default cannot be deleted");
    duro_namespace_info info;
    rc = duro__registry_get(c, name, &info);
    if (rc < 0) return rc;
    if (rc == 0)
        return duro__fail(c, DURO_ENOTFOUND, "namespace %s not found", name);
    long long open = 0;
    rc = open_count(c, name, &open);
    if (rc < 0) return rc;
    if (open > 0 && !force)
        return duro__fail(c, DURO_EINVAL,
                          "namespace %s has %lld running workflows (give "
                          "--force to delete them too)",
                          name, open);
    /* out of the registry first: schedulers stop serving it, then its
     * keys go */
    char key[DURO_SHORT_KEY_MAX];
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "SREM");
    duro_argv_push(&a, DURO_NAMESPACES_KEY);
    duro_argv_push(&a, name);
    rc = simple(c, &a, NULL);
    duro_argv_free(&a);
    if (rc < 0) return rc;
    duro_argv_init(&a);
    duro_argv_push(&a, "DEL");
    duro_argv_push(&a, duro_key_namespace(key, sizeof(key), name));
    rc = simple(c, &a, NULL);
    duro_argv_free(&a);
    if (rc < 0) return rc;
    return drop_keys(c, name);
}
