/* harness.c: throwaway redis-server, child processes and helpers for the
 * integration tests (see harness.h). */
#include "harness.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "duro/keys.h"

#define REDIS_READY_MS 5000
#define STOP_GRACE_MS 5000
#define MAX_ARGS 64

/* the harness of this test process, for duro_test_fini and atexit */
static duro_test_harness *current;

/* ---- Time ---- */

int64_t duro_test_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void duro_test_sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- Processes ---- */

/* start_child forks and execs path with argv, stdout and stderr appended to
 * log (or to out/err when given). The child dies with the test process. */
static pid_t start_child(const char *path, char *const argv[], const char *out,
                         const char *err)
{
    pid_t parent = getpid();
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid > 0) return pid;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    setpgid(0, 0); /* a terminal's ^C goes to the test, which cleans up */
    int fo = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644);
    int fe = err ? open(err, O_WRONLY | O_CREAT | O_APPEND, 0644) : fo;
    int fi = open("/dev/null", O_RDONLY);
    if (fo < 0 || fe < 0 || fi < 0) _exit(126);
    dup2(fi, 0);
    dup2(fo, 1);
    dup2(fe, 2);
    execvp(path, argv);
    dprintf(2, "harness: exec %s: %s\n", path, strerror(errno));
    _exit(127);
}

static duro_test_child *child_of(duro_test_harness *h, pid_t pid)
{
    for (int i = 0; i < h->nchildren; i++)
        if (h->children[i].pid == pid) return &h->children[i];
    return NULL;
}

/* reap collects ch if it exited, waiting up to wait_ms. */
static bool reap(duro_test_child *ch, int64_t wait_ms)
{
    if (ch->reaped) return true;
    int64_t deadline = duro_test_mono_ms() + wait_ms;
    for (;;) {
        int st;
        pid_t r = waitpid(ch->pid, &st, WNOHANG);
        if (r == ch->pid || (r < 0 && errno == ECHILD)) {
            ch->reaped = true;
            ch->status = r == ch->pid ? st : 0;
            return true;
        }
        if (duro_test_mono_ms() >= deadline) return false;
        duro_test_sleep_ms(5);
    }
}

/* catches_sigterm: the process has installed a SIGTERM handler (the SigCgt
 * mask in /proc/<pid>/status), so a SIGTERM now asks it to stop rather
 * than killing it before its main() has even run. */
static bool catches_sigterm(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return true; /* gone: nothing to wait for */
    bool caught = false;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "SigCgt:", 7) == 0) {
            unsigned long long mask = strtoull(line + 7, NULL, 16);
            caught = mask & (1ULL << (SIGTERM - 1));
            break;
        }
        if (strncmp(line, "State:", 6) == 0 && strchr(line, 'Z')) {
            fclose(f);
            return true; /* exited */
        }
    }
    fclose(f);
    return caught;
}

