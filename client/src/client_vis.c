/* client_vis.c: custom search attributes (the registry and its
 * per-partition copies) and the visibility row as JSON.
 *
 * The registry is a hash Name -> type, copied into every partition
 * (duro_key_sa) so that the Functions that start a run or apply an upsert
 * can check and type attributes inside their own hash slot. Registering
 * writes every copy in one pipeline; the operation is idempotent, so a
 * create interrupted halfway is finished by running it again. Partition
 * 0's copy answers list and the type lookups of queries. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client_int.h"
#include "client_vis.h"
#include "duro/json.h"
#include "duro/utf8.h"

static const char *const SA_TYPES[] = {
    "Keyword", "Text", "Int", "Double", "Bool", "Datetime", "KeywordList"};
#define NTYPES (sizeof(SA_TYPES) / sizeof(*SA_TYPES))

static const char *const STANDARD[] = {
    "WorkflowId",      "RunId",     "WorkflowType", "TaskQueue",
    "ExecutionStatus", "StartTime", "CloseTime",    "ExecutionTime"};

static int check_name(duro_client *c, const char *name)
{
    size_t n = name ? strlen(name) : 0;
    bool ok = n > 0 && n <= DURO_SA_NAME_MAX && isalpha((unsigned char)*name);
    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)name[i]) || name[i] == '_';
    if (!ok)
        return duro__fail(c, DURO_EINVAL,
                          "search attribute name \"%.80s\": a letter, then "
                          "letters, digits or '_', at most %d",
                          name ? name : "", DURO_SA_NAME_MAX);
    for (size_t i = 0; i < sizeof(STANDARD) / sizeof(*STANDARD); i++)
        if (strcmp(name, STANDARD[i]) == 0)
            return duro__fail(c, DURO_EINVAL,
                              "%s is a standard field, not a custom search "
                              "attribute",
                              name);
    return 0;
}

/* ---- The registry ---- */

int duro_client_search_attribute_list(duro_client *c, cJSON **out)
{
    *out = NULL;
    char key[DURO_SHORT_KEY_MAX];
    duro_key_sa(key, sizeof(key), duro__ks(c), 0);
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "HGETALL");
    duro_argv_push(&a, key);
    int rc;
    redisReply *r = duro__call(c, &a, false, &rc);
    duro_argv_free(&a);
    if (!r) return rc;
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; o && r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements;
         i += 2) {
        const char *n = duro__reply_str(r->element[i]);
        const char *t = duro__reply_str(r->element[i + 1]);
        if (n && t) cJSON_AddStringToObject(o, n, t);
    }
    freeReplyObject(r);
    if (!o) return duro__fail(c, DURO_ENOMEM, "out of memory");
    *out = o;
    return 0;
}

/* write_copies runs `cmd key field [value]` on every partition's copy. */
static int write_copies(duro_client *c, const char *cmd, const char *name,
                        const char *type)
{
    int n = c->partitions;
    duro_argv *cmds = calloc((size_t)n, sizeof(*cmds));
    redisReply **r = calloc((size_t)n, sizeof(redisReply *));
    if (!cmds || !r) {
        free(cmds);
        free(r);
        return duro__fail(c, DURO_ENOMEM, "out of memory");
    }
    for (int p = 0; p < n; p++) {
        char key[DURO_SHORT_KEY_MAX];
        duro_argv_init(&cmds[p]);
        duro_argv_push(&cmds[p], cmd);
        duro_argv_pushf(&cmds[p], "%s",
                        duro_key_sa(key, sizeof(key), duro__ks(c), p));
        duro_argv_push(&cmds[p], name);
        if (type) duro_argv_push(&cmds[p], type);
    }
    int rc = duro__pipeline(c, cmds, n, r);
    for (int p = 0; p < n; p++) {
        duro_argv_free(&cmds[p]);
        if (rc == 0 && r[p]->type == REDIS_REPLY_ERROR)
            rc = duro__fail(c, duro_redis_error_code(r[p]->str), "redis: %s",
                            r[p]->str);
        if (r[p]) freeReplyObject(r[p]);
    }
    free(cmds);
    free(r);
    return rc;
}

int duro_client_search_attribute_create(duro_client *c, const char *name,
                                        const char *type)
{
    int rc = check_name(c, name);
    if (rc < 0) return rc;
    const char *t = NULL;
    for (size_t i = 0; type && i < NTYPES; i++)
        if (strcasecmp(type, SA_TYPES[i]) == 0) t = SA_TYPES[i];
    if (!t)
        return duro__fail(c, DURO_EINVAL,
                          "search attribute type \"%.40s\" is not one of "
                          "Keyword, Text, Int, Double, Bool, Datetime, "
                          "KeywordList",
                          type ? type : "");
    cJSON *reg;
    if ((rc = duro_client_search_attribute_list(c, &reg)) < 0) return rc;
    const char *have = cJSON_GetStringValue(cJSON_GetObjectItem(reg, name));
    if (have && strcmp(have, t) != 0)
        rc = duro__fail(c, DURO_EALREADY,
                        "search attribute %s already exists as a %s", name,
                        have);
    cJSON_Delete(reg);
    return rc < 0 ? rc : write_copies(c, "HSET", name, t);
}

