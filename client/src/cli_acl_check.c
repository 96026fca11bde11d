/* cli_acl_check.c: before `duro operator init` loads a new Functions
 * library, each Redis user of a Duro role is asked (ACL DRYRUN) for every
 * grant of its role in this build's rules (acl_roles.c).
 *
 * Why: Redis checks the commands a Function runs against the ACL of the
 * user who called FCALL. A new library may run a command that the rules
 * the users were made with lack (library 44 added HLEN, SCARD, XLEN); once
 * it is loaded, every call of such a Function by such a user is refused
 * (a worker's commits: COMMIT-REJECTED ... can't run this command). The
 * rules must be applied again first (README, "ACL roles"); this check
 * catches the operator who did not, before anything changes.
 *
 * How, with no password hash read (not ACL GETUSER or ACL LIST):
 *   ACL USERS                     the names;
 *   ACL DRYRUN user FCALL duro_version 0, and a write of a duro:{p0} key
 *                                 (HSET, XADD or ZADD): a Duro user; an
 *                                 application's user (~food:* +@all) or a
 *                                 reader's is none of Duro's business;
 *   ACL DRYRUN user FCALL name 0  per Function: which it holds, so that a
 *                                 user named otherwise than duro-ROLE is
 *                                 judged by its Functions;
 *   ACL DRYRUN user CMD [SUB] k.. per command of its role, every argument
 *                                 the key duro:{p0}:x (also a channel name
 *                                 under &duro:*), so that a key or channel
 *                                 pattern the user lacks shows too.
 * A user that may write no default namespace's key is tried with each
 * registered namespace's (duro:ns:NAME:{p0}:x, SMEMBERS duro:namespaces):
 * an operator may have narrowed a role's rule to one namespace, and such
 * a user is as refused as any by a new library's command.
 * DRYRUN answers +OK when allowed, a bulk string saying why not when
 * refused, and an error when the arguments do not fit the command's
 * arity (checked before the user's rights, whoever the user): the first
 * count of arguments that is not an error is remembered per command. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "acl_roles.h"
#include "cli.h"
#include "cli_acl_check.h"
#include "duro/errno.h"
#include "duro/keys.h"
#include "duro/log.h"
#include "duro/redis.h"

/* PROBE_SUFFIX: after a namespace's prefix ("duro:" for default), a key
 * of partition 0, and a name under the channels' pattern. */
#define PROBE_SUFFIX "{p0}:x"
/* MAX_SPACES: the most registered namespaces tried per user. */
#define MAX_SPACES 64
/* MAX_EXTRA: the most arguments tried after a command's name (XREADGROUP
 * needs 6). */
#define MAX_EXTRA 8
#define MAX_ROWS 128
#define WHY_SIZE 256

enum { DENIED = 0, GRANTED = 1, BAD_ARGS = 2 };

/* checker: one server's check; key: the probe key of the user being
 * judged (a namespace's it may write); spaces: the registered namespaces
 * (SMEMBERS reply, borrowed; NULL: none); extra[i]: 1 + the argument
 * count that fits command row i, 0 while unknown. */
typedef struct {
    redisContext *c;
    char key[DURO_PREFIX_MAX + sizeof(PROBE_SUFFIX)];
    const redisReply *spaces;
    int extra[MAX_ROWS];
    char *err;
    size_t errsize;
} checker;

/* ---- ACL DRYRUN ---- */

/* dryrun: ACL DRYRUN user words[0..n) followed by `extra` ck->keys.
 * Returns GRANTED, DENIED (Redis' reason in why), BAD_ARGS (an ERR reply:
 * arity, an unknown command or user; in why), or a negative DURO_E* (in
 * ck->err): the connection, or any other error reply (BUSY, LOADING,
 * NOPERM, ...), which says nothing of the user and must not pass for a
 * refusal or a non-Duro user. */
