/* tls.h: OpenSSL set-up shared by the synchronous (tls_sync.c) and the
 * asynchronous (common/async/transport.c) Redis transports: one place that
 * decides what is verified and how a failure is classified. */
#ifndef DURO_TLS_H
#define DURO_TLS_H

#include <stddef.h>
#include <openssl/ssl.h>

#include "duro/config.h"

/* duro__tls_ctx_new builds a client SSL_CTX for url: TLS 1.2 or newer,
 * peer verification against url->tls_ca (a file or a directory; the
 * system's store when empty) unless url->tls_insecure (then warned about,
 * once per process), the client certificate and key when given. Returns
 * the context (caller frees with SSL_CTX_free) or NULL with a message in
 * err (DURO_EINVAL: a file that cannot be loaded). */
SSL_CTX *duro__tls_ctx_new(const duro_redis_url *url, char *err,
                           size_t errsize);

/* duro__tls_ssl_new: an SSL on fd for url's server: SNI, and the name (or
 * IP address) the certificate must hold: url->tls_server_name, else the
 * URL's host. NULL with a message in err. */
SSL *duro__tls_ssl_new(SSL_CTX *ctx, const duro_redis_url *url, int fd,
                       char *err, size_t errsize);

/* duro__tls_fail classifies a failed SSL_connect/SSL_read/SSL_write (its
 * return ret) and writes why into err: DURO_EAUTH when a certificate was
 * refused on either side (the verify result string, e.g. "certificate
 * verify failed: unable to get local issuer certificate", or the server's
 * alert for a missing or refused client certificate): retrying cannot fix
 * it; DURO_ECONN otherwise (reset, closed, timeout). got_reply: the
 * connection has received application data; until it has, a connection
 * the server drops after asking for a client certificate we do not have
 * is DURO_EAUTH too (under TLS 1.3 the server's alert may be lost to the
 * reset that follows it). Clears the thread's OpenSSL error queue. */
int duro__tls_fail(SSL *ssl, int ret, int got_reply, char *err, size_t errsize);

#endif
