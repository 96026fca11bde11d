/* fake_history.h: synthetic run histories for the replay engine's unit
 * tests (no Redis): events numbered from 1, a second apart. */
#ifndef DURO_TEST_FAKE_HISTORY_H
#define DURO_TEST_FAKE_HISTORY_H

#include <criterion/criterion.h>
#include "duro/history.h"

typedef struct {
    duro_event ev[64];
    int n;
} history;

/* add appends an event of `type` with JSON `data` (asserted to parse). */
static inline void add(history *h, duro_event_type type, const char *data)
{
    cr_assert_lt(h->n, 64, "history full");
    duro_event *e = &h->ev[h->n];
    e->id = ++h->n;
    e->type = type;
    e->ts = 1000 * e->id;
    e->data = cJSON_Parse(data);
    cr_assert_not_null(e->data, "bad test JSON %s", data);
}

static inline void history_free(history *h)
{
    for (int i = 0; i < h->n; i++)
        cJSON_Delete(h->ev[i].data);
}

#endif
