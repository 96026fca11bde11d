/* client.c: the client's connection lifecycle, what it reads of its own
 * namespace (known? its retention), and the helpers its calls share. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <time.h>

#include "client_int.h"
#include "duro/clock.h"
#include "duro/json.h"

/* ---- Errors ---- */

int duro__fail(duro_client *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->errstr, sizeof(c->errstr), fmt, ap);
    va_end(ap);
    return code;
}

const char *duro_client_errstr(const duro_client *c)
{
    return c ? c->errstr : "no client";
}

void duro_client_set_codec(duro_client *c, const duro_codec *codec)
{
    c->codec = codec;
}

int duro__seal(duro_client *c, const char *json, char **out)
{
    char why[256];
    int rc = duro_codec_encode(c->codec, json ? json : "null", out, why,
                               sizeof(why));
    return rc < 0 ? duro__fail(c, rc, "%s", why) : 0;
}

int duro__seal_start(duro_client *c, const duro_start_opts *o,
                     duro_start_opts *so, char **sealed)
{
    *so = *o;
    int rc = duro__seal(c, o->input, sealed);
    so->input = *sealed;
    return rc;
}

void duro__unseal(duro_client *c, cJSON *obj, const char *field)
{
    char why[256];
    duro_codec_decode_item(c->codec, obj, field, why, sizeof(why));
}

int duro_client_partitions(const duro_client *c)
{
    return c->partitions;
}

/* io_text: hiredis reports a read timeout as EAGAIN's message. */
static const char *io_text(const char *s)
{
    if (s && strstr(s, "Resource temporarily unavailable"))
        return "no answer within the timeout (5s)";
    return s && *s ? s : "error";
}

/* ---- Lifecycle ---- */

const char *duro__where(const duro_redis_url *url, char *buf, size_t size)
{
    if (url->sentinels > 0)
        snprintf(buf, size, "redis master %s (via Sentinel)",
                 url->sentinel_master);
    else
        snprintf(buf, size, "redis at %s:%d", url->host, url->port);
    return buf;
}

duro_cluster_sync *duro__connect(const duro_redis_url *url, char *err,
                                 size_t errsize, int *code)
{
    char why[256] = "", at[300];
    duro_cluster_sync *rc = NULL;
    int e = duro_cluster_sync_open(url, DURO_CLIENT_TIMEOUT_MS, &rc, why,
                                   sizeof(why));
    if (code) *code = e;
    if (rc) return rc;
    /* common says "cannot reach redis at h:p: reason"; keep one wording. */
    static const char reach[] = "cannot reach redis at ";
    if (strncmp(why, reach, sizeof(reach) - 1) == 0 && url->sentinels <= 0)
        snprintf(err, errsize, "cannot connect to redis at %s",
                 why + sizeof(reach) - 1);
    else if (strncmp(why, "cannot connect", 14) == 0)
        snprintf(err, errsize, "%s", why);
    else
        snprintf(err, errsize, "cannot connect to %s: %s",
                 duro__where(url, at, sizeof(at)),
                 why[0] ? why : "unknown error");
    return NULL;
}

/* given_partitions: $DURO_PARTITIONS (0 when unset), or DURO_EINVAL. */
static int given_partitions(char *err, size_t errsize)
{
    const char *v = duro_env("DURO_PARTITIONS", NULL);
    if (!v) return 0;
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || n < 1 || n > DURO_MAX_PARTITIONS) {
        snprintf(err, errsize, "bad DURO_PARTITIONS \"%.40s\" (1..%d)", v,
                 DURO_MAX_PARTITIONS);
        return DURO_EINVAL;
    }
    return (int)n;
}

/* learn_layout reads the partition count after a connect. A client that
 * was not given a count never creates duro:meta (its default must not
 * become a fleet's layout): when it is missing, because Redis is new or
 * came back empty, the client waits up to its timeout for a worker or
 * scheduler to create or restore it. A count other than the one this
 * client already used is refused: its keys would be in the wrong place. */
