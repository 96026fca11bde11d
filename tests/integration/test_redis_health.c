/* test_redis_health.c: a Redis that misbehaves under a running fleet: it
 * comes back empty after a restart, it comes back with another layout, it
 * freezes (SIGSTOP), it refuses the password. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "duro/keys.h"
#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(redis_health, .init = setup, .fini = duro_test_fini, .timeout = 120);

/* ---- Helpers ---- */

static long long redis_int(const char *cmd)
{
    redisContext *r = duro_test_redis(&h);
    redisReply *rep = redisCommand(r, cmd);
    long long v = rep && rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
    if (rep) freeReplyObject(rep);
    redisFree(r);
    return v;
}

/* log_count: how many times s occurs in the log of child pid. */
static int log_count(pid_t pid, const char *s)
{
    for (int i = 0; i < h.nchildren; i++) {
        if (h.children[i].pid != pid) continue;
        FILE *f = fopen(h.children[i].log, "r");
        if (!f) return 0;
        int n = 0;
        char line[2048];
        while (fgets(line, sizeof(line), f))
            for (const char *p = line; (p = strstr(p, s)); p += strlen(s))
                n++;
        fclose(f);
        return n;
    }
    return 0;
}

/* start_and_complete starts n "activities" workflows through a new client
 * and waits for each to complete. */
static void start_and_complete(const char *prefix, int n)
{
    duro_client *c = duro_test_client(&h);
    cr_assert_eq(duro_client_partitions(c), 32,
                 "the client took the fleet's layout, not its default");
    char id[64];
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "%s-%d", prefix, i);
        duro_test_start(c, id, "activities", "test", "{\"n\":1}", 0);
    }
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "%s-%d", prefix, i);
        cJSON *d = duro_test_result(c, id, 30000);
        cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED", "%s", id);
        cJSON_Delete(d);
    }
    duro_client_free(c);
}

/* ---- An empty Redis after a restart ---- */

Test(redis_health, empty_redis_after_restart_keeps_the_fleets_layout)
{
    /* Only the fleet is given the layout; the client must learn it. */
    unsetenv("DURO_PARTITIONS");
    pid_t s = duro_test_spawn(&h, "duro-scheduler", "--partitions", "32",
                              "--scan-interval", "100ms", NULL);
    pid_t w =
        duro_test_spawn(&h, "duro-test-worker", "--partitions", "32", NULL);
    duro_test_wait_up(&h, w, 10000);
    start_and_complete("before", 5);

    duro_test_redis_restart(&h, SIGKILL, 300, "no", NULL); /* empty */

    start_and_complete("after", 50);
    cr_assert_eq(redis_int("XLEN duro:dead"), 0, "dead letters after restart");
    /* whichever reconnected first restored duro:meta and said why */
    cr_assert(duro_test_wait_until(
        duro_test_log_contains(&h, w, "Redis lost its data") ||
            duro_test_log_contains(&h, s, "Redis lost its data"),
        5000));
    duro_test_finish(&h);
}

/* What Redis lost is counted from the open runs (vx:status:RUNNING, plus
 * the idx:open of a library before visibility rows): 3 open runs and one
 * upgraded entry are "4 workflows may be gone". */
Test(redis_health, lost_data_counts_the_open_workflows)
{
    duro_client *c = duro_test_client(&h); /* the default layout */
    for (int i = 0; i < 3; i++) {
        char id[32];
        snprintf(id, sizeof(id), "open-%d", i);
        duro_test_start(c, id, "activities", "nobody", NULL, 0);
    }
    duro_client_free(c);
    char key[DURO_SHORT_KEY_MAX];
    duro_key_idx_open(key, sizeof(key),
                      DURO_KEYSPACE_DEFAULT(DURO_DEFAULT_PARTITIONS), 0);
    redisContext *r = duro_test_redis(&h);
    freeReplyObject(redisCommand(r, "ZADD %s 1 upgraded", key));
    redisFree(r);
    /* the worker counts at connect */
    pid_t w = duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_test_wait_up(&h, w, 10000);
    duro_test_sleep_ms(300); /* the count's replies */
    duro_test_redis_restart(&h, SIGKILL, 300, "no", NULL); /* empty */
    bool said = duro_test_wait_until(
        duro_test_log_contains(&h, w, "Redis lost its data"), 10000);
    cr_assert(said, "the worker did not notice");
    cr_assert(duro_test_log_contains(&h, w, "4 workflows may be gone"),
              "the open count is not the open runs'");
    duro_test_finish(&h);
}

