/* pool.h: the server's idle clients, one pool per namespace. A request
 * borrows a client of its {ns} for its length (a duro_client is one
 * hiredis connection bound to one namespace, not thread-safe) and hands it
 * back. A namespace's pool is made on the first request that names it and
 * whose client Redis accepts (so an unknown namespace never gets one);
 * at most SRV_POOL_MAX_NS pools are kept, each with at most `cap` idle
 * clients. Past that, clients of further namespaces are made per request
 * and freed after it: bounded memory, still correct. */
#ifndef DURO_SERVER_POOL_H
#define DURO_SERVER_POOL_H

#include <pthread.h>
#include <stddef.h>

#include "duro/client.h"

#define SRV_POOL_MAX_NS 64

typedef struct {
    char *name;
    duro_client **idle;
    int nidle;
} srv_ns_pool;

typedef struct {
    pthread_mutex_t mu; /* guards ns and every idle list */
    srv_ns_pool ns[SRV_POOL_MAX_NS];
    int nns, cap;
    char *redis_url; /* NULL = the client's default */
} srv_pool;

/* srv_pool_init: 0, or DURO_ENOMEM. */
int srv_pool_init(srv_pool *p, const char *redis_url, int cap);
/* srv_pool_close frees the idle clients (none may be out). */
void srv_pool_close(srv_pool *p);
/* srv_pool_take: an idle client of namespace ns, or a new one. NULL with
 * the DURO_E* code in *rc and the reason in err when Redis cannot be
 * reached (DURO_ECONN...) or ns is not registered (DURO_ENOTFOUND) or not
 * a namespace name (DURO_EINVAL). */
duro_client *srv_pool_take(srv_pool *p, const char *ns, int *rc, char *err,
                           size_t errsize);
/* srv_pool_give hands c back to its namespace's pool (NULL ignored). */
void srv_pool_give(srv_pool *p, duro_client *c);

#endif
