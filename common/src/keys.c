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

/* ---- Key names ---- */

/* fmt_key writes a key and asserts it fit: ids and names are checked
 * (duro_id_check, duro_name_check) before they reach here. */
static char *fmt_key(char *buf, size_t size, int partition, const char *kind,
                     const char *name)
{
    int n = name
                ? snprintf(buf, size, "duro:{p%d}:%s:%s", partition, kind, name)
                : snprintf(buf, size, "duro:{p%d}:%s", partition, kind);
    duro_assert(n >= 0 && (size_t)n < size);
    return buf;
}

void duro_wf_keys_init(duro_wf_keys *k, int partitions, const char *id,
                       const char *run)
{
    int p = duro_partition_of(id, partitions);
    k->partition = p;
    fmt_key(k->wf, sizeof(k->wf), p, "wf", id);
    if (run) {
        int n = snprintf(k->hist, sizeof(k->hist), "duro:{p%d}:h:%s:%s", p, id,
                         run);
        duro_assert(n >= 0 && (size_t)n < sizeof(k->hist));
    } else {
        k->hist[0] = '\0';
    }
    fmt_key(k->buf, sizeof(k->buf), p, "buf", id);
    fmt_key(k->pa, sizeof(k->pa), p, "pa", id);
    fmt_key(k->timers, sizeof(k->timers), p, "timers", NULL);
    fmt_key(k->idx_open, sizeof(k->idx_open), p, "idx", "open");
    fmt_key(k->idx_closed, sizeof(k->idx_closed), p, "idx", "closed");
    k->wft[0] = '\0';
    k->act[0] = '\0';
}

void duro_wf_keys_queues(duro_wf_keys *k, const char *wfqueue,
                         const char *actqueue)
{
    if (wfqueue) fmt_key(k->wft, sizeof(k->wft), k->partition, "wft", wfqueue);
    if (actqueue)
        fmt_key(k->act, sizeof(k->act), k->partition, "act", actqueue);
}

char *duro_key_wft(char *buf, size_t size, int partition, const char *queue)
{
    return fmt_key(buf, size, partition, "wft", queue);
}

char *duro_key_act(char *buf, size_t size, int partition, const char *queue)
{
    return fmt_key(buf, size, partition, "act", queue);
}

char *duro_key_qry(char *buf, size_t size, int partition, const char *queue)
{
    return fmt_key(buf, size, partition, "qry", queue);
}

char *duro_key_timers(char *buf, size_t size, int partition)
{
    return fmt_key(buf, size, partition, "timers", NULL);
}

char *duro_key_idx_open(char *buf, size_t size, int partition)
{
    return fmt_key(buf, size, partition, "idx", "open");
}

char *duro_key_closed_channel(char *buf, size_t size, int partition)
{
    int n = snprintf(buf, size, "duro:closed:{p%d}", partition);
    duro_assert(n >= 0 && (size_t)n < size);
    return buf;
}

void duro_sched_keys_init(duro_sched_keys *k, int partitions, const char *id)
{
    int p = duro_partition_of(id, partitions);
    k->partition = p;
    fmt_key(k->sched, sizeof(k->sched), p, "sched", id);
    fmt_key(k->acts, sizeof(k->acts), p, "schedact", id);
    fmt_key(k->req, sizeof(k->req), p, "schedreq", id);
    fmt_key(k->timers, sizeof(k->timers), p, "timers", NULL);
    fmt_key(k->index, sizeof(k->index), p, "scheds", NULL);
}

char *duro_key_sched_index(char *buf, size_t size, int partition)
{
    return fmt_key(buf, size, partition, "scheds", NULL);
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
