/* cli_dev_acl.h: `duro dev --acl`: the dev server's components as the
 * restricted users of `duro operator acl` (cli_dev_acl.c). */
#ifndef DURO_CLI_DEV_ACL_H
#define DURO_CLI_DEV_ACL_H

#include <stddef.h>

#include <hiredis/hiredis.h>

/* The roles' users are duro-<role>; their passwords live in
 * <dir>/acl/<role>.password (mode 0600). "app" is the optional user of the
 * application's own keys (--app-keys). */
#define CLI_DEV_ACL_SUBDIR "acl"

typedef struct cli_dev_acl cli_dev_acl;

/* cli_dev_acl_users creates (ACL SETUSER, over c, a connection as the
 * default user) duro-worker, duro-scheduler, duro-client and duro-admin
 * with the rules `duro operator acl` prints, and duro-app on app_keys when
 * not NULL, each with the password of its file in dir/acl (kept from an
 * earlier run, else generated). Returns 0, or a DURO_E* code with err. */
int cli_dev_acl_users(redisContext *c, const char *dir, const char *app_keys,
                      char *err, size_t errsize);

/* cli_dev_acl_url writes the URL of role's user, password included, into
 * out: for this process only (the scheduler thread, the set-up
 * connection); it is never printed. 0, or -1 when the file is unreadable. */
int cli_dev_acl_url(const char *dir, const char *role, const char *scheme,
                    int port, char *out, size_t size);

/* cli_dev_acl_lock switches the default user off (nothing can silently
 * use it any more) and starts a thread that logs every refusal Redis
 * records from then on (ACL LOG), one "ACL DENIED ..." line each, over c,
 * which the watch takes over (the one connection still authenticated as
 * the default user). Returns the watch, or NULL with err. */
cli_dev_acl *cli_dev_acl_lock(redisContext *c, char *err, size_t errsize);

/* cli_dev_acl_stop stops the watch, logs its last refusals and a count,
 * and frees it (NULL: nothing). */
void cli_dev_acl_stop(cli_dev_acl *w);

/* cli_dev_acl_print tells how each component connects as its user. */
void cli_dev_acl_print(const char *dir, const char *scheme, int port,
                       const char *app_keys);

#endif
