/* test_http_api.c: `duro server`, the HTTP API, driven over real sockets:
 * every workflow route, each error status and bad body, the history long
 * poll, and stopping. duro-test-worker runs the workflows (task queue
 * "test"), duro-scheduler their timers. Auth, CORS, TLS, the OpenAPI
 * document, metrics, the fuzz and `duro dev` are in
 * test_http_api_security.c. */
#include "duro/ids.h"
#include "duro/keys.h"
#include "http_client.h"

TestSuite(http_api, .init = setup, .fini = duro_test_fini, .timeout = 120);

/* ---- Routes ---- */

Test(http_api, start_query_signal_result_describe_and_history)
{
    int port = start_all();
    http_resp r = http(port, "POST", NS "/workflows/g1", NULL, GATE);
    cr_assert_eq(r.status, 200, "%s", r.body);
    char run[64];
    snprintf(run, sizeof(run), "%s", jstr(&r, "runId"));
    cr_expect_eq(strlen(run), DURO_UUID_LEN);
    resp_free(&r);
    expect_error(http(port, "POST", NS "/workflows/g1", NULL, GATE), 409,
                 "ALREADY_STARTED");

    /* the query answers once the worker has reached the wait */
    bool waiting = duro_test_wait_until(
        ({
            http_resp q =
                http(port, "POST", NS "/workflows/g1/query/stage", NULL, NULL);
            const cJSON *v = cJSON_GetObjectItem(q.json, "result");
            bool w = q.status == 200 && cJSON_IsString(v) &&
                     strcmp(v->valuestring, "waiting") == 0;
            resp_free(&q);
            w;
        }),
        10000);
    cr_assert(waiting, "the gate workflow never reached its wait");

    r = http(port, "GET", NS "/workflows/g1", NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_expect_str_eq(jstr(&r, "workflowId"), "g1");
    cr_expect_str_eq(jstr(&r, "runId"), run);
    cr_expect_str_eq(jstr(&r, "workflowType"), "gate");
    cr_expect_str_eq(jstr(&r, "taskQueue"), "test");
    cr_expect_str_eq(jstr(&r, "status"), "RUNNING");
    cr_expect(*jstr(&r, "startTime"));
    cr_expect(cJSON_IsNull(cJSON_GetObjectItem(r.json, "closeTime")));
    cr_expect(cJSON_IsArray(cJSON_GetObjectItem(r.json, "pendingActivities")));
    resp_free(&r);
    char path[256];
    snprintf(path, sizeof(path), NS "/workflows/g1?runId=%s", run);
    r = http(port, "GET", path, NULL, NULL);
    cr_expect_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    expect_error(http(port, "GET", NS "/workflows/g1?runId=other", NULL, NULL),
                 404, "NOT_FOUND");

    /* a long poll on the history wakes on the signal's event */
    r = http(port, "GET", NS "/workflows/g1/history?pageSize=1000", NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    int before = cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "events"));
    cr_expect(cJSON_IsNull(cJSON_GetObjectItem(r.json, "nextPageToken")));
    resp_free(&r);
    r = http(port, "POST", NS "/workflows/g1/signal/open", NULL,
             "{\"input\":{\"key\":\"k1\"}}");
    cr_expect_eq(r.status, 200, "%s", r.body);
    cr_expect_str_eq(jstr(&r, "runId"), run);
    resp_free(&r);
    snprintf(path, sizeof(path),
             NS "/workflows/g1/history?waitNewEvent=true&nextPageToken=%d",
             before);
    int64_t t0 = duro_test_mono_ms();
    r = http(port, "GET", path, NULL, NULL);
    cr_expect_eq(r.status, 200, "%s", r.body);
    cr_expect_gt(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "events")), 0);
    cr_expect_lt(duro_test_mono_ms() - t0, 10000);
    resp_free(&r);

    r = http(port, "GET", NS "/workflows/g1/result?wait=20s", NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_expect_str_eq(jstr(&r, "status"), "COMPLETED");
    const cJSON *res = cJSON_GetObjectItem(r.json, "result");
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(
                         cJSON_GetObjectItem(res, "signal"), "key")),
                     "k1", "%s", r.body);
    cr_expect(*jstr(&r, "closeTime"));
    resp_free(&r);

    /* history in pages of 2 gives every event once, in order */
    r = http(port, "GET", NS "/workflows/g1/history?pageSize=1000", NULL, NULL);
    int total = cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "events"));
    resp_free(&r);
    cr_assert_gt(total, 4);
    char token[32] = "";
    int seen = 0, pages = 0;
    do {
        snprintf(path, sizeof(path), NS "/workflows/g1/history?pageSize=2%s%s",
                 *token ? "&nextPageToken=" : "", token);
        r = http(port, "GET", path, NULL, NULL);
        cr_assert_eq(r.status, 200, "%s", r.body);
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItem(r.json, "events"))
        {
            cr_expect_eq(
                cJSON_GetNumberValue(cJSON_GetObjectItem(e, "eventId")),
                ++seen);
        }
        const cJSON *t = cJSON_GetObjectItem(r.json, "nextPageToken");
        snprintf(token, sizeof(token), "%s",
                 cJSON_IsString(t) ? t->valuestring : "");
        resp_free(&r);
    } while (*token && ++pages < 100);
    cr_expect_eq(seen, total);
    duro_test_finish(&h);
}

