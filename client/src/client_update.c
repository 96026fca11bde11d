/* client_update.c: workflow updates, Temporal's model (docs/internals.md,
 * "Updates").
 *
 * Three steps, each answered in a reply list of the workflow's partition:
 *   1. the recorded outcome of this update id, if any (HGET of the
 *      workflow hash's u:<run>:<updateId>): a repeated id is answered from
 *      it, never applied again;
 *   2. validation by a worker, read-only, through the query stream (entry
 *      kind `update`): a rejection is the answer, nothing is written;
 *   3. FCALL duro_update records UpdateAccepted (once per id) and names
 *      the reply list that the commit recording UpdateCompleted answers.
 * A wait that runs out after step 3 is DURO_ETIMEDOUT naming the update
 * id: calling again with it gets the outcome once there is one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "duro/clock.h"
#include "duro/duration.h"
#include "duro/fcall.h"
#include "duro/json.h"

/* 100 years, as for the query and start timeouts. */
#define MAX_TIMEOUT_MS (100LL * 365 * 86400 * 1000)

static int check_update(duro_client *c, const char *name, const char *input,
                        const char *update_id, int64_t timeout_ms)
{
    char why[256];
    if (duro_name_check("update name", name, why, sizeof(why)) < 0)
        return duro__fail(c, DURO_EINVAL, "%s", why);
    if (duro_name_check("update id", update_id, why, sizeof(why)) < 0)
        return duro__fail(c, DURO_EINVAL, "%s", why);
    if (timeout_ms < 0 || timeout_ms > MAX_TIMEOUT_MS)
        return duro__fail(c, DURO_EINVAL, "update timeout out of range");
    cJSON *parsed = NULL;
    int rc =
        duro_json_parse_input(input, strlen(input), DURO_DEFAULT_MAX_PAYLOAD,
                              &parsed, why, sizeof(why));
    if (rc < 0) return duro__fail(c, rc, "update input: %s", why);
    cJSON_Delete(parsed);
    return 0;
}

/* take_outcome hands out a recorded or answered outcome: the result, or
 * the handler's failure as "update N failed: ...". */
static int take_outcome(duro_client *c, const char *name, const char *s,
                        size_t len, char **result_json)
{
    int rc = duro__query_take(c, name, s, len, result_json);
    if (rc == DURO_EINVAL) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s", duro_client_errstr(c));
        rc = duro__fail(c, rc, "update %s failed: %s", name, msg);
    } else if (rc == DURO_EPROTO) {
        /* said as a query's answer ("query N: malformed answer: ...") */
        const char *e = duro_client_errstr(c);
        const char *why = strstr(e, ": ");
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s", why ? why + 2 : e);
        rc = duro__fail(c, rc, "update %s: %s", name, msg);
    }
    return rc;
}

/* recorded reads the update's record: *state 'd' (done: the outcome in
 * *out, caller frees), 'p' (accepted, pending) or 0 (none). */
static int recorded(duro_client *c, const duro__wf_head *h, const char *uid,
                    char *state, char **out)
{
    *state = 0;
    *out = NULL;
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "HGET");
    duro_argv_push(&a, h->k.wf);
    duro_argv_pushf(&a, "u:%s:%s", h->run, uid);
    int rc;
    redisReply *r = duro__call(c, &a, false, &rc);
    duro_argv_free(&a);
    if (!r) return rc;
    const char *s = duro__reply_str(r);
    if (s && s[0] == '{') {
        *state = 'd';
        *out = strdup(s);
        if (!*out) rc = duro__fail(c, DURO_ENOMEM, "out of memory");
    } else if (s) {
        *state = 'p';
    }
    freeReplyObject(r);
    return rc;
}

/* answer_of: the string a BLPOP reply carries, or NULL (nobody answered). */
static const redisReply *answer_of(const redisReply *r)
{
    const redisReply *v =
        r->type == REDIS_REPLY_ARRAY && r->elements == 2 ? r->element[1] : NULL;
    return v && duro__reply_str(v) ? v : NULL;
}

static int64_t left_ms(int64_t deadline)
{
    int64_t left = deadline - duro_now_ms();
    return left > 0 ? left : 1;
}

/* validate asks a worker whether the update would be accepted now. */
static int validate(duro_client *c, const duro__wf_head *h, const char *id,
                    const char *name, const char *sealed, int64_t deadline)
{
    char uuid[DURO_UUID_LEN + 1], replykey[DURO_SHORT_KEY_MAX];
    duro_uuid_v4(uuid);
    duro_key_qreply(replykey, sizeof(replykey), duro__ks(c), h->k.partition,
                    uuid);
    int64_t wait = left_ms(deadline);
    int rc = duro__query_send(c, h, id, name, "update", sealed, replykey, wait);
    redisReply *r = NULL;
    if (rc == 0) rc = duro__query_wait(c, replykey, wait, &r);
    if (rc < 0) return rc;
    const redisReply *v = answer_of(r);
    char *ignored = NULL;
    if (!v) {
        char d[32];
        rc = duro__fail(c, DURO_ETIMEDOUT,
                        "no worker validated update %s within %s: is a "
                        "worker polling task queue %s? (nothing was recorded)",
                        name, duro_duration_format(wait, d, sizeof(d)),
                        h->queue);
    } else if ((rc = duro__query_take(c, name, v->str, v->len, &ignored)) ==
               DURO_EINVAL) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s", duro_client_errstr(c));
        rc = duro__fail(c, rc, "update %s rejected: %s", name, msg);
    }
    free(ignored);
    freeReplyObject(r);
    return rc;
}