int duro_client_search_attribute_delete(duro_client *c, const char *name)
{
    int rc = check_name(c, name);
    if (rc < 0) return rc;
    cJSON *reg;
    if ((rc = duro_client_search_attribute_list(c, &reg)) < 0) return rc;
    bool found = cJSON_GetObjectItem(reg, name) != NULL;
    cJSON_Delete(reg);
    if (!found)
        return duro__fail(c, DURO_ENOTFOUND, "no search attribute %s", name);
    return write_copies(c, "HDEL", name, NULL);
}

/* ---- Typed values ---- */

int duro_client_search_attribute_value(duro_client *c, const cJSON *registry,
                                       const char *name, const char *text,
                                       cJSON **out)
{
    *out = NULL;
    const char *t = cJSON_GetStringValue(cJSON_GetObjectItem(registry, name));
    if (!t)
        return duro__fail(c, DURO_EINVAL,
                          "unknown search attribute %.80s (duro operator "
                          "search-attribute create)",
                          name);
    if (strcmp(t, "Keyword") == 0 || strcmp(t, "Text") == 0 ||
        strcmp(t, "Datetime") == 0)
        *out = cJSON_CreateString(text);
    else if (strcmp(t, "KeywordList") == 0)
        *out = text[0] == '[' ? cJSON_Parse(text) : NULL;
    else if (strcmp(t, "Bool") == 0)
        *out = strcmp(text, "true") == 0    ? cJSON_CreateTrue()
               : strcmp(text, "false") == 0 ? cJSON_CreateFalse()
                                            : NULL;
    else {
        char *end;
        double v = strtod(text, &end);
        if (*text && !*end) *out = cJSON_CreateNumber(v);
    }
    if (!*out)
        return duro__fail(c, DURO_EINVAL,
                          "search attribute %s is a %s: cannot read \"%.80s\"",
                          name, t, text);
    return 0;
}

/* ---- Rows ---- */

/* sa_value: a row's "a:<Name>" text (type letter + JSON) as JSON. */
static cJSON *sa_value(const char *v, size_t len)
{
    if (len < 2) return cJSON_CreateNull();
    if (v[0] == 'd') {
        int64_t ms;
        cJSON *tmp = cJSON_CreateObject();
        if (!tmp) return NULL;
        char num[32];
        snprintf(num, sizeof(num), "%.*s", (int)(len - 1 < 31 ? len - 1 : 31),
                 v + 1);
        duro__parse_i64(num, &ms);
        duro__add_time(tmp, "t", ms);
        cJSON *t = cJSON_DetachItemFromObject(tmp, "t");
        cJSON_Delete(tmp);
        return t;
    }
    return duro__json_value(v + 1, len - 1);
}

cJSON *duro__vis_row_json(const redisReply *flat)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    const char *f[7] = {0};
    static const char *const NAMES[7] = {"id",     "run",   "type", "queue",
                                         "status", "start", "close"};
    const redisReply *memo = NULL;
    cJSON *sa = cJSON_CreateObject();
    for (size_t i = 0; i + 1 < flat->elements; i += 2) {
        const char *k = duro__reply_str(flat->element[i]);
        const redisReply *v = flat->element[i + 1];
        if (!k || v->type != REDIS_REPLY_STRING) continue;
        for (int j = 0; j < 7; j++)
            if (strcmp(k, NAMES[j]) == 0) f[j] = v->str;
        if (strcmp(k, "memo") == 0) memo = v;
        if (strncmp(k, "a:", 2) == 0 && sa)
            cJSON_AddItemToObject(sa, k + 2, sa_value(v->str, v->len));
    }
    int64_t start = 0, close = 0;
    duro__parse_i64(f[5], &start);
    duro__parse_i64(f[6], &close);
    cJSON_AddStringToObject(o, "workflowId", f[0] ? f[0] : "");
    cJSON_AddStringToObject(o, "runId", f[1] ? f[1] : "");
    cJSON_AddStringToObject(o, "type", f[2] ? f[2] : "");
    cJSON_AddStringToObject(o, "taskQueue", f[3] ? f[3] : "");
    cJSON_AddStringToObject(o, "status", f[4] ? f[4] : "");
    duro__add_time(o, "startTime", start);
    duro__add_time(o, "closeTime", close);
    cJSON_AddItemToObject(o, "searchAttributes", sa ? sa : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "memo",
                          memo ? duro__json_value(memo->str, memo->len)
                               : cJSON_CreateNull());
    return o;
}