Test(http_api, list_count_and_task_queue)
{
    int port = start_all();
    char path[256];
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof(path), NS "/workflows/a%d", i);
        http_resp r =
            http(port, "POST", path, NULL,
                 "{\"workflowType\":\"activities\",\"taskQueue\":\"test\","
                 "\"input\":{\"n\":1}}");
        cr_assert_eq(r.status, 200, "%s", r.body);
        resp_free(&r);
        snprintf(path, sizeof(path), NS "/workflows/a%d/result?wait=20s", i);
        r = http(port, "GET", path, NULL, NULL);
        cr_assert_str_eq(jstr(&r, "status"), "COMPLETED", "%s", r.body);
        resp_free(&r);
    }
    http_resp r = http(port, "POST", NS "/workflows/g1", NULL, GATE);
    resp_free(&r);

    r = http(port, "GET",
             NS "/workflow-count?query=ExecutionStatus%3D%22COMPLETED%22", NULL,
             NULL);
    cr_expect_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(r.json, "count")), 5,
                 "%s", r.body);
    resp_free(&r);
    r = http(port, "GET", NS "/workflow-count", NULL, NULL);
    cr_expect_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(r.json, "count")), 6,
                 "%s", r.body);
    resp_free(&r);
    r = http(port, "GET",
             NS "/workflows?query=WorkflowType%20%3D%20'gate'%20AND%20"
                "ExecutionStatus%3D'RUNNING'",
             NULL, NULL);
    const cJSON *ex = cJSON_GetObjectItem(r.json, "executions");
    cr_expect_eq(cJSON_GetArraySize(ex), 1, "%s", r.body);
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(
                         cJSON_GetArrayItem(ex, 0), "workflowType")),
                     "gate");
    resp_free(&r);

    /* pages of 2 over 6 rows: 3 pages, each id once (the token is the
     * client library's, opaque) */
    char token[1024] = "", ids[16][16], lpath[1200];
    int n = 0, pages = 0;
    do {
        snprintf(lpath, sizeof(lpath), NS "/workflows?pageSize=2%s%s",
                 *token ? "&nextPageToken=" : "", token);
        r = http(port, "GET", lpath, NULL, NULL);
        cr_assert_eq(r.status, 200, "%s", r.body);
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItem(r.json, "executions"))
        {
            cr_assert_lt(n, 16);
            snprintf(
                ids[n], sizeof(ids[n]), "%s",
                cJSON_GetStringValue(cJSON_GetObjectItem(e, "workflowId")));
            for (int k = 0; k < n; k++)
                cr_expect_str_neq(ids[k], ids[n]);
            n++;
        }
        const cJSON *t = cJSON_GetObjectItem(r.json, "nextPageToken");
        cr_assert(!cJSON_IsString(t) || strlen(t->valuestring) < sizeof(token));
        snprintf(token, sizeof(token), "%s",
                 cJSON_IsString(t) ? t->valuestring : "");
        resp_free(&r);
        pages++;
    } while (*token && pages < 10);
    cr_expect_eq(n, 6);
    cr_expect_eq(pages, 3);

    r = http(port, "GET", NS "/task-queues/test", NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_expect_str_eq(jstr(&r, "taskQueue"), "test");
    cr_expect_geq(
        cJSON_GetNumberValue(cJSON_GetObjectItem(
            cJSON_GetObjectItem(r.json, "workflowTasks"), "consumers")),
        1, "%s", r.body);
    resp_free(&r);
    expect_error(http(port, "GET", NS "/workflows?query=Foo%3D1", NULL, NULL),
                 400, "INVALID_ARGUMENT");
    expect_error(http(port, "GET", NS "/workflows?pageSize=0", NULL, NULL), 400,
                 "INVALID_ARGUMENT");
    expect_error(http(port, "GET", NS "/workflows?pageSize=100000", NULL, NULL),
                 400, "INVALID_ARGUMENT");
    duro_test_finish(&h);
}

