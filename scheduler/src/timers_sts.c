/* timers_sts.c: a schedule-to-start timeout's retry delay (timers_sts.h).
 *
 * The activity's options are in its schedule record "<seq>.s"
 * (common/src/pa_record.c), or, for a run in flight across the upgrade to
 * library 28, in the field "<seq>.opts" of the layout before (the Function
 * rewrites that layout on its first call, which the fire is). Both absent:
 * the activity is over and the Function finds nothing to do, so no delay.
 * A schedule record that does not parse is damaged: firing without a
 * retry would end an activity its policy may retry, so the caller keeps
 * the timer instead and says so. */
#include <cjson/cJSON.h>

#include "duro/json.h"
#include "duro/pa_record.h"
#include "duro/reply.h"
#include "duro/retry_policy.h"
#include "timers_sts.h"

bool timers_sts_delay(const redisReply *reply, long long attempt,
                      int64_t *delay)
{
    *delay = -1;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) return true;
    const redisReply *rec = reply->element[0], *old = reply->element[1];
    duro_pa_sched sc;
    duro_pa_part o = {NULL, 0};
    if (duro__reply_str(rec)) {
        if (!duro_pa_sched_parse(rec->str, rec->len, &sc)) return false;
        o = sc.opts;
    } else if (duro__reply_str(old)) {
        o = (duro_pa_part){old->str, old->len};
    }
    cJSON *opts = NULL;
    char err[128];
    if (o.s &&
        duro_json_parse(o.s, o.len, DURO_DEFAULT_MAX_PAYLOAD, &opts, err,
                        sizeof(err)) == 0 &&
        cJSON_IsObject(opts))
        *delay = duro__retry_delay_of(
            opts, attempt > 1000000 ? 1000000 : (int)attempt, "TimeoutError",
            false);
    cJSON_Delete(opts);
    return true;
}
