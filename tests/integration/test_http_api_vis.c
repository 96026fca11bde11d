/* test_http_api_vis.c: the HTTP API over visibility and namespaces: the
 * list and count routes with the query language and the client's page
 * tokens, {ns} selecting a registered namespace (isolated from default,
 * an unknown one 404), search attributes and memo at start, in describe
 * and in the list, and describe of an older run of a reused id. */
#include "http_client.h"

TestSuite(http_api_vis, .init = setup, .fini = duro_test_fini, .timeout = 120);

#define SHOP "/api/v1/namespaces/shop"

/* start: POST a start of `type` (no worker needed: the rows are written
 * by the start itself), with extra body members (",..." or ""). */
static int start(int port, const char *ns, const char *id, const char *extra)
{
    char path[256], body[1024];
    snprintf(path, sizeof(path), "%s/workflows/%s", ns, id);
    snprintf(body, sizeof(body),
             "{\"workflowType\":\"gate\",\"taskQueue\":\"test\"%s}", extra);
    http_resp r = http(port, "POST", path, NULL, body);
    int status = r.status;
    cr_expect_eq(r.status, 200, "%s: %s", id, r.body);
    resp_free(&r);
    return status;
}

static double count(int port, const char *ns, const char *query)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/workflow-count%s%s", ns,
             query ? "?query=" : "", query ? query : "");
    http_resp r = http(port, "GET", path, NULL, NULL);
    cr_expect_eq(r.status, 200, "%s: %s", path, r.body);
    double n = cJSON_GetNumberValue(cJSON_GetObjectItem(r.json, "count"));
    resp_free(&r);
    return n;
}

Test(http_api_vis, query_pages_and_count)
{
    int port = start_server(NULL);
    char id[32];
    for (int i = 0; i < 7; i++) {
        snprintf(id, sizeof(id), "q%d", i);
        start(port, NS, id, "");
    }
    /* 7 rows in pages of 3: 3 pages, the last one short, each id once */
    char token[1024] = "", path[1400], seen[16][16];
    int n = 0, pages = 0;
    do {
        snprintf(path, sizeof(path),
                 NS "/workflows?query=WorkflowType%%3D'gate'%%20ORDER%%20BY%%"
                    "20StartTime%%20ASC&pageSize=3%s%s",
                 *token ? "&nextPageToken=" : "", token);
        http_resp r = http(port, "GET", path, NULL, NULL);
        cr_assert_eq(r.status, 200, "%s", r.body);
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItem(r.json, "executions"))
        {
            cr_assert_lt(n, 16);
            const char *w =
                cJSON_GetStringValue(cJSON_GetObjectItem(e, "workflowId"));
            /* each id once (starts in the same millisecond tie) */
            snprintf(seen[n], sizeof(seen[n]), "%s", w ? w : "");
            cr_expect_eq(strncmp(seen[n], "q", 1), 0, "%s", seen[n]);
            for (int k = 0; k < n; k++)
                cr_expect_str_neq(seen[k], seen[n]);
            cr_expect_str_eq(
                cJSON_GetStringValue(cJSON_GetObjectItem(e, "workflowType")),
                "gate");
            n++;
        }
        const cJSON *t = cJSON_GetObjectItem(r.json, "nextPageToken");
        cr_assert(!cJSON_IsString(t) || strlen(t->valuestring) < sizeof(token));
        snprintf(token, sizeof(token), "%s",
                 cJSON_IsString(t) ? t->valuestring : "");
        resp_free(&r);
        pages++;
    } while (*token && pages < 10);
    cr_expect_eq(n, 7);
    cr_expect_eq(pages, 3);

    cr_expect_eq(count(port, NS, NULL), 7);
    cr_expect_eq(count(port, NS, "WorkflowId%20IN%20('q1','q2')"), 2);
    cr_expect_eq(count(port, NS, "WorkflowType%3D%22other%22"), 0);

    /* a malformed query: 400 with the parser's message and its column */
    http_resp r = http(port, "GET", NS "/workflows?query=WorkflowType%3D%3D'x'",
                       NULL, NULL);
    cr_expect_eq(r.status, 400, "%s", r.body);
    cr_expect_str_eq(jstr(&r, "code"), "INVALID_ARGUMENT");
    cr_expect(strstr(jstr(&r, "message"), "column 14"), "%s", r.body);
    resp_free(&r);
    expect_error(
        http(port, "GET", NS "/workflow-count?query=Nope%3D1", NULL, NULL), 400,
        "INVALID_ARGUMENT");
    expect_error(
        http(port, "GET", NS "/workflows?nextPageToken=garbage", NULL, NULL),
        400, "INVALID_ARGUMENT");
    duro_test_finish(&h);
}

