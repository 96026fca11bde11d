/* harness_task.c: a workflow task claimed and committed by hand
 * (harness_task.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "duro/fcall.h"
#include "harness_task.h"

void duro_test_task_init(duro_test_harness *h, duro_test_task *t,
                         const char *id)
{
    memset(t, 0, sizeof(*t));
    snprintf(t->id, sizeof(t->id), "%s", id);
    t->r = duro_test_redis(h);
    t->c = duro_test_client(h);
    int parts = duro_client_partitions(t->c);
    t->p = duro_partition_of(id, parts);
    duro_test_start(t->c, id, "t", id, NULL, 0);
    duro_wf_keys_init(&t->k, DURO_KEYSPACE_DEFAULT(parts), id, NULL);
    redisReply *rep = duro_test_cmd(t->r, "HGET", t->k.wf, "run", NULL);
    cr_assert(rep->type == REDIS_REPLY_STRING);
    snprintf(t->run, sizeof(t->run), "%s", rep->str);
    freeReplyObject(rep);
    duro_wf_keys_init(&t->k, DURO_KEYSPACE_DEFAULT(parts), id, t->run);
    duro_wf_keys_queues(&t->k, id, id);
    const char *streams[] = {t->k.wft, t->k.act};
    for (int i = 0; i < 2; i++)
        freeReplyObject(redisCommand(t->r, "XGROUP CREATE %s %s 0 MKSTREAM",
                                     streams[i], DURO_GROUP));
    duro_test_claim_task(t->r, t->k.wft, "t", "token", t->entry,
                         sizeof(t->entry), t->token, sizeof(t->token));
    snprintf(t->member, sizeof(t->member), "l|%s|1|1|%s|%s|%s", t->run, id, id,
             id);
}

void duro_test_task_free(duro_test_task *t)
{
    redisFree(t->r);
    duro_client_free(t->c);
}

redisReply *duro_test_task_commit_cmds(duro_test_task *t,
                                       const char *const *fields, int nfields,
                                       int ncmd, int eager)
{
    duro_argv cmds, a;
    duro_argv_init(&cmds);
    for (int i = 0; i < nfields; i++)
        duro_argv_push(&cmds, fields[i]);
    const char *acts[] = {t->k.act};
    duro_fcall_commit c = {.wtc_data = "{}",
                           .ncmd = ncmd,
                           .cmds = &cmds,
                           .nacts = 1,
                           .acts = acts};
    if (eager != DURO_TEST_EAGER_NONE) {
        c.eager_consumer = "w1";
        c.eager_n = 4;
        c.eager_stream = t->k.act;
        c.eager_lease = eager == DURO_TEST_EAGER_LEASES;
    }
    duro_fcall_task ft = {.run = t->run, .token = t->token, .entry = t->entry};
    duro_fcall_wft_complete(&a, &t->k, &ft, &c);
    redisReply *rep = redisCommandArgv(t->r, a.argc, a.argv, a.lens);
    duro_argv_free(&a);
    duro_argv_free(&cmds);
    cr_assert(rep, "redis: %s", t->r->errstr);
    /* flat: ok, ..., stream, count, id, {fields}: a lease id starts with L */
    if (c.eager_lease && rep->type == REDIS_REPLY_ARRAY && rep->elements == 6 &&
        rep->element[4]->type == REDIS_REPLY_STRING &&
        rep->element[4]->str[0] == 'L') {
        snprintf(t->lease, sizeof(t->lease), "%s", rep->element[4]->str);
        t->started = strtoll(t->lease + 1, NULL, 10);
    }
    return rep;
}

redisReply *duro_test_task_commit(duro_test_task *t, const char *opts,
                                  const char *stc, const char *hbt,
                                  const char *stc2, bool lease)
{
    const char *fields[] = {"activity", "1",  "{\"seq\":1}", "9", "echo",
                            "null",     opts, stc,           hbt, stc2};
    redisReply *rep = duro_test_task_commit_cmds(
        t, fields, 10, 1,
        lease ? DURO_TEST_EAGER_LEASES : DURO_TEST_EAGER_ENTRIES);
    cr_assert(rep->type == REDIS_REPLY_ARRAY, "%s",
              rep->type == REDIS_REPLY_ERROR ? rep->str : "?");
    return rep;
}
