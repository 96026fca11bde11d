/* sweep.c: retention. Each scan, every partition's closed index is read
 * for runs closed longer ago than their namespace's retention (one batch
 * of --batch ids, then again at once while batches come back full); each
 * run is archived first when --archive-dir is set, then removed by
 * duro_purge, which checks again inside Redis that it is still that
 * closed run. The hash and history also expire by themselves a little
 * later (duro.lua, close): the sweep is what removes the index entries. */
#include <stdlib.h>
#include <string.h>

#include "duro/fcall.h"
#include "duro/log.h"
#include "sched_internal.h"

#define RUN_MAX 64

/* item: one run being swept. */
typedef struct {
    part *pt;
    int64_t cutoff;
    char id[DURO_ID_MAX + 1];
    char run[RUN_MAX + 1];
    cJSON *meta; /* the run's fields for its archive line (archive_meta) */
} item;

static void item_done(item *it, int ok)
{
    part *pt = it->pt;
    cJSON_Delete(it->meta);
    free(it);
    if (!ok) pt->sweep_full = 0; /* not again at once: next scan */
    if (--pt->sweep_inflight > 0) return;
    pt->sweeping = 0;
    if (pt->sweep_full && !pt->s->stopping) sweep_part(pt);
}

static int send_item(item *it, duro_aredis_cb cb, duro_argv *a)
{
    int rc = sched_cmd(it->pt->s, cb, it, a);
    duro_argv_free(a);
    return rc;
}

static void on_purged(duro_aredis *r, redisReply *reply, void *arg)
{
    item *it = arg;
    long long v = 0;
    if (reply && duro__reply_int(reply, &v) && v == 1) {
        it->pt->s->st.swept++;
        stats_count(it->pt->s, M_SWEPT, "namespace", it->pt->ns->ks.ns);
        duro_debug("SWEEP ns=%s wf=%s run=%s", it->pt->ns->ks.ns, it->id,
                   it->run);
    } else if (duro__reply_is_error(reply)) {
        sched_redis_error(it->pt->s);
        duro_warn_limited(NULL, "SWEEP FAILED ns=%s wf=%s err=%s",
                          it->pt->ns->ks.ns, it->id, reply->str);
    }
    item_done(it, reply && !duro__reply_is_error(reply));
}

static void purge(item *it)
{
    duro_wf_keys k;
    duro_wf_keys_init(&k, &it->pt->ns->ks, it->id, it->run);
    duro_argv a;
    duro_fcall_purge(&a, &k, it->run, it->cutoff);
    if (send_item(it, on_purged, &a) != 0) item_done(it, 0);
}

static void archived(const item *it, const char *result)
{
    char labels[160] = "";
    duro_metrics_label(labels, sizeof(labels), "namespace", it->pt->ns->ks.ns);
    duro_metrics_label(labels, sizeof(labels), "result", result);
    duro_metrics_add(it->pt->s->m, M_ARCHIVED, labels, 1);
}

static void on_history(duro_aredis *r, redisReply *reply, void *arg)
{
    item *it = arg;
    if (!reply || reply->type != REDIS_REPLY_ARRAY ||
        archive_run(it->pt->s, it->pt->ns, it->meta, reply) != 0) {
        /* not archived, not removed: a later sweep tries again */
        it->pt->s->st.archive_errors++;
        archived(it, "failed");
        item_done(it, 0);
        return;
    }
    it->pt->s->st.archived++;
    archived(it, "ok");
    purge(it);
}

/* field: the value of name in an HGETALL reply, or NULL. */
static const char *field(const redisReply *h, const char *name)
{
    for (size_t i = 0; h && i + 1 < h->elements; i += 2)
        if (duro__reply_str(h->element[i]) &&
            strcmp(h->element[i]->str, name) == 0)
            return duro__reply_str(h->element[i + 1]);
    return NULL;
}

