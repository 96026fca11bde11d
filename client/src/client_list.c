/* client_list.c: listing and counting runs with a visibility query.
 *
 * The query is parsed and compiled here (duro/vquery.h) against the
 * registry's types. Each partition is read by the read-only Function
 * duro_vis_scan in the order of one index (the run's start time, or a
 * narrower index scored the same way: one status, one type, one keyword
 * value; for ORDER BY CloseTime the close index, then the running runs),
 * a bounded number of index entries per call, from a cursor, between the
 * bounds the query puts on the order field. A page is a
 * k-way merge: every partition that may still have rows keeps at least
 * one buffered, the best head goes out, until the page is full. The page
 * token holds, per partition, the position just past the last row it gave
 * to a page (or past what it scanned, when its buffer is empty): base64 of
 * "v1 <query crc> <partitions>\n<cursor>\n..." ("-": exhausted). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "client_vis.h"
#include "duro/vquery.h"

#define SCAN_BUDGET 2000
#define COUNT_BUDGET 5000
/* SCAN_WORK: the most filter tests (rows x the filter's terms) one scan
 * call makes: Redis runs the call alone, ~1 us a test, so a filter of
 * hundreds of terms examines fewer rows per call instead of holding Redis
 * for seconds. */
#define SCAN_WORK 20000

/* one buffered row of a partition */
typedef struct {
    int phase;
    double score;
    char *pos; /* "<phase>|<score>|<run>": the cursor just past it */
    cJSON *obj;
} vrow;

typedef struct {
    char *cursor; /* where the next scan starts; "" = the beginning */
    bool done;    /* the scan is exhausted */
    vrow *rows;
    size_t head, n, cap;
    char *start; /* the cursor this page started from */
    char *last;  /* the position of the last row this page took */
} part;

typedef struct {
    duro_client *c;
    duro_vq_compiled q;
    char *filter; /* the compiled filter as text ("" for none) */
    int nkeys;
    bool narrowed; /* keys[0] is the narrowing equality's index */
    char keys[2][DURO_KEY_MAX + 320];
    int chunk; /* matches per scan call */
} plan;

/* ---- Compiling ---- */

static const char *sa_type(const char *name, void *arg)
{
    return cJSON_GetStringValue(cJSON_GetObjectItem((const cJSON *)arg, name));
}

/* plan_init parses and compiles query and picks the indexes to scan; the
 * keys are built per partition by plan_keys. */
static int plan_init(duro_client *c, const char *query, plan *pl)
{
    memset(pl, 0, sizeof(*pl));
    pl->c = c;
    duro_vq *q;
    char err[512];
    int rc = duro_vq_parse(query ? query : "", &q, err, sizeof(err));
    if (rc < 0) return duro__fail(c, rc, "query: %s", err);
    cJSON *reg = NULL;
    if (q->where && (rc = duro_client_search_attribute_list(c, &reg)) < 0) {
        duro_vq_free(q);
        return rc;
    }
    rc = duro_vq_compile(q, sa_type, reg, &pl->q, err, sizeof(err));
    cJSON_Delete(reg);
    duro_vq_free(q);
    if (rc < 0) return duro__fail(c, rc, "query: %s", err);
    pl->filter =
        pl->q.filter ? cJSON_PrintUnformatted(pl->q.filter) : strdup("");
    if (!pl->filter) return duro__fail(c, DURO_ENOMEM, "out of memory");
    return 0;
}

static void plan_free(plan *pl)
{
    duro_vq_compiled_free(&pl->q);
    free(pl->filter);
}

/* plan_keys names partition p's indexes to scan, in order. */
static void plan_keys(plan *pl, int p)
{
    char name[DURO_KEY_MAX + 256];
    const duro_vq_compiled *q = &pl->q;
    const duro_keyspace *ks = duro__ks(pl->c);
    pl->nkeys = 1;
    pl->narrowed = false;
    if (strcmp(q->order, "close") == 0) {
        duro_key_vx(pl->keys[0], sizeof(pl->keys[0]), ks, p, "close");
        duro_key_vx(pl->keys[1], sizeof(pl->keys[1]), ks, p, "status:RUNNING");
        /* a bound on CloseTime leaves out the runs that have none */
        pl->nkeys = q->has_min || q->has_max ? 1 : 2;
        return;
    }
    if (q->narrow_kind[0] && strlen(q->narrow_value) < 256) {
        snprintf(name, sizeof(name), "%s:%s", q->narrow_kind, q->narrow_value);
        duro_key_vx(pl->keys[0], sizeof(pl->keys[0]), ks, p, name);
        pl->narrowed = true;
    } else {
        duro_key_vx(pl->keys[0], sizeof(pl->keys[0]), ks, p, "start");
    }
}

