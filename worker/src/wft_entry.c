/* wft_entry.c: a workflow task as read from its stream entry (id, run,
 * token, and a run's first event inline), checked before it is taken;
 * and what it holds freed (wft.c runs it). */
#include <stdlib.h>
#include <string.h>

#include "duro/ids.h"
#include "duro/keys.h"
#include "duro/priority.h"
#include "worker_internal.h"

void duro__wft_task_free(wft_task *t)
{
    duro_argv_free(&t->req);
    free(t->req_buf);
    free(t->id);
    free(t->run);
    free(t->token);
    free(t->entry);
    free(t->h1);
    free(t->fair_stream);
    free(t);
}

wft_task *duro__wft_task_from_entry(duro_worker *w, const char *stream,
                                    const redisReply *entry)
{
    if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 ||
        entry->element[0]->type != REDIS_REPLY_STRING) {
        duro__dead_letter(w, stream, entry, "malformed stream entry");
        return NULL;
    }
    const redisReply *fields = entry->element[1];
    if (fields->type == REDIS_REPLY_NIL) {
        /* taken back from our pending entries (recover): deleted since */
        duro__stream_ack(w, stream, entry->element[0]->str);
        return NULL;
    }
    const redisReply *id = duro_stream_field(fields, "id");
    const redisReply *run = duro_stream_field(fields, "run");
    const redisReply *token = duro_stream_field(fields, "token");
    char err[128];
    if (!id || !run || !token || duro_id_check(id->str, err, sizeof(err)) ||
        strlen(run->str) > DURO_UUID_LEN || !*run->str || !*token->str) {
        duro__dead_letter(w, stream, entry,
                          "workflow task without valid id, run and token");
        return NULL;
    }
    int p = duro_partition_of(id->str, w->partitions);
    bool sticky = duro__sticky_stream(w, stream, p);
    int level = sticky ? DURO_PRIORITY_DEFAULT : duro_priority_of_key(stream);
    /* a fairness key's stream is its level's stream and "~<key>" */
    size_t plain = strcspn(stream, "~");
    const char *want = duro__wft_task_key(w, p, false, level);
    if (!sticky && (strncmp(stream, want, plain) != 0 || want[plain] != '\0')) {
        duro__dead_letter(w, stream, entry,
                          "workflow task in the wrong partition");
        return NULL;
    }
    wft_task *t = calloc(1, sizeof(*t));
    if (!t) return NULL; /* left pending: claimed again after its timeout */
    t->w = w;
    t->id = strdup(id->str);
    t->run = strdup(run->str);
    t->token = strdup(token->str);
    t->entry = strdup(entry->element[0]->str);
    t->partition = p;
    t->sticky = sticky;
    t->level = level;
    if (stream[plain] == '~' && !(t->fair_stream = strdup(stream))) {
        duro__wft_task_free(t);
        return NULL;
    }
    if (sticky) w->sticky_tasks++;
    if (!t->id || !t->run || !t->token || !t->entry) {
        duro__wft_task_free(t);
        return NULL;
    }
    const redisReply *h1 = duro_stream_field(fields, "h1");
    if (h1 && h1->type == REDIS_REPLY_STRING && h1->len > 0) {
        t->h1 = malloc(h1->len + 1);
        if (t->h1) { /* else read with LRANGE */
            memcpy(t->h1, h1->str, h1->len);
            t->h1[h1->len] = '\0';
            t->h1_len = h1->len;
        }
    }
    return t;
}
