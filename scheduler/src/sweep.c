/* sweep.c: retention. Each scan, every partition's vx:close index (every
 * closed run, older runs of a reused id too, scored by close time) is read
 * for runs closed longer ago than their namespace's retention (one batch
 * of --batch runs, then again at once while batches come back full); the
 * run's visibility row names its workflow; each run is archived first
 * when --archive-dir is set (from its row and history), then removed by
 * duro_purge, which checks again inside Redis what it may remove. A
 * sweep killed between the two archives the run again next time. The
 * hash and history also expire by themselves a little later (duro.lua,
 * close): the sweep is what removes the rows and index entries. The
 * entries a batch leaves (a run whose row is gone, whose archive or purge
 * failed) are stepped over by the next batches of the pass (LIMIT offset),
 * and met again by the next pass, which starts from 0 once a batch comes
 * back short: a batch full of them never stalls the sweep.
 *
 * Upgrade: the idx:open/idx:closed indexes of a library before this one
 * are migrated first (duro_vis_backfill writes the rows a closed run
 * lacks, so it lands in vx:close, and removes the entries) until both are
 * empty, once per partition per scheduler start. */
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
    int removed; /* duro_purge removed it: its entry is gone */
} item;

/* batch_done: the batch's last item answered. A full batch goes on past
 * the entries it left (at once, or at the next scan after a failure); a
 * short one ends the pass. */
static void batch_done(part *pt)
{
    pt->sweeping = 0;
    if (!pt->sweep_full) {
        pt->sweep_off = 0;
        return;
    }
    pt->sweep_off += pt->sweep_left;
    if (!pt->sweep_failed && !pt->s->stopping) sweep_part(pt);
}

static void item_done(item *it, int ok)
{
    part *pt = it->pt;
    if (!it->removed) pt->sweep_left++;
    cJSON_Delete(it->meta);
    free(it);
    if (!ok) pt->sweep_failed = 1;
    if (--pt->sweep_inflight == 0) batch_done(pt);
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
        it->removed = 1;
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

/* on_row: HGETALL vis:<run> (archiving) or HMGET vis:<run> id. */
static void on_row(duro_aredis *r, redisReply *reply, void *arg)
{
    item *it = arg;
    part *pt = it->pt;
    if (!reply || reply->type != REDIS_REPLY_ARRAY) {
        item_done(it, 0);
        return;
    }
    const char *id =
        pt->s->archive_dir
            ? field(reply, "id")
            : duro__reply_str(reply->elements ? reply->element[0] : NULL);
    char err[128];
    if (!id || duro_id_check(id, err, sizeof(err)) ||
        duro_partition_of(id, pt->ns->ks.partitions) != pt->p) {
        /* an index entry without a row names no workflow to purge it
         * through: only written by hand (rows and entries change in the
         * same Function call) */
        duro_warn_limited(NULL, "SWEEP SKIPPED ns=%s run=%s reason=no row",
                          pt->ns->ks.ns, it->run);
        item_done(it, 0);
        return;
    }
    snprintf(it->id, sizeof(it->id), "%s", id);
    if (!pt->s->archive_dir) {
        purge(it);
        return;
    }
    const char *status = field(reply, "status");
    if (status && strcmp(status, "RUNNING") == 0) {
        /* a running run's id in vx:close (by hand): duro_purge would keep
         * it, but its archive line would be written again every pass */
        duro_warn_limited(NULL, "SWEEP SKIPPED ns=%s run=%s reason=running",
                          pt->ns->ks.ns, it->run);
        item_done(it, 0);
        return;
    }
    if (!(it->meta = archive_meta(pt->ns, reply, it->run))) {
        item_done(it, 0);
        return;
    }
    duro_wf_keys k;
    duro_wf_keys_init(&k, &pt->ns->ks, it->id, it->run);
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "LRANGE");
    duro_argv_push(&a, k.hist);
    duro_argv_push(&a, "0");
    duro_argv_push(&a, "-1");
    if (send_item(it, on_history, &a) != 0) item_done(it, 0);
}

