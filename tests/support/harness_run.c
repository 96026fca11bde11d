/* harness_run.c: a workflow run driven by hand through the Functions
 * (harness_run.h). */
#include "harness_run.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness_lua.h"

void duro_test_run_suffixed(char *out, const char *base, int prio,
                            const char *fkey)
{
    if (fkey)
        snprintf(out, DURO_TEST_RUN_KEY_LEN, "%s~%s", base, fkey);
    else if (prio)
        snprintf(out, DURO_TEST_RUN_KEY_LEN, "%s!%d", base, prio);
    else
        snprintf(out, DURO_TEST_RUN_KEY_LEN, "%s", base);
}

void duro_test_run_init(duro_test_harness *h, duro_test_wf *w, const char *id,
                        int prio, const char *fkey, bool sharded)
{
    memset(w, 0, sizeof(*w));
    w->r = duro_test_redis(h);
    duro_client *c = duro_test_client(h);
    w->parts = duro_client_partitions(c);
    duro_client_free(c);
    duro_test_lua_load(w->r, sharded);
    snprintf(w->id, sizeof(w->id), "%s%s", id, sharded ? "-c" : "");
    w->prio = prio;
    w->fkey = fkey;
    w->p = duro_partition_of(w->id, w->parts);
    duro_wf_keys_init(&w->k, DURO_KEYSPACE_DEFAULT(w->parts), w->id, "r1");
    duro_wf_keys_queues(&w->k, w->id, w->id);
    duro_test_run_suffixed(w->task, w->k.wft, prio, fkey);
    duro_test_run_suffixed(w->act, w->k.act, prio, fkey);
}

duro_wf_keys duro_test_run_keys(const duro_test_wf *w, const char *run,
                                const char *queue)
{
    duro_wf_keys k = w->k;
    duro_wf_keys_init(&k, DURO_KEYSPACE_DEFAULT(w->parts), w->id, run);
    duro_wf_keys_queues(&k, queue, queue);
    return k;
}

redisReply *duro_test_argv_call(redisContext *r, duro_argv *a)
{
    redisReply *rep = redisCommandArgv(r, a->argc, a->argv, a->lens);
    duro_argv_free(a);
    cr_assert(rep, "redis: %s", r->errstr);
    return rep;
}

void duro_test_run_ok(redisReply *rep, const char *what)
{
    cr_assert(rep->type != REDIS_REPLY_ERROR, "%s: %s", what, rep->str);
    freeReplyObject(rep);
}

duro_fcall_start_args duro_test_run_start_args(const duro_test_wf *w,
                                               const char *run)
{
    duro_fcall_start_args s = {.id = w->id,
                               .run = run,
                               .type = "t",
                               .queue = w->id,
                               .input = "null",
                               .started_data = "{}",
                               .wft_timeout_ms = 10000,
                               .priority = w->prio,
                               .fairness_key = w->fkey};
    return s;
}

redisReply *duro_test_run_start(duro_test_wf *w)
{
    duro_argv a;
    duro_fcall_start_args s = duro_test_run_start_args(w, "r1");
    duro_fcall_start(&a, &w->k, &s, NULL, NULL);
    return duro_test_argv_call(w->r, &a);
}

void duro_test_run_claim(duro_test_wf *w, const char *s, const char *field,
                         char *entry, size_t esize, char *value, size_t vsize)
{
    freeReplyObject(
        redisCommand(w->r, "XGROUP CREATE %s %s 0 MKSTREAM", s, DURO_GROUP));
    duro_test_claim_task(w->r, s, "t", field, entry, esize, value, vsize);
}

duro_wf_keys duro_test_run_task_keys(const duro_test_wf *w)
{
    duro_wf_keys k = w->k;
    snprintf(k.wft, sizeof(k.wft), "%.*s", (int)sizeof(k.wft) - 1, w->task);
    return k;
}

