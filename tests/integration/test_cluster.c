/* test_cluster.c: Duro on a Redis Cluster of 3 masters, through the real
 * programs: duro-scheduler and duro-test-worker given the cluster either
 * as a seed URL (redis+cluster://h1:p1,h2:p2,h3:p3) or as one node's
 * redis:// URL (the cluster is detected), the duro CLI and the client
 * library. Workflows are picked so that every master holds some: starts,
 * activities, timers, signals, queries and cancellation, then a busy
 * partition's slot moved to another master while its workflows run (ASK
 * and TRYAGAIN while it moves, MOVED after) while an application thread
 * starts more in it: every workflow completes, once, and none is lost. Master
 * failover: test_cluster_failover.c. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "duro/keys.h"
#include "harness.h"

#define MASTERS 3
#define PARTITIONS 16
#define RESULT_MS 30000
#define CLI_MS 20000
#define UP_MS 15000

static duro_test_harness h;

TestSuite(cluster, .fini = duro_test_fini, .timeout = 240);

/* ---- Helpers ---- */

/* master_of: the master that serves workflow id's partition. */
static int master_of(const char *id)
{
    int m = duro_test_cluster_wf_master(&h, id, PARTITIONS);
    cr_assert_geq(m, 0, "no master serves %s's partition", id);
    return m;
}

/* pick_id: the first "<prefix>-<n>" (n = 0, 1, ...) served by master m
 * and not in the partition `avoid` (-1: any); into buf. */
static char *pick_id(const char *prefix, int m, int avoid, char *buf,
                     size_t size)
{
    for (int n = 0; n < 10000; n++) {
        snprintf(buf, size, "%s-%d", prefix, n);
        if (master_of(buf) == m && duro_partition_of(buf, PARTITIONS) != avoid)
            return buf;
    }
    cr_assert_fail("no id with prefix %s on master %d", prefix, m);
    return NULL;
}

/* cli runs `duro workflow <verb> ...` and asserts exit 0; the output
 * is the caller's to free. */
