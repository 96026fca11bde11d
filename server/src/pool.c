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
    p->idle = calloc((size_t)cap, sizeof(duro_client *));
    p->redis_url = redis_url ? strdup(redis_url) : NULL;
    return !p->idle || (redis_url && !p->redis_url) ? DURO_ENOMEM : 0;
}

void srv_pool_close(srv_pool *p)
{
    for (int i = 0; i < p->nidle; i++)
        duro_client_free(p->idle[i]);
    free(p->idle);
    free(p->redis_url);
    pthread_mutex_destroy(&p->mu);
    memset(p, 0, sizeof(*p));
}

duro_client *srv_pool_take(srv_pool *p, char *err, size_t errsize)
{
    duro_client *c = NULL;
    pthread_mutex_lock(&p->mu);
    if (p->nidle > 0) c = p->idle[--p->nidle];
    pthread_mutex_unlock(&p->mu);
    if (c) return c;
    if (duro_client_new(&c, p->redis_url, err, errsize) < 0) return NULL;
    return c;
}

void srv_pool_give(srv_pool *p, duro_client *c)
{
    if (!c) return;
    pthread_mutex_lock(&p->mu);
    if (p->nidle < p->cap) {
        p->idle[p->nidle++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&p->mu);
    duro_client_free(c); /* more clients than connections: drop it */
}
