/* test_clock.c: the test environment's virtual clock: an offset added to
 * the real clocks, in this process (duro_clock_set) and in the Functions
 * (the library's clock seam reads duro:test:clock), and the one script
 * that finds whether anything can still happen before the next timer and,
 * when nothing can, moves the clock to it. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "duro/clock.h"
#include "duro/errno.h"
#include "duro/log.h"
#include "duro/lua.h"
#include "duro/redis.h"
#include "testing_int.h"

/* ---- This process's clock ---- */

static _Atomic int64_t offset_ms; /* virtual minus real, ms */

static int64_t real_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t virt_now_ms(void)
{
    return real_ns(CLOCK_REALTIME) / 1000000 + atomic_load(&offset_ms);
}

/* testing__clock_install replaces the wall clock only: the monotonic
 * clocks (timeouts, intervals, Redis stall detection) stay real, so that
 * a jump never makes a connection look stalled or a query time out; time
 * jumps only when nothing runs, and nothing durable waits on them. */
void testing__clock_install(void)
{
    atomic_store(&offset_ms, 0);
    duro_clock_fns fns = {.now_ms = virt_now_ms};
    duro_clock_set(&fns);
}

void testing__clock_uninstall(void)
{
    duro_clock_set(NULL);
    atomic_store(&offset_ms, 0);
}

int64_t testing__real_mono_ms(void)
{
    return real_ns(CLOCK_MONOTONIC) / 1000000;
}

/* ---- The Functions' clock ---- */

/* The seam in common/lua/duro.lua's now_ms, and what replaces it. */
#define SEAM "--[[+test clock]]"
#define SEAM_TEST                                                              \
    "+ (tonumber(redis.call('GET', '" TESTING_CLOCK_KEY "')) or 0)"

int testing__functions_load(redisContext *c)
{
    const char *src = duro_lua_source();
    const char *at = strstr(src, SEAM);
    if (!at || strstr(at + 1, SEAM)) {
        duro_error("TESTENV the library's clock seam %s is not there once",
                   SEAM);
        return DURO_EPROTO;
    }
    size_t head = (size_t)(at - src), tail = strlen(at + strlen(SEAM));
    size_t len = head + strlen(SEAM_TEST) + tail;
    char *text = malloc(len + 1);
    if (!text) return DURO_ENOMEM;
    memcpy(text, src, head);
    snprintf(text + head, len + 1 - head, "%s%s", SEAM_TEST, at + strlen(SEAM));
    redisReply *r = redisCommand(c, "FUNCTION LOAD REPLACE %b", text, len);
    free(text);
    int rc = 0;
    if (!r) {
        rc = DURO_ECONN;
    } else if (r->type == REDIS_REPLY_ERROR) {
        duro_error("TESTENV FUNCTION LOAD: %s", r->str);
        rc = duro_redis_error_code(r->str);
    }
    freeReplyObject(r);
    return rc;
}

int testing__clock_start(redisContext *c, int64_t start_ms)
{
    int64_t off = start_ms - real_ns(CLOCK_REALTIME) / 1000000;
    redisReply *r =
        redisCommand(c, "SET %s %lld", TESTING_CLOCK_KEY, (long long)off);
    int rc = !r ? DURO_ECONN : r->type == REDIS_REPLY_ERROR ? DURO_EREDIS : 0;
    freeReplyObject(r);
    if (rc == 0) atomic_store(&offset_ms, off);
    return rc;
}

/* ---- Idle and skip ---- */

/* IDLE_SCRIPT: EVAL 1 duro:test:clock target. Busy (0) while a task
 * stream holds an entry not yet read or read and not acknowledged (a task
 * queued or running), a timers set holds an `l` member (an activity
 * leased by the worker whose commit scheduled it: running, in no
 * stream), a timer is due (the scheduler is about to fire
 * it) or a schedule's fire is in flight (its hash holds the fire's claim:
 * the scheduler starts its workflows between the claim and the fire's
 * record, with the timer moved a lease ahead). Idle (1) otherwise: then, when
 * target > now, the clock moves to the earliest timer or to target, whichever
 * is first; target -1: to the earliest timer, if any. A timer past 2^53 ms
 * (a sleep "forever": the numbers stop being exact, and the offset would
 * not fit the int64 the caller reads) is never a next one. Returns {state, now,
 * next, offset, what} (next -1: no timer; offset: virtual minus real;
 * what, when busy: the key that keeps it busy; when idle: the duro:wake
 * message of the partition whose timer is now due,
 * which the caller publishes once this process's clock has moved too, so
 * that the scheduler it wakes reads the new time). Test only: it reads
 * keys it is not given, which a single private node allows. */