#define cli(o, ...)                                                            \
    do {                                                                       \
        duro_test_run(&h, (o), CLI_MS, "duro", "workflow", __VA_ARGS__, NULL); \
        cr_assert_eq((o)->exit_code, 0, "duro workflow %s: %s%s",              \
                     #__VA_ARGS__, (o)->out, (o)->err);                        \
    } while (0)

/* result: the workflow's describe once closed (asserts). */
static cJSON *result(duro_client *c, const char *id)
{
    return duro_test_result(c, id, RESULT_MS);
}

/* assert_echoed: the "activities" run id with {"n":n} completed, once. */
static void assert_echoed(duro_client *c, const char *id, int n)
{
    cJSON *d = result(c, id);
    duro_test_assert_echoed(d, id, n);
    cJSON_Delete(d);
    /* each activity completed once: nothing ran twice into the history */
    cJSON *hist = duro_test_history(c, id);
    cr_assert_eq(duro_test_count_events(hist, "ActivityCompleted"), n, "%s",
                 id);
    cr_assert_eq(duro_test_count_events(hist, "WorkflowCompleted"), 1, "%s",
                 id);
    cJSON_Delete(hist);
}

/* on_master: the workflow's hash is on master m itself (a plain
 * connection, no redirection): the partition lives where the slot map
 * says. */
static bool on_master(int m, const char *id)
{
    char key[DURO_KEY_MAX];
    snprintf(key, sizeof(key), "duro:{p%d}:wf:%s",
             duro_partition_of(id, PARTITIONS), id);
    redisContext *r = duro_test_cluster_redis(&h, m);
    redisReply *rep = redisCommand(r, "EXISTS %s", key);
    bool there = rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
    freeReplyObject(rep);
    redisFree(r);
    return there;
}

/* count_events: events of type in the workflow's history, -1 when the
 * history cannot be read (now). */
static int count_events(duro_client *c, const char *id, const char *type)
{
    cJSON *hist = NULL;
    if (duro_client_history(c, id, NULL, &hist) != 0) return -1;
    int n = duro_test_count_events(hist, type);
    cJSON_Delete(hist);
    return n;
}

/* no_cross_slot: no program of the test met a CROSSSLOT refusal (one
 * command over several partitions' keys). */
static void no_cross_slot(pid_t *pids, int n)
{
    for (int i = 0; i < n; i++)
        cr_assert_not(duro_test_log_contains(&h, pids[i], "CROSSSLOT"),
                      "pid %d met CROSSSLOT", (int)pids[i]);
}

/* query_stage: the CLI's answer to query "stage" contains want. */
static bool query_stage(const char *id, const char *want)
{
    duro_test_output o;
    duro_test_run(&h, &o, CLI_MS, "duro", "workflow", "query", "-w", id,
                  "--name", "stage", NULL);
    bool ok = o.exit_code == 0 && strstr(o.out, want);
    duro_test_output_free(&o);
    if (!ok) duro_test_sleep_ms(100); /* one CLI run per 100ms at most */
    return ok;
}

/* ---- The core scenarios, with the URL form the test gives ---- */

static void run_core(const char *url)
{
    setenv("DURO_REDIS_URL", url, 1);
    pid_t pids[2];
    duro_test_spawn_scheduler_and_worker(&h, UP_MS, pids);
    duro_client *c = duro_test_client_url(url);
    char acts[MASTERS][2][64], cli_id[MASTERS][64], sleeper[MASTERS][64],
        gate[MASTERS][64], doomed[MASTERS][64];
    duro_test_output o;

    for (int m = 0; m < MASTERS; m++) {
        int mi = m; /* the cluster's masters are nodes 0..2 */
        cr_assert(h.cluster.node[mi].master);
        /* activities: two through the library, one through the CLI */
        pick_id("acts-a", mi, -1, acts[m][0], sizeof(acts[m][0]));
        pick_id("acts-b", mi, -1, acts[m][1], sizeof(acts[m][1]));
        for (int k = 0; k < 2; k++)
            duro_test_start(c, acts[m][k], "activities", "test", "{\"n\":4}",
                            0);
        pick_id("cli", mi, -1, cli_id[m], sizeof(cli_id[m]));
        cli(&o, "start", "-w", cli_id[m], "--type", "activities", "-t", "test",
            "-i", "{\"n\":3}");
        cr_assert(strstr(o.out, cli_id[m]), "%s", o.out);
        duro_test_output_free(&o);
        /* a durable timer */
        pick_id("sleep", mi, -1, sleeper[m], sizeof(sleeper[m]));
        duro_test_start(c, sleeper[m], "sleep", "test", "{\"ms\":300}", 0);
        /* an activity, a timer, then a signal; a query meanwhile */
        pick_id("gate", mi, -1, gate[m], sizeof(gate[m]));
        duro_test_start(c, gate[m], "gate", "test", "{\"g\":1}", 0);
        /* a long sleep, canceled */
        pick_id("doomed", mi, -1, doomed[m], sizeof(doomed[m]));
        cli(&o, "start", "-w", doomed[m], "--type", "sleep", "-t", "test", "-i",
            "{\"ms\":600000}");
        duro_test_output_free(&o);
    }

    for (int m = 0; m < MASTERS; m++) {
        for (int k = 0; k < 2; k++)
            assert_echoed(c, acts[m][k], 4);
        /* the CLI waits for the result on the closed-run channel */
        cli(&o, "result", "-w", cli_id[m], "--timeout", "30s");
        cr_assert(strstr(o.out, "\"echoed\""), "%s", o.out);
        duro_test_output_free(&o);
        assert_echoed(c, cli_id[m], 3);

        cJSON *d = result(c, sleeper[m]);
        cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED");
        const cJSON *r = cJSON_GetObjectItem(d, "result");
        cr_assert_geq(duro_test_num(r, "after", 0) -
                          duro_test_num(r, "before", 0),
                      300, "%s: the timer fired early", sleeper[m]);
        cJSON_Delete(d);

        cr_assert(duro_test_wait_until(query_stage(gate[m], "waiting"), 15000),
                  "%s never reached its signal wait (query stage)", gate[m]);
        cli(&o, "signal", "-w", gate[m], "--name", "open", "-i",
            "{\"key\":\"opened\"}");
        duro_test_output_free(&o);
        d = result(c, gate[m]);
        cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED", "%s",
                         gate[m]);
        r = cJSON_GetObjectItem(d, "result");
        cr_assert_str_eq(duro_test_str(cJSON_GetObjectItem(r, "signal"), "key"),
                         "opened");
        cr_assert_eq(duro_test_num(cJSON_GetObjectItem(r, "echo"), "g", 0), 1);
        cJSON_Delete(d);
        /* a closed workflow is queried too (a worker replays it) */
        cr_assert(query_stage(gate[m], "waiting"), "%s", gate[m]);

        cr_assert(duro_test_wait_until(
                      count_events(c, doomed[m], "TimerStarted") == 1, 15000),
                  "%s did not start its timer", doomed[m]);
        cli(&o, "cancel", "-w", doomed[m], "--reason", "test");
        duro_test_output_free(&o);
        d = result(c, doomed[m]);
        cr_assert_str_eq(duro_test_str(d, "status"), "CANCELED", "%s",
                         doomed[m]);
        cJSON_Delete(d);
    }
    /* every partition lives on the master the slot map names */
    for (int m = 0; m < MASTERS; m++) {
        cr_assert(on_master(m, acts[m][0]), "%s not on master %d", acts[m][0],
                  m);
        cr_assert(on_master(m, gate[m]), "%s not on master %d", gate[m], m);
    }
    no_cross_slot(pids, 2);
    duro_client_free(c);
}