Test(http_api_vis, namespaces_isolate_and_unknown_is_404)
{
    duro_client *c = duro_test_client(&h);
    cr_assert_eq(duro_client_namespace_create(c, "shop", 0, NULL), 0, "%s",
                 duro_client_errstr(c));
    duro_client_free(c);
    int port = start_server(NULL);
    start(port, NS, "d1", "");
    start(port, SHOP, "s1", "");
    start(port, SHOP, "s2", "");
    /* the same id in two namespaces: two workflows */
    start(port, SHOP, "d1", "");
    cr_expect_eq(count(port, NS, NULL), 1);
    cr_expect_eq(count(port, SHOP, NULL), 3);

    http_resp r = http(port, "GET", SHOP "/workflows", NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "executions")),
                 3);
    resp_free(&r);
    r = http(port, "GET", SHOP "/workflows/s1", NULL, NULL);
    cr_expect_eq(r.status, 200, "%s", r.body);
    cr_expect_str_eq(jstr(&r, "status"), "RUNNING");
    resp_free(&r);
    expect_error(http(port, "GET", NS "/workflows/s1", NULL, NULL), 404,
                 "NOT_FOUND");
    r = http(port, "POST", SHOP "/workflows/s1/terminate", NULL, NULL);
    cr_expect_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    cr_expect_eq(count(port, SHOP, "ExecutionStatus%3D'TERMINATED'"), 1);
    cr_expect_eq(count(port, NS, "ExecutionStatus%3D'TERMINATED'"), 0);

    /* an unknown namespace: 404 naming it, on every route */
    r = http(port, "GET", "/api/v1/namespaces/nowhere/workflows", NULL, NULL);
    cr_expect_eq(r.status, 404, "%s", r.body);
    cr_expect_str_eq(jstr(&r, "code"), "NOT_FOUND");
    cr_expect_str_eq(jstr(&r, "message"),
                     "namespace nowhere not found (create it: duro operator "
                     "namespace create -n nowhere)");
    resp_free(&r);
    expect_error(http(port, "POST", "/api/v1/namespaces/nowhere/workflows/x",
                      NULL, GATE),
                 404, "NOT_FOUND");
    r = http(port, "GET", "/api/v1/namespaces/bad%20name/workflows", NULL,
             NULL);
    cr_expect_eq(r.status, 404, "%s", r.body);
    cr_expect_str_eq(jstr(&r, "code"), "NOT_FOUND");
    /* the reason, not "not found" followed by the reason */
    cr_expect_str_eq(jstr(&r, "message"),
                     "namespace \"bad name\" has a character outside "
                     "[A-Za-z0-9._-]");
    resp_free(&r);
    duro_test_finish(&h);
}

Test(http_api_vis, search_attributes_and_memo)
{
    duro_client *c = duro_test_client(&h);
    cr_assert_eq(
        duro_client_search_attribute_create(c, "OrderState", "Keyword"), 0,
        "%s", duro_client_errstr(c));
    cr_assert_eq(duro_client_search_attribute_create(c, "Amount", "Int"), 0);
    duro_client_free(c);
    int port = start_server(NULL);
    start(port, NS, "o1",
          ",\"searchAttributes\":{\"OrderState\":\"Paid\",\"Amount\":12},"
          "\"memo\":{\"note\":\"ring twice\"}");
    start(port, NS, "o2", ",\"searchAttributes\":{\"OrderState\":\"Picked\"}");

    http_resp r = http(port, "GET", NS "/workflows/o1", NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    const cJSON *sa = cJSON_GetObjectItem(r.json, "searchAttributes");
    cr_expect_str_eq(
        cJSON_GetStringValue(cJSON_GetObjectItem(sa, "OrderState")), "Paid",
        "%s", r.body);
    cr_expect_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(sa, "Amount")), 12);
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(
                         cJSON_GetObjectItem(r.json, "memo"), "note")),
                     "ring twice", "%s", r.body);
    resp_free(&r);

    r = http(port, "GET", NS "/workflows?query=OrderState%3D'Paid'", NULL,
             NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    const cJSON *ex = cJSON_GetObjectItem(r.json, "executions");
    cr_assert_eq(cJSON_GetArraySize(ex), 1, "%s", r.body);
    const cJSON *row = cJSON_GetArrayItem(ex, 0);
    cr_expect_str_eq(
        cJSON_GetStringValue(cJSON_GetObjectItem(row, "workflowId")), "o1");
    cr_expect_str_eq(
        cJSON_GetStringValue(cJSON_GetObjectItem(
            cJSON_GetObjectItem(row, "searchAttributes"), "OrderState")),
        "Paid");
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(
                         cJSON_GetObjectItem(row, "memo"), "note")),
                     "ring twice");
    resp_free(&r);
    cr_expect_eq(count(port, NS, "Amount%20%3E%2010"), 1);

    /* signal-with-start takes them too */
    r = http(port, "POST", NS "/workflows/o3/signal-with-start/open", NULL,
             "{\"workflowType\":\"gate\",\"taskQueue\":\"test\","
             "\"searchAttributes\":{\"OrderState\":\"Paid\"},"
             "\"memo\":{\"n\":3}}");
    cr_expect_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    cr_expect_eq(count(port, NS, "OrderState%3D'Paid'"), 2);

    /* the client's checks: a wrong type, an unregistered name, not objects */
    r = http(port, "POST", NS "/workflows/o4", NULL,
             "{\"workflowType\":\"gate\",\"taskQueue\":\"test\","
             "\"searchAttributes\":{\"Amount\":\"many\"}}");
    cr_expect_eq(r.status, 400, "%s", r.body);
    cr_expect(strstr(jstr(&r, "message"), "Amount"), "%s", r.body);
    resp_free(&r);
    r = http(port, "POST", NS "/workflows/o4", NULL,
             "{\"workflowType\":\"gate\",\"taskQueue\":\"test\","
             "\"searchAttributes\":{\"Colour\":\"red\"}}");
    cr_expect_eq(r.status, 400, "%s", r.body);
    cr_expect(strstr(jstr(&r, "message"), "Colour"), "%s", r.body);
    resp_free(&r);
    expect_error(http(port, "POST", NS "/workflows/o4", NULL,
                      "{\"workflowType\":\"gate\",\"taskQueue\":\"test\","
                      "\"searchAttributes\":[1]}"),
                 400, "INVALID_ARGUMENT");
    expect_error(http(port, "POST", NS "/workflows/o4", NULL,
                      "{\"workflowType\":\"gate\",\"taskQueue\":\"test\","
                      "\"memo\":\"text\"}"),
                 400, "INVALID_ARGUMENT");
    expect_error(http(port, "GET", NS "/workflows/o4", NULL, NULL), 404,
                 "NOT_FOUND");
    duro_test_finish(&h);
}

