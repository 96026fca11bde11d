/* test_deadletter.c: the commands that move a task to duro:dead. */
#include <criterion/criterion.h>

#include "duro/deadletter.h"
#include "duro/keys.h"
#include "fake_reply.h"

TestSuite(deadletter, .timeout = 5);

static void assert_argv(const duro_argv *a, int n, const char *const *want)
{
    cr_assert_eq(a->argc, n, "argc %d, want %d", a->argc, n);
    for (int i = 0; i < n; i++) {
        cr_assert_eq(a->lens[i], strlen(want[i]), "arg %d", i);
        cr_assert_eq(memcmp(a->argv[i], want[i], a->lens[i]), 0,
                     "arg %d: %.*s, want %s", i, (int)a->lens[i], a->argv[i],
                     want[i]);
    }
}

Test(deadletter, copies_caps_acks_and_deletes)
{
    redisReply *f = fake_arr(4, fake_str("id"), fake_str("wf-1"),
                             fake_str("junk"), fake_int(1));
    duro_argv c[DURO_DEAD_LETTER_CMDS];
    int n = duro__dead_letter_cmds(c, "duro:{p0}:wft:q", "7-0", f, "bad run");
    cr_assert_eq(n, 3);
    /* capped like every stream Duro appends to without a reader trimming */
    const char *const xadd[] = {"XADD",   DURO_DEAD_KEY,      "MAXLEN",
                                "~",      DURO_DEAD_MAXLEN,   "*",
                                "stream", "duro:{p0}:wft:q",  "entry",
                                "7-0",    "reason",           "bad run",
                                "fields", "{\"id\":\"wf-1\"}"};
    assert_argv(&c[0], 14, xadd);
    const char *const xack[] = {"XACK", "duro:{p0}:wft:q", DURO_GROUP, "7-0"};
    assert_argv(&c[1], 4, xack);
    const char *const xdel[] = {"XDEL", "duro:{p0}:wft:q", "7-0"};
    assert_argv(&c[2], 3, xdel);
    for (int i = 0; i < n; i++)
        duro_argv_free(&c[i]);
    freeReplyObject(f);
}

Test(deadletter, an_entry_without_id_is_only_copied)
{
    duro_argv c[DURO_DEAD_LETTER_CMDS];
    int n = duro__dead_letter_cmds(c, "s", NULL, NULL, "malformed");
    cr_assert_eq(n, 1);
    const char *const xadd[] = {
        "XADD",   DURO_DEAD_KEY, "MAXLEN", "~",     DURO_DEAD_MAXLEN,
        "*",      "stream",      "s",      "entry", "",
        "reason", "malformed",   "fields", "{}"};
    assert_argv(&c[0], 14, xadd);
    duro_argv_free(&c[0]);
    n = duro__dead_letter_cmds(c, "s", "", NULL, "malformed");
    cr_assert_eq(n, 1);
    duro_argv_free(&c[0]);
}
