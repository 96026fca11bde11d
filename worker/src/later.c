/* later.c: calls to make again after Redis refused them for now (one
 * timer for all, capped jittered backoff), and rate-limited error lines.
 *
 * The rate-limited log is a stop-gap local to the worker until
 * common/src/log.c has a general helper: duro__ratelog_warn and
 * duro__ratelog_flush map one for one onto it. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "duro/clock.h"
#include "duro/log.h"
#include "worker_internal.h"

/* ---- Rate-limited logging ---- */

void duro__ratelog_warn(duro__ratelog *rl, const char *fmt, ...)
{
    int64_t now = duro_mono_ms();
    if (rl->window_end_ms && now < rl->window_end_ms) {
        rl->repeats++;
        return;
    }
    duro__ratelog_flush(rl);
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    duro_warn("%s (repeats counted for %ds)", msg,
              DURO_RATELOG_WINDOW_MS / 1000);
    rl->window_end_ms = now + DURO_RATELOG_WINDOW_MS;
    rl->repeats = 0;
}

void duro__ratelog_flush(duro__ratelog *rl)
{
    if (!rl->window_end_ms || duro_mono_ms() < rl->window_end_ms) return;
    if (rl->repeats > 0)
        duro_warn("%s repeated=%lu in the last %ds", rl->tag, rl->repeats,
                  DURO_RATELOG_WINDOW_MS / 1000);
    rl->window_end_ms = 0;
    rl->repeats = 0;
}

/* ---- Retrying later ---- */

int64_t duro__backoff_ms(int tries)
{
    int64_t d = 100;
    for (int i = 1; i < tries && d < 5000; i++)
        d *= 2;
    if (d > 5000) d = 5000;
    /* jitter: half to all of it */
    return d / 2 + (int64_t)((uint64_t)rand() % (uint64_t)(d / 2 + 1));
}

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
        l->fn(l);
    }
    arm_retry_timer(w);
}

void duro__retry_later(duro_worker *w, duro__later *l, duro__later_fn fn)
{
    l->tries++;
    l->fn = fn;
    l->due_ms = duro_mono_ms() + duro__backoff_ms(l->tries);
    l->next = w->later;
    w->later = l;
    arm_retry_timer(w);
}
