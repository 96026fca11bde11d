/* test_redis.c: the test environment's private redis-server: a free port
 * of 127.0.0.1, no persistence, stopped by its PID. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "duro/errno.h"
#include "duro/log.h"
#include "duro/redis.h"
#include "testing_int.h"

#define START_WAIT_MS 5000
#define STOP_WAIT_MS 3000

/* free_port: a port the kernel hands out on 127.0.0.1, released at once
 * for redis-server to bind (a race another process could win, which the
 * start then reports). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int port = -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static void exec_redis(const char *prog, int port, pid_t parent)
{
    char p[16];
    snprintf(p, sizeof(p), "%d", port);
    /* ends with the keeper thread, so with the test process, even one
     * killed by a test timeout (and one that died before this line) */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) { /* nothing of the test's output held open */
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        close(null);
    }
    execlp(prog, prog, "--port", p, "--bind", "127.0.0.1", "--save", "",
           "--appendonly", "no", "--dir", "/tmp", (char *)NULL);
    _exit(127);
}

/* keeper: forks the server and waits for its end (testing_redis). */
static void *keeper(void *arg)
{
    testing_redis *r = arg;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) exec_redis(r->prog, r->port, parent);
    int status = -1;
    if (pid > 0) {
        atomic_store(&r->pid, pid);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
    }
    r->status = status;
    atomic_store(&r->exited, true);
    return NULL;
}

static int64_t real_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap_ms(int ms)
{
    struct timespec ts = {0, (long)ms * 1000000L};
    nanosleep(&ts, NULL);
}

int testing__redis_start(testing_redis *r, const char *prog)
{
    atomic_store(&r->pid, -1);
    atomic_store(&r->exited, false);
    r->prog = prog;
    r->port = free_port();
    if (r->port < 0) return DURO_ECONN;
    if (pthread_create(&r->keeper, NULL, keeper, r) != 0) return DURO_ENOMEM;
    r->keeper_running = true;
    snprintf(r->url, sizeof(r->url), "redis://127.0.0.1:%d", r->port);
    int64_t until = real_mono_ms() + START_WAIT_MS;
    while (real_mono_ms() < until) {
        if (atomic_load(&r->exited)) {
            int status = r->status;
            testing__redis_stop(r);
            if (status == -1) return DURO_ENOMEM; /* no fork */
            bool missing = WIFEXITED(status) && WEXITSTATUS(status) == 127;
            duro_error("TESTENV redis-server %s (%s)",
                       missing ? "not found on PATH" : "exited at start", prog);
            return missing ? DURO_ENOTFOUND : DURO_ECONN;
        }
        redisContext *c = atomic_load(&r->pid) > 0
                              ? redisConnect("127.0.0.1", r->port)
                              : NULL;
        if (c && !c->err) {
            redisReply *rep = redisCommand(c, "PING");
            bool up = rep && rep->type == REDIS_REPLY_STATUS;
            freeReplyObject(rep);
            redisFree(c);
            if (up) return 0;
        } else {
            redisFree(c);
        }
        nap_ms(5);
    }
    duro_error("TESTENV redis-server did not answer on port %d", r->port);
    testing__redis_stop(r);
    return DURO_ECONN;
}

void testing__redis_stop(testing_redis *r)
{
    if (!r->keeper_running) return;
    /* not once reaped: the PID could be another process's by then */
    pid_t pid = atomic_load(&r->pid);
    if (pid > 0 && !atomic_load(&r->exited)) kill(pid, SIGTERM);
    int64_t until = real_mono_ms() + STOP_WAIT_MS;
    while (!atomic_load(&r->exited)) {
        if (real_mono_ms() >= until) {
            /* a fork not yet published (pid -1) has exited or will */
            pid = atomic_load(&r->pid);
            if (pid > 0 && !atomic_load(&r->exited)) kill(pid, SIGKILL);
            until = INT64_MAX;
        }
        nap_ms(2);
    }
    pthread_join(r->keeper, NULL);
    r->keeper_running = false;
    atomic_store(&r->pid, -1);
}
