/* test_codec.c: payloads encrypted at rest. A worker, the client and the
 * CLI with the built-in AES-256-GCM codec run a workflow that carries
 * every kind of payload (tests/support/test_worker.c, "codec"); Redis
 * must then hold none of them in clear, replay and queries must still
 * work, and the CLI must decode with the key and say why it cannot
 * without. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "duro/codec.h"
#include "duro/keys.h"
#include "harness.h"

#define QUEUE "test"
#define RESULT_MS 20000
#define RUN_MS 15000

#define KEY_LINE                                                               \
    "k1 "                                                                      \
    "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f\n"

static duro_test_harness h;
static char key_path[PATH_MAX + 64];

static void setup(void)
{
    duro_test_redis_start(&h);
    duro_test_write_file(&h, "codec.keys", KEY_LINE, key_path,
                         sizeof(key_path));
    setenv(DURO_CODEC_KEY_FILE_ENV, key_path, 1);
}

TestSuite(codec, .init = setup, .fini = duro_test_fini, .timeout = 120);

/* The markers the workflow's payloads carry; none may be in Redis. */
static const char *const MARKS[] = {"IN-MARK",   "ACT-RESULT-MARK",
                                    "BEAT-MARK", "SIDE-MARK",
                                    "SIG-MARK",  "QRY-IN-MARK"};
#define NMARKS (sizeof(MARKS) / sizeof(MARKS[0]))

static duro_codec *codec_new(void)
{
    duro_codec *c;
    char err[256];
    cr_assert_eq(duro_codec_aes_new(key_path, &c, err, sizeof(err)), 0, "%s",
                 err);
    return c;
}

static pid_t spawn_worker(void)
{
    pid_t w = duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_test_wait_up(&h, w, 5000);
    return w;
}

static void spawn_scheduler(void)
{
    duro_test_spawn_up(&h, 5000, "duro-scheduler", "--scan-interval", "100ms",
                       NULL);
}

/* query_state asks "state" with {"q":"QRY-IN-MARK"}; NULL when no worker
 * answered yet. Caller frees. */
static cJSON *query_state(duro_client *c, const char *id)
{
    char *text = NULL;
    if (duro_client_query(c, id, "state", "{\"q\":\"QRY-IN-MARK\"}", 5000,
                          &text) != 0)
        return NULL;
    cJSON *v = cJSON_Parse(text);
    free(text);
    return v;
}

static bool answers(duro_client *c, const char *id)
{
    cJSON *v = query_state(c, id);
    bool ok = v != NULL;
    cJSON_Delete(v);
    return ok;
}

/* reached_marker: the run recorded its side effect (so it waits for the
 * signal). */
static bool reached_marker(duro_client *c, const char *id)
{
    cJSON *hist = NULL;
    if (duro_client_history(c, id, NULL, &hist) != 0) return false;
    bool yes = duro_test_count_events(hist, "MarkerRecorded") > 0;
    cJSON_Delete(hist);
    return yes;
}

static void signal_note(duro_client *c, const char *id)
{
    int rc = duro_client_signal(c, id, "note", "{\"note\":\"SIG-MARK\"}", NULL);
    cr_assert_eq(rc, 0, "signal: %s", duro_client_errstr(c));
}

/* check_result: the run completed with every payload decoded right. */
static void check_result(duro_client *c, const char *id)
{
    cJSON *d = duro_test_result(c, id, RESULT_MS);
    char *p = cJSON_PrintUnformatted(d);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED", "%s", p);
    const cJSON *in = cJSON_GetObjectItem(d, "input");
    cr_assert_str_eq(duro_test_str(in, "secret"), "IN-MARK", "%s", p);
    const cJSON *r = cJSON_GetObjectItem(d, "result");
    const cJSON *st = cJSON_GetObjectItem(r, "stamp");
    cr_assert_str_eq(duro_test_str(st, "stamp"), "ACT-RESULT-MARK", "%s", p);
    cr_assert_str_eq(duro_test_str(cJSON_GetObjectItem(st, "in"), "secret"),
                     "IN-MARK", "%s", p);
    cr_assert_str_eq(duro_test_str(cJSON_GetObjectItem(r, "beat"), "beat"),
                     "BEAT-MARK", "%s", p);
    cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(r, "side")),
                     "SIDE-MARK", "%s", p);
    cr_assert_str_eq(duro_test_str(r, "note"), "SIG-MARK", "%s", p);
    free(p);
    cJSON_Delete(d);
}