Test(cluster, core_through_a_seed_url)
{
    duro_test_cluster_start(&h, MASTERS, 0, NULL);
    run_core(h.cluster.seed_url);
    duro_test_finish(&h);
}

Test(cluster, core_through_one_nodes_url)
{
    duro_test_cluster_start(&h, MASTERS, 0, NULL);
    run_core(h.cluster.node_url);
    duro_test_finish(&h);
}

/* ---- Resharding ---- */

/* id_in: the first "<prefix>-<k>" (k = 0, 1, ...) of partition p, into
 * buf (no assertion: a thread calls it too). */
static char *id_in(const char *prefix, int p, char *buf, size_t size)
{
    for (int k = 0; k < 100000; k++) {
        snprintf(buf, size, "%s-%d", prefix, k);
        if (duro_partition_of(buf, PARTITIONS) == p) break;
    }
    return buf;
}

#define BUSY 12  /* workflows in the partition whose slot moves */
#define OTHERS 6 /* elsewhere */
#define STEPS 8  /* activities each */

/* busy_ids: BUSY ids of one partition (the partition of "busy-0"). */
static int busy_ids(char ids[BUSY][64])
{
    int p = duro_partition_of("busy-0", PARTITIONS), got = 0;
    for (int n = 0; got < BUSY && n < 100000; n++) {
        snprintf(ids[got], sizeof(ids[got]), "busy-%d", n);
        if (duro_partition_of(ids[got], PARTITIONS) == p) got++;
    }
    cr_assert_eq(got, BUSY);
    return p;
}

/* started_all: every busy workflow has run an activity. */
static bool started_all(duro_client *c, char ids[BUSY][64])
{
    for (int i = 0; i < BUSY; i++)
        if (count_events(c, ids[i], "ActivityCompleted") < 1) return false;
    return true;
}

/* late_starts: BUSY starts in partition `partition`, made from a thread
 * with its own client while the test moves the slot; no assertion
 * there (Criterion's belong to the test's thread): the codes are
 * checked after the join. */
typedef struct {
    const char *url;
    int partition;
    char input[32];
    char id[BUSY][64];
    int rc[BUSY];
    char err[BUSY][160];
    atomic_bool tried; /* a start was sent */
} late_starts;

static void *start_late(void *arg)
{
    late_starts *ls = arg;
    duro_client *c = NULL;
    char err[160] = ""; /* as long as ls->err[i] */
    int rc = duro_client_new(&c, ls->url, err, sizeof(err));
    for (int i = 0; i < BUSY; i++) {
        char prefix[16]; /* late-<i>-<k>, same partition */
        snprintf(prefix, sizeof(prefix), "late-%d", i);
        id_in(prefix, ls->partition, ls->id[i], sizeof(ls->id[i]));
        if (rc == 0) {
            duro_start_opts o = {0};
            o.workflow_id = ls->id[i];
            o.type = "activities";
            o.task_queue = "test";
            o.input = ls->input;
            char run[DURO_UUID_LEN + 1];
            atomic_store(&ls->tried, true);
            ls->rc[i] = duro_client_start(c, &o, run);
            snprintf(ls->err[i], sizeof(ls->err[i]), "%s",
                     ls->rc[i] ? duro_client_errstr(c) : "");
        } else {
            ls->rc[i] = rc;
            snprintf(ls->err[i], sizeof(ls->err[i]), "%s", err);
        }
        duro_test_sleep_ms(50);
    }
    duro_client_free(c);
    return NULL;
}

