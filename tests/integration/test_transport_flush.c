/* test_transport_flush.c: when an async connection's commands leave
 * (common/async/transport.c). They are written just before the loop blocks,
 * so a command sent and its reply take one loop iteration, not one to wait
 * for "writable" and another for the reply; and a command larger than the
 * socket takes still leaves whole, the rest once the socket is writable. */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "duro/aredis.h"
#include "duro/config.h"
#include "harness.h"
#include "harness_aredis.h"

static duro_test_harness h;
static uv_loop_t loop;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(transport_flush, .init = setup, .fini = duro_test_fini,
          .timeout = 60);

typedef struct {
    int replies;
    long long len; /* of the last bulk reply, or its integer */
    bool ok;
} tally;

static void on_reply(duro_aredis *r, redisReply *reply, void *arg)
{
    tally *t = arg;
    t->replies++;
    t->ok = reply && reply->type != REDIS_REPLY_ERROR;
    if (reply && reply->type == REDIS_REPLY_STRING)
        t->len = (long long)reply->len;
    if (reply && reply->type == REDIS_REPLY_INTEGER) t->len = reply->integer;
}

/* iterations_until_answered runs the loop one blocking iteration at a
 * time until t has its reply (at most 100, 10 s). */
static int iterations_until_answered(tally *t)
{
    int n = 0;
    int64_t end = duro_test_mono_ms() + 10000;
    while (t->replies == 0 && n < 100 && duro_test_mono_ms() < end) {
        uv_run(&loop, UV_RUN_ONCE);
        n++;
    }
    cr_assert_eq(t->replies, 1, "no reply after %d iterations", n);
    return n;
}

Test(transport_flush, a_command_and_its_reply_take_one_iteration)
{
    duro_aredis *r = duro_test_aredis_open(&loop, h.redis_url, "flush");
    /* what the connection sent on its own when it came up is answered */
    tally first = {0};
    duro_test_aredis_send(r, on_reply, &first, 1, (const char *[]){"PING"},
                          NULL);
    iterations_until_answered(&first);
    for (int i = 0; i < 5; i++) {
        tally t = {0};
        duro_test_aredis_send(r, on_reply, &t, 2,
                              (const char *[]){"ECHO", "hello"}, NULL);
        /* one iteration writes before it blocks, then wakes for the reply;
         * waiting for "writable" first would take two */
        cr_assert_eq(iterations_until_answered(&t), 1, "round %d", i);
        cr_assert(t.ok);
        cr_assert_eq(t.len, 5);
    }
    duro_test_aredis_close(&loop, r);
}

Test(transport_flush, a_command_larger_than_the_socket_takes_leaves_whole)
{
    duro_aredis *r = duro_test_aredis_open(&loop, h.redis_url, "flush");
    size_t big = 8u << 20; /* far more than a socket buffer */
    char *v = malloc(big);
    cr_assert_not_null(v);
    memset(v, 'x', big);
    tally set = {0}, len = {0}, echo = {0};
    duro_test_aredis_send(r, on_reply, &set, 3,
                          (const char *[]){"SET", "flush:big", v},
                          (const size_t[]){3, 9, big});
    /* queued behind the big one, in the same iteration */
    duro_test_aredis_send(r, on_reply, &len, 2,
                          (const char *[]){"STRLEN", "flush:big"}, NULL);
    duro_test_aredis_send(r, on_reply, &echo, 2,
                          (const char *[]){"ECHO", "after"}, NULL);
    free(v);
    int64_t end = duro_test_mono_ms() + 20000;
    while (echo.replies == 0 && duro_test_mono_ms() < end)
        uv_run(&loop, UV_RUN_ONCE);
    cr_assert(set.ok && set.replies == 1, "SET not answered");
    cr_assert_eq(len.len, (long long)big);
    cr_assert_eq(echo.replies, 1);
    cr_assert_eq(echo.len, 5);
    duro_test_aredis_close(&loop, r);
}