Test(http_api, signal_with_start_cancel_terminate)
{
    int port = start_all();
    static const char SWS[] =
        "{\"workflowType\":\"gate\",\"taskQueue\":\"test\",\"input\":1,"
        "\"signalInput\":\"early\"}";
    http_resp r = http(port, "POST", NS "/workflows/s1/signal-with-start/open",
                       NULL, SWS);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_expect(cJSON_IsTrue(cJSON_GetObjectItem(r.json, "started")));
    resp_free(&r);
    r = http(port, "GET", NS "/workflows/s1/result?wait=20s", NULL, NULL);
    cr_expect_str_eq(jstr(&r, "status"), "COMPLETED", "%s", r.body);
    resp_free(&r);

    r = http(port, "POST", NS "/workflows/c1", NULL, GATE);
    resp_free(&r);
    r = http(port, "POST", NS "/workflows/c1/signal-with-start/nothing", NULL,
             SWS);
    cr_expect(cJSON_IsFalse(cJSON_GetObjectItem(r.json, "started")), "%s",
              r.body);
    resp_free(&r);
    r = http(port, "POST", NS "/workflows/c1/cancel", NULL,
             "{\"reason\":\"test\"}");
    cr_expect_eq(r.status, 200, "%s", r.body);
    cr_expect(cJSON_IsFalse(cJSON_GetObjectItem(r.json, "alreadyRequested")));
    resp_free(&r);
    /* another run to terminate: c1 may already have ended by its cancel
     * (when it reaches the activity, the activity is canceled and the
     * workflow fails at once), or may still wait for its signal */
    r = http(port, "POST", NS "/workflows/c2", NULL, GATE);
    resp_free(&r);
    r = http(port, "POST", NS "/workflows/c2/terminate", NULL,
             "{\"reason\":\"enough\"}");
    cr_expect_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    r = http(port, "GET", NS "/workflows/c2/result?wait=0", NULL, NULL);
    cr_expect_str_eq(jstr(&r, "status"), "TERMINATED", "%s", r.body);
    resp_free(&r);
    expect_error(http(port, "POST", NS "/workflows/c2/terminate", NULL, NULL),
                 409, "NOT_RUNNING");
    expect_error(http(port, "POST", NS "/workflows/c2/signal/open", NULL, NULL),
                 409, "NOT_RUNNING");
    expect_error(http(port, "POST", NS "/workflows/c2/cancel", NULL, NULL), 409,
                 "NOT_RUNNING");
    duro_test_finish(&h);
}

/* ---- Errors ---- */