/* ---- Dumping Redis ---- */

typedef struct {
    char *s;
    size_t n, cap;
} dump;

static void dump_add(dump *d, const char *s, size_t n)
{
    if (d->n + n + 2 > d->cap) {
        d->cap = (d->n + n + 2) * 2;
        d->s = realloc(d->s, d->cap);
        cr_assert_not_null(d->s);
    }
    memcpy(d->s + d->n, s, n);
    d->n += n;
    d->s[d->n++] = '\n';
    d->s[d->n] = '\0';
}

/* dump_reply appends every string in r, recursively. */
static void dump_reply(dump *d, const redisReply *r)
{
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
        dump_add(d, r->str, r->len);
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
        dump_reply(d, r->element[i]);
}

static void dump_key(redisContext *r, dump *d, const char *key)
{
    redisReply *t = redisCommand(r, "TYPE %s", key);
    cr_assert(t && t->type == REDIS_REPLY_STATUS);
    const char *cmd = !strcmp(t->str, "string")   ? "GET %s"
                      : !strcmp(t->str, "hash")   ? "HGETALL %s"
                      : !strcmp(t->str, "list")   ? "LRANGE %s 0 -1"
                      : !strcmp(t->str, "set")    ? "SMEMBERS %s"
                      : !strcmp(t->str, "zset")   ? "ZRANGE %s 0 -1"
                      : !strcmp(t->str, "stream") ? "XRANGE %s - +"
                                                  : NULL;
    cr_assert_not_null(cmd, "key %s has type %s", key, t->str);
    freeReplyObject(t);
    dump_add(d, key, strlen(key));
    redisReply *v = redisCommand(r, cmd, key);
    cr_assert(v && v->type != REDIS_REPLY_ERROR, "%s %s", cmd, key);
    dump_reply(d, v);
    freeReplyObject(v);
}

/* dump_redis: every key of the server and everything in it. */
static dump dump_redis(redisContext *r)
{
    dump d = {0};
    char cursor[32] = "0";
    int keys = 0;
    do {
        redisReply *s = redisCommand(r, "SCAN %s COUNT 500", cursor);
        cr_assert(s && s->type == REDIS_REPLY_ARRAY && s->elements == 2);
        snprintf(cursor, sizeof(cursor), "%s", s->element[0]->str);
        for (size_t i = 0; i < s->element[1]->elements; i++, keys++)
            dump_key(r, &d, s->element[1]->element[i]->str);
        freeReplyObject(s);
    } while (strcmp(cursor, "0") != 0);
    cr_assert_gt(keys, 5, "SCAN found only %d keys", keys);
    return d;
}

static void assert_no_marks(redisContext *r)
{
    dump d = dump_redis(r);
    for (size_t i = 0; i < NMARKS; i++) {
        const char *at = strstr(d.s, MARKS[i]);
        cr_assert_null(at, "%s is in Redis in clear: ...%.200s", MARKS[i],
                       at ? (at > d.s + 100 ? at - 100 : d.s) : "");
    }
    /* and the ciphertext is there instead */
    cr_assert_not_null(strstr(d.s, DURO_CODEC_AES_PREFIX "k1:"));
    free(d.s);
}

/* ---- Tests ---- */

