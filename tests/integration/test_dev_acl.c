/* test_dev_acl.c: `duro dev --tls --acl`, the steps of `scripts/demo --tls`
 * in C: the dev server makes the four users of `duro operator acl`
 * (passwords in files of mode 0600), switches the default user off and
 * reports every refusal Redis records (ACL LOG). Then `duro operator init`
 * runs as duro-admin, the food-worker as duro-worker (its simulated
 * services as duro-app), the scheduler inside duro dev as duro-scheduler,
 * and every CLI call as duro-client, over TLS; the food order completes and
 * Redis refused nothing but the one command the test provokes. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "duro/config.h"
#include "duro/redis.h"
#include "harness.h"

static duro_test_harness h;
static int port;
static char dev_dir[PATH_MAX + 16];

static void setup(void)
{
    duro_test_redis_start(&h); /* for its temp dir; duro dev has its own */
    unsetenv("DURO_REDIS_URL");
    unsetenv("DURO_REDIS_PASSWORD_FILE");
    unsetenv("DURO_REDIS_PASSWORD");
    snprintf(dev_dir, sizeof(dev_dir), "%s/dev", h.dir);
}

TestSuite(dev_acl, .init = setup, .fini = duro_test_fini, .timeout = 90);

/* ---- Helpers ---- */

static const char *pw_file(const char *role)
{
    static char path[4][PATH_MAX + 64];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, PATH_MAX + 64, "%s/acl/%s.password", dev_dir, role);
    return p;
}

static const char *role_url(const char *role)
{
    static char url[4][96];
    static int next;
    char *u = url[next++ % 4];
    snprintf(u, 96, "rediss://duro-%s:@127.0.0.1:%d", role, port);
    return u;
}

/* as_role: the CLI and the programs spawned next connect as role's user,
 * the password from its file (the URL names the user only). */
static void as_role(const char *role)
{
    setenv("DURO_REDIS_URL", role_url(role), 1);
    setenv("DURO_REDIS_PASSWORD_FILE", pw_file(role), 1);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open %s", path);
    static char text[1 << 20];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    return strdup(text);
}

/* log_of: the log of child pid, read whole. */
static char *log_of(pid_t pid)
{
    for (int i = 0; i < h.nchildren; i++)
        if (h.children[i].pid == pid) return slurp(h.children[i].log);
    cr_assert_fail("no child %d", (int)pid);
    return NULL;
}

/* password: role's, as duro dev wrote it (one line). */
static char *password(const char *role)
{
    char *s = slurp(pw_file(role));
    s[strcspn(s, "\n")] = '\0';
    cr_assert_geq(strlen(s), 16, "%s's password is short", role);
    return s;
}

static pid_t start_dev(void)
{
    char p[16], ca[PATH_MAX + 32];
    port = duro_test_free_port();
    snprintf(p, sizeof(p), "%d", port);
    pid_t dev =
        duro_test_spawn(&h, "duro", "dev", "--tls", "--acl", "--app-keys",
                        "food:*", "--port", p, "--dir", dev_dir, NULL);
    cr_assert(duro_test_wait_until(
                  duro_test_log_contains(&h, dev, "dev server ready"), 20000),
              "duro dev --tls --acl did not come up");
    snprintf(ca, sizeof(ca), "%s/tls/ca.crt", dev_dir);
    setenv("DURO_REDIS_TLS_CA", ca, 1);
    unsetenv("DURO_REDIS_TLS_CERT");
    unsetenv("DURO_REDIS_TLS_KEY");
    return dev;
}

/* run_ok: `duro <args>` as the current role succeeds; its stdout. */
#define run_ok(...)                                                            \
    ({                                                                         \
        duro_test_output o_;                                                   \
        duro_test_run(&h, &o_, 15000, "duro", __VA_ARGS__, NULL);              \
        cr_assert_eq(o_.exit_code, 0, "duro %s: %s%s", #__VA_ARGS__, o_.out,   \
                     o_.err);                                                  \
        char *out_ = strdup(o_.out);                                           \
        duro_test_output_free(&o_);                                            \
        out_;                                                                  \
    })

/* wait_status: order-1's getStatus says `state` within 10 s. */
static void wait_status(const char *state)
{
    bool there = false;
    for (int i = 0; i < 100 && !there; i++) {
        duro_test_output o;
        duro_test_run(&h, &o, 15000, "duro", "workflow", "query",
                      "--workflow-id", "order-1", "--name", "getStatus", NULL);
        there = o.exit_code == 0 && strstr(o.out, state);
        duro_test_output_free(&o);
        if (!there) duro_test_sleep_ms(100);
    }
    cr_assert(there, "order-1 never reached \"%s\"", state);
}

/* connect_as: a TLS connection as role's user (password from its file). */
static redisContext *connect_as(const char *role)
{
    duro_redis_url u;
    char err[256];
    setenv("DURO_REDIS_PASSWORD_FILE", pw_file(role), 1);
    cr_assert_eq(duro_redis_url_parse(role_url(role), &u, err, sizeof(err)), 0,
                 "%s", err);
    redisContext *c = duro_redis_connect(&u, 5000, err, sizeof(err));
    cr_assert(c, "connect as %s: %s", role, err);
    return c;
}

/* ---- The food order ---- */

