/* client_list.c: listing workflows from the per-partition visibility indexes.
 *
 * Each partition keeps idx:open (running ids by start ms) and idx:closed
 * (closed ids by close ms). A listing walks every partition's indexes
 * newest first in chunks, reads each candidate's hash in one pipelined
 * round trip per chunk, keeps the rows that match, and merges the
 * partitions by score. The hash is the truth: an index entry whose hash
 * says otherwise (a race with a close or restart) is skipped, so each
 * workflow appears once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

static const char *const STATUSES[] = {"RUNNING",  "COMPLETED",  "FAILED",
                                       "CANCELED", "TERMINATED", "TIMED_OUT"};

typedef struct {
    double score;
    cJSON *obj;
} row;

typedef struct {
    duro_client *c;
    const char *status, *type;
    int limit;
    row *rows;
    size_t n, cap;
} listing;

static int add_row(listing *l, double score, cJSON *obj)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        row *r = realloc(l->rows, cap * sizeof(*r));
        if (!r) {
            cJSON_Delete(obj);
            return duro__fail(l->c, DURO_ENOMEM, "out of memory");
        }
        l->rows = r;
        l->cap = cap;
    }
    l->rows[l->n++] = (row){score, obj};
    return 0;
}

static const char *const FIELDS[] = {"run",    "type",     "queue",
                                     "status", "start_ms", "close_ms"};
#define NFIELDS 6

/* row_object builds a listing row from HMGET's reply, or NULL when the
 * hash does not match this index (open) or the filters. */
static cJSON *row_object(const listing *l, const char *id, const redisReply *h,
                         bool open)
{
    if (!h || h->type != REDIS_REPLY_ARRAY || h->elements != NFIELDS)
        return NULL;
    const char *v[NFIELDS];
    for (int i = 0; i < NFIELDS; i++)
        v[i] = duro__reply_str(h->element[i]);
    if (!v[0] || !v[3] || duro__check_run(v[0]) < 0) return NULL;
    if (open != (strcmp(v[3], "RUNNING") == 0)) return NULL;
    if ((l->status && strcmp(l->status, v[3]) != 0) ||
        (l->type && (!v[1] || strcmp(l->type, v[1]) != 0)))
        return NULL;
    int64_t start = 0, close = 0;
    duro__parse_i64(v[4], &start);
    duro__parse_i64(v[5], &close);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "workflowId", id);
    cJSON_AddStringToObject(o, "runId", v[0]);
    cJSON_AddStringToObject(o, "type", v[1] ? v[1] : "");
    cJSON_AddStringToObject(o, "taskQueue", v[2] ? v[2] : "");
    cJSON_AddStringToObject(o, "status", v[3]);
    duro__add_time(o, "startTime", start);
    duro__add_time(o, "closeTime", close);
    return o;
}

/* chunk reads the hashes of the ids in one ZREVRANGE ... WITHSCORES reply
 * and adds the matches. Returns the number of matches or a code. */
