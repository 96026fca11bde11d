/* test_fcall.c: each Function-call builder against the Lua library's
 * contract: the key count, each key in its place of the canonical order
 * (KEY_ORDER and the syntax line above each Function in duro.lua), the
 * extras after them, and the arguments. */
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/fcall.h"
#include "duro/lua.h"

TestSuite(fcall, .timeout = 5);

#define MAX_NAMES 16

/* ---- The Lua side ---- */

static const char *const CANONICAL[] = {"wf",       "hist",       "buf",
                                        "wft",      "timers",     "pa",
                                        "idx_open", "idx_closed", "act"};
#define NCANON 9

static bool is_key_name(const char *w)
{
    for (int i = 0; i < NCANON; i++)
        if (!strcmp(w, CANONICAL[i])) return true;
    return false;
}

/* lua_syntax reads the syntax line "-- <fn> <count> <keys>..." of fn in
 * duro.lua (indented once inside a section's do ... end block): the
 * leading number of its count and its canonical key names (the words up
 * to the first that is not one). Returns how many names. */
/* syntax_line: the first line `pat` that goes on with a key count (a
 * comment may start with a Function's name too), or NULL. */
static const char *syntax_line(const char *pat)
{
    const char *p = duro_lua_source();
    while ((p = strstr(p, pat)) && !isdigit((unsigned char)p[strlen(pat)]))
        p += strlen(pat);
    return p;
}

static int lua_syntax(const char *fn, int *count, char names[][16])
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\n-- %s ", fn);
    const char *p = syntax_line(pat);
    if (!p) {
        snprintf(pat, sizeof(pat), "\n    -- %s ", fn);
        p = syntax_line(pat);
    }
    cr_assert(p, "no syntax line for %s in duro.lua", fn);
    p += strlen(pat);
    *count = (int)strtol(p, NULL, 10);
    p += strcspn(p, " \n");
    int n = 0;
    while (*p == ' ') {
        p += strspn(p, " ");
        size_t len = strcspn(p, " \n");
        char w[16];
        snprintf(w, sizeof(w), "%.*s", (int)len, p);
        if (!is_key_name(w) || n == MAX_NAMES) break;
        snprintf(names[n++], 16, "%s", w);
        p += len;
    }
    return n;
}

/* ---- The C side ---- */

/* key_name classifies a key built by duro_wf_keys_init/_queues. */
static const char *key_name(const char *key)
{
    static const struct {
        const char *infix, *name;
    } kinds[] = {{":wf:", "wf"},
                 {":h:", "hist"},
                 {":buf:", "buf"},
                 {":wft:", "wft"},
                 {":pa:", "pa"},
                 {":idx:open", "idx_open"},
                 {":idx:closed", "idx_closed"},
                 {":act:", "act"}};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strstr(key, kinds[i].infix)) return kinds[i].name;
    size_t n = strlen(key);
    if (n > 7 && !strcmp(key + n - 7, ":timers")) return "timers";
    return "?";
}

static duro_wf_keys keys_full(void)
{
    duro_wf_keys k;
    duro_wf_keys_init(&k, DURO_KEYSPACE_DEFAULT(16), "order-7", "run-1");
    duro_wf_keys_queues(&k, "wfq", "actq");
    return k;
}

static const char *arg(const duro_argv *a, int i)
{
    cr_assert_lt(i, a->argc);
    return a->argv[i];
}

/* check_keys: a is `FCALL fn <nkeys+nextra>`, its first keys match fn's
 * syntax line and the canonical order, then the extras; returns the index
 * of the first argument. */
static int check_keys(const duro_argv *a, const char *fn, int nextra,
                      const char *const *extra)
{
    cr_assert_str_eq(arg(a, 0), "FCALL");
    cr_assert_str_eq(arg(a, 1), fn);
    char names[MAX_NAMES][16];
    int count;
    int n = lua_syntax(fn, &count, names);
    /* the count is the prefix's, or with required extras (hist_cur) */
    cr_assert(count == n || count == n + nextra,
              "%s: syntax line names %d keys, counts %d", fn, n, count);
    cr_assert_eq((int)strtol(arg(a, 2), NULL, 10), n + nextra,
                 "%s: %s keys, want %d", fn, arg(a, 2), n + nextra);
    for (int i = 0; i < n; i++) {
        cr_assert_str_eq(names[i], CANONICAL[i],
                         "%s: key %d is %s in duro.lua, not a prefix of the "
                         "canonical order",
                         fn, i + 1, names[i]);
        cr_assert_str_eq(key_name(arg(a, 3 + i)), names[i], "%s: key %d: %s",
                         fn, i + 1, arg(a, 3 + i));
    }
    for (int i = 0; i < nextra; i++)
        cr_assert_str_eq(arg(a, 3 + n + i), extra[i]);
    return 3 + n + nextra;
}