pid_t duro_test_spawnv(duro_test_harness *h, const char *prog,
                       char *const args[])
{
    cr_assert(h->dir[0], "duro_test_redis_start first");
    cr_assert_lt(h->nchildren, DURO_TEST_MAX_CHILDREN, "too many children");
    duro_test_child *ch = &h->children[h->nchildren];
    memset(ch, 0, sizeof(*ch));
    snprintf(ch->name, sizeof(ch->name), "%s", prog);
    char log[sizeof(ch->log)]; /* not straight into ch: it is inside h */
    snprintf(log, sizeof(log), "%s/%s-%d.log", h->dir, prog, h->nchildren);
    memcpy(ch->log, log, sizeof(log));
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", DURO_BIN_DIR, prog);
    cr_assert(access(path, X_OK) == 0, "%s is not built: %s", path,
              strerror(errno));
    char *argv[MAX_ARGS + 2];
    int n = 0;
    argv[n++] = path;
    for (int i = 0; args && args[i] && n < MAX_ARGS; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid_t pid = start_child(path, argv, ch->log, NULL);
    cr_assert_gt(pid, 0, "fork: %s", strerror(errno));
    ch->pid = pid;
    h->nchildren++;
    /* Duro's programs handle SIGTERM from their first line; wait for that
     * line, so a test that stops them at once tests a stop, not a race
     * with the dynamic loader (slow under the sanitizers) */
    duro_test_wait_until(catches_sigterm(pid), 5000);
    return pid;
}

void duro__test_collect_args(va_list ap, char **args, int max)
{
    int n = 0;
    char *a;
    while ((a = va_arg(ap, char *)) && n < max)
        args[n++] = a;
    args[n] = NULL;
}

pid_t duro_test_spawn(duro_test_harness *h, const char *prog, ...)
{
    char *args[MAX_ARGS + 1];
    va_list ap;
    va_start(ap, prog);
    duro__test_collect_args(ap, args, MAX_ARGS);
    va_end(ap);
    return duro_test_spawnv(h, prog, args);
}

pid_t duro_test_spawn_redis(duro_test_harness *h, const char *name, ...)
{
    cr_assert(h->dir[0], "duro_test_redis_start first");
    cr_assert_lt(h->nchildren, DURO_TEST_MAX_CHILDREN, "too many children");
    char *argv[MAX_ARGS + 2] = {"redis-server"};
    va_list ap;
    va_start(ap, name);
    duro__test_collect_args(ap, argv + 1, MAX_ARGS - 1);
    va_end(ap);
    duro_test_child *ch = &h->children[h->nchildren];
    memset(ch, 0, sizeof(*ch));
    snprintf(ch->name, sizeof(ch->name), "%s", name);
    char log[sizeof(ch->log)]; /* not straight into ch: it is inside h */
    snprintf(log, sizeof(log), "%s/%s.log", h->dir, name);
    memcpy(ch->log, log, sizeof(log));
    ch->redis = true;
    pid_t pid = start_child("redis-server", argv, ch->log, NULL);
    cr_assert_gt(pid, 0, "fork: %s", strerror(errno));
    ch->pid = pid;
    h->nchildren++;
    return pid;
}

void duro_test_kill(duro_test_harness *h, pid_t pid, int sig)
{
    duro_test_child *ch = child_of(h, pid);
    cr_assert(ch, "pid %d was not started by the harness", (int)pid);
    if (sig == SIGKILL || sig == SIGTERM || sig == SIGINT || sig == SIGQUIT ||
        sig == SIGABRT)
        ch->killed_with = sig;
    if (!ch->reaped) kill(pid, sig);
}

bool duro_test_alive(duro_test_harness *h, pid_t pid)
{
    duro_test_child *ch = child_of(h, pid);
    return ch && !reap(ch, 0);
}

int duro_test_wait_exit(duro_test_harness *h, pid_t pid, int64_t timeout_ms)
{
    duro_test_child *ch = child_of(h, pid);
    cr_assert(ch, "pid %d was not started by the harness", (int)pid);
    if (!reap(ch, timeout_ms) || !WIFEXITED(ch->status)) return -1;
    ch->exit_awaited = true;
    return WEXITSTATUS(ch->status);
}

/* ended_badly: a Duro child that crashed or failed its shutdown. */
static bool ended_badly(const duro_test_child *ch)
{
    if (ch->exit_awaited) return false;
    if (WIFSIGNALED(ch->status)) return WTERMSIG(ch->status) != ch->killed_with;
    if (WIFEXITED(ch->status))
        return WEXITSTATUS(ch->status) != 0 && ch->killed_with != SIGKILL;
    return false;
}

static void describe_end(const duro_test_child *ch, char *buf, size_t size)
{
    if (!ch->reaped)
        snprintf(buf, size, "still running");
    else if (WIFSIGNALED(ch->status))
        snprintf(buf, size, "killed by signal %d (%s)", WTERMSIG(ch->status),
                 strsignal(WTERMSIG(ch->status)));
    else
        snprintf(buf, size, "exit code %d", WEXITSTATUS(ch->status));
}

/* rm_rf removes the temp dir and what is in it: child logs, and the
 * directories of extra redis-servers (a cluster node's holds its
 * appendonlydir), hence the depth. */
static void rm_rf_depth(const char *dir, int depth)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[PATH_MAX + 256];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        struct stat st;
        if (depth > 0 && lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            rm_rf_depth(p, depth - 1);
        else
            unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static void rm_rf(const char *dir)
{
    rm_rf_depth(dir, 3);
}

/* stop_children: duro_test_stop_all without removing the temp dir. */
static int stop_children(duro_test_harness *h)
{
    if (!h || h->stopped) return h ? h->bad_children : 0;
    h->stopped = true;
    /* Duro programs first (they may want Redis for a graceful stop). */
    for (int i = 0; i < h->nchildren; i++) {
        duro_test_child *ch = &h->children[i];
        if (!ch->redis && !reap(ch, 0)) kill(ch->pid, SIGTERM);
    }
    int64_t deadline = duro_test_mono_ms() + STOP_GRACE_MS;
    int bad = 0;
    char how[128];
    for (int i = 0; i < h->nchildren; i++) {
        duro_test_child *ch = &h->children[i];
        if (ch->redis) continue;
        int64_t left = deadline - duro_test_mono_ms();
        if (!reap(ch, left > 0 ? left : 0)) {
            fprintf(stderr,
                    "harness: %s (pid %d) ignored SIGTERM for %dms; "
                    "SIGKILL\n",
                    ch->name, (int)ch->pid, STOP_GRACE_MS);
            kill(ch->pid, SIGKILL);
            reap(ch, 2000);
            bad++;
            continue;
        }
        if (ended_badly(ch)) {
            describe_end(ch, how, sizeof(how));
            fprintf(stderr, "harness: %s (pid %d) ended badly: %s (log %s)\n",
                    ch->name, (int)ch->pid, how, ch->log);
            bad++;
        }
    }
    /* then the extra redis-servers (replicas, sentinels, cluster nodes):
     * nothing to save, and a master's SIGTERM shutdown would wait for its
     * replicas (shutdown-timeout) */
    for (int i = 0; i < h->nchildren; i++) {
        duro_test_child *ch = &h->children[i];
        if (!ch->redis) continue;
        if (!reap(ch, 0)) {
            ch->killed_with = SIGKILL;
            kill(ch->pid, SIGKILL);
            reap(ch, 2000);
        }
        if (ended_badly(ch)) {
            describe_end(ch, how, sizeof(how));
            fprintf(stderr, "harness: %s (pid %d) ended badly: %s (log %s)\n",
                    ch->name, (int)ch->pid, how, ch->log);
            bad++;
        }
    }
    if (h->redis_pid > 0) {
        kill(h->redis_pid, SIGKILL); /* nothing to save */
        waitpid(h->redis_pid, NULL, 0);
        h->redis_pid = 0;
    }
    h->bad_children = bad;
    return bad;
}

/* remove_dir deletes the temp dir unless $DURO_TEST_KEEP is set. */
static void remove_dir(duro_test_harness *h)
{
    if (h->dir[0] && !getenv("DURO_TEST_KEEP")) rm_rf(h->dir);
    h->dir[0] = '\0';
}

void duro_test_dump_logs(duro_test_harness *h, int lines)
{
    char how[128];
    if (lines < 1) lines = 1;
    for (int i = 0; i < h->nchildren; i++) {
        duro_test_child *ch = &h->children[i];
        reap(ch, 0);
        describe_end(ch, how, sizeof(how));
        /* an extra redis-server's (six for a cluster) in brief: the Duro
         * programs' logs are what a failure is read from */
        int want = ch->redis && lines > 5 ? 5 : lines;
        FILE *f = fopen(ch->log, "r");
        fprintf(stderr, "---- %s (pid %d, %s): last %d lines of %s ----\n",
                ch->name, (int)ch->pid, how, want, ch->log);
        if (!f) continue;
        /* a ring of the last `want` lines */
        char **ring = calloc((size_t)want, sizeof(*ring));
        size_t cap = 0;
        char *line = NULL;
        long n = 0;
        while (ring && getline(&line, &cap, f) >= 0) {
            free(ring[n % want]);
            ring[n % want] = strdup(line);
            n++;
        }
        for (long k = n > want ? n - want : 0; ring && k < n; k++)
            fputs(ring[k % want], stderr);
        for (int k = 0; ring && k < want; k++)
            free(ring[k]);
        free(ring);
        free(line);
        fclose(f);
    }
    if (h->dir[0]) {
        char p[PATH_MAX + 32];
        snprintf(p, sizeof(p), "%s/redis.log", h->dir);
        FILE *f = fopen(p, "r");
        if (f) {
            char line[1024];
            fprintf(stderr, "---- redis-server warnings ----\n");
            while (fgets(line, sizeof(line), f))
                if (strstr(line, " # ") && !strstr(line, "oO0OoO0Oo") &&
                    !strstr(line, "Redis version") &&
                    !strstr(line, "Configuration loaded") &&
                    !strstr(line, "Server initialized") &&
                    !strstr(line, "overcommit"))
                    fputs(line, stderr);
            fclose(f);
        }
    }
}

int duro_test_stop_all(duro_test_harness *h)
{
    int bad = stop_children(h);
    if (h) remove_dir(h);
    return bad;
}

void duro_test_finish(duro_test_harness *h)
{
    int bad = stop_children(h);
    if (bad) duro_test_dump_logs(h, 40);
    remove_dir(h);
    h->passed = true; /* logs already shown if something was wrong */
    cr_assert_eq(bad, 0,
                 "%d child process(es) crashed or did not stop "
                 "cleanly (see above)",
                 bad);
}

void duro_test_fini(void)
{
    duro_test_harness *h = current;
    if (!h) return;
    if (!h->passed) {
        stop_children(h);
        duro_test_dump_logs(h, 40);
    }
    duro_test_stop_all(h);
    current = NULL;
}

static void at_exit(void)
{
    if (current) duro_test_stop_all(current);
}

/* redis_connect: a context to the test's server, TLS when it is. */
static redisContext *redis_connect(const duro_test_harness *h, int port,
                                   int timeout_ms)
{
    if (h->tls) return duro__test_tls_connect(h, timeout_ms);
    struct timeval tv = {timeout_ms / 1000,
                         (suseconds_t)(timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c && !c->err) redisSetTimeout(c, tv);
    return c;
}

/* redis_answers: the test's redis-server answers a PING (any reply). */
static bool redis_answers(const duro_test_harness *h)
{
    redisContext *r = redis_connect(h, h->redis_port, 1000);
    bool up = r && !r->err;
    if (up) {
        redisReply *rep = redisCommand(r, "PING");
        up = rep && (rep->type == REDIS_REPLY_STATUS ||
                     rep->type == REDIS_REPLY_ERROR);
        if (rep) freeReplyObject(rep);
    }
    if (r) redisFree(r);
    return up;
}

void duro_test_redis_restart(duro_test_harness *h, int stop_signal,
                             int64_t down_ms, const char *appendonly,
                             const char *const *extra)
{
    duro_test_redis_stop(h, stop_signal);
    duro_test_sleep_ms(down_ms); /* the outage itself */
    duro_test_redis_start_again(h, appendonly, extra);
}

void duro_test_redis_stop(duro_test_harness *h, int stop_signal)
{
    cr_assert_gt(h->redis_pid, 0, "no redis-server to stop");
    kill(h->redis_pid, stop_signal);
    waitpid(h->redis_pid, NULL, 0);
    h->redis_pid = 0;
}

void duro_test_redis_start_again(duro_test_harness *h, const char *appendonly,
                                 const char *const *extra)
{
    cr_assert_eq(h->redis_pid, 0, "redis-server still runs");
    char port[16], log[PATH_MAX + 32];
    snprintf(port, sizeof(port), "%d", h->redis_port);
    snprintf(log, sizeof(log), "%s/redis.log", h->dir);
    char *argv[48] = {"redis-server",
                      "--port",
                      port,
                      "--bind",
                      "127.0.0.1",
                      "--save",
                      "",
                      "--appendonly",
                      (char *)appendonly,
                      "--dir",
                      h->dir,
                      "--daemonize",
                      "no"};
    int argc = 13;
    if (h->tls) {
        argv[2] = "0"; /* TLS only: --port 0 --tls-port <port> */
        argc += duro__test_tls_args(h, port, argv + argc);
    }
    for (int i = 0; extra && extra[i] && argc < 47; i++)
        argv[argc++] = (char *)extra[i];
    argv[argc] = NULL;
    pid_t pid = start_child("redis-server", argv, log, NULL);
    cr_assert_gt(pid, 0, "fork: %s", strerror(errno));
    h->redis_pid = pid;
    cr_assert(duro_test_wait_until(redis_answers(h), 5000),
              "redis-server did not come back");
}

/* ---- Task streams ---- */

void duro_test_claim_task(redisContext *r, const char *stream,
                          const char *consumer, const char *field, char *entry,
                          size_t esize, char *value, size_t vsize)
{
    redisReply *rep =
        redisCommand(r, "XREADGROUP GROUP %s %s COUNT 1 STREAMS %s >",
                     DURO_GROUP, consumer, stream);
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY, "no task in %s", stream);
    redisReply *e = rep->element[0]->element[1]->element[0];
    snprintf(entry, esize, "%s", e->element[0]->str);
    redisReply *fields = e->element[1];
    value[0] = '\0';
    for (size_t i = 0; i + 1 < fields->elements; i += 2)
        if (!strcmp(fields->element[i]->str, field))
            snprintf(value, vsize, "%s", fields->element[i + 1]->str);
    cr_assert(value[0], "entry %s has no %s", entry, field);
    freeReplyObject(rep);
}

/* ---- Files ---- */

int duro_test_count_lines(const char *path, const char *prefix)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[512];
    int n = 0;
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, prefix, strlen(prefix))) n++;
    fclose(f);
    return n;
}

