/* test_resp.c: the transport's in-place command formatter writes what
 * hiredis's redisFormatCommandArgv writes (common/async/transport_resp.c). */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "transport_resp.h"

TestSuite(resp, .timeout = 5);

/* same_as_hiredis formats argv both ways and compares the bytes. */
static void same_as_hiredis(int argc, const char **argv, const size_t *lens)
{
    char *want = NULL;
    int wlen = redisFormatCommandArgv(&want, argc, argv, lens);
    cr_assert_gt(wlen, 0);
    size_t len = duro__resp_len(argc, argv, lens);
    cr_assert_eq(len, (size_t)wlen, "length %zu, hiredis %d", len, wlen);
    char *got = malloc(len + 1);
    got[len] = 'X'; /* not written past the length it gave */
    char *end = duro__resp_put(got, argc, argv, lens);
    cr_assert_eq((size_t)(end - got), len);
    cr_assert_eq(got[len], 'X');
    cr_assert_eq(memcmp(got, want, len), 0, "bytes differ from hiredis's");
    free(got);
    redisFreeCommand(want);
}

Test(resp, one_argument_and_empty_ones)
{
    const char *argv[] = {"PING", "", "x"};
    size_t lens[] = {4, 0, 1};
    same_as_hiredis(1, argv, lens);
    same_as_hiredis(3, argv, lens);
}

Test(resp, binary_bytes_kept)
{
    const char bin[] = {'a', '\0', '\r', '\n', '$', '*', 'z'};
    const char *argv[] = {"SET", "k", bin};
    size_t lens[] = {3, 1, sizeof(bin)};
    same_as_hiredis(3, argv, lens);
}

Test(resp, lengths_across_digit_boundaries)
{
    static char buf[100001];
    memset(buf, 'v', sizeof(buf));
    const size_t sizes[] = {9, 10, 11, 99, 100, 101, 999, 1000, 12345, 100000};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        const char *argv[] = {"SET", "k", buf};
        size_t lens[] = {3, 1, sizes[i]};
        same_as_hiredis(3, argv, lens);
    }
}

Test(resp, argument_counts_across_digit_boundaries)
{
    enum { MAX = 1001 };
    static const char *argv[MAX];
    static size_t lens[MAX];
    static char words[MAX][8];
    for (int i = 0; i < MAX; i++) {
        lens[i] = (size_t)snprintf(words[i], sizeof(words[i]), "a%d", i);
        argv[i] = words[i];
    }
    const int counts[] = {9, 10, 11, 99, 100, 101, 1000, 1001};
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
        same_as_hiredis(counts[i], argv, lens);
}
