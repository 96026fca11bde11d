/* later.c: calls to make again after Redis refused them for now (one
 * timer for all, capped jittered backoff). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "duro/clock.h"
#include "duro/log.h"
#include "duro/retry.h"
#include "worker_internal.h"

/* ---- Retrying later ---- */

static void on_retry_timer(uv_timer_t *h);

static void arm_retry_timer(duro_worker *w)
{
    if (!w->later || uv_is_closing((uv_handle_t *)&w->retry_timer)) return;
    int64_t first = w->later->due_ms;
    for (duro__later *l = w->later; l; l = l->next)
        if (l->due_ms < first) first = l->due_ms;
    int64_t delay = first - duro_mono_ms();
    uv_timer_start(&w->retry_timer, on_retry_timer,
                   delay > 0 ? (uint64_t)delay : 0, 0);
}

/* on_retry_timer runs the calls that are due; each may queue itself again
 * (so the list is taken first). */
static void on_retry_timer(uv_timer_t *h)
{
    duro_worker *w = h->data;
    int64_t now = duro_mono_ms();
    duro__later *due = NULL, **p = &w->later;
    while (*p) {
        duro__later *l = *p;
        if (l->due_ms <= now) {
            *p = l->next;
            l->next = due;
            due = l;
        } else {
            p = &l->next;
        }
    }
    while (due) {
        duro__later *l = due;
        due = l->next;
        l->next = NULL;
        l->waiting = false;
        l->fn(l);
    }
    arm_retry_timer(w);
}

void duro__later_cancel(duro_worker *w, duro__later *l)
{
    if (!l->waiting) return;
    for (duro__later **p = &w->later; *p; p = &(*p)->next)
        if (*p == l) {
            *p = l->next;
            break;
        }
    l->next = NULL;
    l->waiting = false;
}

void duro__retry_later(duro_worker *w, duro__later *l, duro__later_fn fn)
{
    l->tries++;
    duro__call_at(w, l, fn,
                  duro_mono_ms() + duro_redis_backoff_ms(l->tries, 5000));
}

void duro__call_at(duro_worker *w, duro__later *l, duro__later_fn fn,
                   int64_t due_ms)
{
    if (l->waiting) return; /* already queued: once is enough */
    l->fn = fn;
    l->waiting = true;
    l->due_ms = due_ms;
    l->next = w->later;
    w->later = l;
    arm_retry_timer(w);
}