Test(cluster, a_busy_partitions_slot_moves_mid_run)
{
    duro_test_cluster_start(&h, MASTERS, 0, NULL);
    pid_t pids[2];
    duro_test_spawn_scheduler_and_worker(&h, UP_MS, pids);
    duro_client *c = duro_test_client_url(h.cluster.seed_url);
    char busy[BUSY][64], other[OTHERS][64];
    int p = busy_ids(busy);
    int slot = duro_test_partition_slot(p);
    int from = duro_test_cluster_owner(&h, 0, slot);
    int to = duro_test_cluster_master(&h, from);
    char input[32];
    snprintf(input, sizeof(input), "{\"n\":%d}", STEPS);
    for (int i = 0; i < BUSY; i++)
        duro_test_start(c, busy[i], "activities", "test", input, 0);
    for (int i = 0; i < OTHERS; i++) {
        char prefix[16];
        snprintf(prefix, sizeof(prefix), "calm%d", i);
        pick_id(prefix, i % MASTERS, p, other[i], sizeof(other[i]));
        duro_test_start(c, other[i], "activities", "test", input, 0);
    }
    cr_assert(duro_test_wait_until(started_all(c, busy), 20000),
              "the busy partition's workflows did not get going");

    /* the slot moves a few keys at a time while its workflows run, and
     * while an application starts more in it (a thread of its own: a
     * start that meets TRYAGAIN waits for the move to go on) */
    late_starts ls = {.url = h.cluster.seed_url, .partition = p};
    snprintf(ls.input, sizeof(ls.input), "%s", input);
    duro_test_cluster_move_begin(&h, slot, to);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, start_late, &ls), 0);
    /* as a resharding tool does: keys moved in small batches, then the
     * slot handed over at once. While it moves, a start's new keys cannot
     * be created on either side (Redis answers TRYAGAIN): a client waits
     * for the hand-over. Some starts come during the move, the rest after
     * it (MOVED). */
    int n = 0, moved = 1;
    for (int rounds = 0; rounds < 600 && (moved || !atomic_load(&ls.tried));
         rounds++) {
        n += moved = duro_test_cluster_move_keys(&h, 5);
        duro_test_sleep_ms(50);
    }
    cr_assert(atomic_load(&ls.tried), "no start came while the slot moved");
    duro_test_cluster_move_end(&h);
    pthread_join(t, NULL);
    for (int i = 0; i < BUSY; i++)
        cr_assert_eq(ls.rc[i], 0, "start %s: %s (%s)", ls.id[i],
                     duro_strerror(ls.rc[i]), ls.err[i]);
    cr_assert_gt(n, 0, "no key of partition %d moved", p);
    for (int i = 0; i < MASTERS; i++)
        cr_assert_eq(duro_test_cluster_owner(&h, i, slot), to);

    for (int i = 0; i < BUSY; i++) {
        assert_echoed(c, busy[i], STEPS);
        assert_echoed(c, ls.id[i], STEPS);
        cr_assert(on_master(to, busy[i]), "%s did not move", busy[i]);
        cr_assert(on_master(to, ls.id[i]), "%s not on the new owner", ls.id[i]);
    }
    for (int i = 0; i < OTHERS; i++)
        assert_echoed(c, other[i], STEPS);
    /* and the partition keeps working where it is now */
    char after[64];
    id_in("after", p, after, sizeof(after));
    duro_test_start(c, after, "activities", "test", "{\"n\":2}", 0);
    assert_echoed(c, after, 2);
    no_cross_slot(pids, 2);
    duro_client_free(c);
    duro_test_finish(&h);
}

/* ---- duro dev --cluster N ---- */

