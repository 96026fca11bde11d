/* routes_update.c: POST .../workflows/{workflowId}/update/{name}, a
 * workflow update (Temporal's UpdateWorkflowExecution), a thin layer over
 * duro_client_update (docs/http-api.md). */
#include <stdlib.h>

#include "duro/ids.h"
#include "req.h"

/* POST .../update/{name} {"input","updateId"} -> {"updateId","result"};
 * 400 for a rejection or a failed handler (the message says which), 409
 * for a closed workflow, 504 when the update is not done within the
 * server's query timeout: the same updateId again gets its result. */
void srv_route_update(srv_req *r)
{
    static const char *const FIELDS[] = {"input", "updateId", NULL};
    char *input = NULL, *answer = NULL, fresh[DURO_UUID_LEN + 1];
    const char *uid = NULL;
    if (srv_body_check(r, FIELDS) && srv_body_json(r, "input", &input) &&
        srv_body_string(r, "updateId", false, &uid) && srv_client(r)) {
        if (!uid || !*uid) {
            duro_uuid_v4(fresh);
            uid = fresh;
        }
        int rc = duro_client_update(r->client, r->params[1], r->params[2],
                                    input, uid, r->query_timeout, &answer);
        cJSON *a = cJSON_CreateObject();
        cJSON_AddStringToObject(a, "updateId", uid);
        srv_worker_answer(r, rc, answer, a);
    }
    free(input);
    free(answer);
}