/* ---- HTTP ---- */

int duro_test_http_get(int port, const char *path, char *buf, size_t size)
{
    char local[4096];
    if (!buf) {
        buf = local;
        size = sizeof(local);
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = 2}; /* a stuck server fails the call */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    char req[256];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    size_t got = 0;
    ssize_t r;
    while (got + 1 < size && (r = read(fd, buf + got, size - got - 1)) > 0)
        got += (size_t)r;
    buf[got] = '\0';
    close(fd);
    const char *sp = strncmp(buf, "HTTP/", 5) == 0 ? strchr(buf, ' ') : NULL;
    return sp ? (int)strtol(sp + 1, NULL, 10) : -1;
}

/* ---- Redis ---- */

int duro_test_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    return port;
}

/* redis_ready: our server (by pid) answers PING on port. */
static bool redis_ready(duro_test_harness *h, int port, pid_t pid)
{
    h->redis_port = port;
    redisContext *c = redis_connect(h, port, 200);
    bool ok = false;
    if (c && !c->err) {
        redisReply *r = redisCommand(c, "PING");
        ok = r && r->type == REDIS_REPLY_STATUS && !strcmp(r->str, "PONG");
        freeReplyObject(r);
        if (ok) { /* not someone else's server that holds the port */
            r = redisCommand(c, "INFO server");
            char want[32];
            snprintf(want, sizeof(want), "process_id:%d\r", (int)pid);
            ok = r && r->type == REDIS_REPLY_STRING && strstr(r->str, want);
            freeReplyObject(r);
        }
    }
    if (c) redisFree(c);
    return ok;
}

