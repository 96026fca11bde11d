/* tls_dev.h: a throwaway certificate authority for `duro dev --tls` and
 * `duro-bench --tls`: local TLS without any setup. Never for production:
 * the CA's key sits beside its certificate. */
#ifndef DURO_TLS_DEV_H
#define DURO_TLS_DEV_H

#include <stddef.h>

/* duro__tls_dev_certs makes sure dir (created if missing, mode 0700) holds
 * ca.crt and ca.key (a CA), server.crt/.key (for localhost, 127.0.0.1 and
 * ::1) and client.crt/.key (a client certificate for mutual TLS), all
 * signed by that CA, EC P-256, valid for 825 days. A complete set already
 * there is kept (a restarted dev server keeps its CA, so clients that
 * trust it still do). Keys are written mode 0600. 0, or -1 with a message
 * in err. */
int duro__tls_dev_certs(const char *dir, char *err, size_t errsize);

#endif