int duro__vis_describe(duro_client *c, int partition, const char *run, cJSON *o)
{
    char key[DURO_KEY_MAX];
    duro_key_vis(key, sizeof(key), duro__ks(c), partition, run);
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "HGETALL");
    duro_argv_push(&a, key);
    int rc;
    redisReply *r = duro__call(c, &a, false, &rc);
    duro_argv_free(&a);
    if (!r) return rc;
    cJSON *row = r->type == REDIS_REPLY_ARRAY ? duro__vis_row_json(r) : NULL;
    freeReplyObject(r);
    cJSON *sa =
        row ? cJSON_DetachItemFromObject(row, "searchAttributes") : NULL;
    cJSON *memo = row ? cJSON_DetachItemFromObject(row, "memo") : NULL;
    cJSON_Delete(row);
    cJSON_AddItemToObject(o, "searchAttributes",
                          sa ? sa : cJSON_CreateObject());
    cJSON_AddItemToObject(o, "memo", memo ? memo : cJSON_CreateNull());
    return 0;
}

/* ---- Start ---- */

int duro__vis_start_args(duro_client *c, const duro_start_opts *o,
                         char **sa_text)
{
    *sa_text = NULL;
    char why[256];
    if (o->memo) {
        cJSON *m = NULL;
        int rc = duro_json_parse_input(o->memo, strlen(o->memo),
                                       DURO_DEFAULT_MAX_PAYLOAD, &m, why,
                                       sizeof(why));
        if (rc < 0) return duro__fail(c, rc, "memo: %s", why);
        bool obj = cJSON_IsObject(m);
        cJSON_Delete(m);
        if (!obj) return duro__fail(c, DURO_EINVAL, "memo: a JSON object");
    }
    if (!o->search_attributes) return 0;
    if (!cJSON_IsObject(o->search_attributes))
        return duro__fail(c, DURO_EINVAL,
                          "search attributes: a JSON object of name: value");
    const cJSON *a;
    cJSON_ArrayForEach(a, o->search_attributes)
    {
        int rc = check_name(c, a->string);
        if (rc < 0) return rc;
    }
    *sa_text = cJSON_PrintUnformatted(o->search_attributes);
    if (!*sa_text) return duro__fail(c, DURO_ENOMEM, "out of memory");
    size_t at;
    if (duro_utf8_check(*sa_text, strlen(*sa_text), &at) < 0) {
        cJSON_free(*sa_text);
        *sa_text = NULL;
        return duro__fail(c, DURO_EJSON,
                          "search attributes: invalid UTF-8 at byte %zu", at);
    }
    return 0;
}

/* ---- Backfill ---- */

#define BACKFILL_CHUNK 500

/* backfill_index runs duro_vis_backfill over one index key to its end. */
static int backfill_index(duro_client *c, const char *key, int64_t *written)
{
    for (long long off = 0; off >= 0;) {
        duro_argv a;
        duro_argv_init(&a);
        duro_argv_push(&a, "FCALL");
        duro_argv_push(&a, "duro_vis_backfill");
        duro_argv_push(&a, "1");
        duro_argv_push(&a, key);
        duro_argv_pushll(&a, off);
        duro_argv_pushll(&a, BACKFILL_CHUNK);
        int rc;
        redisReply *r = duro__call(c, &a, true, &rc);
        duro_argv_free(&a);
        if (!r) return rc;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_INTEGER ||
            r->element[1]->type != REDIS_REPLY_INTEGER) {
            rc = r->type == REDIS_REPLY_ERROR
                     ? duro__fail(c, duro_redis_error_code(r->str),
                                  "redis: %.400s", r->str)
                     : duro__fail(c, DURO_EPROTO,
                                  "duro_vis_backfill: unexpected reply");
            freeReplyObject(r);
            return rc;
        }
        off = r->element[0]->integer;
        *written += r->element[1]->integer;
        freeReplyObject(r);
    }
    return 0;
}

int duro_client_visibility_backfill(duro_client *c, int64_t *written)
{
    *written = 0;
    int rc = 0;
    for (int p = 0; rc == 0 && p < c->partitions; p++) {
        char key[DURO_SHORT_KEY_MAX];
        duro_key_idx_open(key, sizeof(key), duro__ks(c), p);
        rc = backfill_index(c, key, written);
        if (rc == 0)
            rc = backfill_index(
                c, duro_key_idx_closed(key, sizeof(key), duro__ks(c), p),
                written);
    }
    return rc;
}