/* on_hash: HGETALL wf (archiving) or HMGET wf run. */
static void on_hash(duro_aredis *r, redisReply *reply, void *arg)
{
    item *it = arg;
    if (!reply || reply->type != REDIS_REPLY_ARRAY) {
        item_done(it, 0);
        return;
    }
    const char *run =
        it->pt->s->archive_dir
            ? field(reply, "run")
            : duro__reply_str(reply->elements ? reply->element[0] : NULL);
    char err[64];
    if (run && (strlen(run) > RUN_MAX ||
                duro_name_check("run", run, err, sizeof(err)))) {
        item_done(it, 0);
        return;
    }
    /* no hash (it expired): duro_purge only drops the index entry */
    snprintf(it->run, sizeof(it->run), "%s", run ? run : "0");
    if (!run || !it->pt->s->archive_dir ||
        strcmp(field(reply, "status") ? field(reply, "status") : "",
               "RUNNING") == 0) {
        purge(it);
        return;
    }
    if (!(it->meta = archive_meta(it->pt->ns, it->id, reply))) {
        item_done(it, 0);
        return;
    }
    duro_wf_keys k;
    duro_wf_keys_init(&k, &it->pt->ns->ks, it->id, it->run);
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "LRANGE");
    duro_argv_push(&a, k.hist);
    duro_argv_push(&a, "0");
    duro_argv_push(&a, "-1");
    if (send_item(it, on_history, &a) != 0) item_done(it, 0);
}

static void start_item(part *pt, int64_t cutoff, const char *id)
{
    item *it = calloc(1, sizeof(*it));
    if (!it) return;
    it->pt = pt;
    it->cutoff = cutoff;
    snprintf(it->id, sizeof(it->id), "%s", id);
    pt->sweep_inflight++;
    duro_wf_keys k;
    duro_wf_keys_init(&k, &pt->ns->ks, id, NULL);
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, pt->s->archive_dir ? "HGETALL" : "HMGET");
    duro_argv_push(&a, k.wf);
    if (!pt->s->archive_dir) duro_argv_push(&a, "run");
    if (send_item(it, on_hash, &a) != 0) item_done(it, 0);
}

/* batch: what a ZRANGEBYSCORE's callback needs. */
typedef struct {
    part *pt;
    int64_t cutoff;
} batch;

static void on_ids(duro_aredis *r, redisReply *reply, void *arg)
{
    batch *b = arg;
    part *pt = b->pt;
    int64_t cutoff = b->cutoff;
    free(b);
    if (!reply || pt->s->stopping || reply->type != REDIS_REPLY_ARRAY) {
        if (duro__reply_is_error(reply)) sched_redis_error(pt->s);
        pt->sweeping = 0;
        return;
    }
    pt->sweep_full = reply->elements >= (size_t)pt->s->batch;
    /* held until the loop is done, so no item finishes the batch early */
    pt->sweep_inflight++;
    char err[128];
    for (size_t i = 0; i < reply->elements; i++) {
        const char *id = duro__reply_str(reply->element[i]);
        if (!id || duro_id_check(id, err, sizeof(err)) ||
            duro_partition_of(id, pt->ns->ks.partitions) != pt->p)
            continue;
        start_item(pt, cutoff, id);
    }
    if (--pt->sweep_inflight == 0) {
        pt->sweeping = 0;
        /* a full batch of nothing sweepable would loop: next scan */
    }
}

void sweep_part(part *pt)
{
    sched *s = pt->s;
    if (pt->sweeping || s->stopping || !pt->ns->live) return;
    batch *b = malloc(sizeof(*b));
    if (!b) return;
    b->pt = pt;
    b->cutoff = sched_now_ms(s) - pt->ns->retention_ms;
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "ZRANGEBYSCORE");
    duro_argv_push(&a, pt->idx_closed_key);
    duro_argv_push(&a, "-inf");
    duro_argv_pushll(&a, b->cutoff);
    duro_argv_push(&a, "LIMIT");
    duro_argv_push(&a, "0");
    duro_argv_pushll(&a, s->batch);
    if (sched_cmd(s, on_ids, b, &a) == 0)
        pt->sweeping = 1;
    else
        free(b);
    duro_argv_free(&a);
}

void sweep_due(sched *s)
{
    FOR_EACH_PART(s, pt)
    sweep_part(pt);
}