/* clean_stale removes the temp dirs of test processes that died without
 * cleaning up (killed by a timeout): duro-test-<pid>-XXXXXX. */
static void clean_stale(const char *tmp)
{
    DIR *d = opendir(tmp);
    if (!d) return;
    struct dirent *e;
    char p[PATH_MAX + 256];
    while ((e = readdir(d))) {
        const char *num =
            strncmp(e->d_name, "duro-test-", 10) == 0 ? e->d_name + 10 : NULL;
        char *end = NULL;
        long pid = num ? strtol(num, &end, 10) : 0;
        if (!num || end == num || *end != '-' || pid <= 0 ||
            kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        snprintf(p, sizeof(p), "%s/%s", tmp, e->d_name);
        rm_rf(p);
    }
    closedir(d);
}

void duro_test_redis_start(duro_test_harness *h)
{
    memset(h, 0, sizeof(*h));
    duro__test_redis_start_as_set(h);
}

/* make_dir: the temp dir, and this harness stopped at exit. */
static void make_dir(duro_test_harness *h)
{
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp) tmp = "/tmp";
    clean_stale(tmp);
    snprintf(h->dir, sizeof(h->dir), "%s/duro-test-%d-XXXXXX", tmp,
             (int)getpid());
    cr_assert(mkdtemp(h->dir), "mkdtemp: %s", strerror(errno));
    current = h;
    static bool registered;
    if (!registered) {
        atexit(at_exit);
        registered = true;
    }
}

