/* test_query_read.c: on one Redis a worker reads the query streams in a
 * blocking read of their own (worker/src/qread.c), so that its busy
 * workflow-task read, sent again after every reply, names the shared and
 * sticky streams only; queries are still answered at once, and a stopping
 * worker ends that read too.
 *
 * What the worker sends is watched with MONITOR. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "duro/clock.h"
#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
    setenv("DURO_READ_PER_PARTITION", "0", 1);
}

TestSuite(query_read, .init = setup, .fini = duro_test_fini, .timeout = 90);

/* count_lines: lines holding every one of the NULL-ended words and none
 * of `without` (NULL: no such word). */
static int count_lines(const char *text, const char *without, ...)
{
    int n = 0;
    for (const char *l = text; *l;) {
        const char *end = strchr(l, '\n');
        size_t ll = end ? (size_t)(end - l) : strlen(l);
        char *line = strndup(l, ll);
        cr_assert(line);
        va_list ap;
        va_start(ap, without);
        bool all = !without || !strstr(line, without);
        for (const char *w; (w = va_arg(ap, const char *));)
            all = all && strstr(line, w);
        va_end(ap);
        n += all;
        free(line);
        l += ll + (end ? 1 : 0);
    }
    return n;
}

/* query_stage asks the gate workflow its stage until it says "waiting";
 * returns how long the answer that said so took, in ms. */
static int64_t query_stage(duro_client *c, const char *id)
{
    char *stage = NULL;
    int64_t took = -1;
    for (int i = 0; i < 200; i++) {
        int64_t t0 = duro_mono_ms();
        int rc = duro_client_query(c, id, "stage", "null", 5000, &stage);
        took = duro_mono_ms() - t0;
        bool waiting = rc == 0 && strcmp(stage, "\"waiting\"") == 0;
        free(stage);
        stage = NULL;
        if (waiting) return took;
        usleep(50000);
    }
    cr_assert_fail("the query never answered \"waiting\"");
    return -1;
}

Test(query_read, task_reads_name_no_query_stream_and_queries_still_answer)
{
    duro_test_spawn(&h, "duro-scheduler", NULL);
    duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_client *c = duro_test_client(&h);
    /* the gate: an activity, a timer, then it waits for a signal */
    duro_test_start(c, "qr-gate", "gate", "test", "{\"x\":1}", 0);
    query_stage(c, "qr-gate");
    /* the worker idles now, its reads blocked: a query wakes its own read
     * at once (the blocked reads' timeout is 2s) */
    redisContext *m = duro_test_monitor(&h);
    int64_t took = query_stage(c, "qr-gate");
    cr_assert_lt(took, 1500, "a query took %lld ms", (long long)took);
    cr_assert_eq(
        duro_client_signal(c, "qr-gate", "open", "{\"go\":true}", NULL), 0);
    cJSON *d = duro_test_result(c, "qr-gate", 20000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
    cJSON_Delete(d);
    char *text = duro_test_monitor_seen(m);
    /* the workflow-task read was sent (the signal's task) ... */
    cr_assert_gt(count_lines(text, NULL, "\"XREADGROUP\"", ":wft:test\"",
                             "\"BLOCK\"", NULL),
                 0, "%s", text);
    /* ... and never named a query stream */
    cr_assert_eq(count_lines(text, NULL, "\"XREADGROUP\"", ":wft:test\"",
                             ":qry:test\"", NULL),
                 0, "%s", text);
    /* the query streams' own read: blocking, and no task stream in it */
    cr_assert_gt(count_lines(text, ":wft:", "\"XREADGROUP\"", ":qry:test\"",
                             "\"BLOCK\"", NULL),
                 0, "%s", text);
    free(text);
    duro_client_free(c);
    duro_test_finish(&h);
}

Test(query_read, a_stopping_worker_ends_the_query_read_at_once)
{
    duro_test_spawn(&h, "duro-scheduler", NULL); /* the gate's timer */
    pid_t pid = duro_test_spawn(&h, "duro-test-worker", NULL);
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, "qr-stop", "gate", "test", "{\"x\":1}", 0);
    query_stage(c, "qr-stop");
    /* idle: every read blocked, the query read sent again just now (after
     * the answer's entry); CLIENT UNBLOCK ends each, so the stop does not
     * wait out their 2s */
    int64_t t0 = duro_mono_ms();
    duro_test_kill(&h, pid, SIGTERM);
    cr_assert_eq(duro_test_wait_exit(&h, pid, 10000), 0);
    int64_t took = duro_mono_ms() - t0;
    cr_assert_lt(took, 1500, "the stop took %lld ms", (long long)took);
    cr_assert(duro_test_log_contains(&h, pid, "STOPPED"));
    duro_client_free(c);
    duro_test_finish(&h);
}
