/* acl_roles.h: the Redis ACL rules each Duro role needs, in one table
 * (acl_roles.c), printed by `duro operator acl` and checked by the tests
 * against what the code sends and the Functions library registers. */
#ifndef DURO_ACL_ROLES_H
#define DURO_ACL_ROLES_H

#include <stdbool.h>
#include "duro/redis.h"

/* The roles, as bits so that one table row can name several. ADMIN is
 * what `duro operator init` needs plus everything the other roles hold. */
#define DURO_ACL_WORKER 1u
#define DURO_ACL_SCHEDULER 2u
#define DURO_ACL_CLIENT 4u
#define DURO_ACL_ADMIN 8u
/* DURO_ACL_RO: on a Function's row, granted as FCALL_RO (read-only). */
#define DURO_ACL_RO (1u << 7)

/* duro__acl_grant: one command (a "command|subcommand" or
 * "command|first-arg" pair) or one Function, and the roles that need it.
 * The ADMIN bit is implied on every row. */
typedef struct {
    const char *name;
    unsigned roles;
} duro__acl_grant;

/* duro__acl_commands and duro__acl_functions: the tables; each ends with
 * a {NULL, 0} row. */
extern const duro__acl_grant duro__acl_commands[];
extern const duro__acl_grant duro__acl_functions[];

/* DURO_ACL_KEYS and DURO_ACL_CHANNELS: the key and channel patterns of
 * admin. DURO_ACL_READ_KEYS and DURO_ACL_WRITE_KEYS: the other roles'
 * keys: every duro: key read, but written only where a workflow's,
 * schedule's or queue's state lives (the partitions of every namespace,
 * duro:meta, duro:queues, duro:dead), so that the namespace registry
 * (duro:namespaces, duro:namespace:<N>) stays admin's. */
#define DURO_ACL_KEYS "~duro:*"
#define DURO_ACL_CHANNELS "&duro:*"
#define DURO_ACL_READ_KEYS "%R~duro:*"
#define DURO_ACL_WRITE_KEYS                                                    \
    "~duro:{*", "~duro:ns:*", "~duro:meta", "~duro:queues", "~duro:dead"

/* duro__acl_role_lookup: the role named `name` (worker, scheduler, client,
 * admin), or 0. duro__acl_role_name: the reverse ("?" for no role). */
unsigned duro__acl_role_lookup(const char *name);
const char *duro__acl_role_name(unsigned role);

/* duro__acl_has: row's roles include role (admin holds every row). */
bool duro__acl_has(const duro__acl_grant *row, unsigned role);

/* duro__acl_rules pushes the ACL SETUSER rules of role (the words after
 * the user name) onto a, initialised by the caller: "reset" "on", the
 * password rule when not NULL ("#<sha256 hex>" or ">secret"; borrowed),
 * "resetchannels" "~duro:*" "&duro:*" "+ping" ... "+fcall|duro_start" ...
 * "reset" first makes the line idempotent: it replaces whatever the user
 * had. Rules it formats are owned by a. */
void duro__acl_rules(unsigned role, const char *password_rule, duro_argv *a);

#endif
