/* test_priority_reads.c: a worker's blocking reads name a priority level's
 * stream only while the level is in use (docs/internals.md, "The read
 * set"): the first task of a level rings a bell that makes the worker read
 * it at once; the default level's path runs no more commands for it. */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/ids.h"
#include "duro/keys.h"
#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(priority_reads, .init = setup, .fini = duro_test_fini, .timeout = 60);

static void start(duro_client *c, const char *id, int priority)
{
    duro_start_opts o = {0};
    o.workflow_id = id;
    o.type = "napper";
    o.task_queue = "test";
    o.input = "{\"ms\":1}";
    o.priority = priority;
    char run[DURO_UUID_LEN + 1];
    cr_assert_eq(duro_client_start(c, &o, run), 0, "start %s: %s", id,
                 duro_client_errstr(c));
}

static void wait_completed(duro_client *c, const char *id)
{
    cJSON *d = duro_test_result(c, id, 10000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED", "%s", id);
    cJSON_Delete(d);
}

/* xinfo_calls: how many XINFO GROUPS Redis has run (INFO commandstats). */
static long long xinfo_calls(void)
{
    redisContext *r = duro_test_redis(&h);
    redisReply *rep = redisCommand(r, "INFO commandstats");
    cr_assert(rep && rep->type == REDIS_REPLY_STRING);
    const char *s = strstr(rep->str, "cmdstat_xinfo|groups:calls=");
    long long n =
        s ? strtoll(s + strlen("cmdstat_xinfo|groups:calls="), NULL, 10) : 0;
    freeReplyObject(rep);
    redisFree(r);
    return n;
}

/* A worker started with no level in use reads none; a priority-1 run
 * (its workflow task and its activity: both kinds' bells) completes
 * within 500 ms, and the worker reads level 1 from then on. A default run
 * makes the Functions run no XINFO (the bell's check). */
Test(priority_reads, first_task_of_a_level_rings)
{
    duro_client *c = duro_test_client(&h);
    /* eager off: the activity task goes to its level's stream, which
     * rings (an eager one is leased, in no stream) */
    setenv("DURO_EAGER_ACTIVITIES", "0", 1);
    pid_t w = duro_test_spawn(&h, "duro-test-worker", NULL);
    unsetenv("DURO_EAGER_ACTIVITIES");
    start(c, "warm", 0);
    wait_completed(c, "warm");
    cr_assert(!duro_test_log_contains(&h, w, "LEVEL-READ"),
              "no level is in use at the start");

    long long before = xinfo_calls();
    start(c, "plain", 0);
    wait_completed(c, "plain");
    cr_assert_eq(xinfo_calls(), before, "the default path rings no bell");

    int64_t t0 = duro_test_mono_ms();
    start(c, "hi", 1);
    wait_completed(c, "hi");
    int64_t ms = duro_test_mono_ms() - t0;
    cr_assert_lt(ms, 500, "a level's first run took %lld ms", (long long)ms);

    int p = duro_partition_of("hi", DURO_DEFAULT_PARTITIONS);
    char want[128];
    snprintf(want, sizeof(want),
             "LEVEL-READ key=duro:{p%d}:wft:test!1 why=bell", p);
    cr_assert(duro_test_log_contains(&h, w, want), "%s", want);
    snprintf(want, sizeof(want),
             "LEVEL-READ key=duro:{p%d}:act:test!1 why=bell", p);
    cr_assert(duro_test_log_contains(&h, w, want), "%s", want);

    /* the level is read now: a second run of it rings nothing new */
    start(c, "hi2", 1);
    wait_completed(c, "hi2");
    duro_client_free(c);
    duro_test_finish(&h);
}

/* Tasks waiting in a level's stream before the worker starts: it reads
 * that level from the start. */
Test(priority_reads, waiting_level_is_read_from_the_start)
{
    duro_client *c = duro_test_client(&h);
    start(c, "early", 2);
    pid_t w = duro_test_spawn(&h, "duro-test-worker", NULL);
    wait_completed(c, "early");
    int p = duro_partition_of("early", DURO_DEFAULT_PARTITIONS);
    char want[128];
    snprintf(want, sizeof(want),
             "LEVEL-READ key=duro:{p%d}:wft:test!2 why=start", p);
    cr_assert(duro_test_log_contains(&h, w, want), "%s", want);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* A level's task without a bell (as when the worker that took the bell
 * died before the task was delivered; here an entry added by hand): the
 * worker's check every 10 s finds it undelivered and reads the level. */
Test(priority_reads, unrung_level_found_by_the_check)
{
    duro_client *c = duro_test_client(&h);
    pid_t w = duro_test_spawn(&h, "duro-test-worker", NULL);
    start(c, "warm", 0);
    wait_completed(c, "warm");
    redisContext *r = duro_test_redis(&h);
    redisReply *rep = redisCommand(r, "XADD duro:{p1}:act:test!4 * junk 1");
    cr_assert(rep && rep->type == REDIS_REPLY_STRING);
    freeReplyObject(rep);
    redisFree(r);
    const char *want = "LEVEL-READ key=duro:{p1}:act:test!4 why=check";
    int64_t t0 = duro_test_mono_ms();
    while (!duro_test_log_contains(&h, w, want) &&
           duro_test_mono_ms() - t0 < 15000)
        duro_test_sleep_ms(100);
    cr_assert(duro_test_log_contains(&h, w, want), "%s", want);
    duro_client_free(c);
    duro_test_finish(&h);
}