Test(codec, redis_holds_only_ciphertext)
{
    spawn_scheduler();
    spawn_worker();
    duro_codec *codec = codec_new();
    duro_client *c = duro_test_client(&h);
    duro_client_set_codec(c, codec);
    redisContext *r = duro_test_redis(&h);
    duro_test_start(c, "enc-1", "codec", QUEUE, "{\"secret\":\"IN-MARK\"}", 0);

    /* heartbeat details, while the beat activity runs (in its state
     * record, docs/internals.md) */
    duro_wf_keys k;
    duro_wf_keys_init(&k, DURO_KEYSPACE_DEFAULT(duro_client_partitions(c)),
                      "enc-1", NULL);
    char details[4096] = "";
    bool seen = duro_test_wait_until(
        ({
            redisReply *x = redisCommand(r, "HGET %s 2", k.pa);
            if (x && x->type == REDIS_REPLY_STRING)
                snprintf(details, sizeof(details), "%s", x->str);
            if (x) freeReplyObject(x);
            strstr(details, DURO_CODEC_AES_PREFIX "k1:") != NULL;
        }),
        10000);
    cr_assert(seen, "no heartbeat details in %s", k.pa);
    cr_assert_null(strstr(details, "BEAT-MARK"), "%s", details);
    cr_assert_not_null(strstr(details, DURO_CODEC_AES_PREFIX "k1:"), "%s",
                       details);

    cr_assert(duro_test_wait_until(reached_marker(c, "enc-1"), 10000));
    cJSON *q = query_state(c, "enc-1");
    cr_assert_not_null(q);
    cr_assert_str_eq(duro_test_str(cJSON_GetObjectItem(q, "asked"), "q"),
                     "QRY-IN-MARK");
    cr_assert_str_eq(duro_test_str(q, "note"), "");
    cJSON_Delete(q);
    signal_note(c, "enc-1");
    check_result(c, "enc-1");
    /* a query of the closed run: the note came back through replay */
    q = query_state(c, "enc-1");
    cr_assert_not_null(q);
    cr_assert_str_eq(duro_test_str(q, "note"), "SIG-MARK");
    cJSON_Delete(q);
    /* the client's history decodes every payload */
    cJSON *hist = duro_test_history(c, "enc-1");
    const cJSON *sig = duro_test_find_event(hist, "SignalReceived", 0);
    cr_assert_str_eq(
        duro_test_str(cJSON_GetObjectItem(duro_test_event_data(sig), "input"),
                      "note"),
        "SIG-MARK");
    cJSON_Delete(hist);

    assert_no_marks(r);
    redisFree(r);
    duro_client_free(c);
    duro_codec_aes_free(codec);
    duro_test_finish(&h);
}

Test(codec, a_fresh_worker_replays_an_encrypted_history)
{
    spawn_scheduler();
    pid_t a = spawn_worker();
    duro_codec *codec = codec_new();
    duro_client *c = duro_test_client(&h);
    duro_client_set_codec(c, codec);
    duro_test_start(c, "enc-2", "codec", QUEUE, "{\"secret\":\"IN-MARK\"}", 0);
    cr_assert(duro_test_wait_until(reached_marker(c, "enc-2"), 10000));
    cr_assert(duro_test_wait_until(answers(c, "enc-2"), 10000));
    /* worker a stops; b starts with an empty cache and must rebuild the
     * run from the encrypted history to apply the signal */
    duro_test_kill(&h, a, SIGTERM);
    cr_assert(duro_test_wait_until(!duro_test_alive(&h, a), 10000));
    pid_t b = spawn_worker();
    signal_note(c, "enc-2");
    check_result(c, "enc-2");
    cr_assert(duro_test_log_contains(&h, b, "CODEC"));
    redisContext *r = duro_test_redis(&h);
    assert_no_marks(r);
    redisFree(r);
    duro_client_free(c);
    duro_codec_aes_free(codec);
    duro_test_finish(&h);
}

/* run_cli runs `duro workflow <args...>` and asserts exit code 0. */
#define run_cli(o, ...)                                                        \
    do {                                                                       \
        duro_test_run(&h, (o), RUN_MS, "duro", "workflow", __VA_ARGS__, NULL); \
        cr_assert_eq((o)->exit_code, 0, "stdout: %s\nstderr: %s", (o)->out,    \
                     (o)->err);                                                \
    } while (0)