Test(http_api, each_error_status_and_bad_bodies)
{
    /* no worker: the query below must time out */
    static const char *const ARGS[] = {"--query-timeout", "300ms", "--max-body",
                                       "64KiB", NULL};
    int port = start_server(ARGS);
    expect_error(http(port, "GET", NS "/workflows/nope", NULL, NULL), 404,
                 "NOT_FOUND");
    expect_error(http(port, "GET", NS "/workflows/nope/result", NULL, NULL),
                 404, "NOT_FOUND");
    expect_error(http(port, "GET", NS "/workflows/nope/history", NULL, NULL),
                 404, "NOT_FOUND");
    expect_error(http(port, "POST", NS "/workflows/nope/signal/x", NULL, NULL),
                 404, "NOT_FOUND");
    expect_error(
        http(port, "GET", "/api/v1/namespaces/other/workflows/x", NULL, NULL),
        404, "NOT_FOUND");
    expect_error(http(port, "GET", "/nothing/here", NULL, NULL), 404,
                 "NOT_FOUND");
    expect_error(http(port, "GET", NS "/workflows/x/", NULL, NULL), 404,
                 "NOT_FOUND");
    http_resp r = http(port, "DELETE", NS "/workflows/x", NULL, NULL);
    cr_expect_eq(r.status, 405);
    cr_expect(strstr(r.head, "Allow: GET, POST"), "%s", r.head);
    resp_free(&r);
    r = http(port, "GET", NS "/workflows/x/cancel", NULL, NULL);
    cr_expect_eq(r.status, 405);
    cr_expect(strstr(r.head, "Allow: POST"), "%s", r.head);
    cr_expect_null(strstr(r.head, "Allow: GET"), "%s", r.head);
    cr_expect_str_eq(jstr(&r, "code"), "METHOD_NOT_ALLOWED");
    resp_free(&r);

    /* bodies: each refusal names the field */
    static const struct {
        const char *body, *code, *field;
    } BAD[] = {
        {"{", "INVALID_JSON", "body"},
        {"[1,2]", "INVALID_JSON", "body"},
        {"\"text\"", "INVALID_JSON", "body"},
        {"{}", "INVALID_ARGUMENT", "workflowType"},
        {"{\"workflowType\":1,\"taskQueue\":\"q\"}", "INVALID_ARGUMENT",
         "workflowType"},
        {"{\"workflowType\":\"t\"}", "INVALID_ARGUMENT", "taskQueue"},
        {"{\"workflowType\":\"t\",\"taskQueue\":[]}", "INVALID_ARGUMENT",
         "taskQueue"},
        {"{\"workflowType\":\"t\",\"taskQueue\":\"q\",\"colour\":1}",
         "INVALID_ARGUMENT", "colour"},
        {"{\"workflowType\":\"t\",\"taskQueue\":\"q\",\"idReusePolicy\":"
         "\"Sometimes\"}",
         "INVALID_ARGUMENT", "idReusePolicy"},
        {"{\"workflowType\":\"t\",\"taskQueue\":\"q\",\"taskTimeout\":"
         "\"soon\"}",
         "INVALID_ARGUMENT", "taskTimeout"},
    };
    for (size_t i = 0; i < sizeof(BAD) / sizeof(BAD[0]); i++) {
        r = http(port, "POST", NS "/workflows/b1", NULL, BAD[i].body);
        cr_expect_eq(r.status, 400, "%s: %d %s", BAD[i].body, r.status, r.body);
        cr_expect_str_eq(jstr(&r, "code"), BAD[i].code, "%s", BAD[i].body);
        cr_expect(strstr(jstr(&r, "message"), BAD[i].field), "%s: %s",
                  BAD[i].body, r.body);
        resp_free(&r);
    }
    expect_error(http(port, "POST", NS "/workflows/b1/terminate", NULL,
                      "{\"reason\":5}"),
                 400, "INVALID_ARGUMENT");
    expect_error(
        http(port, "GET", NS "/workflows/b1/result?wait=soon", NULL, NULL), 400,
        "INVALID_ARGUMENT");
    expect_error(http(port, "GET",
                      NS "/workflows/b1/history?waitNewEvent=maybe", NULL,
                      NULL),
                 400, "INVALID_ARGUMENT");
    /* nothing was started by any of them */
    expect_error(http(port, "GET", NS "/workflows/b1", NULL, NULL), 404,
                 "NOT_FOUND");

    /* 413: announced by Content-Length, and sent in chunks */
    size_t big = (size_t)100 * 1024;
    char *body = malloc(big + 1);
    memset(body, ' ', big);
    body[big] = '\0';
    expect_error(http(port, "POST", NS "/workflows/b2", NULL, body), 413,
                 "PAYLOAD_TOO_LARGE");
    int fd = connect_to(port);
    cr_assert(fd >= 0);
    static const char CHUNKED[] =
        "POST " NS "/workflows/b2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        "Transfer-Encoding: chunked\r\n\r\n";
    write_all(fd, CHUNKED, sizeof(CHUNKED) - 1);
    for (int i = 0; i < 4; i++) {
        char head[32];
        int n = snprintf(head, sizeof(head), "%zx\r\n", big / 4);
        write_all(fd, head, (size_t)n);
        write_all(fd, body, big / 4);
        write_all(fd, "\r\n", 2);
    }
    write_all(fd, "0\r\n\r\n", 5);
    r = (http_resp){0};
    read_resp(fd, &r);
    cr_expect_eq(r.status, 413, "%s", r.body);
    resp_free(&r);
    free(body);

    /* 504: no worker answers the query */
    r = http(port, "POST", NS "/workflows/q1", NULL, GATE);
    cr_expect_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    expect_error(http(port, "POST", NS "/workflows/q1/query/stage", NULL, NULL),
                 504, "DEADLINE_EXCEEDED");
    expect_error(
        http(port, "GET", NS "/workflows/q1/result?wait=200ms", NULL, NULL),
        504, "DEADLINE_EXCEEDED");

    /* 503: Redis does not answer */
    kill(h.redis_pid, SIGSTOP);
    r = http(port, "GET", NS "/workflows/q1", NULL, NULL);
    kill(h.redis_pid, SIGCONT);
    cr_expect_eq(r.status, 503, "%d %s", r.status, r.body);
    cr_expect_str_eq(jstr(&r, "code"), "UNAVAILABLE", "%s", r.body);
    resp_free(&r);
    r = http(port, "GET", NS "/workflows/q1", NULL, NULL);
    cr_expect_eq(r.status, 200, "after Redis came back: %s", r.body);
    resp_free(&r);
    duro_test_finish(&h);
}

