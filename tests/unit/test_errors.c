/* test_errors.c: error codes, and what a Redis error reply means. */
#include <criterion/criterion.h>
#include "duro/errno.h"
#include "duro/redis.h"

TestSuite(errors, .timeout = 5);

Test(errors, function_refusals_map_by_their_first_word)
{
    cr_assert_eq(duro_redis_error_code("DURO_STALE token"), DURO_ESTALE);
    cr_assert_eq(duro_redis_error_code("DURO_ALREADY_STARTED r1"),
                 DURO_EALREADY);
    cr_assert_eq(duro_redis_error_code("DURO_NOT_FOUND x"), DURO_ENOTFOUND);
    cr_assert_eq(duro_redis_error_code("DURO_NOT_RUNNING COMPLETED"),
                 DURO_ENOTRUNNING);
    cr_assert_eq(duro_redis_error_code("DURO_BADARG n"), DURO_EINVAL);
    cr_assert_eq(duro_redis_error_code("DURO_WRONGTYPE duro:{p3}:h:o1:r is a "
                                       "string, expected stream"),
                 DURO_EPROTO);
    cr_assert_eq(duro_redis_error_code("DURO_CORRUPT duro:{p3}:h:o1:r has "
                                       "event 9-0 past its length 4"),
                 DURO_EPROTO);
    /* a prefix of a word is not the word */
    cr_assert_eq(duro_redis_error_code("DURO_STALEX"), DURO_EREDIS);
}

Test(errors, a_server_that_cannot_serve_now_is_transient)
{
    static const char *const replies[] = {
        "OOM command not allowed when used memory > 'maxmemory'.",
        "BUSY Redis is busy running a script.",
        "LOADING Redis is loading the dataset in memory",
        "READONLY You can't write against a read only replica.",
        "TRYAGAIN Multiple keys request during rehashing of slot",
        "MASTERDOWN Link with MASTER is down",
        "CLUSTERDOWN The cluster is down",
        "NOREPLICAS Not enough good replicas to write."};
    for (size_t i = 0; i < sizeof(replies) / sizeof(replies[0]); i++) {
        int code = duro_redis_error_code(replies[i]);
        cr_assert_eq(code, DURO_EAGAIN, "%s", replies[i]);
        cr_assert(duro_err_is_transient(code), "%s", replies[i]);
    }
    cr_assert(duro_err_is_transient(DURO_ECONN));
}

Test(errors, credentials_and_wrong_types_are_not_transient)
{
    cr_assert_eq(duro_redis_error_code("WRONGPASS invalid username-password "
                                       "pair or user is disabled."),
                 DURO_EAUTH);
    cr_assert_eq(duro_redis_error_code("NOAUTH Authentication required."),
                 DURO_EAUTH);
    cr_assert_eq(duro_redis_error_code("NOPERM this user has no permissions"),
                 DURO_EAUTH);
    cr_assert_eq(duro_redis_error_code("WRONGTYPE Operation against a key "
                                       "holding the wrong kind of value"),
                 DURO_EPROTO);
    cr_assert_eq(duro_redis_error_code("ERR unknown command"), DURO_EREDIS);
    cr_assert_eq(duro_redis_error_code(NULL), DURO_EREDIS);
    cr_assert_not(duro_err_is_transient(DURO_EAUTH));
    cr_assert_not(duro_err_is_transient(DURO_EPROTO));
    cr_assert_not(duro_err_is_transient(DURO_ESTALE));
    cr_assert_str_eq(duro_err_name(DURO_EAGAIN), "EAGAIN");
}