void duro_test_dir_start(duro_test_harness *h)
{
    memset(h, 0, sizeof(*h));
    make_dir(h);
}

void duro_test_write_file(const duro_test_harness *h, const char *name,
                          const char *text, char *path, size_t size)
{
    int n = snprintf(path, size, "%s/%s", h->dir, name);
    cr_assert(n > 0 && (size_t)n < size, "path of %s too long", name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert(fd >= 0, "%s: %s", path, strerror(errno));
    FILE *f = fdopen(fd, "w");
    cr_assert_not_null(f);
    cr_assert(fputs(text, f) >= 0 && fclose(f) == 0, "%s: %s", path,
              strerror(errno));
}

void duro__test_redis_start_as_set(duro_test_harness *h)
{
    make_dir(h);
    if (h->tls) duro__test_tls_prepare(h);
    char redis_log[PATH_MAX + 32];
    snprintf(redis_log, sizeof(redis_log), "%s/redis.log", h->dir);
    srand((unsigned)(getpid() ^ duro_test_mono_ms()));
    for (int attempt = 0; attempt < 10; attempt++) {
        /* a port guess, retried on failure: no need for good randomness */
        /* NOLINTNEXTLINE(cert-msc30-c,cert-msc50-cpp) */
        int port = 20000 + rand() % 40000;
        char sport[16];
        snprintf(sport, sizeof(sport), "%d", port);
        char *argv[48] = {"redis-server",
                          "--port",
                          sport,
                          "--bind",
                          "127.0.0.1",
                          "--save",
                          "",
                          "--appendonly",
                          "no",
                          "--dir",
                          h->dir,
                          "--daemonize",
                          "no",
                          "--protected-mode",
                          "no",
                          "--logfile",
                          redis_log,
                          NULL};
        if (h->tls) {
            argv[2] = "0"; /* TLS only: --port 0 --tls-port <port> */
            argv[17 + duro__test_tls_args(h, sport, argv + 17)] = NULL;
        }
        pid_t pid = start_child("redis-server", argv, redis_log, NULL);
        cr_assert_gt(pid, 0, "fork: %s", strerror(errno));
        int64_t deadline = duro_test_mono_ms() + REDIS_READY_MS;
        bool exited = false, ready = false;
        while (!ready && duro_test_mono_ms() < deadline) {
            if (waitpid(pid, NULL, WNOHANG) == pid) {
                exited = true; /* most likely: the port was taken */
                break;
            }
            ready = redis_ready(h, port, pid);
            if (!ready) duro_test_sleep_ms(10);
        }
        if (ready) {
            h->redis_pid = pid;
            h->redis_port = port;
            snprintf(h->redis_url, sizeof(h->redis_url), "%s://127.0.0.1:%d",
                     h->tls ? "rediss" : "redis", port);
            setenv("DURO_REDIS_URL", h->redis_url, 1);
            /* Every program of a test is given the layout, as a deployment
             * gives it to every component: a client that is not given one
             * waits for a worker or scheduler to create duro:meta. */
            setenv("DURO_PARTITIONS", "16", 1);
            return;
        }
        if (!exited) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
        }
    }
    duro_test_dump_logs(h, 0);
    cr_assert_fail("redis-server did not start (is it installed? see %s)",
                   redis_log);
}

