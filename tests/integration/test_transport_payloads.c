/* test_transport_payloads.c: what the async transport sends and reads back
 * at the edges, against a real redis-server. Commands are formatted in
 * place into the output buffer (common/async/transport_resp.c) and the
 * reader keeps its buffer up to 256 KB (transport.c, READER_KEEP): empty
 * arguments, binary bytes (NUL, CRLF, '$', '*'), a 4 MB value, 10,000
 * arguments in one command, and large replies in a row followed by small
 * ones must all reach Redis and come back byte for byte as a plain
 * hiredis connection reads them; and a connection killed mid-command
 * leaves nothing of that command in front of the next ones. */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
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

TestSuite(transport_payloads, .init = setup, .fini = duro_test_fini,
          .timeout = 60);

/* got: one command's reply, kept (the transport frees its own). */
typedef struct {
    bool answered;
    redisReply *reply; /* a deep copy, or NULL */
} got;

/* copy_reply: a deep copy of the string/array/integer/error reply r. */
static redisReply *copy_reply(const redisReply *r)
{
    redisReply *c = calloc(1, sizeof(*c));
    cr_assert_not_null(c);
    c->type = r->type;
    c->integer = r->integer;
    if (r->str) {
        c->str = malloc(r->len + 1);
        cr_assert_not_null(c->str);
        memcpy(c->str, r->str, r->len);
        c->str[r->len] = '\0';
        c->len = r->len;
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements > 0) {
        c->element = calloc(r->elements, sizeof(redisReply *));
        cr_assert_not_null(c->element);
        c->elements = r->elements;
        for (size_t i = 0; i < r->elements; i++)
            c->element[i] = copy_reply(r->element[i]);
    }
    return c;
}

static void on_reply(duro_aredis *r, redisReply *reply, void *arg)
{
    (void)r;
    got *g = arg;
    g->answered = true;
    g->reply = reply ? copy_reply(reply) : NULL;
}

/* wait_all runs the loop until every one of the n replies came (20 s). */
static void wait_all(got *g, int n)
{
    int64_t end = duro_test_mono_ms() + 20000;
    for (int i = 0; i < n; i++) {
        while (!g[i].answered && duro_test_mono_ms() < end)
            uv_run(&loop, UV_RUN_ONCE);
        cr_assert(g[i].answered, "reply %d of %d never came", i, n);
        cr_assert_not_null(g[i].reply, "reply %d: connection lost", i);
        cr_assert_neq(g[i].reply->type, REDIS_REPLY_ERROR, "reply %d: %s", i,
                      g[i].reply->str);
    }
}

static void got_free(got *g, int n)
{
    for (int i = 0; i < n; i++)
        if (g[i].reply) freeReplyObject(g[i].reply);
}

/* stored: the bytes of string key `key` as a plain hiredis connection
 * reads them (the caller frees the reply). */
static redisReply *stored(redisContext *c, const char *key, size_t klen)
{
    redisReply *r = redisCommand(c, "GET %b", key, klen);
    cr_assert(r && r->type == REDIS_REPLY_STRING, "GET %.*s", (int)klen, key);
    return r;
}

/* fill: a value of n bytes that differs by position (and holds every
 * byte value, NUL and CR LF among them). */
static char *fill(size_t n, unsigned seed)
{
    char *v = malloc(n ? n : 1);
    cr_assert_not_null(v);
    for (size_t i = 0; i < n; i++)
        v[i] = (char)((i * 131 + seed) & 0xff);
    return v;
}

Test(transport_payloads, empty_and_binary_keys_and_values_round_trip)
{
    duro_aredis *r = duro_test_aredis_open(&loop, h.redis_url, "payloads");
    redisContext *sync = duro_test_redis(&h);
    const char bin[] = {'a', '\0', '\r', '\n', '$', '3', '\r', '\n', '*'};
    const char binkey[] = {'k', '\0', '\r', '\n', 'k'};
    struct {
        const char *key;
        size_t klen;
        const char *val;
        size_t vlen;
    } cases[] = {{"p:empty", 7, "", 0},
                 {"p:bin", 5, bin, sizeof(bin)},
                 {binkey, sizeof(binkey), bin, sizeof(bin)},
                 {"p:crlf", 6, "\r\n", 2},
                 {"p:resp", 6, "*1\r\n$4\r\nPING\r\n", 14}};
    enum { N = sizeof(cases) / sizeof(cases[0]) };
    got set[N] = {0}, get[N] = {0};
    for (int i = 0; i < N; i++) {
        duro_test_aredis_send(
            r, on_reply, &set[i], 3,
            (const char *[]){"SET", cases[i].key, cases[i].val},
            (const size_t[]){3, cases[i].klen, cases[i].vlen});
        duro_test_aredis_send(r, on_reply, &get[i], 2,
                              (const char *[]){"GET", cases[i].key},
                              (const size_t[]){3, cases[i].klen});
    }
    wait_all(set, N);
    wait_all(get, N);
    for (int i = 0; i < N; i++) {
        redisReply *s = stored(sync, cases[i].key, cases[i].klen);
        cr_assert_eq(s->len, cases[i].vlen, "case %d stored %zu bytes", i,
                     s->len);
        cr_assert_eq(memcmp(s->str, cases[i].val, s->len), 0, "case %d", i);
        cr_assert_eq(get[i].reply->len, cases[i].vlen, "case %d read back", i);
        cr_assert_eq(memcmp(get[i].reply->str, cases[i].val, s->len), 0,
                     "case %d read back", i);
        freeReplyObject(s);
    }
    got_free(set, N);
    got_free(get, N);
    redisFree(sync);
    duro_test_aredis_close(&loop, r);
}