static void check_args(const duro_argv *a, int first, const char *const *want,
                       int nwant)
{
    cr_assert_eq(a->argc - first, nwant, "%s: %d arguments, want %d", arg(a, 1),
                 a->argc - first, nwant);
    for (int i = 0; i < nwant; i++)
        cr_assert_str_eq(arg(a, first + i), want[i], "%s: argument %d",
                         arg(a, 1), i + 1);
}

#define CHECK_ARGS(a, first, ...)                                              \
    do {                                                                       \
        const char *const want_[] = {__VA_ARGS__};                             \
        check_args(a, first, want_, sizeof(want_) / sizeof(want_[0]));         \
    } while (0)

/* ---- The order itself ---- */

Test(fcall, lua_key_order_is_the_c_order)
{
    const char *p = strstr(duro_lua_source(), "local KEY_ORDER = {");
    cr_assert(p, "KEY_ORDER not in duro.lua");
    const char *end = strchr(p, '}');
    int n = 0;
    for (const char *q = strchr(p, '\''); q && q < end;
         q = strchr(strchr(q + 1, '\'') + 1, '\'')) {
        size_t len = strcspn(q + 1, "'");
        cr_assert_lt(n, NCANON);
        cr_assert_eq(strlen(CANONICAL[n]), len);
        cr_assert(!strncmp(q + 1, CANONICAL[n], len), "KEY_ORDER[%d]", n + 1);
        n++;
    }
    cr_assert_eq(n, NCANON);
}

/* ---- Client ---- */

static const duro_fcall_start_args START = {.id = "order-7",
                                            .run = "run-1",
                                            .type = "order",
                                            .queue = "wfq",
                                            .input = NULL,
                                            .started_data = "{}",
                                            .exec_timeout_ms = 0,
                                            .wft_timeout_ms = 10000,
                                            .policy = "AllowDuplicate"};

Test(fcall, start)
{
    duro_wf_keys k = keys_full();
    duro_argv a;
    duro_fcall_start(&a, &k, &START, NULL, NULL);
    int i = check_keys(&a, "duro_start", 0, NULL);
    CHECK_ARGS(&a, i, "order-7", "run-1", "order", "wfq", "null", "{}", "0",
               "10000", "AllowDuplicate");
    duro_argv_free(&a);

    duro_fcall_start_args s = START;
    s.policy = "TerminateIfRunning";
    const char *cur[] = {"duro:{p1}:h:order-7:run-0"};
    duro_fcall_start(&a, &k, &s, cur[0], "run-0");
    i = check_keys(&a, "duro_start", 1, cur);
    CHECK_ARGS(&a, i, "order-7", "run-1", "order", "wfq", "null", "{}", "0",
               "10000", "TerminateIfRunning", "run-0");
    duro_argv_free(&a);

    s.policy = NULL; /* the Function's default: nothing sent */
    duro_fcall_start(&a, &k, &s, NULL, NULL);
    i = check_keys(&a, "duro_start", 0, NULL);
    CHECK_ARGS(&a, i, "order-7", "run-1", "order", "wfq", "null", "{}", "0",
               "10000");
    duro_argv_free(&a);
}

Test(fcall, signal_with_start)
{
    duro_wf_keys k = keys_full();
    duro_argv a;
    const char *cur[] = {"duro:{p1}:h:order-7:run-0"};
    duro_fcall_signal_with_start(&a, &k, &START, "{\"name\":\"x\"}", cur[0],
                                 "run-0");
    int i = check_keys(&a, "duro_signal_with_start", 1, cur);
    CHECK_ARGS(&a, i, "order-7", "run-1", "order", "wfq", "null", "{}", "0",
               "10000", "{\"name\":\"x\"}", "run-0", "AllowDuplicate");
    duro_argv_free(&a);
    /* no run running: cur_run is empty */
    duro_fcall_signal_with_start(&a, &k, &START, "{}", k.hist, NULL);
    i = check_keys(&a, "duro_signal_with_start", 1,
                   (const char *const[]){k.hist});
    cr_assert_str_eq(arg(&a, i + 9), "");
    duro_argv_free(&a);
}

