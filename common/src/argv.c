/* argv.c: duro_argv, a growable argument vector for redisCommandArgv. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/alloc.h"
#include "duro/log.h"
#include "duro/redis.h"

void duro_argv_init(duro_argv *a)
{
    memset(a, 0, sizeof(*a));
}

void duro_argv_free(duro_argv *a)
{
    for (int i = 0; i < a->nowned; i++)
        duro_free(a->owned[i]);
    duro_free(a->owned);
    duro_free(a->argv);
    duro_free(a->lens);
    memset(a, 0, sizeof(*a));
}

/* Running out of memory while building a command is not recoverable in any
 * useful way for the callers, so it aborts like any broken invariant. */
static void *xrealloc(void *p, size_t n)
{
    void *q = duro_realloc(p, n);
    duro_assert(q != NULL);
    return q;
}

void duro_argv_pushn(duro_argv *a, const char *s, size_t len)
{
    if (a->argc == a->cap) {
        int cap = a->cap ? a->cap * 2 : 16;
        a->argv = xrealloc(a->argv, (size_t)cap * sizeof(*a->argv));
        a->lens = xrealloc(a->lens, (size_t)cap * sizeof(*a->lens));
        a->cap = cap;
    }
    a->argv[a->argc] = s;
    a->lens[a->argc] = len;
    a->argc++;
}

void duro_argv_push(duro_argv *a, const char *s)
{
    duro_argv_pushn(a, s, strlen(s));
}

static void own(duro_argv *a, char *s)
{
    if (a->nowned == a->capowned) {
        int cap = a->capowned ? a->capowned * 2 : 8;
        a->owned = xrealloc(a->owned, (size_t)cap * sizeof(*a->owned));
        a->capowned = cap;
    }
    a->owned[a->nowned++] = s;
}

void duro_argv_pushf(duro_argv *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    duro_assert(n >= 0 && s != NULL);
    own(a, s);
    duro_argv_pushn(a, s, (size_t)n);
}

void duro_argv_pushll(duro_argv *a, long long v)
{
    duro_argv_pushf(a, "%lld", v);
}

void duro_argv_fcall(duro_argv *a, const char *fn, int nkeys,
                     const char *const *keys)
{
    duro_argv_init(a);
    duro_argv_push(a, "FCALL");
    duro_argv_push(a, fn);
    duro_argv_pushll(a, nkeys);
    for (int i = 0; i < nkeys; i++)
        duro_argv_push(a, keys[i]);
}
