/* test_namespaces.c: namespaces: the registry and `duro operator
 * namespace`, isolation (the same workflow id in two namespaces, a worker
 * of one never runs the other's tasks), the defaults ($DURO_NAMESPACE, else
 * `default`), the upgrade path (data written before namespaces is
 * default's) and a scheduler that finds a new namespace without a restart.
 *
 * Workflows meant to stay RUNNING go to task queue "nobody". */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/fcall.h"
#include "duro/keys.h"
#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    unsetenv("DURO_NAMESPACE");
    duro_test_redis_start(&h);
}

TestSuite(namespaces, .init = setup, .fini = duro_test_fini, .timeout = 90);

#define RUN_MS 10000

static duro_client *ns_client(const char *ns)
{
    duro_client *c = NULL;
    char err[256];
    duro_client_opts o = {.namespace_ = ns};
    int rc = duro_client_new_opts(&c, &o, err, sizeof(err));
    cr_assert_eq(rc, 0, "client for %s: %s", ns ? ns : "(default)", err);
    return c;
}

static void cli_ok(duro_test_output *o, const char *what)
{
    cr_assert_eq(o->exit_code, 0, "%s: exit %d: %s%s", what, o->exit_code,
                 o->out, o->err);
}

static long long exists(redisContext *r, const char *key)
{
    redisReply *x = redisCommand(r, "EXISTS %s", key);
    long long n = x ? x->integer : -1;
    freeReplyObject(x);
    return n;
}

static cJSON *describe_json(duro_client *c, const char *id)
{
    cJSON *d = NULL;
    int rc = duro_client_describe(c, id, &d);
    cr_assert_eq(rc, 0, "describe %s: %s", id, duro_client_errstr(c));
    return d;
}

/* ---- The registry ---- */

Test(namespaces, operator_commands)
{
    duro_test_output o;
    duro_test_run(&h, &o, RUN_MS, "duro", "operator", "namespace", "create",
                  "-n", "shop", "--retention", "30d", "--description", "orders",
                  NULL);
    cli_ok(&o, "create");
    duro_test_output_free(&o);
    duro_test_run(&h, &o, RUN_MS, "duro", "operator", "namespace", "create",
                  "--namespace", "shop", NULL);
    cr_assert_eq(o.exit_code, 1, "create twice: %s", o.err);
    cr_assert(strstr(o.err, "already exists"), "%s", o.err);
    duro_test_output_free(&o);
    duro_test_run(&h, &o, RUN_MS, "duro", "operator", "namespace", "create",
                  "-n", "bad:name", NULL);
    cr_assert_eq(o.exit_code, 2, "bad name: %s", o.err);
    duro_test_output_free(&o);

    duro_test_run(&h, &o, RUN_MS, "duro", "operator", "namespace", "describe",
                  "-n", "shop", "-o", "json", NULL);
    cli_ok(&o, "describe");
    cJSON *d = cJSON_Parse(o.out);
    cr_assert_not_null(d, "%s", o.out);
    cr_assert_str_eq(duro_test_str(d, "retention"), "30d");
    cr_assert_str_eq(duro_test_str(d, "description"), "orders");
    cr_assert_eq(duro_test_num(d, "runningWorkflows", -1), 0);
    cJSON_Delete(d);
    duro_test_output_free(&o);

    /* default exists without having been created, with 72h */
    duro_test_run(&h, &o, RUN_MS, "duro", "operator", "namespace", "describe",
                  "-n", "default", "-o", "json", NULL);
    cli_ok(&o, "describe default");
    d = cJSON_Parse(o.out);
    cr_assert_str_eq(duro_test_str(d, "retention"), "3d");
    cJSON_Delete(d);
    duro_test_output_free(&o);
    duro_test_run(&h, &o, RUN_MS, "duro", "operator", "namespace", "describe",
                  "-n", "nosuch", NULL);
    cr_assert_eq(o.exit_code, 1, "describe unknown: %s", o.err);
    duro_test_output_free(&o);

    duro_test_run(&h, &o, RUN_MS, "duro", "operator", "namespace", "update",
                  "-n", "shop", "--retention", "1h", NULL);
    cli_ok(&o, "update");
    duro_test_output_free(&o);
    duro_test_run(&h, &o, RUN_MS, "duro", "operator", "namespace", "list",
                  NULL);
    cli_ok(&o, "list");
    char *def = strstr(o.out, "default"), *shop = strstr(o.out, "shop");
    cr_assert(def && shop && def < shop, "%s", o.out);
    cr_assert(strstr(o.out, "1h"), "%s", o.out);
    duro_test_output_free(&o);

    duro_test_run(&h, &o, RUN_MS, "duro", "operator", "namespace", "delete",
                  "-n", "default", NULL);
    cr_assert_eq(o.exit_code, 2, "delete default: %s", o.err);
    duro_test_output_free(&o);
    duro_test_finish(&h);
}

