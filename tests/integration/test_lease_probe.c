/* test_lease_probe.c: a commit probes the type of an activity stream only
 * when it writes it (library 44). An activity the commit leases writes no
 * stream entry (its `l` timer instead), so a leased commit succeeds with
 * its stream made a string by hand and leaves it so; one that goes to the
 * stream (no lease asked, no deadline, the request full, a fairness key)
 * is refused with DURO_WRONGTYPE before its first write, as are the keys a
 * leased commit does write (timers, the pending activities). The
 * Functions are called by hand, the test claiming the workflow task as
 * test_lease_paths.c does. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/fcall.h"
#include "harness_task.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(lease_probe, .init = setup, .fini = duro_test_fini, .timeout = 120);

/* dump_all: t's partition (duro_test_partition_dump) */
static char *dump_all(duro_test_task *t)
{
    return duro_test_partition_dump(t->r, t->p);
}

static bool still_string(duro_test_task *t, const char *key)
{
    redisReply *rep = duro_test_cmd(t->r, "TYPE", key, NULL);
    bool is = !strcmp(rep->str, "string");
    freeReplyObject(rep);
    return is;
}

/* ---- Commands ---- */

/* cmds: up to 5 activity commands, as the worker encodes them (10 words
 * each), with their texts */
typedef struct {
    const char *w[50];
    char seq[5][16], data[5][32];
    int n;
} cmds;

/* add_activity: activity seq ("echo", input null) on KEYS index key with
 * options opts and start-to-close stc (no heartbeat timeout, no
 * schedule-to-close) */
static void add_activity(cmds *c, int seq, const char *key, const char *opts,
                         const char *stc)
{
    size_t j = (size_t)c->n++;
    snprintf(c->seq[j], sizeof(c->seq[j]), "%d", seq);
    snprintf(c->data[j], sizeof(c->data[j]), "{\"seq\":%d}", seq);
    const char *f[] = {"activity", c->seq[j], c->data[j], key, "echo",
                       "null",     opts,      stc,        "0", "0"};
    memcpy(&c->w[j * 10U], f, sizeof(f));
}

static redisReply *commit(duro_test_task *t, const cmds *c, int eager)
{
    return duro_test_task_commit_cmds(t, c->w, c->n * 10, c->n, eager);
}

/* refused: the reply is DURO_WRONGTYPE naming key (freed) */
static void refused(redisReply *rep, const char *key)
{
    cr_assert_eq(rep->type, REDIS_REPLY_ERROR, "%s a string: accepted", key);
    cr_assert(!strncmp(rep->str, "DURO_WRONGTYPE ", 15) &&
                  strstr(rep->str, key),
              "%s a string: %s", key, rep->str);
    freeReplyObject(rep);
}

/* commit_refused_whole: with key a string, the commit of c is refused and
 * writes nothing; key put back, the same commit is accepted */
static void commit_refused_whole(duro_test_task *t, const cmds *c, int eager,
                                 const char *key)
{
    duro_test_key_swap_in(t->r, key);
    char *before = dump_all(t);
    refused(commit(t, c, eager), key);
    char *after = dump_all(t);
    cr_assert_str_eq(after, before, "%s a string: the commit wrote", key);
    free(before);
    free(after);
    duro_test_key_swap_out(t->r, key);
    redisReply *rep = commit(t, c, eager);
    cr_assert_eq(rep->type, REDIS_REPLY_ARRAY, "%s put back: %s", key,
                 rep->type == REDIS_REPLY_ERROR ? rep->str : "?");
    freeReplyObject(rep);
}

/* to_stream: workflow id's commit of nact activities (options opts,
 * start-to-close stc) on its own queue, asking as eager says, none of
 * them leased: their stream is written, so made a string it refuses the
 * commit before its first write */
static void to_stream(const char *id, const char *opts, const char *stc,
                      int eager, int nact)
{
    duro_test_task t;
    duro_test_task_init(&h, &t, id);
    cmds c = {.n = 0};
    for (int s = 1; s <= nact; s++)
        add_activity(&c, s, "9", opts, stc);
    commit_refused_whole(&t, &c, eager, t.k.act);
    duro_test_task_free(&t);
}

/* A commit whose activity goes to the stream writes the stream: made a
 * string, the commit is refused before its first write, when the commit
 * asks for no lease, when the activity has no deadline to time a lease
 * out by, when it has a fairness key, and when the request is full (four
 * asked, a fifth activity). */
Test(lease_probe, no_lease_asked_probes_the_stream)
{
    to_stream("lpr-none", "{}", "600000", DURO_TEST_EAGER_NONE, 1);
}

