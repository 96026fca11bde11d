/* figures.c: how duro-bench records a figure against its target, and
 * percentiles; main.c prints and writes them at the end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double bench_percentile(double *v, int n, double q)
{
    if (n <= 0) return 0;
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    int k = (int)(q * n + 0.999999); /* nearest rank */
    if (k < 1) k = 1;
    if (k > n) k = n;
    return v[k - 1];
}

bool bench_figure(bench *b, const char *figure, const char *unit,
                  const char *target_op, double target, double measured)
{
    bool met = true;
    if (target_op) {
        if (!strcmp(target_op, ">="))
            met = measured >= target;
        else if (!strcmp(target_op, "<="))
            met = measured <= target;
        else
            met = measured < target;
    }
    cJSON *row = cJSON_CreateObject();
    cJSON_AddStringToObject(row, "figure", figure);
    cJSON_AddStringToObject(row, "unit", unit);
    if (target_op) {
        char t[64];
        snprintf(t, sizeof(t), "%s %g", target_op, target);
        cJSON_AddStringToObject(row, "target", t);
        cJSON_AddBoolToObject(row, "met", met);
    }
    cJSON_AddNumberToObject(row, "measured", measured);
    cJSON_AddItemToArray(b->summary, row);
    return met;
}
