/* keys.c: Redis key names, partitions and timer members (docs/internals.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/errno.h"
#include "duro/keys.h"
#include "duro/log.h"

/* ---- Partitions ---- */

uint16_t duro_crc16(const char *buf, size_t len)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((unsigned char)buf[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021)
                                 : (uint16_t)(crc << 1);
    }
    return crc;
}

int duro_partition_of(const char *id, int partitions)
{
    duro_assert(id != NULL && partitions > 0);
    return (int)(duro_crc16(id, strlen(id)) % (unsigned)partitions);
}

/* ---- Namespaces ---- */

int duro_namespace_check(const char *name, char *err, size_t errsize)
{
    const char *why = NULL;
    size_t n = name ? strnlen(name, DURO_NS_MAX + 1) : 0;
    if (n == 0)
        why = "must not be empty";
    else if (n > DURO_NS_MAX)
        why = "is longer than 64 bytes";
    for (size_t i = 0; !why && i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            why = "has a character outside [A-Za-z0-9._-]";
    }
    if (!why) return 0;
    if (err && errsize)
        snprintf(err, errsize, "namespace \"%.*s\" %s", (int)(n > 64 ? 64 : n),
                 name ? name : "", why);
    return DURO_EINVAL;
}

int duro_keyspace_init(duro_keyspace *ks, const char *ns, int partitions)
{
    int rc = 0;
    if (!ns || !*ns) ns = DURO_DEFAULT_NAMESPACE;
    if (duro_namespace_check(ns, NULL, 0)) {
        ns = DURO_DEFAULT_NAMESPACE;
        rc = DURO_EINVAL;
    }
    snprintf(ks->ns, sizeof(ks->ns), "%s", ns);
    if (strcmp(ns, DURO_DEFAULT_NAMESPACE) == 0)
        snprintf(ks->prefix, sizeof(ks->prefix), "duro:");
    else
        snprintf(ks->prefix, sizeof(ks->prefix), "duro:ns:%s:", ns);
    ks->partitions = partitions;
    return rc;
}

const char *duro_namespace_default(const char *explicit_ns)
{
    if (explicit_ns && *explicit_ns) return explicit_ns;
    const char *env = getenv("DURO_NAMESPACE");
    return env && *env ? env : DURO_DEFAULT_NAMESPACE;
}

/* ---- Key names ---- */

/* fmt_key writes a key and asserts it fit: ids and names are checked
 * (duro_id_check, duro_name_check) before they reach here. */
static char *fmt_key(char *buf, size_t size, const duro_keyspace *ks,
                     int partition, const char *kind, const char *name)
{
    int n =
        name ? snprintf(buf, size, "%s{p%d}:%s:%s", ks->prefix, partition, kind,
                        name)
             : snprintf(buf, size, "%s{p%d}:%s", ks->prefix, partition, kind);
    duro_assert(n >= 0 && (size_t)n < size);
    return buf;
}

void duro_wf_keys_init(duro_wf_keys *k, const duro_keyspace *ks, const char *id,
                       const char *run)
{
    int p = duro_partition_of(id, ks->partitions);
    k->partition = p;
    fmt_key(k->wf, sizeof(k->wf), ks, p, "wf", id);
    if (run) {
        int n = snprintf(k->hist, sizeof(k->hist), "%s{p%d}:h:%s:%s",
                         ks->prefix, p, id, run);
        duro_assert(n >= 0 && (size_t)n < sizeof(k->hist));
    } else {
        k->hist[0] = '\0';
    }
    fmt_key(k->buf, sizeof(k->buf), ks, p, "buf", id);
    fmt_key(k->pa, sizeof(k->pa), ks, p, "pa", id);
    fmt_key(k->timers, sizeof(k->timers), ks, p, "timers", NULL);
    fmt_key(k->idx_open, sizeof(k->idx_open), ks, p, "idx", "open");
    fmt_key(k->idx_closed, sizeof(k->idx_closed), ks, p, "idx", "closed");
    k->wft[0] = '\0';
    k->act[0] = '\0';
    snprintf(k->prefix, sizeof(k->prefix), "%s", ks->prefix);
}

void duro_wf_keys_queues(duro_wf_keys *k, const char *wfqueue,
                         const char *actqueue)
{
    duro_keyspace ks = {.partitions = 1};
    snprintf(ks.prefix, sizeof(ks.prefix), "%s", k->prefix);
    if (wfqueue)
        fmt_key(k->wft, sizeof(k->wft), &ks, k->partition, "wft", wfqueue);
    if (actqueue)
        fmt_key(k->act, sizeof(k->act), &ks, k->partition, "act", actqueue);
}

char *duro_key_wft(char *buf, size_t size, const duro_keyspace *ks,
                   int partition, const char *queue)
{
    return fmt_key(buf, size, ks, partition, "wft", queue);
}

char *duro_key_act(char *buf, size_t size, const duro_keyspace *ks,
                   int partition, const char *queue)
{
    return fmt_key(buf, size, ks, partition, "act", queue);
}

char *duro_key_qry(char *buf, size_t size, const duro_keyspace *ks,
                   int partition, const char *queue)
{
    return fmt_key(buf, size, ks, partition, "qry", queue);
}

