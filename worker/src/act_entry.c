/* act_entry.c: an activity task's stream entry, validated and copied into
 * a duro_actx (its input decoded, its registration looked up). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/ids.h"
#include "duro/json.h"
#include "duro/log.h"
#include "duro/reply.h"
#include "duro/stream_fields.h"
#include "worker_internal.h"

/* entry_strings: an activity task's string fields, copied. */
typedef struct {
    char *attempt, *input, *opts, *details;
} entry_strings;

static void entry_strings_free(entry_strings *e)
{
    free(e->attempt);
    free(e->input);
    free(e->opts);
    free(e->details);
}

/* copy_fields copies the entry's fields into c and e; false when out of
 * memory (a missing field is left NULL for validation to refuse). */
static bool copy_fields(duro_actx *c, const char *stream,
                        const redisReply *entry, entry_strings *e)
{
    const redisReply *f = entry->element[1];
    bool oom = false;
    c->entry = strdup(entry->element[0]->str);
    oom |= duro__stream_field_dup(f, "id", &c->id) != 0;
    oom |= duro__stream_field_dup(f, "run", &c->run) != 0;
    oom |= duro__stream_field_dup(f, "seq", &c->seq) != 0;
    oom |= duro__stream_field_dup(f, "name", &c->name) != 0;
    oom |= duro__stream_field_dup(f, "wfqueue", &c->wfqueue) != 0;
    oom |= duro__stream_field_dup(f, "attempt", &e->attempt) != 0;
    oom |= duro__stream_field_dup(f, "input", &e->input) != 0;
    oom |= duro__stream_field_dup(f, "opts", &e->opts) != 0;
    oom |= duro__stream_field_dup(f, "details", &e->details) != 0;
    const char *q = strstr(stream, ":act:");
    c->actqueue = strdup(q ? q + 5 : "");
    return !oom && c->entry && c->actqueue;
}

duro_actx *duro__actx_from_entry(duro_worker *w, const char *stream,
                                 const redisReply *entry)
{
    if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 ||
        entry->element[0]->type != REDIS_REPLY_STRING) {
        duro__dead_letter(w, stream, entry, "malformed stream entry");
        return NULL;
    }
    duro_actx *c = duro__actx_new(w);
    entry_strings e = {0};
    if (!c || !copy_fields(c, stream, entry, &e)) {
        duro_warn_limited(NULL, "ACT-OOM stream=%s entry=%s: left pending",
                          stream, entry->element[0]->str);
        entry_strings_free(&e);
        if (c) duro__actx_unref(c);
        return NULL;
    }
    char err[256] = "";
    c->partition = duro__partition_of_key(stream);
    int64_t seqn = 0, attempt = 0;
    if (!c->seq || !duro__parse_i64(c->seq, &seqn)) seqn = 0;
    if (!e.attempt || !duro__parse_i64(e.attempt, &attempt) ||
        attempt > INT32_MAX)
        attempt = 0;
    c->attempt = (int)attempt;
    if (!c->id || !c->run || !c->seq || !c->name || !c->wfqueue || !e.input ||
        !e.opts || seqn < 1 || c->attempt < 1 || !*c->run ||
        strlen(c->run) > DURO_UUID_LEN ||
        duro_id_check(c->id, err, sizeof(err)) != 0 ||
        duro_name_check("queue", c->wfqueue, err, sizeof(err)) != 0 ||
        duro_partition_of(c->id, w->partitions) != c->partition ||
        duro_json_parse(e.opts, strlen(e.opts), w->max_payload, &c->opts, err,
                        sizeof(err)) != 0) {
        duro__dead_letter(w, stream, entry,
                          err[0] ? err : "activity task missing fields");
        entry_strings_free(&e);
        duro__actx_unref(c);
        return NULL;
    }
    /* scoped to the run: a reused workflow id starts a run whose activities
     * must run again, not match the previous run's records */
    if (asprintf(&c->idempotency_key, "%s/%s/%s", c->id, c->run, c->seq) < 0) {
        c->idempotency_key = NULL;
        duro_warn_limited(NULL, "ACT-OOM stream=%s entry=%s: left pending",
                          stream, c->entry);
        entry_strings_free(&e);
        duro__actx_unref(c);
        return NULL;
    }
    if (e.details)
        duro_codec_parse(w->codec, e.details, w->max_payload, &c->prev_details,
                         err, sizeof(err));
    act_reg *reg = w->activities;
    int rc;
    while (reg && strcmp(reg->name, c->name) != 0)
        reg = reg->next;
    c->reg = reg;
    if (!reg)
        duro_actx_fail(c, "ActivityNotRegistered", false,
                       "activity \"%s\" is not registered on this worker",
                       c->name);
    else if ((rc = duro_codec_parse(w->codec, e.input, w->max_payload,
                                    &c->input, err, sizeof(err))) != 0)
        /* a missing key may be on its way to this worker: retry */
        duro_actx_fail(c,
                       rc == DURO_ECODEC ? "PayloadCodecError" : "InvalidInput",
                       rc != DURO_ECODEC, "activity input: %s", err);
    entry_strings_free(&e);
    return c;
}
