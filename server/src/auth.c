/* auth.c: bearer tokens for the HTTP API.
 *
 * Tokens are kept only as SHA-256 digests, and a presented token is hashed
 * and compared with every digest without an early exit: the time a check
 * takes depends neither on the token's length nor on where it differs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "sha256.h"

#define MIN_TOKEN_LEN 16
#define MAX_FILE ((size_t)64 * 1024)

char *srv_read_file(const char *path, size_t max, char *err, size_t errsize)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errsize, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad || n > max) {
        snprintf(err, errsize, "cannot read %s: %s", path,
                 !buf  ? "out of memory"
                 : bad ? "read error"
                       : "too large");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

int srv_tokens_load(srv_tokens *t, const char *path, char *err, size_t errsize)
{
    memset(t, 0, sizeof(*t));
    char *text = srv_read_file(path, MAX_FILE, err, errsize);
    if (!text) return -1;
    int rc = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\r' || line[n - 1] == ' ' ||
                     line[n - 1] == '\t'))
            line[--n] = '\0';
        while (*line == ' ' || *line == '\t')
            line++, n--;
        if (!n || *line == '#') continue;
        if (n < MIN_TOKEN_LEN || t->n == SRV_MAX_TOKENS) {
            snprintf(err, errsize, "%s: %s", path,
                     t->n == SRV_MAX_TOKENS
                         ? "more than 16 tokens"
                         : "a token shorter than 16 bytes (use e.g. "
                           "openssl rand -hex 32)");
            rc = -1;
            break;
        }
        duro__sha256_hex(line, n, t->digest[t->n++]);
    }
    if (rc == 0 && t->n == 0) {
        snprintf(err, errsize, "%s holds no token", path);
        rc = -1;
    }
    memset(text, 0, strlen(text));
    free(text);
    return rc;
}

void srv_tokens_free(srv_tokens *t)
{
    memset(t, 0, sizeof(*t));
}

bool srv_tokens_accept(const srv_tokens *t, const char *header)
{
    static const char PREFIX[] = "Bearer ";
    /* the scheme is case-insensitive (RFC 9110 11.1): "bearer" too */
    if (!header || strncasecmp(header, PREFIX, sizeof(PREFIX) - 1) != 0)
        return false;
    const char *tok = header + sizeof(PREFIX) - 1;
    char got[65];
    duro__sha256_hex(tok, strlen(tok), got);
    unsigned ok = 0;
    for (int i = 0; i < t->n; i++) {
        unsigned diff = 0;
        for (int k = 0; k < 64; k++)
            diff |= (unsigned)(got[k] ^ t->digest[i][k]);
        ok |= (unsigned)(diff == 0);
    }
    return ok != 0;
}
