/* test_library_newer.c: a component that calls a Function the library in
 * Redis lacks reloads its own copy only where the library is missing or
 * older: a newer one stays. In a rollback the older build runs beside a
 * newer library; had the older build put its copy over the newer one on a
 * "function not found", every newer component would have gone on against
 * the older library without looking (they check the version at connect).
 *
 * The newer library is this build's text with a higher version and one
 * Function renamed: the client's duro_start (the synchronous reload path,
 * the CLI and `duro server`) and the worker's duro_wft_complete (the
 * asynchronous one). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/lua.h"
#include "harness.h"
#include "harness_lua.h"
#include "http_client.h" /* the harness h, setup, `duro server` */

TestSuite(library_newer, .init = setup, .fini = duro_test_fini, .timeout = 60);

enum { NEWER = 999 };

/* replace_once: s with its one occurrence of `from` replaced by `to`
 * (caller frees). */
static char *replace_once(const char *s, const char *from, const char *to)
{
    const char *at = strstr(s, from);
    cr_assert(at, "the library has no \"%s\"", from);
    cr_assert_null(strstr(at + 1, from), "\"%s\" twice", from);
    size_t n = strlen(s) - strlen(from) + strlen(to) + 1;
    char *out = malloc(n);
    cr_assert(out);
    snprintf(out, n, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
    return out;
}

/* load_newer: this library as version NEWER, without Function `gone`
 * (registered under another name). */
static void load_newer(redisContext *r, const char *gone)
{
    char from[64], to[64], vfrom[64], vto[64];
    snprintf(from, sizeof(from), "register_function('%s',", gone);
    snprintf(to, sizeof(to), "register_function('%s_v2',", gone);
    snprintf(vfrom, sizeof(vfrom), "DURO_LIBRARY_VERSION = %d",
             duro_lua_version());
    snprintf(vto, sizeof(vto), "DURO_LIBRARY_VERSION = %d", NEWER);
    char *a = replace_once(duro_lua_source(), from, to);
    char *b = replace_once(a, vfrom, vto);
    free(a);
    redisReply *rep = redisCommand(r, "FUNCTION LOAD REPLACE %s", b);
    free(b);
    cr_assert(rep && rep->type != REDIS_REPLY_ERROR, "FUNCTION LOAD: %s",
              rep ? rep->str : "no reply");
    freeReplyObject(rep);
}

static long long library_version(redisContext *r)
{
    redisReply *rep = redisCommand(r, "FCALL duro_version 0");
    cr_assert(rep && rep->type == REDIS_REPLY_INTEGER, "duro_version: %s",
              rep && rep->str ? rep->str : "?");
    long long v = rep->integer;
    freeReplyObject(rep);
    return v;
}

Test(library_newer, the_cli_keeps_a_newer_library_without_its_function)
{
    redisContext *r = duro_test_redis(&h);
    duro_test_output o;
    duro_test_run(&h, &o, 10000, "duro", "operator", "init", NULL);
    cr_assert_eq(o.exit_code, 0, "init: %s", o.err);
    duro_test_output_free(&o);
    load_newer(r, "duro_start");

    duro_test_run(&h, &o, 10000, "duro", "workflow", "start", "-w", "n-1",
                  "--type", "echo", "-t", "q", NULL);
    cr_assert_neq(o.exit_code, 0,
                  "started against a library without "
                  "duro_start");
    duro_test_output_free(&o);
    cr_assert_eq(library_version(r), NEWER,
                 "the CLI put its older library over the newer one");
    redisFree(r);
}

Test(library_newer, a_worker_keeps_a_newer_library_without_its_function)
{
    redisContext *r = duro_test_redis(&h);
    duro_test_output o;
    duro_test_run(&h, &o, 10000, "duro", "operator", "init", NULL);
    cr_assert_eq(o.exit_code, 0, "init: %s", o.err);
    duro_test_output_free(&o);
    load_newer(r, "duro_wft_complete");

    pid_t w = duro_test_spawn(&h, "samples-worker", NULL);
    cr_assert(
        duro_test_wait_until(duro_test_log_contains(&h, w, "REDIS UP"), 5000));
    duro_test_run(&h, &o, 10000, "duro", "workflow", "start", "-w", "n-2",
                  "--type", "echo", "-t", "samples", "-i", "1", NULL);
    cr_assert_eq(o.exit_code, 0, "start: %s", o.err);
    duro_test_output_free(&o);
    /* the commit finds no duro_wft_complete: the worker's reload finds
     * the newer library there and keeps it */
    cr_assert(duro_test_wait_until(
                  duro_test_log_contains(&h, w, "FUNCTIONS KEPT"), 10000),
              "the worker did not keep the newer library (version now %lld)",
              library_version(r));
    cr_assert_eq(library_version(r), NEWER);
    redisFree(r);
}

/* log_lines: lines of child pid's log that hold s. */
static int log_lines(pid_t pid, const char *s)
{
    for (int i = 0; i < h.nchildren; i++) {
        if (h.children[i].pid != pid) continue;
        FILE *f = fopen(h.children[i].log, "r");
        cr_assert(f, "%s", h.children[i].log);
        char line[2048];
        int n = 0;
        while (fgets(line, sizeof(line), f))
            n += strstr(line, s) != NULL;
        fclose(f);
        return n;
    }
    cr_assert_fail("no child %d", (int)pid);
    return -1;
}

Test(library_newer,
     the_server_keeps_a_newer_library_without_a_log_line_per_call)
{
    enum { CALLS = 6 };
    redisContext *r = duro_test_redis(&h);
    duro_test_output o;
    duro_test_run(&h, &o, 10000, "duro", "operator", "init", NULL);
    cr_assert_eq(o.exit_code, 0, "init: %s", o.err);
    duro_test_output_free(&o);
    int port = start_server(NULL);
    load_newer(r, "duro_start");
    for (int i = 0; i < CALLS; i++) {
        char path[64];
        snprintf(path, sizeof(path), NS "/workflows/n-%d", i);
        http_resp resp =
            http(port, "POST", path, NULL,
                 "{\"workflowType\":\"echo\",\"taskQueue\":\"q\"}");
        cr_assert_geq(resp.status, 400, "started without duro_start: %s",
                      resp.body);
        cr_assert(*jstr(&resp, "message"), "no message: %s", resp.body);
        resp_free(&resp);
    }
    cr_assert_eq(library_version(r), NEWER,
                 "the server put its older library over the newer one");
    /* each call found the newer library again: said once, not per call */
    int lines = log_lines(server_pid, "FUNCTIONS newer library");
    cr_assert(lines >= 1 && lines < CALLS, "%d lines for %d calls", lines,
              CALLS);
    redisFree(r);
    duro_test_finish(&h);
}
