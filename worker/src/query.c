/* query.c: queries: answered from an idle cached run whose history in
 * Redis is as long as what it applied (as the entry's hlen says, else as
 * LLEN does), or by replaying the history into a throwaway run (which also
 * serves closed workflows).
 * Nothing here writes history; the answer goes to the client's reply list.
 * An update's validation rides the same path (entry field `kind` =
 * `update`): the answer says whether the validator accepts it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/clock.h"
#include "duro/errno.h"
#include "duro/fcall.h"
#include "duro/ids.h"
#include "duro/json.h"
#include "duro/keys.h"
#include "duro/log.h"
#include "duro/stream_fields.h"
#include "duro/reply.h"
#include "worker_internal.h"

#define REPLY_TTL_S 60

typedef struct {
    duro_worker *w;
    char *stream, *entry, *id, *run, *name, *reply;
    cJSON *input;
    duro_wf *tmp;  /* the throwaway run of a replay */
    bool upgraded; /* duro_history_upgrade was called for its history */
    bool update;   /* an update's validation (sdk_update.c), not a query */
    /* hlen: the run's history length the client read with the run (entry
     * field hlen), -1 when the entry has none (an older client writes
     * none) or one that is not a decimal >= 1 */
    int64_t hlen;
} query_task;

static void query_free(query_task *q)
{
    if (q->tmp) duro__run_free(q->tmp);
    free(q->stream);
    free(q->entry);
    free(q->id);
    free(q->run);
    free(q->name);
    free(q->reply);
    cJSON_Delete(q->input);
    free(q);
}

static void ignore_reply(duro_aredis *r, redisReply *reply, void *arg) {}

static void send_argv(duro_worker *w, int n, const char **args)
{
    duro_argv a;
    duro_argv_init(&a);
    for (int i = 0; i < n; i++)
        duro_argv_push(&a, args[i]);
    duro_aredis_command(w->cmd, ignore_reply, NULL, &a);
    duro_argv_free(&a);
}

/* finish acks the query entry and, when there is an answer, sends it. */
static void finish(query_task *q, const char *answer)
{
    duro_worker *w = q->w;
    if (answer && q->reply) {
        char ttl[16];
        snprintf(ttl, sizeof(ttl), "%d", REPLY_TTL_S);
        send_argv(w, 3, (const char *[]){"RPUSH", q->reply, answer});
        send_argv(w, 3, (const char *[]){"EXPIRE", q->reply, ttl});
    }
    duro__stream_ack(w, q->stream, q->entry);
    query_free(q);
}

static void answer_error(query_task *q, const char *msg)
{
    cJSON *a = cJSON_CreateObject();
    cJSON_AddBoolToObject(a, "ok", 0);
    cJSON_AddStringToObject(a, "error", msg);
    char *text = cJSON_PrintUnformatted(a);
    cJSON_Delete(a);
    finish(q, text);
    free(text);
}

static void answer_from(query_task *q, duro_wf *wf)
{
    char err[512], *result = NULL;
    int rc =
        q->update
            ? duro__run_validate_update(wf, q->name, q->input, err, sizeof(err))
            : duro__run_query(wf, q->name, q->input, &result, err, sizeof(err));
    if (rc == 0 && q->update) {
        finish(q, "{\"ok\":true,\"result\":null}");
        return;
    }
    if (rc != 0) {
        answer_error(q, err);
        return;
    }
    char *sealed = NULL;
    rc = duro_codec_encode(q->w->codec, result, &sealed, err, sizeof(err));
    free(result);
    if (rc != 0) {
        answer_error(q, err);
        return;
    }
    char *text = NULL;
    if (asprintf(&text, "{\"ok\":true,\"result\":%s}", sealed) < 0) text = NULL;
    free(sealed);
    finish(q, text);
    free(text);
}

/* ---- Replaying for a query ---- */

static void fetch_page(query_task *q);

static void on_upgraded(duro_aredis *r, redisReply *reply, void *arg)
{
    query_task *q = arg;
    if (reply && reply->type == REDIS_REPLY_ERROR) {
        char msg[512];
        snprintf(msg, sizeof(msg), "history read failed: %.400s", reply->str);
        answer_error(q, msg);
        return;
    }
    fetch_page(q);
}

/* upgrade converts a history in the stream format of library 10 and
 * older (the read said WRONGTYPE), then reads it again. */
