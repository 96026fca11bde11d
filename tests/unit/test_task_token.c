/* test_task_token.c: activity task tokens (common/src/task_token.c). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include "duro/errno.h"
#include "duro/task_token.h"

TestSuite(task_token, .timeout = 5);

Test(task_token, a_token_decodes_to_what_was_encoded)
{
    duro_task_token t = {.ns = "default",
                         .id = "order \"7\"/é",
                         .run = "0b6c1e2a-1111-4222-8333-444455556666",
                         .seq = "3",
                         .entry = "1700000000000-0",
                         .wfqueue = "food",
                         .actqueue = "payments",
                         .attempt = 2};
    char *tok;
    cr_assert_eq(duro_task_token_encode(&t, &tok), 0);
    for (const char *p = tok; *p; p++)
        cr_assert(strchr("0123456789abcdef", *p), "not printable hex: %s", tok);
    duro_task_token d;
    char err[128];
    cr_assert_eq(duro_task_token_decode(tok, &d, err, sizeof(err)), 0, "%s",
                 err);
    cr_assert_str_eq(d.ns, t.ns);
    cr_assert_str_eq(d.id, t.id);
    cr_assert_str_eq(d.run, t.run);
    cr_assert_str_eq(d.seq, t.seq);
    cr_assert_str_eq(d.entry, t.entry);
    cr_assert_str_eq(d.wfqueue, t.wfqueue);
    cr_assert_str_eq(d.actqueue, t.actqueue);
    cr_assert_eq(d.attempt, 2);
    duro_task_token_free(&d);
    free(tok);
}

Test(task_token, garbage_is_refused)
{
    static const char *const bad[] = {
        "",
        "zz",
        "abc",
        "00",
        "7b7d",           /* {} */
        "7b2276223a327d", /* {"v":2} */
        "6e756c6c",       /* null */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        duro_task_token d;
        char err[128] = "";
        cr_assert_eq(duro_task_token_decode(bad[i], &d, err, sizeof(err)),
                     DURO_EINVAL, "%s", bad[i]);
        cr_assert(strstr(err, "task token"), "%s", err);
    }
}
