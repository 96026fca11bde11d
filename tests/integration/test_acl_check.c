/* test_acl_check.c: `duro operator init` checks the Duro users' ACL grants
 * against this build's rules before it loads the Functions library: a user
 * that lacks one stops it, changing nothing (no library, no duro:meta);
 * users that are not Duro's are left alone; --skip-acl-check loads anyway;
 * an admin user that may not ask is warned about, not trusted silently. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static duro_test_harness h;
static redisContext *root; /* the default user: every right */

#define TAG "c41"

/* acl sends fmt (one %s: arg) as redis-cli would. */
static void acl(const char *fmt, const char *arg)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), fmt, arg);
    duro_test_acl_send(root, cmd);
}

/* apply_as: role's rule for user without the word drop (NULL: whole). */
static void apply_as(const char *role, const char *user, const char *drop)
{
    char *line = duro_test_acl_rule(&h, role, user, drop);
    duro_test_acl_send(root, line);
    free(line);
}

static void setup(void)
{
    duro_test_redis_start(&h);
    root = duro_test_redis(&h);
    duro_test_acl_users(&h, root, TAG);
    unsetenv("DURO_REDIS_URL");
    unsetenv("DURO_PARTITIONS");
}

static void fini(void)
{
    if (root) redisFree(root);
    root = NULL;
    duro_test_fini();
}

TestSuite(acl_check, .init = setup, .fini = fini, .timeout = 120);

/* ---- Helpers ---- */

static void init(duro_test_output *o, const char *a1, const char *a2)
{
    duro_test_acl_init(&h, o, TAG, 20000, a1, a2);
}

static bool library_loaded(void)
{
    return duro_test_library_loaded(root);
}

static bool meta_exists(void)
{
    redisReply *r = redisCommand(root, "EXISTS duro:meta");
    cr_assert(r && r->type == REDIS_REPLY_INTEGER);
    bool yes = r->integer == 1;
    freeReplyObject(r);
    return yes;
}

/* json_of: the one JSON object of text (the caller frees). */
static cJSON *json_of(const char *text)
{
    cJSON *v = cJSON_Parse(text);
    cr_assert(v, "not JSON: %s", text);
    return v;
}

/* assert_stopped: init exited non-zero and changed nothing. */
static void assert_stopped(const duro_test_output *o)
{
    cr_assert_neq(o->exit_code, 0, "init went on: %s", o->out);
    cr_assert(!library_loaded(), "the library was loaded");
    cr_assert(!meta_exists(), "duro:meta was created");
}

/* ---- Users of this build's rules ---- */

Test(acl_check, users_of_this_build_pass_and_others_are_left_alone)
{
    /* an application's users: its own keys with every command; every
     * key with every command but FCALL */
    acl("ACL SETUSER food on >%s ~food:* &* +@all", "food-pw");
    acl("ACL SETUSER nofcall on >%s ~* &* +@all -fcall -fcall_ro", "nf-pw");
    /* a dashboard's: reads duro: keys, calls duro_version, writes none */
    acl("ACL SETUSER reader on >rd-pw %s +@all", "%R~duro:*");
    duro_test_output o;
    init(&o, "-o", "json");
    cr_assert_eq(o.exit_code, 0, "init: %s", o.err);
    cJSON *v = json_of(o.out);
    cr_assert_str_eq(duro_test_str(v, "aclCheck"), "passed", "%s", o.out);
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(v, "functionsLoaded")));
    cJSON_Delete(v);
    cr_assert(library_loaded());
    cr_assert(meta_exists());
    cr_assert_null(strstr(o.err, "food"), "%s", o.err);
    cr_assert_null(strstr(o.err, "reader"), "%s", o.err);
    cr_assert_null(strstr(o.err, "warning"), "%s", o.err);
    duro_test_output_free(&o);
}

/* ---- A user that lacks a grant ---- */

Test(acl_check, worker_without_hlen_stops_init_before_anything_changes)
{
    acl("ACL SETUSER %s -hlen", "duro-worker");
    duro_test_output o;
    init(&o, NULL, NULL);
    assert_stopped(&o);
    cr_assert(strstr(o.err, "user duro-worker (role worker) lacks: hlen"), "%s",
              o.err);
    cr_assert(strstr(o.err, "duro operator acl --role worker --user "
                            "duro-worker --password-file"),
              "%s", o.err);
    cr_assert(strstr(o.err, "ACL SAVE"), "%s", o.err);
    cr_assert(strstr(o.err, "--skip-acl-check"), "%s", o.err);
    /* no other user is reported: scheduler, client, admin, default */
    cr_assert_null(strstr(o.err, "duro-client"), "%s", o.err);
    cr_assert_null(strstr(o.err, "default"), "%s", o.err);
    duro_test_output_free(&o);
}

