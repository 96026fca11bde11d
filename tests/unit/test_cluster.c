/* test_cluster.c: slots, routing keys, redirections, the slot map and the
 * redis+cluster:// URL. */
#include <criterion/criterion.h>
#include <string.h>

#include "duro/cluster.h"
#include "duro/config.h"
#include "duro/errno.h"
#include "duro/lua.h"
#include "fake_reply.h"

static int slot_of(const char *k)
{
    return duro_cluster_slot(k, strlen(k));
}

Test(cluster, slots_match_redis)
{
    /* values from CLUSTER KEYSLOT on Redis 7.0 */
    cr_assert_eq(slot_of("foo"), 12182);
    cr_assert_eq(slot_of("bar"), 5061);
    cr_assert_eq(slot_of("{user1000}.following"), slot_of("user1000"));
    cr_assert_eq(slot_of("duro:{p3}:wf:order-1"), slot_of("p3"));
    cr_assert_eq(slot_of("duro:ns:shop:{p3}:timers"), slot_of("p3"));
    /* an empty tag hashes the whole key; only the first '{' counts */
    cr_assert_eq(slot_of("a{}b"), duro_cluster_slot("a{}b", 4));
    cr_assert_neq(slot_of("{}x"), slot_of("x"));
    cr_assert_eq(slot_of("x{a}{b}"), slot_of("a"));
}

static int key_of(int argc, const char *const *argv)
{
    size_t lens[16];
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    return duro_cluster_argv_key(argc, argv, lens);
}

Test(cluster, routing_keys)
{
    const char *fcall[] = {"FCALL", "duro_start", "2", "duro:{p1}:wf:a", "x"};
    cr_assert_eq(key_of(5, fcall), 3);
    const char *nokeys[] = {"FCALL", "duro_version", "0"};
    cr_assert_eq(key_of(3, nokeys), -1);
    const char *xrg[] = {"XREADGROUP", "GROUP",   "duro",  "w1", "COUNT",
                         "10",         "STREAMS", "s{p1}", ">"};
    cr_assert_eq(key_of(9, xrg), 7);
    const char *xgroup[] = {"XGROUP", "CREATE", "s{p2}", "duro", "0"};
    cr_assert_eq(key_of(5, xgroup), 2);
    const char *hget[] = {"HGET", "duro:meta", "partitions"};
    cr_assert_eq(key_of(3, hget), 1);
    const char *ping[] = {"PING"};
    cr_assert_eq(key_of(1, ping), -1);
    const char *load[] = {"FUNCTION", "LOAD", "REPLACE", "src"};
    cr_assert_eq(key_of(4, load), -1);
    const char *wait[] = {"WAIT", "1", "1000"};
    cr_assert_eq(key_of(3, wait), -1);
    const char *spub[] = {"SPUBLISH", "duro:{p4}:wake", "q"};
    cr_assert_eq(key_of(3, spub), 1);
    duro_argv a;
    duro_argv_init(&a);
    for (int i = 0; i < 5; i++)
        duro_argv_push(&a, fcall[i]);
    cr_assert_eq(duro_cluster_argv_slot(&a), slot_of("p1"));
    duro_argv_free(&a);
}

Test(cluster, redirects)
{
    duro_cluster_redirect r;
    cr_assert(duro_cluster_parse_redirect("MOVED 3999 127.0.0.1:6381", &r));
    cr_assert_not(r.ask);
    cr_assert_eq(r.slot, 3999);
    cr_assert_str_eq(r.addr.host, "127.0.0.1");
    cr_assert_eq(r.addr.port, 6381);
    cr_assert(duro_cluster_parse_redirect("ASK 12 10.0.0.2:7000", &r));
    cr_assert(r.ask);
    cr_assert(duro_cluster_parse_redirect("MOVED 12 :7000", &r));
    cr_assert_str_eq(r.addr.host, "");
    cr_assert_not(duro_cluster_parse_redirect("MOVED 16384 h:1", &r));
    cr_assert_not(duro_cluster_parse_redirect("MOVED x h:1", &r));
    cr_assert_not(duro_cluster_parse_redirect("MOVED 1 h", &r));
    cr_assert_not(duro_cluster_parse_redirect("ERR MOVED 1 h:1", &r));
    cr_assert_not(duro_cluster_parse_redirect(NULL, &r));
}