/* A namespace with a running workflow is deleted only with --force, and
 * then none of its keys stay; another namespace's keys are untouched. */
Test(namespaces, delete_refuses_running_then_force_drops_keys)
{
    duro_client *c = duro_test_client(&h);
    cr_assert_eq(duro_client_namespace_create(c, "gone", 0, NULL), 0, "%s",
                 duro_client_errstr(c));
    duro_client *g = ns_client("gone");
    duro_test_start(g, "w1", "activities", "nobody", NULL, 0);
    duro_test_start(c, "w1", "activities", "nobody", NULL, 0);
    duro_test_output o;
    duro_test_run(&h, &o, RUN_MS, "duro", "operator", "namespace", "delete",
                  "-n", "gone", NULL);
    cr_assert_eq(o.exit_code, 2, "delete with a running workflow: %s", o.err);
    cr_assert(strstr(o.err, "1 running"), "%s", o.err);
    duro_test_output_free(&o);
    duro_test_run(&h, &o, RUN_MS, "duro", "operator", "namespace", "delete",
                  "-n", "gone", "--force", NULL);
    cli_ok(&o, "delete --force");
    duro_test_output_free(&o);
    redisContext *r = duro_test_redis(&h);
    redisReply *k = redisCommand(r, "KEYS duro:ns:gone:*");
    cr_assert_eq(k->elements, 0, "keys left: %zu", k->elements);
    freeReplyObject(k);
    k = redisCommand(r, "SISMEMBER %s gone", DURO_NAMESPACES_KEY);
    cr_assert_eq(k->integer, 0);
    freeReplyObject(k);
    cJSON *d = describe_json(c, "w1"); /* default's is still there */
    cr_assert_str_eq(duro_test_str(d, "status"), "RUNNING");
    cJSON_Delete(d);
    redisFree(r);
    duro_client_free(g);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* ---- Isolation ---- */

/* The same id in two namespaces is two workflows; a worker of namespace a
 * runs a's task only, and default's waits for a default worker. */
Test(namespaces, same_id_two_namespaces_and_workers_stay_in_theirs)
{
    duro_client *c = duro_test_client(&h);
    cr_assert_eq(duro_client_namespace_create(c, "a", 0, NULL), 0);
    duro_client *a = ns_client("a");
    cr_assert_str_eq(duro_client_namespace(a), "a");
    duro_test_start(a, "same", "activities", "test", "{\"n\":1}", 0);
    duro_test_start(c, "same", "activities", "test", "{\"n\":2}", 0);
    duro_test_spawn(&h, "duro-test-worker", "--namespace", "a", NULL);

    cJSON *d = duro_test_result(a, "same", 20000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    char *res = cJSON_PrintUnformatted(cJSON_GetObjectItem(d, "result"));
    cr_assert_str_eq(res, "{\"echoed\":[0]}");
    free(res);
    cJSON_Delete(d);
    /* a's worker polled long enough: default's task is not its to take */
    duro_test_sleep_ms(500);
    d = describe_json(c, "same");
    cr_assert_str_eq(duro_test_str(d, "status"), "RUNNING");
    cJSON_Delete(d);

    duro_test_spawn(&h, "duro-test-worker", NULL);
    d = duro_test_result(c, "same", 20000);
    res = cJSON_PrintUnformatted(cJSON_GetObjectItem(d, "result"));
    cr_assert_str_eq(res, "{\"echoed\":[0,1]}");
    free(res);
    cJSON_Delete(d);

    /* lists are per namespace too */
    cJSON *l = NULL;
    cr_assert_eq(duro_client_list(a, NULL, NULL, 0, &l), 0);
    cr_assert_eq(cJSON_GetArraySize(l), 1);
    cJSON_Delete(l);
    duro_client_free(a);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* A scheduler started before a namespace existed serves it once it is
 * created: a workflow timer in it fires. */
/* A worker of an unknown namespace stops at once, saying why. */
Test(namespaces, worker_refuses_an_unknown_namespace)
{
    duro_client_free(duro_test_client(&h)); /* the layout exists */
    duro_test_output o;
    duro_test_run(&h, &o, RUN_MS, "duro-test-worker", "--namespace", "nope",
                  NULL);
    cr_assert_neq(o.exit_code, 0, "%s", o.err);
    cr_assert(strstr(o.err, "namespace nope not found"), "%s", o.err);
    duro_test_output_free(&o);
    duro_test_finish(&h);
}

Test(namespaces, scheduler_finds_a_new_namespace)
{
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "200ms", NULL);
    duro_test_sleep_ms(300);
    duro_client *c = duro_test_client(&h);
    cr_assert_eq(duro_client_namespace_create(c, "late", 0, NULL), 0);
    duro_client *l = ns_client("late");
    duro_test_spawn(&h, "duro-test-worker", "--namespace", "late", NULL);
    duro_test_start(l, "nap", "sleep", "test", "{\"ms\":200}", 0);
    cJSON *d = duro_test_result(l, "nap", 20000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cJSON_Delete(d);
    duro_client_free(l);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* duro-scheduler --namespace a serves a only: default's timer waits. */
Test(namespaces, scheduler_namespace_flag_restricts_it)
{
    duro_client *c = duro_test_client(&h);
    cr_assert_eq(duro_client_namespace_create(c, "a", 0, NULL), 0);
    duro_client *a = ns_client("a");
    duro_test_spawn(&h, "duro-scheduler", "--namespace", "a", NULL);
    duro_test_spawn(&h, "duro-test-worker", "--namespace", "a", NULL);
    duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_test_start(a, "nap", "sleep", "test", "{\"ms\":100}", 0);
    duro_test_start(c, "nap", "sleep", "test", "{\"ms\":100}", 0);
    cJSON *d = duro_test_result(a, "nap", 20000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cJSON_Delete(d);
    duro_test_sleep_ms(1200); /* past the timer and a scan */
    d = describe_json(c, "nap");
    cr_assert_str_eq(duro_test_str(d, "status"), "RUNNING");
    cJSON_Delete(d);
    duro_client_free(a);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* ---- Defaults ---- */

Test(namespaces, cli_defaults_to_env_then_default)
{
    redisContext *r = duro_test_redis(&h);
    int p = duro_partition_of("env-1", DURO_DEFAULT_PARTITIONS);
    duro_client_free(duro_test_client(&h)); /* the layout exists */
    char key[128];
    setenv("DURO_NAMESPACE", "envns", 1);
    duro_test_output o;
    /* an unknown namespace is refused, as Temporal refuses one */
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "start", "-w", "env-1",
                  "--type", "activities", "--task-queue", "nobody", NULL);
    cr_assert_eq(o.exit_code, 1, "unknown namespace: %s", o.out);
    cr_assert(strstr(o.err, "namespace envns not found"), "%s", o.err);
    duro_test_output_free(&o);
    duro_test_run(&h, &o, RUN_MS, "duro", "operator", "namespace", "create",
                  "-n", "envns", NULL);
    cli_ok(&o, "create envns");
    duro_test_output_free(&o);
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "start", "-w", "env-1",
                  "--type", "activities", "--task-queue", "nobody", NULL);
    cli_ok(&o, "start under $DURO_NAMESPACE");
    duro_test_output_free(&o);
    snprintf(key, sizeof(key), "duro:ns:envns:{p%d}:wf:env-1", p);
    cr_assert_eq(exists(r, key), 1, "%s", key);
    /* -n wins over the environment */
    duro_test_run(&h, &o, RUN_MS, "duro", "-n", "default", "workflow", "start",
                  "-w", "env-1", "--type", "activities", "--task-queue",
                  "nobody", NULL);
    cli_ok(&o, "start -n default");
    duro_test_output_free(&o);
    unsetenv("DURO_NAMESPACE");
    snprintf(key, sizeof(key), "duro:{p%d}:wf:env-1", p);
    cr_assert_eq(exists(r, key), 1, "%s", key);
    /* and without either, the client library is default's */
    duro_client *c = duro_test_client(&h);
    cr_assert_str_eq(duro_client_namespace(c), "default");
    duro_client_free(c);
    setenv("DURO_NAMESPACE", "bad:ns", 1);
    char err[256];
    cr_assert_eq(duro_client_new_opts(&c, NULL, err, sizeof(err)), DURO_EINVAL);
    unsetenv("DURO_NAMESPACE");
    redisFree(r);
    duro_test_finish(&h);
}

/* ---- Upgrade ---- */

/* fcall_old_start starts a workflow with an FCALL shaped as Duro did
 * before namespaces: literal key names, no retention argument. */
static void fcall_old_start(redisContext *r, const char *id, const char *run)
{
    int p = duro_partition_of(id, DURO_DEFAULT_PARTITIONS);
    char k[8][160], data[256];
    const char *kinds[8] = {"wf",     "h",  "buf",      "wft",
                            "timers", "pa", "idx:open", "idx:closed"};
    for (int i = 0; i < 8; i++) {
        if (i == 1)
            snprintf(k[i], sizeof(k[i]), "duro:{p%d}:h:%s:%s", p, id, run);
        else if (i == 0 || i == 2 || i == 5)
            snprintf(k[i], sizeof(k[i]), "duro:{p%d}:%s:%s", p, kinds[i], id);
        else if (i == 3)
            snprintf(k[i], sizeof(k[i]), "duro:{p%d}:wft:test", p);
        else
            snprintf(k[i], sizeof(k[i]), "duro:{p%d}:%s", p, kinds[i]);
    }
    snprintf(data, sizeof(data),
             "{\"type\":\"activities\",\"taskQueue\":\"test\",\"input\":"
             "{\"n\":1},\"runId\":\"%s\",\"executionTimeoutMs\":0}",
             run);
    redisReply *x = redisCommand(
        r,
        "FCALL duro_start 8 %s %s %s %s %s %s %s %s %s %s %s %s %s %s 0 10000",
        k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], id, run, "activities",
        "test", "{\"n\":1}", data);
    cr_assert(x && x->type == REDIS_REPLY_STRING, "old start: %s",
              x && x->str ? x->str : "?");
    freeReplyObject(x);
}

Test(namespaces, data_from_before_namespaces_is_defaults)
{
    duro_client *c = duro_test_client(&h); /* the layout and Functions */
    redisContext *r = duro_test_redis(&h);
    fcall_old_start(r, "old-1", "11111111-1111-4111-8111-111111111111");
    redisReply *x = redisCommand(r, "EXISTS %s", DURO_NAMESPACES_KEY);
    cr_assert_eq(x->integer, 0, "no registry yet");
    freeReplyObject(x);

    duro_test_output o;
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "describe", "-w", "old-1",
                  NULL);
    cli_ok(&o, "describe without -n");
    cr_assert(strstr(o.out, "RUNNING"), "%s", o.out);
    duro_test_output_free(&o);
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "list", "-n", "default",
                  NULL);
    cli_ok(&o, "list -n default");
    cr_assert(strstr(o.out, "old-1"), "%s", o.out);
    duro_test_output_free(&o);
    duro_test_run(&h, &o, RUN_MS, "duro", "workflow", "describe", "-w", "old-1",
                  "-n", "other", NULL);
    cr_assert_eq(o.exit_code, 1, "another namespace has no old-1: %s", o.out);
    duro_test_output_free(&o);

    /* a default worker (no --namespace) completes it */
    duro_test_spawn(&h, "duro-test-worker", NULL);
    cJSON *d = duro_test_result(c, "old-1", 20000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cJSON_Delete(d);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* A run closed before retention existed has no expiry (the older library
 * set none): the sweep removes it all the same once default's retention
 * passed. */
Test(namespaces, runs_closed_before_retention_are_swept)
{
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    fcall_old_start(r, "old-2", "22222222-2222-4222-8222-222222222222");
    duro_test_spawn(&h, "duro-test-worker", NULL);
    cJSON *d = duro_test_result(c, "old-2", 20000);
    cJSON_Delete(d);
    int p = duro_partition_of("old-2", DURO_DEFAULT_PARTITIONS);
    redisReply *x = redisCommand(r, "PERSIST duro:{p%d}:wf:old-2",
                                 p); /* as an older library left it */
    freeReplyObject(x);
    x = redisCommand(
        r, "PERSIST duro:{p%d}:h:old-2:22222222-2222-4222-8222-222222222222",
        p);
    freeReplyObject(x);
    cr_assert_eq(duro_client_namespace_update(c, "default", 1000, NULL), 0);
    duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "200ms", NULL);
    char wf[64];
    snprintf(wf, sizeof(wf), "duro:{p%d}:wf:old-2", p);
    bool gone = duro_test_wait_until(exists(r, wf) == 0, 8000);
    cr_assert(gone, "the old closed run was not swept");
    x = redisCommand(r,
                     "EXISTS duro:{p%d}:h:old-2:22222222-2222-4222-8222-"
                     "222222222222",
                     p);
    cr_assert_eq(x->integer, 0);
    freeReplyObject(x);
    x = redisCommand(r, "ZSCORE duro:{p%d}:idx:closed old-2", p);
    cr_assert_eq(x->type, REDIS_REPLY_NIL);
    freeReplyObject(x);
    redisFree(r);
    duro_client_free(c);
    duro_test_finish(&h);
}
