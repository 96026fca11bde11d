/* test_acl.c: Duro under least privilege. Redis gets the four users that
 * `duro operator acl` prints (fed to Redis as printed), the default user is
 * switched off, and then worker, scheduler and CLI each run as their own
 * restricted user: through the core scenario (an activity, a timer, a
 * signal, a query), refused what their role does not need, waiting for
 * `duro operator init` when the Functions are missing. Also: no password
 * in any output or log; the metrics endpoint serves its three paths only,
 * on the address it was given. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define QUEUE "test"
#define OBSERVER_PW "observer-Kq2v9"

static duro_test_harness h;
static redisContext *root; /* user "observer": every right, for checks */

static const char *const ROLES[] = {"worker", "scheduler", "client", "admin"};

/* ---- Users ---- */

/* password: role's password; distinct and unlikely to occur by chance. */
static const char *password(const char *role)
{
    static char buf[4][64];
    for (int i = 0; i < 4; i++)
        if (strcmp(ROLES[i], role) == 0) {
            snprintf(buf[i], sizeof(buf[i]), "Pw-%s-7f3a91e", role);
            return buf[i];
        }
    cr_assert_fail("no role %s", role);
    return NULL;
}

static const char *password_file(const char *role)
{
    static char path[4][PATH_MAX + 64];
    int i = 0;
    while (strcmp(ROLES[i], role) != 0)
        i++;
    snprintf(path[i], sizeof(path[i]), "%s/pw-%s", h.dir, role);
    return path[i];
}

/* url: the role's user with its password in the URL. */
static const char *url(const char *role)
{
    static char buf[4][160];
    int i = 0;
    while (strcmp(ROLES[i], role) != 0)
        i++;
    snprintf(buf[i], sizeof(buf[i]), "redis://duro-%s:%s@127.0.0.1:%d", role,
             password(role), h.redis_port);
    return buf[i];
}

static redisContext *connect_as(const char *user, const char *pw)
{
    redisContext *c = redisConnect("127.0.0.1", h.redis_port);
    cr_assert(c && !c->err);
    redisReply *r = redisCommand(c, "AUTH %s %s", user, pw);
    cr_assert(r && r->type == REDIS_REPLY_STATUS, "AUTH %s: %s", user,
              r ? r->str : c->errstr);
    freeReplyObject(r);
    return c;
}

/* create_user writes role's password file and makes its user from the
 * lines `duro operator acl` prints (duro_test_acl_apply), which must not
 * hold the password. */
static void create_user(const char *role)
{
    FILE *f = fopen(password_file(role), "w");
    cr_assert(f);
    fprintf(f, "%s\n", password(role));
    fclose(f);
    duro_test_acl_apply(&h, root, role, password_file(role), password(role));
}

static void setup(void)
{
    duro_test_redis_start(&h);
    root = duro_test_redis(&h);
    redisReply *r = redisCommand(
        root, "ACL SETUSER observer on >%s ~* &* +@all", OBSERVER_PW);
    cr_assert(r && r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);
    redisFree(root);
    root = connect_as("observer", OBSERVER_PW);
    for (int i = 0; i < 4; i++)
        create_user(ROLES[i]);
    /* nothing below may lean on the all-powerful default user */
    r = redisCommand(root, "ACL SETUSER default off");
    cr_assert(r && r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);
    unsetenv("DURO_REDIS_URL");
}

static void fini(void)
{
    if (root) redisFree(root);
    root = NULL;
    duro_test_fini();
}

TestSuite(acl, .init = setup, .fini = fini, .timeout = 120);

/* ---- Helpers ---- */

static void init_as_admin(void)
{
    duro_test_output o;
    duro_test_run(&h, &o, 10000, "duro", "--redis", url("admin"), "operator",
                  "init", NULL);
    cr_assert_eq(o.exit_code, 0, "operator init: %s", o.err);
    cr_assert(strstr(o.out, "duro:meta"), "%s", o.out);
    duro_test_output_free(&o);
}

/* spawn_scheduler: the scheduler role, its password from a file (the URL
 * names the user only). */
static pid_t spawn_scheduler(void)
{
    char u[128];
    snprintf(u, sizeof(u), "redis://duro-scheduler:@127.0.0.1:%d",
             h.redis_port);
    setenv("DURO_REDIS_PASSWORD_FILE", password_file("scheduler"), 1);
    pid_t pid = duro_test_spawn(&h, "duro-scheduler", "--redis", u,
                                "--scan-interval", "100ms", NULL);
    unsetenv("DURO_REDIS_PASSWORD_FILE");
    return pid;
}

