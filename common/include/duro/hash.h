/* hash.h: FNV-1a, the one non-cryptographic string hash Duro uses (run
 * cache buckets, a run's deterministic random seed). Internal to Duro's
 * programs (not installed). */
#ifndef DURO_HASH_H
#define DURO_HASH_H

#include <stdint.h>

/* duro__fnv1a64: the 64-bit FNV-1a hash of the NUL-terminated s, with
 * Duro's own offset basis (see hash.c). Stable
 * across versions and machines: a run's random numbers replay from it. */
uint64_t duro__fnv1a64(const char *s);

#endif
