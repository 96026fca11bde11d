/* cachestats.c: the worker counts of a throughput run (workers per run,
 * run cache hits, misses and replays per workflow) and the flag that
 * picks the worker counts (`--workers 1,2,4`).
 *
 * Each bench-worker logs one STOPPED line when it stops (worker/src/
 * worker.c): workflow tasks, eager commits, replays, cache hits and misses
 * and the tasks that started a run. A run's first task can never hit (its
 * code never ran), so a miss here is a task that found no cached run
 * although its code had run before: that run is rebuilt by replaying its
 * history. Eager commits (an activity completion that also commits the
 * next workflow task) are served from the cache, so they count as hits.
 * Eager activities: activity tasks a worker's commit took for it (eager
 * activity dispatch), so that the run's activities run where it is cached.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

int bench_workers_parse(bench_opts *o, const char *arg)
{
    o->nwlist = 0;
    const char *p = arg;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > BENCH_MAX_WORKERS ||
            (*end && *end != ',') || o->nwlist == BENCH_MAX_WORKERS) {
            fprintf(stderr,
                    "duro-bench: --workers wants W or a list W,W,... of "
                    "1..%d\n",
                    BENCH_MAX_WORKERS);
            return -1;
        }
        o->wlist[o->nwlist++] = (int)v;
        p = *end ? end + 1 : end;
    }
    if (o->nwlist == 0) return -1;
    o->workers = o->wlist[0];
    return 0;
}

/* field: the number after " name=" in line, or 0. */
static double field(const char *line, const char *name)
{
    char key[64];
    snprintf(key, sizeof(key), " %s=", name);
    const char *p = strstr(line, key);
    return p ? strtod(p + strlen(key), NULL) : 0;
}

void bench_cache_figures(bench *b, int log, int nworkers, int w, int nwf,
                         cJSON *out)
{
    double tasks = 0, eager = 0, hits = 0, misses = 0, replays = 0, first = 0;
    double eager_acts = 0; /* activities taken by their run's own commit */
    int found = 0;
    for (int i = 0; i < nworkers; i++) {
        char path[PATH_MAX + 64], line[1024];
        snprintf(path, sizeof(path), "%s/worker-%d.%d.log", b->tmpdir, log, i);
        FILE *f = fopen(path, "r");
        while (f && fgets(line, sizeof(line), f)) {
            if (!strstr(line, " STOPPED ")) continue;
            found++;
            tasks += field(line, "workflow_tasks");
            eager += field(line, "eager");
            eager_acts += field(line, "eager_activities");
            hits += field(line, "cache_hits");
            misses += field(line, "cache_misses");
            replays += field(line, "replays");
            first += field(line, "first_tasks");
        }
        if (f) fclose(f);
    }
    if (found < nworkers) {
        printf("  cache W=%d: %d of %d workers logged their counts\n", w, found,
               nworkers);
        return;
    }
    /* first tasks are misses and replays that could not be anything else */
    double h = hits + eager, m = misses - first, r = replays - first;
    if (m < 0) m = 0;
    if (r < 0) r = 0;
    double ratio = h + m > 0 ? h / (h + m) : 1;
    printf("  cache W=%d: per wf %.2f workflow tasks (%.2f eager), %.2f "
           "eager activities, %.2f hits, %.3f misses, %.3f replays; hit "
           "ratio %.1f%% (>= 95%%)\n",
           w, (tasks) / nwf, eager / nwf, eager_acts / nwf, h / nwf, m / nwf,
           r / nwf, 100 * ratio);
    cJSON *c = cJSON_AddObjectToObject(out, "cache");
    cJSON_AddNumberToObject(c, "workflow_tasks_per_wf", tasks / nwf);
    cJSON_AddNumberToObject(c, "eager_per_wf", eager / nwf);
    cJSON_AddNumberToObject(c, "eager_activities_per_wf", eager_acts / nwf);
    cJSON_AddNumberToObject(c, "hits_per_wf", h / nwf);
    cJSON_AddNumberToObject(c, "misses_per_wf", m / nwf);
    cJSON_AddNumberToObject(c, "replays_per_wf", r / nwf);
    cJSON_AddNumberToObject(c, "hit_ratio", ratio);
    char fig[64];
    snprintf(fig, sizeof(fig), "cache hit ratio (W=%d)", w);
    bench_figure(b, fig, "%", ">=", 95, 100 * ratio);
}

void bench_throughput_ratios(bench *b, const cJSON *runs)
{
    double one = 0;
    for (int i = 0; i < cJSON_GetArraySize(runs); i++) {
        const cJSON *r = cJSON_GetArrayItem(runs, i);
        const cJSON *w = cJSON_GetObjectItem(r, "workers");
        const cJSON *v = cJSON_GetObjectItem(r, "workflows_per_s");
        if (w && v && w->valueint == 1) one = v->valuedouble;
    }
    for (int i = 0; one > 0 && i < cJSON_GetArraySize(runs); i++) {
        const cJSON *r = cJSON_GetArrayItem(runs, i);
        const cJSON *w = cJSON_GetObjectItem(r, "workers");
        const cJSON *v = cJSON_GetObjectItem(r, "workflows_per_s");
        if (!w || !v || w->valueint == 1) continue;
        char fig[64];
        snprintf(fig, sizeof(fig), "throughput W=%d / W=1", w->valueint);
        bench_figure(b, fig, "x", ">=", 1, v->valuedouble / one);
    }
}