static int dryrun(checker *ck, const char *user, const char *const *words,
                  int n, int extra, char *why)
{
    const char *argv[3 + 4 + MAX_EXTRA];
    int argc = 0;
    argv[argc++] = "ACL";
    argv[argc++] = "DRYRUN";
    argv[argc++] = user;
    for (int i = 0; i < n && i < 4; i++)
        argv[argc++] = words[i];
    for (int i = 0; i < extra && i < MAX_EXTRA; i++)
        argv[argc++] = ck->key;
    redisReply *r = redisCommandArgv(ck->c, argc, argv, NULL);
    if (!r) {
        snprintf(ck->err, ck->errsize, "ACL DRYRUN: %s", ck->c->errstr);
        return DURO_ECONN;
    }
    int rc = r->type == REDIS_REPLY_STATUS  ? GRANTED
             : r->type == REDIS_REPLY_ERROR ? duro_redis_error_code(r->str)
                                            : DENIED;
    if (rc == DURO_EREDIS) rc = BAD_ARGS;
    if (rc < 0) snprintf(ck->err, ck->errsize, "ACL DRYRUN: %s", r->str);
    snprintf(why, WHY_SIZE, "%s",
             r->str && r->type != REDIS_REPLY_STATUS ? r->str : "");
    freeReplyObject(r);
    return rc;
}

/* command: DRYRUN of command row i ("cmd" or "cmd|sub") for user, with
 * the first argument count that fits. BAD_ARGS when none does (a command
 * this server does not have: no rule can grant it either). */
static int command(checker *ck, const char *user, int i, char *why)
{
    char name[64];
    snprintf(name, sizeof(name), "%s", duro__acl_commands[i].name);
    const char *words[2] = {name, NULL};
    char *bar = strchr(name, '|');
    if (bar) {
        *bar = '\0';
        words[1] = bar + 1;
    }
    int first = ck->extra[i] ? ck->extra[i] - 1 : 0;
    int last = ck->extra[i] ? first : MAX_EXTRA;
    for (int n = first; n <= last; n++) {
        int rc = dryrun(ck, user, words, bar ? 2 : 1, n, why);
        if (rc < 0) return rc;
        if (rc != BAD_ARGS) {
            ck->extra[i] = n + 1;
            return rc;
        }
    }
    return BAD_ARGS;
}

/* function: DRYRUN of FCALL (FCALL_RO for a read-only row) of Function row
 * i for user. */
static int function(checker *ck, const char *user, int i, char *why)
{
    const duro__acl_grant *g = &duro__acl_functions[i];
    const char *words[3] = {(g->roles & DURO_ACL_RO) ? "FCALL_RO" : "FCALL",
                            g->name, "0"};
    return dryrun(ck, user, words, 3, 0, why);
}

/* ---- Judging a user ---- */

/* probe_key sets ck->key to namespace ns's probe key (NULL: default's);
 * false for a name that is none (the registry is data from outside). */
static bool probe_key(checker *ck, const char *ns)
{
    duro_keyspace ks;
    if (duro_keyspace_init(&ks, ns, 0) != 0) return false;
    snprintf(ck->key, sizeof(ck->key), "%s" PROBE_SUFFIX, ks.prefix);
    return true;
}

/* may_write: user may write ck->key (HSET, XADD or ZADD). */
static int may_write(checker *ck, const char *user, bool *yes)
{
    const char *const writes[][5] = {
        {"HSET", ck->key, "f", "v"},
        {"XADD", ck->key, "*", "f", "v"},
        {"ZADD", ck->key, "1", "m"},
    };
    static const int nwords[] = {4, 5, 4};
    char why[WHY_SIZE];
    *yes = false;
    for (size_t i = 0; i < sizeof(nwords) / sizeof(*nwords) && !*yes; i++) {
        int rc = dryrun(ck, user, writes[i], nwords[i], 0, why);
        if (rc < 0) return rc;
        *yes = rc == GRANTED;
    }
    return 0;
}

/* is_duro: user may call duro_version and write a key of the default
 * namespace or of a registered one (ck->key then that key). */
static int is_duro(checker *ck, const char *user, bool *yes)
{
    static const char *const version[] = {"FCALL", "duro_version", "0"};
    char why[WHY_SIZE];
    *yes = false;
    probe_key(ck, NULL);
    int rc = dryrun(ck, user, version, 3, 0, why);
    if (rc != GRANTED) return rc < 0 ? rc : 0;
    rc = may_write(ck, user, yes);
    size_t n = ck->spaces ? ck->spaces->elements : 0;
    for (size_t i = 0; rc == 0 && !*yes && i < n && i < MAX_SPACES; i++) {
        const redisReply *e = ck->spaces->element[i];
        if (e->type == REDIS_REPLY_STRING && probe_key(ck, e->str))
            rc = may_write(ck, user, yes);
    }
    return rc;
}

