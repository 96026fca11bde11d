/* errno.h: Duro's error codes, negative like libuv's, and their messages. */
#ifndef DURO_ERRNO_H
#define DURO_ERRNO_H

#include "duro/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* DURO_ERRNO_MAP(XX): one list for the codes, names and messages. */
#define DURO_ERRNO_MAP(XX)                                                     \
    XX(EINVAL, -1, "invalid argument")                                         \
    XX(ENOMEM, -2, "out of memory")                                            \
    XX(EREDIS, -3, "redis error")                                              \
    XX(ECONN, -4, "cannot reach redis")                                        \
    XX(ESTALE, -5, "stale task: the token or attempt no longer matches")       \
    XX(ENOTFOUND, -6, "workflow not found")                                    \
    XX(EALREADY, -7, "workflow already started")                               \
    XX(ENOTRUNNING, -8, "workflow is not running")                             \
    XX(ETIMEDOUT, -9, "timed out")                                             \
    XX(ENONDET, -10, "non-deterministic workflow code")                        \
    XX(ETOOBIG, -11, "payload too large")                                      \
    XX(EJSON, -12, "invalid JSON")                                             \
    XX(EPROTO, -13, "malformed data in redis")                                 \
    XX(EFAILED, -14, "workflow did not complete")                              \
    XX(EAGAIN, -15, "redis cannot serve this now (OOM, BUSY, LOADING, ...)")   \
    XX(EAUTH, -16,                                                             \
       "redis refused the credentials or the rights, or a TLS certificate")    \
    XX(ECODEC, -17, "payload codec: no key for the payload, or tampered")

typedef enum {
#define XX(name, value, msg) DURO_##name = (value),
    DURO_ERRNO_MAP(XX)
#undef XX
} duro_errno;

/* duro_strerror returns a static message for a DURO_E* code. */
DURO_EXPORT const char *duro_strerror(int err);
/* duro_err_name returns "EINVAL" and so on; "UNKNOWN" otherwise. */
DURO_EXPORT const char *duro_err_name(int err);
/* duro_err_is_transient: true for the codes after which the same request
 * may succeed unchanged later (a lost connection, DURO_EAGAIN): keep the
 * work and retry with backoff rather than dropping it. */
DURO_EXPORT int duro_err_is_transient(int err);

#ifdef __cplusplus
}
#endif
#endif
