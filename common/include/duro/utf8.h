/* utf8.h: well-formed UTF-8, checked where text enters, mended where
 * stored text leaves as JSON (RFC 8259 requires UTF-8). */
#ifndef DURO_UTF8_H
#define DURO_UTF8_H

#include <stddef.h>
#include "duro/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* duro_utf8_check: 0 if the len bytes at s are well-formed UTF-8 (RFC
 * 3629: no overlong form, no surrogate, nothing above U+10FFFF), else
 * DURO_EINVAL with *bad (when not NULL) the offset of the first byte that
 * does not start a well-formed sequence. One linear pass. */
DURO_EXPORT int duro_utf8_check(const char *s, size_t len, size_t *bad);

/* duro_utf8_mend takes the NUL-terminated heap string s (NULL passes
 * through) and returns it unchanged when it is well-formed, else a new
 * heap copy where each ill-formed byte became U+FFFD and s is freed.
 * Returns NULL (s freed) when out of memory. Caller frees with duro_free()
 * (free() unless duro_set_allocator replaced it): for JSON printed from what is
 * already stored (ids and payloads written before input was checked), so that
 * the output is valid JSON. */
DURO_EXPORT char *duro_utf8_mend(char *s);

#ifdef __cplusplus
}
#endif
#endif