/* role_of: the role user's name says (duro-ROLE), else the one whose
 * Functions differ least from those it holds (held[i]: Function row i),
 * counting both the missing and the extra; admin holds them all. A tie
 * goes to the narrower role (worker, scheduler, client, admin). */
static unsigned role_of(const char *user, const bool *held)
{
    if (strncmp(user, "duro-", 5) == 0 && duro__acl_role_lookup(user + 5))
        return duro__acl_role_lookup(user + 5);
    static const unsigned roles[] = {DURO_ACL_WORKER, DURO_ACL_SCHEDULER,
                                     DURO_ACL_CLIENT, DURO_ACL_ADMIN};
    unsigned best = DURO_ACL_ADMIN;
    int best_diff = -1;
    for (size_t r = 0; r < sizeof(roles) / sizeof(*roles); r++) {
        int diff = 0;
        for (int i = 0; duro__acl_functions[i].name; i++)
            diff += duro__acl_has(&duro__acl_functions[i], roles[r]) != held[i];
        if (best_diff < 0 || diff < best_diff) {
            best = roles[r];
            best_diff = diff;
        }
    }
    return best;
}

static void add_missing(cJSON *missing, const char *fmt, const char *name,
                        const char *why)
{
    char grant[80];
    snprintf(grant, sizeof(grant), fmt, name);
    cJSON *m = cli_checked(cJSON_CreateObject());
    cli_checked(cJSON_AddStringToObject(m, "grant", grant));
    cli_checked(cJSON_AddStringToObject(m, "why", why));
    cJSON_AddItemToArray(missing, m);
}

/* asked: whether command row g is asked of user, judged role: every row
 * of its role, but admin's own (FUNCTION LOAD, SCAN, UNLINK, ACL
 * USERS|DRYRUN) of duro-admin only. One named otherwise is judged admin
 * for holding every Function, as an application's broad user does (~*
 * +@all -@dangerous); no Function runs those commands, and a `duro
 * operator` command run as that user is refused them at once, not after a
 * library was loaded: blocking init for them would help no one. */
static bool asked(const duro__acl_grant *g, unsigned role, const char *user)
{
    unsigned others = DURO_ACL_WORKER | DURO_ACL_SCHEDULER | DURO_ACL_CLIENT;
    if (!duro__acl_has(g, role)) return false;
    return (g->roles & others) != 0 || strcmp(user, "duro-admin") == 0;
}

/* check_user appends user's finding to users when it is a Duro user
 * lacking a grant of its role. */
static int check_user(checker *ck, const char *user, const char *node,
                      cJSON *users)
{
    bool duro = false, held[MAX_ROWS] = {false};
    char why[MAX_ROWS][WHY_SIZE];
    int rc = is_duro(ck, user, &duro);
    if (rc || !duro) return rc;
    for (int i = 0; i < MAX_ROWS && duro__acl_functions[i].name; i++) {
        rc = function(ck, user, i, why[i]);
        if (rc < 0) return rc;
        held[i] = rc == GRANTED;
    }
    unsigned role = role_of(user, held);
    cJSON *missing = cli_checked(cJSON_CreateArray());
    for (int i = 0; i < MAX_ROWS && duro__acl_functions[i].name; i++) {
        const duro__acl_grant *g = &duro__acl_functions[i];
        if (duro__acl_has(g, role) && !held[i])
            add_missing(missing,
                        (g->roles & DURO_ACL_RO) ? "fcall_ro|%s" : "fcall|%s",
                        g->name, why[i]);
    }
    for (int i = 0; i < MAX_ROWS && duro__acl_commands[i].name; i++) {
        if (!asked(&duro__acl_commands[i], role, user)) continue;
        char reason[WHY_SIZE];
        rc = command(ck, user, i, reason);
        if (rc < 0) {
            cJSON_Delete(missing);
            return rc;
        }
        if (rc == DENIED)
            add_missing(missing, "%s", duro__acl_commands[i].name, reason);
    }
    if (cJSON_GetArraySize(missing) == 0) {
        cJSON_Delete(missing);
        return 0;
    }
    cJSON *u = cli_checked(cJSON_CreateObject());
    cli_checked(cJSON_AddStringToObject(u, "user", user));
    cli_checked(cJSON_AddStringToObject(u, "role", duro__acl_role_name(role)));
    if (node) cli_checked(cJSON_AddStringToObject(u, "node", node));
    cJSON_AddItemToObject(u, "missing", missing);
    cJSON_AddItemToArray(users, u);
    return 0;
}

