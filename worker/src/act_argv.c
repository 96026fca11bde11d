/* act_argv.c: the Function calls of an activity attempt (its completion,
 * with an eager commit, and its hand-back), built from its duro_actx. */
#include <stdint.h>

#include "commit.h"
#include "duro/fcall.h"
#include "worker_internal.h"

static void keys_init(duro_wf_keys *k, const duro_actx *c)
{
    duro_wf_keys_init(k, &c->w->ks, c->id, c->run);
    duro_wf_keys_queues(k, c->wfqueue, c->actqueue);
}

static duro_fcall_attempt attempt_of(const duro_actx *c)
{
    return (duro_fcall_attempt){
        .run = c->run, .seq = c->seq, .attempt = c->attempt, .entry = c->entry};
}

void duro__act_complete_argv(duro_actx *c, const char *data, int64_t delay,
                             const char *failure, const duro__commit *cm,
                             int64_t expected, duro_wf_keys *ks, duro_argv *a)
{
    keys_init(ks, c);
    duro_fcall_attempt at = attempt_of(c);
    duro_fcall_act_result res = {.failed = c->failed,
                                 .data = data,
                                 .retry_delay_ms = delay,
                                 .failure = failure};
    duro_fcall_commit eager = {0};
    const char *acts[DURO_MAX_ACT_QUEUES];
    if (cm) {
        for (int i = 0; i < cm->nextra; i++)
            acts[i] = cm->extra[i];
        eager = (duro_fcall_commit){.wtc_data = cm->wtc,
                                    .ncmd = cm->ncmd,
                                    .cmds = &cm->args,
                                    .nacts = cm->nextra,
                                    .acts = acts,
                                    .sticky = c->w->sticky_keys ? c->w->identity
                                                                : NULL,
                                    .sticky_ms = c->w->sticky_ms};
        eager.eager_stream =
            duro__act_eager_ask(c->w, c->partition, cm, &eager.eager_n);
        eager.eager_consumer = c->w->identity;
        eager.eager_lease = true; /* library 35: no stream entry */
        c->eager_n = eager.eager_n;
    }
    duro_fcall_act_complete(a, ks, &at, &res, expected, cm ? &eager : NULL);
}

void duro__act_release_argv(const duro_actx *c, duro_wf_keys *ks, duro_argv *a)
{
    keys_init(ks, c);
    duro_fcall_attempt at = attempt_of(c);
    duro_fcall_act_release(a, ks, &at);
    if (c->defer_ms > 0) duro_argv_pushll(a, (long long)c->defer_ms);
}
