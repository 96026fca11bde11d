/* connect.c: a worker's start against Redis: waiting for it, loading the
 * Functions, learning the partition count and making the task streams and
 * groups; and the signals that may stop it meanwhile, before its loop
 * exists.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "duro/cluster_sync.h"
#include "duro/errno.h"
#include "duro/log.h"
#include "duro/redis.h"
#include "worker_internal.h"

/* early_stop is set by SIGTERM/SIGINT before the loop (and its own signal
 * handling) exists: while connecting or waiting for Redis. */
static volatile sig_atomic_t early_stop;

static void on_early_signal(int sig)
{
    early_stop = 1;
}

void duro__catch_early_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_early_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

bool duro__early_stop(void)
{
    return early_stop != 0;
}

/* namespace_known: 0 for `default` or a registered namespace, else
 * DURO_ENOTFOUND (fatal, as Temporal's worker refuses an unknown
 * namespace) or DURO_ECONN. */
static int namespace_known(duro_worker *w, redisContext *c, char *err,
                           size_t errsize)
{
    if (strcmp(w->ks.ns, DURO_DEFAULT_NAMESPACE) == 0) return 0;
    char key[DURO_SHORT_KEY_MAX];
    redisReply *r = redisCommand(
        c, "EXISTS %s", duro_key_namespace(key, sizeof(key), w->ks.ns));
    if (!r) return DURO_ECONN;
    int rc = 0;
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errsize, "%s", r->str);
        rc = duro_redis_error_code(r->str);
    } else if (r->type != REDIS_REPLY_INTEGER || r->integer != 1) {
        snprintf(err, errsize,
                 "namespace %s not found (create it: duro operator namespace "
                 "create -n %s)",
                 w->ks.ns, w->ks.ns);
        rc = DURO_ENOTFOUND;
    }
    freeReplyObject(r);
    return rc;
}

/* library_code: the code of the library Redis has (FUNCTION LIST
 * LIBRARYNAME duro WITHCODE), a malloc'd copy, or NULL. */
static char *library_code(redisContext *c)
{
    redisReply *r = redisCommand(c, "FUNCTION LIST LIBRARYNAME duro WITHCODE");
    char *code = NULL;
    const redisReply *lib =
        r && r->type == REDIS_REPLY_ARRAY && r->elements == 1 ? r->element[0]
                                                              : NULL;
    for (size_t i = 0; lib && lib->type == REDIS_REPLY_ARRAY &&
                       i + 1 < lib->elements && !code;
         i += 2)
        if (lib->element[i]->type == REDIS_REPLY_STRING &&
            strcmp(lib->element[i]->str, "library_code") == 0 &&
            lib->element[i + 1]->type == REDIS_REPLY_STRING)
            code = strdup(lib->element[i + 1]->str);
    if (r) freeReplyObject(r);
    return code;
}

/* load_sharded_wake: DURO_READ_PER_PARTITION=1 on one node turns on the
 * wake-ups the Functions send the workers on a Redis Cluster
 * (WAKE_WORKERS), in the library Redis has: its text with that line
 * flipped, so that a test environment's clock seam stays, and with
 * SHARDED_WAKE left alone, so that clients keep the classic channels. A
 * user who may not load it (NOPERM) keeps what it finds: the sweep reads
 * then. */
static void load_sharded_wake(redisContext *c)
{
    static const char off[] = "local WAKE_WORKERS = SHARDED_WAKE";
    static const char on[] = "local WAKE_WORKERS = true        ";
    char *code = library_code(c), *at = code ? strstr(code, off) : NULL;
    bool done =
        code && (strstr(code, on) || strstr(code, "local SHARDED_WAKE = true"));
    char why[256] = "the library has no WAKE_WORKERS line";
    if (!code) snprintf(why, sizeof(why), "its code is unreadable");
    if (at && !done) {
        memcpy(at, on, sizeof(on) - 1); /* the same length */
        redisReply *r = redisCommand(c, "FUNCTION LOAD REPLACE %s", code);
        done = r && r->type != REDIS_REPLY_ERROR;
        snprintf(why, sizeof(why), "%s", r ? r->str : c->errstr);
        if (r) freeReplyObject(r);
    }
    if (done)
        duro_info("FUNCTIONS library=duro sharded_wake=on");
    else
        duro_warn("FUNCTIONS sharded_wake=off err=\"%s\": woken by the sweep "
                  "only",
                  why);
    free(code);
}

int duro__worker_connect(duro_worker *w, char *errbuf, size_t errsize)
{
    char err[256], last[256] = "";
    int64_t backoff = 100;
    while (!atomic_load(&w->stop_requested) && !early_stop) {
        /* one server: one connection, as ever; a cluster: the library
         * on every master (cluster_sync.h) */
        duro_cluster_sync *cs = NULL;
        int rc = duro_cluster_sync_open(&w->url, 5000, &cs, err, sizeof(err));
        redisContext *c = cs ? duro_cluster_sync_context(cs, -1) : NULL;
        if (cs && !c) {
            snprintf(err, sizeof(err), "%s", duro_cluster_sync_errstr(cs));
            rc = DURO_ECONN;
        }
        if (cs && duro_cluster_sync_is_cluster(cs)) w->url.cluster = 1;
        if (c) {
            rc = duro_cluster_sync_setup(
                cs,
                w->partitions ? w->partitions : DURO_PARTITIONS_ADOPT_OR_INIT,
                &w->partitions, err, sizeof(err));
            w->ks.partitions = w->partitions;
            if (rc == 0) rc = namespace_known(w, c, err, sizeof(err));
            if (rc == 0) {
                duro__levels_free(w); /* sized by the partitions */
                rc = duro__stream_keys_make(w);
                if (rc) snprintf(err, sizeof(err), "%s", duro_strerror(rc));
            }
            if (rc == 0) {
                rc = duro__groups_create(w, cs);
                if (rc)
                    snprintf(err, sizeof(err), "%s",
                             duro_cluster_sync_errstr(cs));
            }
            if (rc == 0 && w->force_per_partition && !w->url.cluster)
                load_sharded_wake(c);
        }
        duro_cluster_sync_free(cs);
        if (rc == 0) return 0;
        if (!duro_err_is_transient(rc) && rc != DURO_EREDIS) {
            duro_error("REDIS FATAL addr=%s:%d err=%s: %s (not retrying)",
                       w->url.host, w->url.port, duro_err_name(rc), err);
            snprintf(errbuf, errsize, "redis %s:%d: %s", w->url.host,
                     w->url.port, err);
            return rc;
        }
        if (early_stop) break;
        if (strcmp(err, last) != 0) {
            duro_warn("REDIS-WAIT url=%s:%d err=\"%s\" (retrying)", w->url.host,
                      w->url.port, err);
            snprintf(last, sizeof(last), "%s", err);
        }
        sleep_ms(backoff);
        backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
    }
    snprintf(errbuf, errsize, "stopped before Redis answered");
    return DURO_ECONN;
}
