/* test_http_update.c: `duro server`'s update route, POST
 * /api/v1/namespaces/{ns}/workflows/{id}/update/{name}, against
 * duro-test-worker's `updatable` workflow: the handler's result, a
 * repeated updateId answered from the record, a rejection (400, nothing
 * recorded), a closed workflow (409). */
#include "http_client.h"

TestSuite(http_update, .init = setup, .fini = duro_test_fini, .timeout = 120);

#define UPD NS "/workflows/hu1/update/bump"

Test(http_update, update_route_returns_the_result_once_per_update_id)
{
    int port = start_all();
    http_resp r =
        http(port, "POST", NS "/workflows/hu1", NULL,
             "{\"workflowType\":\"updatable\",\"taskQueue\":\"test\"}");
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    r = http(port, "POST", UPD, NULL,
             "{\"input\":{\"n\":3},\"updateId\":\"h-3\"}");
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_expect_str_eq(jstr(&r, "updateId"), "h-3");
    cr_expect_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(r.json, "result")),
                 3);
    resp_free(&r);
    /* the same id: its recorded result, not applied again */
    r = http(port, "POST", UPD, NULL,
             "{\"input\":{\"n\":3},\"updateId\":\"h-3\"}");
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_expect_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(r.json, "result")),
                 3);
    resp_free(&r);
    /* no updateId: the server makes one and says which */
    r = http(port, "POST", UPD, NULL, "{\"input\":{\"n\":4}}");
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_expect_eq(strlen(jstr(&r, "updateId")), DURO_UUID_LEN);
    cr_expect_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(r.json, "result")),
                 7);
    resp_free(&r);
    r = http(port, "POST", UPD, NULL, "{\"input\":{\"n\":-1}}");
    cr_expect_eq(r.status, 400, "%s", r.body);
    cr_expect_str_eq(jstr(&r, "code"), "INVALID_ARGUMENT");
    cr_expect(strstr(jstr(&r, "message"), "negative"), "%s", r.body);
    resp_free(&r);
    expect_error(http(port, "POST", UPD, NULL, "{\"bogus\":1}"), 400,
                 "INVALID_ARGUMENT");
    r = http(port, "POST", NS "/workflows/hu1/signal/done", NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    r = http(port, "GET", NS "/workflows/hu1/result?wait=20s", NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    expect_error(http(port, "POST", UPD, NULL, "{\"input\":{\"n\":1}}"), 409,
                 "NOT_RUNNING");
    expect_error(
        http(port, "POST", NS "/workflows/none/update/bump", NULL, NULL), 404,
        "NOT_FOUND");
}