/* fcall_fail: duro_update's error replies. */
static int fcall_fail(duro_client *c, const redisReply *r, const char *id)
{
    const char *e = r->str ? r->str : "";
    const char *rest = strchr(e, ' ');
    int code = duro_redis_error_code(e);
    switch (code) {
    case DURO_ENOTFOUND:
        return duro__fail(c, code, "workflow %s not found", id);
    case DURO_ENOTRUNNING:
        return duro__fail(c, code,
                          "workflow %s is %.40s; updates go only to running "
                          "workflows",
                          id, rest ? rest + 1 : "closed");
    case DURO_ESTALE:
        return duro__fail(c, code,
                          "workflow %s: a new run replaced the current one; "
                          "nothing was recorded, try again",
                          id);
    default:
        return duro__fail(c, code, "redis: %.400s", e);
    }
}

/* record_and_wait records the update (or joins its waiters) and waits for its
 * outcome in a fresh reply list. */
static int record_and_wait(duro_client *c, duro__wf_head *h, const char *id,
                           const char *name, const char *uid,
                           const char *sealed, int64_t deadline,
                           char **result_json)
{
    char uuid[DURO_UUID_LEN + 1], replykey[DURO_SHORT_KEY_MAX];
    duro_uuid_v4(uuid);
    duro_key_qreply(replykey, sizeof(replykey), duro__ks(c), h->k.partition,
                    uuid);
    cJSON *d = cJSON_CreateObject();
    if (!d) return duro__fail(c, DURO_ENOMEM, "out of memory");
    cJSON_AddStringToObject(d, "updateId", uid);
    cJSON_AddStringToObject(d, "name", name);
    cJSON_AddItemToObject(d, "input", cJSON_CreateRaw(sealed));
    char *data = cJSON_PrintUnformatted(d);
    cJSON_Delete(d);
    if (!data) return duro__fail(c, DURO_ENOMEM, "out of memory");
    duro_wf_keys_queues(&h->k, h->queue, NULL);
    duro_argv a;
    duro_fcall_update(&a, &h->k, h->run, uid, data, replykey);
    int rc;
    redisReply *r = duro__call(c, &a, true, &rc);
    duro_argv_free(&a); /* it borrowed data */
    free(data);
    if (r && r->type == REDIS_REPLY_ERROR) rc = fcall_fail(c, r, id);
    if (duro_err_is_transient(rc)) {
        /* refused before it ran (DURO_EAGAIN), or lost with the connection
         * (it may have run): the same id retries safely either way */
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", duro_client_errstr(c));
        rc = duro__fail(
            c, rc, "%s (update %s %s: call again with update id %s)", msg, name,
            rc == DURO_EAGAIN ? "was not recorded" : "may have been recorded",
            uid);
    }
    if (!r || rc < 0) {
        if (r) freeReplyObject(r);
        return rc;
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        duro__reply_str(r->element[1])) {
        /* {"done", outcome}: completed while this call validated */
        rc = take_outcome(c, name, r->element[1]->str, r->element[1]->len,
                          result_json);
    } else {
        redisReply *w = NULL;
        int64_t wait = left_ms(deadline);
        rc = duro__query_wait(c, replykey, wait, &w);
        const redisReply *v = rc == 0 ? answer_of(w) : NULL;
        char dur[32];
        if (v)
            rc = take_outcome(c, name, v->str, v->len, result_json);
        else if (rc == 0)
            rc = duro__fail(
                c, DURO_ETIMEDOUT,
                "update %s (id %s) was accepted but not completed within %s "
                "(is a worker polling task queue %s?); call again with update "
                "id %s for its result: it is applied once",
                name, uid, duro_duration_format(wait, dur, sizeof(dur)),
                h->queue, uid);
        if (w) freeReplyObject(w);
    }
    freeReplyObject(r);
    return rc;
}

int duro_client_update(duro_client *c, const char *workflow_id,
                       const char *name, const char *input,
                       const char *update_id, int64_t timeout_ms,
                       char **result_json)
{
    *result_json = NULL;
    char fresh[DURO_UUID_LEN + 1];
    if (!update_id || !*update_id) {
        duro_uuid_v4(fresh);
        update_id = fresh;
    }
    if (!input) input = "null";
    if (timeout_ms == 0) timeout_ms = DURO_UPDATE_DEFAULT_TIMEOUT_MS;
    int64_t deadline = duro_now_ms() + timeout_ms;
    duro__wf_head h;
    int rc = check_update(c, name, input, update_id, timeout_ms);
    if (rc == 0) rc = duro__read_head(c, workflow_id, &h);
    char state = 0, *outcome = NULL;
    if (rc == 0) rc = recorded(c, &h, update_id, &state, &outcome);
    if (rc < 0) return rc;
    if (state == 'd') {
        rc = take_outcome(c, name, outcome, strlen(outcome), result_json);
        free(outcome);
        return rc;
    }
    if (strcmp(h.status, "RUNNING") != 0)
        return duro__fail(c, DURO_ENOTRUNNING,
                          "workflow %s is %s; updates go only to running "
                          "workflows",
                          workflow_id, h.status);
    char *sealed;
    if ((rc = duro__seal(c, input, &sealed)) < 0) return rc;
    /* an update accepted before is not validated again: it is recorded */
    if (state != 'p') rc = validate(c, &h, workflow_id, name, sealed, deadline);
    if (rc == 0)
        rc = record_and_wait(c, &h, workflow_id, name, update_id, sealed,
                             deadline, result_json);
    free(sealed);
    return rc;
}
