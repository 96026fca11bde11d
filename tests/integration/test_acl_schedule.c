/* test_acl_schedule.c: the schedule commands under least privilege. The
 * schedule Functions check their keys' types before their first write by
 * each type's count command (library 44: HLEN, LLEN, ZCARD, SCARD), which
 * the roles that call them must hold: the client user that `duro operator
 * acl` makes creates, pauses, triggers, updates and deletes a schedule
 * without one NOPERM (ACL LOG empty), where test_acl.c's scenario calls no
 * schedule Function (and so no SCARD). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define OBSERVER_PW "observer-Qm4x8"

static duro_test_harness h;
static redisContext *root; /* user "observer": every right, for checks */

static const char *const ROLES[] = {"client", "admin"};

static const char *password(const char *role)
{
    static char buf[2][64];
    int i = strcmp(role, "client") == 0 ? 0 : 1;
    snprintf(buf[i], sizeof(buf[i]), "Pw-%s-3c81d", role);
    return buf[i];
}

static const char *url(const char *role)
{
    static char buf[2][160];
    int i = strcmp(role, "client") == 0 ? 0 : 1;
    snprintf(buf[i], sizeof(buf[i]), "redis://duro-%s:%s@127.0.0.1:%d", role,
             password(role), h.redis_port);
    return buf[i];
}

/* create_user: role's password file and its user, from the lines `duro
 * operator acl --role role` prints (duro_test_acl_apply) */
static void create_user(const char *role)
{
    char name[32], text[128], path[PATH_MAX + 64];
    snprintf(name, sizeof(name), "pw-%s", role);
    snprintf(text, sizeof(text), "%s\n", password(role));
    duro_test_write_file(&h, name, text, path, sizeof(path));
    duro_test_acl_apply(&h, root, role, path, password(role));
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
    root = redisConnect("127.0.0.1", h.redis_port);
    cr_assert(root && !root->err);
    r = redisCommand(root, "AUTH observer %s", OBSERVER_PW);
    cr_assert(r && r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);
    for (size_t i = 0; i < sizeof(ROLES) / sizeof(ROLES[0]); i++)
        create_user(ROLES[i]);
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

TestSuite(acl_schedule, .init = setup, .fini = fini, .timeout = 120);

#define CLI(o, role, ...)                                                      \
    duro_test_run(&h, o, 15000, "duro", "--redis", url(role), __VA_ARGS__, NULL)

/* ok: the command ran as the client user, exit 0 */
#define OK(...)                                                                \
    do {                                                                       \
        duro_test_output o_;                                                   \
        CLI(&o_, "client", __VA_ARGS__);                                       \
        cr_assert_eq(o_.exit_code, 0, "%s", o_.err);                           \
        duro_test_output_free(&o_);                                            \
    } while (0)

Test(acl_schedule, the_client_role_runs_every_schedule_command)
{
    duro_test_output o;
    CLI(&o, "admin", "operator", "init");
    cr_assert_eq(o.exit_code, 0, "operator init: %s", o.err);
    duro_test_output_free(&o);
    OK("schedule", "create", "-s", "s1", "--interval", "1h", "--type", "t",
       "-t", "q");
    OK("schedule", "describe", "-s", "s1");
    OK("schedule", "pause", "-s", "s1");
    OK("schedule", "unpause", "-s", "s1");
    OK("schedule", "trigger", "-s", "s1");
    OK("schedule", "update", "-s", "s1", "--interval", "2h", "--type", "t",
       "-t", "q");
    OK("schedule", "list");
    OK("schedule", "delete", "-s", "s1");
    redisReply *r = redisCommand(root, "ACL LOG");
    cr_assert(r && r->type == REDIS_REPLY_ARRAY);
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        const char *user = "?", *object = "?";
        for (size_t j = 0; j + 1 < e->elements; j += 2) {
            if (strcmp(e->element[j]->str, "username") == 0)
                user = e->element[j + 1]->str;
            if (strcmp(e->element[j]->str, "object") == 0)
                object = e->element[j + 1]->str;
        }
        cr_assert(strncmp(user, "duro-", 5) != 0,
                  "Redis refused %s %s (ACL LOG)", user, object);
    }
    freeReplyObject(r);
    duro_test_finish(&h);
}