Test(lease_probe, no_deadline_probes_the_stream)
{
    to_stream("lpr-nodeadline", "{}", "0", DURO_TEST_EAGER_LEASES, 1);
}

Test(lease_probe, a_fairness_key_probes_the_stream)
{
    to_stream("lpr-fair", "{\"fairnessKey\":\"k\"}", "600000",
              DURO_TEST_EAGER_LEASES, 1);
}

Test(lease_probe, a_full_request_probes_the_stream)
{
    to_stream("lpr-full", "{}", "600000", DURO_TEST_EAGER_LEASES, 5);
}

/* A leased commit writes no stream: its activity stream a string, the
 * commit is accepted, the lease made (its l timer, the pending activity)
 * and the stream left as it was. The keys it does write (timers for the
 * l timer, the pending activities) are still refused whole. */
Test(lease_probe, a_leased_commit_writes_no_stream)
{
    duro_test_task t;
    duro_test_task_init(&h, &t, "lpr-leased");
    cmds c = {.n = 0};
    add_activity(&c, 1, "9", "{}", "600000");
    const char *written[] = {t.k.timers, t.k.pa};
    for (int i = 0; i < 2; i++) {
        duro_test_key_swap_in(t.r, written[i]);
        char *before = dump_all(&t);
        refused(commit(&t, &c, DURO_TEST_EAGER_LEASES), written[i]);
        char *after = dump_all(&t);
        cr_assert_str_eq(after, before, "%s a string: the commit wrote",
                         written[i]);
        free(before);
        free(after);
        duro_test_key_swap_out(t.r, written[i]);
    }
    duro_test_key_swap_in(t.r, t.k.act);
    redisReply *rep = commit(&t, &c, DURO_TEST_EAGER_LEASES);
    cr_assert(rep->type == REDIS_REPLY_ARRAY && rep->elements == 6,
              "the leased commit: %s",
              rep->type == REDIS_REPLY_ERROR ? rep->str : "not 6 elements");
    freeReplyObject(rep);
    cr_assert(t.lease[0] == 'L', "no lease made");
    cr_assert(still_string(&t, t.k.act), "the stream was written");
    rep = duro_test_cmd(t.r, "ZSCORE", t.k.timers, t.member, NULL);
    cr_assert_eq(rep->type, REDIS_REPLY_STRING, "no l timer");
    freeReplyObject(rep);
    rep = duro_test_cmd(t.r, "HEXISTS", t.k.pa, "1", NULL);
    cr_assert_eq(rep->integer, 1, "activity 1 is not pending");
    freeReplyObject(rep);
    duro_test_key_swap_out(t.r, t.k.act);
    duro_test_task_free(&t);
}

/* ---- The eager commit of a completion ---- */

/* eager_complete: duro_act_complete of t's leased activity 1, committing
 * activity 2 (start-to-close stc) on KEYS[10], t's activity stream, and
 * asking for leases */
static redisReply *eager_complete(duro_test_task *t, const char *stc)
{
    cmds c = {.n = 0};
    add_activity(&c, 2, "10", "{}", stc);
    duro_argv cv, a;
    duro_argv_init(&cv);
    for (int i = 0; i < 10; i++)
        duro_argv_push(&cv, c.w[i]);
    const char *acts[] = {t->k.act};
    duro_fcall_commit ec = {.wtc_data = "{}",
                            .ncmd = 1,
                            .cmds = &cv,
                            .nacts = 1,
                            .acts = acts,
                            .eager_consumer = "w1",
                            .eager_n = 4,
                            .eager_stream = t->k.act,
                            .eager_lease = true};
    duro_fcall_attempt at = {
        .run = t->run, .seq = "1", .attempt = 1, .entry = t->lease};
    duro_fcall_act_result res = {.data = "{\"seq\":1,\"result\":7}",
                                 .retry_delay_ms = -1};
    redisReply *hlen = duro_test_cmd(t->r, "HGET", t->k.wf, "hlen", NULL);
    duro_fcall_act_complete(&a, &t->k, &at, &res, strtoll(hlen->str, NULL, 10),
                            &ec);
    freeReplyObject(hlen);
    redisReply *rep = redisCommandArgv(t->r, a.argc, a.argv, a.lens);
    duro_argv_free(&a);
    duro_argv_free(&cv);
    cr_assert(rep, "redis: %s", t->r->errstr);
    return rep;
}

/* The hot path: a leased attempt's completion commits the next activity,
 * leased too. Its stream (KEYS[10]) a string: accepted, the next lease
 * made, the stream untouched. With no deadline the next activity goes to
 * the stream: refused before the first write, nothing written. */
