/* fuzz_history.c: libFuzzer target for duro_event_decode, the codec every
 * worker and client runs on history elements read from Redis.
 *
 * Input: one byte for the event id (0 must be refused), then the element
 * itself, "type \n ts \n data" as written by the Functions or garbage
 * pushed into the list by hand. It is copied NUL-terminated, as hiredis
 * hands strings out, and may hold NULs. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "duro/history.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int64_t id = data[0];
    size_t len = size - 1;
    char *s = malloc(len + 1);
    if (!s) return 0;
    memcpy(s, data + 1, len);
    s[len] = '\0';

    duro_event e;
    char err[size % 2 ? 256 : 16];
    if (duro_event_decode(s, len, id, &e, err, sizeof(err)) == 0) {
        if (!e.data || !cJSON_IsObject(e.data)) abort(); /* documented */
        if (e.id != id || id < 1) abort();
        (void)duro_event_seq(&e);
        (void)duro_event_name(e.type);
        duro_event_free(&e);
    } else if (!memchr(err, '\0', sizeof(err))) {
        abort(); /* the reason must be a terminated string */
    }
    free(s);
    return 0;
}
