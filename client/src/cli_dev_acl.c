/* cli_dev_acl.c: `duro dev --acl`: least privilege on the dev server.
 *
 * The users are made from the very rules `duro operator acl` prints
 * (duro__acl_rules), so the dev server checks those grants every time
 * someone runs against it. Passwords are generated into files of mode
 * 0600 (kept across restarts, so a shell's DURO_REDIS_PASSWORD_FILE stays
 * good) and go to Redis hashed; none is printed, logged or put on a
 * command line. Once the users exist the default user is switched off, and
 * a watch thread reports each refusal Redis records (ACL LOG) as it
 * happens, so a missing grant shows in the dev server's output at once
 * instead of as a puzzling error in some component. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "acl_roles.h"
#include "cli_dev_acl.h"
#include "duro/errno.h"
#include "duro/log.h"
#include "sha256.h"

#define PASSWORD_BYTES 24 /* 48 hex digits */
#define WATCH_MS 200
#define MAX_SEEN 128 /* Redis keeps acllog-max-len (128) entries */

static const char *const ROLES[] = {"worker", "scheduler", "client", "admin"};

/* ---- Passwords ---- */

static void password_path(const char *dir, const char *role, char *out,
                          size_t size)
{
    snprintf(out, size, "%s/" CLI_DEV_ACL_SUBDIR "/%s.password", dir, role);
}

/* read_password: the file's first line into out (1..size-1 bytes of
 * [0-9a-zA-Z]); -1 when missing or not one of ours. */
static int read_password(const char *path, char *out, size_t size)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    bool ok = fgets(out, (int)size, f) != NULL;
    fclose(f);
    if (!ok) return -1;
    out[strcspn(out, "\r\n")] = '\0';
    size_t n = strspn(out, "0123456789abcdefABCDEF");
    return n >= 16 && out[n] == '\0' ? 0 : -1;
}

/* new_password writes fresh random hex into path (0600, created
 * exclusively after removing a bad one) and out. */
static int new_password(const char *path, char *out, size_t size, char *err,
                        size_t errsize)
{
    unsigned char b[PASSWORD_BYTES];
    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b) ||
        size < 2 * sizeof(b) + 1) {
        snprintf(err, errsize, "no random bytes for a password: %s",
                 strerror(errno));
        return DURO_EINVAL;
    }
    for (size_t i = 0; i < sizeof(b); i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    bool ok = f && fprintf(f, "%s\n", out) > 0;
    if (f ? fclose(f) != 0 : (fd >= 0 && close(fd) != 0)) ok = false;
    if (!ok) {
        snprintf(err, errsize, "cannot write %.300s: %s", path,
                 strerror(errno));
        return DURO_EINVAL;
    }
    return 0;
}

/* password: role's password from its file, made when missing. */
static int password(const char *dir, const char *role, char *out, size_t size,
                    char *err, size_t errsize)
{
    char path[4400];
    password_path(dir, role, path, sizeof(path));
    if (read_password(path, out, size) == 0) {
        chmod(path, 0600); /* a copied directory may have loosened it */
        return 0;
    }
    return new_password(path, out, size, err, errsize);
}

/* ---- Users ---- */

/* setuser sends ACL SETUSER user <rules...>. */
static int setuser(redisContext *c, duro_argv *a, const char *user, char *err,
                   size_t errsize)
{
    redisReply *r =
        redisCommandArgv(c, a->argc, (const char **)a->argv, a->lens);
    int rc = 0;
    if (!r || r->type != REDIS_REPLY_STATUS) {
        snprintf(err, errsize, "ACL SETUSER %s: %s", user,
                 !r                             ? c->errstr
                 : r->type == REDIS_REPLY_ERROR ? r->str
                                                : "unexpected reply");
        rc = r ? duro_redis_error_code(r->type == REDIS_REPLY_ERROR ? r->str
                                                                    : "")
               : DURO_ECONN;
        if (!rc) rc = DURO_EPROTO;
    }
    if (r) freeReplyObject(r);
    return rc;
}

