/* cli_init.c: `duro operator init`: prepares a Redis for Duro as the
 * admin role: loads the Functions library when it is missing or older than
 * this build's (on a Redis Cluster: its sharded copy, on every master),
 * and creates duro:meta with the partition count; first it checks that each
 * Redis user of a Duro role holds this build's grants (cli_acl_check.c),
 * and stops, changing nothing, when one does not. Workers,
 * schedulers and clients that run as restricted users may not do either
 * (docs: README, "Security"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_acl_check.h"
#include "duro/cluster_sync.h"
#include "duro/errno.h"
#include "duro/keys.h"
#include "duro/lua.h"
#include "duro/redis.h"

const cli_opt cli_init_opts[] = {
    {"partitions", 0, "N",
     "partition count of a new duro:meta (default $DURO_PARTITIONS, else 16); "
     "an existing one must match",
     false},
    {"skip-acl-check", 0, NULL,
     "load the library even when a Duro user's ACL lacks a grant of this "
     "build's rules (a warning, not an error)",
     false},
    {0},
};

/* library_version: FCALL duro_version 0 into *v (0 when no library is
 * loaded). Returns 0 or a DURO_E* with a message in err. */
static int library_version(redisContext *c, long long *v, char *err,
                           size_t errsize)
{
    redisReply *r = redisCommand(c, "FCALL duro_version 0");
    int rc = 0;
    *v = 0;
    if (!r) {
        snprintf(err, errsize, "FCALL duro_version: %s", c->errstr);
        return DURO_ECONN;
    }
    if (r->type == REDIS_REPLY_INTEGER) {
        *v = r->integer;
    } else if (r->type != REDIS_REPLY_ERROR) {
        snprintf(err, errsize, "FCALL duro_version: unexpected reply");
        rc = DURO_EPROTO;
    } else if (!duro_reply_is_missing_function(r->str)) {
        snprintf(err, errsize, "FCALL duro_version: %s", r->str);
        rc = duro_redis_error_code(r->str);
    }
    freeReplyObject(r);
    return rc;
}

/* get_partitions: --partitions, else $DURO_PARTITIONS, else 0 (adopt
 * duro:meta's or create it with the default). -1 after a usage error. */
static int get_partitions(const cli_ctx *ctx)
{
    const char *v = cli_get(ctx, "partitions");
    const char *what = "--partitions";
    if (!v) {
        v = getenv("DURO_PARTITIONS");
        what = "DURO_PARTITIONS";
    }
    if (!v || !*v) return 0;
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || n < 1 || n > DURO_MAX_PARTITIONS) {
        cli_usage(ctx, "%s: \"%s\" is not 1..%d", what, v, DURO_MAX_PARTITIONS);
        return -1;
    }
    return (int)n;
}

/* ensure_meta: duro:meta with `given` partitions (0: keep the one there, or
 * the default for a new one); *created says whether it was missing. */
static int ensure_meta(duro_cluster_sync *c, int given, int *parts,
                       bool *created, char *err, size_t errsize)
{
    int rc = duro_cluster_sync_meta_check(c, DURO_PARTITIONS_ADOPT, parts, err,
                                          errsize);
    *created = rc == DURO_ENOTFOUND;
    if (rc == 0 && given && *parts != given)
        return duro_cluster_sync_meta_check(c, given, parts, err, errsize);
    if (rc != DURO_ENOTFOUND) return rc;
    return duro_cluster_sync_meta_check(
        c, given ? given : DURO_DEFAULT_PARTITIONS, parts, err, errsize);
}

/* load_all: the library on each master (one on a single server) where it
 * is missing or older; *before: the oldest version found (0: missing
 * somewhere), *loaded: whether any was loaded. */
static int load_all(duro_cluster_sync *r, long long *before, bool *loaded,
                    char *err, size_t errsize)
{
    int n = duro_cluster_sync_masters(r);
    bool sharded = duro_cluster_sync_is_cluster(r);
    *before = duro_lua_version();
    for (int i = 0; i < n; i++) {
        redisContext *c = sharded ? duro_cluster_sync_master_context(r, i)
                                  : duro_cluster_sync_context(r, -1);
        if (!c) {
            snprintf(err, errsize, "%s", duro_cluster_sync_errstr(r));
            return DURO_ECONN;
        }
        long long v = 0;
        int rc = library_version(c, &v, err, errsize);
        if (rc == 0 && v < duro_lua_version()) {
            rc = sharded ? duro_functions_load_sharded(c, err, errsize)
                         : duro_functions_load(c, err, errsize);
            *loaded |= rc == 0;
        }
        if (rc) return rc;
        if (v < *before) *before = v;
    }
    return 0;
}

static void print_text(long long before, bool loaded, int parts, bool created)
{
    if (loaded && before)
        printf("Functions library upgraded from version %lld to %d\n", before,
               duro_lua_version());
    else if (loaded)
        printf("Functions library loaded (version %d)\n", duro_lua_version());
    else
        printf("Functions library already at version %lld\n", before);
    printf("%s %s with partitions=%d\n", DURO_META_KEY,
           created ? "created" : "present", parts);
}

int cli_init(cli_ctx *ctx)
{
    int given = get_partitions(ctx);
    if (given < 0) return CLI_USAGE;
    duro_redis_url url;
    char err[512];
    int rc = duro_redis_url_parse(ctx->redis_url ? ctx->redis_url
                                                 : duro_redis_url_default(),
                                  &url, err, sizeof(err));
    if (rc < 0) return cli_fail_err(rc, "%s", err);
    duro_cluster_sync *c = NULL;
    rc = duro_cluster_sync_open(&url, 5000, &c, err, sizeof(err));
    if (rc < 0)
        return cli_fail_err(rc, "redis at %s:%d: %s", url.host, url.port, err);
    long long before = 0;
    bool loaded = false, created = false;
    int parts = 0, masters = duro_cluster_sync_masters(c);
    bool cluster = duro_cluster_sync_is_cluster(c);
    const char *acl = "skipped";
    if (cli_get(ctx, "skip-acl-check")) {
        fprintf(stderr, "duro: warning: --skip-acl-check: the Duro users' ACL "
                        "grants were not checked\n");
    } else {
        int status = cli_acl_check(ctx, c, &acl);
        if (status != CLI_OK) {
            duro_cluster_sync_free(c);
            return status;
        }
    }
    rc = load_all(c, &before, &loaded, err, sizeof(err));
    if (rc == DURO_EAUTH)
        snprintf(err + strlen(err), sizeof(err) - strlen(err),
                 " (init needs the admin role: duro operator acl --role "
                 "admin)");
    if (rc == 0) rc = ensure_meta(c, given, &parts, &created, err, sizeof(err));
    duro_cluster_sync_free(c);
    if (rc < 0) return cli_fail_err(rc, "%s", err);
    if (ctx->json) {
        cJSON *o = cli_checked(cJSON_CreateObject());
        cJSON_AddNumberToObject(o, "functionsVersion",
                                loaded ? duro_lua_version() : (double)before);
        cJSON_AddBoolToObject(o, "functionsLoaded", loaded);
        cJSON_AddNumberToObject(o, "partitions", parts);
        cJSON_AddBoolToObject(o, "metaCreated", created);
        cJSON_AddStringToObject(o, "aclCheck", acl);
        if (cluster) cJSON_AddNumberToObject(o, "clusterMasters", masters);
        return cli_print_owned(ctx, o, NULL);
    }
    print_text(before, loaded, parts, created);
    if (cluster)
        printf("Redis Cluster: %d masters, each with the library\n", masters);
    return CLI_OK;
}
