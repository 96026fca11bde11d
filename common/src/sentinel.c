/* sentinel.c: finding the master through Redis Sentinel (sentinel.h). */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include "duro/config.h"
#include "duro/errno.h"
#include "duro/log.h"
#include "sentinel.h"

static atomic_int sentinel_mode;

int duro__sentinel_mode(void)
{
    return atomic_load(&sentinel_mode);
}

void duro__sentinel_mode_set(int on)
{
    atomic_store(&sentinel_mode, on);
}

int duro__role_is_master(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
           r->element[0]->type == REDIS_REPLY_STRING &&
           strcmp(r->element[0]->str, "master") == 0;
}

/* ask one sentinel: 1 with the address in *out, 0 when it does not know
 * the master, -1 when it cannot be asked (why in err). */
static int ask(const duro_redis_addr *s, const char *master,
               duro_redis_addr *out, char *err, size_t errsize)
{
    struct timeval tv = {0, (long)DURO_SENTINEL_TIMEOUT_MS * 1000};
    redisContext *c = redisConnectWithTimeout(s->host, s->port, tv);
    if (!c || c->err) {
        snprintf(err, errsize, "sentinel %s:%d: %s", s->host, s->port,
                 c ? c->errstr : "out of memory");
        if (c) redisFree(c);
        return -1;
    }
    redisSetTimeout(c, tv);
    const char *pass = duro_env("DURO_REDIS_SENTINEL_PASSWORD", NULL);
    if (pass) {
        redisReply *a = redisCommand(c, "AUTH %s", pass);
        freeReplyObject(a);
    }
    redisReply *r =
        redisCommand(c, "SENTINEL get-master-addr-by-name %s", master);
    int found = -1, why = errno;
    if (!r && c->err == REDIS_ERR_IO && (why == EAGAIN || why == EWOULDBLOCK)) {
        snprintf(err, errsize, "sentinel %s:%d did not answer within %dms",
                 s->host, s->port, DURO_SENTINEL_TIMEOUT_MS);
    } else if (!r) {
        snprintf(err, errsize, "sentinel %s:%d: %s", s->host, s->port,
                 c->errstr);
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
               r->element[0]->type == REDIS_REPLY_STRING &&
               r->element[1]->type == REDIS_REPLY_STRING &&
               r->element[0]->len > 0 &&
               r->element[0]->len < sizeof(out->host)) {
        memcpy(out->host, r->element[0]->str, r->element[0]->len + 1);
        char *end;
        long port = strtol(r->element[1]->str, &end, 10);
        out->port = (int)port;
        found = *end == '\0' && port > 0 && port <= 65535 ? 1 : -1;
        if (found < 0) /* else the message would be an earlier sentinel's */
            snprintf(err, errsize,
                     "sentinel %s:%d named master %s at a bad port \"%.16s\"",
                     s->host, s->port, master, r->element[1]->str);
    } else if (r->type == REDIS_REPLY_NIL) {
        snprintf(err, errsize, "sentinel %s:%d does not know master %s",
                 s->host, s->port, master);
        found = 0;
    } else {
        snprintf(err, errsize, "sentinel %s:%d: %s", s->host, s->port,
                 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    }
    freeReplyObject(r);
    redisFree(c);
    return found;
}

int duro__sentinel_resolve(duro_redis_url *url, char *err, size_t errsize)
{
    int unknown = 0;
    char why[300] = "no sentinel given";
    for (int i = 0; i < url->sentinels; i++) {
        duro_redis_addr got;
        int rc = ask(&url->sentinel[i], url->sentinel_master, &got, why,
                     sizeof(why));
        if (rc == 0) unknown++;
        if (rc != 1) continue;
        if (strcmp(got.host, url->host) != 0 || got.port != url->port)
            duro_info("SENTINEL MASTER name=%s addr=%s:%d",
                      url->sentinel_master, got.host, got.port);
        memcpy(url->host, got.host, sizeof(url->host));
        url->port = got.port;
        if (i > 0) { /* ask the one that answered first next time */
            duro_redis_addr s = url->sentinel[i];
            memmove(&url->sentinel[1], &url->sentinel[0],
                    (size_t)i * sizeof(s));
            url->sentinel[0] = s;
        }
        return 0;
    }
    snprintf(err, errsize, "no sentinel gave the address of master %s: %s",
             url->sentinel_master, why);
    return unknown == url->sentinels && unknown ? DURO_ENOTFOUND : DURO_ECONN;
}
