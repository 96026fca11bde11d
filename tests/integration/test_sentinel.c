/* test_sentinel.c: a primary, two replicas and three sentinels on
 * loopback; the worker, the scheduler and the client find the primary
 * through redis+sentinel://, the primary is killed with SIGKILL while
 * workflows run, and every workflow completes once the sentinels have
 * promoted a replica. Commits wait for one replica (DURO_REDIS_WAIT=1), so
 * nothing acknowledged is lost in the failover. The harness starts and
 * stops the extra redis-servers. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define SENTINELS 3
#define WORKFLOWS 20

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(sentinel, .init = setup, .fini = duro_test_fini, .timeout = 120);

static void start_replica(const char *name, int port)
{
    char sport[16], sprimary[16], dir[PATH_MAX + 16];
    snprintf(sport, sizeof(sport), "%d", port);
    snprintf(sprimary, sizeof(sprimary), "%d", h.redis_port);
    snprintf(dir, sizeof(dir), "%s/%s", h.dir, name);
    cr_assert(mkdir(dir, 0700) == 0 || errno == EEXIST);
    duro_test_spawn_redis(&h, name, "--port", sport, "--bind", "127.0.0.1",
                          "--save", "", "--appendonly", "no", "--dir", dir,
                          "--replicaof", "127.0.0.1", sprimary, NULL);
}

static void start_sentinel(int i, int port)
{
    char conf[PATH_MAX + 64], name[32];
    snprintf(name, sizeof(name), "sentinel-%d", i);
    snprintf(conf, sizeof(conf), "%s/%s.conf", h.dir, name);
    FILE *f = fopen(conf, "w");
    cr_assert(f);
    fprintf(f,
            "port %d\nbind 127.0.0.1\ndir %s\n"
            "sentinel monitor mymaster 127.0.0.1 %d 2\n"
            "sentinel down-after-milliseconds mymaster 1000\n"
            "sentinel failover-timeout mymaster 4000\n"
            "sentinel parallel-syncs mymaster 2\n",
            port, h.dir, h.redis_port);
    fclose(f);
    duro_test_spawn_redis(&h, name, conf, "--sentinel", NULL);
}

/* sentinel_count: what SENTINEL <what> mymaster lists on port, or -1. */
static int sentinel_count(int port, const char *what)
{
    redisContext *c = redisConnect("127.0.0.1", port);
    int n = -1;
    if (c && !c->err) {
        redisReply *r = redisCommand(c, "SENTINEL %s mymaster", what);
        if (r && r->type == REDIS_REPLY_ARRAY) n = (int)r->elements;
        freeReplyObject(r);
    }
    if (c) redisFree(c);
    return n;
}

/* replicas_online: the primary counts n replicas done with their first
 * sync (only those confirm a WAIT). */
static bool replicas_online(int n)
{
    redisContext *r = duro_test_redis(&h);
    redisReply *rep = redisCommand(r, "INFO replication");
    int online = 0;
    for (const char *p = rep && rep->type == REDIS_REPLY_STRING ? rep->str : "";
         (p = strstr(p, "state=online")); p++)
        online++;
    freeReplyObject(rep);
    redisFree(r);
    return online >= n;
}

/* closed_subscribers: the clients subscribed to a closed channel on the
 * primary (a waiting `duro workflow result`). */
static int closed_subscribers(void)
{
    redisContext *r = redisConnect("127.0.0.1", h.redis_port);
    redisReply *rep =
        r && !r->err ? redisCommand(r, "PUBSUB CHANNELS duro:closed:*") : NULL;
    int n = rep && rep->type == REDIS_REPLY_ARRAY ? (int)rep->elements : 0;
    freeReplyObject(rep);
    if (r) redisFree(r);
    return n;
}

/* followed: the worker's log says it found the master at one of ports. */
static bool followed(pid_t w, const int *ports, int n)
{
    char line[96];
    for (int i = 0; i < n; i++) {
        snprintf(line, sizeof(line),
                 "SENTINEL MASTER name=mymaster addr=127.0.0.1:%d", ports[i]);
        if (duro_test_log_contains(&h, w, line)) return true;
    }
    return false;
}

