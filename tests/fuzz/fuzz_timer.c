/* fuzz_timer.c: libFuzzer target for duro_timer_parse, which the scheduler
 * runs on every member of the timers sorted sets. What parses must build
 * again (duro_timer_member) into a member that parses to the same fields. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "duro/keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *m = malloc(size + 1);
    memcpy(m, data, size);
    m[size] = '\0';
    duro_timer_ref t;
    if (duro_timer_parse(m, &t) == 0) {
        size_t cap = size + 64; /* room for "-0" written as "0" and so on */
        char *built = malloc(cap);
        duro_timer_member(built, cap, t.kind, t.run, t.a, t.b, t.wfqueue,
                          t.actqueue, t.id);
        duro_timer_ref u;
        if (duro_timer_parse(built, &u) != 0 || u.kind != t.kind ||
            u.a != t.a || u.b != t.b || strcmp(u.run, t.run) != 0 ||
            strcmp(u.wfqueue, t.wfqueue) != 0 ||
            strcmp(u.actqueue, t.actqueue) != 0 || strcmp(u.id, t.id) != 0)
            abort();
        free(built);
    }
    free(m);
    return 0;
}
