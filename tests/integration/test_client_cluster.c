/* test_client_cluster.c: the synchronous side on a Redis Cluster: the
 * router (common/src/cluster_sync.c) against a real 3-master cluster on
 * loopback, `duro operator init` loading the library on every master, the
 * CLI's verbs with both URL forms, a slot moved by hand followed; and on
 * one server, that nothing more is sent than before clusters. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <sys/wait.h>

#include "duro/cluster.h"
#include "duro/cluster_sync.h"
#include "duro/keys.h"
#include "duro/lua.h"
#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
    /* the layouts here come from `operator init --partitions` */
    unsetenv("DURO_PARTITIONS");
}

TestSuite(client_cluster, .init = setup, .fini = duro_test_fini,
          .timeout = 120);

#define RUN_MS 20000
#define MASTERS 3

/* ---- A 3-master cluster on loopback ---- */

static const char *seeds;    /* redis+cluster://127.0.0.1:p1,... */
static const char *node0;    /* redis://127.0.0.1:p0 */
static char single_url[512]; /* the one server setup started */
static int single_port;

/* cluster_start: the harness's cluster of three masters, without
 * replicas; the one server's URL is kept (the harness's is the
 * cluster's now) and the layout left to `operator init` again. */
static void cluster_start(void)
{
    snprintf(single_url, sizeof(single_url), "%s", h.redis_url);
    single_port = h.redis_port;
    duro_test_cluster_opts o = {.node_timeout_ms = 2000};
    duro_test_cluster_start(&h, MASTERS, 0, &o);
    unsetenv("DURO_PARTITIONS");
    seeds = h.cluster.seed_url;
    node0 = h.cluster.node_url;
}

static void command_ok(redisContext *c, const char *what, redisReply *r)
{
    cr_assert(r && r->type != REDIS_REPLY_ERROR, "%s: %s", what,
              r ? r->str : c->errstr);
    freeReplyObject(r);
}

/* owner: the index of the master serving slot (asserts). */
static int owner(int slot)
{
    int m = duro_test_cluster_owner(&h, 0, slot);
    cr_assert_geq(m, 0, "slot %d served by an unknown node", slot);
    return m;
}

/* RUN_OK runs `duro --redis url ...` and asserts it succeeded. */
#define RUN_OK(o, what, url, ...)                                              \
    do {                                                                       \
        duro_test_run(&h, (o), RUN_MS, "duro", "--redis", (url), __VA_ARGS__,  \
                      NULL);                                                   \
        cr_assert_eq((o)->exit_code, 0, "%s: %s%s", (what), (o)->err,          \
                     (o)->out);                                                \
    } while (0)

/* cli_start: `duro --redis url workflow start` of id (type t, queue
 * q), which prints the id (asserts). */
static void cli_start(const char *url, const char *id)
{
    duro_test_output o;
    RUN_OK(&o, "start", url, "workflow", "start", "--workflow-id", id, "--type",
           "t", "--task-queue", "q");
    cr_assert(strstr(o.out, id), "%s", o.out);
    duro_test_output_free(&o);
}

/* cluster_init: cluster_start, then `duro operator init --partitions 8`
 * through the seed URL. */
static void cluster_init(void)
{
    cluster_start();
    duro_test_output o;
    RUN_OK(&o, "init", seeds, "operator", "init", "--partitions", "8");
    duro_test_output_free(&o);
}

/* ---- The router ---- */

static duro_cluster_sync *router(const char *url)
{
    duro_redis_url u;
    char err[256];
    cr_assert_eq(duro_redis_url_parse(url, &u, err, sizeof(err)), 0, "%s", err);
    duro_cluster_sync *r = NULL;
    cr_assert_eq(duro_cluster_sync_open(&u, 2000, &r, err, sizeof(err)), 0,
                 "%s", err);
    return r;
}

