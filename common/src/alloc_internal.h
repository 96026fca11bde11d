/* alloc_internal.h: what the common library's own files need from alloc.c. */
#ifndef DURO_ALLOC_INTERNAL_H
#define DURO_ALLOC_INTERNAL_H

/* duro__alloc_failures: how many allocations have failed on this thread;
 * compare it around a call to learn whether a NULL was out of memory. */
unsigned long duro__alloc_failures(void);

#endif
