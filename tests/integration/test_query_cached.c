/* test_query_cached.c: a worker answers a query from its idle cached run
 * only while that run holds the whole history Redis has. A run another
 * worker advanced meanwhile (workers joining and leaving in a rolling
 * deploy, sticky execution off or timed out) is replayed instead: answered
 * from the cache, the query showed the state before the other worker's
 * events (the accumulator's `total` of 5 after an update made it 12).
 *
 * The other worker's events are written here: an update accepted and
 * completed, three history entries of the shape the worker commits, at
 * the end of the run's history list, with no workflow task queued. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(query_cached, .init = setup, .fini = duro_test_fini, .timeout = 60);

enum { RUN_MS = 10000 };

/* cli_out runs `duro workflow ...` (NULL-ended, up to 8 words), asserts it
 * exits 0 and returns its stdout without the trailing newline (caller
 * frees). */
static char *cli_out(const char *a, const char *b, const char *c, const char *d,
                     const char *e, const char *f, const char *g, const char *i)
{
    duro_test_output o;
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", a, b, c, d, e, f, g, i,
                  NULL);
    cr_assert_eq(o.exit_code, 0, "duro workflow %s %s %s: %s", a, b, c, o.err);
    char *out = strdup(o.out);
    cr_assert(out);
    duro_test_output_free(&o);
    size_t n = strlen(out);
    while (n && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        out[--n] = '\0';
    return out;
}

static char *total(const char *id)
{
    return cli_out("query", "-w", id, "--name", "total", NULL, NULL, NULL);
}

/* history_key: the one history list of workflow id (one run). */
static char *history_key(redisContext *r, const char *id)
{
    redisReply *k = redisCommand(r, "KEYS duro:{p*}:h:%s:*", id);
    cr_assert(k && k->type == REDIS_REPLY_ARRAY && k->elements == 1,
              "history keys of %s", id);
    char *key = strdup(k->element[0]->str);
    freeReplyObject(k);
    return key;
}

/* append_update: the three entries a worker's commit of update `uid`
 * (add n, the new total `result`) appends, as another worker would. */
static void append_update(redisContext *r, const char *key, const char *uid,
                          int n, int result)
{
    long long ts = 0;
    redisReply *last = redisCommand(r, "LINDEX %s -1", key);
    cr_assert(last && last->type == REDIS_REPLY_STRING);
    const char *nl = strchr(last->str, '\n');
    cr_assert(nl);
    ts = strtoll(nl + 1, NULL, 10) + 1;
    freeReplyObject(last);
    char ua[256], wt[128], uc[256];
    snprintf(ua, sizeof(ua),
             "UA\n%lld\n{\"updateId\":\"%s\",\"name\":\"add\",\"input\":"
             "{\"n\":%d}}",
             ts, uid, n);
    snprintf(wt, sizeof(wt), "WT\n%lld\n{\"now\":%lld}", ts, ts);
    snprintf(uc, sizeof(uc),
             "UC\n%lld\n{\"updateId\":\"%s\",\"name\":\"add\",\"result\":%d}",
             ts, uid, result);
    redisReply *p = redisCommand(r, "RPUSH %s %s %s %s", key, ua, wt, uc);
    cr_assert(p && p->type == REDIS_REPLY_INTEGER, "RPUSH");
    freeReplyObject(p);
}

Test(query_cached, a_run_advanced_elsewhere_is_replayed_not_answered_stale)
{
    pid_t w = duro_test_spawn(&h, "samples-worker", NULL);
    cr_assert(
        duro_test_wait_until(duro_test_log_contains(&h, w, "REDIS UP"), 5000));
    free(cli_out("start", "-w", "acc-1", "--type", "accumulator", "-t",
                 "samples", NULL));
    char *s = cli_out("update", "-w", "acc-1", "--name", "add", "-i",
                      "{\"n\": 5}", NULL);
    cr_assert_str_eq(s, "5");
    free(s);
    /* the worker holds the run idle in its cache, and answers from it */
    s = total("acc-1");
    cr_assert_str_eq(s, "5");
    free(s);

    redisContext *r = duro_test_redis(&h);
    char *key = history_key(r, "acc-1");
    append_update(r, key, "from-another-worker", 7, 12);
    free(key);
    redisFree(r);

    /* the same worker, the same cached run: the history has three events
     * more than it applied */
    s = total("acc-1");
    cr_assert_str_eq(s, "12", "a query answered from a stale cached run: %s",
                     s);
    free(s);
    cr_assert(duro_test_alive(&h, w));
}
