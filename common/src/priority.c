/* priority.c: the stream names of priority levels (duro/priority.h). */
#include <stdio.h>
#include <string.h>

#include "duro/ids.h"
#include "duro/log.h"
#include "duro/priority.h"

char *duro_priority_key(char *buf, size_t size, const char *base, int level)
{
    int n = level == DURO_PRIORITY_DEFAULT
                ? snprintf(buf, size, "%s", base)
                : snprintf(buf, size, "%s!%d", base, level);
    duro_assert(n >= 0 && (size_t)n < size);
    return buf;
}

/* the suffix is "!" and one digit 1..5, at the end or before a fairness
 * key's "~<key>" */
static const char *suffix_of(const char *key)
{
    size_t n = strcspn(key, "~");
    if (n < 2 || key[n - 2] != '!' || key[n - 1] < '0' + DURO_PRIORITY_MIN ||
        key[n - 1] > '0' + DURO_PRIORITY_MAX)
        return NULL;
    return key + n - 2;
}

int duro_priority_of_key(const char *key)
{
    const char *s = suffix_of(key);
    return s ? s[1] - '0' : DURO_PRIORITY_DEFAULT;
}

size_t duro_priority_queue_len(const char *queue)
{
    return strcspn(queue, "!~"); /* neither occurs in a queue name */
}

int duro_priority_queue_check(const char *queue, char *err, size_t errsize)
{
    char name[DURO_QUEUE_MAX + 1];
    size_t n = queue ? duro_priority_queue_len(queue) : 0;
    if (n > DURO_QUEUE_MAX) n = DURO_QUEUE_MAX + 1; /* too long: refused */
    if (queue) snprintf(name, sizeof(name), "%.*s", (int)n, queue);
    return duro_name_check("queue", queue ? name : NULL, err, errsize);
}