static redisReply *call3(duro_cluster_sync *r, const char *a0, const char *a1,
                         const char *a2)
{
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, a0);
    duro_argv_push(&a, a1);
    if (a2) duro_argv_push(&a, a2);
    redisReply *rep = duro_cluster_sync_call(r, &a);
    duro_argv_free(&a);
    return rep;
}

Test(client_cluster, router_detects_routes_and_pipelines)
{
    cluster_start();
    /* a redis:// URL naming one node is found to be a cluster */
    duro_cluster_sync *r = router(node0);
    cr_assert(duro_cluster_sync_is_cluster(r));
    cr_assert_eq(duro_cluster_sync_masters(r), MASTERS);
    /* keys on every master: SET through the router, read on the owner */
    char key[32];
    int on[MASTERS] = {0};
    for (int i = 0; i < 30; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        redisReply *rep = call3(r, "SET", key, key);
        cr_assert(rep && rep->type == REDIS_REPLY_STATUS, "SET %s: %s", key,
                  rep ? rep->str : duro_cluster_sync_errstr(r));
        freeReplyObject(rep);
        on[owner(duro_cluster_slot(key, strlen(key)))]++;
    }
    for (int i = 0; i < MASTERS; i++)
        cr_assert_gt(on[i], 0, "no key on master %d", i);
    /* a pipeline over every master: replies in the order sent */
    duro_argv cmds[31];
    redisReply *rep[31];
    for (int i = 0; i < 30; i++) {
        duro_argv_init(&cmds[i]);
        duro_argv_push(&cmds[i], "GET");
        duro_argv_pushf(&cmds[i], "k%d", i);
    }
    duro_argv_init(&cmds[30]);
    duro_argv_push(&cmds[30], "PING"); /* keyless: any master */
    cr_assert_eq(duro_cluster_sync_pipeline(r, cmds, 31, rep), 0);
    for (int i = 0; i < 30; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        cr_assert(rep[i]->type == REDIS_REPLY_STRING, "reply %d: %s", i,
                  rep[i]->str);
        cr_assert_str_eq(rep[i]->str, key);
        freeReplyObject(rep[i]);
        duro_argv_free(&cmds[i]);
    }
    cr_assert_str_eq(rep[30]->str, "PONG");
    freeReplyObject(rep[30]);
    duro_argv_free(&cmds[30]);
    duro_cluster_sync_free(r);

    /* a seed list whose first seed is down still opens */
    char dead[160];
    snprintf(dead, sizeof(dead), "redis+cluster://127.0.0.1:%d,127.0.0.1:%d",
             duro_test_free_port(), h.cluster.node[1].port);
    r = router(dead);
    cr_assert_eq(duro_cluster_sync_masters(r), MASTERS);
    duro_cluster_sync_free(r);

    /* a seed list naming a single server is refused */
    duro_redis_url u;
    char err[256];
    char one[160];
    snprintf(one, sizeof(one), "redis+cluster://127.0.0.1:%d", single_port);
    cr_assert_eq(duro_redis_url_parse(one, &u, err, sizeof(err)), 0);
    cr_assert_eq(duro_cluster_sync_open(&u, 2000, &r, err, sizeof(err)),
                 DURO_EINVAL);
    cr_assert(strstr(err, "not a Redis Cluster node"), "%s", err);
    /* and redis:// to it is one plain connection */
    r = router(single_url);
    cr_assert_not(duro_cluster_sync_is_cluster(r));
    duro_cluster_sync_free(r);
}

