/* harness_run.h: a workflow run driven by hand through the Functions, with
 * no client and no worker: started, its tasks and attempts claimed and
 * committed by the test, for the tests of what one call checks and writes
 * (test_wft_probe.c, test_task_probe_edges.c, test_act_retry_probe.c).
 * duro_test_task (harness_task.h) is the same with a client's run id and
 * its eager tail; this one names its run "r1" and gives it a priority or a
 * fairness key. */
#ifndef DURO_HARNESS_RUN_H
#define DURO_HARNESS_RUN_H

#include <stdbool.h>

#include "duro/fcall.h"
#include "duro/keys.h"
#include "harness.h"

/* DURO_TEST_RUN_KEY_LEN: room for a key with a suffix (a level's `!n`, a
 * fairness key's `~k`) past the longest key duro_keys makes. */
enum { DURO_TEST_RUN_KEY_LEN = DURO_KEY_MAX + 16 };

/* duro_test_wf: run "r1" of workflow id on queue id (its activities on
 * queue id too), with priority prio (0: none) or fairness key fkey (NULL:
 * none); its own connection r (the caller redisFrees it). */
typedef struct {
    redisContext *r;
    duro_wf_keys k; /* k.wft, k.act: the queue's plain streams */
    int parts, p, prio;
    const char *fkey;
    char id[40];
    char task[DURO_TEST_RUN_KEY_LEN]; /* where its workflow tasks go */
    char act[DURO_TEST_RUN_KEY_LEN];  /* where its activities go */
    char entry[64], token[32];        /* the workflow task claimed */
    char aentry[64], attempt[16];     /* the activity attempt claimed */
    int f, v; /* the test's own: which of its flows and variants this is */
} duro_test_wf;

/* duro_test_run_init: w as above, its id `id` (with "-c" when sharded),
 * the library (DURO_TEST_LUA's or the built one) loaded on h's server:
 * its Cluster copy when sharded. */
void duro_test_run_init(duro_test_harness *h, duro_test_wf *w, const char *id,
                        int prio, const char *fkey, bool sharded);

/* duro_test_run_suffixed: base with the level's (`!prio`) or the fairness
 * key's (`~fkey`) suffix, the key w's flow writes in place of base; base
 * itself when neither. out has DURO_TEST_RUN_KEY_LEN bytes. */
void duro_test_run_suffixed(char *out, const char *base, int prio,
                            const char *fkey);

/* duro_test_run_keys: w's keys for its run `run` on queue `queue` (its
 * activities too), as a continue-as-new or a reset names the new run. */
duro_wf_keys duro_test_run_keys(const duro_test_wf *w, const char *run,
                                const char *queue);

/* duro_test_argv_call: the command a (an FCALL duro_fcall_* built) run on
 * r, a freed; the reply, asserted not NULL (the caller frees it). */
redisReply *duro_test_argv_call(redisContext *r, duro_argv *a);

/* duro_test_run_ok: rep asserted no error (what names the call), freed. */
void duro_test_run_ok(redisReply *rep, const char *what);

/* duro_test_run_start_args: w's start as run `run` (type "t", input null,
 * workflow task timeout 10 s, w's priority and fairness key); it borrows
 * w's strings. */
duro_fcall_start_args duro_test_run_start_args(const duro_test_wf *w,
                                               const char *run);

/* duro_test_run_start: duro_start of w's run r1 (caller frees the reply). */
redisReply *duro_test_run_start(duro_test_wf *w);

/* duro_test_run_claim: the next entry of stream s as a worker "t" reads
 * it (the group made if missing): its id in entry, its field in value. */
void duro_test_run_claim(duro_test_wf *w, const char *s, const char *field,
                         char *entry, size_t esize, char *value, size_t vsize);

/* duro_test_run_task_keys: w's keys with wft the stream its task was read
 * from (w->task). */
duro_wf_keys duro_test_run_task_keys(const duro_test_wf *w);

