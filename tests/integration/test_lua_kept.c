/* test_lua_kept.c: what the Functions library keeps from one call to the
 * next stays bounded, in count and in size: the Lua state of Redis
 * Functions lives as long as the library and its memory is not counted by
 * maxmemory (INFO: used_memory_vm_functions). Here the kept visibility
 * key names and stream keys at their bounds, the fields a call writes
 * back (a close's thousands, a start's large input) and what stays of
 * them. test_lua_memory.c: long texts are not kept. DURO_TEST_LUA loads
 * another duro.lua (harness_lua.h). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/fcall.h"
#include "harness_lua.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(lua_kept, .init = setup, .fini = duro_test_fini, .timeout = 120);

/* ---- The fields a call changed, written back at its end ---- */

/* A close answers every update still pending (fail_updates): a run with
 * thousands of them changes as many hash fields in one call, more than
 * one command's arguments can take from Lua at once (unpack's limit is
 * ~8000 values), and its close must still end whole. */
Test(lua_kept, close_with_thousands_of_pending_updates)
{
    enum { UPDATES = 4100 };
    redisContext *r = duro_test_redis(&h);
    duro_test_lua_load(r, false);
    duro_test_lua_run w;
    duro_test_lua_run_init(&w, "default", "upd", "t", "q");
    duro_test_lua_run_start(r, &w, "10000");
    char reply[256];
    snprintf(reply, sizeof(reply), "%s:qreply:c", w.slot);
    for (int i = 0; i < UPDATES; i++) {
        char uid[32];
        snprintf(uid, sizeof(uid), "u%d", i);
        duro_argv a;
        duro_fcall_update(&a, &w.k, w.run, uid, "{}", reply);
        cr_assert_eq(redisAppendCommandArgv(r, a.argc, a.argv, a.lens),
                     REDIS_OK);
        duro_argv_free(&a);
    }
    for (int i = 0; i < UPDATES; i++) {
        redisReply *rep = NULL;
        cr_assert_eq(redisGetReply(r, (void **)&rep), REDIS_OK);
        cr_assert(rep->type == REDIS_REPLY_ARRAY, "update %d: %s", i,
                  rep->type == REDIS_REPLY_ERROR ? rep->str : "?");
        freeReplyObject(rep);
    }
    duro_test_lua_run_terminate(r, &w);
    char *status = duro_test_hget(r, w.k.wf, "status");
    cr_assert_not_null(status);
    cr_assert_str_eq(status, "TERMINATED");
    free(status);
    /* every update answered, in the hash and in the caller's list */
    char field[128];
    snprintf(field, sizeof(field), "u:%s:u%d", w.run, UPDATES - 1);
    char *outcome = duro_test_hget(r, w.k.wf, field);
    cr_assert(outcome && outcome[0] == '{', "%s: %s", field,
              outcome ? outcome : "(none)");
    free(outcome);
    redisReply *rep = duro_test_cmd(r, "LLEN", reply, NULL);
    cr_assert_eq(rep->integer, UPDATES);
    freeReplyObject(rep);
    redisFree(r);
    duro_test_finish(&h);
}

/* The table flush gathers a call's HSET arguments in is kept from call to
 * call: what it held (a start's input, a close's result) must not stay
 * referenced once written, in Lua memory that maxmemory does not count. */
Test(lua_kept, written_payloads_are_not_kept)
{
    enum { PAYLOAD = 4 * 1024 * 1024 };
    redisContext *r = duro_test_redis(&h);
    duro_test_lua_load(r, false);
    /* a small start first, then the measure */
    duro_test_lua_run w0, w;
    duro_test_lua_run_init(&w0, "default", "small", "t", "q");
    duro_test_lua_run_start(r, &w0, "10000");
    long long before = duro_test_lua_memory(r);
    char *input = malloc(PAYLOAD + 3);
    cr_assert_not_null(input);
    input[0] = '"';
    memset(input + 1, 'x', PAYLOAD);
    input[PAYLOAD + 1] = '"';
    input[PAYLOAD + 2] = '\0';
    duro_test_lua_run_init(&w, "default", "big", "t", "q");
    const char *keys[] = {w.k.wf,     w.k.hist, w.k.buf,      w.k.wft,
                          w.k.timers, w.k.pa,   w.k.idx_open, w.k.idx_closed};
    const char *args[] = {w.id,  w.run, w.type, w.queue,
                          input, "{}",  "0",    "10000"};
    freeReplyObject(duro_test_fcall(r, "duro_start", 8, keys, 8, args));
    free(input);
    /* calls that write a few fields, then enough for Lua to collect */
    duro_test_lua_run_terminate(r, &w0);
    long long after = duro_test_lua_memory(r);
    cr_log_info("Functions' Lua memory %lld -> %lld bytes", before, after);
    cr_assert_lt(after - before, PAYLOAD / 2,
                 "%lld KB kept after a start with a %d KB input",
                 (after - before) >> 10, PAYLOAD >> 10);
    redisFree(r);
    duro_test_finish(&h);
}

/* The kept visibility key names at their worst: PART_MAX (256) partition
 * prefixes of the longest kept length, each with PART_NAMES (32) types
 * and as many statuses of the longest kept name (64 bytes), and more of
 * each beyond the bounds, which are not kept. What the library keeps of
 * them stays within the bound its comment gives (docs/internals.md). */