/* ---- One server ---- */

/* may_check: c's user may run ACL USERS (its reply in *names, the
 * caller's) and ACL DRYRUN (asked of the default user, which every server
 * has). */
static int may_check(checker *ck, redisReply **names)
{
    redisReply *r = redisCommand(ck->c, "ACL USERS");
    *names = NULL;
    if (!r) {
        snprintf(ck->err, ck->errsize, "ACL USERS: %s", ck->c->errstr);
        return DURO_ECONN;
    }
    if (r->type == REDIS_REPLY_ERROR || r->type != REDIS_REPLY_ARRAY) {
        snprintf(ck->err, ck->errsize, "ACL USERS: %s",
                 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        int rc = r->type == REDIS_REPLY_ERROR ? duro_redis_error_code(r->str)
                                              : DURO_EPROTO;
        freeReplyObject(r);
        return rc;
    }
    char why[WHY_SIZE];
    static const char *const ping[] = {"PING"};
    int rc = dryrun(ck, "default", ping, 1, 0, why);
    if (rc == BAD_ARGS) {
        snprintf(ck->err, ck->errsize, "ACL DRYRUN: %s", why);
        rc = duro_redis_error_code(why);
    }
    if (rc < 0) {
        freeReplyObject(r);
        return rc;
    }
    *names = r;
    return 0;
}

/* rows: the rows of table t before its {NULL, 0} end; more than MAX_ROWS
 * would go unchecked past the checker's arrays, silently. */
static int rows(const duro__acl_grant *t)
{
    int n = 0;
    while (t[n].name)
        n++;
    return n;
}

int cli_acl_check_node(redisContext *c, const char *node,
                       const redisReply *spaces, cJSON *users, char *err,
                       size_t errsize)
{
    checker ck = {.c = c, .spaces = spaces, .err = err, .errsize = errsize};
    duro_assert(rows(duro__acl_commands) <= MAX_ROWS &&
                rows(duro__acl_functions) <= MAX_ROWS);
    redisReply *names;
    int rc = may_check(&ck, &names);
    for (size_t i = 0; rc == 0 && i < names->elements; i++) {
        const redisReply *n = names->element[i];
        if (n->type == REDIS_REPLY_STRING)
            rc = check_user(&ck, n->str, node, users);
    }
    if (names) freeReplyObject(names);
    return rc;
}

/* ---- Report ---- */

/* SHELL_SAFE: the characters no shell gives a meaning to. */
#define SHELL_SAFE                                                             \
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.,:@%+=-/"

/* shell_word prints s to stderr as one shell word: bare when it is safe,
 * else single-quoted, since a Redis user name may hold any byte but a
 * space or NUL (a | or ; in it would end the printed command line). */
static void shell_word(const char *s)
{
    if (s[0] && s[strspn(s, SHELL_SAFE)] == '\0') {
        fputs(s, stderr);
        return;
    }
    fputc('\'', stderr);
    for (; *s; s++)
        if (*s == '\'')
            fputs("'\\''", stderr);
        else
            fputc(*s, stderr);
    fputc('\'', stderr);
}

/* fix_word: the ACL SETUSER word that gives what missing entry m lacks,
 * in out: the command (+hlen), or, when Redis refused the probe key or
 * channel rather than the command, the pattern (the key's namespace's
 * partitions, ~duro:{* or ~duro:ns:NAME:{*; the channels, &duro:*). */
static void fix_word(const cJSON *m, char *out, size_t size)
{
    const char *grant = cJSON_GetStringValue(cJSON_GetObjectItem(m, "grant"));
    const char *why = cJSON_GetStringValue(cJSON_GetObjectItem(m, "why"));
    const char *quote = why ? strchr(why, '\'') : NULL;
    const char *part = quote ? strstr(quote, PROBE_SUFFIX "' key") : NULL;
    if (quote && strstr(quote, PROBE_SUFFIX "' channel"))
        snprintf(out, size, "%s", DURO_ACL_CHANNELS);
    else if (part)
        snprintf(out, size, "~%.*s{*", (int)(part - quote - 1), quote + 1);
    else
        snprintf(out, size, "+%s", grant);
}

/* print_fix prints the command line that gives user finding u what it
 * lacks. A user named duro-ROLE gets its role's rule again (reset: it
 * holds that rule only). One named otherwise was judged by its Functions
 * and may be an application's user too (~* +@all -@dangerous), or one
 * narrowed to a namespace: the rule would reset its own rights, so it
 * gets ACL SETUSER of what it lacks, each word once. */
static void print_fix(const cJSON *u)
{
    const char *user = cJSON_GetStringValue(cJSON_GetObjectItem(u, "user"));
    const char *role = cJSON_GetStringValue(cJSON_GetObjectItem(u, "role"));
    const char *node = cJSON_GetStringValue(cJSON_GetObjectItem(u, "node"));
    bool named = strncmp(user, "duro-", 5) == 0 && strcmp(user + 5, role) == 0;
    if (named)
        fprintf(stderr,
                "  duro operator acl --role %s --user %s "
                "--password-file FILE | ",
                role, user);
    fputs(named ? "redis-cli" : "  redis-cli", stderr);
    if (node) fprintf(stderr, " -u redis://%s", node);
    if (!named) {
        fputs(" ACL SETUSER ", stderr);
        shell_word(user);
        const cJSON *m;
        char said[2][96] = {"", ""}; /* the patterns printed */
        cJSON_ArrayForEach(m, cJSON_GetObjectItem(u, "missing"))
        {
            char word[96];
            fix_word(m, word, sizeof(word));
            int kind = word[0] == '~' ? 0 : word[0] == '&' ? 1 : -1;
            if (kind >= 0 && strcmp(said[kind], word) == 0) continue;
            if (kind >= 0) snprintf(said[kind], sizeof(said[kind]), "%s", word);
            fputc(' ', stderr);
            shell_word(word);
        }
    }
    fputc('\n', stderr);
}

int cli_acl_check_report(const cJSON *users, bool json)
{
    int n = cJSON_GetArraySize(users);
    char msg[256];
    snprintf(msg, sizeof(msg),
             "nothing loaded or created: %d Redis user%s of Duro lack%s "
             "grants of this build's rules, and Redis checks the commands a "
             "Function runs against its caller's ACL",
             n, n == 1 ? "" : "s", n == 1 ? "s" : "");
    if (json) {
        cJSON *o = cli_checked(cJSON_CreateObject());
        cJSON *e = cli_checked(cJSON_AddObjectToObject(o, "error"));
        cli_checked(
            cJSON_AddStringToObject(e, "code", cli_err_code(DURO_EAUTH)));
        cli_checked(cJSON_AddStringToObject(e, "message", msg));
        cJSON_AddItemToObject(e, "aclUsers",
                              cli_checked(cJSON_Duplicate(users, true)));
        char *text = cli_checked(cJSON_PrintUnformatted(o));
        fprintf(stderr, "%s\n", text);
        cJSON_free(text);
        cJSON_Delete(o);
        return CLI_FAILED;
    }
    fprintf(stderr, "duro: %s:\n", msg);
    const cJSON *u;
    cJSON_ArrayForEach(u, users)
    {
        const char *node = cJSON_GetStringValue(cJSON_GetObjectItem(u, "node"));
        fprintf(stderr, "  user %s%s%s (role %s) lacks:",
                cJSON_GetStringValue(cJSON_GetObjectItem(u, "user")),
                node ? " on " : "", node ? node : "",
                cJSON_GetStringValue(cJSON_GetObjectItem(u, "role")));
        const cJSON *m;
        cJSON_ArrayForEach(m, cJSON_GetObjectItem(u, "missing"))
            fprintf(stderr, " %s",
                    cJSON_GetStringValue(cJSON_GetObjectItem(m, "grant")));
        fputc('\n', stderr);
    }
    fprintf(stderr, "Apply this build's rules again, as Redis' administrator "
                    "(on a Redis Cluster: on every node): a duro-ROLE user's "
                    "whole rule, with its own password; to a user named "
                    "otherwise (an application's too, perhaps), the grants "
                    "it lacks:\n");
    cJSON_ArrayForEach(u, users) print_fix(u);
    fprintf(stderr, "  redis-cli ACL SAVE   # with an aclfile; or CONFIG "
                    "REWRITE\nthen run `duro operator init` again (or with "
                    "--skip-acl-check, to load the library anyway)\n");
    return CLI_FAILED;
}

/* ---- Every master ---- */

/* namespaces: the registered namespaces' names (an array reply, the
 * caller's), or NULL when they cannot be read: then only the default
 * namespace's users are found, and ACL USERS meets the same trouble. */
static redisReply *namespaces(duro_cluster_sync *r)
{
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "SMEMBERS");
    duro_argv_push(&a, DURO_NAMESPACES_KEY);
    redisReply *reply = duro_cluster_sync_call(r, &a);
    duro_argv_free(&a);
    if (reply && reply->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(reply);
        reply = NULL;
    }
    return reply;
}

