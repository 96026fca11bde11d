/* test_lua_memory.c: what the Functions library keeps from one call to the
 * next. The Lua state of Redis Functions lives as long as the library, and
 * its memory is not counted by maxmemory (INFO: used_memory_vm_functions,
 * outside used_memory): whatever a Function keeps must be bounded in size,
 * not only in count, or a caller can grow Redis past its limit for good.
 *
 * The library keeps the numbers it parses (duro.lua, num), keyed by their
 * text. A number's text can be padded (tonumber takes leading and trailing
 * spaces and leading zeros), so a long text must be parsed, not kept. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/lua.h"
#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(lua_memory, .init = setup, .fini = duro_test_fini, .timeout = 60);

/* info_num: the value of `field` in INFO memory. */
static long long info_num(redisContext *r, const char *field)
{
    redisReply *rep = duro_test_cmd(r, "INFO", "memory", NULL);
    char key[64];
    snprintf(key, sizeof(key), "\r\n%s:", field);
    const char *p = rep->str ? strstr(rep->str, key) : NULL;
    cr_assert_not_null(p, "no %s in INFO memory", field);
    long long n = strtoll(p + strlen(key), NULL, 10);
    freeReplyObject(rep);
    return n;
}

/* load_library loads the library into r's server. */
static void load_library(redisContext *r)
{
    const char *load[] = {"FUNCTION", "LOAD", "REPLACE", duro_lua_source()};
    size_t load_lens[] = {8, 4, 7, duro_lua_source_len()};
    redisReply *rep = redisCommandArgv(r, 4, load, load_lens);
    cr_assert(rep && rep->type != REDIS_REPLY_ERROR, "FUNCTION LOAD: %s",
              rep ? rep->str : r->errstr);
    freeReplyObject(rep);
}

/* collect_garbage: enough small calls of the library for Lua to collect
 * what earlier calls left behind (a script of its own, which runs in
 * another Lua state, cannot make it) */
static void collect_garbage(redisContext *r)
{
    for (int i = 0; i < 200; i++)
        freeReplyObject(duro_test_cmd(r, "FCALL", "duro_version", "0", NULL));
}

Test(lua_memory, padded_numbers_are_not_kept_from_call_to_call)
{
    enum { CALLS = 64, PAD = 1024 * 1024 };
    redisContext *r = duro_test_redis(&h);
    load_library(r);
    redisReply *rep = NULL;
    long long before = info_num(r, "used_memory_vm_functions");
    /* a workflow task completion of no run, its command count "1" padded
     * with spaces, each call's text another (one more space): the count is
     * the first thing the Function parses, before it finds nothing to
     * complete */
    char *count = malloc(PAD + CALLS + 2);
    cr_assert_not_null(count);
    memset(count, ' ', PAD + CALLS);
    const char *keys[] = {"duro:{p0}:wf:x",     "duro:{p0}:h:x:r",
                          "duro:{p0}:buf:x",    "duro:{p0}:wft:q",
                          "duro:{p0}:timers",   "duro:{p0}:pa:x",
                          "duro:{p0}:idx:open", "duro:{p0}:idx:closed"};
    for (int i = 0; i < CALLS; i++) {
        size_t len = (size_t)PAD + (size_t)i;
        count[len] = '1';
        const char *argv[16] = {"FCALL", "duro_wft_complete", "8"};
        size_t lens[16] = {5, 17, 1};
        int n = 3;
        for (int j = 0; j < 8; j++, n++) {
            argv[n] = keys[j];
            lens[n] = strlen(keys[j]);
        }
        const char *args[] = {"run", "token", "0-1", "{}"};
        for (int j = 0; j < 4; j++, n++) {
            argv[n] = args[j];
            lens[n] = strlen(args[j]);
        }
        argv[n] = count;
        lens[n++] = len + 1;
        rep = redisCommandArgv(r, n, argv, lens);
        cr_assert(rep && rep->type == REDIS_REPLY_ERROR &&
                      strncmp(rep->str, "DURO_STALE", 10) == 0,
                  "call %d: %s", i, rep ? rep->str : r->errstr);
        freeReplyObject(rep);
        count[len] = ' ';
    }
    free(count);
    /* what the calls left behind once Lua collects its garbage */
    collect_garbage(r);
    long long after = info_num(r, "used_memory_vm_functions");
    cr_log_info("Functions' Lua memory %lld -> %lld bytes", before, after);
    cr_assert_lt(after - before, (long long)PAD * CALLS / 4,
                 "%lld MB kept after %d calls with a %d MB argument",
                 (after - before) >> 20, CALLS, PAD >> 20);
    redisFree(r);
    duro_test_finish(&h);
}

/* The library also keeps, by partition, the names of its visibility keys
 * and close channel (with a type's index key per workflow type), and the
 * text of a start's workflow task timeout: a long namespace, type or
 * timeout text is made per call, not kept. */
Test(lua_memory, long_names_and_timeout_texts_are_not_kept)
{
    enum { CALLS = 64, PAD = 64 * 1024, NS = 16 * 1024 };
    redisContext *r = duro_test_redis(&h);
    load_library(r);
    long long before = info_num(r, "used_memory_vm_functions");
    /* each call another namespace, type and timeout text: a type of PAD
     * bytes, a timeout "10000" after up to PAD spaces (one fewer each
     * call), a namespace of NS */
    char *type = malloc(PAD + 1), *timeout = malloc(PAD + 6);
    char *ns = malloc(NS + 1);
    cr_assert(type && timeout && ns);
    memset(type, 't', PAD);
    memset(timeout, ' ', PAD);
    memcpy(timeout + PAD, "10000", 6);
    memset(ns, 'n', NS);
    type[PAD] = ns[NS] = '\0';
    static const char *const names[] = {"wf:x",     "h:x:r",     "buf:x",
                                        "wft:q",    "timers",    "pa:x",
                                        "idx:open", "idx:closed"};
    for (int i = 0; i < CALLS; i++) {
        type[i] = ns[i] = 'a';
        char *keys[8];
        for (int j = 0; j < 8; j++) {
            size_t n = NS + 64;
            keys[j] = malloc(n);
            cr_assert_not_null(keys[j]);
            snprintf(keys[j], n, "duro:ns:%s:{p0}:%s", ns, names[j]);
        }
        const char *argv[19] = {"FCALL", "duro_start", "8"};
        for (int j = 0; j < 8; j++)
            argv[3 + j] = keys[j];
        const char *args[] = {"x",  "r",  type, "q",
                              "{}", "{}", "0",  timeout + i};
        for (int j = 0; j < 8; j++)
            argv[11 + j] = args[j];
        size_t lens[19];
        for (int j = 0; j < 19; j++)
            lens[j] = strlen(argv[j]);
        redisReply *rep = redisCommandArgv(r, 19, argv, lens);
        cr_assert(rep && rep->type == REDIS_REPLY_STRING, "start %d: %s", i,
                  rep ? rep->str : r->errstr);
        freeReplyObject(rep);
        for (int j = 0; j < 8; j++)
            free(keys[j]);
        type[i] = ns[i] = i % 2 ? 'b' : 'c';
    }
    free(type);
    free(timeout);
    free(ns);
    collect_garbage(r);
    long long after = info_num(r, "used_memory_vm_functions");
    cr_log_info("Functions' Lua memory %lld -> %lld bytes", before, after);
    cr_assert_lt(after - before, (long long)(2 * PAD + 4 * NS) * CALLS / 8,
                 "%lld KB kept after %d starts with long names",
                 (after - before) >> 10, CALLS);
    redisFree(r);
    duro_test_finish(&h);
}
