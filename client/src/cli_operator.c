/* cli_operator.c: `duro operator ...`: administration of a Duro
 * installation. Each noun is a nested group in a file of its own. */
#include "cli.h"

static const cli_cmd COMMANDS[] = {
    {"search-attribute", "Register, list and delete custom search attributes",
     NULL, NULL},
    {0},
};

const cli_group cli_operator_group = {"operator", "administer Duro", COMMANDS};
