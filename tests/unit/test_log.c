/* test_log.c: duro_log_limited on a fake clock (no sleeping). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "duro/clock.h"
#include "duro/log.h"

TestSuite(log, .timeout = 5);

static int64_t fake_now;
static int64_t fake_clock(void)
{
    return fake_now;
}

static char lines[16][256];
static int nlines;

static void capture(duro_log_level level, const char *msg, void *arg)
{
    (void)level;
    (void)arg;
    if (nlines < 16) snprintf(lines[nlines++], sizeof(lines[0]), "%s", msg);
}

static void start(void)
{
    fake_now = 1000;
    nlines = 0;
    duro_log_set_sink(capture, NULL);
    duro_clock_set(&(duro_clock_fns){.mono_ms = fake_clock});
    duro_log_set_limit_interval(5000);
}

Test(log, repeated_event_is_written_once_then_once_per_interval)
{
    start();
    for (int i = 0; i < 100; i++) {
        duro_warn_limited(NULL, "OOM-FAILED p=%d", i);
        fake_now += 10; /* 100 calls in 1 s */
    }
    cr_assert_eq(nlines, 1);
    cr_assert_str_eq(lines[0], "OOM-FAILED p=0");
    fake_now = 1000 + 4999;
    duro_warn_limited(NULL, "OOM-FAILED p=100");
    cr_assert_eq(nlines, 1, "written before the interval ended");
    fake_now = 1000 + 5000;
    duro_warn_limited(NULL, "OOM-FAILED p=101");
    cr_assert_eq(nlines, 2);
    cr_assert_str_eq(lines[1],
                     "OOM-FAILED p=101 (suppressed 100 similar in 5.0s)");
    fake_now += 60000; /* quiet for a minute: the next one is plain */
    duro_warn_limited(NULL, "OOM-FAILED p=102");
    cr_assert_str_eq(lines[2], "OOM-FAILED p=102");
}

Test(log, keys_are_independent)
{
    start();
    duro_warn_limited("REDIS DOWN commands", "REDIS DOWN name=commands");
    duro_warn_limited("REDIS DOWN wake", "REDIS DOWN name=wake");
    duro_warn_limited("REDIS DOWN commands", "REDIS DOWN name=commands");
    duro_warn_limited(NULL, "OTHER x=1");
    duro_warn_limited(NULL, "OTHER EVENT x=1"); /* another tag */
    duro_warn_limited(NULL, "OTHER x=2");       /* held */
    cr_assert_eq(nlines, 4);
    cr_assert_str_eq(lines[3], "OTHER EVENT x=1");
    cr_assert_str_eq(lines[0], "REDIS DOWN name=commands");
    cr_assert_str_eq(lines[1], "REDIS DOWN name=wake");
    cr_assert_str_eq(lines[2], "OTHER x=1");
}

Test(log, lines_below_the_level_are_not_counted)
{
    start();
    duro_log_set_level(DURO_LOG_ERROR);
    duro_warn_limited(NULL, "QUIET a=1");
    duro_log_set_level(DURO_LOG_INFO);
    duro_warn_limited(NULL, "QUIET a=2");
    cr_assert_eq(nlines, 1);
    cr_assert_str_eq(lines[0], "QUIET a=2");
}

Test(log, many_keys_evict_the_oldest_and_keep_working)
{
    start();
    for (int i = 0; i < DURO_LOG_LIMIT_KEYS + 10; i++) {
        char key[32];
        snprintf(key, sizeof(key), "K%d", i);
        duro_warn_limited(key, "EVENT k=%d", i);
        fake_now++;
    }
    cr_assert_eq(nlines, 16); /* capture keeps 16; all were written */
    nlines = 0;
    duro_warn_limited("K0", "EVENT k=0"); /* evicted: written again */
    cr_assert_eq(nlines, 1);
}

Test(log, flush_reports_what_a_fault_that_stopped_held_back)
{
    start();
    for (int i = 0; i < 30; i++)
        duro_warn_limited(NULL, "ACT-COMPLETE-RETRY wf=w%d err=OOM", i);
    cr_assert_eq(nlines, 1);
    fake_now += 4000;
    duro_log_limited_flush();
    cr_assert_eq(nlines, 1, "flushed before the interval ended");
    fake_now += 1000;
    duro_log_limited_flush();
    cr_assert_eq(nlines, 2);
    cr_assert_str_eq(lines[1],
                     "ACT-COMPLETE-RETRY (suppressed 29 similar in 5.0s)");
    fake_now += 60000;
    duro_log_limited_flush();
    cr_assert_eq(nlines, 2, "nothing held back, nothing to write");
}
