/* test_acl_check_edges.c: `duro operator init`'s check of the Duro users'
 * ACL grants (cli_acl_check.c) against users an operator may have made by
 * hand: broad application users, selectors, read-write key patterns, a
 * disabled user, names Redis allows but a shell does not take bare, many
 * users; and against a server that cannot answer (a busy script), which
 * must stop init rather than let it load unchecked. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static duro_test_harness h;
static redisContext *root; /* the default user: every right */

#define TAG "e13"

static void send_words(const char *line)
{
    duro_test_acl_send(root, line);
}

/* rule: role's rule for user without the word drop (NULL: whole); the
 * caller frees it */
static char *rule(const char *role, const char *user, const char *drop)
{
    return duro_test_acl_rule(&h, role, user, drop);
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

TestSuite(acl_check_edges, .init = setup, .fini = fini, .timeout = 120);

static void init(duro_test_output *o, const char *a1, const char *a2)
{
    duro_test_acl_init(&h, o, TAG, 60000, a1, a2);
}

static bool library_loaded(void)
{
    return duro_test_library_loaded(root);
}

static void assert_stopped(const duro_test_output *o)
{
    cr_assert_neq(o->exit_code, 0, "init went on: %s", o->out);
    cr_assert(!library_loaded(), "the library was loaded");
}

static void assert_passed(const duro_test_output *o)
{
    cr_assert_eq(o->exit_code, 0, "init: %s", o->err);
    cJSON *v = cJSON_Parse(o->out);
    cr_assert(v, "not JSON: %s", o->out);
    cr_assert_str_eq(duro_test_str(v, "aclCheck"), "passed", "%s", o->out);
    cJSON_Delete(v);
    cr_assert_null(strstr(o->err, "warning"), "%s", o->err);
    cr_assert(library_loaded());
}

/* ---- Users that hold every grant, however they were written ---- */

Test(acl_check_edges, broad_selector_and_read_write_users_pass)
{
    /* an application's power user that also runs a worker */
    send_words("ACL SETUSER power on nopass ~* &* +@all -flushall");
    /* every right in a selector only, none at the root */
    send_words("ACL SETUSER sel on nopass resetchannels -@all "
               "(+@all ~duro:* &duro:*)");
    /* %RW~ is ~ spelled out; allkeys and allchannels */
    send_words("ACL SETUSER rw on nopass %RW~duro:* &duro:* +@all");
    send_words("ACL SETUSER wide on nopass allkeys allchannels +@all -keys");
    duro_test_output o;
    init(&o, "-o", "json");
    assert_passed(&o);
    duro_test_output_free(&o);
}

Test(acl_check_edges, duro_prefixed_names_that_are_no_role_are_judged)
{
    /* duro-app (duro dev --acl's application user) holds no Function: not
     * Duro's; duro-workerX is a worker by its Functions, lacking HLEN */
    send_words("ACL SETUSER duro-app on nopass ~food:* &* +@all");
    char *line = rule("worker", "duro-workerX", "+hlen");
    send_words(line);
    free(line);
    duro_test_output o;
    init(&o, NULL, NULL);
    assert_stopped(&o);
    cr_assert(strstr(o.err, "user duro-workerX (role worker) lacks: hlen\n"),
              "%s", o.err);
    cr_assert_null(strstr(o.err, "duro-app"), "%s", o.err);
    duro_test_output_free(&o);
}

/* ---- A user of one namespace ---- */

/* swap_word: line with word (a whole word) replaced by with (caller frees). */
static char *swap_word(const char *line, const char *word, const char *with)
{
    char pattern[64];
    snprintf(pattern, sizeof(pattern), " %s ", word);
    const char *at = strstr(line, pattern);
    cr_assert(at, "no %s in %s", word, line);
    size_t head = (size_t)(at - line) + 1;
    char *out = malloc(strlen(line) + strlen(with) + 1);
    cr_assert(out);
    snprintf(out, strlen(line) + strlen(with) + 1, "%.*s%s%s", (int)head, line,
             with, at + strlen(pattern) - 1);
    return out;
}

Test(acl_check_edges, a_user_of_one_namespace_is_checked_too)
{
    /* namespace shop's worker, written by an operator who narrowed the
     * role's rule to shop's keys (duro:ns:shop:...): it cannot write a
     * default namespace's key, and lacks HLEN */
    redisReply *r = redisCommand(root, "SADD duro:namespaces shop other");
    cr_assert(r && r->type == REDIS_REPLY_INTEGER);
    freeReplyObject(r);
    char *line = rule("worker", "shop-worker", "+hlen");
    char *a = swap_word(line, "~duro:{*", "");
    char *b = swap_word(a, "~duro:ns:*", "~duro:ns:shop:*");
    send_words(b);
    free(line);
    free(a);
    free(b);
    duro_test_output o;
    init(&o, NULL, NULL);
    assert_stopped(&o);
    cr_assert(strstr(o.err, "user shop-worker (role worker) lacks: hlen\n"),
              "%s", o.err);
    duro_test_output_free(&o);
}

/* ---- A disabled user ---- */

Test(acl_check_edges, a_disabled_user_is_reported_as_well)
{
    /* ACL DRYRUN answers for a user switched off as for one on, and init
     * may not read its flags (ACL GETUSER shows the password hashes): the
     * README says so, and how to go on (ACL DELUSER, or its rule again) */
    send_words("ACL SETUSER duro-worker off -hlen");
    duro_test_output o;
    init(&o, NULL, NULL);
    assert_stopped(&o);
    cr_assert(strstr(o.err, "user duro-worker (role worker) lacks: hlen\n"),
              "%s", o.err);
    duro_test_output_free(&o);
    redisReply *r = redisCommand(root, "ACL DELUSER duro-worker");
    cr_assert(r && r->type == REDIS_REPLY_INTEGER && r->integer == 1);
    freeReplyObject(r);
    init(&o, "-o", "json");
    assert_passed(&o);
    duro_test_output_free(&o);
}

/* ---- The fix printed ---- */

Test(acl_check_edges, a_user_named_otherwise_is_not_told_to_reset)
{
    /* an application's user without @dangerous holds every Function, so
     * it is judged admin; Duro's admin rule would take its own keys away:
     * the fix adds what it lacks instead. Admin's own commands (ACL USERS
     * here) are not asked of it: no Function runs them */
    send_words("ACL SETUSER app on nopass ~* &* +@all -@dangerous");
    duro_test_output o;
    init(&o, NULL, NULL);
    assert_stopped(&o);
    cr_assert(strstr(o.err, "user app (role admin) lacks: role "
                            "client|unblock\n"),
              "%s", o.err);
    cr_assert(strstr(o.err, "  redis-cli ACL SETUSER app +role "
                            "'+client|unblock'\n"),
              "%s", o.err);
    cr_assert_null(strstr(o.err, "--user app"), "%s", o.err);
    duro_test_output_free(&o);
    /* granted those, it passes, though it may not run ACL USERS */
    send_words("ACL SETUSER app +role +client|unblock");
    init(&o, "-o", "json");
    assert_passed(&o);
    duro_test_output_free(&o);
}

Test(acl_check_edges, duro_admin_is_asked_for_admin_commands)
{
    send_words("ACL SETUSER duro-admin -scan");
    duro_test_output o;
    init(&o, NULL, NULL);
    assert_stopped(&o);
    cr_assert(strstr(o.err, "user duro-admin (role admin) lacks: scan\n"), "%s",
              o.err);
    duro_test_output_free(&o);
}

Test(acl_check_edges, an_odd_user_name_is_quoted_for_the_shell)
{
    const char *name = "o'dd|n;ame$x";
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "ACL SETUSER %s on nopass ~* &* +@all -hlen",
             name);
    send_words(cmd);
    duro_test_output o;
    init(&o, NULL, NULL);
    assert_stopped(&o);
    cr_assert(strstr(o.err, "user o'dd|n;ame$x (role admin) lacks: hlen\n"),
              "%s", o.err);
    cr_assert(strstr(o.err, "ACL SETUSER 'o'\\''dd|n;ame$x' +hlen\n"), "%s",
              o.err);
    duro_test_output_free(&o);
    init(&o, "-o", "json");
    cJSON *v = cJSON_Parse(o.err);
    cr_assert(v, "not JSON: %s", o.err);
    const cJSON *u = cJSON_GetArrayItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(v, "error"), "aclUsers"), 0);
    cr_assert_str_eq(duro_test_str(u, "user"), name);
    cJSON_Delete(v);
    duro_test_output_free(&o);
}

