/* client_describe_run.c: describing any run of a workflow id, the current
 * one or an older run of a reused id (duro_client_describe_run). An older
 * run is closed: its visibility row (type, queue, status, times, search
 * attributes, memo) and its history's length describe it; the workflow
 * hash holds only the current run. */
#include <string.h>

#include "client_int.h"
#include "client_vis.h"

/* old_run: the visibility row of run `run` of workflow `id`, plus its
 * history length, in *out; DURO_ENOTFOUND when the row is gone (never
 * started, or past retention) or belongs to another workflow. */
static int old_run(duro_client *c, const char *id, const char *run, cJSON **out)
{
    duro_wf_keys k;
    duro_wf_keys_init(&k, duro__ks(c), id, run);
    char vis[DURO_KEY_MAX];
    duro_key_vis(vis, sizeof(vis), duro__ks(c), k.partition, run);
    duro_argv cmds[2];
    for (int i = 0; i < 2; i++)
        duro_argv_init(&cmds[i]);
    duro_argv_push(&cmds[0], "HGETALL");
    duro_argv_push(&cmds[0], vis);
    duro_argv_push(&cmds[1], "LLEN");
    duro_argv_push(&cmds[1], k.hist);
    redisReply *r[2];
    int rc = duro__pipeline(c, cmds, 2, r);
    duro_argv_free(&cmds[0]);
    duro_argv_free(&cmds[1]);
    if (rc < 0) return rc;
    cJSON *row = r[0]->type == REDIS_REPLY_ARRAY && r[0]->elements > 0
                     ? duro__vis_row_json(r[0])
                     : NULL;
    /* a row written by library 31 or newer has no `run`: its key names it */
    const cJSON *rid = cJSON_GetObjectItemCaseSensitive(row, "runId");
    if (cJSON_IsString(rid) && !*rid->valuestring)
        cJSON_ReplaceItemInObjectCaseSensitive(row, "runId",
                                               cJSON_CreateString(run));
    const cJSON *wid = cJSON_GetObjectItemCaseSensitive(row, "workflowId");
    if (r[0]->type == REDIS_REPLY_ERROR)
        rc = duro__fail(c, DURO_EREDIS, "redis: %s", r[0]->str);
    else if (!row || !cJSON_IsString(wid) || strcmp(wid->valuestring, id) != 0)
        rc = duro__fail(c, DURO_ENOTFOUND, "run %s of workflow %s not found",
                        run, id);
    else {
        cJSON_AddNumberToObject(
            row, "historyLength",
            r[1]->type == REDIS_REPLY_INTEGER ? (double)r[1]->integer : 0);
        *out = row;
        row = NULL;
    }
    cJSON_Delete(row);
    freeReplyObject(r[0]);
    freeReplyObject(r[1]);
    return rc;
}

int duro_client_describe_run(duro_client *c, const char *workflow_id,
                             const char *run_id, cJSON **out)
{
    *out = NULL;
    int rc = duro_client_describe(c, workflow_id, out);
    if (!run_id || !*run_id || rc == DURO_EINVAL) return rc;
    if (rc < 0 && rc != DURO_ENOTFOUND) return rc;
    const cJSON *cur = cJSON_GetObjectItemCaseSensitive(*out, "runId");
    if (cJSON_IsString(cur) && strcmp(cur->valuestring, run_id) == 0) return 0;
    cJSON_Delete(*out);
    *out = NULL;
    if (duro__check_run(run_id) < 0)
        return duro__fail(c, DURO_ENOTFOUND,
                          "run %.64s of workflow %s not found", run_id,
                          workflow_id);
    return old_run(c, workflow_id, run_id, out);
}
