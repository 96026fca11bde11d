/* test_visibility.c: list and count queries against real runs: each
 * operator, every run of a reused id, paging over 25,000 runs, ORDER BY
 * both ways, search attributes from start and from workflow code (also
 * after a replay on a fresh worker), concurrent upserts, bad queries. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/fcall.h"
#include "duro/ids.h"
#include "harness.h"

#define RUN_MS 15000
#define WAIT_MS 15000

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(visibility, .init = setup, .fini = duro_test_fini, .timeout = 120);

/* ---- Helpers ---- */

static void create_attr(duro_client *c, const char *name, const char *type)
{
    int rc = duro_client_search_attribute_create(c, name, type);
    cr_assert_eq(rc, 0, "create %s: %s", name, duro_client_errstr(c));
}

/* start_with starts `type` on a queue no worker polls, with search
 * attributes sa (JSON text or NULL); the run id goes into run. */
static void start_with(duro_client *c, const char *id, const char *type,
                       const char *queue, const char *sa, char *run)
{
    cJSON *attrs = sa ? cJSON_Parse(sa) : NULL;
    duro_start_opts o = {.workflow_id = id,
                         .type = type,
                         .task_queue = queue,
                         .search_attributes = attrs};
    int rc = duro_client_start(c, &o, run);
    cJSON_Delete(attrs);
    cr_assert_eq(rc, 0, "start %s: %s", id, duro_client_errstr(c));
}

static void terminate(duro_client *c, const char *id)
{
    int rc = duro_client_terminate(c, id, "test");
    cr_assert_eq(rc, 0, "terminate %s: %s", id, duro_client_errstr(c));
}