Test(acl_check_edges, a_missing_key_or_channel_is_the_fix_not_the_command)
{
    /* named otherwise: a scheduler without channels, and a worker that
     * may write its keys but not read them; +publish or +hget would
     * change nothing, the pattern is what they lack */
    char *line = rule("scheduler", "timers-b", NULL);
    send_words(line);
    free(line);
    send_words("ACL SETUSER timers-b resetchannels");
    line = rule("worker", "keys-a", NULL);
    char *a = swap_word(line, "%R~duro:*", "");
    char *b = swap_word(a, "~duro:{*", "%W~duro:{*");
    send_words(b);
    free(line);
    free(a);
    free(b);
    duro_test_output o;
    init(&o, NULL, NULL);
    assert_stopped(&o);
    cr_assert(strstr(o.err, "user timers-b (role scheduler) lacks: publish "
                            "spublish subscribe\n"),
              "%s", o.err);
    cr_assert(strstr(o.err, "  redis-cli ACL SETUSER timers-b '&duro:*'\n"),
              "%s", o.err);
    cr_assert(strstr(o.err, "user keys-a (role worker) lacks: hget hgetall"),
              "%s", o.err);
    cr_assert(strstr(o.err, "  redis-cli ACL SETUSER keys-a '~duro:{*'\n"),
              "%s", o.err);
    duro_test_output_free(&o);
}