Test(redis_health, client_without_a_count_never_creates_the_layout)
{
    unsetenv("DURO_PARTITIONS");
    duro_test_output o;
    int64_t t0 = duro_test_mono_ms();
    duro_test_run(&h, &o, 20000, "duro", "workflow", "start", "--workflow-id",
                  "x", "--type", "activities", "--task-queue", "test", NULL);
    cr_assert_neq(o.exit_code, 0, "started with no layout: %s", o.out);
    cr_assert(strstr(o.err, "duro:meta is missing"), "%s", o.err);
    cr_assert_lt(duro_test_mono_ms() - t0, 15000);
    duro_test_output_free(&o);
    cr_assert_eq(redis_int("EXISTS duro:meta"), 0);
    duro_test_finish(&h);
}

Test(redis_health, layout_changed_under_a_running_fleet_stops_it_loudly)
{
    unsetenv("DURO_PARTITIONS");
    pid_t s = duro_test_spawn(&h, "duro-scheduler", "--partitions", "32", NULL);
    pid_t w =
        duro_test_spawn(&h, "duro-test-worker", "--partitions", "32", NULL);
    duro_test_wait_up(&h, w, 10000);
    duro_test_wait_up(&h, s, 10000);
    /* Redis comes back with another layout (someone set it up again with
     * 16), then every connection of the fleet drops. */
    redisContext *r = duro_test_redis(&h);
    freeReplyObject(redisCommand(r, "MULTI"));
    freeReplyObject(redisCommand(r, "FLUSHALL"));
    freeReplyObject(redisCommand(r, "HSET duro:meta partitions 16 schema 1"));
    freeReplyObject(redisCommand(r, "EXEC"));
    freeReplyObject(redisCommand(r, "CLIENT KILL TYPE normal"));
    freeReplyObject(redisCommand(r, "CLIENT KILL TYPE pubsub"));
    redisFree(r);
    cr_assert(duro_test_wait_until(
                  !duro_test_alive(&h, w) && !duro_test_alive(&h, s), 15000),
              "the fleet kept running on a layout it does not have");
    for (int i = 0; i < h.nchildren; i++) {
        duro_test_child *ch = &h.children[i];
        cr_assert(WIFEXITED(ch->status) && WEXITSTATUS(ch->status) != 0,
                  "%s did not exit non-zero", ch->name);
        cr_assert(duro_test_log_contains(&h, ch->pid, "partitions=16") &&
                      duro_test_log_contains(&h, ch->pid, "partitions=32"),
                  "%s: the message names both counts", ch->name);
    }
    cr_assert_eq(redis_int("XLEN duro:dead"), 0);
    cr_assert_eq(duro_test_stop_all(&h), 2); /* both, on purpose */
    h.passed = true;
}

Test(redis_health, scheduler_given_another_count_refuses_to_start)
{
    redisContext *r = duro_test_redis(&h);
    freeReplyObject(redisCommand(r, "HSET duro:meta partitions 16 schema 1"));
    redisFree(r);
    duro_test_output o;
    duro_test_run(&h, &o, 10000, "duro-scheduler", "--partitions", "32", NULL);
    cr_assert(o.exit_code > 0, "exit %d", o.exit_code);
    cr_assert(strstr(o.err, "partitions=16") && strstr(o.err, "partitions=32"),
              "%s", o.err);
    duro_test_output_free(&o);
    duro_test_finish(&h);
}

/* ---- A frozen Redis ---- */