/* rule_for: "#<sha256>" of role's password (Redis never sees it plain). */
static int rule_for(const char *dir, const char *role, char rule[66], char *err,
                    size_t errsize)
{
    char pw[128], hex[65];
    int rc = password(dir, role, pw, sizeof(pw), err, errsize);
    if (rc) return rc;
    duro__sha256_hex(pw, strlen(pw), hex);
    memset(pw, 0, sizeof(pw));
    snprintf(rule, 66, "#%s", hex);
    return 0;
}

/* app_user: duro-app, the application's own keys (the food example's
 * simulated services): reads, writes and scripts there, nothing of
 * Duro's, no administration. */
static int app_user(redisContext *c, const char *dir, const char *keys,
                    char *err, size_t errsize)
{
    char rule[66];
    int rc = rule_for(dir, "app", rule, err, errsize);
    if (rc) return rc;
    duro_argv a;
    duro_argv_init(&a);
    static const char *const words[] = {
        "ACL",     "SETUSER",     "duro-app", "reset",    "on",       NULL,
        NULL,      "+@read",      "+@write",  "+eval",    "+evalsha", "+ping",
        "+select", "-@dangerous", "-@admin",  "-function"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (i == 5)
            duro_argv_push(&a, rule);
        else if (i == 6)
            duro_argv_pushf(&a, "~%s", keys);
        else
            duro_argv_push(&a, words[i]);
    }
    rc = setuser(c, &a, "duro-app", err, errsize);
    duro_argv_free(&a);
    return rc;
}

int cli_dev_acl_users(redisContext *c, const char *dir, const char *app_keys,
                      char *err, size_t errsize)
{
    char sub[4200];
    snprintf(sub, sizeof(sub), "%s/" CLI_DEV_ACL_SUBDIR, dir);
    if ((mkdir(sub, 0700) != 0 && errno != EEXIST) || chmod(sub, 0700) != 0) {
        snprintf(err, errsize, "cannot create %.300s: %s", sub,
                 strerror(errno));
        return DURO_EINVAL;
    }
    for (size_t i = 0; i < sizeof(ROLES) / sizeof(ROLES[0]); i++) {
        char rule[66], user[32];
        int rc = rule_for(dir, ROLES[i], rule, err, errsize);
        if (rc) return rc;
        snprintf(user, sizeof(user), "duro-%s", ROLES[i]);
        duro_argv a;
        duro_argv_init(&a);
        duro_argv_push(&a, "ACL");
        duro_argv_push(&a, "SETUSER");
        duro_argv_push(&a, user);
        duro__acl_rules(duro__acl_role_lookup(ROLES[i]), rule, &a);
        rc = setuser(c, &a, user, err, errsize);
        duro_argv_free(&a);
        if (rc) return rc;
    }
    return app_keys ? app_user(c, dir, app_keys, err, errsize) : 0;
}

int cli_dev_acl_url(const char *dir, const char *role, const char *scheme,
                    int port, char *out, size_t size)
{
    char path[4400], pw[128];
    password_path(dir, role, path, sizeof(path));
    if (read_password(path, pw, sizeof(pw))) return -1;
    snprintf(out, size, "%s://duro-%s:%s@127.0.0.1:%d", scheme, role, pw, port);
    memset(pw, 0, sizeof(pw));
    return 0;
}

/* ---- The watch ---- */

/* One ACL LOG entry's identity; Redis counts repeats of it in place. */
typedef struct {
    char key[256];
    long long count;
} seen_entry;

struct cli_dev_acl {
    redisContext *c;
    pthread_t thread;
    atomic_bool stop;
    seen_entry seen[MAX_SEEN];
    int nseen;
    long long denied;
};

static const char *field(const redisReply *e, const char *name)
{
    for (size_t j = 0; j + 1 < e->elements; j += 2)
        if (e->element[j]->type == REDIS_REPLY_STRING &&
            strcmp(e->element[j]->str, name) == 0 &&
            e->element[j + 1]->type == REDIS_REPLY_STRING)
            return e->element[j + 1]->str;
    return "";
}

static long long count_of(const redisReply *e)
{
    for (size_t j = 0; j + 1 < e->elements; j += 2)
        if (strcmp(e->element[j]->str, "count") == 0 &&
            e->element[j + 1]->type == REDIS_REPLY_INTEGER)
            return e->element[j + 1]->integer;
    return 1;
}