/* ---- Init's own user ---- */

Test(acl_check_edges, an_admin_that_may_not_list_users_says_so)
{
    send_words("ACL SETUSER duro-admin -acl|users");
    duro_test_output o;
    init(&o, "-o", "json");
    cr_assert_eq(o.exit_code, 0, "init: %s", o.err);
    cr_assert(strstr(o.err, "could not check"), "%s", o.err);
    cr_assert(strstr(o.err, "acl|users"), "%s", o.err);
    cJSON *v = cJSON_Parse(o.out);
    cr_assert(v, "not JSON: %s", o.out);
    cr_assert_str_eq(duro_test_str(v, "aclCheck"), "unchecked");
    cJSON_Delete(v);
    duro_test_output_free(&o);
}

Test(acl_check_edges, skipped_shows_in_json)
{
    send_words("ACL SETUSER duro-worker -hlen");
    duro_test_output o;
    char url[160];
    snprintf(url, sizeof(url), "redis://duro-admin:Pw-admin-e13@127.0.0.1:%d",
             h.redis_port);
    duro_test_run(&h, &o, 20000, "duro", "-o", "json", "--redis", url,
                  "operator", "init", "--skip-acl-check", NULL);
    cr_assert_eq(o.exit_code, 0, "init: %s", o.err);
    cJSON *v = cJSON_Parse(o.out);
    cr_assert(v, "not JSON: %s", o.out);
    cr_assert_str_eq(duro_test_str(v, "aclCheck"), "skipped");
    cJSON_Delete(v);
    duro_test_output_free(&o);
}

/* ---- A server that cannot answer ---- */

/* busy_now: c's server answers BUSY (a script runs past the threshold). */
static bool busy_now(redisContext *c)
{
    redisReply *r = redisCommand(c, "PING");
    bool busy =
        r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSY", 4) == 0;
    freeReplyObject(r);
    return busy;
}

Test(acl_check_edges, a_busy_server_stops_init_rather_than_skip_the_check)
{
    redisReply *r = redisCommand(root, "CONFIG SET busy-reply-threshold 10");
    cr_assert(r && r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);
    /* a read-only script that loops (bounded: about a minute at most)
     * until SCRIPT KILL, sent without waiting for its reply */
    redisContext *busy = duro_test_redis(&h);
    redisAppendCommand(busy, "EVAL %s 0",
                       "local i = 0 while i < 2e10 do i = i + 1 end return i");
    int done = 0;
    while (!done)
        cr_assert_eq(redisBufferWrite(busy, &done), REDIS_OK);
    redisContext *probe = duro_test_redis(&h);
    bool is_busy = duro_test_wait_until(busy_now(probe), 10000);
    cr_assert(is_busy, "the script did not make Redis busy");
    duro_test_output o;
    init(&o, "-o", "json");
    r = redisCommand(probe, "SCRIPT KILL");
    cr_assert(r && r->type == REDIS_REPLY_STATUS, "SCRIPT KILL: %s",
              r ? r->str : probe->errstr);
    freeReplyObject(r);
    redisFree(probe);
    redisReply *killed = NULL;
    cr_assert_eq(redisGetReply(busy, (void **)&killed), REDIS_OK);
    freeReplyObject(killed);
    redisFree(busy);
    cr_assert_eq(o.exit_code, 1, "init: %s", o.err);
    cr_assert_null(strstr(o.err, "could not check"), "%s", o.err);
    cJSON *v = cJSON_Parse(o.err);
    cr_assert(v, "not JSON: %s", o.err);
    const cJSON *e = cJSON_GetObjectItem(v, "error");
    cr_assert_str_eq(duro_test_str(e, "code"), "UNAVAILABLE");
    cr_assert(strstr(duro_test_str(e, "message"), "ACL USERS: BUSY"), "%s",
              o.err);
    cJSON_Delete(v);
    duro_test_output_free(&o);
    cr_assert(!library_loaded());
}