Test(client_cluster, moved_and_ask_are_followed)
{
    cluster_start();
    duro_cluster_sync *r = router(seeds);
    redisReply *rep = call3(r, "SET", "mv{x}", "1");
    cr_assert(rep && rep->type == REDIS_REPLY_STATUS);
    freeReplyObject(rep);
    int slot = duro_cluster_slot("mv{x}", 5);
    int to = (owner(slot) + 1) % MASTERS;
    duro_test_cluster_move_slot(&h, slot, to);
    /* the router's map still names the old master: MOVED, followed */
    rep = call3(r, "GET", "mv{x}", NULL);
    cr_assert(rep && rep->type == REDIS_REPLY_STRING, "GET after MOVED: %s",
              rep ? rep->str : duro_cluster_sync_errstr(r));
    cr_assert_str_eq(rep->str, "1");
    freeReplyObject(rep);

    /* ASK: the slot half migrated, a key not on the old master is asked
     * for on the new one */
    duro_test_cluster_move_begin(&h, slot, (owner(slot) + 1) % MASTERS);
    cr_assert_eq(duro_test_cluster_move_keys(&h, 100), 1, "mv{x} migrated");
    rep = call3(r, "GET", "mv{x}", NULL);
    cr_assert(rep && rep->type == REDIS_REPLY_STRING, "GET after ASK: %s",
              rep ? rep->str : duro_cluster_sync_errstr(r));
    cr_assert_str_eq(rep->str, "1");
    freeReplyObject(rep);
    duro_cluster_sync_free(r);
}

/* ---- Setup and the CLI ---- */

/* library_on: master i's library: its version, and whether it is the
 * sharded copy. */
static long long library_on(int i, bool *sharded)
{
    redisContext *c = duro_test_cluster_redis(&h, i);
    redisReply *r = redisCommand(c, "FCALL duro_version 0");
    long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r) freeReplyObject(r);
    char *code = duro_test_library_code(c);
    *sharded = strstr(code, "local SHARDED_WAKE = true") != NULL;
    free(code);
    redisFree(c);
    return v;
}

Test(client_cluster, init_loads_the_library_on_every_master)
{
    cluster_start();
    duro_test_output o;
    RUN_OK(&o, "init", seeds, "operator", "init", "--partitions", "8", "-o",
           "json");
    cJSON *j = cJSON_Parse(o.out);
    cr_assert(j, "%s", o.out);
    cr_assert_eq(duro_test_num(j, "partitions", 0), 8);
    cr_assert_eq(duro_test_num(j, "clusterMasters", 0), MASTERS);
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "functionsLoaded")));
    cJSON_Delete(j);
    duro_test_output_free(&o);
    for (int i = 0; i < MASTERS; i++) {
        bool sharded;
        cr_assert_eq(library_on(i, &sharded), duro_lua_version(), "master %d",
                     i);
        cr_assert(sharded, "master %d has the single-server copy", i);
    }
    /* again through one node's redis:// URL: found a cluster, nothing to
     * load, the same layout */
    RUN_OK(&o, "init again", node0, "operator", "init");
    cr_assert(strstr(o.out, "already at version"), "%s", o.out);
    cr_assert(strstr(o.out, "partitions=8"), "%s", o.out);
    duro_test_output_free(&o);
    /* another count is refused */
    duro_test_run(&h, &o, RUN_MS, "duro", "--redis", seeds, "operator", "init",
                  "--partitions", "4", NULL);
    cr_assert_neq(o.exit_code, 0);
    cr_assert(strstr(o.err, "layout mismatch"), "%s", o.err);
    duro_test_output_free(&o);
}

/* the ids below land in several partitions, so on several masters */
static const char *const IDS[] = {"cl-a", "cl-b", "cl-c", "cl-d",
                                  "cl-e", "cl-f", "cl-g", "cl-h"};
#define NIDS (sizeof(IDS) / sizeof(IDS[0]))