static pid_t spawn_worker(const char *metrics_addr)
{
    return duro_test_spawn(&h, "duro-test-worker", "--redis", url("worker"),
                           "--task-queue", QUEUE, "--metrics-addr",
                           metrics_addr, NULL);
}

static void wait_log(pid_t pid, const char *s, int64_t ms)
{
    cr_assert(duro_test_wait_until(duro_test_log_contains(&h, pid, s), ms),
              "pid %d never logged \"%s\"", (int)pid, s);
}

/* CLI runs `duro --redis <role's URL> args...`. */
#define CLI(o, role, ...)                                                      \
    duro_test_run(&h, o, 15000, "duro", "--redis", url(role), __VA_ARGS__, NULL)

/* refused: `role` sends the command and Redis answers NOPERM. */
static void refused(redisContext *c, const char *role, int argc,
                    const char **argv)
{
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    cr_assert(r, "%s %s: no reply", role, argv[0]);
    cr_assert(r->type == REDIS_REPLY_ERROR && !strncmp(r->str, "NOPERM", 6),
              "%s may run %s %s: %s", role, argv[0], argc > 1 ? argv[1] : "",
              r->type == REDIS_REPLY_ERROR ? r->str : "(allowed)");
    freeReplyObject(r);
}

#define REFUSED(c, role, ...)                                                  \
    do {                                                                       \
        const char *argv_[] = {__VA_ARGS__};                                   \
        refused(c, role, (int)(sizeof(argv_) / sizeof(argv_[0])), argv_);      \
    } while (0)

/* acl_log_count: the refusals Redis logged for user (and object, when
 * not NULL), summed over ACL LOG's entries. */
static long long acl_log_count(const char *user, const char *object)
{
    redisReply *r = redisCommand(root, "ACL LOG 128");
    cr_assert(r && r->type == REDIS_REPLY_ARRAY);
    long long n = 0;
    for (size_t i = 0; i < r->elements; i++) {
        redisReply *e = r->element[i];
        const char *u = NULL, *obj = NULL;
        long long count = 0;
        for (size_t j = 0; j + 1 < e->elements; j += 2) {
            const char *k = e->element[j]->str;
            redisReply *v = e->element[j + 1];
            if (!strcmp(k, "username")) u = v->str;
            if (!strcmp(k, "object")) obj = v->str;
            if (!strcmp(k, "count")) count = v->integer;
        }
        if (u && !strcmp(u, user) && (!object || (obj && !strcmp(obj, object))))
            n += count;
    }
    freeReplyObject(r);
    return n;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = '\0';
    fclose(f);
    return s;
}

/* assert_no_password_anywhere: every log and every captured output in the
 * test's directory is free of every role's password. */
static void assert_no_password_anywhere(void)
{
    DIR *d = opendir(h.dir);
    cr_assert(d);
    int scanned = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !strncmp(e->d_name, "pw-", 3) ||
            !(strstr(e->d_name, ".log") || strstr(e->d_name, ".out") ||
              strstr(e->d_name, ".err")))
            continue;
        char path[PATH_MAX + 300];
        snprintf(path, sizeof(path), "%s/%s", h.dir, e->d_name);
        char *s = slurp(path);
        if (!s) continue;
        scanned++;
        for (int i = 0; i < 4; i++)
            cr_assert_null(strstr(s, password(ROLES[i])),
                           "%s holds the %s password:\n%s", e->d_name, ROLES[i],
                           s);
        free(s);
    }
    closedir(d);
    cr_assert_gt(scanned, 3, "scanned only %d files", scanned);
}

/* ---- The core scenario, each component as its own user ---- */

