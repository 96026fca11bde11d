/* client_vis.h: visibility helpers shared by the client's files
 * (client_vis.c). */
#ifndef DURO_CLIENT_VIS_H
#define DURO_CLIENT_VIS_H

#include <hiredis/hiredis.h>
#include "duro/client.h"

/* duro__vis_row_json: a visibility row (HGETALL's flat reply) as a
 * listing row {"workflowId","runId","type","taskQueue","status",
 * "startTime","closeTime","searchAttributes","memo"}; NULL without
 * memory. */
cJSON *duro__vis_row_json(const redisReply *flat);

/* duro__vis_describe adds "searchAttributes" ({} when none) and "memo"
 * (null when none) of run `run` (in `partition`) to describe object o. */
int duro__vis_describe(duro_client *c, int partition, const char *run,
                       cJSON *o);

/* duro__vis_start_args checks o's memo (a JSON object) and search
 * attribute names, and writes the attributes as JSON text into *sa_text
 * (NULL when none; cJSON_free it). The Function types them. */
int duro__vis_start_args(duro_client *c, const duro_start_opts *o,
                         char **sa_text);

#endif