static redisReply *range(long long lo, long long hi, const char *host,
                         long long port)
{
    return fake_arr(3, fake_int(lo), fake_int(hi),
                    fake_arr(3, fake_str(host), fake_int(port),
                             fake_str("0123456789abcdef")));
}

Test(cluster, slot_map)
{
    static duro_cluster_map m;
    duro_redis_addr from = {.host = "127.0.0.1", .port = 7000};
    redisReply *r =
        fake_arr(4, range(0, 5460, "127.0.0.1", 7000),
                 range(5461, 10922, "127.0.0.1", 7001),
                 range(10923, 16000, "", 7002), range(16001, 16383, "", 7002));
    char err[128];
    cr_assert_eq(duro_cluster_map_parse(&m, r, &from, err, sizeof(err)), 0);
    cr_assert_eq(m.nodes, 3);
    cr_assert_eq(m.slot_node[0], 0);
    cr_assert_eq(m.slot_node[5461], 1);
    cr_assert_eq(m.slot_node[16383], 2);
    cr_assert_str_eq(m.node[2].host, "127.0.0.1"); /* from the asked node */
    freeReplyObject(r);
    /* a hole: no master for those slots */
    r = fake_arr(1, range(0, 100, "h", 1));
    cr_assert_eq(duro_cluster_map_parse(&m, r, &from, err, sizeof(err)), 0);
    cr_assert_eq(m.slot_node[101], -1);
    freeReplyObject(r);
    r = fake_error("ERR This instance has cluster support disabled");
    cr_assert(duro_cluster_reply_disabled(r));
    cr_assert_eq(duro_cluster_map_parse(&m, r, &from, err, sizeof(err)),
                 DURO_EPROTO);
    freeReplyObject(r);
    r = fake_arr(1, fake_arr(2, fake_int(0), fake_int(5)));
    cr_assert_eq(duro_cluster_map_parse(&m, r, &from, err, sizeof(err)),
                 DURO_EPROTO);
    freeReplyObject(r);
    duro_redis_addr n = {.host = "h", .port = 2};
    int before = m.nodes;
    cr_assert_eq(duro_cluster_map_node(&m, &n), before);
    cr_assert_eq(duro_cluster_map_node(&m, &n), before);
}

Test(cluster, seed_urls)
{
    duro_redis_url u;
    char err[256];
    cr_assert_eq(duro_redis_url_parse("redis+cluster://:pw@10.0.0.1:7000,"
                                      "h2,h3:7002",
                                      &u, err, sizeof(err)),
                 0, "%s", err);
    cr_assert_eq(u.cluster, 1);
    cr_assert_eq(u.seeds, 3);
    cr_assert_str_eq(u.seed[1].host, "h2");
    cr_assert_eq(u.seed[1].port, 6379);
    cr_assert_eq(u.seed[2].port, 7002);
    cr_assert_str_eq(u.host, "10.0.0.1");
    cr_assert_eq(u.port, 7000);
    cr_assert_str_eq(u.password, "pw");
    cr_assert_eq(u.tls, 0);
    cr_assert_eq(
        duro_redis_url_parse("redis+cluster://h:1/0", &u, err, sizeof(err)), 0);
    cr_assert_eq(duro_redis_url_parse("redis://h:1", &u, err, sizeof(err)), 0);
    cr_assert_eq(u.cluster, 0);
    cr_assert_eq(u.seeds, 0);
    cr_assert_eq(
        duro_redis_url_parse("redis+cluster://h:1/2", &u, err, sizeof(err)),
        DURO_EINVAL);
    cr_assert(strstr(err, "database 0"), "%s", err);
    cr_assert_eq(duro_redis_url_parse("redis+cluster://", &u, err, sizeof(err)),
                 DURO_EINVAL);
    cr_assert_eq(
        duro_redis_url_parse("redis+cluster://h:0", &u, err, sizeof(err)),
        DURO_EINVAL);
}

Test(cluster, sharded_wake_copy)
{
    size_t n1, n2;
    const char *off = duro_lua_library_source(false, &n1);
    const char *on = duro_lua_library_source(true, &n2);
    cr_assert_eq(n1, n2);
    cr_assert_eq(n1, strlen(on));
    cr_assert(strstr(off, "local SHARDED_WAKE = false\n"));
    cr_assert(strstr(on, "local SHARDED_WAKE = true \n"));
    cr_assert_null(strstr(on, "local SHARDED_WAKE = false"));
}
