/* transport.c: one Redis connection on a libuv loop, plain or TLS; hiredis
 * parses the replies and formats the commands (see transport.h); its table
 * of subscribed channels is transport_sub.c.
 *
 *   CONNECTING --writable, SO_ERROR 0--> [TLS: HANDSHAKE --SSL_connect-->]
 *   UP --EOF, error, free, disconnect drained--> DEAD (uv_close, then freed)
 *
 * The plain path is what hiredis's own async context does: a formatted
 * command is appended to one output buffer, and one read() per readable
 * event feeds the reader. The buffer is written by a uv_prepare callback,
 * which libuv runs once per loop iteration just before it blocks for I/O:
 * the commands of one iteration still leave in one write, but without the
 * extra turn (and the epoll_ctl calls) that waiting for "writable" costs on
 * a socket that almost always is; only what the socket did not take waits
 * for writable. TLS
 * only swaps read()/write() for SSL_read()/SSL_write() on the same socket
 * (no thread, no extra buffer), and drains SSL_read on each event because
 * OpenSSL may hold decrypted bytes the socket no longer shows.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/err.h>

#include "duro/errno.h"
#include "tls.h"
#include "transport.h"
#include "transport_resp.h"
#include "transport_socket.h"
#include "transport_sub.h"

#define READ_CHUNK 16384
/* The reader's buffer is kept while this much of it is free. hiredis's
 * default (16 KB) frees it whenever a read has been parsed to the end and
 * it has more free: a read of READ_CHUNK bytes grows it to 32 KB, so every
 * read under load freed and allocated 32 KB again (a large-bin malloc,
 * which makes glibc consolidate its fast bins). A buffer grown past this
 * by a large reply is still given back once it is parsed. */
#define READER_KEEP ((size_t)256 * 1024)

enum tstate { T_CONNECTING, T_HANDSHAKE, T_UP, T_DEAD };

typedef duro__tcb cb; /* transport_sub.h */

struct duro__tconn {
    duro__tconn_public pub; /* first: duro__tconn_pub casts */
    uv_loop_t *loop;
    uv_poll_t poll;
    uv_prepare_t flush; /* started while obuf holds unsent commands */
    int handles;        /* of poll and flush, not yet closed */
    int fd;
    int events; /* what poll watches now */
    enum tstate st;
    int was_up;
    int in_cb;
    int freeing;          /* free asked (deferred while in a callback) */
    int disconnecting;    /* end once the replies have come */
    int read_wants_write; /* SSL_read needs the socket writable */
    int got_reply;        /* bytes came from Redis */
    SSL *ssl;
    char *obuf;
    size_t olen, ooff, ocap;
    redisReader *reader;
    cb *head, *tail; /* replies expected, in order */
    cb *subs;        /* subscribed channels */
    int pubsub;      /* a (S)SUBSCRIBE was sent: pushes may come */
    duro__tconn_status_fn on_connect, on_disconnect;
};

static void teardown(duro__tconn *t, int status);
static void on_poll(uv_poll_t *h, int status, int events);

duro__tconn_public *duro__tconn_pub(duro__tconn *t)
{
    return &t->pub;
}

int duro__tconn_in_callback(const duro__tconn *t)
{
    return t->in_cb;
}

static void set_err(duro__tconn *t, int code, const char *msg)
{
    if (t->pub.code) return; /* the first cause is the one worth telling */
    t->pub.code = code;
    snprintf(t->pub.errstr, sizeof(t->pub.errstr), "%s", msg);
}

static void watch(duro__tconn *t, int events)
{
    if (t->st == T_DEAD || events == t->events) return;
    t->events = events;
    if (events)
        uv_poll_start(&t->poll, events, on_poll);
    else
        uv_poll_stop(&t->poll);
}

/* watch_up: readable, and writable while output waits that no flush
 * (on_flush) is already due to write before the loop blocks. */
