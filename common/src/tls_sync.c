/* tls_sync.c: TLS under a blocking hiredis redisContext.
 *
 * hiredis 0.14 has no TLS and no pluggable I/O, but redisConnectFd takes
 * any connected stream socket. A rediss:// context is therefore handed one
 * end of a process-private socketpair (AF_UNIX, never named, never
 * listening: nothing outside the process can reach it), and a pump thread
 * holds the other end and the TLS connection:
 *
 *   redisCommand --plaintext--> socketpair --pump: SSL_write--> Redis
 *   redisReply  <--plaintext--  socketpair <--pump: SSL_read--- Redis
 *
 * Everything hiredis does stays as it is (timeouts are SO_RCVTIMEO on its
 * end, errors are a closed socket), and the ~100 redisCommand call sites
 * keep their redisContext. The TCP connect and the TLS handshake run in
 * the caller's thread, bounded by the connect timeout, so a refused
 * certificate is reported by duro_redis_open itself. The pump owns the
 * SSL from then on (OpenSSL objects are not shared between threads); it
 * ends when hiredis closes its end (redisFree) or when TLS fails, which
 * closes the pair so hiredis sees a lost connection. Plain redis:// never
 * comes here.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "duro/clock.h"
#include "duro/errno.h"
#include "tls.h"
#include "tls_sync.h"

#define PUMP_BUF 16384

struct duro__tls_pump {
    pthread_mutex_t mu;
    int refs;
    int code;      /* DURO_E* of the TLS failure that ended the pump, or 0 */
    char err[256]; /* its message */
    SSL *ssl;
    int tcp, pair; /* the TLS socket and the pump's end of the pair */
    int got_reply; /* bytes came from Redis (only the pump touches it) */
};

/* ---- Pumps alive at exit ---- */

/* A program exits right after its last redisFree: the pumps of those
 * contexts are still closing (close_notify to Redis, freeing the SSL).
 * At exit we give them a moment (EXIT_WAIT_MS at most; a context never
 * freed keeps its pump waiting, and is not waited for). */
#define EXIT_WAIT_MS 200
static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t live_cv = PTHREAD_COND_INITIALIZER;
static int live_pumps;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

static void wait_pumps_at_exit(void)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_nsec += EXIT_WAIT_MS * 1000000L;
    dl.tv_sec += dl.tv_nsec / 1000000000L;
    dl.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&live_mu);
    while (live_pumps > 0 &&
           pthread_cond_timedwait(&live_cv, &live_mu, &dl) == 0)
        ;
    pthread_mutex_unlock(&live_mu);
}

static void register_exit_wait(void)
{
    atexit(wait_pumps_at_exit);
}

static void live_add(int d)
{
    pthread_mutex_lock(&live_mu);
    live_pumps += d;
    if (live_pumps == 0) pthread_cond_broadcast(&live_cv);
    pthread_mutex_unlock(&live_mu);
}

static void pump_release(duro__tls_pump *p)
{
    pthread_mutex_lock(&p->mu);
    int left = --p->refs;
    pthread_mutex_unlock(&p->mu);
    if (left) return;
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* ---- Connecting and the handshake (caller's thread) ---- */

/* wait_fd polls fd for events until deadline_ms (0: no deadline). 1 when
 * ready, 0 on timeout, -1 on error. */
static int wait_fd(int fd, short events, int64_t deadline_ms)
{
    for (;;) {
        int wait = -1;
        if (deadline_ms) {
            int64_t left = deadline_ms - duro_mono_ms();
            if (left <= 0) return 0;
            wait = (int)left;
        }
        struct pollfd pfd = {fd, events, 0};
        int n = poll(&pfd, 1, wait);
        if (n > 0) return 1;
        if (n == 0) return 0;
        if (errno != EINTR) return -1;
    }
}

/* tcp_connect: a non-blocking, connected TCP socket to host:port, or -1
 * with a message in err. */
static int tcp_connect(const duro_redis_url *url, int64_t deadline_ms,
                       char *err, size_t errsize)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", url->port);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int g = getaddrinfo(url->host, port, &hints, &res);
    if (g != 0) {
        snprintf(err, errsize, "%s", gai_strerror(g));
        return -1;
    }
    int fd = -1;
    snprintf(err, errsize, "no address");
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    a->ai_protocol);
        if (fd < 0) continue;
        int ok = connect(fd, a->ai_addr, a->ai_addrlen) == 0;
        if (!ok && errno == EINPROGRESS) {
            int w = wait_fd(fd, POLLOUT, deadline_ms);
            int soerr = 0;
            socklen_t sl = sizeof(soerr);
            if (w == 1 &&
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0)
                errno = soerr;
            else if (w == 0)
                errno = ETIMEDOUT;
            ok = w == 1 && soerr == 0;
        }
        if (ok) break;
        snprintf(err, errsize, "%s", strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        /* keepalive as hiredis's redisEnableKeepAlive sets it: callers
         * cannot reach this socket through their context */
        int one = 1, idle = 15, intvl = 5, cnt = 3;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
    }
    return fd;
}

