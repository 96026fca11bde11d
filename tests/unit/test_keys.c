/* test_keys.c: CRC16, partitions, key names and timer members. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/errno.h"
#include "duro/keys.h"

TestSuite(keys, .timeout = 5);

Test(keys, crc16_vectors)
{
    cr_assert_eq(duro_crc16("123456789", 9), 0x31C3);
    cr_assert_eq(duro_crc16("", 0), 0);
    cr_assert_eq(duro_crc16("A", 1), 0x58E5);
    /* Redis Cluster: CLUSTER KEYSLOT foo == 12182, bar == 5061. */
    cr_assert_eq(duro_crc16("foo", 3) % 16384, 12182);
    cr_assert_eq(duro_crc16("bar", 3) % 16384, 5061);
}

Test(keys, partition_is_stable_and_in_range)
{
    cr_assert_eq(duro_partition_of("123456789", 16), 0x31C3 % 16);
    cr_assert_eq(duro_partition_of("order-7", 16),
                 duro_partition_of("order-7", 16));
    cr_assert_eq(duro_partition_of("anything", 1), 0);
    for (int i = 0; i < 200; i++) {
        char id[32];
        snprintf(id, sizeof(id), "wf-%d", i);
        int p = duro_partition_of(id, 16);
        cr_assert(p >= 0 && p < 16);
        cr_assert_eq(p, duro_crc16(id, strlen(id)) % 16);
    }
}

Test(keys, workflow_keys)
{
    duro_wf_keys k;
    duro_wf_keys_init(&k, DURO_KEYSPACE_DEFAULT(16), "123456789", "run-1");
    int p = 0x31C3 % 16;
    char want[128];
    cr_assert_eq(k.partition, p);
    snprintf(want, sizeof(want), "duro:{p%d}:wf:123456789", p);
    cr_assert_str_eq(k.wf, want);
    snprintf(want, sizeof(want), "duro:{p%d}:h:123456789:run-1", p);
    cr_assert_str_eq(k.hist, want);
    snprintf(want, sizeof(want), "duro:{p%d}:buf:123456789", p);
    cr_assert_str_eq(k.buf, want);
    snprintf(want, sizeof(want), "duro:{p%d}:pa:123456789", p);
    cr_assert_str_eq(k.pa, want);
    snprintf(want, sizeof(want), "duro:{p%d}:timers", p);
    cr_assert_str_eq(k.timers, want);
    snprintf(want, sizeof(want), "duro:{p%d}:idx:open", p);
    cr_assert_str_eq(k.idx_open, want);
    snprintf(want, sizeof(want), "duro:{p%d}:idx:closed", p);
    cr_assert_str_eq(k.idx_closed, want);

    duro_wf_keys_init(&k, DURO_KEYSPACE_DEFAULT(16), "123456789", NULL);
    cr_assert_str_eq(k.hist, "");
}

Test(keys, longest_id_fits)
{
    char id[DURO_ID_MAX + 1];
    memset(id, 'x', DURO_ID_MAX);
    id[DURO_ID_MAX] = '\0';
    duro_wf_keys k;
    duro_wf_keys_init(&k, DURO_KEYSPACE_DEFAULT(1024), id,
                      "0123456789abcdef0123456789abcdef0123");
    cr_assert_eq(strlen(k.hist), strlen("duro:{p}:h::") + 3 + DURO_ID_MAX +
                                     DURO_UUID_LEN - (k.partition < 100) -
                                     (k.partition < 10));
}

Test(keys, partition_keys)
{
    char b[128];
    const duro_keyspace *DS = DURO_KEYSPACE_DEFAULT(16);
    cr_assert_str_eq(duro_key_wft(b, sizeof(b), DS, 3, "food"),
                     "duro:{p3}:wft:food");
    cr_assert_str_eq(duro_key_act(b, sizeof(b), DS, 3, "food"),
                     "duro:{p3}:act:food");
    cr_assert_str_eq(duro_key_qry(b, sizeof(b), DS, 3, "food"),
                     "duro:{p3}:qry:food");
    cr_assert_str_eq(duro_key_wft_sticky(b, sizeof(b), DS, 3, "food", "w-1:x"),
                     "duro:{p3}:wft:food#w-1:x");
    cr_assert_str_eq(duro_key_timers(b, sizeof(b), DS, 3), "duro:{p3}:timers");
    cr_assert_str_eq(duro_key_closed_channel(b, sizeof(b), DS, 3),
                     "duro:closed:{p3}");
}

/* The default namespace keeps the key names from before namespaces (its
 * data needs no migration); another one has its own prefix, the same
 * partition hash tag, and its own closed channel and queue set. */
Test(keys, namespace_keyspaces)
{
    duro_keyspace d, x;
    char b[256];
    cr_assert_eq(duro_keyspace_init(&d, NULL, 16), 0);
    cr_assert_str_eq(d.ns, "default");
    cr_assert_str_eq(d.prefix, "duro:");
    cr_assert_eq(duro_keyspace_init(&x, "shop-eu.1", 16), 0);
    cr_assert_str_eq(x.prefix, "duro:ns:shop-eu.1:");
    duro_wf_keys k;
    duro_wf_keys_init(&k, &x, "123456789", "run-1");
    int p = 0x31C3 % 16;
    char want[128];
    snprintf(want, sizeof(want), "duro:ns:shop-eu.1:{p%d}:wf:123456789", p);
    cr_assert_str_eq(k.wf, want);
    snprintf(want, sizeof(want), "duro:ns:shop-eu.1:{p%d}:h:123456789:run-1",
             p);
    cr_assert_str_eq(k.hist, want);
    duro_wf_keys_queues(&k, "food", "pay");
    snprintf(want, sizeof(want), "duro:ns:shop-eu.1:{p%d}:wft:food", p);
    cr_assert_str_eq(k.wft, want);
    snprintf(want, sizeof(want), "duro:ns:shop-eu.1:{p%d}:act:pay", p);
    cr_assert_str_eq(k.act, want);
    cr_assert_str_eq(duro_key_idx_closed(b, sizeof(b), &x, 2),
                     "duro:ns:shop-eu.1:{p2}:idx:closed");
    cr_assert_str_eq(duro_key_closed_channel(b, sizeof(b), &x, 2),
                     "duro:ns:shop-eu.1:closed:{p2}");
    cr_assert_str_eq(duro_key_queues(b, sizeof(b), &x),
                     "duro:ns:shop-eu.1:queues");
    cr_assert_str_eq(duro_key_queues(b, sizeof(b), &d), "duro:queues");
    cr_assert_str_eq(duro_key_namespace(b, sizeof(b), "x"), "duro:namespace:x");
}