static const char IDLE_SCRIPT[] =
    "local off = tonumber(redis.call('GET', KEYS[1])) or 0\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)"
    " + off\n"
    "local target = tonumber(ARGV[1])\n"
    "local nxt, nxtkey = nil, nil\n"
    "local cursor = '0'\n"
    "repeat\n"
    "  local r = redis.call('SCAN', cursor, 'MATCH', 'duro:*', 'COUNT', 1000)\n"
    "  cursor = r[1]\n"
    "  for _, k in ipairs(r[2]) do\n"
    "    if string.find(k, '}:wft:', 1, true) or"
    "       string.find(k, '}:act:', 1, true) then\n"
    "      local groups = redis.call('XINFO', 'GROUPS', k)\n"
    "      if #groups == 0 and redis.call('XLEN', k) > 0 then\n"
    "        return {0, now, -1, off, k}\n"
    "      end\n"
    "      for _, g in ipairs(groups) do\n"
    "        local f = {}\n"
    "        for i = 1, #g, 2 do f[g[i]] = g[i + 1] end\n"
    "        if tonumber(f['pending']) > 0 then return {0, now, -1, off, k} "
    "end\n"
    "        local more = redis.call('XRANGE', k, '(' .. "
    "f['last-delivered-id'],"
    "                                '+', 'COUNT', 1)\n"
    "        if #more > 0 then return {0, now, -1, off, k} end\n"
    "      end\n"
    "    elseif string.find(k, '}:sched:', 1, true) then\n"
    "      if redis.call('HEXISTS', k, 'claim') == 1 then\n"
    "        return {0, now, -1, off, k}\n"
    "      end\n"
    "    elseif string.sub(k, -7) == ':timers' then\n"
    "      local lc = '0'\n"
    "      repeat\n"
    "        local l = redis.call('ZSCAN', k, lc, 'MATCH', 'l|*', 'COUNT', "
    "1000)\n"
    "        if #l[2] > 0 then return {0, now, -1, off, k} end\n"
    "        lc = l[1]\n"
    "      until lc == '0'\n"
    "      local first = redis.call('ZRANGE', k, 0, 0, 'WITHSCORES')\n"
    "      if #first > 0 then\n"
    "        local due = tonumber(first[2])\n"
    "        if due <= now then return {0, now, due, off, k} end\n"
    "        if due <= 9007199254740992 and (not nxt or due < nxt) then\n"
    "          nxt, nxtkey = due, k\n"
    "        end\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "until cursor == '0'\n"
    "local to = target\n"
    "if target < 0 then to = nxt or now\n"
    "elseif nxt and nxt < target then to = nxt end\n"
    "if to > now then\n"
    "  off = off + to - now\n"
    "  redis.call('SET', KEYS[1], string.format('%.0f', off))\n"
    "  now = to\n"
    "end\n"
    "local wake = ''\n"
    "if nxt and now == nxt then\n"
    "  local p = string.match(nxtkey, '{p(%d+)}') or '0'\n"
    "  local ns = string.match(nxtkey, '^duro:ns:([^:]+):{')\n"
    "  wake = p .. (ns and (':' .. ns) or '')\n"
    "end\n"
    "return {1, now, nxt or -1, off, wake}\n";

int testing__idle_step(redisContext *c, int64_t target, int *idle, int64_t *now,
                       bool *moved, char *why, size_t whysize)
{
    char t[32];
    snprintf(t, sizeof(t), "%lld", (long long)target);
    redisReply *r =
        redisCommand(c, "EVAL %s 1 %s %s", IDLE_SCRIPT, TESTING_CLOCK_KEY, t);
    int rc = 0;
    if (!r) {
        rc = DURO_ECONN;
    } else if (r->type == REDIS_REPLY_ERROR) {
        duro_error("TESTENV idle check: %s", r->str);
        rc = duro_redis_error_code(r->str);
    } else if (r->type != REDIS_REPLY_ARRAY || r->elements != 5 ||
               r->element[0]->type != REDIS_REPLY_INTEGER ||
               r->element[1]->type != REDIS_REPLY_INTEGER ||
               r->element[3]->type != REDIS_REPLY_INTEGER) {
        rc = DURO_EPROTO;
    } else {
        *idle = (int)r->element[0]->integer;
        *now = r->element[1]->integer;
        /* this process follows the Functions' clock */
        int64_t was = atomic_exchange(&offset_ms, r->element[3]->integer);
        *moved = was != r->element[3]->integer;
        const redisReply *w = r->element[4];
        if (w->type == REDIS_REPLY_STRING && !*idle && why)
            snprintf(why, whysize, "%s", w->str);
        if (w->type == REDIS_REPLY_STRING && w->len > 0 && *idle) {
            redisReply *p =
                redisCommand(c, "PUBLISH duro:wake %b", w->str, (size_t)w->len);
            if (!p) rc = DURO_ECONN;
            freeReplyObject(p);
        }
    }
    freeReplyObject(r);
    return rc;
}