Test(codec, cli_decodes_with_the_key_and_says_why_not_without)
{
    spawn_scheduler();
    spawn_worker();
    duro_codec *codec = codec_new();
    duro_client *c = duro_test_client(&h);
    duro_client_set_codec(c, codec);
    duro_test_start(c, "enc-3", "codec", QUEUE, "{\"secret\":\"IN-MARK\"}", 0);
    cr_assert(duro_test_wait_until(reached_marker(c, "enc-3"), 10000));
    signal_note(c, "enc-3");
    check_result(c, "enc-3");

    duro_test_output o;
    /* with the key (the environment setup() exported) */
    run_cli(&o, "describe", "-w", "enc-3");
    cr_assert(strstr(o.out, "IN-MARK") && strstr(o.out, "SIG-MARK"), "%s",
              o.out);
    duro_test_output_free(&o);
    run_cli(&o, "history", "-w", "enc-3");
    for (size_t i = 0; i < NMARKS - 1; i++) /* the query left no history */
        cr_assert(strstr(o.out, MARKS[i]), "%s not in %s", MARKS[i], o.out);
    duro_test_output_free(&o);
    run_cli(&o, "result", "-w", "enc-3");
    cr_assert(strstr(o.out, "SIG-MARK"), "%s", o.out);
    duro_test_output_free(&o);
    run_cli(&o, "query", "-w", "enc-3", "--name", "state", "-i", "{\"q\":1}");
    cr_assert(strstr(o.out, "SIG-MARK"), "%s", o.out);
    duro_test_output_free(&o);
    /* a start through the CLI is encrypted too */
    run_cli(&o, "start", "-w", "enc-cli", "--type", "codec", "-t", QUEUE, "-i",
            "{\"secret\":\"CLI-MARK\"}");
    duro_test_output_free(&o);
    redisContext *r = duro_test_redis(&h);
    duro_wf_keys k;
    duro_wf_keys_init(&k, DURO_KEYSPACE_DEFAULT(duro_client_partitions(c)),
                      "enc-cli", NULL);
    redisReply *x = redisCommand(r, "HGET %s input", k.wf);
    cr_assert(x && x->type == REDIS_REPLY_STRING);
    cr_assert(strstr(x->str, DURO_CODEC_AES_PREFIX) &&
                  !strstr(x->str, "CLI-MARK"),
              "%s", x->str);
    freeReplyObject(x);

    /* without a key: a notice, and the payloads shown as encrypted */
    unsetenv(DURO_CODEC_KEY_FILE_ENV);
    const char *cmds[][2] = {{"describe", NULL},
                             {"result", NULL},
                             {"history", NULL},
                             {"query", "state"}};
    for (size_t i = 0; i < 4; i++) {
        if (cmds[i][1])
            run_cli(&o, cmds[i][0], "-w", "enc-3", "--name", cmds[i][1]);
        else
            run_cli(&o, cmds[i][0], "-w", "enc-3");
        cr_assert(strstr(o.out, "<encrypted: key k1>"), "%s: %s", cmds[i][0],
                  o.out);
        for (size_t m = 0; m < NMARKS; m++)
            cr_assert_null(strstr(o.out, MARKS[m]), "%s: %s", cmds[i][0],
                           o.out);
        cr_assert(strstr(o.err, "notice") &&
                      strstr(o.err, "DURO_CODEC_KEY_FILE"),
                  "%s: %s", cmds[i][0], o.err);
        duro_test_output_free(&o);
    }
    /* with a key file that lacks k1 */
    char other[PATH_MAX + 64];
    duro_test_write_file(
        &h, "other.keys",
        "k9 "
        "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f\n",
        other, sizeof(other));
    setenv(DURO_CODEC_KEY_FILE_ENV, other, 1);
    run_cli(&o, "describe", "-w", "enc-3");
    cr_assert(strstr(o.out, "<encrypted: key k1>"), "%s", o.out);
    cr_assert(strstr(o.err, "k1") && strstr(o.err, "does not hold"), "%s",
              o.err);
    duro_test_output_free(&o);
    /* -o json keeps the ciphertext: an export replays with the key */
    run_cli(&o, "history", "-w", "enc-3", "-o", "json");
    cr_assert(strstr(o.out, "\"" DURO_CODEC_AES_PREFIX "k1:"), "%s", o.out);
    cr_assert_null(strstr(o.out, "IN-MARK"));
    cr_assert(strstr(o.err, "does not hold"), "%s", o.err);
    char export[PATH_MAX + 64];
    snprintf(export, sizeof(export), "%s/h.json", h.dir);
    FILE *f = fopen(export, "w");
    cr_assert_not_null(f);
    fputs(o.out, f);
    fclose(f);
    duro_test_output_free(&o);
    /* the replay checker decodes with --codec-key-file; a key file without
     * k1 cannot, and says which key it lacks */
    duro_test_run(&h, &o, RUN_MS, "duro-test-worker", "--codec-key-file",
                  key_path, "--replay", export, NULL);
    cr_assert_eq(o.exit_code, 0, "%s%s", o.out, o.err);
    duro_test_output_free(&o);
    duro_test_run(&h, &o, RUN_MS, "duro-test-worker", "--replay", export,
                  NULL); /* DURO_CODEC_KEY_FILE: the other file */
    cr_assert_eq(o.exit_code, 2, "%s%s", o.out, o.err);
    cr_assert(strstr(o.out, "key k1") && strstr(o.out, "does not have"), "%s",
              o.out);
    duro_test_output_free(&o);
    setenv(DURO_CODEC_KEY_FILE_ENV, key_path, 1);

    redisFree(r);
    duro_client_free(c);
    duro_codec_aes_free(codec);
    duro_test_finish(&h);
}

