/* config.c: the Redis URL parser and environment lookups shared by programs. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "duro/config.h"
#include "duro/duration.h"
#include "duro/errno.h"

static int fail(char *err, size_t errsize, const char *msg, const char *url)
{
    char shown[256];
    if (err && errsize)
        snprintf(err, errsize, "bad redis url \"%s\": %s",
                 duro_redis_url_redact(url, shown, sizeof(shown)), msg);
    return DURO_EINVAL;
}

char *duro_redis_url_redact(const char *url, char *buf, size_t size)
{
    if (!size) return buf;
    if (!url) url = "";
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    const char *at = strrchr(p, '@');
    const char *colon = at ? memchr(p, ':', (size_t)(at - p)) : NULL;
    if (!at) {
        snprintf(buf, size, "%s", url);
    } else if (colon) { /* user:password@ */
        snprintf(buf, size, "%.*s:***%s", (int)(colon - url), url, at);
    } else { /* password@ */
        snprintf(buf, size, "%.*s***%s", (int)(p - url), url, at);
    }
    return buf;
}

/* password_from_env fills a password the URL did not give from
 * $DURO_REDIS_PASSWORD_FILE (the file's content, one trailing newline
 * stripped), else $DURO_REDIS_PASSWORD. */
static int password_from_env(duro_redis_url *out, char *err, size_t errsize)
{
    const char *path = duro_env("DURO_REDIS_PASSWORD_FILE", NULL);
    const char *pw = duro_env("DURO_REDIS_PASSWORD", NULL);
    if (out->password[0] || (!path && !pw)) return 0;
    if (!path) {
        if (strlen(pw) >= sizeof(out->password)) {
            snprintf(err, errsize, "DURO_REDIS_PASSWORD is too long (max %zu)",
                     sizeof(out->password) - 1);
            return DURO_EINVAL;
        }
        snprintf(out->password, sizeof(out->password), "%s", pw);
        return 0;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errsize, "DURO_REDIS_PASSWORD_FILE %.200s: %s", path,
                 strerror(errno));
        return DURO_EINVAL;
    }
    char buf[sizeof(out->password) + 2];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    int bad = ferror(f) ? (errno ? errno : EIO) : 0; /* EISDIR: a directory */
    fclose(f);
    buf[n] = '\0';
    if (n > 0 && buf[n - 1] == '\n') buf[--n] = '\0';
    if (n > 0 && buf[n - 1] == '\r') buf[--n] = '\0';
    if (bad || n == 0 || n >= sizeof(out->password) || strlen(buf) != n) {
        snprintf(err, errsize, "DURO_REDIS_PASSWORD_FILE %.200s: %s", path,
                 bad                ? strerror(bad)
                 : n == 0           ? "empty"
                 : strlen(buf) != n ? "holds a NUL byte"
                                    : "password too long");
        return DURO_EINVAL;
    }
    memcpy(out->password, buf, n + 1);
    return 0;
}

/* env_copy copies $name (if set) into out; DURO_EINVAL when too long. */
static int env_copy(const char *name, char *out, size_t size, char *err,
                    size_t errsize)
{
    const char *v = duro_env(name, NULL);
    if (!v) return 0;
    if (strlen(v) >= size) {
        snprintf(err, errsize, "%s is too long (max %zu)", name, size - 1);
        return DURO_EINVAL;
    }
    memcpy(out, v, strlen(v) + 1);
    return 0;
}

/* tls_from_env reads the DURO_REDIS_TLS_* settings of a rediss:// URL.
 * A certificate without its key (or the reverse) is refused here rather
 * than at the first handshake. */
