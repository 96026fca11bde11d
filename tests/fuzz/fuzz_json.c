/* fuzz_json.c: libFuzzer target for duro_json_parse, which parses exactly
 * `len` bytes: the input is copied to the very end of a readable region,
 * right before an inaccessible page, so that a read past it faults even
 * inside cJSON (a system library ASan does not instrument). What parses
 * must print and parse again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "duro/json.h"

#define REGION_PAGES 16

/* at_guard: a copy of s[0..len) that ends where a PROT_NONE page begins,
 * or NULL when len does not fit. */
static char *at_guard(const uint8_t *s, size_t len)
{
    static char *region;
    static size_t room;
    if (!region) {
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        room = REGION_PAGES * page;
        region = mmap(NULL, room + page, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (region == MAP_FAILED) abort();
        if (mprotect(region + room, page, PROT_NONE) != 0) abort();
    }
    if (len > room) return NULL;
    memcpy(region + room - len, s, len);
    return region + room - len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    /* the first byte picks the size limit: none, or the input's half */
    size_t max = data[0] & 1 ? (size - 1) / 2 : (size_t)-1;
    size_t len = size - 1;
    char *s = at_guard(data + 1, len);
    if (!s) return 0;
    cJSON *v = NULL;
    char err[data[0] & 2 ? 8 : 128];
    int rc = duro_json_parse(s, len, max, &v, err, sizeof(err));
    if (rc == 0) {
        if (len > max) abort();
        char *text = duro_json_print(v);
        if (!text) abort();
        cJSON *again = NULL;
        char err2[128];
        if (duro_json_parse(text, strlen(text), (size_t)-1, &again, err2,
                            sizeof(err2)) != 0)
            abort();
        cJSON_Delete(again);
        free(text);
        cJSON_Delete(v);
    } else if (v || !memchr(err, '\0', sizeof(err))) {
        abort();
    }
    return 0;
}