/* handshake runs SSL_connect to completion or the deadline. */
static int handshake(SSL *ssl, int fd, int64_t deadline_ms, char *err,
                     size_t errsize)
{
    for (;;) {
        int ret = SSL_connect(ssl);
        if (ret == 1) return 0;
        int k = SSL_get_error(ssl, ret);
        if (k != SSL_ERROR_WANT_READ && k != SSL_ERROR_WANT_WRITE)
            return duro__tls_fail(ssl, ret, 0, err, errsize);
        int w = wait_fd(fd, k == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
                        deadline_ms);
        if (w != 1) {
            /* a plain Redis port reads a ClientHello as a command that
             * never ends: it never answers */
            snprintf(err, errsize, "TLS handshake %s",
                     w == 0 ? "timed out: no TLS answer (a port without "
                              "TLS? then use redis://)"
                            : "failed");
            return DURO_ECONN;
        }
    }
}

/* ---- The pump (its own thread) ---- */

static void pump_fail(duro__tls_pump *p, int ret)
{
    char why[256];
    int code = duro__tls_fail(p->ssl, ret, p->got_reply, why, sizeof(why));
    pthread_mutex_lock(&p->mu);
    if (!p->code) {
        p->code = code;
        snprintf(p->err, sizeof(p->err), "%s", why);
    }
    pthread_mutex_unlock(&p->mu);
}

/* tls_io: one SSL_read or SSL_write; >0 bytes, 0 when TLS must wait for
 * the socket (*want says for what), -1 when the connection is over. */
static int tls_io(duro__tls_pump *p, int write, char *buf, size_t len,
                  short *want)
{
    int n = write ? SSL_write(p->ssl, buf, (int)len)
                  : SSL_read(p->ssl, buf, (int)len);
    if (n > 0) return n;
    int k = SSL_get_error(p->ssl, n);
    if (k == SSL_ERROR_WANT_READ) *want |= POLLIN;
    if (k == SSL_ERROR_WANT_WRITE) *want |= POLLOUT;
    if (k == SSL_ERROR_WANT_READ || k == SSL_ERROR_WANT_WRITE) return 0;
    pump_fail(p, n);
    return -1;
}

/* pump_run moves bytes both ways until either side ends. Each direction
 * has one buffer; a step that moved nothing makes the thread poll for
 * what it waits on. */
static void pump_run(duro__tls_pump *p)
{
    char up[PUMP_BUF], down[PUMP_BUF];
    size_t up_len = 0, up_off = 0, down_len = 0, down_off = 0;
    for (;;) {
        int moved = 0;
        short tcp_want = 0;
        if (up_len == 0) {
            ssize_t n = read(p->pair, up, sizeof(up));
            if (n == 0) return; /* hiredis closed its end */
            if (n < 0 && errno != EAGAIN && errno != EINTR) return;
            if (n > 0) up_len = (size_t)n, up_off = 0, moved = 1;
        }
        if (up_off < up_len) {
            int n = tls_io(p, 1, up + up_off, up_len - up_off, &tcp_want);
            if (n < 0) return;
            up_off += (size_t)n;
            if (up_off == up_len) up_len = up_off = 0;
            moved |= n > 0;
        }
        if (down_len == 0) {
            int n = tls_io(p, 0, down, sizeof(down), &tcp_want);
            if (n < 0) return;
            if (n > 0) down_len = (size_t)n, down_off = 0, moved = 1;
            if (n > 0) p->got_reply = 1;
        }
        if (down_off < down_len) {
            ssize_t n = send(p->pair, down + down_off, down_len - down_off,
                             MSG_NOSIGNAL);
            if (n < 0 && errno != EAGAIN && errno != EINTR) return;
            if (n > 0) {
                down_off += (size_t)n;
                if (down_off == down_len) down_len = down_off = 0;
                moved = 1;
            }
        }
        if (moved) continue;
        struct pollfd pfd[2] = {{p->pair,
                                 (short)((up_len == 0 ? POLLIN : 0) |
                                         (down_off < down_len ? POLLOUT : 0)),
                                 0},
                                {p->tcp, tcp_want, 0}};
        if (poll(pfd, 2, -1) < 0 && errno != EINTR) return;
    }
}