static int tls_from_env(duro_redis_url *out, char *err, size_t errsize)
{
    if (!out->tls) return 0;
    int rc = env_copy("DURO_REDIS_TLS_CA", out->tls_ca, sizeof(out->tls_ca),
                      err, errsize);
    if (!rc)
        rc = env_copy("DURO_REDIS_TLS_CERT", out->tls_cert,
                      sizeof(out->tls_cert), err, errsize);
    if (!rc)
        rc = env_copy("DURO_REDIS_TLS_KEY", out->tls_key, sizeof(out->tls_key),
                      err, errsize);
    if (!rc)
        rc = env_copy("DURO_REDIS_TLS_SERVER_NAME", out->tls_server_name,
                      sizeof(out->tls_server_name), err, errsize);
    if (rc) return rc;
    if (!out->tls_cert[0] != !out->tls_key[0]) {
        snprintf(err, errsize,
                 "DURO_REDIS_TLS_CERT and DURO_REDIS_TLS_KEY "
                 "go together: set both or neither");
        return DURO_EINVAL;
    }
    /* only "1" turns verification off: a "false" or "no" must not */
    const char *ins = duro_env("DURO_REDIS_TLS_INSECURE", "0");
    if (strcmp(ins, "0") != 0 && strcmp(ins, "1") != 0) {
        snprintf(err, errsize, "DURO_REDIS_TLS_INSECURE must be 0 or 1");
        return DURO_EINVAL;
    }
    out->tls_insecure = ins[0] == '1';
    return 0;
}

/* wait_from_env reads DURO_REDIS_WAIT and DURO_REDIS_WAIT_TIMEOUT. */
static int wait_from_env(duro_redis_url *out, char *err, size_t errsize)
{
    const char *n = duro_env("DURO_REDIS_WAIT", "0");
    char *end;
    long v = strtol(n, &end, 10);
    if (*end || end == n || v < 0 || v > DURO_REDIS_WAIT_MAX) {
        snprintf(err, errsize, "DURO_REDIS_WAIT must be 0..%d replicas",
                 DURO_REDIS_WAIT_MAX);
        return DURO_EINVAL;
    }
    out->wait_replicas = (int)v;
    int64_t ms = DURO_REDIS_WAIT_TIMEOUT_MS;
    const char *t = duro_env("DURO_REDIS_WAIT_TIMEOUT", NULL);
    if (t && (duro_duration_parse(t, &ms) != 0 || ms < 1 || ms > 600000)) {
        snprintf(err, errsize,
                 "DURO_REDIS_WAIT_TIMEOUT must be a duration of 1ms..10m "
                 "(e.g. 500ms, 2s)");
        return DURO_EINVAL;
    }
    out->wait_timeout_ms = (int)ms;
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* decode copies s[0..len) into out, undoing %XX escapes. -1 if it does not
 * fit or an escape is malformed or is %00. */
static int decode(const char *s, size_t len, char *out, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= len) return -1;
            int hi = hexval(s[i + 1]);
            int lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0) return -1;
            c = (char)(hi * 16 + lo);
            i += 2;
            if (c == '\0') return -1; /* %00 would cut the string short */
        }
        if (o + 1 >= size) return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

/* parse_int: all of s[0..len) as a decimal in [lo, hi], else -1. */
static int parse_int(const char *s, size_t len, long lo, long hi, int *out)
{
    if (len == 0 || len > 9) return -1;
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

/* parse_userinfo: "user:password" or, as redis-cli reads it, "password". */
static int parse_userinfo(const char *s, size_t len, duro_redis_url *out)
{
    const char *colon = memchr(s, ':', len);
    if (!colon) return decode(s, len, out->password, sizeof(out->password));
    if (decode(s, (size_t)(colon - s), out->user, sizeof(out->user))) return -1;
    return decode(colon + 1, len - (size_t)(colon - s) - 1, out->password,
                  sizeof(out->password));
}

/* host_ok: no byte of a host name that a URL does not allow there. */
static bool host_ok(const char *h, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)h[i] <= ' ' || strchr("@?#[]/", h[i])) return false;
    return true;
}

/* parse_addrs reads "h1[:port],[v6][:port],..." (p up to end) into
 * addr[*n] (what: "sentinel" or "seed", for the messages). */
