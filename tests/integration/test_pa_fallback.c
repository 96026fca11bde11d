/* test_pa_fallback.c: a pending activity stored as library 27 and older
 * stored it (thirteen fields "<seq>.<part>", docs/internals.md "Pending
 * activity fields"), as a run in flight across the upgrade to library 28
 * holds it, read by the C readers: describe (client_describe.c), `duro
 * activity` by workflow and activity id or by task token
 * (client_activity.c), and the scheduler's schedule-to-start retry delay
 * (scheduler/src/timers_sts.c). Each must answer as it does for the two
 * packed records. A damaged record, or a pending-activity key of another
 * type, is a clear error: no crash, no silent wrong answer.
 *
 * The worker is embedded in the test process (its activity completes
 * later, from outside, so the attempt stays pending); the scheduler and
 * the CLI are the real programs. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/errno.h"
#include "duro/keys.h"
#include "duro/pa_record.h"
#include "duro/worker.h"
#include "harness.h"

#define QUEUE "paq"
#define NOBODY "nobody"  /* an activity queue no worker reads */
#define BACKOFF_MS 60000 /* the policy's first retry interval */

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(pa_fallback, .init = setup, .fini = duro_test_fini, .timeout = 90);

/* ---- The embedded worker ---- */

#define MAX_TOKENS 8
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char *tokens[MAX_TOKENS]; /* attempt 1's token, by workflow slot */

/* later: hands its attempt's task token over (input {"slot":i}) and
 * leaves the attempt pending, to be completed from outside. */
static cJSON *later(duro_actx *ctx, const cJSON *input, void *arg)
{
    (void)arg;
    int slot = (int)duro_test_num(input, "slot", 0);
    if (slot >= 0 && slot < MAX_TOKENS && duro_actx_attempt(ctx) == 1) {
        pthread_mutex_lock(&mu);
        free(tokens[slot]);
        tokens[slot] = strdup(duro_actx_task_token(ctx));
        pthread_mutex_unlock(&mu);
    }
    return duro_actx_complete_later(ctx);
}

static const char *token_of(int slot)
{
    pthread_mutex_lock(&mu);
    const char *t = tokens[slot];
    pthread_mutex_unlock(&mu);
    return t;
}

/* paWf: input {"slot","queue","sts"}: one activity "later" on that queue
 * (default the workflow's) with that schedule-to-start timeout, retried
 * after BACKOFF_MS, 3 attempts at most; returns {"value": result} or
 * {"error": message}. */
static cJSON *pa_wf(duro_wf *wf, const cJSON *input)
{
    duro_activity_opts o = {0};
    const char *q = duro_test_str(input, "queue");
    o.task_queue = *q ? q : NULL;
    o.schedule_to_start_ms = (int64_t)duro_test_num(input, "sts", 0);
    o.start_to_close_ms = 600000;
    o.retry.initial_interval_ms = BACKOFF_MS;
    o.retry.max_attempts = 3;
    cJSON *in = cJSON_CreateObject();
    cJSON_AddNumberToObject(in, "slot", duro_test_num(input, "slot", 0));
    duro_result r = duro_activity(wf, "later", in, &o);
    cJSON_Delete(in);
    cJSON *out = cJSON_CreateObject();
    if (r.ok)
        cJSON_AddItemToObject(out, "value", cJSON_Duplicate(r.value, 1));
    else
        cJSON_AddStringToObject(out, "error", r.error ? r.error : "");
    return out;
}

typedef struct {
    duro_worker *w;
    pthread_t t;
} embedded;

static void *run_worker(void *arg)
{
    duro_worker_run(arg);
    return NULL;
}

static void worker_start(embedded *e)
{
    /* eager off: the tasks go through the stream, whose pending entries
     * the tests read (an eager one is leased: test_lease*.c) */
    duro_worker_opts o = {.redis_url = h.redis_url,
                          .task_queue = QUEUE,
                          .log_level = "warn",
                          .eager_activities = -1};
    cr_assert_eq(duro_worker_new(&e->w, &o), 0);
    duro_worker_register_workflow(e->w, "paWf", pa_wf);
    duro_worker_register_activity(e->w, "later", later, NULL);
    cr_assert_eq(pthread_create(&e->t, NULL, run_worker, e->w), 0);
}

