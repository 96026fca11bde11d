/* harness_aredis.c: an async connection opened, used and closed by a test. */
#include "harness_aredis.h"

#include <criterion/criterion.h>
#include <string.h>

#include "duro/redis.h"
#include "duro/config.h"
#include "harness.h"

duro_aredis *duro_test_aredis_open(uv_loop_t *loop, const char *url,
                                   const char *name)
{
    cr_assert_eq(uv_loop_init(loop), 0);
    duro_redis_url u;
    char err[256];
    cr_assert_eq(duro_redis_url_parse(url, &u, err, sizeof(err)), 0, "%s", err);
    duro_aredis *r = NULL;
    cr_assert_eq(duro_aredis_new(&r, loop, &u, name, NULL, NULL), 0);
    int64_t end = duro_test_mono_ms() + 10000;
    while (!duro_aredis_connected(r) && duro_test_mono_ms() < end) {
        uv_run(loop, UV_RUN_NOWAIT);
        duro_test_sleep_ms(2);
    }
    cr_assert(duro_aredis_connected(r), "%s not connected", name);
    return r;
}

void duro_test_aredis_close(uv_loop_t *loop, duro_aredis *r)
{
    duro_aredis_close(r);
    int64_t end = duro_test_mono_ms() + 5000;
    while (uv_run(loop, UV_RUN_NOWAIT) && duro_test_mono_ms() < end)
        duro_test_sleep_ms(1);
    cr_assert_eq(uv_loop_close(loop), 0, "handles left open");
}

void duro_test_aredis_send(duro_aredis *r, duro_aredis_cb cb, void *arg,
                           int argc, const char **argv, const size_t *lens)
{
    duro_argv a;
    duro_argv_init(&a);
    for (int i = 0; i < argc; i++)
        duro_argv_pushn(&a, argv[i], lens ? lens[i] : strlen(argv[i]));
    cr_assert_eq(duro_aredis_command(r, cb, arg, &a), 0);
    duro_argv_free(&a);
}