static void upgrade(query_task *q)
{
    duro_wf_keys k;
    duro_wf_keys_init(&k, &q->w->ks, q->id, q->run);
    duro_argv a;
    duro_fcall_history_upgrade(&a, &k);
    q->upgraded = true;
    if (duro_aredis_command(q->w->cmd, on_upgraded, q, &a) != 0) query_free(q);
    duro_argv_free(&a);
}

static void on_page(duro_aredis *r, redisReply *reply, void *arg)
{
    query_task *q = arg;
    if (reply && reply->type == REDIS_REPLY_ERROR && !q->upgraded &&
        duro_redis_error_code(reply->str) == DURO_EPROTO) {
        upgrade(q);
        return;
    }
    if (!reply || reply->type != REDIS_REPLY_ARRAY) {
        /* leave the entry pending: the client times out; the scheduler
         * cleans the orphan */
        query_free(q);
        return;
    }
    char err[512];
    int64_t from = q->tmp ? q->tmp->applied + 1 : 1;
    if (duro__history_apply_page(q->w, &q->tmp, q->id, q->run, from, reply, err,
                                 sizeof(err)) != 0) {
        answer_error(q, err);
        return;
    }
    if (reply->elements == DURO_HISTORY_PAGE) {
        fetch_page(q);
        return;
    }
    if (!q->tmp) {
        answer_error(q, "workflow history not found");
        return;
    }
    int rc = duro__run_end_replay(q->tmp);
    if (rc == 0 && !q->tmp->started) {
        /* no task has run the code yet (a query right after start): run
         * it to its first wait so that its handlers exist; what it issues
         * is thrown away with this run, nothing is committed; a local
         * activity is not run for a query: the code stops at it */
        q->tmp->local_mode = DURO__LOCAL_REFUSE;
        rc = duro__run_advance(q->tmp, duro_now_ms());
        duro__cmds_free(duro__run_take_cmds(q->tmp));
    }
    if (rc != 0) {
        answer_error(q, q->tmp->nondet ? q->tmp->nondet : "replay failed");
        return;
    }
    answer_from(q, q->tmp);
}

static void fetch_page(query_task *q)
{
    int64_t from = q->tmp ? q->tmp->applied + 1 : 1;
    if (duro__read_history(q->w, q->id, q->run, from, on_page, q) != 0)
        query_free(q);
}

/* ---- The cached run ---- */

/* cached_current: the idle cached run of the query's run when the history
 * Redis holds has as many events as it applied (reply: LLEN of it). */
static duro_wf *cached_current(const query_task *q, const redisReply *reply)
{
    duro_wf *wf = duro__cache_lookup(&q->w->cache, q->id);
    if (!wf || wf->busy || strcmp(wf->run, q->run) != 0) return NULL;
    if (!reply || reply->type != REDIS_REPLY_INTEGER) return NULL;
    return reply->integer == wf->applied ? wf : NULL;
}

/* on_cached_len: the cached run answers when it is current; else (another
 * worker advanced the run while this one kept its copy idle, as when
 * workers join and leave in a rolling deploy, or Redis lost writes it had
 * answered) the history is replayed, as for a run not cached. */
static void on_cached_len(duro_aredis *r, redisReply *reply, void *arg)
{
    query_task *q = arg;
    duro_wf *wf = cached_current(q, reply);
    if (wf) {
        answer_from(q, wf);
        return;
    }
    fetch_page(q);
}

/* sent_current: whether wf, the idle cached run of the query's run,
 * applied as many events as the run's history held when the client sent
 * the query (entry field hlen). The client read run and hlen in one HMGET,
 * and every Function that appends to a history writes hlen in the same
 * call (docs/internals.md, "Signals, cancellation, queries"): wf then
 * holds exactly the history as it was when the query was sent, so its
 * answer shows a state no older than the query; events appended since
 * came after the query, and a replay that read the history at that moment
 * would not show them either. No LLEN: one round trip less. */
static bool sent_current(const query_task *q, const duro_wf *wf)
{
    return q->hlen > 0 && q->hlen == wf->applied;
}

/* check_cached: LLEN of the run's history, to know whether the cached run
 * holds all of it (its next workflow task would catch up, but a query has
 * no task: answered from the cache alone it would show an older state). */
static void check_cached(query_task *q)
{
    duro_wf_keys k;
    duro_wf_keys_init(&k, &q->w->ks, q->id, q->run);
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "LLEN");
    duro_argv_push(&a, k.hist);
    if (duro_aredis_command(q->w->cmd, on_cached_len, q, &a) != 0)
        query_free(q);
    duro_argv_free(&a);
}

