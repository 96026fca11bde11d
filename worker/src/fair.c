/* fair.c: tasks with a fairness key (docs/internals.md, "Fairness").
 *
 * Such a task waits in its key's own stream `<S>~<key>`, and its task
 * stream S holds a bell for it. A worker that reads a bell takes a turn:
 *
 *   FCALL duro_fair_next S bell        -> the key's stream to read, or nil
 *   XREADGROUP ... COUNT 1 <S>~<key> > -> one task (NOGROUP: XGROUP CREATE
 *                                         first; empty: duro_fair_next
 *                                         again, naming the empty key)
 *   FCALL duro_fair_took S bell key    -> the bell goes
 *
 * then handles the task as if read from that stream. A turn cut short
 * (a lost connection, a dead worker) leaves the bell pending: the
 * scheduler rings it again. */
#include <stdlib.h>
#include <string.h>

#include "duro/log.h"
#include "duro/stream_fields.h"
#include "worker_internal.h"

#define FAIR_TRIES 8 /* empty key streams skipped in one turn */

typedef struct {
    duro_worker *w;
    char *stream, *bell, *fs, *added;
    duro_entry_fn fn;
    void (*poll)(duro_worker *w);
    int *turns;
    int tries;
    bool grouped;
} fair_turn;

static void turn_end(fair_turn *t)
{
    duro_worker *w = t->w;
    void (*poll)(duro_worker *) = t->poll;
    (*t->turns)--;
    free(t->stream);
    free(t->bell);
    free(t->fs);
    free(t->added);
    free(t);
    poll(w);
}

static void send_next(fair_turn *t, const char *empty);

static const char *key_of(const fair_turn *t)
{
    return t->fs ? strrchr(t->fs, '~') + 1 : "";
}

static void ignore(duro_aredis *r, redisReply *reply, void *arg) {}

/* XREADGROUP -> [[fs, [[id, fields]]]], nil (empty) or an error */
static void on_read(duro_aredis *r, redisReply *reply, void *arg);

static int send_read(fair_turn *t)
{
    const char *argv[] = {"XREADGROUP",   "GROUP", DURO_GROUP,
                          t->w->identity, "COUNT", "1",
                          "STREAMS",      t->fs,   ">"};
    duro_argv a;
    duro_argv_init(&a);
    for (size_t i = 0; i < sizeof(argv) / sizeof(argv[0]); i++)
        duro_argv_push(&a, argv[i]);
    int rc = duro_aredis_command(t->w->cmd, on_read, t, &a);
    duro_argv_free(&a);
    return rc;
}

static void on_group(duro_aredis *r, redisReply *reply, void *arg)
{
    fair_turn *t = arg;
    if (!reply || send_read(t) != 0) turn_end(t);
}

static void took(fair_turn *t)
{
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "FCALL");
    duro_argv_push(&a, "duro_fair_took");
    duro_argv_push(&a, "1");
    duro_argv_push(&a, t->stream);
    duro_argv_push(&a, t->bell);
    duro_argv_push(&a, key_of(t));
    duro_aredis_command(t->w->cmd, ignore, NULL, &a); /* lost: rung again */
    duro_argv_free(&a);
}

static void on_read(duro_aredis *r, redisReply *reply, void *arg)
{
    fair_turn *t = arg;
    if (reply && reply->type == REDIS_REPLY_ERROR && !t->grouped &&
        strncmp(reply->str, "NOGROUP", 7) == 0) {
        t->grouped = true; /* the key's first task: its group is made here */
        duro_argv a;
        duro_argv_init(&a);
        const char *argv[] = {"XGROUP",   "CREATE", t->fs,
                              DURO_GROUP, "0",      "MKSTREAM"};
        for (size_t i = 0; i < sizeof(argv) / sizeof(argv[0]); i++)
            duro_argv_push(&a, argv[i]);
        int rc = duro_aredis_command(t->w->cmd, on_group, t, &a);
        duro_argv_free(&a);
        if (rc != 0) turn_end(t);
        return;
    }
    const redisReply *entries = NULL;
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 1 &&
        reply->element[0]->type == REDIS_REPLY_ARRAY &&
        reply->element[0]->elements == 2 &&
        reply->element[0]->element[1]->type == REDIS_REPLY_ARRAY)
        entries = reply->element[0]->element[1];
    if (entries && entries->elements > 0) {
        took(t);
        t->fn(t->w, t->fs, entries->element[0]);
        turn_end(t);
        return;
    }
    if (reply && reply->type != REDIS_REPLY_ERROR && ++t->tries < FAIR_TRIES) {
        send_next(t, key_of(t)); /* found empty: dropped unless refilled */
        return;
    }
    if (reply && reply->type == REDIS_REPLY_ERROR)
        duro_warn_limited(NULL, "FAIR-READ-FAILED stream=%s err=%s", t->fs,
                          reply->str);
    turn_end(t);
}

/* duro_fair_next -> [fs, added] or nil */
static void on_next(duro_aredis *r, redisReply *reply, void *arg)
{
    fair_turn *t = arg;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        reply->element[1]->type != REDIS_REPLY_STRING) {
        if (reply && reply->type == REDIS_REPLY_ERROR)
            duro_warn_limited(NULL, "FAIR-NEXT-FAILED stream=%s err=%s",
                              t->stream, reply->str);
        turn_end(t); /* nil: nothing ready, the bell is gone */
        return;
    }
    free(t->fs);
    free(t->added);
    t->fs = strdup(reply->element[0]->str);
    t->added = strdup(reply->element[1]->str);
    t->grouped = false;
    if (!t->fs || !t->added || !strchr(t->fs, '~') || send_read(t) != 0)
        turn_end(t);
}

static void send_next(fair_turn *t, const char *empty)
{
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "FCALL");
    duro_argv_push(&a, "duro_fair_next");
    duro_argv_push(&a, "1");
    duro_argv_push(&a, t->stream);
    duro_argv_push(&a, t->bell);
    if (empty) {
        duro_argv_push(&a, empty);
        duro_argv_push(&a, t->added ? t->added : "");
    }
    int rc = duro_aredis_command(t->w->cmd, on_next, t, &a);
    duro_argv_free(&a);
    if (rc != 0) turn_end(t);
}

bool duro__fair_bell(duro_worker *w, const char *stream,
                     const redisReply *entry, duro_entry_fn fn,
                     void (*poll)(duro_worker *w), int *turns)
{
    if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 ||
        entry->element[0]->type != REDIS_REPLY_STRING ||
        entry->element[1]->type != REDIS_REPLY_ARRAY ||
        !duro_stream_field(entry->element[1], "bell"))
        return false;
    fair_turn *t = calloc(1, sizeof(*t));
    if (!t) return true; /* left pending: rung again */
    *t = (fair_turn){.w = w,
                     .stream = strdup(stream),
                     .bell = strdup(entry->element[0]->str),
                     .fn = fn,
                     .poll = poll,
                     .turns = turns};
    (*turns)++;
    if (!t->stream || !t->bell || !w->cmd) {
        turn_end(t);
        return true;
    }
    send_next(t, NULL);
    return true;
}
