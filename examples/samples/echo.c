/* echo.c: `echo` returns its input; the smallest sample, and the one the
 * samples worker's own test starts to see it is up. */
#include "samples.h"

static cJSON *echo(duro_wf *wf, const cJSON *input)
{
    (void)wf;
    return input ? cJSON_Duplicate(input, 1) : cJSON_CreateNull();
}

int samples_register_echo(duro_worker *w)
{
    return duro_worker_register_workflow(w, "echo", echo);
}
