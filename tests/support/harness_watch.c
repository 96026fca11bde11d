/* harness_watch.c: what a test server is sent and what it holds, for the
 * integration tests that check Duro's commands (see harness.h): a
 * MONITOR connection, commands sent by hand, its clock, and the code of
 * the library loaded there. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

redisContext *duro_test_monitor(duro_test_harness *h)
{
    redisContext *m = duro_test_redis(h);
    redisReply *r = redisCommand(m, "MONITOR");
    cr_assert(r && r->type == REDIS_REPLY_STATUS, "MONITOR: %s",
              r && r->str ? r->str : m->errstr);
    freeReplyObject(r);
    return m;
}

char *duro_test_monitor_seen(redisContext *m)
{
    struct timeval tv = {0, 300000};
    redisSetTimeout(m, tv);
    size_t len = 0, cap = 1 << 16;
    char *out = malloc(cap);
    cr_assert(out);
    out[0] = '\0';
    void *reply;
    while (redisGetReply(m, &reply) == REDIS_OK) {
        redisReply *r = reply;
        if (r->type == REDIS_REPLY_STATUS) {
            while (len + r->len + 2 > cap)
                cr_assert(out = realloc(out, cap *= 2));
            memcpy(out + len, r->str, r->len);
            len += r->len;
            out[len++] = '\n';
            out[len] = '\0';
        }
        freeReplyObject(r);
    }
    redisFree(m);
    return out;
}

/* cmd_argv runs argv[0..n) on c, asserting that a reply came. */
static redisReply *cmd_argv(redisContext *c, int n, const char **argv)
{
    redisReply *rep = redisCommandArgv(c, n, argv, NULL);
    cr_assert(rep, "%s: %s", n ? argv[0] : "(none)", c->errstr);
    return rep;
}

/* collect_cmd reads the NULL-terminated strings of ap into argv. */
static int collect_cmd(va_list ap, const char **argv)
{
    int n = 0;
    const char *a;
    while ((a = va_arg(ap, const char *))) {
        cr_assert_lt(n, DURO_TEST_CMD_MAX, "over %d arguments",
                     DURO_TEST_CMD_MAX);
        argv[n++] = a;
    }
    return n;
}

redisReply *duro_test_cmd(redisContext *c, ...)
{
    const char *argv[DURO_TEST_CMD_MAX];
    va_list ap;
    va_start(ap, c);
    int n = collect_cmd(ap, argv);
    va_end(ap);
    return cmd_argv(c, n, argv);
}

void duro_test_cmd_ok(redisContext *c, ...)
{
    const char *argv[DURO_TEST_CMD_MAX];
    va_list ap;
    va_start(ap, c);
    int n = collect_cmd(ap, argv);
    va_end(ap);
    redisReply *rep = cmd_argv(c, n, argv);
    cr_assert_neq(rep->type, REDIS_REPLY_ERROR, "%s: %s", argv[0], rep->str);
    freeReplyObject(rep);
}

int64_t duro_test_redis_now_ms(redisContext *c)
{
    redisReply *t = redisCommand(c, "TIME");
    cr_assert(t && t->type == REDIS_REPLY_ARRAY && t->elements == 2, "TIME: %s",
              c->errstr);
    int64_t ms = strtoll(t->element[0]->str, NULL, 10) * 1000 +
                 strtoll(t->element[1]->str, NULL, 10) / 1000;
    freeReplyObject(t);
    return ms;
}

char *duro_test_library_code(redisContext *c)
{
    redisReply *r = redisCommand(c, "FUNCTION LIST WITHCODE");
    cr_assert(r && r->type == REDIS_REPLY_ARRAY, "FUNCTION LIST: %s",
              r && r->str ? r->str : c->errstr);
    cr_assert_eq(r->elements, 1, "%zu libraries loaded, not one", r->elements);
    const redisReply *lib = r->element[0];
    char *code = NULL;
    for (size_t i = 0; i + 1 < lib->elements; i += 2)
        if (lib->element[i]->type == REDIS_REPLY_STRING &&
            strcmp(lib->element[i]->str, "library_code") == 0)
            code = strdup(lib->element[i + 1]->str);
    freeReplyObject(r);
    cr_assert(code, "the library has no library_code");
    return code;
}
