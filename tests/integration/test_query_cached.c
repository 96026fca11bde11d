/* test_query_cached.c: a worker answers a query from its idle cached run
 * only while that run holds the whole history Redis has. A run another
 * worker advanced meanwhile (workers joining and leaving in a rolling
 * deploy, sticky execution off or timed out) is replayed instead: answered
 * from the cache, the query showed the state before the other worker's
 * events (the accumulator's `total` of 5 after an update made it 12).
 * The client names the history length it read with the run (entry field
 * hlen): a cached run that applied that many answers with no LLEN; an
 * entry without one (an older client) or with a malformed one is checked
 * with LLEN, as before.
 *
 * The other worker's events are written here: an update accepted and
 * completed, three history entries of the shape the worker commits, at
 * the end of the run's history list, and the hash's hlen grown by three
 * in the same transaction (a Function writes both), with no workflow task
 * queued. */
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
    /* key is <slot>:h:<id>:<run>; the hash <slot>:wf:<id> */
    char wf[256];
    const char *h = strstr(key, "}:h:");
    const char *run = h ? strrchr(key, ':') : NULL;
    cr_assert(h && run);
    snprintf(wf, sizeof(wf), "%.*s}:wf:%.*s", (int)(h - key), key,
             (int)(run - (h + 4)), h + 4);
    duro_test_cmd_ok(r, "MULTI", NULL);
    freeReplyObject(redisCommand(r, "RPUSH %s %s %s %s", key, ua, wt, uc));
    freeReplyObject(redisCommand(r, "HINCRBY %s hlen 3", wf));
    redisReply *p = duro_test_cmd(r, "EXEC", NULL);
    cr_assert(p && p->type == REDIS_REPLY_ARRAY && p->elements == 2 &&
                  p->element[0]->type == REDIS_REPLY_INTEGER &&
                  p->element[1]->type == REDIS_REPLY_INTEGER &&
                  p->element[0]->integer == p->element[1]->integer,
              "RPUSH and HINCRBY hlen: the list as long as hlen");
    freeReplyObject(p);
}

/* calls: how many times Redis ran `cmd` (INFO commandstats; Functions'
 * commands count too) since the last CONFIG RESETSTAT. */
static long long calls(redisContext *r, const char *cmd)
{
    redisReply *rep = duro_test_cmd(r, "INFO", "commandstats", NULL);
    cr_assert(rep->type == REDIS_REPLY_STRING);
    char want[64];
    snprintf(want, sizeof(want), "cmdstat_%s:calls=", cmd);
    const char *at = strstr(rep->str, want);
    long long n = at ? strtoll(at + strlen(want), NULL, 10) : 0;
    freeReplyObject(rep);
    return n;
}

/* warm: a samples worker holding acc-1 idle in its cache, its total 5
 * (an update applied and answered by a query from the cache); the stats
 * reset after. Returns the worker's pid. */
static pid_t warm(redisContext *r)
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
    s = total("acc-1");
    cr_assert_str_eq(s, "5");
    free(s);
    duro_test_cmd_ok(r, "CONFIG", "RESETSTAT", NULL);
    return w;
}

/* ask_by_hand writes the query `total` for acc-1 into its query stream as
 * a client does (hlen NULL: none, as an older client writes it) and
 * returns the answer's text (caller frees). */
static char *ask_by_hand(redisContext *r, const char *hlen)
{
    char *key = history_key(r, "acc-1");
    char *h_at = strstr(key, "}:h:");
    cr_assert(h_at);
    const char *run = strrchr(key, ':') + 1;
    char stream[256], reply[256], deadline[32];
    snprintf(stream, sizeof(stream), "%.*s}:qry:samples", (int)(h_at - key),
             key);
    snprintf(reply, sizeof(reply), "%.*s}:qreply:by-hand", (int)(h_at - key),
             key);
    snprintf(deadline, sizeof(deadline), "%lld",
             (long long)duro_test_redis_now_ms(r) + RUN_MS);
    const char *argv[] = {"XADD", stream,  "*",    "id",       "acc-1",
                          "run",  run,     "name", "total",    "input",
                          "null", "reply", reply,  "deadline", deadline,
                          "hlen", hlen};
    int argc = (int)(sizeof(argv) / sizeof(argv[0])) - (hlen ? 0 : 2);
    redisReply *x = redisCommandArgv(r, argc, argv, NULL);
    cr_assert(x && x->type == REDIS_REPLY_STRING, "XADD %s", stream);
    freeReplyObject(x);
    redisReply *a = redisCommand(r, "BLPOP %s 10", reply);
    cr_assert(a && a->type == REDIS_REPLY_ARRAY && a->elements == 2,
              "no answer to the query with hlen %s", hlen ? hlen : "(none)");
    char *out = strdup(a->element[1]->str);
    cr_assert(out);
    freeReplyObject(a);
    free(key);
    return out;
}