redisContext *duro_test_redis(duro_test_harness *h)
{
    redisContext *c = redis_connect(h, h->redis_port, 5000);
    cr_assert(c && !c->err, "connect to redis: %s", c ? c->errstr : "failed");
    return c;
}

duro_client *duro_test_client(duro_test_harness *h)
{
    duro_client *c = NULL;
    char err[256] = "";
    int rc = duro_client_new(&c, h->redis_url, err, sizeof(err));
    /* a Redis just restarted answers LOADING for a moment: wait that out
     * (10 s at most), as a client would */
    for (int i = 0; i < 200 && rc == DURO_EAGAIN; i++) {
        duro_test_sleep_ms(50);
        rc = duro_client_new(&c, h->redis_url, err, sizeof(err));
    }
    cr_assert_eq(rc, 0, "duro_client_new: %s", err);
    return c;
}

/* ---- Workflows ---- */

void duro_test_start(duro_client *c, const char *id, const char *type,
                     const char *queue, const char *input,
                     int64_t task_timeout_ms)
{
    duro_start_opts o = {0};
    o.workflow_id = id;
    o.type = type;
    o.task_queue = queue;
    o.input = input;
    o.task_timeout_ms = task_timeout_ms;
    char run[DURO_UUID_LEN + 1];
    int rc = duro_client_start(c, &o, run);
    cr_assert_eq(rc, 0, "start %s: %s (%s)", id, duro_strerror(rc),
                 duro_client_errstr(c));
}

cJSON *duro_test_result(duro_client *c, const char *id, int64_t timeout_ms)
{
    cJSON *d = NULL;
    int rc = duro_client_result(c, id, timeout_ms, &d);
    if (rc != 0) {
        cJSON *now = NULL;
        char *s = NULL;
        if (duro_client_describe(c, id, &now) == 0) s = cJSON_Print(now);
        cr_assert_fail("result of %s: %s (%s); describe: %s", id,
                       duro_strerror(rc), duro_client_errstr(c), s ? s : "-");
    }
    return d;
}

