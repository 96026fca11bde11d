/* test_worker_sched.c: the worker's loop and activity threads run under
 * SCHED_BATCH by default (no wake-up preemption of a running redis-server:
 * worker/src/sched.c says why), under the ordinary policy with the opt-out
 * (duro_worker_opts.sched_batch < 0, or $DURO_SCHED_BATCH=0), and the
 * thread that called duro_worker_run gets its own policy back. Policies
 * only: no timing. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include "duro/worker.h"
#include "harness.h"

#define THREADS 3 /* activity_threads: each of the two pools has as many */

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(worker_sched, .init = setup, .fini = duro_test_fini, .timeout = 60);

static cJSON *echo(duro_wf *wf, const cJSON *input)
{
    return cJSON_Duplicate(input, 1);
}

/* run_worker: duro_worker_run on this thread, then the thread's policy */
typedef struct {
    duro_worker *w;
    int rc, policy_after;
} run_arg;

static void *run_worker(void *arg)
{
    run_arg *a = arg;
    a->rc = duro_worker_run(a->w);
    a->policy_after = sched_getscheduler(0);
    return NULL;
}

/* batch_threads: how many of this process's threads are under SCHED_BATCH */
static int batch_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    cr_assert_not_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        pid_t tid = (pid_t)strtol(e->d_name, NULL, 10);
        if (sched_getscheduler(tid) == SCHED_BATCH) n++;
    }
    closedir(d);
    return n;
}

/* run_one: a worker with opts.sched_batch = batch runs a workflow; returns
 * the number of SCHED_BATCH threads while it runs. */
static int run_one(int batch, const char *id)
{
    duro_worker_opts o = {.redis_url = h.redis_url,
                          .task_queue = "sched",
                          .activity_threads = THREADS,
                          .log_level = "warn",
                          .sched_batch = batch};
    run_arg a = {0};
    cr_assert_eq(duro_worker_new(&a.w, &o), 0);
    cr_assert_eq(duro_worker_register_workflow(a.w, "echo", echo), 0);
    cr_assert_eq(sched_getscheduler(0), SCHED_OTHER, "the test's own thread");
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, run_worker, &a), 0);

    /* a workflow run to its end: the loop and both pools are up */
    duro_client *c = duro_test_client(&h);
    duro_test_start(c, id, "echo", "sched", "{\"n\":1}", 0);
    cJSON *wf = NULL;
    cr_assert_eq(duro_client_result(c, id, 10000, &wf), 0);
    cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(wf, "status")),
                     "COMPLETED");
    cJSON_Delete(wf);
    int n = batch_threads();

    duro_worker_stop(a.w);
    pthread_join(t, NULL);
    cr_assert_eq(a.rc, 0);
    cr_assert_eq(a.policy_after, SCHED_OTHER,
                 "duro_worker_run's caller did not get its policy back");
    cr_assert_eq(sched_getscheduler(0), SCHED_OTHER);
    duro_worker_free(a.w);
    duro_client_free(c);
    return n;
}

Test(worker_sched, the_loop_and_pool_threads_run_under_sched_batch)
{
    int n = run_one(0, "sched-1");
    /* the loop thread and the two pools' threads (more if libuv made
     * threads of its own from the loop) */
    cr_assert_geq(n, 1 + 2 * THREADS, "%d threads under SCHED_BATCH", n);
    duro_test_finish(&h);
}

Test(worker_sched, the_opt_out_keeps_sched_other)
{
    int n = run_one(-1, "sched-2");
    cr_assert_eq(n, 0, "%d threads under SCHED_BATCH with sched_batch < 0", n);
    duro_test_finish(&h);
}

Test(worker_sched, the_env_opt_out_keeps_sched_other)
{
    setenv("DURO_SCHED_BATCH", "0", 1);
    int n = run_one(0, "sched-3");
    unsetenv("DURO_SCHED_BATCH");
    cr_assert_eq(n, 0,
                 "%d threads under SCHED_BATCH with "
                 "DURO_SCHED_BATCH=0",
                 n);
    duro_test_finish(&h);
}
