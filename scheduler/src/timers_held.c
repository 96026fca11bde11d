/* timers_held.c: the members of a partition's timers whose fire failed
 * for their own reason (a key of the wrong type), each skipped by the
 * rounds until its own backoff ends (timers.c says why). */
#include <stdlib.h>
#include <string.h>

#include "duro/retry.h"
#include "sched_internal.h"
#include "timers_held.h"

#define HELD_MAX_MS 10000  /* a member that failed on its own */
#define HELD_PER_PART 1024 /* beyond: failing members are not skipped */

held *held_lookup(part *pt, const char *member, size_t len)
{
    for (int i = 0; i < pt->nheld; i++)
        if (pt->held[i].len == len && !memcmp(pt->held[i].member, member, len))
            return &pt->held[i];
    return NULL;
}

void held_remove(part *pt, held *h)
{
    free(h->member);
    *h = pt->held[--pt->nheld];
}

/* held_add notes one more failure of member; its next try is backed off. */
void held_add(part *pt, const char *member, size_t len)
{
    held *h = held_lookup(pt, member, len);
    if (!h) {
        if (pt->nheld == HELD_PER_PART) return;
        if (pt->nheld == pt->capheld) {
            int cap = pt->capheld ? pt->capheld * 2 : 8;
            held *n = realloc(pt->held, (size_t)cap * sizeof(*n));
            if (!n) return;
            pt->held = n;
            pt->capheld = cap;
        }
        char *copy = malloc(len ? len : 1);
        if (!copy) return;
        memcpy(copy, member, len);
        h = &pt->held[pt->nheld++];
        *h = (held){.member = copy, .len = len};
    }
    h->tries++;
    h->seen = 1;
    h->retry_at =
        sched_now_ms(pt->s) + duro_redis_backoff_ms(h->tries, HELD_MAX_MS);
}

/* held_sweep, at the end of a complete round: a held member the round did
 * not meet although its retry was due is gone from the set. Returns the
 * earliest retry of the rest (NEXT_NONE: none). */
int64_t held_sweep(part *pt, int complete)
{
    int64_t now = sched_now_ms(pt->s), first = NEXT_NONE;
    for (int i = 0; i < pt->nheld;) {
        held *h = &pt->held[i];
        if (complete && !h->seen && h->retry_at <= now) {
            held_remove(pt, h);
            continue;
        }
        h->seen = 0;
        if (h->retry_at < first) first = h->retry_at;
        i++;
    }
    return first;
}