Test(acl, restricted_users_run_the_core_scenario)
{
    init_as_admin();
    char maddr[64];
    snprintf(maddr, sizeof(maddr), "127.0.0.1:%d", duro_test_free_port());
    pid_t s = spawn_scheduler();
    pid_t w = spawn_worker(maddr);
    wait_log(s, "REDIS UP", 10000);
    wait_log(w, "REDIS UP", 10000);

    duro_test_output o;
    CLI(&o, "client", "workflow", "start", "--type", "gate", "--task-queue",
        QUEUE, "--workflow-id", "g1");
    cr_assert_eq(o.exit_code, 0, "start: %s", o.err);
    duro_test_output_free(&o);
    /* the query answers once the activity and the timer are behind it */
    char last[256] = "";
    bool waiting = false;
    for (int i = 0; i < 100 && !waiting; i++) {
        CLI(&o, "client", "workflow", "query", "--workflow-id", "g1", "--name",
            "stage");
        snprintf(last, sizeof(last), "%s%s", o.out, o.err);
        waiting = o.exit_code == 0 && strstr(o.out, "waiting");
        duro_test_output_free(&o);
        if (!waiting) duro_test_sleep_ms(100);
    }
    cr_assert(waiting, "never waiting for the signal; last: %s", last);
    CLI(&o, "client", "workflow", "signal", "--workflow-id", "g1", "--name",
        "open", "--input", "\"go\"");
    cr_assert_eq(o.exit_code, 0, "signal: %s", o.err);
    duro_test_output_free(&o);
    CLI(&o, "client", "-o", "json", "workflow", "result", "--workflow-id", "g1",
        "--timeout", "15s");
    cr_assert_eq(o.exit_code, 0, "result: %s %s", o.out, o.err);
    cJSON *res = cJSON_Parse(o.out);
    cJSON *want = cJSON_Parse("{\"echo\":null,\"signal\":\"go\"}");
    cr_assert(cJSON_Compare(res, want, true), "result %s", o.out);
    cJSON_Delete(res);
    cJSON_Delete(want);
    duro_test_output_free(&o);

    /* signal-with-start, cancel and terminate: the client's other
     * Functions */
    CLI(&o, "client", "workflow", "signal-with-start", "--workflow-id", "g2",
        "--type", "gate", "--task-queue", QUEUE, "--name", "open");
    cr_assert_eq(o.exit_code, 0, "signal-with-start: %s", o.err);
    duro_test_output_free(&o);
    CLI(&o, "client", "workflow", "result", "--workflow-id", "g2", "--timeout",
        "15s");
    cr_assert_eq(o.exit_code, 0, "result g2: %s", o.err);
    duro_test_output_free(&o);
    static const char *const closing[] = {"cancel", "terminate"};
    for (int i = 0; i < 2; i++) {
        CLI(&o, "client", "workflow", "start", "--type", "gate", "--task-queue",
            QUEUE, "--workflow-id", closing[i]);
        cr_assert_eq(o.exit_code, 0, "start: %s", o.err);
        duro_test_output_free(&o);
        CLI(&o, "client", "workflow", closing[i], "--workflow-id", closing[i]);
        cr_assert_eq(o.exit_code, 0, "%s: %s", closing[i], o.err);
        duro_test_output_free(&o);
    }
    /* what else a client user does */
    static const char *const more[][4] = {
        {"workflow", "describe", "--workflow-id", "g1"},
        {"workflow", "history", "--workflow-id", "g1"},
        {"workflow", "list", NULL, NULL},
        {"queue", "stats", NULL, NULL},
    };
    for (size_t i = 0; i < sizeof(more) / sizeof(more[0]); i++) {
        CLI(&o, "client", more[i][0], more[i][1], more[i][2], more[i][3]);
        cr_assert_eq(o.exit_code, 0, "%s %s: %s", more[i][0], more[i][1],
                     o.err);
        duro_test_output_free(&o);
    }
    /* nothing any role did was refused along the way */
    for (int i = 0; i < 4; i++) {
        char user[32];
        snprintf(user, sizeof(user), "duro-%s", ROLES[i]);
        cr_assert_eq(acl_log_count(user, NULL), 0,
                     "Redis refused %s something (ACL LOG)", user);
    }
    duro_test_finish(&h);
}

/* The food order with its worker as the worker role: the simulated card
 * and push services (food:* keys, EVAL) have a user of their own. */