/* bindable: nothing holds 127.0.0.1:port (a listener, or the local end
 * of a connection). */
static bool bindable(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return false;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

/* dev_ports: a first port p with p..p+2 and their bus ports (+10000)
 * free, all below Linux's ephemeral range (32768..), where the local
 * ends of connections would take them. */
static int dev_ports(void)
{
    srand((unsigned)(getpid() ^ duro_test_mono_ms()));
    for (int attempt = 0; attempt < 100; attempt++) {
        /* a guess, checked: no need for good randomness */
        /* NOLINTNEXTLINE(cert-msc30-c,cert-msc50-cpp) */
        int p = 20000 + rand() % 2700;
        bool ok = true;
        for (int i = 0; i < 3 && ok; i++)
            ok = bindable(p + i) && bindable(p + i + 10000);
        if (ok) return p;
    }
    cr_assert_fail("no free port range for duro dev --cluster");
    return -1;
}

/* answers: something answers PING on 127.0.0.1:port. */
static bool answers(int port)
{
    redisContext *c = redisConnect("127.0.0.1", port);
    bool up = c && !c->err;
    if (up) {
        redisReply *r = redisCommand(c, "PING");
        up = r != NULL;
        freeReplyObject(r);
    }
    if (c) redisFree(c);
    return up;
}

/* dev_start starts `duro dev --cluster 3` with its nodes on ports
 * p..p+2 and its data in dir, and waits (40s) until it prints `line`
 * (the cluster's URL); `what` says what failed. The harness stops it. */
static pid_t dev_start(int p, const char *dir, const char *line,
                       const char *what)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", p);
    pid_t dev = duro_test_spawn(&h, "duro", "dev", "--cluster", "3", "--port",
                                port, "--dir", dir, "--http", "off", NULL);
    duro_test_wait_until(duro_test_log_contains(&h, dev, line) ||
                             !duro_test_alive(&h, dev),
                         40000);
    cr_assert(duro_test_log_contains(&h, dev, line),
              "duro dev --cluster 3 %s: %s", what, line);
    return dev;
}

/* assert_echoed_at: assert_echoed through a new client for url. */
static void assert_echoed_at(const char *url, const char *id, int n)
{
    duro_client *c = duro_test_client_url(url);
    assert_echoed(c, id, n);
    duro_client_free(c);
}

Test(cluster, duro_dev_cluster_runs_a_workflow_and_stops_its_nodes)
{
    duro_test_dir_start(&h);
    int p = dev_ports();
    char dir[PATH_MAX + 16], url[256];
    snprintf(dir, sizeof(dir), "%s/devdata", h.dir);
    snprintf(url, sizeof(url),
             "DURO_REDIS_URL=redis+cluster://127.0.0.1:%d,127.0.0.1:%d,"
             "127.0.0.1:%d",
             p, p + 1, p + 2);
    pid_t dev = dev_start(p, dir, url, "did not print");
    for (int i = 0; i < 3; i++) {
        char v[64];
        redisContext *c = redisConnect("127.0.0.1", p + i);
        cr_assert(c && !c->err);
        redisReply *r = redisCommand(c, "CLUSTER INFO");
        cr_assert(r && r->type == REDIS_REPLY_STRING);
        cr_assert(strstr(r->str, "cluster_state:ok"), "node %d: %s", i, r->str);
        snprintf(v, sizeof(v), "cluster_known_nodes:3");
        cr_assert(strstr(r->str, v), "node %d: %s", i, r->str);
        freeReplyObject(r);
        redisFree(c);
    }
    setenv("DURO_REDIS_URL", strchr(url, '=') + 1, 1);
    duro_test_spawn_up(&h, UP_MS, "duro-test-worker", NULL);
    duro_test_output o;
    cli(&o, "start", "-w", "dev-1", "--type", "activities", "-t", "test", "-i",
        "{\"n\":3}");
    duro_test_output_free(&o);
    cli(&o, "result", "-w", "dev-1", "--timeout", "30s");
    cr_assert(strstr(o.out, "\"echoed\""), "%s", o.out);
    duro_test_output_free(&o);
    /* a node's own URL is enough for a client */
    char one[64];
    snprintf(one, sizeof(one), "redis://127.0.0.1:%d", p + 2);
    assert_echoed_at(one, "dev-1", 3);

    duro_test_kill(&h, dev, SIGTERM);
    cr_assert(duro_test_wait_until(!duro_test_alive(&h, dev), 15000),
              "duro dev did not stop");
    for (int i = 0; i < 3; i++)
        cr_assert(duro_test_wait_until(!answers(p + i), 5000),
                  "node %d outlived duro dev", p + i);

    /* the same data dir again: the cluster of nodes.conf, its data kept */
    dev_start(p, dir, url, "did not come back on its data dir");
    assert_echoed_at(one, "dev-1", 3);
    duro_test_finish(&h);
}

