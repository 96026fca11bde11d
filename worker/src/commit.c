/* commit.c: encodes a workflow task's commands as Function arguments. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "commit.h"
#include "duro/errno.h"

/* key_index returns the KEYS index of key, naming it among the extra keys
 * if it is new; -1 when there are too many. */
static int key_index(duro__commit *c, int key_base, const char *key)
{
    for (int i = 0; i < c->nextra; i++)
        if (strcmp(c->extra[i], key) == 0) return key_base + i;
    if (c->nextra == DURO_MAX_ACT_QUEUES) return -1;
    snprintf(c->extra[c->nextra], sizeof(c->extra[0]), "%s", key);
    c->nacts[c->nextra] = 0;
    return key_base + c->nextra++;
}

/* stream_index: key_index of the activity stream for queue. */
static int stream_index(duro__commit *c, int partition, int key_base,
                        const char *queue)
{
    char key[DURO_KEY_MAX];
    duro_key_act(key, sizeof(key), c->ks, partition, queue);
    return key_index(c, key_base, key);
}

/* push_continue: the continue_as_new command; its new run's history and
 * its queue's shared workflow-task stream go among the extra keys. */
static int push_continue(duro__commit *c, int partition, int key_base,
                         const duro__cmd *m)
{
    duro_wf_keys k;
    duro_wf_keys_init(&k, c->ks, m->id, m->value);
    char wft[DURO_KEY_MAX];
    duro_key_wft(wft, sizeof(wft), c->ks, partition, m->queue);
    int hi = key_index(c, key_base, k.hist);
    int wi = hi < 0 ? -1 : key_index(c, key_base, wft);
    if (wi < 0) return DURO_EINVAL;
    duro_argv *a = &c->args;
    duro_argv_push(a, "continue_as_new");
    duro_argv_push(a, m->data);
    duro_argv_push(a, m->value);
    duro_argv_pushll(a, hi);
    duro_argv_pushll(a, wi);
    duro_argv_push(a, m->name);
    duro_argv_push(a, m->queue);
    duro_argv_push(a, m->input);
    duro_argv_pushll(a, m->ms);
    duro_argv_pushll(a, m->stc_ms);
    return 0;
}

int duro__commit_encode(duro__commit *c, const duro_keyspace *ks, int partition,
                        int key_base, duro__cmd *cmds, int64_t now)
{
    duro_argv *a = &c->args;
    duro_argv_init(a);
    c->cmds = cmds;
    c->ks = ks;
    c->ncmd = c->nextra = 0;
    snprintf(c->wtc, sizeof(c->wtc), "{\"now\":%" PRId64 "}", now);
    for (const duro__cmd *m = cmds; m; m = m->next, c->ncmd++) {
        int ki;
        switch (m->kind) {
        case CMD_ACTIVITY:
            if ((ki = stream_index(c, partition, key_base, m->queue)) < 0)
                return DURO_EINVAL;
            c->nacts[ki - key_base]++;
            duro_argv_push(a, "activity");
            duro_argv_pushll(a, m->seq);
            duro_argv_push(a, m->data);
            duro_argv_pushll(a, ki);
            duro_argv_push(a, m->name);
            duro_argv_push(a, m->input);
            duro_argv_push(a, m->opts);
            duro_argv_pushll(a, m->stc_ms);
            duro_argv_pushll(a, m->hbt_ms);
            duro_argv_pushll(a, m->s2c_ms);
            break;
        case CMD_TIMER:
            duro_argv_push(a, "timer");
            duro_argv_pushll(a, m->seq);
            duro_argv_push(a, m->data);
            duro_argv_pushll(a, m->ms);
            break;
        case CMD_CANCEL_TIMER:
            duro_argv_push(a, "cancel_timer");
            duro_argv_pushll(a, m->seq);
            duro_argv_push(a, m->data);
            break;
        case CMD_MARKER:
            duro_argv_push(a, "marker");
            duro_argv_push(a, m->data);
            break;
        case CMD_UPSERT_SA:
            duro_argv_push(a, "upsert_sa");
            duro_argv_push(a, m->data);
            break;
        case CMD_UPDATE_DONE:
            duro_argv_push(a, "update_done");
            duro_argv_push(a, m->name);
            duro_argv_push(a, m->data);
            duro_argv_push(a, m->value);
            break;
        case CMD_CANCEL_ACTIVITY:
            if ((ki = stream_index(c, partition, key_base, m->queue)) < 0)
                return DURO_EINVAL;
            duro_argv_push(a, "cancel_activity");
            duro_argv_pushll(a, m->seq);
            duro_argv_push(a, m->data);
            duro_argv_pushll(a, ki);
            break;
        case CMD_CHILD: /* docs/internals.md, "Crossing partitions" */
            duro_argv_push(a, "child");
            duro_argv_pushll(a, m->seq);
            duro_argv_push(a, m->data);
            duro_argv_push(a, m->target);
            duro_argv_push(a, m->name);
            duro_argv_push(a, m->queue);
            duro_argv_push(a, m->input);
            duro_argv_push(a, m->policy);
            duro_argv_push(a, m->close_policy);
            duro_argv_pushll(a, m->ms);
            duro_argv_pushll(a, m->stc_ms);
            break;
        case CMD_SIGNAL_EXT:
        case CMD_CANCEL_EXT:
            duro_argv_push(a, m->kind == CMD_SIGNAL_EXT ? "signal_ext"
                                                        : "cancel_ext");
            duro_argv_pushll(a, m->seq);
            duro_argv_push(a, m->data);
            duro_argv_push(a, m->target);
            duro_argv_push(a, m->target_run);
            duro_argv_push(a, m->value);
            break;
        case CMD_COMPLETE:
        case CMD_FAIL:
        case CMD_CANCEL_WORKFLOW:
            duro_argv_push(a, m->kind == CMD_COMPLETE ? "complete"
                              : m->kind == CMD_FAIL   ? "fail"
                                                      : "cancel");
            duro_argv_push(a, m->data);
            duro_argv_push(a, m->value);
            break;
        case CMD_CONTINUE_AS_NEW:
            if (push_continue(c, partition, key_base, m) < 0)
                return DURO_EINVAL;
            break;
        }
    }
    return 0;
}

int duro__commit_acts_to(const duro__commit *c, const char *key)
{
    for (int i = 0; key && i < c->nextra; i++)
        if (strcmp(c->extra[i], key) == 0) return c->nacts[i];
    return 0;
}

void duro__commit_free(duro__commit *c)
{
    duro_argv_free(&c->args);
    duro__cmds_free(c->cmds);
    c->cmds = NULL;
}