static int parse_addrs(const char *p, const char *end, duro_redis_addr *addr,
                       int *n, int max, int defport, const char *what,
                       char *err, size_t errsize, const char *url)
{
    char why[96];
    const char *item = p;
    while (item < end) {
        const char *comma = memchr(item, ',', (size_t)(end - item));
        const char *iend = comma ? comma : end;
        if (*n == max) {
            snprintf(why, sizeof(why), "more than %d %ss", max, what);
            return fail(err, errsize, why, url);
        }
        duro_redis_addr *a = &addr[*n];
        const char *host = item, *hend, *colon;
        if (*item == '[') { /* [ipv6]:port */
            const char *rb = memchr(item, ']', (size_t)(iend - item));
            host = item + 1;
            hend = rb ? rb : host;
            colon = rb && rb + 1 < iend ? rb + 1 : NULL;
            if (!rb || (colon && *colon != ':')) {
                snprintf(why, sizeof(why), "a %s's [ipv6] host is malformed",
                         what);
                return fail(err, errsize, why, url);
            }
        } else {
            colon = memchr(item, ':', (size_t)(iend - item));
            hend = colon ? colon : iend;
        }
        size_t hl = (size_t)(hend - host);
        if (hl == 0 || hl >= sizeof(a->host) || !host_ok(host, hl)) {
            snprintf(why, sizeof(why),
                     "a %s's host is empty, too long or has a bad character",
                     what);
            return fail(err, errsize, why, url);
        }
        memcpy(a->host, host, hl);
        a->host[hl] = '\0';
        a->port = defport;
        if (colon && parse_int(colon + 1, (size_t)(iend - colon - 1), 1, 65535,
                               &a->port)) {
            snprintf(why, sizeof(why), "a %s's port must be 1..65535", what);
            return fail(err, errsize, why, url);
        }
        (*n)++;
        item = iend + 1;
    }
    if (*n == 0) {
        snprintf(why, sizeof(why), "needs at least one %s", what);
        return fail(err, errsize, why, url);
    }
    return 0;
}

/* parse_sentinels reads "s1[:port],s2,.../master[/db]" (after the
 * userinfo) into out. */
static int parse_sentinels(const char *p, duro_redis_url *out, char *err,
                           size_t errsize, const char *url)
{
    const char *slash = strchr(p, '/');
    if (!slash || !slash[1])
        return fail(err, errsize,
                    "redis+sentinel:// needs the master's name: "
                    "redis+sentinel://host:26379,.../mymaster",
                    url);
    int rc =
        parse_addrs(p, slash, out->sentinel, &out->sentinels,
                    DURO_SENTINELS_MAX, 26379, "sentinel", err, errsize, url);
    if (rc) return rc;
    const char *name = slash + 1;
    const char *db = strchr(name, '/');
    size_t nl = db ? (size_t)(db - name) : strlen(name);
    if (nl == 0 || nl >= sizeof(out->sentinel_master))
        return fail(err, errsize, "the master's name is empty or too long",
                    url);
    memcpy(out->sentinel_master, name, nl);
    out->sentinel_master[nl] = '\0';
    if (db && db[1] && parse_int(db + 1, strlen(db + 1), 0, INT_MAX, &out->db))
        return fail(err, errsize, "the database must be a non-negative integer",
                    url);
    /* until the first connect asks them, the first sentinel stands in */
    memcpy(out->host, out->sentinel[0].host, sizeof(out->host));
    out->port = out->sentinel[0].port;
    return 0;
}

/* parse_seeds reads a cluster's "h1[:port],h2,..." (after the userinfo;
 * no database: a cluster has only 0) into out. */
static int parse_seeds(const char *p, duro_redis_url *out, char *err,
                       size_t errsize, const char *url)
{
    const char *end = p + strcspn(p, "/");
    if (*end && end[1] && strcmp(end, "/0") != 0)
        return fail(err, errsize,
                    "a Redis Cluster has only database 0: "
                    "redis+cluster://host:port,...",
                    url);
    int rc = parse_addrs(p, end, out->seed, &out->seeds, DURO_CLUSTER_SEEDS_MAX,
                         6379, "seed", err, errsize, url);
    if (rc) return rc;
    out->cluster = 1;
    memcpy(out->host, out->seed[0].host, sizeof(out->host));
    out->port = out->seed[0].port;
    return 0;
}

