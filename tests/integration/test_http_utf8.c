/* test_http_utf8.c: the HTTP API refuses paths, query strings and bodies
 * that are not UTF-8 (400), and answers valid JSON about what was stored
 * before input was checked (U+FFFD for each bad byte). */
#include <hiredis/hiredis.h>

#include "duro/client.h"
#include "duro/keys.h"
#include "duro/utf8.h"
#include "http_client.h"

TestSuite(http_utf8, .init = setup, .fini = duro_test_fini, .timeout = 60);

Test(http_utf8, bad_bytes_are_refused_and_stored_ones_print_as_valid_json)
{
    int port = start_server(NULL);
    http_resp r = http(port, "POST", NS "/workflows/h8", NULL,
                       "{\"workflowType\":\"gate\",\"taskQueue\":\"nobody\","
                       "\"input\":\"caf\xe9\"}");
    cr_assert_eq(r.status, 400, "%s", r.body);
    cr_assert_str_eq(jstr(&r, "code"), "INVALID_JSON");
    cr_assert(strstr(jstr(&r, "message"), "invalid UTF-8 at byte 56"), "%s",
              r.body);
    resp_free(&r);
    expect_error(http(port, "GET", NS "/workflows/h8%FF", NULL, NULL), 400,
                 "INVALID_ARGUMENT");
    expect_error(http(port, "GET", NS "/workflows/h8?runId=%C3", NULL, NULL),
                 400, "INVALID_ARGUMENT");

    r = http(port, "GET", "/no-such-page%FF", NULL, NULL);
    cr_assert_eq(r.status, 404, "%s", r.body);
    cr_assert(duro_utf8_check(r.body, strlen(r.body), NULL) == 0,
              "the 404 is not UTF-8: %s", r.body);
    resp_free(&r);

    r = http(port, "POST", NS "/workflows/h8", NULL,
             "{\"workflowType\":\"gate\",\"taskQueue\":\"nobody\"}");
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    duro_client *c = duro_test_client(&h);
    redisContext *rc = duro_test_redis(&h);
    redisReply *rep =
        redisCommand(rc, "HSET duro:{p%d}:wf:h8 input %b",
                     duro_partition_of("h8", duro_client_partitions(c)),
                     "\"caf\xe9\"", (size_t)6);
    cr_assert(rep && rep->type == REDIS_REPLY_INTEGER);
    freeReplyObject(rep);
    r = http(port, "GET", NS "/workflows/h8", NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(duro_utf8_check(r.body, strlen(r.body), NULL) == 0,
              "the answer is not UTF-8: %s", r.body);
    cr_assert(strstr(r.body, "\"caf\xef\xbf\xbd\""), "%s", r.body);
    resp_free(&r);
    redisFree(rc);
    duro_client_free(c);
    duro_test_finish(&h);
}
