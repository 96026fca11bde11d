/* metrics.c: the metrics registry and its Prometheus text rendering. */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/alloc.h"
#include "duro/errno.h"
#include "duro/metrics.h"

/*
 * One mutex guards the families and their series; a second one serializes
 * renders so that duro_metrics_off_render can wait for a callback in
 * progress. Callbacks run under the render mutex only, so they may update
 * the registry. Families and series are kept in creation order in plain
 * arrays/lists: a process has tens of them, and Prometheus scrapes every
 * few seconds.
 */

#ifndef DURO_VERSION
#define DURO_VERSION "unknown"
#endif

enum mtype { M_COUNTER, M_GAUGE, M_HISTOGRAM };
enum op { OP_ADD, OP_SET, OP_OBSERVE };

static const char *const TYPE_NAMES[] = {"counter", "gauge", "histogram"};
static const double BUCKETS[DURO_METRICS_NBUCKETS] = DURO_METRICS_BUCKETS;

/* series: one label set; `value` is the counter or gauge value, or the
 * histogram's sum (with per-bucket, non-cumulative counts in `buckets`). */
typedef struct series {
    char *labels;
    double value;
    unsigned long long count;
    unsigned long long buckets[DURO_METRICS_NBUCKETS];
    struct series *next;
} series;

typedef struct {
    char *name, *help;
    enum mtype type;
    series *head, *tail;
} family;

typedef struct {
    duro_metrics_render_cb cb;
    void *arg;
} hook;

struct duro_metrics {
    pthread_mutex_t mu;        /* families, series, hooks */
    pthread_mutex_t render_mu; /* one render (and its callbacks) at a time */
    family *fams;
    int nfams, capfams;
    hook *hooks;
    int nhooks, caphooks;
};

/* ---- Lifecycle ---- */

duro_metrics *duro_metrics_new(void)
{
    duro_metrics *m = duro_calloc(1, sizeof(*m));
    if (!m) return NULL;
    pthread_mutex_init(&m->mu, NULL);
    pthread_mutex_init(&m->render_mu, NULL);
    return m;
}

void duro_metrics_free(duro_metrics *m)
{
    if (!m) return;
    for (int i = 0; i < m->nfams; i++) {
        family *f = &m->fams[i];
        for (series *s = f->head, *next; s; s = next) {
            next = s->next;
            duro_free(s->labels);
            duro_free(s);
        }
        duro_free(f->name);
        duro_free(f->help);
    }
    duro_free(m->fams);
    duro_free(m->hooks);
    pthread_mutex_destroy(&m->mu);
    pthread_mutex_destroy(&m->render_mu);
    duro_free(m);
}

static duro_metrics *default_registry;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static void default_init(void)
{
    default_registry = duro_metrics_new();
}

duro_metrics *duro_metrics_default(void)
{
    pthread_once(&default_once, default_init);
    return default_registry;
}

/* ---- Families and series (m->mu held) ---- */

/* valid_name: [a-zA-Z_:][a-zA-Z0-9_:]* */
static int valid_name(const char *s)
{
    if (!s || !*s || (*s >= '0' && *s <= '9')) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || *s == '_' || *s == ':'))
            return 0;
    return 1;
}

static family *find_family(duro_metrics *m, const char *name)
{
    for (int i = 0; i < m->nfams; i++)
        if (strcmp(m->fams[i].name, name) == 0) return &m->fams[i];
    return NULL;
}

/* get_family finds or creates `name` with `type`. NULL with *rc set on a
 * bad name, a type conflict or no memory. */
static family *get_family(duro_metrics *m, const char *name, enum mtype type,
                          int *rc)
{
    family *f = find_family(m, name);
    if (f) {
        if (f->type == type) return f;
        *rc = DURO_EINVAL;
        return NULL;
    }
    if (!valid_name(name)) {
        *rc = DURO_EINVAL;
        return NULL;
    }
    if (m->nfams == m->capfams) {
        int cap = m->capfams ? m->capfams * 2 : 16;
        family *n = duro_realloc(m->fams, (size_t)cap * sizeof(*n));
        if (!n) {
            *rc = DURO_ENOMEM;
            return NULL;
        }
        m->fams = n;
        m->capfams = cap;
    }
    f = &m->fams[m->nfams];
    memset(f, 0, sizeof(*f));
    if (!(f->name = duro_alloc_strdup(name))) {
        *rc = DURO_ENOMEM;
        return NULL;
    }
    f->type = type;
    m->nfams++;
    return f;
}

static series *get_series(family *f, const char *labels, int *rc)
{
    if (!labels) labels = "";
    for (series *s = f->head; s; s = s->next)
        if (strcmp(s->labels, labels) == 0) return s;
    series *s = duro_calloc(1, sizeof(*s));
    if (!s || !(s->labels = duro_alloc_strdup(labels))) {
        duro_free(s);
        *rc = DURO_ENOMEM;
        return NULL;
    }
    if (f->tail)
        f->tail->next = s;
    else
        f->head = s;
    f->tail = s;
    return s;
}