/* ---- Reading ---- */

/* reply_key_ok: whether reply is a reply list of the query stream's
 * partition ("<prefix>{pN}:qreply:<uuid>", as the client makes it): the
 * answer is an RPUSH and an EXPIRE, so an entry edited by hand must not
 * name another key (a workflow id may hold ":qreply:", and its hash would
 * expire). */
static bool reply_key_ok(const duro_worker *w, int partition, const char *reply)
{
    char pre[DURO_SHORT_KEY_MAX];
    duro_key_qreply(pre, sizeof(pre), &w->ks, partition, "");
    size_t n = strlen(pre);
    return strncmp(reply, pre, n) == 0 && reply[n] != '\0';
}

void duro__query_start(duro_worker *w, const char *stream,
                       const redisReply *entry)
{
    if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 ||
        entry->element[0]->type != REDIS_REPLY_STRING) {
        duro__dead_letter(w, stream, entry, "malformed stream entry");
        return;
    }
    const redisReply *f = entry->element[1];
    query_task *q = calloc(1, sizeof(*q));
    if (!q) {
        /* left pending: the client times out; the scheduler cleans it */
        duro_warn_limited(NULL, "QUERY-OOM stream=%s entry=%s", stream,
                          entry->element[0]->str);
        return;
    }
    bool oom = false;
    q->w = w;
    q->stream = strdup(stream);
    q->entry = strdup(entry->element[0]->str);
    oom |= duro__stream_field_dup(f, "id", &q->id) != 0;
    oom |= duro__stream_field_dup(f, "run", &q->run) != 0;
    oom |= duro__stream_field_dup(f, "name", &q->name) != 0;
    oom |= duro__stream_field_dup(f, "reply", &q->reply) != 0;
    char *input = NULL;
    oom |= duro__stream_field_dup(f, "input", &input) != 0;
    char *deadline = NULL;
    oom |= duro__stream_field_dup(f, "deadline", &deadline) != 0;
    char *kind = NULL;
    oom |= duro__stream_field_dup(f, "kind", &kind) != 0;
    char *hlen = NULL;
    oom |= duro__stream_field_dup(f, "hlen", &hlen) != 0;
    /* a malformed hlen is as none: the LLEN check below decides */
    if (!hlen || !duro__parse_i64(hlen, &q->hlen) || q->hlen < 1) q->hlen = -1;
    free(hlen);
    q->update = kind && strcmp(kind, "update") == 0;
    free(kind);
    if (oom || !q->stream || !q->entry) {
        duro_warn_limited(NULL, "QUERY-OOM stream=%s entry=%s", stream,
                          entry->element[0]->str);
        free(input);
        free(deadline);
        query_free(q);
        return;
    }
    char err[256] = "";
    bool ok = q->id && q->run && q->name && q->reply && *q->run &&
              strlen(q->run) <= DURO_UUID_LEN &&
              duro_id_check(q->id, err, sizeof(err)) == 0 &&
              duro_partition_of(q->id, w->partitions) ==
                  duro__partition_of_key(stream) &&
              reply_key_ok(w, duro__partition_of_key(stream), q->reply);
    if (ok && input &&
        duro_codec_parse(w->codec, input, w->max_payload, &q->input, err,
                         sizeof(err)) != 0) {
        free(input);
        free(deadline);
        answer_error(q, err);
        return;
    }
    int64_t due = 0;
    if (deadline && !duro__parse_i64(deadline, &due)) due = 0;
    free(input);
    free(deadline);
    if (!ok) {
        duro__dead_letter(w, stream, entry,
                          err[0] ? err
                                 : "query without id, run, name and a reply "
                                   "list of its partition");
        free(q->reply);
        q->reply = NULL;
        query_free(q);
        return;
    }
    if (due > 0 && duro_now_ms() > due) {
        finish(q, NULL); /* nobody is waiting any more */
        return;
    }
    duro_wf *wf = duro__cache_lookup(&w->cache, q->id);
    if (wf && !wf->busy && strcmp(wf->run, q->run) == 0) {
        if (sent_current(q, wf))
            answer_from(q, wf);
        else
            check_cached(q); /* no hlen, a malformed one, or a mismatch */
        return;
    }
    fetch_page(q);
}
