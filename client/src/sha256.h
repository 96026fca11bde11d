/* sha256.h: SHA-256 (FIPS 180-4), for ACL password hashes. */
#ifndef DURO_SHA256_H
#define DURO_SHA256_H

#include <stddef.h>

/* duro__sha256_hex writes the SHA-256 of data[0..len) into out as 64
 * lower-case hex digits and a NUL: the form Redis' ACL SETUSER takes after
 * '#', so that a printed ACL line never holds the password itself. */
void duro__sha256_hex(const void *data, size_t len, char out[65]);

#endif
