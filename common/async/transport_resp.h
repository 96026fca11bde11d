/* transport_resp.h: a command in Redis's wire format (a RESP array of bulk
 * strings), written straight into a connection's output buffer
 * (transport_resp.c). Private to transport.c. */
#ifndef DURO_ASYNC_TRANSPORT_RESP_H
#define DURO_ASYNC_TRANSPORT_RESP_H

#include <stddef.h>

/* duro__resp_len: the bytes argv (argc >= 1 arguments, lens[i] bytes
 * each) takes on the wire. */
size_t duro__resp_len(int argc, const char **argv, const size_t *lens);

/* duro__resp_put writes argv to dst, which has room for duro__resp_len
 * bytes, exactly as hiredis's redisFormatCommandArgv formats it, and
 * returns the end of what it wrote. */
char *duro__resp_put(char *dst, int argc, const char **argv,
                     const size_t *lens);

#endif
