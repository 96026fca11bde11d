/* ids.h: workflow ids, run ids and task queue names. */
#ifndef DURO_IDS_H
#define DURO_IDS_H

#include <stddef.h>
#include "duro/export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DURO_ID_MAX 1000   /* bytes in a workflow id */
#define DURO_QUEUE_MAX 200 /* bytes in a task queue or type name */
#define DURO_UUID_LEN 36

/* duro_uuid_v4 writes a random version-4 uuid (36 chars + NUL) into out. */
DURO_EXPORT void duro_uuid_v4(char out[DURO_UUID_LEN + 1]);

/* duro_id_check: 0 if `id` is a valid workflow id (1..DURO_ID_MAX bytes,
 * no control characters, not only spaces), else DURO_EINVAL with a reason
 * in err. */
DURO_EXPORT int duro_id_check(const char *id, char *err, size_t errsize);

/* duro_id_check_input: duro_id_check, and well-formed UTF-8 (else
 * DURO_EINVAL naming the byte), for an id that enters (a start, a
 * schedule, a child): ids already stored pass duro_id_check alone, so
 * that they can still be read, signalled and closed. */
DURO_EXPORT int duro_id_check_input(const char *id, char *err, size_t errsize);

/* duro_name_check: 0 if `name` is a valid task queue, workflow type,
 * activity, signal or query name: 1..DURO_QUEUE_MAX bytes of
 * [A-Za-z0-9._:-] (no '|', no spaces), else DURO_EINVAL with a reason. */
DURO_EXPORT int duro_name_check(const char *what, const char *name, char *err,
                                size_t errsize);

#ifdef __cplusplus
}
#endif
#endif
