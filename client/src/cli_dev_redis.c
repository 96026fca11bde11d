/* cli_dev_redis.c: the redis-server processes of `duro dev` (cli_dev.c,
 * and each node of --cluster N: cli_dev_cluster.c): started so that they
 * never outlive us, waited for, and stopped in order (SIGTERM: the AOF is
 * written). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli_dev_redis.h"

#define REDIS_WAIT_MS 5000
#define REDIS_STOP_MS 5000

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* cli_dev_take_stop: a SIGINT/SIGTERM pending on us (they are blocked,
 * see cmd_dev in cli_dev.c), taken without waiting; 0 when none. */
int cli_dev_take_stop(void)
{
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    struct timespec zero = {0, 0};
    int sig = sigtimedwait(&stop, NULL, &zero);
    return sig > 0 ? sig : 0;
}

/* cli_dev_spawn_redis starts redis-server in its own process group, so
 * that the terminal's Ctrl-C reaches only us and we stop it in order. The
 * kernel sends it SIGTERM (redis-server's clean shutdown) when the thread
 * that forked it dies: cmd_dev's, which lives as long as the process. */
pid_t cli_dev_spawn_redis(const char *prog, const char *dir, int port,
                          const char *tls_dir, const char *const *extra)
{
    char portstr[16], logfile[4200];
    snprintf(portstr, sizeof(portstr), "%d", port);
    snprintf(logfile, sizeof(logfile), "%s/redis.log", dir);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0) return pid; /* parent, or -1 */
    /* the death signal survives exec; a parent that died before prctl
     * left us to init already, which getppid() shows */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
        _exit(127);
    setpgid(0, 0);
    /* A Ctrl-C that reached our group before setpgid is pending here;
     * ignoring it discards it (the parent got it too and stops us). Not
     * SIGTERM: that one comes from the parent's stop_redis. */
    signal(SIGINT, SIG_IGN);
    signal(SIGINT, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
        dup2(devnull, STDIN_FILENO);
        dup2(devnull, STDOUT_FILENO);
    }
    char *argv[48] = {
        (char *)prog, "--port",        portstr,     "--bind",
        "127.0.0.1",  "--dir",         (char *)dir, "--appendonly",
        "yes",        "--appendfsync", "everysec",  "--daemonize",
        "no",         "--logfile",     logfile};
    char cert[4300], key[4300], ca[4300];
    if (tls_dir) { /* TLS only; a client certificate is checked if given */
        snprintf(cert, sizeof(cert), "%s/server.crt", tls_dir);
        snprintf(key, sizeof(key), "%s/server.key", tls_dir);
        snprintf(ca, sizeof(ca), "%s/ca.crt", tls_dir);
        char *tls[] = {"--tls-port",
                       portstr,
                       "--tls-cert-file",
                       cert,
                       "--tls-key-file",
                       key,
                       "--tls-ca-cert-file",
                       ca,
                       "--tls-auth-clients",
                       "optional",
                       NULL};
        argv[2] = "0";
        memcpy(argv + 15, tls, sizeof(tls));
    }
    int argc = 15;
    while (argv[argc])
        argc++;
    for (int i = 0; extra && extra[i] && argc < 47; i++)
        argv[argc++] = (char *)extra[i];
    argv[argc] = NULL;
    execv(prog, argv);
    fprintf(stderr, "duro: cannot run %s: %s\n", prog, strerror(errno));
    _exit(127);
}

/* cli_dev_wait_redis: PING answered within REDIS_WAIT_MS while the child lives.
 * Returns the connection or NULL (*exited set when the child is gone,
 * *stopped to the signal when SIGINT/SIGTERM came first). */
redisContext *cli_dev_wait_redis(const duro_redis_url *url, pid_t pid,
                                 int *exited, int *stopped)
{
    for (int waited = 0; waited < REDIS_WAIT_MS; waited += 50) {
        if ((*stopped = cli_dev_take_stop())) return NULL;
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            *exited = 1;
            return NULL;
        }
        char err[256];
        redisContext *c = duro_redis_connect(url, 1000, err, sizeof(err));
        if (c) {
            redisReply *r = redisCommand(c, "PING");
            int ok = r && r->type == REDIS_REPLY_STATUS;
            if (r) freeReplyObject(r);
            if (ok) return c;
            redisFree(c);
        }
        sleep_ms(50);
    }
    return NULL;
}

/* cli_dev_stop_redis: SIGTERM (redis-server writes its AOF and exits),
 * then SIGKILL after REDIS_STOP_MS. A SIGINT meanwhile (a second Ctrl-C)
 * stops the wait: redis-server finishes its shutdown on its own. */
void cli_dev_stop_redis(pid_t pid)
{
    int status;
    if (waitpid(pid, &status, WNOHANG) != 0) return; /* gone (or reaped) */
    kill(pid, SIGTERM);
    for (int waited = 0; waited < REDIS_STOP_MS; waited += 50) {
        if (waitpid(pid, &status, WNOHANG) != 0) return;
        if (cli_dev_take_stop() == SIGINT) {
            fprintf(stderr,
                    "duro: not waiting for redis-server (pid %d) "
                    "to finish its shutdown\n",
                    (int)pid);
            return;
        }
        sleep_ms(50);
    }
    fprintf(stderr, "duro: redis-server (pid %d) did not stop; killing it\n",
            (int)pid);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
}