/* ---- Scanning ---- */

/* scan_budget: the index entries one scan call may examine. */
static long long scan_budget(const duro_vq_compiled *q, bool count)
{
    long long budget = count ? COUNT_BUDGET : SCAN_BUDGET;
    long long fit = SCAN_WORK / (q->terms > 0 ? q->terms : 1);
    if (fit < 1) fit = 1;
    return budget < fit ? budget : fit;
}

static void scan_argv(plan *pl, int p, const char *cursor, bool count,
                      duro_argv *a)
{
    plan_keys(pl, p);
    duro_argv_init(a);
    duro_argv_push(a, "FCALL_RO");
    duro_argv_push(a, "duro_vis_scan");
    duro_argv_pushll(a, pl->nkeys);
    for (int i = 0; i < pl->nkeys; i++)
        duro_argv_pushf(a, "%s", pl->keys[i]);
    /* a filter that is just the narrowing equality needs no evaluation */
    duro_argv_push(a, pl->q.only_narrow && pl->narrowed ? "" : pl->filter);
    duro_argv_push(a, pl->q.desc ? "desc" : "asc");
    duro_argv_push(a, cursor);
    duro_argv_pushll(a, scan_budget(&pl->q, count));
    duro_argv_pushll(a, pl->chunk);
    duro_argv_push(a, count ? "count" : "rows");
    if (pl->q.has_min || pl->q.has_max) {
        if (pl->q.has_min)
            duro_argv_pushll(a, (long long)pl->q.min_ms);
        else
            duro_argv_push(a, "");
        if (pl->q.has_max)
            duro_argv_pushll(a, (long long)pl->q.max_ms);
        else
            duro_argv_push(a, "");
    }
}

static bool scan_reply_ok(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
           r->element[0]->type == REDIS_REPLY_STRING &&
           r->element[1]->type == REDIS_REPLY_INTEGER &&
           r->element[2]->type == REDIS_REPLY_ARRAY;
}

static int reply_fail(duro_client *c, const redisReply *r)
{
    if (r && r->type == REDIS_REPLY_ERROR)
        return duro__fail(c, duro_redis_error_code(r->str), "redis: %.400s",
                          r->str);
    return duro__fail(c, DURO_EPROTO, "duro_vis_scan: unexpected reply");
}

static int buffer_row(duro_client *c, part *pt, const redisReply *e)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 3 ||
        e->element[2]->type != REDIS_REPLY_ARRAY)
        return duro__fail(c, DURO_EPROTO, "duro_vis_scan: bad row");
    if (pt->n == pt->cap) {
        size_t cap = pt->cap ? pt->cap * 2 : 32;
        vrow *v = realloc(pt->rows, cap * sizeof(*v));
        if (!v) return duro__fail(c, DURO_ENOMEM, "out of memory");
        pt->rows = v;
        pt->cap = cap;
    }
    long long phase = e->element[0]->integer;
    const char *score = duro__reply_str(e->element[1]);
    cJSON *obj = duro__vis_row_json(e->element[2]);
    const char *run = cJSON_GetStringValue(cJSON_GetObjectItem(obj, "runId"));
    char *pos = NULL;
    if (!obj || !score ||
        asprintf(&pos, "%lld|%s|%s", phase, score, run ? run : "") < 0) {
        cJSON_Delete(obj);
        return duro__fail(c, DURO_ENOMEM, "out of memory");
    }
    pt->rows[pt->n++] = (vrow){(int)phase, strtod(score, NULL), pos, obj};
    return 0;
}