static int chunk(listing *l, const redisReply *z, bool open)
{
    size_t n = z->elements / 2;
    duro_argv *cmds = calloc(n ? n : 1, sizeof(*cmds));
    redisReply **replies = calloc(n ? n : 1, sizeof(redisReply *));
    if (!cmds || !replies) {
        free(cmds);
        free(replies);
        return duro__fail(l->c, DURO_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        const char *id = duro__reply_str(z->element[2 * i]);
        duro_argv_init(&cmds[i]);
        duro_argv_push(&cmds[i], "HMGET");
        duro_wf_keys k;
        if (id && duro_id_check(id, NULL, 0) == 0) {
            duro_wf_keys_init(&k, duro__ks(l->c), id, NULL);
            duro_argv_pushf(&cmds[i], "%s", k.wf);
        } else { /* garbage in the index: ask for a key that is never set */
            duro_argv_push(&cmds[i], "duro:-");
        }
        for (int f = 0; f < NFIELDS; f++)
            duro_argv_push(&cmds[i], FIELDS[f]);
    }
    int rc = duro__pipeline(l->c, cmds, (int)n, replies);
    int matches = 0;
    for (size_t i = 0; i < n; i++) {
        duro_argv_free(&cmds[i]);
        if (rc < 0) continue;
        const char *id = duro__reply_str(z->element[2 * i]);
        const char *score = duro__reply_str(z->element[2 * i + 1]);
        cJSON *o = id && duro_id_check(id, NULL, 0) == 0
                       ? row_object(l, id, replies[i], open)
                       : NULL;
        if (o && add_row(l, score ? strtod(score, NULL) : 0, o) == 0) matches++;
        freeReplyObject(replies[i]);
    }
    free(cmds);
    free(replies);
    return rc < 0 ? rc : matches;
}

/* ZREVRANGE idx 0.. WITHSCORES in chunks until `limit` matches */
static int walk_index(listing *l, const char *key, bool open)
{
    int matches = 0;
    long long chunk_size = l->limit < 100 ? 100 : l->limit;
    for (long long off = 0; matches < l->limit; off += chunk_size) {
        duro_argv a;
        duro_argv_init(&a);
        duro_argv_push(&a, "ZREVRANGE");
        duro_argv_push(&a, key);
        duro_argv_pushll(&a, off);
        duro_argv_pushll(&a, off + chunk_size - 1);
        duro_argv_push(&a, "WITHSCORES");
        int rc;
        redisReply *z = duro__call(l->c, &a, false, &rc);
        duro_argv_free(&a);
        if (!z) return rc;
        size_t got = z->type == REDIS_REPLY_ARRAY ? z->elements / 2 : 0;
        rc = got ? chunk(l, z, open) : 0;
        freeReplyObject(z);
        if (rc < 0) return rc;
        matches += rc;
        if ((long long)got < chunk_size) break;
    }
    return 0;
}

static int by_score_desc(const void *a, const void *b)
{
    double x = ((const row *)a)->score, y = ((const row *)b)->score;
    return x < y ? 1 : x > y ? -1 : 0;
}

static int check_filters(duro_client *c, const char *status, const char *type)
{
    char why[256];
    if (type && duro_name_check("workflow type", type, why, sizeof(why)) < 0)
        return duro__fail(c, DURO_EINVAL, "%s", why);
    if (!status) return 0;
    for (size_t i = 0; i < sizeof(STATUSES) / sizeof(*STATUSES); i++)
        if (strcmp(status, STATUSES[i]) == 0) return 0;
    return duro__fail(c, DURO_EINVAL,
                      "unknown status \"%.40s\" (RUNNING, COMPLETED, FAILED, "
                      "CANCELED, TERMINATED or TIMED_OUT)",
                      status);
}

int duro_client_list(duro_client *c, const char *status, const char *type,
                     int limit, cJSON **out)
{
    *out = NULL;
    int rc = check_filters(c, status, type);
    if (rc < 0) return rc;
    listing l = {.c = c, .status = status, .type = type};
    l.limit = limit <= 0                    ? DURO_LIST_DEFAULT_LIMIT
              : limit > DURO_LIST_MAX_LIMIT ? DURO_LIST_MAX_LIMIT
                                            : limit;
    bool want_open = !status || strcmp(status, "RUNNING") == 0;
    bool want_closed = !status || strcmp(status, "RUNNING") != 0;
    for (int p = 0; p < c->partitions && rc == 0; p++) {
        char key[DURO_SHORT_KEY_MAX];
        if (want_open) {
            duro_key_idx_open(key, sizeof(key), duro__ks(c), p);
            rc = walk_index(&l, key, true);
        }
        if (want_closed && rc == 0) {
            duro_key_idx_closed(key, sizeof(key), duro__ks(c), p);
            rc = walk_index(&l, key, false);
        }
    }
    if (l.n) qsort(l.rows, l.n, sizeof(*l.rows), by_score_desc);
    cJSON *arr = rc == 0 ? cJSON_CreateArray() : NULL;
    for (size_t i = 0; i < l.n; i++) {
        if (arr && (int)i < l.limit)
            cJSON_AddItemToArray(arr, l.rows[i].obj);
        else
            cJSON_Delete(l.rows[i].obj);
    }
    free(l.rows);
    if (rc == 0 && !arr) rc = duro__fail(c, DURO_ENOMEM, "out of memory");
    *out = arr;
    return rc;
}