Test(transport_payloads, ten_thousand_arguments_of_every_length_round_trip)
{
    enum { NARGS = 10000 };
    duro_aredis *r = duro_test_aredis_open(&loop, h.redis_url, "payloads");
    redisContext *sync = duro_test_redis(&h);
    const char **argv = calloc(NARGS + 2, sizeof(*argv));
    size_t *lens = calloc(NARGS + 2, sizeof(*lens));
    char **vals = calloc(NARGS, sizeof(*vals));
    cr_assert(argv && lens && vals);
    argv[0] = "RPUSH", lens[0] = 5;
    argv[1] = "p:list", lens[1] = 6;
    for (int i = 0; i < NARGS; i++) {
        /* 0 to 120 bytes: lengths across the digit boundaries, some empty */
        size_t n = (size_t)(i % 121);
        vals[i] = fill(n, (unsigned)i);
        argv[i + 2] = vals[i];
        lens[i + 2] = n;
    }
    got push = {0}, range = {0};
    duro_test_aredis_send(r, on_reply, &push, NARGS + 2, argv, lens);
    duro_test_aredis_send(r, on_reply, &range, 4,
                          (const char *[]){"LRANGE", "p:list", "0", "-1"},
                          NULL);
    wait_all(&push, 1);
    wait_all(&range, 1);
    cr_assert_eq(push.reply->integer, NARGS);
    redisReply *s = redisCommand(sync, "LRANGE p:list 0 -1");
    cr_assert(s && s->type == REDIS_REPLY_ARRAY);
    cr_assert_eq(s->elements, (size_t)NARGS);
    cr_assert_eq(range.reply->elements, (size_t)NARGS);
    for (int i = 0; i < NARGS; i++) {
        cr_assert_eq(s->element[i]->len, lens[i + 2], "element %d stored", i);
        cr_assert_eq(memcmp(s->element[i]->str, vals[i], lens[i + 2]), 0,
                     "element %d stored", i);
        cr_assert_eq(range.reply->element[i]->len, lens[i + 2],
                     "element %d read", i);
        cr_assert_eq(memcmp(range.reply->element[i]->str, vals[i], lens[i + 2]),
                     0, "element %d read", i);
    }
    freeReplyObject(s);
    for (int i = 0; i < NARGS; i++)
        free(vals[i]);
    free(vals);
    free(argv);
    free(lens);
    got_free(&push, 1);
    got_free(&range, 1);
    redisFree(sync);
    duro_test_aredis_close(&loop, r);
}

/* Large replies one after the other grow the reader's buffer past what it
 * keeps (256 KB) and shrink it again; replies of every size in between and
 * small ones after them must read whole, in order. A 4 MB value goes out
 * through the formatter too. */
Test(transport_payloads, large_replies_in_a_row_then_small_ones_read_whole)
{
    duro_aredis *r = duro_test_aredis_open(&loop, h.redis_url, "payloads");
    redisContext *sync = duro_test_redis(&h);
    const size_t sizes[] = {4u << 20,
                            300u << 10,
                            256u << 10,
                            (256u << 10) + 1,
                            (256u << 10) - 1,
                            1u << 20,
                            16384,
                            16383,
                            0,
                            1};
    enum { NS = sizeof(sizes) / sizeof(sizes[0]) };
    char *vals[NS];
    char key[NS][16];
    got set[NS] = {0};
    for (int i = 0; i < NS; i++) {
        vals[i] = fill(sizes[i], (unsigned)(i + 7));
        snprintf(key[i], sizeof(key[i]), "p:big:%d", i);
        duro_test_aredis_send(r, on_reply, &set[i], 3,
                              (const char *[]){"SET", key[i], vals[i]},
                              (const size_t[]){3, strlen(key[i]), sizes[i]});
    }
    wait_all(set, NS);
    for (int i = 0; i < NS; i++) {
        redisReply *s = stored(sync, key[i], strlen(key[i]));
        cr_assert_eq(s->len, sizes[i], "value %d stored %zu bytes", i, s->len);
        cr_assert_eq(memcmp(s->str, vals[i], sizes[i]), 0, "value %d", i);
        freeReplyObject(s);
    }
    /* three rounds, each all sizes pipelined, then 200 small ones: the
     * buffer grows, is given back, grows again */
    for (int round = 0; round < 3; round++) {
        enum { SMALL = 200 };
        got big[NS] = {0}, small[SMALL] = {0};
        for (int i = 0; i < NS; i++)
            duro_test_aredis_send(r, on_reply, &big[i], 2,
                                  (const char *[]){"GET", key[i]}, NULL);
        for (int i = 0; i < SMALL; i++)
            duro_test_aredis_send(
                r, on_reply, &small[i], 2,
                (const char *[]){"GET", key[NS - 1 - (i % 2)]}, NULL);
        wait_all(big, NS);
        wait_all(small, SMALL);
        for (int i = 0; i < NS; i++) {
            cr_assert_eq(big[i].reply->len, sizes[i], "round %d value %d",
                         round, i);
            cr_assert_eq(memcmp(big[i].reply->str, vals[i], sizes[i]), 0,
                         "round %d value %d", round, i);
        }
        for (int i = 0; i < SMALL; i++) {
            int k = NS - 1 - (i % 2);
            cr_assert_eq(small[i].reply->len, sizes[k], "round %d small %d",
                         round, i);
            cr_assert_eq(memcmp(small[i].reply->str, vals[k], sizes[k]), 0,
                         "round %d small %d", round, i);
        }
        got_free(big, NS);
        got_free(small, SMALL);
    }
    got_free(set, NS);
    for (int i = 0; i < NS; i++)
        free(vals[i]);
    redisFree(sync);
    duro_test_aredis_close(&loop, r);
}

