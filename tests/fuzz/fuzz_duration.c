/* fuzz_duration.c: libFuzzer target for duro_duration_parse (flags, inputs
 * of workflows) and, for what it accepts, duro_duration_format: the
 * shortest form must parse back to the same milliseconds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "duro/duration.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    int64_t ms = -1;
    if (duro_duration_parse(s, &ms) == 0) {
        if (ms < 0) abort(); /* negative durations are rejected */
        char buf[64];
        int64_t again = -1;
        duro_duration_format(ms, buf, sizeof(buf));
        if (duro_duration_parse(buf, &again) != 0 || again != ms) abort();
        char tiny[4]; /* truncation must stay in bounds and terminated */
        duro_duration_format(ms, tiny, sizeof(tiny));
        if (!memchr(tiny, '\0', sizeof(tiny))) abort();
    }
    free(s);
    return 0;
}