int duro_redis_url_parse(const char *url, duro_redis_url *out, char *err,
                         size_t errsize)
{
    if (!url || !*url) url = DURO_DEFAULT_REDIS_URL;
    memset(out, 0, sizeof(*out));
    out->port = 6379;
    const char *p = url;
    const char *scheme_end = strstr(p, "://");
    if (scheme_end) {
        size_t sl = (size_t)(scheme_end - p);
        if (sl == 6 && strncasecmp(p, "rediss", 6) == 0) out->tls = 1;
        if (sl == 14 && strncasecmp(p, "redis+sentinel", 14) == 0)
            out->sentinels = -1; /* counted below */
        if (sl == 13 && strncasecmp(p, "redis+cluster", 13) == 0)
            out->seeds = -1; /* counted below */
        if (sl == 14 && strncasecmp(p, "rediss+cluster", 14) == 0)
            out->tls = out->seeds = -1;
        if (sl == 4 && strncasecmp(p, "unix", 4) == 0)
            return fail(err, errsize,
                        "unix sockets are not supported; use redis://host:port",
                        url);
        if (!out->tls && !out->sentinels && !out->seeds &&
            (sl != 5 || strncasecmp(p, "redis", 5) != 0))
            return fail(err, errsize,
                        "the scheme must be redis://, rediss://, "
                        "redis+sentinel://, redis+cluster:// or "
                        "rediss+cluster://",
                        url);
        if (out->tls < 0) out->tls = 1;
        p = scheme_end + 3;
    }
    /* The authority ends at the first '/' after the last '@' (passwords may
     * hold '/' only percent-encoded, but '@' is tolerated). */
    const char *at = strrchr(p, '@');
    if (at) {
        if (parse_userinfo(p, (size_t)(at - p), out))
            return fail(err, errsize, "bad or too long user or password", url);
        p = at + 1;
    }
    if (strpbrk(p, "?#"))
        return fail(err, errsize,
                    "query options (?...) are not supported: give the "
                    "database as /N and the rest in DURO_REDIS_* variables",
                    url);
    if (out->sentinels) {
        out->sentinels = 0;
        int rc = parse_sentinels(p, out, err, errsize, url);
        if (!rc) rc = password_from_env(out, err, errsize);
        return rc ? rc : wait_from_env(out, err, errsize);
    }
    if (out->seeds) {
        out->seeds = 0;
        int rc = parse_seeds(p, out, err, errsize, url);
        if (!rc) rc = password_from_env(out, err, errsize);
        if (!rc) rc = wait_from_env(out, err, errsize);
        return rc ? rc : tls_from_env(out, err, errsize);
    }
    const char *slash = strchr(p, '/');
    const char *hend = slash ? slash : p + strlen(p);
    const char *hp_end = hend; /* end of host[:port] */
    const char *host = p, *host_end, *port = NULL;
    if (*p == '[') { /* [ipv6]:port */
        const char *rb = memchr(p, ']', (size_t)(hend - p));
        if (!rb) return fail(err, errsize, "unterminated [ipv6] host", url);
        host = p + 1;
        host_end = rb;
        if (rb + 1 < hend) {
            if (rb[1] != ':') return fail(err, errsize, "garbage after ]", url);
            port = rb + 2;
        }
    } else {
        const char *colon = memchr(p, ':', (size_t)(hend - p));
        host_end = colon ? colon : hend;
        if (colon) port = colon + 1;
    }
    size_t hl = (size_t)(host_end - host);
    if (hl == 0) {
        snprintf(out->host, sizeof(out->host), "127.0.0.1");
    } else {
        if (hl >= sizeof(out->host))
            return fail(err, errsize, "host too long", url);
        memcpy(out->host, host, hl);
        out->host[hl] = '\0';
        for (size_t i = 0; i < hl; i++)
            if ((unsigned char)host[i] <= ' ' || host[i] == '@' ||
                host[i] == '?' || host[i] == '#')
                return fail(err, errsize, "bad character in host", url);
    }
    if (port && parse_int(port, (size_t)(hp_end - port), 1, 65535, &out->port))
        return fail(err, errsize, "the port must be 1..65535", url);
    if (slash && slash[1] &&
        parse_int(slash + 1, strlen(slash + 1), 0, INT_MAX, &out->db))
        return fail(err, errsize, "the database must be a non-negative integer",
                    url);
    int rc = password_from_env(out, err, errsize);
    if (!rc) rc = wait_from_env(out, err, errsize);
    return rc ? rc : tls_from_env(out, err, errsize);
}

const char *duro_env(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && *v ? v : def;
}

const char *duro_redis_url_default(void)
{
    return duro_env("DURO_REDIS_URL", DURO_DEFAULT_REDIS_URL);
}