Test(http_api_vis, describe_an_older_run)
{
    int port = start_server(NULL);
    start(port, NS, "r1", ",\"memo\":{\"run\":1},\"input\":{\"n\":7}");
    http_resp r = http(port, "GET", NS "/workflows/r1", NULL, NULL);
    char first[64];
    snprintf(first, sizeof(first), "%s", jstr(&r, "runId"));
    resp_free(&r);
    r = http(port, "POST", NS "/workflows/r1/terminate", NULL, NULL);
    resp_free(&r);
    start(port, NS, "r1", ",\"memo\":{\"run\":2}");

    char path[256];
    snprintf(path, sizeof(path), NS "/workflows/r1?runId=%s", first);
    r = http(port, "GET", path, NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_expect_str_eq(jstr(&r, "runId"), first);
    cr_expect_str_eq(jstr(&r, "workflowId"), "r1");
    cr_expect_str_eq(jstr(&r, "workflowType"), "gate");
    cr_expect_str_eq(jstr(&r, "status"), "TERMINATED", "%s", r.body);
    cr_expect(*jstr(&r, "closeTime"), "%s", r.body);
    cr_expect_geq(
        cJSON_GetNumberValue(cJSON_GetObjectItem(r.json, "historyLength")), 2,
        "%s", r.body);
    cr_expect_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(
                     cJSON_GetObjectItem(r.json, "memo"), "run")),
                 1, "%s", r.body);
    /* its input and failure from its history, as while it was current */
    cr_expect_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(
                     cJSON_GetObjectItem(r.json, "input"), "n")),
                 7, "%s", r.body);
    const char *ft = cJSON_GetStringValue(
        cJSON_GetObjectItem(cJSON_GetObjectItem(r.json, "failure"), "type"));
    cr_expect(ft && !strcmp(ft, "Terminated"), "%s", r.body);
    resp_free(&r);
    r = http(port, "GET", NS "/workflows/r1", NULL, NULL);
    cr_expect_str_neq(jstr(&r, "runId"), first);
    cr_expect_str_eq(jstr(&r, "status"), "RUNNING");
    resp_free(&r);
    expect_error(http(port, "GET", NS "/workflows/r1?runId=nope", NULL, NULL),
                 404, "NOT_FOUND");
    expect_error(http(port, "GET", NS "/workflows/r1?runId=a%2Fb", NULL, NULL),
                 404, "NOT_FOUND");
    /* a run of another workflow is not this one's */
    start(port, NS, "r2", "");
    r = http(port, "GET", NS "/workflows/r2", NULL, NULL);
    snprintf(path, sizeof(path), NS "/workflows/r1?runId=%s",
             jstr(&r, "runId"));
    resp_free(&r);
    expect_error(http(port, "GET", path, NULL, NULL), 404, "NOT_FOUND");
    duro_test_finish(&h);
}
