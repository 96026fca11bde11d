/* test_redis_wait.c: replica-acknowledged commits (DURO_REDIS_WAIT): with
 * a replica attached every component's writes are confirmed by it before
 * they are acted upon; without one the client is told NOREPLICAS, never a
 * silent success, and the worker sends its commits again until a replica
 * confirms. The replica is a second redis-server the harness starts and
 * stops. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
    setenv("DURO_REDIS_WAIT", "1", 1);
    setenv("DURO_REDIS_WAIT_TIMEOUT", "300ms", 1);
}

TestSuite(redis_wait, .init = setup, .fini = duro_test_fini, .timeout = 60);

/* replica_start starts a redis-server replicating the test's server and
 * waits until the primary counts it as an online replica. */
static void replica_start(void)
{
    int port = duro_test_free_port();
    char sport[16], sprimary[16], dir[PATH_MAX + 16];
    snprintf(sport, sizeof(sport), "%d", port);
    snprintf(sprimary, sizeof(sprimary), "%d", h.redis_port);
    snprintf(dir, sizeof(dir), "%s/replica", h.dir);
    cr_assert(mkdir(dir, 0700) == 0 || errno == EEXIST);
    duro_test_spawn_redis(&h, "replica", "--port", sport, "--bind", "127.0.0.1",
                          "--save", "", "--appendonly", "no", "--dir", dir,
                          "--replicaof", "127.0.0.1", sprimary, NULL);
    redisContext *r = duro_test_redis(&h);
    bool online = false;
    for (int i = 0; i < 500 && !online; i++) {
        redisReply *rep = redisCommand(r, "INFO replication");
        online = rep && rep->type == REDIS_REPLY_STRING &&
                 strstr(rep->str, "state=online");
        freeReplyObject(rep);
        if (!online) duro_test_sleep_ms(20);
    }
    redisFree(r);
    cr_assert(online, "the replica did not come online (see replica.log)");
}

static void spawn_components(void)
{
    pid_t s =
        duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    pid_t w = duro_test_spawn(&h, "duro-test-worker", NULL);
    cr_assert(
        duro_test_wait_until(duro_test_log_contains(&h, s, "REDIS UP"), 5000));
    cr_assert(
        duro_test_wait_until(duro_test_log_contains(&h, w, "REDIS UP"), 5000));
}

static void cli_start(duro_test_output *o, const char *id)
{
    duro_test_run(&h, o, 10000, "duro", "workflow", "start", "--workflow-id",
                  id, "--type", "activities", "--task-queue", "test", "--input",
                  "{\"n\":3}", NULL);
}

Test(redis_wait, a_replica_confirms_every_step)
{
    /* a loaded machine may take longer than the short setting to ack */
    setenv("DURO_REDIS_WAIT_TIMEOUT", "5s", 1);
    replica_start();
    spawn_components();
    duro_test_output o;
    cli_start(&o, "wait-1");
    cr_assert_eq(o.exit_code, 0, "start: %s", o.err);
    duro_test_output_free(&o);
    duro_client *c = duro_test_client(&h);
    cJSON *d = duro_test_result(c, "wait-1", 20000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cJSON_Delete(d);
    duro_client_free(c);
    /* every state change was followed by a WAIT (a start, 4 workflow
     * tasks, 3 activity completions at least) and none fell short */
    redisContext *r = duro_test_redis(&h);
    redisReply *rep = redisCommand(r, "INFO commandstats");
    cr_assert(rep && rep->type == REDIS_REPLY_STRING);
    const char *st = strstr(rep->str, "cmdstat_wait:calls=");
    cr_assert(st, "no WAIT ran");
    cr_assert_geq(strtol(st + strlen("cmdstat_wait:calls="), NULL, 10), 8,
                  "%.60s", st);
    freeReplyObject(rep);
    redisFree(r);
    for (int i = 0; i < h.nchildren; i++)
        cr_assert(!duro_test_log_contains(&h, h.children[i].pid, "WAIT SHORT"),
                  "%s waited in vain", h.children[i].name);
    duro_test_finish(&h);
}

Test(redis_wait, without_a_replica_the_client_is_told_and_workers_retry)
{
    spawn_components();
    /* the CLI is given the setting by its flag, not the environment */
    unsetenv("DURO_REDIS_WAIT");
    duro_test_output o;
    duro_test_run(&h, &o, 10000, "duro", "--redis-wait", "1", "workflow",
                  "start", "--workflow-id", "wait-2", "--type", "activities",
                  "--task-queue", "test", "--input", "{\"n\":3}", NULL);
    /* the start is on the primary but nobody confirmed it */
    cr_assert_neq(o.exit_code, 0, "start succeeded without a replica");
    cr_assert(strstr(o.err, "NOREPLICAS") && strstr(o.err, "0 of 1"), "%s",
              o.err);
    duro_test_output_free(&o);
    /* the worker's commits fall short too, and are sent again ... */
    cr_assert(duro_test_wait_until(
        duro_test_log_contains(&h, h.children[1].pid, "WAIT SHORT"), 10000));
    /* ... until a replica confirms them: the run completes */
    replica_start();
    duro_client *c = duro_test_client(&h);
    cJSON *d = duro_test_result(c, "wait-2", 30000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cJSON_Delete(d);
    duro_client_free(c);
    duro_test_finish(&h);
}