static void worker_stop(embedded *e)
{
    duro_worker_stop(e->w);
    pthread_join(e->t, NULL);
    duro_worker_free(e->w);
}

/* ---- Redis helpers ---- */

static redisReply *cmdv(redisContext *r, int argc, const char **argv,
                        const size_t *lens)
{
    redisReply *rep = redisCommandArgv(r, argc, argv, lens);
    cr_assert(rep, "redis: %s", r->errstr);
    return rep;
}

/* keys_of: workflow id's keys, its activity stream that of queue actq. */
static void keys_of(duro_client *c, const char *id, const char *run,
                    const char *actq, duro_wf_keys *k)
{
    duro_wf_keys_init(k, DURO_KEYSPACE_DEFAULT(duro_client_partitions(c)), id,
                      run);
    duro_wf_keys_queues(k, QUEUE, actq);
}

/* hget_dup: a hash field's value (caller frees), NULL when absent. */
static char *hget_dup(redisContext *r, const char *key, const char *field,
                      size_t *len)
{
    const char *argv[] = {"HGET", key, field};
    redisReply *rep = cmdv(r, 3, argv, NULL);
    char *v = NULL;
    if (rep->type == REDIS_REPLY_STRING) {
        v = malloc(rep->len + 1);
        memcpy(v, rep->str, rep->len);
        v[rep->len] = '\0';
        *len = rep->len;
    }
    freeReplyObject(rep);
    return v;
}

/* to_old_layout rewrites activity 1 of the hash pa from its two records
 * into the thirteen fields library 27 wrote (hb, details and failure only
 * when set, as it did), in one MULTI. */
static void to_old_layout(redisContext *r, const char *pa)
{
    size_t ls = 0, lc = 0;
    char *st_rec = hget_dup(r, pa, "1", &ls);
    char *sc_rec = hget_dup(r, pa, "1.s", &lc);
    cr_assert(st_rec && sc_rec, "activity 1 has no records in %s", pa);
    duro_pa_state st;
    duro_pa_sched sc;
    cr_assert(duro_pa_state_parse(st_rec, ls, &st), "%s", st_rec);
    cr_assert(duro_pa_sched_parse(sc_rec, lc, &sc), "%s", sc_rec);
    struct {
        const char *f;
        duro_pa_part v;
        bool always;
    } fs[] = {
        {"1.name", sc.name, true},       {"1.queue", st.queue, true},
        {"1.input", sc.input, true},     {"1.opts", sc.opts, true},
        {"1.attempt", st.attempt, true}, {"1.entry", st.entry, true},
        {"1.stc", sc.stc, true},         {"1.hbt", sc.hbt, true},
        {"1.sched", sc.sched, true},     {"1.deadline", st.deadline, true},
        {"1.hb", st.hb, false},          {"1.details", st.details, false},
        {"1.failure", st.failure, false}};
    const char *argv[2 + 2 * 13] = {"HSET", pa};
    size_t lens[2 + 2 * 13] = {4, strlen(pa)};
    int n = 2;
    for (size_t i = 0; i < sizeof(fs) / sizeof(fs[0]); i++) {
        if (!fs[i].always && fs[i].v.len == 0) continue;
        argv[n] = fs[i].f;
        lens[n++] = strlen(fs[i].f);
        argv[n] = fs[i].v.s;
        lens[n++] = fs[i].v.len;
    }
    freeReplyObject(cmdv(r, 1, (const char *[]){"MULTI"}, NULL));
    freeReplyObject(cmdv(r, 4, (const char *[]){"HDEL", pa, "1", "1.s"}, NULL));
    freeReplyObject(cmdv(r, n, argv, lens));
    redisReply *ex = cmdv(r, 1, (const char *[]){"EXEC"}, NULL);
    cr_assert_eq(ex->type, REDIS_REPLY_ARRAY);
    cr_assert_eq(ex->element[0]->integer, 2, "the records were not both there");
    freeReplyObject(ex);
    free(st_rec);
    free(sc_rec);
}

