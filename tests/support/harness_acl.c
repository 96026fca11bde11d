/* harness_acl.c: Redis users made as an operator makes them, from the lines
 * `duro operator acl` prints (harness.h, duro_test_acl_apply), and `duro
 * operator init` run as their admin (duro_test_acl_init). */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

void duro_test_acl_apply(duro_test_harness *h, redisContext *root,
                         const char *role, const char *password_file,
                         const char *secret)
{
    duro_test_output o;
    duro_test_run(h, &o, 10000, "duro", "operator", "acl", "--role", role,
                  "--password-file", password_file, NULL);
    cr_assert_eq(o.exit_code, 0, "operator acl: %s", o.err);
    if (secret)
        cr_assert_null(strstr(o.out, secret), "the line holds the password");
    char *save = NULL;
    for (char *line = strtok_r(o.out, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        const char *argv[128];
        int argc = 0;
        char *s2 = NULL;
        for (char *w = strtok_r(line, " ", &s2); w && argc < 128;
             w = strtok_r(NULL, " ", &s2))
            argv[argc++] = w;
        cr_assert_gt(argc, 3);
        cr_assert_str_eq(argv[0], "ACL");
        redisReply *r = redisCommandArgv(root, argc, argv, NULL);
        cr_assert(r && r->type == REDIS_REPLY_STATUS, "ACL SETUSER: %s",
                  r ? r->str : root->errstr);
        freeReplyObject(r);
    }
    duro_test_output_free(&o);
}

const char *duro_test_acl_password_file(const duro_test_harness *h,
                                        const char *role)
{
    static const char *const roles[] = {"worker", "scheduler", "client",
                                        "admin"};
    static char path[4][PATH_MAX + 64];
    int i = 0;
    while (i < 3 && strcmp(roles[i], role) != 0)
        i++;
    cr_assert_str_eq(roles[i], role, "no role %s", role);
    snprintf(path[i], sizeof(path[i]), "%s/pw-%s", h->dir, role);
    return path[i];
}

void duro_test_acl_users(duro_test_harness *h, redisContext *root,
                         const char *tag)
{
    static const char *const roles[] = {"worker", "scheduler", "client",
                                        "admin"};
    for (int i = 0; i < 4; i++) {
        const char *path = duro_test_acl_password_file(h, roles[i]);
        FILE *f = fopen(path, "w");
        cr_assert(f, "%s", path);
        fprintf(f, "Pw-%s-%s\n", roles[i], tag);
        fclose(f);
        duro_test_acl_apply(h, root, roles[i], path, NULL);
    }
}

void duro_test_acl_send(redisContext *root, const char *line)
{
    char *copy = strdup(line);
    cr_assert(copy);
    const char *argv[160];
    int argc = 0;
    char *save = NULL;
    for (char *w = strtok_r(copy, " \n", &save); w && argc < 160;
         w = strtok_r(NULL, " \n", &save))
        argv[argc++] = w;
    redisReply *r = redisCommandArgv(root, argc, argv, NULL);
    cr_assert(r && r->type == REDIS_REPLY_STATUS, "%.80s: %s", line,
              r ? r->str : root->errstr);
    freeReplyObject(r);
    free(copy);
}

char *duro_test_acl_rule(duro_test_harness *h, const char *role,
                         const char *user, const char *drop)
{
    duro_test_output o;
    duro_test_run(h, &o, 10000, "duro", "operator", "acl", "--role", role,
                  "--user", user, "--password-file",
                  duro_test_acl_password_file(h, role), NULL);
    cr_assert_eq(o.exit_code, 0, "operator acl: %s", o.err);
    size_t n = strlen(o.out) + 1;
    char *line = malloc(n);
    cr_assert(line);
    line[0] = '\0';
    bool dropped = drop == NULL;
    char *save = NULL;
    for (char *w = strtok_r(o.out, " \n", &save); w;
         w = strtok_r(NULL, " \n", &save)) {
        if (drop && strcmp(w, drop) == 0) {
            dropped = true;
            continue;
        }
        if (line[0]) strcat(line, " ");
        strcat(line, w);
    }
    cr_assert(dropped, "no %s in the %s line", drop, role);
    duro_test_output_free(&o);
    return line;
}

void duro_test_acl_init(duro_test_harness *h, duro_test_output *o,
                        const char *tag, int64_t timeout_ms, const char *a1,
                        const char *a2)
{
    char url[160];
    snprintf(url, sizeof(url), "redis://duro-admin:Pw-admin-%s@127.0.0.1:%d",
             tag, h->redis_port);
    duro_test_run(h, o, timeout_ms, "duro", "--redis", url, "operator", "init",
                  a1, a2, NULL);
}

bool duro_test_library_loaded(redisContext *root)
{
    redisReply *r = redisCommand(root, "FUNCTION LIST LIBRARYNAME duro");
    cr_assert(r && r->type == REDIS_REPLY_ARRAY);
    bool loaded = r->elements > 0;
    freeReplyObject(r);
    return loaded;
}