int cli_acl_check(const cli_ctx *ctx, duro_cluster_sync *r, const char **state)
{
    bool sharded = duro_cluster_sync_is_cluster(r);
    int n = duro_cluster_sync_masters(r);
    cJSON *users = cli_checked(cJSON_CreateArray());
    char err[512] = "", refused[300 + 2 + 512] = "";
    int rc = 0;
    redisReply *spaces = namespaces(r);
    for (int i = 0; rc == 0 && i < n; i++) {
        redisContext *c = sharded ? duro_cluster_sync_master_context(r, i)
                                  : duro_cluster_sync_context(r, -1);
        char node[300];
        if (!c) {
            snprintf(err, sizeof(err), "%s", duro_cluster_sync_errstr(r));
            rc = DURO_ECONN;
            break;
        }
        if (sharded)
            snprintf(node, sizeof(node), "%s:%d",
                     c->tcp.host ? c->tcp.host : "?", c->tcp.port);
        rc = cli_acl_check_node(c, sharded ? node : NULL, spaces, users, err,
                                sizeof(err));
        /* a master that may not be asked leaves the others to check, and
         * their findings to report; the first such is named */
        if ((rc == DURO_EAUTH || rc == DURO_EREDIS) && !refused[0])
            snprintf(refused, sizeof(refused), "%s%s%s", sharded ? node : "",
                     sharded ? ": " : "", err);
        if (rc == DURO_EAUTH || rc == DURO_EREDIS) rc = 0;
    }
    int status = CLI_OK;
    *state = "passed";
    if (rc) {
        /* the server could not answer (BUSY, LOADING, the connection): a
         * check that did not run is no reason to load unchecked */
        status = cli_fail_err(rc, "%s", err);
    } else if (cJSON_GetArraySize(users) > 0) {
        status = cli_acl_check_report(users, ctx->json || cli_json_errors);
    } else if (refused[0]) {
        /* Init's own user may not ask (NOPERM) on a server, the others
         * found nothing: its rule predates this check (an admin user made
         * before this build), or the server refuses ACL commands (managed
         * Redis: ERR unknown command). Warn and go on rather than stop:
         * the first case is one upgrade, whose own README steps apply the
         * rules again before init; the second would need
         * --skip-acl-check at every init, which hides this warning too. */
        *state = "unchecked";
        fprintf(stderr,
                "duro: warning: could not check the Duro users' ACL grants "
                "before loading the Functions library (%s): this user needs "
                "ACL USERS and ACL DRYRUN, which this build's admin rule "
                "grants; apply every role's rule again (duro operator acl "
                "--role admin|worker|scheduler|client ... | redis-cli), or a "
                "user whose rule lacks a command the new library runs is "
                "refused it (a worker's commits: COMMIT-REJECTED)\n",
                refused);
    }
    cJSON_Delete(users);
    if (spaces) freeReplyObject(spaces);
    return status;
}
