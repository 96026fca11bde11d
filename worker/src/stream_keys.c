/* stream_keys.c: the names of a worker's task streams, per kind and
 * partition: the plain ones (workflow tasks, activity tasks, queries, and
 * this worker's sticky stream) and the other priority levels' streams of
 * workflow and activity tasks (duro/priority.h). Made once the partition
 * count is known (connect.c), freed with the worker. */
#include <stdlib.h>
#include <string.h>

#include "duro/errno.h"
#include "duro/keys.h"
#include "duro/priority.h"
#include "worker_internal.h"

const char *duro__stream_key(const duro_worker *w, int kind, int p)
{
    if (kind >= DURO_STREAM_WFT_L1) {
        char **set = w->prio_keys[kind - DURO_STREAM_WFT_L1];
        return set ? set[p] : NULL;
    }
    char **const sets[] = {w->wft_keys, w->act_keys, w->qry_keys,
                           w->sticky_keys};
    return sets[kind] ? sets[kind][p] : NULL;
}

int duro__stream_kind_at(int base, int level)
{
    if (level == DURO_PRIORITY_DEFAULT) return base;
    int first =
        base == DURO_STREAM_WFT ? DURO_STREAM_WFT_L1 : DURO_STREAM_ACT_L1;
    return first + (level < DURO_PRIORITY_DEFAULT ? level - 1 : level - 2);
}

const char *duro__wft_task_key(const duro_worker *w, int p, bool sticky,
                               int level)
{
    if (sticky && w->sticky_keys) return w->sticky_keys[p];
    return duro__stream_key(w, duro__stream_kind_at(DURO_STREAM_WFT, level), p);
}

void duro__stream_keys_free(duro_worker *w)
{
    char **sets[] = {w->wft_keys, w->act_keys, w->qry_keys, w->sticky_keys};
    for (int i = 0; i < 4; i++) {
        for (int p = 0; sets[i] && p < w->partitions; p++)
            free(sets[i][p]);
        free(sets[i]);
    }
    w->wft_keys = w->act_keys = w->qry_keys = w->sticky_keys = NULL;
    for (int i = 0; i < 8; i++) {
        for (int p = 0; w->prio_keys[i] && p < w->partitions; p++)
            free(w->prio_keys[i][p]);
        free(w->prio_keys[i]);
        w->prio_keys[i] = NULL;
    }
}

/* prio_keys_make names the other priority levels' streams of partition p
 * (after the plain ones); 0 or DURO_ENOMEM. */
static int prio_keys_make(duro_worker *w, int p)
{
    for (int base = DURO_STREAM_WFT; base <= DURO_STREAM_ACT; base++)
        for (int l = DURO_PRIORITY_MIN; l <= DURO_PRIORITY_MAX; l++) {
            if (l == DURO_PRIORITY_DEFAULT) continue;
            char k[DURO_KEY_MAX];
            int i = duro__stream_kind_at(base, l) - DURO_STREAM_WFT_L1;
            if (!w->prio_keys[i] &&
                !(w->prio_keys[i] =
                      calloc((size_t)w->partitions, sizeof(char *))))
                return DURO_ENOMEM;
            const char *plain =
                base == DURO_STREAM_WFT ? w->wft_keys[p] : w->act_keys[p];
            if (!(w->prio_keys[i][p] =
                      strdup(duro_priority_key(k, sizeof(k), plain, l))))
                return DURO_ENOMEM;
        }
    return 0;
}

int duro__stream_keys_make(duro_worker *w)
{
    duro__stream_keys_free(w);
    size_t n = (size_t)w->partitions;
    if (!(w->wft_keys = calloc(n, sizeof(char *))) ||
        !(w->act_keys = calloc(n, sizeof(char *))) ||
        !(w->qry_keys = calloc(n, sizeof(char *))) ||
        (w->sticky_ms > 0 && !(w->sticky_keys = calloc(n, sizeof(char *)))))
        return DURO_ENOMEM;
    for (int p = 0; p < w->partitions; p++) {
        char k[DURO_KEY_MAX];
        if (!(w->wft_keys[p] = strdup(
                  duro_key_wft(k, sizeof(k), &w->ks, p, w->task_queue))) ||
            !(w->act_keys[p] = strdup(
                  duro_key_act(k, sizeof(k), &w->ks, p, w->task_queue))) ||
            !(w->qry_keys[p] = strdup(
                  duro_key_qry(k, sizeof(k), &w->ks, p, w->task_queue))) ||
            (w->sticky_keys &&
             !(w->sticky_keys[p] = strdup(duro_key_wft_sticky(
                   k, sizeof(k), &w->ks, p, w->task_queue, w->identity)))) ||
            prio_keys_make(w, p) != 0)
            return DURO_ENOMEM;
    }
    return 0;
}

int duro__partition_of_key(const char *key)
{
    const char *p = strstr(key, "{p");
    return p ? (int)strtol(p + 2, NULL, 10) : -1;
}