static int learn_layout(duro_client *c, char *err, size_t errsize)
{
    int found = 0, rc;
    int64_t deadline = duro_mono_ms() + DURO_CLIENT_TIMEOUT_MS;
    while ((rc = duro_cluster_sync_meta_check(c->conn, c->given, &found, err,
                                              errsize)) == DURO_ENOTFOUND &&
           duro_mono_ms() < deadline) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (rc < 0) return rc;
    if (c->partitions && found != c->partitions) {
        snprintf(err, errsize,
                 "layout mismatch: %s says partitions=%d but this client used "
                 "partitions=%d (Redis lost its data and was set up again "
                 "with another count?)",
                 DURO_META_KEY, found, c->partitions);
        return DURO_EINVAL;
    }
    c->partitions = found;
    return 0;
}

int duro_client_new(duro_client **out, const char *redis_url, char *err,
                    size_t errsize)
{
    duro_client_opts o = {.redis_url = redis_url};
    return duro_client_new_opts(out, &o, err, errsize);
}

const char *duro_client_namespace(const duro_client *c)
{
    return c->ks.ns;
}

int duro_client_new_opts(duro_client **out, const duro_client_opts *opts,
                         char *err, size_t errsize)
{
    duro_client_opts none = {0};
    if (!opts) opts = &none;
    const char *redis_url = opts->redis_url;
    char dummy[8];
    if (!err || !errsize) {
        err = dummy;
        errsize = sizeof(dummy);
    }
    err[0] = '\0';
    *out = NULL;
    if (!redis_url || !*redis_url) redis_url = duro_redis_url_default();
    duro_client *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errsize, "out of memory");
        return DURO_ENOMEM;
    }
    const char *ns = duro_namespace_default(opts->namespace_);
    int rc = duro_namespace_check(ns, err, errsize);
    if (rc == 0) rc = duro_keyspace_init(&c->ks, ns, 0);
    if (rc == 0) rc = duro_redis_url_parse(redis_url, &c->url, err, errsize);
    if (rc < 0) {
        free(c);
        return rc;
    }
    c->given = rc = given_partitions(err, errsize);
    if (rc < 0) {
        free(c);
        return rc;
    }
    int code = DURO_ECONN;
    c->conn = duro__connect(&c->url, err, errsize, &code);
    if (!c->conn) {
        free(c);
        return code;
    }
    char why[400] = "";
    rc = duro_cluster_sync_setup(c->conn, c->given, &c->partitions, why,
                                 sizeof(why));
    if (rc == DURO_ENOTFOUND) rc = learn_layout(c, why, sizeof(why));
    char at[300];
    if (rc < 0)
        snprintf(err, errsize, "%s: %s", duro__where(&c->url, at, sizeof(at)),
                 strstr(why, "Resource temporarily") ? io_text(why) : why);
    if (rc < 0 || c->partitions <= 0) {
        if (rc >= 0) {
            snprintf(err, errsize, "bad partition count %d in %s",
                     c->partitions, DURO_META_KEY);
            rc = DURO_EPROTO;
        }
        duro_client_free(c);
        return rc;
    }
    rc = duro__namespace_known(c);
    if (rc < 0) {
        snprintf(err, errsize, "%s", c->errstr);
        duro_client_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void duro_client_free(duro_client *c)
{
    if (!c) return;
    duro_cluster_sync_free(c->conn);
    if (c->sub) redisFree(c->sub);
    free(c);
}

/* ensure reconnects after a lost connection (hiredis contexts cannot be
 * reused once they report an error; a cluster router mends its own). */
static int ensure(duro_client *c)
{
    if (c->conn && !duro_cluster_sync_broken(c->conn)) return 0;
    duro_cluster_sync_free(c->conn);
    int code = DURO_ECONN;
    c->conn = duro__connect(&c->url, c->errstr, sizeof(c->errstr), &code);
    if (!c->conn) return code;
    /* Redis may have restarted empty: check the layout again. */
    char why[400] = "";
    int rc = learn_layout(c, why, sizeof(why));
    if (rc < 0) {
        char at[300];
        duro__fail(c, rc, "%s: %s", duro__where(&c->url, at, sizeof(at)), why);
        duro_cluster_sync_free(c->conn);
        c->conn = NULL;
    }
    return rc;
}

duro_cluster_sync *duro__conn(duro_client *c, int *rc)
{
    *rc = ensure(c);
    return *rc < 0 ? NULL : c->conn;
}

bool duro__is_cluster(const duro_client *c)
{
    return c->conn && duro_cluster_sync_is_cluster(c->conn);
}

static int lost(duro_client *c)
{
    char at[300];
    return duro__fail(
        c, DURO_ECONN, "lost the connection to %s: %s",
        duro__where(&c->url, at, sizeof(at)),
        io_text(c->conn ? duro_cluster_sync_errstr(c->conn) : NULL));
}

/* ---- Calls ---- */

redisReply *duro__call(duro_client *c, const duro_argv *a, bool allow_error,
                       int *rc)
{
    *rc = ensure(c);
    if (*rc < 0) return NULL;
    redisReply *r = duro_cluster_sync_call(c->conn, a);
    if (!r) {
        *rc = lost(c);
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR && !allow_error) {
        *rc = duro__fail(c, DURO_EREDIS, "redis: %.*s (%s)", (int)r->len,
                         r->str ? r->str : "", a->argc ? a->argv[0] : "");
        freeReplyObject(r);
        return NULL;
    }
    *rc = 0;
    return r;
}

char *duro__reason_json(duro_client *c, const char *reason, int *rc)
{
    if (reason && strlen(reason) > DURO_DEFAULT_MAX_PAYLOAD) {
        *rc = duro__fail(c, DURO_ETOOBIG, "reason is longer than 2 MiB");
        return NULL;
    }
    cJSON *d = cJSON_CreateObject();
    if (d) cJSON_AddStringToObject(d, "reason", reason ? reason : "");
    char *data = d ? cJSON_PrintUnformatted(d) : NULL;
    cJSON_Delete(d);
    if (!data) *rc = duro__fail(c, DURO_ENOMEM, "out of memory");
    return data;
}

int duro__pipeline(duro_client *c, const duro_argv *cmds, int n,
                   redisReply **replies)
{
    int rc = ensure(c);
    if (rc < 0) return rc;
    if (duro_cluster_sync_pipeline(c->conn, cmds, n, replies) < 0)
        return lost(c);
    return 0;
}

int duro__check_run(const char *run)
{
    size_t n = run ? strlen(run) : 0;
    if (n == 0 || n > DURO_UUID_LEN) return DURO_EINVAL;
    for (size_t i = 0; i < n; i++) {
        char ch = run[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
              (ch >= 'A' && ch <= 'Z') || ch == '-'))
            return DURO_EINVAL;
    }
    return 0;
}