/* ---- History long poll ---- */

static int history_len(int port, const char *id)
{
    char path[256];
    snprintf(path, sizeof(path), NS "/workflows/%s", id);
    http_resp r = http(port, "GET", path, NULL, NULL);
    int n =
        (int)cJSON_GetNumberValue(cJSON_GetObjectItem(r.json, "historyLength"));
    resp_free(&r);
    return n;
}

Test(http_api, history_long_poll_is_bounded_and_ends_with_the_run)
{
    int port = start_server(NULL); /* no worker: nothing moves by itself */
    http_resp r = http(port, "POST", NS "/workflows/lp", NULL, GATE);
    char run1[64];
    snprintf(run1, sizeof(run1), "%s", jstr(&r, "runId"));
    resp_free(&r);
    int len = history_len(port, "lp");
    cr_assert_gt(len, 0);
    char path[256];
    snprintf(path, sizeof(path),
             NS "/workflows/lp/history?waitNewEvent=true&wait=300ms&"
                "nextPageToken=%d",
             len);
    int64_t t0 = duro_test_mono_ms();
    r = http(port, "GET", path, NULL, NULL);
    int64_t took = duro_test_mono_ms() - t0;
    cr_expect_eq(r.status, 200, "%s", r.body);
    cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "events")), 0);
    char want[16];
    snprintf(want, sizeof(want), "%d", len);
    cr_expect_str_eq(jstr(&r, "nextPageToken"), want, "%s", r.body);
    cr_expect(took >= 250 && took < 3000, "waited %lld ms", (long long)took);
    resp_free(&r);

    /* the terminate wakes a waiting reader, and the run's end ends it */
    r = http(port, "POST", NS "/workflows/lp/terminate", NULL, NULL);
    resp_free(&r);
    r = http(port, "GET", path, NULL, NULL);
    cr_expect_gt(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "events")), 0);
    cr_expect(cJSON_IsNull(cJSON_GetObjectItem(r.json, "nextPageToken")), "%s",
              r.body);
    resp_free(&r);
    len = history_len(port, "lp");
    snprintf(path, sizeof(path),
             NS "/workflows/lp/history?waitNewEvent=true&wait=10s&"
                "nextPageToken=%d",
             len);
    t0 = duro_test_mono_ms();
    r = http(port, "GET", path, NULL, NULL);
    cr_expect_lt(duro_test_mono_ms() - t0, 2000, "waited on a closed run");
    cr_expect(cJSON_IsNull(cJSON_GetObjectItem(r.json, "nextPageToken")));
    resp_free(&r);

    /* an earlier run, while a new one is open, is closed and complete */
    r = http(port, "POST", NS "/workflows/lp", NULL, GATE);
    cr_expect_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    snprintf(path, sizeof(path),
             NS "/workflows/lp/history?waitNewEvent=true&wait=10s&runId=%s&"
                "nextPageToken=%d",
             run1, len);
    t0 = duro_test_mono_ms();
    r = http(port, "GET", path, NULL, NULL);
    cr_expect_eq(r.status, 200, "%s", r.body);
    cr_expect_lt(duro_test_mono_ms() - t0, 2000, "waited on an old run");
    cr_expect(cJSON_IsNull(cJSON_GetObjectItem(r.json, "nextPageToken")));
    resp_free(&r);
    duro_test_finish(&h);
}