Test(acl_check, findings_are_data_with_json_output)
{
    acl("ACL SETUSER %s -hlen -xlen", "duro-worker");
    duro_test_output o;
    init(&o, "-o", "json");
    assert_stopped(&o);
    cJSON *v = json_of(o.err);
    const cJSON *e = cJSON_GetObjectItem(v, "error");
    cr_assert_str_eq(duro_test_str(e, "code"), "PERMISSION_DENIED");
    const cJSON *users = cJSON_GetObjectItem(e, "aclUsers");
    cr_assert_eq(cJSON_GetArraySize(users), 1, "%s", o.err);
    const cJSON *u = cJSON_GetArrayItem(users, 0);
    cr_assert_str_eq(duro_test_str(u, "user"), "duro-worker");
    cr_assert_str_eq(duro_test_str(u, "role"), "worker");
    const cJSON *missing = cJSON_GetObjectItem(u, "missing");
    cr_assert_eq(cJSON_GetArraySize(missing), 2, "%s", o.err);
    cr_assert_str_eq(duro_test_str(cJSON_GetArrayItem(missing, 0), "grant"),
                     "hlen");
    cr_assert_str_eq(duro_test_str(cJSON_GetArrayItem(missing, 1), "grant"),
                     "xlen");
    cr_assert(
        strstr(duro_test_str(cJSON_GetArrayItem(missing, 0), "why"), "hlen"));
    cJSON_Delete(v);
    duro_test_output_free(&o);
}

Test(acl_check, a_user_named_otherwise_is_judged_by_its_functions)
{
    apply_as("scheduler", "timers-a", "+fcall|duro_timer_fire");
    duro_test_output o;
    init(&o, NULL, NULL);
    assert_stopped(&o);
    cr_assert(strstr(o.err, "user timers-a (role scheduler) lacks: "
                            "fcall|duro_timer_fire\n"),
              "%s", o.err);
    /* named otherwise, it may hold rights of its own: the fix adds what
     * it lacks rather than resetting it to the role's rule */
    cr_assert(strstr(o.err, "  redis-cli ACL SETUSER timers-a "
                            "'+fcall|duro_timer_fire'\n"),
              "%s", o.err);
    duro_test_output_free(&o);
}

Test(acl_check, a_user_lacking_the_channels_is_reported)
{
    acl("ACL SETUSER %s resetchannels", "duro-scheduler");
    duro_test_output o;
    init(&o, NULL, NULL);
    assert_stopped(&o);
    cr_assert(strstr(o.err, "user duro-scheduler (role scheduler) lacks: "
                            "publish spublish subscribe\n"),
              "%s", o.err);
    duro_test_output_free(&o);
}

/* ---- Going on anyway ---- */

Test(acl_check, skip_acl_check_loads_anyway_with_a_warning)
{
    acl("ACL SETUSER %s -hlen", "duro-worker");
    duro_test_output o;
    init(&o, "--skip-acl-check", NULL);
    cr_assert_eq(o.exit_code, 0, "init: %s", o.err);
    cr_assert(strstr(o.err, "warning: --skip-acl-check"), "%s", o.err);
    cr_assert(library_loaded());
    cr_assert(meta_exists());
    duro_test_output_free(&o);
}

Test(acl_check, an_admin_that_may_not_ask_says_it_could_not_check)
{
    acl("ACL SETUSER %s -acl|dryrun", "duro-admin");
    acl("ACL SETUSER %s -hlen", "duro-worker");
    duro_test_output o;
    init(&o, "-o", "json");
    cr_assert_eq(o.exit_code, 0, "init: %s", o.err);
    cr_assert(strstr(o.err, "warning: could not check the Duro users' ACL "
                            "grants"),
              "%s", o.err);
    cr_assert(strstr(o.err, "acl|dryrun"), "%s", o.err);
    cJSON *v = json_of(o.out);
    cr_assert_str_eq(duro_test_str(v, "aclCheck"), "unchecked", "%s", o.out);
    cJSON_Delete(v);
    cr_assert(library_loaded());
    duro_test_output_free(&o);
}

/* ---- Redis Cluster: users are per node ---- */

static void cluster_setup(void)
{
    duro_test_cluster_start(&h, 3, 0, NULL);
    FILE *f = fopen(duro_test_acl_password_file(&h, "worker"), "w");
    cr_assert(f);
    fprintf(f, "Pw-worker-c41\n");
    fclose(f);
    unsetenv("DURO_PARTITIONS");
}

TestSuite(acl_check_cluster, .init = cluster_setup, .fini = fini,
          .timeout = 180);

Test(acl_check_cluster, a_user_on_one_master_is_checked_there)
{
    /* the worker's user on the second master only, lacking HLEN */
    root = duro_test_cluster_redis(&h, 1);
    apply_as("worker", "duro-worker", "+hlen");
    duro_test_output o;
    duro_test_run(&h, &o, 30000, "duro", "--redis", h.cluster.seed_url,
                  "operator", "init", NULL);
    cr_assert_neq(o.exit_code, 0, "init went on: %s", o.out);
    char want[128];
    snprintf(want, sizeof(want),
             "user duro-worker on 127.0.0.1:%d (role worker) lacks: hlen\n",
             h.cluster.node[1].port);
    cr_assert(strstr(o.err, want), "%s", o.err);
    cr_assert(strstr(o.err, "redis-cli -u redis://127.0.0.1:"), "%s", o.err);
    for (int i = 0; i < 3; i++) {
        redisContext *c = duro_test_cluster_redis(&h, i);
        redisReply *r = redisCommand(c, "FUNCTION LIST LIBRARYNAME duro");
        cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 0,
                  "node %d has the library", i);
        freeReplyObject(r);
        redisFree(c);
    }
    duro_test_output_free(&o);
}
