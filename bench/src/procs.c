/* procs.c: the driver's child processes, its temp dir and /proc readers. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "duro/clock.h"

volatile sig_atomic_t bench_stop_requested;

/* Every live child, for the cleanup paths (the signal handler reads it). */
#define MAX_CHILDREN 64
static volatile pid_t children[MAX_CHILDREN];

int64_t bench_now_us(void)
{
    return duro_mono_us();
}

void bench_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- Signals ---- */

static void on_signal(int sig)
{
    if (!bench_stop_requested) {
        bench_stop_requested = sig;
        return;
    }
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i] > 0) kill(children[i], SIGKILL);
    _exit(130);
}

void bench_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* ---- Temp dir ---- */

int bench_tmpdir_make(bench *b)
{
    const char *base = getenv("TMPDIR");
    snprintf(b->tmpdir, sizeof(b->tmpdir), "%s/duro-bench.XXXXXX",
             base && *base ? base : "/tmp");
    if (!mkdtemp(b->tmpdir)) {
        fprintf(stderr, "duro-bench: mkdtemp %s: %s\n", b->tmpdir,
                strerror(errno));
        return -1;
    }
    return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
    return remove(path);
}

void bench_tmpdir_remove(bench *b)
{
    if (!b->tmpdir[0]) return;
    if (b->o.keep) {
        printf("# logs kept in %s\n", b->tmpdir);
        return;
    }
    nftw(b->tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* bench_free_port: a port the kernel just handed out (bind to 0). */
int bench_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* ---- Children ---- */

static void child_add(pid_t pid)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i] == 0) {
            children[i] = pid;
            return;
        }
}

static void child_del(pid_t pid)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i] == pid) children[i] = 0;
}

pid_t bench_spawn(bench *b, char *const argv[], const char *logname)
{
    char log[PATH_MAX + 64];
    snprintf(log, sizeof(log), "%s/%s", b->tmpdir, logname);
    fflush(stdout);
    fflush(stderr);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "duro-bench: fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        /* Die with the driver whatever happens to it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        setpgid(0, 0); /* the terminal's ^C goes to the driver only */
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        setenv("DURO_REDIS_URL", b->url, 1);
        execvp(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    child_add(pid);
    return pid;
}

void bench_stop_pid(pid_t pid, int grace_ms)
{
    if (pid <= 0) return;
    kill(pid, SIGTERM);
    int64_t deadline = bench_now_us() + (int64_t)grace_ms * 1000;
    int status;
    while (bench_now_us() < deadline) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD)) {
            child_del(pid);
            return;
        }
        bench_sleep_ms(5);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    child_del(pid);
}

void bench_kill_all(void)
{
    for (int i = 0; i < MAX_CHILDREN; i++) {
        pid_t p = children[i];
        if (p > 0) bench_stop_pid(p, 3000);
    }
}

/* ---- /proc ---- */

long bench_proc_kb(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long kb = -1;
    size_t flen = strlen(field);
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, field, flen) == 0) {
            kb = strtol(line + flen, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}

double bench_proc_cpu_ms(pid_t pid)
{
    char path[64], buf[2048];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p) return -1;
    unsigned long long ut = 0, st = 0;
    /* after ')': state(3) ... utime(14) stime(15); kernel-written fields
     * and a checked count, so sscanf rather than eleven strtoull calls */
    /* NOLINTNEXTLINE(cert-err34-c) */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
               &ut, &st) != 2)
        return -1;
    return (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

long bench_proc_ctxsw(pid_t pid)
{
    return bench_proc_ctxsw_of(pid, NULL);
}

long bench_proc_ctxsw_of(pid_t pid, long *nonvoluntary)
{
    if (nonvoluntary) *nonvoluntary = 0;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d) return -1;
    long sum = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char spath[64 + sizeof(e->d_name)], line[256];
        snprintf(spath, sizeof(spath), "/proc/%d/task/%s/status", (int)pid,
                 e->d_name);
        FILE *f = fopen(spath, "r");
        while (f && fgets(line, sizeof(line), f)) {
            const char *v = strchr(line, ':');
            if (v && (strncmp(line, "voluntary_ctxt_switches:", 24) == 0 ||
                      strncmp(line, "nonvoluntary_ctxt_switches:", 27) == 0)) {
                long n = strtol(v + 1, NULL, 10);
                sum += n;
                if (nonvoluntary && line[0] == 'n') *nonvoluntary += n;
            }
        }
        if (f) fclose(f);
    }
    closedir(d);
    return sum;
}
