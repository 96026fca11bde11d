/* cli_operator.c: `duro operator ...`: setting up and securing a Redis for
 * Duro. One row per subcommand; each lives in its own file. */
#include "cli.h"

static const cli_cmd OPERATOR_CMDS[] = {
    {"acl", "print the ACL SETUSER line of a role (least privilege)",
     cli_acl_opts, cli_acl},
    {"init", "load the Functions library and create duro:meta (admin role)",
     cli_init_opts, cli_init},
    {0},
};

const cli_group cli_operator_group = {
    "operator", "set up and secure a Redis for Duro", OPERATOR_CMDS};
