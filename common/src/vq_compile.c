/* vq_compile.c: a parsed list filter (vquery.c) checked against the
 * fields it names and turned into the JSON tree that the Redis Function
 * duro_vis_scan evaluates row by row (docs/internals.md, "Visibility"):
 *
 *   {"o":"and"|"or","a":[l, r]}
 *   {"o":"<op>","f":"<row field>","t":"<type>","v":[values]}
 *
 * Row fields are id, run, type, queue, status, start, close (ms) and
 * a:<Name> for a custom attribute. Types are one letter, as the row
 * stores them: K Keyword, T Text, I Int, D Double, B Bool, d Datetime (ms
 * since the epoch), L KeywordList. */
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "duro/errno.h"
#include "duro/vquery.h"

typedef struct {
    duro_vq_type_fn types;
    void *arg;
    char *err;
    size_t errsize;
    int terms;
} ctx;

static const struct {
    const char *name, *field;
    char type;
} STANDARD[] = {
    {"WorkflowId", "id", 'K'},          {"RunId", "run", 'K'},
    {"WorkflowType", "type", 'K'},      {"TaskQueue", "queue", 'K'},
    {"ExecutionStatus", "status", 'K'}, {"StartTime", "start", 'd'},
    {"CloseTime", "close", 'd'},
};

/* The attribute types and their letters (the registry stores the name). */
static const struct {
    const char *name;
    char letter;
} TYPES[] = {{"Keyword", 'K'},    {"Text", 'T'}, {"Int", 'I'},
             {"Double", 'D'},     {"Bool", 'B'}, {"Datetime", 'd'},
             {"KeywordList", 'L'}};

static const struct {
    const char *temporal, *ours;
} STATUSES[] = {{"Running", "RUNNING"},
                {"Completed", "COMPLETED"},
                {"Failed", "FAILED"},
                {"Canceled", "CANCELED"},
                {"Terminated", "TERMINATED"},
                {"TimedOut", "TIMED_OUT"},
                {"TIMED_OUT", "TIMED_OUT"},
                {"ContinuedAsNew", "CONTINUED_AS_NEW"},
                {"CONTINUED_AS_NEW", "CONTINUED_AS_NEW"}};

static int fail(ctx *c, int col, const char *fmt, const char *a, const char *b)
{
    int n = snprintf(c->err, c->errsize, "column %d: ", col);
    if (n >= 0 && (size_t)n < c->errsize)
        snprintf(c->err + n, c->errsize - (size_t)n, fmt, a, b);
    return DURO_EINVAL;
}

static char type_letter(const char *name)
{
    for (size_t i = 0; name && i < sizeof(TYPES) / sizeof(*TYPES); i++)
        if (strcmp(name, TYPES[i].name) == 0) return TYPES[i].letter;
    return 0;
}

static const char *type_name(char letter)
{
    for (size_t i = 0; i < sizeof(TYPES) / sizeof(*TYPES); i++)
        if (TYPES[i].letter == letter) return TYPES[i].name;
    return "?";
}

/* status_value: the stored spelling of an ExecutionStatus literal. */
static const char *status_value(const char *s)
{
    for (size_t i = 0; i < sizeof(STATUSES) / sizeof(*STATUSES); i++)
        if (strcasecmp(s, STATUSES[i].temporal) == 0 ||
            strcasecmp(s, STATUSES[i].ours) == 0)
            return STATUSES[i].ours;
    return NULL;
}

/* op_allowed: whether type letter t takes op. */
static bool op_allowed(char t, duro_vq_op op)
{
    if (op == DURO_VQ_IS_NULL || op == DURO_VQ_IS_NOT_NULL) return true;
    switch (t) {
    case 'B':
    case 'T':
        return op == DURO_VQ_EQ || op == DURO_VQ_NE;
    case 'L':
        return op == DURO_VQ_EQ || op == DURO_VQ_NE || op == DURO_VQ_IN ||
               op == DURO_VQ_NOT_IN;
    case 'K':
        return true;
    default: /* numbers and times: no STARTS_WITH */
        return op != DURO_VQ_STARTS_WITH;
    }
}

/* value turns literal l into the JSON value a field of type t compares
 * against. */
