/* pa_record.c: parsing a pending activity's packed records (pa_record.h). */
#include "duro/pa_record.h"

/* header splits the n ','-separated fields ended by ';' that open s into
 * f[]; returns the offset of the body, or -1. */
static long header(const char *s, size_t len, size_t n, duro_pa_part *f)
{
    size_t i = 0, start = 0;
    for (size_t j = 0; j < len && i < n; j++) {
        if (s[j] != (i + 1 < n ? ',' : ';')) continue;
        f[i].s = s + start;
        f[i++].len = j - start;
        start = j + 1;
    }
    return i == n ? (long)start : -1;
}

/* length: a header field holding a length; false when not all digits. */
static bool length(duro_pa_part p, size_t *out)
{
    size_t v = 0;
    if (p.len == 0 || p.len > 10) return false;
    for (size_t i = 0; i < p.len; i++) {
        if (p.s[i] < '0' || p.s[i] > '9') return false;
        v = v * 10 + (size_t)(p.s[i] - '0');
    }
    *out = v;
    return true;
}

/* body cuts the two measured parts a, b and the rest of s from offset at. */
static bool body(const char *s, size_t len, long at, duro_pa_part la,
                 duro_pa_part lb, duro_pa_part *a, duro_pa_part *b,
                 duro_pa_part *rest)
{
    size_t na, nb;
    if (at < 0 || !length(la, &na) || !length(lb, &nb) ||
        (size_t)at + na + nb > len)
        return false;
    size_t o = (size_t)at;
    *a = (duro_pa_part){s + o, na};
    *b = (duro_pa_part){s + o + na, nb};
    *rest = (duro_pa_part){s + o + na + nb, len - o - na - nb};
    return true;
}

bool duro_pa_state_parse(const char *s, size_t len, duro_pa_state *out)
{
    duro_pa_part f[6];
    long at = s ? header(s, len, 6, f) : -1;
    if (at < 0) return false;
    out->attempt = f[0];
    out->entry = f[1];
    out->deadline = f[2];
    out->hb = f[3];
    return body(s, len, at, f[4], f[5], &out->queue, &out->details,
                &out->failure);
}

bool duro_pa_sched_parse(const char *s, size_t len, duro_pa_sched *out)
{
    duro_pa_part f[5];
    long at = s ? header(s, len, 5, f) : -1;
    if (at < 0) return false;
    out->stc = f[0];
    out->hbt = f[1];
    out->sched = f[2];
    return body(s, len, at, f[3], f[4], &out->name, &out->opts, &out->input);
}