Test(acl, food_order_runs_with_a_restricted_worker)
{
    init_as_admin();
    char services[160];
    snprintf(services, sizeof(services), "redis://observer:%s@127.0.0.1:%d",
             OBSERVER_PW, h.redis_port);
    pid_t s = spawn_scheduler();
    setenv("FOOD_SERVICES_URL", services, 1);
    pid_t w =
        duro_test_spawn(&h, "food-worker", "--redis", url("worker"), NULL);
    unsetenv("FOOD_SERVICES_URL");
    wait_log(s, "REDIS UP", 10000);
    wait_log(w, "REDIS UP", 10000);
    duro_test_output o;
    CLI(&o, "client", "workflow", "start", "--type", "order", "--task-queue",
        "durable-food", "--workflow-id", "order-1", "--input",
        "{\"productId\":2,\"ratingDelay\":\"200ms\"}");
    cr_assert_eq(o.exit_code, 0, "start: %s", o.err);
    duro_test_output_free(&o);
    static const char *const steps[][2] = {{"Paid", "pickedUp"},
                                           {"Picked up", "delivered"}};
    for (int i = 0; i < 2; i++) {
        bool there = false;
        for (int t = 0; t < 100 && !there; t++) {
            CLI(&o, "client", "workflow", "query", "--workflow-id", "order-1",
                "--name", "getStatus");
            there = o.exit_code == 0 && strstr(o.out, steps[i][0]);
            duro_test_output_free(&o);
            if (!there) duro_test_sleep_ms(100);
        }
        cr_assert(there, "order-1 never reached %s", steps[i][0]);
        CLI(&o, "client", "workflow", "signal", "--workflow-id", "order-1",
            "--name", steps[i][1]);
        cr_assert_eq(o.exit_code, 0, "signal: %s", o.err);
        duro_test_output_free(&o);
    }
    CLI(&o, "client", "workflow", "result", "--workflow-id", "order-1",
        "--timeout", "20s");
    cr_assert_eq(o.exit_code, 0, "result: %s %s", o.out, o.err);
    duro_test_output_free(&o);
    /* the services wrote with their own user: the notifications are there */
    redisReply *r = redisCommand(root, "XLEN food:notifications:order-1");
    cr_assert(r && r->type == REDIS_REPLY_INTEGER && r->integer >= 3,
              "notifications: %lld", r ? r->integer : -1);
    freeReplyObject(r);
    cr_assert_eq(acl_log_count("duro-worker", NULL), 0);
    duro_test_finish(&h);
}

/* ---- Namespaces ---- */

/* A namespace under the roles: creating one is admin's (a client user is
 * refused); a worker, the scheduler and a client of that namespace then run
 * the core scenario (an activity, a timer, a query, a signal) each as its
 * restricted user, and Redis refuses them nothing. */
Test(acl, namespace_created_by_admin_runs_under_restricted_roles)
{
    init_as_admin();
    duro_test_output o;
    CLI(&o, "client", "operator", "namespace", "create", "-n", "denied");
    cr_assert_neq(o.exit_code, 0, "a client created a namespace: %s", o.out);
    cr_assert(strstr(o.err, "NOPERM"), "%s", o.err);
    duro_test_output_free(&o);
    CLI(&o, "admin", "operator", "namespace", "create", "-n", "shop",
        "--retention", "1d");
    cr_assert_eq(o.exit_code, 0, "namespace create as admin: %s", o.err);
    duro_test_output_free(&o);
    CLI(&o, "client", "operator", "namespace", "list");
    cr_assert_eq(o.exit_code, 0, "namespace list as client: %s", o.err);
    cr_assert(strstr(o.out, "shop") && !strstr(o.out, "denied"), "%s", o.out);
    duro_test_output_free(&o);
    /* the refused create left nothing behind that stops admin's */
    CLI(&o, "admin", "operator", "namespace", "create", "-n", "denied");
    cr_assert_eq(o.exit_code, 0, "create after a refused one: %s", o.err);
    duro_test_output_free(&o);
    CLI(&o, "client", "operator", "namespace", "list");
    cr_assert(strstr(o.out, "denied"), "%s", o.out);
    duro_test_output_free(&o);

    pid_t s = spawn_scheduler(); /* serves every namespace */
    pid_t w =
        duro_test_spawn(&h, "duro-test-worker", "--redis", url("worker"),
                        "--task-queue", QUEUE, "--namespace", "shop", NULL);
    wait_log(s, "REDIS UP", 10000);
    wait_log(w, "REDIS UP", 10000);
    CLI(&o, "client", "workflow", "start", "-n", "shop", "--type", "gate",
        "--task-queue", QUEUE, "--workflow-id", "ns1");
    cr_assert_eq(o.exit_code, 0, "start in shop: %s", o.err);
    duro_test_output_free(&o);
    bool waiting = false;
    for (int i = 0; i < 100 && !waiting; i++) {
        CLI(&o, "client", "workflow", "query", "-n", "shop", "--workflow-id",
            "ns1", "--name", "stage");
        waiting = o.exit_code == 0 && strstr(o.out, "waiting");
        duro_test_output_free(&o);
        if (!waiting) duro_test_sleep_ms(100);
    }
    cr_assert(waiting, "ns1 never waited for its signal");
    CLI(&o, "client", "workflow", "signal", "-n", "shop", "--workflow-id",
        "ns1", "--name", "open", "--input", "\"go\"");
    cr_assert_eq(o.exit_code, 0, "signal: %s", o.err);
    duro_test_output_free(&o);
    CLI(&o, "client", "workflow", "result", "-n", "shop", "--workflow-id",
        "ns1", "--timeout", "15s");
    cr_assert_eq(o.exit_code, 0, "result: %s %s", o.out, o.err);
    cr_assert(strstr(o.out, "go"), "%s", o.out);
    duro_test_output_free(&o);
    /* it ran in the namespace: default has no such workflow */
    CLI(&o, "client", "workflow", "describe", "--workflow-id", "ns1");
    cr_assert_neq(o.exit_code, 0, "ns1 is in default too: %s", o.out);
    duro_test_output_free(&o);

    /* refused by key: the registry is admin's to write */
    cr_assert_eq(acl_log_count("duro-client", "duro:namespaces"), 1,
                 "the client's namespace create was not the refusal");
    cr_assert_eq(acl_log_count("duro-client", NULL), 1);
    static const char *const others[] = {"duro-worker", "duro-scheduler",
                                         "duro-admin"};
    for (int i = 0; i < 3; i++)
        cr_assert_eq(acl_log_count(others[i], NULL), 0,
                     "Redis refused %s something (ACL LOG)", others[i]);
    duro_test_finish(&h);
}

