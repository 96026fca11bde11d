/* sdk_upsert.c: duro_upsert_search_attributes, a command that records
 * UpsertWorkflowSearchAttributes {"searchAttributes": {...}}. The
 * Function that commits the task checks the attributes against the
 * registry and writes them into the run's visibility row in the same call
 * (common/lua/duro.lua, upsert_sa); a replay matches the recorded event
 * and issues nothing new, so the row is written once per upsert. */
#include <stdlib.h>

#include "duro/errno.h"
#include "duro/worker.h"
#include "engine_internal.h"

/* value_ok: a value some search attribute type takes (the registry decides
 * which when the task commits), or null to remove the attribute. */
static bool value_ok(const cJSON *v)
{
    if (cJSON_IsString(v) || cJSON_IsNumber(v) || cJSON_IsBool(v) ||
        cJSON_IsNull(v))
        return true;
    if (!cJSON_IsArray(v)) return false;
    const cJSON *e;
    cJSON_ArrayForEach(e, v) if (!cJSON_IsString(e)) return false;
    return true;
}

int duro_upsert_search_attributes(duro_wf *wf, const cJSON *attrs)
{
    duro__in_workflow(wf, "duro_upsert_search_attributes");
    if (!cJSON_IsObject(attrs) || !attrs->child) return DURO_EINVAL;
    const cJSON *a;
    cJSON_ArrayForEach(a, attrs) if (!value_ok(a)) return DURO_EINVAL;
    if (wf->replaying) {
        duro__new_cmd(wf, CMD_UPSERT_SA, 0); /* matched against the event */
        return 0;
    }
    cJSON *d = cJSON_CreateObject();
    char *text = d && cJSON_AddItemReferenceToObject(d, "searchAttributes",
                                                     (cJSON *)attrs)
                     ? cJSON_PrintUnformatted(d)
                     : NULL;
    cJSON_Delete(d);
    if (!text) return DURO_ENOMEM;
    duro__new_cmd(wf, CMD_UPSERT_SA, 0)->data = text;
    return 0;
}
