/* harness_acl.c: Redis users made as an operator makes them, from the lines
 * `duro operator acl` prints (harness.h, duro_test_acl_apply). */
#include <criterion/criterion.h>
#include <stdio.h>
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
