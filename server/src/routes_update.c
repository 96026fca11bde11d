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
        cJSON *v = rc == 0 ? cJSON_Parse(answer) : NULL;
        if (rc < 0)
            srv_client_error(r, rc);
        else if (!v)
            srv_error(r, MHD_HTTP_BAD_GATEWAY, "MALFORMED_DATA",
                      "the worker's answer is not JSON");
        else {
            cJSON *a = cJSON_CreateObject();
            cJSON_AddStringToObject(a, "updateId", uid);
            cJSON_AddItemToObject(a, "result", v);
            srv_json(r, MHD_HTTP_OK, a);
        }
    }
    free(input);
    free(answer);
}