/* ---- Refusals ---- */

Test(acl, each_role_is_refused_what_it_does_not_need)
{
    init_as_admin();
    redisContext *c = connect_as("duro-client", password("client"));
    REFUSED(c, "client", "FCALL", "duro_wft_complete", "0");
    REFUSED(c, "client", "FCALL", "duro_timer_fire", "0");
    REFUSED(c, "client", "FLUSHALL");
    REFUSED(c, "client", "FUNCTION", "LOAD", "REPLACE", "x");
    REFUSED(c, "client", "KEYS", "*");
    REFUSED(c, "client", "HGET", "otherapp:user:1", "email");
    redisFree(c);

    c = connect_as("duro-worker", password("worker"));
    REFUSED(c, "worker", "FUNCTION", "LOAD", "REPLACE", "x");
    REFUSED(c, "worker", "FUNCTION", "FLUSH");
    REFUSED(c, "worker", "FUNCTION", "DELETE", "duro");
    REFUSED(c, "worker", "FLUSHALL");
    REFUSED(c, "worker", "FLUSHDB");
    REFUSED(c, "worker", "CONFIG", "SET", "maxmemory", "1");
    REFUSED(c, "worker", "KEYS", "*");
    REFUSED(c, "worker", "FCALL", "duro_start", "0");
    REFUSED(c, "worker", "FCALL", "duro_timer_fire", "0");
    REFUSED(c, "worker", "PUBLISH", "otherapp:events", "x");
    redisFree(c);

    c = connect_as("duro-scheduler", password("scheduler"));
    /* it starts a schedule's workflows (duro_start), nothing else a
     * client does */
    REFUSED(c, "scheduler", "FCALL", "duro_signal", "0");
    REFUSED(c, "scheduler", "FCALL", "duro_sched_upsert", "0");
    REFUSED(c, "scheduler", "FCALL", "duro_wft_complete", "0");
    REFUSED(c, "scheduler", "FLUSHALL");
    REFUSED(c, "scheduler", "FUNCTION", "LOAD", "REPLACE", "x");
    REFUSED(c, "scheduler", "SHUTDOWN");
    redisFree(c);

    c = connect_as("duro-admin", password("admin"));
    REFUSED(c, "admin", "FLUSHALL");
    REFUSED(c, "admin", "CONFIG", "GET", "*");
    REFUSED(c, "admin", "KEYS", "*");
    REFUSED(c, "admin", "ACL", "SETUSER", "x", "on");
    redisFree(c);

    /* through the CLI: a worker's user cannot start a workflow, and only
     * admin may init */
    duro_test_output o;
    CLI(&o, "worker", "-o", "json", "workflow", "start", "--type", "gate",
        "--task-queue", QUEUE, "--workflow-id", "x1");
    cr_assert_eq(o.exit_code, 1, "start as worker: %s %s", o.out, o.err);
    cr_assert(strstr(o.err, "PERMISSION_DENIED"), "%s", o.err);
    duro_test_output_free(&o);
    CLI(&o, "scheduler", "operator", "init");
    cr_assert_eq(o.exit_code, 0, "init with the library loaded: %s", o.err);
    duro_test_output_free(&o);
    redisReply *r = redisCommand(root, "FUNCTION DELETE duro");
    freeReplyObject(r);
    CLI(&o, "scheduler", "operator", "init");
    cr_assert_eq(o.exit_code, 1, "init as scheduler: %s", o.out);
    cr_assert(strstr(o.err, "NOPERM") && strstr(o.err, "--role admin"), "%s",
              o.err);
    duro_test_output_free(&o);
    duro_test_finish(&h);
}

