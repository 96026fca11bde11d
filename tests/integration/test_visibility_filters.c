/* test_visibility_filters.c: list filters at the size limit: a chain of
 * hundreds of ORs or ANDs lists and counts (Redis's cjson refuses a
 * filter nested over 1000 deep, so the chain must not nest as deep as it
 * is long), more than DURO_VQ_MAX_TERMS is refused with its column, and a
 * large filter examines fewer rows per Redis call. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/ids.h"
#include "duro/keys.h"
#include "duro/vquery.h"
#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(visibility_filters, .init = setup, .fini = duro_test_fini,
          .timeout = 120);

static void start(duro_client *c, const char *id, const char *type)
{
    char run[DURO_UUID_LEN + 1];
    duro_start_opts o = {
        .workflow_id = id, .type = type, .task_queue = "nobody"};
    int rc = duro_client_start(c, &o, run);
    cr_assert_eq(rc, 0, "start %s: %s", id, duro_client_errstr(c));
}

/* chain joins n terms with op (" OR ", " AND "): term(i) for i < n - 1,
 * then last. Free the result. */
static char *chain(int n, const char *op, const char *term, const char *last)
{
    size_t size =
        (size_t)n * (strlen(term) + strlen(op) + 16) + strlen(last) + 1;
    char *q = malloc(size), *e = q;
    cr_assert_not_null(q);
    for (int i = 0; i < n - 1; i++)
        e += snprintf(e, size - (size_t)(e - q), term, i),
            e += snprintf(e, size - (size_t)(e - q), "%s", op);
    snprintf(e, size - (size_t)(e - q), "%s", last);
    return q;
}

static int list_count(duro_client *c, const char *query, char *first,
                      size_t size)
{
    duro_list_opts o = {.query = query, .limit = 100};
    cJSON *rows = NULL;
    char *next = NULL;
    int rc = duro_client_list_query(c, &o, &rows, &next);
    cr_assert_eq(rc, 0, "list: %s", duro_client_errstr(c));
    cr_assert_null(next);
    int n = cJSON_GetArraySize(rows);
    const char *id = cJSON_GetStringValue(
        cJSON_GetObjectItem(cJSON_GetArrayItem(rows, 0), "workflowId"));
    snprintf(first, size, "%s", id ? id : "");
    cJSON_Delete(rows);
    return n;
}

Test(visibility_filters, chains_of_hundreds_of_terms_list_and_count)
{
    duro_client *c = duro_test_client(&h);
    start(c, "a", "filt");
    start(c, "b", "filt");
    start(c, "c", "other");
    char first[64];

    char *any =
        chain(700, " OR ", "WorkflowId = 'nope-%d'", "WorkflowId = 'b'");
    cr_assert_eq(list_count(c, any, first, sizeof(first)), 1);
    cr_assert_str_eq(first, "b");
    int64_t n = -1;
    cr_assert_eq(duro_client_count(c, any, &n), 0, "%s", duro_client_errstr(c));
    cr_assert_eq(n, 1);
    free(any);

    char *all =
        chain(900, " AND ", "WorkflowId != 'nope-%d'", "WorkflowType = 'filt'");
    cr_assert_eq(list_count(c, all, first, sizeof(first)), 2);
    cr_assert_eq(duro_client_count(c, all, &n), 0, "%s", duro_client_errstr(c));
    cr_assert_eq(n, 2);
    free(all);

    /* the limit itself, in parentheses and IN lists */
    char *mixed =
        chain((DURO_VQ_MAX_TERMS - 2) / 3 + 1, " OR ",
              "(WorkflowId IN ('x%d', 'y') AND ExecutionStatus = 'Running')",
              "WorkflowId IN ('c', 'z')");
    cr_assert_eq(list_count(c, mixed, first, sizeof(first)), 1);
    cr_assert_str_eq(first, "c");
    free(mixed);
    duro_client_free(c);
}

Test(visibility_filters, more_terms_than_the_limit_are_refused_with_the_column)
{
    duro_client *c = duro_test_client(&h);
    char *q = chain(DURO_VQ_MAX_TERMS + 1, " OR ", "WorkflowId = 'n%d'",
                    "WorkflowId = 'last'");
    int64_t n = -1;
    cr_assert_eq(duro_client_count(c, q, &n), DURO_EINVAL);
    const char *col = strrchr(q, 'W');
    char want[96];
    snprintf(want, sizeof(want), "column %d: a filter takes at most %d",
             (int)(col - q) + 1 + (int)strlen("WorkflowId = "),
             DURO_VQ_MAX_TERMS);
    cr_assert(strstr(duro_client_errstr(c), want), "%s (want %s)",
              duro_client_errstr(c), want);
    free(q);
    duro_client_free(c);
}

static long long fcall_ro_calls(void)
{
    redisContext *r = duro_test_redis(&h);
    redisReply *rep = redisCommand(r, "INFO commandstats");
    cr_assert(rep && rep->type == REDIS_REPLY_STRING);
    const char *s = strstr(rep->str, "cmdstat_fcall_ro:calls=");
    long long n =
        s ? strtoll(s + strlen("cmdstat_fcall_ro:calls="), NULL, 10) : 0;
    freeReplyObject(rep);
    redisFree(r);
    return n;
}

Test(visibility_filters, a_large_filter_examines_fewer_rows_per_call)
{
    duro_client *c = duro_test_client(&h);
    int parts = duro_client_partitions(c), started = 0;
    for (int i = 0; started < 60 && i < 100000; i++) {
        char id[32];
        snprintf(id, sizeof(id), "big-%d", i);
        if (duro_partition_of(id, parts) != 0) continue;
        start(c, id, "big");
        started++;
    }
    cr_assert_eq(started, 60);
    char *q = chain(DURO_VQ_MAX_TERMS, " OR ", "WorkflowId = 'n%d'",
                    "WorkflowType = 'big'");
    long long before = fcall_ro_calls();
    int64_t n = -1;
    cr_assert_eq(duro_client_count(c, q, &n), 0, "%s", duro_client_errstr(c));
    cr_assert_eq(n, 60);
    /* one call per partition would examine all 60 rows of partition 0 at
     * 1024 tests each; the budget spreads them over several calls */
    long long calls = fcall_ro_calls() - before - 1;
    cr_assert_geq(calls, parts + 2, "%lld calls for %d partitions", calls,
                  parts);
    free(q);
    duro_client_free(c);
}
