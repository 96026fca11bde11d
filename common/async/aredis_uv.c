/* aredis_uv.c: hiredis on libuv: the stock adapter with a poll callback
 * that does not lose errors. */
#include <hiredis/adapters/libuv.h>

#include "aredis_int.h"

/* on_poll replaces the hiredis 0.14 adapter's poll callback, which returns
 * early when libuv reports an error. libuv reports POLLERR (a refused
 * connect, a reset) that way and stops the handle, so the context would
 * hang forever. Here hiredis gets to read or write and meet the error. */
static void on_poll(uv_poll_t *h, int status, int events)
{
    redisLibuvEvents *p = h->data;
    if (status != 0) events = p->events;
    if (p->context && (events & UV_READABLE)) redisAsyncHandleRead(p->context);
    if (p->context && (events & UV_WRITABLE)) redisAsyncHandleWrite(p->context);
}

static void poll_update(redisLibuvEvents *p, int add, int del)
{
    p->events = (p->events | add) & ~del;
    if (p->events)
        uv_poll_start(&p->handle, p->events, on_poll);
    else
        uv_poll_stop(&p->handle);
}

static void add_read(void *pd)
{
    poll_update(pd, UV_READABLE, 0);
}
static void del_read(void *pd)
{
    poll_update(pd, 0, UV_READABLE);
}
static void add_write(void *pd)
{
    poll_update(pd, UV_WRITABLE, 0);
}
static void del_write(void *pd)
{
    poll_update(pd, 0, UV_WRITABLE);
}

/* duro__aredis_attach: the stock adapter (its handle, cleanup and close) with
 * our poll callback. */
int duro__aredis_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
    if (redisLibuvAttach(ac, loop) != REDIS_OK) return REDIS_ERR;
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    return REDIS_OK;
}