/* take_reply buffers a rows-mode reply and moves the partition's cursor. */
static int take_reply(duro_client *c, part *pt, const redisReply *r)
{
    if (!scan_reply_ok(r)) return reply_fail(c, r);
    const redisReply *rows = r->element[2];
    for (size_t i = 0; i < rows->elements; i++) {
        int rc = buffer_row(c, pt, rows->element[i]);
        if (rc < 0) return rc;
    }
    free(pt->cursor);
    pt->cursor = strdup(r->element[0]->str);
    if (!pt->cursor) return duro__fail(c, DURO_ENOMEM, "out of memory");
    pt->done = pt->cursor[0] == '\0';
    return 0;
}

/* refill scans partition p until it has a buffered row or is done. */
static int refill(plan *pl, part *pt, int p)
{
    for (int i = 0; i < 100000 && pt->head == pt->n && !pt->done; i++) {
        duro_argv a;
        scan_argv(pl, p, pt->cursor, false, &a);
        int rc;
        redisReply *r = duro__call(pl->c, &a, true, &rc);
        duro_argv_free(&a);
        if (!r) return rc;
        rc = take_reply(pl->c, pt, r);
        freeReplyObject(r);
        if (rc < 0) return rc;
    }
    return 0;
}

/* first_scan: one pipelined scan of every partition that is not done. */
static int first_scan(plan *pl, part *parts, int n)
{
    duro_argv *cmds = calloc((size_t)n, sizeof(*cmds));
    redisReply **r = calloc((size_t)n, sizeof(redisReply *));
    int *which = calloc((size_t)n, sizeof(*which));
    int m = 0, rc = 0;
    if (!cmds || !r || !which) rc = duro__fail(pl->c, DURO_ENOMEM, "no memory");
    for (int p = 0; rc == 0 && p < n; p++) {
        if (parts[p].done) continue;
        scan_argv(pl, p, parts[p].cursor, false, &cmds[m]);
        which[m++] = p;
    }
    if (rc == 0 && m) rc = duro__pipeline(pl->c, cmds, m, r);
    for (int i = 0; i < m; i++) {
        if (rc == 0) rc = take_reply(pl->c, &parts[which[i]], r[i]);
        if (r && r[i]) freeReplyObject(r[i]);
        duro_argv_free(&cmds[i]);
    }
    free(cmds);
    free(r);
    free(which);
    return rc;
}

/* ---- Merging ---- */

/* better: whether row a comes before row b in the listing's order. */
static bool better(const vrow *a, const vrow *b, bool desc)
{
    if (a->phase != b->phase) return a->phase < b->phase;
    if (a->score != b->score)
        return desc ? a->score > b->score : a->score < b->score;
    int c = strcmp(a->pos, b->pos);
    return desc ? c > 0 : c < 0;
}

/* pick refills the partitions with empty buffers and returns the one
 * whose head comes first, -1 when every partition is exhausted. */
static int pick(plan *pl, part *parts, int n, int *rc)
{
    int best = -1;
    for (int p = 0; p < n; p++) {
        if ((*rc = refill(pl, &parts[p], p)) < 0) return -1;
        if (parts[p].head == parts[p].n) continue;
        if (best < 0 || better(&parts[p].rows[parts[p].head],
                               &parts[best].rows[parts[best].head], pl->q.desc))
            best = p;
    }
    return best;
}

/* ---- Page tokens ---- */

static const char B64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static char *b64_encode(const char *s, size_t n)
{
    char *out = malloc(n / 3 * 4 + 5);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)s[i] << 16;
        if (i + 1 < n) v |= (unsigned char)s[i + 1] << 8;
        if (i + 2 < n) v |= (unsigned char)s[i + 2];
        out[o++] = B64[(v >> 18) & 63];
        out[o++] = B64[(v >> 12) & 63];
        if (i + 1 < n) out[o++] = B64[(v >> 6) & 63];
        if (i + 2 < n) out[o++] = B64[v & 63];
    }
    out[o] = '\0';
    return out;
}

static char *b64_decode(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(n * 3 / 4 + 4);
    if (!out) return NULL;
    unsigned v = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        const char *at = strchr(B64, s[i]);
        if (!at || !s[i]) {
            free(out);
            return NULL;
        }
        v = (v << 6) | (unsigned)(at - B64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((v >> bits) & 0xff);
        }
    }
    out[o] = '\0';
    return out;
}

static unsigned query_crc(const char *query)
{
    return duro_crc16(query ? query : "", query ? strlen(query) : 0);
}

