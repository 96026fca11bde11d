/* size.h: byte sizes written 65536, 256k, 1m, 2MiB. */
#ifndef DURO_SIZE_H
#define DURO_SIZE_H

#include <stddef.h>
#include "duro/export.h"

/* duro_size_parse parses a byte count: a decimal integer with an optional
 * binary unit, k/K/KB/KiB (1024), m/M/MB/MiB (1024^2) or g/G/GB/GiB
 * (1024^3), case-insensitive, and no space before it ("256k", "1m",
 * "64KiB", "4096"). Returns 0 and sets *bytes, or DURO_EINVAL for anything
 * else (empty, a sign, a fraction, an unknown unit, trailing garbage, more
 * than SIZE_MAX); *bytes is untouched then. */
DURO_EXPORT int duro_size_parse(const char *s, size_t *bytes);

/* duro_size_format writes the largest exact unit ("256KiB", "1MiB",
 * "1000B") into buf and returns buf. */
DURO_EXPORT char *duro_size_format(size_t bytes, char *buf, size_t size);

#endif