int duro__current_run(duro_client *c, const char *id, duro_wf_keys *k,
                      char run[DURO_UUID_LEN + 1])
{
    char why[256];
    if (duro_id_check(id, why, sizeof(why)) < 0)
        return duro__fail(c, DURO_EINVAL, "%s", why);
    duro_wf_keys_init(k, duro__ks(c), id, NULL);
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "HGET");
    duro_argv_push(&a, k->wf);
    duro_argv_push(&a, "run");
    int rc;
    redisReply *r = duro__call(c, &a, false, &rc);
    duro_argv_free(&a);
    if (!r) return rc;
    const char *s = duro__reply_str(r);
    if (!s) {
        freeReplyObject(r);
        return duro__fail(c, DURO_ENOTFOUND, "workflow %s not found", id);
    }
    if (duro__check_run(s) < 0) {
        freeReplyObject(r);
        return duro__fail(c, DURO_EPROTO, "workflow %s has a malformed run id",
                          id);
    }
    snprintf(run, DURO_UUID_LEN + 1, "%s", s);
    freeReplyObject(r);
    duro_wf_keys_init(k, duro__ks(c), id, run);
    return 0;
}

/* HMGET wf run queue status */
int duro__read_head(duro_client *c, const char *id, duro__wf_head *h)
{
    char why[256];
    h->run[0] = h->queue[0] = h->status[0] = '\0';
    h->hlen = -1;
    if (duro_id_check(id, why, sizeof(why)) < 0)
        return duro__fail(c, DURO_EINVAL, "%s", why);
    duro_wf_keys_init(&h->k, duro__ks(c), id, NULL);
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "HMGET");
    duro_argv_push(&a, h->k.wf);
    duro_argv_push(&a, "run");
    duro_argv_push(&a, "queue");
    duro_argv_push(&a, "status");
    duro_argv_push(&a, "hlen");
    int rc;
    redisReply *r = duro__call(c, &a, false, &rc);
    duro_argv_free(&a);
    if (!r) return rc;
    bool shaped = r->type == REDIS_REPLY_ARRAY && r->elements == 4;
    const char *run = shaped ? duro__reply_str(r->element[0]) : NULL;
    const char *queue = shaped ? duro__reply_str(r->element[1]) : NULL;
    const char *status = shaped ? duro__reply_str(r->element[2]) : NULL;
    if (shaped && !run)
        rc = duro__fail(c, DURO_ENOTFOUND, "workflow %s not found", id);
    else if (!run || duro__check_run(run) < 0 || !queue || !status ||
             duro_name_check("task queue", queue, why, sizeof(why)) < 0 ||
             strlen(status) >= sizeof(h->status))
        rc = duro__fail(c, DURO_EPROTO, "workflow %s has a damaged hash", id);
    if (rc == 0) {
        snprintf(h->run, sizeof(h->run), "%s", run);
        snprintf(h->queue, sizeof(h->queue), "%s", queue);
        snprintf(h->status, sizeof(h->status), "%s", status);
        const char *hlen = duro__reply_str(r->element[3]);
        if (!hlen || !duro__parse_i64(hlen, &h->hlen) || h->hlen < 0)
            h->hlen = -1;
        duro_wf_keys_init(&h->k, duro__ks(c), id, h->run);
    }
    freeReplyObject(r);
    return rc;
}