redisReply *duro_test_run_commit(duro_test_wf *w, const char *const *cmd, int n,
                                 int ncmd, const char *const *acts, int nacts,
                                 const char *sticky)
{
    duro_argv cmds, a;
    duro_argv_init(&cmds);
    for (int i = 0; i < n; i++)
        duro_argv_push(&cmds, cmd[i]);
    duro_fcall_commit c = {.wtc_data = "{}",
                           .ncmd = ncmd,
                           .cmds = &cmds,
                           .nacts = nacts,
                           .acts = acts,
                           .sticky = sticky,
                           .sticky_ms = sticky ? 600000 : 0};
    duro_fcall_task t = {.run = "r1", .token = w->token, .entry = w->entry};
    duro_wf_keys k = duro_test_run_task_keys(w);
    duro_fcall_wft_complete(&a, &k, &t, &c);
    redisReply *rep = duro_test_argv_call(w->r, &a);
    duro_argv_free(&cmds);
    return rep;
}

void duro_test_run_started(duro_test_wf *w)
{
    duro_test_run_ok(duro_test_run_start(w), "start");
    duro_test_run_claim(w, w->task, "token", w->entry, sizeof(w->entry),
                        w->token, sizeof(w->token));
}

void duro_test_run_idle(duro_test_wf *w)
{
    duro_test_run_started(w);
    duro_test_run_ok(duro_test_run_commit(w, NULL, 0, 0, NULL, 0, NULL),
                     "commit");
}

void duro_test_run_acting(duro_test_wf *w, const char *opts)
{
    duro_test_run_started(w);
    const char *cmd[] = {"activity", "1",  "{\"seq\":1}", "9", "echo",
                         "null",     opts, "600000",      "0", "0"};
    const char *acts[] = {w->k.act};
    duro_test_run_ok(duro_test_run_commit(w, cmd, 10, 1, acts, 1, NULL),
                     "commit activity");
    duro_test_run_claim(w, w->act, "attempt", w->aentry, sizeof(w->aentry),
                        w->attempt, sizeof(w->attempt));
}

duro_fcall_attempt duro_test_run_attempt(const duro_test_wf *w, duro_wf_keys *k)
{
    *k = w->k;
    snprintf(k->act, sizeof(k->act), "%.*s", (int)sizeof(k->act) - 1, w->act);
    duro_fcall_attempt at = {.run = "r1",
                             .seq = "1",
                             .attempt = strtoll(w->attempt, NULL, 10),
                             .entry = w->aentry};
    return at;
}

void duro_test_run_each(duro_test_harness *h, const char *name, int f0, int f1,
                        int nv, void (*body)(duro_test_wf *))
{
    static const struct {
        int prio;
        const char *fkey;
    } flows[] = {{2, NULL}, {0, "k"}, {0, NULL}};
    cr_assert(f0 >= 0 && f1 <= 3 && f0 < f1 && nv > 0);
    for (int c = 0; c < 2; c++)
        for (int f = f0; f < f1; f++)
            for (int v = 0; v < nv; v++) {
                char id[64];
                snprintf(id, sizeof(id), "%s-%d-%d", name, f, v);
                duro_test_wf w;
                duro_test_run_init(h, &w, id, flows[f].prio, flows[f].fkey, c);
                w.f = f;
                w.v = v;
                body(&w);
                redisFree(w.r);
            }
    duro_test_finish(h);
}

void duro_test_run_leased(duro_test_wf *w)
{
    duro_test_run_started(w);
    const char *cmd[] = {"activity", "1",  "{\"seq\":1}", "9", "echo",
                         "null",     "{}", "600000",      "0", "0"};
    duro_argv cmds, a;
    duro_argv_init(&cmds);
    for (int i = 0; i < 10; i++)
        duro_argv_push(&cmds, cmd[i]);
    const char *acts[] = {w->k.act};
    duro_fcall_commit c = {.wtc_data = "{}",
                           .ncmd = 1,
                           .cmds = &cmds,
                           .nacts = 1,
                           .acts = acts,
                           .eager_consumer = "w1",
                           .eager_n = 4,
                           .eager_stream = w->k.act,
                           .eager_lease = true};
    duro_fcall_task t = {.run = "r1", .token = w->token, .entry = w->entry};
    duro_wf_keys k = duro_test_run_task_keys(w);
    duro_fcall_wft_complete(&a, &k, &t, &c);
    duro_test_run_ok(duro_test_argv_call(w->r, &a), "leased commit");
    duro_argv_free(&cmds);
}

