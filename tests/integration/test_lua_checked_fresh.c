/* test_lua_checked_fresh.c: what one call found of its keys' types
 * (CHECKED: a key found a zset is not probed again) holds for that call
 * alone. The schedule Functions check their keys before their first
 * write without txn's wrapper, which is where CHECKED is emptied; a key
 * made another type by hand between two calls must still refuse the
 * second call before it writes, not fail it halfway (the schedule's hash
 * written, then the timer's ZADD refused by Redis). DURO_TEST_LUA loads
 * another duro.lua (harness_lua.h). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness_lua.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(lua_checked_fresh, .init = setup, .fini = duro_test_fini,
          .timeout = 60);

/* the schedule keys: sched (hash), acts and req (lists), timers (zset),
 * scheds (set), in one slot */
static const char *const KEYS[] = {"duro:{s}:sched:x", "duro:{s}:acts:x",
                                   "duro:{s}:req:x", "duro:{s}:timers",
                                   "duro:{s}:scheds"};

/* upsert: FCALL duro_sched_upsert of schedule x in mode, its spec field
 * the text spec, due 5000 (the reply; the caller frees it) */
static redisReply *upsert(redisContext *r, const char *mode, const char *spec)
{
    const char *argv[] = {"FCALL", "duro_sched_upsert",
                          "5",     KEYS[0],
                          KEYS[1], KEYS[2],
                          KEYS[3], KEYS[4],
                          "x",     mode,
                          "5000",  "spec",
                          spec};
    redisReply *rep =
        redisCommandArgv(r, sizeof(argv) / sizeof(argv[0]), argv, NULL);
    cr_assert(rep, "redis: %s", r->errstr);
    return rep;
}

/* Each key of a schedule Function made another type by hand after a call
 * that found it of its own: the next call is refused DURO_WRONGTYPE
 * naming it, and the schedule's hash keeps what the first call wrote. */
Test(lua_checked_fresh, a_schedule_call_probes_its_keys_again)
{
    redisContext *r = duro_test_redis(&h);
    duro_test_lua_load(r, false);
    /* timers, req, acts, scheds: made a string after a call found them */
    static const size_t made[] = {3, 2, 1, 4};
    for (size_t i = 0; i < sizeof(made) / sizeof(made[0]); i++) {
        const char *key = KEYS[made[i]];
        for (size_t j = 0; j < 5; j++)
            duro_test_cmd_ok(r, "DEL", KEYS[j], NULL);
        redisReply *rep = upsert(r, "create", "1");
        cr_assert(rep->type == REDIS_REPLY_STRING, "create: %s",
                  rep->type == REDIS_REPLY_ERROR ? rep->str : "?");
        freeReplyObject(rep);
        duro_test_cmd_ok(r, "SET", key, "x", NULL);
        rep = upsert(r, "update", "2");
        cr_assert(rep->type == REDIS_REPLY_ERROR &&
                      strncmp(rep->str, "DURO_WRONGTYPE ", 15) == 0 &&
                      strstr(rep->str, key),
                  "%s a string: %s", key,
                  rep->type == REDIS_REPLY_ERROR ? rep->str : "accepted");
        freeReplyObject(rep);
        char *spec = duro_test_hget(r, KEYS[0], "spec");
        cr_assert(spec && strcmp(spec, "1") == 0,
                  "%s a string: the refused update wrote spec %s", key,
                  spec ? spec : "(none)");
        free(spec);
    }
    redisFree(r);
    duro_test_finish(&h);
}
