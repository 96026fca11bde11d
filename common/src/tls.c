/* tls.c: what a Duro TLS connection to Redis verifies, and how its
 * failures are named and classified (see tls.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "duro/errno.h"
#include "duro/log.h"
#include "tls.h"

/* ssl_errstr: the first queued OpenSSL error as text (the queue cleared). */
static const char *ssl_errstr(char *buf, size_t size)
{
    unsigned long e = ERR_get_error();
    if (!e) {
        snprintf(buf, size, "unknown error");
    } else {
        const char *reason = ERR_reason_error_string(e);
        snprintf(buf, size, "%s", reason ? reason : ERR_error_string(e, NULL));
    }
    ERR_clear_error();
    return buf;
}

/* ---- A server that asks for a client certificate we lack ---- */

static int asked_idx = -1;
static pthread_once_t asked_once = PTHREAD_ONCE_INIT;

static void asked_init(void)
{
    asked_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/* no_client_cert: OpenSSL asks when a server wants a client certificate
 * and none is configured; we send none, and remember that it was asked. */
static int no_client_cert(SSL *ssl, X509 **x509, EVP_PKEY **pkey)
{
    (void)x509;
    (void)pkey;
    if (asked_idx >= 0) SSL_set_ex_data(ssl, asked_idx, (void *)1);
    return 0;
}

static int cert_was_asked(SSL *ssl)
{
    return asked_idx >= 0 && SSL_get_ex_data(ssl, asked_idx) != NULL;
}

static void warn_insecure_once(void)
{
    static atomic_int warned;
    if (atomic_exchange(&warned, 1)) return;
    duro_warn("TLS INSECURE DURO_REDIS_TLS_INSECURE=1: Redis's certificate "
              "and name are NOT verified (development only)");
}

static int load_ca(SSL_CTX *ctx, const char *ca, char *err, size_t errsize)
{
    char why[160];
    int ok;
    if (!ca[0]) {
        ok = SSL_CTX_set_default_verify_paths(ctx);
    } else {
        struct stat st;
        if (stat(ca, &st) != 0) {
            snprintf(err, errsize, "DURO_REDIS_TLS_CA %.200s: %s", ca,
                     strerror(errno));
            return -1;
        }
        ok = S_ISDIR(st.st_mode) ? SSL_CTX_load_verify_dir(ctx, ca)
                                 : SSL_CTX_load_verify_file(ctx, ca);
    }
    if (!ok) {
        snprintf(err, errsize, "DURO_REDIS_TLS_CA %.200s: %s",
                 ca[0] ? ca : "(system default)", ssl_errstr(why, sizeof(why)));
        return -1;
    }
    return 0;
}

SSL_CTX *duro__tls_ctx_new(const duro_redis_url *url, char *err, size_t errsize)
{
    char why[160];
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        snprintf(err, errsize, "TLS: %s", ssl_errstr(why, sizeof(why)));
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* The pumps write whatever part of a buffer TLS takes and retry with
     * the rest, possibly from a moved buffer. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (url->tls_insecure) {
        warn_insecure_once();
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        if (load_ca(ctx, url->tls_ca, err, errsize)) goto fail;
    }
    if (!url->tls_cert[0]) {
        pthread_once(&asked_once, asked_init);
        SSL_CTX_set_client_cert_cb(ctx, no_client_cert);
    } else {
        if (SSL_CTX_use_certificate_chain_file(ctx, url->tls_cert) != 1) {
            snprintf(err, errsize, "DURO_REDIS_TLS_CERT %.200s: %s",
                     url->tls_cert, ssl_errstr(why, sizeof(why)));
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, url->tls_key, SSL_FILETYPE_PEM) !=
                1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
            snprintf(err, errsize, "DURO_REDIS_TLS_KEY %.200s: %s",
                     url->tls_key, ssl_errstr(why, sizeof(why)));
            goto fail;
        }
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

/* ---- A socket BIO that never raises SIGPIPE ---- */

/* OpenSSL's socket BIO writes with write(): a write to a connection Redis
 * has reset would kill a program that did not ignore SIGPIPE (a worker's
 * main is the user's). Ours is the socket BIO with send(MSG_NOSIGNAL). */
static BIO_METHOD *nosig_method;
static pthread_once_t nosig_once = PTHREAD_ONCE_INIT;

static int nosig_write(BIO *b, const char *buf, int len)
{
    int fd = -1;
    BIO_get_fd(b, &fd);
    ssize_t n = send(fd, buf, (size_t)len, MSG_NOSIGNAL);
    BIO_clear_retry_flags(b);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        BIO_set_retry_write(b);
    return (int)n;
}

static void nosig_init(void)
{
    const BIO_METHOD *s = BIO_s_socket();
    BIO_METHOD *m = BIO_meth_new(BIO_TYPE_SOCKET, "duro socket");
    if (!m) return;
    if (!BIO_meth_set_write(m, nosig_write) ||
        !BIO_meth_set_read(m, BIO_meth_get_read(s)) ||
        !BIO_meth_set_puts(m, BIO_meth_get_puts(s)) ||
        !BIO_meth_set_ctrl(m, BIO_meth_get_ctrl(s)) ||
        !BIO_meth_set_create(m, BIO_meth_get_create(s)) ||
        !BIO_meth_set_destroy(m, BIO_meth_get_destroy(s))) {
        BIO_meth_free(m);
        return;
    }
    nosig_method = m;
}

/* set_socket gives ssl the socket fd through our BIO (OpenSSL's when ours
 * could not be made). 1 or 0. */
static int set_socket(SSL *ssl, int fd)
{
    pthread_once(&nosig_once, nosig_init);
    if (!nosig_method) return SSL_set_fd(ssl, fd);
    BIO *bio = BIO_new(nosig_method);
    if (!bio) return 0;
    BIO_set_fd(bio, fd, BIO_NOCLOSE);
    SSL_set_bio(ssl, bio, bio);
    return 1;
}

static int is_ip(const char *s)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

SSL *duro__tls_ssl_new(SSL_CTX *ctx, const duro_redis_url *url, int fd,
                       char *err, size_t errsize)
{
    char why[160];
    const char *name =
        url->tls_server_name[0] ? url->tls_server_name : url->host;
    SSL *ssl = SSL_new(ctx);
    if (!ssl || set_socket(ssl, fd) != 1) goto fail;
    if (!is_ip(name) && SSL_set_tlsext_host_name(ssl, name) != 1) goto fail;
    if (!url->tls_insecure) {
        /* The certificate must name the host we meant: a DNS name through
         * SSL_set1_host (wildcards allowed, no partial ones), an address
         * through its IP SAN. */
        int ok = is_ip(name)
                     ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name)
                     : SSL_set1_host(ssl, name);
        if (ok != 1) goto fail;
        SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    }
    return ssl;
fail:
    snprintf(err, errsize, "TLS set-up for %.200s: %s", name,
             ssl_errstr(why, sizeof(why)));
    SSL_free(ssl);
    return NULL;
}

/* peer_refused: the reason codes of a server's alert about our client
 * certificate (missing, unknown, expired...): authentication, not a
 * network fault. */
static int peer_refused(int reason)
{
    switch (reason) {
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
    case SSL_R_TLSV1_ALERT_DECRYPT_ERROR:
        return 1;
    default:
        return 0;
    }
}

int duro__tls_fail(SSL *ssl, int ret, int got_reply, char *err, size_t errsize)
{
    int kind = SSL_get_error(ssl, ret);
    int saved = errno;
    unsigned long e = ERR_peek_error();
    int rc = DURO_ECONN;
    if (kind == SSL_ERROR_SSL && ERR_GET_LIB(e) == ERR_LIB_SSL &&
        ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
        long v = SSL_get_verify_result(ssl);
        snprintf(err, errsize, "TLS certificate verify failed: %s",
                 X509_verify_cert_error_string(v));
        rc = DURO_EAUTH;
    } else if (kind == SSL_ERROR_SSL && ERR_GET_LIB(e) == ERR_LIB_SSL &&
               peer_refused(ERR_GET_REASON(e))) {
        snprintf(err, errsize,
                 "TLS: the server refused our client certificate (%s; see "
                 "DURO_REDIS_TLS_CERT)",
                 ERR_reason_error_string(e));
        rc = DURO_EAUTH;
    } else if (!got_reply && cert_was_asked(ssl)) {
        snprintf(err, errsize,
                 "TLS: the server asked for a client certificate and closed "
                 "the connection without one (set DURO_REDIS_TLS_CERT and "
                 "DURO_REDIS_TLS_KEY)");
        rc = DURO_EAUTH;
    } else if (kind == SSL_ERROR_SSL) {
        snprintf(err, errsize, "TLS: %s%s",
                 e ? ERR_reason_error_string(e) : "protocol error",
                 ERR_GET_REASON(e) == SSL_R_WRONG_VERSION_NUMBER
                     ? " (is this port TLS?)"
                     : "");
    } else if (kind == SSL_ERROR_ZERO_RETURN) {
        snprintf(err, errsize, "TLS: the server closed the connection");
    } else if (kind == SSL_ERROR_SYSCALL) {
        snprintf(err, errsize, "TLS: %s",
                 saved && ret < 0 ? strerror(saved)
                                  : "the server closed the connection");
    } else {
        snprintf(err, errsize, "TLS: error %d", kind);
    }
    ERR_clear_error();
    return rc;
}
