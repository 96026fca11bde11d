/* json.c: bounded, strict JSON parsing and compact printing over cJSON. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_internal.h"
#include "duro/errno.h"
#include "duro/json.h"
#include "duro/utf8.h"

int duro_json_parse(const char *s, size_t len, size_t max, cJSON **out,
                    char *err, size_t errsize)
{
    *out = NULL;
    if (len > max) {
        if (err && errsize)
            snprintf(err, errsize, "JSON of %zu bytes exceeds the limit of %zu",
                     len, max);
        return DURO_ETOOBIG;
    }
    if (!s || len == 0) {
        if (err && errsize) snprintf(err, errsize, "empty JSON");
        return DURO_EJSON;
    }
    const char *end = NULL;
    unsigned long failed = duro__alloc_failures();
    cJSON *v = cJSON_ParseWithLengthOpts(s, len, &end, 0);
    if (!v && duro__alloc_failures() != failed) {
        if (err && errsize) snprintf(err, errsize, "out of memory");
        return DURO_ENOMEM;
    }
    if (!v) {
        if (err && errsize) {
            const char *at = cJSON_GetErrorPtr();
            size_t off = at && at >= s && at <= s + len ? (size_t)(at - s) : 0;
            snprintf(err, errsize, "invalid JSON near byte %zu", off);
        }
        return DURO_EJSON;
    }
    /* cJSON stops after the first value and skips whitespace; a NUL inside
     * the buffer also stops it, so check that everything was consumed. */
    size_t used = end ? (size_t)(end - s) : len;
    while (used < len && (s[used] == ' ' || s[used] == '\t' ||
                          s[used] == '\n' || s[used] == '\r'))
        used++;
    if (used != len) {
        cJSON_Delete(v);
        if (err && errsize)
            snprintf(err, errsize, "trailing data after JSON at byte %zu",
                     used);
        return DURO_EJSON;
    }
    *out = v;
    return 0;
}

int duro_json_parse_input(const char *s, size_t len, size_t max, cJSON **out,
                          char *err, size_t errsize)
{
    size_t at;
    *out = NULL;
    if (s && len <= max && duro_utf8_check(s, len, &at) != 0) {
        if (err && errsize)
            snprintf(err, errsize, "invalid UTF-8 at byte %zu", at);
        return DURO_EJSON;
    }
    return duro_json_parse(s, len, max, out, err, errsize);
}

char *duro_json_print_out(const cJSON *v)
{
    return duro_utf8_mend(duro_json_print(v));
}

char *duro_json_print(const cJSON *v)
{
    if (!v) return strdup("null");
    return cJSON_PrintUnformatted(v);
}

const char *duro_json_str(const cJSON *o, const char *name, const char *def)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(m) && m->valuestring ? m->valuestring : def;
}

int64_t duro_json_int(const cJSON *o, const char *name, int64_t def)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsNumber(m)) return def;
    double d = m->valuedouble;
    /* valueint saturates at INT_MAX; use the double, bounded to int64. */
    if (!isfinite(d) || d >= 9223372036854775807.0 ||
        d < -9223372036854775808.0)
        return def;
    return (int64_t)d;
}
