/* cli_acl_check.h: the check `duro operator init` runs before it loads a
 * new Functions library: every Redis user that is a Duro role's holds
 * the grants of this build's rules (acl_roles.c). */
#ifndef DURO_CLI_ACL_CHECK_H
#define DURO_CLI_ACL_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>
#include "cli.h"
#include "duro/cluster_sync.h"

/* cli_acl_check_node asks the server behind c (ACL USERS, ACL DRYRUN)
 * whether each of its users that is a Duro role's holds every command
 * and Function of that role in this build. For each user that lacks one
 * it appends to users (a cJSON array, the caller's) an object
 *   {"user": NAME, "role": ROLE, "node": NODE (when node is not NULL),
 *    "missing": [{"grant": "hlen", "why": Redis' answer}, ...]}.
 * A user is a Duro role's when it may run `FCALL duro_version` and
 * write a duro:{p0} key, or that of a namespace in spaces (the reply of
 * SMEMBERS duro:namespaces; NULL: none); its role is the one its name says
 * (duro-ROLE), else the role whose Functions it holds most closely. Returns 0
 * when checked; DURO_EAUTH when c's own user may not run ACL USERS or ACL
 * DRYRUN, DURO_EREDIS when the server has no such command (Redis' answer in
 * err); else DURO_ECONN, DURO_EPROTO, or the code of the error Redis answered
 * instead (DURO_EAGAIN: BUSY, LOADING, ...), with a message in err. */
int cli_acl_check_node(redisContext *c, const char *node,
                       const redisReply *spaces, cJSON *users, char *err,
                       size_t errsize);

/* cli_acl_check_report prints the findings of cli_acl_check_node (users,
 * not empty): per user its role and the grants it lacks, and the lines
 * that fix it; with json, one {"error": {..., "aclUsers": users}} line.
 * Returns CLI_FAILED. */
int cli_acl_check_report(const cJSON *users, bool json);

/* cli_acl_check runs cli_acl_check_node on every master of r (users are
 * per node on a Redis Cluster; one server: itself) and reports: returns
 * CLI_OK to go on, with *state "passed", or "unchecked" after a warning
 * that init's own user may not run ACL USERS or ACL DRYRUN on a server
 * (or it has no ACL commands) and the others found nothing; else an exit status
 * after printing why (the findings, cli_acl_check_report; or the error that
 * kept a server from answering, such as BUSY: a check that did not run is no
 * pass). */
int cli_acl_check(const cli_ctx *ctx, duro_cluster_sync *r, const char **state);

#endif
