/* codec_aes.c: the built-in payload codec, AES-256-GCM (OpenSSL EVP) with
 * keys from a file, so that whoever reads Redis reads only ciphertext.
 *
 * A stored payload is the JSON string
 *     "duro:aes256gcm:v1:<keyid>:<base64(nonce[12] | ciphertext | tag[16])>"
 * The nonce is random per payload (96 bits: with one key, 2^32 payloads
 * keep the chance of a repeat below 2^-32, as NIST SP 800-38D asks); the
 * key id is the authenticated data, so a payload moved under another id's
 * name fails to decode rather than decrypting with the wrong key. */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "duro/codec.h"
#include "duro/errno.h"
#include "duro/log.h"

#define NONCE_LEN 12
#define TAG_LEN 16
#define KEY_LEN 32

typedef struct {
    char id[DURO_CODEC_KEYID_MAX + 1];
    unsigned char key[KEY_LEN];
} aes_key;

/* keyring: keys[0] encodes; all decode. Read-only once loaded, so any
 * thread may use it. The cipher is fetched once: OpenSSL 3 otherwise looks
 * it up in its provider store on every call. */
typedef struct {
    aes_key *keys;
    int n;
    EVP_CIPHER *cipher;
} keyring;

static const aes_key *key_lookup(const keyring *r, const char *id, size_t n)
{
    for (int i = 0; i < r->n; i++)
        if (strlen(r->keys[i].id) == n && memcmp(r->keys[i].id, id, n) == 0)
            return &r->keys[i];
    return NULL;
}

/* ---- Encoding ---- */

static int seal(const keyring *r, const aes_key *k, const unsigned char *pt,
                size_t len, unsigned char *blob)
{
    unsigned char *nonce = blob, *ct = blob + NONCE_LEN,
                  *tag = blob + NONCE_LEN + len;
    if (RAND_bytes(nonce, NONCE_LEN) != 1) return -1;
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    if (!x) return -1;
    int n = 0, ok = 1;
    ok &= EVP_EncryptInit_ex(x, r->cipher, NULL, NULL, NULL);
    ok &= EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL);
    ok &= EVP_EncryptInit_ex(x, NULL, NULL, k->key, nonce);
    ok &= EVP_EncryptUpdate(x, NULL, &n, (const unsigned char *)k->id,
                            (int)strlen(k->id));
    ok &= EVP_EncryptUpdate(x, ct, &n, pt, (int)len);
    ok &= EVP_EncryptFinal_ex(x, ct + n, &n);
    ok &= EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag);
    EVP_CIPHER_CTX_free(x);
    return ok == 1 ? 0 : -1;
}

static int aes_encode(void *arg, const char *json, size_t len, char **out,
                      char *err, size_t errsize)
{
    const keyring *r = arg;
    const aes_key *k = &r->keys[0];
    if (len > INT32_MAX - NONCE_LEN - TAG_LEN) {
        snprintf(err, errsize, "payload too large to encrypt");
        return DURO_ETOOBIG;
    }
    size_t blen = NONCE_LEN + len + TAG_LEN;
    unsigned char *blob = malloc(blen);
    size_t b64len = 4 * ((blen + 2) / 3);
    size_t head = sizeof(DURO_CODEC_AES_PREFIX) - 1 + strlen(k->id) + 2;
    char *s = malloc(head + b64len + 3);
    if (!blob || !s) {
        free(blob);
        free(s);
        snprintf(err, errsize, "%s", duro_strerror(DURO_ENOMEM));
        return DURO_ENOMEM;
    }
    if (seal(r, k, (const unsigned char *)json, len, blob) != 0) {
        free(blob);
        free(s);
        snprintf(err, errsize, "payload codec: encryption failed");
        return DURO_ECODEC;
    }
    int h = snprintf(s, head + 1, "\"%s%s:", DURO_CODEC_AES_PREFIX, k->id);
    int e = EVP_EncodeBlock((unsigned char *)s + h, blob, (int)blen);
    s[h + e] = '"';
    s[h + e + 1] = '\0';
    free(blob);
    *out = s;
    return 0;
}

/* ---- Decoding ---- */

static int fail(char *err, size_t errsize, const char *what, const char *kid,
                size_t kidlen)
{
    snprintf(err, errsize, "payload codec: payload encrypted with key %.*s %s",
             (int)kidlen, kid, what);
    return DURO_ECODEC;
}

