/* test_acl_roles.c: the ACL role table (client/src/acl_roles.c) against
 * the Functions library it grants: every registered Function in a role,
 * every command a Function runs held by every role that calls one, no
 * administration in any role; and the password hash it prints. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "acl_roles.h"
#include "duro/lua.h"
#include "sha256.h"

TestSuite(acl_roles, .timeout = 10);

#define W DURO_ACL_WORKER
#define S DURO_ACL_SCHEDULER
#define C DURO_ACL_CLIENT
#define A DURO_ACL_ADMIN

static const unsigned ROLES[] = {W, S, C, A};

/* ---- Reading the library source ---- */

/* next_quoted: after the first `tag` at or past *p, the name between the
 * quotes that follow it, into name; advances *p. false when none is left. */
static bool next_quoted(const char **p, const char *tag, char *name,
                        size_t size)
{
    const char *t = strstr(*p, tag);
    if (!t) return false;
    t += strlen(tag);
    while (*t == ' ' || *t == '(' || *t == '\n')
        t++;
    char q = *t;
    cr_assert(q == '\'' || q == '"', "no quoted name after %s", tag);
    const char *end = strchr(t + 1, q);
    cr_assert(end && (size_t)(end - t - 1) < size);
    memcpy(name, t + 1, (size_t)(end - t - 1));
    name[end - t - 1] = '\0';
    *p = end;
    return true;
}

static const duro__acl_grant *find(const duro__acl_grant *t, const char *name)
{
    for (; t->name; t++)
        if (strcasecmp(t->name, name) == 0) return t;
    return NULL;
}

/* registered: the library registers Function `name`. */
static bool registered(const char *name)
{
    static const char *const tags[] = {"redis.register_function(",
                                       "function_name ="};
    for (int i = 0; i < 2; i++) {
        const char *p = duro_lua_source();
        char found[128];
        while (next_quoted(&p, tags[i], found, sizeof(found)))
            if (strcmp(found, name) == 0) return true;
    }
    return false;
}

/* ---- Functions ---- */

Test(acl_roles, every_registered_function_is_in_a_role)
{
    static const char *const tags[] = {"redis.register_function(",
                                       "function_name ="};
    int n = 0;
    for (int i = 0; i < 2; i++) {
        const char *p = duro_lua_source();
        char name[128];
        while (next_quoted(&p, tags[i], name, sizeof(name))) {
            n++;
            const duro__acl_grant *g = find(duro__acl_functions, name);
            cr_assert(g,
                      "Function %s (common/lua/duro.lua) is in no role: add "
                      "a row to duro__acl_functions in "
                      "client/src/acl_roles.c",
                      name);
            cr_assert(g->roles & (W | S | C), "%s: only admin calls it?", name);
        }
    }
    cr_assert_gt(n, 10, "found only %d registered Functions", n);
}

Test(acl_roles, every_granted_function_is_registered)
{
    for (const duro__acl_grant *g = duro__acl_functions; g->name; g++)
        cr_assert(registered(g->name),
                  "acl_roles.c grants %s, which the library does not register",
                  g->name);
}

/* ---- Commands ---- */

/* The commands a Function runs: Redis checks each against the caller's
 * ACL, so every role that calls a Function holds all of them. */
Test(acl_roles, every_command_a_function_runs_is_held_by_every_caller)
{
    static const char *const tags[] = {
        "redis.call(",  "redis.pcall(", "read('hash',", "read('stream',",
        "read('zset',", "read('list',", "read('set',",  "read('string',"};
    int n = 0;
    for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
        const char *p = duro_lua_source();
        char cmd[64];
        while (strstr(p, tags[i])) {
            /* redis.pcall(cmd, ...) in read() is not a literal */
            const char *t = strstr(p, tags[i]) + strlen(tags[i]);
            while (*t == ' ')
                t++;
            if (*t != '\'' && *t != '"') {
                p = t;
                continue;
            }
            cr_assert(next_quoted(&p, tags[i], cmd, sizeof(cmd)));
            n++;
            const duro__acl_grant *g = find(duro__acl_commands, cmd);
            cr_assert(g, "the Functions run %s, which no role holds", cmd);
            cr_assert_eq(g->roles & (W | S | C), W | S | C,
                         "the Functions run %s: every role that calls one "
                         "needs it",
                         cmd);
        }
    }
    cr_assert_gt(n, 20, "found only %d commands in the library", n);
}