char *duro_key_wft_sticky(char *buf, size_t size, const duro_keyspace *ks,
                          int partition, const char *queue, const char *worker)
{
    int n = snprintf(buf, size, "%s{p%d}:wft:%s#%s", ks->prefix, partition,
                     queue, worker);
    duro_assert(n >= 0 && (size_t)n < size);
    return buf;
}

char *duro_key_timers(char *buf, size_t size, const duro_keyspace *ks,
                      int partition)
{
    return fmt_key(buf, size, ks, partition, "timers", NULL);
}

char *duro_key_idx_open(char *buf, size_t size, const duro_keyspace *ks,
                        int partition)
{
    return fmt_key(buf, size, ks, partition, "idx", "open");
}

char *duro_key_vis(char *buf, size_t size, const duro_keyspace *ks,
                   int partition, const char *run)
{
    return fmt_key(buf, size, ks, partition, "vis", run);
}

char *duro_key_vx(char *buf, size_t size, const duro_keyspace *ks,
                  int partition, const char *index)
{
    return fmt_key(buf, size, ks, partition, "vx", index);
}

char *duro_key_sa(char *buf, size_t size, const duro_keyspace *ks,
                  int partition)
{
    return fmt_key(buf, size, ks, partition, "sa", NULL);
}

char *duro_key_idx_closed(char *buf, size_t size, const duro_keyspace *ks,
                          int partition)
{
    return fmt_key(buf, size, ks, partition, "idx", "closed");
}

char *duro_key_qreply(char *buf, size_t size, const duro_keyspace *ks,
                      int partition, const char *name)
{
    return fmt_key(buf, size, ks, partition, "qreply", name);
}

char *duro_key_closed_channel(char *buf, size_t size, const duro_keyspace *ks,
                              int partition)
{
    int n = snprintf(buf, size, "%sclosed:{p%d}", ks->prefix, partition);
    duro_assert(n >= 0 && (size_t)n < size);
    return buf;
}

char *duro_key_queues(char *buf, size_t size, const duro_keyspace *ks)
{
    int n = snprintf(buf, size, "%squeues", ks->prefix);
    duro_assert(n >= 0 && (size_t)n < size);
    return buf;
}

char *duro_key_namespace(char *buf, size_t size, const char *name)
{
    int n = snprintf(buf, size, "%s%s", DURO_NAMESPACE_KEY_PREFIX, name);
    duro_assert(n >= 0 && (size_t)n < size);
    return buf;
}

void duro_sched_keys_init(duro_sched_keys *k, const duro_keyspace *ks,
                          const char *id)
{
    int p = duro_partition_of(id, ks->partitions);
    k->partition = p;
    fmt_key(k->sched, sizeof(k->sched), ks, p, "sched", id);
    fmt_key(k->acts, sizeof(k->acts), ks, p, "schedact", id);
    fmt_key(k->req, sizeof(k->req), ks, p, "schedreq", id);
    fmt_key(k->timers, sizeof(k->timers), ks, p, "timers", NULL);
    fmt_key(k->index, sizeof(k->index), ks, p, "scheds", NULL);
}

char *duro_key_sched_index(char *buf, size_t size, const duro_keyspace *ks,
                           int partition)
{
    return fmt_key(buf, size, ks, partition, "scheds", NULL);
}

/* ---- Timer members ---- */

char *duro_timer_member(char *buf, size_t size, char kind, const char *run,
                        long long a, long long b, const char *wfqueue,
                        const char *actqueue, const char *id)
{
    int n = snprintf(buf, size, "%c|%s|%lld|%lld|%s|%s|%s", kind,
                     run && *run ? run : "-", a, b,
                     wfqueue && *wfqueue ? wfqueue : "-",
                     actqueue && *actqueue ? actqueue : "-", id);
    duro_assert(n >= 0 && (size_t)n < size);
    return buf;
}

static int parse_ll(const char *s, long long *out)
{
    if (!*s) return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || !((*s >= '0' && *s <= '9') || *s == '-')) return -1;
    *out = v;
    return 0;
}

/* duro_timer_parse accepts any one-character kind so that a scheduler
 * older than the Functions library can log an unknown kind rather than call
 * the member malformed. */
int duro_timer_parse(char *member, duro_timer_ref *t)
{
    if (!member || !t) return DURO_EPROTO;
    char *part[7];
    char *p = member;
    for (int i = 0; i < 6; i++) {
        char *bar = strchr(p, '|');
        if (!bar) return DURO_EPROTO;
        *bar = '\0';
        part[i] = p;
        p = bar + 1;
    }
    part[6] = p; /* the id: the rest, '|' and all */
    if (strlen(part[0]) != 1) return DURO_EPROTO;
    for (int i = 1; i < 7; i++)
        if (!*part[i]) return DURO_EPROTO;
    long long a, b;
    if (parse_ll(part[2], &a) || parse_ll(part[3], &b)) return DURO_EPROTO;
    t->kind = part[0][0];
    t->run = part[1];
    t->a = a;
    t->b = b;
    t->wfqueue = part[4];
    t->actqueue = part[5];
    t->id = part[6];
    return 0;
}