/* is_old: activity 1 of pa is in the old layout (no state record). */
static bool is_old(redisContext *r, const char *pa)
{
    size_t len;
    char *st = hget_dup(r, pa, "1", &len),
         *at = hget_dup(r, pa, "1.attempt", &len);
    bool old = !st && at;
    free(st);
    free(at);
    return old;
}

/* timer_due: the score of timer member m, or -1 when it is not there. */
static long long timer_due(redisContext *r, const char *timers, const char *m)
{
    redisReply *rep = cmdv(r, 3, (const char *[]){"ZSCORE", timers, m}, NULL);
    long long due =
        rep->type == REDIS_REPLY_STRING ? strtoll(rep->str, NULL, 10) : -1;
    freeReplyObject(rep);
    return due;
}

/* pel_count: entries delivered and not acknowledged in stream act. */
static long long pel_count(redisContext *r, const char *act)
{
    redisReply *rep =
        cmdv(r, 3, (const char *[]){"XPENDING", act, "duro"}, NULL);
    long long n = rep->type == REDIS_REPLY_ARRAY && rep->elements > 0
                      ? rep->element[0]->integer
                      : -1;
    freeReplyObject(rep);
    return n;
}

/* ---- The CLI ---- */

#define CLI(o, ...) duro_test_run(&h, (o), 15000, "duro", __VA_ARGS__, NULL)

/* describe_out: `duro workflow describe` of id (json: `-o json`), stdout (freed
 * by the caller); asserts it succeeded. */
static char *describe_out(const char *id, bool json)
{
    duro_test_output o;
    if (json)
        CLI(&o, "workflow", "describe", "--workflow-id", id, "-o", "json");
    else
        CLI(&o, "workflow", "describe", "--workflow-id", id);
    cr_assert_eq(o.exit_code, 0, "describe %s: %s", id, o.err);
    char *out = strdup(o.out);
    duro_test_output_free(&o);
    return out;
}

/* describe_both: describe of id as JSON and as text before and after its
 * activity 1 is rewritten in the old layout: the same, byte for byte.
 * Returns the JSON's first pending activity (caller frees the array). */
static cJSON *describe_both(redisContext *r, const char *id, const char *pa)
{
    char *json = describe_out(id, true), *text = describe_out(id, false);
    to_old_layout(r, pa);
    char *ojson = describe_out(id, true), *otext = describe_out(id, false);
    cr_assert_str_eq(ojson, json, "describe -o json differs in the old layout");
    cr_assert_str_eq(otext, text, "describe differs in the old layout");
    cJSON *d = cJSON_Parse(json);
    cr_assert(d, "%s", json);
    cJSON *acts = cJSON_DetachItemFromObject(d, "pendingActivities");
    cr_assert_eq(cJSON_GetArraySize(acts), 1, "%s", json);
    cJSON_Delete(d);
    free(json);
    free(text);
    free(ojson);
    free(otext);
    return acts;
}

static void start(duro_client *c, const char *id, int slot, const char *queue,
                  int sts)
{
    char in[128];
    snprintf(in, sizeof(in), "{\"slot\":%d,\"queue\":\"%s\",\"sts\":%d}", slot,
             queue, sts);
    duro_test_start(c, id, "paWf", QUEUE, in, 0);
}

/* run_of: the current run of id (into buf). */
static const char *run_of(duro_client *c, const char *id, char *buf,
                          size_t size)
{
    cJSON *d = NULL;
    cr_assert_eq(duro_client_describe(c, id, &d), 0, "%s",
                 duro_client_errstr(c));
    snprintf(buf, size, "%s", duro_test_str(d, "runId"));
    cJSON_Delete(d);
    return buf;
}

