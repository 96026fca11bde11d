/* test_payload_edges.c: payloads at the edges through a real worker: a
 * workflow input near the payload limit (2 MB) holding every character
 * JSON escapes (quote, backslash, control bytes, CR LF) and multi-byte
 * UTF-8, the empty string, and small workflows served right after the
 * large ones on the same connections. The worker's commands are formatted
 * in place into its output buffer and its replies read through a buffer
 * it keeps up to 256 KB (common/async/transport.c): what an activity gets
 * and what the workflow returns must be what the client gave, byte for
 * byte. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(payload_edges, .init = setup, .fini = duro_test_fini, .timeout = 60);

/* big_text: a JSON string value of about `size` bytes once escaped, made
 * of every escaped class, varied by seed. The caller frees it. */
static char *big_text(size_t size, unsigned seed)
{
    static const char *const pieces[] = {"\"",
                                         "\\",
                                         "\r\n",
                                         "\n",
                                         "\t",
                                         "\x01",
                                         "\x1f",
                                         "\xc3\xa9" /* é */,
                                         "\xe2\x80\xa8" /* U+2028 */,
                                         "$12\r\n",
                                         "*3\r\n",
                                         "plain text",
                                         "{\"k\":[1,2]}",
                                         " "};
    enum { NP = sizeof(pieces) / sizeof(pieces[0]) };
    char *s = malloc(size + 64);
    cr_assert_not_null(s);
    size_t n = 0;
    unsigned x = seed;
    /* escaped, these pieces take about 1.55 times their bytes */
    while (n + 16 < size * 5 / 8) {
        x = x * 1103515245u + 12345u;
        const char *p = pieces[(x >> 16) % NP];
        size_t l = strlen(p);
        memcpy(s + n, p, l);
        n += l;
    }
    s[n] = '\0';
    return s;
}

/* start_codec starts the test worker's `codec` workflow with a string
 * input (its first activity returns it as {"in": input}). */
static void start_codec(duro_client *c, const char *id, const char *text)
{
    cJSON *in = cJSON_CreateString(text);
    char *json = cJSON_PrintUnformatted(in);
    cr_assert_not_null(json);
    cr_log_info("%s: input %zu bytes of JSON", id, strlen(json));
    duro_test_start(c, id, "codec", "test", json, 0);
    cJSON_free(json);
    cJSON_Delete(in);
}

/* check_codec signals `note` to id, waits for its result and checks that
 * the activity saw the input text whole. */
static void check_codec(duro_client *c, const char *id, const char *text)
{
    cr_assert_eq(duro_client_signal(c, id, "note", "{\"note\":\"n\"}", NULL), 0,
                 "%s: %s", id, duro_client_errstr(c));
    cJSON *d = duro_test_result(c, id, 30000);
    cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED", "%s", id);
    const cJSON *res = cJSON_GetObjectItem(d, "result");
    const cJSON *stamp = cJSON_GetObjectItem(res, "stamp");
    const char *got = cJSON_GetStringValue(cJSON_GetObjectItem(stamp, "in"));
    cr_assert_not_null(got, "%s: no input came back", id);
    size_t want = strlen(text), have = strlen(got);
    cr_assert_eq(have, want, "%s: %zu bytes back of %zu", id, have, want);
    cr_assert_eq(memcmp(got, text, want), 0, "%s: bytes differ", id);
    cJSON_Delete(d);
}

Test(payload_edges, large_escaped_and_empty_inputs_come_back_whole)
{
    enum { BIG = 4, SMALL = 200 };
    pid_t pids[2];
    duro_test_spawn_scheduler_and_worker(&h, 10000, pids);
    duro_client *c = duro_test_client(&h);
    char *texts[BIG];
    char id[32];
    for (int i = 0; i < BIG; i++) {
        /* 1.9 MB escaped: under the 2 MB limit of an input */
        texts[i] = big_text((size_t)1900 * 1024, (unsigned)i + 1);
        snprintf(id, sizeof(id), "big-%d", i);
        start_codec(c, id, texts[i]);
    }
    start_codec(c, "empty", "");
    for (int i = 0; i < SMALL; i++) {
        snprintf(id, sizeof(id), "small-%d", i);
        duro_test_start(c, id, "activities", "test", "{\"n\":2}", 0);
    }
    for (int i = 0; i < SMALL; i++) {
        snprintf(id, sizeof(id), "small-%d", i);
        cJSON *d = duro_test_result(c, id, 30000);
        duro_test_assert_echoed(d, id, 2);
        cJSON_Delete(d);
    }
    for (int i = 0; i < BIG; i++) {
        snprintf(id, sizeof(id), "big-%d", i);
        check_codec(c, id, texts[i]);
        free(texts[i]);
    }
    check_codec(c, "empty", "");
    cr_assert(duro_test_alive(&h, pids[1]), "the worker died");
    duro_client_free(c);
    duro_test_finish(&h);
}
