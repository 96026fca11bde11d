/* test_read_recover.c: a worker whose task reads fail after Redis lost its
 * data (restarted without persistence: streams and consumer groups gone,
 * NOGROUP) recreates what it reads and backs off between reads that keep
 * failing, instead of sending them again at once: the read connections
 * come back on their own, often before the one the stream check uses, and
 * each of their failures was followed by the next read (hundreds a
 * second). Counted on Redis's side: its commandstats start at zero with
 * the restart. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(read_recover, .init = setup, .fini = duro_test_fini, .timeout = 120);

/* xreadgroup_failed: XREADGROUP calls that failed (NOGROUP, ...) since the
 * server started. */
static long long xreadgroup_failed(redisContext *r)
{
    redisReply *rep = duro_test_cmd(r, "INFO", "commandstats", NULL);
    const char *p = rep->str ? strstr(rep->str, "cmdstat_xreadgroup:") : NULL;
    const char *end = p ? strchr(p, '\n') : NULL;
    long long n = 0;
    p = p ? strstr(p, "failed_calls=") : NULL;
    if (p && (!end || p < end)) n = strtoll(p + 13, NULL, 10);
    freeReplyObject(rep);
    return n;
}

Test(read_recover, reads_that_fail_after_lost_data_back_off_and_recover)
{
    enum { RESTARTS = 5, MAX_FAILED = 40 };
    duro_test_output o;
    duro_test_run(&h, &o, 10000, "duro", "operator", "init", NULL);
    cr_assert_eq(o.exit_code, 0, "init: %s", o.err);
    duro_test_output_free(&o);
    pid_t w = duro_test_spawn_up(&h, 10000, "duro-test-worker", NULL);
    for (int i = 0; i < RESTARTS; i++) {
        /* down long enough for the connections' reconnect backoffs to
         * grow apart */
        duro_test_redis_restart(&h, SIGKILL, 2500, "no", NULL);
        duro_client *c = duro_test_client(&h);
        char id[32];
        snprintf(id, sizeof(id), "rr-%d", i);
        /* the worker reads again: it takes the workflow and its activity */
        duro_test_start(c, id, "activities", "test", "{\"n\":1}", 0);
        cJSON *d = duro_test_result(c, id, 30000);
        cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED", "%s", id);
        cJSON_Delete(d);
        /* a fixed window more: a read still failing would show */
        duro_test_sleep_ms(1000);
        redisContext *r = duro_test_redis(&h);
        long long failed = xreadgroup_failed(r);
        cr_log_info("restart %d: %lld XREADGROUP failed", i, failed);
        cr_assert_leq(failed, MAX_FAILED,
                      "restart %d: %lld failed reads before the worker "
                      "recovered: it spins",
                      i, failed);
        redisFree(r);
        duro_client_free(c);
    }
    cr_assert(duro_test_alive(&h, w), "the worker died");
    duro_test_finish(&h);
}
