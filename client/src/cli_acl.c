/* cli_acl.c: `duro operator acl`: prints the ACL SETUSER line of a role
 * (acl_roles.c holds the grants). The password goes out hashed (#<sha256>),
 * never as itself, so the line can be pasted, logged or committed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl_roles.h"
#include "cli.h"
#include "duro/errno.h"
#include "sha256.h"

#define MAX_PASSWORD 1024

const cli_opt cli_acl_opts[] = {
    {"role", 0, "ROLE", "worker, scheduler, client or admin", true},
    {"user", 0, "NAME", "the Redis user name (default duro-<role>)", false},
    {"password-file", 0, "PATH",
     "the user's password: the file's content, one trailing newline dropped",
     false},
    {"password", 0, "PASSWORD",
     "the user's password (ps shows it: prefer --password-file)", false},
    {0},
};

/* read_password: the content of path, one trailing "\n" or "\r\n"
 * dropped, into buf. Returns 0 or prints why and returns CLI_FAILED. */
static int read_password(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return cli_fail_err(DURO_EINVAL, "%s: %s", path, strerror(errno));
    size_t n = fread(buf, 1, size - 1, f);
    int bad = ferror(f) || (!feof(f) && fgetc(f) != EOF);
    fclose(f);
    buf[n] = '\0';
    if (n > 0 && buf[n - 1] == '\n') buf[--n] = '\0';
    if (n > 0 && buf[n - 1] == '\r') buf[--n] = '\0';
    if (bad || n == 0 || strlen(buf) != n)
        return cli_fail_err(DURO_EINVAL, "%s: %s", path,
                            bad      ? "unreadable or over 1023 bytes"
                            : n == 0 ? "empty"
                                     : "holds a NUL byte");
    return 0;
}

/* valid_user: a name that needs no quoting on a redis-cli line. */
static bool valid_user(const char *s)
{
    if (!*s || strlen(s) > 64) return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || strchr("._-", *s)))
            return false;
    return true;
}

/* password_rule fills rule with "#<sha256>" of the password given, or
 * leaves it empty. Returns 0, CLI_USAGE or CLI_FAILED. */
static int password_rule(const cli_ctx *ctx, char *rule, size_t size)
{
    const char *file = cli_get(ctx, "password-file");
    const char *given = cli_get(ctx, "password");
    char pw[MAX_PASSWORD];
    rule[0] = '\0';
    if (file && given)
        return cli_usage(ctx, "give --password-file or --password, not both");
    if (file) {
        int rc = read_password(file, pw, sizeof(pw));
        if (rc) return rc;
    } else if (given) {
        if (!*given || strlen(given) >= sizeof(pw))
            return cli_usage(ctx, "--password must be 1..%d bytes",
                             MAX_PASSWORD - 1);
        snprintf(pw, sizeof(pw), "%s", given);
    } else {
        return 0;
    }
    char hex[65];
    duro__sha256_hex(pw, strlen(pw), hex);
    memset(pw, 0, sizeof(pw));
    snprintf(rule, size, "#%s", hex);
    return 0;
}

int cli_acl(cli_ctx *ctx)
{
    const char *name = cli_get(ctx, "role");
    unsigned role = duro__acl_role_lookup(name);
    if (!role)
        return cli_usage(ctx,
                         "--role must be worker, scheduler, client or admin, "
                         "not \"%s\"",
                         name);
    char user[80];
    snprintf(user, sizeof(user), "%s",
             cli_get(ctx, "user") ? cli_get(ctx, "user") : "");
    if (!user[0]) snprintf(user, sizeof(user), "duro-%s", name);
    if (!valid_user(user))
        return cli_usage(ctx,
                         "--user \"%s\": use 1..64 letters, digits, '.', '_' "
                         "or '-'",
                         user);
    char rule[80];
    int rc = password_rule(ctx, rule, sizeof(rule));
    if (rc) return rc;
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "ACL");
    duro_argv_push(&a, "SETUSER");
    duro_argv_push(&a, user);
    duro__acl_rules(role, rule[0] ? rule : NULL, &a);
    cJSON *words = cli_checked(cJSON_CreateArray());
    for (int i = 0; i < a.argc; i++) {
        cJSON_AddItemToArray(words, cli_checked(cJSON_CreateString(a.argv[i])));
        if (!ctx->json) printf("%s%s", i ? " " : "", a.argv[i]);
    }
    duro_argv_free(&a);
    if (ctx->json) {
        cJSON *o = cli_checked(cJSON_CreateObject());
        cJSON_AddStringToObject(o, "role", name);
        cJSON_AddStringToObject(o, "user", user);
        cJSON_AddBoolToObject(o, "password", rule[0] != '\0');
        cJSON_AddItemToObject(o, "command", words);
        cli_print_json(o);
        cJSON_Delete(o);
    } else {
        printf("\n");
        cJSON_Delete(words);
    }
    if (!rule[0])
        fprintf(stderr,
                "duro: no password given: %s cannot log in until you give it "
                "one (--password-file, or ACL SETUSER %s >PASSWORD)\n",
                user, user);
    return CLI_OK;
}