/* ---- Stopping ---- */

Test(http_api, sigterm_ends_long_polls_at_once)
{
    int port = start_server(NULL); /* no worker: the waits would run out */
    http_resp r = http(port, "POST", NS "/workflows/w1", NULL, GATE);
    resp_free(&r);
    int fds[2];
    static const char *const PATHS[] = {
        "GET " NS "/workflows/w1/result?wait=60s HTTP/1.0\r\n\r\n",
        "GET " NS "/workflows/w1/history?waitNewEvent=true&wait=60s&"
        "nextPageToken=1000 HTTP/1.0\r\n\r\n"};
    for (int i = 0; i < 2; i++) {
        fds[i] = connect_to(port);
        cr_assert(fds[i] >= 0);
        write_all(fds[i], PATHS[i], strlen(PATHS[i]));
    }
    duro_test_sleep_ms(300); /* both are waiting */
    int64_t t0 = duro_test_mono_ms();
    duro_test_kill(&h, server_pid, SIGTERM);
    cr_expect(duro_test_wait_until(!duro_test_alive(&h, server_pid), 3000),
              "duro server took more than 3s to stop");
    cr_expect_lt(duro_test_mono_ms() - t0, 3000);
    r = (http_resp){0};
    read_resp(fds[0], &r);
    cr_expect_eq(r.status, 503, "%s", r.body);
    resp_free(&r);
    read_resp(fds[1], &r);
    cr_expect_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    duro_test_finish(&h);
}

/* "priority" puts the run's tasks in that level's streams; outside 1..5 it
 * is refused (docs/internals.md, "Priorities"). */
Test(http_api, start_with_priority)
{
    int port = start_server(NULL); /* no worker: the task stays queued */
    http_resp r = http(port, "POST", NS "/workflows/p1", NULL,
                       "{\"workflowType\":\"gate\",\"taskQueue\":\"test\","
                       "\"priority\":1}");
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    expect_error(http(port, "POST", NS "/workflows/p2", NULL,
                      "{\"workflowType\":\"gate\",\"taskQueue\":\"test\","
                      "\"priority\":7}"),
                 400, "INVALID_ARGUMENT");
    redisContext *c = duro_test_redis(&h);
    redisReply *x =
        redisCommand(c, "XLEN duro:{p%d}:wft:test!1",
                     duro_partition_of("p1", DURO_DEFAULT_PARTITIONS));
    cr_assert(x && x->type == REDIS_REPLY_INTEGER && x->integer == 1);
    freeReplyObject(x);
    /* "fairnessKey": the task waits in the key's stream (docs/internals.md,
     * "Fairness") */
    r = http(port, "POST", NS "/workflows/f1", NULL,
             "{\"workflowType\":\"gate\",\"taskQueue\":\"test\","
             "\"fairnessKey\":\"acme\",\"fairnessWeight\":2}");
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    expect_error(http(port, "POST", NS "/workflows/f2", NULL,
                      "{\"workflowType\":\"gate\",\"taskQueue\":\"test\","
                      "\"fairnessKey\":\"a b\"}"),
                 400, "INVALID_ARGUMENT");
    x = redisCommand(c, "XLEN duro:{p%d}:wft:test~acme",
                     duro_partition_of("f1", DURO_DEFAULT_PARTITIONS));
    cr_assert(x && x->type == REDIS_REPLY_INTEGER && x->integer == 1);
    freeReplyObject(x);
    redisFree(c);
    duro_test_finish(&h);
}