/* ---- Many users ---- */

Test(acl_check_edges, two_hundred_users_are_each_checked)
{
    /* 150 applications' users (two DRYRUNs each) and 50 Duro workers
     * named otherwise (one per Function and command of the role), the
     * last lacking HLEN: every one is asked, one round trip each */
    char *line = rule("worker", "w-000", NULL);
    for (int i = 0; i < 150; i++) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd),
                 "ACL SETUSER app-%03d on nopass ~a%d:* +@all", i, i);
        send_words(cmd);
    }
    for (int i = 0; i < 50; i++) {
        char name[16], *copy = strdup(line);
        cr_assert(copy);
        snprintf(name, sizeof(name), "w-%03d", i);
        memcpy(strstr(copy, "w-000"), name, 5);
        if (i == 49) memset(strstr(copy, "+hlen "), ' ', 5);
        send_words(copy);
        free(copy);
    }
    free(line);
    duro_test_output o;
    init(&o, NULL, NULL);
    cr_log_info("init with 200 users more: %lld ms", (long long)o.elapsed_ms);
    assert_stopped(&o);
    cr_assert(strstr(o.err, "1 Redis user of Duro lacks"), "%s", o.err);
    cr_assert(strstr(o.err, "user w-049 (role worker) lacks: hlen\n"), "%s",
              o.err);
    duro_test_output_free(&o);
}

/* ---- Redis Cluster: a master that may not be asked ---- */

static void cluster_setup(void)
{
    duro_test_cluster_start(&h, 3, 0, NULL);
    unsetenv("DURO_REDIS_URL");
    unsetenv("DURO_PARTITIONS");
}

TestSuite(acl_check_edges_cluster, .init = cluster_setup, .fini = fini,
          .timeout = 180);

/* on_node sends cmd (no argument with a space) to cluster node i. */
static void on_node(int i, const char *cmd)
{
    root = duro_test_cluster_redis(&h, i);
    send_words(cmd);
    redisFree(root);
    root = NULL;
}

Test(acl_check_edges_cluster, one_refusing_master_does_not_hide_the_others)
{
    /* every master has a user lacking HLEN; on one, init's own user (the
     * default) may not run ACL USERS: whichever order the masters come
     * in, the other two are checked and their findings stop init */
    for (int i = 0; i < 3; i++)
        on_node(i, "ACL SETUSER app on nopass ~* &* +@all -hlen");
    on_node(1, "ACL SETUSER default -acl|users");
    duro_test_output o;
    duro_test_run(&h, &o, 30000, "duro", "--redis", h.cluster.seed_url,
                  "operator", "init", NULL);
    cr_assert_neq(o.exit_code, 0, "init went on: %s\n%s", o.out, o.err);
    for (int i = 0; i < 3; i++) {
        char want[128];
        snprintf(want, sizeof(want),
                 "user app on 127.0.0.1:%d (role admin) lacks: hlen\n",
                 h.cluster.node[i].port);
        if (i == 1)
            cr_assert_null(strstr(o.err, want), "%s", o.err);
        else
            cr_assert(strstr(o.err, want), "%s", o.err);
    }
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

Test(acl_check_edges_cluster, a_refusing_master_is_named_in_the_warning)
{
    on_node(2, "ACL SETUSER default -acl|dryrun");
    duro_test_output o;
    duro_test_run(&h, &o, 30000, "duro", "--redis", h.cluster.seed_url,
                  "operator", "init", NULL);
    cr_assert_eq(o.exit_code, 0, "init: %s", o.err);
    char want[160];
    snprintf(want, sizeof(want),
             "could not check the Duro users' ACL grants before loading the "
             "Functions library (127.0.0.1:%d: ACL DRYRUN: NOPERM",
             h.cluster.node[2].port);
    cr_assert(strstr(o.err, want), "%s", o.err);
    duro_test_output_free(&o);
}