Test(sentinel, primary_killed_mid_run_every_workflow_completes)
{
    int sport[SENTINELS], rport[2];
    rport[0] = duro_test_free_port();
    start_replica("replica-a", rport[0]);
    rport[1] = duro_test_free_port();
    start_replica("replica-b", rport[1]);
    cr_assert(duro_test_wait_until(replicas_online(2), 15000),
              "the replicas did not sync");
    for (int i = 0; i < SENTINELS; i++) {
        sport[i] = duro_test_free_port();
        start_sentinel(i, sport[i]);
    }
    /* every sentinel knows both replicas and the other sentinels */
    for (int i = 0; i < SENTINELS; i++)
        cr_assert(
            duro_test_wait_until(sentinel_count(sport[i], "replicas") == 2 &&
                                     sentinel_count(sport[i], "sentinels") == 2,
                                 15000),
            "sentinel %d did not discover the others", i);
    char url[256];
    snprintf(url, sizeof(url),
             "redis+sentinel://127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d/"
             "mymaster",
             sport[0], sport[1], sport[2]);
    setenv("DURO_REDIS_URL", url, 1);
    setenv("DURO_REDIS_WAIT", "1", 1);
    pid_t s =
        duro_test_spawn(&h, "duro-scheduler", "--scan-interval", "100ms", NULL);
    pid_t w = duro_test_spawn(&h, "duro-test-worker", NULL);
    cr_assert(
        duro_test_wait_until(duro_test_log_contains(&h, s, "REDIS UP"), 5000));
    cr_assert(
        duro_test_wait_until(duro_test_log_contains(&h, w, "REDIS UP"), 5000));

    duro_client *c = duro_test_client_url(url);
    char id[32];
    /* `duro workflow result` waits through the failover: it used to exit
     * 1 at the first lost connection (the sleep outlasts the spawn's wait
     * for a SIGTERM handler, which the CLI has not: 5 s) */
    duro_test_start(c, "sent-cli", "sleep", "test", "{\"ms\":10000}", 0);
    pid_t cli = duro_test_spawn(&h, "duro", "workflow", "result",
                                "--workflow-id", "sent-cli", NULL);
    cr_assert(duro_test_wait_until(closed_subscribers() > 0, 10000),
              "duro workflow result did not subscribe");
    for (int i = 0; i < WORKFLOWS; i++) {
        snprintf(id, sizeof(id), "sent-%d", i);
        duro_test_start(c, id, "activities", "test", "{\"n\":6}", 0);
    }
    /* the primary dies with workflows half way */
    kill(h.redis_pid, SIGKILL);
    waitpid(h.redis_pid, NULL, 0);
    h.redis_pid = 0;

    for (int i = 0; i < WORKFLOWS; i++) {
        snprintf(id, sizeof(id), "sent-%d", i);
        cJSON *d = duro_test_result_retrying(c, id, 60000);
        cr_assert_str_eq(duro_test_str(d, "status"), "COMPLETED", "%s", id);
        const cJSON *res = cJSON_GetObjectItem(d, "result");
        const cJSON *echoed = cJSON_GetObjectItem(res, "echoed");
        cr_assert_eq(cJSON_GetArraySize(echoed), 6, "%s", id);
        cJSON_Delete(d);
    }
    duro_client_free(c);
    cr_assert(followed(w, rport, 2), "the worker did not follow the failover");
    cr_assert_eq(duro_test_wait_exit(&h, cli, 60000), 0,
                 "duro workflow result failed at the failover");
    cr_assert(duro_test_log_contains(&h, cli, "\"after\""),
              "duro workflow result printed no result");
    duro_test_finish(&h);
}

/* fake_sentinel: one connection on a loopback port, answered with reply
 * (NULL: never answered) to whatever it sends first, held until the peer
 * closes; every wait bounded. */
typedef struct {
    int fd, port;
    const char *reply;
} fake_sentinel;

static void *fake_sentinel_serve(void *arg)
{
    fake_sentinel *f = arg;
    struct pollfd p = {.fd = f->fd, .events = POLLIN};
    if (poll(&p, 1, 10000) != 1) return NULL;
    int c = accept(f->fd, NULL, NULL);
    if (c < 0) return NULL;
    char buf[512];
    p.fd = c;
    bool answered = false;
    for (int i = 0; i < 100 && poll(&p, 1, 10000) == 1; i++) {
        if (read(c, buf, sizeof(buf)) <= 0) break;
        if (f->reply && !answered)
            answered = write(c, f->reply, strlen(f->reply)) > 0;
    }
    close(c);
    return NULL;
}

static void fake_sentinel_start(fake_sentinel *f, pthread_t *t)
{
    f->fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(f->fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    cr_assert_eq(bind(f->fd, (struct sockaddr *)&a, len), 0);
    cr_assert_eq(listen(f->fd, 4), 0);
    cr_assert_eq(getsockname(f->fd, (struct sockaddr *)&a, &len), 0);
    f->port = ntohs(a.sin_port);
    cr_assert_eq(pthread_create(t, NULL, fake_sentinel_serve, f), 0);
}

/* sentinel_error: duro's stderr against a sentinel that answers reply. */
static char *sentinel_error(const char *reply)
{
    fake_sentinel f = {.reply = reply};
    pthread_t t;
    fake_sentinel_start(&f, &t);
    char url[96];
    snprintf(url, sizeof(url), "redis+sentinel://127.0.0.1:%d/mymaster",
             f.port);
    duro_test_output o;
    duro_test_run(&h, &o, 15000, "duro", "--redis", url, "workflow", "describe",
                  "--workflow-id", "x", NULL);
    pthread_join(t, NULL);
    close(f.fd);
    cr_assert_eq(o.exit_code, 1, "stderr: %s", o.err);
    char *err = o.err;
    o.err = NULL;
    duro_test_output_free(&o);
    return err;
}

/* a sentinel's answer with a port that is not one used to be reported
 * with a message that was not its own ("no sentinel given"), and one
 * that never answered as "Resource temporarily unavailable" */
Test(sentinel, a_sentinel_that_answers_garbage_is_named_with_why)
{
    char *err = sentinel_error("*2\r\n$9\r\n127.0.0.1\r\n$3\r\nabc\r\n");
    cr_assert(strstr(err, "named master mymaster at a bad port \"abc\""),
              "stderr: %s", err);
    /* it used to say "cannot connect to redis at <the first sentinel>" */
    cr_assert(strstr(err, "cannot connect to redis master mymaster (via "
                          "Sentinel): no sentinel gave"),
              "stderr: %s", err);
    free(err);
    err = sentinel_error(NULL);
    cr_assert(strstr(err, "did not answer within 500ms"), "stderr: %s", err);
    free(err);
    err = sentinel_error("HTTP/1.1 400 Bad Request\r\n\r\n");
    cr_assert(strstr(err, "Protocol error"), "stderr: %s", err);
    free(err);
    err = sentinel_error("$-1\r\n");
    cr_assert(strstr(err, "does not know master mymaster"), "stderr: %s", err);
    free(err);
    duro_test_finish(&h);
}
