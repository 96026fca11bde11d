/* fuzz_redis_url.c: libFuzzer target for duro_redis_url_parse (--redis
 * flags and $DURO_REDIS_URL), whose fields are fixed-size buffers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "duro/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    duro_redis_url u;
    char err[size % 2 ? 256 : 8];
    if (duro_redis_url_parse(s, &u, err, sizeof(err)) == 0) {
        if (!memchr(u.host, '\0', sizeof(u.host)) || !u.host[0] ||
            !memchr(u.user, '\0', sizeof(u.user)) ||
            !memchr(u.password, '\0', sizeof(u.password)) || u.port < 1 ||
            u.port > 65535 || u.db < 0)
            abort();
    } else if (!memchr(err, '\0', sizeof(err))) {
        abort();
    }
    free(s);
    return 0;
}