/* ---- Missing Functions under a restricted user ---- */

Test(acl, restricted_worker_waits_for_init_without_spinning)
{
    /* no init: the library is missing and only admin may load it */
    pid_t s = spawn_scheduler();
    pid_t w = spawn_worker("");
    wait_log(w, "may not load it", 5000);
    wait_log(s, "may not load it", 5000);
    duro_test_output o;
    CLI(&o, "client", "workflow", "list");
    cr_assert_eq(o.exit_code, 1);
    cr_assert(strstr(o.err, "duro operator init"), "%s", o.err);
    duro_test_output_free(&o);
    duro_test_sleep_ms(3000);
    cr_assert(duro_test_alive(&h, w) && duro_test_alive(&h, s));
    for (int i = 0; i < (int)h.nchildren; i++) {
        if (h.children[i].pid != w && h.children[i].pid != s) continue;
        char *log = slurp(h.children[i].log);
        int n = 0;
        for (const char *p = log; (p = strstr(p, "may not load it")); p++)
            n++;
        cr_assert_eq(n, 1, "%s said it %d times:\n%s", h.children[i].name, n,
                     log);
        free(log);
    }
    /* backing off: a handful of attempts in ~4s, not a spin */
    long long wl = acl_log_count("duro-worker", "function|load");
    long long sl = acl_log_count("duro-scheduler", "function|load");
    cr_assert(wl >= 2 && wl <= 10, "worker tried FUNCTION LOAD %lld times", wl);
    cr_assert(sl >= 2 && sl <= 10, "scheduler tried it %lld times", sl);

    init_as_admin();
    wait_log(w, "REDIS UP", 15000);
    wait_log(s, "REDIS UP", 15000);
    CLI(&o, "client", "workflow", "start", "--type", "activities",
        "--task-queue", QUEUE, "--workflow-id", "a1", "--input", "{\"n\":1}");
    cr_assert_eq(o.exit_code, 0, "start: %s", o.err);
    duro_test_output_free(&o);
    CLI(&o, "client", "workflow", "result", "--workflow-id", "a1", "--timeout",
        "15s");
    cr_assert_eq(o.exit_code, 0, "result: %s", o.err);
    cr_assert(strstr(o.out, "\"echoed\":[0]"), "%s", o.out);
    duro_test_output_free(&o);
    duro_test_finish(&h);
}

/* The library vanishes under running restricted components (Redis lost
 * it): their reload is refused, said once, and asked again every 5s at
 * most, not on every failing call; an admin's init brings them back. */
