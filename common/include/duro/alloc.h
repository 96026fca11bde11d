/* alloc.h: pluggable allocator hooks for the common library and cJSON, so
 * tests inject out-of-memory (as hiredis's hiredisAllocFuncs). The hiredis
 * of Debian 12 (0.14) has no allocator hooks; its allocations stay libc's. */
#ifndef DURO_ALLOC_H
#define DURO_ALLOC_H

#include <stddef.h>
#include "duro/export.h"

/* duro_alloc_fns: the allocator duro_malloc and friends call. Every field
 * must be set. Callers release what the library hands them (rendered
 * metrics, printed JSON) with free(), and memory
 * allocated before the hooks were set is released through them, so the
 * functions must wrap libc's allocator: a test's hook decides whether to
 * fail, then calls malloc. */
typedef struct duro_alloc_fns {
    void *(*malloc_fn)(size_t size);
    void *(*calloc_fn)(size_t n, size_t size);
    void *(*realloc_fn)(void *p, size_t size);
    void (*free_fn)(void *p);
} duro_alloc_fns;

/* duro_set_allocator installs fns (copied) for the common library and
 * wires cJSON (cJSON_InitHooks) to them; NULL restores libc's. Call it before
 * other threads allocate: a test seam, not a runtime switch. */
DURO_EXPORT void duro_set_allocator(const duro_alloc_fns *fns);

/* duro_malloc, duro_calloc, duro_realloc, duro_alloc_strdup, duro_free: libc's
 * contract, through the hooks. A NULL result is out of memory. */
DURO_EXPORT void *duro_malloc(size_t size);
DURO_EXPORT void *duro_calloc(size_t n, size_t size);
DURO_EXPORT void *duro_realloc(void *p, size_t size);
DURO_EXPORT char *duro_alloc_strdup(const char *s);
DURO_EXPORT void duro_free(void *p);

#endif
