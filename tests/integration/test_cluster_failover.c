/* test_cluster_failover.c: a Redis Cluster of 3 masters with a replica
 * each; every commit waits for one replica (DURO_REDIS_WAIT=1). A master
 * is killed with SIGKILL while workflows run on it and on the others; its
 * replica is promoted, and every workflow completes with each activity
 * recorded once: nothing a program was told was written is lost. The
 * promoted master has no replica of its own until the killed one is
 * started again and rejoins as its replica: meanwhile its commits are
 * refused (NOREPLICAS) and sent again. Starts made during the failover
 * (from a thread) are retried as an application would (a transient
 * error), and complete too, through clients made before the kill and
 * after it. Without WAIT, the killed master never comes back. Both URL forms:
 * the seed URL names every master, the node URL names one that is not killed.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/keys.h"
#include "harness.h"

#define MASTERS 3
#define PARTITIONS 16
#define WORKFLOWS 24
#define DURING 6
#define STEPS 6
#define UP_MS 15000
#define PROMOTION_MS 30000
#define RESULT_MS 60000

static duro_test_harness h;

TestSuite(cluster_failover, .fini = duro_test_fini, .timeout = 300);

/* master_of: the master that serves workflow id's partition, or -1. */
static int master_of(const char *id)
{
    return duro_test_cluster_wf_master(&h, id, PARTITIONS);
}

/* try_start starts a workflow as an application would while the
 * cluster fails over: a transient error (connection lost, CLUSTERDOWN,
 * TRYAGAIN, a replica that did not confirm) is tried again until
 * deadline; a retry that finds the first attempt's run already there is
 * fine (the id's run is the same workflow). Returns the last code, with
 * the client's message in err; no assertion (a thread calls it). */
static int try_start(duro_client *c, const char *id, int64_t deadline,
                     char *err, size_t errsize)
{
    duro_start_opts o = {0};
    o.workflow_id = id;
    o.type = "activities";
    o.task_queue = "test";
    char input[32];
    snprintf(input, sizeof(input), "{\"n\":%d}", STEPS);
    o.input = input;
    o.id_reuse_policy = DURO_ID_REUSE_REJECT_DUPLICATE;
    char run[DURO_UUID_LEN + 1];
    int rc = DURO_ETIMEDOUT;
    for (int attempt = 0; duro_test_mono_ms() < deadline; attempt++) {
        rc = duro_client_start(c, &o, run);
        if (rc == 0 || (attempt > 0 && rc == DURO_EALREADY)) return 0;
        snprintf(err, errsize, "%s", duro_client_errstr(c));
        if (!duro_err_is_transient(rc)) break;
        duro_test_sleep_ms(200);
    }
    return rc;
}

static void start_across_failover(duro_client *c, const char *id)
{
    char err[256] = "";
    int rc =
        try_start(c, id, duro_test_mono_ms() + RESULT_MS, err, sizeof(err));
    cr_assert_eq(rc, 0, "start %s: %s (%s)", id, duro_strerror(rc), err);
}

/* during_starts: DURING starts made from a thread with its own client
 * while the test kills and brings back a master; checked after the
 * join (Criterion's assertions belong to the test's thread). */
typedef struct {
    const char *url;
    duro_client *early; /* made before the kill: the odd starts use it */
    char id[DURING][64];
    int rc[DURING];
    char err[DURING][256];
} during_starts;

static void *start_during(void *arg)
{
    during_starts *ds = arg;
    duro_client *c = NULL;
    char err[256] = "";
    /* one budget for all of them: the join is bounded */
    int64_t deadline = duro_test_mono_ms() + RESULT_MS;
    /* a client made while a master is down: made again as an application
     * would, on a transient error */
    int rc;
    while ((rc = duro_client_new(&c, ds->url, err, sizeof(err))) != 0 &&
           duro_err_is_transient(rc) && duro_test_mono_ms() < deadline)
        duro_test_sleep_ms(200);
    for (int i = 0; i < DURING; i++) {
        snprintf(ds->id[i], sizeof(ds->id[i]), "during-%d", i);
        duro_client *use = i % 2 ? ds->early : c;
        ds->rc[i] = use == c && rc ? rc
                                   : try_start(use, ds->id[i], deadline,
                                               ds->err[i], sizeof(ds->err[i]));
        if (use == c && rc) snprintf(ds->err[i], sizeof(ds->err[i]), "%s", err);
        duro_test_sleep_ms(100);
    }
    duro_client_free(c);
    return NULL;
}

/* assert_complete: COMPLETED with [0..STEPS-1] (waiting through the
 * failover), each activity's completion recorded once. */
static void assert_complete(duro_client *c, const char *id)
{
    cJSON *d = duro_test_result_retrying(c, id, RESULT_MS);
    duro_test_assert_echoed(d, id, STEPS);
    cJSON_Delete(d);
    cJSON *hist = NULL;
    int rc = duro_client_history(c, id, NULL, &hist);
    cr_assert_eq(rc, 0, "history of %s: %s", id, duro_strerror(rc));
    cr_assert_eq(duro_test_count_events(hist, "ActivityScheduled"), STEPS, "%s",
                 id);
    cr_assert_eq(duro_test_count_events(hist, "ActivityCompleted"), STEPS, "%s",
                 id);
    cJSON_Delete(hist);
}