Test(fcall, signal_cancel_terminate)
{
    duro_wf_keys k = keys_full();
    duro_argv a;
    duro_fcall_signal(&a, &k, "run-1", "{\"name\":\"x\"}");
    CHECK_ARGS(&a, check_keys(&a, "duro_signal", 0, NULL), "run-1",
               "{\"name\":\"x\"}");
    duro_argv_free(&a);
    duro_fcall_cancel(&a, &k, "run-1", "{}");
    CHECK_ARGS(&a, check_keys(&a, "duro_cancel", 0, NULL), "run-1", "{}");
    duro_argv_free(&a);
    duro_fcall_update(&a, &k, "run-1", "u-1", "{}", "r");
    CHECK_ARGS(&a, check_keys(&a, "duro_update", 0, NULL), "run-1", "u-1", "{}",
               "r");
    duro_argv_free(&a);
    duro_fcall_terminate(&a, &k, "{\"reason\":\"r\"}");
    CHECK_ARGS(&a, check_keys(&a, "duro_terminate", 0, NULL),
               "{\"reason\":\"r\"}");
    duro_argv_free(&a);
}

/* A namespace's retention goes last; cur_run is "" without one. */
Test(fcall, start_with_retention)
{
    duro_wf_keys k = keys_full();
    duro_argv a;
    duro_fcall_start_args s = START;
    s.retention_ms = 1000;
    duro_fcall_start(&a, &k, &s, NULL, NULL);
    CHECK_ARGS(&a, check_keys(&a, "duro_start", 0, NULL), "order-7", "run-1",
               "order", "wfq", "null", "{}", "0", "10000", "AllowDuplicate", "",
               "1000");
    duro_argv_free(&a);
    s.policy = NULL;
    duro_fcall_signal_with_start(&a, &k, &s, "{}", k.hist, NULL);
    int i = check_keys(&a, "duro_signal_with_start", 1,
                       (const char *const[]){k.hist});
    CHECK_ARGS(&a, i, "order-7", "run-1", "order", "wfq", "null", "{}", "0",
               "10000", "{}", "", "AllowDuplicate", "1000");
    duro_argv_free(&a);
}

/* A run timeout goes after the memo and search attributes (empty when
 * none), in both starts. */
Test(fcall, start_with_run_timeout)
{
    duro_wf_keys k = keys_full();
    duro_argv a;
    duro_fcall_start_args s = START;
    s.run_timeout_ms = 2500;
    duro_fcall_start(&a, &k, &s, NULL, NULL);
    CHECK_ARGS(&a, check_keys(&a, "duro_start", 0, NULL), "order-7", "run-1",
               "order", "wfq", "null", "{}", "0", "10000", "AllowDuplicate", "",
               "0", "", "", "2500");
    duro_argv_free(&a);
    duro_fcall_signal_with_start(&a, &k, &s, "{}", k.hist, NULL);
    int i = check_keys(&a, "duro_signal_with_start", 1,
                       (const char *const[]){k.hist});
    CHECK_ARGS(&a, i, "order-7", "run-1", "order", "wfq", "null", "{}", "0",
               "10000", "{}", "", "AllowDuplicate", "0", "", "", "2500");
    duro_argv_free(&a);
}

/* A priority and fairness key follow the run timeout, which is then sent
 * as 0 when the start has none (the Lua reads them by position). */
Test(fcall, start_with_priority_after_run_timeout)
{
    duro_wf_keys k = keys_full();
    duro_argv a;
    duro_fcall_start_args s = START;
    s.priority = 1;
    s.fairness_key = "tenant-a";
    duro_fcall_start(&a, &k, &s, NULL, NULL);
    CHECK_ARGS(&a, check_keys(&a, "duro_start", 0, NULL), "order-7", "run-1",
               "order", "wfq", "null", "{}", "0", "10000", "AllowDuplicate", "",
               "0", "", "", "0", "1", "tenant-a", "1");
    duro_argv_free(&a);
    s.run_timeout_ms = 2500;
    duro_fcall_signal_with_start(&a, &k, &s, "{}", k.hist, NULL);
    int i = check_keys(&a, "duro_signal_with_start", 1,
                       (const char *const[]){k.hist});
    CHECK_ARGS(&a, i, "order-7", "run-1", "order", "wfq", "null", "{}", "0",
               "10000", "{}", "", "AllowDuplicate", "0", "", "", "2500", "1",
               "tenant-a", "1");
    duro_argv_free(&a);
}