static cJSON *value(ctx *c, const char *field, char t, const duro_vq_lit *l,
                    int *rc)
{
    const char *want = NULL;
    cJSON *v = NULL;
    switch (t) {
    case 'B':
        if (l->type == DURO_VQ_BOOL) v = cJSON_CreateBool(l->b);
        want = "true or false";
        break;
    case 'I':
        if (l->type == DURO_VQ_NUM && l->n == floor(l->n))
            v = cJSON_CreateNumber(l->n);
        want = "an integer";
        break;
    case 'D':
        if (l->type == DURO_VQ_NUM) v = cJSON_CreateNumber(l->n);
        want = "a number";
        break;
    case 'd': {
        int64_t ms;
        if (l->type == DURO_VQ_STR && duro_vq_time_parse(l->s, &ms) == 0)
            v = cJSON_CreateNumber((double)ms);
        want = "an RFC 3339 time in quotes ('2026-11-27T12:00:00Z')";
        break;
    }
    default:
        if (l->type == DURO_VQ_STR) {
            const char *s = l->s;
            if (strcmp(field, "status") == 0 && !(s = status_value(l->s))) {
                *rc = fail(c, l->col,
                           "unknown ExecutionStatus '%.40s' (Running, "
                           "Completed, Failed, Canceled, Terminated, "
                           "TimedOut, ContinuedAsNew)%s",
                           l->s, "");
                return NULL;
            }
            v = cJSON_CreateString(s);
        }
        want = "a 'quoted string'";
    }
    if (!v) *rc = fail(c, l->col, "expected %s for %s", want, field);
    return v;
}

/* field_of resolves a field name to the row field and type. */
static int field_of(ctx *c, const duro_vq_node *n, char *field, size_t size,
                    char *t)
{
    for (size_t i = 0; i < sizeof(STANDARD) / sizeof(*STANDARD); i++) {
        if (strcmp(n->field, STANDARD[i].name) == 0) {
            snprintf(field, size, "%s", STANDARD[i].field);
            *t = STANDARD[i].type;
            return 0;
        }
    }
    const char *tn = c->types ? c->types(n->field, c->arg) : NULL;
    if (!tn || !(*t = type_letter(tn)))
        return fail(c, n->field_col,
                    "unknown field %.64s (WorkflowId, WorkflowType, "
                    "ExecutionStatus, TaskQueue, StartTime, CloseTime, RunId, "
                    "or a search attribute: duro operator search-attribute "
                    "list)%s",
                    n->field, "");
    snprintf(field, size, "a:%s", n->field);
    return 0;
}

static const char *const OPS[] = {[DURO_VQ_EQ] = "=",
                                  [DURO_VQ_NE] = "!=",
                                  [DURO_VQ_GT] = ">",
                                  [DURO_VQ_GE] = ">=",
                                  [DURO_VQ_LT] = "<",
                                  [DURO_VQ_LE] = "<=",
                                  [DURO_VQ_IN] = "in",
                                  [DURO_VQ_NOT_IN] = "notin",
                                  [DURO_VQ_STARTS_WITH] = "sw",
                                  [DURO_VQ_BETWEEN] = "between",
                                  [DURO_VQ_NOT_BETWEEN] = "notbetween",
                                  [DURO_VQ_IS_NULL] = "null",
                                  [DURO_VQ_IS_NOT_NULL] = "notnull"};

static cJSON *compile_node(ctx *c, const duro_vq_node *n, int *rc);

/* operands lists, in order, the operands of the chain of n->kind nodes
 * at n (`a AND b AND c` parses as ((a AND b) AND c)); *len counts them,
 * and a NULL ops only counts. */
static void operands(const duro_vq_node *n, duro_vq_kind kind,
                     const duro_vq_node **ops, int *len)
{
    if (n->kind != kind) {
        if (ops) ops[*len] = n;
        ++*len;
        return;
    }
    operands(n->l, kind, ops, len);
    operands(n->r, kind, ops, len);
}

/* balanced compiles ops[lo..hi) joined by `o` ("and" or "or") as a
 * balanced tree: a chain of N operands nests log2(N) deep, not N, and
 * Redis's cjson refuses a filter nested over 1000 deep. */
