/* test_alloc.c: out-of-memory paths of the common library, through the
 * allocator hooks (alloc.h): the Nth allocation fails, for every N. Leaks
 * on those paths fail the ASan build (scripts/test --sanitize). */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "duro/alloc.h"
#include "duro/errno.h"
#include "duro/history.h"
#include "duro/json.h"
#include "duro/metrics.h"
#include "duro/redis.h"

TestSuite(alloc, .timeout = 10);

/* ---- A failing allocator: allocation number fail_at fails ---- */

static long calls, fail_at = -1;

static bool should_fail(void)
{
    return calls++ == fail_at;
}

static void *t_malloc(size_t n)
{
    return should_fail() ? NULL : malloc(n);
}

static void *t_calloc(size_t n, size_t size)
{
    return should_fail() ? NULL : calloc(n, size);
}

static void *t_realloc(void *p, size_t n)
{
    return should_fail() ? NULL : realloc(p, n);
}

static const duro_alloc_fns failing = {t_malloc, t_calloc, t_realloc, free};

/* fail_nth arms the allocator: allocation n (0-based) from now fails. */
static void fail_nth(long n)
{
    calls = 0;
    fail_at = n;
    duro_set_allocator(&failing);
}

static void disarm(void)
{
    fail_at = -1;
    duro_set_allocator(NULL);
}

/* ---- History codec ---- */

static const char entry[] = "ActivityCompleted\n1700000000000\n{\"seq\":3,"
                            "\"result\":{\"a\":[1,2,\"x\"]}}";

Test(alloc, history_decode_answers_enomem_at_every_allocation)
{
    int nfailed = 0;
    for (long n = 0; n < 1000; n++) {
        duro_event e;
        char err[128];
        fail_nth(n);
        int rc =
            duro_event_decode(entry, strlen(entry), 7, &e, err, sizeof(err));
        disarm();
        if (rc == 0) {
            cr_assert_eq(duro_event_seq(&e), 3);
            duro_event_free(&e);
            cr_assert_gt(nfailed, 0, "decoding allocates nothing?");
            return;
        }
        cr_assert_eq(rc, DURO_ENOMEM, "allocation %ld: %d %s", n, rc, err);
        cr_assert_null(e.data);
        nfailed++;
    }
    cr_assert_fail("decode never succeeded");
}

Test(alloc, json_parse_tells_enomem_from_bad_json)
{
    const char *s = "{\"k\":[true,null,\"v\",{\"n\":1.5}]}";
    int nfailed = 0;
    for (long n = 0; n < 1000; n++) {
        cJSON *v = NULL;
        fail_nth(n);
        int rc = duro_json_parse(s, strlen(s), 1024, &v, NULL, 0);
        disarm();
        if (rc == 0) {
            cJSON_Delete(v);
            cr_assert_gt(nfailed, 0);
            /* a real syntax error is still DURO_EJSON, hooks or not */
            fail_nth(-1);
            cr_assert_eq(duro_json_parse("{\"k\":", 5, 1024, &v, NULL, 0),
                         DURO_EJSON);
            disarm();
            return;
        }
        cr_assert_eq(rc, DURO_ENOMEM, "allocation %ld: %d", n, rc);
        nfailed++;
    }
    cr_assert_fail("parse never succeeded");
}

/* ---- Metrics ---- */

Test(alloc, metrics_answer_enomem_and_keep_what_they_had)
{
    int nfailed = 0;
    for (long n = 0; n < 1000; n++) {
        fail_nth(-1);
        duro_metrics *m = duro_metrics_new();
        cr_assert_not_null(m);
        fail_nth(n);
        int rc = duro_metrics_describe(m, "duro_x_total", "counter", "X.");
        if (rc == 0) rc = duro_metrics_add(m, "duro_x_total", "q=\"a\"", 2);
        if (rc == 0) rc = duro_metrics_add(m, "duro_x_total", "q=\"b\"", 1);
        disarm();
        if (rc == 0) {
            char *text = duro_metrics_render(m);
            cr_assert_not_null(strstr(text, "duro_x_total{q=\"b\"} 1"));
            free(text);
            duro_metrics_free(m);
            cr_assert_gt(nfailed, 0);
            return;
        }
        cr_assert_eq(rc, DURO_ENOMEM, "allocation %ld: %d", n, rc);
        duro_metrics_free(m);
        nfailed++;
    }
    cr_assert_fail("metrics never succeeded");
}

/* ---- Argument vectors ---- */

/* duro_argv has no error return: running out of memory while building a
 * command is treated as a broken invariant (argv.c) and aborts. */
Test(alloc, argv_out_of_memory_aborts, .signal = SIGABRT)
{
    duro_argv a;
    const char *keys[] = {"k1", "k2"};
    fail_nth(0);
    duro_argv_fcall(&a, "duro_start", 2, keys);
    duro_argv_free(&a);
}

Test(alloc, argv_builds_through_the_hooks)
{
    duro_argv a;
    const char *keys[] = {"k1", "k2"};
    fail_nth(-1);
    duro_set_allocator(&failing);
    duro_argv_fcall(&a, "duro_start", 2, keys);
    duro_argv_pushll(&a, 42);
    cr_assert_eq(a.argc, 6);
    cr_assert_str_eq(a.argv[5], "42");
    cr_assert_gt(calls, 0, "argv did not allocate through the hooks");
    duro_argv_free(&a);
    disarm();
}