static void watch_up(duro__tconn *t)
{
    int w = (t->ooff < t->olen && !uv_is_active((uv_handle_t *)&t->flush)) ||
            t->read_wants_write;
    watch(t, UV_READABLE | (w ? UV_WRITABLE : 0));
}

/* ---- Callbacks ---- */

static void run_cb(duro__tconn *t, cb *c, redisReply *reply)
{
    t->in_cb++;
    c->fn(t, reply, c->priv);
    t->in_cb--;
}

/* after_cb ends the connection if a callback asked for it. 1 if it did. */
static int after_cb(duro__tconn *t)
{
    if (t->in_cb || t->st == T_DEAD) return t->st == T_DEAD;
    if (t->freeing || (t->disconnecting && !t->head)) {
        teardown(t, 0);
        return 1;
    }
    return 0;
}

static cb *pop_head(duro__tconn *t)
{
    cb *c = t->head;
    t->head = c->next;
    if (!t->head) t->tail = NULL;
    return c;
}

/* dispatch_push hands a pushed message or (un)subscribe confirmation to
 * its channel's callback; one for a channel we no longer follow is
 * dropped. An unsubscribe ends the subscription before its callback runs,
 * so that the callback may subscribe again. */
static void dispatch_push(duro__tconn *t, int kind, redisReply *reply)
{
    cb *s = duro__tsub_find(t->subs, reply->element[1]->str,
                            reply->element[1]->len);
    if (kind == DURO__TPUSH_SUBSCRIBE && t->head && t->head->confirm)
        duro__tcb_free(pop_head(t));
    if (!s) return;
    if (kind == DURO__TPUSH_UNSUBSCRIBE) {
        duro__tsub_unlink(&t->subs, s);
        run_cb(t, s, reply);
        duro__tcb_free(s);
        return;
    }
    run_cb(t, s, reply);
}

/* dispatch hands one reply to its callback. 1 when the connection ended.
 * An error in place of a (S)SUBSCRIBE's confirmation (MOVED, NOPERM) goes
 * to that channel's callback, and the subscription is dropped. */
static int dispatch(duro__tconn *t, redisReply *reply)
{
    int kind = t->pubsub ? duro__tsub_push_kind(reply) : DURO__TPUSH_NONE;
    if (kind) {
        dispatch_push(t, kind, reply);
    } else if (t->head) {
        cb *c = pop_head(t);
        if (c->confirm) {
            cb *s = duro__tsub_find(t->subs, c->channel, strlen(c->channel));
            if (s) {
                duro__tsub_unlink(&t->subs, s);
                duro__tcb_free(s);
            }
        }
        run_cb(t, c, reply);
        duro__tcb_free(c);
    } else {
        freeReplyObject(reply);
        set_err(t, DURO_EPROTO, "a reply nobody asked for");
        teardown(t, -1);
        return 1;
    }
    freeReplyObject(reply);
    return after_cb(t);
}

/* process parses what was read. 1 when the connection ended. */
static int process(duro__tconn *t)
{
    for (;;) {
        void *reply = NULL;
        if (redisReaderGetReply(t->reader, &reply) != REDIS_OK) {
            set_err(t, DURO_EPROTO, t->reader->errstr);
            teardown(t, -1);
            return 1;
        }
        if (!reply) return 0;
        if (dispatch(t, reply)) return 1;
    }
}

/* ---- Reading and writing ---- */

/* io_fail ends the connection after a failed read or write (ret: what the
 * call returned). */
static void io_fail(duro__tconn *t, int ret, int saved_errno)
{
    char why[256];
    if (t->ssl) {
        int code = duro__tls_fail(t->ssl, ret, t->got_reply, why, sizeof(why));
        set_err(t, code, why);
    } else if (ret == 0) {
        set_err(t, DURO_ECONN, "Server closed the connection");
    } else {
        set_err(t, DURO_ECONN, strerror(saved_errno));
    }
    teardown(t, -1);
}

