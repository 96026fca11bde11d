/* pool.h: the server's idle clients. A request borrows one for its length
 * (a duro_client is one hiredis connection, not thread-safe) and hands it
 * back; at most `cap` idle ones are kept, one per connection thread. */
#ifndef DURO_SERVER_POOL_H
#define DURO_SERVER_POOL_H

#include <pthread.h>
#include <stddef.h>

#include "duro/client.h"

typedef struct {
    pthread_mutex_t mu; /* guards idle and nidle */
    duro_client **idle;
    int nidle, cap;
    char *redis_url; /* NULL = the client's default */
} srv_pool;

/* srv_pool_init: 0, or DURO_ENOMEM. */
int srv_pool_init(srv_pool *p, const char *redis_url, int cap);
/* srv_pool_close frees the idle clients (none may be out). */
void srv_pool_close(srv_pool *p);
/* srv_pool_take: an idle client, or a new one (NULL with the reason in
 * err when Redis cannot be reached). */
duro_client *srv_pool_take(srv_pool *p, char *err, size_t errsize);
/* srv_pool_give hands c back (NULL ignored). */
void srv_pool_give(srv_pool *p, duro_client *c);

#endif