static int parse_type(const char *type, enum mtype *out)
{
    for (int i = 0; type && i < 3; i++)
        if (strcmp(type, TYPE_NAMES[i]) == 0) {
            *out = (enum mtype)i;
            return 0;
        }
    return DURO_EINVAL;
}

int duro_metrics_describe(duro_metrics *m, const char *name, const char *type,
                          const char *help)
{
    enum mtype t;
    if (!m || parse_type(type, &t)) return DURO_EINVAL;
    char *h = duro_alloc_strdup(help ? help : "");
    if (!h) return DURO_ENOMEM;
    int rc = 0;
    pthread_mutex_lock(&m->mu);
    family *f = get_family(m, name, t, &rc);
    if (f) {
        duro_free(f->help);
        f->help = h;
        h = NULL;
    }
    pthread_mutex_unlock(&m->mu);
    duro_free(h);
    return rc;
}

/* update applies one change to the series (name, labels) of type t. */
static int update(duro_metrics *m, const char *name, const char *labels,
                  enum mtype t, enum op op, double v)
{
    if (!m) return DURO_EINVAL;
    if (t == M_COUNTER && !(v >= 0)) return DURO_EINVAL; /* also NaN */
    int rc = 0;
    pthread_mutex_lock(&m->mu);
    family *f = get_family(m, name, t, &rc);
    series *s = f ? get_series(f, labels, &rc) : NULL;
    if (s) {
        if (op == OP_ADD) {
            s->value += v;
        } else if (op == OP_SET) {
            s->value = v;
        } else {
            int i = 0;
            while (i < DURO_METRICS_NBUCKETS && v > BUCKETS[i])
                i++;
            if (i < DURO_METRICS_NBUCKETS) s->buckets[i]++;
            s->count++;
            s->value += v;
        }
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int duro_metrics_add(duro_metrics *m, const char *name, const char *labels,
                     double v)
{
    return update(m, name, labels, M_COUNTER, OP_ADD, v);
}

int duro_metrics_set_counter(duro_metrics *m, const char *name,
                             const char *labels, double v)
{
    return update(m, name, labels, M_COUNTER, OP_SET, v);
}

int duro_metrics_set(duro_metrics *m, const char *name, const char *labels,
                     double v)
{
    return update(m, name, labels, M_GAUGE, OP_SET, v);
}

int duro_metrics_observe(duro_metrics *m, const char *name, const char *labels,
                         double v)
{
    return update(m, name, labels, M_HISTOGRAM, OP_OBSERVE, v);
}

int duro_metrics_lookup(duro_metrics *m, const char *name, const char *labels,
                        double *out)
{
    int rc = DURO_ENOTFOUND;
    if (!labels) labels = "";
    pthread_mutex_lock(&m->mu);
    family *f = find_family(m, name);
    for (series *s = f ? f->head : NULL; s; s = s->next)
        if (strcmp(s->labels, labels) == 0) {
            *out = f->type == M_HISTOGRAM ? (double)s->count : s->value;
            rc = 0;
            break;
        }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

/* ---- Render hooks ---- */

int duro_metrics_on_render(duro_metrics *m, duro_metrics_render_cb cb,
                           void *arg)
{
    int rc = 0;
    pthread_mutex_lock(&m->mu);
    if (m->nhooks == m->caphooks) {
        int cap = m->caphooks ? m->caphooks * 2 : 4;
        hook *n = duro_realloc(m->hooks, (size_t)cap * sizeof(*n));
        if (n) {
            m->hooks = n;
            m->caphooks = cap;
        } else {
            rc = DURO_ENOMEM;
        }
    }
    if (rc == 0) m->hooks[m->nhooks++] = (hook){cb, arg};
    pthread_mutex_unlock(&m->mu);
    return rc;
}

void duro_metrics_off_render(duro_metrics *m, duro_metrics_render_cb cb,
                             void *arg)
{
    pthread_mutex_lock(&m->render_mu);
    pthread_mutex_lock(&m->mu);
    for (int i = 0; i < m->nhooks; i++)
        if (m->hooks[i].cb == cb && m->hooks[i].arg == arg) {
            memmove(&m->hooks[i], &m->hooks[i + 1],
                    (size_t)(m->nhooks - i - 1) * sizeof(hook));
            m->nhooks--;
            break;
        }
    pthread_mutex_unlock(&m->mu);
    pthread_mutex_unlock(&m->render_mu);
}

/* run_hooks calls each callback; the list is copied first so that a
 * callback may register another (it runs from the next render on). */
static void run_hooks(duro_metrics *m)
{
    pthread_mutex_lock(&m->mu);
    int n = m->nhooks;
    hook *copy = n ? duro_malloc((size_t)n * sizeof(*copy)) : NULL;
    if (copy) memcpy(copy, m->hooks, (size_t)n * sizeof(*copy));
    pthread_mutex_unlock(&m->mu);
    for (int i = 0; copy && i < n; i++)
        copy[i].cb(m, copy[i].arg);
    duro_free(copy);
}

/* ---- Text format ---- */

/* buf: a growable string; `failed` sticks after the first allocation
 * failure. */
typedef struct {
    char *s;
    size_t len, cap;
    int failed;
} buf;

static void buf_printf(buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void buf_printf(buf *b, const char *fmt, ...)
{
    if (b->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap + (size_t)n + 1) * 2;
        char *s = duro_realloc(b->s, cap);
        if (!s) {
            b->failed = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}

/* fmt_value: the shortest of %.15g/%.17g that reads back exactly, and the
 * format's spellings of infinities and NaN. */
static const char *fmt_value(double v, char *out, size_t size)
{
    if (isnan(v)) return "NaN";
    if (isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    snprintf(out, size, "%.15g", v);
    if (strtod(out, NULL) != v) snprintf(out, size, "%.17g", v);
    return out;
}

/* put_help writes help text with \ and newlines escaped. */
static void put_help(buf *b, const char *name, const char *help)
{
    buf_printf(b, "# HELP %s ", name);
    for (const char *p = help; *p; p++) {
        if (*p == '\\')
            buf_printf(b, "\\\\");
        else if (*p == '\n')
            buf_printf(b, "\\n");
        else
            buf_printf(b, "%c", *p);
    }
    buf_printf(b, "\n");
}

static void put_sample(buf *b, const char *name, const char *suffix,
                       const char *labels, const char *extra, double v)
{
    char num[40];
    int l = labels && *labels, e = extra && *extra;
    buf_printf(b, "%s%s%s%s%s%s%s %s\n", name, suffix, l || e ? "{" : "",
               l ? labels : "", l && e ? "," : "", e ? extra : "",
               l || e ? "}" : "", fmt_value(v, num, sizeof(num)));
}

static void put_histogram(buf *b, const family *f, const series *s)
{
    unsigned long long cum = 0;
    char le[64], num[40];
    for (int i = 0; i < DURO_METRICS_NBUCKETS; i++) {
        cum += s->buckets[i];
        snprintf(le, sizeof(le), "le=\"%s\"",
                 fmt_value(BUCKETS[i], num, sizeof(num)));
        put_sample(b, f->name, "_bucket", s->labels, le, (double)cum);
    }
    put_sample(b, f->name, "_bucket", s->labels, "le=\"+Inf\"",
               (double)s->count);
    put_sample(b, f->name, "_sum", s->labels, NULL, s->value);
    put_sample(b, f->name, "_count", s->labels, NULL, (double)s->count);
}

char *duro_metrics_render(duro_metrics *m)
{
    pthread_mutex_lock(&m->render_mu);
    run_hooks(m);
    buf b = {0};
    buf_printf(&b, "%s", "");
    pthread_mutex_lock(&m->mu);
    for (int i = 0; i < m->nfams; i++) {
        const family *f = &m->fams[i];
        if (f->help && *f->help) put_help(&b, f->name, f->help);
        buf_printf(&b, "# TYPE %s %s\n", f->name, TYPE_NAMES[f->type]);
        for (const series *s = f->head; s; s = s->next) {
            if (f->type == M_HISTOGRAM)
                put_histogram(&b, f, s);
            else
                put_sample(&b, f->name, "", s->labels, NULL, s->value);
        }
    }
    pthread_mutex_unlock(&m->mu);
    pthread_mutex_unlock(&m->render_mu);
    if (b.failed) {
        duro_free(b.s);
        return NULL;
    }
    return b.s;
}

/* ---- Labels ---- */

int duro_metrics_build_info(duro_metrics *m, const char *program)
{
    char labels[256] = "";
    duro_metrics_label(labels, sizeof(labels), "program", program);
    duro_metrics_label(labels, sizeof(labels), "version", DURO_VERSION);
    int rc = duro_metrics_describe(
        m, "duro_build_info", "gauge",
        "Always 1; the labels name the program and Duro's version.");
    return rc ? rc : duro_metrics_set(m, "duro_build_info", labels, 1);
}

char *duro_metrics_label(char *out, size_t size, const char *key,
                         const char *value)
{
    size_t start = strnlen(out, size);
    if (start >= size) return NULL;
    size_t n = start;
#define PUT(c)                                                                 \
    do {                                                                       \
        if (n + 1 >= size) goto full;                                          \
        out[n++] = (c);                                                        \
    } while (0)
    if (start) PUT(',');
    for (const char *p = key; *p; p++)
        PUT(*p);
    PUT('=');
    PUT('"');
    for (const char *p = value ? value : ""; *p; p++) {
        if (*p == '\\' || *p == '"') {
            PUT('\\');
            PUT(*p);
        } else if (*p == '\n') {
            PUT('\\');
            PUT('n');
        } else {
            PUT(*p);
        }
    }
    PUT('"');
#undef PUT
    out[n] = '\0';
    return out;
full:
    out[start] = '\0';
    return NULL;
}