void duro_test_run_timer(const duro_test_wf *w, const char *prefix, char *out,
                         size_t size)
{
    redisReply *m = duro_test_cmd(w->r, "ZRANGE", w->k.timers, "0", "-1", NULL);
    size_t i = 0;
    while (i < m->elements &&
           strncmp(m->element[i]->str, prefix, strlen(prefix)) != 0)
        i++;
    cr_assert(i < m->elements, "%s: no timer %s", w->id, prefix);
    snprintf(out, size, "%s", m->element[i]->str);
    freeReplyObject(m);
}

redisReply *duro_test_run_fire(duro_test_wf *w, const char *member,
                               const char *act)
{
    duro_wf_keys k = w->k;
    snprintf(k.act, sizeof(k.act), "%.*s", (int)sizeof(k.act) - 1, act);
    duro_argv a;
    duro_fcall_timer_fire(&a, &k, member, strlen(member));
    return duro_test_argv_call(w->r, &a);
}

redisReply *duro_test_run_fire_now(duro_test_wf *w, const char *member,
                                   const char *act)
{
    freeReplyObject(
        duro_test_cmd(w->r, "ZADD", w->k.timers, "1", member, NULL));
    return duro_test_run_fire(w, member, act);
}

redisReply *duro_test_run_wft_timeout(duro_test_wf *w)
{
    duro_fcall_task t = {.run = "r1", .token = w->token, .entry = w->entry};
    duro_wf_keys k = duro_test_run_task_keys(w);
    duro_argv a;
    duro_fcall_wft_timeout(&a, &k, &t, 60000);
    return duro_test_argv_call(w->r, &a);
}

redisReply *duro_test_run_xfer(duro_test_wf *w, int n, const char *body)
{
    char outbox[DURO_TEST_RUN_KEY_LEN], mark[DURO_TEST_RUN_KEY_LEN], rid[64];
    snprintf(rid, sizeof(rid), "%s.%d", w->id, n);
    snprintf(outbox, sizeof(outbox), "duro:{p%d}:outbox", w->p);
    snprintf(mark, sizeof(mark), "duro:{p%d}:xd:%s", w->p, rid);
    const duro_wf_keys *k = &w->k;
    const char *keys[] = {k->wf, k->hist,     k->buf,        k->wft, k->timers,
                          k->pa, k->idx_open, k->idx_closed, outbox, mark};
    duro_argv a;
    duro_argv_fcall(&a, "duro_xfer_apply", 10, keys);
    duro_argv_push(&a, rid);
    duro_argv_push(&a, body);
    return duro_test_argv_call(w->r, &a);
}

char *duro_test_probe_in(redisContext *r, int p, const char *key)
{
    duro_test_key_swap_in(r, key);
    return duro_test_partition_dump(r, p);
}

void duro_test_wrongtype(redisReply *rep, const char *key, const char *what)
{
    cr_assert(rep->type == REDIS_REPLY_ERROR &&
                  strstr(rep->str, "DURO_WRONGTYPE") && strstr(rep->str, key),
              "%s, %s a string: answered %s", what, key,
              rep->type == REDIS_REPLY_ERROR ? rep->str : "no error");
    freeReplyObject(rep);
}

void duro_test_probe_refused(redisContext *r, int p, const char *key,
                             char *before, redisReply *rep, const char *what)
{
    char *after = duro_test_partition_dump(r, p);
    duro_test_wrongtype(rep, key, what);
    cr_assert(strcmp(before, after) == 0,
              "%s, %s a string: the call wrote before it failed", what, key);
    free(before);
    free(after);
    duro_test_key_swap_out(r, key);
}