cJSON *duro_test_history(duro_client *c, const char *id)
{
    cJSON *events = NULL;
    int rc = duro_client_history(c, id, NULL, &events);
    cr_assert_eq(rc, 0, "history of %s: %s (%s)", id, duro_strerror(rc),
                 duro_client_errstr(c));
    return events;
}

int duro_test_count_events(const cJSON *history, const char *type)
{
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, history)
    {
        if (!strcmp(duro_test_str(e, "type"), type)) n++;
    }
    return n;
}

const cJSON *duro_test_find_event(const cJSON *history, const char *type, int n)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, history)
    {
        if (!strcmp(duro_test_str(e, "type"), type) && n-- == 0) return e;
    }
    return NULL;
}

const cJSON *duro_test_event_data(const cJSON *event)
{
    return cJSON_GetObjectItemCaseSensitive(event, "data");
}

int64_t duro_test_event_time_ms(const cJSON *event)
{
    const char *s = duro_test_str(event, "time");
    struct tm tm = {0};
    int ms = 0;
    /* the count is checked and the fields are small: cert-err34-c's
     * overflow case cannot arise from duro_iso8601 output */
    /* NOLINTNEXTLINE(cert-err34-c) */
    if (sscanf(s, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

double duro_test_num(const cJSON *o, const char *name, double def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}

const char *duro_test_str(const cJSON *o, const char *name)
{
    const char *s =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, name));
    return s ? s : "";
}

/* ---- Running a command ---- */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return strdup("");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)(n > 0 ? n : 0) + 1);
    size_t got = buf && n > 0 ? fread(buf, 1, (size_t)n, f) : 0;
    if (buf) buf[got] = '\0';
    fclose(f);
    return buf;
}

void duro_test_run(duro_test_harness *h, duro_test_output *o,
                   int64_t timeout_ms, const char *prog, ...)
{
    static int runs;
    memset(o, 0, sizeof(*o));
    char path[PATH_MAX], out[PATH_MAX + 64], err[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", DURO_BIN_DIR, prog);
    snprintf(out, sizeof(out), "%s/run-%d.out", h->dir, runs);
    snprintf(err, sizeof(err), "%s/run-%d.err", h->dir, runs);
    runs++;
    char *argv[MAX_ARGS + 2] = {path};
    va_list ap;
    va_start(ap, prog);
    duro__test_collect_args(ap, argv + 1, MAX_ARGS);
    va_end(ap);
    int64_t t0 = duro_test_mono_ms();
    pid_t pid = start_child(path, argv, out, err);
    cr_assert_gt(pid, 0, "fork: %s", strerror(errno));
    duro_test_child ch = {.pid = pid};
    if (!reap(&ch, timeout_ms)) {
        kill(pid, SIGKILL);
        reap(&ch, 2000);
        o->timed_out = true;
    }
    o->elapsed_ms = duro_test_mono_ms() - t0;
    o->exit_code =
        !o->timed_out && WIFEXITED(ch.status) ? WEXITSTATUS(ch.status) : -1;
    o->out = slurp(out);
    o->err = slurp(err);
}

void duro_test_output_free(duro_test_output *o)
{
    free(o->out);
    free(o->err);
    o->out = o->err = NULL;
}

/* ---- Logs ---- */

bool duro_test_log_contains(duro_test_harness *h, pid_t pid, const char *s)
{
    duro_test_child *ch = child_of(h, pid);
    cr_assert(ch, "pid %d was not started by the harness", (int)pid);
    FILE *f = fopen(ch->log, "r");
    if (!f) return false;
    char *line = NULL;
    size_t cap = 0;
    bool found = false;
    while (!found && getline(&line, &cap, f) >= 0)
        found = strstr(line, s);
    free(line);
    fclose(f);
    return found;
}

int duro_test_archive_lines(const char *dir, const char *ns, const char *s)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, ns, strlen(ns)) != 0) continue;
        char path[PATH_MAX + 300];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "r");
        static char line[1 << 16];
        while (f && fgets(line, sizeof(line), f))
            n += strstr(line, s) != NULL;
        if (f) fclose(f);
    }
    closedir(d);
    return n;
}