/* do_read: one read (plain) or SSL_read until it would block (TLS). 1 when
 * the connection ended. */
static int do_read(duro__tconn *t)
{
    char buf[READ_CHUNK];
    for (;;) {
        int n;
        if (t->ssl) {
            n = SSL_read(t->ssl, buf, sizeof(buf));
            if (n <= 0) {
                int k = SSL_get_error(t->ssl, n);
                t->read_wants_write = k == SSL_ERROR_WANT_WRITE;
                if (k == SSL_ERROR_WANT_READ || k == SSL_ERROR_WANT_WRITE)
                    return 0;
                io_fail(t, n, errno);
                return 1;
            }
        } else {
            n = (int)read(t->fd, buf, sizeof(buf));
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
            if (n <= 0) {
                io_fail(t, n, errno);
                return 1;
            }
        }
        t->got_reply = 1;
        if (redisReaderFeed(t->reader, buf, (size_t)n) != REDIS_OK) {
            set_err(t, DURO_EPROTO, t->reader->errstr);
            teardown(t, -1);
            return 1;
        }
        if (process(t)) return 1;
        if (!t->ssl) return 0;
    }
}

/* do_write writes what the socket takes. 1 when the connection ended. */
static int do_write(duro__tconn *t)
{
    while (t->ooff < t->olen) {
        size_t len = t->olen - t->ooff;
        int n;
        if (t->ssl) {
            n = SSL_write(t->ssl, t->obuf + t->ooff,
                          len > 1 << 30 ? 1 << 30 : (int)len);
            if (n <= 0) {
                int k = SSL_get_error(t->ssl, n);
                if (k == SSL_ERROR_WANT_READ || k == SSL_ERROR_WANT_WRITE)
                    break;
                io_fail(t, n, errno);
                return 1;
            }
        } else {
            ssize_t w = send(t->fd, t->obuf + t->ooff, len, MSG_NOSIGNAL);
            if (w < 0 && (errno == EAGAIN || errno == EINTR)) break;
            if (w <= 0) {
                io_fail(t, -1, errno);
                return 1;
            }
            n = (int)w;
        }
        t->ooff += (size_t)n;
    }
    if (t->ooff == t->olen) t->ooff = t->olen = 0;
    return 0;
}

/* on_flush (uv_prepare): the loop is about to block, so this iteration's
 * commands are all queued: write them now; only what the socket does not
 * take waits for writable. */
static void on_flush(uv_prepare_t *h)
{
    duro__tconn *t = h->data;
    uv_prepare_stop(&t->flush);
    if (t->st != T_UP) return;
    if (do_write(t)) return;
    watch_up(t);
}

/* ---- Connecting ---- */

static void become_up(duro__tconn *t)
{
    t->st = T_UP;
    t->was_up = 1;
    t->in_cb++;
    if (t->on_connect) t->on_connect(t, 0);
    t->in_cb--;
    if (after_cb(t)) return;
    watch_up(t);
}

static void connect_fail(duro__tconn *t, int code, const char *msg)
{
    set_err(t, code, msg);
    t->in_cb++;
    if (t->on_connect) t->on_connect(t, -1);
    t->in_cb--;
    teardown(t, -1);
}

static void step_handshake(duro__tconn *t)
{
    int ret = SSL_connect(t->ssl);
    if (ret == 1) {
        become_up(t);
        return;
    }
    int k = SSL_get_error(t->ssl, ret);
    if (k == SSL_ERROR_WANT_READ) {
        watch(t, UV_READABLE);
    } else if (k == SSL_ERROR_WANT_WRITE) {
        watch(t, UV_WRITABLE);
    } else {
        char why[256];
        int code = duro__tls_fail(t->ssl, ret, 0, why, sizeof(why));
        connect_fail(t, code, why);
    }
}

