/* test_codec.c: the payload codec helpers and the AES-256-GCM codec. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "duro/codec.h"
#include "duro/errno.h"
#include "duro/history.h"
#include "duro/log.h"

TestSuite(codec, .timeout = 5);

#define KEY_A                                                                  \
    "a1 "                                                                      \
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
#define KEY_B                                                                  \
    "b2 "                                                                      \
    "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100\n"

/* key_file writes text into a fresh 0600 file and returns its path
 * (caller frees). */
static char *key_file(const char *text)
{
    char *path = strdup("/tmp/duro-codec-test-XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static duro_codec *codec_of(const char *text)
{
    char *path = key_file(text);
    duro_codec *c = NULL;
    char err[256] = "";
    int rc = duro_codec_aes_new(path, &c, err, sizeof(err));
    unlink(path);
    free(path);
    cr_assert_eq(rc, 0, "duro_codec_aes_new: %s", err);
    return c;
}

static char *enc(const duro_codec *c, const char *json)
{
    char *out = NULL, err[256] = "";
    cr_assert_eq(duro_codec_encode(c, json, &out, err, sizeof(err)), 0, "%s",
                 err);
    return out;
}

static int dec(const duro_codec *c, const char *json, char **out, char *err)
{
    return duro_codec_decode(c, json, out, err, 256);
}

Test(codec, round_trip_hides_the_payload)
{
    duro_codec *c = codec_of(KEY_A);
    const char *in = "{\"card\":\"4242-SECRET\",\"n\":[1,2,3]}";
    char *s = enc(c, in);
    cr_assert_null(strstr(s, "SECRET"));
    cr_assert(strncmp(s, "\"" DURO_CODEC_AES_PREFIX "a1:",
                      strlen(DURO_CODEC_AES_PREFIX) + 4) == 0,
              "%s", s);
    cJSON *v = cJSON_Parse(s); /* the stored form is a JSON string */
    cr_assert(cJSON_IsString(v));
    char kid[DURO_CODEC_KEYID_MAX + 1];
    cr_assert(duro_codec_sealed(v, kid, sizeof(kid)));
    cr_assert_str_eq(kid, "a1");
    cJSON_Delete(v);
    char *out = NULL, err[256];
    cr_assert_eq(dec(c, s, &out, err), 0, "%s", err);
    cr_assert_str_eq(out, in);
    /* a fresh nonce each time: equal payloads do not look equal */
    char *s2 = enc(c, in);
    cr_assert_str_neq(s, s2);
    free(s);
    free(s2);
    free(out);
    duro_codec_aes_free(c);
}

Test(codec, tampered_ciphertext_is_refused)
{
    duro_codec *c = codec_of(KEY_A);
    char *s = enc(c, "\"hello world\"");
    size_t n = strlen(s);
    /* flip one base64 character in the middle of the ciphertext */
    char *mid = s + n - 12;
    *mid = *mid == 'A' ? 'B' : 'A';
    char *out = (char *)1, err[256] = "";
    cr_assert_eq(dec(c, s, &out, err), DURO_ECODEC);
    cr_assert_null(out);
    cr_assert(strstr(err, "fails authentication"), "%s", err);
    /* and truncated */
    s[n - 30] = '"';
    s[n - 29] = '\0';
    cr_assert_eq(dec(c, s, &out, err), DURO_ECODEC);
    free(s);
    duro_codec_aes_free(c);
}

Test(codec, key_id_is_authenticated)
{
    /* the same key material under two ids: a payload renamed to the other
     * id must not decrypt */
    duro_codec *c = codec_of(
        "x1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
        "x2 "
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n");
    char *s = enc(c, "42");
    char *p = strstr(s, "x1:");
    cr_assert_not_null(p);
    p[1] = '2';
    char *out = NULL, err[256] = "";
    cr_assert_eq(dec(c, s, &out, err), DURO_ECODEC);
    free(s);
    duro_codec_aes_free(c);
}

Test(codec, unknown_key_id_is_named)
{
    duro_codec *a = codec_of(KEY_A), *b = codec_of(KEY_B);
    char *s = enc(a, "{\"x\":1}");
    char *out = NULL, err[256] = "";
    cr_assert_eq(dec(b, s, &out, err), DURO_ECODEC);
    cr_assert(strstr(err, "key a1") && strstr(err, "does not have"), "%s", err);
    cr_assert_not(duro_codec_aes_has_key(b, "a1"));
    cr_assert(duro_codec_aes_has_key(a, "a1"));
    free(s);
    duro_codec_aes_free(a);
    duro_codec_aes_free(b);
}

Test(codec, rotation_encodes_with_first_decodes_with_all)
{
    duro_codec *old = codec_of(KEY_A);
    char *before = enc(old, "\"old secret\"");
    duro_codec *rot = codec_of(KEY_B "# rotated in 2026\n\n" KEY_A);
    char *after = enc(rot, "\"new secret\"");
    cr_assert(strstr(after, DURO_CODEC_AES_PREFIX "b2:"), "%s", after);
    char *out = NULL, err[256] = "";
    cr_assert_eq(dec(rot, before, &out, err), 0, "%s", err);
    cr_assert_str_eq(out, "\"old secret\"");
    free(out);
    cr_assert_eq(dec(rot, after, &out, err), 0, "%s", err);
    cr_assert_str_eq(out, "\"new secret\"");
    free(out);
    /* the old key file cannot read what the new first key wrote */
    cr_assert_eq(dec(old, after, &out, err), DURO_ECODEC);
    free(before);
    free(after);
    duro_codec_aes_free(old);
    duro_codec_aes_free(rot);
}

Test(codec, plain_payloads_pass_through)
{
    duro_codec *c = codec_of(KEY_A);
    const char *plain[] = {"null", "{\"a\":\"duro:aes256gcm:v1:k:x\"}",
                           "\"just a string\"", "[1,2]", "3.5"};
    for (size_t i = 0; i < sizeof(plain) / sizeof(*plain); i++) {
        char *out = NULL, err[256] = "";
        cr_assert_eq(dec(c, plain[i], &out, err), 0, "%s: %s", plain[i], err);
        cr_assert_str_eq(out, plain[i]);
        free(out);
    }
    /* no codec: both ways are copies */
    char *out = NULL, err[256];
    cr_assert_eq(duro_codec_encode(NULL, "{\"a\":1}", &out, err, 256), 0);
    cr_assert_str_eq(out, "{\"a\":1}");
    free(out);
    duro_codec_aes_free(c);
}

Test(codec, decode_event_replaces_payload_members_only)
{
    duro_codec *c = codec_of(KEY_A);
    char *s = enc(c, "{\"item\":\"pizza\"}");
    char *text = NULL;
    cr_assert(
        asprintf(&text, "{\"seq\":1,\"name\":\"charge\",\"input\":%s}", s) > 0);
    cJSON *d = cJSON_Parse(text);
    char err[256] = "";
    cr_assert_eq(duro_codec_decode_event(c, DURO_EVENT_ACTIVITY_SCHEDULED, d,
                                         err, sizeof(err)),
                 0, "%s", err);
    const cJSON *in = cJSON_GetObjectItem(d, "input");
    cr_assert_str_eq(cJSON_GetObjectItem(in, "item")->valuestring, "pizza");
    cr_assert_str_eq(cJSON_GetObjectItem(d, "name")->valuestring, "charge");
    /* an event without payloads is untouched; no codec leaves it sealed */
    cJSON *d2 = cJSON_Parse(text);
    cr_assert_eq(duro_codec_decode_event(NULL, DURO_EVENT_ACTIVITY_SCHEDULED,
                                         d2, err, sizeof(err)),
                 0);
    cr_assert(duro_codec_sealed(cJSON_GetObjectItem(d2, "input"), NULL, 0));
    cr_assert_eq(duro_codec_decode_event(c, DURO_EVENT_TIMER_FIRED, d2, err,
                                         sizeof(err)),
                 0);
    cr_assert(duro_codec_sealed(cJSON_GetObjectItem(d2, "input"), NULL, 0));
    cJSON_Delete(d);
    cJSON_Delete(d2);
    free(text);
    free(s);
    duro_codec_aes_free(c);
}

Test(codec, key_file_errors_name_the_line)
{
#define HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    const char *bad[] = {"",         "# only a comment\n", "k1 00ff\n",
                         "k:1 " HEX, "k1 " HEX "00",       "k1 zz" HEX,
                         KEY_A KEY_A};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        char *path = key_file(bad[i]);
        duro_codec *c = (duro_codec *)1;
        char err[256] = "";
        cr_assert_eq(duro_codec_aes_new(path, &c, err, sizeof(err)),
                     DURO_EINVAL, "case %zu", i);
        cr_assert_null(c);
        cr_assert(strstr(err, path), "%s", err);
        unlink(path);
        free(path);
    }
    duro_codec *c = (duro_codec *)1;
    char err[256];
    cr_assert_eq(duro_codec_aes_new("/nonexistent/keys", &c, err, 256),
                 DURO_EINVAL);
    cr_assert(strstr(err, "/nonexistent/keys"));
}

/* a comment line over 511 bytes used to be read on as a key line: the
 * file was refused ("line N+1: expected ...") */
Test(codec, long_comment_lines_are_skipped_whole)
{
    char text[2048];
    int n = snprintf(text, sizeof(text), "# ");
    for (int i = 0; i < 1500; i++)
        text[n++] = (char)('a' + i % 26);
    snprintf(text + n, sizeof(text) - (size_t)n, "\n%s", KEY_A);
    duro_codec *c = codec_of(text);
    cr_assert(duro_codec_aes_has_key(c, "a1"));
    duro_codec_aes_free(c);

    /* a key line that long is refused by its own number */
    n = snprintf(text, sizeof(text), "# one\n%.*s", (int)strlen(KEY_A) - 1,
                 KEY_A);
    for (int i = 0; i < 600; i++)
        text[n++] = ' ';
    text[n++] = 'x';
    snprintf(text + n, sizeof(text) - (size_t)n, "\n");
    char *path = key_file(text);
    char err[256] = "";
    cr_assert_eq(duro_codec_aes_new(path, &c, err, sizeof(err)), DURO_EINVAL);
    cr_assert(strstr(err, "line 2: longer than 510 bytes"), "%s", err);
    unlink(path);
    free(path);
}

/* a directory given as the key file used to be reported as holding no
 * key */
Test(codec, a_directory_as_key_file_is_named_so)
{
    duro_codec *c = (duro_codec *)1;
    char err[256] = "";
    cr_assert_eq(duro_codec_aes_new("/", &c, err, sizeof(err)), DURO_EINVAL);
    cr_assert_null(c);
    cr_assert(strstr(err, "cannot read codec key file /: Is a directory"), "%s",
              err);
}

Test(codec, env_unset_means_no_codec)
{
    unsetenv(DURO_CODEC_KEY_FILE_ENV);
    duro_codec *c = (duro_codec *)1;
    char err[256];
    cr_assert_eq(duro_codec_aes_from_env(&c, err, sizeof(err)), 0);
    cr_assert_null(c);
    char *path = key_file(KEY_A);
    setenv(DURO_CODEC_KEY_FILE_ENV, path, 1);
    cr_assert_eq(duro_codec_aes_from_env(&c, err, sizeof(err)), 0, "%s", err);
    cr_assert(duro_codec_aes_has_key(c, "a1"));
    duro_codec_aes_free(c);
    unlink(path);
    free(path);
}

static void keep_line(duro_log_level level, const char *msg, void *arg)
{
    (void)level;
    snprintf(arg, 512, "%s", msg);
}

Test(codec, group_readable_key_file_warns)
{
    char *path = key_file(KEY_A);
    char line[512] = "";
    duro_log_set_sink(keep_line, line);
    duro_codec *c = NULL;
    char err[256];
    cr_assert_eq(duro_codec_aes_new(path, &c, err, sizeof(err)), 0);
    cr_assert_str_eq(line, ""); /* 0600: nothing to say */
    duro_codec_aes_free(c);
    chmod(path, 0644);
    cr_assert_eq(duro_codec_aes_new(path, &c, err, sizeof(err)), 0);
    cr_assert(strstr(line, "CODEC-KEY-FILE") && strstr(line, "mode=644"), "%s",
              line);
    duro_log_set_sink(NULL, NULL);
    duro_codec_aes_free(c);
    unlink(path);
    free(path);
}

/* ---- A codec of the user's own ---- */

/* hex_encode stores a payload as "hex:<hex of its text>"; hex_decode
 * counts its calls, so the test sees what Duro hands it. */
static int decodes;

static int hex_encode(void *arg, const char *json, size_t len, char **out,
                      char *err, size_t errsize)
{
    char *s = malloc(2 * len + 8);
    if (!s) return DURO_ENOMEM;
    int n = sprintf(s, "\"hex:");
    for (size_t i = 0; i < len; i++)
        n += sprintf(s + n, "%02x", (unsigned char)json[i]);
    strcpy(s + n, "\"");
    *out = s;
    return 0;
}

static int hex_decode(void *arg, const char *json, size_t len, char **out,
                      char *err, size_t errsize)
{
    decodes++;
    if (len < 6 || strncmp(json, "\"hex:", 5) != 0) return DURO_CODEC_PLAIN;
    size_t n = (len - 6) / 2;
    char *s = malloc(n + 1);
    if (!s) return DURO_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        char hex[3] = {json[5 + 2 * i], json[5 + 2 * i + 1], 0}, *end;
        unsigned long v = strtoul(hex, &end, 16);
        if (!hex[0] || !hex[1] || *end) {
            free(s);
            snprintf(err, errsize, "bad hex");
            return DURO_ECODEC;
        }
        s[i] = (char)v;
    }
    s[n] = '\0';
    *out = s;
    return 0;
}