Test(fcall, purge)
{
    duro_wf_keys k = keys_full();
    duro_argv a;
    duro_fcall_purge(&a, &k, "run-1", 1700000000000LL);
    CHECK_ARGS(&a, check_keys(&a, "duro_purge", 0, NULL), "run-1",
               "1700000000000");
    duro_argv_free(&a);
}

/* A slot the Function does not use, left empty, holds the timers key. */
Test(fcall, an_unused_slot_holds_the_timers_key)
{
    duro_wf_keys k;
    duro_wf_keys_init(&k, DURO_KEYSPACE_DEFAULT(16), "order-7",
                      "run-1"); /* no wft, no act */
    duro_argv a;
    duro_fcall_terminate(&a, &k, "{}");
    cr_assert_str_eq(arg(&a, 3 + 3), k.timers); /* wft */
    duro_argv_free(&a);
    duro_wf_keys_queues(&k, "wfq", NULL);
    duro_fcall_timer_fire(&a, &k, "t|run-1|1|0|wfq|-|order-7", 25);
    cr_assert_str_eq(arg(&a, 3 + 3), k.wft);
    cr_assert_str_eq(arg(&a, 3 + 8), k.timers); /* act, for a t timer */
    duro_argv_free(&a);
    duro_wf_keys_init(&k, DURO_KEYSPACE_DEFAULT(16), "order-7", NULL);
    duro_fcall_act_heartbeat(
        &a, &k, &(duro_fcall_attempt){.run = "run-1", .seq = "2", .attempt = 3},
        NULL);
    cr_assert_str_eq(arg(&a, 3 + 1), k.timers); /* hist */
    cr_assert_str_eq(arg(&a, 3 + 5), k.pa);
    cr_assert_str_eq(arg(&a, a.argc - 1), "");
    duro_argv_free(&a);
}

/* ---- Worker ---- */

static const duro_fcall_task TASK = {
    .run = "run-1", .token = "4", .entry = "1-1"};
static const duro_fcall_attempt ATTEMPT = {
    .run = "run-1", .seq = "2", .attempt = 3, .entry = "5-0"};

static duro_argv commands(void)
{
    duro_argv c;
    duro_argv_init(&c);
    duro_argv_push(&c, "timer");
    duro_argv_push(&c, "1");
    duro_argv_push(&c, "{\"seq\":1}");
    duro_argv_push(&c, "60000");
    return c;
}

Test(fcall, wft_complete_and_fail)
{
    duro_wf_keys k = keys_full();
    duro_argv cmds = commands();
    const char *acts[] = {"duro:{p1}:act:a", "duro:{p1}:act:b"};
    duro_fcall_commit c = {.wtc_data = "{\"now\":1}",
                           .ncmd = 1,
                           .cmds = &cmds,
                           .nacts = 2,
                           .acts = acts};
    duro_argv a;
    duro_fcall_wft_complete(&a, &k, &TASK, &c);
    int i = check_keys(&a, "duro_wft_complete", 2, acts);
    cr_assert_eq(i - 3 + 1 - 2, DURO_FCALL_WFT_COMPLETE_ACT_BASE,
                 "act_1 is KEYS[ACT_BASE]");
    CHECK_ARGS(&a, i, "run-1", "4", "1-1", "{\"now\":1}", "1", "timer", "1",
               "{\"seq\":1}", "60000");
    duro_argv_free(&a);

    duro_fcall_wft_fail(&a, &k, &TASK, "boom", -1);
    CHECK_ARGS(&a, check_keys(&a, "duro_wft_fail", 0, NULL), "run-1", "4",
               "1-1", "boom", "-1");
    duro_argv_free(&a);

    /* a worker that keeps the run names itself after the commands */
    c.sticky = "worker-7";
    c.sticky_ms = 5000;
    duro_fcall_wft_complete(&a, &k, &TASK, &c);
    CHECK_ARGS(&a, check_keys(&a, "duro_wft_complete", 2, acts), "run-1", "4",
               "1-1", "{\"now\":1}", "1", "timer", "1", "{\"seq\":1}", "60000",
               "worker-7", "5000");
    duro_argv_free(&a);
    duro_argv_free(&cmds);
}