static void step_connect(duro__tconn *t)
{
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    if (getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
        soerr = errno;
    if (soerr) {
        connect_fail(t, DURO_ECONN, strerror(soerr));
        return;
    }
    if (!t->ssl) {
        become_up(t);
        return;
    }
    t->st = T_HANDSHAKE;
    step_handshake(t);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    duro__tconn *t = h->data;
    /* libuv reports POLLERR (a refused connect, a reset) as a status and
     * stops nothing else: read or write to meet the error. */
    if (status != 0) events = t->events;
    switch (t->st) {
    case T_CONNECTING:
        step_connect(t);
        return;
    case T_HANDSHAKE:
        step_handshake(t);
        return;
    case T_UP:
        if ((events & UV_READABLE) || t->read_wants_write)
            if (do_read(t)) return;
        if ((events & UV_WRITABLE) && do_write(t)) return;
        watch_up(t);
        return;
    case T_DEAD:
        return;
    }
}

duro__tconn *duro__tconn_new(uv_loop_t *loop, const duro_redis_url *url,
                             duro__tconn_status_fn on_connect,
                             duro__tconn_status_fn on_disconnect, void *data,
                             int *code, char *err, size_t errsize)
{
    duro__tconn *t = calloc(1, sizeof(*t));
    SSL_CTX *ctx = NULL;
    *code = DURO_ENOMEM;
    snprintf(err, errsize, "out of memory");
    if (!t || !(t->reader = redisReaderCreate())) goto fail;
    t->reader->maxbuf = READER_KEEP;
    t->fd = -1;
    if (url->tls && !(ctx = duro__tls_ctx_new(url, err, errsize))) {
        *code = DURO_EINVAL;
        goto fail;
    }
    *code = DURO_ECONN;
    if ((t->fd = duro__tsocket_open(url, err, errsize)) < 0) goto fail;
    if (ctx && !(t->ssl = duro__tls_ssl_new(ctx, url, t->fd, err, errsize)))
        goto fail;
    SSL_CTX_free(ctx); /* the SSL holds its own reference */
    ctx = NULL;
    if (uv_poll_init_socket(loop, &t->poll, t->fd) != 0) {
        snprintf(err, errsize, "cannot watch the socket");
        goto fail;
    }
    /* cannot fail once the loop is valid, which the poll init just was */
    uv_prepare_init(loop, &t->flush);
    t->handles = 2;
    t->poll.data = t;
    t->flush.data = t;
    t->loop = loop;
    t->pub.data = data;
    t->on_connect = on_connect;
    t->on_disconnect = on_disconnect;
    t->st = T_CONNECTING;
    watch(t, UV_WRITABLE);
    return t;
fail:
    SSL_CTX_free(ctx);
    if (t) {
        SSL_free(t->ssl);
        if (t->fd >= 0) close(t->fd);
        if (t->reader) redisReaderFree(t->reader);
        free(t);
    }
    return NULL;
}

/* ---- Commands ---- */

/* reserve makes room for len more bytes of output. 0 or -1. */
static int reserve(duro__tconn *t, size_t len)
{
    if (t->olen + len > t->ocap) {
        size_t cap = t->ocap ? t->ocap : 4096;
        while (cap < t->olen + len)
            cap *= 2;
        char *n = realloc(t->obuf, cap);
        if (!n) return -1;
        t->obuf = n;
        t->ocap = cap;
    }
    return 0;
}

static int is_word(const char *s, size_t len, const char *w)
{
    return len == strlen(w) && strncasecmp(s, w, len) == 0;
}

static int queue_cb(duro__tconn *t, duro__tconn_reply_fn fn, void *priv,
                    const char *confirm, size_t clen)
{
    cb *c = calloc(1, sizeof(*c));
    if (!c) return -1;
    c->fn = fn;
    c->priv = priv;
    if (confirm) {
        c->confirm = 1;
        if (!(c->channel = strndup(confirm, clen))) {
            free(c);
            return -1;
        }
    }
    if (t->tail)
        t->tail->next = c;
    else
        t->head = c;
    t->tail = c;
    return 0;
}

/* track records who gets the reply(ies) of a command. A (S)SUBSCRIBE's
 * channels get their callback for every push, and one confirmation each
 * waits in the reply queue (where an error would come instead). An
 * (S)UNSUBSCRIBE is answered by pushes only. */
static int track(duro__tconn *t, duro__tconn_reply_fn fn, void *priv, int argc,
                 const char **argv, const size_t *lens)
{
    if (is_word(argv[0], lens[0], "SUBSCRIBE") ||
        is_word(argv[0], lens[0], "SSUBSCRIBE")) {
        t->pubsub = 1;
        for (int i = 1; i < argc; i++) {
            if (queue_cb(t, fn, priv, argv[i], lens[i]) != 0 ||
                duro__tsub_add(&t->subs, fn, priv, argv[i], lens[i]) != 0)
                return -1;
        }
        return 0;
    }
    if (is_word(argv[0], lens[0], "UNSUBSCRIBE") ||
        is_word(argv[0], lens[0], "SUNSUBSCRIBE"))
        return 0;
    return queue_cb(t, fn, priv, NULL, 0);
}

int duro__tconn_command(duro__tconn *t, duro__tconn_reply_fn fn, void *privdata,
                        int argc, const char **argv, const size_t *lens)
{
    if (t->st == T_DEAD || t->freeing || t->disconnecting || argc < 1)
        return -1;
    size_t before = t->olen;
    /* formatted in place (transport_resp.c) */
    int rc = reserve(t, duro__resp_len(argc, argv, lens));
    if (rc == 0)
        t->olen = (size_t)(duro__resp_put(t->obuf + t->olen, argc, argv, lens) -
                           t->obuf);
    if (rc == 0 && track(t, fn, privdata, argc, argv, lens) != 0) {
        t->olen = before;
        rc = -1;
    }
    if (rc == 0 && t->st == T_UP) uv_prepare_start(&t->flush, on_flush);
    return rc;
}

/* ---- Ending ---- */

static void on_closed(uv_handle_t *h)
{
    duro__tconn *t = h->data;
    if (--t->handles > 0) return; /* the other handle's close comes later */
    close(t->fd);
    free(t->obuf);
    redisReaderFree(t->reader);
    free(t);
}

/* fail_pending gives NULL to every callback still waiting. */
static void fail_pending(duro__tconn *t)
{
    while (t->head) {
        cb *c = t->head;
        t->head = c->next;
        if (!c->confirm) run_cb(t, c, NULL); /* its channel gets NULL below */
        duro__tcb_free(c);
    }
    t->tail = NULL;
    while (t->subs) {
        cb *s = t->subs;
        t->subs = s->next;
        run_cb(t, s, NULL);
        duro__tcb_free(s);
    }
}

static void teardown(duro__tconn *t, int status)
{
    if (t->st == T_DEAD) return;
    t->st = T_DEAD;
    uv_poll_stop(&t->poll);
    uv_prepare_stop(&t->flush);
    fail_pending(t);
    if (t->was_up && t->on_disconnect) {
        t->in_cb++;
        t->on_disconnect(t, t->freeing || !t->pub.code ? 0 : status);
        t->in_cb--;
    }
    if (t->ssl) {
        if (status == 0) SSL_shutdown(t->ssl); /* close_notify, no wait */
        SSL_free(t->ssl);
        ERR_clear_error();
        t->ssl = NULL;
    }
    uv_close((uv_handle_t *)&t->poll, on_closed);
    uv_close((uv_handle_t *)&t->flush, on_closed);
}

void duro__tconn_disconnect(duro__tconn *t)
{
    if (t->st == T_DEAD) return;
    t->disconnecting = 1;
    if (!t->in_cb && !t->head) teardown(t, 0);
}

void duro__tconn_free(duro__tconn *t)
{
    if (t->st == T_DEAD) return;
    t->freeing = 1;
    if (!t->in_cb) teardown(t, 0);
}