Test(lua_kept, kept_visibility_names_at_their_bound)
{
    enum { PREFIXES = 300, NAMES = 40, NAME = 64 };
    redisContext *r = duro_test_redis(&h);
    duro_test_lua_load(r, false);
    long long before = duro_test_lua_memory(r);
    long long calls = 0;
    for (int p = 0; p < PREFIXES; p++) {
        /* "duro:ns:<51 bytes>:{pN}": 64 bytes, the longest kept */
        char ns[64];
        snprintf(ns, sizeof(ns), "%04d%s", p,
                 "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn");
        ns[51 - 4] = '\0';
        for (int t = 0; t < NAMES; t++) {
            char id[32], type[NAME + 1];
            snprintf(id, sizeof(id), "k%d-%d", p, t);
            memset(type, 'a' + t % 26, NAME);
            type[NAME] = '\0';
            snprintf(type, 8, "%03d%03d", p % 1000, t);
            type[6] = 'x';
            duro_test_lua_run w;
            duro_test_lua_run_init(&w, ns, id, type, "q");
            duro_test_lua_run_append_start(r, &w, "null");
            /* a row of an earlier library, status `type` (backfilled) */
            char bid[40];
            snprintf(bid, sizeof(bid), "b%s", id);
            duro_test_lua_run b;
            duro_test_lua_run_init(&b, ns, bid, type, "q");
            redisAppendCommand(r,
                               "HSET %s run %s type t queue q status %s "
                               "start_ms 1 close_ms 2",
                               b.k.wf, b.run, type);
            redisAppendCommand(r, "ZADD %s 1 %s", b.k.idx_closed, b.id);
            redisAppendCommand(r, "FCALL duro_vis_backfill 1 %s 0 100",
                               b.k.idx_closed);
            calls++;
        }
        for (; calls > 0; calls--) {
            redisReply *rep = NULL;
            cr_assert_eq(redisGetReply(r, (void **)&rep), REDIS_OK);
            cr_assert(rep->type == REDIS_REPLY_STRING, "start: %s",
                      rep->type == REDIS_REPLY_ERROR ? rep->str : "?");
            freeReplyObject(rep);
            for (int j = 0; j < 3; j++) {
                cr_assert_eq(redisGetReply(r, (void **)&rep), REDIS_OK);
                cr_assert(rep->type != REDIS_REPLY_ERROR, "backfill: %s",
                          rep->str);
                freeReplyObject(rep);
            }
        }
    }
    long long after = duro_test_lua_memory(r);
    cr_log_info("Functions' Lua memory %lld -> %lld bytes (%lld KB kept)",
                before, after, (after - before) >> 10);
    /* ~2 MB at most (duro.lua, part_keys), with room for what Lua has
     * not collected yet; unbounded, the same calls keep ~9 MB */
    cr_assert_lt(after - before, 3LL << 20, "%lld KB kept",
                 (after - before) >> 10);
    redisFree(r);
    duro_test_finish(&h);
}

/* Starts on thousands of task queues of the longest kept key length (a
 * queue's stream key, 256 bytes): what the library keeps per stream key
 * (its base, its queue) stays bounded in count. */
Test(lua_kept, kept_stream_keys_at_their_bound)
{
    enum { QUEUES = 12000 };
    redisContext *r = duro_test_redis(&h);
    duro_test_lua_load(r, false);
    long long before = duro_test_lua_memory(r);
    for (int i = 0; i < QUEUES; i++) {
        char id[32], queue[256];
        snprintf(id, sizeof(id), "sq%d", i);
        memset(queue, 'q', sizeof(queue) - 1);
        queue[sizeof(queue) - 1] = '\0';
        duro_test_lua_run w;
        duro_test_lua_run_init(&w, "default", id, "t", "q");
        /* "duro:{pN}:wft:<queue>": 256 bytes */
        int room = 256 - (int)strlen(w.k.wft) + 1;
        cr_assert_gt(room, 8);
        snprintf(queue + room - 8, 9, "%08d", i);
        duro_test_lua_run_init(&w, "default", id, "t", queue);
        cr_assert_eq(strlen(w.k.wft), 256);
        duro_test_lua_run_append_start(r, &w, "null");
        if (i % 100 == 99 || i == QUEUES - 1) {
            for (int j = i % 100; j >= 0; j--) {
                redisReply *rep = NULL;
                cr_assert_eq(redisGetReply(r, (void **)&rep), REDIS_OK);
                cr_assert(rep->type == REDIS_REPLY_STRING, "start: %s",
                          rep->type == REDIS_REPLY_ERROR ? rep->str : "?");
                freeReplyObject(rep);
            }
        }
    }
    long long after = duro_test_lua_memory(r);
    cr_log_info("Functions' Lua memory %lld -> %lld bytes (%lld KB kept)",
                before, after, (after - before) >> 10);
    /* 4096 keys kept at most (~1.3 MB); unbounded, ~4 MB */
    cr_assert_lt(after - before, 5LL << 19, "%lld KB kept",
                 (after - before) >> 10);
    redisFree(r);
    duro_test_finish(&h);
}
