/* spaces.c: the namespaces a scheduler serves: `default` (or the one of
 * --namespace) from the start, then every namespace of the registry,
 * read again each scan, so a new one is served without a restart. */
#include <stdlib.h>
#include <string.h>

#include "duro/errno.h"
#include "duro/log.h"
#include "sched_internal.h"

static void part_init(nspace *ns, part *pt, int p)
{
    pt->s = ns->s;
    pt->ns = ns;
    pt->p = p;
    pt->next_due = NEXT_UNKNOWN;
    duro_key_timers(pt->timers_key, sizeof(pt->timers_key), &ns->ks, p);
    duro_key_vx(pt->vx_close_key, sizeof(pt->vx_close_key), &ns->ks, p,
                "close");
    duro_key_idx_open(pt->idx_key[0], sizeof(pt->idx_key[0]), &ns->ks, p);
    duro_key_idx_closed(pt->idx_key[1], sizeof(pt->idx_key[1]), &ns->ks, p);
    pt->idx_left = 3;
}

static nspace *space_new(sched *s, const char *name)
{
    nspace *ns = calloc(1, sizeof(*ns));
    if (!ns) return NULL;
    ns->s = s;
    duro_keyspace_init(&ns->ks, name, s->partitions);
    ns->parts = calloc((size_t)s->partitions, sizeof(*ns->parts));
    if (!ns->parts) {
        free(ns);
        return NULL;
    }
    ns->retention_ms = DURO_DEFAULT_RETENTION_MS;
    ns->live = 1;
    for (int i = 0; i < s->partitions; i++)
        part_init(ns, &ns->parts[i], i);
    nspace **tail = &s->spaces;
    while (*tail)
        tail = &(*tail)->next;
    *tail = ns;
    duro_info("NAMESPACE SERVE ns=%s", name);
    return ns;
}

int spaces_init(sched *s)
{
    return space_new(s, s->only_ns ? s->only_ns : DURO_DEFAULT_NAMESPACE)
               ? 0
               : DURO_ENOMEM;
}

static nspace *find_any(sched *s, const char *name)
{
    for (nspace *ns = s->spaces; ns; ns = ns->next)
        if (strcmp(ns->ks.ns, name) == 0) return ns;
    return NULL;
}

nspace *spaces_find(sched *s, const char *name)
{
    nspace *ns = find_any(s, name);
    return ns && ns->live ? ns : NULL;
}

void spaces_free(sched *s)
{
    while (s->spaces) {
        nspace *ns = s->spaces;
        s->spaces = ns->next;
        for (int i = 0; i < ns->ks.partitions; i++)
            timers_free(&ns->parts[i]);
        free(ns->parts);
        free(ns);
    }
}

/* HGET duro:namespace:<name> retention_ms */
static void on_retention(duro_aredis *r, redisReply *reply, void *arg)
{
    nspace *ns = arg;
    sched *s = ns->s;
    s->refreshing--;
    long long v;
    if (!reply || s->stopping) return;
    if (duro__reply_int(reply, &v) && v > 0)
        ns->retention_ms = v;
    else if (reply->type == REDIS_REPLY_NIL)
        ns->retention_ms = DURO_DEFAULT_RETENTION_MS;
}

static void read_retentions(sched *s)
{
    for (nspace *ns = s->spaces; ns; ns = ns->next) {
        if (!ns->live) continue;
        char key[DURO_SHORT_KEY_MAX];
        duro_argv a;
        duro_argv_init(&a);
        duro_argv_push(&a, "HGET");
        duro_argv_push(&a, duro_key_namespace(key, sizeof(key), ns->ks.ns));
        duro_argv_push(&a, "retention_ms");
        if (sched_cmd(s, on_retention, ns, &a) == 0) s->refreshing++;
        duro_argv_free(&a);
    }
}

static int in_reply(const redisReply *reply, const char *name)
{
    for (size_t i = 0; i < reply->elements; i++)
        if (duro__reply_str(reply->element[i]) &&
            strcmp(reply->element[i]->str, name) == 0)
            return 1;
    return 0;
}

/* SMEMBERS duro:namespaces */
static void on_names(duro_aredis *r, redisReply *reply, void *arg)
{
    sched *s = arg;
    s->refreshing--;
    if (!reply || s->stopping || reply->type != REDIS_REPLY_ARRAY) return;
    for (size_t i = 0; i < reply->elements; i++) {
        const char *name = duro__reply_str(reply->element[i]);
        if (!name || duro_namespace_check(name, NULL, 0)) continue;
        nspace *ns = find_any(s, name);
        if (!ns) {
            if (!space_new(s, name)) duro_error("NAMESPACE out of memory");
        } else if (!ns->live) {
            ns->live = 1;
            for (int p = 0; p < ns->ks.partitions; p++)
                ns->parts[p].next_due = NEXT_UNKNOWN;
            duro_info("NAMESPACE SERVE ns=%s", name);
        }
    }
    for (nspace *ns = s->spaces; ns; ns = ns->next) {
        if (!ns->live || strcmp(ns->ks.ns, DURO_DEFAULT_NAMESPACE) == 0 ||
            in_reply(reply, ns->ks.ns))
            continue;
        ns->live = 0;
        duro_info("NAMESPACE GONE ns=%s", ns->ks.ns);
    }
    read_retentions(s);
}

void spaces_refresh(sched *s)
{
    if (s->refreshing > 0 || s->stopping) return;
    if (s->only_ns) {
        read_retentions(s);
        return;
    }
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "SMEMBERS");
    duro_argv_push(&a, DURO_NAMESPACES_KEY);
    if (sched_cmd(s, on_names, s, &a) == 0) s->refreshing++;
    duro_argv_free(&a);
}