Test(acl, library_lost_at_run_time_is_reloaded_by_init_only)
{
    init_as_admin();
    pid_t s = spawn_scheduler();
    pid_t w = spawn_worker("");
    wait_log(s, "REDIS UP", 10000);
    wait_log(w, "REDIS UP", 10000);
    duro_test_output o;
    CLI(&o, "client", "workflow", "start", "--type", "sleep", "--task-queue",
        QUEUE, "--workflow-id", "s1", "--input", "{\"ms\":3000}");
    cr_assert_eq(o.exit_code, 0, "start: %s", o.err);
    duro_test_output_free(&o);
    /* the timer is set; then, before it is due, Redis loses the library */
    bool started = false;
    for (int t = 0; t < 100 && !started; t++) {
        CLI(&o, "client", "workflow", "history", "--workflow-id", "s1");
        started = strstr(o.out, "TimerStarted") != NULL;
        duro_test_output_free(&o);
        if (!started) duro_test_sleep_ms(20);
    }
    cr_assert(started, "no TimerStarted in s1's history");
    redisReply *r = redisCommand(root, "FUNCTION DELETE duro");
    cr_assert(r && r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);
    wait_log(s, "FUNCTIONS LOAD REFUSED", 10000);
    duro_test_sleep_ms(3000); /* the scheduler retries the fire meanwhile */
    long long loads = acl_log_count("duro-scheduler", "function|load");
    cr_assert(loads >= 1 && loads <= 2,
              "the scheduler asked for FUNCTION LOAD %lld times in ~3s", loads);
    init_as_admin();
    CLI(&o, "client", "workflow", "result", "--workflow-id", "s1", "--timeout",
        "20s");
    cr_assert_eq(o.exit_code, 0, "result: %s", o.err);
    duro_test_output_free(&o);
    duro_test_finish(&h);
}

/* ---- Secrets ---- */

Test(acl, no_password_in_any_output_or_log)
{
    init_as_admin();
    char maddr[64];
    int mport = duro_test_free_port();
    snprintf(maddr, sizeof(maddr), "127.0.0.1:%d", mport);
    pid_t s = spawn_scheduler();
    pid_t w = spawn_worker(maddr);
    wait_log(s, "REDIS UP", 10000);
    wait_log(w, "REDIS UP", 10000);
    duro_test_output o;
    /* help, a bad URL, a wrong password, a refused command: every place a
     * URL or a credential could be echoed */
    duro_test_run(&h, &o, 10000, "duro-test-worker", "--redis", url("worker"),
                  "--help", NULL);
    cr_assert(strstr(o.out, "duro-worker:***@") || strstr(o.err, ":***@"),
              "help shows no redacted URL: %s%s", o.out, o.err);
    duro_test_output_free(&o);
    char bad[200];
    snprintf(bad, sizeof(bad), "redis://duro-client:%s@127.0.0.1:99999",
             password("client"));
    duro_test_run(&h, &o, 10000, "duro", "--redis", bad, "workflow", "list",
                  NULL);
    cr_assert_eq(o.exit_code, 2); /* a bad URL is a usage error */
    cr_assert(strstr(o.err, ":***@"), "%s", o.err);
    duro_test_output_free(&o);
    duro_test_run(&h, &o, 10000, "duro-scheduler", "--redis", bad, NULL);
    cr_assert_neq(o.exit_code, 0);
    duro_test_output_free(&o);
    snprintf(bad, sizeof(bad), "redis://duro-client:%s@127.0.0.1:%d",
             password("worker"), h.redis_port);
    duro_test_run(&h, &o, 10000, "duro", "--redis", bad, "workflow", "list",
                  NULL);
    cr_assert_eq(o.exit_code, 1);
    cr_assert(strstr(o.err, "WRONGPASS"), "%s", o.err);
    duro_test_output_free(&o);
    duro_test_run(&h, &o, 10000, "duro-test-worker", "--redis", bad,
                  "--task-queue", QUEUE, NULL);
    cr_assert_neq(o.exit_code, 0);
    duro_test_output_free(&o);
    CLI(&o, "scheduler", "schedule", "create", "--schedule-id", "x1",
        "--interval", "1m", "--type", "gate", "--task-queue", QUEUE);
    cr_assert_eq(o.exit_code, 1);
    cr_assert(strstr(o.err, "NOPERM"), "%s", o.err);
    duro_test_output_free(&o);
    char body[16384];
    cr_assert_eq(duro_test_http_get(mport, "/metrics", body, sizeof(body)),
                 200);
    for (int i = 0; i < 4; i++)
        cr_assert_null(strstr(body, password(ROLES[i])));
    /* their last lines too: stop them, then read every log */
    duro_test_kill(&h, s, SIGTERM);
    duro_test_kill(&h, w, SIGTERM);
    cr_assert(duro_test_wait_until(
        !duro_test_alive(&h, s) && !duro_test_alive(&h, w), 10000));
    assert_no_password_anywhere();
    duro_test_finish(&h);
}

/* ---- The metrics endpoint ---- */