/* wait_pending: activity 1 of id is scheduled (its state record is
 * there). */
static void wait_pending(redisContext *r, const char *pa)
{
    size_t len;
    char *v = NULL;
    cr_assert(
        duro_test_wait_until((free(v), v = hget_dup(r, pa, "1", &len)), 10000),
        "activity 1 never scheduled in %s", pa);
    free(v);
}

/* ---- describe and `duro activity` by id ---- */

/* One activity through its life in the old layout, each step as a user
 * makes it: describe (scheduled, heartbeated), a heartbeat, a retryable
 * failure by id (its delay from the old `.opts`, its ack of the old
 * `.entry` in the old `.queue`'s stream), describe (backoff, last
 * failure), the completion by id. */
Test(pa_fallback, describe_and_activity_by_id_read_the_old_layout)
{
    embedded e;
    worker_start(&e);
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    start(c, "pa-1", 0, "", 0);
    cr_assert(duro_test_wait_until(token_of(0) != NULL, 10000));
    char run[64];
    duro_wf_keys k;
    keys_of(c, "pa-1", run_of(c, "pa-1", run, sizeof(run)), QUEUE, &k);
    duro_test_output o;
    CLI(&o, "activity", "heartbeat", "--workflow-id", "pa-1", "--activity-id",
        "1", "--details", "{\"step\":1}");
    cr_assert_eq(o.exit_code, 0, "%s", o.err);
    duro_test_output_free(&o);

    cJSON *acts = describe_both(r, "pa-1", k.pa);
    cJSON *a = cJSON_GetArrayItem(acts, 0);
    cr_assert_str_eq(duro_test_str(a, "name"), "later");
    cr_assert_eq(duro_test_num(a, "attempt", 0), 1);
    cr_assert_str_eq(duro_test_str(a, "state"), "scheduled");
    cr_assert(*duro_test_str(a, "lastHeartbeat"), "no heartbeat shown");
    cJSON_Delete(acts);

    /* a heartbeat by id: the attempt read from the old fields */
    CLI(&o, "activity", "heartbeat", "--workflow-id", "pa-1", "--activity-id",
        "1", "--details", "{\"step\":2}");
    cr_assert_eq(o.exit_code, 0, "%s", o.err);
    duro_test_output_free(&o);
    cr_assert_not(is_old(r, k.pa), "the heartbeat did not upgrade the record");
    size_t len;
    char *st = hget_dup(r, k.pa, "1", &len);
    cr_assert(st && strstr(st, "{\"step\":2}"), "%s", st ? st : "(none)");
    free(st);

    /* a retryable failure by id: attempt 2 after the policy's interval */
    to_old_layout(r, k.pa);
    cr_assert_eq(pel_count(r, k.act), 1, "attempt 1 not pending in %s", k.act);
    int64_t before = duro_test_redis_now_ms(r);
    CLI(&o, "activity", "fail", "--workflow-id", "pa-1", "--activity-id", "1",
        "--message", "try again", "--type", "Flaky");
    cr_assert_eq(o.exit_code, 0, "%s", o.err);
    duro_test_output_free(&o);
    char m[256];
    snprintf(m, sizeof(m), "r|%s|1|2|%s|%s|pa-1", run, QUEUE, QUEUE);
    long long due = timer_due(r, k.timers, m);
    cr_assert_geq(due - before, BACKOFF_MS - 1000,
                  "retry due in %lldms, not the policy's %dms", due - before,
                  BACKOFF_MS);
    cr_assert_leq(due - before, BACKOFF_MS + 5000);
    cr_assert_eq(pel_count(r, k.act), 0, "attempt 1's entry not acknowledged");

    acts = describe_both(r, "pa-1", k.pa);
    a = cJSON_GetArrayItem(acts, 0);
    cr_assert_eq(duro_test_num(a, "attempt", 0), 2);
    cr_assert_str_eq(duro_test_str(a, "state"), "backoff");
    cr_assert_str_eq(
        duro_test_str(cJSON_GetObjectItem(a, "lastFailure"), "message"),
        "try again");
    cJSON_Delete(acts);

    /* the completion by id, of attempt 2 in its backoff */
    CLI(&o, "activity", "complete", "--workflow-id", "pa-1", "--activity-id",
        "1", "--result", "7");
    cr_assert_eq(o.exit_code, 0, "%s", o.err);
    duro_test_output_free(&o);
    cJSON *d = duro_test_result(c, "pa-1", 20000);
    char *res = cJSON_PrintUnformatted(cJSON_GetObjectItem(d, "result"));
    cr_assert_str_eq(res, "{\"value\":7}");
    free(res);
    cJSON_Delete(d);
    redisFree(r);
    duro_client_free(c);
    worker_stop(&e);
    duro_test_finish(&h);
}

