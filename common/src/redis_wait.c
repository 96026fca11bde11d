/* redis_wait.c: replica-acknowledged writes (redis_wait.h). */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "duro/log.h"
#include "redis_wait.h"

static atomic_int wait_replicas;
static atomic_int wait_timeout_ms = DURO_REDIS_WAIT_TIMEOUT_MS;

void duro__redis_wait_configure(const duro_redis_url *url)
{
    atomic_store(&wait_timeout_ms, url->wait_timeout_ms > 0
                                       ? url->wait_timeout_ms
                                       : DURO_REDIS_WAIT_TIMEOUT_MS);
    atomic_store(&wait_replicas, url->wait_replicas);
}

int duro__redis_wait_replicas(int *timeout_ms)
{
    *timeout_ms = atomic_load(&wait_timeout_ms);
    return atomic_load(&wait_replicas);
}

bool duro__redis_wait_wanted(int argc, const char *const *argv,
                             const size_t *lens)
{
    return argc >= 1 && lens[0] == 5 && strncasecmp(argv[0], "FCALL", 5) == 0;
}

/* reply_error: a new error reply holding msg, or NULL. */
static redisReply *reply_error(const char *msg)
{
    redisReply *r = calloc(1, sizeof(*r));
    if (!r) return NULL;
    r->type = REDIS_REPLY_ERROR;
    r->len = strlen(msg);
    r->str = malloc(r->len + 1);
    if (!r->str) {
        free(r);
        return NULL;
    }
    memcpy(r->str, msg, r->len + 1);
    return r;
}

redisReply *duro__redis_wait_verdict(redisReply *fcall, redisReply *wait,
                                     int want, int timeout_ms)
{
    if (!fcall || fcall->type == REDIS_REPLY_ERROR) {
        if (wait) freeReplyObject(wait);
        return fcall;
    }
    long long got = -1;
    char why[160] = "";
    if (!wait)
        snprintf(why, sizeof(why), "no answer to WAIT");
    else if (wait->type == REDIS_REPLY_INTEGER)
        got = wait->integer;
    else
        snprintf(why, sizeof(why), "WAIT failed: %.120s",
                 wait->type == REDIS_REPLY_ERROR && wait->str ? wait->str
                                                              : "bad reply");
    if (wait) freeReplyObject(wait);
    if (got >= want) return fcall;
    char msg[400];
    if (got >= 0)
        snprintf(msg, sizeof(msg),
                 "NOREPLICAS the write is on the primary but %lld of %d "
                 "replicas confirmed it within %dms (DURO_REDIS_WAIT): it "
                 "may be lost in a failover; send it again",
                 got, want, timeout_ms);
    else
        snprintf(msg, sizeof(msg),
                 "NOREPLICAS the write is on the primary but not confirmed "
                 "by replicas (%s): it may be lost in a failover; send it "
                 "again",
                 why);
    duro_warn_limited(NULL, "WAIT SHORT replicas=%lld want=%d timeout=%dms",
                      got, want, timeout_ms);
    freeReplyObject(fcall);
    return reply_error(msg); /* NULL (no memory): as a lost connection */
}

redisReply *duro__reply_dup(const redisReply *r)
{
    redisReply *d = calloc(1, sizeof(*d));
    if (!d) return NULL;
    d->type = r->type;
    d->integer = r->integer;
    if (r->str) {
        d->len = r->len;
        d->str = malloc(r->len + 1);
        if (!d->str) goto fail;
        memcpy(d->str, r->str, r->len);
        d->str[r->len] = '\0';
    }
    if (r->element && r->elements) {
        d->element = calloc(r->elements, sizeof(redisReply *));
        if (!d->element) goto fail;
        d->elements = r->elements;
        for (size_t i = 0; i < r->elements; i++)
            if (r->element[i] &&
                !(d->element[i] = duro__reply_dup(r->element[i])))
                goto fail;
    }
    return d;
fail:
    freeReplyObject(d);
    return NULL;
}
