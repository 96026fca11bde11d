/* schedules_plan.c: what one schedule fire does: which nominal times start
 * a workflow, which are buffered, skipped (overlap policy) or missed
 * (catch-up window), and when the schedule is due next. Pure: the state
 * comes from the claim (schedules.c), the result goes to duro_sched_fire. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "duro/errno.h"
#include "duro/json.h"
#include "duro/log.h"
#include "schedules_int.h"

/* ---- The claim's snapshot ---- */

static const char *const POLICIES[] = {
    [OVERLAP_SKIP] = "Skip",
    [OVERLAP_BUFFER_ONE] = "BufferOne",
    [OVERLAP_BUFFER_ALL] = "BufferAll",
    [OVERLAP_CANCEL_OTHER] = "CancelOther",
    [OVERLAP_TERMINATE_OTHER] = "TerminateOther",
    [OVERLAP_ALLOW_ALL] = "AllowAll",
};

static char *field(const redisReply *h, const char *name)
{
    for (size_t i = 0; i + 1 < h->elements; i += 2)
        if (duro__reply_str(h->element[i]) &&
            strcmp(h->element[i]->str, name) == 0 &&
            duro__reply_str(h->element[i + 1]))
            return strdup(h->element[i + 1]->str);
    return strdup("");
}

static int64_t field_ll(const redisReply *h, const char *name)
{
    char *v = field(h, name);
    int64_t n = v ? strtoll(v, NULL, 10) : 0;
    free(v);
    return n;
}

/* parse_list reads "ms ms ..." into out (at most max). */
static int parse_list(const char *s, int64_t *out, int max)
{
    int n = 0;
    char *end;
    while (s && *s && n < max) {
        long long v = strtoll(s, &end, 10);
        if (end == s) break;
        out[n++] = v;
        s = end;
    }
    return n;
}

static int load_spec(sjob *j, const redisReply *h)
{
    char err[160];
    int rc;
    if (j->cron && *j->cron) {
        rc = duro_spec_cron(&j->spec, j->cron, j->tz, err, sizeof(err));
    } else {
        rc = duro_spec_interval(&j->spec, field_ll(h, "interval_ms"),
                                field_ll(h, "offset_ms"), err, sizeof(err));
    }
    if (rc) {
        duro_warn_limited(NULL, "SCHEDULE SPEC BAD sched=%s err=%s", j->id,
                          err);
        return rc;
    }
    j->spec_ok = 1;
    return 0;
}

/* action_ok: the action's type and queue are names (they make keys), its
 * workflow id prefix leaves room for the time, and its input is JSON. The hash
 * is the client's, but anyone with Redis access can edit it: a run started from
 * a damaged one would have a history no worker can read, and would hold the
 * overlap policy forever. */
static int action_ok(const sjob *j)
{
    char err[160], why[128] = "";
    cJSON *in = NULL;
    const char *base = *j->prefix ? j->prefix : j->id;
    int rc = duro_name_check("workflow type", j->type, err, sizeof(err));
    if (rc == 0) rc = duro_name_check("task queue", j->queue, err, sizeof(err));
    if (rc == 0) rc = duro_id_check(base, err, sizeof(err));
    if (rc == 0 && strlen(base) + 1 + DURO_RFC3339_LEN > DURO_ID_MAX) {
        /* schedules_wfid would make every workflow id empty */
        snprintf(err, sizeof(err), "the workflow id prefix is too long");
        rc = DURO_EINVAL;
    }
    if (rc == 0 && *j->input) {
        rc = duro_json_parse(j->input, strlen(j->input),
                             DURO_DEFAULT_MAX_PAYLOAD, &in, why, sizeof(why));
        snprintf(err, sizeof(err), "input: %s", why);
    }
    cJSON_Delete(in);
    if (rc)
        duro_warn_limited(NULL, "SCHEDULE ACTION BAD sched=%s err=%s", j->id,
                          err);
    return rc;
}