/* note logs what entry e adds since the last look. */
static void note(cli_dev_acl *w, const redisReply *e)
{
    const char *user = field(e, "username"), *reason = field(e, "reason"),
               *context = field(e, "context"), *object = field(e, "object");
    char key[256];
    snprintf(key, sizeof(key), "%s\n%s\n%s\n%s", user, reason, context, object);
    long long count = count_of(e), before = 0;
    int i = 0;
    while (i < w->nseen && strcmp(w->seen[i].key, key) != 0)
        i++;
    if (i < w->nseen)
        before = w->seen[i].count;
    else if (w->nseen < MAX_SEEN)
        snprintf(w->seen[w->nseen++].key, 256, "%s", key);
    else
        i = -1;
    if (count <= before) return;
    if (i >= 0) w->seen[i].count = count;
    w->denied += count - before;
    duro_warn("ACL DENIED user=%s reason=%s object=%s context=%s count=%lld",
              user, reason, object, context, count - before);
}

/* look reads ACL LOG once. Entries come newest first; a repeat of an
 * entry only raises its count. */
static void look(cli_dev_acl *w)
{
    redisReply *r = redisCommand(w->c, "ACL LOG %d", MAX_SEEN);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        if (r) freeReplyObject(r);
        return;
    }
    for (size_t i = r->elements; i-- > 0;)
        if (r->element[i]->type == REDIS_REPLY_ARRAY) note(w, r->element[i]);
    freeReplyObject(r);
}

static void *watch(void *arg)
{
    cli_dev_acl *w = arg;
    while (!atomic_load(&w->stop) && !w->c->err) {
        look(w);
        struct timespec ts = {0, WATCH_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

cli_dev_acl *cli_dev_acl_lock(redisContext *c, char *err, size_t errsize)
{
    redisReply *r = redisCommand(c, "ACL SETUSER default off");
    bool ok = r && r->type == REDIS_REPLY_STATUS;
    snprintf(err, errsize, "ACL SETUSER default off: %s",
             !r                             ? c->errstr
             : r->type == REDIS_REPLY_ERROR ? r->str
                                            : "?");
    if (r) freeReplyObject(r);
    cli_dev_acl *w = ok ? calloc(1, sizeof(*w)) : NULL;
    if (!w) return NULL;
    w->c = c;
    look(w); /* what came before (none: the users were just made) */
    w->denied = 0;
    if (pthread_create(&w->thread, NULL, watch, w) != 0) {
        snprintf(err, errsize, "cannot start the ACL LOG watch");
        free(w);
        return NULL;
    }
    duro_info("ACL LOCKED default=off watch=ACL LOG");
    return w;
}

void cli_dev_acl_stop(cli_dev_acl *w)
{
    if (!w) return;
    atomic_store(&w->stop, true);
    pthread_join(w->thread, NULL);
    if (!w->c->err) look(w);
    duro_info("ACL WATCH denied=%lld", w->denied);
    redisFree(w->c);
    free(w);
}

/* ---- What to tell the developer ---- */

void cli_dev_acl_print(const char *dir, const char *scheme, int port,
                       const char *app_keys)
{
    printf("\nACL: the default user is off (the URLs above no longer log in); "
           "each component has its user, its password in a file (mode "
           "0600):\n");
    for (size_t i = 0; i < sizeof(ROLES) / sizeof(ROLES[0]); i++)
        printf("  %-9s DURO_REDIS_URL=%s://duro-%s:@127.0.0.1:%d "
               "DURO_REDIS_PASSWORD_FILE=%s/" CLI_DEV_ACL_SUBDIR
               "/%s.password\n",
               ROLES[i], scheme, ROLES[i], port, dir, ROLES[i]);
    if (app_keys)
        printf("  app       user duro-app on keys %s, password in "
               "%s/" CLI_DEV_ACL_SUBDIR "/app.password\n",
               app_keys, dir);
    printf("  (the scheduler in this process is duro-scheduler; refusals Redis "
           "logs (ACL LOG) show here)\n");
}
