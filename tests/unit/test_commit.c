/* test_commit.c: a workflow task's commands encoded as Function arguments
 * (worker/src/commit.c, compiled into this test alone). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "commit.h"
#include "duro/errno.h"

static const duro_keyspace KS = {
    .ns = "default", .prefix = "duro:", .partitions = 16};

TestSuite(commit, .timeout = 5);

/* The one engine function commit.c calls. */
void duro__cmds_free(duro__cmd *c)
{
    while (c) {
        duro__cmd *next = c->next;
        free(c->name);
        free(c->data);
        free(c->queue);
        free(c->input);
        free(c->opts);
        free(c->value);
        free(c);
        c = next;
    }
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* cmd appends a command to *list. */
static duro__cmd *cmd(duro__cmd **list, cmd_kind kind, int64_t seq,
                      const char *data)
{
    duro__cmd *m = calloc(1, sizeof(*m));
    m->kind = kind;
    m->seq = seq;
    m->data = dup_or_null(data);
    while (*list)
        list = &(*list)->next;
    *list = m;
    return m;
}

static duro__cmd *activity(duro__cmd **list, int64_t seq, const char *queue)
{
    duro__cmd *m = cmd(list, CMD_ACTIVITY, seq, "{\"a\":1}");
    m->name = strdup("charge");
    m->queue = strdup(queue);
    m->input = strdup("[5]");
    m->opts = strdup("{}");
    m->stc_ms = 1000;
    m->hbt_ms = 0;
    m->s2c_ms = 60000;
    return m;
}

/* args joins the encoded arguments with spaces. */
static const char *args(const duro__commit *c)
{
    static char buf[1024];
    buf[0] = '\0';
    for (int i = 0; i < c->args.argc; i++) {
        if (i) strcat(buf, " ");
        strncat(buf, c->args.argv[i], c->args.lens[i]);
    }
    return buf;
}

Test(commit, each_kind_encodes_its_fields_in_order)
{
    duro__cmd *list = NULL;
    activity(&list, 1, "pay");
    cmd(&list, CMD_TIMER, 2, "{\"t\":1}")->ms = 5000;
    cmd(&list, CMD_CANCEL_TIMER, 2, "{\"c\":1}");
    cmd(&list, CMD_MARKER, 0, "{\"m\":1}");
    cmd(&list, CMD_CANCEL_ACTIVITY, 1, "{\"x\":1}")->queue = strdup("pay");
    cmd(&list, CMD_COMPLETE, 0, "{}")->value = strdup("42");
    duro__commit c;
    cr_assert_eq(duro__commit_encode(&c, &KS, 3, 9, list, 1700000000000), 0);
    cr_assert_eq(c.ncmd, 6);
    cr_assert_str_eq(args(&c),
                     "activity 1 {\"a\":1} 9 charge [5] {} 1000 0 60000 "
                     "timer 2 {\"t\":1} 5000 "
                     "cancel_timer 2 {\"c\":1} "
                     "marker {\"m\":1} "
                     "cancel_activity 1 {\"x\":1} 9 "
                     "complete {} 42");
    cr_assert_str_eq(c.wtc, "{\"now\":1700000000000}");
    cr_assert_eq(c.nextra, 1);
    char key[DURO_KEY_MAX];
    cr_assert_str_eq(
        c.extra[0],
        duro_key_act(key, sizeof(key), DURO_KEYSPACE_DEFAULT(0), 3, "pay"));
    duro__commit_free(&c);
}

Test(commit, fail_and_cancel_name_their_kind)
{
    duro__cmd *list = NULL;
    cmd(&list, CMD_FAIL, 0, "{}")->value = strdup("{\"message\":\"x\"}");
    duro__commit c;
    cr_assert_eq(duro__commit_encode(&c, &KS, 0, 9, list, 1), 0);
    cr_assert_str_eq(args(&c), "fail {} {\"message\":\"x\"}");
    duro__commit_free(&c);
    list = NULL;
    cmd(&list, CMD_CANCEL_WORKFLOW, 0, "{}")->value = strdup("null");
    cr_assert_eq(duro__commit_encode(&c, &KS, 0, 9, list, 1), 0);
    cr_assert_str_eq(args(&c), "cancel {} null");
    duro__commit_free(&c);
}

Test(commit, upsert_sends_its_event_data)
{
    duro__cmd *list = NULL;
    cmd(&list, CMD_UPSERT_SA, 0, "{\"searchAttributes\":{\"S\":\"x\"}}");
    duro__commit c;
    cr_assert_eq(duro__commit_encode(&c, &KS, 0, 9, list, 1), 0);
    cr_assert_eq(c.ncmd, 1);
    cr_assert_str_eq(args(&c),
                     "upsert_sa {\"searchAttributes\":{\"S\":\"x\"}}");
    duro__commit_free(&c);
}

Test(commit, each_queue_gets_one_key_index_in_first_use_order)
{
    duro__cmd *list = NULL;
    activity(&list, 1, "b");
    activity(&list, 2, "a");
    activity(&list, 3, "b");
    duro__commit c;
    cr_assert_eq(duro__commit_encode(&c, &KS, 0, 12, list, 1), 0);
    cr_assert_eq(c.nextra, 2);
    /* the stream index is the 4th argument of each 10-argument activity */
    cr_assert_str_eq(c.args.argv[3], "12");
    cr_assert_str_eq(c.args.argv[13], "13");
    cr_assert_str_eq(c.args.argv[23], "12");
    char key[DURO_KEY_MAX];
    cr_assert_str_eq(
        c.extra[0],
        duro_key_act(key, sizeof(key), DURO_KEYSPACE_DEFAULT(0), 0, "b"));
    cr_assert_str_eq(
        c.extra[1],
        duro_key_act(key, sizeof(key), DURO_KEYSPACE_DEFAULT(0), 0, "a"));
    duro__commit_free(&c);
}

Test(commit, too_many_queues_is_einval_and_still_frees)
{
    duro__cmd *list = NULL;
    char q[8];
    for (int i = 0; i <= DURO_MAX_ACT_QUEUES; i++) {
        snprintf(q, sizeof(q), "q%d", i);
        activity(&list, i + 1, q);
    }
    duro__commit c;
    cr_assert_eq(duro__commit_encode(&c, &KS, 0, 9, list, 1), DURO_EINVAL);
    cr_assert_eq(c.nextra, DURO_MAX_ACT_QUEUES);
    duro__commit_free(&c); /* frees the commands: ASan checks */
}

Test(commit, no_commands_encode_to_nothing)
{
    duro__commit c;
    cr_assert_eq(duro__commit_encode(&c, &KS, 0, 9, NULL, 7), 0);
    cr_assert_eq(c.args.argc, 0);
    cr_assert_eq(c.ncmd, 0);
    cr_assert_str_eq(c.wtc, "{\"now\":7}");
    duro__commit_free(&c);
}
