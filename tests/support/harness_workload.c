/* harness_workload.c: Duro's programs and clients in an integration test
 * (see harness.h): programs started and waited for until they are up,
 * clients for a URL other than the harness's own server, results waited
 * for across a failover, and the checks of the test worker's answers. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/history.h"
#include "harness.h"

#define MAX_ARGS 64
#define SCHEDULER_SCAN "100ms"
#define RESULT_CALL_MS 5000 /* one duro_client_result call, then again */
#define RETRY_PAUSE_MS 200

/* ---- Programs ---- */

/* wait_up: duro_test_wait_up, naming the program `what` when it fails. */
static void wait_up(duro_test_harness *h, pid_t pid, const char *what,
                    int64_t timeout_ms)
{
    cr_assert(duro_test_wait_until(duro_test_log_contains(h, pid, "REDIS UP"),
                                   timeout_ms),
              "%s (pid %d) did not connect to redis (no REDIS UP in %lldms)",
              what, (int)pid, (long long)timeout_ms);
}

void duro_test_wait_up(duro_test_harness *h, pid_t pid, int64_t timeout_ms)
{
    wait_up(h, pid, "a program", timeout_ms);
}

pid_t duro_test_spawn_up(duro_test_harness *h, int64_t timeout_ms,
                         const char *prog, ...)
{
    char *args[MAX_ARGS + 1];
    va_list ap;
    va_start(ap, prog);
    duro__test_collect_args(ap, args, MAX_ARGS);
    va_end(ap);
    pid_t pid = duro_test_spawnv(h, prog, args);
    wait_up(h, pid, prog, timeout_ms);
    return pid;
}

void duro_test_spawn_scheduler_and_worker(duro_test_harness *h,
                                          int64_t timeout_ms, pid_t pids[2])
{
    pids[0] = duro_test_spawn_up(h, timeout_ms, "duro-scheduler",
                                 "--scan-interval", SCHEDULER_SCAN, NULL);
    pids[1] = duro_test_spawn_up(h, timeout_ms, "duro-test-worker", NULL);
}

long duro_test_stopped_count(const duro_test_harness *h, pid_t pid,
                             const char *name)
{
    for (int i = 0; i < h->nchildren; i++) {
        if (h->children[i].pid != pid) continue;
        FILE *f = fopen(h->children[i].log, "r");
        char line[1024], key[64];
        long v = -1;
        snprintf(key, sizeof(key), " %s=", name);
        while (f && fgets(line, sizeof(line), f)) {
            const char *p = strstr(line, " STOPPED ");
            if (p && (p = strstr(p, key))) v = strtol(p + strlen(key), 0, 10);
        }
        if (f) fclose(f);
        return v;
    }
    return -1;
}

/* ---- Clients ---- */

duro_client *duro_test_client_url(const char *url)
{
    duro_client *c = NULL;
    char err[256] = "";
    int rc = duro_client_new(&c, url, err, sizeof(err));
    cr_assert_eq(rc, 0, "duro_client_new(%s): %s", url, err);
    return c;
}

cJSON *duro_test_result_retrying(duro_client *c, const char *id,
                                 int64_t timeout_ms)
{
    int64_t deadline = duro_test_mono_ms() + timeout_ms;
    int rc = DURO_ETIMEDOUT;
    while (duro_test_mono_ms() < deadline) {
        cJSON *d = NULL;
        rc = duro_client_result(c, id, RESULT_CALL_MS, &d);
        if (rc == 0) return d;
        if (!duro_err_is_transient(rc) && rc != DURO_ETIMEDOUT) break;
        duro_test_sleep_ms(RETRY_PAUSE_MS);
    }
    cr_assert_fail("result of %s: %s (%s)", id, duro_strerror(rc),
                   duro_client_errstr(c));
    return NULL;
}

/* ---- The test worker's answers ---- */

void duro_test_assert_echoed(const cJSON *d, const char *id, int n)
{
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED", "%s", id);
    const cJSON *echoed =
        cJSON_GetObjectItem(cJSON_GetObjectItem(d, "result"), "echoed");
    cr_assert_eq(cJSON_GetArraySize(echoed), n, "%s", id);
    for (int i = 0; i < n; i++)
        cr_assert_eq(cJSON_GetNumberValue(cJSON_GetArrayItem(echoed, i)), i,
                     "%s", id);
}

void duro_test_assert_each_activity_once(const cJSON *history, const char *id,
                                         int max_seq)
{
    int seen[64] = {0};
    cr_assert(max_seq > 0 && max_seq < 64);
    const cJSON *e;
    cJSON_ArrayForEach(e, history)
    {
        if (strcmp(duro_test_str(e, "type"), "ActivityCompleted") != 0)
            continue;
        int seq = (int)duro_test_num(duro_test_event_data(e), "seq", 0);
        cr_assert(seq >= 1 && seq <= max_seq, "%s: seq %d", id, seq);
        cr_assert_eq(seen[seq]++, 0, "%s: activity %d completed twice", id,
                     seq);
    }
}

bool duro_test_field_is(const redisReply *fields, const char *name,
                        const char *value)
{
    const redisReply *v = duro_stream_field(fields, name);
    return v && v->type == REDIS_REPLY_STRING && strcmp(v->str, value) == 0;
}
