/* sdk_marker.c: the SDK calls recorded as markers (MarkerRecorded):
 * duro_get_version, which records the version a change runs with, and
 * duro_side_effect, which records a value computed once. On replay both
 * read the marker back instead of deciding again. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/ids.h"
#include "duro/json.h"
#include "duro/log.h"
#include "duro/worker.h"
#include "engine_internal.h"
#include "run.h"

int duro_get_version(duro_wf *wf, const char *change_id, int min_supported,
                     int max_supported)
{
    duro__in_workflow(wf, "duro_get_version");
    for (version_choice *v = wf->versions; v; v = v->next)
        if (strcmp(v->change_id, change_id) == 0) return v->version;
    int version = max_supported;
    char key[DURO_QUEUE_MAX + 16];
    snprintf(key, sizeof(key), "version:%s", change_id);
    if (wf->replaying) {
        /* the marker, if this history has one, is the next recorded command;
         * a history from before the change has none */
        const seg_ev *se = duro__seg_next(wf);
        if (se && se->type == DURO_EVENT_MARKER_RECORDED &&
            strcmp(se->name, key) == 0)
            version =
                (int)duro_json_int(se->data, "version", DURO_DEFAULT_VERSION);
        else
            version = DURO_DEFAULT_VERSION;
    }
    if (version < min_supported || version > max_supported) {
        char msg[512];
        snprintf(msg, sizeof(msg),
                 "change \"%s\": the history has version %d but the code "
                 "supports %d..%d",
                 change_id, version, min_supported, max_supported);
        duro__abort_task(wf, msg);
    }
    if (version != DURO_DEFAULT_VERSION) {
        duro__cmd *c = duro__new_cmd(wf, CMD_MARKER, 0);
        c->name = strdup(key);
        if (!wf->replaying) {
            cJSON *d = cJSON_CreateObject();
            cJSON_AddStringToObject(d, "kind", "version");
            cJSON_AddStringToObject(d, "changeId", change_id);
            cJSON_AddNumberToObject(d, "version", version);
            c->data = cJSON_PrintUnformatted(d);
            cJSON_Delete(d);
        }
    }
    version_choice *v = calloc(1, sizeof(*v));
    duro_assert(v != NULL);
    v->change_id = strdup(change_id);
    v->version = version;
    v->next = wf->versions;
    wf->versions = v;
    return version;
}

const cJSON *duro_side_effect(duro_wf *wf, duro_side_effect_fn fn, void *arg)
{
    duro__in_workflow(wf, "duro_side_effect");
    int64_t seq = ++wf->marker_seq;
    char key[64];
    snprintf(key, sizeof(key), "sideEffect:%" PRId64, seq);
    const seg_ev *rec = duro__seg_next(wf); /* read before issuing */
    duro__cmd *c = duro__new_cmd(wf, CMD_MARKER, seq);
    c->name = strdup(key);
    if (wf->replaying) {
        if (!rec || rec->type != DURO_EVENT_MARKER_RECORDED ||
            strcmp(rec->name, key) != 0) {
            char msg[256];
            snprintf(msg, sizeof(msg),
                     "side effect %" PRId64
                     " is not where the history recorded it",
                     seq);
            duro__abort_task(wf, msg);
        }
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec->data, "value");
        return duro_keep(wf, v ? cJSON_Duplicate(v, 1) : cJSON_CreateNull());
    }
    cJSON *v = fn(arg);
    if (!v) v = cJSON_CreateNull();
    duro_keep(wf, v);
    char *value = duro__encode_payload(wf, v);
    int n = asprintf(
        &c->data, "{\"kind\":\"sideEffect\",\"seq\":%" PRId64 ",\"value\":%s}",
        seq, value);
    duro_assert(n >= 0);
    free(value);
    return v;
}