/* A failure by task token reads only the options (the token names the
 * attempt): in the old layout from `.opts`, so the retry waits the
 * policy's interval, as for the records. */
Test(pa_fallback, fail_by_token_takes_the_policy_from_the_old_layout)
{
    embedded e;
    worker_start(&e);
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    const char *ids[] = {"pa-new", "pa-old"};
    for (int i = 0; i < 2; i++)
        start(c, ids[i], i, "", 0);
    for (int i = 0; i < 2; i++) {
        cr_assert(duro_test_wait_until(token_of(i) != NULL, 10000));
        char run[64], m[256];
        duro_wf_keys k;
        keys_of(c, ids[i], run_of(c, ids[i], run, sizeof(run)), QUEUE, &k);
        if (i) to_old_layout(r, k.pa);
        int64_t before = duro_test_redis_now_ms(r);
        duro_test_output o;
        CLI(&o, "activity", "fail", "--task-token", token_of(i), "--message",
            "later", "--type", "Flaky");
        cr_assert_eq(o.exit_code, 0, "%s: %s", ids[i], o.err);
        duro_test_output_free(&o);
        snprintf(m, sizeof(m), "r|%s|1|2|%s|%s|%s", run, QUEUE, QUEUE, ids[i]);
        long long due = timer_due(r, k.timers, m);
        cr_assert_geq(due - before, BACKOFF_MS - 1000,
                      "%s: retry due in %lldms, not the policy's %dms", ids[i],
                      due - before, BACKOFF_MS);
        cr_assert_leq(due - before, BACKOFF_MS + 5000, "%s", ids[i]);
    }
    redisFree(r);
    duro_client_free(c);
    worker_stop(&e);
    duro_test_finish(&h);
}

/* ---- The scheduler's schedule-to-start retry ---- */

/* An attempt nobody takes times out (SCHEDULE_TO_START) and is retried
 * after the interval of its policy, which the scheduler reads: from the
 * schedule record, or from `.opts` in the old layout. Without it the
 * attempt would time out for good (ActivityTimedOut, the run goes on to
 * its end). A retry writes no event: its 'r' timer says it. */
