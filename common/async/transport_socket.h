/* transport_socket.h: opening the socket of a Redis connection. */
#ifndef DURO_TRANSPORT_SOCKET_H
#define DURO_TRANSPORT_SOCKET_H

#include <stddef.h>

#include "duro/config.h"

/* duro__tsocket_open returns a non-blocking socket (CLOEXEC, TCP_NODELAY)
 * whose connect to url's host and port is under way, or -1 with the reason
 * in err. The caller owns the socket and closes it. */
int duro__tsocket_open(const duro_redis_url *url, char *err, size_t errsize);

#endif
