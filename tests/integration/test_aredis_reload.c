/* test_aredis_reload.c: an async connection's FCALL that finds the
 * Functions library missing (common/async/aredis_cmd.c). Its plain
 * FUNCTION LOAD may meet another library already there: an older one or
 * one that is not Duro's is replaced after a look at its version, and the
 * FCALL is sent again only then, so that it runs against ours (sent
 * behind the LOAD it ran against the old library and failed: a worker's
 * activity completion lost until the attempt timed out). A newer library
 * stays and the FCALL gets its own error; a connection closed while the
 * FCALL waits for the reload still answers it once, with NULL. */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "duro/aredis.h"
#include "duro/log.h"
#include "duro/lua.h"
#include "duro/redis.h"
#include "harness.h"
#include "harness_aredis.h"

static duro_test_harness h;
static uv_loop_t loop;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(aredis_reload, .init = setup, .fini = duro_test_fini, .timeout = 60);

/* answer: the replies an FCALL got (its callback's runs). */
typedef struct {
    int calls;
    bool null;         /* the last was NULL (the connection went) */
    bool missing;      /* the last was "function not found" */
    long long integer; /* the last one's integer, or -1 */
    char err[160];     /* the last one's error, or "" */
} answer;

static void on_answer(duro_aredis *r, redisReply *rep, void *arg)
{
    (void)r;
    answer *a = arg;
    a->calls++;
    a->null = !rep;
    a->missing = rep && rep->type == REDIS_REPLY_ERROR &&
                 duro_reply_is_missing_function(rep->str);
    a->integer = rep && rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
    snprintf(a->err, sizeof(a->err), "%s",
             rep && rep->type == REDIS_REPLY_ERROR ? rep->str : "");
}

/* put_library: FUNCTION LOAD REPLACE of a library named duro whose
 * duro_version answers version (< 0: it has none: not Duro's). */
static void put_library(redisContext *c, int version)
{
    char src[256];
    if (version < 0)
        snprintf(src, sizeof(src),
                 "#!lua name=duro\n"
                 "redis.register_function('hello', "
                 "function() return 'hi' end)\n");
    else
        snprintf(src, sizeof(src),
                 "#!lua name=duro\n"
                 "redis.register_function('duro_version', "
                 "function() return %d end)\n",
                 version);
    duro_test_cmd_ok(c, "FUNCTION", "LOAD", "REPLACE", src, NULL);
}

/* library_version: what duro_version answers, or -1. */
static long long library_version(redisContext *c)
{
    redisReply *rep = duro_test_cmd(c, "FCALL", "duro_version", "0", NULL);
    long long v = rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
    freeReplyObject(rep);
    return v;
}

/* fcall sends FCALL fn 0 on r and runs the loop until it is answered
 * (10 s at most), then a little longer: a second answer would show. */
static void fcall(duro_aredis *r, const char *fn, answer *a)
{
    const char *argv[] = {"FCALL", fn, "0"};
    duro_test_aredis_send(r, on_answer, a, 3, argv, NULL);
    int64_t end = duro_test_mono_ms() + 10000;
    while (a->calls == 0 && duro_test_mono_ms() < end)
        uv_run(&loop, UV_RUN_ONCE);
    for (int i = 0; i < 10; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    cr_assert_eq(a->calls, 1, "%s answered %d times", fn, a->calls);
}

Test(aredis_reload, a_library_not_duros_is_replaced_before_the_resend)
{
    redisContext *c = duro_test_redis(&h);
    put_library(c, -1);
    duro_aredis *r = duro_test_aredis_open(&loop, h.redis_url, "foreign");
    answer a = {0};
    fcall(r, "duro_version", &a);
    cr_assert_eq(a.integer, duro_lua_version(),
                 "the resent FCALL did not run against ours: %s", a.err);
    duro_test_aredis_close(&loop, r);
    cr_assert_eq(library_version(c), duro_lua_version());
    redisFree(c);
}

Test(aredis_reload, an_older_library_is_replaced_before_the_resend)
{
    redisContext *c = duro_test_redis(&h);
    put_library(c, 1);
    duro_aredis *r = duro_test_aredis_open(&loop, h.redis_url, "older");
    answer a = {0};
    /* a Function the older library lacks: ours answers it (an empty
     * scan, or an error of its own), never "function not found" */
    fcall(r, "duro_vis_scan", &a);
    cr_assert(!a.null && !a.missing,
              "the resent FCALL ran against the older library: %s", a.err);
    duro_test_aredis_close(&loop, r);
    cr_assert_eq(library_version(c), duro_lua_version());
    redisFree(c);
}

Test(aredis_reload, a_newer_library_stays_and_the_fcall_gets_its_error)
{
    enum { NEWER = 999999 };
    redisContext *c = duro_test_redis(&h);
    put_library(c, NEWER);
    duro_aredis *r = duro_test_aredis_open(&loop, h.redis_url, "newer");
    answer a = {0};
    fcall(r, "duro_vis_scan", &a);
    cr_assert(a.missing, "not the FCALL's own error: '%s'", a.err);
    duro_test_aredis_close(&loop, r);
    cr_assert_eq(library_version(c), NEWER);
    redisFree(c);
}

Test(aredis_reload, a_missing_library_is_loaded_and_the_fcall_resent)
{
    redisContext *c = duro_test_redis(&h);
    duro_test_cmd_ok(c, "FUNCTION", "FLUSH", NULL);
    duro_aredis *r = duro_test_aredis_open(&loop, h.redis_url, "missing");
    answer a = {0};
    fcall(r, "duro_version", &a);
    cr_assert_eq(a.integer, duro_lua_version(), "%s", a.err);
    duro_test_aredis_close(&loop, r);
    redisFree(c);
}

/* reloading: the FUNCTIONS MISSING line was logged (a reload started). */
static bool reloading;

static void sink(duro_log_level level, const char *msg, void *arg)
{
    (void)level;
    (void)arg;
    if (strstr(msg, "FUNCTIONS MISSING")) reloading = true;
}

Test(aredis_reload, a_connection_closed_during_the_reload_answers_once)
{
    redisContext *c = duro_test_redis(&h);
    put_library(c, -1);
    duro_aredis *r = duro_test_aredis_open(&loop, h.redis_url, "closed");
    duro_log_set_sink(sink, NULL);
    answer a = {0};
    const char *argv[] = {"FCALL", "duro_version", "0"};
    duro_test_aredis_send(r, on_answer, &a, 3, argv, NULL);
    /* the LOAD leaves in the iteration that logs the line; its reply
     * cannot come before the next one */
    int64_t end = duro_test_mono_ms() + 10000;
    while (!reloading && a.calls == 0 && duro_test_mono_ms() < end)
        uv_run(&loop, UV_RUN_ONCE);
    duro_log_set_sink(NULL, NULL);
    cr_assert(reloading && a.calls == 0, "no reload under way (%d calls)",
              a.calls);
    duro_test_aredis_close(&loop, r);
    cr_assert_eq(a.calls, 1, "answered %d times", a.calls);
    cr_assert(a.null, "not NULL: %lld '%s'", a.integer, a.err);
    redisFree(c);
}