Test(fcall, sticky_release)
{
    duro_wf_keys k = keys_full();
    duro_argv a;
    duro_fcall_sticky_release(&a, &k, "run-1", "worker-7");
    CHECK_ARGS(&a, check_keys(&a, "duro_sticky_release", 0, NULL), "run-1",
               "worker-7");
    duro_argv_free(&a);
}

Test(fcall, act_complete_with_and_without_eager_tail)
{
    duro_wf_keys k = keys_full();
    duro_fcall_act_result r = {.data = "{\"seq\":2}", .retry_delay_ms = -1};
    duro_argv a;
    duro_fcall_act_complete(&a, &k, &ATTEMPT, &r, 0, NULL);
    CHECK_ARGS(&a, check_keys(&a, "duro_act_complete", 0, NULL), "run-1", "2",
               "3", "5-0", "completed", "{\"seq\":2}", "-1", "");
    duro_argv_free(&a);

    duro_fcall_act_result f = {.failed = true,
                               .data = "{}",
                               .retry_delay_ms = 500,
                               .failure = "{\"message\":\"x\"}"};
    duro_fcall_act_complete(&a, &k, &ATTEMPT, &f, 0, NULL);
    CHECK_ARGS(&a, check_keys(&a, "duro_act_complete", 0, NULL), "run-1", "2",
               "3", "5-0", "failed", "{}", "500", "{\"message\":\"x\"}");
    duro_argv_free(&a);

    duro_argv cmds = commands();
    const char *acts[] = {"duro:{p1}:act:a"};
    duro_fcall_commit c = {.wtc_data = "{\"now\":2}",
                           .ncmd = 1,
                           .cmds = &cmds,
                           .nacts = 1,
                           .acts = acts};
    duro_fcall_act_complete(&a, &k, &ATTEMPT, &r, 17, &c);
    int i = check_keys(&a, "duro_act_complete", 1, acts);
    cr_assert_eq(i - 3 + 1 - 1, DURO_FCALL_ACT_COMPLETE_ACT_BASE,
                 "act_1 is KEYS[ACT_BASE]");
    CHECK_ARGS(&a, i, "run-1", "2", "3", "5-0", "completed", "{\"seq\":2}",
               "-1", "", "17", "{\"now\":2}", "1", "timer", "1", "{\"seq\":1}",
               "60000");
    duro_argv_free(&a);
    duro_argv_free(&cmds);
}

Test(fcall, act_heartbeat_and_release)
{
    duro_wf_keys k = keys_full();
    duro_argv a;
    duro_fcall_act_heartbeat(&a, &k, &ATTEMPT, "{\"p\":1}");
    CHECK_ARGS(&a, check_keys(&a, "duro_act_heartbeat", 0, NULL), "run-1", "2",
               "3", "{\"p\":1}");
    duro_argv_free(&a);
    duro_fcall_act_release(&a, &k, &ATTEMPT);
    CHECK_ARGS(&a, check_keys(&a, "duro_act_release", 0, NULL), "run-1", "2",
               "3", "5-0");
    duro_argv_free(&a);
}

/* ---- Scheduler ---- */

Test(fcall, scheduler_calls)
{
    duro_wf_keys k = keys_full();
    duro_argv a;
    duro_fcall_wft_timeout(&a, &k, &TASK, 12000);
    CHECK_ARGS(&a, check_keys(&a, "duro_wft_timeout", 0, NULL), "run-1", "4",
               "1-1", "12000");
    duro_argv_free(&a);
    duro_fcall_act_timeout(&a, &k, &ATTEMPT, 9000, 250);
    CHECK_ARGS(&a, check_keys(&a, "duro_act_timeout", 0, NULL), "run-1", "2",
               "3", "5-0", "9000", "250");
    duro_argv_free(&a);
    const char m[] = "s|run-1|2|0|wfq|actq|order-7";
    duro_fcall_timer_fire(&a, &k, m, sizeof(m) - 1);
    CHECK_ARGS(&a, check_keys(&a, "duro_timer_fire", 0, NULL), m);
    duro_argv_free(&a);
}