/* ---- The client's namespace ---- */

int duro__registry_get(duro_client *c, const char *name,
                       duro_namespace_info *info)
{
    memset(info, 0, sizeof(*info));
    snprintf(info->name, sizeof(info->name), "%s", name);
    info->retention_ms = DURO_DEFAULT_RETENTION_MS;
    char key[DURO_SHORT_KEY_MAX];
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "HMGET");
    duro_argv_push(&a, duro_key_namespace(key, sizeof(key), name));
    duro_argv_push(&a, "retention_ms");
    duro_argv_push(&a, "description");
    duro_argv_push(&a, "created_ms");
    int rc;
    redisReply *r = duro__call(c, &a, false, &rc);
    duro_argv_free(&a);
    if (!r) return rc;
    long long v;
    int found = 0;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 3) {
        if (duro__reply_int(r->element[0], &v) && v > 0) info->retention_ms = v;
        const char *d = duro__reply_str(r->element[1]);
        if (d) snprintf(info->description, sizeof(info->description), "%s", d);
        if (duro__reply_int(r->element[2], &v)) {
            info->created_ms = v;
            found = 1;
        }
        found |= r->element[0]->type != REDIS_REPLY_NIL;
    }
    freeReplyObject(r);
    return found;
}

int64_t duro__retention(duro_client *c)
{
    int64_t now = duro_mono_ms();
    if (c->retention_read &&
        now - c->retention_read < DURO__RETENTION_REFRESH_MS)
        return c->retention_ms;
    duro_namespace_info info;
    int rc = duro__registry_get(c, c->ks.ns, &info);
    if (rc < 0) return rc;
    c->retention_ms = info.retention_ms;
    c->retention_read = now;
    return c->retention_ms;
}

int duro__namespace_known(duro_client *c)
{
    duro_namespace_info info;
    int rc = duro__registry_get(c, c->ks.ns, &info);
    if (rc < 0) return rc;
    if (rc == 0 && strcmp(c->ks.ns, DURO_DEFAULT_NAMESPACE) != 0)
        return duro__fail(c, DURO_ENOTFOUND,
                          "namespace %s not found (create it: duro operator "
                          "namespace create -n %s)",
                          c->ks.ns, c->ks.ns);
    c->retention_ms = info.retention_ms;
    c->retention_read = duro_mono_ms();
    return 0;
}

/* ---- JSON helpers ---- */

cJSON *duro__json_value(const char *s, size_t len)
{
    if (!s || len == 0) return cJSON_CreateNull();
    cJSON *v = NULL;
    char why[8];
    /* Writers cap payloads at 2 MiB; allow slack for what is already in
     * Redis rather than hiding it. */
    if (duro_json_parse(s, len, 8 * (size_t)DURO_DEFAULT_MAX_PAYLOAD, &v, why,
                        sizeof(why)) == 0)
        return v;
    return cJSON_CreateString(s);
}

void duro__add_time(cJSON *o, const char *name, int64_t ms)
{
    if (ms <= 0) {
        cJSON_AddNullToObject(o, name);
        return;
    }
    char buf[40];
    cJSON_AddStringToObject(o, name, duro_iso8601(ms, buf, sizeof(buf)));
}
