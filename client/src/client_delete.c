/* client_delete.c: duro_client_delete, a run removed at once as its
 * namespace's retention would remove it later (FCALL duro_purge). It
 * reads which run it removes, then acts on that run alone: a run that
 * started in between (continue-as-new, signal-with-start, a new start of
 * the id) is neither terminated nor removed. */
#include <stdio.h>
#include <string.h>

#include "client_int.h"

/* purge: FCALL duro_purge for run (k names its history); 1 removed,
 * 0 nothing of it found, or DURO_E*. */
static int purge(duro_client *c, const duro_wf_keys *k, const char *id,
                 const char *run)
{
    duro_argv a;
    duro_fcall_purge(&a, k, run, 0);
    int rc;
    redisReply *r = duro__call(c, &a, true, &rc);
    duro_argv_free(&a);
    if (!r) return rc;
    long long v = 0;
    if (r->type == REDIS_REPLY_ERROR) {
        int code = duro_redis_error_code(r->str ? r->str : "");
        rc = duro__fail(c, code, "delete %s: redis: %.300s", id,
                        r->str ? r->str : "");
    } else if (!duro__reply_int(r, &v)) {
        rc = duro__fail(c, DURO_EPROTO, "duro_purge gave a malformed reply");
    }
    freeReplyObject(r);
    return rc < 0 ? rc : (int)v;
}

/* ---- Read, then act ---- */

int duro__delete_read(duro_client *c, const char *workflow_id,
                      const char *run_id, duro__delete_target *t)
{
    memset(t, 0, sizeof(*t));
    if (run_id && duro__check_run(run_id) < 0)
        return duro__fail(c, DURO_EINVAL, "bad run id");
    duro__wf_head h;
    int rc = duro__read_head(c, workflow_id, &h);
    if (rc < 0 && rc != DURO_ENOTFOUND) return rc;
    const char *run = run_id ? run_id : h.run;
    if (!*run)
        return duro__fail(c, DURO_ENOTFOUND, "workflow %s not found",
                          workflow_id);
    snprintf(t->run, sizeof(t->run), "%s", run);
    t->running = strcmp(run, h.run) == 0 && strcmp(h.status, "RUNNING") == 0;
    return 0;
}

int duro__delete_act(duro_client *c, const char *workflow_id,
                     const duro__delete_target *t)
{
    if (t->running) {
        /* Temporal terminates a running execution before deleting it:
         * this run only. DURO_ESTALE (another run replaced it: that one
         * is not ours to end), DURO_ENOTRUNNING and DURO_ENOTFOUND all
         * say it closed meanwhile; duro_purge judges what is left. */
        int rc = duro__terminate_run(c, workflow_id, t->run, "deleted");
        if (rc < 0 && rc != DURO_ENOTRUNNING && rc != DURO_ESTALE &&
            rc != DURO_ENOTFOUND)
            return rc;
    }
    duro_wf_keys k;
    duro_wf_keys_init(&k, duro__ks(c), workflow_id, t->run);
    int rc = purge(c, &k, workflow_id, t->run);
    if (rc < 0) return rc;
    if (rc == 0)
        return duro__fail(c, DURO_ENOTFOUND, "workflow %s run %s not found",
                          workflow_id, t->run);
    return 0;
}

int duro_client_delete(duro_client *c, const char *workflow_id,
                       const char *run_id)
{
    duro__delete_target t;
    int rc = duro__delete_read(c, workflow_id, run_id, &t);
    return rc < 0 ? rc : duro__delete_act(c, workflow_id, &t);
}