/* DRAIN_MS: how long an ended pump waits for hiredis to close its end. */
#define DRAIN_MS 30000

/* drain reads and drops what hiredis still sends until it closes its end
 * of the pair, or DRAIN_MS without a byte. */
static void drain(int fd)
{
    char buf[4096];
    for (;;) {
        struct pollfd pfd = {fd, POLLIN, 0};
        int r = poll(&pfd, 1, DRAIN_MS);
        if (r == 0 || (r < 0 && errno != EINTR)) return;
        if (r < 0) continue;
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return;
    }
}

static void *pump_main(void *arg)
{
    duro__tls_pump *p = arg;
    pump_run(p);
    /* close_notify when we are the ones ending; never wait for it */
    if (!p->code) SSL_shutdown(p->ssl);
    SSL_free(p->ssl);
    ERR_clear_error();
    close(p->tcp);
    /* hiredis sees EOF now if it reads; a write it makes before that must
     * not meet a closed socket (EPIPE is SIGPIPE in a program that does
     * not ignore it, and a worker's main is the user's), so this end stays
     * open, draining, until hiredis closes its end (the owner frees a
     * failed context) or DRAIN_MS pass without a byte */
    shutdown(p->pair, SHUT_WR);
    drain(p->pair);
    close(p->pair);
    pump_release(p);
    /* OpenSSL's per-thread state (error queue, random generators) is
     * otherwise freed by a thread-exit destructor that an exit() racing
     * this thread's end would cut short */
    OPENSSL_thread_stop();
    live_add(-1);
    return NULL;
}

/* start_pump: the socketpair and the thread; *fd gets hiredis's end. */
static int start_pump(duro__tls_pump *p, int *fd, char *err, size_t errsize)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        snprintf(err, errsize, "socketpair: %s", strerror(errno));
        return DURO_ECONN;
    }
    fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) | O_NONBLOCK);
    p->pair = sv[1];
    p->refs = 2;
    /* The pump takes no signal: they belong to the program's threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_once(&exit_once, register_exit_wait);
    live_add(1);
    pthread_t t;
    int e = pthread_create(&t, &attr, pump_main, p);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e != 0) {
        live_add(-1);
        snprintf(err, errsize, "pthread_create: %s", strerror(e));
        close(sv[0]);
        close(sv[1]);
        return DURO_ECONN;
    }
    *fd = sv[0];
    return 0;
}

int duro__tls_sync_open(const duro_redis_url *url, int timeout_ms,
                        duro__tls_pump **pump, int *fd, char *err,
                        size_t errsize)
{
    *pump = NULL;
    *fd = -1;
    int64_t deadline = timeout_ms > 0 ? duro_mono_ms() + timeout_ms : 0;
    SSL_CTX *ctx = duro__tls_ctx_new(url, err, errsize);
    if (!ctx) return DURO_EINVAL;
    int tcp = tcp_connect(url, deadline, err, errsize);
    if (tcp < 0) {
        SSL_CTX_free(ctx);
        return DURO_ECONN;
    }
    SSL *ssl = duro__tls_ssl_new(ctx, url, tcp, err, errsize);
    SSL_CTX_free(ctx); /* the SSL holds its own reference */
    int rc = ssl ? handshake(ssl, tcp, deadline, err, errsize) : DURO_ECONN;
    duro__tls_pump *p = rc ? NULL : calloc(1, sizeof(*p));
    if (!rc && !p) rc = DURO_ENOMEM;
    if (!rc) {
        pthread_mutex_init(&p->mu, NULL);
        p->ssl = ssl;
        p->tcp = tcp;
        rc = start_pump(p, fd, err, errsize);
        if (rc) {
            pthread_mutex_destroy(&p->mu);
            free(p);
        }
    }
    if (rc) {
        SSL_free(ssl);
        close(tcp);
        return rc;
    }
    *pump = p;
    return 0;
}

int duro__tls_pump_error(duro__tls_pump *p, char *err, size_t errsize)
{
    if (!p) return 0;
    pthread_mutex_lock(&p->mu);
    int code = p->code;
    if (code && err && errsize) snprintf(err, errsize, "%s", p->err);
    pthread_mutex_unlock(&p->mu);
    return code;
}

void duro__tls_pump_release(duro__tls_pump *p)
{
    if (p) pump_release(p);
}