/* listening_on: /proc/net/tcp's listening socket on port, as hex
 * "ADDR:PORT" of its local address, into out. */
static bool listening_on(int port, char *out, size_t size)
{
    FILE *f = fopen("/proc/net/tcp", "r");
    if (!f) return false;
    char line[512];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f)) {
        /* "  N: LOCAL REMOTE ST ..." with ST 0A for LISTEN */
        char local[64], remote[64], st[8];
        if (sscanf(line, " %*d: %63s %63s %7s", local, remote, st) != 3)
            continue;
        const char *colon = strchr(local, ':');
        if (!strcmp(st, "0A") && colon && strtol(colon + 1, NULL, 16) == port) {
            snprintf(out, size, "%s", local);
            found = true;
        }
    }
    fclose(f);
    return found;
}

Test(acl, metrics_serve_only_metrics_and_health_on_the_given_address)
{
    init_as_admin();
    int mport = duro_test_free_port();
    char maddr[64];
    snprintf(maddr, sizeof(maddr), "127.0.0.1:%d", mport);
    pid_t w = spawn_worker(maddr);
    wait_log(w, "HTTP LISTEN", 10000);
    char local[64];
    cr_assert(listening_on(mport, local, sizeof(local)));
    cr_assert(strncmp(local, "0100007F:", 9) == 0, "bound to %s, not 127.0.0.1",
              local);
    cr_assert(duro_test_wait_until(
        duro_test_http_get(mport, "/readyz", NULL, 0) == 200, 10000));
    cr_assert_eq(duro_test_http_get(mport, "/metrics", NULL, 0), 200);
    cr_assert_eq(duro_test_http_get(mport, "/healthz", NULL, 0), 200);
    static const char *const others[] = {"/",
                                         "/metrics/",
                                         "/metrics/../healthz",
                                         "/admin",
                                         "/debug/pprof",
                                         "/api/v1/workflows",
                                         "/favicon.ico",
                                         "/healthz?x=../..",
                                         "/.env",
                                         "/readyz/x"};
    char body[4096];
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        int code = duro_test_http_get(mport, others[i], body, sizeof(body));
        /* a query string is not part of the path: /healthz?x answers */
        int want = strncmp(others[i], "/healthz?", 9) == 0 ? 200 : 404;
        cr_assert_eq(code, want, "GET %s answered %d:\n%s", others[i], code,
                     body);
    }
    duro_test_finish(&h);
}

/* Asynchronous completion under the restricted roles: the worker parks
 * the pending task (XCLAIM), the client completes it (duro_act_complete,
 * duro_act_heartbeat). */
Test(acl, async_activity_completed_by_the_client_role)
{
    init_as_admin();
    pid_t s = spawn_scheduler();
    pid_t w =
        duro_test_spawn(&h, "samples-worker", "--redis", url("worker"), NULL);
    wait_log(s, "REDIS UP", 10000);
    wait_log(w, "REDIS UP", 10000);
    duro_test_output o;
    CLI(&o, "client", "workflow", "start", "--type", "approval", "--task-queue",
        "samples", "--workflow-id", "ap1", "--input", "null");
    cr_assert_eq(o.exit_code, 0, "start: %s", o.err);
    duro_test_output_free(&o);
    wait_log(w, "ACT-ASYNC", 10000);
    CLI(&o, "client", "activity", "heartbeat", "--workflow-id", "ap1",
        "--activity-id", "1");
    cr_assert_eq(o.exit_code, 0, "heartbeat: %s", o.err);
    duro_test_output_free(&o);
    CLI(&o, "client", "activity", "complete", "--workflow-id", "ap1",
        "--activity-id", "1", "--result", "\"yes\"");
    cr_assert_eq(o.exit_code, 0, "complete: %s", o.err);
    duro_test_output_free(&o);
    CLI(&o, "client", "workflow", "result", "--workflow-id", "ap1", "--timeout",
        "15s");
    cr_assert_eq(o.exit_code, 0, "result: %s", o.err);
    cr_assert(strstr(o.out, "yes"), "%s", o.out);
    duro_test_output_free(&o);
    for (int i = 0; i < 4; i++) {
        char user[32];
        snprintf(user, sizeof(user), "duro-%s", ROLES[i]);
        cr_assert_eq(acl_log_count(user, NULL), 0,
                     "Redis refused %s something (ACL LOG)", user);
    }
    duro_test_finish(&h);
}
