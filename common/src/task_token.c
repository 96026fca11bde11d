/* task_token.c: activity task tokens (task_token.h): hex of
 * {"v":1,"ns","id","run","seq","attempt","entry","wfq","actq"}. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/errno.h"
#include "duro/json.h"
#include "duro/task_token.h"

#define TOKEN_VERSION 1

int duro_task_token_encode(const duro_task_token *t, char **out)
{
    *out = NULL;
    cJSON *j = cJSON_CreateObject();
    if (!j) return DURO_ENOMEM;
    cJSON_AddNumberToObject(j, "v", TOKEN_VERSION);
    cJSON_AddStringToObject(j, "ns", t->ns);
    cJSON_AddStringToObject(j, "id", t->id);
    cJSON_AddStringToObject(j, "run", t->run);
    cJSON_AddStringToObject(j, "seq", t->seq);
    cJSON_AddNumberToObject(j, "attempt", (double)t->attempt);
    cJSON_AddStringToObject(j, "entry", t->entry);
    cJSON_AddStringToObject(j, "wfq", t->wfqueue);
    cJSON_AddStringToObject(j, "actq", t->actqueue);
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!text) return DURO_ENOMEM;
    size_t n = strlen(text);
    char *hex = malloc(2 * n + 1);
    if (hex) {
        static const char digits[] = "0123456789abcdef";
        for (size_t i = 0; i < n; i++) {
            hex[2 * i] = digits[(unsigned char)text[i] >> 4];
            hex[2 * i + 1] = digits[(unsigned char)text[i] & 15];
        }
        hex[2 * n] = '\0';
    }
    cJSON_free(text);
    *out = hex;
    return hex ? 0 : DURO_ENOMEM;
}

static int nibble(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* unhex: token's bytes, or NULL (not hex, odd length, or no memory). */
static char *unhex(const char *token)
{
    size_t n = strlen(token);
    if (n == 0 || n % 2 || n > DURO_TASK_TOKEN_MAX) return NULL;
    char *s = malloc(n / 2 + 1);
    if (!s) return NULL;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = nibble(token[2 * i]), lo = nibble(token[2 * i + 1]);
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            free(s);
            return NULL;
        }
        s[i] = (char)(hi << 4 | lo);
    }
    s[n / 2] = '\0';
    return s;
}

static char *field(const cJSON *j, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
    return cJSON_IsString(v) && v->valuestring[0] ? strdup(v->valuestring)
                                                  : NULL;
}

int duro_task_token_decode(const char *token, duro_task_token *t, char *err,
                           size_t errsize)
{
    memset(t, 0, sizeof(*t));
    char *text = token ? unhex(token) : NULL;
    cJSON *j = NULL;
    char why[128];
    if (!text || duro_json_parse(text, strlen(text), DURO_TASK_TOKEN_MAX, &j,
                                 why, sizeof(why)) != 0) {
        free(text);
        snprintf(err, errsize, "not a task token");
        return DURO_EINVAL;
    }
    free(text);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "v");
    const cJSON *at = cJSON_GetObjectItemCaseSensitive(j, "attempt");
    t->ns = field(j, "ns");
    t->id = field(j, "id");
    t->run = field(j, "run");
    t->seq = field(j, "seq");
    t->entry = field(j, "entry");
    t->wfqueue = field(j, "wfq");
    t->actqueue = field(j, "actq");
    t->attempt = cJSON_IsNumber(at) ? (long long)at->valuedouble : 0;
    bool ok = cJSON_IsNumber(v) && v->valueint == TOKEN_VERSION && t->ns &&
              t->id && t->run && t->seq && t->entry && t->wfqueue &&
              t->actqueue && t->attempt >= 1;
    cJSON_Delete(j);
    if (!ok) {
        duro_task_token_free(t);
        snprintf(err, errsize, "not a task token (fields missing)");
        return DURO_EINVAL;
    }
    return 0;
}

void duro_task_token_free(duro_task_token *t)
{
    free(t->ns);
    free(t->id);
    free(t->run);
    free(t->seq);
    free(t->entry);
    free(t->wfqueue);
    free(t->actqueue);
    memset(t, 0, sizeof(*t));
}