Test(cluster, duro_dev_cluster_refuses_what_it_cannot_do)
{
    duro_test_dir_start(&h);
    duro_test_output o;
    static const char *const bad[][4] = {{"--cluster", "0", NULL},
                                         {"--cluster", "17", NULL},
                                         {"--cluster", "x", NULL},
                                         {"--cluster", "3", "--tls", NULL},
                                         {"--cluster", "3", "--acl", NULL}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        duro_test_run(&h, &o, CLI_MS, "duro", "dev", bad[i][0], bad[i][1],
                      bad[i][2], NULL);
        cr_assert_eq(o.exit_code, 2, "duro dev %s %s %s: exit %d: %s",
                     bad[i][0], bad[i][1], bad[i][2] ? bad[i][2] : "",
                     o.exit_code, o.err);
        cr_assert(strstr(o.err, "--cluster"), "%s", o.err);
        duro_test_output_free(&o);
    }
    /* bus ports past 65535 */
    duro_test_run(&h, &o, CLI_MS, "duro", "dev", "--cluster", "3", "--port",
                  "60000", NULL);
    cr_assert_eq(o.exit_code, 1, "%s", o.err);
    cr_assert(strstr(o.err, "65535"), "%s", o.err);
    duro_test_output_free(&o);
    duro_test_finish(&h);
}

/* ---- A worker's /metrics on a cluster ---- */

/* metric_value: the value of the first sample of `name` in text, or -1
 * when there is none. */
static double metric_value(const char *text, const char *name)
{
    size_t len = strlen(name);
    for (const char *l = text; l && *l;
         l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (strncmp(l, name, len) == 0 && (l[len] == ' ' || l[len] == '{')) {
            const char *v = strchr(l, ' ');
            return v ? strtod(v + 1, NULL) : -1;
        }
    return -1;
}

/* The backlog thread reads every partition's streams where they live:
 * the worker is given a node that does not serve duro:meta (one that
 * would answer MOVED to a plain connection). */
Test(cluster, the_backlog_metric_reads_every_partition_on_its_master)
{
    duro_test_cluster_start(&h, MASTERS, 0, NULL);
    int meta =
        duro_test_cluster_owner(&h, 0, duro_test_key_slot(DURO_META_KEY));
    int other = duro_test_cluster_master(&h, meta);
    cr_assert_geq(other, 0);
    char url[64], addr[64];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d",
             h.cluster.node[other].port);
    setenv("DURO_REDIS_URL", url, 1);
    /* duro:meta made first: the backlog thread's first round must not
     * race the worker's own setup */
    duro_test_output o;
    duro_test_run(&h, &o, CLI_MS, "duro", "operator", "init", "--partitions",
                  "16", NULL);
    cr_assert_eq(o.exit_code, 0, "%s%s", o.out, o.err);
    duro_test_output_free(&o);
    int port = duro_test_free_port();
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    pid_t w = duro_test_spawn_up(&h, UP_MS, "duro-test-worker",
                                 "--metrics-addr", addr, NULL);
    static char body[1 << 16];
    cr_assert(duro_test_wait_until((duro_test_http_get(port, "/metrics", body,
                                                       sizeof(body)) == 200 &&
                                    strstr(body, "duro_task_queue_backlog{")),
                                   12000),
              "no backlog gauge:\n%s", body);
    cr_assert_leq(metric_value(body, "duro_task_queue_backlog_errors_total"), 0,
                  "%s", body);
    cr_assert_not(duro_test_log_contains(&h, w, "MOVED"));
    duro_test_kill(&h, w, SIGTERM);
    duro_test_finish(&h);
}
