/* alloc.c: the allocator hooks of alloc.h, shared with cJSON. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_internal.h"
#include "duro/alloc.h"

static duro_alloc_fns fns = {malloc, calloc, realloc, free};

/* failures: allocations this thread saw fail, so a caller of a library
 * that answers NULL for both bad input and out of memory (cJSON) can tell
 * which it was. */
static __thread unsigned long failures;

unsigned long duro__alloc_failures(void)
{
    return failures;
}

static void *counted(void *p, size_t size)
{
    if (p == NULL && size != 0) failures++;
    return p;
}

void *duro_malloc(size_t size)
{
    return counted(fns.malloc_fn(size), size);
}

void *duro_calloc(size_t n, size_t size)
{
    return counted(fns.calloc_fn(n, size), n * size);
}

void *duro_realloc(void *p, size_t size)
{
    return counted(fns.realloc_fn(p, size), size);
}

char *duro_alloc_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = duro_malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

void duro_free(void *p)
{
    fns.free_fn(p);
}

void duro_set_allocator(const duro_alloc_fns *f)
{
    static const duro_alloc_fns libc = {malloc, calloc, realloc, free};
    fns = f ? *f : libc;
    if (f) {
        cJSON_Hooks hooks = {.malloc_fn = duro_malloc, .free_fn = duro_free};
        cJSON_InitHooks(&hooks);
    } else {
        cJSON_InitHooks(NULL);
    }
}
