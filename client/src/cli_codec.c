/* cli_codec.c: the CLI's payload codec: the built-in one from
 * $DURO_CODEC_KEY_FILE, and what it shows for payloads it cannot decode. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "duro/codec.h"

static duro_codec *codec; /* this process's, freed at exit */
static bool noticed;      /* the notice is printed once per process */

static void free_codec(void)
{
    duro_codec_aes_free(codec);
    codec = NULL;
}

int cli_codec_setup(cli_ctx *ctx, char *err, size_t errsize)
{
    if (!codec) {
        int rc = duro_codec_aes_from_env(&codec, err, errsize);
        if (rc < 0) return rc;
        if (codec) atexit(free_codec);
    }
    duro_client_set_codec(ctx->client, codec);
    return 0;
}

/* notice says once why a payload shows as "<encrypted: key kid>". */
static void notice(const char *kid)
{
    if (noticed) return;
    noticed = true;
    const char *file = getenv(DURO_CODEC_KEY_FILE_ENV);
    if (!codec)
        fprintf(stderr,
                "duro: notice: payloads are encrypted (key %s); set "
                "DURO_CODEC_KEY_FILE to a key file that holds that key to "
                "read them\n",
                kid);
    else if (!duro_codec_aes_has_key(codec, kid))
        fprintf(stderr,
                "duro: notice: payloads are encrypted with key %s, which %s "
                "does not hold\n",
                kid, file ? file : "the key file");
    else
        fprintf(stderr,
                "duro: notice: a payload encrypted with key %s fails "
                "authentication: it was altered, or the key under that id "
                "changed\n",
                kid);
}

void cli_codec_mask(const cli_ctx *ctx, cJSON *v)
{
    char kid[DURO_CODEC_KEYID_MAX + 1];
    if (duro_codec_sealed(v, kid, sizeof(kid))) {
        notice(kid);
        if (ctx->json) return; /* kept: a later reader with the key decodes */
        char shown[DURO_CODEC_KEYID_MAX + 32];
        snprintf(shown, sizeof(shown), "<encrypted: key %s>", kid);
        cJSON_SetValuestring(v, shown);
        return;
    }
    for (cJSON *c = v ? v->child : NULL; c; c = c->next)
        cli_codec_mask(ctx, c);
}