Test(keys, namespace_names_checked)
{
    char err[128];
    cr_assert_eq(duro_namespace_check("a", err, sizeof(err)), 0);
    cr_assert_eq(duro_namespace_check("A.b_c-9", err, sizeof(err)), 0);
    cr_assert_eq(duro_namespace_check("", err, sizeof(err)), DURO_EINVAL);
    cr_assert_eq(duro_namespace_check("a:b", err, sizeof(err)), DURO_EINVAL);
    cr_assert(strstr(err, "outside") != NULL, "%s", err);
    cr_assert_eq(duro_namespace_check("a{b}", err, sizeof(err)), DURO_EINVAL);
    cr_assert_eq(duro_namespace_check("a b", err, sizeof(err)), DURO_EINVAL);
    char longname[80];
    memset(longname, 'n', 65);
    longname[65] = '\0';
    cr_assert_eq(duro_namespace_check(longname, err, sizeof(err)), DURO_EINVAL);
    longname[64] = '\0';
    cr_assert_eq(duro_namespace_check(longname, err, sizeof(err)), 0);
    duro_keyspace ks;
    cr_assert_eq(duro_keyspace_init(&ks, "bad:name", 16), DURO_EINVAL);
}

Test(keys, namespace_default_from_env)
{
    unsetenv("DURO_NAMESPACE");
    cr_assert_str_eq(duro_namespace_default(NULL), "default");
    setenv("DURO_NAMESPACE", "env-ns", 1);
    cr_assert_str_eq(duro_namespace_default(NULL), "env-ns");
    cr_assert_str_eq(duro_namespace_default(""), "env-ns");
    cr_assert_str_eq(duro_namespace_default("given"), "given");
    unsetenv("DURO_NAMESPACE");
}

Test(keys, timer_member_round_trip)
{
    char b[256];
    duro_timer_ref t;
    duro_timer_member(b, sizeof(b), 'r', "run-1", 4, 2, "wfq", "actq",
                      "order-7");
    cr_assert_str_eq(b, "r|run-1|4|2|wfq|actq|order-7");
    cr_assert_eq(duro_timer_parse(b, &t), 0);
    cr_assert_eq(t.kind, 'r');
    cr_assert_str_eq(t.run, "run-1");
    cr_assert_eq(t.a, 4);
    cr_assert_eq(t.b, 2);
    cr_assert_str_eq(t.wfqueue, "wfq");
    cr_assert_str_eq(t.actqueue, "actq");
    cr_assert_str_eq(t.id, "order-7");
}

Test(keys, timer_member_defaults_and_pipe_in_id)
{
    char b[256];
    duro_timer_ref t;
    duro_timer_member(b, sizeof(b), 't', "r", 1, 0, "wfq", NULL, "a|b||c|");
    cr_assert_str_eq(b, "t|r|1|0|wfq|-|a|b||c|");
    cr_assert_eq(duro_timer_parse(b, &t), 0);
    cr_assert_str_eq(t.actqueue, "-");
    cr_assert_str_eq(t.id, "a|b||c|");
    duro_timer_member(b, sizeof(b), 'x', "r", 0, 0, "wfq", "", "id");
    cr_assert_str_eq(b, "x|r|0|0|wfq|-|id");
    duro_timer_member(b, sizeof(b), 'w', "r", 9223372036854775807LL, -1, "q",
                      "-", "id");
    cr_assert_eq(duro_timer_parse(b, &t), 0);
    cr_assert_eq(t.a, 9223372036854775807LL);
    cr_assert_eq(t.b, -1);
}

Test(keys, timer_parse_rejects_malformed)
{
    const char *bad[] = {
        "",
        "t",
        "t|r|1|0|q|-",                       /* no id field */
        "t|r|1|0|q|-|",                      /* empty id */
        "tt|r|1|0|q|-|id",                   /* kind of two characters */
        "|r|1|0|q|-|id",                     /* empty kind */
        "t||1|0|q|-|id",                     /* empty run */
        "t|r|x|0|q|-|id",                    /* a not a number */
        "t|r|1|0x|q|-|id",                   /* b with garbage */
        "t|r||0|q|-|id",                     /* empty a */
        "t|r| 1|0|q|-|id",                   /* space before a */
        "t|r|1|0||-|id",                     /* empty wfqueue */
        "t|r|1|0|q||id",                     /* empty actqueue */
        "t|r|99999999999999999999|0|q|-|id", /* overflow */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char b[128];
        duro_timer_ref t;
        snprintf(b, sizeof(b), "%s", bad[i]);
        cr_assert_eq(duro_timer_parse(b, &t), DURO_EPROTO, "accepted \"%s\"",
                     bad[i]);
    }
}
