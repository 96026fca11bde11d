/* cli_operator.c: `duro operator`, the administration nouns (Temporal's
 * `temporal operator`). Each noun is a cli_group of its own file; adding
 * one is one line in OPERATOR_GROUPS. */
#include "cli.h"

static const cli_group *const OPERATOR_GROUPS[] = {
    &cli_namespace_group, /* cli_namespace.c */
    NULL,
};

static const cli_cmd NO_COMMANDS[] = {{0}};

const cli_group cli_operator_group = {
    "operator", "administer namespaces (and the cluster's other settings)",
    NO_COMMANDS, OPERATOR_GROUPS};
