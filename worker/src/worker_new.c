/* worker_new.c: making a worker from its options (checked, copied, the
 * environment's defaults filled in) and registering the workflows and
 * activities it runs; worker.c runs and frees it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "duro/errno.h"
#include "duro/ids.h"
#include "duro/json.h"
#include "duro/keys.h"
#include "duro/log.h"
#include "duro/redis.h"
#include "worker_internal.h"

int duro_worker_new(duro_worker **out, const duro_worker_opts *o)
{
    static const duro_worker_opts none;
    if (!o) o = &none;
    *out = NULL;
    if (o->workflow_stack_size != 0 &&
        (o->workflow_stack_size < DURO__CORO_STACK_MIN ||
         o->workflow_stack_size > DURO__CORO_STACK_MAX))
        return DURO_EINVAL;
    if (duro_namespace_check(duro_namespace_default(o->namespace_), NULL, 0)) {
        duro_error("CONFIG bad namespace \"%s\"",
                   duro_namespace_default(o->namespace_));
        return DURO_EINVAL;
    }
    duro_worker *w = calloc(1, sizeof(*w));
    if (!w) return DURO_ENOMEM;
    w->redis_url =
        strdup(o->redis_url ? o->redis_url : duro_redis_url_default());
    w->task_queue = o->task_queue ? strdup(o->task_queue) : NULL;
    w->activity_threads = o->activity_threads > 0 ? o->activity_threads : 8;
    w->max_workflow_tasks =
        o->max_workflow_tasks > 0 ? o->max_workflow_tasks : 256;
    w->cache_size = o->cache_size > 0 ? o->cache_size : 10000;
    w->partitions = o->partitions > 0 ? o->partitions : 0; /* 0: not given */
    duro_keyspace_init(&w->ks, duro_namespace_default(o->namespace_),
                       w->partitions);
    w->stall_timeout_ms = o->redis_stall_timeout_ms > 0
                              ? o->redis_stall_timeout_ms
                              : DURO_REDIS_STALL_TIMEOUT_MS;
    w->loop_stall_ms =
        o->loop_stall_timeout_ms > 0 ? o->loop_stall_timeout_ms : 60000;
    w->max_payload =
        o->max_payload > 0 ? o->max_payload : DURO_DEFAULT_MAX_PAYLOAD;
    w->shutdown_grace_ms =
        o->shutdown_grace_ms > 0 ? o->shutdown_grace_ms : 30000;
    w->workflow_stack_size = o->workflow_stack_size;
    w->codec = o->codec;
    const char *eager = getenv("DURO_EAGER_ACTIVITIES");
    w->eager_acts =
        o->eager_activities >= 0 && !(eager && strcmp(eager, "0") == 0);
    const char *batch = getenv("DURO_SCHED_BATCH");
    w->sched_batch = o->sched_batch >= 0 && !(batch && strcmp(batch, "0") == 0);
    const char *wait = getenv("DURO_ACTIVITY_WAIT_MS");
    char *end = NULL;
    long long wait_ms = wait && *wait ? strtoll(wait, &end, 10) : 0;
    if (end && *end) wait_ms = 0; /* not a number: the default */
    w->act_wait_ms =
        wait_ms > 0 && wait_ms <= 60000 ? wait_ms : DURO__ACT_WAIT_MS;
    w->sticky_ms = o->sticky_schedule_to_start_ms < 0 ? 0
                   : o->sticky_schedule_to_start_ms > 0
                       ? o->sticky_schedule_to_start_ms
                       : DURO_STICKY_SCHEDULE_TO_START_MS;
    if (o->identity) {
        w->identity = strdup(o->identity);
    } else {
        char host[128] = "worker", id[DURO_UUID_LEN + 1];
        gethostname(host, sizeof(host) - 1);
        duro_uuid_v4(id);
        if (asprintf(&w->identity, "%s-%d-%.8s", host, (int)getpid(), id) < 0)
            w->identity = NULL;
    }
    if (o->metrics_addr && *o->metrics_addr)
        w->metrics_addr = strdup(o->metrics_addr);
    w->hb_mu_ready = pthread_mutex_init(&w->hb_mu, NULL) == 0;
    if (!w->redis_url || !w->identity || !w->hb_mu_ready ||
        (o->task_queue && !w->task_queue) ||
        (o->metrics_addr && *o->metrics_addr && !w->metrics_addr)) {
        duro_worker_free(w);
        return DURO_ENOMEM;
    }
    if (o->log_level) {
        int level = duro__log_level_parse(o->log_level);
        if (level < 0) {
            duro_error("CONFIG unknown log level \"%s\"", o->log_level);
            duro_worker_free(w);
            return DURO_EINVAL;
        }
        duro_log_set_level((duro_log_level)level);
    }
    *out = w;
    return 0;
}

int duro__log_level_parse(const char *name)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0) return i; /* duro_log_level order */
    return -1;
}

int duro_worker_register_workflow(duro_worker *w, const char *type,
                                  duro_workflow_fn fn)
{
    char err[128];
    if (!fn)
        return duro__worker_seterr(w, DURO_EINVAL, "workflow %s: no function",
                                   type ? type : "(null)");
    if (duro_name_check("workflow type", type, err, sizeof(err)) != 0)
        return duro__worker_seterr(w, DURO_EINVAL, "%s", err);
    wf_reg *r = calloc(1, sizeof(*r));
    if (!r || !(r->type = strdup(type))) {
        free(r);
        return duro__worker_seterr(w, DURO_ENOMEM, "out of memory");
    }
    r->fn = fn;
    r->next = w->workflows;
    w->workflows = r;
    return 0;
}

int duro_worker_register_activity(duro_worker *w, const char *name,
                                  duro_activity_fn fn, void *arg)
{
    char err[128];
    if (!fn)
        return duro__worker_seterr(w, DURO_EINVAL, "activity %s: no function",
                                   name ? name : "(null)");
    if (duro_name_check("activity name", name, err, sizeof(err)) != 0)
        return duro__worker_seterr(w, DURO_EINVAL, "%s", err);
    act_reg *r = calloc(1, sizeof(*r));
    if (!r || !(r->name = strdup(name))) {
        free(r);
        return duro__worker_seterr(w, DURO_ENOMEM, "out of memory");
    }
    r->fn = fn;
    r->arg = arg;
    r->next = w->activities;
    w->activities = r;
    return 0;
}