static cJSON *list(duro_client *c, const char *query)
{
    duro_list_opts o = {.query = query, .limit = 1000};
    cJSON *rows;
    char *next = NULL;
    int rc = duro_client_list_query(c, &o, &rows, &next);
    cr_assert_eq(rc, 0, "list %s: %s", query, duro_client_errstr(c));
    cr_assert_null(next, "list %s: a second page", query);
    return rows;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ids_of: the rows' workflow ids, sorted, joined by ','. */
static char *ids_of(const cJSON *rows)
{
    int n = cJSON_GetArraySize(rows);
    char **ids = calloc((size_t)n + 1, sizeof(*ids));
    for (int i = 0; i < n; i++)
        ids[i] =
            (char *)duro_test_str(cJSON_GetArrayItem(rows, i), "workflowId");
    qsort(ids, (size_t)n, sizeof(*ids), cmp_str);
    char *out = calloc(1, (size_t)n * 64 + 1);
    for (int i = 0; i < n; i++) {
        if (i) strcat(out, ",");
        strcat(out, ids[i]);
    }
    free(ids);
    return out;
}

static void expect(duro_client *c, const char *query, const char *want)
{
    cJSON *rows = list(c, query);
    char *got = ids_of(rows);
    cr_expect_str_eq(got, want, "%s", query);
    int64_t n = -1;
    cr_assert_eq(duro_client_count(c, query, &n), 0, "count %s", query);
    cr_expect_eq(n, cJSON_GetArraySize(rows), "count %s: %lld", query,
                 (long long)n);
    free(got);
    cJSON_Delete(rows);
}

/* ---- Operators ---- */

Test(visibility, each_operator_against_real_runs)
{
    duro_client *c = duro_test_client(&h);
    create_attr(c, "Kw", "Keyword");
    create_attr(c, "Num", "Int");
    create_attr(c, "Dbl", "Double");
    create_attr(c, "Flag", "Bool");
    create_attr(c, "When", "Datetime");
    create_attr(c, "Tags", "KeywordList");
    create_attr(c, "Notes", "Text");
    char run_a1[DURO_UUID_LEN + 1], run[DURO_UUID_LEN + 1];
    start_with(c, "a1", "alpha", "q1",
               "{\"Kw\":\"red\",\"Num\":1,\"Dbl\":1.5,\"Flag\":true,"
               "\"When\":\"2026-01-01T00:00:00Z\",\"Tags\":[\"x\",\"y\"],"
               "\"Notes\":\"The quick brown fox\"}",
               run_a1);
    start_with(c, "a2", "alpha", "q2",
               "{\"Kw\":\"blue\",\"Num\":2,\"Dbl\":2.5,\"Flag\":false,"
               "\"When\":\"2026-06-01T01:00:00+01:00\",\"Tags\":[\"y\"],"
               "\"Notes\":\"a lazy dog\"}",
               run);
    start_with(c, "b1", "beta", "q1", "{\"Kw\":\"red\",\"Num\":3}", run);
    start_with(c, "b2", "beta", "q1", NULL, run);
    terminate(c, "a2");
    terminate(c, "b2");

    expect(c, "", "a1,a2,b1,b2");
    expect(c, "WorkflowType = 'alpha'", "a1,a2");
    expect(c, "WorkflowType != 'alpha'", "b1,b2");
    expect(c, "WorkflowType <> 'alpha'", "b1,b2");
    expect(c, "Num > 1", "a2,b1");
    expect(c, "Num >= 2", "a2,b1");
    expect(c, "Num < 2", "a1");
    expect(c, "Num <= 2", "a1,a2");
    expect(c, "Num IN (1, 3)", "a1,b1");
    expect(c, "Num NOT IN (1, 3)", "a2,b2");
    expect(c, "WorkflowId STARTS_WITH 'a'", "a1,a2");
    expect(c, "Num BETWEEN 2 AND 3", "a2,b1");
    expect(c, "Kw IS NULL", "b2");
    expect(c, "Kw IS NOT NULL", "a1,a2,b1");
    expect(c, "CloseTime IS NULL", "a1,b1");
    expect(c, "CloseTime IS NOT NULL", "a2,b2");
    expect(c, "ExecutionStatus = 'Terminated'", "a2,b2");
    expect(c, "ExecutionStatus = 'Running' AND TaskQueue = 'q1'", "a1,b1");
    expect(c, "Kw = 'red'", "a1,b1");
    expect(c, "Kw = 'red' AND WorkflowType = 'beta'", "b1");
    expect(c, "(Kw = 'blue' OR Num = 3) AND WorkflowType = 'beta'", "b1");
    expect(c, "Kw = 'blue' OR Num = 3 AND WorkflowType = 'beta'", "a2,b1");
    expect(c, "Flag = true", "a1");
    expect(c, "Flag != true", "a2,b1,b2");
    expect(c, "Dbl > 2.0", "a2");
    expect(c, "When > '2026-03-01T00:00:00Z'", "a2");
    expect(c, "When = '2026-06-01T00:00:00Z'", "a2");
    expect(c, "Tags = 'y'", "a1,a2");
    expect(c, "Tags IN ('x', 'z')", "a1");
    expect(c, "Notes = 'QUICK fox'", "a1");
    expect(c,
           "StartTime > '2000-01-01T00:00:00Z' AND StartTime < "
           "'2100-01-01T00:00:00Z'",
           "a1,a2,b1,b2");
    expect(c,
           "StartTime BETWEEN '2000-01-01T00:00:00Z' AND "
           "'2000-01-02T00:00:00Z'",
           "");
    char q[128];
    snprintf(q, sizeof(q), "RunId = '%s'", run_a1);
    expect(c, q, "a1");

    /* typed search attributes come back as their type */
    cJSON *d;
    cr_assert_eq(duro_client_describe(c, "a1", &d), 0);
    cJSON *sa = cJSON_GetObjectItem(d, "searchAttributes");
    cr_assert_eq(duro_test_num(sa, "Num", 0), 1);
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(sa, "Flag")));
    cr_assert_str_eq(duro_test_str(sa, "When"), "2026-01-01T00:00:00.000Z");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(sa, "Tags")), 2);
    cJSON_Delete(d);
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(visibility, start_refuses_unknown_or_mistyped_attributes)
{
    duro_client *c = duro_test_client(&h);
    create_attr(c, "Num", "Int");
    cJSON *bad = cJSON_Parse("{\"Nope\":1}");
    duro_start_opts o = {.workflow_id = "x",
                         .type = "t",
                         .task_queue = "q",
                         .search_attributes = bad};
    char run[DURO_UUID_LEN + 1];
    cr_assert_eq(duro_client_start(c, &o, run), DURO_EINVAL);
    cr_assert(strstr(duro_client_errstr(c), "unknown search attribute Nope"),
              "%s", duro_client_errstr(c));
    cJSON_Delete(bad);
    o.search_attributes = bad = cJSON_Parse("{\"Num\":\"one\"}");
    cr_assert_eq(duro_client_start(c, &o, run), DURO_EINVAL);
    cr_assert(strstr(duro_client_errstr(c), "Num is a Int"), "%s",
              duro_client_errstr(c));
    cJSON_Delete(bad);
    /* nothing was written: the id has no run */
    cJSON *d;
    cr_assert_eq(duro_client_describe(c, "x", &d), DURO_ENOTFOUND);
    cr_assert_eq(duro_client_search_attribute_create(c, "Num", "Keyword"),
                 DURO_EALREADY);
    cr_assert_eq(duro_client_search_attribute_create(c, "Num", "int"), 0);
    create_attr(c, "Kw", "Keyword");
    char big[2100], sa[2200];
    memset(big, 'b', 2090);
    big[2090] = '\0';
    snprintf(sa, sizeof(sa), "{\"Kw\":\"%s\"}", big);
    o.search_attributes = bad = cJSON_Parse(sa);
    cr_assert_eq(duro_client_start(c, &o, run), DURO_EINVAL);
    cr_assert(strstr(duro_client_errstr(c), "longer than 2048 bytes"), "%s",
              duro_client_errstr(c));
    cJSON_Delete(bad);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* ---- Runs, ordering ---- */

Test(visibility, every_run_of_a_reused_id_is_its_own_row)
{
    duro_client *c = duro_test_client(&h);
    char runs[3][DURO_UUID_LEN + 1];
    for (int i = 0; i < 3; i++) {
        start_with(c, "reused", "t", "q", NULL, runs[i]);
        if (i < 2) terminate(c, "reused");
        duro_test_sleep_ms(3); /* runs of one ms are ordered by run id */
    }
    cJSON *rows = list(c, "WorkflowId = 'reused' ORDER BY StartTime ASC");
    cr_assert_eq(cJSON_GetArraySize(rows), 3);
    for (int i = 0; i < 3; i++) {
        const cJSON *r = cJSON_GetArrayItem(rows, i);
        cr_assert_str_eq(duro_test_str(r, "runId"), runs[i], "row %d", i);
        cr_assert_str_eq(duro_test_str(r, "status"),
                         i < 2 ? "TERMINATED" : "RUNNING");
    }
    cJSON_Delete(rows);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* in_order: each row's `field` (ISO times; null for none) is on the right
 * side of the previous one; rows with no value come last. */
static void assert_order(const cJSON *rows, const char *field, bool desc)
{
    const char *prev = NULL;
    bool nulls = false;
    const cJSON *r;
    cJSON_ArrayForEach(r, rows)
    {
        const char *v = cJSON_GetStringValue(cJSON_GetObjectItem(r, field));
        if (!v) {
            nulls = true;
            continue;
        }
        cr_assert(!nulls, "%s: a value after a null", field);
        if (prev)
            cr_assert(desc ? strcmp(prev, v) >= 0 : strcmp(prev, v) <= 0,
                      "%s %s: %s then %s", field, desc ? "DESC" : "ASC", prev,
                      v);
        prev = v;
    }
}

Test(visibility, order_by_start_and_close_time_both_ways)
{
    duro_client *c = duro_test_client(&h);
    char run[DURO_UUID_LEN + 1];
    const char *ids[] = {"o1", "o2", "o3", "o4", "o5", "o6"};
    for (int i = 0; i < 6; i++) {
        start_with(c, ids[i], "t", "q", NULL, run);
        duro_test_sleep_ms(3);
    }
    /* closed in another order than started */
    const char *close_order[] = {"o4", "o1", "o6", "o2"};
    for (int i = 0; i < 4; i++) {
        terminate(c, close_order[i]);
        duro_test_sleep_ms(3);
    }
    cJSON *rows = list(c, "ORDER BY StartTime ASC");
    assert_order(rows, "startTime", false);
    cr_assert_str_eq(duro_test_str(cJSON_GetArrayItem(rows, 0), "workflowId"),
                     "o1");
    cJSON_Delete(rows);
    rows = list(c, "ORDER BY StartTime DESC");
    assert_order(rows, "startTime", true);
    cr_assert_str_eq(duro_test_str(cJSON_GetArrayItem(rows, 0), "workflowId"),
                     "o6");
    cJSON_Delete(rows);
    rows = list(c, "ORDER BY CloseTime ASC");
    assert_order(rows, "closeTime", false);
    cr_assert_eq(cJSON_GetArraySize(rows), 6);
    cr_assert_str_eq(duro_test_str(cJSON_GetArrayItem(rows, 0), "workflowId"),
                     "o4");
    cJSON_Delete(rows);
    rows = list(c, "ExecutionStatus = 'Terminated' ORDER BY CloseTime DESC");
    assert_order(rows, "closeTime", true);
    char *got = ids_of(rows);
    cr_assert_str_eq(got, "o1,o2,o4,o6");
    cr_assert_str_eq(duro_test_str(cJSON_GetArrayItem(rows, 0), "workflowId"),
                     "o2");
    free(got);
    cJSON_Delete(rows);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* ---- Paging ---- */

#define MANY 25000
#define BATCH 1000

/* start_many starts MANY runs "p-<i>" through the start Function,
 * pipelined, and terminates every second one the same way. */
static void start_many(duro_client *c)
{
    redisContext *r = duro_test_redis(&h);
    int parts = duro_client_partitions(c);
    for (int base = 0; base < MANY; base += BATCH) {
        for (int i = base; i < base + BATCH; i++) {
            char id[32], run[DURO_UUID_LEN + 1];
            snprintf(id, sizeof(id), "p-%d", i);
            duro_uuid_v4(run);
            duro_wf_keys k;
            duro_wf_keys_init(&k, DURO_KEYSPACE_DEFAULT(parts), id, run);
            duro_wf_keys_queues(&k, "nobody", NULL);
            duro_fcall_start_args s = {.id = id,
                                       .run = run,
                                       .type = i % 3 ? "many" : "few",
                                       .queue = "nobody",
                                       .started_data = "{}",
                                       .wft_timeout_ms = 10000};
            duro_argv a;
            duro_fcall_start(&a, &k, &s, NULL, NULL);
            redisAppendCommandArgv(r, a.argc, (const char **)a.argv, a.lens);
            duro_argv_free(&a);
            if (i % 2) {
                duro_fcall_terminate(&a, &k, "{}");
                redisAppendCommandArgv(r, a.argc, (const char **)a.argv,
                                       a.lens);
                duro_argv_free(&a);
            }
        }
        for (int i = base; i < base + BATCH + BATCH / 2; i++) {
            redisReply *rep = NULL;
            cr_assert_eq(redisGetReply(r, (void **)&rep), REDIS_OK);
            cr_assert_neq(rep->type, REDIS_REPLY_ERROR, "%s", rep->str);
            freeReplyObject(rep);
        }
    }
    redisFree(r);
}

/* page_all pages through query with limit; returns the row count and
 * checks that no run repeats and the order holds across pages. */
static int page_all(duro_client *c, const char *query, int limit,
                    char **seen_runs)
{
    int total = 0, pages = 0;
    char *token = NULL;
    char prev[40] = "";
    do {
        duro_list_opts o = {
            .query = query, .limit = limit, .page_token = token};
        cJSON *rows;
        char *next = NULL;
        int rc = duro_client_list_query(c, &o, &rows, &next);
        cr_assert_eq(rc, 0, "page %d: %s", pages, duro_client_errstr(c));
        free(token);
        token = next;
        int n = cJSON_GetArraySize(rows);
        cr_assert(n == limit || !next, "page %d has %d rows", pages, n);
        const cJSON *row;
        cJSON_ArrayForEach(row, rows)
        {
            const char *st = duro_test_str(row, "startTime");
            cr_assert(!prev[0] || strcmp(prev, st) >= 0, "%s after %s", st,
                      prev);
            snprintf(prev, sizeof(prev), "%s", st);
            const char *id = duro_test_str(row, "workflowId");
            int i = (int)strtol(id + 2, NULL, 10);
            cr_assert(i >= 0 && i < MANY && !seen_runs[i],
                      "%s listed twice or unknown", id);
            seen_runs[i] = strdup(duro_test_str(row, "runId"));
            total++;
        }
        cJSON_Delete(rows);
        pages++;
        cr_assert(pages < 1000);
    } while (token);
    return total;
}

static void forget(char **seen)
{
    for (int i = 0; i < MANY; i++) {
        free(seen[i]);
        seen[i] = NULL;
    }
}

Test(visibility, paging_over_25000_runs, .timeout = 240)
{
    duro_client *c = duro_test_client(&h);
    int64_t t0 = duro_test_mono_ms();
    start_many(c);
    int64_t t1 = duro_test_mono_ms();
    char **seen = calloc(MANY, sizeof(*seen));
    cr_assert_eq(page_all(c, "", 1000, seen), MANY);
    forget(seen);
    int64_t t2 = duro_test_mono_ms();
    /* a filter the Function evaluates, over a narrowing index */
    cr_assert_eq(page_all(c,
                          "ExecutionStatus = 'Terminated' AND WorkflowId "
                          "STARTS_WITH 'p-'",
                          777, seen),
                 MANY / 2);
    for (int i = 0; i < MANY; i++)
        cr_assert_eq(seen[i] != NULL, i % 2 == 1, "p-%d", i);
    forget(seen);
    int64_t n = 0;
    cr_assert_eq(duro_client_count(c, "", &n), 0);
    cr_assert_eq(n, MANY);
    cr_assert_eq(duro_client_count(c, "WorkflowType = 'few'", &n), 0);
    cr_assert_eq(n, (MANY + 2) / 3);
    cr_assert_eq(duro_client_count(c, "WorkflowId STARTS_WITH 'p-1'", &n), 0);
    cr_assert_eq(n, 11111);
    int64_t t3 = duro_test_mono_ms();
    fprintf(stderr,
            "paging: %d starts in %lldms, all pages in %lldms, filtered "
            "pages and counts in %lldms\n",
            MANY, (long long)(t1 - t0), (long long)(t2 - t1),
            (long long)(t3 - t2));
    /* a bound on StartTime: the scan starts and stops at it */
    duro_list_opts top = {.query = "", .limit = 1000};
    cJSON *first;
    cr_assert_eq(duro_client_list_query(c, &top, &first, NULL), 0);
    const char *t = duro_test_str(cJSON_GetArrayItem(first, 500), "startTime");
    int want = 0;
    const cJSON *row;
    cJSON_ArrayForEach(row, first) want +=
        strcmp(duro_test_str(row, "startTime"), t) >= 0;
    char q[128];
    snprintf(q, sizeof(q), "StartTime >= '%s'", t);
    redisContext *r = duro_test_redis(&h);
    freeReplyObject(redisCommand(r, "CONFIG RESETSTAT"));
    cr_assert_eq(duro_client_count(c, q, &n), 0);
    cr_assert_eq(n, want, "%s: %lld, want %d", q, (long long)n, want);
    redisReply *info = redisCommand(r, "INFO commandstats");
    const char *hg = strstr(info->str, "cmdstat_hgetall:calls=");
    long long rows_read = hg ? strtoll(hg + 22, NULL, 10) : 0;
    cr_assert_leq(rows_read, want + 32, "%s read %lld rows", q, rows_read);
    freeReplyObject(info);
    snprintf(q, sizeof(q), "StartTime >= '%s' ORDER BY StartTime ASC", t);
    cJSON *bounded = list(c, q);
    cr_assert_eq(cJSON_GetArraySize(bounded), want);
    cJSON_Delete(bounded);
    cJSON_Delete(first);
    redisFree(r);
    /* a token is bound to its query */
    duro_list_opts o = {.query = "", .limit = 10};
    cJSON *rows;
    char *next = NULL;
    cr_assert_eq(duro_client_list_query(c, &o, &rows, &next), 0);
    cJSON_Delete(rows);
    cr_assert_not_null(next);
    o.query = "WorkflowType = 'few'";
    o.page_token = next;
    cr_assert_eq(duro_client_list_query(c, &o, &rows, NULL), DURO_EINVAL);
    free(next);
    free(seen);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* ---- Search attributes from workflow code ---- */

static void register_steps(duro_client *c)
{
    create_attr(c, "Step", "Keyword");
    create_attr(c, "Count", "Int");
}

static int64_t count_of(duro_client *c, const char *query)
{
    int64_t n = -1;
    int rc = duro_client_count(c, query, &n);
    cr_assert_eq(rc, 0, "count %s: %s", query, duro_client_errstr(c));
    return n;
}

Test(visibility, upserts_from_workflow_code_survive_a_replay)
{
    duro_client *c = duro_test_client(&h);
    register_steps(c);
    pid_t w = duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_test_start(c, "up-1", "upsert", "test", "{\"steps\":2,\"wait\":1}", 0);
    cr_assert(duro_test_wait_until(count_of(c, "Step = 's1'") == 1, WAIT_MS),
              "the first upsert is listed");
    /* a fresh worker, with an empty cache, replays the history */
    duro_test_kill(&h, w, SIGKILL);
    duro_test_spawn(&h, "duro-test-worker", NULL);
    int rc = duro_client_signal(c, "up-1", "go", NULL, NULL);
    cr_assert_eq(rc, 0, "%s", duro_client_errstr(c));
    cJSON *d = duro_test_result(c, "up-1", WAIT_MS);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cJSON *sa = cJSON_GetObjectItem(d, "searchAttributes");
    cr_assert_str_eq(duro_test_str(sa, "Step"), "s2");
    cr_assert_eq(duro_test_num(sa, "Count", 0), 2);
    cJSON_Delete(d);
    cJSON *hist = duro_test_history(c, "up-1");
    cr_assert_eq(duro_test_count_events(hist, "UpsertWorkflowSearchAttributes"),
                 2, "one event per upsert, none from the replay");
    cJSON_Delete(hist);
    cr_assert_eq(count_of(c, "Step = 's1'"), 0, "the old keyword entry went");
    cr_assert_eq(count_of(c, "Step = 's2' AND Count = 2"), 1);
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(visibility, an_unregistered_attribute_fails_the_task_with_its_name)
{
    duro_client *c = duro_test_client(&h);
    register_steps(c);
    duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_test_start(c, "bad-1", "upsert", "test", "{\"bad\":1}", 0);
    cJSON *d = NULL;
    bool seen = duro_test_wait_until(
        ({
            cJSON_Delete(d);
            d = NULL;
            duro_client_describe(c, "bad-1", &d) == 0 &&
                strstr(duro_test_str(cJSON_GetObjectItem(d, "workflowTask"),
                                     "lastError")
                           ?: "",
                       "unknown search attribute NotRegistered");
        }),
        WAIT_MS);
    cr_assert(seen, "describe shows why the task fails");
    cr_assert_str_eq(duro_test_str(d, "status"), "RUNNING");
    cJSON_Delete(d);
    cJSON *hist = duro_test_history(c, "bad-1");
    cr_assert_eq(duro_test_count_events(hist, "UpsertWorkflowSearchAttributes"),
                 0);
    cJSON_Delete(hist);
    duro_client_free(c);
    duro_test_finish(&h);
}

#define CONCURRENT 40
#define STEPS 5

Test(visibility, concurrent_upserts_leave_one_entry_per_run)
{
    duro_client *c = duro_test_client(&h);
    register_steps(c);
    duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_test_spawn(&h, "duro-test-worker", NULL);
    for (int i = 0; i < CONCURRENT; i++) {
        char id[32];
        snprintf(id, sizeof(id), "cu-%d", i);
        duro_test_start(c, id, "upsert", "test", "{\"steps\":5}", 0);
    }
    for (int i = 0; i < CONCURRENT; i++) {
        char id[32];
        snprintf(id, sizeof(id), "cu-%d", i);
        cJSON *d = duro_test_result(c, id, WAIT_MS);
        cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED", "%s", id);
        cJSON_Delete(d);
    }
    cr_assert_eq(count_of(c, "Step = 's5'"), CONCURRENT);
    cr_assert_eq(count_of(c, "Step = 's5' AND Count = 5"), CONCURRENT);
    for (int s = 1; s < STEPS; s++) {
        char q[32];
        snprintf(q, sizeof(q), "Step = 's%d'", s);
        cr_assert_eq(count_of(c, q), 0, "%s", q);
    }
    /* the keyword index holds exactly the runs, once each */
    redisContext *r = duro_test_redis(&h);
    long long entries = 0;
    for (int p = 0; p < duro_client_partitions(c); p++) {
        redisReply *z = redisCommand(r, "ZCARD duro:{p%d}:vx:kw:Step:s5", p);
        entries += z->integer;
        freeReplyObject(z);
        z = redisCommand(r, "EXISTS duro:{p%d}:vx:kw:Step:s1", p);
        cr_assert_eq(z->integer, 0);
        freeReplyObject(z);
    }
    cr_assert_eq(entries, CONCURRENT);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* ---- Bad queries on the command line ---- */

Test(visibility, bad_queries_exit_non_zero_with_the_column)
{
    static const struct {
        const char *query, *want;
    } BAD[] = {
        {"WorkflowId = ", "column 14: expected a literal"},
        {"WorkflowId = 'a' AND (", "column 23: expected a field name"},
        {"Nope = 'a'", "column 1: unknown field Nope"},
        {"StartTime > 'soon'", "column 13: expected an RFC 3339"},
        {"WorkflowId = 'a' ORDER BY RunId", "column 27: expected StartTime"},
    };
    for (size_t i = 0; i < sizeof(BAD) / sizeof(*BAD); i++) {
        duro_test_output o;
        duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "list", "--query",
                      BAD[i].query, NULL);
        cr_assert_neq(o.exit_code, 0, "%s accepted", BAD[i].query);
        cr_assert(strstr(o.err, BAD[i].want), "%s: %s", BAD[i].query, o.err);
        duro_test_output_free(&o);
        duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "count", "--query",
                      BAD[i].query, "-o", "json", NULL);
        cr_assert_neq(o.exit_code, 0, "count %s accepted", BAD[i].query);
        cr_assert(strstr(o.err, "INVALID_ARGUMENT") ||
                      strstr(o.out, "INVALID_ARGUMENT"),
                  "%s: %s %s", BAD[i].query, o.out, o.err);
        duro_test_output_free(&o);
    }
    duro_test_finish(&h);
}

Test(visibility, cli_list_pages_and_counts)
{
    duro_client *c = duro_test_client(&h);
    char run[DURO_UUID_LEN + 1];
    for (int i = 0; i < 5; i++) {
        char id[16];
        snprintf(id, sizeof(id), "cli-%d", i);
        start_with(c, id, "t", "q", NULL, run);
    }
    duro_test_output o;
    duro_test_run(&h, &o, RUN_MS, "duro", "operator", "search-attribute",
                  "create", "--name", "Color", "--type", "Keyword", NULL);
    cr_assert_eq(o.exit_code, 0, "%s", o.err);
    duro_test_output_free(&o);
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "start", "-w", "cli-sa",
                  "--type", "t", "-t", "q", "--search-attribute", "Color=red",
                  "--memo", "{\"note\":\"hi\"}", NULL);
    cr_assert_eq(o.exit_code, 0, "%s", o.err);
    duro_test_output_free(&o);
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "describe", "-w",
                  "cli-sa", NULL);
    cr_assert(strstr(o.out, "{\"Color\":\"red\"}"), "%s", o.out);
    cr_assert(strstr(o.out, "{\"note\":\"hi\"}"), "%s", o.out);
    duro_test_output_free(&o);
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "count", "--query",
                  "Color = 'red'", NULL);
    cr_assert_str_eq(o.out, "1\n");
    duro_test_output_free(&o);
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "list", "--query",
                  "Color = 'red'", NULL);
    cr_assert(strstr(o.out, "{\"Color\":\"red\"}"), "%s", o.out);
    cr_assert(strstr(o.out, "{\"note\":\"hi\"}"), "list shows the memo: %s",
              o.out);
    duro_test_output_free(&o);
    /* two pages of 3 */
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "list", "--limit", "3",
                  "-o", "json", NULL);
    cr_assert_eq(o.exit_code, 0, "%s", o.err);
    cJSON *rows = cJSON_Parse(o.out);
    cr_assert_eq(cJSON_GetArraySize(rows), 3);
    cJSON_Delete(rows);
    cJSON *tok = cJSON_Parse(o.err);
    const char *t = duro_test_str(tok, "nextPageToken");
    cr_assert_not_null(t, "no token: %s", o.err);
    char *token = strdup(t);
    cJSON_Delete(tok);
    duro_test_output_free(&o);
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "list", "--limit", "3",
                  "--next-page-token", token, "-o", "json", NULL);
    cr_assert_eq(o.exit_code, 0, "%s", o.err);
    rows = cJSON_Parse(o.out);
    cr_assert_eq(cJSON_GetArraySize(rows), 3);
    cJSON_Delete(rows);
    cr_assert_str_eq(o.err, "", "the last page has no token");
    duro_test_output_free(&o);
    free(token);
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(visibility, signal_with_start_and_long_keywords)
{
    duro_client *c = duro_test_client(&h);
    create_attr(c, "Kw", "Keyword");
    cJSON *attrs = cJSON_Parse("{\"Kw\":\"sws\"}");
    duro_start_opts o = {.workflow_id = "sws",
                         .type = "t",
                         .task_queue = "q",
                         .memo = "{\"m\":1}",
                         .search_attributes = attrs};
    char run[DURO_UUID_LEN + 1];
    bool started = false;
    int rc = duro_client_signal_with_start(c, &o, "go", NULL, run, &started);
    cr_assert_eq(rc, 0, "%s", duro_client_errstr(c));
    cr_assert(started);
    cJSON_Delete(attrs);
    expect(c, "Kw = 'sws'", "sws");
    /* a keyword too long to name an index key is filtered row by row */
    char long_kw[400], sa[512], q[512];
    memset(long_kw, 'k', 300);
    long_kw[300] = '\0';
    snprintf(sa, sizeof(sa), "{\"Kw\":\"%s\"}", long_kw);
    start_with(c, "long", "t", "q", sa, run);
    snprintf(q, sizeof(q), "Kw = '%s'", long_kw);
    expect(c, q, "long");
    duro_client_free(c);
    duro_test_finish(&h);
}