Test(client_cluster, cli_verbs_work_on_a_cluster)
{
    cluster_init();
    duro_test_output o;
    int masters_used[MASTERS] = {0};
    for (size_t i = 0; i < NIDS; i++) {
        const char *url = i % 2 ? seeds : node0;
        cli_start(url, IDS[i]);
        char wf[DURO_KEY_MAX];
        duro_wf_keys k;
        duro_wf_keys_init(&k, DURO_KEYSPACE_DEFAULT(8), IDS[i], NULL);
        snprintf(wf, sizeof(wf), "%s", k.wf);
        masters_used[owner(duro_cluster_slot(wf, strlen(wf)))]++;
    }
    for (int i = 0; i < MASTERS; i++)
        cr_assert_gt(masters_used[i], 0, "no workflow on master %d", i);
    for (size_t i = 0; i < NIDS; i++) {
        RUN_OK(&o, "describe", i % 2 ? node0 : seeds, "workflow", "describe",
               "--workflow-id", IDS[i], "-o", "json");
        cJSON *d = cJSON_Parse(o.out);
        cr_assert_str_eq(duro_test_str(d, "status"), "RUNNING", "%s", o.out);
        cJSON_Delete(d);
        duro_test_output_free(&o);
    }
    RUN_OK(&o, "count", seeds, "workflow", "count");
    cr_assert(strstr(o.out, "8"), "count: %s", o.out);
    duro_test_output_free(&o);
    RUN_OK(&o, "list", node0, "workflow", "list", "-o", "json");
    cJSON *l = cJSON_Parse(o.out);
    cr_assert_eq(cJSON_GetArraySize(l), (int)NIDS, "%s", o.out);
    cJSON_Delete(l);
    duro_test_output_free(&o);
    RUN_OK(&o, "signal", seeds, "workflow", "signal", "--workflow-id", "cl-a",
           "--name", "go");
    duro_test_output_free(&o);
    RUN_OK(&o, "cancel", node0, "workflow", "cancel", "--workflow-id", "cl-b");
    duro_test_output_free(&o);
    RUN_OK(&o, "terminate", seeds, "workflow", "terminate", "--workflow-id",
           "cl-c", "--reason", "test");
    duro_test_output_free(&o);
    /* the closed run's result: the wait sees it at once */
    duro_test_run(&h, &o, RUN_MS, "duro", "--redis", node0, "workflow",
                  "result", "--workflow-id", "cl-c", "--timeout", "5s", NULL);
    cr_assert(strstr(o.out, "TERMINATED") || strstr(o.err, "TERMINATED") ||
                  strstr(o.err, "terminated"),
              "result: %s%s", o.out, o.err);
    duro_test_output_free(&o);
    RUN_OK(&o, "history", seeds, "workflow", "history", "--workflow-id", "cl-a",
           "-o", "json");
    cJSON *ev = cJSON_Parse(o.out);
    /* no worker ran: the signal waits in the buffer for a workflow task */
    cr_assert_eq(duro_test_count_events(ev, "WorkflowStarted"), 1, "%s", o.out);
    cJSON_Delete(ev);
    duro_test_output_free(&o);
    RUN_OK(&o, "queue stats", seeds, "queue", "stats", "-o", "json");
    duro_test_output_free(&o);
}

/* waiter_start: `duro workflow result` for id with a 20s timeout, in the
 * background (its output to a log in the test's dir). */
