/* tls_devcerts.c: the throwaway CA of `duro dev --tls` (see tls_dev.h),
 * made with OpenSSL's library, so that no openssl program is needed. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "duro/tls_dev.h"

#define DAYS 825

static const char *const FILES[] = {"ca.crt",     "ca.key",     "server.crt",
                                    "server.key", "client.crt", "client.key"};

/* cert_spec: one certificate to make. */
typedef struct {
    const char *cn;
    const char *exts[5][2]; /* {name, value} for X509V3_EXT_conf */
} cert_spec;

static const cert_spec CA = {"duro dev CA",
                             {{"basicConstraints", "critical,CA:TRUE"},
                              {"keyUsage", "critical,keyCertSign,cRLSign"},
                              {"subjectKeyIdentifier", "hash"}}};
static const cert_spec SERVER = {
    "localhost",
    {{"basicConstraints", "CA:FALSE"},
     {"keyUsage", "critical,digitalSignature,keyEncipherment"},
     {"extendedKeyUsage", "serverAuth"},
     {"subjectAltName", "DNS:localhost,IP:127.0.0.1,IP:::1"},
     {"authorityKeyIdentifier", "keyid"}}};
static const cert_spec CLIENT = {
    "duro dev client",
    {{"basicConstraints", "CA:FALSE"},
     {"keyUsage", "critical,digitalSignature,keyEncipherment"},
     {"extendedKeyUsage", "clientAuth"},
     {"authorityKeyIdentifier", "keyid"}}};

/* make_cert: a certificate for key, signed by issuer (NULL: self-signed
 * with key). NULL on failure. */
static X509 *make_cert(const cert_spec *s, EVP_PKEY *key, X509 *issuer,
                       EVP_PKEY *issuer_key)
{
    X509 *x = X509_new();
    BIGNUM *serial = BN_new();
    int ok =
        x && serial && X509_set_version(x, 2) &&
        BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) &&
        BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) &&
        X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
        X509_gmtime_adj(X509_getm_notAfter(x), 86400L * DAYS) &&
        X509_set_pubkey(x, key) &&
        X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                                   (const unsigned char *)s->cn, -1, -1, 0) &&
        X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x));
    BN_free(serial);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    for (int i = 0; ok && i < 5 && s->exts[i][0]; i++) {
        X509_EXTENSION *e =
            X509V3_EXT_conf(NULL, &ctx, s->exts[i][0], s->exts[i][1]);
        ok = e && X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    if (ok) ok = X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0;
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

/* write_pem writes a certificate (x) or a private key (key) to dir/name,
 * keys readable by the owner only. 0 or -1. */
static int write_pem(const char *dir, const char *name, X509 *x, EVP_PKEY *key)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd =
        open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, key ? 0600 : 0644);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        if (fd >= 0) close(fd);
        return -1;
    }
    int ok = key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL)
                 : PEM_write_X509(f, x);
    return fclose(f) == 0 && ok ? 0 : -1;
}

static int have_all(const char *dir)
{
    char path[4200];
    for (size_t i = 0; i < sizeof(FILES) / sizeof(FILES[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, FILES[i]);
        if (access(path, R_OK) != 0) return 0;
    }
    return 1;
}

int duro__tls_dev_certs(const char *dir, char *err, size_t errsize)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errsize, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    if (have_all(dir)) return 0;
    const cert_spec *specs[3] = {&CA, &SERVER, &CLIENT};
    EVP_PKEY *keys[3] = {0};
    X509 *certs[3] = {0};
    int rc = 0;
    for (int i = 0; i < 3 && rc == 0; i++) {
        keys[i] = EVP_EC_gen("P-256");
        certs[i] = keys[i] ? make_cert(specs[i], keys[i], i ? certs[0] : NULL,
                                       i ? keys[0] : NULL)
                           : NULL;
        if (!certs[i]) rc = -1;
    }
    for (size_t i = 0; i < 3 && rc == 0; i++)
        if (write_pem(dir, FILES[2 * i], certs[i], NULL) ||
            write_pem(dir, FILES[2 * i + 1], NULL, keys[i]))
            rc = -1;
    if (rc) {
        const char *why = ERR_reason_error_string(ERR_peek_error());
        snprintf(err, errsize, "cannot make the dev certificates in %s: %s",
                 dir, why ? why : strerror(errno));
    }
    ERR_clear_error();
    for (int i = 0; i < 3; i++) {
        X509_free(certs[i]);
        EVP_PKEY_free(keys[i]);
    }
    return rc;
}
