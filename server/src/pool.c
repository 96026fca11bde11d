/* pool.c: the clients the request threads borrow (pool.h). */
#include <stdlib.h>
#include <string.h>

#include "duro/errno.h"
#include "pool.h"

int srv_pool_init(srv_pool *p, const char *redis_url, int cap)
{
    memset(p, 0, sizeof(*p));
    pthread_mutex_init(&p->mu, NULL);
    p->cap = cap;
    p->redis_url = redis_url ? strdup(redis_url) : NULL;
    return redis_url && !p->redis_url ? DURO_ENOMEM : 0;
}

void srv_pool_close(srv_pool *p)
{
    for (int n = 0; n < p->nns; n++) {
        for (int i = 0; i < p->ns[n].nidle; i++)
            duro_client_free(p->ns[n].idle[i]);
        free(p->ns[n].idle);
        free(p->ns[n].name);
    }
    free(p->redis_url);
    pthread_mutex_destroy(&p->mu);
    memset(p, 0, sizeof(*p));
}

/* find: ns's pool, or NULL. Called with mu held. */
static srv_ns_pool *find(srv_pool *p, const char *ns)
{
    for (int n = 0; n < p->nns; n++)
        if (strcmp(p->ns[n].name, ns) == 0) return &p->ns[n];
    return NULL;
}

/* add: a new pool for ns, or NULL when SRV_POOL_MAX_NS are kept already
 * (or out of memory). Called with mu held, only for a namespace whose
 * client Redis has just accepted. */
static srv_ns_pool *add(srv_pool *p, const char *ns)
{
    if (p->nns >= SRV_POOL_MAX_NS) return NULL;
    srv_ns_pool *np = &p->ns[p->nns];
    np->name = strdup(ns);
    np->idle = calloc((size_t)p->cap, sizeof(duro_client *));
    np->nidle = 0;
    if (!np->name || !np->idle) {
        free(np->name);
        free(np->idle);
        memset(np, 0, sizeof(*np));
        return NULL;
    }
    p->nns++;
    return np;
}

duro_client *srv_pool_take(srv_pool *p, const char *ns, int *rc, char *err,
                           size_t errsize)
{
    duro_client *c = NULL;
    pthread_mutex_lock(&p->mu);
    srv_ns_pool *np = find(p, ns);
    if (np && np->nidle > 0) c = np->idle[--np->nidle];
    pthread_mutex_unlock(&p->mu);
    *rc = 0;
    if (c) return c;
    duro_client_opts o = {.redis_url = p->redis_url, .namespace_ = ns};
    *rc = duro_client_new_opts(&c, &o, err, errsize);
    return *rc < 0 ? NULL : c;
}

void srv_pool_give(srv_pool *p, duro_client *c)
{
    if (!c) return;
    pthread_mutex_lock(&p->mu);
    const char *ns = duro_client_namespace(c);
    srv_ns_pool *np = find(p, ns);
    if (!np) np = add(p, ns);
    if (np && np->nidle < p->cap) {
        np->idle[np->nidle++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&p->mu);
    duro_client_free(c); /* more clients than connections: drop it */
}
