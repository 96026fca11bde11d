/* cluster.c: slots, routing keys, redirections and the slot map of a Redis
 * Cluster (cluster.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "duro/cluster.h"
#include "duro/errno.h"
#include "duro/keys.h"

int duro_cluster_slot(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len);
    if (open) {
        size_t rest = len - (size_t)(open - key) - 1;
        const char *close = memchr(open + 1, '}', rest);
        if (close && close > open + 1) {
            key = open + 1;
            len = (size_t)(close - key);
        }
    }
    return duro_crc16(key, len) & (DURO_CLUSTER_SLOTS - 1);
}

static bool word_is(const char *s, size_t len, const char *word)
{
    return len == strlen(word) && strncasecmp(s, word, len) == 0;
}

/* numkeys_key: FCALL fn numkeys key ... -> 3 when numkeys > 0. */
static int numkeys_key(int argc, const char *const *argv, const size_t *lens)
{
    if (argc < 4 || lens[2] == 0 || lens[2] > 9) return -1;
    long n = 0;
    for (size_t i = 0; i < lens[2]; i++) {
        if (argv[2][i] < '0' || argv[2][i] > '9') return -1;
        n = n * 10 + (argv[2][i] - '0');
    }
    return n > 0 ? 3 : -1;
}

int duro_cluster_argv_key(int argc, const char *const *argv, const size_t *lens)
{
    if (argc < 2) return -1;
    const char *cmd = argv[0];
    size_t cl = lens[0];
    if (word_is(cmd, cl, "FCALL") || word_is(cmd, cl, "FCALL_RO") ||
        word_is(cmd, cl, "EVAL") || word_is(cmd, cl, "EVALSHA") ||
        word_is(cmd, cl, "EVAL_RO") || word_is(cmd, cl, "EVALSHA_RO"))
        return numkeys_key(argc, argv, lens);
    if (word_is(cmd, cl, "XREADGROUP") || word_is(cmd, cl, "XREAD")) {
        for (int i = 1; i + 1 < argc; i++)
            if (word_is(argv[i], lens[i], "STREAMS")) return i + 1;
        return -1;
    }
    /* a subcommand, then the key */
    if (word_is(cmd, cl, "XGROUP") || word_is(cmd, cl, "XINFO") ||
        word_is(cmd, cl, "OBJECT") ||
        (word_is(cmd, cl, "MEMORY") && word_is(argv[1], lens[1], "USAGE")))
        return argc > 2 ? 2 : -1;
    static const char *const keyless[] = {
        "PING",     "FUNCTION", "INFO",      "WAIT",       "TIME",
        "CLUSTER",  "CLIENT",   "AUTH",      "SELECT",     "HELLO",
        "CONFIG",   "COMMAND",  "SUBSCRIBE", "PUBLISH",    "ASKING",
        "READONLY", "ROLE",     "SCRIPT",    "DBSIZE",     "ACL",
        "MEMORY",   "SLOWLOG",  "LATENCY",   "PSUBSCRIBE", "UNSUBSCRIBE",
        "SCAN",     "KEYS",     "FLUSHALL",  "FLUSHDB",    "PUBSUB",
        "ECHO",     "QUIT",     "SHUTDOWN",  "DEBUG",      "MONITOR"};
    for (size_t i = 0; i < sizeof(keyless) / sizeof(keyless[0]); i++)
        if (word_is(cmd, cl, keyless[i])) return -1;
    return 1; /* SPUBLISH and SSUBSCRIBE route by their channel, argv[1] */
}

int duro_cluster_argv_slot(const duro_argv *a)
{
    int k = duro_cluster_argv_key(a->argc, a->argv, a->lens);
    return k < 0 ? -1 : duro_cluster_slot(a->argv[k], a->lens[k]);
}