Test(fcall, reset)
{
    duro_wf_keys k = keys_full();
    duro_argv pend;
    duro_argv_init(&pend);
    duro_argv_push(&pend, "timer");
    duro_argv_push(&pend, "1");
    duro_argv_push(&pend, "5000");
    duro_fcall_reset_args r = {.id = "order-7",
                               .run = "run-2",
                               .src_run = "run-1",
                               .cur_run = NULL,
                               .hist_cur = "duro:{p1}:h:order-7:run-1",
                               .hist_src = "duro:{p1}:h:order-7:run-1",
                               .event_id = 5,
                               .reason = "bug fixed",
                               .type = "order",
                               .queue = "wfq",
                               .input = NULL,
                               .exec_timeout_ms = 0,
                               .wft_timeout_ms = 0,
                               .npend = 1,
                               .pending = &pend,
                               .run_timeout_ms = 60000};
    duro_argv a;
    duro_fcall_reset(&a, &k, &r);
    const char *extra[] = {r.hist_cur, r.hist_src};
    CHECK_ARGS(&a, check_keys(&a, "duro_reset", 2, extra), "order-7", "run-2",
               "run-1", "", "5", "bug fixed", "order", "wfq", "null", "0", "0",
               "1", "timer", "1", "5000", "60000", "0");
    duro_argv_free(&a);
    duro_argv_free(&pend);
    cr_assert_eq(DURO_FCALL_RESET_ACT_BASE, 11);
}

Test(fcall, history_upgrade)
{
    duro_wf_keys k = keys_full();
    duro_argv a;
    duro_fcall_history_upgrade(&a, &k);
    check_args(&a, check_keys(&a, "duro_history_upgrade", 0, NULL), NULL, 0);
    duro_argv_free(&a);
}

/* eager activity dispatch: the committing worker names itself, its room
 * (negated: the tasks come back flat, library 34) and the KEYS index of
 * each activity stream that is its own queue's, after the sticky pair
 * (sent as "" 0 when it keeps no run) */
Test(fcall, eager_activity_tail)
{
    duro_wf_keys k = keys_full();
    duro_argv cmds = commands();
    const char *acts[] = {"duro:{p1}:act:a", "duro:{p1}:act:b"};
    duro_fcall_commit c = {.wtc_data = "{\"now\":1}",
                           .ncmd = 1,
                           .cmds = &cmds,
                           .nacts = 2,
                           .acts = acts,
                           .eager_consumer = "worker-7",
                           .eager_n = 4,
                           .eager_stream = "duro:{p1}:act:b"};
    duro_argv a;
    duro_fcall_wft_complete(&a, &k, &TASK, &c);
    CHECK_ARGS(&a, check_keys(&a, "duro_wft_complete", 2, acts), "run-1", "4",
               "1-1", "{\"now\":1}", "1", "timer", "1", "{\"seq\":1}", "60000",
               "", "0", "worker-7", "-4", "10");
    duro_argv_free(&a);

    c.sticky = "worker-7";
    c.sticky_ms = 5000;
    duro_fcall_act_complete(
        &a, &k, &ATTEMPT,
        &(duro_fcall_act_result){.data = "{}", .retry_delay_ms = -1}, 17, &c);
    CHECK_ARGS(&a, check_keys(&a, "duro_act_complete", 2, acts), "run-1", "2",
               "3", "5-0", "completed", "{}", "-1", "", "17", "{\"now\":1}",
               "1", "timer", "1", "{\"seq\":1}", "60000", "worker-7", "5000",
               "worker-7", "-4", "11");
    duro_argv_free(&a);

    /* no room, or a commit that names another queue only: no tail */
    const char *none[] = {"", "duro:{p1}:act:c"};
    for (int i = 0; i < 2; i++) {
        c.eager_n = i == 0 ? 0 : 4;
        c.eager_stream = i == 0 ? "duro:{p1}:act:b" : none[1];
        duro_fcall_wft_complete(&a, &k, &TASK, &c);
        CHECK_ARGS(&a, check_keys(&a, "duro_wft_complete", 2, acts), "run-1",
                   "4", "1-1", "{\"now\":1}", "1", "timer", "1", "{\"seq\":1}",
                   "60000", "worker-7", "5000");
        cr_assert_eq(a.argc, check_keys(&a, "duro_wft_complete", 2, acts) + 11,
                     "%s", none[i]);
        duro_argv_free(&a);
    }
    duro_argv_free(&cmds);
}