static pid_t waiter_start(const char *url, const char *id)
{
    char path[PATH_MAX], log[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/duro", DURO_BIN_DIR);
    snprintf(log, sizeof(log), "%s/waiter-%s.log", h.dir, id);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(path, path, "--redis", url, "workflow", "result", "--workflow-id",
              id, "--timeout", "20s", (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* waiter_waiting: waiter_start, and 700 ms for the waiter to subscribe,
 * read RUNNING and wait; asserts that it is still waiting then. */
static pid_t waiter_waiting(const char *url, const char *id)
{
    pid_t w = waiter_start(url, id);
    duro_test_sleep_ms(700);
    cr_assert_eq(waitpid(w, NULL, WNOHANG), 0, "the waiter ended early");
    return w;
}

/* waiter_done: the waiter ended within timeout_ms (else it is killed). */
static bool waiter_done(pid_t pid, int64_t timeout_ms)
{
    int64_t end = duro_test_mono_ms() + timeout_ms;
    while (duro_test_mono_ms() < end) {
        if (waitpid(pid, NULL, WNOHANG) == pid) return true;
        duro_test_sleep_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return false;
}

Test(client_cluster, result_waits_for_a_close_on_a_cluster)
{
    cluster_init();
    duro_test_output o;
    for (size_t i = 0; i < NIDS; i++)
        cli_start(seeds, IDS[i]);
    /* a waiter per workflow, each on its partition's master (SSUBSCRIBE):
     * every one must hear its own close */
    pid_t waiter[NIDS];
    for (size_t i = 0; i < NIDS; i++)
        waiter[i] = waiter_start(i % 2 ? seeds : node0, IDS[i]);
    duro_test_sleep_ms(700); /* they subscribe, read RUNNING, and wait */
    for (size_t i = 0; i < NIDS; i++)
        cr_assert_eq(waitpid(waiter[i], NULL, WNOHANG), 0,
                     "waiter %zu ended early", i);
    int64_t t0 = duro_test_mono_ms();
    for (size_t i = 0; i < NIDS; i++) {
        RUN_OK(&o, "terminate", i % 2 ? node0 : seeds, "workflow", "terminate",
               "--workflow-id", IDS[i], "--reason", "done");
        duro_test_output_free(&o);
    }
    for (size_t i = 0; i < NIDS; i++)
        cr_assert(waiter_done(waiter[i], 10000), "waiter %zu never ended", i);
    /* woken by the message, long before their 20s timeout */
    cr_assert_lt(duro_test_mono_ms() - t0, 10000);
}

/* ---- One server: nothing more than before ---- */

/* monitor_count: the commands clients sent since duro_test_monitor (those the
 * Functions run inside Redis left out), up to a marker this sends. */
static int monitor_count(redisContext *m)
{
    redisContext *c = duro_test_redis(&h);
    freeReplyObject(redisCommand(c, "ECHO clsync-marker"));
    redisFree(c);
    int n = 0;
    for (int i = 0; i < 10000; i++) {
        void *v = NULL;
        cr_assert_eq(redisGetReply(m, &v), REDIS_OK);
        redisReply *r = v;
        bool mark = r->str && strstr(r->str, "clsync-marker");
        if (!mark && r->str && !strstr(r->str, " lua]")) n++;
        freeReplyObject(r);
        if (mark) break;
    }
    redisFree(m);
    return n;
}

/* The commands `duro workflow start` sends to one server, as counted on
 * the code before clusters: PING (a HELLO now, which also says whether
 * the server is a cluster node), FCALL duro_version, HGET duro:meta,
 * HMGET the namespace, FCALL duro_start. */
#define START_COMMANDS_BEFORE_CLUSTERS 5

Test(client_cluster, one_server_sends_no_more_commands_than_before)
{
    duro_test_output o;
    RUN_OK(&o, "init", h.redis_url, "operator", "init");
    duro_test_output_free(&o);
    redisContext *m = duro_test_monitor(&h);
    cli_start(h.redis_url, "one-1");
    int sent = monitor_count(m);
    cr_assert_eq(sent, START_COMMANDS_BEFORE_CLUSTERS,
                 "a start sent %d commands", sent);
    /* and the Functions keep PUBLISH there (no sharded channels) */
    redisContext *c = duro_test_redis(&h);
    char *code = duro_test_library_code(c);
    cr_assert_null(strstr(code, "local SHARDED_WAKE = true"));
    free(code);
    redisFree(c);
}

/* ---- The client library across a moved slot and a slot without master ---- */

static duro_client *cluster_client(void)
{
    duro_client *c = NULL;
    char err[512];
    duro_client_opts o = {.redis_url = seeds};
    cr_assert_eq(duro_client_new_opts(&c, &o, err, sizeof(err)), 0, "%s", err);
    return c;
}

static int wf_slot(const char *id)
{
    duro_wf_keys k;
    duro_wf_keys_init(&k, DURO_KEYSPACE_DEFAULT(8), id, NULL);
    return duro_cluster_slot(k.wf, strlen(k.wf));
}

static void start_wf(duro_client *c, const char *id)
{
    duro_start_opts o = {.workflow_id = id, .type = "t", .task_queue = "q"};
    char run[DURO_UUID_LEN + 1];
    cr_assert_eq(duro_client_start(c, &o, run), 0, "start %s: %s", id,
                 duro_client_errstr(c));
}

static void assert_running(duro_client *c, const char *id)
{
    cJSON *d = NULL;
    cr_assert_eq(duro_client_describe(c, id, &d), 0, "describe %s: %s", id,
                 duro_client_errstr(c));
    cr_assert_str_eq(duro_test_str(d, "status"), "RUNNING");
    cJSON_Delete(d);
}

Test(client_cluster, a_client_follows_its_partition_to_another_master)
{
    cluster_init();
    duro_client *c = cluster_client();
    start_wf(c, "mv-1");
    int slot = wf_slot("mv-1");
    duro_test_cluster_move_slot(&h, slot, (owner(slot) + 1) % MASTERS);
    /* the client's map is stale: each call is MOVED, then follows */
    assert_running(c, "mv-1");
    char run[DURO_UUID_LEN + 1];
    cr_assert_eq(duro_client_signal(c, "mv-1", "go", NULL, run), 0, "%s",
                 duro_client_errstr(c));
    /* another workflow of that partition starts on the new master */
    char id[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof(id), "mv-%d", i + 2);
        if (wf_slot(id) == slot) break;
    }
    cr_assert_eq(wf_slot(id), slot);
    start_wf(c, id);
    assert_running(c, id);
    duro_client_free(c);
}

Test(client_cluster, a_slot_without_master_is_waited_for)
{
    cluster_init();
    duro_client *c = cluster_client();
    start_wf(c, "down-1");
    int slot = wf_slot("down-1");
    int from = owner(slot);
    /* the slot loses its master (CLUSTERDOWN) and gets it back 600 ms
     * later, from another process */
    redisContext *f = duro_test_cluster_redis(&h, from);
    command_ok(f, "DELSLOTS", redisCommand(f, "CLUSTER DELSLOTS %d", slot));
    pid_t back = fork();
    cr_assert_geq(back, 0);
    if (back == 0) {
        usleep(600 * 1000);
        redisContext *g = redisConnect("127.0.0.1", h.cluster.node[from].port);
        redisReply *r = g ? redisCommand(g, "CLUSTER ADDSLOTS %d", slot) : NULL;
        _exit(r && r->type == REDIS_REPLY_STATUS ? 0 : 1);
    }
    int64_t t0 = duro_test_mono_ms();
    assert_running(c, "down-1");
    int64_t waited = duro_test_mono_ms() - t0;
    int st = -1;
    waitpid(back, &st, 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "ADDSLOTS failed");
    cr_assert_geq(waited, 400, "answered after %lldms: no wait?",
                  (long long)waited);
    redisFree(f);
    duro_client_free(c);
}

Test(client_cluster, namespaces_and_the_no_worker_warning_on_a_cluster)
{
    cluster_init();
    duro_test_output o;
    RUN_OK(&o, "namespace create", seeds, "operator", "namespace", "create",
           "-n", "shop");
    duro_test_output_free(&o);
    for (size_t i = 0; i < NIDS; i++) {
        RUN_OK(&o, "start", node0, "-n", "shop", "workflow", "start",
               "--workflow-id", IDS[i], "--type", "t", "--task-queue", "q");
        duro_test_output_free(&o);
    }
    /* the result wait looks at the task stream on the partition's master
     * and says nobody polls it */
    setenv("DURO_RESULT_WARN_AFTER", "300ms", 1);
    char path[PATH_MAX], log[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/duro", DURO_BIN_DIR);
    snprintf(log, sizeof(log), "%s/warn.log", h.dir);
    pid_t w = fork();
    cr_assert_geq(w, 0);
    if (w == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 2);
        execl(path, path, "--redis", seeds, "-n", "shop", "workflow", "result",
              "--workflow-id", IDS[0], (char *)NULL);
        _exit(127);
    }
    unsetenv("DURO_RESULT_WARN_AFTER");
    char text[2048] = "";
    for (int i = 0; i < 500 && !strstr(text, "no worker is polling"); i++) {
        duro_test_sleep_ms(20);
        FILE *f = fopen(log, "r");
        size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
        text[n] = '\0';
        if (f) fclose(f);
    }
    cr_assert(strstr(text, "no worker is polling task queue \"q\""), "%s",
              text);
    RUN_OK(&o, "terminate", seeds, "-n", "shop", "workflow", "terminate",
           "--workflow-id", IDS[0]);
    duro_test_output_free(&o);
    cr_assert(waiter_done(w, 10000), "the result wait never ended");
    /* deleting the namespace removes its keys from every master */
    RUN_OK(&o, "namespace delete", seeds, "operator", "namespace", "delete",
           "-n", "shop", "--force");
    duro_test_output_free(&o);
    for (int i = 0; i < MASTERS; i++) {
        redisContext *c = duro_test_cluster_redis(&h, i);
        redisReply *r = redisCommand(c, "KEYS duro:ns:shop*");
        cr_assert(r && r->type == REDIS_REPLY_ARRAY);
        cr_assert_eq(r->elements, 0, "master %d keeps %zu keys of shop", i,
                     r->elements);
        freeReplyObject(r);
        redisFree(c);
    }
}

Test(client_cluster, result_wait_follows_its_channel_to_another_master)
{
    cluster_init();
    duro_test_output o;
    cli_start(seeds, "ch-1");
    pid_t w = waiter_waiting(seeds, "ch-1");
    /* the partition (its keys and its closed channel) moves: Redis tells
     * the subscriber (sunsubscribe), which subscribes on the new master */
    int slot = wf_slot("ch-1");
    duro_test_cluster_move_slot(&h, slot, (owner(slot) + 1) % MASTERS);
    duro_test_sleep_ms(500);
    RUN_OK(&o, "terminate", node0, "workflow", "terminate", "--workflow-id",
           "ch-1");
    duro_test_output_free(&o);
    cr_assert(waiter_done(w, 8000), "the waiter missed the close");
}

Test(client_cluster, a_master_that_is_gone_sends_the_router_to_the_new_map)
{
    cluster_start();
    /* the router knows master 1 by the map only (no connection yet) */
    duro_cluster_sync *r = router(seeds);
    char key[32];
    int slot = -1;
    for (int i = 0; i < 1000 && slot < 0; i++) {
        snprintf(key, sizeof(key), "gone%d", i);
        int s = duro_cluster_slot(key, strlen(key));
        if (owner(s) == 1) slot = s;
    }
    cr_assert_geq(slot, 0);
    duro_test_cluster_move_slot(&h, slot, 2);
    redisContext *c = duro_test_cluster_redis(&h, 2);
    command_ok(c, "SET", redisCommand(c, "SET %s here", key));
    redisFree(c);
    duro_test_cluster_kill(&h, 1);
    duro_test_sleep_ms(100);
    /* master 1 cannot be reached: the command never left, the map is read
     * again (master 2 serves the slot now) and it goes there */
    redisReply *rep = call3(r, "GET", key, NULL);
    cr_assert(rep && rep->type == REDIS_REPLY_STRING, "GET: %s",
              rep ? rep->str : duro_cluster_sync_errstr(r));
    cr_assert_str_eq(rep->str, "here");
    freeReplyObject(rep);
    duro_cluster_sync_free(r);
}

/* ---- The client role's ACL on a cluster ---- */

/* acl_everywhere applies `duro operator acl --role <role>`'s ACL SETUSER
 * on every master (ACL users are per node). */
static void acl_everywhere(const char *role)
{
    duro_test_output o;
    RUN_OK(&o, "acl", seeds, "operator", "acl", "--role", role, "--password",
           "pw", "-o", "json");
    cJSON *j = cJSON_Parse(o.out);
    cJSON *words = cJSON_GetObjectItem(j, "command");
    int n = cJSON_GetArraySize(words);
    cr_assert_gt(n, 3, "%s", o.out);
    const char **argv = calloc((size_t)n, sizeof(*argv));
    for (int i = 0; i < n; i++)
        argv[i] = cJSON_GetStringValue(cJSON_GetArrayItem(words, i));
    for (int m = 0; m < MASTERS; m++) {
        redisContext *c = duro_test_cluster_redis(&h, m);
        command_ok(c, "ACL SETUSER", redisCommandArgv(c, n, argv, NULL));
        redisFree(c);
    }
    free(argv);
    cJSON_Delete(j);
    duro_test_output_free(&o);
}

Test(client_cluster, the_client_role_works_on_a_cluster)
{
    cluster_init();
    duro_test_output o;
    acl_everywhere("client");
    char url[200];
    snprintf(url, sizeof(url),
             "redis+cluster://duro-client:pw@127.0.0.1:%d,127.0.0.1:%d",
             h.cluster.node[0].port, h.cluster.node[1].port);
    for (size_t i = 0; i < 3; i++)
        cli_start(url, IDS[i]);
    RUN_OK(&o, "list", url, "workflow", "list");
    duro_test_output_free(&o);
    pid_t w = waiter_waiting(url, IDS[0]);
    RUN_OK(&o, "terminate", url, "workflow", "terminate", "--workflow-id",
           IDS[0]);
    duro_test_output_free(&o);
    cr_assert(waiter_done(w, 8000), "the client role's wait missed the close");
}

/* A query is no Function's task: the client itself tells the workers of
 * the partition (SPUBLISH <prefix>{pN}:wake qry:<queue>) on a cluster,
 * also one it reached through a redis:// URL naming a node (found to be
 * a cluster at connect), else the query waits for the workers' sweep. */
Test(client_cluster, a_query_wakes_the_workers_through_a_node_url)
{
    cluster_init();
    duro_client *c = NULL;
    char err[512];
    duro_client_opts co = {.redis_url = node0};
    cr_assert_eq(duro_client_new_opts(&c, &co, err, sizeof(err)), 0, "%s", err);
    start_wf(c, "qw-1");
    /* a worker's wake subscription, on the partition's master */
    char chan[64];
    snprintf(chan, sizeof(chan), "duro:{p%d}:wake",
             duro_partition_of("qw-1", 8));
    redisContext *sub = duro_test_cluster_redis(&h, owner(wf_slot("qw-1")));
    redisReply *r = redisCommand(sub, "SSUBSCRIBE %s", chan);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY, "SSUBSCRIBE %s", chan);
    freeReplyObject(r);
    /* no worker: the query times out, its wake is what counts */
    char *res = NULL;
    cr_assert_eq(duro_client_query(c, "qw-1", "stage", NULL, 200, &res),
                 DURO_ETIMEDOUT, "%s", duro_client_errstr(c));
    struct timeval tv = {2, 0};
    redisSetTimeout(sub, tv);
    void *v = NULL;
    cr_assert_eq(redisGetReply(sub, &v), REDIS_OK, "no wake on %s", chan);
    r = v;
    cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 3);
    cr_assert_str_eq(r->element[0]->str, "smessage");
    cr_assert_str_eq(r->element[2]->str, "qry:q");
    freeReplyObject(r);
    redisFree(sub);
    duro_client_free(c);
}