/* scan: FCALL_RO duro_vis_scan over duro:{p0}:vx:start; the matched run
 * ids joined by ',' into out, the next cursor into next. */
static void scan(redisContext *r, const char *dir, const char *cursor,
                 int budget, char *out, char *next)
{
    redisReply *rep = redisCommand(
        r, "FCALL_RO duro_vis_scan 1 duro:{p0}:vx:start %s %s %s %d 100 rows",
        "", dir, cursor, budget);
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 3, "%s",
              rep && rep->str ? rep->str : "bad reply");
    strcpy(next, rep->element[0]->str);
    out[0] = '\0';
    for (size_t i = 0; i < rep->element[2]->elements; i++) {
        const redisReply *row = rep->element[2]->element[i]->element[2];
        for (size_t j = 0; j + 1 < row->elements; j += 2)
            if (!strcmp(row->element[j]->str, "run")) {
                if (*out) strcat(out, ",");
                strcat(out, row->element[j + 1]->str);
            }
    }
    freeReplyObject(rep);
}

Test(visibility, scan_resumes_inside_a_tie_even_when_the_cursor_run_went)
{
    duro_client *c = duro_test_client(&h); /* loads the library */
    redisContext *r = duro_test_redis(&h);
    const char *runs[] = {"a", "b", "c", "d"};
    for (int i = 0; i < 4; i++) {
        freeReplyObject(redisCommand(r, "ZADD duro:{p0}:vx:start %d %s",
                                     i < 3 ? 100 : 200, runs[i]));
        freeReplyObject(redisCommand(r, "HSET duro:{p0}:vis:%s run %s id %s",
                                     runs[i], runs[i], runs[i]));
    }
    char got[256], next[128];
    scan(r, "asc", "1|100|b", 100, got, next);
    cr_assert_str_eq(got, "c,d");
    cr_assert_str_eq(next, "");
    scan(r, "desc", "1|100|b", 100, got, next);
    cr_assert_str_eq(got, "a");
    /* a budget of one entry: one row and where to go on */
    scan(r, "asc", "", 1, got, next);
    cr_assert_str_eq(got, "a");
    cr_assert_str_eq(next, "1|100|a");
    /* the cursor's run is gone (deleted): the rest of its tie still comes */
    freeReplyObject(redisCommand(r, "ZREM duro:{p0}:vx:start b"));
    scan(r, "asc", "1|100|b", 100, got, next);
    cr_assert_str_eq(got, "c,d");
    scan(r, "desc", "1|100|b", 100, got, next);
    cr_assert_str_eq(got, "a");
    /* an index entry whose row is gone is skipped */
    freeReplyObject(redisCommand(r, "DEL duro:{p0}:vis:c"));
    scan(r, "asc", "", 100, got, next);
    cr_assert_str_eq(got, "a,d");
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* forget_visibility deletes every row and visibility index: the data of a
 * Duro that predates them. */
static void forget_visibility(redisContext *r)
{
    static const char *const patterns[] = {"duro:{p*}:vis:*", "duro:{p*}:vx:*"};
    for (int i = 0; i < 2; i++) {
        char cursor[32] = "0";
        do {
            redisReply *s = redisCommand(r, "SCAN %s MATCH %s COUNT 1000",
                                         cursor, patterns[i]);
            snprintf(cursor, sizeof(cursor), "%s", s->element[0]->str);
            for (size_t j = 0; j < s->element[1]->elements; j++)
                freeReplyObject(
                    redisCommand(r, "DEL %s", s->element[1]->element[j]->str));
            freeReplyObject(s);
        } while (strcmp(cursor, "0") != 0);
    }
}

Test(visibility, backfill_lists_runs_from_before_rows)
{
    duro_client *c = duro_test_client(&h);
    char run[DURO_UUID_LEN + 1];
    start_with(c, "old-1", "t", "q", NULL, run);
    start_with(c, "old-2", "t", "q", NULL, run);
    start_with(c, "old-3", "u", "q", NULL, run);
    terminate(c, "old-2");
    redisContext *r = duro_test_redis(&h);
    forget_visibility(r);
    /* the indexes such a Duro wrote instead */
    static const char *const old[][2] = {
        {"old-1", "open"}, {"old-2", "closed"}, {"old-3", "open"}};
    for (int i = 0; i < 3; i++)
        freeReplyObject(redisCommand(
            r, "ZADD duro:{p%d}:idx:%s 1 %s",
            duro_partition_of(old[i][0], duro_client_partitions(c)), old[i][1],
            old[i][0]));
    expect(c, "", "");
    duro_test_output o;
    duro_test_run(&h, &o, RUN_MS, "duro", "operator", "visibility-backfill",
                  "-o", "json", NULL);
    cr_assert_eq(o.exit_code, 0, "%s", o.err);
    cr_assert(strstr(o.out, "\"rowsWritten\":\t3") ||
                  strstr(o.out, "\"rowsWritten\": 3"),
              "%s", o.out);
    duro_test_output_free(&o);
    expect(c, "", "old-1,old-2,old-3");
    expect(c, "ExecutionStatus = 'Terminated'", "old-2");
    expect(c, "ExecutionStatus = 'Running' AND WorkflowType = 't'", "old-1");
    expect(c, "CloseTime IS NOT NULL ORDER BY CloseTime DESC", "old-2");
    /* a closed run's close time is its hash's */
    cJSON *rows = list(c, "WorkflowId = 'old-2'");
    cJSON *d;
    cr_assert_eq(duro_client_describe(c, "old-2", &d), 0);
    cr_assert_str_eq(duro_test_str(cJSON_GetArrayItem(rows, 0), "closeTime"),
                     duro_test_str(d, "closeTime"));
    cJSON_Delete(d);
    cJSON_Delete(rows);
    int64_t n = -1;
    cr_assert_eq(duro_client_visibility_backfill(c, &n), 0);
    cr_assert_eq(n, 0, "a second backfill writes nothing");
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* A run started before visibility rows existed has none when it closes:
 * closing writes its row (with its hash's start time) before closing it,
 * so it is listed once, closed, and no longer as running. */
Test(visibility, a_run_without_a_row_gets_one_when_it_closes)
{
    duro_client *c = duro_test_client(&h);
    char run[DURO_UUID_LEN + 1];
    start_with(c, "pre-1", "t", "q", NULL, run);
    redisContext *r = duro_test_redis(&h);
    forget_visibility(r);
    expect(c, "", "");
    terminate(c, "pre-1");
    expect(c, "", "pre-1");
    expect(c, "ExecutionStatus = 'Terminated'", "pre-1");
    expect(c, "ExecutionStatus = 'Running'", "");
    expect(c, "CloseTime IS NOT NULL", "pre-1");
    cJSON *rows = list(c, "WorkflowId = 'pre-1'");
    cJSON *d;
    cr_assert_eq(duro_client_describe(c, "pre-1", &d), 0);
    cJSON *row = cJSON_GetArrayItem(rows, 0);
    cr_assert_str_eq(duro_test_str(row, "startTime"),
                     duro_test_str(d, "startTime"));
    cr_assert_str_eq(duro_test_str(row, "closeTime"),
                     duro_test_str(d, "closeTime"));
    cr_assert_str_eq(duro_test_str(row, "status"), "TERMINATED");
    cJSON_Delete(d);
    cJSON_Delete(rows);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* row_has_run: whether run's row (workflow id's partition) has a `run`
 * field. */
static bool row_has_run(duro_client *c, redisContext *r, const char *id,
                        const char *run)
{
    duro_wf_keys k;
    duro_wf_keys_init(&k, DURO_KEYSPACE_DEFAULT(duro_client_partitions(c)), id,
                      run);
    redisReply *x =
        redisCommand(r, "HEXISTS duro:{p%d}:vis:%s run", k.partition, run);
    cr_assert(x && x->type == REDIS_REPLY_INTEGER);
    bool has = x->integer == 1;
    freeReplyObject(x);
    return has;
}

static void set_row_run(duro_client *c, redisContext *r, const char *id,
                        const char *run)
{
    duro_wf_keys k;
    duro_wf_keys_init(&k, DURO_KEYSPACE_DEFAULT(duro_client_partitions(c)), id,
                      run);
    freeReplyObject(redisCommand(r, "HSET duro:{p%d}:vis:%s run %s",
                                 k.partition, run, run));
}

/* expect_run: the query lists one row, of run `run`. */
static void expect_run(duro_client *c, const char *query, const char *run)
{
    cJSON *rows = list(c, query);
    cr_assert_eq(cJSON_GetArraySize(rows), 1, "%s", query);
    cr_assert_str_eq(duro_test_str(cJSON_GetArrayItem(rows, 0), "runId"), run,
                     "%s", query);
    cJSON_Delete(rows);
}

/* A row holds no `run` (its key names it: 50 bytes less per start in the
 * AOF and in memory); list, a RunId filter and describing an older run
 * answer its run id as before, and so do rows written with the field (by
 * library 30 or older). */
Test(visibility, a_row_names_its_run_by_its_key_and_old_rows_still_read)
{
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    char run1[DURO_UUID_LEN + 1], old[DURO_UUID_LEN + 1],
        cur[DURO_UUID_LEN + 1];
    start_with(c, "rk1", "t", "q", NULL, run1);
    start_with(c, "rk2", "t", "q", NULL, old);
    terminate(c, "rk2");
    start_with(c, "rk2", "t", "q", NULL, cur);
    cr_assert_not(row_has_run(c, r, "rk1", run1), "a new row holds its run");
    cr_assert_not(row_has_run(c, r, "rk2", old), "a closed row holds its run");
    char q[128];
    for (int layout = 0; layout < 2; layout++) {
        expect_run(c, "WorkflowId = 'rk1'", run1);
        snprintf(q, sizeof(q), "RunId = '%s'", run1);
        expect_run(c, q, run1);
        snprintf(q, sizeof(q), "RunId = '%s'", old);
        expect_run(c, q, old);
        int64_t n = -1;
        cr_assert_eq(duro_client_count(c, q, &n), 0);
        cr_assert_eq(n, 1);
        cJSON *d = NULL;
        cr_assert_eq(duro_client_describe_run(c, "rk2", old, &d), 0, "%s",
                     duro_client_errstr(c));
        cr_assert_str_eq(duro_test_str(d, "runId"), old);
        cr_assert_str_eq(duro_test_str(d, "status"), "TERMINATED");
        cJSON_Delete(d);
        /* the same rows as library 30 wrote them: with `run` */
        set_row_run(c, r, "rk1", run1);
        set_row_run(c, r, "rk2", old);
    }
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}
