/* replay.c: the replay checker: replays an exported history against the
 * registered code and says precisely where the code no longer matches. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/errno.h"
#include "duro/history.h"
#include "duro/json.h"
#include "worker_internal.h"

/* event_from_json turns one exported event ({"eventId","type","data"}) into
 * a duro_event that owns a copy of its data. */
static int event_from_json(const cJSON *j, duro_event *e, char *err,
                           size_t errsize)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "eventId");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(j, "data");
    if (!cJSON_IsNumber(id) || !cJSON_IsString(type) || !cJSON_IsObject(data)) {
        snprintf(err, errsize,
                 "each event needs eventId, type and an object data");
        return DURO_EINVAL;
    }
    e->id = (int64_t)id->valuedouble;
    e->type = duro_event_type_of(type->valuestring, strlen(type->valuestring));
    e->ts = 0;
    if (e->type == DURO_EVENT_UNKNOWN) {
        snprintf(err, errsize, "event %lld: unknown type \"%s\"",
                 (long long)e->id, type->valuestring);
        return DURO_EINVAL;
    }
    e->data = cJSON_Duplicate(data, 1);
    return e->data ? 0 : DURO_ENOMEM;
}

int duro_replay_history(duro_worker *w, const char *history_json, char *report,
                        size_t size)
{
    cJSON *doc = NULL;
    int rc = duro_json_parse(history_json, strlen(history_json),
                             (size_t)1 << 30, &doc, report, size);
    if (rc != 0) return duro__worker_seterr(w, rc, "%s", report);
    const cJSON *events = cJSON_IsArray(doc)
                              ? doc
                              : cJSON_GetObjectItemCaseSensitive(doc, "events");
    if (!cJSON_IsArray(events) || cJSON_GetArraySize(events) == 0) {
        snprintf(report, size,
                 "expected the JSON array that "
                 "`duro workflow history -o json` prints");
        cJSON_Delete(doc);
        return duro__worker_seterr(w, DURO_EINVAL, "%s", report);
    }
    duro_wf *wf = NULL;
    int n = 0;
    const cJSON *j;
    cJSON_ArrayForEach(j, events)
    {
        duro_event e;
        if ((rc = event_from_json(j, &e, report, size)) != 0) break;
        const char *run =
            wf ? wf->run : duro_json_str(e.data, "runId", "replay");
        rc = duro__load_event(w, &wf, "replay", run, &e, report, size);
        if (rc == DURO_EPROTO)
            snprintf(report, size, "event %lld is out of order",
                     (long long)e.id);
        duro_event_free(&e);
        if (rc != 0) break;
        n++;
    }
    if (rc == 0) rc = duro__run_end_replay(wf);
    if (rc == DURO_ENONDET)
        snprintf(report, size, "non-deterministic: %s", wf->nondet);
    else if (rc == 0)
        snprintf(report, size,
                 "replay OK: %d events of workflow type %s reproduced", n,
                 wf->type);
    duro__run_free(wf);
    cJSON_Delete(doc);
    if (rc != 0) duro__worker_seterr(w, rc, "%s", report);
    return rc;
}