static cJSON *balanced(ctx *c, const char *o, const duro_vq_node **ops, int lo,
                       int hi, int *rc)
{
    if (hi - lo == 1) return compile_node(c, ops[lo], rc);
    int mid = lo + (hi - lo) / 2;
    cJSON *n = cJSON_CreateObject(), *a = NULL;
    if (!n || !cJSON_AddStringToObject(n, "o", o) ||
        !(a = cJSON_AddArrayToObject(n, "a"))) {
        cJSON_Delete(n);
        *rc = DURO_ENOMEM;
        return NULL;
    }
    cJSON *l = balanced(c, o, ops, lo, mid, rc);
    cJSON *r = l ? balanced(c, o, ops, mid, hi, rc) : NULL;
    if (l) cJSON_AddItemToArray(a, l);
    if (r) cJSON_AddItemToArray(a, r);
    if (!r) cJSON_Delete(n);
    return r ? n : NULL;
}

static cJSON *compile_node(ctx *c, const duro_vq_node *n, int *rc)
{
    if (n->kind != DURO_VQ_CMP) {
        int len = 0;
        operands(n, n->kind, NULL, &len);
        const duro_vq_node **ops = calloc((size_t)len, sizeof(void *));
        if (!ops) {
            *rc = DURO_ENOMEM;
            return NULL;
        }
        len = 0;
        operands(n, n->kind, ops, &len);
        cJSON *t =
            balanced(c, n->kind == DURO_VQ_AND ? "and" : "or", ops, 0, len, rc);
        free(ops);
        return t;
    }
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        *rc = DURO_ENOMEM;
        return NULL;
    }
    char field[160], t = 0;
    if ((*rc = field_of(c, n, field, sizeof(field), &t))) goto fail;
    if (!op_allowed(t, n->op)) {
        *rc = fail(c, n->field_col, "%s does not take %s", n->field,
                   duro_vq_op_name(n->op));
        char *e = c->err + strlen(c->err);
        snprintf(e, c->errsize - (size_t)(e - c->err), " (a %s)", type_name(t));
        goto fail;
    }
    c->terms += n->nvals > 0 ? n->nvals : 1;
    cJSON_AddStringToObject(o, "o", OPS[n->op]);
    cJSON_AddStringToObject(o, "f", field);
    char ts[2] = {t, 0};
    cJSON_AddStringToObject(o, "t", ts);
    cJSON *vals = cJSON_AddArrayToObject(o, "v");
    for (int i = 0; vals && i < n->nvals; i++) {
        cJSON *v = value(c, field, t, &n->vals[i], rc);
        if (!v) goto fail;
        cJSON_AddItemToArray(vals, v);
    }
    if (!vals) *rc = DURO_ENOMEM;
    if (*rc) goto fail;
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}

/* narrow looks for an equality an index answers in the top-level
 * conjunction: a Keyword attribute first, then WorkflowType, then
 * ExecutionStatus (in rough order of selectivity). */
static void narrow(const cJSON *f, duro_vq_compiled *out, int *rank)
{
    const char *o = cJSON_GetStringValue(cJSON_GetObjectItem(f, "o"));
    if (!o) return;
    if (strcmp(o, "and") == 0) {
        const cJSON *a = cJSON_GetObjectItem(f, "a");
        narrow(cJSON_GetArrayItem(a, 0), out, rank);
        narrow(cJSON_GetArrayItem(a, 1), out, rank);
        return;
    }
    if (strcmp(o, "=") != 0) return;
    const char *field = cJSON_GetStringValue(cJSON_GetObjectItem(f, "f"));
    const char *t = cJSON_GetStringValue(cJSON_GetObjectItem(f, "t"));
    const char *v = cJSON_GetStringValue(
        cJSON_GetArrayItem(cJSON_GetObjectItem(f, "v"), 0));
    if (!field || !t || !v) return;
    int r = 0;
    char kind[80];
    if (strncmp(field, "a:", 2) == 0 && t[0] == 'K') {
        r = 3;
        snprintf(kind, sizeof(kind), "kw:%.70s", field + 2);
    } else if (strcmp(field, "type") == 0) {
        r = 2;
        snprintf(kind, sizeof(kind), "type");
    } else if (strcmp(field, "status") == 0) {
        r = 1;
        snprintf(kind, sizeof(kind), "status");
    }
    if (r <= *rank) return;
    char *copy = strdup(v);
    if (!copy) return;
    *rank = r;
    free(out->narrow_value);
    out->narrow_value = copy;
    snprintf(out->narrow_kind, sizeof(out->narrow_kind), "%s", kind);
}

/* bound_with narrows out's [min, max] by comparison f of the order field
 * (times are whole ms: > x is >= x + 1). */