Test(pa_fallback, schedule_to_start_retry_reads_the_old_layout)
{
    embedded e;
    worker_start(&e);
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    const char *ids[] = {"sts-new", "sts-old"};
    duro_wf_keys k[2];
    char run[2][64], q[2][256], rm[2][256];
    long long q_due[2];
    for (int i = 0; i < 2; i++) {
        start(c, ids[i], i, NOBODY, 300);
        keys_of(c, ids[i], NULL, NOBODY, &k[i]);
        wait_pending(r, k[i].pa);
        run_of(c, ids[i], run[i], sizeof(run[i]));
        snprintf(q[i], sizeof(q[i]), "q|%s|1|1|%s|%s|%s", run[i], QUEUE, NOBODY,
                 ids[i]);
        snprintf(rm[i], sizeof(rm[i]), "r|%s|1|2|%s|%s|%s", run[i], QUEUE,
                 NOBODY, ids[i]);
        q_due[i] = timer_due(r, k[i].timers, q[i]);
        cr_assert_gt(q_due[i], 0, "no timer %s", q[i]);
    }
    to_old_layout(r, k[1].pa);
    duro_test_spawn_up(&h, 5000, "duro-scheduler", "--scan-interval", "100ms",
                       NULL);
    for (int i = 0; i < 2; i++) {
        cr_assert(
            duro_test_wait_until(timer_due(r, k[i].timers, q[i]) < 0, 10000),
            "%s: the schedule-to-start timer never fired", ids[i]);
        long long due = timer_due(r, k[i].timers, rm[i]);
        cJSON *hist = duro_test_history(c, ids[i]);
        cr_assert_gt(due, 0, "%s: no retry after the timeout: %s", ids[i],
                     cJSON_PrintUnformatted(hist));
        cJSON_Delete(hist);
        cr_assert_geq(due - q_due[i], BACKOFF_MS,
                      "%s: retry due %lldms after the timeout, not the "
                      "policy's %dms",
                      ids[i], due - q_due[i], BACKOFF_MS);
        cr_assert_leq(due - q_due[i], BACKOFF_MS + 5000, "%s", ids[i]);
        cJSON *d = NULL;
        cr_assert_eq(duro_client_describe(c, ids[i], &d), 0);
        cr_assert_str_eq(duro_test_str(d, "status"), "RUNNING", "%s", ids[i]);
        cJSON *a =
            cJSON_GetArrayItem(cJSON_GetObjectItem(d, "pendingActivities"), 0);
        cr_assert_eq(duro_test_num(a, "attempt", 0), 2, "%s", ids[i]);
        cr_assert_str_eq(duro_test_str(a, "state"), "backoff", "%s", ids[i]);
        cJSON_Delete(d);
    }
    redisFree(r);
    duro_client_free(c);
    worker_stop(&e);
    duro_test_finish(&h);
}

/* ---- Damaged records ---- */

/* describe_fails: `duro workflow describe` of id fails, its message holding
 * each of the NULL-terminated texts; and so does the client's describe, with
 * code. */
static void describe_fails(duro_client *c, const char *id, int code,
                           const char *why, ...)
{
    duro_test_output o;
    CLI(&o, "workflow", "describe", "--workflow-id", id, "-o", "json");
    cr_assert_neq(o.exit_code, 0, "describe passed: %s", o.out);
    cr_assert(o.exit_code > 0, "describe crashed: %s", o.err);
    va_list ap;
    va_start(ap, why);
    for (const char *s = why; s; s = va_arg(ap, const char *))
        cr_assert(strstr(o.err, s), "no \"%s\" in: %s", s, o.err);
    va_end(ap);
    duro_test_output_free(&o);
    cJSON *d = NULL;
    cr_assert_eq(duro_client_describe(c, id, &d), code, "%s",
                 duro_client_errstr(c));
    cr_assert_null(d);
}

/* activity_fails: `duro activity <verb>` of activity 1 of id fails with
 * a message holding why; and so does the client's call, with code. */
static void activity_fails(duro_client *c, const char *id, const char *verb,
                           int code, const char *why)
{
    duro_test_output o;
    CLI(&o, "activity", verb, "--workflow-id", id, "--activity-id", "1");
    cr_assert(o.exit_code > 0, "activity %s: exit %d: %s", verb, o.exit_code,
              o.err);
    cr_assert(strstr(o.err, why), "no \"%s\" in: %s", why, o.err);
    duro_test_output_free(&o);
    duro_activity_ref ref = {.workflow_id = id, .activity_id = 1};
    int rc = strcmp(verb, "fail") == 0
                 ? duro_client_activity_fail(c, &ref, NULL, "x", false)
                 : duro_client_activity_complete(c, &ref, "1");
    cr_assert_eq(rc, code, "activity %s: %d %s", verb, rc,
                 duro_client_errstr(c));
}