static int open_blob(const keyring *r, const aes_key *k,
                     const unsigned char *blob, size_t blen, char **out)
{
    size_t len = blen - NONCE_LEN - TAG_LEN;
    unsigned char *pt = malloc(len + 1);
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    if (!pt || !x) {
        free(pt);
        EVP_CIPHER_CTX_free(x);
        return DURO_ENOMEM;
    }
    int n = 0, ok = 1;
    ok &= EVP_DecryptInit_ex(x, r->cipher, NULL, NULL, NULL);
    ok &= EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL);
    ok &= EVP_DecryptInit_ex(x, NULL, NULL, k->key, blob);
    ok &= EVP_DecryptUpdate(x, NULL, &n, (const unsigned char *)k->id,
                            (int)strlen(k->id));
    ok &= EVP_DecryptUpdate(x, pt, &n, blob + NONCE_LEN, (int)len);
    ok &= EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_TAG, TAG_LEN,
                              (void *)(blob + NONCE_LEN + len));
    int m = 0;
    ok &= EVP_DecryptFinal_ex(x, pt + n, &m) > 0;
    EVP_CIPHER_CTX_free(x);
    if (ok != 1) {
        OPENSSL_cleanse(pt, len);
        free(pt);
        return DURO_ECODEC;
    }
    pt[len] = '\0';
    *out = (char *)pt;
    return 0;
}

static int aes_decode(void *arg, const char *json, size_t len, char **out,
                      char *err, size_t errsize)
{
    const keyring *r = arg;
    static const size_t plen = sizeof(DURO_CODEC_AES_PREFIX) - 1;
    if (len < plen + 2 || json[0] != '"' ||
        memcmp(json + 1, DURO_CODEC_AES_PREFIX, plen) != 0)
        return DURO_CODEC_PLAIN;
    const char *kid = json + 1 + plen, *end = json + len;
    const char *colon = memchr(kid, ':', (size_t)(end - kid));
    if (!colon || end[-1] != '"')
        return fail(err, errsize, "is truncated", "?", 1);
    size_t kidlen = (size_t)(colon - kid);
    const aes_key *k = key_lookup(r, kid, kidlen);
    if (!k)
        return fail(err, errsize, "that the key file does not have", kid,
                    kidlen);
    const char *b64 = colon + 1;
    size_t b64len = (size_t)(end - 1 - b64);
    if (b64len % 4 != 0 || b64len < (size_t)4 * ((NONCE_LEN + TAG_LEN + 2) / 3))
        return fail(err, errsize, "is truncated", kid, kidlen);
    unsigned char *blob = malloc(b64len / 4 * 3);
    if (!blob) return DURO_ENOMEM;
    int n = EVP_DecodeBlock(blob, (const unsigned char *)b64, (int)b64len);
    /* EVP_DecodeBlock counts the padding's zero bytes */
    if (n >= 0 && b64[b64len - 1] == '=') n--;
    if (n >= 0 && b64[b64len - 2] == '=') n--;
    int rc = n < NONCE_LEN + TAG_LEN ? DURO_ECODEC
                                     : open_blob(r, k, blob, (size_t)n, out);
    free(blob);
    if (rc == DURO_ECODEC)
        return fail(err, errsize,
                    "fails authentication (altered, or another key under "
                    "that id)",
                    kid, kidlen);
    return rc;
}

/* ---- The key file ---- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static bool keyid_ok(const char *s, size_t n)
{
    if (n == 0 || n > DURO_CODEC_KEYID_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i])) return false;
    return true;
}

/* parse_line reads "<keyid> <64 hex>" into k: 0, or -1. */
static int parse_line(const char *line, aes_key *k)
{
    const char *p = line;
    size_t idlen = strcspn(p, " \t");
    if (!keyid_ok(p, idlen)) return -1;
    memcpy(k->id, p, idlen);
    k->id[idlen] = '\0';
    p += idlen;
    p += strspn(p, " \t");
    for (int i = 0; i < KEY_LEN; i++) {
        int hi = hexval((unsigned char)p[(size_t)2 * i]),
            lo = hi < 0 ? -1 : hexval((unsigned char)p[(size_t)2 * i + 1]);
        if (lo < 0) return -1;
        k->key[i] = (unsigned char)(hi << 4 | lo);
    }
    p += (size_t)2 * KEY_LEN;
    p += strspn(p, " \t\r\n");
    return *p ? -1 : 0;
}

static void keyring_free(keyring *r)
{
    if (!r) return;
    if (r->keys) OPENSSL_cleanse(r->keys, (size_t)r->n * sizeof(aes_key));
    free(r->keys);
    EVP_CIPHER_free(r->cipher);
    free(r);
}

static void warn_mode(const char *path, FILE *f)
{
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077))
        duro_log(DURO_LOG_WARN,
                 "CODEC-KEY-FILE path=%s mode=%03o: readable by group or "
                 "others; chmod 600 it",
                 path, (unsigned)(st.st_mode & 0777));
}

