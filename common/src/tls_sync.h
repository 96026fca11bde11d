/* tls_sync.h: a blocking hiredis context over TLS (see tls_sync.c). */
#ifndef DURO_TLS_SYNC_H
#define DURO_TLS_SYNC_H

#include <stddef.h>

#include "duro/config.h"

typedef struct duro__tls_pump duro__tls_pump;

/* duro__tls_sync_open connects to url, verifies it over TLS (connect and
 * handshake bounded by timeout_ms; 0: none) and starts the pump. Returns 0
 * with *fd (for redisConnectFd: the context owns it from then on) and
 * *pump (release it with duro__tls_pump_release), or DURO_EINVAL (bad CA,
 * certificate or key file), DURO_EAUTH (certificate refused), DURO_ECONN
 * (unreachable, handshake failed or timed out) with a message in err. */
int duro__tls_sync_open(const duro_redis_url *url, int timeout_ms,
                        duro__tls_pump **pump, int *fd, char *err,
                        size_t errsize);

/* duro__tls_pump_error: the DURO_E* of the TLS failure that ended the
 * pump (its message into err), or 0 while none did. */
int duro__tls_pump_error(duro__tls_pump *p, char *err, size_t errsize);

/* duro__tls_pump_release drops the opener's reference (NULL: no-op). */
void duro__tls_pump_release(duro__tls_pump *p);

#endif