Test(acl_roles, no_role_holds_administration)
{
    static const char *const never[] = {"flushall",       "flushdb",
                                        "config",         "keys",
                                        "shutdown",       "acl",
                                        "debug",          "eval",
                                        "evalsha",        "script",
                                        "function|flush", "function|delete",
                                        "function",       "function|restore",
                                        "module",         "save",
                                        "bgsave",         "replicaof",
                                        "slaveof",        "migrate",
                                        "client|kill",    "monitor",
                                        "fcall",          "fcall_ro"};
    for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
        cr_assert_null(find(duro__acl_commands, never[i]), "a role holds %s",
                       never[i]);
    const duro__acl_grant *load = find(duro__acl_commands, "function|load");
    cr_assert(load);
    for (int i = 0; i < 3; i++)
        cr_assert(!duro__acl_has(load, ROLES[i]), "%s may load Functions",
                  duro__acl_role_name(ROLES[i]));
    cr_assert(duro__acl_has(load, A));
}

Test(acl_roles, rows_are_unique_lower_case_words)
{
    const duro__acl_grant *tables[] = {duro__acl_commands, duro__acl_functions};
    for (int t = 0; t < 2; t++)
        for (const duro__acl_grant *g = tables[t]; g->name; g++) {
            cr_assert_eq(find(g + 1, g->name), NULL, "%s twice", g->name);
            for (const char *c = g->name; *c; c++)
                cr_assert((*c >= 'a' && *c <= 'z') || *c == '_' || *c == '|',
                          "%s: not a lower-case command word", g->name);
        }
}

/* ---- The rules ---- */

Test(acl_roles, rules_reset_then_grant_only_duro_keys_and_channels)
{
    for (int i = 0; i < 4; i++) {
        duro_argv a;
        duro_argv_init(&a);
        duro__acl_rules(ROLES[i], "#ab", &a);
        /* admin writes every duro: key; the others read them all and
         * write only the partitions, duro:meta, duro:queues, duro:dead */
        static const char *const admin[] = {
            "reset",   "on",      "#ab",  "resetchannels",
            "~duro:*", "&duro:*", "-@all"};
        static const char *const other[] = {
            "reset",        "on",         "#ab",        "resetchannels",
            "%R~duro:*",    "~duro:{*",   "~duro:ns:*", "~duro:meta",
            "~duro:queues", "~duro:dead", "&duro:*",    "-@all"};
        const char *const *head = ROLES[i] == A ? admin : other;
        int nhead = ROLES[i] == A ? 7 : 12;
        for (int j = 0; j < nhead; j++)
            cr_assert_str_eq(a.argv[j], head[j]);
        int fcalls = 0;
        for (int j = nhead; j < a.argc; j++) {
            cr_assert_eq(a.argv[j][0], '+', "%s", a.argv[j]);
            cr_assert(!strchr(a.argv[j], '~') && !strchr(a.argv[j], '&'));
            fcalls += strncmp(a.argv[j], "+fcall|", 7) == 0;
        }
        cr_assert_gt(fcalls, 1, "%s calls no Function",
                     duro__acl_role_name(ROLES[i]));
        duro_argv_free(&a);
    }
    cr_assert_eq(duro__acl_role_lookup("worker"), W);
    cr_assert_eq(duro__acl_role_lookup("admin"), A);
    cr_assert_eq(duro__acl_role_lookup("root"), 0);
    cr_assert_eq(duro__acl_role_lookup(NULL), 0);
}

/* ---- Password hashes ---- */

Test(acl_roles, sha256_matches_the_standard_vectors)
{
    static const struct {
        const char *in, *hex;
    } v[] = {
        {"",
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc",
         "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        /* what Redis' ACL GETUSER shows for the password "pw" */
        {"pw",
         "30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4"},
    };
    char out[65];
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        duro__sha256_hex(v[i].in, strlen(v[i].in), out);
        cr_assert_str_eq(out, v[i].hex, "sha256(\"%s\")", v[i].in);
    }
    static char million[1000000];
    memset(million, 'a', sizeof(million));
    duro__sha256_hex(million, sizeof(million), out);
    cr_assert_str_eq(
        out,
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    /* 55, 56 and 64 bytes: the padding's edge cases */
    static const struct {
        size_t n;
        const char *hex;
    } edge[] = {
        {55,
         "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56,
         "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {64,
         "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
    };
    for (size_t i = 0; i < sizeof(edge) / sizeof(edge[0]); i++) {
        duro__sha256_hex(million, edge[i].n, out);
        cr_assert_str_eq(out, edge[i].hex, "%zu bytes of 'a'", edge[i].n);
    }
}