Test(lease_probe, an_eager_completion_probes_only_a_stream_it_writes)
{
    duro_test_task t;
    duro_test_task_init(&h, &t, "lpr-eager");
    freeReplyObject(duro_test_task_commit(&t, "{}", "600000", "0", "0", true));
    cr_assert(t.lease[0] == 'L', "no lease made");
    duro_test_key_swap_in(t.r, t.k.act);
    char *before = dump_all(&t);
    refused(eager_complete(&t, "0"), t.k.act);
    char *after = dump_all(&t);
    cr_assert_str_eq(after, before, "the refused completion wrote");
    free(before);
    free(after);

    redisReply *rep = eager_complete(&t, "600000");
    cr_assert(rep->type == REDIS_REPLY_ARRAY && rep->elements == 7 &&
                  rep->element[5]->type == REDIS_REPLY_STRING &&
                  rep->element[5]->str[0] == 'L',
              "the leased completion: %s",
              rep->type == REDIS_REPLY_ERROR ? rep->str : "no lease");
    freeReplyObject(rep);
    cr_assert(still_string(&t, t.k.act), "the stream was written");
    rep = duro_test_cmd(t.r, "HEXISTS", t.k.pa, "2", NULL);
    cr_assert_eq(rep->integer, 1, "activity 2 is not pending");
    freeReplyObject(rep);
    duro_test_key_swap_out(t.r, t.k.act);
    duro_test_task_free(&t);
}

/* two_queues: duro_wft_complete of t's claimed task with activity 1 on
 * KEYS[9] (t's queue, whose stream the commit names for leases) and
 * activity 2 on KEYS[10], another queue's stream `other` (not named:
 * its task goes to the stream), both with a start-to-close */
static redisReply *two_queues(duro_test_task *t, const char *other)
{
    cmds c = {.n = 0};
    add_activity(&c, 1, "9", "{}", "600000");
    add_activity(&c, 2, "10", "{}", "600000");
    duro_argv cv, a;
    duro_argv_init(&cv);
    for (int i = 0; i < 20; i++)
        duro_argv_push(&cv, c.w[i]);
    const char *acts[] = {t->k.act, other};
    duro_fcall_commit fc = {.wtc_data = "{}",
                            .ncmd = 2,
                            .cmds = &cv,
                            .nacts = 2,
                            .acts = acts,
                            .eager_consumer = "w1",
                            .eager_n = 4,
                            .eager_stream = t->k.act,
                            .eager_lease = true};
    duro_fcall_task ft = {.run = t->run, .token = t->token, .entry = t->entry};
    duro_fcall_wft_complete(&a, &t->k, &ft, &fc);
    redisReply *rep = redisCommandArgv(t->r, a.argc, a.argv, a.lens);
    duro_argv_free(&a);
    duro_argv_free(&cv);
    cr_assert(rep, "redis: %s", t->r->errstr);
    return rep;
}

/* A lease comes only from a stream the commit names: of two activities,
 * the one on another queue goes to its stream, which is probed (a string:
 * refused whole), while the leased one's stream is not (a string:
 * accepted, left as it was). */
Test(lease_probe, only_a_named_stream_is_leased_and_left_unprobed)
{
    duro_test_task t;
    duro_test_task_init(&h, &t, "lpr-two");
    char other[sizeof(t.k.act) + 2];
    snprintf(other, sizeof(other), "%sx", t.k.act);
    duro_test_key_swap_in(t.r, other);
    char *before = dump_all(&t);
    refused(two_queues(&t, other), other);
    char *after = dump_all(&t);
    cr_assert_str_eq(after, before, "the refused commit wrote");
    free(before);
    free(after);
    duro_test_key_swap_out(t.r, other);

    duro_test_key_swap_in(t.r, t.k.act);
    redisReply *rep = two_queues(&t, other);
    cr_assert(rep->type == REDIS_REPLY_ARRAY && rep->elements == 6 &&
                  rep->element[4]->type == REDIS_REPLY_STRING &&
                  rep->element[4]->str[0] == 'L',
              "one lease: %s",
              rep->type == REDIS_REPLY_ERROR ? rep->str : "not one lease");
    freeReplyObject(rep);
    cr_assert(still_string(&t, t.k.act), "the leased one's stream written");
    rep = duro_test_cmd(t.r, "XLEN", other, NULL);
    cr_assert_eq(rep->integer, 1, "activity 2 is not in its stream");
    freeReplyObject(rep);
    duro_test_key_swap_out(t.r, t.k.act);
    duro_test_task_free(&t);
}
