/* aredis.h: an asynchronous Redis connection on a libuv loop that
 * reconnects by itself and reloads the Functions library when Redis lost
 * it. The worker and the scheduler talk to Redis through it. */
#ifndef DURO_AREDIS_H
#define DURO_AREDIS_H

#include <stdbool.h>
#include <hiredis/hiredis.h>
#include <uv.h>
#include "duro/config.h"
#include "duro/export.h"
#include "duro/redis.h"

typedef struct duro_aredis duro_aredis;

/* duro_aredis_cb receives the reply of one command, exactly once. reply is
 * NULL when the connection failed or was closed before the reply came (the
 * command may or may not have run). Error replies are passed as replies.
 * The reply is freed by the library after the callback returns. */
typedef void (*duro_aredis_cb)(duro_aredis *r, redisReply *reply, void *arg);

/* duro_aredis_state_cb is called on every connected/disconnected change
 * (after AUTH/SELECT succeeded for "connected"). */
typedef void (*duro_aredis_state_cb)(duro_aredis *r, bool connected, void *arg);

/* duro_aredis_new creates the connection and starts connecting; it keeps
 * reconnecting with capped exponential backoff (100ms doubling to 5s, with
 * jitter), logging once per state change. `name` appears in logs.
 * Returns 0 or DURO_ENOMEM/DURO_EINVAL. */
DURO_EXPORT int duro_aredis_new(duro_aredis **out, uv_loop_t *loop,
                                const duro_redis_url *url, const char *name,
                                duro_aredis_state_cb on_state, void *arg);

/* duro_aredis_command sends argv (copied). Returns 0 (cb runs exactly once)
 * or DURO_ECONN when not connected (cb never runs). An FCALL answered with
 * "function not found" is retried once after FUNCTION LOAD REPLACE of the
 * embedded library; cb sees the second reply. */
DURO_EXPORT int duro_aredis_command(duro_aredis *r, duro_aredis_cb cb,
                                    void *arg, const duro_argv *a);

/* duro_aredis_subscribe subscribes to a channel and calls cb for each
 * message (reply is the ["message", channel, payload] array), and again
 * after every reconnect. The connection must be used for nothing else. */
DURO_EXPORT int duro_aredis_subscribe(duro_aredis *r, const char *channel,
                                      duro_aredis_cb cb, void *arg);

DURO_EXPORT bool duro_aredis_connected(const duro_aredis *r);
/* duro_aredis_reconnects: how many times the connection was re-established. */
DURO_EXPORT unsigned long duro_aredis_reconnects(const duro_aredis *r);

/* duro_aredis_close disconnects; callbacks of pending commands run with
 * NULL; the memory is released once libuv has closed its handles (so the
 * loop can run to completion with no handles left). Safe to call from
 * inside a callback. */
DURO_EXPORT void duro_aredis_close(duro_aredis *r);

#endif