/* hlen_of: the hash's hlen of acc-1 (what a client reads). */
static long long hlen_of(redisContext *r)
{
    redisReply *k = redisCommand(r, "KEYS duro:{p*}:wf:acc-1");
    cr_assert(k && k->type == REDIS_REPLY_ARRAY && k->elements == 1);
    redisReply *n = redisCommand(r, "HGET %s hlen", k->element[0]->str);
    cr_assert(n && n->type == REDIS_REPLY_STRING);
    long long len = strtoll(n->str, NULL, 10);
    freeReplyObject(n);
    freeReplyObject(k);
    return len;
}

Test(query_cached, a_run_advanced_elsewhere_is_replayed_not_answered_stale)
{
    redisContext *r = duro_test_redis(&h);
    /* the worker holds the run idle in its cache, and answers from it */
    pid_t w = warm(r);
    char *key = history_key(r, "acc-1");
    append_update(r, key, "from-another-worker", 7, 12);
    free(key);

    /* the same worker, the same cached run: the history has three events
     * more than it applied (the entry's hlen says so, and so does LLEN) */
    char *s = total("acc-1");
    cr_assert_str_eq(s, "12", "a query answered from a stale cached run: %s",
                     s);
    free(s);
    cr_assert(duro_test_alive(&h, w));
    redisFree(r);
}

/* A query on an idle cached current run costs the worker no command but
 * the answer's: no LLEN of the history (the entry's hlen equals what the
 * run applied) and no LRANGE (no replay). */
Test(query_cached, an_idle_current_run_answers_without_llen)
{
    redisContext *r = duro_test_redis(&h);
    pid_t w = warm(r);
    enum { QUERIES = 3 };
    for (int i = 0; i < QUERIES; i++) {
        char *s = total("acc-1");
        cr_assert_str_eq(s, "5");
        free(s);
    }
    cr_assert_eq(calls(r, "llen"), 0, "LLEN sent for a current cached run");
    cr_assert_eq(calls(r, "lrange"), 0, "replayed a current cached run");
    cr_assert_eq(calls(r, "rpush"), QUERIES, "one answer per query");
    cr_assert(duro_test_alive(&h, w));
    redisFree(r);
}

/* An entry without hlen (as an older client writes it) is checked with
 * LLEN: answered from the cache while the run is current, replayed once
 * another worker advanced it. */
Test(query_cached, an_entry_without_hlen_is_checked_with_llen)
{
    redisContext *r = duro_test_redis(&h);
    pid_t w = warm(r);
    char *s = ask_by_hand(r, NULL);
    cr_assert_str_eq(s, "{\"ok\":true,\"result\":5}");
    free(s);
    cr_assert_eq(calls(r, "llen"), 1, "LLEN checks an entry without hlen");
    cr_assert_eq(calls(r, "lrange"), 0, "replayed a current cached run");

    char *key = history_key(r, "acc-1");
    append_update(r, key, "from-another-worker", 7, 12);
    free(key);
    s = ask_by_hand(r, NULL);
    cr_assert_str_eq(s, "{\"ok\":true,\"result\":12}",
                     "an entry without hlen answered stale: %s", s);
    free(s);
    cr_assert(duro_test_alive(&h, w));
    redisFree(r);
}

/* A malformed hlen is as none: checked with LLEN. The first four read as
 * the cached run's applied count to a lax parser (atoll, strtoll without
 * its end checked, one that wraps past 2^64), which would answer the stale
 * 5 after another worker made the total 12. */
Test(query_cached, a_malformed_hlen_is_checked_with_llen)
{
    redisContext *r = duro_test_redis(&h);
    pid_t w = warm(r);
    long long n = hlen_of(r); /* what the cached run applied */
    char *key = history_key(r, "acc-1");
    append_update(r, key, "from-another-worker", 7, 12);
    free(key);
    char bad[6][64];
    snprintf(bad[0], sizeof(bad[0]), "%lldx", n);
    snprintf(bad[1], sizeof(bad[1]), "%lld.0", n);
    snprintf(bad[2], sizeof(bad[2]), " %lld", n);
    cr_assert(n > 0 && n < 1000);
    /* 2^64 + n: 2^64 is 18446744073709551616 */
    snprintf(bad[3], sizeof(bad[3]), "1844674407370955%04lld", 1616 + n);
    snprintf(bad[4], sizeof(bad[4]), "-%lld", n);
    snprintf(bad[5], sizeof(bad[5]), "%s", "");
    for (int i = 0; i < 6; i++) {
        char *s = ask_by_hand(r, bad[i]);
        cr_assert_str_eq(s, "{\"ok\":true,\"result\":12}",
                         "hlen \"%s\" answered: %s", bad[i], s);
        free(s);
    }
    cr_assert_eq(calls(r, "llen"), 6, "LLEN checks each malformed hlen");
    cr_assert(duro_test_alive(&h, w));
    redisFree(r);
}