Test(codec, payloads_written_before_the_codec_still_read)
{
    spawn_scheduler();
    spawn_worker();                            /* with the codec */
    duro_client *plain = duro_test_client(&h); /* without */
    duro_test_start(plain, "old-1", "codec", QUEUE, "{\"secret\":\"IN-MARK\"}",
                    0);
    cr_assert(duro_test_wait_until(reached_marker(plain, "old-1"), 10000));
    signal_note(plain, "old-1");
    /* the client with the codec reads plain and encrypted payloads alike */
    duro_codec *codec = codec_new();
    duro_client *c = duro_test_client(&h);
    duro_client_set_codec(c, codec);
    check_result(c, "old-1");
    /* what the scan of the other tests looks for is there in clear here,
     * so that scan can see a payload written without the codec */
    redisContext *r = duro_test_redis(&h);
    dump d = dump_redis(r);
    cr_assert_not_null(strstr(d.s, "IN-MARK"));
    cr_assert_not_null(strstr(d.s, "SIG-MARK"));
    free(d.s);
    redisFree(r);
    duro_client_free(plain);
    duro_client_free(c);
    duro_codec_aes_free(codec);
    duro_test_finish(&h);
}

/* task_error_has: describe's workflowTask.lastError contains what. */
static bool task_error_has(duro_client *c, const char *id, const char *what)
{
    cJSON *d = NULL;
    if (duro_client_describe(c, id, &d) != 0) return false;
    const char *e = cJSON_GetStringValue(cJSON_GetObjectItem(
        cJSON_GetObjectItem(d, "workflowTask"), "lastError"));
    bool yes = e && strstr(e, what);
    cJSON_Delete(d);
    return yes;
}

Test(codec, a_worker_without_the_key_fails_the_task_until_one_has_it)
{
    spawn_scheduler();
    char other[PATH_MAX + 64];
    duro_test_write_file(
        &h, "other.keys",
        "k9 "
        "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
        "\n",
        other, sizeof(other));
    setenv(DURO_CODEC_KEY_FILE_ENV, other, 1);
    pid_t a = spawn_worker(); /* holds k9 only */
    setenv(DURO_CODEC_KEY_FILE_ENV, key_path, 1);
    duro_codec *codec = codec_new();
    duro_client *c = duro_test_client(&h);
    duro_client_set_codec(c, codec);
    duro_test_start(c, "enc-4", "codec", QUEUE, "{\"secret\":\"IN-MARK\"}", 0);
    cr_assert(duro_test_wait_until(task_error_has(c, "enc-4", "key k1"), 10000),
              "the task error does not name the missing key");
    duro_test_kill(&h, a, SIGTERM);
    cr_assert(duro_test_wait_until(!duro_test_alive(&h, a), 10000));
    spawn_worker(); /* holds k1: the retried task goes through */
    cr_assert(duro_test_wait_until(reached_marker(c, "enc-4"), 15000));
    signal_note(c, "enc-4");
    check_result(c, "enc-4");
    duro_client_free(c);
    duro_codec_aes_free(codec);
    duro_test_finish(&h);
}