Test(redis_health, frozen_redis_makes_readyz_fail_and_is_logged_once)
{
    int wport = duro_test_free_port(), sport = duro_test_free_port();
    char waddr[32], saddr[32];
    snprintf(waddr, sizeof(waddr), "127.0.0.1:%d", wport);
    snprintf(saddr, sizeof(saddr), "127.0.0.1:%d", sport);
    pid_t s = duro_test_spawn(&h, "duro-scheduler", "--metrics-addr", saddr,
                              "--redis-stall-timeout", "500ms", NULL);
    pid_t w = duro_test_spawn(&h, "duro-test-worker", "--metrics-addr", waddr,
                              "--redis-stall-timeout", "500ms", NULL);
    cr_assert(duro_test_wait_until(
        duro_test_http_get(wport, "/readyz", NULL, 0) == 200 &&
            duro_test_http_get(sport, "/readyz", NULL, 0) == 200,
        10000));

    kill(h.redis_pid, SIGSTOP);
    int64_t t0 = duro_test_mono_ms();
    bool w_down = duro_test_wait_until(
        duro_test_http_get(wport, "/readyz", NULL, 0) == 503, 3000);
    bool s_down = duro_test_wait_until(
        duro_test_http_get(sport, "/readyz", NULL, 0) == 503, 3000);
    int64_t left = 3000 - (duro_test_mono_ms() - t0);
    if (left > 0) duro_test_sleep_ms(left); /* a ~3 s freeze */
    kill(h.redis_pid, SIGCONT);
    cr_assert(w_down, "worker /readyz stayed 200 with Redis frozen");
    cr_assert(s_down, "scheduler /readyz stayed 200 with Redis frozen");

    cr_assert(duro_test_wait_until(
                  duro_test_http_get(wport, "/readyz", NULL, 0) == 200 &&
                      duro_test_http_get(sport, "/readyz", NULL, 0) == 200,
                  5000),
              "not ready again after Redis came back");
    cr_assert(duro_test_wait_until(log_count(w, "REDIS STALL END") == 1 &&
                                       log_count(s, "REDIS STALL END") == 1,
                                   3000));
    cr_assert_eq(log_count(w, "REDIS STALL name="), 1, "logged once");
    cr_assert_eq(log_count(s, "REDIS STALL name="), 1, "logged once");
    cr_assert(duro_test_log_contains(&h, w, "duration="));
    duro_test_finish(&h);
}

/* ---- Credentials ---- */

Test(redis_health, wrong_password_exits_non_zero_without_showing_it)
{
    static const char *const pw[] = {"--requirepass", "right-pw", NULL};
    duro_test_redis_restart(&h, SIGKILL, 0, "no", pw);
    char url[96];
    snprintf(url, sizeof(url), "redis://:wrong-pw@127.0.0.1:%d", h.redis_port);
    setenv("DURO_REDIS_URL", url, 1);
    const char *progs[] = {"duro-scheduler", "duro-test-worker"};
    for (int i = 0; i < 2; i++) {
        duro_test_output o;
        duro_test_run(&h, &o, 10000, progs[i], NULL);
        cr_assert(!o.timed_out, "%s kept retrying a wrong password", progs[i]);
        cr_assert(o.exit_code > 0, "%s: exit %d", progs[i], o.exit_code);
        cr_assert(strstr(o.err, "WRONGPASS"), "%s: %s", progs[i], o.err);
        cr_assert_null(strstr(o.err, "wrong-pw"), "%s: %s", progs[i], o.err);
        duro_test_output_free(&o);
    }
    /* no password at all: NOAUTH, just as fatal */
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", h.redis_port);
    setenv("DURO_REDIS_URL", url, 1);
    duro_test_output o;
    duro_test_run(&h, &o, 10000, "duro-test-worker", NULL);
    cr_assert(o.exit_code > 0 && strstr(o.err, "NOAUTH"), "%s", o.err);
    duro_test_output_free(&o);
    duro_test_run(&h, &o, 10000, "duro", "workflow", "list", NULL);
    cr_assert(o.exit_code > 0 && strstr(o.err, "NOAUTH"), "%s", o.err);
    duro_test_output_free(&o);
    /* the right one from a file: it comes up */
    char path[PATH_MAX + 16];
    duro_test_write_file(&h, "pw", "right-pw\n", path, sizeof(path));
    setenv("DURO_REDIS_PASSWORD_FILE", path, 1);
    pid_t w = duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_test_wait_up(&h, w, 10000);
    unsetenv("DURO_REDIS_PASSWORD_FILE");
    duro_test_finish(&h);
}

/* A password refused after the process started (rotated on the server):
 * the async connections stop instead of retrying forever. */
Test(redis_health, password_changed_under_a_running_worker_stops_it)
{
    pid_t w = duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_test_wait_up(&h, w, 10000);
    redisContext *r = duro_test_redis(&h);
    freeReplyObject(redisCommand(r, "CONFIG SET requirepass now-required"));
    freeReplyObject(redisCommand(r, "CLIENT KILL TYPE normal"));
    redisFree(r);
    cr_assert(duro_test_wait_until(!duro_test_alive(&h, w), 15000),
              "the worker kept retrying without a password");
    cr_assert(duro_test_log_contains(&h, w, "NOAUTH"));
    cr_assert_eq(duro_test_stop_all(&h), 1); /* on purpose */
    h.passed = true;
}