Test(codec, own_codec_hooks_are_applied)
{
    duro_codec hex = {.encode = hex_encode, .decode = hex_decode};
    cJSON *v = cJSON_Parse("{\"a\":[1,\"x\"]}");
    char *s = NULL, err[256] = "";
    cr_assert_eq(duro_codec_encode_json(&hex, v, &s, err, sizeof(err)), 0);
    cr_assert(strncmp(s, "\"hex:7b", 7) == 0, "%s", s);
    cJSON *back = NULL;
    cr_assert_eq(duro_codec_parse(&hex, s, 100, &back, err, sizeof(err)), 0,
                 "%s", err);
    cr_assert(cJSON_Compare(v, back, 1));
    cJSON_Delete(back);
    /* the size limit applies to the decoded payload */
    cr_assert_eq(duro_codec_parse(&hex, s, 5, &back, err, sizeof(err)),
                 DURO_ETOOBIG);
    /* only strings reach decode: other values are plain by construction */
    decodes = 0;
    cr_assert_eq(duro_codec_parse(&hex, "{\"a\":1}", 100, &back, err, 256), 0);
    cJSON_Delete(back);
    cJSON *d = cJSON_Parse("{\"result\":[1],\"input\":{\"x\":1}}");
    cr_assert_eq(duro_codec_decode_item(&hex, d, "result", err, 256), 0);
    cr_assert_eq(decodes, 0);
    /* a string it did not write is left alone */
    cJSON *p = cJSON_Parse("{\"result\":\"plain\"}");
    cr_assert_eq(duro_codec_decode_item(&hex, p, "result", err, 256), 0);
    cr_assert_eq(decodes, 1);
    cr_assert_str_eq(cJSON_GetObjectItem(p, "result")->valuestring, "plain");
    /* one that decodes to bad JSON is an error, and stays as it was */
    cJSON *bad = cJSON_Parse("{\"result\":\"hex:7b7b\"}");
    cr_assert_eq(duro_codec_decode_item(&hex, bad, "result", err, 256),
                 DURO_ECODEC);
    cr_assert_str_eq(cJSON_GetObjectItem(bad, "result")->valuestring,
                     "hex:7b7b");
    cJSON_Delete(bad);
    cJSON_Delete(p);
    cJSON_Delete(d);
    cJSON_Delete(v);
    free(s);
}