static void bound_with(const cJSON *f, duro_vq_compiled *out)
{
    const char *o = cJSON_GetStringValue(cJSON_GetObjectItem(f, "o"));
    const cJSON *v = cJSON_GetObjectItem(f, "v");
    const cJSON *a = cJSON_GetArrayItem(v, 0), *b = cJSON_GetArrayItem(v, 1);
    if (!o || !cJSON_IsNumber(a)) return;
    int64_t x = (int64_t)a->valuedouble, lo = INT64_MIN, hi = INT64_MAX;
    if (strcmp(o, ">") == 0)
        lo = x + 1;
    else if (strcmp(o, ">=") == 0)
        lo = x;
    else if (strcmp(o, "<") == 0)
        hi = x - 1;
    else if (strcmp(o, "<=") == 0)
        hi = x;
    else if (strcmp(o, "=") == 0)
        lo = hi = x;
    else if (strcmp(o, "between") == 0 && cJSON_IsNumber(b))
        lo = x, hi = (int64_t)b->valuedouble;
    else
        return;
    if (lo != INT64_MIN && (!out->has_min || lo > out->min_ms)) {
        out->has_min = true;
        out->min_ms = lo;
    }
    if (hi != INT64_MAX && (!out->has_max || hi < out->max_ms)) {
        out->has_max = true;
        out->max_ms = hi;
    }
}

/* bounds walks the top-level conjunction for comparisons of the field
 * the listing is ordered by. */
static void bounds(const cJSON *f, duro_vq_compiled *out)
{
    const char *o = cJSON_GetStringValue(cJSON_GetObjectItem(f, "o"));
    if (!o) return;
    if (strcmp(o, "and") == 0) {
        const cJSON *a = cJSON_GetObjectItem(f, "a");
        bounds(cJSON_GetArrayItem(a, 0), out);
        bounds(cJSON_GetArrayItem(a, 1), out);
        return;
    }
    const char *field = cJSON_GetStringValue(cJSON_GetObjectItem(f, "f"));
    if (field && strcmp(field, out->order) == 0) bound_with(f, out);
}

int duro_vq_compile(const duro_vq *q, duro_vq_type_fn types, void *arg,
                    duro_vq_compiled *out, char *err, size_t errsize)
{
    memset(out, 0, sizeof(*out));
    ctx c = {.types = types, .arg = arg, .err = err, .errsize = errsize};
    int rc = 0;
    if (q->where && !(out->filter = compile_node(&c, q->where, &rc)))
        return rc ? rc : DURO_ENOMEM;
    out->terms = c.terms;
    snprintf(out->order, sizeof(out->order), "%s",
             strcmp(q->order_field, "CloseTime") == 0 ? "close" : "start");
    out->desc = q->order_field[0] ? q->desc : true;
    int rank = 0;
    if (out->filter) narrow(out->filter, out, &rank);
    if (out->filter) bounds(out->filter, out);
    out->only_narrow = rank > 0 && q->where->kind == DURO_VQ_CMP;
    return 0;
}

void duro_vq_compiled_free(duro_vq_compiled *c)
{
    if (!c) return;
    cJSON_Delete(c->filter);
    free(c->narrow_value);
    memset(c, 0, sizeof(*c));
}

/* ---- RFC 3339 ---- */

/* days_from_civil: days since 1970-01-01 (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int duro_vq_time_parse(const char *s, int64_t *ms)
{
    int y, mo, d, h, mi, se;
    if (!s || strlen(s) < 20 || digits(s, 4, &y) || s[4] != '-' ||
        digits(s + 5, 2, &mo) || s[7] != '-' || digits(s + 8, 2, &d) ||
        (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) ||
        s[16] != ':' || digits(s + 17, 2, &se))
        return DURO_EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return DURO_EINVAL;
    const char *p = s + 19;
    int frac = 0, scale = 1000;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p)) return DURO_EINVAL;
        for (; isdigit((unsigned char)*p); p++) {
            if (scale > 1) frac = frac * 10 + (*p - '0');
            scale = scale > 1 ? scale / 10 : 1;
        }
        frac *= scale;
    }
    int off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) ||
            oh > 23 || om > 59)
            return DURO_EINVAL;
        off = (oh * 60 + om) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return DURO_EINVAL;
    }
    if (*p) return DURO_EINVAL;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + (int64_t)h * 3600 +
                   (int64_t)mi * 60 + se - (int64_t)off * 60;
    *ms = secs * 1000 + frac;
    return 0;
}