sjob *schedules_job_new(sched *s, const char *id, const redisReply *reply)
{
    if (reply->elements != 5 || !duro__reply_str(reply->element[1]) ||
        !duro__reply_str(reply->element[2]) ||
        reply->element[3]->type != REDIS_REPLY_ARRAY ||
        reply->element[4]->type != REDIS_REPLY_ARRAY)
        return NULL;
    const redisReply *h = reply->element[3], *rq = reply->element[4];
    sjob *j = calloc(1, sizeof(*j));
    if (!j) return NULL;
    j->s = s;
    snprintf(j->id, sizeof(j->id), "%s", id);
    snprintf(j->token, sizeof(j->token), "%s", reply->element[1]->str);
    j->now = strtoll(reply->element[2]->str, NULL, 10);
    char *rev = field(h, "rev");
    snprintf(j->rev, sizeof(j->rev), "%s", rev ? rev : "");
    free(rev);
    j->cron = field(h, "cron");
    j->tz = field(h, "tz");
    j->type = field(h, "type");
    j->queue = field(h, "queue");
    j->input = field(h, "input");
    j->prefix = field(h, "prefix");
    j->overlap = field(h, "overlap");
    j->jitter_ms = field_ll(h, "jitter_ms");
    j->catchup_ms = field_ll(h, "catchup_ms");
    if (j->catchup_ms <= 0) j->catchup_ms = 365LL * 86400 * 1000;
    j->next_nominal = field_ll(h, "next_nominal");
    j->paused = field_ll(h, "paused") == 1;
    char *running = field(h, "running"), *buffer = field(h, "buffer");
    j->buffer = calloc(SCHED_MAX_BUFFER, sizeof(*j->buffer));
    j->starts = calloc(SCHED_MAX_ACTIONS + 1, sizeof(*j->starts));
    j->reqs = calloc(rq->elements + 1, sizeof(*j->reqs));
    int ok = j->cron && j->tz && j->type && j->queue && j->input && j->prefix &&
             j->overlap && running && buffer && j->buffer && j->starts &&
             j->reqs;
    if (ok) {
        j->nrunning = parse_list(running, j->running, SCHED_MAX_RUNNING);
        j->nbuffer = parse_list(buffer, j->buffer, SCHED_MAX_BUFFER);
        for (size_t i = 0; i < rq->elements; i++)
            if (duro__reply_str(rq->element[i]))
                j->reqs[j->nreq++] = strdup(rq->element[i]->str);
        j->policy = OVERLAP_SKIP;
        for (size_t i = 0; i < sizeof(POLICIES) / sizeof(POLICIES[0]); i++)
            if (strcasecmp(j->overlap, POLICIES[i]) == 0)
                j->policy = (overlap_policy)i;
        ok = action_ok(j) == 0 && load_spec(j, h) == 0;
    }
    free(running);
    free(buffer);
    if (!ok) {
        /* schedules.c frees what it owns: reuse its path */
        j->nstarts = 0;
        for (int i = 0; i < j->nreq; i++)
            free(j->reqs[i]);
        free(j->reqs);
        free(j->cron);
        free(j->tz);
        free(j->type);
        free(j->queue);
        free(j->input);
        free(j->prefix);
        free(j->overlap);
        free(j->buffer);
        free(j->starts);
        if (j->spec_ok) duro_spec_close(&j->spec);
        free(j);
        return NULL;
    }
    return j;
}

char *schedules_wfid(const sjob *j, int64_t nominal, char *buf, size_t size)
{
    char t[DURO_RFC3339_LEN];
    int n = snprintf(buf, size, "%s-%s", *j->prefix ? j->prefix : j->id,
                     duro_rfc3339(nominal, t, sizeof(t)));
    /* the client checked that the prefix leaves room for the time */
    if (n < 0 || (size_t)n >= size) buf[0] = '\0';
    return buf;
}

/* ---- Overlap ---- */

static void start(sjob *j, int64_t nominal, const char *how)
{
    sstart *st = &j->starts[j->nstarts++];
    st->nominal = nominal;
    st->how = how;
    schedules_wfid(j, nominal, st->wfid, sizeof(st->wfid));
    if (j->nrunning == SCHED_MAX_RUNNING) { /* AllowAll: forget the oldest */
        memmove(j->running, j->running + 1,
                (SCHED_MAX_RUNNING - 1) * sizeof(j->running[0]));
        memmove(j->runs, j->runs + 1,
                (SCHED_MAX_RUNNING - 1) * sizeof(j->runs[0]));
        memmove(j->queues, j->queues + 1,
                (SCHED_MAX_RUNNING - 1) * sizeof(j->queues[0]));
        j->nrunning--;
    }
    /* its run is not known before the start: a policy that stops runs
     * stops it at a later fire */
    j->runs[j->nrunning][0] = '\0';
    j->queues[j->nrunning][0] = '\0';
    j->running[j->nrunning++] = nominal;
}

static void buffer_push(sjob *j, int64_t nominal)
{
    if (j->nbuffer == SCHED_MAX_BUFFER) {
        j->skipped++;
        return;
    }
    j->buffer[j->nbuffer++] = nominal;
    j->nbuffered++;
}

/* stop_all asks for every running run to be cancelled or terminated. */
static void stop_all(sjob *j, char how)
{
    j->kill_how = how;
    for (int i = 0; i < j->nrunning; i++) {
        if (!j->runs[i][0] || !j->queues[i][0]) continue;
        j->kill[j->nkill].nominal = j->running[i];
        snprintf(j->kill[j->nkill].run, sizeof(j->kill[0].run), "%s",
                 j->runs[i]);
        snprintf(j->kill[j->nkill].queue, sizeof(j->kill[0].queue), "%s",
                 j->queues[i]);
        j->nkill++;
    }
}