static void start_item(part *pt, int64_t cutoff, const char *run)
{
    item *it = calloc(1, sizeof(*it));
    if (!it) return;
    it->pt = pt;
    it->cutoff = cutoff;
    snprintf(it->run, sizeof(it->run), "%s", run);
    pt->sweep_inflight++;
    char key[DURO_KEY_MAX];
    duro_key_vis(key, sizeof(key), &pt->ns->ks, pt->p, run);
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, pt->s->archive_dir ? "HGETALL" : "HMGET");
    duro_argv_push(&a, key);
    if (!pt->s->archive_dir) duro_argv_push(&a, "id");
    if (send_item(it, on_row, &a) != 0) item_done(it, 0);
}

/* batch: what a ZRANGEBYSCORE's callback needs. */
typedef struct {
    part *pt;
    int64_t cutoff;
} batch;

static void on_runs(duro_aredis *r, redisReply *reply, void *arg)
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
    pt->sweep_failed = 0;
    pt->sweep_left = 0;
    /* held until the loop is done, so no item finishes the batch early */
    pt->sweep_inflight++;
    char err[128];
    for (size_t i = 0; i < reply->elements; i++) {
        const char *run = duro__reply_str(reply->element[i]);
        if (!run || strlen(run) > RUN_MAX ||
            duro_name_check("run", run, err, sizeof(err))) {
            pt->sweep_left++;
            continue;
        }
        start_item(pt, cutoff, run);
    }
    if (--pt->sweep_inflight == 0) batch_done(pt);
}

static void migrate(part *pt);

static void on_migrated(duro_aredis *r, redisReply *reply, void *arg)
{
    part *pt = arg;
    pt->migrating = 0;
    int bit = pt->idx_left & 1 ? 1 : 2;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 2 ||
        reply->element[0]->type != REDIS_REPLY_INTEGER) {
        if (duro__reply_is_error(reply)) {
            sched_redis_error(pt->s);
            duro_warn_limited(NULL, "MIGRATE FAILED ns=%s p=%d err=%s",
                              pt->ns->ks.ns, pt->p, reply->str);
        }
        return; /* again next scan */
    }
    long long written = 0;
    duro__reply_int(reply->element[1], &written);
    if (written > 0)
        duro_info("MIGRATE ns=%s p=%d index=%s rows=%lld", pt->ns->ks.ns, pt->p,
                  bit == 1 ? "open" : "closed", written);
    if (reply->element[0]->integer < 0)
        pt->idx_left &= ~bit;
    else if (!pt->s->stopping)
        migrate(pt); /* a full batch: the rest at once */
}

/* migrate moves a batch of the partition's old idx:open (then idx:closed)
 * entries to visibility rows; a call that finds the index empty ends it. */
static void migrate(part *pt)
{
    if (pt->migrating || !pt->idx_left) return;
    const char *key = pt->idx_key[pt->idx_left & 1 ? 0 : 1];
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "FCALL");
    duro_argv_push(&a, "duro_vis_backfill");
    duro_argv_push(&a, "1");
    duro_argv_push(&a, key);
    duro_argv_push(&a, "0");
    duro_argv_pushll(&a, pt->s->batch);
    if (sched_cmd(pt->s, on_migrated, pt, &a) == 0) pt->migrating = 1;
    duro_argv_free(&a);
}

void sweep_part(part *pt)
{
    sched *s = pt->s;
    if (pt->sweeping || s->stopping || !pt->ns->live) return;
    migrate(pt);
    batch *b = malloc(sizeof(*b));
    if (!b) return;
    b->pt = pt;
    b->cutoff = sched_now_ms(s) - pt->ns->retention_ms;
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "ZRANGEBYSCORE");
    duro_argv_push(&a, pt->vx_close_key);
    duro_argv_push(&a, "-inf");
    duro_argv_pushll(&a, b->cutoff);
    duro_argv_push(&a, "LIMIT");
    duro_argv_pushll(&a, pt->sweep_off);
    duro_argv_pushll(&a, s->batch);
    if (sched_cmd(s, on_runs, b, &a) == 0)
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
