/* pa_record.h: the records of a pending activity in duro:{pN}:pa:<id>
 * (docs/internals.md "Pending activity fields"), as the Lua library writes
 * them since library 28: field "<seq>" holds its state, "<seq>.s" its
 * schedule; each a header of comma-separated fields ended by ';', then the
 * variable parts back to back, their lengths in the header. */
#ifndef DURO_PA_RECORD_H
#define DURO_PA_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include "duro/export.h"

/* duro_pa_part: a slice of a record (not NUL-terminated). */
typedef struct {
    const char *s;
    size_t len;
} duro_pa_part;

/* "<attempt>,<entry>,<deadline>,<hb>,<#queue>,<#details>;" queue details
 * failure */
typedef struct {
    duro_pa_part attempt, entry, deadline, hb, queue, details, failure;
} duro_pa_state;

/* "<stc>,<hbt>,<sched>,<#name>,<#opts>;" name opts input */
typedef struct {
    duro_pa_part stc, hbt, sched, name, opts, input;
} duro_pa_sched;

/* duro_pa_state_parse / duro_pa_sched_parse: the parts of record s[0..len)
 * into *out; false when it has another shape (lengths past its end). */
DURO_EXPORT bool duro_pa_state_parse(const char *s, size_t len,
                                     duro_pa_state *out);
DURO_EXPORT bool duro_pa_sched_parse(const char *s, size_t len,
                                     duro_pa_sched *out);

#endif
