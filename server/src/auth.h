/* auth.h: the bearer tokens of --api-token-file, and reading small files. */
#ifndef DURO_SERVER_AUTH_H
#define DURO_SERVER_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#define SRV_MAX_TOKENS 16

/* srv_tokens: the SHA-256 of each accepted token (one per line of the
 * file, so that a new one can be added before the old one is removed). */
typedef struct {
    char digest[SRV_MAX_TOKENS][65]; /* hex */
    int n;
} srv_tokens;

/* srv_tokens_load reads the token file (blank lines and lines starting
 * with # skipped; at least one token of 16+ bytes). 0 or -1 with err. */
int srv_tokens_load(srv_tokens *t, const char *path, char *err, size_t errsize);
void srv_tokens_free(srv_tokens *t);

/* srv_tokens_accept: the Authorization header value ("Bearer <token>")
 * holds one of the tokens. Compares digests in constant time, so the time
 * taken says nothing about how much of a token matched. */
bool srv_tokens_accept(const srv_tokens *t, const char *header);

/* srv_read_file: the whole file (at most max bytes) NUL-terminated, or
 * NULL with err. The caller frees. */
char *srv_read_file(const char *path, size_t max, char *err, size_t errsize);

#endif
