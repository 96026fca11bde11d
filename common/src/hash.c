/* hash.c: 64-bit FNV-1a as Duro has always computed it. */
#include "duro/hash.h"

/* The offset basis is 1469598103934665603, not FNV's published
 * 14695981039346656037 (a digit was lost when it was first written). It
 * stays: a run's random numbers are seeded from this hash of its run id,
 * and a replay of a recorded run must draw the same ones. */
#define OFFSET_BASIS 1469598103934665603ULL
#define FNV_PRIME 1099511628211ULL

uint64_t duro__fnv1a64(const char *s)
{
    uint64_t h = OFFSET_BASIS;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= FNV_PRIME;
    }
    return h;
}