static int read_keys(FILE *f, const char *path, keyring *r, char *err,
                     size_t errsize)
{
    char line[512];
    int lineno = 0, cap = 0;
    bool rest = false; /* line holds the rest of a comment over 511 bytes */
    while (fgets(line, sizeof(line), f)) {
        bool more = !strchr(line, '\n') && !feof(f); /* the line goes on */
        lineno += !rest;
        const char *p = line + strspn(line, " \t");
        bool skip = rest || *p == '#' || *p == '\n' || *p == '\r' || !*p;
        rest = skip && more;
        if (skip) continue;
        if (more) {
            snprintf(err, errsize, "%s line %d: longer than %zu bytes", path,
                     lineno, sizeof(line) - 2);
            OPENSSL_cleanse(line, sizeof(line));
            return DURO_EINVAL;
        }
        if (r->n == cap) {
            cap = cap ? cap * 2 : 4;
            aes_key *v = realloc(r->keys, (size_t)cap * sizeof(*v));
            if (!v) return DURO_ENOMEM;
            r->keys = v;
        }
        aes_key *k = &r->keys[r->n];
        if (parse_line(p, k) != 0) {
            OPENSSL_cleanse(line, sizeof(line));
            snprintf(err, errsize,
                     "%s line %d: expected \"<keyid> <64 hex digits>\" "
                     "(key id: letters, digits, . _ -)",
                     path, lineno);
            return DURO_EINVAL;
        }
        r->n++;
        if (key_lookup(r, k->id, strlen(k->id)) != k) {
            snprintf(err, errsize, "%s line %d: key id %s appears twice", path,
                     lineno, k->id);
            return DURO_EINVAL;
        }
    }
    int why = errno;
    OPENSSL_cleanse(line, sizeof(line));
    if (ferror(f)) { /* a directory, an I/O error: not "no key" */
        snprintf(err, errsize, "cannot read codec key file %s: %s", path,
                 strerror(why));
        return DURO_EINVAL;
    }
    if (r->n == 0) {
        snprintf(err, errsize, "%s holds no key", path);
        return DURO_EINVAL;
    }
    return 0;
}

/* self_test fetches the cipher and seals and opens one payload, here on
 * the caller's stack: OpenSSL's first use initialises the library and its
 * random generator, which should not happen on a workflow's small
 * coroutine stack. */
static int self_test(keyring *r, char *err, size_t errsize)
{
    r->cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    char *sealed = NULL, *plain = NULL;
    int rc = r->cipher ? aes_encode(r, "null", 4, &sealed, err, errsize)
                       : DURO_ECODEC;
    if (rc == 0)
        rc = aes_decode(r, sealed, strlen(sealed), &plain, err, errsize);
    if (rc == 0 && strcmp(plain, "null") != 0) rc = DURO_ECODEC;
    free(sealed);
    free(plain);
    if (rc != 0 && rc != DURO_ENOMEM)
        snprintf(err, errsize, "OpenSSL has no working AES-256-GCM");
    return rc;
}

int duro_codec_aes_new(const char *path, duro_codec **out, char *err,
                       size_t errsize)
{
    *out = NULL;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errsize, "cannot read codec key file %s: %s", path,
                 strerror(errno));
        return DURO_EINVAL;
    }
    warn_mode(path, f);
    keyring *r = calloc(1, sizeof(*r));
    duro_codec *c = calloc(1, sizeof(*c));
    int rc = r && c ? read_keys(f, path, r, err, errsize) : DURO_ENOMEM;
    fclose(f);
    if (rc == DURO_ENOMEM)
        snprintf(err, errsize, "%s", duro_strerror(DURO_ENOMEM));
    if (rc == 0) rc = self_test(r, err, errsize);
    if (rc != 0) {
        keyring_free(r);
        free(c);
        return rc;
    }
    c->encode = aes_encode;
    c->decode = aes_decode;
    c->arg = r;
    *out = c;
    return 0;
}

int duro_codec_aes_from_env(duro_codec **out, char *err, size_t errsize)
{
    *out = NULL;
    const char *path = getenv(DURO_CODEC_KEY_FILE_ENV);
    if (!path || !*path) return 0;
    return duro_codec_aes_new(path, out, err, errsize);
}

bool duro_codec_aes_has_key(const duro_codec *c, const char *kid)
{
    if (!c || c->encode != aes_encode) return false;
    return key_lookup(c->arg, kid, strlen(kid)) != NULL;
}

void duro_codec_aes_free(duro_codec *c)
{
    if (!c) return;
    if (c->encode == aes_encode) keyring_free(c->arg);
    free(c);
}