bool duro_cluster_parse_redirect(const char *errstr, duro_cluster_redirect *out)
{
    if (!errstr) return false;
    bool ask;
    if (strncmp(errstr, "MOVED ", 6) == 0)
        ask = false;
    else if (strncmp(errstr, "ASK ", 4) == 0)
        ask = true;
    else
        return false;
    const char *p = errstr + (ask ? 4 : 6);
    char *end;
    long slot = strtol(p, &end, 10);
    if (end == p || *end != ' ' || slot < 0 || slot >= DURO_CLUSTER_SLOTS)
        return false;
    const char *hp = end + 1;
    const char *colon = strrchr(hp, ':');
    if (!colon) return false;
    size_t hl = (size_t)(colon - hp);
    long port = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || port < 1 || port > 65535) return false;
    if (hl >= sizeof(out->addr.host)) return false;
    memset(out, 0, sizeof(*out));
    out->ask = ask;
    out->slot = (int)slot;
    memcpy(out->addr.host, hp, hl);
    out->addr.host[hl] = '\0';
    out->addr.port = (int)port;
    return true;
}

int duro_cluster_map_node(duro_cluster_map *m, const duro_redis_addr *addr)
{
    for (int i = 0; i < m->nodes; i++)
        if (m->node[i].port == addr->port &&
            strcmp(m->node[i].host, addr->host) == 0)
            return i;
    if (m->nodes == DURO_CLUSTER_NODES_MAX) return -1;
    m->node[m->nodes] = *addr;
    return m->nodes++;
}

static int map_fail(char *err, size_t errsize, const char *why)
{
    if (err && errsize) snprintf(err, errsize, "CLUSTER SLOTS: %s", why);
    return DURO_EPROTO;
}

/* A CLUSTER SLOTS entry: [start, end, [host, port, id, ...], replicas...]. */
int duro_cluster_map_parse(duro_cluster_map *m, const redisReply *reply,
                           const duro_redis_addr *from, char *err,
                           size_t errsize)
{
    if (!reply) return map_fail(err, errsize, "no reply");
    if (reply->type == REDIS_REPLY_ERROR)
        return map_fail(err, errsize, reply->str);
    if (reply->type != REDIS_REPLY_ARRAY)
        return map_fail(err, errsize, "not an array");
    m->nodes = 0;
    for (int s = 0; s < DURO_CLUSTER_SLOTS; s++)
        m->slot_node[s] = -1;
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *e = reply->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
            e->element[0]->type != REDIS_REPLY_INTEGER ||
            e->element[1]->type != REDIS_REPLY_INTEGER ||
            e->element[2]->type != REDIS_REPLY_ARRAY ||
            e->element[2]->elements < 2)
            return map_fail(err, errsize, "malformed slot range");
        long long lo = e->element[0]->integer, hi = e->element[1]->integer;
        const redisReply *h = e->element[2]->element[0];
        const redisReply *p = e->element[2]->element[1];
        if (lo < 0 || hi >= DURO_CLUSTER_SLOTS || lo > hi ||
            p->type != REDIS_REPLY_INTEGER || p->integer < 1 ||
            p->integer > 65535 ||
            (h->type != REDIS_REPLY_STRING && h->type != REDIS_REPLY_NIL))
            return map_fail(err, errsize, "malformed master");
        duro_redis_addr a = {.port = (int)p->integer};
        const char *host = h->type == REDIS_REPLY_STRING ? h->str : "";
        if (!*host || strcmp(host, "?") == 0) host = from ? from->host : "";
        if (strlen(host) >= sizeof(a.host))
            return map_fail(err, errsize, "host too long");
        strcpy(a.host, host);
        int n = duro_cluster_map_node(m, &a);
        if (n < 0) return map_fail(err, errsize, "too many masters");
        for (long long s = lo; s <= hi; s++)
            m->slot_node[s] = (short)n;
    }
    return 0;
}

bool duro_cluster_reply_disabled(const redisReply *reply)
{
    return reply && reply->type == REDIS_REPLY_ERROR &&
           strstr(reply->str, "cluster support disabled") != NULL;
}