/* progressed: some workflow on master m has completed an activity (the
 * kill comes mid-run, not before the work). */
static bool progressed(duro_client *c, char ids[WORKFLOWS][64], int m)
{
    for (int i = 0; i < WORKFLOWS; i++) {
        if (master_of(ids[i]) != m) continue;
        cJSON *hist = NULL;
        if (duro_client_history(c, ids[i], NULL, &hist) != 0) continue;
        int n = duro_test_count_events(hist, "ActivityCompleted");
        cJSON_Delete(hist);
        if (n >= 1) return true;
    }
    return false;
}

/* run_failover: the workload, the kill, and the checks. seed: the
 * programs and the client are given the seed URL, else the URL of one
 * master that is not the victim. wait_one: DURO_REDIS_WAIT=1, and the
 * killed master is brought back (as the new one's replica); else
 * DURO_REDIS_WAIT=0 and it never comes back. */
static void run_failover(bool seed, bool wait_one)
{
    duro_test_cluster_opts co = {.appendonly = "no", .node_timeout_ms = 1000};
    duro_test_cluster_start(&h, MASTERS, 1, &co);
    char ids[WORKFLOWS][64];
    for (int i = 0; i < WORKFLOWS; i++)
        snprintf(ids[i], sizeof(ids[i]), "fo-%d", i);
    /* the victim: the master of fo-0's partition */
    int victim = master_of(ids[0]);
    cr_assert_geq(victim, 0);
    char url[512];
    if (seed) {
        snprintf(url, sizeof(url), "%s", h.cluster.seed_url);
    } else {
        int other = duro_test_cluster_master(&h, victim);
        snprintf(url, sizeof(url), "redis://127.0.0.1:%d",
                 h.cluster.node[other].port);
    }
    setenv("DURO_REDIS_URL", url, 1);
    setenv("DURO_REDIS_WAIT", wait_one ? "1" : "0", 1);
    pid_t pids[2];
    duro_test_spawn_scheduler_and_worker(&h, UP_MS, pids);
    duro_client *c = duro_test_client_url(url);
    int on_victim = 0;
    for (int i = 0; i < WORKFLOWS; i++) {
        start_across_failover(c, ids[i]);
        on_victim += master_of(ids[i]) == victim;
    }
    cr_assert_geq(on_victim, 2, "only %d workflows on the victim", on_victim);
    cr_assert(duro_test_wait_until(progressed(c, ids, victim), 20000),
              "no workflow on the victim made progress");

    duro_client *early = duro_test_client_url(url);
    duro_test_cluster_kill(&h, victim);
    /* an application keeps starting workflows through the failover, from
     * a thread of its own: those on the dead master's slots wait for the
     * promotion (CLUSTERDOWN, a lost connection), then for a replica to
     * confirm them (NOREPLICAS), which the restart below brings */
    during_starts ds = {.url = url, .early = early};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, start_during, &ds), 0);
    int now = duro_test_cluster_wait_promotion(&h, victim, PROMOTION_MS);
    cr_assert(h.cluster.node[now].master);
    /* the promoted master has no replica to confirm WAIT 1 (its commits
     * are refused NOREPLICAS, and retried) until the old master is back
     * as its replica, as an operator would bring the machine back */
    if (wait_one) {
        duro_test_sleep_ms(1000);
        duro_test_cluster_restart(&h, victim, PROMOTION_MS);
        cr_assert_eq(h.cluster.node[victim].master_idx, now);
    }
    pthread_join(t, NULL);
    duro_client_free(early);
    for (int i = 0; i < DURING; i++)
        cr_assert_eq(ds.rc[i], 0, "start %s across the failover: %s (%s)",
                     ds.id[i], duro_strerror(ds.rc[i]), ds.err[i]);

    for (int i = 0; i < WORKFLOWS; i++)
        assert_complete(c, ids[i]);
    for (int i = 0; i < DURING; i++)
        assert_complete(c, ds.id[i]);
    /* the programs lived through it (no crash, no exit) */
    for (int i = 0; i < 2; i++) {
        cr_assert(duro_test_alive(&h, pids[i]), "pid %d died", (int)pids[i]);
        cr_assert_not(duro_test_log_contains(&h, pids[i], "CROSSSLOT"));
    }
    /* a workflow started after the failover runs on the new master */
    start_across_failover(c, "after-failover");
    assert_complete(c, "after-failover");
    duro_client_free(c);
}

Test(cluster_failover, master_killed_mid_run_seed_url)
{
    run_failover(true, true);
    duro_test_finish(&h);
}

Test(cluster_failover, master_killed_mid_run_node_url)
{
    run_failover(false, true);
    duro_test_finish(&h);
}

/* The dead master never comes back (without WAIT: its replica took over
 * with what it had): the clients made before the kill, the worker and the
 * scheduler find the new master by themselves; the seed URL still names
 * the dead one. */
Test(cluster_failover, master_killed_for_good_without_wait)
{
    run_failover(true, false);
    duro_test_finish(&h);
}