/* The connection killed (CLIENT KILL) while a 32 MB command is still being
 * written: every command in flight is answered NULL, none gets another's
 * reply, and after the reconnect the commands formatted into the new
 * connection's buffer reach Redis whole (nothing of the cut one before
 * them). */
Test(transport_payloads, a_connection_killed_mid_command_leaves_nothing_behind)
{
    duro_aredis *r = duro_test_aredis_open(&loop, h.redis_url, "payloads");
    redisContext *sync = duro_test_redis(&h);
    size_t big = 32u << 20;
    char *v = fill(big, 3);
    enum { AFTER = 20 };
    got set = {0}, after[AFTER] = {0};
    duro_test_aredis_send(r, on_reply, &set, 3,
                          (const char *[]){"SET", "p:cut", v},
                          (const size_t[]){3, 5, big});
    for (int i = 0; i < AFTER; i++)
        duro_test_aredis_send(r, on_reply, &after[i], 2,
                              (const char *[]){"ECHO", "x"}, NULL);
    uv_run(&loop, UV_RUN_NOWAIT); /* some of it written, not all */
    unsigned long before = duro_aredis_reconnects(r);
    freeReplyObject(
        duro_test_cmd(sync, "CLIENT", "KILL", "TYPE", "normal", NULL));
    int64_t end = duro_test_mono_ms() + 20000;
    while (!after[AFTER - 1].answered && duro_test_mono_ms() < end)
        uv_run(&loop, UV_RUN_ONCE);
    cr_assert(set.answered && after[AFTER - 1].answered, "never answered");
    for (int i = 0; i < AFTER; i++) {
        cr_assert(after[i].answered, "command %d never answered", i);
        /* its own reply, or none (lost with the connection) */
        cr_assert(!after[i].reply || (after[i].reply->len == 1 &&
                                      after[i].reply->str[0] == 'x'),
                  "command %d got another's reply", i);
    }
    /* all of the value or none of it */
    redisReply *s = duro_test_cmd(sync, "STRLEN", "p:cut", NULL);
    cr_assert(s->integer == 0 || s->integer == (long long)big, "%lld bytes",
              s->integer);
    int lost = 0;
    for (int i = 0; i < AFTER; i++)
        lost += !after[i].reply;
    cr_log_info("the SET %s, %d of %d commands after it lost",
                set.reply ? "answered" : "lost", lost, AFTER);
    freeReplyObject(s);
    end = duro_test_mono_ms() + 10000;
    while ((duro_aredis_reconnects(r) == before || !duro_aredis_connected(r)) &&
           duro_test_mono_ms() < end)
        uv_run(&loop, UV_RUN_ONCE);
    cr_assert(duro_aredis_connected(r), "never reconnected");
    const char bin[] = {'a', '\0', '\r', '\n', '*', '2'};
    got set2 = {0}, get2 = {0};
    duro_test_aredis_send(r, on_reply, &set2, 3,
                          (const char *[]){"SET", "p:after", bin},
                          (const size_t[]){3, 7, sizeof(bin)});
    duro_test_aredis_send(r, on_reply, &get2, 2,
                          (const char *[]){"GET", "p:after"}, NULL);
    wait_all(&set2, 1);
    wait_all(&get2, 1);
    cr_assert_eq(get2.reply->len, sizeof(bin));
    cr_assert_eq(memcmp(get2.reply->str, bin, sizeof(bin)), 0);
    got_free(&set, 1);
    got_free(after, AFTER);
    got_free(&set2, 1);
    got_free(&get2, 1);
    free(v);
    redisFree(sync);
    duro_test_aredis_close(&loop, r);
}