/* token_read sets each partition's cursor from a page token. */
static int token_read(duro_client *c, const char *token, const char *query,
                      part *parts, int n)
{
    char *text = b64_decode(token);
    char *end = NULL;
    unsigned long crc = 0;
    long np = 0;
    if (text && strncmp(text, "v1 ", 3) == 0) {
        crc = strtoul(text + 3, &end, 10);
        np = *end == ' ' ? strtol(end + 1, &end, 10) : 0;
    }
    if (!end || *end != '\n' || np != n) {
        free(text);
        return duro__fail(c, DURO_EINVAL, "page token is malformed");
    }
    if (crc != query_crc(query)) {
        free(text);
        return duro__fail(c, DURO_EINVAL,
                          "page token belongs to another query");
    }
    char *line = end + 1;
    for (int p = 0; p < n; p++) {
        char *nl = strchr(line, '\n');
        if (!nl) {
            free(text);
            return duro__fail(c, DURO_EINVAL, "page token is malformed");
        }
        *nl = '\0';
        parts[p].done = strcmp(line, "-") == 0;
        free(parts[p].cursor);
        parts[p].cursor = strdup(parts[p].done ? "" : line);
        line = nl + 1;
    }
    free(text);
    return 0;
}

/* token_write: the token of the page after this one, NULL when none. */
static char *token_write(const char *query, part *parts, int n, bool *oom)
{
    size_t cap = 64, len = 0;
    for (int p = 0; p < n; p++)
        cap += (parts[p].last ? strlen(parts[p].last) : 0) +
               strlen(parts[p].cursor) + strlen(parts[p].start) + 4;
    char *text = malloc(cap);
    if (!text) {
        *oom = true;
        return NULL;
    }
    len = (size_t)snprintf(text, cap, "v1 %u %d\n", query_crc(query), n);
    for (int p = 0; p < n; p++) {
        part *pt = &parts[p];
        const char *cur = pt->head < pt->n ? (pt->last ? pt->last : pt->start)
                          : pt->done       ? "-"
                                           : pt->cursor;
        len += (size_t)snprintf(text + len, cap - len, "%s\n", cur);
    }
    char *tok = b64_encode(text, len);
    free(text);
    if (!tok) *oom = true;
    return tok;
}

/* ---- Listing ---- */

static void parts_free(part *parts, int n)
{
    for (int p = 0; parts && p < n; p++) {
        for (size_t i = parts[p].head; i < parts[p].n; i++)
            cJSON_Delete(parts[p].rows[i].obj);
        for (size_t i = 0; i < parts[p].n; i++)
            free(parts[p].rows[i].pos);
        free(parts[p].rows);
        free(parts[p].cursor);
        free(parts[p].start);
    }
    free(parts);
}

static int clamp_limit(int limit)
{
    return limit <= 0                    ? DURO_LIST_DEFAULT_LIMIT
           : limit > DURO_LIST_MAX_LIMIT ? DURO_LIST_MAX_LIMIT
                                         : limit;
}

/* fill merges up to limit rows into arr. */
static int fill(plan *pl, part *parts, int n, int limit, cJSON *arr)
{
    int rc = first_scan(pl, parts, n);
    for (int got = 0; rc == 0 && got < limit; got++) {
        int p = pick(pl, parts, n, &rc);
        if (p < 0) break;
        vrow *v = &parts[p].rows[parts[p].head++];
        cJSON_AddItemToArray(arr, v->obj);
        parts[p].last = v->pos;
    }
    if (rc == 0) pick(pl, parts, n, &rc); /* is there a next page? */
    return rc;
}