static void hset1(redisContext *r, const char *key, const char *field,
                  const char *value)
{
    redisReply *rep =
        cmdv(r, 4, (const char *[]){"HSET", key, field, value}, NULL);
    cr_assert_neq(rep->type, REDIS_REPLY_ERROR, "%s", rep->str);
    freeReplyObject(rep);
}

/* cut_after_header: record rec cut one byte after its header's ';' (its
 * parts, 3 bytes at least, then run past its end), into buf. */
static void cut_after_header(char *buf, size_t size, const char *rec)
{
    const char *semi = strchr(rec, ';');
    cr_assert(semi, "%s", rec);
    snprintf(buf, size, "%.*s", (int)(semi - rec + 2), rec);
}

/* A state record cut short (its lengths run past its end, or its header
 * ends early), a schedule record cut short, a pending-activity key that
 * is no hash: describe and `duro activity` by id say so and fail; none
 * reads it as "not pending" or as an activity without a name. Whole
 * again, the activity completes. */
Test(pa_fallback, damaged_records_are_clear_errors_for_the_client)
{
    embedded e;
    worker_start(&e);
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    start(c, "pa-bad", 0, "", 0);
    cr_assert(duro_test_wait_until(token_of(0) != NULL, 10000));
    duro_wf_keys k;
    keys_of(c, "pa-bad", NULL, QUEUE, &k);
    size_t ls, lc;
    char *st = hget_dup(r, k.pa, "1", &ls), *sc = hget_dup(r, k.pa, "1.s", &lc);
    cr_assert(st && sc && ls > 4);
    char cut[256];
    /* the record cut after its header's first byte: its lengths run past
     * its end */
    cut_after_header(cut, sizeof(cut), st);
    hset1(r, k.pa, "1", cut);
    describe_fails(c, "pa-bad", DURO_EPROTO, "activity 1", "damaged", NULL);
    activity_fails(c, "pa-bad", "complete", DURO_EPROTO, "damaged");
    activity_fails(c, "pa-bad", "fail", DURO_EPROTO, "damaged");
    duro_test_output o; /* a token's call reads the records too */
    CLI(&o, "activity", "complete", "--task-token", token_of(0));
    cr_assert(o.exit_code > 0 && strstr(o.err, "damaged"), "exit %d: %s",
              o.exit_code, o.err);
    duro_test_output_free(&o);
    /* the header cut: no ';' */
    hset1(r, k.pa, "1", "1,");
    describe_fails(c, "pa-bad", DURO_EPROTO, "activity 1", "damaged", NULL);
    activity_fails(c, "pa-bad", "complete", DURO_EPROTO, "damaged");
    /* the state whole, the schedule cut: the name and policy unknown */
    hset1(r, k.pa, "1", st);
    cut_after_header(cut, sizeof(cut), sc);
    hset1(r, k.pa, "1.s", cut);
    describe_fails(c, "pa-bad", DURO_EPROTO, "activity 1", "damaged", NULL);
    activity_fails(c, "pa-bad", "fail", DURO_EPROTO, "damaged");
    /* a key of another type */
    freeReplyObject(cmdv(r, 2, (const char *[]){"DEL", k.pa}, NULL));
    freeReplyObject(
        cmdv(r, 3, (const char *[]){"SET", k.pa, "not a hash"}, NULL));
    describe_fails(c, "pa-bad", DURO_EPROTO, "WRONGTYPE", NULL);
    activity_fails(c, "pa-bad", "complete", DURO_EREDIS, "WRONGTYPE");
    /* whole again: the activity completes */
    freeReplyObject(cmdv(r, 2, (const char *[]){"DEL", k.pa}, NULL));
    hset1(r, k.pa, "1", st);
    hset1(r, k.pa, "1.s", sc);
    duro_activity_ref ref = {.workflow_id = "pa-bad", .activity_id = 1};
    cr_assert_eq(duro_client_activity_complete(c, &ref, "3"), 0, "%s",
                 duro_client_errstr(c));
    cJSON *d = duro_test_result(c, "pa-bad", 20000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cJSON_Delete(d);
    free(st);
    free(sc);
    redisFree(r);
    duro_client_free(c);
    worker_stop(&e);
    duro_test_finish(&h);
}

/* The scheduler, due to fire a schedule-to-start timeout whose schedule
 * record is damaged (or whose key is no hash), cannot know the retry
 * policy: it says so and keeps the timer (held, tried again), rather than
 * firing it without a retry. Whole again, it fires and retries. */
Test(pa_fallback, damaged_records_hold_the_schedule_to_start_timer)
{
    embedded e;
    worker_start(&e);
    duro_client *c = duro_test_client(&h);
    redisContext *r = duro_test_redis(&h);
    const char *ids[] = {"sts-cut", "sts-type"};
    duro_wf_keys k[2];
    char run[2][64], *sc[2], *st[2], m[2][256];
    size_t len;
    for (int i = 0; i < 2; i++) {
        start(c, ids[i], i, NOBODY, 300);
        keys_of(c, ids[i], NULL, NOBODY, &k[i]);
        wait_pending(r, k[i].pa);
        run_of(c, ids[i], run[i], sizeof(run[i]));
        st[i] = hget_dup(r, k[i].pa, "1", &len);
        sc[i] = hget_dup(r, k[i].pa, "1.s", &len);
        snprintf(m[i], sizeof(m[i]), "q|%s|1|1|%s|%s|%s", run[i], QUEUE, NOBODY,
                 ids[i]);
        cr_assert_gt(timer_due(r, k[i].timers, m[i]), 0, "no timer %s", m[i]);
    }
    char cut[256];
    cut_after_header(cut, sizeof(cut), sc[0]);
    hset1(r, k[0].pa, "1.s", cut);
    freeReplyObject(cmdv(r, 2, (const char *[]){"DEL", k[1].pa}, NULL));
    freeReplyObject(
        cmdv(r, 3, (const char *[]){"SET", k[1].pa, "not a hash"}, NULL));
    pid_t s = duro_test_spawn_up(&h, 5000, "duro-scheduler", "--scan-interval",
                                 "100ms", NULL);
    const char *said[] = {"FIRE DAMAGED wf=sts-cut kind=q a=1 field=1.s",
                          "FIRE FAILED wf=sts-type kind=q a=1 err=WRONGTYPE"};
    for (int i = 0; i < 2; i++)
        cr_assert(
            duro_test_wait_until(duro_test_log_contains(&h, s, said[i]), 5000),
            "the scheduler never said: %s", said[i]);
    duro_test_sleep_ms(500); /* rounds go on: the timers stay */
    cr_assert(duro_test_alive(&h, s));
    for (int i = 0; i < 2; i++) {
        cr_assert_gt(timer_due(r, k[i].timers, m[i]), 0,
                     "%s: the timer was fired or dropped", ids[i]);
        cJSON *hist = duro_test_history(c, ids[i]);
        cr_assert_eq(duro_test_count_events(hist, "ActivityTimedOut"), 0,
                     "%s timed out without its policy", ids[i]);
        cJSON_Delete(hist);
    }
    /* whole again: fired, and retried by the policy */
    freeReplyObject(cmdv(r, 2, (const char *[]){"DEL", k[1].pa}, NULL));
    for (int i = 0; i < 2; i++) {
        hset1(r, k[i].pa, "1", st[i]);
        hset1(r, k[i].pa, "1.s", sc[i]);
    }
    for (int i = 0; i < 2; i++) {
        char rm[256];
        snprintf(rm, sizeof(rm), "r|%s|1|2|%s|%s|%s", run[i], QUEUE, NOBODY,
                 ids[i]);
        cr_assert(
            duro_test_wait_until(timer_due(r, k[i].timers, rm) > 0, 15000),
            "%s: no retry once the record was whole", ids[i]);
        free(st[i]);
        free(sc[i]);
    }
    redisFree(r);
    duro_client_free(c);
    worker_stop(&e);
    duro_test_finish(&h);
}