Test(dev_acl, tls_food_order_runs_with_every_component_restricted)
{
    pid_t dev = start_dev();
    static const char *const roles[] = {"worker", "scheduler", "client",
                                        "admin", "app"};
    for (int i = 0; i < 5; i++) {
        struct stat st;
        cr_assert_eq(stat(pw_file(roles[i]), &st), 0, "%s", pw_file(roles[i]));
        cr_assert_eq(st.st_mode & 0777, 0600, "%s has mode %o",
                     pw_file(roles[i]), st.st_mode & 0777);
    }

    /* the default user is off: a URL without a user no longer logs in */
    duro_test_output o;
    char anon[64];
    snprintf(anon, sizeof(anon), "rediss://127.0.0.1:%d", port);
    unsetenv("DURO_REDIS_PASSWORD_FILE");
    duro_test_run(&h, &o, 15000, "duro", "--redis", anon, "workflow", "list",
                  NULL);
    cr_assert_neq(o.exit_code, 0, "the default user still works: %s", o.out);
    cr_assert(strstr(o.err, "NOAUTH") || strstr(o.err, "uthentication"), "%s",
              o.err);
    duro_test_output_free(&o);

    as_role("admin");
    free(run_ok("operator", "init"));

    as_role("worker");
    char services[96];
    snprintf(services, sizeof(services), "%s", role_url("app"));
    setenv("FOOD_SERVICES_URL", services, 1);
    setenv("FOOD_SERVICES_PASSWORD_FILE", pw_file("app"), 1);
    pid_t w = duro_test_spawn(&h, "food-worker", NULL);
    unsetenv("FOOD_SERVICES_URL");
    unsetenv("FOOD_SERVICES_PASSWORD_FILE");
    cr_assert(
        duro_test_wait_until(duro_test_log_contains(&h, w, "REDIS UP"), 10000));

    as_role("client");
    free(run_ok("operator", "search-attribute", "create", "--name",
                "OrderState", "--type", "Keyword"));
    free(run_ok("workflow", "start", "--type", "order", "--task-queue",
                "durable-food", "--workflow-id", "order-1", "--input",
                "{\"productId\":2,\"ratingDelay\":\"300ms\"}"));
    wait_status("Paid");
    char *list = run_ok("workflow", "list", "--query", "OrderState='Paid'");
    cr_assert(strstr(list, "order-1"), "%s", list);
    free(list);
    free(run_ok("workflow", "signal", "--workflow-id", "order-1", "--name",
                "pickedUp"));
    wait_status("Picked up");
    free(run_ok("workflow", "signal", "--workflow-id", "order-1", "--name",
                "delivered"));
    /* the rating request is a durable timer: the scheduler inside duro dev
     * fires it as duro-scheduler */
    free(run_ok("workflow", "result", "--workflow-id", "order-1", "--timeout",
                "20s"));
    free(run_ok("workflow", "history", "--workflow-id", "order-1"));

    /* the services wrote their notifications as duro-app */
    redisContext *app = connect_as("app");
    redisReply *r = redisCommand(app, "XLEN food:notifications:order-1");
    cr_assert(r && r->type == REDIS_REPLY_INTEGER && r->integer == 3,
              "notifications: %lld", r ? r->integer : -1);
    freeReplyObject(r);
    /* ... and that user reaches no Duro key */
    r = redisCommand(app, "HGETALL duro:meta");
    cr_assert(r && r->type == REDIS_REPLY_ERROR &&
                  !strncmp(r->str, "NOPERM", 6),
              "duro-app read duro:meta");
    freeReplyObject(r);
    redisFree(app);

    /* what the watch reports: the refusals provoked here, no other */
    redisContext *client = connect_as("client");
    r = redisCommand(client, "FLUSHALL");
    cr_assert(r && r->type == REDIS_REPLY_ERROR &&
                  !strncmp(r->str, "NOPERM", 6),
              "a client user may FLUSHALL");
    freeReplyObject(r);
    redisFree(client);
    cr_assert(duro_test_wait_until(
                  duro_test_log_contains(&h, dev,
                                         "ACL DENIED user=duro-client "
                                         "reason=command object=flushall"),
                  5000),
              "duro dev did not report the refused FLUSHALL");
    duro_test_kill(&h, dev, SIGTERM);
    cr_assert(duro_test_wait_until(
        duro_test_log_contains(&h, dev, "dev server stopped"), 10000));
    char *dev_log = log_of(dev), *worker_log = log_of(w);
    cr_assert(
        strstr(dev_log, "ACL DENIED user=duro-app reason=key object=duro:meta"),
        "%s", dev_log);
    /* its last look, at the stop: those two, and nothing during the order */
    cr_assert(strstr(dev_log, "ACL WATCH denied=2"), "%s", dev_log);

    /* no password in any output */
    for (int i = 0; i < 5; i++) {
        char *pw = password(roles[i]);
        cr_assert_null(strstr(dev_log, pw), "duro dev printed %s's password",
                       roles[i]);
        cr_assert_null(strstr(worker_log, pw), "the worker logged %s's",
                       roles[i]);
        free(pw);
    }
    free(dev_log);
    free(worker_log);
    duro_test_finish(&h);
}

/* A restart keeps the passwords (a shell's DURO_REDIS_PASSWORD_FILE stays
 * good) and makes the users again on the new redis-server. */
Test(dev_acl, a_restart_keeps_the_passwords)
{
    pid_t dev = start_dev();
    char *before = password("client");
    duro_test_kill(&h, dev, SIGTERM);
    cr_assert(duro_test_wait_until(
        duro_test_log_contains(&h, dev, "dev server stopped"), 10000));
    chmod(pw_file("client"), 0644);
    dev = start_dev();
    char *after = password("client");
    cr_assert_str_eq(before, after);
    struct stat st;
    cr_assert_eq(stat(pw_file("client"), &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600, "mode %o", st.st_mode & 0777);
    as_role("client");
    free(run_ok("workflow", "list"));
    free(before);
    free(after);
    duro_test_finish(&h);
}