int duro_client_list_query(duro_client *c, const duro_list_opts *o,
                           cJSON **rows, char **next_page_token)
{
    *rows = NULL;
    if (next_page_token) *next_page_token = NULL;
    const char *query = o ? o->query : NULL;
    int limit = clamp_limit(o ? o->limit : 0);
    plan pl;
    int rc = plan_init(c, query, &pl);
    if (rc < 0) {
        plan_free(&pl);
        return rc;
    }
    int n = c->partitions;
    pl.chunk = limit / n + 8;
    part *parts = calloc((size_t)n, sizeof(*parts));
    cJSON *arr = cJSON_CreateArray();
    for (int p = 0; parts && p < n; p++)
        if (!(parts[p].cursor = strdup(""))) rc = DURO_ENOMEM;
    if (!parts || !arr || rc) rc = duro__fail(c, DURO_ENOMEM, "out of memory");
    if (rc == 0 && o && o->page_token && *o->page_token)
        rc = token_read(c, o->page_token, query, parts, n);
    for (int p = 0; rc == 0 && p < n; p++)
        if (!(parts[p].start = strdup(parts[p].cursor)))
            rc = duro__fail(c, DURO_ENOMEM, "out of memory");
    if (rc == 0) rc = fill(&pl, parts, n, limit, arr);
    bool more = false, oom = false;
    for (int p = 0; rc == 0 && p < n; p++)
        more = more || parts[p].head < parts[p].n;
    if (rc == 0 && more && next_page_token)
        *next_page_token = token_write(query, parts, n, &oom);
    if (oom) rc = duro__fail(c, DURO_ENOMEM, "out of memory");
    parts_free(parts, n);
    plan_free(&pl);
    if (rc < 0) {
        cJSON_Delete(arr);
        if (next_page_token) {
            free(*next_page_token);
            *next_page_token = NULL;
        }
        return rc;
    }
    *rows = arr;
    return 0;
}

/* ---- Counting ---- */

static int count_partition(plan *pl, int p, int64_t *count)
{
    char *cursor = strdup("");
    int rc = cursor ? 0 : duro__fail(pl->c, DURO_ENOMEM, "out of memory");
    for (int i = 0; rc == 0 && i < 1000000; i++) {
        duro_argv a;
        scan_argv(pl, p, cursor, true, &a);
        redisReply *r = duro__call(pl->c, &a, true, &rc);
        duro_argv_free(&a);
        if (!r) break;
        if (!scan_reply_ok(r)) {
            rc = reply_fail(pl->c, r);
        } else {
            *count += r->element[1]->integer;
            free(cursor);
            cursor = strdup(r->element[0]->str);
            if (!cursor) rc = duro__fail(pl->c, DURO_ENOMEM, "out of memory");
        }
        freeReplyObject(r);
        if (rc == 0 && !cursor[0]) break;
    }
    free(cursor);
    return rc;
}

int duro_client_count(duro_client *c, const char *query, int64_t *count)
{
    *count = 0;
    plan pl;
    int rc = plan_init(c, query, &pl);
    pl.chunk = 1;
    for (int p = 0; rc == 0 && p < c->partitions; p++)
        rc = count_partition(&pl, p, count);
    plan_free(&pl);
    if (rc < 0) *count = 0;
    return rc;
}

/* ---- duro_client_list: a query for --status and --type ---- */

static const char *const STATUSES[] = {
    "RUNNING",    "COMPLETED", "FAILED",          "CANCELED",
    "TERMINATED", "TIMED_OUT", "CONTINUED_AS_NEW"};

int duro_client_list(duro_client *c, const char *status, const char *type,
                     int limit, cJSON **out)
{
    *out = NULL;
    char why[256];
    if (type && duro_name_check("workflow type", type, why, sizeof(why)) < 0)
        return duro__fail(c, DURO_EINVAL, "%s", why);
    bool known = !status;
    for (size_t i = 0; status && i < sizeof(STATUSES) / sizeof(*STATUSES); i++)
        known = known || strcmp(status, STATUSES[i]) == 0;
    if (!known)
        return duro__fail(c, DURO_EINVAL,
                          "unknown status \"%.40s\" (RUNNING, COMPLETED, "
                          "FAILED, CANCELED, TERMINATED, TIMED_OUT or "
                          "CONTINUED_AS_NEW)",
                          status);
    /* names pass duro_name_check: no quote to escape */
    char query[DURO_QUEUE_MAX + 128] = "";
    if (status) snprintf(query, sizeof(query), "ExecutionStatus='%s'", status);
    if (type)
        snprintf(query + strlen(query), sizeof(query) - strlen(query),
                 "%sWorkflowType='%s'", status ? " AND " : "", type);
    duro_list_opts o = {.query = query, .limit = limit};
    return duro_client_list_query(c, &o, out, NULL);
}