/* offer applies the overlap policy to one due action. */
static void offer(sjob *j, int64_t nominal, const char *how)
{
    int busy = j->nrunning > 0;
    if (!busy || j->policy == OVERLAP_ALLOW_ALL) {
        start(j, nominal, how);
        return;
    }
    switch (j->policy) {
    case OVERLAP_SKIP:
        j->skipped++;
        break;
    case OVERLAP_BUFFER_ONE:
        if (j->nbuffer == 0)
            buffer_push(j, nominal);
        else
            j->skipped++;
        break;
    case OVERLAP_BUFFER_ALL:
        buffer_push(j, nominal);
        break;
    case OVERLAP_CANCEL_OTHER:
        /* the newest waits for the cancelled run to close */
        if (j->nkill == 0) stop_all(j, 'c');
        j->skipped += j->nbuffer;
        j->nbuffer = 0;
        buffer_push(j, nominal);
        break;
    case OVERLAP_TERMINATE_OTHER:
        stop_all(j, 't');
        /* this fire's earlier starts would be terminated by this one as
         * soon as they began: they are skipped instead */
        j->skipped += j->nstarts;
        j->nstarts = 0;
        j->nrunning = 0;
        start(j, nominal, how);
        break;
    case OVERLAP_ALLOW_ALL:
        break;
    }
}

/* ---- The plan ---- */

/* keep_alive drops the runs that closed from `running`. */
static void keep_alive(sjob *j)
{
    int n = 0;
    for (int i = 0; i < j->nrunning; i++) {
        if (!j->alive[i]) continue;
        j->running[n] = j->running[i];
        memcpy(j->runs[n], j->runs[i], sizeof(j->runs[0]));
        memcpy(j->queues[n], j->queues[i], sizeof(j->queues[0]));
        n++;
    }
    j->nrunning = n;
}

/* scheduled offers the nominal times due by now; returns 1 when the
 * budget ran out before them. */
static int scheduled(sjob *j, int *budget)
{
    int64_t n = j->next_nominal > 0 ? j->next_nominal
                                    : duro_spec_next(&j->spec, j->now);
    long counted = 0;
    while (n >= 0 && n + duro_spec_jitter(j->id, n, j->jitter_ms) <= j->now) {
        /* the window counts from the time the action was due (nominal
         * plus jitter), as Temporal's: a jitter wider than the window
         * would otherwise make times fired on time count as missed */
        if (j->now - n - duro_spec_jitter(j->id, n, j->jitter_ms) >
            j->catchup_ms) {
            if (++counted > SCHED_MISSED_MAX) { /* jump to the window */
                n = duro_spec_next(&j->spec, j->now - j->catchup_ms - 1);
                continue;
            }
            j->missed++;
        } else {
            if (*budget == 0) break;
            (*budget)--;
            offer(j, n, "schedule");
        }
        n = duro_spec_next(&j->spec, n);
    }
    j->new_next = n;
    return n >= 0 && n + duro_spec_jitter(j->id, n, j->jitter_ms) <= j->now;
}

/* parse_range reads a backfill request's "<from>:<to>" (ms); -1 when it
 * is not two whole numbers in range. */
static int parse_range(const char *s, long long *a, long long *b)
{
    char *end;
    errno = 0;
    *a = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != ':') return -1;
    s = end + 1;
    *b = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0') return -1;
    return 0;
}

/* requested offers triggers and backfills, in order. */
static void requested(sjob *j, int *budget)
{
    for (int i = 0; i<j->nreq && * budget> 0; i++) {
        const char *r = j->reqs[i];
        long long a = 0, b = 0;
        if (r[0] == 'T') {
            (*budget)--;
            offer(j, strtoll(r + 1, NULL, 10), "trigger");
        } else if (r[0] == 'B' && parse_range(r + 1, &a, &b) == 0) {
            int64_t t = duro_spec_next(&j->spec, a - 1);
            for (; t >= 0 && t <= b && *budget > 0;
                 t = duro_spec_next(&j->spec, t)) {
                (*budget)--;
                offer(j, t, "backfill");
            }
            if (t >= 0 && t <= b) {
                snprintf(j->requeue, sizeof(j->requeue), "B%lld:%lld",
                         (long long)t, b);
            }
        }
        j->reqs_done++;
    }
}

void schedules_plan(sjob *j)
{
    int budget = SCHED_MAX_ACTIONS;
    keep_alive(j);
    if (j->nrunning == 0 && j->nbuffer > 0) { /* the buffer goes first */
        int64_t next = j->buffer[0];
        memmove(j->buffer, j->buffer + 1,
                (size_t)(j->nbuffer - 1) * sizeof(j->buffer[0]));
        j->nbuffer--;
        start(j, next, "buffered");
        budget--;
    }
    int more = 0;
    j->new_next = j->next_nominal;
    if (!j->paused) more = scheduled(j, &budget);
    requested(j, &budget);
    if (more)
        j->due = j->now;
    else if (j->paused || j->new_next < 0)
        j->due = -1;
    else
        j->due =
            j->new_next + duro_spec_jitter(j->id, j->new_next, j->jitter_ms);
    if (j->nbuffer > 0 && (j->due < 0 || j->due > j->now + SCHED_POLL_MS))
        j->due = j->now + SCHED_POLL_MS;
}