/* duro_test_run_commit: duro_wft_complete of w's claimed task with ncmd
 * commands (n words cmd), their streams acts[0..nacts), by sticky worker
 * sticky (NULL: none, else kept 10 min); the reply (caller frees it). */
redisReply *duro_test_run_commit(duro_test_wf *w, const char *const *cmd, int n,
                                 int ncmd, const char *const *acts, int nacts,
                                 const char *sticky);

/* duro_test_run_started: w started, its first task claimed (asserts). */
void duro_test_run_started(duro_test_wf *w);

/* duro_test_run_idle: started, its first task committed with no command:
 * no task outstanding (asserts). */
void duro_test_run_idle(duro_test_wf *w);

/* duro_test_run_acting: started, its first task committed scheduling
 * activity 1 ("echo", options opts, start-to-close 10 min) on the run's
 * activity queue, its first attempt claimed from w->act (asserts). */
void duro_test_run_acting(duro_test_wf *w, const char *opts);

/* duro_test_run_attempt: w's claimed attempt of activity 1, and in k w's
 * keys with act the stream it was read from (w->act); it borrows w's
 * strings. */
duro_fcall_attempt duro_test_run_attempt(const duro_test_wf *w,
                                         duro_wf_keys *k);

/* duro_test_run_each: body(w) for a fresh run `name`-f-v of each flow f
 * in [f0, f1) (0: priority 2; 1: fairness key "k"; 2: neither; in w->f)
 * and each variant v < nv (w->v), with the library and with its Cluster
 * copy; then duro_test_finish(h). */
void duro_test_run_each(duro_test_harness *h, const char *name, int f0, int f1,
                        int nv, void (*body)(duro_test_wf *));

/* duro_test_run_leased: started, its first task committed scheduling
 * activity 1 ("echo", start-to-close 10 min) on the run's activity queue,
 * leased to the committing worker "w1" (asserts). */
void duro_test_run_leased(duro_test_wf *w);

/* duro_test_run_timer: the member of w's timers starting with prefix,
 * copied to out (asserts there is one). */
void duro_test_run_timer(const duro_test_wf *w, const char *prefix, char *out,
                         size_t size);

/* duro_test_run_fire: duro_timer_fire of timer member as it stands (a
 * scheduler's retry, another scheduler's fire), w's keys with act as the
 * activity stream; the reply (caller frees it). */
redisReply *duro_test_run_fire(duro_test_wf *w, const char *member,
                               const char *act);

/* duro_test_run_fire_now: timer member made due at 1, then fired
 * (duro_test_run_fire). */
redisReply *duro_test_run_fire_now(duro_test_wf *w, const char *member,
                                   const char *act);

/* duro_test_run_wft_timeout: duro_wft_timeout of w's claimed task (its
 * next try in 60 s); the reply (caller frees it). */
redisReply *duro_test_run_wft_timeout(duro_test_wf *w);

/* duro_test_run_xfer: duro_xfer_apply of record `<id>.<n>` (body) to w's
 * partition, as another partition's workflow sends it; the reply (caller
 * frees it). */
redisReply *duro_test_run_xfer(duro_test_wf *w, int n, const char *body);

/* ---- A key made a string: the call refused whole ---- */

/* duro_test_probe_in: key made a string (duro_test_key_swap_in); the dump
 * of partition p after it (duro_test_partition_dump), which
 * duro_test_probe_refused compares and frees. */
char *duro_test_probe_in(redisContext *r, int p, const char *key);

/* duro_test_probe_refused: rep (the call made with key a string) asserted
 * DURO_WRONGTYPE naming key, partition p asserted as it was when before
 * was dumped (the call wrote nothing), rep and before freed; key put back
 * (duro_test_key_swap_out). what names the call in a failure. */
void duro_test_probe_refused(redisContext *r, int p, const char *key,
                             char *before, redisReply *rep, const char *what);

/* duro_test_wrongtype: rep asserted DURO_WRONGTYPE naming key (what names
 * the call in a failure), freed. */
void duro_test_wrongtype(redisReply *rep, const char *key, const char *what);

#endif
